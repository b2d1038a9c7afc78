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
        int rounds = 7, units = 100, k = 100;
        string architecture = "900bs-200g", rule = "sbp";
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--rounds": rounds = int.Parse(args[++i]); break;
                case "--architecture": architecture = args[++i]; break;
                case "--rule": rule = args[++i]; break;
                case "--recurrent-units": units = int.Parse(args[++i]); break;
                case "--k": k = int.Parse(args[++i]); break;
                default: throw new ArgumentException($"unknown option {args[i]} (--rounds N, --architecture A, --rule R, --recurrent-units N, --k K)");
            }
        }
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

        // Scoring: K samples per frame, conditioned, against the frame machine's estimator on the same frames.
        var scoring = Stopwatch.StartNew();
        TemporalEvaluation.LogLikelihoodPerFrame(model, data, k, seed: 5);
        double temporal = scoring.Elapsed.TotalSeconds;
        scoring.Restart();
        new Microsoft.ML.Helmholtz.Evaluation.ImportanceSampledLogLikelihood(k, seed: 5).EstimatePerExample(plain, new DataMatrix(rows, options.PixelsPerFrame, data.Values));
        double frameScoring = scoring.Elapsed.TotalSeconds;
        Console.WriteLine($"scoring {rows} frames at K = {k}: temporal {temporal:F2} s, frame machine {frameScoring:F2} s ({temporal / frameScoring:F2}×; one pass each)");
    }
}
