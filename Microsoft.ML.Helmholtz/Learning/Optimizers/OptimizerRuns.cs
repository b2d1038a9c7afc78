using System.Runtime.CompilerServices;
using Microsoft.ML.Helmholtz.Concurrency;

namespace Microsoft.ML.Helmholtz.Learning.Optimizers;

/// <summary>
/// The optimisers that a training run has used. An optimiser holds one run's moments and step count: a factory that hands
/// the same one out again (<c>() =&gt; adam</c>) would carry them into the next run and change it silently, so both trainers
/// refuse it, naming the option. A run marks its optimiser once it has passed every refusal, just before the machine changes.
/// </summary>
internal static class OptimizerRuns
{
    private static readonly ConditionalWeakTable<IOptimizer, object> Used = new();
    private static readonly object Mark = new();

    /// <summary>
    /// Holds <paramref name="optimizer"/> for a run's <paramref name="operation"/> (another run at once is named, <see cref="ExclusiveUse"/>),
    /// and refuses one that an earlier run used; <paramref name="option"/> names the factory that returned it.
    /// </summary>
    public static UsageGuard.Scope Enter(IOptimizer optimizer, string option, string operation)
    {
        UsageGuard.Scope use = ExclusiveUse.Enter(optimizer, $"The optimiser '{optimizer.Name}'", $"{option} must create a new optimiser for each run.", operation);
        try
        {
            RequireUnused(optimizer, option);
            return use;
        }
        catch
        {
            use.Dispose();
            throw;
        }
    }

    private static void RequireUnused(IOptimizer optimizer, string option)
    {
        if (Used.TryGetValue(optimizer, out _))
            throw new InvalidOperationException($"{option} returned an optimiser ('{optimizer.Name}') that an earlier training run used: its moments and " +
                $"step count would carry into this run and change it. {option} must create a new optimiser on each call (e.g. () => new Adam()); " +
                "a run that goes on from another takes that run's TrainingState instead.");
    }

    public static void MarkUsed(IOptimizer optimizer) => Used.AddOrUpdate(optimizer, Mark);
}
