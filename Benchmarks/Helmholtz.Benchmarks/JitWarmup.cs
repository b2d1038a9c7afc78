using System.Diagnostics;
using System.Runtime;

namespace Helmholtz.Benchmarks;

/// <summary>
/// Calls code until the JIT has settled on it, so that what is timed next is the optimised code. Tiered compilation
/// optimises a method only after it has been called 30 times following a quiet spell without new tier-0 code (100 ms),
/// and a method with loops goes through more than one stage. On one processor (DOTNET_PROCESSOR_COUNT=1) the spell is
/// longer: about 2 s a stage was measured here. A fixed warm-up of some calls or 250 ms therefore timed tier-0 code wherever
/// a kernel calls a method that is neither inlined nor marked for full optimisation: on one processor `FillNormal` was
/// timed at 3.4–4.2 ns a normal against 0.81 settled, `TensorPrimitives.Sigmoid` at 62 against 0.52 (performance.md).
/// </summary>
internal static class JitWarmup
{
    /// <summary>Calls every action in turn, at least 60 rounds, until no method has been compiled for the last 60 rounds and a quiet spell longer than the runtime's delay (at most 30 s).</summary>
    public static void Run(params Action[] actions)
    {
        var quiet = TimeSpan.FromMilliseconds(Environment.ProcessorCount == 1 ? 3000 : 500);
        var clock = Stopwatch.StartNew();
        long compiled = JitInfo.GetCompiledMethodCount();
        TimeSpan lastCompile = TimeSpan.Zero;
        int roundsSince = 0;
        while (clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            foreach (Action action in actions) action();
            long now = JitInfo.GetCompiledMethodCount();
            if (now != compiled)
            {
                (compiled, lastCompile, roundsSince) = (now, clock.Elapsed, 0);
                continue;
            }
            if (++roundsSince >= 60 && clock.Elapsed - lastCompile >= quiet) return;
        }
    }
}
