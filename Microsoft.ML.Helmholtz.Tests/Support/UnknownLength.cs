using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Tests.Support;

/// <summary>Streamed minibatches of unknown count (as from an ML.NET filter), ending after <paramref name="batches"/> calls.</summary>
internal sealed class UnknownLength(DataMatrix data, int batches, int cancelAtCall = 0, CancellationTokenSource? cancellation = null) : IMinibatchSource
{
    private readonly ShuffledMinibatches _inner = new(data);
    private int _calls;

    public int Columns => _inner.Columns;
    public int? Rows => null;
    public void BeginEpoch(RandomStream random) => _inner.BeginEpoch(random);

    public int NextBatch(Span<float> destination, int rows)
    {
        if (++_calls == cancelAtCall) cancellation?.Cancel();
        return _calls > batches ? 0 : _inner.NextBatch(destination, rows);
    }
}
