using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Learning;

/// <summary>
/// A learning rule: for one minibatch it accumulates into the parameters' gradient buffers the
/// gradient of the loss it minimises (averaged over the rows). Rules touch the model only through
/// the layers' forward / sample / log-probability / backward calls, so a new rule is one new file.
/// </summary>
public interface ILearningRule
{
    string Name { get; }

    /// <summary>Learned parameters of the rule itself (e.g. a baseline network), stepped with the model's.</summary>
    IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>
    /// Checks that the rule applies to <paramref name="machine"/> (throws
    /// <see cref="NotSupportedException"/> naming the problem otherwise) and allocates its buffers
    /// for batches of up to <paramref name="batchCapacity"/> rows. The trainer calls it at the start
    /// of every run, before anything changes. A rule belongs to the machine it was last prepared
    /// for: its buffers and any learned state (baselines) are for that machine, so preparing it for
    /// another machine rebuilds them, and <see cref="AccumulateGradients"/> on another machine
    /// prepares it first. A rule is used by one training run at a time.
    /// </summary>
    void Prepare(HelmholtzMachine machine, int batchCapacity);

    /// <summary>
    /// Accumulates the gradients for the minibatch whose visible values are in states[0] (first
    /// <paramref name="rows"/> rows); the rule may overwrite the hidden layers of
    /// <paramref name="states"/>. Returns the minibatch's mean free-energy sample ⟨F̂⟩.
    /// </summary>
    double AccumulateGradients(HelmholtzMachine machine, LayerStates states, int rows, RandomStream random);
}
