using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Learning;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Tests.Support;

/// <summary>
/// A matrix's shuffled minibatches, with something done inside one NextBatch call (<paramref name="atCall"/>, from 1; 0 for
/// none): a cancellation (a Ctrl+C during that minibatch's step: the step is taken, the next is not), and/or the minibatch's first
/// value replaced (a bad row that arrives mid-run), and/or <paramref name="onCall"/> told the call's number (every call).
/// </summary>
internal sealed class ScriptedMinibatches(DataMatrix data, int atCall, CancellationTokenSource? cancel = null, float? firstValue = null,
    Action<int>? onCall = null) : IMinibatchSource
{
    private readonly ShuffledMinibatches _inner = new(data);
    private int _calls;

    public int Columns => _inner.Columns;
    public int? Rows => _inner.Rows;
    public void BeginEpoch(RandomStream random) => _inner.BeginEpoch(random);

    public int NextBatch(Span<float> destination, int rows)
    {
        int got = _inner.NextBatch(destination, rows);
        _calls++;
        onCall?.Invoke(_calls);
        if (_calls != atCall) return got;
        cancel?.Cancel();
        if (firstValue is { } value && got > 0) destination[0] = value;
        return got;
    }
}
