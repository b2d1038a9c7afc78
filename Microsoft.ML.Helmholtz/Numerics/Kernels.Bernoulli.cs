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
    /// An empty rowSource means row r of x.
    /// </summary>
    public static void AccumulateBernoulliLogProb(ReadOnlySpan<float> logits, ReadOnlySpan<float> x, int xRows, ReadOnlySpan<int> rowSource, int rows, int columns, Span<double> rowSums)
    {
        int n = rows * columns;
        logits = logits[..n]; x = x[..(xRows * columns)]; rowSums = rowSums[..rows];
        CheckRowSource(rowSource, rows, xRows);
        int pieces = Pieces(n);
        if (pieces == 1)
        {
            BernoulliLogProbRows(logits, x, rowSource, columns, rowSums, 0, rows);
            return;
        }
        fixed (float* a = logits, v = x)
        fixed (int* source = rowSource)
        fixed (double* sums = rowSums)
            WorkerPool.Current.Run(pieces, new BernoulliLogProbWork
            {
                Ranges = new(rows, pieces), Logits = a, X = v, RowSource = source, RowSums = sums,
                XRows = xRows, Rows = rows, Columns = columns,
            });
    }

    private struct BernoulliLogProbWork : IPieceWork
    {
        public PieceRanges Ranges;   // of rows
        public float* Logits, X;
        public int* RowSource;       // null: row r of X
        public double* RowSums;
        public int XRows, Rows, Columns;

        public readonly void Execute(int piece)
        {
            if (Ranges.Get(piece, out int r0, out int r1))
                BernoulliLogProbRows(new ReadOnlySpan<float>(Logits, Rows * Columns), new ReadOnlySpan<float>(X, XRows * Columns),
                    SpanOrEmpty(RowSource, Rows), Columns, new Span<double>(RowSums, Rows), r0, r1);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void BernoulliLogProbRows(ReadOnlySpan<float> logits, ReadOnlySpan<float> x, ReadOnlySpan<int> rowSource, int columns, Span<double> rowSums, int r0, int r1)
    {
        for (int r = r0; r < r1; r++)
        {
            ReadOnlySpan<float> a = logits.Slice(r * columns, columns);
            ReadOnlySpan<float> v = x.Slice((rowSource.IsEmpty ? r : rowSource[r]) * columns, columns);
            int c = 0;
            double sum = 0;
            if (Wide && columns >= W)
            {
                // Each float term is added in double, as the scalar loop does: rows mix terms of ±1e4 and ~1e-3.
                Vector512<double> lo = Vector512<double>.Zero, hi = Vector512<double>.Zero;
                for (; c <= columns - W; c += W)
                {
                    Vector512<float> term = NegativeBernoulliTerm(a, v, c);
                    lo -= Vector512.WidenLower(term);
                    hi -= Vector512.WidenUpper(term);
                }
                if (c < columns)
                {
                    Vector512<float> term = NegativeBernoulliTerm(a, v, columns - W) & LastLanes(columns - c);
                    lo -= Vector512.WidenLower(term);
                    hi -= Vector512.WidenUpper(term);
                    c = columns;
                }
                sum = Vector512.Sum(lo + hi);
            }
            for (; c < columns; c++)
                sum -= Softplus(v[c] != 0 ? -a[c] : a[c]);
            rowSums[r] += sum;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> NegativeBernoulliTerm(ReadOnlySpan<float> a, ReadOnlySpan<float> x, int c)
    {
        // −ln p(x | a) = softplus(a) for x = 0, softplus(−a) for x = 1. Unlike softplus(a) − x·a it holds at
        // a = ±∞ (0 or ∞, where 0·∞ made NaN). The sign flip is the bits of x shifted: 1.0f is 0x3F800000,
        // so x << 8 is the sign bit for x = 1 and 0 for x = 0 (no multiply on the path to the exp).
        Vector512<int> flip = VectorMath.Load(x, c).AsInt32() << 8;
        return VectorMath.Softplus((VectorMath.Load(a, c).AsInt32() ^ flip).AsSingle());
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
            WorkerPool.Current.Run(pieces, new SoftBernoulliLogProbWork
            {
                Ranges = new(rows, pieces), Logits = a, X = v, RowSource = source, RowSums = sums, XRows = xRows, Rows = rows, Columns = columns,
            });
    }

    private struct SoftBernoulliLogProbWork : IPieceWork
    {
        public PieceRanges Ranges;   // of rows
        public float* Logits, X;
        public int* RowSource;       // null: row r of X
        public double* RowSums;
        public int XRows, Rows, Columns;

        public readonly void Execute(int piece)
        {
            if (Ranges.Get(piece, out int r0, out int r1))
                SoftBernoulliLogProbRows(new ReadOnlySpan<float>(Logits, Rows * Columns), new ReadOnlySpan<float>(X, XRows * Columns),
                    SpanOrEmpty(RowSource, Rows), Columns, new Span<double>(RowSums, Rows), r0, r1);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void SoftBernoulliLogProbRows(ReadOnlySpan<float> logits, ReadOnlySpan<float> x, ReadOnlySpan<int> rowSource, int columns, Span<double> rowSums, int r0, int r1)
    {
        for (int r = r0; r < r1; r++)
        {
            ReadOnlySpan<float> a = logits.Slice(r * columns, columns);
            ReadOnlySpan<float> v = x.Slice((rowSource.IsEmpty ? r : rowSource[r]) * columns, columns);
            int c = 0;
            double sum = 0;
            if (Wide && columns >= W)
            {
                // x·a − softplus(a) per lane, each added in double as the scalar loop does. At |a| = ∞ the
                // scalar loop below takes the lanes (a finite x·a keeps x = 0 or 1 exact there).
                Vector512<double> lo = Vector512<double>.Zero, hi = Vector512<double>.Zero;
                bool finite = true;
                for (; c <= columns - W; c += W)
                {
                    Vector512<float> av = VectorMath.Load(a, c), term = VectorMath.Load(v, c) * av - VectorMath.Softplus(av);
                    finite &= Vector512.EqualsAll(term * Vector512<float>.Zero, Vector512<float>.Zero);
                    lo += Vector512.WidenLower(term);
                    hi += Vector512.WidenUpper(term);
                }
                if (finite) sum = Vector512.Sum(lo + hi);
                else c = 0;   // a lane with a = ±∞: the exact scalar form for the whole row
            }
            for (; c < columns; c++)
                sum -= v[c] == 0 ? Softplus(a[c]) : v[c] == 1 ? Softplus(-a[c]) : v[c] * Softplus(-a[c]) + (1 - v[c]) * Softplus(a[c]);
            rowSums[r] += sum;
        }
    }

    /// <summary>dLogits[r,c] = w[r] · (x[r,c] − sigmoid(a[r,c])): the weighted gradient of ln Bernoulli(x | sigmoid(a)), also for x in [0, 1].</summary>
    public static void BernoulliLogProbGradient(ReadOnlySpan<float> logits, ReadOnlySpan<float> x, int rows, int columns, ReadOnlySpan<float> rowWeights, Span<float> gradient)
    {
        int n = rows * columns;
        logits = logits[..n]; x = x[..n]; rowWeights = rowWeights[..rows]; gradient = gradient[..n];
        int pieces = Pieces(n);
        if (pieces == 1)
        {
            BernoulliLogProbGradientRows(logits, x, columns, rowWeights, gradient, 0, rows);
            return;
        }
        fixed (float* a = logits, v = x, w = rowWeights, g = gradient)
            WorkerPool.Current.Run(pieces, new BernoulliLogProbGradientWork
            {
                Ranges = new(rows, pieces), Logits = a, X = v, RowWeights = w, Gradient = g,
                Rows = rows, Columns = columns,
            });
    }

    private struct BernoulliLogProbGradientWork : IPieceWork
    {
        public PieceRanges Ranges;   // of rows
        public float* Logits, X, RowWeights, Gradient;
        public int Rows, Columns;

        public readonly void Execute(int piece)
        {
            if (!Ranges.Get(piece, out int r0, out int r1)) return;
            int n = Rows * Columns;
            BernoulliLogProbGradientRows(new ReadOnlySpan<float>(Logits, n), new ReadOnlySpan<float>(X, n), Columns, new ReadOnlySpan<float>(RowWeights, Rows),
                new Span<float>(Gradient, n), r0, r1);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void BernoulliLogProbGradientRows(ReadOnlySpan<float> logits, ReadOnlySpan<float> x, int columns, ReadOnlySpan<float> rowWeights, Span<float> gradient, int r0, int r1)
    {
        for (int r = r0; r < r1; r++)
        {
            float w = rowWeights[r];
            int o = r * columns, end = o + columns, i = o;
            if (Wide && columns >= W)
            {
                var wv = Vector512.Create(w);
                for (; i <= end - W; i += W)
                    VectorMath.Store(wv * (VectorMath.Load(x, i) - VectorMath.Sigmoid(VectorMath.Load(logits, i))), gradient, i);
                if (i < end)
                {
                    i = end - W; // overlaps: those lanes get the same values again
                    VectorMath.Store(wv * (VectorMath.Load(x, i) - VectorMath.Sigmoid(VectorMath.Load(logits, i))), gradient, i);
                    i = end;
                }
            }
            for (; i < end; i++)
                gradient[i] = w * (x[i] - Sigmoid(logits[i]));
        }
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
