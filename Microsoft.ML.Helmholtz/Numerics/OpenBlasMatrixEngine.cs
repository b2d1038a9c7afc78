using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace Microsoft.ML.Helmholtz.Numerics;

/// <summary>
/// Matrix products through a native OpenBLAS (<c>cblas_sgemm</c>), loaded at run time so that a machine
/// without it falls back to the managed engine. On Debian/Ubuntu: <c>apt-get install libopenblas0-pthread</c>.
/// OpenBLAS runs single-threaded (process-wide); large products are split over <see cref="WorkerPool"/>,
/// the threads that also run the element-wise work and the optimiser, so that the process has one set
/// of threads polling for work instead of two competing for the same cores.
/// </summary>
public sealed unsafe class OpenBlasMatrixEngine : IMatrixEngine
{
    private const int CblasRowMajor = 101, CblasNoTrans = 111, CblasTrans = 112;
    private const long MinPieceWork = 1L << 18; // m·n·k per piece: products from 2^19 are split

    private static readonly string[] Candidates = { "libopenblas.so.0", "libopenblas.so", "openblas" };
    private static readonly object Gate = new();
    private static bool _probed;
    private static OpenBlasMatrixEngine? _instance;

    // OpenBLAS kernel sets without AVX2/FMA (its own names, lower case): on a CPU that has those
    // instructions they run its products several times slower than the managed engine.
    private static readonly HashSet<string> PreAvx2Cores = new(StringComparer.OrdinalIgnoreCase)
    {
        "unknown", "katmai", "coppermine", "northwood", "prescott", "banias", "atom", "core2", "penryn", "dunnington",
        "nehalem", "athlon", "opteron", "opteron_sse3", "barcelona", "nano", "sandybridge", "bobcat", "bulldozer",
        "piledriver", "steamroller",
    };

    private readonly delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> _sgemm;

    private OpenBlasMatrixEngine(nint sgemm) =>
        _sgemm = (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)sgemm;

    /// <inheritdoc/>
    public string Name => "openblas";

    /// <summary>True: scoring's visible layer runs faster in one fused kernel than as a product here and a pass over its result.</summary>
    public bool AllowsFusedProducts => true;

    /// <summary>The library name that loaded, for diagnostics.</summary>
    public string LibraryName { get; private init; } = "";

    /// <summary>The kernel set OpenBLAS chose for this CPU (<c>openblas_get_corename</c>), e.g. "SkylakeX"; "" when it does not say.</summary>
    public string CoreName { get; private init; } = "";

    /// <summary>The OPENBLAS_CORETYPE this library set before loading OpenBLAS, or null when the user had set one (or the CPU has no AVX2).</summary>
    public static string? SuggestedCoreType { get; private set; }

    /// <summary>
    /// The kernel set this CPU's instructions support, when an OPENBLAS_CORETYPE set outside this library makes OpenBLAS
    /// run narrower kernels ("Haswell", AVX2, on a CPU with AVX-512); else null. The user's choice stands: this only says
    /// what it leaves (on an AMD Zen 5, OpenBLAS's AVX-512 products ran 1.6–1.9× its AVX2 ones, docs/performance.md).
    /// </summary>
    public string? WiderCoreType { get; private init; }

    /// <summary>
    /// False when OpenBLAS runs a kernel set without AVX2/FMA on a CPU that has them (an OpenBLAS
    /// older than the CPU, forced to an old core): <see cref="MatrixEngine.Default"/> then prefers the
    /// managed engine.
    /// </summary>
    public bool UsesTheCpuFully => !(Avx2.IsSupported && Fma.IsSupported && PreAvx2Cores.Contains(CoreName));

    /// <summary>The process-wide engine, or null when no OpenBLAS with <c>cblas_sgemm</c> can be loaded.</summary>
    public static OpenBlasMatrixEngine? TryCreate()
    {
        lock (Gate)
        {
            if (_probed) return _instance;
            _probed = true;
            SuggestCoreType();
            foreach (string name in Candidates)
            {
                if (!NativeLibrary.TryLoad(name, typeof(OpenBlasMatrixEngine).Assembly, null, out nint handle))
                    continue;
                if (!NativeLibrary.TryGetExport(handle, "cblas_sgemm", out nint sgemm))
                {
                    NativeLibrary.Free(handle);
                    continue;
                }
                if (NativeLibrary.TryGetExport(handle, "openblas_set_num_threads", out nint setThreads))
                    ((delegate* unmanaged<int, void>)setThreads)(1);
                string core = NativeLibrary.TryGetExport(handle, "openblas_get_corename", out nint coreName)
                    ? Marshal.PtrToStringAnsi((nint)((delegate* unmanaged<byte*>)coreName)()) ?? "" : "";
                _instance = new OpenBlasMatrixEngine(sgemm)
                {
                    LibraryName = name, CoreName = core.Trim(),
                    WiderCoreType = WiderCoreTypeThan(core.Trim(), userChose: SuggestedCoreType is null, CoreTypeForThisCpu()),
                };
                break;
            }
            return _instance;
        }
    }

    /// <summary>
    /// OpenBLAS picks its kernels from a table of the CPUs it knows when it loads, and falls back to
    /// SSE3 ("Prescott") on a newer one: Debian 12's 0.3.21 does so on a recent Xeon, where it then ran
    /// 27 GFLOP/s against 130–160 with the AVX-512 kernels. Unless the user chose a core
    /// (OPENBLAS_CORETYPE), name the kernel set this CPU's instructions support, which is what later
    /// OpenBLAS releases choose for these CPUs themselves. Only the environment of this process changes.
    /// </summary>
    private static void SuggestCoreType()
    {
        if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable("OPENBLAS_CORETYPE"))) return;
        if (CoreTypeForThisCpu() is not { } core) return;
        SuggestedCoreType = core;
        try
        {
            // OpenBLAS reads the variable with getenv when it loads; on Unix, Environment's own copy
            // does not reach getenv, so it is set in the C library too (without overwriting).
            if (!OperatingSystem.IsWindows()) _ = NativeEnvironment.setenv("OPENBLAS_CORETYPE", core, 0);
            Environment.SetEnvironmentVariable("OPENBLAS_CORETYPE", core);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // No C library to call: OpenBLAS keeps its own choice, and UsesTheCpuFully reports it.
        }
    }

    /// <summary>The widest OpenBLAS kernel set this CPU's instructions support: "SkylakeX" (AVX-512), "Haswell" (AVX2, FMA), or null.</summary>
    internal static string? CoreTypeForThisCpu() =>
        Avx512F.IsSupported && Avx512BW.IsSupported && Avx512DQ.IsSupported && Avx512CD.IsSupported && Avx512F.VL.IsSupported ? "SkylakeX" :
        Avx2.IsSupported && Fma.IsSupported ? "Haswell" : null;

    // OpenBLAS kernel sets built on AVX-512 (its own names): a user's core among these leaves nothing wider unused.
    private static readonly HashSet<string> Avx512Cores = new(StringComparer.OrdinalIgnoreCase) { "skylakex", "cooperlake", "sapphirerapids" };

    /// <summary>
    /// <see cref="WiderCoreType"/> for a running core, whether the user chose it, and <see cref="CoreTypeForThisCpu"/>: only a core
    /// the user chose can be narrower than the one suggested, and only AVX-512 is wider than an AVX2 set (a pre-AVX2 one is
    /// <see cref="UsesTheCpuFully"/>'s case, where the managed engine runs instead).
    /// </summary>
    internal static string? WiderCoreTypeThan(string coreName, bool userChose, string? cpuCoreType) =>
        userChose && cpuCoreType == "SkylakeX" && !Avx512Cores.Contains(coreName) && !PreAvx2Cores.Contains(coreName) && coreName.Length > 0
            ? cpuCoreType : null;

    private static class NativeEnvironment
    {
        [DllImport("libc", CharSet = CharSet.Ansi)]
        public static extern int setenv(string name, string value, int overwrite);
    }

    /// <inheritdoc/>
    public void Gemm(bool transA, bool transB, int m, int n, int k,
        float alpha, ReadOnlySpan<float> a, int lda,
        ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc)
        => Gemm(WorkerPool.Current, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);

    /// <summary>The product, split over <paramref name="pool"/> when it is large and the pool is free.</summary>
    internal void Gemm(WorkerPool pool, bool transA, bool transB, int m, int n, int k,
        float alpha, ReadOnlySpan<float> a, int lda,
        ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc)
        => Gemm(pool, new GemmCall(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc));

    private void Gemm(WorkerPool pool, in GemmCall call)
    {
        // cblas rejects or mishandles empty inner dimensions; those calls are finished here.
        if (call.ValidateAndHandleTrivial()) return;
        fixed (float* pa = call.A, pb = call.B, pc = call.C)
        {
            Product product = Plan(pool.Threads, call, pa, pb, pc);
            if (product.Pieces > 1) pool.Run(product.Pieces, product);
            else product.Execute(0);
        }
    }

    /// <inheritdoc/>
    public void GemmPair(in GemmCall first, in GemmCall second) => GemmPair(WorkerPool.Current, first, second);

    /// <summary>
    /// Two independent products as one loop: with two threads, one whole product each, instead of
    /// each product cut in two with a hand-over between them (a product of the model's shapes runs
    /// faster whole). Products too small to share out, or a pool of one thread, run them in turn.
    /// </summary>
    internal void GemmPair(WorkerPool pool, in GemmCall first, in GemmCall second)
    {
        if (!GemmCall.PrepareSideBySide(first, second, pool.Threads, MinPieceWork, out bool firstDone, out bool secondDone))
        {
            if (!firstDone) Gemm(pool, first);
            if (!secondDone) Gemm(pool, second);
            return;
        }
        int shared = (pool.Threads + 1) / 2;
        fixed (float* a1 = first.A, b1 = first.B, c1 = first.C, a2 = second.A, b2 = second.B, c2 = second.C)
        {
            // Each product gets half the threads; the pieces depend on the shapes and the pool's size only.
            var pair = new ProductPair { First = Plan(shared, first, a1, b1, c1), Second = Plan(shared, second, a2, b2, c2) };
            pool.Run(pair.First.Pieces + pair.Second.Pieces, pair);
        }
    }

    /// <summary>
    /// One piece per thread, but none under MinPieceWork or narrower than a strip (that matters on many
    /// cores). The pieces depend on the shape and the thread count only, not on whether the pool is
    /// free at this moment (a busy pool runs them on the caller), so the result depends on nothing
    /// that varies from run to run. <paramref name="a"/>, <paramref name="b"/> and <paramref name="c"/> are the call's operands, pinned.
    /// A weight gradient (Aᵀ·B) is cut into rows of C, each piece with its own columns of A: cut into
    /// columns, the 200 × 784 × 100 one ran at 205 GFLOP/s on two threads, cut into rows at 248 (docs/performance.md).
    /// Other products are cut along the longer side of C.
    /// </summary>
    private Product Plan(int threads, in GemmCall call, float* a, float* b, float* c)
    {
        var product = new Product
        {
            Sgemm = _sgemm, TransA = call.TransA, TransB = call.TransB, M = call.M, N = call.N, K = call.K,
            Alpha = call.Alpha, Beta = call.Beta, A = a, Lda = call.Lda, B = b, Ldb = call.Ldb, C = c, Ldc = call.Ldc,
            SplitN = !call.TransA && call.N >= call.M,
        };
        int strips = ((product.SplitN ? call.N : call.M) + 15) / 16;
        product.Pieces = (int)Math.Min(Math.Min(threads, strips), Math.Max(1, call.Work / MinPieceWork));
        return product;
    }

    /// <summary>Two products' pieces as one loop: the first's, then the second's.</summary>
    private struct ProductPair : IPieceWork
    {
        public Product First, Second;

        public readonly void Execute(int piece)
        {
            if (piece < First.Pieces) First.Execute(piece);
            else Second.Execute(piece - First.Pieces);
        }
    }

    /// <summary>
    /// One product cut into <see cref="Pieces"/> blocks of whole 16-column (or 16-row) strips of C, along
    /// the longer side; each piece is one single-threaded <c>cblas_sgemm</c> over its block.
    /// </summary>
    private struct Product : IPieceWork
    {
        public delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> Sgemm;
        public bool TransA, TransB, SplitN;
        public int M, N, K, Lda, Ldb, Ldc, Pieces;
        public float Alpha, Beta;
        public float* A, B, C;

        public readonly void Execute(int piece)
        {
            int ta = TransA ? CblasTrans : CblasNoTrans, tb = TransB ? CblasTrans : CblasNoTrans;
            if (Pieces == 1)
            {
                Sgemm(CblasRowMajor, ta, tb, M, N, K, Alpha, A, Lda, B, Ldb, Beta, C, Ldc);
                return;
            }
            int total = SplitN ? N : M, strips = (total + 15) / 16;
            int first = Math.Min(total, strips * piece / Pieces * 16), last = Math.Min(total, strips * (piece + 1) / Pieces * 16);
            if (first >= last) return;
            if (SplitN)
                Sgemm(CblasRowMajor, ta, tb, M, last - first, K, Alpha, A, Lda,
                    TransB ? B + (nint)first * Ldb : B + first, Ldb, Beta, C + first, Ldc);
            else
                Sgemm(CblasRowMajor, ta, tb, last - first, N, K, Alpha,
                    TransA ? A + first : A + (nint)first * Lda, Lda, B, Ldb, Beta, C + (nint)first * Ldc, Ldc);
        }
    }
}
