using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Microsoft.ML.Helmholtz.Numerics;

namespace Helmholtz.Benchmarks;

/// <summary>
/// Would products that skip packing beat OpenBLAS on the models' small shapes? OpenBLAS packs both operands of
/// every product (13.7% of a nonlinear NVIL profile, docs/performance.md). Here two AVX-512 kernels that read
/// the operands where they lie, on one thread, against OpenBLAS's single-threaded sgemm on the same operands:
/// an 8 × 32 tile of broadcast multiply-adds for NN (an input gradient, du·W) and TN (a weight gradient,
/// duᵀ·x), where B's rows are contiguous, and a 4 × 4 tile of dot products for NT (a forward product, x·Wᵀ),
/// whose B rows run along k. The kernels take whole tiles only (the shapes are multiples of them), so the
/// rates are an upper bound on what such an engine would reach on the models' shapes, whose edges need more.
/// An experiment, not an engine: docs/performance.md, "Products without packing".
/// </summary>
internal static unsafe class PackingFreeBenchmark
{
    private static readonly (string Label, bool TransA, bool TransB, int M, int N, int K)[] Shapes =
    {
        ("NN 96x192x192", false, false, 96, 192, 192),
        ("NN 96x192x768", false, false, 96, 192, 768),
        ("NN 496x192x192", false, false, 496, 192, 192),
        ("TN 192x192x96", true, false, 192, 192, 96),
        ("TN 192x768x96", true, false, 192, 768, 96),
        ("TN 768x192x96", true, false, 768, 192, 96),
        ("TN 192x192x496", true, false, 192, 192, 496),
        ("NT 96x192x768", false, true, 96, 192, 768),
        ("NT 96x192x192", false, true, 96, 192, 192),
        ("NT 96x768x192", false, true, 96, 768, 192),
        ("NT 496x192x192", false, true, 496, 192, 192),
    };

    public static void Run(string[] args)
    {
        int rounds = (int)CommandLine.Count(args, "ROUNDS", 9);
        CommandLine.OptionsRead();
        if (!Vector512.IsHardwareAccelerated || MatrixEngine.OpenBlas is not OpenBlasMatrixEngine blas)
        {
            Console.WriteLine("packing-free: needs AVX-512 and OpenBLAS; nothing to measure on this machine.");
            return;
        }
        Console.WriteLine($"openblas core={blas.CoreName}, one thread each, {rounds} rounds taking turns (median GFLOP/s; C += op(A)·op(B))");
        Console.WriteLine($"{"shape",-18}{"openblas",10}{"no packing",12}{"ratio",8}{"max |diff|",12}");
        var rng = new RandomStream(1);
        using var inline = WorkerPool.InlineScope();
        foreach (var s in Shapes)
        {
            int lda = s.TransA ? s.M : s.K, ldb = s.TransB ? s.K : s.N;
            float[] a = new float[s.M * s.K], b = new float[s.K * s.N], c1 = new float[s.M * s.N], c2 = new float[s.M * s.N];
            rng.FillUniform(a); rng.FillUniform(b);
            // Each adds `times` products into its own C: the check, the warm-up and the timed rounds call the same code.
            void Theirs(int times)
            {
                for (int i = 0; i < times; i++) blas.Gemm(s.TransA, s.TransB, s.M, s.N, s.K, 1f, a, lda, b, ldb, 1f, c1, s.N);
            }
            void Ours(int times)
            {
                fixed (float* pa = a, pb = b, pc = c2)
                    for (int i = 0; i < times; i++) Product(s.TransA, s.TransB, s.M, s.N, s.K, pa, lda, pb, ldb, pc, s.N);
            }
            Theirs(1);
            Ours(1);
            double diff = 0;
            for (int i = 0; i < c1.Length; i++) diff = Math.Max(diff, Math.Abs(c1[i] - c2[i]));
            double flops = 2.0 * s.M * s.N * s.K;
            int calls = (int)Math.Max(10, 1e9 / flops);
            JitWarmup.Run(() => Theirs(1), () => Ours(1));
            var ours = new double[rounds]; var theirs = new double[rounds];
            for (int r = 0; r < rounds; r++)
            {
                var sw = Stopwatch.StartNew();
                Theirs(calls);
                theirs[r] = flops * calls / sw.Elapsed.TotalSeconds / 1e9;
                sw.Restart();
                Ours(calls);
                ours[r] = flops * calls / sw.Elapsed.TotalSeconds / 1e9;
            }
            double o = Statistics.Median(ours), t = Statistics.Median(theirs);
            Console.WriteLine($"{s.Label,-18}{t,10:F1}{o,12:F1}{o / t,8:F2}{diff,12:E1}");
        }
    }

    /// <summary>C += op(A)·op(B) over whole tiles (8 × 32 for NN and TN, 4 × 4 with k a multiple of 16 for NT).</summary>
    private static void Product(bool transA, bool transB, int m, int n, int k, float* a, int lda, float* b, int ldb, float* c, int ldc)
    {
        if (transB)
        {
            for (int i = 0; i + 4 <= m; i += 4)
                for (int j = 0; j + 4 <= n; j += 4)
                    DotTile(k, a + (nint)i * lda, lda, b + (nint)j * ldb, ldb, c + (nint)i * ldc + j, ldc);
            return;
        }
        for (int j = 0; j + 32 <= n; j += 32)
            for (int i = 0; i + 8 <= m; i += 8)
                // op(A)[i, p] is a[i·lda + p] (NN) or a[p·lda + i] (TN): the eight rows' values at p are one stride apart, or adjacent.
                if (transA) BroadcastTile(k, a + i, 1, lda, b + j, ldb, c + (nint)i * ldc + j, ldc);
                else BroadcastTile(k, a + (nint)i * lda, lda, 1, b + j, ldb, c + (nint)i * ldc + j, ldc);
    }

    /// <summary>An 8 × 32 block of C += Σ_p op(A)[row, p] · B[p, 32 columns]: row r's value at p is a[r·rowStep + p·step].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void BroadcastTile(int k, float* a, nint rowStep, nint step, float* b, nint ldb, float* c, nint ldc)
    {
        Vector512<float> c00 = Vector512.Load(c), c01 = Vector512.Load(c + 16), c10 = Vector512.Load(c + ldc), c11 = Vector512.Load(c + ldc + 16),
            c20 = Vector512.Load(c + 2 * ldc), c21 = Vector512.Load(c + 2 * ldc + 16), c30 = Vector512.Load(c + 3 * ldc), c31 = Vector512.Load(c + 3 * ldc + 16),
            c40 = Vector512.Load(c + 4 * ldc), c41 = Vector512.Load(c + 4 * ldc + 16), c50 = Vector512.Load(c + 5 * ldc), c51 = Vector512.Load(c + 5 * ldc + 16),
            c60 = Vector512.Load(c + 6 * ldc), c61 = Vector512.Load(c + 6 * ldc + 16), c70 = Vector512.Load(c + 7 * ldc), c71 = Vector512.Load(c + 7 * ldc + 16);
        float* a0 = a, a1 = a + rowStep, a2 = a + 2 * rowStep, a3 = a + 3 * rowStep;
        nint four = 4 * rowStep;
        for (int p = 0; p < k; p++, b += ldb)
        {
            nint at = p * step;
            Vector512<float> b0 = Vector512.Load(b), b1 = Vector512.Load(b + 16);
            Vector512<float> x = Vector512.Create(a0[at]);
            c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(a1[at]);
            c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(a2[at]);
            c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(a3[at]);
            c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
            x = Vector512.Create(a0[at + four]);
            c40 = Vector512.FusedMultiplyAdd(x, b0, c40); c41 = Vector512.FusedMultiplyAdd(x, b1, c41);
            x = Vector512.Create(a1[at + four]);
            c50 = Vector512.FusedMultiplyAdd(x, b0, c50); c51 = Vector512.FusedMultiplyAdd(x, b1, c51);
            x = Vector512.Create(a2[at + four]);
            c60 = Vector512.FusedMultiplyAdd(x, b0, c60); c61 = Vector512.FusedMultiplyAdd(x, b1, c61);
            x = Vector512.Create(a3[at + four]);
            c70 = Vector512.FusedMultiplyAdd(x, b0, c70); c71 = Vector512.FusedMultiplyAdd(x, b1, c71);
        }
        c00.Store(c); c01.Store(c + 16); c10.Store(c + ldc); c11.Store(c + ldc + 16);
        c20.Store(c + 2 * ldc); c21.Store(c + 2 * ldc + 16); c30.Store(c + 3 * ldc); c31.Store(c + 3 * ldc + 16);
        c40.Store(c + 4 * ldc); c41.Store(c + 4 * ldc + 16); c50.Store(c + 5 * ldc); c51.Store(c + 5 * ldc + 16);
        c60.Store(c + 6 * ldc); c61.Store(c + 6 * ldc + 16); c70.Store(c + 7 * ldc); c71.Store(c + 7 * ldc + 16);
    }

    /// <summary>A 4 × 4 block of C += A·Bᵀ as sixteen dot products over k (a multiple of 16), each reduced across its lanes at the end.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DotTile(int k, float* a, nint lda, float* b, nint ldb, float* c, nint ldc)
    {
        Vector512<float> s00 = default, s01 = default, s02 = default, s03 = default, s10 = default, s11 = default, s12 = default, s13 = default,
            s20 = default, s21 = default, s22 = default, s23 = default, s30 = default, s31 = default, s32 = default, s33 = default;
        float* a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda, b1 = b + ldb, b2 = b + 2 * ldb, b3 = b + 3 * ldb;
        for (int p = 0; p < k; p += 16)
        {
            Vector512<float> x0 = Vector512.Load(a + p), x1 = Vector512.Load(a1 + p), x2 = Vector512.Load(a2 + p), x3 = Vector512.Load(a3 + p);
            Vector512<float> y = Vector512.Load(b + p);
            s00 = Vector512.FusedMultiplyAdd(x0, y, s00); s10 = Vector512.FusedMultiplyAdd(x1, y, s10); s20 = Vector512.FusedMultiplyAdd(x2, y, s20); s30 = Vector512.FusedMultiplyAdd(x3, y, s30);
            y = Vector512.Load(b1 + p);
            s01 = Vector512.FusedMultiplyAdd(x0, y, s01); s11 = Vector512.FusedMultiplyAdd(x1, y, s11); s21 = Vector512.FusedMultiplyAdd(x2, y, s21); s31 = Vector512.FusedMultiplyAdd(x3, y, s31);
            y = Vector512.Load(b2 + p);
            s02 = Vector512.FusedMultiplyAdd(x0, y, s02); s12 = Vector512.FusedMultiplyAdd(x1, y, s12); s22 = Vector512.FusedMultiplyAdd(x2, y, s22); s32 = Vector512.FusedMultiplyAdd(x3, y, s32);
            y = Vector512.Load(b3 + p);
            s03 = Vector512.FusedMultiplyAdd(x0, y, s03); s13 = Vector512.FusedMultiplyAdd(x1, y, s13); s23 = Vector512.FusedMultiplyAdd(x2, y, s23); s33 = Vector512.FusedMultiplyAdd(x3, y, s33);
        }
        c[0] += Vector512.Sum(s00); c[1] += Vector512.Sum(s01); c[2] += Vector512.Sum(s02); c[3] += Vector512.Sum(s03);
        c += ldc; c[0] += Vector512.Sum(s10); c[1] += Vector512.Sum(s11); c[2] += Vector512.Sum(s12); c[3] += Vector512.Sum(s13);
        c += ldc; c[0] += Vector512.Sum(s20); c[1] += Vector512.Sum(s21); c[2] += Vector512.Sum(s22); c[3] += Vector512.Sum(s23);
        c += ldc; c[0] += Vector512.Sum(s30); c[1] += Vector512.Sum(s31); c[2] += Vector512.Sum(s32); c[3] += Vector512.Sum(s33);
    }
}
