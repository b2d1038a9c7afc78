namespace Microsoft.ML.Helmholtz.Data;

/// <summary>
/// A dense, row-major matrix of examples: one example per row, one feature (pixel) per column.
/// </summary>
public sealed class DataMatrix
{
    /// <summary>Number of examples (rows).</summary>
    public int Rows { get; }
    /// <summary>Number of features (columns) in each row.</summary>
    public int Columns { get; }

    /// <summary>The values, row after row; length <c>Rows * Columns</c>. The array given to the constructor, not a copy.</summary>
    public float[] Values { get; }

    /// <summary>Wraps <paramref name="values"/> (not copied: a change to the array is a change to the matrix).</summary>
    public DataMatrix(int rows, int columns, float[] values)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(columns);
        ArgumentNullException.ThrowIfNull(values);
        // long product: rows * columns may overflow int for nonsense arguments.
        if ((long)rows * columns != values.LongLength)
            throw new ArgumentException(
                $"values has {values.LongLength} elements but {rows}×{columns} = {(long)rows * columns} are needed.",
                nameof(values));
        Rows = rows;
        Columns = columns;
        Values = values;
    }

    /// <summary>The mean of each column of <paramref name="rows"/> rows of <paramref name="columns"/> values, summed in double row by row (one sequential pass).</summary>
    internal static double[] ColumnMeans(ReadOnlySpan<float> values, int rows, int columns)
    {
        var sums = new double[columns];
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<float> row = values.Slice(r * columns, columns);
            for (int c = 0; c < columns; c++) sums[c] += row[c];
        }
        for (int c = 0; c < columns; c++) sums[c] /= rows;
        return sums;
    }

    /// <summary>Row <paramref name="i"/>, a view into <see cref="Values"/> (no copy).</summary>
    public ReadOnlySpan<float> Row(int i)
    {
        if ((uint)i >= (uint)Rows)
            throw new ArgumentOutOfRangeException(nameof(i), i, $"Row index must be in [0, {Rows}).");
        return new ReadOnlySpan<float>(Values, i * Columns, Columns);
    }

    /// <summary>A copy of rows <c>[start, start + count)</c>.</summary>
    public DataMatrix Slice(int start, int count)
    {
        if (start < 0 || count < 0 || (long)start + count > Rows)
            throw new ArgumentOutOfRangeException(start < 0 || (count >= 0 && start > Rows) ? nameof(start) : nameof(count),
                $"Slice [{start}, {start}+{count}) does not lie within the {Rows} rows.");
        return new DataMatrix(count, Columns, Values.AsSpan(start * Columns, count * Columns).ToArray());
    }
}
