using Microsoft.ML.Helmholtz.Concurrency;

namespace Microsoft.ML.Helmholtz.Model;

/// <summary>
/// How threads share one <see cref="HelmholtzMachine"/>. Two things are shared, and each is
/// protected its own way:
/// - The computation buffers of its layers (one set per machine): one thread at a time may run
///   training or the sampling and log-probability calls. <see cref="Compute"/> detects a second
///   thread and names it; it never waits, because a training run holds it for minutes.
/// - The parameter values: copying them out (<see cref="HelmholtzMachine.Clone"/>, saving,
///   every estimator's snapshot) takes the read side of <see cref="EnterRead"/>, and changing them
///   (each optimiser step, an undone step, the data-based initialisation) the write side, so a
///   copy is always of the parameters between two steps. Both sides are held for short work only
///   and wait for each other.
/// </summary>
internal sealed class MachineAccess
{
    private readonly ReaderWriterLockSlim _parameters = new(LockRecursionPolicy.SupportsRecursion);

    public UsageGuard Compute { get; } = new("This HelmholtzMachine",
        "Its layers compute in buffers of their own: train it on one thread; score it from any number of threads with the estimators " +
        "(each works on a private copy), or give each thread its own Clone().");

    /// <summary>
    /// Holds <see cref="Compute"/> for <paramref name="operation"/> after checking that
    /// <paramref name="states"/> fit the machine's <paramref name="architecture"/> for <paramref name="rows"/> rows.
    /// </summary>
    public UsageGuard.Scope EnterCompute(string operation, LayerStates states, HelmholtzArchitecture architecture, int rows, LayerConditioning? conditioning = null)
    {
        ArgumentNullException.ThrowIfNull(states);
        states.Check(architecture, rows);
        conditioning?.Check(architecture, rows);
        return Compute.Enter(operation);
    }

    /// <summary>Holds the parameters for reading (many readers at once) until the scope is disposed.</summary>
    public ReadScope EnterRead()
    {
        _parameters.EnterReadLock();
        return new ReadScope(_parameters);
    }

    /// <summary>Holds the parameters for writing (one writer, no readers) until the scope is disposed.</summary>
    public WriteScope EnterWrite()
    {
        _parameters.EnterWriteLock();
        return new WriteScope(_parameters);
    }

    public readonly struct ReadScope(ReaderWriterLockSlim owner) : IDisposable
    {
        public void Dispose() => owner.ExitReadLock();
    }

    public readonly struct WriteScope(ReaderWriterLockSlim owner) : IDisposable
    {
        public void Dispose() => owner.ExitWriteLock();
    }
}
