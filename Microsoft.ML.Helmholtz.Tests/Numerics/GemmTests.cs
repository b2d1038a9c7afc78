using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Tests.Numerics;

[TestClass]
public sealed class GemmTests
{
    public TestContext TestContext { get; set; } = null!;

    private static readonly (bool TransA, bool TransB)[] Transposes = { (false, false), (true, false), (false, true), (true, true) };

    /// <summary>
    /// Every managed micro-kernel this machine runs, single-threaded and on <paramref name="pool"/>
    /// (a pool of the test's own, which no other test can keep busy, so products are really split).
    /// </summary>
    private static IEnumerable<ManagedMatrixEngine> ManagedEngines(WorkerPool pool)
    {
        foreach (ManagedKernel kernel in Enum.GetValues<ManagedKernel>())
        {
            if (!ManagedMatrixEngine.IsSupported(kernel)) continue;
            yield return new ManagedMatrixEngine(kernel) { MaxThreads = 1 };
            yield return new ManagedMatrixEngine(kernel) { MaxThreads = pool.Threads, Pool = pool };
        }
    }

    /// <summary>OpenBLAS with its products split over a given pool.</summary>
    private sealed class PooledOpenBlas(OpenBlasMatrixEngine blas, WorkerPool pool) : IMatrixEngine
    {
        public string Name => "openblas";

        public void Gemm(bool transA, bool transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda,
            ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
            => blas.Gemm(pool, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }

    /// <summary>OpenBLAS, or a failure that says how to get it (Inconclusive only when explicitly allowed).</summary>
    private static IMatrixEngine RequireOpenBlas()
    {
        IMatrixEngine? blas = MatrixEngine.OpenBlas;
        if (blas != null) return blas;
        const string message = "OpenBLAS (libopenblas.so.0) could not be loaded. Install it (apt-get install libopenblas0-pthread), " +
            "or set HELMHOLTZ_ALLOW_NO_OPENBLAS=1 to accept running without it.";
        if (Environment.GetEnvironmentVariable("HELMHOLTZ_ALLOW_NO_OPENBLAS") == "1")
            Assert.Inconclusive(message);
        Assert.Fail(message);
        return null!;
    }

    [TestMethod]
    [DataRow(1, 1, 1)]
    [DataRow(7, 7, 7)]
    [DataRow(33, 33, 33)]
    [DataRow(100, 100, 100)]
    [DataRow(257, 257, 257)]
    [DataRow(1, 257, 7)]
    [DataRow(257, 1, 7)]
    [DataRow(7, 33, 257)]
    [DataRow(100, 7, 1)]
    [DataRow(33, 257, 100)]
    [DataRow(130, 70, 600)] // more than one depth block and several tiles
    [DataRow(300, 40, 100)] // split over rows, then over columns, on the pool
    [DataRow(40, 300, 100)]
    public void Managed_MatchesReference(int m, int n, int k)
    {
        using var pool = new WorkerPool(3);
        foreach (var engine in ManagedEngines(pool))
            CheckAllCases(engine, m, n, k, $"managed/{engine.Kernel}/threads={engine.MaxThreads}");
    }

    [TestMethod]
    [DataRow(1, 1, 1)]
    [DataRow(7, 7, 7)]
    [DataRow(33, 33, 33)]
    [DataRow(100, 100, 100)]
    [DataRow(257, 257, 257)]
    [DataRow(1, 257, 7)]
    [DataRow(257, 1, 7)]
    [DataRow(7, 33, 257)]
    [DataRow(100, 7, 1)]
    [DataRow(33, 257, 100)]
    [DataRow(300, 40, 100)] // large enough to split: along the rows of C
    [DataRow(40, 300, 100)] // along its columns
    [DataRow(23, 1000, 50)]  // more pieces than 16-column strips allow evenly
    public void OpenBlas_MatchesReference(int m, int n, int k)
    {
        var blas = (OpenBlasMatrixEngine)RequireOpenBlas();
        CheckAllCases(blas, m, n, k, "openblas");
        using var pool = new WorkerPool(3);
        CheckAllCases(new PooledOpenBlas(blas, pool), m, n, k, "openblas split over 3 threads");
        using var many = new WorkerPool(8); // more threads than 16-wide strips in some shapes
        CheckAllCases(new PooledOpenBlas(blas, many), m, n, k, "openblas split over 8 threads");
    }

    [TestMethod]
    public void OpenBlas_IsTheDefaultWhenItLoadsWithKernelsForThisCpu()
    {
        var blas = (OpenBlasMatrixEngine)RequireOpenBlas();
        Assert.AreEqual("openblas", blas.Name);
        string? forced = Environment.GetEnvironmentVariable("HELMHOLTZ_MATRIX_ENGINE");
        if (string.IsNullOrEmpty(forced))
            Assert.AreEqual(blas.UsesTheCpuFully ? "openblas" : "managed", MatrixEngine.Default.Name, MatrixEngine.DefaultReason);
    }

    [TestMethod]
    public void OpenBlas_RunsKernelsThatUseThisCpusVectorInstructions()
    {
        // Unless the user forced a core, the engine names the one this CPU supports before OpenBLAS
        // loads; an OpenBLAS left on its SSE3 fallback ran 4–5× slower than the managed engine here.
        var blas = (OpenBlasMatrixEngine)RequireOpenBlas();
        TestContext.WriteLine($"OpenBLAS core: '{blas.CoreName}' ({MatrixEngine.DefaultReason})");
        if (OpenBlasMatrixEngine.SuggestedCoreType is null && !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("OPENBLAS_CORETYPE")))
            Assert.Inconclusive($"OPENBLAS_CORETYPE={Environment.GetEnvironmentVariable("OPENBLAS_CORETYPE")} was set outside this library.");
        Assert.IsFalse(string.IsNullOrEmpty(blas.CoreName), "openblas_get_corename gave nothing");
        Assert.IsTrue(blas.UsesTheCpuFully, $"OpenBLAS runs its '{blas.CoreName}' kernels on a CPU with AVX2 and FMA");
    }

    [TestMethod]
    public void Managed_IsDeterministicAcrossThreadCounts()
    {
        // Large enough to run in parallel, with several tiles in both directions.
        const int m = 300, n = 200, k = 300;
        var rng = new RandomStream(5);
        var a = Random(rng, m * k); var b = Random(rng, k * n);
        using var pool = new WorkerPool(2);
        var single = new ManagedMatrixEngine { MaxThreads = 1 };
        var multi = new ManagedMatrixEngine { MaxThreads = 2, Pool = pool };
        var c1 = new float[m * n]; var c2 = new float[m * n]; var c3 = new float[m * n];
        single.Gemm(false, false, m, n, k, 1f, a, k, b, n, 0f, c1, n);
        multi.Gemm(false, false, m, n, k, 1f, a, k, b, n, 0f, c2, n);
        multi.Gemm(false, false, m, n, k, 1f, a, k, b, n, 0f, c3, n);
        CollectionAssert.AreEqual(c1, c2);
        CollectionAssert.AreEqual(c2, c3);
    }

    [TestMethod]
    public void AllEngines_HandleEmptyDimensions()
    {
        using var pool = new WorkerPool(2);
        var engines = ManagedEngines(pool).Cast<IMatrixEngine>().ToList();
        if (MatrixEngine.OpenBlas is { } blas) engines.Add(blas);
        foreach (var engine in engines)
        {
            // k == 0: C = beta·C, and beta == 0 clears even NaN.
            var c = new float[] { 1, 2, 3, 4, 5, 6 };
            engine.Gemm(false, false, 2, 3, 0, 1f, ReadOnlySpan<float>.Empty, 1, ReadOnlySpan<float>.Empty, 3, 2f, c, 3);
            CollectionAssert.AreEqual(new float[] { 2, 4, 6, 8, 10, 12 }, c, engine.Name);
            c = new float[] { float.NaN, 1, 2, 3, 4, 5 };
            engine.Gemm(true, true, 2, 3, 0, 1f, ReadOnlySpan<float>.Empty, 2, ReadOnlySpan<float>.Empty, 1, 0f, c, 3);
            CollectionAssert.AreEqual(new float[6], c, engine.Name);
            // m == 0 or n == 0: nothing to do, nothing touched.
            engine.Gemm(false, false, 0, 3, 4, 1f, ReadOnlySpan<float>.Empty, 4, new float[12], 3, 0f, Span<float>.Empty, 3);
            engine.Gemm(false, false, 3, 0, 4, 1f, new float[12], 4, ReadOnlySpan<float>.Empty, 1, 0f, Span<float>.Empty, 1);
        }
    }

    [TestMethod]
    public void AllEngines_RejectShortSpans()
    {
        using var pool = new WorkerPool(2);
        var engines = ManagedEngines(pool).Cast<IMatrixEngine>().ToList();
        if (MatrixEngine.OpenBlas is { } blas) engines.Add(blas);
        foreach (var engine in engines)
        {
            Assert.ThrowsExactly<ArgumentException>(() => engine.Gemm(false, false, 4, 4, 4, 1f, new float[15], 4, new float[16], 4, 0f, new float[16], 4));
            Assert.ThrowsExactly<ArgumentException>(() => engine.Gemm(false, true, 4, 4, 4, 1f, new float[16], 4, new float[15], 4, 0f, new float[16], 4));
            Assert.ThrowsExactly<ArgumentException>(() => engine.Gemm(false, false, 4, 4, 4, 1f, new float[16], 4, new float[16], 4, 0f, new float[15], 4));
            Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => engine.Gemm(true, false, 4, 4, 4, 1f, new float[16], 3, new float[16], 4, 0f, new float[16], 4));
        }
    }

    private void CheckAllCases(IMatrixEngine engine, int m, int n, int k, string label)
    {
        var rng = new RandomStream((ulong)(m * 1_000_003 + n * 1009 + k));
        int caseIndex = 0;
        foreach (var (transA, transB) in Transposes)
        {
            foreach (float beta in new[] { 0f, -0.75f })
            {
                // Alternate tight and padded leading dimensions.
                int pad = caseIndex++ % 2 == 0 ? 0 : 3;
                CheckOne(engine, rng, transA, transB, m, n, k, 1.5f, beta, pad, $"{label} tA={transA} tB={transB} beta={beta} pad={pad}");
            }
        }
    }

    private static float[] Random(RandomStream rng, int length)
    {
        var x = new float[length];
        rng.FillUniform(x);
        for (int i = 0; i < x.Length; i++) x[i] = 2 * x[i] - 1;
        return x;
    }

    private static void CheckOne(IMatrixEngine engine, RandomStream rng, bool transA, bool transB,
        int m, int n, int k, float alpha, float beta, int pad, string label)
    {
        int aRows = transA ? k : m, aCols = transA ? m : k, lda = aCols + pad;
        int bRows = transB ? n : k, bCols = transB ? k : n, ldb = bCols + pad;
        int ldc = n + pad;
        float[] a = Random(rng, (aRows - 1) * lda + aCols);
        float[] b = Random(rng, (bRows - 1) * ldb + bCols);
        float[] c0 = Random(rng, (m - 1) * ldc + n);
        if (beta == 0)
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) c0[i * ldc + j] = float.NaN; // must be ignored
        for (int i = 0; i < m; i++)
            for (int j = n; j < ldc && i * ldc + j < c0.Length; j++) c0[i * ldc + j] = 12345f; // padding must survive

        float[] c = (float[])c0.Clone();
        engine.Gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);

        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double sum = 0, magnitude = 0;
                for (int p = 0; p < k; p++)
                {
                    double av = transA ? a[p * lda + i] : a[i * lda + p];
                    double bv = transB ? b[j * ldb + p] : b[p * ldb + j];
                    sum += av * bv;
                    magnitude += Math.Abs(av * bv);
                }
                double old = beta == 0 ? 0 : c0[i * ldc + j];
                double expected = alpha * sum + beta * old;
                double tolerance = 1e-5 * (Math.Abs(alpha) * magnitude + Math.Abs(beta * old)) + 1e-30;
                double actual = c[i * ldc + j];
                if (!(Math.Abs(actual - expected) <= tolerance))
                    Assert.Fail($"{label} m={m} n={n} k={k}: C[{i},{j}] = {actual}, expected {expected} ± {tolerance}");
            }
            for (int j = n; j < ldc && i * ldc + j < c.Length; j++)
                if (c[i * ldc + j] != 12345f)
                    Assert.Fail($"{label} m={m} n={n} k={k}: padding C[{i},{j}] was overwritten");
        }
    }
}
