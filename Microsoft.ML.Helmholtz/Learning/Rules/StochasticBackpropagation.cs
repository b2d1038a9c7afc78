using Microsoft.ML.Helmholtz.Concurrency;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Learning.Rules;

/// <summary>How <see cref="StochasticBackpropagation"/> estimates the gradient with respect to a recognition variance.</summary>
public enum VarianceGradient
{
    /// <summary>Path-wise (reparameterised): h = μ + σ ε, differentiate with ε held fixed.</summary>
    PathWise,

    /// <summary>
    /// Price's theorem, ∇_{σ²}⟨f⟩ = ½⟨∂²f/∂h²⟩, for the terms of F̂ that depend on h_l only directly
    /// (the generative layer below it, and the prior at the top), with their exact diagonal
    /// second derivatives; the terms reached through the layers above use the path-wise form.
    /// </summary>
    Price,
}

/// <summary>
/// Stochastic back-propagation (BP-SBP) of the free energy through Gaussian hidden layers (the seed's
/// algorithm 1). θg follows ∇θg(−ln p). For each hidden layer, ε^μ = ∂F̂/∂h_l (back-propagated
/// through the generative model and the recognition layers above) gives the mean's gradient by
/// Bonnet's theorem; the variance's gradient is path-wise or Price's (<see cref="VarianceGradient"/>),
/// and the entropy term of ln q is differentiated exactly. Both forms are unbiased for ∇F.
/// </summary>
public sealed class StochasticBackpropagation : ILearningRule
{
    private readonly PathwiseGradient _backward = new();
    private double[] _freeEnergy = [], _logJoint = [];
    private float[] _weights = [];

    /// <summary>Stochastic back-propagation with the recognition variances' gradient estimated as <paramref name="variance"/> says.</summary>
    /// <param name="variance">Path-wise (the default, "sbp") or by Price's theorem ("sbp-price"); an undefined value throws <see cref="ArgumentOutOfRangeException"/>.</param>
    public StochasticBackpropagation(VarianceGradient variance = VarianceGradient.PathWise)
    {
        // Refused here: an undefined value trained path-wise while Name (and a saved TrainingState) said "sbp-price".
        if (!Enum.IsDefined(variance)) throw new ArgumentOutOfRangeException(nameof(variance), variance, "Unknown variance gradient: use VarianceGradient.PathWise or VarianceGradient.Price.");
        Variance = variance;
    }

    /// <summary>How the gradient with respect to a recognition variance is estimated.</summary>
    public VarianceGradient Variance { get; }
    /// <summary>"sbp" for <see cref="VarianceGradient.PathWise"/>, "sbp-price" for <see cref="VarianceGradient.Price"/>.</summary>
    public string Name => Variance == VarianceGradient.PathWise ? "sbp" : "sbp-price";
    /// <inheritdoc/>
    public string Objective => "free energy";
    /// <inheritdoc/>
    public int SamplesPerExample => 1;
    /// <inheritdoc/>
    public IReadOnlyList<Parameter> Parameters { get; } = [];

    private HelmholtzMachine? _machine;
    private UsageGuard? _use;   // RuleUse: entered by Prepare and AccumulateGradients

    /// <summary>Every hidden layer must have reparameterised samples (Gaussian units); Price's form needs diagonal posteriors and no deterministic layers.</summary>
    public string? Unsupported(HelmholtzArchitecture architecture)
    {
        if (ReparameterizedLayers.Unsupported(architecture, "Stochastic back-propagation") is { } reason) return reason;
        if (Variance != VarianceGradient.Price) return null;
        for (int l = 1; l < architecture.Layers.Count; l++)
            if (!architecture.Layers[l].Units.SupportsPriceGradient)
                return $"Price's theorem needs diagonal posterior variances, but hidden layer {l} ({architecture.Layers[l]}) is {architecture.Layers[l].Units.Name}; use the path-wise gradient (sbp).";
        if (architecture.HasTrunks)
            return $"Price's theorem needs each layer's diagonal Hessian in its input, which the deterministic layers of {architecture} do not give; use the path-wise gradient (sbp).";
        return null;
    }

    /// <inheritdoc/>
    public void Prepare(HelmholtzMachine machine, int batchCapacity)
    {
        using var use = RuleUse.Enter(this, ref _use, nameof(Prepare));
        ArgumentNullException.ThrowIfNull(machine);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchCapacity);
        if (Unsupported(machine.Architecture) is { } reason) throw new NotSupportedException(reason);
        PathwiseGradient.RequireRows(machine.Architecture, batchCapacity, nameof(batchCapacity), $"Stochastic back-propagation: batchCapacity = {batchCapacity} rows",
            "use a smaller batch (TrainingOptions.BatchSize)");
        _freeEnergy = new double[batchCapacity];
        _logJoint = new double[batchCapacity];
        _weights = new float[batchCapacity];
        _backward.Prepare(machine.Architecture, batchCapacity);
        _machine = machine;
    }

    /// <inheritdoc/>
    public BatchLoss AccumulateGradients(HelmholtzMachine machine, TrainingBatch batch)
    {
        using var use = RuleUse.Enter(this, ref _use, nameof(AccumulateGradients));
        ArgumentNullException.ThrowIfNull(batch);
        batch.RequireSamplesPerExample(SamplesPerExample);
        int rows = batch.Rows;
        // Buffers are sized per layer: a machine of another shape (or a larger batch) needs new ones.
        if (!ReferenceEquals(machine, _machine) || _weights.Length < rows) Prepare(machine, rows);

        machine.SampleFreeEnergy(batch.Random, batch.States, rows, _freeEnergy, _logJoint, batch.Conditioning);
        Span<float> v = _weights.AsSpan(0, rows);
        v.Fill(1f / rows);
        _backward.Accumulate(machine, batch.States, rows, v, batch.Conditioning, Variance == VarianceGradient.Price);

        return BatchLoss.OfFreeEnergy(BatchLoss.MeanFreeEnergy(_freeEnergy.AsSpan(0, rows)));
    }
}
