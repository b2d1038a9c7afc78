namespace Microsoft.ML.Helmholtz.Numerics;

/// <summary>Matrix products in managed code.</summary>
internal sealed class ManagedMatrixEngine : IMatrixEngine
{
    public string Name => "managed";

    public void Gemm(bool transA, bool transB, int m, int n, int k,
        float alpha, ReadOnlySpan<float> a, int lda,
        ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc)
    {
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                float sum = 0;
                for (int p = 0; p < k; p++)
                {
                    float av = transA ? a[p * lda + i] : a[i * lda + p];
                    float bv = transB ? b[j * ldb + p] : b[p * ldb + j];
                    sum += av * bv;
                }
                ref float cij = ref c[i * ldc + j];
                cij = beta == 0 ? alpha * sum : alpha * sum + beta * cij;
            }
        }
    }
}
