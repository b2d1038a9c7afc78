using Microsoft.ML.Helmholtz.Concurrency;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Learning.Rules;

/// <summary>
/// Wake-Sleep (Hinton et al., 1995). Wake: θg follows ∇θg ln p(X) at X_{&gt;0} ~ q(· | X_0).
/// Sleep: θr follows ∇θr ln q(D_{&gt;0} | D_0) for a dream D ~ p. The sleep phase minimises
/// KL(p‖q) rather than KL(q‖p), so this is not the gradient of the free energy.
/// </summary>
public sealed class WakeSleep : ILearningRule
{
    private LayerStates? _dreams;
    private double[] _freeEnergy = [], _logJoint = [];
    private float[] _weights = [];

    /// <summary>"wake-sleep".</summary>
    public string Name => "wake-sleep";

    /// <summary>The wake phase's free energy; the sleep phase minimises KL(p‖q), no bound.</summary>
    public string Objective => "free energy (wake phase)";
    /// <inheritdoc/>
    public int SamplesPerExample => 1;
    /// <inheritdoc/>
    public IReadOnlyList<Parameter> Parameters { get; } = [];
    /// <inheritdoc/>
    public string? Unsupported(HelmholtzArchitecture architecture) => null;

    private HelmholtzMachine? _machine;
    private UsageGuard? _use;   // RuleUse: entered by Prepare and AccumulateGradients

    /// <inheritdoc/>
    public void Prepare(HelmholtzMachine machine, int batchCapacity)
    {
        using var use = RuleUse.Enter(this, ref _use, nameof(Prepare));
        ArgumentNullException.ThrowIfNull(machine);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchCapacity);
        machine.RequireRows(batchCapacity, nameof(batchCapacity), $"Wake-Sleep: batchCapacity = {batchCapacity} examples", "use a smaller batch (TrainingOptions.BatchSize)");
        // Everything allocated before the machine is taken: a rule that cannot be prepared keeps the machine it was prepared for.
        var dreams = new LayerStates(machine.Architecture, batchCapacity);
        var freeEnergy = new double[batchCapacity];
        var logJoint = new double[batchCapacity];
        var weights = new float[batchCapacity];
        (_machine, _dreams, _freeEnergy, _logJoint, _weights) = (machine, dreams, freeEnergy, logJoint, weights);
    }

    /// <inheritdoc/>
    public BatchLoss AccumulateGradients(HelmholtzMachine machine, TrainingBatch batch)
    {
        using var use = RuleUse.Enter(this, ref _use, nameof(AccumulateGradients));
        ArgumentNullException.ThrowIfNull(machine);
        ArgumentNullException.ThrowIfNull(batch);
        batch.RequireSamplesPerExample(SamplesPerExample);
        int rows = batch.Rows;
        if (!ReferenceEquals(machine, _machine) || _dreams!.Capacity < rows) Prepare(machine, rows);
        Span<float> w = _weights.AsSpan(0, rows);
        w.Fill(-1f / rows);
        LayerConditioning? conditioning = batch.Conditioning;

        // Wake: the loss −ln p(X) / B at X_{>0} ~ q.
        machine.SampleFreeEnergy(batch.Random, batch.States, rows, _freeEnergy, _logJoint, conditioning);
        machine.Generative.AccumulateLogJointGradient(batch.States, rows, w, conditioning);

        // Sleep: the loss −ln q(D_{>0} | D_0) / B at a dream D ~ p (under the same conditioning, row by row).
        machine.Generative.Dream(batch.Random, rows, _dreams!, conditioning);
        Span<double> unused = _logJoint.AsSpan(0, rows);
        machine.Recognition.AccumulateLogProb(_dreams!, rows, unused, conditioning);
        machine.Recognition.AccumulateLogProbGradient(_dreams!, rows, w, conditioning);

        return BatchLoss.OfFreeEnergy(BatchLoss.MeanFreeEnergy(_freeEnergy.AsSpan(0, rows)));
    }
}
