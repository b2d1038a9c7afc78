using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Data;

/// <summary>Rows read in order, a pass at a time: a file, or a cursor over data that does not fit in memory.</summary>
public interface IRowStream
{
    /// <summary>Values per row.</summary>
    int Columns { get; }

    /// <summary>Rows in a pass, when known in advance.</summary>
    long? Rows { get; }

    /// <summary>Starts a new pass from the first row (ending any pass in progress).</summary>
    void Restart();

    /// <summary>
    /// Copies up to <paramref name="rows"/> rows of the pass into <paramref name="destination"/> and returns how many: 0 at its end,
    /// never more than <paramref name="rows"/> and never negative.
    /// </summary>
    int Read(Span<float> destination, int rows);
}

/// <summary>
/// Minibatches from a stream that is read once per epoch, shuffled through a buffer: the buffer is
/// filled with the first rows, and each row handed out is a uniformly chosen row of the buffer,
/// whose place the next row of the stream takes. Memory is the buffer (rows × columns floats) and
/// one block of reading, whatever the stream's length. A buffer as large as the data is a full
/// shuffle; a smaller one mixes rows that are close in the stream only, so a stream sorted by
/// class wants a large buffer (or a shuffled source).
/// One training run at a time (see <see cref="IMinibatchSource"/>).
/// </summary>
public sealed class StreamingMinibatches : IMinibatchSource
{
    private const int ReadBlock = 256;
    private readonly IRowStream _stream;
    private readonly float[] _buffer;
    private readonly float[] _incoming;
    private readonly int _readBlock;
    private int _filled, _incomingCount, _incomingNext;
    private bool _exhausted;
    private RandomStream? _random;

    /// <param name="stream">The rows.</param>
    /// <param name="bufferRows">Rows the shuffle buffer holds.</param>
    public StreamingMinibatches(IRowStream stream, int bufferRows)
    {
        _stream = stream ?? throw new ArgumentNullException(nameof(stream));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bufferRows);
        if (stream.Columns <= 0) throw new ArgumentException("The stream's rows must have at least one value.", nameof(stream));
        if ((long)bufferRows * stream.Columns > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(bufferRows), bufferRows, $"{bufferRows} rows of {stream.Columns} values do not fit one array; use a smaller buffer.");
        BufferRows = bufferRows;
        // A block never holds more rows than the buffer, so it fits one array whenever the buffer does
        // (256 rows of very wide ones once overflowed an int); the rows handed out are the same either way.
        _readBlock = Math.Min(ReadBlock, bufferRows);
        _buffer = new float[bufferRows * stream.Columns];
        _incoming = new float[_readBlock * stream.Columns];
    }

    /// <summary>Rows the shuffle buffer holds, as given to the constructor.</summary>
    public int BufferRows { get; }
    /// <inheritdoc/>
    public int Columns => _stream.Columns;
    /// <summary>The stream's <see cref="IRowStream.Rows"/>; null when the stream does not know it or it exceeds <see cref="int.MaxValue"/>.</summary>
    public int? Rows => _stream.Rows is { } rows && rows <= int.MaxValue ? (int)rows : null;

    /// <summary>Restarts the stream and fills the shuffle buffer from its first rows; the epoch's picks are drawn from <paramref name="random"/>.</summary>
    public void BeginEpoch(RandomStream random)
    {
        _random = random ?? throw new ArgumentNullException(nameof(random));
        _stream.Restart();
        _exhausted = false;
        _incomingCount = _incomingNext = 0;
        _filled = 0;
        int columns = Columns;
        while (_filled < BufferRows && TryTake(_buffer.AsSpan(_filled * columns, columns))) _filled++;
    }

    /// <inheritdoc/>
    /// <exception cref="InvalidOperationException"><see cref="BeginEpoch"/> has not been called, or the stream's <see cref="IRowStream.Read"/> returned more rows than asked for.</exception>
    public int NextBatch(Span<float> destination, int rows)
    {
        // The state before the arguments, as ShuffledMinibatches checks them.
        if (_random is null) throw new InvalidOperationException("Call BeginEpoch first.");
        int columns = Columns;
        MinibatchArguments.Check(destination, rows, columns);
        for (int r = 0; r < rows; r++)
        {
            if (_filled == 0) return r;
            int pick = _random.NextInt(_filled);
            Span<float> slot = _buffer.AsSpan(pick * columns, columns);
            slot.CopyTo(destination.Slice(r * columns, columns));
            // The next row of the stream takes the place; at the stream's end the buffer shrinks.
            if (!TryTake(slot))
            {
                _filled--;
                if (pick != _filled) _buffer.AsSpan(_filled * columns, columns).CopyTo(slot);
            }
        }
        return rows;
    }

    /// <summary>Copies the stream's next row into <paramref name="row"/>; false at the end of the pass.</summary>
    private bool TryTake(Span<float> row)
    {
        if (_incomingNext == _incomingCount)
        {
            if (_exhausted) return false;
            int read = _stream.Read(_incoming, _readBlock);
            // Rows past the block were not written into it: a stream that claims them breaks the contract, not the caller.
            if ((uint)read > (uint)_readBlock)
                throw new InvalidOperationException(
                    $"The row stream ({_stream.GetType().Name}) returned {read} from Read when asked for up to {_readBlock} rows: IRowStream.Read must return between 0 and the rows asked for.");
            _incomingCount = read;
            _incomingNext = 0;
            if (_incomingCount == 0)
            {
                _exhausted = true;
                return false;
            }
        }
        _incoming.AsSpan(_incomingNext * row.Length, row.Length).CopyTo(row);
        _incomingNext++;
        return true;
    }
}
