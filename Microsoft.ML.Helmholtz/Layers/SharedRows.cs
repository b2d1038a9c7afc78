namespace Microsoft.ML.Helmholtz.Layers;

/// <summary>
/// Rows that read another row's per-row state after a shared forward: row r reads row Source[r]
/// (grouped, Source[r] ≤ r) until a member needs each row's own, when <see cref="Own"/> copies them.
/// A layer keeps one for each state it lets its rows share (the Gaussian layers' statistics, a trunk's
/// activations), so that scoring, which only draws and takes densities, never copies.
/// </summary>
internal sealed class SharedRows(Action<int, int> copyRow)
{
    private int[] _source = [];
    private int _rows;   // 0: every row holds its own

    /// <summary>Row r reads row Source[r], for the rows of the shared forward.</summary>
    public ReadOnlySpan<int> Source => _source.AsSpan(0, _rows);

    /// <summary>Whether some rows read another's (a shared forward, not yet owned).</summary>
    public bool Active => _rows > 0;

    public void Allocate(int rows) => _source = new int[rows];

    /// <summary>After a shared forward over the distinct rows: row r reads row rowSource[r].</summary>
    public void Share(ReadOnlySpan<int> rowSource, int rows)
    {
        rowSource[..rows].CopyTo(_source);
        _rows = rows;
    }

    /// <summary>A forward of the layer's own: every row holds its own, nothing to copy.</summary>
    public void Reset() => _rows = 0;

    /// <summary>Whether a call over <paramref name="batch"/> rows may read through <see cref="Source"/> (never a call over none: no row shares then).</summary>
    public bool Covers(int batch) => _rows > 0 && _rows == batch;

    /// <summary>The row whose state row <paramref name="row"/> reads: its source while shared, else itself.</summary>
    public int Row(int row, bool shared) => shared ? _source[row] : row;

    /// <summary>Gives every row its own copy (nothing when no rows are shared).</summary>
    public void Own()
    {
        int rows = _rows;
        if (rows == 0) return;
        _rows = 0;
        CopyBackwards(_source, rows, copyRow);
    }

    /// <summary>
    /// copyRow(rowSource[r], r) for every row that reads another, backwards, so that each source row is
    /// read before anything overwrites it (rows grouped, rowSource[r] ≤ r).
    /// </summary>
    public static void CopyBackwards(ReadOnlySpan<int> rowSource, int rows, Action<int, int> copyRow)
    {
        for (int r = rows - 1; r >= 0; r--)
            if (rowSource[r] != r) copyRow(rowSource[r], r);
    }
}
