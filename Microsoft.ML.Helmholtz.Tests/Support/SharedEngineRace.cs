using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.ML;

namespace Microsoft.ML.Helmholtz.Tests.Support;

/// <summary>Two threads calling one object that is for one thread at a time, until the first call fails or the time is up.</summary>
internal static class SharedEngineRace
{
    /// <summary>The failures of <paramref name="call"/> (thread, call index) made from two threads at once; empty when they never met.</summary>
    public static IReadOnlyCollection<Exception> Failures(Action<int, int> call, double seconds = 30)
    {
        var failures = new ConcurrentQueue<Exception>();
        var clock = Stopwatch.StartNew();
        // Two threads of their own, released together: a pool's second iteration can start only after the first has ended
        // (on a busy machine), and a call that ends (a cursor's last row) then never meets the other.
        using var start = new Barrier(2);
        var threads = Enumerable.Range(0, 2).Select(t => new Thread(() =>
        {
            start.SignalAndWait();
            for (int i = 0; failures.IsEmpty && clock.Elapsed.TotalSeconds < seconds; i++)
            {
                try { call(t, i); }
                catch (Exception e) { failures.Enqueue(e); }
            }
        })).ToArray();
        foreach (Thread thread in threads) thread.Start();
        foreach (Thread thread in threads) thread.Join();
        return failures;
    }

    /// <summary>Two threads moving one cursor over <paramref name="scored"/> and reading its float column <paramref name="column"/>, as <see cref="Failures"/>.</summary>
    public static IReadOnlyCollection<Exception> CursorFailures(IDataView scored, string column)
    {
        using DataViewRowCursor cursor = scored.GetRowCursor(scored.Schema);
        ValueGetter<float> getter = cursor.GetGetter<float>(scored.Schema[column]);
        float value = 0;
        return Failures((t, i) =>
        {
            if (cursor.MoveNext()) getter(ref value);
            else throw new AssertFailedException("the cursor ended before the threads met");
        });
    }

    /// <summary>Asserts that the threads met and that each failure names the cursor, with the advice to give each thread one of its own.</summary>
    public static void AssertNamedAsTheCursor(IReadOnlyCollection<Exception> failures)
        => AssertNamed(failures, "cursor", "This Helmholtz machine's cursor is in use by ", "give each thread a cursor of its own");

    /// <summary>Asserts that the threads met and that each failure (or an exception inside it) names the engine as the threads table quotes it.</summary>
    public static void AssertNamedAsTheEngine(IReadOnlyCollection<Exception> failures)
        => AssertNamed(failures, "PredictionEngine", "This Helmholtz machine's PredictionEngine row is in use by Predict on another thread", "create one engine per thread");

    private static void AssertNamed(IReadOnlyCollection<Exception> failures, string what, string refusal, string advice)
    {
        Assert.IsNotEmpty(failures, $"two threads on one {what} never met");
        foreach (Exception e in failures)
        {
            Exception inner = e;
            while (inner.InnerException is not null && !inner.Message.Contains(what, StringComparison.Ordinal)) inner = inner.InnerException;
            StringAssert.Contains(inner.Message, refusal, e.ToString());
            StringAssert.Contains(inner.Message, "on another thread");
            StringAssert.Contains(inner.Message, advice);
        }
    }
}
