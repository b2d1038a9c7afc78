namespace Microsoft.ML.Helmholtz.Numerics;

/// <summary>
/// Chooses the matrix-product engine once per process: a native OpenBLAS when it loads and runs
/// kernels that use this CPU's vector instructions, else the managed SIMD kernel.
/// <c>HELMHOLTZ_MATRIX_ENGINE=managed|openblas</c> forces one.
/// </summary>
public static class MatrixEngine
{
    private static IMatrixEngine? _default;
    private static readonly object s_choosing = new();

    /// <summary>The managed engine, always available.</summary>
    public static IMatrixEngine Managed { get; } = new ManagedMatrixEngine();

    /// <summary>The native OpenBLAS engine, or null when the library cannot be loaded.</summary>
    public static IMatrixEngine? OpenBlas => OpenBlasMatrixEngine.TryCreate();

    /// <summary>A managed engine that stays on the calling thread.</summary>
    public static IMatrixEngine SingleThreaded() => new ManagedMatrixEngine { MaxThreads = 1 };

    /// <summary>Why <see cref="Default"/> is the engine it is, for logs and benchmarks.</summary>
    public static string DefaultReason
    {
        get
        {
            // Under the lock the setter takes, so that a reason is never paired with another engine than its own.
            lock (s_choosing)
            {
                _default ??= Choose();
                return _reason;
            }
        }
    }

    private static string _reason = "";

    /// <summary>The engine every model uses unless given another.</summary>
    public static IMatrixEngine Default
    {
        get
        {
            if (Volatile.Read(ref _default) is { } engine) return engine;
            // Chosen once: first callers on several threads would otherwise each load OpenBLAS and leave the reason out of step.
            lock (s_choosing) return _default ??= Choose();
        }
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            lock (s_choosing)
            {
                _default = value;
                _reason = "set by the program";
            }
        }
    }

    /// <summary>
    /// <see cref="Default"/> set to <paramref name="engine"/> until the result is disposed, which puts back the engine and the
    /// reason there were before (the setter alone would leave "set by the program" for an engine the process chose).
    /// </summary>
    internal static IDisposable Replaced(IMatrixEngine engine)
    {
        ArgumentNullException.ThrowIfNull(engine);
        lock (s_choosing)
        {
            var restore = new PutBack(_default ??= Choose(), _reason);
            _default = engine;
            _reason = "set by the program";
            return restore;
        }
    }

    private sealed class PutBack(IMatrixEngine engine, string reason) : IDisposable
    {
        public void Dispose()
        {
            lock (s_choosing)
            {
                _default = engine;
                _reason = reason;
            }
        }
    }

    private static IMatrixEngine Choose()
    {
        (IMatrixEngine engine, _reason) = Choose(Environment.GetEnvironmentVariable("HELMHOLTZ_MATRIX_ENGINE"));
        return engine;
    }

    /// <summary>The engine for a value of <c>HELMHOLTZ_MATRIX_ENGINE</c> (null or empty: not set), and why; apart from the process-wide choice so that each value can be tried in one process.</summary>
    internal static (IMatrixEngine Engine, string Reason) Choose(string? forced)
    {
        if (string.Equals(forced, "managed", StringComparison.OrdinalIgnoreCase))
            return (Managed, "HELMHOLTZ_MATRIX_ENGINE=managed");
        if (string.Equals(forced, "openblas", StringComparison.OrdinalIgnoreCase))
            return (OpenBlas ?? throw new InvalidOperationException(
                "HELMHOLTZ_MATRIX_ENGINE=openblas, but OpenBLAS could not be loaded (tried libopenblas.so.0, libopenblas.so, openblas). " +
                "Install it (Debian/Ubuntu: apt-get install libopenblas0-pthread) or unset the variable to use the managed engine."),
                "HELMHOLTZ_MATRIX_ENGINE=openblas");
        if (!string.IsNullOrEmpty(forced))
            throw new InvalidOperationException($"HELMHOLTZ_MATRIX_ENGINE='{forced}' is not one of: managed, openblas.");
        if (OpenBlasMatrixEngine.TryCreate() is not { } blas)
            return (Managed, "OpenBLAS (libopenblas.so.0) not found");
        if (!blas.UsesTheCpuFully)
            return (Managed, $"OpenBLAS runs its '{blas.CoreName}' kernels, without the AVX2/FMA this CPU has");
        string narrower = blas.WiderCoreType is { } wider
            ? $"; OPENBLAS_CORETYPE={Environment.GetEnvironmentVariable("OPENBLAS_CORETYPE")} was set outside this library, and this CPU has the instructions of its '{wider}' kernels"
            : "";
        return (blas, $"OpenBLAS with its '{blas.CoreName}' kernels{narrower}");
    }
}
