using Microsoft.ML.Helmholtz.Concurrency;

namespace Microsoft.ML.Helmholtz.Learning;

/// <summary>
/// A learning rule's usage guard: the trainers hold it for a whole run, and the built-in rules' own <c>Prepare</c> and
/// <c>AccumulateGradients</c> enter it too, so a rule called from two threads at once (two direct callers, or one beside a
/// run) is named instead of mixing its buffers (it was an index out of range, or a silently wrong objective).
/// </summary>
internal static class RuleUse
{
    private const string Advice = "Give each training run that runs at the same time, and each thread that calls a rule itself, a rule object of its own.";

    /// <summary>Holds <paramref name="rule"/>'s guard for <paramref name="operation"/> until the scope is disposed.</summary>
    public static UsageGuard.Scope Enter(ILearningRule rule, string operation)
        => ExclusiveUse.Enter(rule, $"The learning rule '{rule.Name}'", Advice, operation);

    /// <summary>
    /// <see cref="Enter(ILearningRule, string)"/> for a rule that keeps its guard in <paramref name="cached"/>: once found,
    /// entering looks nothing up and allocates nothing (a step enters it).
    /// </summary>
    public static UsageGuard.Scope Enter(ILearningRule rule, ref UsageGuard? cached, string operation)
        => (cached ??= ExclusiveUse.GuardOf(rule, $"The learning rule '{rule.Name}'", Advice)).Enter(operation);
}
