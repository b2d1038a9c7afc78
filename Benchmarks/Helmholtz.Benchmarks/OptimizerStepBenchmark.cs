using System.Diagnostics;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Learning;
using Microsoft.ML.Helmholtz.Learning.Optimizers;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;

namespace Helmholtz.Benchmarks;

/// <summary>
/// An optimiser step over every parameter of a machine, alone: Adam as the trainer runs it (the undo copy made in its pass)
/// and the undo copy by itself, on the worker pool and on one thread, each step after a fresh gradient was written (as the
/// backward leaves it) and, in a second set of rows, after a sweep through 64 MB that evicts the parameters from the caches.
/// The configurations take turns step by step, in a new order each round, so that the machine's drift and what the step
/// before leaves in the caches fall on all alike. Prints the median time a
/// step, per parameter, and the bytes a second it moves: Adam reads the value, the gradient and both moments and writes all
/// four and the undo copy (36 bytes a parameter); the copy reads and writes one array (8 bytes). Against the memory traffic
/// the second rows reach, this says how far Adam is from its floor on this machine (docs/performance.md).
/// </summary>
internal static unsafe class OptimizerStepBenchmark
{
    private const int AdamBytesPerParameter = 36, CopyBytesPerParameter = 8;

    public static void Run(string[] args)
    {
        int rounds = 400;
        string architecture = "784b-200g-50g";
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--rounds": rounds = CommandLine.Int(args, ref i); break;
                case "--architecture": architecture = CommandLine.Architecture(args, ref i); break;
                default: throw CommandLine.Unknown(args[i], "--rounds N, --architecture SPEC");
            }
        }
        CommandLine.OptionsRead();
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse(architecture), 1);
        Parameter[] parameters = machine.Parameters.ToArray();
        long count = parameters.Sum(p => (long)p.Length);
        var random = new Random(1);
        // Each parameter's fresh gradient, written into place before each step over the same blocks the optimiser runs on (the
        // blocks' first state array is where it is kept).
        var fresh = new Dictionary<Parameter, float[]>(ReferenceEqualityComparer.Instance);
        foreach (Parameter p in parameters)
        {
            float[] g = ParameterBlocks.AllocateState(p.Length);
            for (int i = 0; i < g.Length; i++) g[i] = (float)(1e-3 * (random.NextDouble() - 0.5));
            fresh[p] = g;
        }
        var gradients = new ParameterBlocks(parameters, p => (fresh[p], null));
        float[] sweep = GC.AllocateArray<float>(16 << 20, pinned: true);
        var undo = new StepUndo(parameters);
        // Two optimisers: one Adam given the undo copy and then not would build its blocks again at each change.
        IKeepsValuesBeforeStep keeping = new Adam();
        var adam = new Adam();

        var rows = new (string Name, bool Inline, bool Evict, Kind Kind)[]
        {
            ("Adam without an undo copy, pool", false, false, Kind.AdamAlone),
            ("Adam with the undo copy, pool", false, false, Kind.Adam),
            ("Adam with the undo copy, one thread", true, false, Kind.Adam),
            ("undo copy alone, pool", false, false, Kind.Copy),
            ("undo copy alone, one thread", true, false, Kind.Copy),
            ("Adam with the undo copy, pool, evicted", false, true, Kind.Adam),
            ("Adam with the undo copy, one thread, evicted", true, true, Kind.Adam),
            ("undo copy alone, pool, evicted", false, true, Kind.Copy),
            ("undo copy alone, one thread, evicted", true, true, Kind.Copy),
        };
        WorkerPool pool = WorkerPool.Current;
        var times = rows.Select(_ => new List<double>()).ToArray();
        Console.WriteLine($"{architecture}: {parameters.Length} parameters of {count} values; {rounds} rounds of one step each way, taking turns in a new order each round " +
            $"(the first round warms up); pool of {pool.Threads} threads");
        int[] order = Enumerable.Range(0, rows.Length).ToArray();
        var shuffle = new Random(2);
        for (int round = 0; round <= rounds; round++)
        {
            // A new order each round: a row's step then follows each of the others alike (the one before it leaves the caches warm or swept).
            shuffle.Shuffle(order);
            foreach (int r in order)
            {
                var row = rows[r];
                // Both on the pool, as a training step's backward and products keep its helpers busy up to the optimiser's step
                // (a helper left idle for longer sleeps, and waking it would be timed with the step).
                gradients.Run(new FreshGradients { Blocks = gradients.Table });
                if (row.Evict) pool.Run(SweepPieces, new Sweep { Values = ParameterBlocks.Pointer(sweep), Length = sweep.Length });
                using var scope = WorkerPool.Use(row.Inline ? WorkerPool.Inline : pool);
                long start = Stopwatch.GetTimestamp();
                if (row.Kind == Kind.Adam) keeping.Step(parameters, 1e-4f, undo);
                else if (row.Kind == Kind.AdamAlone) adam.Step(parameters, 1e-4f);
                else undo.Save();
                double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
                if (round > 0) times[r].Add(seconds);
            }
        }
        Console.WriteLine($"{"step",-46}{"ms",9}{"ns/value",10}{"GB/s",8}{"s/500 steps",13}");
        for (int j = 0; j < rows.Length; j++)
        {
            double median = Statistics.Median(times[j]);
            int bytes = rows[j].Kind switch { Kind.Adam => AdamBytesPerParameter, Kind.AdamAlone => AdamBytesPerParameter - 4, _ => CopyBytesPerParameter };
            Console.WriteLine($"{rows[j].Name,-46}{1e3 * median,9:F3}{1e9 * median / count,10:F3}{bytes * count / median / 1e9,8:F1}{500 * median,13:F3}");
        }
    }

    private enum Kind { Adam, AdamAlone, Copy }

    private const int SweepPieces = 64;

    private struct FreshGradients : IPieceWork
    {
        public ParameterBlocks.Block* Blocks;
        public readonly void Execute(int piece) => new Span<float>(Blocks[piece].State0, Blocks[piece].Length).CopyTo(new Span<float>(Blocks[piece].Gradient, Blocks[piece].Length));
    }

    /// <summary>One write a cache line through a 64 MB array: each line is read and written back, and what was cached before is evicted.</summary>
    private struct Sweep : IPieceWork
    {
        public float* Values;
        public int Length;
        public readonly void Execute(int piece)
        {
            int size = Length / SweepPieces;
            for (int i = piece * size; i < (piece + 1) * size; i += 16) Values[i] += 1;
        }
    }
}
