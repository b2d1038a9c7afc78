using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Learning;
using Microsoft.ML.Helmholtz.Learning.Optimizers;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;

namespace Helmholtz.Benchmarks;

/// <summary>
/// Adam with its floors (the library's) against Adam without them (its kernel as it was before,
/// kept here), taking turns epoch by epoch in one process, each training its own copy of a saved
/// machine with its own optimiser, so that the moments reach the state of a long run. Prints the
/// median over rounds of each one's seconds an epoch and of the ratio between them.
/// </summary>
internal static class OptimizerFloorsBenchmark
{
    public static void Run(string[] args)
    {
        string rule = "wake-sleep", model = "";
        int rounds = 13, samples = LearningRules.DefaultSamples;
        double rate = 1e-4;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--rule": rule = CommandLine.Rule(args, ref i); break;
                case "--model": model = CommandLine.Value(args, ref i); break;
                case "--rounds": rounds = CommandLine.Int(args, ref i); break;
                case "--train-samples": samples = CommandLine.Int(args, ref i); break;
                case "--lr": rate = CommandLine.Positive(args, ref i); break;
                default: throw CommandLine.Unknown(args[i], "--rule NAME, --model FILE, --rounds N, --train-samples K, --lr X");
            }
        }
        // The first round warms up and is not timed: a median needs one round more.
        if (rounds < 2) throw new UsageException($"floors --rounds must be at least 2 (the first warms up and is not timed); got {rounds}.");
        if (model.Length == 0) throw new UsageException("floors needs --model FILE: a machine saved by the MNIST sample (a trained one: its moments then meet what a long run's do).");
        CommandLine.OptionsRead();
        // The model first: a wrong path fails at once, not after the data has loaded.
        var machines = new[] { HelmholtzMachine.Load(model), HelmholtzMachine.Load(model) };
        MnistSplits data = BinarizedMnist.Load();
        IOptimizer[] optimizers = [new AdamWithoutFloors(), new Adam()];
        var seconds = new[] { new List<double>(), new List<double>() };
        Console.WriteLine($"{rule} from {model}, rate {rate}, {rounds} rounds of one epoch each (the first warms up), taking turns");
        for (int round = 0; round < rounds; round++)
        {
            for (int j = 0; j < 2; j++)
            {
                int e = (j + round) % 2;
                var options = new TrainingOptions
                {
                    Epochs = 1, BatchSize = 100, Seed = (ulong)(1 + round), Optimizer = () => optimizers[e],
                    LearningRate = new LearningRateSchedule(rate), InitializeVisibleBiases = false,
                };
                var clock = Stopwatch.StartNew();
                new HelmholtzTrainer(LearningRules.Create(rule, samples), options).Train(machines[e], data.Train);
                if (round > 0) seconds[e].Add(clock.Elapsed.TotalSeconds);
            }
        }
        double[] ratios = seconds[1].Zip(seconds[0], (with, without) => with / without).ToArray();
        Console.WriteLine($"s/epoch: without floors median {Statistics.Median(seconds[0]):F3}, with {Statistics.Median(seconds[1]):F3}; " +
            $"with / without: median {Statistics.Median(ratios):F3} (rounds: {string.Join(", ", ratios.Select(r => r.ToString("F2")))})");
    }

    /// <summary>The library's Adam as it was before its floors: the same blocks, bias correction and undo copy.</summary>
    private sealed unsafe class AdamWithoutFloors : IOptimizer, IKeepsValuesBeforeStep
    {
        private const float Beta1 = 0.9f, Beta2 = 0.999f, Epsilon = 1e-8f;
        private readonly Dictionary<Parameter, (float[] M, float[] V)> _moments = new(ReferenceEqualityComparer.Instance);
        private ParameterBlocks? _blocks;
        private StepUndo? _blocksBefore;
        private long _step;

        public string Name => "adam-without-floors";
        public bool ClearsGradients => true;

        public void Step(IReadOnlyList<Parameter> parameters, float learningRate) => Step(parameters, learningRate, null);

        void IKeepsValuesBeforeStep.Step(IReadOnlyList<Parameter> parameters, float learningRate, StepUndo before) => Step(parameters, learningRate, before);

        private void Step(IReadOnlyList<Parameter> parameters, float learningRate, StepUndo? before)
        {
            if (_blocks is null || !_blocks.Covers(parameters) || !ReferenceEquals(before, _blocksBefore))
            {
                _blocks = new ParameterBlocks(parameters, p => _moments.TryGetValue(p, out var s) ? s
                    : _moments[p] = (ParameterBlocks.AllocateState(p.Length), ParameterBlocks.AllocateState(p.Length)), before is null ? null : before.SavedOf);
                _blocksBefore = before;
            }
            _step++;
            float c1 = 1f - MathF.Pow(Beta1, _step), c2 = 1f - MathF.Pow(Beta2, _step);
            _blocks.Run(new Work { Blocks = _blocks.Table, StepSize = learningRate * MathF.Sqrt(c2) / c1, EpsilonHat = Epsilon * MathF.Sqrt(c2) });
        }

        private struct Work : IPieceWork
        {
            public ParameterBlocks.Block* Blocks;
            public float StepSize, EpsilonHat;

            public readonly void Execute(int piece)
            {
                ParameterBlocks.Block b = Blocks[piece];
                var gradient = new Span<float>(b.Gradient, b.Length);
                Update(new Span<float>(b.Value, b.Length), gradient, new Span<float>(b.State0, b.Length), new Span<float>(b.State1, b.Length),
                    StepSize, EpsilonHat, b.Before is null ? default : new Span<float>(b.Before, b.Length));
                gradient.Clear();
            }
        }

        [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
        private static void Update(Span<float> x, ReadOnlySpan<float> g, Span<float> m, Span<float> v, float stepSize, float epsilonHat, Span<float> before)
        {
            int n = x.Length, i = 0;
            bool keep = !before.IsEmpty;
            if (VectorMath.IsAccelerated)
            {
                Vector512<float> b1 = Vector512.Create(Beta1), b2 = Vector512.Create(Beta2), c1 = Vector512.Create(1f - Beta1), c2 = Vector512.Create(1f - Beta2);
                Vector512<float> step = Vector512.Create(stepSize), eps = Vector512.Create(epsilonHat);
                for (; i <= n - 16; i += 16)
                {
                    Vector512<float> gv = VectorMath.Load(g, i);
                    Vector512<float> mv = b1 * VectorMath.Load(m, i) + c1 * gv;
                    Vector512<float> vv = b2 * VectorMath.Load(v, i) + c2 * gv * gv;
                    VectorMath.Store(mv, m, i);
                    VectorMath.Store(vv, v, i);
                    Vector512<float> xv = VectorMath.Load(x, i);
                    if (keep) VectorMath.Store(xv, before, i);
                    VectorMath.Store(xv - step * mv / (Vector512.Sqrt(vv) + eps), x, i);
                }
            }
            for (; i < n; i++)
            {
                if (keep) before[i] = x[i];
                m[i] = Beta1 * m[i] + (1f - Beta1) * g[i];
                v[i] = Beta2 * v[i] + (1f - Beta2) * g[i] * g[i];
                x[i] -= stepSize * m[i] / (MathF.Sqrt(v[i]) + epsilonHat);
            }
        }
    }
}
