using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Microsoft.ML.Helmholtz.Numerics;

// Row-wise copies and sums: broadcasting a row, gathering rows, column sums, adding scaled rows.
public static unsafe partial class Kernels
{
    /// <summary>Copies <paramref name="row"/> into each of the <paramref name="rows"/> rows of <paramref name="destination"/>.</summary>
    public static void BroadcastRows(ReadOnlySpan<float> row, Span<float> destination, int rows, int columns)
        => BroadcastRows(row, default, destination, rows, columns);

    /// <summary>
    /// destination row r = <paramref name="row"/> + row r of <paramref name="added"/> (when not empty; else the row alone), in one
    /// pass: a conditioned layer's bias and conditioning, the same sums as the copy followed by an addition.
    /// </summary>
    public static void BroadcastRows(ReadOnlySpan<float> row, ReadOnlySpan<float> added, Span<float> destination, int rows, int columns)
    {
        row = row[..columns];
        destination = destination[..(rows * columns)];
        if (!added.IsEmpty) added = added[..(rows * columns)];
        int pieces = Math.Min(Pieces((long)rows * columns), rows);
        if (pieces <= 1)
        {
            BroadcastRowRange(row, added, destination, columns, 0, rows);
            return;
        }
        fixed (float* pr = row, pa = added, pd = destination)
            WorkerPool.Current.Run(pieces, new BroadcastRowsWork { Ranges = new(rows, pieces), Row = pr, Added = pa, Destination = pd, Rows = rows, Columns = columns });
    }

    private struct BroadcastRowsWork : IPieceWork
    {
        public PieceRanges Ranges;   // of rows
        public float* Row, Added, Destination;   // Added: null for none
        public int Rows, Columns;

        public readonly void Execute(int piece)
        {
            if (Ranges.Get(piece, out int r0, out int r1))
                BroadcastRowRange(new ReadOnlySpan<float>(Row, Columns), Added == null ? default : new ReadOnlySpan<float>(Added, Rows * Columns),
                    new Span<float>(Destination, Rows * Columns), Columns, r0, r1);
        }
    }

    private static void BroadcastRowRange(ReadOnlySpan<float> row, ReadOnlySpan<float> added, Span<float> destination, int columns, int r0, int r1)
    {
        if (added.IsEmpty)
            for (int r = r0; r < r1; r++)
                row.CopyTo(destination.Slice(r * columns, columns));
        else
            for (int r = r0; r < r1; r++)
                TensorPrimitives.Add(row, added.Slice(r * columns, columns), destination.Slice(r * columns, columns));
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

// Column blocks of rows taken by index: the temporal machine's conditioning cut into its layers and summed back.
public static unsafe partial class Kernels
{
    /// <summary>
    /// destination[r, 0 … size) = source[rowSource[r], offset … offset + size) for r &lt; rows: one column block of
    /// rows taken by index (source rows are <paramref name="sourceWidth"/> wide).
    /// </summary>
    public static void GatherColumnBlock(ReadOnlySpan<float> source, int sourceWidth, int offset, ReadOnlySpan<int> rowSource, int rows, Span<float> destination, int size)
    {
        CheckColumnBlock(sourceWidth, source.Length, offset, size, rowSource, rows, nameof(source));
        destination = destination[..(rows * size)];
        fixed (float* ps = source, pd = destination)
        fixed (int* pr = rowSource)
            RunColumnBlock(new ColumnBlockWork
            {
                Source = ps, SourceLength = source.Length, SourceWidth = sourceWidth, Offset = offset,
                RowSource = pr, Rows = rows, Block = pd, Size = size, Add = false,
            });
    }

    /// <summary>
    /// destination[rowSource[r], offset … offset + size) += source[r, 0 … size) for r &lt; rows: the sum back of
    /// <see cref="GatherColumnBlock"/>. rowSource must be non-decreasing (the rows of one target together, as the K
    /// samples of an example are), so that pieces of the pool never add into the same row.
    /// </summary>
    public static void ScatterAddColumnBlock(ReadOnlySpan<float> source, int size, ReadOnlySpan<int> rowSource, int rows, Span<float> destination, int destinationWidth, int offset)
    {
        CheckColumnBlock(destinationWidth, destination.Length, offset, size, rowSource, rows, nameof(destination));
        for (int r = 1; r < rows; r++)
            if (rowSource[r] < rowSource[r - 1]) throw new ArgumentException("rowSource must be non-decreasing.", nameof(rowSource));
        source = source[..(rows * size)];
        fixed (float* ps = source, pd = destination)
        fixed (int* pr = rowSource)
            RunColumnBlock(new ColumnBlockWork
            {
                Source = pd, SourceLength = destination.Length, SourceWidth = destinationWidth, Offset = offset,
                RowSource = pr, Rows = rows, Block = ps, Size = size, Add = true,
            });
    }

    /// <summary>
    /// The block's columns lie in the wide operand's rows, and every row taken by index is one of them: checked before any row
    /// is read or added into, so that a refused call leaves the destination as it was (a bad entry had thrown from its span
    /// partway, after the rows before it were added).
    /// </summary>
    private static void CheckColumnBlock(int width, int wideLength, int offset, int size, ReadOnlySpan<int> rowSource, int rows, string wide)
    {
        if (offset < 0 || size < 0 || offset + size > width) throw new ArgumentOutOfRangeException(nameof(offset), $"Columns {offset} … {offset + size} do not lie in rows of {width}.");
        if (rowSource.Length < rows) throw new ArgumentException($"rowSource holds {rowSource.Length} entries, fewer than the {rows} rows.", nameof(rowSource));
        if (width == 0) return;   // an empty block of empty rows: nothing is read
        int wideRows = wideLength / width;
        for (int r = 0; r < rows; r++)
            if ((uint)rowSource[r] >= (uint)wideRows)
                throw new ArgumentOutOfRangeException(nameof(rowSource), $"rowSource[{r}] is {rowSource[r]}, not one of the {wideRows} rows of {wide}.");
    }

    /// <summary>Runs <paramref name="work"/> over its rows: on the worker pool when they are many, else inline as one piece.</summary>
    private static void RunColumnBlock(ColumnBlockWork work)
    {
        int pieces = Math.Max(1, Math.Min(Pieces((long)work.Rows * work.Size), work.Rows));
        work.Ranges = new(work.Rows, pieces);
        if (pieces == 1) work.Execute(0);
        else WorkerPool.Current.Run(pieces, work);
    }

    /// <summary>Either direction over a range of rows: Source is the wide operand (rows by index), Block the [rows × Size] one.</summary>
    private struct ColumnBlockWork : IPieceWork
    {
        public PieceRanges Ranges;   // of rows
        public float* Source, Block;
        public int* RowSource;
        public int SourceLength, SourceWidth, Offset, Rows, Size;
        public bool Add;

        public readonly void Execute(int piece)
        {
            if (!Ranges.Get(piece, out int r0, out int r1)) return;
            var rowSource = new ReadOnlySpan<int>(RowSource, Rows);
            var wide = new Span<float>(Source, SourceLength);
            var block = new Span<float>(Block, Rows * Size);
            if (!Add)
            {
                GatherColumnBlockRange(wide, SourceWidth, Offset, rowSource, block, Size, r0, r1);
                return;
            }
            // A piece takes the groups of rows that start in its range, so no two pieces add into one row.
            while (r0 > 0 && r0 < Rows && rowSource[r0] == rowSource[r0 - 1]) r0++;
            while (r1 < Rows && rowSource[r1] == rowSource[r1 - 1]) r1++;
            if (r0 < r1) ScatterAddColumnBlockRange(block, Size, rowSource, wide, SourceWidth, Offset, r0, r1);
        }
    }

    private static void GatherColumnBlockRange(ReadOnlySpan<float> source, int sourceWidth, int offset, ReadOnlySpan<int> rowSource, Span<float> destination, int size, int r0, int r1)
    {
        for (int r = r0; r < r1; r++) source.Slice(rowSource[r] * sourceWidth + offset, size).CopyTo(destination.Slice(r * size, size));
    }

    private static void ScatterAddColumnBlockRange(ReadOnlySpan<float> source, int size, ReadOnlySpan<int> rowSource, Span<float> destination, int destinationWidth, int offset, int r0, int r1)
    {
        for (int r = r0; r < r1; r++)
        {
            Span<float> target = destination.Slice(rowSource[r] * destinationWidth + offset, size);
            TensorPrimitives.Add(target, source.Slice(r * size, size), target);
        }
    }
}
