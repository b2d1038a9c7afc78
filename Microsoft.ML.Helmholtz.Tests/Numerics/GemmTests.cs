using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
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

    /// <summary>The managed engines of <see cref="ManagedEngines"/>, and OpenBLAS's where it loads.</summary>
    private static IEnumerable<IMatrixEngine> AllEngines(WorkerPool pool)
    {
        foreach (var engine in ManagedEngines(pool)) yield return engine;
        if (MatrixEngine.OpenBlas is { } blas) yield return blas;
    }

    /// <summary>OpenBLAS with its products split over a given pool.</summary>
    private sealed class PooledOpenBlas(OpenBlasMatrixEngine blas, WorkerPool pool) : IMatrixEngine
    {
        public string Name => "openblas";

        public void Gemm(bool transA, bool transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda,
            ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
            => blas.Gemm(pool, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);

        public void GemmPair(in GemmCall first, in GemmCall second) => blas.GemmPair(pool, first, second);
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
    [DataRow("managed", "managed")]
    [DataRow("Managed", "managed")]
    [DataRow("OPENBLAS", "openblas")]
    [DataRow("openblas", "openblas")]
    public void TheEngineVariableForcesTheEngineItNamesInAnyCase(string value, string engine)
    {
        RequireOpenBlas();
        var (chosen, reason) = MatrixEngine.Choose(value);
        Assert.AreEqual(engine, chosen.Name);
        Assert.AreEqual($"HELMHOLTZ_MATRIX_ENGINE={engine}", reason);
    }

    [TestMethod]
    [DataRow("blas")]
    [DataRow("managed ")]
    [DataRow("mkl")]
    public void AnEngineVariableOfNoEngineIsRefusedWithTheValuesItTakes(string value)
    {
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => MatrixEngine.Choose(value));
        Assert.AreEqual($"HELMHOLTZ_MATRIX_ENGINE='{value}' is not one of: managed, openblas.", e.Message);
    }

    [TestMethod]
    [DoNotParallelize] // sets the process-wide matrix engine, then puts the process's choice and its reason back
    public void AnEngineSetByTheProgramIsTheDefaultWithItsReasonAndNullIsRefused()
    {
        IMatrixEngine original = MatrixEngine.Default;
        string reason = MatrixEngine.DefaultReason;
        IDisposable putBack = MatrixEngine.Replaced(original);
        try
        {
            Assert.AreEqual("set by the program", MatrixEngine.DefaultReason, "Replaced gives its engine the program's reason, even the same engine");
            putBack.Dispose();   // the chosen reason again (putting back may be done twice), so that the setter must replace it
            Assert.AreEqual(reason, MatrixEngine.DefaultReason);
            Assert.AreNotEqual("set by the program", reason, "the process chose its engine");
            IMatrixEngine engine = MatrixEngine.SingleThreaded();
            MatrixEngine.Default = engine;
            Assert.AreSame(engine, MatrixEngine.Default);
            Assert.AreEqual("set by the program", MatrixEngine.DefaultReason, "a reason is never paired with another engine than its own");
            Assert.AreEqual("value", Assert.ThrowsExactly<ArgumentNullException>(() => MatrixEngine.Default = null!).ParamName);
            Assert.AreSame(engine, MatrixEngine.Default, "a refused null leaves the engine set");
        }
        finally
        {
            putBack.Dispose();
        }
        Assert.AreSame(original, MatrixEngine.Default);
        Assert.AreEqual(reason, MatrixEngine.DefaultReason);
    }

    [TestMethod]
    [DataRow(null)]
    [DataRow("")]
    public void AnUnsetEngineVariableTakesOpenBlasWhenItUsesTheCpuFully(string? value)
    {
        var blas = (OpenBlasMatrixEngine)RequireOpenBlas();
        var (chosen, reason) = MatrixEngine.Choose(value);
        Assert.AreEqual(blas.UsesTheCpuFully ? "openblas" : "managed", chosen.Name, reason);
        StringAssert.Contains(reason, $"'{blas.CoreName}' kernels");
    }

    [TestMethod]
    public void OpenBlas_RunsKernelsThatUseThisCpusVectorInstructions()
    {
        // Unless the user forced a core, the engine names the one this CPU supports before OpenBLAS
        // loads; an OpenBLAS left on its SSE3 fallback ran 4–5× slower than the managed engine here.
        var blas = (OpenBlasMatrixEngine)RequireOpenBlas();
        TestContext.WriteLine($"OpenBLAS core: '{blas.CoreName}' ({MatrixEngine.DefaultReason})");
        Assert.IsFalse(string.IsNullOrEmpty(blas.CoreName), "openblas_get_corename gave nothing");
        string? forced = Environment.GetEnvironmentVariable("OPENBLAS_CORETYPE");
        if (OpenBlasMatrixEngine.SuggestedCoreType is null && !string.IsNullOrEmpty(forced))
        {
            // A core forced outside this library (a benchmark comparing kernels, say) is the user's choice: OpenBLAS runs it.
            Assert.AreEqual(forced, blas.CoreName, ignoreCase: true, "OpenBLAS runs the core OPENBLAS_CORETYPE names");
            // What that choice leaves unused is said, not overridden: an AVX2 core on a CPU with AVX-512 (as on the Zen 5 machines here).
            string? wider = OpenBlasMatrixEngine.CoreTypeForThisCpu() == "SkylakeX" && !blas.CoreName.StartsWith("Skylake", StringComparison.OrdinalIgnoreCase)
                && !blas.CoreName.Equals("Cooperlake", StringComparison.OrdinalIgnoreCase) && !blas.CoreName.Equals("SapphireRapids", StringComparison.OrdinalIgnoreCase)
                ? "SkylakeX" : null;
            Assert.AreEqual(wider, blas.WiderCoreType, "the wider kernel set this CPU supports");
            string reason = MatrixEngine.Choose(null).Reason;
            Assert.AreEqual(wider is not null, reason.Contains($"OPENBLAS_CORETYPE={forced} was set outside this library, and this CPU has the instructions of its 'SkylakeX' kernels"), reason);
            return;
        }
        Assert.IsTrue(blas.UsesTheCpuFully, $"OpenBLAS runs its '{blas.CoreName}' kernels on a CPU with AVX2 and FMA");
        if (OpenBlasMatrixEngine.SuggestedCoreType is null) return;   // the user chose the core: checked above where it differs
        // The widest kernel set this CPU's instructions support, named before OpenBLAS loads (an OPENBLAS_CORETYPE set outside, as on
        // some machines here, leaves this part to machines without it).
        string expected = Avx512F.IsSupported && Avx512BW.IsSupported && Avx512DQ.IsSupported && Avx512CD.IsSupported && Avx512F.VL.IsSupported
            ? "SkylakeX" : "Haswell";
        Assert.AreEqual(expected, OpenBlasMatrixEngine.SuggestedCoreType, "the core type suggested for this CPU");
        Assert.AreEqual(expected, blas.CoreName, ignoreCase: true, "OpenBLAS runs the suggested core");
        Assert.IsNull(blas.WiderCoreType, "a core this library suggested is the widest the CPU supports");
    }

    /// <summary>Which cores leave a wider kernel set unused: only one the user chose, AVX2-level, on a CPU with AVX-512.</summary>
    [TestMethod]
    [DataRow("Haswell", true, "SkylakeX", "SkylakeX")]
    [DataRow("Zen", true, "SkylakeX", "SkylakeX")]
    [DataRow("HASWELL", true, "SkylakeX", "SkylakeX")]
    [DataRow("Haswell", false, "SkylakeX", null)]     // suggested by this library: not the user's, not narrower
    [DataRow("SkylakeX", true, "SkylakeX", null)]
    [DataRow("Cooperlake", true, "SkylakeX", null)]
    [DataRow("SapphireRapids", true, "SkylakeX", null)]
    [DataRow("Haswell", true, "Haswell", null)]       // an AVX2 CPU: nothing wider
    [DataRow("Haswell", true, null, null)]
    [DataRow("Prescott", true, "SkylakeX", null)]     // pre-AVX2: the managed engine runs instead (UsesTheCpuFully)
    [DataRow("", true, "SkylakeX", null)]             // an OpenBLAS that does not name its core
    public void AUserChosenCoreNarrowerThanTheCpusIsNamed(string core, bool userChose, string? cpu, string? expected)
        => Assert.AreEqual(expected, OpenBlasMatrixEngine.WiderCoreTypeThan(core, userChose, cpu));

    /// <summary>
    /// OpenBLAS runs single-threaded, process-wide, as the engine's docs promise: its products are split over the
    /// library's own pool, and threads of OpenBLAS's own would compete with that pool for the same cores.
    /// </summary>
    [TestMethod]
    public void OpenBlas_RunsOnOneThreadOfItsOwn()
    {
        var blas = (OpenBlasMatrixEngine)RequireOpenBlas();
        nint handle = NativeLibrary.Load(blas.LibraryName, typeof(OpenBlasMatrixEngine).Assembly, null);
        try
        {
            if (!NativeLibrary.TryGetExport(handle, "openblas_get_num_threads", out nint getThreads))
                Assert.Fail($"{blas.LibraryName} has no openblas_get_num_threads to check");
            unsafe
            {
                Assert.AreEqual(1, ((delegate* unmanaged<int>)getThreads)(), "OpenBLAS's own thread count");
            }
        }
        finally
        {
            NativeLibrary.Free(handle);   // the count taken from the load above; the engine's handle stays
        }
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

    /// <summary>
    /// <see cref="MatrixEngine.SingleThreaded"/> stays on the calling thread even for a product large enough to split and with
    /// an idle pool at hand: the pool's helpers, asleep before the product, are never woken by it.
    /// </summary>
    [TestMethod]
    public void TheSingleThreadedEngineWakesNoHelper()
    {
        using var pool = new WorkerPool(3);
        using var region = WorkerPool.Use(pool);
        AssertProductsWakeNoHelperOf(pool, 2, MatrixEngine.SingleThreaded(), seed: 9);
    }

    /// <summary>
    /// A managed engine given a pool of its own runs its products there, not on the pool of the calling thread
    /// (<see cref="WorkerPool.Current"/>): the thread's pool, its helper asleep before the product, is never woken by it.
    /// </summary>
    [TestMethod]
    public void AManagedEngineGivenAPoolLeavesTheThreadsPoolAlone()
    {
        using var own = new WorkerPool(2);
        using var threads = new WorkerPool(2);
        using var region = WorkerPool.Use(threads);
        AssertProductsWakeNoHelperOf(threads, 1, new ManagedMatrixEngine { MaxThreads = 2, Pool = own }, seed: 10);
    }

    /// <summary>Three products large enough to split, each with <paramref name="pool"/>'s helpers asleep before it: none is woken.</summary>
    private static void AssertProductsWakeNoHelperOf(WorkerPool pool, int helpers, IMatrixEngine engine, ulong seed)
    {
        var rng = new RandomStream(seed);
        const int m = 100, n = 100, k = 100;   // m·n·k = 10^6, past the managed engine's threshold for splitting
        float[] a = Random(rng, m * k), b = Random(rng, k * n), c = new float[m * n];
        for (int call = 0; call < 3; call++)
        {
            WorkerPoolTests.WaitUntilAsleep(pool, helpers);
            engine.Gemm(false, false, m, n, k, 1f, a, k, b, n, 0f, c, n);
            // A loop shared with the helpers takes their sleep count to 0 when it wakes them; they sleep again only after polling.
            Assert.AreEqual(helpers, pool.Sleepers, $"call {call}: a helper was woken");
        }
    }

    /// <summary>Engines for the pair tests: every managed kernel, and OpenBLAS on pools of 1, 2, 3 and 8 threads.</summary>
    private static List<(IMatrixEngine Engine, string Label)> PairEngines(List<WorkerPool> pools)
    {
        pools.Add(new WorkerPool(3));
        var engines = ManagedEngines(pools[0]).Select(e => ((IMatrixEngine)e, $"managed/{e.Kernel}/threads={e.MaxThreads}")).ToList();
        if (MatrixEngine.OpenBlas is OpenBlasMatrixEngine blas)
        {
            foreach (int threads in new[] { 1, 2, 3, 8 })
            {
                var pool = new WorkerPool(threads);
                pools.Add(pool);
                engines.Add((new PooledOpenBlas(blas, pool), $"openblas on {threads} thread(s)"));
            }
        }
        return engines;
    }

    /// <summary>
    /// Two independent products as a pair give each product's result, whether the engine runs them
    /// side by side (large, balanced pairs on OpenBLAS with two or more threads) or in turn (small or
    /// unequal ones, one thread, the managed engine).
    /// </summary>
    [TestMethod]
    [DataRow(100, 200, 784, 100, 200, 784)] // a recognition layer's mean and log-variance maps
    [DataRow(784, 200, 100, 100, 200, 784)] // a weight gradient with its input gradient
    [DataRow(300, 40, 100, 23, 1000, 50)]
    [DataRow(7, 33, 257, 33, 7, 100)] // too small to hand over
    [DataRow(257, 257, 257, 7, 7, 7)] // too unequal
    [DataRow(1, 257, 7, 257, 1, 7)]
    public void GemmPair_MatchesEachProduct(int m1, int n1, int k1, int m2, int n2, int k2)
    {
        var pools = new List<WorkerPool>();
        try
        {
            var engines = PairEngines(pools);
            var rng = new RandomStream((ulong)(m1 * 7 + n1 * 11 + k1 * 13 + m2 * 17 + n2 * 19 + k2 * 23));
            int caseIndex = 0;
            foreach (var (engine, label) in engines)
            {
                foreach (var (transA, transB) in Transposes)
                {
                    int pad = caseIndex++ % 2 == 0 ? 0 : 3;
                    var first = new ProductCase(rng, transA, transB, m1, n1, k1, 1.5f, 0f, pad);
                    var second = new ProductCase(rng, !transA, transB, m2, n2, k2, -0.5f, -0.75f, 3 - pad);
                    engine.GemmPair(first.Call, second.Call);
                    first.Verify($"{label} first tA={transA} tB={transB}");
                    second.Verify($"{label} second tA={!transA} tB={transB}");
                }
            }
        }
        finally
        {
            foreach (var pool in pools) pool.Dispose();
        }
    }

    /// <summary>The managed engine's pairs are its products' own tiles run as one loop: the same bits as two Gemm calls.</summary>
    [TestMethod]
    public void GemmPair_OfTheManagedEngineGivesTheBitsOfItsProducts()
    {
        using var pool = new WorkerPool(2);
        var rng = new RandomStream(17);
        float[] x = Random(rng, 100 * 784), w1 = Random(rng, 200 * 784), w2 = Random(rng, 200 * 784);
        foreach (var engine in ManagedEngines(pool))
        {
            float[] paired1 = new float[100 * 200], paired2 = new float[100 * 200], single1 = new float[100 * 200], single2 = new float[100 * 200];
            engine.GemmPair(new GemmCall(false, true, 100, 200, 784, 1f, x, 784, w1, 784, 0f, paired1, 200),
                new GemmCall(false, true, 100, 200, 784, 1f, x, 784, w2, 784, 0f, paired2, 200));
            engine.Gemm(false, true, 100, 200, 784, 1f, x, 784, w1, 784, 0f, single1, 200);
            engine.Gemm(false, true, 100, 200, 784, 1f, x, 784, w2, 784, 0f, single2, 200);
            CollectionAssert.AreEqual(single1, paired1, $"{engine.Kernel}/threads={engine.MaxThreads}");
            CollectionAssert.AreEqual(single2, paired2, $"{engine.Kernel}/threads={engine.MaxThreads}");
        }
    }

    [TestMethod]
    public void GemmPair_FinishesAnEmptyProductOnceAndRejectsOverlap()
    {
        var pools = new List<WorkerPool>();
        try
        {
            foreach (var (engine, label) in PairEngines(pools))
            {
                // k == 0 beside a product large enough to pair: C = beta·C exactly once.
                var rng = new RandomStream(3);
                var large = new ProductCase(rng, false, true, 100, 200, 784, 1f, 1f, 0);
                var c = new float[] { 1, 2, 3, 4, 5, 6 };
                engine.GemmPair(new GemmCall(false, false, 2, 3, 0, 1f, ReadOnlySpan<float>.Empty, 1, ReadOnlySpan<float>.Empty, 3, 2f, c, 3), large.Call);
                CollectionAssert.AreEqual(new float[] { 2, 4, 6, 8, 10, 12 }, c, label);
                large.Verify(label);

                // One product's C may not be the other's A, B or C.
                float[] x = new float[64 * 64], y = new float[64 * 64], z = new float[64 * 64];
                GemmCall XY() => new(false, false, 64, 64, 64, 1f, x, 64, y, 64, 0f, z, 64);
                Assert.ThrowsExactly<ArgumentException>(() => engine.GemmPair(XY(), new GemmCall(false, false, 64, 64, 64, 1f, z, 64, y, 64, 0f, x, 64)), label);
                Assert.ThrowsExactly<ArgumentException>(() => engine.GemmPair(XY(), new GemmCall(false, false, 32, 64, 64, 1f, x, 64, y, 64, 0f, z.AsSpan(32 * 64), 64)), label);
            }
        }
        finally
        {
            foreach (var pool in pools) pool.Dispose();
        }
    }

    /// <summary>An engine of the user's that makes single products only: pairs go through the interface's default GemmPair.</summary>
    private sealed class GemmOnly(IMatrixEngine inner) : IMatrixEngine
    {
        public string Name => "gemm-only";

        public void Gemm(bool transA, bool transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda,
            ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
            => inner.Gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }

    // Each of the four overlaps alone (one product's C as the other's A or B, either way round) is refused by every engine and by
    // the interface's default pair; the pairs of GemmPair_FinishesAnEmptyProductOnceAndRejectsOverlap each hold two overlaps.
    [TestMethod]
    public void GemmPair_RefusesEachOverlapAlone()
    {
        var pools = new List<WorkerPool>();
        try
        {
            var engines = PairEngines(pools);
            engines.Add((new GemmOnly(MatrixEngine.Managed), "the interface's default GemmPair"));
            const int s = 64;
            float[] a1 = new float[s * s], b1 = new float[s * s], c1 = new float[s * s], a2 = new float[s * s], b2 = new float[s * s], c2 = new float[s * s];
            foreach (var (engine, label) in engines)
            {
                Assert.ThrowsExactly<ArgumentException>(() => engine.GemmPair(new GemmCall(false, false, s, s, s, 1f, a1, s, b1, s, 0f, c1, s),
                    new GemmCall(false, false, s, s, s, 1f, c1, s, b2, s, 0f, c2, s)), $"{label}: the first's C as the second's A");
                Assert.ThrowsExactly<ArgumentException>(() => engine.GemmPair(new GemmCall(false, false, s, s, s, 1f, a1, s, b1, s, 0f, c1, s),
                    new GemmCall(false, false, s, s, s, 1f, a2, s, c1, s, 0f, c2, s)), $"{label}: the first's C as the second's B");
                Assert.ThrowsExactly<ArgumentException>(() => engine.GemmPair(new GemmCall(false, false, s, s, s, 1f, c2, s, b1, s, 0f, c1, s),
                    new GemmCall(false, false, s, s, s, 1f, a2, s, b2, s, 0f, c2, s)), $"{label}: the second's C as the first's A");
                Assert.ThrowsExactly<ArgumentException>(() => engine.GemmPair(new GemmCall(false, false, s, s, s, 1f, a1, s, c2, s, 0f, c1, s),
                    new GemmCall(false, false, s, s, s, 1f, a2, s, b2, s, 0f, c2, s)), $"{label}: the second's C as the first's B");
            }
        }
        finally
        {
            foreach (var pool in pools) pool.Dispose();
        }
    }

    [TestMethod]
    public void AllEngines_HandleEmptyDimensions()
    {
        using var pool = new WorkerPool(2);
        foreach (var engine in AllEngines(pool))
        {
            // k == 0: C = beta·C, and beta == 0 clears even NaN.
            var c = new float[] { 1, 2, 3, 4, 5, 6 };
            engine.Gemm(false, false, 2, 3, 0, 1f, ReadOnlySpan<float>.Empty, 1, ReadOnlySpan<float>.Empty, 3, 2f, c, 3);
            CollectionAssert.AreEqual(new float[] { 2, 4, 6, 8, 10, 12 }, c, engine.Name);
            c = new float[] { float.NaN, 1, 2, 3, 4, 5 };
            engine.Gemm(true, true, 2, 3, 0, 1f, ReadOnlySpan<float>.Empty, 2, ReadOnlySpan<float>.Empty, 1, 0f, c, 3);
            CollectionAssert.AreEqual(new float[6], c, engine.Name);
            // alpha == 0: C = beta·C and A, B are not read (as in BLAS), so a NaN or ∞ there reaches no engine's C.
            c = new float[] { 1, 2, 3, 4, 5, 6 };
            float[] a = [float.NaN, 1, 2, 3, float.PositiveInfinity, 5, 6, 7], b = [float.NaN, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, float.NegativeInfinity];
            engine.Gemm(false, false, 2, 3, 4, 0f, a, 4, b, 3, 0.5f, c, 3);
            CollectionAssert.AreEqual(new float[] { 0.5f, 1, 1.5f, 2, 2.5f, 3 }, c, engine.Name);
            // m == 0 or n == 0: nothing to do, nothing touched.
            engine.Gemm(false, false, 0, 3, 4, 1f, ReadOnlySpan<float>.Empty, 4, new float[12], 3, 0f, Span<float>.Empty, 3);
            engine.Gemm(false, false, 3, 0, 4, 1f, new float[12], 4, ReadOnlySpan<float>.Empty, 1, 0f, Span<float>.Empty, 1);
        }
    }

    [TestMethod]
    public void AllEngines_RejectShortSpans()
    {
        using var pool = new WorkerPool(2);
        foreach (var engine in AllEngines(pool))
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

    /// <summary>
    /// A frozen B (packed once, then read from its packed copy) gives the bits of packing it at every call, for every
    /// managed kernel on one thread and on a pool (tiles that start at later columns and rows), both layouts of B, a
    /// leading dimension past its columns, several depth blocks, one row (the one-row kernels) and many; the second
    /// call reads the pack the first made. A span that starts inside a frozen array is not that array: packed each time.
    /// </summary>
    [TestMethod]
    [DataRow(1, 200, 784)]   // a PredictionEngine's row through a recognition layer
    [DataRow(1, 257, 600)]
    [DataRow(9, 33, 257)]
    [DataRow(300, 40, 100)]  // split over rows on the pool
    [DataRow(40, 300, 100)]  // over columns: tiles whose first panel is not the first
    public void Managed_AFrozenBGivesTheBitsOfPackingItEachTime(int m, int n, int k)
    {
        using var pool = new WorkerPool(3);
        var rng = new RandomStream(21);
        foreach (ManagedMatrixEngine plain in ManagedEngines(pool))
        {
            foreach (bool transB in new[] { false, true })
            {
                int ldb = (transB ? k : n) + 3;
                float[] a = Random(rng, m * k), b = Random(rng, (transB ? n : k) * ldb), c0 = Random(rng, m * n);
                var frozen = new ManagedMatrixEngine(plain.Kernel) { MaxThreads = plain.MaxThreads, Pool = plain.Pool };
                frozen.Freeze([b]);
                string label = $"{plain.Kernel}, threads {plain.MaxThreads}, transB {transB}";
                float[] expected = (float[])c0.Clone();
                plain.Gemm(false, transB, m, n, k, 1f, a, k, b, ldb, 1f, expected, n);
                for (int call = 0; call < 2; call++)
                {
                    float[] actual = (float[])c0.Clone();
                    frozen.Gemm(false, transB, m, n, k, 1f, a, k, b, ldb, 1f, actual, n);
                    CollectionAssert.AreEqual(expected, actual, $"{label}, call {call}");
                }
                // The same array one value in: another B, which must not be read from the pack.
                float[] shifted = (float[])c0.Clone(), shiftedExpected = (float[])c0.Clone();
                plain.Gemm(false, transB, m, n, k - 1, 0.5f, a, k, b.AsSpan(1), ldb, 0f, shiftedExpected, n);
                frozen.Gemm(false, transB, m, n, k - 1, 0.5f, a, k, b.AsSpan(1), ldb, 0f, shifted, n);
                CollectionAssert.AreEqual(shiftedExpected, shifted, $"{label}: B one value into the frozen array");
            }
        }
    }

    // One frozen square array read as B both ways (same n, k and ldb): each way has its own pack, so B and Bᵀ give their own bits.
    [TestMethod]
    public void Managed_AFrozenBReadBothWaysIsPackedOnceForEachWay()
    {
        using var pool = new WorkerPool(3);
        var rng = new RandomStream(22);
        const int m = 5, n = 40;
        foreach (ManagedMatrixEngine plain in ManagedEngines(pool))
        {
            float[] a = Random(rng, m * n), b = Random(rng, n * n);
            var frozen = new ManagedMatrixEngine(plain.Kernel) { MaxThreads = plain.MaxThreads, Pool = plain.Pool };
            frozen.Freeze([b]);
            foreach (bool transB in new[] { false, true, false })
            {
                float[] expected = new float[m * n], actual = new float[m * n];
                plain.Gemm(false, transB, m, n, n, 1f, a, n, b, n, 0f, expected, n);
                frozen.Gemm(false, transB, m, n, n, 1f, a, n, b, n, 0f, actual, n);
                CollectionAssert.AreEqual(expected, actual, $"{plain.Kernel}, threads {plain.MaxThreads}, transB {transB}");
            }
            Assert.AreEqual(2, frozen.PackedCount, "one pack for B, one for Bᵀ");
        }
    }

    // One frozen array read as B with another n, k or ldb than its first pack: each shape has its own pack. k of 300 is more than one
    // depth block (KC = 256), so that a pack of another n lays the second block elsewhere; the products are compared bit for bit.
    [TestMethod]
    public void Managed_AFrozenBReadWithAnotherShapeIsPackedForThatShape()
    {
        using var pool = new WorkerPool(3);
        var rng = new RandomStream(24);
        const int m = 5, ldbMax = 43, kMax = 300;
        (int N, int K, int Ldb)[] shapes = [(40, kMax, 40), (24, kMax, 40), (40, 100, 40), (40, kMax, ldbMax)];
        foreach (ManagedMatrixEngine plain in ManagedEngines(pool))
        {
            float[] a = Random(rng, m * kMax), b = Random(rng, kMax * ldbMax);
            var frozen = new ManagedMatrixEngine(plain.Kernel) { MaxThreads = plain.MaxThreads, Pool = plain.Pool };
            frozen.Freeze([b]);
            foreach ((int n, int k, int ldb) in shapes)
            {
                float[] expected = new float[m * n], actual = new float[m * n];
                plain.Gemm(false, false, m, n, k, 1f, a, k, b, ldb, 0f, expected, n);
                frozen.Gemm(false, false, m, n, k, 1f, a, k, b, ldb, 0f, actual, n);
                CollectionAssert.AreEqual(expected, actual, $"{plain.Kernel}, threads {plain.MaxThreads}: n {n}, k {k}, ldb {ldb}");
            }
            Assert.AreEqual(shapes.Length, frozen.PackedCount, "one pack for each shape");
        }
    }

    /// <summary>
    /// A row's product alone (the one-row kernels, reading the row where it lies, from A or a transposed A) has the bits
    /// it has among other rows (the full kernels' first row and every other), on every managed kernel: what lets a
    /// PredictionEngine row equal the same row in a batch.
    /// </summary>
    [TestMethod]
    public void Managed_ARowAloneHasItsBitsInABatch()
    {
        const int m = 13, n = 70, k = 600;
        using var pool = new WorkerPool(2);
        var rng = new RandomStream(22);
        float[] a = Random(rng, m * k), b = Random(rng, n * k), bias = Random(rng, n);
        float[] aT = new float[k * m];   // the same A stored k × m (op(A) = Aᵀ)
        for (int i = 0; i < m; i++)
            for (int p = 0; p < k; p++) aT[p * m + i] = a[i * k + p];
        foreach (ManagedMatrixEngine engine in ManagedEngines(pool))
        {
            float[] batch = new float[m * n];
            for (int i = 0; i < m; i++) bias.CopyTo(batch, i * n);
            engine.Gemm(false, true, m, n, k, 1f, a, k, b, k, 1f, batch, n);
            for (int i = 0; i < m; i++)
            {
                float[] one = (float[])bias.Clone();
                engine.Gemm(false, true, 1, n, k, 1f, a.AsSpan(i * k, k), k, b, k, 1f, one, n);
                CollectionAssert.AreEqual(batch.AsSpan(i * n, n).ToArray(), one, $"{engine.Kernel}, threads {engine.MaxThreads}: row {i}");
                // The row read in place from a transposed A (a stride of m between depths), and the batch from it too.
                float[] strided = (float[])bias.Clone();
                engine.Gemm(true, true, 1, n, k, 1f, aT.AsSpan(i), m, b, k, 1f, strided, n);
                CollectionAssert.AreEqual(one, strided, $"{engine.Kernel}, threads {engine.MaxThreads}: row {i} of a transposed A");
            }
            float[] batchT = new float[m * n];
            for (int i = 0; i < m; i++) bias.CopyTo(batchT, i * n);
            engine.Gemm(true, true, m, n, k, 1f, aT, m, b, k, 1f, batchT, n);
            CollectionAssert.AreEqual(batch, batchT, $"{engine.Kernel}, threads {engine.MaxThreads}: the batch from a transposed A");
        }
    }

    /// <summary>
    /// A feature extractor's copy packs its weights once: after the first row, each recognition mean map's weights are
    /// packed (one per layer of 784b-200g-50g), and later rows and batches read those packs instead of packing again.
    /// </summary>
    [TestMethod]
    public void AnExtractorPacksItsWeightsOnceAndReadsThemAfterwards()
    {
        var machine = Microsoft.ML.Helmholtz.Model.HelmholtzMachine.Create(Microsoft.ML.Helmholtz.Model.HelmholtzArchitecture.Parse("784b-200g-50g"), 3);
        var extractor = new Microsoft.ML.Helmholtz.Evaluation.RecognitionFeatures(machine).CreateExtractor();
        var engine = (ManagedMatrixEngine)extractor.Engine;
        Assert.AreNotSame(MatrixEngine.Managed, engine, "an engine of its own");
        Assert.AreEqual(0, engine.PackedCount, "nothing is packed before a product needs it");
        var rng = new RandomStream(23);
        float[] rows = new float[100 * 784], features = new float[100 * 50], one = new float[50];
        for (int i = 0; i < rows.Length; i++) rows[i] = rng.NextDouble() < 0.2 ? 1f : 0f;
        extractor.Extract(rows.AsSpan(0, 784), 1, one);
        Assert.AreEqual(2, engine.PackedCount, "the two mean maps' weights");
        extractor.Extract(rows, 100, features);
        extractor.Extract(rows.AsSpan(784, 784), 1, one);
        Assert.AreEqual(2, engine.PackedCount, "read again, not packed again");
        CollectionAssert.AreEqual(features.AsSpan(50, 50).ToArray(), one, "the same bits alone as in the batch");
    }

    /// <summary>The shared managed engine is never frozen (other machines change their weights under it), and an engine's frozen arrays are set once.</summary>
    [TestMethod]
    public void Managed_FreezingIsRefusedForTheSharedEngineAndASecondTime()
    {
        var shared = (ManagedMatrixEngine)MatrixEngine.Managed;
        StringAssert.Contains(Assert.ThrowsExactly<InvalidOperationException>(() => shared.Freeze([new float[4]])).Message, "never frozen");
        var engine = new ManagedMatrixEngine();
        engine.Freeze([new float[4]]);
        StringAssert.Contains(Assert.ThrowsExactly<InvalidOperationException>(() => engine.Freeze([new float[4]])).Message, "already set");
    }

    /// <summary>
    /// A C too short for its rows is refused before C is scaled, also when k == 0 (where the product is only C = beta·C):
    /// a refusal after the first rows were scaled would leave C half-written and throw from deep inside a slice.
    /// </summary>
    [TestMethod]
    public void AllEngines_RefuseAShortCWithNothingToMultiplyAndLeaveItUntouched()
    {
        using var pool = new WorkerPool(2);
        foreach (var engine in AllEngines(pool))
        {
            // 2 × 3 with ldc = 3 needs 6 values; 5 hold the first row and part of the second.
            var c = new float[] { 1, 2, 3, 4, 5 };
            var e = Assert.ThrowsExactly<ArgumentException>(
                () => engine.Gemm(false, false, 2, 3, 0, 1f, ReadOnlySpan<float>.Empty, 1, ReadOnlySpan<float>.Empty, 3, 2f, c, 3), engine.Name);
            Assert.AreEqual("c", e.ParamName, engine.Name);
            CollectionAssert.AreEqual(new float[] { 1, 2, 3, 4, 5 }, c, $"{engine.Name}: a refused call scaled C");
        }
    }

    /// <summary>
    /// Each refusal names the argument at fault (ArgumentOutOfRangeException for a size or a leading dimension, ArgumentException
    /// for a span), on every engine: a negative size, a leading dimension of A, B or C smaller than its stored width (ldc = n − 1
    /// with a C long enough, whose rows would overlap), and a span one value short.
    /// </summary>
    [TestMethod]
    public void AllEngines_NameTheArgumentTheyRefuse()
    {
        using var pool = new WorkerPool(2);
        float[] a = new float[64], b = new float[64], c = new float[64];
        foreach (var engine in AllEngines(pool))
        {
            void Refused<TException>(string parameter, Action call) where TException : ArgumentException
                => Assert.AreEqual(parameter, Assert.ThrowsExactly<TException>(call, $"{engine.Name}: {parameter}").ParamName, engine.Name);
            // 4 × 4 × 4 products; A is 4 × 4 (lda 4), B 4 × 4 (ldb 4), C 4 × 4 (ldc 4) unless a case says otherwise.
            Refused<ArgumentOutOfRangeException>("m", () => engine.Gemm(false, false, -1, 4, 4, 1f, a, 4, b, 4, 0f, c, 4));
            Refused<ArgumentOutOfRangeException>("n", () => engine.Gemm(false, false, 4, -1, 4, 1f, a, 4, b, 4, 0f, c, 4));
            Refused<ArgumentOutOfRangeException>("k", () => engine.Gemm(false, false, 4, 4, -1, 1f, a, 4, b, 4, 0f, c, 4));
            Refused<ArgumentOutOfRangeException>("lda", () => engine.Gemm(false, false, 4, 4, 4, 1f, a, 3, b, 4, 0f, c, 4));
            Refused<ArgumentOutOfRangeException>("lda", () => engine.Gemm(true, false, 4, 4, 4, 1f, a, 3, b, 4, 0f, c, 4));
            Refused<ArgumentOutOfRangeException>("ldb", () => engine.Gemm(false, false, 4, 4, 4, 1f, a, 4, b, 3, 0f, c, 4));
            Refused<ArgumentOutOfRangeException>("ldb", () => engine.Gemm(false, true, 4, 4, 4, 1f, a, 4, b, 3, 0f, c, 4));
            Refused<ArgumentOutOfRangeException>("ldc", () => engine.Gemm(false, false, 4, 4, 4, 1f, a, 4, b, 4, 0f, c, 3));
            Refused<ArgumentException>("a", () => engine.Gemm(false, false, 4, 4, 4, 1f, a.AsSpan(0, 15), 4, b, 4, 0f, c, 4));
            Refused<ArgumentException>("b", () => engine.Gemm(false, false, 4, 4, 4, 1f, a, 4, b.AsSpan(0, 15), 4, 0f, c, 4));
            Refused<ArgumentException>("c", () => engine.Gemm(false, false, 4, 4, 4, 1f, a, 4, b, 4, 0f, c.AsSpan(0, 15), 4));
        }
    }

    /// <summary>
    /// A product with nothing to multiply (k == 0, or alpha == 0 at a size that would otherwise be paired) is C = beta·C exactly
    /// once, first or second in a pair: made again, or run side by side after it was finished, C would be beta²·C. beta = 2 keeps
    /// every value exact, so the check is for equality.
    /// </summary>
    [TestMethod]
    public void GemmPair_FinishesAProductWithNothingToMultiplyOnceInEitherPlace()
    {
        var pools = new List<WorkerPool>();
        try
        {
            foreach (var (engine, label) in PairEngines(pools))
            {
                var rng = new RandomStream(31);
                foreach (bool emptyFirst in new[] { true, false })
                {
                    foreach (bool alphaZero in new[] { false, true })
                    {
                        // The same shape as the other product (balanced, and large enough to share out) when alpha is 0.
                        int k = alphaZero ? 784 : 0;
                        float[] x = Random(rng, 100 * 784), w = Random(rng, 200 * 784), c0 = Random(rng, 100 * 200), c = (float[])c0.Clone();
                        var empty = new GemmCall(false, true, 100, 200, k, alphaZero ? 0f : 1f, x.AsSpan(0, alphaZero ? x.Length : 0), 784,
                            w.AsSpan(0, alphaZero ? w.Length : 0), 784, 2f, c, 200);
                        var large = new ProductCase(rng, false, true, 100, 200, 784, 1f, 0.5f, 0);
                        if (emptyFirst) engine.GemmPair(empty, large.Call);
                        else engine.GemmPair(large.Call, empty);
                        string where = $"{label}: {(alphaZero ? "alpha 0" : "k 0")} {(emptyFirst ? "first" : "second")}";
                        CollectionAssert.AreEqual(c0.Select(v => 2 * v).ToArray(), c, where);
                        large.Verify(where);
                    }
                }
            }
        }
        finally
        {
            foreach (var pool in pools) pool.Dispose();
        }
    }

    /// <summary>
    /// A pair refused because one product's C is the other's A is refused before either product runs: the first, with nothing to
    /// multiply (C = 2·C), leaves its C as it was, on every engine and the interface's default pair.
    /// </summary>
    [TestMethod]
    public void GemmPair_ARefusedPairLeavesBothOutputsUntouched()
    {
        var pools = new List<WorkerPool>();
        try
        {
            var engines = PairEngines(pools);
            engines.Add((new GemmOnly(MatrixEngine.Managed), "the interface's default GemmPair"));
            foreach (var (engine, label) in engines)
            {
                float[] c1 = [1, 2, 3, 4, 5, 6], b2 = [1, 1, 1, 1, 1, 1], c2 = [7];
                Assert.ThrowsExactly<ArgumentException>(() => engine.GemmPair(
                    new GemmCall(false, false, 2, 3, 0, 1f, ReadOnlySpan<float>.Empty, 1, ReadOnlySpan<float>.Empty, 3, 2f, c1, 3),
                    new GemmCall(false, false, 1, 1, 6, 1f, c1, 6, b2, 1, 0f, c2, 1)), label);
                CollectionAssert.AreEqual(new float[] { 1, 2, 3, 4, 5, 6 }, c1, $"{label}: the first product's C");
                CollectionAssert.AreEqual(new float[] { 7 }, c2, $"{label}: the second product's C");
            }
        }
        finally
        {
            foreach (var pool in pools) pool.Dispose();
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
        var product = new ProductCase(rng, transA, transB, m, n, k, alpha, beta, pad);
        product.Call.RunOn(engine);
        product.Verify(label);
    }

    /// <summary>Random operands for one product (C padded with a marker, NaN where beta = 0 must ignore it), checked against a double-precision loop.</summary>
    private sealed class ProductCase
    {
        private readonly bool _transA, _transB;
        private readonly int _m, _n, _k, _lda, _ldb, _ldc;
        private readonly float _alpha, _beta;
        private readonly float[] _a, _b, _c0;

        public ProductCase(RandomStream rng, bool transA, bool transB, int m, int n, int k, float alpha, float beta, int pad)
        {
            (_transA, _transB, _m, _n, _k, _alpha, _beta) = (transA, transB, m, n, k, alpha, beta);
            int aRows = transA ? k : m, aCols = transA ? m : k;
            int bRows = transB ? n : k, bCols = transB ? k : n;
            (_lda, _ldb, _ldc) = (aCols + pad, bCols + pad, n + pad);
            _a = Random(rng, Math.Max(0, (aRows - 1) * _lda + aCols));
            _b = Random(rng, Math.Max(0, (bRows - 1) * _ldb + bCols));
            _c0 = Random(rng, (m - 1) * _ldc + n);
            if (beta == 0)
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++) _c0[i * _ldc + j] = float.NaN; // must be ignored
            for (int i = 0; i < m; i++)
                for (int j = n; j < _ldc && i * _ldc + j < _c0.Length; j++) _c0[i * _ldc + j] = 12345f; // padding must survive
            C = (float[])_c0.Clone();
        }

        public float[] C { get; }

        public GemmCall Call => new(_transA, _transB, _m, _n, _k, _alpha, _a, _lda, _b, _ldb, _beta, C, _ldc);

        public void Verify(string label)
        {
            for (int i = 0; i < _m; i++)
            {
                for (int j = 0; j < _n; j++)
                {
                    double sum = 0, magnitude = 0;
                    for (int p = 0; p < _k; p++)
                    {
                        double av = _transA ? _a[p * _lda + i] : _a[i * _lda + p];
                        double bv = _transB ? _b[j * _ldb + p] : _b[p * _ldb + j];
                        sum += av * bv;
                        magnitude += Math.Abs(av * bv);
                    }
                    double old = _beta == 0 ? 0 : _c0[i * _ldc + j];
                    double expected = _alpha * sum + _beta * old;
                    double tolerance = 1e-5 * (Math.Abs(_alpha) * magnitude + Math.Abs(_beta * old)) + 1e-30;
                    double actual = C[i * _ldc + j];
                    if (!(Math.Abs(actual - expected) <= tolerance))
                        Assert.Fail($"{label} m={_m} n={_n} k={_k}: C[{i},{j}] = {actual}, expected {expected} ± {tolerance}");
                }
                for (int j = _n; j < _ldc && i * _ldc + j < C.Length; j++)
                    if (C[i * _ldc + j] != 12345f)
                        Assert.Fail($"{label} m={_m} n={_n} k={_k}: padding C[{i},{j}] was overwritten");
            }
        }
    }
}
