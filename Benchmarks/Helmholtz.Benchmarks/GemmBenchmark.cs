using System.Diagnostics;
using Microsoft.ML.Helmholtz.Numerics;

namespace Helmholtz.Benchmarks;

/// <summary>Median GFLOP/s of each matrix engine on the shapes the models use.</summary>
internal static class GemmBenchmark
{
    // Split over the pool: a product on its own (not one of a pair) runs this way in training. A layer's forward is x·Wᵀ (NT,
    // "B^T"); du·W (NN) is an input gradient. Until 2026-12-04 the NN rows were labelled "forward" (a review's finding).
    private static readonly (string Label, bool TransA, bool TransB, int M, int N, int K)[] Shapes =
    {
        ("input grad 100x200x784", false, false, 100, 200, 784),
        ("input grad 100x784x200", false, false, 100, 784, 200),
        ("forward  100x200x784 B^T", false, true, 100, 200, 784),
        ("forward  100x784x200 B^T", false, true, 100, 784, 200),
        ("grad A^T 200x784x100", true, false, 200, 784, 100),
        ("grad A^T 784x200x100", true, false, 784, 200, 100),
        ("batch   5000x784x200", false, false, 5000, 784, 200),
        ("square   512x512x512", false, false, 512, 512, 512),
        ("square  1024x1024x1024", false, false, 1024, 1024, 1024),
    };

    // One thread each: a pair's two products run side by side, one per thread, so these are the
    // rates training sees. NT: a layer's forward (x·Wᵀ); TN: a weight gradient (duᵀ·x); NN: an
    // input gradient (du·W). Batch 100 and the 1000-row chunks of scoring, on 784-200-50 layers.
    private static readonly (string Label, bool TransA, bool TransB, int M, int N, int K)[] TrainingShapes =
    {
        ("NT 100x200x784", false, true, 100, 200, 784),
        ("NT 100x784x200", false, true, 100, 784, 200),
        ("NT 100x50x200", false, true, 100, 50, 200),
        ("NT 100x200x50", false, true, 100, 200, 50),
        ("TN 200x784x100", true, false, 200, 784, 100),
        ("TN 784x200x100", true, false, 784, 200, 100),
        ("TN 50x200x100", true, false, 50, 200, 100),
        ("TN 200x50x100", true, false, 200, 50, 100),
        ("NN 100x200x784", false, false, 100, 200, 784),
        ("NN 100x50x200", false, false, 100, 50, 200),
        ("NT 1000x200x784", false, true, 1000, 200, 784),
        ("NT 1000x784x200", false, true, 1000, 784, 200),
        ("NN 1024x1024x1024", false, false, 1024, 1024, 1024),
    };

    public static void Run(string[] args)
    {
        int repeats = (int)CommandLine.Count(args, "REPEATS", 7);
        CommandLine.OptionsRead();
        Table(Shapes, repeats, "both engines split products over the worker pool");
        using (WorkerPool.InlineScope())
            Table(TrainingShapes, repeats, "one thread: as each product of a pair runs in training");
    }

    private static void Table((string Label, bool TransA, bool TransB, int M, int N, int K)[] shapes, int repeats, string how)
    {
        var engines = new List<IMatrixEngine> { MatrixEngine.Managed };
        if (MatrixEngine.OpenBlas is { } blas) engines.Add(blas);
        else Console.WriteLine("OpenBLAS not loadable; managed only.");
        string core = MatrixEngine.OpenBlas is OpenBlasMatrixEngine ob ? $" openblas core={ob.CoreName}" : "";
        Console.WriteLine($"cores={Environment.ProcessorCount} managed kernel={((ManagedMatrixEngine)MatrixEngine.Managed).Kernel}{core} repeats={repeats} (median GFLOP/s; {how})");
        Console.Write($"{"shape",-26}");
        foreach (var e in engines) Console.Write($"{e.Name,10}");
        if (engines.Count > 1) Console.Write($"{"ratio",8}");
        Console.WriteLine();

        var rng = new RandomStream(1);
        foreach (var s in shapes)
        {
            int aRows = s.TransA ? s.K : s.M, aCols = s.TransA ? s.M : s.K;
            int bRows = s.TransB ? s.N : s.K, bCols = s.TransB ? s.K : s.N;
            var a = new float[aRows * aCols]; var b = new float[bRows * bCols]; var c = new float[s.M * s.N];
            rng.FillUniform(a); rng.FillUniform(b);
            double flops = 2.0 * s.M * s.N * s.K;
            Console.Write($"{s.Label,-26}");
            var rates = new List<double>();
            foreach (var e in engines)
            {
                void Multiply(int times)
                {
                    for (int i = 0; i < times; i++) e.Gemm(s.TransA, s.TransB, s.M, s.N, s.K, 1f, a, aCols, b, bCols, 0f, c, s.N);
                }
                // Until tiered JIT (the managed engine's code) and the thread pool settle.
                JitWarmup.Run(() => Multiply(1));
                var sw = Stopwatch.StartNew();
                Multiply(1);
                double one = sw.Elapsed.TotalSeconds;
                // Enough calls per sample for ~50 ms, so timer resolution and jitter do not matter.
                int calls = Math.Max(1, (int)(0.05 / Math.Max(one, 1e-7)));
                var samples = new double[repeats];
                for (int r = 0; r < repeats; r++)
                {
                    sw.Restart();
                    Multiply(calls);
                    samples[r] = flops * calls / sw.Elapsed.TotalSeconds / 1e9;
                }
                double median = Statistics.Median(samples);
                rates.Add(median);
                Console.Write($"{median,10:F1}");
            }
            if (rates.Count > 1) Console.Write($"{rates[0] / rates[1],8:F2}");
            Console.WriteLine();
        }
    }
}
