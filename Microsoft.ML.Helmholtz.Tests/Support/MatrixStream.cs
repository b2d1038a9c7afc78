using Microsoft.ML.Helmholtz.Data;

namespace Microsoft.ML.Helmholtz.Tests.Support;

/// <summary>The rows of a matrix as a stream, read in blocks of a given size (as a cursor would hand them).</summary>
internal sealed class MatrixStream(DataMatrix data, int block) : IRowStream
{
    private int _next;
    public int Restarts { get; private set; }
    public int Columns => data.Columns;
    public long? Rows => data.Rows;
    public void Restart() { _next = 0; Restarts++; }

    public int Read(Span<float> destination, int rows)
    {
        int n = Math.Min(Math.Min(rows, block), data.Rows - _next);
        data.Values.AsSpan(_next * data.Columns, n * data.Columns).CopyTo(destination);
        _next += n;
        return n;
    }
}
