using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Data;

/// <summary>
/// Where the trainer gets its minibatches: one epoch at a time, in an order the source chooses
/// (shuffled from the trainer's random stream). An in-memory matrix is one source; a cursor over
/// data that does not fit in memory (an ML.NET IDataView, say) can be another.
/// A source holds its place in the data: one training run at a time (two runs given one source at once
/// would share its minibatches, undetected).
/// </summary>
public interface IMinibatchSource
{
    /// <summary>Values per example.</summary>
    int Columns { get; }

    /// <summary>Examples per epoch, when known in advance.</summary>
    int? Rows { get; }

    /// <summary>Starts an epoch; a shuffling source draws its order from <paramref name="random"/>.</summary>
    void BeginEpoch(RandomStream random);

    /// <summary>
    /// Copies up to <paramref name="rows"/> examples of the epoch into <paramref name="destination"/>
    /// (row-major, room for <paramref name="rows"/> × <see cref="Columns"/> values) and returns how many it copied: 0 once the epoch is over.
    /// </summary>
    int NextBatch(Span<float> destination, int rows);
}

/// <summary>The argument checks of <see cref="IMinibatchSource.NextBatch"/>, shared by the sources here.</summary>
internal static class MinibatchArguments
{
    /// <summary>
    /// Refuses a negative <paramref name="rows"/> or a <paramref name="destination"/> without room for them, naming the argument,
    /// before any row is taken (a source that failed part-way would have lost the rows it took).
    /// </summary>
    public static void Check(Span<float> destination, int rows, int columns)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        if (destination.Length < (long)rows * columns)
            throw new ArgumentException($"destination holds {destination.Length} values, fewer than {rows} rows × {columns} columns.", nameof(destination));
    }
}

/// <summary>The examples of a <see cref="DataMatrix"/>, in a fresh random order each epoch; one training run at a time (see <see cref="IMinibatchSource"/>).</summary>
public sealed class ShuffledMinibatches : IMinibatchSource
{
    private readonly DataMatrix _data;
    private readonly int[] _order;
    private int _next;

    /// <summary>Serves the rows of <paramref name="data"/>, which is not copied; call <see cref="BeginEpoch"/> before the first <see cref="NextBatch"/>.</summary>
    public ShuffledMinibatches(DataMatrix data)
    {
        _data = data ?? throw new ArgumentNullException(nameof(data));
        _order = Enumerable.Range(0, data.Rows).ToArray();
        _next = -1;   // no epoch begun: NextBatch refuses, as StreamingMinibatches does (it returned 0, "the epoch is over")
    }

    /// <inheritdoc/>
    public int Columns => _data.Columns;
    /// <inheritdoc/>
    public int? Rows => _data.Rows;

    /// <inheritdoc/>
    public void BeginEpoch(RandomStream random)
    {
        ArgumentNullException.ThrowIfNull(random);
        // Fisher–Yates from the identity, so that an epoch's order follows from the stream alone (a resumed run draws it again).
        for (int i = 0; i < _order.Length; i++) _order[i] = i;
        for (int i = _order.Length - 1; i > 0; i--)
        {
            int j = random.NextInt(i + 1);
            (_order[i], _order[j]) = (_order[j], _order[i]);
        }
        _next = 0;
    }

    /// <inheritdoc/>
    /// <exception cref="InvalidOperationException"><see cref="BeginEpoch"/> has not been called.</exception>
    public int NextBatch(Span<float> destination, int rows)
    {
        if (_next < 0) throw new InvalidOperationException("Call BeginEpoch first.");
        MinibatchArguments.Check(destination, rows, _data.Columns);
        int count = Math.Min(rows, _order.Length - _next);
        Kernels.GatherRows(_data.Values, _data.Columns, _order.AsSpan(_next, count), destination);
        _next += count;
        return count;
    }
}
