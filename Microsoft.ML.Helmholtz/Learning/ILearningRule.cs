using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Model;

namespace Microsoft.ML.Helmholtz.Learning;

/// <summary>
/// What a rule's step on one minibatch measured: <see cref="Objective"/>, the mean per example of
/// the loss the rule minimises (named by <see cref="ILearningRule.Objective"/>), and
/// <see cref="FreeEnergy"/>, the mean one-sample free energy F̂ = ln q − ln p of its samples, which
/// every rule draws and which the trainer watches for divergence and reports for every rule alike.
/// </summary>
public readonly record struct BatchLoss(double Objective, double FreeEnergy)
{
    /// <summary>A rule whose objective is the free energy itself.</summary>
    public static BatchLoss OfFreeEnergy(double freeEnergy) => new(freeEnergy, freeEnergy);

    /// <summary>The mean of the rows' one-sample free energies, summed in row order.</summary>
    internal static double MeanFreeEnergy(ReadOnlySpan<double> freeEnergy)
    {
        double sum = 0;
        foreach (double f in freeEnergy) sum += f;
        return sum / freeEnergy.Length;
    }
}

/// <summary>
/// A learning rule: for one minibatch it accumulates into the parameters' gradient buffers the
/// gradient of the loss it minimises (averaged over the examples). Rules touch the model only through
/// the networks' and layers' forward / sample / log-probability / backward calls (and
/// <see cref="IReparameterizedLayer"/> for gradients through samples), so a new rule is one new file.
/// A rule keeps buffers and baselines: one run or thread at a time (the trainers hold it for a run, and
/// the built-in rules' own <c>Prepare</c> and <c>AccumulateGradients</c> refuse a second thread).
/// </summary>
public interface ILearningRule
{
    /// <summary>
    /// The rule's short name, for messages: the built-in rules' are those of <see cref="LearningRules.Names"/> (e.g. "vimco").
    /// A <see cref="TrainingState"/> records it, and a run whose rule has another name refuses that state.
    /// </summary>
    string Name { get; }

    /// <summary>
    /// The options that shape the rule's steps beyond what <see cref="Name"/> says, for messages (e.g. "K = 5"); empty when there
    /// are none. A <see cref="TrainingState"/> records them, and a run whose rule has other settings refuses that state, since it
    /// would not go on as the recorded run would have. A rule of the application's that has options should say them here.
    /// </summary>
    string Settings => "";

    /// <summary>What the rule minimises, for reports: e.g. "free energy", "−L_5 (the 5-sample importance-weighted bound)".</summary>
    string Objective { get; }

    /// <summary>K, the samples the rule draws per example; the trainer sizes each <see cref="TrainingBatch"/> for them.</summary>
    int SamplesPerExample { get; }

    /// <summary>Learned parameters of the rule itself (e.g. a baseline network), stepped with the model's.</summary>
    IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>Null when the rule can train machines of <paramref name="architecture"/>; else why not, naming the layer and what to use instead.</summary>
    string? Unsupported(HelmholtzArchitecture architecture);

    /// <summary>
    /// Null when the rule takes batches with conditioning rows (<see cref="TrainingBatch.Conditioning"/>, as the
    /// temporal trainer gives every batch); else why not, and what to use instead. Trainers of conditioned
    /// machines check it before anything changes.
    /// </summary>
    string? UnsupportedConditioning => null;

    /// <summary>
    /// Checks that the rule applies to <paramref name="machine"/> (throws
    /// <see cref="NotSupportedException"/> with <see cref="Unsupported"/>'s reason otherwise) and
    /// allocates its buffers for batches of up to <paramref name="batchCapacity"/> examples. The
    /// trainer calls it at the start of every run, before anything changes. A rule belongs to the
    /// machine it was last prepared for: its buffers and any learned state (baselines) are for that
    /// machine, so preparing it for another machine rebuilds them, and <see cref="AccumulateGradients"/>
    /// on another machine prepares it first. A rule is used by one training run at a time.
    /// </summary>
    void Prepare(HelmholtzMachine machine, int batchCapacity);

    /// <summary>
    /// Accumulates the gradients for <paramref name="batch"/>: its examples, K = <see cref="SamplesPerExample"/>
    /// rows each in its states (whose hidden layers the rule overwrites), its conditioning if any
    /// (into whose gradients it adds ∂loss/∂c), and its random stream.
    /// </summary>
    BatchLoss AccumulateGradients(HelmholtzMachine machine, TrainingBatch batch);
}
