using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Model;

namespace Microsoft.ML.Helmholtz.Learning.Optimizers;

/// <summary>
/// Applies one descent step to parameters from their accumulated (loss) gradients. An optimiser keeps
/// state per parameter: one training run at a time (a trainer holds it for its run and names a second).
/// </summary>
public interface IOptimizer
{
    /// <summary>
    /// The optimiser's short name, for messages (e.g. "adam"). A <see cref="TrainingState"/> records it, and a run whose
    /// optimiser has another name refuses that state.
    /// </summary>
    string Name { get; }

    /// <summary>
    /// The optimiser's hyperparameters, for messages (e.g. "β1 0.9, β2 0.999, ε 1E-08, weight decay 0"); empty when there are none.
    /// A <see cref="TrainingState"/> records them, and a run whose optimiser has other settings refuses that state.
    /// </summary>
    string Settings => "";

    /// <summary>
    /// Moves each of <paramref name="parameters"/> one step against its accumulated gradient (<see cref="Parameter.Gradient"/>)
    /// at <paramref name="learningRate"/>. The built-in optimisers keep their state (moments, velocities) per parameter object from
    /// one call to the next, and throw <see cref="ArgumentOutOfRangeException"/> for a rate that is negative or not finite.
    /// </summary>
    void Step(IReadOnlyList<Parameter> parameters, float learningRate);

    /// <summary>
    /// Whether <see cref="Step"/> leaves every gradient it used at zero, so that the trainer need not
    /// clear them before the next minibatch (clearing in the same pass saves one over all parameters).
    /// </summary>
    bool ClearsGradients => false;
}
