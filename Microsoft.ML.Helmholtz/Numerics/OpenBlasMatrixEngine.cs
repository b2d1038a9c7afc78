using System.Runtime.InteropServices;

namespace Microsoft.ML.Helmholtz.Numerics;

/// <summary>
/// Matrix products through a native OpenBLAS (<c>cblas_sgemm</c>), loaded at run time so that a machine
/// without it falls back to the managed engine. On Debian/Ubuntu: <c>apt-get install libopenblas0-pthread</c>.
/// </summary>
public sealed unsafe class OpenBlasMatrixEngine : IMatrixEngine
{
    private const int CblasRowMajor = 101, CblasNoTrans = 111, CblasTrans = 112;

    private static readonly string[] Candidates = { "libopenblas.so.0", "libopenblas.so", "openblas" };
    private static readonly object Gate = new();
    private static bool _probed;
    private static OpenBlasMatrixEngine? _instance;

    private readonly delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> _sgemm;
    private readonly delegate* unmanaged<int, void> _setThreads;

    private OpenBlasMatrixEngine(nint sgemm, nint setThreads)
    {
        _sgemm = (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)sgemm;
        _setThreads = (delegate* unmanaged<int, void>)setThreads;
        SetThreadCount(Environment.ProcessorCount);
    }

    public string Name => "openblas";

    /// <summary>The library handle and path that loaded, for diagnostics.</summary>
    public string LibraryName { get; private init; } = "";

    /// <summary>The process-wide engine, or null when no OpenBLAS with <c>cblas_sgemm</c> can be loaded.</summary>
    public static OpenBlasMatrixEngine? TryCreate()
    {
        lock (Gate)
        {
            if (_probed) return _instance;
            _probed = true;
            foreach (string name in Candidates)
            {
                if (!NativeLibrary.TryLoad(name, typeof(OpenBlasMatrixEngine).Assembly, null, out nint handle))
                    continue;
                if (!NativeLibrary.TryGetExport(handle, "cblas_sgemm", out nint sgemm))
                {
                    NativeLibrary.Free(handle);
                    continue;
                }
                NativeLibrary.TryGetExport(handle, "openblas_set_num_threads", out nint setThreads);
                _instance = new OpenBlasMatrixEngine(sgemm, setThreads) { LibraryName = name };
                break;
            }
            return _instance;
        }
    }

    private int _threads = 1;
    private int _singleThreadedScopes;

    /// <summary>The worker-thread count last set (what OpenBLAS uses outside single-threaded scopes).</summary>
    public int ThreadCount => _threads;

    /// <summary>Sets OpenBLAS's worker-thread count (process-wide); ignored if the library lacks the call.</summary>
    public void SetThreadCount(int threads)
    {
        lock (Gate)
        {
            _threads = Math.Max(1, threads);
            if (_singleThreadedScopes == 0) Apply(_threads);
        }
    }

    /// <summary>
    /// Runs every OpenBLAS call on its caller's thread until the scope is disposed, so that several
    /// threads can each run their own products (scoring pipelines) without oversubscribing the
    /// cores. The setting is process-wide: products elsewhere in the process are single-threaded too
    /// while a scope is open.
    /// </summary>
    public IDisposable SingleThreadedScope()
    {
        lock (Gate)
        {
            if (_singleThreadedScopes++ == 0) Apply(1);
        }
        return new Scope(this);
    }

    private void Apply(int threads)
    {
        if (_setThreads != null) _setThreads(threads);
    }

    private sealed class Scope(OpenBlasMatrixEngine engine) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
            lock (Gate)
            {
                if (--engine._singleThreadedScopes == 0) engine.Apply(engine._threads);
            }
        }
    }

    public void Gemm(bool transA, bool transB, int m, int n, int k,
        float alpha, ReadOnlySpan<float> a, int lda,
        ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc)
    {
        // cblas rejects or mishandles empty inner dimensions; those calls are finished here.
        if (GemmArgs.ValidateAndHandleTrivial(transA, transB, m, n, k, alpha, a.Length, lda, b.Length, ldb, beta, c, ldc)) return;
        fixed (float* pa = a)
        fixed (float* pb = b)
        fixed (float* pc = c)
        {
            _sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc);
        }
    }
}
