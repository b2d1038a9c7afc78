using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Transforms;

namespace Helmholtz.Benchmarks;

/// <summary>
/// The managed transformer against ONNX Runtime (its batched transformer, on the CPU, and on CUDA
/// when <c>--gpu N</c> names a device that works) on the MNIST test images (784b-200g-50g, untrained:
/// the work per row does not depend on the parameters' values): rows/s of the features and of the log-likelihood (K = 100, 1000, 5000) handed over
/// in batches of 1, 100 and 10,000 rows (medians of repeats; a pass of over five million samples
/// runs once: at K = 5000 the batch of 10,000 is the whole test set, skipped with --no-full-test).
/// Each contender computes exactly what its transformer's cursors do.
/// </summary>
internal static class OnnxBenchmark
{
    public static void Run(string[] args)
    {
        int repeats = 3;
        int? gpu = null;
        bool full = true;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--repeats": repeats = CommandLine.Int(args, ref i); break;
                case "--gpu": gpu = CommandLine.Int(args, ref i, min: 0); break;
                case "--no-full-test": full = false; break;
                default: throw CommandLine.Unknown(args[i], "--repeats N, --gpu DEVICE, --no-full-test");
            }
        }
        CommandLine.OptionsRead();
        MnistSplits data = BinarizedMnist.Load();
        var ml = new MLContext(seed: 1);
        IDataView train = ml.Data.LoadFromEnumerable(Enumerable.Range(0, data.Train.Rows).Select(i => new Image { Pixels = data.Train.Row(i).ToArray() }).ToArray());
        var contenders = new List<(string Name, Func<int, HelmholtzMachineTransformer, IRowComputation> Make, IDisposable? Owner)>();
        Console.WriteLine($"cores {Environment.ProcessorCount}, engine {Microsoft.ML.Helmholtz.Numerics.MatrixEngine.Default.Name}, ONNX Runtime {typeof(Microsoft.ML.OnnxRuntime.InferenceSession).Assembly.GetName().Version}, medians of {repeats}");
        Console.WriteLine($"{"contender",-28}{"output",-22}{"batch",8}{"rows/s",12}{"samples/s",14}");
        foreach (int k in new[] { 0, 100, 1000, 5000 })
        {
            var model = ml.Transforms.HelmholtzMachine(new HelmholtzMachineOptions
            {
                InputColumnName = "Pixels", Architecture = "784b-200g-50g", Epochs = 0, Seed = 1, Samples = Math.Max(1, k),
                FeatureColumnName = k == 0 ? "Features" : null, LogLikelihoodColumnName = k == 0 ? null : "LogLikelihood",
            }).Fit(train);
            var scorers = new List<(string Name, IRowScoring Scoring)> { ("managed transformer", model) };
            var cpu = model.ToOnnxRuntime(new MLContext { GpuDeviceId = null });
            scorers.Add(("ONNX Runtime, " + cpu.Device, cpu));
            HelmholtzOnnxTransformer? cuda = null;
            if (gpu is { } device)
            {
                cuda = model.ToOnnxRuntime(new MLContext { GpuDeviceId = device, FallbackToCpu = false });
                scorers.Add(("ONNX Runtime, " + cuda.Device, cuda));
            }
            foreach (int batch in new[] { 1, 100, 10000 })
            {
                // Enough rows for a few tenths of a second at least: fewer for the large K.
                int rows = k == 0 ? (batch == 1 ? 2000 : 10000) : Math.Clamp(2_000_000 / k / (batch == 1 ? 4 : 1), 20, 10000);
                rows = Math.Max(rows / batch, 1) * batch;
                rows = Math.Min(rows, 10000);
                float[] x = data.Test.Values.AsSpan(0, rows * 784).ToArray();
                foreach (var (name, scoring) in scorers)
                {
                    IRowComputation computation = scoring.CreateComputation();
                    float[] output = new float[Math.Max(batch, 1) * 50];
                    void Pass()
                    {
                        for (int first = 0; first + batch <= rows; first += batch)
                        {
                            ReadOnlySpan<float> part = x.AsSpan(first * 784, batch * 784);
                            if (k == 0) computation.Features(part, batch, output);
                            else computation.LogLikelihood(part, batch, output);
                        }
                    }
                    // Passes of over five million samples run once, without a warm-up (they take tens of seconds).
                    bool heavy = (long)rows * k > 5_000_000;
                    if (heavy && k == 5000 && batch == 10000 && !full) continue;
                    if (!heavy) Pass();
                    var rates = new List<double>();
                    for (int r = 0; r < (heavy ? 1 : repeats); r++)
                    {
                        var clock = Stopwatch.StartNew();
                        Pass();
                        rates.Add(rows / clock.Elapsed.TotalSeconds);
                    }
                    double rate = Statistics.Median(rates);
                    Console.WriteLine($"{name,-28}{(k == 0 ? "features (50)" : $"log-likelihood K = {k}"),-22}{batch,8}{rate,12:N0}{(k == 0 ? "" : (rate * k).ToString("N0")),14}");
                }
            }
            cpu.Dispose();
            cuda?.Dispose();
        }
    }

    private sealed class Image
    {
        [Microsoft.ML.Data.VectorType(784)] public float[] Pixels { get; set; } = [];
    }
}
