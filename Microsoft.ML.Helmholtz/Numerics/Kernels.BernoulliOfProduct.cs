using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Microsoft.ML.Helmholtz.Numerics;

/// <summary>
/// The operands of <see cref="Kernels.AccumulateBernoulliLogProbOfProduct"/> for one Bernoulli layer's parameters as they were
/// when it was made: Wᵀ [inputs × <see cref="Padded"/>] and the biases, the outputs padded to whole 16-lane vectors. A padded
/// column has weights 0 and bias −10³⁰ and its x is 0, so its term is exactly 0 (max(a, 0) = 0, e^{−|a|} = 0). It also holds
/// the targets as sign flips and the per-row state the kernel keeps, so it belongs to one thread (an estimator's pipeline,
/// which scores a private copy of the machine whose parameters do not change while it scores).
/// </summary>
internal sealed class BernoulliProductOperands
{
    private const float PaddingBias = -1e30f;

    public BernoulliProductOperands(ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, int inputs, int outputs)
    {
        if (inputs <= 0 || outputs <= 0 || weight.Length < (long)inputs * outputs || bias.Length < outputs)
            throw new ArgumentException($"A {outputs} × {inputs} weight matrix and {outputs} biases are needed (given {weight.Length} and {bias.Length} values).");
        Inputs = inputs;
        Outputs = outputs;
        Padded = (outputs + 15) / 16 * 16;
        TransposedWeight = new float[(long)inputs * Padded];
        for (int o = 0; o < outputs; o++)
            for (int i = 0; i < inputs; i++) TransposedWeight[i * Padded + o] = weight[o * inputs + i];
        Bias = new float[Padded];
        bias[..outputs].CopyTo(Bias);
        Bias.AsSpan(outputs).Fill(PaddingBias);
    }

    public int Inputs { get; }
    public int Outputs { get; }

    /// <summary>Outputs rounded up to a multiple of 16: the row length of <see cref="TransposedWeight"/>, <see cref="Bias"/> and the flips.</summary>
    public int Padded { get; }

    public float[] TransposedWeight { get; }
    public float[] Bias { get; }

    /// <summary>Rows of targets set by <see cref="SetTargets"/>.</summary>
    public int TargetRows { get; private set; }

    /// <summary>The targets as sign flips, [<see cref="TargetRows"/> × <see cref="Padded"/>]: the sign bit where x = 1, else 0.</summary>
    internal int[] Flips { get; private set; } = [];

    /// <summary>Per row, 16 lanes of the max(b, 0) terms in double and 16 lanes of the product of the factors 1 + e^{−|b|}.</summary>
    internal double[] Lanes { get; private set; } = [];
    internal float[] Products { get; private set; } = [];

    /// <summary>The targets of the next products: <paramref name="rows"/> rows of <see cref="Outputs"/> values, each 0 or 1.</summary>
    public void SetTargets(ReadOnlySpan<float> x, int rows)
    {
        if (rows <= 0 || x.Length < (long)rows * Outputs)
            throw new ArgumentException($"{x.Length} target values are fewer than {rows} rows of {Outputs}.", nameof(x));
        if (Flips.Length < rows * Padded) Flips = new int[rows * Padded];
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<float> row = x.Slice(r * Outputs, Outputs);
            Span<int> flips = Flips.AsSpan(r * Padded, Padded);
            for (int c = 0; c < Outputs; c++)
                flips[c] = row[c] == 1 ? int.MinValue : row[c] == 0 ? 0
                    : throw new ArgumentOutOfRangeException(nameof(x), row[c], $"Row {r}, column {c}: a binary unit's value must be 0 or 1.");
            flips[Outputs..].Clear();
        }
        TargetRows = rows;
    }

    internal void EnsureRows(int rows)
    {
        if (Products.Length >= rows * 16) return;
        Lanes = new double[rows * 16];
        Products = new float[rows * 16];
    }
}

public static unsafe partial class Kernels
{
    /// <summary>
    /// rowSums[r] += Σ_c ln Bernoulli(x_c | sigmoid(b_c + input_r · W[c, ·])), x the target row rowSource[r] (set on
    /// <paramref name="operands"/>), in one pass that never writes the logits: each 8 × 32 tile of them starts from the biases,
    /// takes Wᵀ's rows with broadcast multiply-adds (no packing; Wᵀ was laid out once), and adds its terms to its rows' sums
    /// while it is in registers. The terms are kept as <see cref="AccumulateBernoulliLogProb(ReadOnlySpan{float}, ReadOnlySpan{float}, int, ReadOnlySpan{int}, int, int, Span{double}, Span{float})"/>
    /// keeps them (the max(b, 0) in double, the ln(1 + e^{−|b|}) as one ln per lane of a product of factors), so the sums
    /// differ from the forward-then-log-probability path only by the order of each logit's float products. Column panels are
    /// the outer loop, so a panel of Wᵀ stays in the first-level cache while the rows pass it. AVX-512 only (the caller checks
    /// <see cref="Vector512.IsHardwareAccelerated"/>): the tile's 16 accumulators would not fit in AVX2's registers.
    /// </summary>
    internal static void AccumulateBernoulliLogProbOfProduct(ReadOnlySpan<float> input, int rows, BernoulliProductOperands operands, ReadOnlySpan<int> rowSource,
        Span<double> rowSums)
    {
        if (!Vector512.IsHardwareAccelerated) throw new PlatformNotSupportedException("The fused Bernoulli product needs AVX-512.");
        if (rows <= 0) return;
        int k = operands.Inputs;
        if (input.Length < (long)rows * k) throw new ArgumentException($"input holds {input.Length} values, fewer than {rows} rows of {k}.", nameof(input));
        if (rowSums.Length < rows) throw new ArgumentException($"rowSums holds {rowSums.Length} values, fewer than the {rows} rows.", nameof(rowSums));
        if (rowSource.IsEmpty) throw new ArgumentException("A row source is needed: row r's targets are row rowSource[r].", nameof(rowSource));
        CheckRowSource(rowSource, rows, operands.TargetRows);
        operands.EnsureRows(rows);
        int pieces = Pieces((long)rows * operands.Padded);
        fixed (float* h = input, wt = operands.TransposedWeight, bias = operands.Bias, products = operands.Products)
        fixed (int* flips = operands.Flips, source = rowSource)
        fixed (double* lanes = operands.Lanes, sums = rowSums)
        {
            var work = new BernoulliProductWork
            {
                Ranges = new(rows, pieces, align: TileRows), Input = h, TransposedWeight = wt, Bias = bias, Flips = flips, RowSource = source,
                Lanes = lanes, Products = products, RowSums = sums, Inputs = k, Padded = operands.Padded,
            };
            if (pieces == 1) work.Execute(0);
            else WorkerPool.Current.Run(pieces, work);
        }
    }

    private const int TileRows = 8;

    /// <summary>Two-vector panels a lane's product takes before its ln is folded into the double lanes: 2 factors ≤ 2 each, within <see cref="MaxFactors"/>.</summary>
    private const int PanelsPerFold = MaxFactors / 2;

    private struct BernoulliProductWork : IPieceWork
    {
        public PieceRanges Ranges;   // of rows, in whole tiles
        public float* Input, TransposedWeight, Bias, Products;
        public int* Flips, RowSource;
        public double* Lanes, RowSums;
        public int Inputs, Padded;

        public readonly void Execute(int piece)
        {
            if (!Ranges.Get(piece, out int r0, out int r1)) return;
            BernoulliProductRows(this, r0, r1);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void BernoulliProductRows(in BernoulliProductWork w, int r0, int r1)
    {
        for (int r = r0; r < r1; r++)
        {
            Vector512<double>.Zero.Store(w.Lanes + r * 16);
            Vector512<double>.Zero.Store(w.Lanes + r * 16 + 8);
            Vector512<float>.One.Store(w.Products + r * 16);
        }
        int padded = w.Padded, c = 0, panels = 0;
        for (; c + 32 <= padded; c += 32)
        {
            for (int t = r0; t < r1; t += TileRows) ProductTile(w, t, Math.Min(TileRows, r1 - t), c, two: true);
            if (++panels == PanelsPerFold)
            {
                FoldProducts(w, r0, r1);
                panels = 0;
            }
        }
        if (c < padded)
            for (int t = r0; t < r1; t += TileRows) ProductTile(w, t, Math.Min(TileRows, r1 - t), c, two: false);
        FoldProducts(w, r0, r1);
        for (int r = r0; r < r1; r++)
            w.RowSums[r] -= Vector512.Sum(Vector512.Load(w.Lanes + r * 16) + Vector512.Load(w.Lanes + r * 16 + 8));
    }

    /// <summary>Each row's lanes += ln of its product (its exponent's e ln 2 and its mantissa's ln, in double); the product starts again at 1.</summary>
    private static void FoldProducts(in BernoulliProductWork w, int r0, int r1)
    {
        Vector512<double> ln2 = Vector512.Create(Math.Log(2));
        for (int r = r0; r < r1; r++)
        {
            double* lanes = w.Lanes + r * 16;
            Vector512<float> product = Vector512.Load(w.Products + r * 16);
            // A NaN logit made its lane's product NaN (its max term is 0): kept, so the row's ln p is NaN, which the estimators refuse, not a finite wrong value.
            Vector512<float> logMantissa = VectorMath.KeepNaN(product, VectorMath.LogOfPositiveParts(product, out Vector512<float> exponent));
            (Vector512.Load(lanes) + Vector512.FusedMultiplyAdd(Vector512.WidenLower(exponent), ln2, Vector512.WidenLower(logMantissa))).Store(lanes);
            (Vector512.Load(lanes + 8) + Vector512.FusedMultiplyAdd(Vector512.WidenUpper(exponent), ln2, Vector512.WidenUpper(logMantissa))).Store(lanes + 8);
            Vector512<float>.One.Store(w.Products + r * 16);
        }
    }

    /// <summary>
    /// The logits of rows [row0, row0 + count) (count ≤ 8; a short tile repeats its last row and drops it) and columns
    /// [c, c + 32) (16 when not <paramref name="two"/>), from the biases and Wᵀ's rows, then their terms into the rows' state.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ProductTile(in BernoulliProductWork w, int row0, int count, int c, bool two)
    {
        int k = w.Inputs;
        nint ldb = w.Padded;
        float* a0 = w.Input + (nint)row0 * k, last = a0 + (nint)(count - 1) * k;
        float* a1 = count > 1 ? a0 + k : last, a2 = count > 2 ? a0 + 2 * k : last, a3 = count > 3 ? a0 + 3 * k : last,
            a4 = count > 4 ? a0 + 4 * k : last, a5 = count > 5 ? a0 + 5 * k : last, a6 = count > 6 ? a0 + 6 * k : last, a7 = count > 7 ? a0 + 7 * k : last;
        float* b = w.TransposedWeight + c;
        Vector512<float> b0 = Vector512.Load(w.Bias + c), b1 = two ? Vector512.Load(w.Bias + c + 16) : default;
        Vector512<float> c00 = b0, c01 = b1, c10 = b0, c11 = b1, c20 = b0, c21 = b1, c30 = b0, c31 = b1,
            c40 = b0, c41 = b1, c50 = b0, c51 = b1, c60 = b0, c61 = b1, c70 = b0, c71 = b1;
        if (two)
        {
            for (int p = 0; p < k; p++, b += ldb)
            {
                Vector512<float> w0 = Vector512.Load(b), w1 = Vector512.Load(b + 16);
                Vector512<float> v = Vector512.Create(a0[p]);
                c00 = Vector512.FusedMultiplyAdd(v, w0, c00); c01 = Vector512.FusedMultiplyAdd(v, w1, c01);
                v = Vector512.Create(a1[p]);
                c10 = Vector512.FusedMultiplyAdd(v, w0, c10); c11 = Vector512.FusedMultiplyAdd(v, w1, c11);
                v = Vector512.Create(a2[p]);
                c20 = Vector512.FusedMultiplyAdd(v, w0, c20); c21 = Vector512.FusedMultiplyAdd(v, w1, c21);
                v = Vector512.Create(a3[p]);
                c30 = Vector512.FusedMultiplyAdd(v, w0, c30); c31 = Vector512.FusedMultiplyAdd(v, w1, c31);
                v = Vector512.Create(a4[p]);
                c40 = Vector512.FusedMultiplyAdd(v, w0, c40); c41 = Vector512.FusedMultiplyAdd(v, w1, c41);
                v = Vector512.Create(a5[p]);
                c50 = Vector512.FusedMultiplyAdd(v, w0, c50); c51 = Vector512.FusedMultiplyAdd(v, w1, c51);
                v = Vector512.Create(a6[p]);
                c60 = Vector512.FusedMultiplyAdd(v, w0, c60); c61 = Vector512.FusedMultiplyAdd(v, w1, c61);
                v = Vector512.Create(a7[p]);
                c70 = Vector512.FusedMultiplyAdd(v, w0, c70); c71 = Vector512.FusedMultiplyAdd(v, w1, c71);
            }
        }
        else
        {
            for (int p = 0; p < k; p++, b += ldb)
            {
                Vector512<float> w0 = Vector512.Load(b);
                c00 = Vector512.FusedMultiplyAdd(Vector512.Create(a0[p]), w0, c00);
                c10 = Vector512.FusedMultiplyAdd(Vector512.Create(a1[p]), w0, c10);
                c20 = Vector512.FusedMultiplyAdd(Vector512.Create(a2[p]), w0, c20);
                c30 = Vector512.FusedMultiplyAdd(Vector512.Create(a3[p]), w0, c30);
                c40 = Vector512.FusedMultiplyAdd(Vector512.Create(a4[p]), w0, c40);
                c50 = Vector512.FusedMultiplyAdd(Vector512.Create(a5[p]), w0, c50);
                c60 = Vector512.FusedMultiplyAdd(Vector512.Create(a6[p]), w0, c60);
                c70 = Vector512.FusedMultiplyAdd(Vector512.Create(a7[p]), w0, c70);
            }
        }
        ProductTerms(w, row0, c, two, c00, c01);
        if (count > 1) ProductTerms(w, row0 + 1, c, two, c10, c11);
        if (count > 2) ProductTerms(w, row0 + 2, c, two, c20, c21);
        if (count > 3) ProductTerms(w, row0 + 3, c, two, c30, c31);
        if (count > 4) ProductTerms(w, row0 + 4, c, two, c40, c41);
        if (count > 5) ProductTerms(w, row0 + 5, c, two, c50, c51);
        if (count > 6) ProductTerms(w, row0 + 6, c, two, c60, c61);
        if (count > 7) ProductTerms(w, row0 + 7, c, two, c70, c71);
    }

    /// <summary>One row's logits of a tile into its state: −ln p = softplus(b), b = ±a by x's bit, in the two parts the lanes keep.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ProductTerms(in BernoulliProductWork w, int row, int c, bool two, Vector512<float> a0, Vector512<float> a1)
    {
        int* flips = w.Flips + (nint)w.RowSource[row] * w.Padded + c;
        double* lanes = w.Lanes + row * 16;
        float* products = w.Products + row * 16;
        Vector512<double> low = Vector512.Load(lanes), high = Vector512.Load(lanes + 8);
        Vector512<float> product = Vector512.Load(products);
        Vector512<float> b = (a0.AsInt32() ^ Vector512.Load(flips)).AsSingle();
        Vector512<float> m = VectorMath.Max(b, Vector512<float>.Zero);
        low += Vector512.WidenLower(m);
        high += Vector512.WidenUpper(m);
        product = Vector512.FusedMultiplyAdd(product, VectorMath.Exp(-Vector512.Abs(b)), product);
        if (two)
        {
            b = (a1.AsInt32() ^ Vector512.Load(flips + 16)).AsSingle();
            m = VectorMath.Max(b, Vector512<float>.Zero);
            low += Vector512.WidenLower(m);
            high += Vector512.WidenUpper(m);
            product = Vector512.FusedMultiplyAdd(product, VectorMath.Exp(-Vector512.Abs(b)), product);
        }
        low.Store(lanes);
        high.Store(lanes + 8);
        product.Store(products);
    }
}
