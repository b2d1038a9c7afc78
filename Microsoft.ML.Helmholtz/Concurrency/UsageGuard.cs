using System.Runtime.CompilerServices;

namespace Microsoft.ML.Helmholtz.Concurrency;

/// <summary>
/// Detects use of an object that is not thread-safe from two threads at once. Entering never
/// blocks: the thread that holds the guard may enter again (nested calls), and any other thread
/// gets an <see cref="InvalidOperationException"/> that names the object, what holds it, and what to
/// do instead. A guard is for misuse detection, not for waiting; work that must wait uses a lock.
/// </summary>
internal sealed class UsageGuard
{
    private string _subject;
    private string _advice;
    private Holding? _holder;          // null when free; the thread and its operation, taken in one exchange
    private int _depth;                // nesting of the owner's entries

    // The holder is one immutable object so that a refused thread reads the name of the very call that refused it: with the
    // thread and the name in two fields it could read the name only after the holder had finished and cleared it.
    private sealed record Holding(int Thread, string Operation);

    // The holdings made on this thread, reused for the same operation string (callers pass literals), so that entering
    // allocates nothing on a scoring or training step, whose calls enter under a dozen names in turn.
    [ThreadStatic] private static Holding?[]? t_holdings;
    [ThreadStatic] private static int t_nextHolding;

    /// <param name="subject">The object as the message names it, e.g. "This HelmholtzMachine".</param>
    /// <param name="advice">What the user should do instead (one sentence).</param>
    public UsageGuard(string subject, string advice)
    {
        _subject = subject;
        _advice = advice;
    }

    /// <summary>
    /// Names the object and the advice anew, for an owner that wraps it: a temporal model's frame machine is named as the
    /// model, whose threads need other advice (it has no Clone). Set once, before the owner is handed out.
    /// </summary>
    internal void Rename(string subject, string advice)
    {
        _subject = subject;
        _advice = advice;
    }

    /// <summary>The holding of a thread other than the caller's, or null (free, or the caller's own).</summary>
    private Holding? OtherThreadsHolding()
    {
        Holding? holder = Volatile.Read(ref _holder);
        return holder is not null && holder.Thread != Environment.CurrentManagedThreadId ? holder : null;
    }

    /// <summary>Holds the guard for <paramref name="operation"/> until the scope is disposed.</summary>
    public Scope Enter(string operation)
    {
        int me = Environment.CurrentManagedThreadId;
        if (Volatile.Read(ref _holder)?.Thread == me)
        {
            _depth++;
            return new Scope(this);
        }
        Holding mine = HoldingFor(me, operation);
        if (Interlocked.CompareExchange(ref _holder, mine, null) is { } other) throw Conflict(other, operation);
        _depth = 1;
        return new Scope(this);
    }

    private static Holding HoldingFor(int me, string operation)
    {
        Holding?[] made = t_holdings ??= new Holding?[16];
        foreach (Holding? h in made)
            if (h is not null && ReferenceEquals(h.Operation, operation)) return h;
        var mine = new Holding(me, operation);
        made[t_nextHolding] = mine;
        t_nextHolding = (t_nextHolding + 1) % made.Length;
        return mine;
    }

    /// <summary>
    /// Throws when another thread holds <paramref name="guard"/> (none: nothing to check), naming <paramref name="part"/>'s type and <paramref name="operation"/>:
    /// for the members of a part whose buffers belong to a guarded object (a layer's, an LSTM's), which do not hold it themselves.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void RefuseWhileHeldByAnotherThread(UsageGuard? guard, object part, string operation)
    {
        // One read of the holder; the name is formed only for the refusal: the check runs on every call of a step.
        if (guard?.OtherThreadsHolding() is { } holder) throw guard.Conflict(holder, $"{part.GetType().Name}.{operation}");
    }

    private void Exit()
    {
        if (--_depth > 0) return;
        Volatile.Write(ref _holder, null);
    }

    private InvalidOperationException Conflict(Holding holder, string operation) => new(
        $"{_subject} is in use by {holder.Operation} on another thread, so {operation} cannot run now: it is not safe to use from two threads at once. {_advice}");

    /// <summary>The held guard; disposing it releases one level of nesting.</summary>
    public readonly struct Scope : IDisposable
    {
        private readonly UsageGuard? _guard;
        internal Scope(UsageGuard guard) => _guard = guard;
        public void Dispose() => _guard?.Exit();
    }
}
