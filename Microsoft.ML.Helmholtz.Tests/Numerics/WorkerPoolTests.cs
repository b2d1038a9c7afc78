using System.Diagnostics;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Tests.Numerics;

[TestClass]
public sealed unsafe class WorkerPoolTests
{
    // A pool of its own, so that tests running beside these (on the shared pool) cannot make it busy.
    private static readonly WorkerPool Pool = new(3);

    /// <summary>Adds 1 to counts[piece], records the thread, and busy-waits so that helpers have time to join.</summary>
    private struct CountingWork : IPieceWork
    {
        public int* Counts;
        public int* Threads;
        public long SpinTicks;

        public readonly void Execute(int piece)
        {
            Interlocked.Increment(ref Counts[piece]);
            Threads[piece] = Environment.CurrentManagedThreadId;
            long end = Stopwatch.GetTimestamp() + SpinTicks;
            while (Stopwatch.GetTimestamp() < end) { }
        }
    }

    private static (int[] Counts, int[] Threads) RunCounting(WorkerPool pool, int pieces, double microsecondsEach)
    {
        // One slot past the pieces: a piece `pieces` run by mistake (a thread's last, failing claim taken for a piece) lands there.
        int[] counts = new int[pieces + 1], threads = new int[pieces + 1];
        fixed (int* c = counts)
        fixed (int* t = threads)
            pool.Run(pieces, new CountingWork { Counts = c, Threads = t, SpinTicks = (long)(microsecondsEach * Stopwatch.Frequency / 1e6) });
        Assert.AreEqual(0, counts[pieces], $"piece {pieces} of a loop of {pieces} ran");
        return (counts[..pieces], threads[..pieces]);
    }

    [TestMethod]
    [DataRow(1)]
    [DataRow(2)]
    [DataRow(3)]
    [DataRow(17)]
    [DataRow(1000)]
    public void EveryPieceRunsExactlyOnce(int pieces)
    {
        for (int repeat = 0; repeat < 50; repeat++)
        {
            var (counts, _) = RunCounting(Pool, pieces, 0);
            CollectionAssert.AreEqual(Enumerable.Repeat(1, pieces).ToArray(), counts, $"repeat {repeat}");
        }
    }

    /// <summary>
    /// Records each piece's thread; a piece on the caller waits (until <see cref="Deadline"/>, the loop's start plus
    /// <see cref="HelperWatchdog"/>) until a piece has run on another thread, so the loop cannot end on the caller alone before a helper had its chance, however busy the machine.
    /// </summary>
    private struct WaitForHelperWork : IPieceWork
    {
        public int* Threads;
        public int* HelperRan;
        public int Caller;
        public long Deadline;

        public readonly void Execute(int piece)
        {
            int thread = Environment.CurrentManagedThreadId;
            Threads[piece] = thread;
            if (thread != Caller)
            {
                Volatile.Write(ref *HelperRan, 1);
                return;
            }
            while (Volatile.Read(ref *HelperRan) == 0 && Stopwatch.GetTimestamp() < Deadline) Thread.SpinWait(20);
        }
    }

    private static readonly TimeSpan HelperWatchdog = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Waits until all <paramref name="helpers"/> of <paramref name="pool"/> sleep: each polls for about 200 µs after its last loop,
    /// then blocks (a watchdog, not a timing, decides how long the wait may be).
    /// </summary>
    internal static void WaitUntilAsleep(WorkerPool pool, int helpers)
    {
        WaitUntil(() => pool.Sleepers >= helpers);
        Assert.AreEqual(helpers, pool.Sleepers, "the helpers went to sleep");
    }

    /// <summary>Polls <paramref name="done"/> until it holds or <see cref="HelperWatchdog"/> has passed; the caller asserts what it waited for.</summary>
    private static void WaitUntil(Func<bool> done)
    {
        var clock = Stopwatch.StartNew();
        while (!done() && clock.Elapsed < HelperWatchdog) Thread.Sleep(1);
    }

    private static int[] RunWaitingForHelper(WorkerPool pool, int pieces)
    {
        int[] threads = new int[pieces];
        int helperRan = 0;
        fixed (int* t = threads)
            pool.Run(pieces, new WaitForHelperWork
            {
                Threads = t, HelperRan = &helperRan, Caller = Environment.CurrentManagedThreadId,
                Deadline = Stopwatch.GetTimestamp() + (long)(HelperWatchdog.TotalSeconds * Stopwatch.Frequency),
            });
        return threads;
    }

    [TestMethod]
    public void HelpersTakePieces()
    {
        // The caller's pieces wait for a helper's (a watchdog of 30 s, not a timing the test depends on).
        // A pool of the test's own: a loop started while another runs would stay on its caller.
        using var pool = new WorkerPool(2);
        int[] threads = RunWaitingForHelper(pool, 4);
        int caller = Environment.CurrentManagedThreadId;
        Assert.IsTrue(threads.Any(t => t != caller), "no piece ran on a helper thread");
    }

    [TestMethod]
    public void InsideAnInlineScopeEveryPieceRunsOnTheCaller()
    {
        using var pool = new WorkerPool(2);
        using (WorkerPool.Use(pool))
        {
            Assert.AreSame(pool, WorkerPool.Current);
            using (WorkerPool.InlineScope())
            {
                Assert.IsTrue(WorkerPool.IsInlineOnThisThread);
                Assert.AreEqual(1, WorkerPool.Current.Threads);
                var (counts, threads) = RunCounting(WorkerPool.Current, 20, 500);
                Assert.IsTrue(counts.All(c => c == 1));
                Assert.IsTrue(threads.All(t => t == Environment.CurrentManagedThreadId), "a piece left the calling thread");
            }
            Assert.AreSame(pool, WorkerPool.Current, "the scope must restore the pool it found");
        }
        Assert.AreSame(WorkerPool.Shared, WorkerPool.Current);
        // The shared pool again: inline only on a machine of one core, where it has no helpers.
        Assert.AreEqual(WorkerPool.Shared.Threads == 1, WorkerPool.IsInlineOnThisThread);
    }

    /// <summary>A caller-only pool says it has N threads (work is cut for N) but runs every piece on its caller; one of 1 is Inline.</summary>
    [TestMethod]
    public void ACallerOnlyPoolCutsForItsThreadsAndRunsOnTheCaller()
    {
        WorkerPool four = WorkerPool.CallerOnly(4);
        Assert.AreEqual(4, four.Threads);
        Assert.IsFalse(four.IsAvailable, "no helpers to share a loop with");
        Assert.AreSame(four, WorkerPool.CallerOnly(4), "one per thread count");
        Assert.AreSame(WorkerPool.Inline, WorkerPool.CallerOnly(1));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => WorkerPool.CallerOnly(0));
        using (WorkerPool.Use(four))
        {
            Assert.IsTrue(WorkerPool.IsInlineOnThisThread);
            var (counts, threads) = RunCounting(WorkerPool.Current, 20, 500);
            Assert.IsTrue(counts.All(c => c == 1));
            Assert.IsTrue(threads.All(t => t == Environment.CurrentManagedThreadId), "a piece left the calling thread");
        }
    }

    private struct NestedWork : IPieceWork
    {
        public int* Totals;

        public readonly void Execute(int piece)
        {
            // A loop started from inside a piece finds the pool busy and runs on its caller.
            int[] counts = new int[5], threads = new int[5];
            fixed (int* c = counts)
            fixed (int* t = threads)
                Pool.Run(5, new CountingWork { Counts = c, Threads = t });
            Totals[piece] = counts.Sum();
        }
    }

    [TestMethod]
    public void ALoopStartedInsideAPieceRunsInline()
    {
        int[] totals = new int[8];
        fixed (int* p = totals) Pool.Run(8, new NestedWork { Totals = p });
        CollectionAssert.AreEqual(Enumerable.Repeat(5, 8).ToArray(), totals);
    }

    [TestMethod]
    public void LoopsFromSeveralThreadsAtOnceAllComplete()
    {
        var results = new int[4][];
        Parallel.For(0, 4, new ParallelOptions { MaxDegreeOfParallelism = 4 }, w =>
        {
            int sum = 0;
            for (int repeat = 0; repeat < 200; repeat++) sum += RunCounting(Pool, 7, 1).Counts.Sum();
            results[w] = [sum];
        });
        foreach (int[] r in results) Assert.AreEqual(200 * 7, r[0]);
    }

    private struct ThrowingWork : IPieceWork
    {
        public readonly void Execute(int piece)
        {
            if (piece == 3) throw new InvalidOperationException("piece 3 failed");
        }
    }

    [TestMethod]
    public void AnExceptionInAPieceReachesTheCallerAndThePoolGoesOn()
    {
        // A pool of the test's own: nothing else keeps it busy, so the failing loop is certainly shared with the helper.
        using var pool = new WorkerPool(2);
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => pool.Run(10, new ThrowingWork()));
        Assert.AreEqual("piece 3 failed", e.Message);
        Assert.IsTrue(pool.IsAvailable, "a failed loop must leave the pool free for the next");
        var (counts, _) = RunCounting(pool, 10, 0);
        Assert.IsTrue(counts.All(c => c == 1), "the pool must work after a failed loop");
        int[] threads = RunWaitingForHelper(pool, 4);
        Assert.IsTrue(threads.Any(t => t != Environment.CurrentManagedThreadId), "the helper must take pieces again after a failed loop");
    }

    [TestMethod]
    [DataRow(1)]
    [DataRow(3)]
    public void ADisposedPoolRunsLoopsOnTheCaller(int size)
    {
        var pool = new WorkerPool(size);
        pool.Dispose();
        pool.Dispose(); // a second time does nothing
        Assert.IsFalse(pool.IsAvailable);
        var (counts, threads) = RunCounting(pool, 12, 100);
        Assert.IsTrue(counts.All(c => c == 1));
        Assert.IsTrue(threads.All(t => t == Environment.CurrentManagedThreadId));
    }

    /// <summary>Helpers blocked on the semaphore would outlive their pool (one thread each per disposed pool) unless Dispose wakes them.</summary>
    [TestMethod]
    public void DisposingAPoolEndsItsSleepingHelpers()
    {
        var pool = new WorkerPool(3);
        WaitUntilAsleep(pool, 2);
        Assert.AreEqual(2, pool.LiveHelpers);
        pool.Dispose();
        WaitUntil(() => pool.LiveHelpers == 0);
        Assert.AreEqual(0, pool.LiveHelpers, "helpers still blocked after Dispose");
    }

    [TestMethod]
    public void HelpersThatFellAsleepAreWokenForTheNextLoop()
    {
        using var pool = new WorkerPool(2);
        RunCounting(pool, 4, 0);
        WaitUntilAsleep(pool, 1);   // so the loop below must wake it
        int[] threads = RunWaitingForHelper(pool, 4);
        Assert.IsTrue(threads.Any(t => t != Environment.CurrentManagedThreadId), "no helper woke for the loop");
    }

    /// <summary>Counts every piece run, and those outside [0, Pieces).</summary>
    private struct RangeCheckingWork : IPieceWork
    {
        public long* Ran;
        public long* OutOfRange;
        public int Pieces;

        public readonly void Execute(int piece)
        {
            Interlocked.Increment(ref *Ran);
            if ((uint)piece >= (uint)Pieces) Interlocked.Increment(ref *OutOfRange);
        }
    }

    /// <summary>
    /// A loop of the most pieces Run takes runs each once and no other: each thread's last, failing claim counts one past the
    /// 20-bit field of claimed pieces, which carried into the count and ran a piece −1 (a review's finding).
    /// </summary>
    [TestMethod]
    public void ALoopOfTheMostPiecesRunsEachOnceAndNoOther()
    {
        using var pool = new WorkerPool(2);
        const int pieces = (1 << 20) - 1;
        long ran = 0, outOfRange = 0;
        pool.Run(pieces, new RangeCheckingWork { Ran = &ran, OutOfRange = &outOfRange, Pieces = pieces });
        Assert.AreEqual(0L, outOfRange, "pieces outside [0, pieces) were run");
        Assert.AreEqual((long)pieces, ran, "every piece once");
        // One more is refused before any piece runs (ThrowingWork would throw from piece 3).
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => pool.Run(pieces + 1, new ThrowingWork()));
    }

    /// <summary>
    /// Counts the pieces helpers ran; every piece then waits (until <see cref="Deadline"/>) until <see cref="Wanted"/> of them have,
    /// so a helper holding a piece cannot take another, and the last piece is left for a helper that has not run one yet.
    /// </summary>
    private struct WaitForHelpersWork : IPieceWork
    {
        public int* Threads;
        public int* HelperPieces;
        public int Caller, Wanted;
        public long Deadline;

        public readonly void Execute(int piece)
        {
            int thread = Environment.CurrentManagedThreadId;
            Threads[piece] = thread;
            if (thread != Caller) Interlocked.Increment(ref *HelperPieces);
            while (Volatile.Read(ref *HelperPieces) < Wanted && Stopwatch.GetTimestamp() < Deadline) Thread.SpinWait(20);
        }
    }

    /// <summary>
    /// A loop wakes every helper that fell asleep, not one: with both helpers of a pool of three asleep, a loop of three pieces
    /// (the caller's and one for each helper, each held until both helpers have one) runs on three threads. A helper left
    /// asleep would also have left the count of sleepers, and no later loop would wake it either.
    /// </summary>
    [TestMethod]
    public void EveryHelperThatFellAsleepIsWokenForTheNextLoop()
    {
        using var pool = new WorkerPool(3);
        for (int loop = 0; loop < 2; loop++)
        {
            WaitUntilAsleep(pool, 2);   // so the loop below must wake both
            int[] threads = new int[3];
            int helperPieces = 0;
            fixed (int* t = threads)
                pool.Run(3, new WaitForHelpersWork
                {
                    Threads = t, HelperPieces = &helperPieces, Caller = Environment.CurrentManagedThreadId, Wanted = 2,
                    Deadline = Stopwatch.GetTimestamp() + (long)(HelperWatchdog.TotalSeconds * Stopwatch.Frequency),
                });
            int caller = Environment.CurrentManagedThreadId;
            Assert.AreEqual(2, threads.Where(t => t != caller).Distinct().Count(), $"loop {loop}: pieces ran on threads {string.Join(", ", threads)}");
        }
    }

    // A pool of no threads could run nothing, and a null pool would silently put Current back to the shared pool: both refused,
    // naming their parameter, and a refused Use leaves this thread's pool as it was.
    [TestMethod]
    public void APoolOfNoThreadsAndANullPoolForThisThreadAreRefused()
    {
        Assert.AreEqual("threads", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new WorkerPool(0)).ParamName);
        using (WorkerPool.Use(Pool))
        {
            Assert.AreEqual("pool", Assert.ThrowsExactly<ArgumentNullException>(() => WorkerPool.Use(null!)).ParamName);
            Assert.AreSame(Pool, WorkerPool.Current);
        }
    }

    /// <summary>On a helper: says it started, sleeps, says it finished. On the caller: waits (under the watchdog) for a helper's start, then throws.</summary>
    private struct FailWhileAHelperRunsWork : IPieceWork
    {
        public int* HelperStarted;
        public int* HelperFinished;
        public int Caller;
        public long Deadline;

        public readonly void Execute(int piece)
        {
            if (Environment.CurrentManagedThreadId != Caller)
            {
                Volatile.Write(ref *HelperStarted, 1);
                Thread.Sleep(200);
                Volatile.Write(ref *HelperFinished, 1);
                return;
            }
            while (Volatile.Read(ref *HelperStarted) == 0 && Stopwatch.GetTimestamp() < Deadline) Thread.SpinWait(20);
            throw new InvalidOperationException("the caller's piece failed");
        }
    }

    [TestMethod]
    public void AFailedLoopThrowsOnlyOnceThePiecesOnItsHelpersHaveEnded()
    {
        // A loop's work lives in Run's frame and its buffers are pinned only around the call: a failure that reached the caller
        // while a helper still ran a piece would let that piece go on writing into memory the caller has moved on from.
        using var pool = new WorkerPool(2);
        int started = 0, finished = 0, finishedWhenThrown = -1;
        InvalidOperationException? caught = null;
        try
        {
            pool.Run(2, new FailWhileAHelperRunsWork
            {
                HelperStarted = &started, HelperFinished = &finished, Caller = Environment.CurrentManagedThreadId,
                Deadline = Stopwatch.GetTimestamp() + (long)(HelperWatchdog.TotalSeconds * Stopwatch.Frequency),
            });
        }
        catch (InvalidOperationException e)
        {
            finishedWhenThrown = Volatile.Read(ref finished);
            caught = e;
        }
        Assert.AreEqual(1, Volatile.Read(ref started), "the helper took the other piece");
        Assert.AreEqual("the caller's piece failed", caught?.Message);
        Assert.AreEqual(1, finishedWhenThrown, "the failure reached the caller while the helper's piece still ran");
    }
}
