using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Microsoft.ML.Helmholtz.Numerics;

// Bernoulli units: log-probabilities, their gradient, sampling and curvature.
public static unsafe partial class Kernels
{
    /// <summary>
    /// rowSums[r] += Σ_c ln Bernoulli(x[r,c] | sigmoid(a[r,c])) = Σ_c −softplus((1 − 2x) a) for x in {0, 1}
    /// (= x·a − softplus(a), kept exact at a = ±∞).
    /// </summary>
    public static void AccumulateBernoulliLogProb(ReadOnlySpan<float> logits, ReadOnlySpan<float> x, int rows, int columns, Span<double> rowSums)
        => AccumulateBernoulliLogProb(logits, x, rows, default, rows, columns, rowSums);

    /// <summary>
    /// The same with x row r taken from row rowSource[r] of the <paramref name="xRows"/> rows of
    /// <paramref name="x"/> (rows that share their data, as the K samples of one example do, are not copied).
    /// An empty rowSource means row r of x. When <paramref name="expNegAbs"/> is not empty, e^{−|a|} of every
    /// logit is written there on the way (the kernel forms it anyway), for <see cref="BernoulliLogProbGradient"/>.
    /// </summary>
    public static void AccumulateBernoulliLogProb(ReadOnlySpan<float> logits, ReadOnlySpan<float> x, int xRows, ReadOnlySpan<int> rowSource, int rows, int columns, Span<double> rowSums,
        Span<float> expNegAbs = default)
    {
        int n = rows * columns;
        logits = logits[..n]; x = x[..(xRows * columns)]; rowSums = rowSums[..rows];
        if (!expNegAbs.IsEmpty) expNegAbs = expNegAbs[..n];
        CheckRowSource(rowSource, rows, xRows);
        int pieces = Pieces(n);
        if (pieces == 1)
        {
            BernoulliLogProbRows(logits, x, rowSource, columns, rowSums, expNegAbs, 0, rows);
            return;
        }
        fixed (float* a = logits, v = x, e = expNegAbs)
        fixed (int* source = rowSource)
        fixed (double* sums = rowSums)
            WorkerPool.Current.Run(pieces, new BernoulliLogProbWork
            {
                Ranges = new(rows, pieces), Logits = a, X = v, RowSource = source, RowSums = sums, ExpNegAbs = e,
                XRows = xRows, Rows = rows, Columns = columns, SoftTargets = false,
            });
    }

    /// <summary>Rows of the binary or the soft-target log-probability on the worker pool.</summary>
    private struct BernoulliLogProbWork : IPieceWork
    {
        public PieceRanges Ranges;   // of rows
        public float* Logits, X;
        public float* ExpNegAbs;     // null: not kept (always for soft targets)
        public int* RowSource;       // null: row r of X
        public double* RowSums;
        public int XRows, Rows, Columns;
        public bool SoftTargets;     // x in [0, 1] (SoftBernoulliLogProbRows), else in {0, 1}

        public readonly void Execute(int piece)
        {
            if (!Ranges.Get(piece, out int r0, out int r1)) return;
            var logits = new ReadOnlySpan<float>(Logits, Rows * Columns);
            var x = new ReadOnlySpan<float>(X, XRows * Columns);
            var sums = new Span<double>(RowSums, Rows);
            if (SoftTargets) SoftBernoulliLogProbRows(logits, x, SpanOrEmpty(RowSource, Rows), Columns, sums, r0, r1);
            else BernoulliLogProbRows(logits, x, SpanOrEmpty(RowSource, Rows), Columns, sums, ExpNegAbs is null ? default : new Span<float>(ExpNegAbs, Rows * Columns), r0, r1);
        }
    }

    private static void BernoulliLogProbRows(ReadOnlySpan<float> logits, ReadOnlySpan<float> x, ReadOnlySpan<int> rowSource, int columns, Span<double> rowSums,
        Span<float> expNegAbs, int r0, int r1)
    {
        if (Vector512.IsHardwareAccelerated) BernoulliLogProbRows<WideSums>(logits, x, rowSource, columns, rowSums, expNegAbs, r0, r1);
        else BernoulliLogProbRows<HalfSums>(logits, x, rowSource, columns, rowSums, expNegAbs, r0, r1);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void BernoulliLogProbRows<TSums>(ReadOnlySpan<float> logits, ReadOnlySpan<float> x, ReadOnlySpan<int> rowSource, int columns, Span<double> rowSums,
        Span<float> expNegAbs, int r0, int r1)
        where TSums : struct, ILaneSums<TSums>
    {
        bool keep = !expNegAbs.IsEmpty;
        for (int r = r0; r < r1; r++)
        {
            ReadOnlySpan<float> a = logits.Slice(r * columns, columns);
            Span<float> kept = keep ? expNegAbs.Slice(r * columns, columns) : default;
            ReadOnlySpan<float> v = x.Slice((rowSource.IsEmpty ? r : rowSource[r]) * columns, columns);
            int c = 0;
            double sum = 0;
            if (Wide && columns >= W)
            {
                // −ln p = softplus(b) = max(b, 0) + ln(1 + t), b = ±a, t = e^{−|b|}. The max terms are added in
                // double, as the scalar loop adds its terms (rows mix terms of 1e4 and 1e-3). The ln(1 + t) terms
                // are one ln per lane of the product of the factors 1 + t ∈ [1, 2], taken every MaxFactors
                // vectors: a multiply-add per element instead of a division and a polynomial.
                TSums sums = TSums.Zero;
                Vector512<float> product = Vector512<float>.One;
                int factors = 0;
                for (; c <= columns - W; c += W)
                {
                    Vector512<float> t = SoftplusParts(BernoulliSoftplusArgument(a, v, c), ref sums, ref product);
                    if (keep) VectorMath.Store(t, kept, c);
                    if (++factors == MaxFactors)
                    {
                        AddLogOfProduct(ref product, ref sums);
                        factors = 0;
                    }
                }
                if (c < columns)
                {
                    Vector512<float> b = BernoulliSoftplusArgument(a, v, columns - W);
                    Vector512<float> fresh = LastLanes(columns - c);
                    sums.Add(VectorMath.Max(b, Vector512<float>.Zero) & fresh);
                    Vector512<float> t = VectorMath.Exp(-Vector512.Abs(b));
                    if (keep) VectorMath.Store(t, kept, columns - W);   // the overlapped lanes get the same values again
                    product = Vector512.FusedMultiplyAdd(product, t & fresh, product);
                    c = columns;
                }
                AddLogOfProduct(ref product, ref sums);
                sum = -sums.Sum();
            }
            for (; c < columns; c++)
            {
                sum -= Softplus(v[c] != 0 ? -a[c] : a[c]);
                if (keep) kept[c] = MathF.Exp(-MathF.Abs(a[c]));
            }
            rowSums[r] += sum;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> BernoulliSoftplusArgument(ReadOnlySpan<float> a, ReadOnlySpan<float> x, int c)
    {
        // −ln p(x | a) = softplus(a) for x = 0, softplus(−a) for x = 1. Unlike softplus(a) − x·a it holds at
        // a = ±∞ (0 or ∞, where 0·∞ made NaN). The sign flip is the bits of x shifted: 1.0f is 0x3F800000,
        // so x << 8 is the sign bit for x = 1 and 0 for x = 0 (no multiply on the path to the exp).
        Vector512<int> flip = VectorMath.Load(x, c).AsInt32() << 8;
        return (VectorMath.Load(a, c).AsInt32() ^ flip).AsSingle();
    }

    /// <summary>Factors 1 + t ≤ 2 a lane multiplies before its ln is taken: 2^126 stays below float's largest value.</summary>
    private const int MaxFactors = 126;

    /// <summary>softplus(b) in two parts: max(b, 0) added in double to lo/hi, and the factor 1 + e^{−|b|} into <paramref name="product"/>; returns e^{−|b|}.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> SoftplusParts<TSums>(Vector512<float> b, ref TSums sums, ref Vector512<float> product) where TSums : struct, ILaneSums<TSums>
    {
        sums.Add(VectorMath.Max(b, Vector512<float>.Zero));
        // p (1 + t) as one multiply-add, rounded once. t = 0 at |b| = ∞; NaN carries into the product.
        Vector512<float> t = VectorMath.Exp(-Vector512.Abs(b));
        product = Vector512.FusedMultiplyAdd(product, t, product);
        return t;
    }

    /// <summary>
    /// Adds ln of each lane's product (in [1, 2^126], or NaN) to lo/hi in double, its exponent's e ln 2 formed in
    /// double (a float ln near 80 would round by 4e-6), and starts the product again.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddLogOfProduct<TSums>(ref Vector512<float> product, ref TSums sums) where TSums : struct, ILaneSums<TSums>
    {
        sums = WithLogOfProduct(product, sums);
        product = Vector512<float>.One;
    }

    /// <summary>
    /// <paramref name="sums"/> with ln of each lane's product added. Compiled on its own, once a row (or every MaxFactors
    /// vectors): inlined into a row kernel without AVX-512, its emulated 16-lane operations outran the JIT's inlining
    /// budget and were left as about 40 calls a row, each through memory (docs/performance.md). Values in and out, not
    /// refs, so that the kernel's loop keeps its sums and product in registers.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static TSums WithLogOfProduct<TSums>(Vector512<float> product, TSums sums) where TSums : struct, ILaneSums<TSums>
    {
        Vector512<float> logMantissa = VectorMath.LogOfPositiveParts(product, out Vector512<float> exponent);
        logMantissa = VectorMath.KeepNaN(product, logMantissa);   // NaN stays NaN
        sums.AddScaled(exponent, Math.Log(2), logMantissa);
        return sums;
    }

    /// <summary>
    /// rowSums[r] += Σ_c x ln sigmoid(a) + (1 − x) ln(1 − sigmoid(a)) = Σ_c x a − softplus(a), for x anywhere in
    /// [0, 1] (the cross-entropy of soft targets); exact at a = ±∞ where x is 0 or 1. x row r, or row rowSource[r] of its xRows rows.
    /// </summary>
    public static void AccumulateSoftBernoulliLogProb(ReadOnlySpan<float> logits, ReadOnlySpan<float> x, int xRows, ReadOnlySpan<int> rowSource, int rows, int columns, Span<double> rowSums)
    {
        CheckRowSource(rowSource, rows, xRows);
        logits = logits[..(rows * columns)];
        x = x[..(xRows * columns)];
        rowSums = rowSums[..rows];
        int pieces = Pieces((long)rows * columns);
        if (pieces == 1)
        {
            SoftBernoulliLogProbRows(logits, x, rowSource, columns, rowSums, 0, rows);
            return;
        }
        fixed (float* a = logits, v = x)
        fixed (int* source = rowSource)
        fixed (double* sums = rowSums)
            WorkerPool.Current.Run(pieces, new BernoulliLogProbWork
            {
                Ranges = new(rows, pieces), Logits = a, X = v, RowSource = source, RowSums = sums,
                XRows = xRows, Rows = rows, Columns = columns, SoftTargets = true,
            });
    }

    private static void SoftBernoulliLogProbRows(ReadOnlySpan<float> logits, ReadOnlySpan<float> x, ReadOnlySpan<int> rowSource, int columns, Span<double> rowSums, int r0, int r1)
    {
        if (Vector512.IsHardwareAccelerated) SoftBernoulliLogProbRows<WideSums>(logits, x, rowSource, columns, rowSums, r0, r1);
        else SoftBernoulliLogProbRows<HalfSums>(logits, x, rowSource, columns, rowSums, r0, r1);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void SoftBernoulliLogProbRows<TSums>(ReadOnlySpan<float> logits, ReadOnlySpan<float> x, ReadOnlySpan<int> rowSource, int columns, Span<double> rowSums, int r0, int r1)
        where TSums : struct, ILaneSums<TSums>
    {
        for (int r = r0; r < r1; r++)
        {
            ReadOnlySpan<float> a = logits.Slice(r * columns, columns);
            ReadOnlySpan<float> v = x.Slice((rowSource.IsEmpty ? r : rowSource[r]) * columns, columns);
            int c = 0;
            double sum = 0;
            if (Wide && columns >= W)
            {
                // x·a − softplus(a) = [x·a − max(a, 0)] − ln(1 + e^{−|a|}): the first part per lane added in
                // double as the scalar loop adds its terms, the second as the ln of a product of factors (see
                // BernoulliLogProbRows). At |a| = ∞ (or NaN) the scalar loop below takes the row (a finite x·a
                // keeps x = 0 or 1 exact there).
                TSums linearSums = TSums.Zero, logSums = TSums.Zero;
                Vector512<float> product = Vector512<float>.One;
                bool finite = true;
                int factors = 0;
                for (; c <= columns - W; c += W)
                {
                    Vector512<float> av = VectorMath.Load(a, c);
                    Vector512<float> linear = VectorMath.Load(v, c) * av - VectorMath.Max(av, Vector512<float>.Zero);
                    finite &= Vector512.EqualsAll(linear * Vector512<float>.Zero, Vector512<float>.Zero);
                    linearSums.Add(linear);
                    product = Vector512.FusedMultiplyAdd(product, VectorMath.Exp(-Vector512.Abs(av)), product);
                    if (++factors == MaxFactors)
                    {
                        AddLogOfProduct(ref product, ref logSums);
                        factors = 0;
                    }
                }
                AddLogOfProduct(ref product, ref logSums);
                if (finite) sum = linearSums.Sum() - logSums.Sum();
                else c = 0;   // a lane with a = ±∞ or NaN: the exact scalar form for the whole row
            }
            for (; c < columns; c++)
                sum -= v[c] == 0 ? Softplus(a[c]) : v[c] == 1 ? Softplus(-a[c]) : v[c] * Softplus(-a[c]) + (1 - v[c]) * Softplus(a[c]);
            rowSums[r] += sum;
        }
    }

    /// <summary>
    /// dLogits[r,c] = w[r] · (x[r,c] − sigmoid(a[r,c])): the weighted gradient of ln Bernoulli(x | sigmoid(a)), also for x in [0, 1].
    /// sigmoid(a) is formed from u = e^{−|a|} as 1/(1 + u) or u/(1 + u): u is read from <paramref name="expNegAbs"/> when it is
    /// given (as <see cref="AccumulateBernoulliLogProb(ReadOnlySpan{float}, ReadOnlySpan{float}, int, ReadOnlySpan{int}, int, int, Span{double}, Span{float})"/>
    /// wrote it for these logits), which saves the exp and gives the same bits.
    /// </summary>
    public static void BernoulliLogProbGradient(ReadOnlySpan<float> logits, ReadOnlySpan<float> x, int rows, int columns, ReadOnlySpan<float> rowWeights, Span<float> gradient,
        ReadOnlySpan<float> expNegAbs = default)
    {
        int n = rows * columns;
        logits = logits[..n]; x = x[..n]; rowWeights = rowWeights[..rows]; gradient = gradient[..n];
        if (!expNegAbs.IsEmpty) expNegAbs = expNegAbs[..n];
        int pieces = Pieces(n);
        if (pieces == 1)
        {
            BernoulliLogProbGradientRows(logits, x, columns, rowWeights, gradient, expNegAbs, 0, rows);
            return;
        }
        fixed (float* a = logits, v = x, w = rowWeights, g = gradient, e = expNegAbs)
            WorkerPool.Current.Run(pieces, new BernoulliLogProbGradientWork
            {
                Ranges = new(rows, pieces), Logits = a, X = v, RowWeights = w, Gradient = g, ExpNegAbs = e,
                Rows = rows, Columns = columns,
            });
    }

    private struct BernoulliLogProbGradientWork : IPieceWork
    {
        public PieceRanges Ranges;   // of rows
        public float* Logits, X, RowWeights, Gradient;
        public float* ExpNegAbs;     // null: formed here
        public int Rows, Columns;

        public readonly void Execute(int piece)
        {
            if (!Ranges.Get(piece, out int r0, out int r1)) return;
            int n = Rows * Columns;
            BernoulliLogProbGradientRows(new ReadOnlySpan<float>(Logits, n), new ReadOnlySpan<float>(X, n), Columns, new ReadOnlySpan<float>(RowWeights, Rows),
                new Span<float>(Gradient, n), ExpNegAbs is null ? default : new ReadOnlySpan<float>(ExpNegAbs, n), r0, r1);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void BernoulliLogProbGradientRows(ReadOnlySpan<float> logits, ReadOnlySpan<float> x, int columns, ReadOnlySpan<float> rowWeights, Span<float> gradient,
        ReadOnlySpan<float> expNegAbs, int r0, int r1)
    {
        bool kept = !expNegAbs.IsEmpty;
        for (int r = r0; r < r1; r++)
        {
            float w = rowWeights[r];
            int o = r * columns, end = o + columns, i = o;
            if (Wide && columns >= W)
            {
                var wv = Vector512.Create(w);
                for (; i <= end - W; i += W)
                    VectorMath.Store(wv * (VectorMath.Load(x, i) - SigmoidOf(VectorMath.Load(logits, i), kept, expNegAbs, i)), gradient, i);
                if (i < end)
                {
                    Vector512<float> fresh = LastLanes(end - i);
                    i = end - W; // overlaps: only the new lanes are written (the gradient may be the logits' or x's buffer)
                    Vector512<float> value = wv * (VectorMath.Load(x, i) - SigmoidOf(VectorMath.Load(logits, i), kept, expNegAbs, i));
                    VectorMath.Store(VectorMath.Select(fresh, value, VectorMath.Load(gradient, i)), gradient, i);
                    i = end;
                }
            }
            for (; i < end; i++)
            {
                float a = logits[i], u = kept ? expNegAbs[i] : MathF.Exp(-MathF.Abs(a));
                gradient[i] = w * (x[i] - (a >= 0 ? 1f : u) / (1f + u));
            }
        }
    }

    /// <summary>sigmoid(a) = 1/(1 + u) for a ≥ 0 and u/(1 + u) below, u = e^{−|a|} (read at <paramref name="i"/> when kept); NaN stays NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> SigmoidOf(Vector512<float> a, bool kept, ReadOnlySpan<float> expNegAbs, int i)
    {
        Vector512<float> u = kept ? VectorMath.Load(expNegAbs, i) : VectorMath.Exp(-Vector512.Abs(a));
        return VectorMath.Select(Vector512.GreaterThanOrEqual(a, Vector512<float>.Zero), Vector512<float>.One, u) / (Vector512<float>.One + u);
    }

    /// <summary>y = 1 where u &lt; sigmoid(a), else 0.</summary>
    public static void SampleBernoulli(ReadOnlySpan<float> logits, ReadOnlySpan<float> uniforms, Span<float> y)
    {
        int n = y.Length;
        logits = logits[..n]; uniforms = uniforms[..n];
        int pieces = Pieces(n);
        if (pieces == 1)
        {
            SampleBernoulliRange(logits, uniforms, y, 0, n);
            return;
        }
        fixed (float* a = logits, u = uniforms, py = y)
            WorkerPool.Current.Run(pieces, new SampleBernoulliWork { Ranges = new(n, pieces, W), Logits = a, Uniforms = u, Y = py, Length = n });
    }

    private struct SampleBernoulliWork : IPieceWork
    {
        public PieceRanges Ranges;   // of elements
        public float* Logits, Uniforms, Y;
        public int Length;

        public readonly void Execute(int piece)
        {
            if (Ranges.Get(piece, out int start, out int end))
                SampleBernoulliRange(new ReadOnlySpan<float>(Logits, Length), new ReadOnlySpan<float>(Uniforms, Length), new Span<float>(Y, Length), start, end);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void SampleBernoulliRange(ReadOnlySpan<float> logits, ReadOnlySpan<float> uniforms, Span<float> y, int start, int end)
    {
        int i = start;
        if (Wide)
        {
            for (; i <= end - W; i += W)
            {
                Vector512<float> hit = Vector512.LessThan(VectorMath.Load(uniforms, i), VectorMath.Sigmoid(VectorMath.Load(logits, i)));
                VectorMath.Store(hit & Vector512<float>.One, y, i);
            }
            if (i < end)
            {
                Tail a = new(logits, i, end);
                a.Store(Vector512.LessThan(a.Of(uniforms), VectorMath.Sigmoid(a.Vector)) & Vector512<float>.One, y);
            }
            return;
        }
        for (; i < end; i++)
            y[i] = uniforms[i] < Sigmoid(logits[i]) ? 1f : 0f;
    }

    /// <summary>κ = sigmoid(a) (1 − sigmoid(a)): the curvature of −ln Bernoulli(y | sigmoid(a)) in a.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static void BernoulliCurvature(ReadOnlySpan<float> logits, Span<float> kappa)
    {
        int n = kappa.Length, i = 0;
        if (Wide)
        {
            for (; i <= n - W; i += W)
            {
                Vector512<float> s = VectorMath.Sigmoid(VectorMath.Load(logits, i));
                VectorMath.Store(s * (Vector512<float>.One - s), kappa, i);
            }
        }
        for (; i < n; i++)
        {
            float s = Sigmoid(logits[i]);
            kappa[i] = s * (1f - s);
        }
    }
}
