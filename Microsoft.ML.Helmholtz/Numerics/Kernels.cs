using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Microsoft.ML.Helmholtz.Numerics;

/// <summary>
/// Element-wise kernels and reductions over row-major batches. Each one is a plain loop or a
/// TensorPrimitives call; none allocates. The costly ones split a large batch into pieces of whole
/// rows (or of elements, or of columns for column sums) run on <see cref="WorkerPool"/>; every
/// output element is computed by one piece in the same order, so results do not depend on the split.
/// </summary>
public static unsafe partial class Kernels
{
    public const double LogTwoPi = 1.8378770664093453;

    // A piece below this many elements (a few µs of work) costs more to hand over than it saves.
    private const int MinElementsPerPiece = 8192;

    /// <summary>How many pieces a kernel over <paramref name="elements"/> elements runs in: 1 keeps it on the caller.</summary>
    internal static int Pieces(long elements)
    {
        if (elements < 2 * MinElementsPerPiece) return 1;
        WorkerPool pool = WorkerPool.Current;
        return pool.IsAvailable ? (int)Math.Min(pool.Threads, elements / MinElementsPerPiece) : 1;
    }

    /// <summary>
    /// One kernel call cut into <see cref="Pieces"/> ranges of [0, <see cref="Count"/>) (rows, columns
    /// or elements, as the kernel reads it); each piece calls <see cref="Body"/> on its range with the
    /// kernel's arguments, pinned by the caller for the duration of the loop.
    /// </summary>
    private struct Loop : IPieceWork
    {
        public delegate*<in Loop, int, int, void> Body;
        public float* P0, P1, P2, P3, P4, P5, P6;
        public double* Sums;
        public int* Source;
        public float X;
        public int Count, Rows, Columns, Pieces, Align, SourceRows;
        public bool Flag;

        public readonly void Execute(int piece)
        {
            // Range ends on multiples of Align (the vector width for element ranges), the last at Count.
            int units = (Count + Align - 1) / Align;
            int start = (int)Math.Min(Count, (long)units * piece / Pieces * Align);
            int end = (int)Math.Min(Count, (long)units * (piece + 1) / Pieces * Align);
            if (start < end) Body(in this, start, end);
        }

        public readonly Span<float> Span(float* p, int length) => p == null ? default : new Span<float>(p, length);

        public readonly ReadOnlySpan<int> RowSource => Source == null ? default : new ReadOnlySpan<int>(Source, Rows);

        /// <summary>Rows of the operand that <see cref="RowSource"/> indexes (all rows when there is none).</summary>
        public readonly int OperandRows => Source == null ? Rows : SourceRows;
    }

    private static void Run(int pieces, Loop loop)
    {
        loop.Pieces = pieces;
        if (loop.Align == 0) loop.Align = 1;
        WorkerPool.Current.Run(pieces, loop);
    }

    /// <summary>Copies <paramref name="row"/> into each of the <paramref name="rows"/> rows of <paramref name="destination"/>.</summary>
    public static void BroadcastRows(ReadOnlySpan<float> row, Span<float> destination, int rows, int columns)
    {
        row = row[..columns];
        destination = destination[..(rows * columns)];
        int pieces = Math.Min(Pieces((long)rows * columns), rows);
        if (pieces <= 1)
        {
            BroadcastRowRange(row, destination, columns, 0, rows);
            return;
        }
        fixed (float* pr = row, pd = destination)
            Run(pieces, new Loop { Body = &BroadcastRowsPiece, P0 = pr, P1 = pd, Count = rows, Rows = rows, Columns = columns });
    }

    private static void BroadcastRowsPiece(in Loop l, int r0, int r1)
        => BroadcastRowRange(l.Span(l.P0, l.Columns), l.Span(l.P1, l.Rows * l.Columns), l.Columns, r0, r1);

    private static void BroadcastRowRange(ReadOnlySpan<float> row, Span<float> destination, int columns, int r0, int r1)
    {
        for (int r = r0; r < r1; r++)
            row.CopyTo(destination.Slice(r * columns, columns));
    }

    /// <summary>
    /// destination row r = source row rows[r] (rows of <paramref name="columns"/> values): a shuffled
    /// minibatch, its rows fetched on the pool when there are many.
    /// </summary>
    public static void GatherRows(ReadOnlySpan<float> source, int columns, ReadOnlySpan<int> rows, Span<float> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(columns);
        int count = rows.Length;
        if (count == 0 || columns == 0) return;
        int sourceRows = source.Length / columns;
        destination = destination[..(count * columns)];
        foreach (int row in rows)
            if ((uint)row >= (uint)sourceRows)
                throw new ArgumentOutOfRangeException(nameof(rows), $"Row {row} is outside a source of {sourceRows} rows.");
        int pieces = Math.Min(Pieces((long)count * columns), count);
        if (pieces <= 1)
        {
            GatherRowRange(source, columns, rows, destination, 0, count);
            return;
        }
        fixed (float* ps = source, pd = destination)
        fixed (int* pr = rows)
            Run(pieces, new Loop { Body = &GatherRowsPiece, P0 = ps, P1 = pd, Source = pr, SourceRows = sourceRows, Count = count, Rows = count, Columns = columns });
    }

    private static void GatherRowsPiece(in Loop l, int r0, int r1)
        => GatherRowRange(l.Span(l.P0, l.SourceRows * l.Columns), l.Columns, l.RowSource, l.Span(l.P1, l.Rows * l.Columns), r0, r1);

    private static void GatherRowRange(ReadOnlySpan<float> source, int columns, ReadOnlySpan<int> rows, Span<float> destination, int r0, int r1)
    {
        for (int r = r0; r < r1; r++)
            source.Slice(rows[r] * columns, columns).CopyTo(destination.Slice(r * columns, columns));
    }

    /// <summary>accumulator[c] += Σ_r m[r, c] (each column summed over rows in order; large ones split by columns).</summary>
    public static void AddColumnSums(ReadOnlySpan<float> m, int rows, int columns, Span<float> accumulator)
    {
        m = m[..(rows * columns)];
        accumulator = accumulator[..columns];
        int pieces = Math.Min(Pieces((long)rows * columns), columns / 64);
        if (pieces <= 1)
        {
            ColumnSums(m, rows, columns, accumulator, 0, columns);
            return;
        }
        fixed (float* pm = m, acc = accumulator)
            Run(pieces, new Loop { Body = &ColumnSumsPiece, P0 = pm, P1 = acc, Count = columns, Rows = rows, Columns = columns, Align = W });
    }

    private static void ColumnSumsPiece(in Loop l, int c0, int c1)
        => ColumnSums(l.Span(l.P0, l.Rows * l.Columns), l.Rows, l.Columns, l.Span(l.P1, l.Columns), c0, c1);

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void ColumnSums(ReadOnlySpan<float> m, int rows, int columns, Span<float> accumulator, int c0, int c1)
    {
        int c = c0;
        if (Wide)
        {
            // 64 columns at a time summed down all rows in registers, then added once: each column
            // still adds its rows in order, so the result is the row-by-row loop's.
            for (; c <= c1 - 4 * W; c += 4 * W)
            {
                Vector512<float> s0 = VectorMath.Load(accumulator, c), s1 = VectorMath.Load(accumulator, c + W);
                Vector512<float> s2 = VectorMath.Load(accumulator, c + 2 * W), s3 = VectorMath.Load(accumulator, c + 3 * W);
                for (int r = 0, o = c; r < rows; r++, o += columns)
                {
                    s0 += VectorMath.Load(m, o); s1 += VectorMath.Load(m, o + W);
                    s2 += VectorMath.Load(m, o + 2 * W); s3 += VectorMath.Load(m, o + 3 * W);
                }
                VectorMath.Store(s0, accumulator, c); VectorMath.Store(s1, accumulator, c + W);
                VectorMath.Store(s2, accumulator, c + 2 * W); VectorMath.Store(s3, accumulator, c + 3 * W);
            }
            for (; c <= c1 - W; c += W)
            {
                Vector512<float> s0 = VectorMath.Load(accumulator, c);
                for (int r = 0, o = c; r < rows; r++, o += columns) s0 += VectorMath.Load(m, o);
                VectorMath.Store(s0, accumulator, c);
            }
        }
        Span<float> acc = accumulator[c..c1];
        for (int r = 0; r < rows; r++)
            TensorPrimitives.Add(acc, m.Slice(r * columns + c, c1 - c), acc);
    }

    public static void Square(ReadOnlySpan<float> x, Span<float> y) => TensorPrimitives.Multiply(x, x, y);

    /// <summary>ln(1 + e^x) without overflow.</summary>
    public static float Softplus(float x) => MathF.Max(x, 0f) + MathF.Log(1f + MathF.Exp(-MathF.Abs(x)));

    public static float Sigmoid(float x) => 1f / (1f + MathF.Exp(-x));

    /// <summary>
    /// The last <paramref name="t"/> lanes set: a row of at least 16 values whose length is not a
    /// multiple of 16 ends with one vector that overlaps the one before it, and only its last t lanes
    /// are new (the overlapped ones recompute the same values, or are masked out of sums and updates).
    /// </summary>
    private static Vector512<float> LastLanes(int t) => Vector512.GreaterThanOrEqual(Vector512<int>.Indices, Vector512.Create(W - t)).AsSingle();

    // Each kernel below runs a 16-lane loop where vectors are fast (AVX-512, or AVX2 as two halves:
    // VectorMath.IsAccelerated) and finishes, or runs entirely elsewhere, with the scalar loop that
    // states its meaning. The vector kernels are compiled on their own, optimised from their first
    // call (NoInlining, AggressiveOptimization): without AVX-512, where each Vector512 operator is a
    // pair of 256-bit ones the JIT must inline, profile-guided tier-1 code that inlined a kernel into
    // its caller left the operators as calls, 10× slower (Adam took 1.2 s an epoch instead of 0.12).
    private static bool Wide => VectorMath.IsAccelerated;
    private const int W = 16;

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
            Run(pieces, new Loop { Body = &BernoulliLogProbPiece, P0 = a, P1 = v, Source = source, SourceRows = xRows, Sums = sums, Count = rows, Rows = rows, Columns = columns });
    }

    private static void BernoulliLogProbPiece(in Loop l, int r0, int r1)
        => BernoulliLogProbRows(l.Span(l.P0, l.Rows * l.Columns), l.Span(l.P1, l.OperandRows * l.Columns), l.RowSource, l.Columns, new Span<double>(l.Sums, l.Rows), r0, r1);

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

    private static void CheckRowSource(ReadOnlySpan<int> rowSource, int rows, int operandRows)
    {
        if (rowSource.IsEmpty)
        {
            if (operandRows < rows) throw new ArgumentException($"The operand has {operandRows} rows; {rows} are needed.");
            return;
        }
        if (rowSource.Length < rows) throw new ArgumentException($"rowSource has {rowSource.Length} entries; {rows} are needed.", nameof(rowSource));
        foreach (int source in rowSource[..rows])
            if ((uint)source >= (uint)operandRows)
                throw new ArgumentOutOfRangeException(nameof(rowSource), $"rowSource names row {source} of an operand with {operandRows} rows.");
    }

    /// <summary>dLogits[r,c] = w[r] · (x[r,c] − sigmoid(a[r,c])): the weighted gradient of ln Bernoulli(x | sigmoid(a)).</summary>
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
            Run(pieces, new Loop { Body = &BernoulliLogProbGradientPiece, P0 = a, P1 = v, P2 = w, P3 = g, Count = rows, Rows = rows, Columns = columns });
    }

    private static void BernoulliLogProbGradientPiece(in Loop l, int r0, int r1)
    {
        int n = l.Rows * l.Columns;
        BernoulliLogProbGradientRows(l.Span(l.P0, n), l.Span(l.P1, n), l.Columns, l.Span(l.P2, l.Rows), l.Span(l.P3, n), r0, r1);
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
            Run(pieces, new Loop { Body = &SampleBernoulliPiece, P0 = a, P1 = u, P2 = py, Count = n, Align = W });
    }

    private static void SampleBernoulliPiece(in Loop l, int start, int end)
        => SampleBernoulliRange(l.Span(l.P0, l.Count), l.Span(l.P1, l.Count), l.Span(l.P2, l.Count), start, end);

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

    /// <summary>y = sigmoid(x).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static void Sigmoid(ReadOnlySpan<float> x, Span<float> y)
    {
        int n = x.Length, i = 0;
        if (Wide)
        {
            for (; i <= n - W; i += W)
                VectorMath.Store(VectorMath.Sigmoid(VectorMath.Load(x, i)), y, i);
            if (i < n)
            {
                Tail a = new(x, i, n);
                a.Store(VectorMath.Sigmoid(a.Vector), y);
            }
            return;
        }
        for (; i < n; i++) y[i] = Sigmoid(x[i]);
    }

    /// <summary>
    /// The last values of a range that do not fill a vector, loaded into one (the other lanes zero):
    /// the vector loops finish with it, so that every value goes through the same vector code
    /// whatever its place in the range, and a row gets the same bits in any batch. A copy, not an
    /// overlapping load, because some kernels write in place.
    /// </summary>
    private readonly ref struct Tail
    {
        private readonly int _start, _count;

        public Tail(ReadOnlySpan<float> x, int start, int end)
        {
            _start = start;
            _count = end - start;
            Span<float> lanes = stackalloc float[W];
            x[start..end].CopyTo(lanes);
            Vector = Vector512.Create<float>(lanes);
        }

        public Vector512<float> Vector { get; }

        /// <summary>The same range of another input.</summary>
        public Vector512<float> Of(ReadOnlySpan<float> other)
        {
            Span<float> lanes = stackalloc float[W];
            other.Slice(_start, _count).CopyTo(lanes);
            return Vector512.Create<float>(lanes);
        }

        public void Store(Vector512<float> result, Span<float> y)
        {
            Span<float> lanes = stackalloc float[W];
            result.CopyTo(lanes);
            lanes[.._count].CopyTo(y[_start..]);
        }
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

    /// <summary>y[r,c] += sign · w[r] · x[r,c].</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static void AddRowScaled(ReadOnlySpan<float> x, ReadOnlySpan<float> rowWeights, float sign, int rows, int columns, Span<float> y)
    {
        for (int r = 0; r < rows; r++)
        {
            float w = sign * rowWeights[r];
            int o = r * columns, end = o + columns, i = o;
            if (Wide && columns >= W)
            {
                var wv = Vector512.Create(w);
                for (; i <= end - W; i += W)
                    VectorMath.Store(VectorMath.Load(y, i) + wv * VectorMath.Load(x, i), y, i);
                if (i < end)
                {
                    Vector512<float> fresh = LastLanes(end - i);
                    i = end - W;
                    Vector512<float> old = VectorMath.Load(y, i);
                    VectorMath.Store(Vector512.ConditionalSelect(fresh, old + wv * VectorMath.Load(x, i), old), y, i);
                    i = end;
                }
            }
            for (; i < end; i++) y[i] += w * x[i];
        }
    }

    /// <summary>rowSums[r] += −½ (Σ_c (y − m)² e^{−s} + s + ln 2π): ln N(y; m, e^s) per row.</summary>
    public static void AccumulateGaussianLogProb(ReadOnlySpan<float> y, ReadOnlySpan<float> mean, ReadOnlySpan<float> logVar, int rows, int columns, Span<double> rowSums)
        => AccumulateGaussianLogProb(y, rows, default, mean, logVar, rows, columns, rowSums);

    /// <summary>The same with y row r taken from row rowSource[r] of the <paramref name="yRows"/> rows of <paramref name="y"/> (empty: row r).</summary>
    public static void AccumulateGaussianLogProb(ReadOnlySpan<float> y, int yRows, ReadOnlySpan<int> rowSource, ReadOnlySpan<float> mean, ReadOnlySpan<float> logVar,
        int rows, int columns, Span<double> rowSums)
    {
        int n = rows * columns;
        y = y[..(yRows * columns)]; mean = mean[..n]; logVar = logVar[..n]; rowSums = rowSums[..rows];
        CheckRowSource(rowSource, rows, yRows);
        int pieces = Pieces(n);
        if (pieces == 1)
        {
            GaussianLogProbRows(y, rowSource, mean, logVar, columns, rowSums, 0, rows);
            return;
        }
        fixed (float* py = y, m = mean, s = logVar)
        fixed (int* source = rowSource)
        fixed (double* sums = rowSums)
            Run(pieces, new Loop { Body = &GaussianLogProbPiece, P0 = py, P1 = m, P2 = s, Source = source, SourceRows = yRows, Sums = sums, Count = rows, Rows = rows, Columns = columns });
    }

    private static void GaussianLogProbPiece(in Loop l, int r0, int r1)
    {
        int n = l.Rows * l.Columns;
        GaussianLogProbRows(l.Span(l.P0, l.OperandRows * l.Columns), l.RowSource, l.Span(l.P1, n), l.Span(l.P2, n), l.Columns, new Span<double>(l.Sums, l.Rows), r0, r1);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void GaussianLogProbRows(ReadOnlySpan<float> y, ReadOnlySpan<int> rowSource, ReadOnlySpan<float> mean, ReadOnlySpan<float> logVar, int columns, Span<double> rowSums, int r0, int r1)
    {
        for (int r = r0; r < r1; r++)
        {
            int o = r * columns, yo = (rowSource.IsEmpty ? r : rowSource[r]) * columns - o, end = o + columns, i = o;
            double sum = 0;
            if (Wide && columns >= W)
            {
                Vector512<double> lo = Vector512<double>.Zero, hi = Vector512<double>.Zero;
                for (; i <= end - W; i += W)
                {
                    Vector512<float> term = GaussianTerm(y, yo, mean, logVar, i);
                    lo += Vector512.WidenLower(term);
                    hi += Vector512.WidenUpper(term);
                }
                if (i < end)
                {
                    Vector512<float> term = GaussianTerm(y, yo, mean, logVar, end - W) & LastLanes(end - i);
                    lo += Vector512.WidenLower(term);
                    hi += Vector512.WidenUpper(term);
                    i = end;
                }
                sum = Vector512.Sum(lo + hi);
            }
            for (; i < end; i++)
            {
                float d = y[yo + i] - mean[i];
                float s = logVar[i];
                sum += d * d * MathF.Exp(-s) + s;
            }
            rowSums[r] += -0.5 * (sum + columns * LogTwoPi);
        }
    }

    /// <summary>(y − m)² e^{−s} + s on 16 lanes from i (y read at yOffset + i).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> GaussianTerm(ReadOnlySpan<float> y, int yOffset, ReadOnlySpan<float> mean, ReadOnlySpan<float> logVar, int i)
    {
        Vector512<float> d = VectorMath.Load(y, yOffset + i) - VectorMath.Load(mean, i);
        Vector512<float> s = VectorMath.Load(logVar, i);
        return d * d * VectorMath.Exp(-s) + s;
    }

    /// <summary>rowSums[r] += −½ (Σ_c ε² + s + ln 2π): ln N(m + e^{s/2} ε; m, e^s) per row, from the noise ε.</summary>
    public static void AccumulateGaussianLogProbOfNoise(ReadOnlySpan<float> noise, ReadOnlySpan<float> logVar, int rows, int columns, Span<double> rowSums)
        => AccumulateHalfNegativeSquares(noise, logVar[..(rows * columns)], rows, columns, rowSums);

    /// <summary>
    /// rowSums[r] += −½ (Σ_c x² + s + ln 2π), with s = 0 where <paramref name="logVar"/> is empty:
    /// the log-density of standard normal x (scaled by e^{s/2}).
    /// </summary>
    private static void AccumulateHalfNegativeSquares(ReadOnlySpan<float> x, ReadOnlySpan<float> logVar, int rows, int columns, Span<double> rowSums)
    {
        int n = rows * columns;
        x = x[..n]; rowSums = rowSums[..rows];
        int pieces = Math.Min(Pieces(n), rows);
        if (pieces <= 1)
        {
            HalfNegativeSquaresRange(x, logVar, columns, rowSums, 0, rows);
            return;
        }
        fixed (float* px = x, ps = logVar)
        fixed (double* sums = rowSums)
            Run(pieces, new Loop { Body = &HalfNegativeSquaresPiece, P0 = px, P1 = ps, Sums = sums, Count = rows, Rows = rows, Columns = columns });
    }

    private static void HalfNegativeSquaresPiece(in Loop l, int r0, int r1)
        => HalfNegativeSquaresRange(l.Span(l.P0, l.Rows * l.Columns), l.Span(l.P1, l.Rows * l.Columns), l.Columns, new Span<double>(l.Sums, l.Rows), r0, r1);

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void HalfNegativeSquaresRange(ReadOnlySpan<float> x, ReadOnlySpan<float> logVar, int columns, Span<double> rowSums, int r0, int r1)
    {
        bool shift = !logVar.IsEmpty;
        for (int r = r0; r < r1; r++)
        {
            int o = r * columns, end = o + columns, i = o;
            double sum = 0;
            if (Wide && columns >= W)
            {
                Vector512<double> lo = Vector512<double>.Zero, hi = Vector512<double>.Zero;
                for (; i <= end - W; i += W)
                {
                    Vector512<float> term = SquarePlus(x, logVar, shift, i);
                    lo += Vector512.WidenLower(term);
                    hi += Vector512.WidenUpper(term);
                }
                if (i < end)
                {
                    Vector512<float> term = SquarePlus(x, logVar, shift, end - W) & LastLanes(end - i);
                    lo += Vector512.WidenLower(term);
                    hi += Vector512.WidenUpper(term);
                    i = end;
                }
                sum = Vector512.Sum(lo + hi);
            }
            for (; i < end; i++) sum += x[i] * x[i] + (shift ? logVar[i] : 0f);
            rowSums[r] += -0.5 * (sum + columns * LogTwoPi);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> SquarePlus(ReadOnlySpan<float> x, ReadOnlySpan<float> logVar, bool shift, int i)
    {
        Vector512<float> v = VectorMath.Load(x, i);
        return shift ? Vector512.FusedMultiplyAdd(v, v, VectorMath.Load(logVar, i)) : v * v;
    }

    /// <summary>
    /// With d = y − m and precision p = e^{−s}: dMean = w d p, dLogVar = w ½ (d² p − 1), and, when
    /// <paramref name="outputGradient"/> is not empty, outputGradient −= w d p.
    /// </summary>
    public static void GaussianLogProbGradient(ReadOnlySpan<float> y, ReadOnlySpan<float> mean, ReadOnlySpan<float> logVar, int rows, int columns,
        ReadOnlySpan<float> rowWeights, Span<float> dMean, Span<float> dLogVar, Span<float> outputGradient)
    {
        int n = rows * columns;
        y = y[..n]; mean = mean[..n]; logVar = logVar[..n]; rowWeights = rowWeights[..rows]; dMean = dMean[..n]; dLogVar = dLogVar[..n];
        if (!outputGradient.IsEmpty) outputGradient = outputGradient[..n];
        int pieces = Pieces(n);
        if (pieces == 1)
        {
            GaussianLogProbGradientRows(y, mean, logVar, columns, rowWeights, dMean, dLogVar, outputGradient, 0, rows);
            return;
        }
        fixed (float* py = y, m = mean, s = logVar, w = rowWeights, dm = dMean, ds = dLogVar, o = outputGradient)
            Run(pieces, new Loop { Body = &GaussianLogProbGradientPiece, P0 = py, P1 = m, P2 = s, P3 = w, P4 = dm, P5 = ds, P6 = o, Count = rows, Rows = rows, Columns = columns });
    }

    private static void GaussianLogProbGradientPiece(in Loop l, int r0, int r1)
    {
        int n = l.Rows * l.Columns;
        GaussianLogProbGradientRows(l.Span(l.P0, n), l.Span(l.P1, n), l.Span(l.P2, n), l.Columns, l.Span(l.P3, l.Rows),
            l.Span(l.P4, n), l.Span(l.P5, n), l.Span(l.P6, n), r0, r1);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void GaussianLogProbGradientRows(ReadOnlySpan<float> y, ReadOnlySpan<float> mean, ReadOnlySpan<float> logVar, int columns,
        ReadOnlySpan<float> rowWeights, Span<float> dMean, Span<float> dLogVar, Span<float> outputGradient, int r0, int r1)
    {
        bool output = !outputGradient.IsEmpty;
        for (int r = r0; r < r1; r++)
        {
            float w = rowWeights[r];
            int o = r * columns, end = o + columns, i = o;
            if (Wide && columns >= W)
            {
                var wv = Vector512.Create(w);
                var half = Vector512.Create(0.5f);
                // The last pass overlaps the one before when the row is not whole vectors: dMean and
                // dLogVar get the same values again, the output gradient only its new lanes.
                Vector512<float> fresh = Vector512<float>.AllBitsSet;
                for (bool tail = false; ; )
                {
                    Vector512<float> d = VectorMath.Load(y, i) - VectorMath.Load(mean, i);
                    Vector512<float> precision = VectorMath.Exp(-VectorMath.Load(logVar, i));
                    Vector512<float> gm = wv * d * precision;
                    VectorMath.Store(gm, dMean, i);
                    VectorMath.Store(wv * half * (d * d * precision - Vector512<float>.One), dLogVar, i);
                    if (output) VectorMath.Store(VectorMath.Load(outputGradient, i) - (gm & fresh), outputGradient, i);
                    i += W;
                    if (tail || i == end) break;
                    if (i > end - W)
                    {
                        fresh = LastLanes(end - i);
                        i = end - W;
                        tail = true;
                    }
                }
                i = end;
            }
            for (; i < end; i++)
            {
                float d = y[i] - mean[i];
                float precision = MathF.Exp(-logVar[i]);
                dMean[i] = w * d * precision;
                dLogVar[i] = w * 0.5f * (d * d * precision - 1f);
                if (output) outputGradient[i] -= w * d * precision;
            }
        }
    }

    /// <summary>y = m + e^{s/2} ε.</summary>
    public static void Reparameterize(ReadOnlySpan<float> mean, ReadOnlySpan<float> logVar, ReadOnlySpan<float> noise, Span<float> y)
    {
        int n = y.Length;
        mean = mean[..n]; logVar = logVar[..n]; noise = noise[..n];
        int pieces = Pieces(n);
        if (pieces == 1)
        {
            ReparameterizeRange(mean, logVar, noise, y, 0, n);
            return;
        }
        fixed (float* m = mean, s = logVar, e = noise, py = y)
            Run(pieces, new Loop { Body = &ReparameterizePiece, P0 = m, P1 = s, P2 = e, P3 = py, Count = n, Align = W });
    }

    private static void ReparameterizePiece(in Loop l, int start, int end)
        => ReparameterizeRange(l.Span(l.P0, l.Count), l.Span(l.P1, l.Count), l.Span(l.P2, l.Count), l.Span(l.P3, l.Count), start, end);

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void ReparameterizeRange(ReadOnlySpan<float> mean, ReadOnlySpan<float> logVar, ReadOnlySpan<float> noise, Span<float> y, int start, int end)
    {
        int i = start;
        if (Wide)
        {
            var half = Vector512.Create(0.5f);
            for (; i <= end - W; i += W)
                VectorMath.Store(VectorMath.Load(mean, i) + VectorMath.Exp(half * VectorMath.Load(logVar, i)) * VectorMath.Load(noise, i), y, i);
            if (i < end)
            {
                Tail m = new(mean, i, end);
                m.Store(m.Vector + VectorMath.Exp(half * m.Of(logVar)) * m.Of(noise), y);
            }
            return;
        }
        for (; i < end; i++)
            y[i] = mean[i] + MathF.Exp(0.5f * logVar[i]) * noise[i];
    }

    /// <summary>y = tanh(x), accurate to ~1e-7 relative at every magnitude (see <see cref="VectorMath.Tanh"/>).</summary>
    public static void Tanh(ReadOnlySpan<float> x, Span<float> y)
    {
        int n = x.Length;
        y = y[..n];
        int pieces = Pieces(n);
        if (pieces == 1)
        {
            TanhRange(x, y, 0, n);
            return;
        }
        fixed (float* px = x, py = y)
            Run(pieces, new Loop { Body = &TanhPiece, P0 = px, P1 = py, Count = n, Align = W });
    }

    private static void TanhPiece(in Loop l, int start, int end) => TanhRange(l.Span(l.P0, l.Count), l.Span(l.P1, l.Count), start, end);

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void TanhRange(ReadOnlySpan<float> x, Span<float> y, int start, int end)
    {
        int i = start;
        if (Wide)
        {
            for (; i <= end - W; i += W)
                VectorMath.Store(VectorMath.Tanh(VectorMath.Load(x, i)), y, i);
            if (i < end)
            {
                Tail t = new(x, i, end);
                t.Store(VectorMath.Tanh(t.Vector), y);
            }
            return;
        }
        for (; i < end; i++) y[i] = MathF.Tanh(x[i]);
    }

    /// <summary>g ·= 1 − m²: through m = tanh(u), given m.</summary>
    public static void MultiplyByTanhDerivative(ReadOnlySpan<float> m, Span<float> g)
    {
        int n = g.Length;
        m = m[..n];
        int pieces = Pieces(n);
        if (pieces == 1)
        {
            TanhDerivativeRange(m, g, 0, n);
            return;
        }
        fixed (float* pm = m, pg = g)
            Run(pieces, new Loop { Body = &TanhDerivativePiece, P0 = pm, P1 = pg, Count = n, Align = W });
    }

    private static void TanhDerivativePiece(in Loop l, int start, int end) => TanhDerivativeRange(l.Span(l.P0, l.Count), l.Span(l.P1, l.Count), start, end);

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void TanhDerivativeRange(ReadOnlySpan<float> m, Span<float> g, int start, int end)
    {
        int i = start;
        if (Wide)
        {
            for (; i <= end - W; i += W)
            {
                Vector512<float> mv = VectorMath.Load(m, i);
                VectorMath.Store(VectorMath.Load(g, i) * (Vector512<float>.One - mv * mv), g, i);
            }
        }
        for (; i < end; i++) g[i] *= 1f - m[i] * m[i];
    }

    /// <summary>
    /// The curvature of −ln N(y; f(u), e^s) in u: e^{−s} for the identity, and for m = tanh(u)
    /// [m'² + 2 m m' (y − m)] e^{−s} with m' = 1 − m².
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static void GaussianCurvature(ReadOnlySpan<float> y, ReadOnlySpan<float> mean, ReadOnlySpan<float> logVar, bool tanh, Span<float> kappa)
    {
        int n = kappa.Length, i = 0;
        if (Wide)
        {
            for (; i <= n - W; i += W)
            {
                Vector512<float> precision = VectorMath.Exp(-VectorMath.Load(logVar, i));
                if (tanh)
                {
                    Vector512<float> m = VectorMath.Load(mean, i);
                    Vector512<float> dm = Vector512<float>.One - m * m;
                    precision *= dm * dm + Vector512.Create(2f) * m * dm * (VectorMath.Load(y, i) - m);
                }
                VectorMath.Store(precision, kappa, i);
            }
        }
        for (; i < n; i++)
        {
            float precision = MathF.Exp(-logVar[i]);
            if (tanh)
            {
                float m = mean[i], dm = 1f - m * m;
                kappa[i] = (dm * dm + 2f * m * dm * (y[i] - m)) * precision;
            }
            else
            {
                kappa[i] = precision;
            }
        }
    }

    /// <summary>y += e^{−s}.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static void AddExpNegative(ReadOnlySpan<float> logVar, Span<float> y)
    {
        int n = y.Length, i = 0;
        if (Wide)
            for (; i <= n - W; i += W)
                VectorMath.Store(VectorMath.Load(y, i) + VectorMath.Exp(-VectorMath.Load(logVar, i)), y, i);
        for (; i < n; i++) y[i] += MathF.Exp(-logVar[i]);
    }

    /// <summary>rowSums[r] += −½ (Σ_c y[r,c]² + columns · ln 2π): ln N(y; 0, I) per row.</summary>
    public static void AccumulateStandardNormalLogProb(ReadOnlySpan<float> y, int rows, int columns, Span<double> rowSums)
        => AccumulateHalfNegativeSquares(y, default, rows, columns, rowSums);

    /// <summary>
    /// Stochastic back-propagation through h = μ + σ ε, σ = e^{s/2}, for one Gaussian layer: with
    /// g = local + rest, dMean = g and dLogVar = ½ σ ε g' − ½ / B, g' = g (path-wise) or rest (Price,
    /// which adds ½ σ² hessian / B).
    /// </summary>
    public static void StochasticBackpropagationStatistics(ReadOnlySpan<float> local, ReadOnlySpan<float> rest, ReadOnlySpan<float> hessian,
        ReadOnlySpan<float> noise, ReadOnlySpan<float> logVar, float invRows, bool price, Span<float> dMean, Span<float> dLogVar)
    {
        int n = dMean.Length;
        local = local[..n]; rest = rest[..n]; noise = noise[..n]; logVar = logVar[..n]; dLogVar = dLogVar[..n];
        if (price) hessian = hessian[..n];
        int pieces = Pieces(n);
        if (pieces == 1)
        {
            StochasticBackpropagationRange(local, rest, hessian, noise, logVar, invRows, price, dMean, dLogVar, 0, n);
            return;
        }
        fixed (float* pl = local, pr = rest, ph = hessian, e = noise, s = logVar, dm = dMean, ds = dLogVar)
            Run(pieces, new Loop { Body = &StochasticBackpropagationPiece, P0 = pl, P1 = pr, P2 = ph, P3 = e, P4 = s, P5 = dm, P6 = ds, X = invRows, Flag = price, Count = n, Align = W });
    }

    private static void StochasticBackpropagationPiece(in Loop l, int start, int end)
        => StochasticBackpropagationRange(l.Span(l.P0, l.Count), l.Span(l.P1, l.Count), l.Flag ? l.Span(l.P2, l.Count) : default, l.Span(l.P3, l.Count),
            l.Span(l.P4, l.Count), l.X, l.Flag, l.Span(l.P5, l.Count), l.Span(l.P6, l.Count), start, end);

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void StochasticBackpropagationRange(ReadOnlySpan<float> local, ReadOnlySpan<float> rest, ReadOnlySpan<float> hessian,
        ReadOnlySpan<float> noise, ReadOnlySpan<float> logVar, float invRows, bool price, Span<float> dMean, Span<float> dLogVar, int start, int end)
    {
        int i = start;
        if (Wide)
        {
            var half = Vector512.Create(0.5f);
            var entropy = Vector512.Create(0.5f * invRows);
            var priceScale = Vector512.Create(invRows);
            for (; i <= end - W; i += W)
            {
                Vector512<float> rv = VectorMath.Load(rest, i);
                Vector512<float> g = VectorMath.Load(local, i) + rv;
                Vector512<float> sigma = VectorMath.Exp(half * VectorMath.Load(logVar, i));
                VectorMath.Store(g, dMean, i);
                Vector512<float> dl = half * sigma * VectorMath.Load(noise, i) * (price ? rv : g) - entropy;
                if (price) dl += half * sigma * sigma * VectorMath.Load(hessian, i) * priceScale;
                VectorMath.Store(dl, dLogVar, i);
            }
        }
        for (; i < end; i++)
        {
            float g = local[i] + rest[i];
            float sigma = MathF.Exp(0.5f * logVar[i]);
            dMean[i] = g;
            dLogVar[i] = 0.5f * sigma * noise[i] * (price ? rest[i] : g) - 0.5f * invRows;
            if (price) dLogVar[i] += 0.5f * sigma * sigma * hessian[i] * invRows;
        }
    }

    /// <summary>One Adam step: m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², x ← x − η̂ m / (√v + ε̂).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static void AdamUpdate(Span<float> x, ReadOnlySpan<float> g, Span<float> m, Span<float> v,
        float beta1, float beta2, float stepSize, float epsilonHat)
    {
        int n = x.Length, i = 0;
        float a1 = 1f - beta1, a2 = 1f - beta2;
        if (Wide)
        {
            Vector512<float> b1 = Vector512.Create(beta1), b2 = Vector512.Create(beta2), c1 = Vector512.Create(a1), c2 = Vector512.Create(a2);
            Vector512<float> step = Vector512.Create(stepSize), eps = Vector512.Create(epsilonHat);
            for (; i <= n - W; i += W)
            {
                Vector512<float> gv = VectorMath.Load(g, i);
                Vector512<float> mv = b1 * VectorMath.Load(m, i) + c1 * gv;
                Vector512<float> vv = b2 * VectorMath.Load(v, i) + c2 * gv * gv;
                VectorMath.Store(mv, m, i);
                VectorMath.Store(vv, v, i);
                VectorMath.Store(VectorMath.Load(x, i) - step * mv / (Vector512.Sqrt(vv) + eps), x, i);
            }
        }
        for (; i < n; i++)
        {
            m[i] = beta1 * m[i] + a1 * g[i];
            v[i] = beta2 * v[i] + a2 * g[i] * g[i];
            x[i] -= stepSize * m[i] / (MathF.Sqrt(v[i]) + epsilonHat);
        }
    }

    /// <summary>One heavy-ball step: v ← μ v − η g; x ← x + v.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static void MomentumUpdate(Span<float> x, ReadOnlySpan<float> g, Span<float> velocity, float momentum, float learningRate)
    {
        int n = x.Length, i = 0;
        if (Wide)
        {
            Vector512<float> mu = Vector512.Create(momentum), eta = Vector512.Create(learningRate);
            for (; i <= n - W; i += W)
            {
                Vector512<float> vv = mu * VectorMath.Load(velocity, i) - eta * VectorMath.Load(g, i);
                VectorMath.Store(vv, velocity, i);
                VectorMath.Store(VectorMath.Load(x, i) + vv, x, i);
            }
        }
        for (; i < n; i++)
        {
            velocity[i] = momentum * velocity[i] - learningRate * g[i];
            x[i] += velocity[i];
        }
    }

    /// <summary>Whether every element is finite (neither NaN nor ±∞).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static bool AllFinite(ReadOnlySpan<float> x)
    {
        int n = x.Length, i = 0;
        if (Wide)
        {
            // v · 0 is 0 for finite v and NaN for NaN or ±∞, and NaN survives the sum.
            Vector512<float> acc = Vector512<float>.Zero;
            for (; i <= n - W; i += W) acc += VectorMath.Load(x, i) * Vector512<float>.Zero;
            if (!Vector512.EqualsAll(acc, Vector512<float>.Zero)) return false;
        }
        for (; i < n; i++)
            if (!float.IsFinite(x[i])) return false;
        return true;
    }

    /// <summary>True when every value is exactly 0 or 1 (NaN is neither).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static bool AllBinary(ReadOnlySpan<float> x)
    {
        int n = x.Length, i = 0;
        if (Wide)
        {
            for (; i <= n - W; i += W)
            {
                Vector512<float> v = VectorMath.Load(x, i);
                // Compared as integers: the all-ones mask read as a float is NaN, which equals nothing.
                Vector512<int> binary = (Vector512.Equals(v, Vector512<float>.Zero) | Vector512.Equals(v, Vector512<float>.One)).AsInt32();
                if (!Vector512.EqualsAll(binary, Vector512<int>.AllBitsSet))
                    return false;
            }
        }
        for (; i < n; i++)
            if (x[i] != 0f && x[i] != 1f) return false;
        return true;
    }

    /// <summary>ln Σ exp(x_i), stably.</summary>
    public static double LogSumExp(ReadOnlySpan<double> x)
    {
        double max = double.NegativeInfinity;
        foreach (double v in x) if (v > max) max = v;
        if (double.IsNegativeInfinity(max) || double.IsNaN(max)) return max;
        double sum = 0;
        foreach (double v in x) sum += Math.Exp(v - max);
        return max + Math.Log(sum);
    }
}
