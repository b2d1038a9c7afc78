using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Microsoft.ML.Helmholtz.Numerics;

// Row-wise copies and sums: broadcasting a row, gathering rows, column sums, adding scaled rows.
public static unsafe partial class Kernels
{
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
            WorkerPool.Current.Run(pieces, new BroadcastRowsWork { Ranges = new(rows, pieces), Row = pr, Destination = pd, Rows = rows, Columns = columns });
    }

    private struct BroadcastRowsWork : IPieceWork
    {
        public PieceRanges Ranges;   // of rows
        public float* Row, Destination;
        public int Rows, Columns;

        public readonly void Execute(int piece)
        {
            if (Ranges.Get(piece, out int r0, out int r1))
                BroadcastRowRange(new ReadOnlySpan<float>(Row, Columns), new Span<float>(Destination, Rows * Columns), Columns, r0, r1);
        }
    }

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
            WorkerPool.Current.Run(pieces, new GatherRowsWork
            {
                Ranges = new(count, pieces), Source = ps, Destination = pd, RowSource = pr,
                SourceRows = sourceRows, Rows = count, Columns = columns,
            });
    }

    private struct GatherRowsWork : IPieceWork
    {
        public PieceRanges Ranges;   // of destination rows
        public float* Source, Destination;
        public int* RowSource;       // destination row r = source row RowSource[r]
        public int SourceRows, Rows, Columns;

        public readonly void Execute(int piece)
        {
            if (Ranges.Get(piece, out int r0, out int r1))
                GatherRowRange(new ReadOnlySpan<float>(Source, SourceRows * Columns), Columns, new ReadOnlySpan<int>(RowSource, Rows),
                    new Span<float>(Destination, Rows * Columns), r0, r1);
        }
    }

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
            WorkerPool.Current.Run(pieces, new ColumnSumsWork
            {
                Ranges = new(columns, pieces, W), Matrix = pm, Accumulator = acc, Rows = rows, Columns = columns,
            });
    }

    private struct ColumnSumsWork : IPieceWork
    {
        public PieceRanges Ranges;   // of columns
        public float* Matrix, Accumulator;
        public int Rows, Columns;

        public readonly void Execute(int piece)
        {
            if (Ranges.Get(piece, out int c0, out int c1))
                ColumnSums(new ReadOnlySpan<float>(Matrix, Rows * Columns), Rows, Columns, new Span<float>(Accumulator, Columns), c0, c1);
        }
    }

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
}
