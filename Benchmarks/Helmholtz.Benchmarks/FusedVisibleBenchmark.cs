using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Microsoft.ML.Helmholtz.Numerics;

namespace Helmholtz.Benchmarks;

/// <summary>
/// Would scoring gain from one kernel for the visible layer's log-probability? Scoring spends most of its time on
/// the visible layer of each sample: its bias rows written (BroadcastRows), the product h·Wᵀ added to them
/// (OpenBLAS, which packs W again for every chunk), then the Bernoulli terms read back (docs/performance.md). Here,
/// for one chunk of rows that share their image (the K samples of one example), that path on one thread against
/// one kernel that starts each 8 × 32 tile of logits from the bias, multiplies in Wᵀ (transposed once, as a scoring
/// run could do for all its chunks: the weights do not change while it scores) without packing, and adds the tile's
/// Bernoulli terms to its rows' sums while the logits are in registers, so they are never written. The sums are
/// kept as the library's kernel keeps them (the max terms in double, the ln(1 + e^{−|b|}) terms as one ln of a
/// product of factors per lane). An experiment, not a path of the library: docs/performance.md, "One kernel for
/// the visible layer in scoring".
/// </summary>
internal static unsafe class FusedVisibleBenchmark
{
    public static void Run(string[] args)
    {
        int rounds = (int)CommandLine.Count(args, "ROUNDS", 9);
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
        float[] wt = new float[hidden * visible];
        for (int o = 0; o < visible; o++)
            for (int i = 0; i < hidden; i++) wt[i * visible + o] = w[o * hidden + i];
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
            fixed (float* ph = h, pwt = wt, pb = bias, px = x)
            fixed (double* ps = fused)
                FusedRows(rows, hidden, visible, ph, pwt, pb, px, ps);
        }
        Separate();
        Fused();
        double worst = 0;
        for (int r = 0; r < rows; r++) worst = Math.Max(worst, Math.Abs(separate[r] - fused[r]) / (1 + Math.Abs(separate[r])));

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
        Console.WriteLine($"one kernel (Wᵀ made once, outside):        {f,7:F3} ms  ({flops / f / 1e6,6:F1} GFLOP/s)");
        Console.WriteLine($"ratio {s / f:F3}; largest difference of a row's ln p, relative to 1 + |ln p|: {worst:E1}");
    }

    /// <summary>
    /// sums[r] = Σ_c ln Bernoulli(x_c | sigmoid(b_c + h_r · Wᵀ[·, c])) for every row (rows a multiple of 8, visible of 16): column
    /// panels outside, 8-row tiles inside, so that a panel of Wᵀ stays in the first-level cache while every row passes it.
    /// </summary>
    private static void FusedRows(int rows, int hidden, int visible, float* h, float* wt, float* bias, float* x, double* sums)
    {
        // Per row: its lanes' sums of max(b, 0) in double (lanes 0–7, 8–15) and its product of 1 + e^{−|b|}.
        if (_lanes.Length < rows * 16) { _lanes = new double[rows * 16]; _product = new float[rows * 16]; }
        Array.Clear(_lanes, 0, rows * 16);
        Array.Fill(_product, 1f, 0, rows * 16);
        fixed (double* lanes = _lanes)
        fixed (float* product = _product)
        {
            int c = 0;
            for (; c + 32 <= visible; c += 32)
                for (int r0 = 0; r0 < rows; r0 += 8) Tile(hidden, h + (nint)r0 * hidden, hidden, wt + c, visible, bias + c, x + c, lanes + r0 * 16, product + r0 * 16, two: true);
            if (c < visible)
                for (int r0 = 0; r0 < rows; r0 += 8) Tile(hidden, h + (nint)r0 * hidden, hidden, wt + c, visible, bias + c, x + c, lanes + r0 * 16, product + r0 * 16, two: false);
            Vector512<double> ln2 = Vector512.Create(Math.Log(2));
            for (int r = 0; r < rows; r++)
            {
                Vector512<float> logMantissa = VectorMath.LogOfPositiveParts(Vector512.Load(product + r * 16), out Vector512<float> exponent);
                Vector512<double> low = Vector512.Load(lanes + r * 16) + Vector512.FusedMultiplyAdd(Vector512.WidenLower(exponent), ln2, Vector512.WidenLower(logMantissa));
                Vector512<double> high = Vector512.Load(lanes + r * 16 + 8) + Vector512.FusedMultiplyAdd(Vector512.WidenUpper(exponent), ln2, Vector512.WidenUpper(logMantissa));
                sums[r] = -Vector512.Sum(low + high);
            }
        }
    }

    private static double[] _lanes = [];
    private static float[] _product = [];

    /// <summary>One 8 × 32 (or 8 × 16, <paramref name="two"/> false) tile: logits from the bias and Wᵀ's rows, then their Bernoulli terms into the rows' state.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile(int k, float* a, nint lda, float* b, nint ldb, float* bias, float* x, double* lanes, float* product, bool two)
    {
        Vector512<float> b0 = Vector512.Load(bias), b1 = two ? Vector512.Load(bias + 16) : default;
        Vector512<float> c00 = b0, c01 = b1, c10 = b0, c11 = b1, c20 = b0, c21 = b1, c30 = b0, c31 = b1,
            c40 = b0, c41 = b1, c50 = b0, c51 = b1, c60 = b0, c61 = b1, c70 = b0, c71 = b1;
        float* a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda;
        nint four = 4 * lda;
        if (two)
        {
            for (int p = 0; p < k; p++, b += ldb)
            {
                Vector512<float> w0 = Vector512.Load(b), w1 = Vector512.Load(b + 16);
                Vector512<float> v = Vector512.Create(a0[p]);
                c00 = Vector512.FusedMultiplyAdd(v, w0, c00); c01 = Vector512.FusedMultiplyAdd(v, w1, c01);
                v = Vector512.Create(a1[p]);
                c10 = Vector512.FusedMultiplyAdd(v, w0, c10); c11 = Vector512.FusedMultiplyAdd(v, w1, c11);
                v = Vector512.Create(a2[p]);
                c20 = Vector512.FusedMultiplyAdd(v, w0, c20); c21 = Vector512.FusedMultiplyAdd(v, w1, c21);
                v = Vector512.Create(a3[p]);
                c30 = Vector512.FusedMultiplyAdd(v, w0, c30); c31 = Vector512.FusedMultiplyAdd(v, w1, c31);
                v = Vector512.Create(a0[p + four]);
                c40 = Vector512.FusedMultiplyAdd(v, w0, c40); c41 = Vector512.FusedMultiplyAdd(v, w1, c41);
                v = Vector512.Create(a1[p + four]);
                c50 = Vector512.FusedMultiplyAdd(v, w0, c50); c51 = Vector512.FusedMultiplyAdd(v, w1, c51);
                v = Vector512.Create(a2[p + four]);
                c60 = Vector512.FusedMultiplyAdd(v, w0, c60); c61 = Vector512.FusedMultiplyAdd(v, w1, c61);
                v = Vector512.Create(a3[p + four]);
                c70 = Vector512.FusedMultiplyAdd(v, w0, c70); c71 = Vector512.FusedMultiplyAdd(v, w1, c71);
            }
        }
        else
        {
            for (int p = 0; p < k; p++, b += ldb)
            {
                Vector512<float> w0 = Vector512.Load(b);
                c00 = Vector512.FusedMultiplyAdd(Vector512.Create(a0[p]), w0, c00);
                c10 = Vector512.FusedMultiplyAdd(Vector512.Create(a1[p]), w0, c10);
                c20 = Vector512.FusedMultiplyAdd(Vector512.Create(a2[p]), w0, c20);
                c30 = Vector512.FusedMultiplyAdd(Vector512.Create(a3[p]), w0, c30);
                c40 = Vector512.FusedMultiplyAdd(Vector512.Create(a0[p + four]), w0, c40);
                c50 = Vector512.FusedMultiplyAdd(Vector512.Create(a1[p + four]), w0, c50);
                c60 = Vector512.FusedMultiplyAdd(Vector512.Create(a2[p + four]), w0, c60);
                c70 = Vector512.FusedMultiplyAdd(Vector512.Create(a3[p + four]), w0, c70);
            }
        }
        // −ln p = softplus(b), b = ±a by x's bit, as the library's kernel forms it.
        Vector512<int> flip0 = Vector512.Load(x).AsInt32() << 8, flip1 = two ? Vector512.Load(x + 16).AsInt32() << 8 : default;
        Terms(c00, c01, flip0, flip1, two, lanes, product);
        Terms(c10, c11, flip0, flip1, two, lanes + 16, product + 16);
        Terms(c20, c21, flip0, flip1, two, lanes + 32, product + 32);
        Terms(c30, c31, flip0, flip1, two, lanes + 48, product + 48);
        Terms(c40, c41, flip0, flip1, two, lanes + 64, product + 64);
        Terms(c50, c51, flip0, flip1, two, lanes + 80, product + 80);
        Terms(c60, c61, flip0, flip1, two, lanes + 96, product + 96);
        Terms(c70, c71, flip0, flip1, two, lanes + 112, product + 112);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Terms(Vector512<float> a0, Vector512<float> a1, Vector512<int> flip0, Vector512<int> flip1, bool two, double* lanes, float* product)
    {
        Vector512<double> low = Vector512.Load(lanes), high = Vector512.Load(lanes + 8);
        Vector512<float> p = Vector512.Load(product);
        Vector512<float> b = (a0.AsInt32() ^ flip0).AsSingle();
        Vector512<float> m = VectorMath.Max(b, Vector512<float>.Zero);
        low += Vector512.WidenLower(m);
        high += Vector512.WidenUpper(m);
        p = Vector512.FusedMultiplyAdd(p, VectorMath.Exp(-Vector512.Abs(b)), p);
        if (two)
        {
            b = (a1.AsInt32() ^ flip1).AsSingle();
            m = VectorMath.Max(b, Vector512<float>.Zero);
            low += Vector512.WidenLower(m);
            high += Vector512.WidenUpper(m);
            p = Vector512.FusedMultiplyAdd(p, VectorMath.Exp(-Vector512.Abs(b)), p);
        }
        low.Store(lanes);
        high.Store(lanes + 8);
        p.Store(product);
    }
}
