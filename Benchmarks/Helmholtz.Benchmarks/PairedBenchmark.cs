using System.Diagnostics;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Learning;
using Microsoft.ML.Helmholtz.Learning.Optimizers;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;

namespace Helmholtz.Benchmarks;

/// <summary>
/// The matrix engines on the same training work, in one process, taking turns: each round runs 100
/// minibatches of the reference configuration with each engine (the order rotating), so that the
/// drift of this machine's speed falls on all alike. Prints the median over rounds of each engine's
/// time per epoch and of its ratio to the first. Beside OpenBLAS and the managed engine, the
/// "-in-turn" engines make the two products of a pair one after the other, each cut over the
/// threads (as before pairs existed).
/// </summary>
internal static class PairedBenchmark
{
    public static void Run(string[] args)
    {
        int rounds = 12, steps = 100;
        string rule = "sbp", architecture = "784b-200g-50g";
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--rounds": rounds = CommandLine.Int(args, ref i); break;
                case "--rule": rule = CommandLine.Rule(args, ref i); break;
                case "--architecture": architecture = CommandLine.Architecture(args, ref i); break;
                default: throw CommandLine.Unknown(args[i], "--rounds N, --rule NAME, --architecture SPEC");
            }
        }
        CommandLine.OptionsRead();
        var engines = new List<IMatrixEngine> { MatrixEngine.Managed, new ProductsInTurn(MatrixEngine.Managed) };
        if (MatrixEngine.OpenBlas is { } blas) engines.InsertRange(0, [blas, new ProductsInTurn(blas)]);
        MnistSplits data = BinarizedMnist.Load();
        const int batch = 100;
        int batches = data.Train.Rows / batch;
        var runs = engines.Select(engine => new Training(engine, rule, architecture, batch)).ToArray();
        var seconds = runs.Select(_ => new List<double>()).ToArray();
        Console.WriteLine($"{rule} {architecture}, batch {batch}, {rounds} rounds of {steps} minibatches per engine ({string.Join(", ", engines.Select(e => e.Name))})");
        for (int round = -1; round < rounds; round++)  // round −1 warms up
        {
            for (int j = 0; j < runs.Length; j++)
            {
                int e = (j + Math.Max(round, 0)) % runs.Length;
                var clock = Stopwatch.StartNew();
                for (int s = 0; s < steps; s++) runs[e].Step(data.Train, batches);
                if (round >= 0) seconds[e].Add(clock.Elapsed.TotalSeconds * batches / steps);
            }
        }
        for (int e = 0; e < runs.Length; e++)
        {
            double ratio = Statistics.Median(seconds[e].Zip(seconds[0], (a, b) => a / b));
            Console.WriteLine($"{engines[e].Name,-16} s/epoch median {Statistics.Median(seconds[e]):F3}   ratio to {engines[0].Name}: median {ratio:F3}");
        }
    }

    /// <summary>One model, rule and optimiser, stepping through the training data in order.</summary>
    private sealed class Training
    {
        private readonly HelmholtzMachine _machine;
        private readonly ILearningRule _rule;
        private readonly TrainingBatch _batchRows;
        private readonly IOptimizer _optimizer = new Adam();
        private readonly Parameter[] _parameters;
        private readonly int _batch;
        private int _next;

        public Training(IMatrixEngine engine, string rule, string architecture, int batch)
        {
            _machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse(architecture), 1, engine);
            _rule = LearningRules.Create(rule);
            _rule.Prepare(_machine, batch);
            // K rows per example for the multi-sample rules, as the trainer's own minibatches hold them.
            _batchRows = new TrainingBatch(_machine.Architecture, batch, _rule.SamplesPerExample, new RandomStream(1));
            _parameters = _machine.Parameters.Concat(_rule.Parameters).ToArray();
            _batch = batch;
        }

        public void Step(DataMatrix train, int batches)
        {
            int b = _next++ % batches;
            train.Values.AsSpan(b * _batch * train.Columns, _batch * train.Columns).CopyTo(_batchRows.ExampleRows(_batch));
            _batchRows.Load(_batch);
            _rule.AccumulateGradients(_machine, _batchRows);
            _optimizer.Step(_parameters, 1e-3f);  // Adam clears the gradients as it steps
        }
    }

    /// <summary>An engine's products, with pairs made in turn (the interface's default) rather than side by side.</summary>
    private sealed class ProductsInTurn(IMatrixEngine inner) : IMatrixEngine
    {
        public string Name => inner.Name + "-in-turn";

        public void Gemm(bool transA, bool transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda,
            ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
            => inner.Gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }
}
