using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Tests.Support;

/// <summary>
/// An engine that passes every product on to <paramref name="inner"/> after showing its shape (m, n, k) to
/// <paramref name="onProduct"/>, which may run on several threads at once, and counts the products. <paramref name="afterProduct"/>
/// may then change C (a test's stand-in for an engine that rounds otherwise). It allows fused products only if told to
/// (<paramref name="allowsFusedProducts"/>), as an engine of a user's would not.
/// </summary>
internal sealed class ObservingEngine(IMatrixEngine inner, Action<int, int, int>? onProduct = null, bool allowsFusedProducts = false,
    ObservingEngine.ProductResult? afterProduct = null) : IMatrixEngine
{
    /// <summary>Sees (and may change) the m × n product just written into c, rows ldc apart.</summary>
    public delegate void ProductResult(int m, int n, int k, Span<float> c, int ldc);

    private int _products;

    /// <summary>The products passed on so far.</summary>
    public int Products => Volatile.Read(ref _products);

    public string Name => "observing " + inner.Name;

    public bool AllowsFusedProducts => allowsFusedProducts;

    public void Gemm(bool transA, bool transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc)
    {
        Interlocked.Increment(ref _products);
        onProduct?.Invoke(m, n, k);
        inner.Gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        afterProduct?.Invoke(m, n, k, c, ldc);
    }
}
