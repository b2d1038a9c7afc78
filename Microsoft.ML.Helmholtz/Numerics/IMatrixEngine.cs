namespace Microsoft.ML.Helmholtz.Numerics;

/// <summary>
/// A single-precision matrix-product engine over row-major storage:
/// C[m×n] = alpha · op(A) · op(B) + beta · C, where op(A) is m×k and op(B) is k×n.
/// With <c>transA</c>, A is stored k×m (leading dimension <c>lda</c> ≥ m); without it, m×k (lda ≥ k).
/// With <c>transB</c>, B is stored n×k (ldb ≥ k); without it, k×n (ldb ≥ n). ldc ≥ n.
/// When beta is 0, C is overwritten and its old content (even NaN) is ignored.
/// </summary>
public interface IMatrixEngine
{
    /// <summary>A short name for logs and benchmarks ("managed", "openblas").</summary>
    string Name { get; }

    void Gemm(bool transA, bool transB, int m, int n, int k,
        float alpha, ReadOnlySpan<float> a, int lda,
        ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc);
}
