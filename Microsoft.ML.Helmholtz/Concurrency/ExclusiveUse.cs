using System.Runtime.CompilerServices;

namespace Microsoft.ML.Helmholtz.Concurrency;

/// <summary>
/// Usage guards for objects that do not carry one of their own (learning rules and optimisers a
/// user may implement): the trainer holds the rule and the optimiser of a run for the whole run, so
/// one instance shared by two concurrent runs is named instead of silently mixing their state.
/// </summary>
internal static class ExclusiveUse
{
    private static readonly ConditionalWeakTable<object, UsageGuard> Guards = new();

    /// <summary>Holds <paramref name="target"/> for <paramref name="operation"/> until the scope is disposed.</summary>
    public static UsageGuard.Scope Enter(object target, string subject, string advice, string operation)
        => GuardOf(target, subject, advice).Enter(operation);

    /// <summary><paramref name="target"/>'s guard, made with <paramref name="subject"/> and <paramref name="advice"/> by the first call that asks.</summary>
    public static UsageGuard GuardOf(object target, string subject, string advice)
        => Guards.GetValue(target, _ => new UsageGuard(subject, advice));
}
