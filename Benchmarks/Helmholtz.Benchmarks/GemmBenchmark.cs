using System.Diagnostics;
using Microsoft.ML.Helmholtz.Numerics;

namespace Helmholtz.Benchmarks;

/// <summary>Median GFLOP/s of each matrix engine on the shapes the models use.</summary>
internal static class GemmBenchmark
{
    private static readonly (string Label, bool TransA, bool TransB, int M, int N, int K)[] Shapes =
    {
        ("forward  100x200x784", false, false, 100, 200, 784),
        ("forward  100x784x200", false, false, 100, 784, 200),
        ("forward  100x200x784 B^T", false, true, 100, 200, 784),
        ("grad A^T 200x784x100", true, false, 200, 784, 100),
        ("back B^T 100x784x200", false, true, 100, 784, 200),
        ("batch   5000x784x200", false, false, 5000, 784, 200),
        ("square   512x512x512", false, false, 512, 512, 512),
        ("square  1024x1024x1024", false, false, 1024, 1024, 1024),
    };

    public static void Run(string[] args)
    {
        int repeats = args.Length > 0 ? int.Parse(args[0]) : 7;
        var engines = new List<IMatrixEngine> { MatrixEngine.Managed };
        if (MatrixEngine.OpenBlas is { } blas) engines.Add(blas);
        else Console.WriteLine("OpenBLAS not loadable; managed only.");
        string core = MatrixEngine.OpenBlas is OpenBlasMatrixEngine ob ? $" openblas core={ob.CoreName}" : "";
        Console.WriteLine($"cores={Environment.ProcessorCount} managed kernel={((ManagedMatrixEngine)MatrixEngine.Managed).Kernel}{core} repeats={repeats} (median GFLOP/s; both engines split products over the worker pool)");
        Console.Write($"{"shape",-26}");
        foreach (var e in engines) Console.Write($"{e.Name,10}");
        if (engines.Count > 1) Console.Write($"{"ratio",8}");
        Console.WriteLine();

        var rng = new RandomStream(1);
        foreach (var s in Shapes)
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
                // Warm up for a while so tiered JIT and the thread pool settle.
                var sw = Stopwatch.StartNew();
                while (sw.Elapsed.TotalSeconds < 0.3) e.Gemm(s.TransA, s.TransB, s.M, s.N, s.K, 1f, a, aCols, b, bCols, 0f, c, s.N);
                sw.Restart();
                e.Gemm(s.TransA, s.TransB, s.M, s.N, s.K, 1f, a, aCols, b, bCols, 0f, c, s.N);
                double one = sw.Elapsed.TotalSeconds;
                // Enough calls per sample for ~50 ms, so timer resolution and jitter do not matter.
                int calls = Math.Max(1, (int)(0.05 / Math.Max(one, 1e-7)));
                var samples = new double[repeats];
                for (int r = 0; r < repeats; r++)
                {
                    sw.Restart();
                    for (int i = 0; i < calls; i++)
                        e.Gemm(s.TransA, s.TransB, s.M, s.N, s.K, 1f, a, aCols, b, bCols, 0f, c, s.N);
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
