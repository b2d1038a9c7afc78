namespace Microsoft.ML.Helmholtz.Learning;

/// <summary>
/// A rule whose running estimates (baselines, variances) learn from each minibatch's free energy. The trainer checks a
/// step by the free energy the rule measures on the next minibatch, after the rule has learned from it: when the check
/// fails and the step is undone, the trainer takes that lesson back too, so that the rule, given a lower learning rate,
/// goes on from what it knew before the failed step rather than from the diverged machine's free energies.
/// </summary>
public interface IUndoableRunningEstimates
{
    /// <summary>Keeps the estimates as they stand; called before each minibatch's gradients (no allocation after the first call).</summary>
    void KeepForUndo();

    /// <summary>Puts back what <see cref="KeepForUndo"/> last kept.</summary>
    void UndoLastUpdate();
}
