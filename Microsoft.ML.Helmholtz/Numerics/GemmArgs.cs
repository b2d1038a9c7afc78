namespace Microsoft.ML.Helmholtz.Numerics;

/// <summary>Argument checks shared by the engines, so a bad call throws instead of reading or writing out of bounds.</summary>
internal static class GemmArgs
{
    public static void Validate(bool transA, bool transB, int m, int n, int k,
        int aLength, int lda, int bLength, int ldb, int cLength, int ldc)
    {
        if (m < 0) throw new ArgumentOutOfRangeException(nameof(m));
        if (n < 0) throw new ArgumentOutOfRangeException(nameof(n));
        if (k < 0) throw new ArgumentOutOfRangeException(nameof(k));
        if (m == 0 || n == 0) return;
        if (ldc < Math.Max(1, n)) throw new ArgumentOutOfRangeException(nameof(ldc), "ldc must be at least n.");
        if (cLength < Need(m, n, ldc)) throw new ArgumentException("C is too short for m, n and ldc.", "c");
        if (k == 0) return;
        int aRows = transA ? k : m, aCols = transA ? m : k;
        int bRows = transB ? n : k, bCols = transB ? k : n;
        if (lda < Math.Max(1, aCols)) throw new ArgumentOutOfRangeException(nameof(lda), "lda is smaller than the stored width of A.");
        if (ldb < Math.Max(1, bCols)) throw new ArgumentOutOfRangeException(nameof(ldb), "ldb is smaller than the stored width of B.");
        if (aLength < Need(aRows, aCols, lda)) throw new ArgumentException("A is too short for its shape and lda.", "a");
        if (bLength < Need(bRows, bCols, ldb)) throw new ArgumentException("B is too short for its shape and ldb.", "b");
    }

    private static long Need(int rows, int cols, int ld) => (long)(rows - 1) * ld + cols;

    /// <summary>C = beta·C over an m×n block (the k == 0 case); beta == 0 clears, ignoring NaN.</summary>
    public static void ScaleC(int m, int n, float beta, Span<float> c, int ldc)
    {
        for (int i = 0; i < m; i++)
        {
            Span<float> row = c.Slice(i * ldc, n);
            if (beta == 0) row.Clear();
            else if (beta != 1) System.Numerics.Tensors.TensorPrimitives.Multiply(row, beta, row);
        }
    }

    /// <summary>
    /// Validates the arguments and does the calls with nothing to multiply (m or n zero: nothing;
    /// k or alpha zero: C = beta·C). True when the call is complete.
    /// </summary>
    public static bool ValidateAndHandleTrivial(bool transA, bool transB, int m, int n, int k, float alpha,
        int aLength, int lda, int bLength, int ldb, float beta, Span<float> c, int ldc)
    {
        Validate(transA, transB, m, n, k, aLength, lda, bLength, ldb, c.Length, ldc);
        if (m == 0 || n == 0) return true;
        if (k != 0 && alpha != 0) return false;
        ScaleC(m, n, beta, c, ldc);
        return true;
    }
}
