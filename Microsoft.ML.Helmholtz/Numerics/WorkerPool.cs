using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;

namespace Microsoft.ML.Helmholtz.Numerics;

/// <summary>One piece of a parallel loop: <see cref="Execute"/> runs piece <c>piece</c> and writes only its own outputs.</summary>
internal interface IPieceWork
{
    void Execute(int piece);
}

/// <summary>
/// Helper threads that run the pieces of a short parallel loop together with the calling thread.
/// A training step is a chain of 10–500 µs loops (matrix products, element-wise kernels, the
/// optimiser), too short for a thread-pool hand-off: waking a blocked thread on a virtual machine
/// costs tens of microseconds. Helpers here poll (yielding the core) for 200 µs after each loop, so
/// the next hand-off costs about a microsecond, and block only when the process has gone quiet.
/// Pieces are claimed dynamically: a helper that is not running (its vCPU taken away) delays nothing,
/// because the caller claims whatever is left. Each piece writes its own outputs, so results never
/// depend on which thread ran it or on the number of threads.
/// A loop started while another is running (another thread's, or from inside a piece) runs on its
/// caller alone, as does every loop inside <see cref="InlineScope"/>. Callers that choose how to cut
/// their work by the pool's <see cref="Threads"/> get the same pieces either way.
/// </summary>
internal sealed unsafe class WorkerPool : IDisposable
{
    // The published job, one 64-bit word: generation (24 bits) | piece count (20) | next piece to claim (20).
    // A claim is one Interlocked.Increment; it is valid when the claimed index is below the count it
    // came with, and a valid claim holds the job open, so the job's other fields stay put until it ends.
    private const int IndexBits = 20;
    private const long IndexMask = (1L << IndexBits) - 1;
    private const int MaxPieces = (1 << IndexBits) - 1;
    private const int MaxSharedPieces = 1 << (IndexBits - 1);

    private static readonly long SpinTicks = System.Diagnostics.Stopwatch.Frequency / 5000; // 200 µs

    private readonly Thread[] _helpers;
    private readonly SemaphoreSlim _wake = new(0);
    private long _word;
    private int _busy;
    private int _sleepers;
    private int _done;
    private volatile bool _disposed;
    private void* _state;
    private delegate*<void*, int, void> _body;
    private ExceptionDispatchInfo? _failure;

    [ThreadStatic] private static WorkerPool? t_current;

    /// <summary>The process-wide pool: one thread per core, the caller's included.</summary>
    public static WorkerPool Shared { get; } = new(Environment.ProcessorCount);

    /// <summary>The pool that kernels, optimisers and engines started on this thread use: <see cref="Shared"/> unless <see cref="Use"/> says otherwise.</summary>
    public static WorkerPool Current => t_current ?? Shared;

    /// <summary>Until disposed, <see cref="Current"/> is <paramref name="pool"/> on this thread (tests give loops a pool no one else keeps busy).</summary>
    public static CurrentRegion Use(WorkerPool pool)
    {
        ArgumentNullException.ThrowIfNull(pool);
        var region = new CurrentRegion(t_current);
        t_current = pool;
        return region;
    }

    public readonly struct CurrentRegion(WorkerPool? previous) : IDisposable
    {
        public void Dispose() => t_current = previous;
    }

    /// <summary>A pool whose loops run on <paramref name="threads"/> threads, the caller's included.</summary>
    public WorkerPool(int threads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        _helpers = new Thread[threads - 1];
        for (int i = 0; i < _helpers.Length; i++)
        {
            _helpers[i] = new Thread(HelperLoop) { IsBackground = true, Name = $"Helmholtz worker {i + 1}" };
            _helpers[i].Start();
        }
    }

    /// <summary>Ends the helper threads once they finish what they run; later loops run on their callers.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_helpers.Length > 0) _wake.Release(_helpers.Length);
    }

    /// <summary>Threads a loop can use, the caller's included (for a caller-only pool, the threads it cuts loops for).</summary>
    public int Threads => _nominalThreads > 0 ? _nominalThreads : _helpers.Length + 1;

    /// <summary>A pool without helpers: its loops run on their callers.</summary>
    public static WorkerPool Inline { get; } = new(1);

    // A caller-only pool's thread count: it has no helpers, but callers cut their work as for this many threads.
    private readonly int _nominalThreads;

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<int, WorkerPool> s_callerOnly = new();

    private WorkerPool(int threads, bool callerOnly)
    {
        _helpers = [];
        _nominalThreads = callerOnly ? threads : 0;
    }

    /// <summary>
    /// A pool whose loops all run on their callers, but which says it has <paramref name="threads"/> threads, so that
    /// work cut by <see cref="Threads"/> is cut into the pieces a pool of that many would run: for pipelines that each
    /// keep to one thread yet must give the bits the shared pool gives (OpenBLAS's pieces are summed in their own order).
    /// </summary>
    public static WorkerPool CallerOnly(int threads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        return threads == 1 ? Inline : s_callerOnly.GetOrAdd(threads, t => new WorkerPool(t, callerOnly: true));
    }

    /// <summary>
    /// Until disposed, loops started on this thread (through <see cref="Current"/>) run on it alone:
    /// for work that is already spread over the cores one pipeline per thread, where sharing the
    /// helpers would oversubscribe them.
    /// </summary>
    public static CurrentRegion InlineScope() => Use(Inline);

    /// <summary>Whether loops started on this thread run on it alone (<see cref="Current"/> has no helpers).</summary>
    public static bool IsInlineOnThisThread => Current._helpers.Length == 0;

    /// <summary>Helpers blocked until the next loop wakes them (tests wait for it instead of sleeping).</summary>
    internal int Sleepers => Volatile.Read(ref _sleepers);

    /// <summary>Helper threads that have not ended (tests wait for <see cref="Dispose"/> to end them).</summary>
    internal int LiveHelpers
    {
        get
        {
            int live = 0;
            foreach (Thread helper in _helpers) if (helper.IsAlive) live++;
            return live;
        }
    }

    /// <summary>Whether a loop started now would be shared with helpers (they exist, and no loop is running).</summary>
    public bool IsAvailable => _helpers.Length > 0 && !_disposed && Volatile.Read(ref _busy) == 0;

    /// <summary>
    /// Runs work.Execute(piece) for piece = 0…pieces−1 and returns when all have run. The work is
    /// unmanaged (pointers, not references): callers pin their buffers around the call.
    /// </summary>
    public void Run<TWork>(int pieces, TWork work) where TWork : unmanaged, IPieceWork
    {
        if (pieces <= 0) return;
        if (pieces > MaxPieces) throw new ArgumentOutOfRangeException(nameof(pieces), $"At most {MaxPieces} pieces per loop.");
        // Each thread's last, failing claim (two for a helper that joins late) increments the 20-bit "next" field past the count:
        // a loop within a few claims of the field's end would carry into the count and run a piece −1. Such loops run on the caller.
        if (pieces == 1 || pieces > MaxSharedPieces || !IsAvailable || Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
        {
            for (int p = 0; p < pieces; p++) work.Execute(p);
            return;
        }
        try
        {
            // `work` is this frame's copy, and this method returns only after every piece has run.
            _state = Unsafe.AsPointer(ref work);
            _body = &Trampoline<TWork>;
            _failure = null;
            Volatile.Write(ref _done, 0);
            long generation = (Volatile.Read(ref _word) >>> (2 * IndexBits)) + 1;
            Interlocked.Exchange(ref _word, (generation << (2 * IndexBits)) | ((long)pieces << IndexBits));
            if (Volatile.Read(ref _sleepers) > 0)
            {
                int sleeping = Interlocked.Exchange(ref _sleepers, 0);
                if (sleeping > 0) _wake.Release(sleeping);
            }
            ClaimAndRun();
            var spin = new SpinWait();
            while (Volatile.Read(ref _done) < pieces) spin.SpinOnce(sleep1Threshold: -1);
            _failure?.Throw();
        }
        finally
        {
            Volatile.Write(ref _busy, 0);
        }
    }

    private static void Trampoline<TWork>(void* state, int piece) where TWork : unmanaged, IPieceWork
        => Unsafe.AsRef<TWork>(state).Execute(piece);

    /// <summary>Claims pieces of the current job until none is left.</summary>
    private void ClaimAndRun()
    {
        while (true)
        {
            long claim = Interlocked.Increment(ref _word);
            int index = (int)((claim & IndexMask) - 1);
            int count = (int)((claim >> IndexBits) & IndexMask);
            if (index >= count) return;
            try
            {
                _body(_state, index);
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref _failure, ExceptionDispatchInfo.Capture(e), null);
            }
            Interlocked.Increment(ref _done);
        }
    }

    private void HelperLoop()
    {
        long seen = 0;
        while (!_disposed)
        {
            long generation = Volatile.Read(ref _word) >>> (2 * IndexBits);
            if (generation != seen)
            {
                seen = generation;
                ClaimAndRun();
                continue;
            }
            if (SpinUntilNewJob(seen)) continue;
            // Announce the sleep, then look once more: a caller publishes before it reads _sleepers,
            // so either it sees this helper asleep and wakes it, or this look sees its job.
            Interlocked.Increment(ref _sleepers);
            if (Volatile.Read(ref _word) >>> (2 * IndexBits) != seen)
            {
                // Take the announcement back unless a caller already counted it (then a spare wake-up
                // waits in the semaphore; the next sleep returns at once and loops, harmlessly).
                int s;
                do s = Volatile.Read(ref _sleepers);
                while (s > 0 && Interlocked.CompareExchange(ref _sleepers, s - 1, s) != s);
                continue;
            }
            _wake.Wait();
        }
    }

    private bool SpinUntilNewJob(long seen)
    {
        long deadline = System.Diagnostics.Stopwatch.GetTimestamp() + SpinTicks;
        while (true)
        {
            for (int i = 0; i < 16; i++)
            {
                if (Volatile.Read(ref _word) >>> (2 * IndexBits) != seen || _disposed) return true;
                // Yield rather than pause, so that a spinning helper gives way to any other runnable
                // thread (another process, a scoring pipeline): measured as fast as pausing here.
                Thread.Yield();
            }
            if (System.Diagnostics.Stopwatch.GetTimestamp() > deadline) return false;
        }
    }
}
