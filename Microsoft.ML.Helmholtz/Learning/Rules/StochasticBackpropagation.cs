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
    private double[] _freeEnergy = [], _logJoint = [];
    private float[] _weights = [];
    private float[][] _local = [], _rest = [], _hessian = [];

    public StochasticBackpropagation(VarianceGradient variance = VarianceGradient.PathWise) => Variance = variance;

    public VarianceGradient Variance { get; }
    public string Name => Variance == VarianceGradient.PathWise ? "sbp" : "sbp-price";
    public string Objective => "free energy";
    public int SamplesPerExample => 1;
    public IReadOnlyList<Parameter> Parameters { get; } = [];

    private HelmholtzMachine? _machine;

    /// <summary>Every hidden layer must have reparameterised samples (Gaussian units).</summary>
    public string? Unsupported(HelmholtzArchitecture architecture) => ReparameterizedLayers.Unsupported(architecture, "Stochastic back-propagation");

    public void Prepare(HelmholtzMachine machine, int batchCapacity)
    {
        ArgumentNullException.ThrowIfNull(machine);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchCapacity);
        if (Unsupported(machine.Architecture) is { } reason) throw new NotSupportedException(reason);
        var layers = machine.Architecture.Layers;
        _freeEnergy = new double[batchCapacity];
        _logJoint = new double[batchCapacity];
        _weights = new float[batchCapacity];
        float[][] PerLayer() => layers.Select(l => new float[batchCapacity * l.Size]).ToArray();
        _local = PerLayer();
        _rest = PerLayer();
        _hessian = PerLayer();
        _machine = machine;
    }

    public BatchLoss AccumulateGradients(HelmholtzMachine machine, TrainingBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        int rows = batch.Rows;
        // Buffers are sized per layer: a machine of another shape (or a larger batch) needs new ones.
        if (!ReferenceEquals(machine, _machine) || _weights.Length < rows) Prepare(machine, rows);
        LayerStates states = batch.States;
        LayerConditioning? conditioning = batch.Conditioning;
        GenerativeNetwork gen = machine.Generative;
        RecognitionNetwork rec = machine.Recognition;
        int depth = gen.Depth;
        bool price = Variance == VarianceGradient.Price;

        machine.SampleFreeEnergy(batch.Random, states, rows, _freeEnergy, _logJoint, conditioning);
        for (int l = 1; l <= depth; l++)
        {
            int n = rows * machine.Architecture.Layers[l].Size;
            _local[l].AsSpan(0, n).Clear();
            _rest[l].AsSpan(0, n).Clear();
            if (price) _hessian[l].AsSpan(0, n).Clear();
        }

        // Generative model: the loss −ln p(X)/B; ∂/∂h_l splits into the term below h_l (local) and the term at h_l (rest).
        Span<float> w = _weights.AsSpan(0, rows);
        w.Fill(-1f / rows);
        for (int l = 0; l < depth; l++)
        {
            int nAbove = rows * machine.Architecture.Layers[l + 1].Size;
            Span<float> outputGradient = l == 0 ? default : _rest[l].AsSpan(0, rows * machine.Architecture.Layers[l].Size);
            Span<float> dc = conditioning is null ? default : conditioning.GenerativeGradient(l, rows);
            gen.Layers[l].AccumulateLogProbGradient(states.Layer(l, rows), states.Layer(l + 1, rows), rows, w, _local[l + 1].AsSpan(0, nAbove), outputGradient, dc);
            if (price)
                gen.Layers[l].AccumulateNegLogProbInputHessianDiagonal(states.Layer(l, rows), rows, _hessian[l + 1].AsSpan(0, nAbove));
        }
        int nTop = rows * machine.Architecture.Layers[depth].Size;
        gen.Prior.AccumulateLogProbGradient(states.Layer(depth, rows), default, rows, w, default, _local[depth].AsSpan(0, nTop),
            conditioning is null ? default : conditioning.GenerativeGradient(depth, rows));
        if (price)
            gen.Prior.AccumulateNegLogProbOutputHessianDiagonal(states.Layer(depth, rows), rows, _hessian[depth].AsSpan(0, nTop));

        // Recognition model, top-down: every path from h_l upwards is in _rest[l] by the time l is reached.
        // The loss holds ln q(h_l | h_{l−1}) / B (the entropy term) and the local terms at weight 1/B.
        w.Fill(1f / rows);
        for (int l = depth; l >= 1; l--)
        {
            var layer = (IReparameterizedLayer)rec.Layer(l);
            int n = rows * machine.Architecture.Layers[l].Size;
            var gradient = new SampleGradient
            {
                Local = _local[l].AsSpan(0, n),
                PathWise = _rest[l].AsSpan(0, n),
                LocalCurvature = price ? _hessian[l].AsSpan(0, n) : default,
                RowWeights = w,
            };
            Span<float> inputGradient = l >= 2 ? _rest[l - 1].AsSpan(0, rows * machine.Architecture.Layers[l - 1].Size) : default;
            layer.BackwardThroughSample(gradient, states.Layer(l - 1, rows), rows, inputGradient,
                conditioning is null ? default : conditioning.RecognitionGradient(l, rows));
        }

        double sum = 0;
        for (int r = 0; r < rows; r++) sum += _freeEnergy[r];
        return BatchLoss.OfFreeEnergy(sum / rows);
    }
}
