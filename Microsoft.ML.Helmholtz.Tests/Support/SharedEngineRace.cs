using System.Collections.Concurrent;
using System.Diagnostics;

namespace Microsoft.ML.Helmholtz.Tests.Support;

/// <summary>Two threads calling one object that is for one thread at a time, until the first call fails or the time is up.</summary>
internal static class SharedEngineRace
{
    /// <summary>The failures of <paramref name="call"/> (thread, call index) made from two threads at once; empty when they never met.</summary>
    public static IReadOnlyCollection<Exception> Failures(Action<int, int> call, double seconds = 30)
    {
        var failures = new ConcurrentQueue<Exception>();
        var clock = Stopwatch.StartNew();
        Parallel.For(0, 2, new ParallelOptions { MaxDegreeOfParallelism = 2 }, t =>
        {
            for (int i = 0; failures.IsEmpty && clock.Elapsed.TotalSeconds < seconds; i++)
            {
                try { call(t, i); }
                catch (Exception e) { failures.Enqueue(e); }
            }
        });
        return failures;
    }

    /// <summary>Asserts that the threads met and that each failure (or an exception inside it) names the engine as the threads table quotes it.</summary>
    public static void AssertNamedAsTheEngine(IReadOnlyCollection<Exception> failures)
    {
        Assert.IsNotEmpty(failures, "two threads on one engine never met");
        foreach (Exception e in failures)
        {
            Exception inner = e;
            while (inner.InnerException is not null && !inner.Message.Contains("PredictionEngine", StringComparison.Ordinal)) inner = inner.InnerException;
            StringAssert.Contains(inner.Message, "This Helmholtz machine's PredictionEngine row is in use by Predict on another thread", e.ToString());
            StringAssert.Contains(inner.Message, "create one engine per thread");
        }
    }
}
