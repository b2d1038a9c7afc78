using System.Diagnostics;
using System.Runtime.Intrinsics;
using Microsoft.ML.Helmholtz.Numerics;

namespace Helmholtz.Benchmarks;

/// <summary>
/// Scoring's visible layer two ways, for one chunk of rows that share their image (the K samples of one example) on one
/// thread: the forward path (bias rows written, the product h·Wᵀ added to them by OpenBLAS, which packs W again for every
/// chunk, then the Bernoulli terms read back) against the library's one kernel
/// (<see cref="Kernels.AccumulateBernoulliLogProbOfProduct"/>: each 8 × 32 tile of logits from the bias and Wᵀ, laid out
/// once, its terms added while in registers). docs/performance.md, "One kernel for the visible layer in scoring" (measured
/// with the experiment this mode held before the kernel moved into the library) and "Scoring's visible layer in one kernel".
/// </summary>
internal static class FusedVisibleBenchmark
{
    public static void Run(string[] args)
    {
        int rounds = (int)CommandLine.Count(args, "ROUNDS", 9);
        CommandLine.OptionsRead();
        if (!Vector512.IsHardwareAccelerated || MatrixEngine.OpenBlas is not OpenBlasMatrixEngine blas)
        {
            Console.WriteLine("fused-visible: needs AVX-512 and OpenBLAS; nothing to measure on this machine.");
            return;
        }
        const int rows = 1000, hidden = 200, visible = 784;
        var rng = new RandomStream(1);
        float[] h = new float[rows * hidden], w = new float[visible * hidden], bias = new float[visible], x = new float[visible];
        rng.FillNormal(h);
        rng.FillNormal(w);
        rng.FillNormal(bias);
        for (int i = 0; i < w.Length; i++) w[i] *= 0.15f;   // logits of a few units, as a trained machine's
        for (int c = 0; c < visible; c++) x[c] = rng.NextDouble() < 0.2 ? 1f : 0f;
        var operands = new BernoulliProductOperands(w, bias, hidden, visible);
        operands.SetTargets(x, 1);
        float[] logits = new float[rows * visible];
        int[] rowSource = new int[rows];
        double[] separate = new double[rows], fused = new double[rows];
        double flops = 2.0 * rows * hidden * visible;

        using var inline = WorkerPool.InlineScope();
        void Separate()
        {
            Array.Clear(separate);
            Kernels.BroadcastRows(bias, logits, rows, visible);
            blas.Gemm(false, true, rows, visible, hidden, 1f, h, hidden, w, hidden, 1f, logits, visible);
            Kernels.AccumulateBernoulliLogProb(logits, x, 1, rowSource, rows, visible, separate);
        }
        void Fused()
        {
            Array.Clear(fused);
            Kernels.AccumulateBernoulliLogProbOfProduct(h, rows, operands, rowSource, fused);
        }
        Separate();
        Fused();
        double worst = 0;
        for (int r = 0; r < rows; r++) worst = Math.Max(worst, Math.Abs(separate[r] - fused[r]) / (1 + Math.Abs(separate[r])));

        JitWarmup.Run(Separate, Fused);
        int calls = 20;
        var separateTimes = new double[rounds];
        var fusedTimes = new double[rounds];
        for (int round = 0; round < rounds; round++)
        {
            var clock = Stopwatch.StartNew();
            for (int i = 0; i < calls; i++) Separate();
            separateTimes[round] = clock.Elapsed.TotalMilliseconds / calls;
            clock.Restart();
            for (int i = 0; i < calls; i++) Fused();
            fusedTimes[round] = clock.Elapsed.TotalMilliseconds / calls;
        }
        double s = Statistics.Median(separateTimes), f = Statistics.Median(fusedTimes);
        Console.WriteLine($"openblas core={blas.CoreName}, one thread, a chunk of {rows} rows sharing one image, {hidden} → {visible} units, {rounds} rounds taking turns (medians)");
        Console.WriteLine($"bias rows + OpenBLAS h·Wᵀ + Bernoulli terms: {s,7:F3} ms  ({flops / s / 1e6,6:F1} GFLOP/s of the product's arithmetic)");
        Console.WriteLine($"one kernel (Wᵀ laid out once, outside):    {f,7:F3} ms  ({flops / f / 1e6,6:F1} GFLOP/s)");
        Console.WriteLine($"ratio {s / f:F3}; largest difference of a row's ln p, relative to 1 + |ln p|: {worst:E1}");
    }
}
