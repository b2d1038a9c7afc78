using Microsoft.ML.Helmholtz.Concurrency;

namespace Microsoft.ML.Helmholtz.Tests.Support;

/// <summary>A usage guard held by another thread for the length of a check, then released.</summary>
internal static class GuardHolder
{
    /// <summary>Runs <paramref name="body"/> while a thread of its own holds what <paramref name="enter"/> enters; releases it after, whatever the body did.</summary>
    public static void WhileHeldByAnotherThread(Func<UsageGuard.Scope> enter, Action body)
    {
        using var held = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var holder = new Thread(() =>
        {
            using var use = enter();
            held.Set();
            release.Wait(TimeSpan.FromSeconds(60));
        });
        holder.Start();
        try
        {
            Assert.IsTrue(held.Wait(TimeSpan.FromSeconds(30)), "the holding thread did not enter the guard");
            body();
        }
        finally
        {
            release.Set();
            holder.Join();
        }
    }
}
