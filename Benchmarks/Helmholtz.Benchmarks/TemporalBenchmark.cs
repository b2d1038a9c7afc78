using System.Diagnostics;
using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Learning;
using Microsoft.ML.Helmholtz.Learning.Rules;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;
using Microsoft.ML.Helmholtz.Temporal;

namespace Helmholtz.Benchmarks;

/// <summary>
/// What the time dimension costs: on bouncing-balls minibatches (20 sequences × 100 frames of 30 × 30,
/// generated), the median time of one temporal training step (LSTM forward, conditioning, the rule on
/// all 2000 frames, the backward through the map and the LSTM) against the same rule's step on the
/// same 2000 frames unconditioned, taking turns in one run; the LSTM's forward and backward alone;
/// and per-frame scoring against the frame machine's importance sampling of the same frames.
/// </summary>
internal static class TemporalBenchmark
{
    public static void Run(string[] args)
    {
        int rounds = 7, units = 100, k = 100, scoringRounds = 1;
        int? gpu = null;
        bool onnx = false;
        string architecture = "900bs-200g", rule = "sbp";
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--rounds": rounds = CommandLine.Int(args, ref i); break;
                case "--architecture": architecture = CommandLine.Architecture(args, ref i); break;
                case "--rule": rule = CommandLine.Rule(args, ref i); break;
                case "--recurrent-units": units = CommandLine.Int(args, ref i); break;
                case "--k": k = CommandLine.Int(args, ref i); break;
                case "--scoring-rounds": scoringRounds = CommandLine.Int(args, ref i); break;
                case "--onnx": onnx = true; break;
                case "--gpu": gpu = CommandLine.Int(args, ref i, min: 0); onnx = true; break;
                default: throw CommandLine.Unknown(args[i], "--rounds N, --architecture A, --rule R, --recurrent-units N, --k K, --scoring-rounds N, --onnx, --gpu DEVICE");
            }
        }
        CommandLine.OptionsRead();
        const int sequences = 20, frames = 100;
        var options = new BouncingBallsOptions();
        var data = new SequenceSet(sequences, frames, options.Resolution, options.Resolution, BouncingBalls.Generate(options, sequences, 1));
        var arch = HelmholtzArchitecture.Parse(architecture);
        var model = TemporalHelmholtzMachine.Create(arch, units, 1);
        ILearningRule temporalRule = LearningRules.Create(rule), plainRule = LearningRules.Create(rule);
        int rows = sequences * frames;
        temporalRule.Prepare(model.Machine, rows);
        var step = new TemporalStep(model, temporalRule, sequences, frames, new RandomStream(2));
        int[] all = Enumerable.Range(0, sequences).ToArray();

        var plain = HelmholtzMachine.Create(arch, 1);
        plainRule.Prepare(plain, rows);
        var batch = new TrainingBatch(arch, rows, plainRule.SamplesPerExample, new RandomStream(3));
        data.Values.AsSpan(0, rows * options.PixelsPerFrame).CopyTo(batch.ExampleRows(rows));
        batch.Load(rows);

        var lstm = new Lstm("bench", options.PixelsPerFrame, units, MatrixEngine.Default);
        lstm.Initialize(new RandomStream(4));
        lstm.EnsureCapacity(frames, sequences);
        float[] input = data.Values.AsSpan(0, rows * options.PixelsPerFrame).ToArray(), dz = new float[rows * units];

        Console.WriteLine($"cores {Environment.ProcessorCount}, engine {MatrixEngine.Default.Name}; {architecture} with {rule}, LSTM({units}); minibatch {sequences} sequences × {frames} frames; medians of {rounds} rounds taking turns");
        var times = new Dictionary<string, List<double>> { ["temporal step"] = [], ["frame machine step"] = [], ["LSTM forward + backward"] = [] };
        for (int round = 0; round <= rounds; round++)
        {
            double Time(Action action) { var clock = Stopwatch.StartNew(); action(); return clock.Elapsed.TotalMilliseconds; }
            double t1 = Time(() => { step.AccumulateGradients(data, all, 0, frames); model.ZeroGradients(); });
            double t2 = Time(() => { plainRule.AccumulateGradients(plain, batch); plain.ZeroGradients(); });
            double t3 = Time(() => { lstm.Forward(input, frames, sequences); lstm.Backward(dz, frames, sequences); foreach (var p in lstm.Parameters) p.ZeroGradient(); });
            if (round == 0) continue;   // the warm-up round
            times["temporal step"].Add(t1);
            times["frame machine step"].Add(t2);
            times["LSTM forward + backward"].Add(t3);
        }
        double frame = Statistics.Median(times["frame machine step"]);
        foreach (var (name, list) in times)
            Console.WriteLine($"{name,-26}{Statistics.Median(list),10:F1} ms{Statistics.Median(list) / frame,8:F2}× the frame machine's step");

        // Scoring: K samples per frame, conditioned, against the frame machine's estimator on the same frames, taking turns
        // (--scoring-rounds, after a pass of each that is not timed when there is more than one round).
        var temporalTimes = new List<double>();
        var frameTimes = new List<double>();
        for (int round = scoringRounds > 1 ? 0 : 1; round <= scoringRounds; round++)
        {
            var scoring = Stopwatch.StartNew();
            TemporalEvaluation.LogLikelihoodPerFrame(model, data, k, seed: 5);
            double temporal = scoring.Elapsed.TotalSeconds;
            scoring.Restart();
            new Microsoft.ML.Helmholtz.Evaluation.ImportanceSampledLogLikelihood(k, seed: 5).EstimatePerExample(plain, new DataMatrix(rows, options.PixelsPerFrame, data.Values));
            if (round == 0) continue;
            temporalTimes.Add(temporal);
            frameTimes.Add(scoring.Elapsed.TotalSeconds);
        }
        double temporalMedian = Statistics.Median(temporalTimes), frameMedian = Statistics.Median(frameTimes);
        Console.WriteLine($"scoring {rows} frames at K = {k}: temporal {temporalMedian:F3} s, frame machine {frameMedian:F3} s ({temporalMedian / frameMedian:F2}×; " +
            (scoringRounds == 1 ? "one pass each)" : $"medians of {scoringRounds} rounds taking turns)"));
            if (onnx) Onnx(model, data, k, rounds, gpu);
    }

    /// <summary>
    /// The sequences' fixed-noise scores through the temporal ONNX graph on ONNX Runtime's CPU provider and,
    /// with a GPU, its CUDA provider, against the managed scorer: the largest difference and sequences/s (medians).
    /// </summary>
    private static void Onnx(TemporalHelmholtzMachine model, SequenceSet data, int k, int rounds, int? gpu)
    {
        int frames = data.Frames, d = data.ValuesPerFrame;
        var scorer = new TemporalFixedNoiseLogLikelihood(model, k, seed: 6);
        byte[] graph = Microsoft.ML.Helmholtz.Onnx.TemporalGraph.Build(scorer, frames, "frames", "per_frame", "total");
        var managed = new double[data.Count * frames];
        var times = new List<double>();
        // One round more than timed, the first untimed, as for ONNX Runtime below (its first round warms the scorer's buffers up).
        for (int r = 0; r < Math.Max(3, rounds / 2) + 1; r++)
        {
            var clock = Stopwatch.StartNew();
            for (int s = 0; s < data.Count; s++) scorer.Score(data.Sequence(s), frames, managed.AsSpan(s * frames, frames));
            if (r > 0) times.Add(data.Count / clock.Elapsed.TotalSeconds);
        }
        Console.WriteLine($"temporal ONNX graph ({graph.Length / 1024} KB), K = {k}, {data.Count} sequences of {frames} frames:");
        Console.WriteLine($"  managed fixed-noise scorer      {Statistics.Median(times),10:F1} sequences/s");
        var providers = new List<(string Name, Microsoft.ML.OnnxRuntime.SessionOptions Options)> { ("ONNX Runtime, CPU", new Microsoft.ML.OnnxRuntime.SessionOptions()) };
        if (gpu is { } device)
        {
            var cuda = new Microsoft.ML.OnnxRuntime.SessionOptions();
            try
            {
                cuda.AppendExecutionProvider_CUDA(device);
            }
            catch (Microsoft.ML.OnnxRuntime.OnnxRuntimeException e)
            {
                throw CommandLine.CudaUnavailable(device, e);
            }
            providers.Add(($"ONNX Runtime, CUDA device {device}", cuda));
        }
        foreach (var (name, options) in providers)
        {
            using var session = new Microsoft.ML.OnnxRuntime.InferenceSession(graph, options);
            double largest = 0;
            times.Clear();
            for (int r = 0; r < Math.Max(3, rounds / 2) + 1; r++)
            {
                var clock = Stopwatch.StartNew();
                for (int s = 0; s < data.Count; s++)
                {
                    float[] sequence = data.Sequence(s).ToArray();
                    using var results = session.Run([Microsoft.ML.OnnxRuntime.NamedOnnxValue.CreateFromTensor("frames",
                        new Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<float>(sequence, [frames * d]))]);
                    float[] perFrame = results.First(x => x.Name == "per_frame").AsTensor<float>().ToArray();
                    for (int t = 0; t < frames; t++) largest = Math.Max(largest, Math.Abs(perFrame[t] - managed[s * frames + t]));
                }
                if (r > 0) times.Add(data.Count / clock.Elapsed.TotalSeconds);   // the first round warms the session up
            }
            Console.WriteLine($"  {name,-32}{Statistics.Median(times),10:F1} sequences/s, largest difference of a frame's ln p̂ from the managed scorer {largest:G3} nats");
        }
    }
}
