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
    private readonly string _subject;
    private readonly string _advice;
    private int _ownerThread;          // 0 when free
    private int _depth;                // nesting of the owner's entries
    private string? _operation;        // what the owner is doing, for the message

    /// <param name="subject">The object as the message names it, e.g. "This HelmholtzMachine".</param>
    /// <param name="advice">What the user should do instead (one sentence).</param>
    public UsageGuard(string subject, string advice)
    {
        _subject = subject;
        _advice = advice;
    }

    /// <summary>Whether some thread other than the caller holds the guard now.</summary>
    public bool HeldByAnotherThread
    {
        get
        {
            int owner = Volatile.Read(ref _ownerThread);
            return owner != 0 && owner != Environment.CurrentManagedThreadId;
        }
    }

    /// <summary>Holds the guard for <paramref name="operation"/> until the scope is disposed.</summary>
    public Scope Enter(string operation)
    {
        int me = Environment.CurrentManagedThreadId;
        if (Volatile.Read(ref _ownerThread) == me)
        {
            _depth++;
            return new Scope(this);
        }
        if (Interlocked.CompareExchange(ref _ownerThread, me, 0) != 0) throw Conflict(operation);
        Volatile.Write(ref _operation, operation);
        _depth = 1;
        return new Scope(this);
    }

    /// <summary>
    /// Throws when another thread holds <paramref name="guard"/> (none: nothing to check), naming <paramref name="part"/>'s type and <paramref name="operation"/>:
    /// for the members of a part whose buffers belong to a guarded object (a layer's, an LSTM's), which do not hold it themselves.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void RefuseWhileHeldByAnotherThread(UsageGuard? guard, object part, string operation)
    {
        // The name is formed only for the refusal: the check runs on every call of a step.
        if (guard is { HeldByAnotherThread: true }) guard.ThrowIfHeldByAnotherThread($"{part.GetType().Name}.{operation}");
    }

    /// <summary>Throws when another thread holds the guard; for calls too small to hold it themselves.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void ThrowIfHeldByAnotherThread(string operation)
    {
        if (HeldByAnotherThread) throw Conflict(operation);
    }

    private void Exit()
    {
        if (--_depth > 0) return;
        _operation = null;
        Volatile.Write(ref _ownerThread, 0);
    }

    private InvalidOperationException Conflict(string operation)
    {
        // The holder names its operation just after it takes the guard: wait that moment out, briefly, on the way to the
        // exception, so that the message names it rather than "another call".
        string? named = Volatile.Read(ref _operation);
        var spin = new SpinWait();
        while (named is null && spin.Count < 100 && Volatile.Read(ref _ownerThread) is int owner && owner != 0 && owner != Environment.CurrentManagedThreadId)
        {
            spin.SpinOnce(sleep1Threshold: -1);
            named = Volatile.Read(ref _operation);
        }
        string holder = named ?? "another call";
        return new InvalidOperationException(
            $"{_subject} is in use by {holder} on another thread, so {operation} cannot run now: it is not safe to use from two threads at once. {_advice}");
    }

    /// <summary>The held guard; disposing it releases one level of nesting.</summary>
    public readonly struct Scope : IDisposable
    {
        private readonly UsageGuard? _guard;
        internal Scope(UsageGuard guard) => _guard = guard;
        public void Dispose() => _guard?.Exit();
    }
}
