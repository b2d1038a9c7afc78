using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Transforms;

namespace Helmholtz.Benchmarks;

/// <summary>
/// The saved pipelines on each device ML.NET's OnnxTransformer can run them on: a frame machine (784b-200g-50g, one
/// epoch on 5,000 MNIST training images, K = 100) and a temporal one (900bs-200g, 100 LSTM units, one epoch on 40
/// generated bouncing-balls sequences of 20 frames, K = 100) are fitted, saved with <c>ml.Model.Save</c>, loaded into a
/// fresh MLContext on the CPU and, with <c>--gpu N</c>, into one with <c>GpuDeviceId = N</c> and <c>FallbackToCpu =
/// false</c> (so that a CUDA provider that cannot start fails the load instead of running on the CPU). Each loaded chain
/// scores the same rows as the fitted transformer, through Transform and one row at a time through a PredictionEngine: the
/// largest difference of any output and the median rows/s.
/// </summary>
internal static class SavedChainBenchmark
{
    private const int SequenceFrames = 20, Resolution = 30, FrameSize = Resolution * Resolution;

    private sealed class Image
    {
        [VectorType(784)] public float[] Pixels { get; set; } = [];
    }

    private sealed class ImageScores
    {
        public float[] HelmholtzFeatures { get; set; } = [];
        public float LogLikelihood { get; set; }
    }

    private sealed class Sequence
    {
        [VectorType(SequenceFrames * FrameSize)] public float[] Frames { get; set; } = [];
    }

    private sealed class SequenceScores
    {
        public float LogLikelihood { get; set; }
        public float[] FrameLogLikelihoods { get; set; } = [];
    }

    public static void Run(string[] args)
    {
        int repeats = 3;
        int? gpu = null;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--repeats": repeats = CommandLine.Int(args, ref i); break;
                case "--gpu": gpu = CommandLine.Int(args, ref i, min: 0); break;
                default: throw CommandLine.Unknown(args[i], "--repeats N, --gpu DEVICE");
            }
        }
        CommandLine.OptionsRead();
        if (gpu is { } device)
        {
            // Before the fitting: a machine without CUDA is told so at once, by the library's own probe.
            if (HelmholtzOnnxTransformer.CudaProviderProblem(device) is { } problem)
                throw new NotSupportedException($"--gpu {device}: {problem}.");
        }
        Console.WriteLine($"cores {Environment.ProcessorCount}, ONNX Runtime {typeof(Microsoft.ML.OnnxRuntime.InferenceSession).Assembly.GetName().Version}, medians of {repeats}");
        Console.WriteLine($"{"pipeline",-10}{"scorer",-34}{"rows",6}{"rows/s",12}{"largest difference from the fitted transformer",50}");
        Frame(gpu, repeats);
        Temporal(gpu, repeats);
    }

    private static void Frame(int? gpu, int repeats)
    {
        MnistSplits data = BinarizedMnist.Load();
        var ml = new MLContext(seed: 1);
        IDataView train = Images(ml, data.Train, 5000), test = Images(ml, data.Test, 1000);
        HelmholtzMachineTransformer fitted = ml.Transforms.HelmholtzMachine(new HelmholtzMachineOptions
        {
            InputColumnName = "Pixels", Architecture = "784b-200g-50g", Epochs = 1, Samples = 100, Seed = 1,
        }).Fit(train);
        Compare("frame", gpu, repeats, ml, fitted, train.Schema, test, 1000, Read, PredictEach, a => a.Average(r => r.LogLikelihood), (a, b) =>
        {
            double ll = 0, features = 0;
            for (int r = 0; r < a.Length; r++)
            {
                ll = Math.Max(ll, Math.Abs(a[r].LogLikelihood - b[r].LogLikelihood));
                for (int j = 0; j < a[r].HelmholtzFeatures.Length; j++) features = Math.Max(features, Math.Abs(a[r].HelmholtzFeatures[j] - b[r].HelmholtzFeatures[j]));
            }
            return $"ln p̂ {ll:G3} nats, feature {features:G3}";
        });

        static ImageScores[] Read(MLContext ml, IDataView scored) => ml.Data.CreateEnumerable<ImageScores>(scored, false).ToArray();

        static ImageScores[] PredictEach(MLContext ml, ITransformer model, IDataView rows)
        {
            using var engine = ml.Model.CreatePredictionEngine<Image, ImageScores>(model, KeepTheModel);
            return ml.Data.CreateEnumerable<Image>(rows, false).Select(row => engine.Predict(row)).ToArray();
        }
    }

    private static void Temporal(int? gpu, int repeats)
    {
        var balls = new BouncingBallsOptions { Frames = SequenceFrames, Resolution = Resolution };
        var ml = new MLContext(seed: 1);
        IDataView train = Sequences(ml, BouncingBalls.Generate(balls, 40, 1), 40), test = Sequences(ml, BouncingBalls.Generate(balls, 50, 2), 50);
        TemporalHelmholtzTransformer fitted = ml.Transforms.TemporalHelmholtzMachine(new TemporalHelmholtzOptions
        {
            FrameSize = FrameSize, Architecture = "900bs-200g", RecurrentUnits = 100, Epochs = 1, BatchSequences = 20, Samples = 100, Seed = 1,
        }).Fit(train);
        Compare("temporal", gpu, repeats, ml, fitted, train.Schema, test, 50, Read, PredictEach, a => a.Average(r => r.LogLikelihood), (a, b) =>
        {
            double sequence = 0, frame = 0;
            for (int r = 0; r < a.Length; r++)
            {
                sequence = Math.Max(sequence, Math.Abs(a[r].LogLikelihood - b[r].LogLikelihood));
                for (int t = 0; t < a[r].FrameLogLikelihoods.Length; t++) frame = Math.Max(frame, Math.Abs(a[r].FrameLogLikelihoods[t] - b[r].FrameLogLikelihoods[t]));
            }
            return $"sequence ln p̂ {sequence:G3} nats, frame {frame:G3}";
        });

        static SequenceScores[] Read(MLContext ml, IDataView scored) => ml.Data.CreateEnumerable<SequenceScores>(scored, false).ToArray();

        static SequenceScores[] PredictEach(MLContext ml, ITransformer model, IDataView rows)
        {
            using var engine = ml.Model.CreatePredictionEngine<Sequence, SequenceScores>(model, KeepTheModel);
            return ml.Data.CreateEnumerable<Sequence>(rows, false).Select(row => engine.Predict(row)).ToArray();
        }
    }

    /// <summary>
    /// Scores <paramref name="test"/> with the fitted transformer, then saves it and loads it on the CPU and on GPU
    /// <paramref name="gpu"/>; each loaded chain's first pass is the one compared (and not timed: it starts the session). Each
    /// loaded chain also scores the rows one at a time through a PredictionEngine (<paramref name="predictEach"/>), compared
    /// and timed the same way.
    /// </summary>
    private static void Compare<T>(string name, int? gpu, int repeats, MLContext ml, ITransformer fitted, DataViewSchema schema, IDataView test, int rows,
        Func<MLContext, IDataView, T[]> read, Func<MLContext, ITransformer, IDataView, T[]> predictEach, Func<T[], double> logLikelihood,
        Func<T[], T[], string> difference)
    {
        T[] expected = read(ml, fitted.Transform(test));
        Report(name, "fitted transformer", rows, Median(repeats, () => read(ml, fitted.Transform(test))), $"(its mean ln p̂ {logLikelihood(expected):F2} nats)");
        string path = Path.Combine(Path.GetTempPath(), $"helmholtz-saved-{Guid.NewGuid():N}.zip");
        try
        {
            ml.Model.Save(fitted, schema, path);
            var devices = new List<(string Label, MLContext Context)> { ("loaded chain, CPU", new MLContext(seed: 1)) };
            if (gpu is { } device) devices.Add(($"loaded chain, CUDA device {device}", new MLContext(seed: 1) { GpuDeviceId = device, FallbackToCpu = false }));
            foreach (var (label, context) in devices)
            {
                ITransformer loaded;
                try
                {
                    loaded = context.Model.Load(path, out _);
                }
                catch (Exception e) when (context.GpuDeviceId is { } cudaDevice)
                {
                    throw CommandLine.CudaUnavailable(cudaDevice, e);
                }
                T[] actual = read(context, loaded.Transform(test));
                Report(name, label, rows, Median(repeats, () => read(context, loaded.Transform(test))), difference(expected, actual));
                T[] predicted = predictEach(context, loaded, test);
                Report(name, label.Replace("loaded chain", "PredictionEngine", StringComparison.Ordinal), rows,
                    Median(repeats, () => predictEach(context, loaded, test)), difference(expected, predicted));
                (loaded as IDisposable)?.Dispose();
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>ML.NET's PredictionEngine disposes the model it was made from when it is disposed, unless told otherwise.</summary>
    private static readonly PredictionEngineOptions KeepTheModel = new() { OwnsTransformer = false };

    private static double Median(int repeats, Action pass)
    {
        var seconds = new List<double>();
        for (int r = 0; r < repeats; r++)
        {
            var clock = Stopwatch.StartNew();
            pass();
            seconds.Add(clock.Elapsed.TotalSeconds);
        }
        return Statistics.Median(seconds);
    }

    private static void Report(string pipeline, string scorer, int rows, double seconds, string difference)
        => Console.WriteLine($"{pipeline,-10}{scorer,-34}{rows,6}{rows / seconds,12:F1}{difference,50}");

    private static IDataView Images(MLContext ml, DataMatrix source, int rows)
        => ml.Data.LoadFromEnumerable(Enumerable.Range(0, rows).Select(r => new Image { Pixels = source.Values.AsSpan(r * 784, 784).ToArray() }).ToArray());

    private static IDataView Sequences(MLContext ml, float[] values, int count)
        => ml.Data.LoadFromEnumerable(Enumerable.Range(0, count).Select(s => new Sequence { Frames = values.AsSpan(s * SequenceFrames * FrameSize, SequenceFrames * FrameSize).ToArray() }).ToArray());
}
