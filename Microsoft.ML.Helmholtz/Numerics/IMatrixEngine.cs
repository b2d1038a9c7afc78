namespace Microsoft.ML.Helmholtz.Numerics;

/// <summary>
/// A single-precision matrix-product engine over row-major storage:
/// C[m×n] = alpha · op(A) · op(B) + beta · C, where op(A) is m×k and op(B) is k×n.
/// With <c>transA</c>, A is stored k×m (leading dimension <c>lda</c> ≥ m); without it, m×k (lda ≥ k).
/// With <c>transB</c>, B is stored n×k (ldb ≥ k); without it, k×n (ldb ≥ n). ldc ≥ n.
/// When beta is 0, C is overwritten and its old content (even NaN) is ignored.
/// An engine is shared by a machine, its copies and the estimators' parallel pipelines, so an
/// implementation must allow concurrent calls (the built-in engines do).
/// </summary>
public interface IMatrixEngine
{
    /// <summary>A short name for logs and benchmarks ("managed", "openblas").</summary>
    string Name { get; }

    /// <summary>
    /// Whether the library may compute a product outside this engine, in a kernel that fuses it with what follows (scoring's
    /// visible layer: its logits formed and scored in registers, never written). True for the built-in engines; false by
    /// default, so that an engine of the user's (one that times, counts or moves the products elsewhere) is given every product.
    /// </summary>
    bool AllowsFusedProducts => false;

    /// <summary>
    /// C = alpha · op(A) · op(B) + beta · C, with the shapes and leading dimensions the interface describes. The built-in engines throw
    /// <see cref="ArgumentOutOfRangeException"/> for a negative size or a leading dimension too small, and <see cref="ArgumentException"/>
    /// for a span too short.
    /// </summary>
    void Gemm(bool transA, bool transB, int m, int n, int k,
        float alpha, ReadOnlySpan<float> a, int lda,
        ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc);

    /// <summary>
    /// Two independent products as one unit of work: neither C may overlap the other product's
    /// A, B or C. An engine may run them side by side, one per thread, which on a few cores beats
    /// splitting each (a layer's mean and log-variance maps, or a weight gradient and an input
    /// gradient). The results are the two products, but not always the bits of the two <see cref="Gemm"/> calls: OpenBLAS cuts each
    /// product of a pair for half the pool (its bits are those of a <see cref="Gemm"/> on half the threads), while the managed
    /// engine and this default, which makes them in turn, give <see cref="Gemm"/>'s bits.
    /// </summary>
    void GemmPair(in GemmCall first, in GemmCall second)
    {
        GemmCall.CheckIndependent(first, second);
        first.RunOn(this);
        second.RunOn(this);
    }
}

/// <summary>The arguments of one <see cref="IMatrixEngine.Gemm"/> call, for <see cref="IMatrixEngine.GemmPair"/>.</summary>
public readonly ref struct GemmCall
{
    /// <summary>The arguments of one product, as <see cref="IMatrixEngine.Gemm"/> takes them (not checked here).</summary>
    public GemmCall(bool transA, bool transB, int m, int n, int k,
        float alpha, ReadOnlySpan<float> a, int lda,
        ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc)
    {
        TransA = transA; TransB = transB; M = m; N = n; K = k;
        Alpha = alpha; A = a; Lda = lda; B = b; Ldb = ldb; Beta = beta; C = c; Ldc = ldc;
    }

    /// <summary>Whether A is stored transposed, k × m.</summary>
    public bool TransA { get; }
    /// <summary>Whether B is stored transposed, n × k.</summary>
    public bool TransB { get; }
    /// <summary>Rows of C and of op(A).</summary>
    public int M { get; }
    /// <summary>Columns of C and of op(B).</summary>
    public int N { get; }
    /// <summary>The inner dimension: columns of op(A), rows of op(B).</summary>
    public int K { get; }
    /// <summary>The scale of op(A) · op(B).</summary>
    public float Alpha { get; }
    /// <summary>A, row-major.</summary>
    public ReadOnlySpan<float> A { get; }
    /// <summary>A's leading dimension: the distance in elements between its stored rows.</summary>
    public int Lda { get; }
    /// <summary>B, row-major.</summary>
    public ReadOnlySpan<float> B { get; }
    /// <summary>B's leading dimension: the distance in elements between its stored rows.</summary>
    public int Ldb { get; }
    /// <summary>The scale of C's old values; 0 overwrites C.</summary>
    public float Beta { get; }
    /// <summary>C, row-major: the output.</summary>
    public Span<float> C { get; }
    /// <summary>C's leading dimension: the distance in elements between its rows.</summary>
    public int Ldc { get; }

    /// <summary>m·n·k, the multiply-adds of the product.</summary>
    public long Work => (long)M * N * K;

    /// <summary>Makes the product on <paramref name="engine"/>: its <see cref="IMatrixEngine.Gemm"/> with these arguments.</summary>
    public void RunOn(IMatrixEngine engine) => engine.Gemm(TransA, TransB, M, N, K, Alpha, A, Lda, B, Ldb, Beta, C, Ldc);

    /// <summary>Validates the arguments and finishes a product with nothing to multiply; true when it is done.</summary>
    internal bool ValidateAndHandleTrivial()
        => GemmArgs.ValidateAndHandleTrivial(TransA, TransB, M, N, K, Alpha, A.Length, Lda, B.Length, Ldb, Beta, C, Ldc);

    /// <summary>
    /// What the engines share about a pair: checks that the products are independent, validates both
    /// and finishes any with nothing to multiply (<paramref name="firstDone"/>, <paramref name="secondDone"/>),
    /// and says whether the rest should run side by side: both left, on two or more threads, each of
    /// at least <paramref name="minWork"/> multiply-adds and within 2:1 of the other. Otherwise the
    /// caller makes the products not done in turn.
    /// </summary>
    internal static bool PrepareSideBySide(in GemmCall first, in GemmCall second, int threads, long minWork, out bool firstDone, out bool secondDone)
    {
        CheckIndependent(first, second);
        firstDone = first.ValidateAndHandleTrivial();
        secondDone = second.ValidateAndHandleTrivial();
        long small = Math.Min(first.Work, second.Work), large = Math.Max(first.Work, second.Work);
        return !firstDone && !secondDone && threads >= 2 && small >= minWork && 2 * small >= large;
    }

    /// <summary>Throws unless each product's output is apart from everything the other reads and writes.</summary>
    public static void CheckIndependent(in GemmCall first, in GemmCall second)
    {
        ReadOnlySpan<float> c1 = first.C, c2 = second.C;
        if (c1.Overlaps(c2) || c1.Overlaps(second.A) || c1.Overlaps(second.B) || c2.Overlaps(first.A) || c2.Overlaps(first.B))
            throw new ArgumentException("The two products of a pair must be independent: one's C overlaps the other's A, B or C.");
    }
}
