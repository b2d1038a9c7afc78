using Microsoft.ML.Helmholtz.Concurrency;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Model;

namespace Microsoft.ML.Helmholtz.Learning.Rules;

/// <summary>
/// The importance-weighted autoencoder's objective (Burda, Grosse and Salakhutdinov 2016): for K
/// samples h_k ~ q(· | x), L_K = ln (1/K) Σ_k p(x, h_k) / q(h_k | x), a lower bound on ln p(x) that
/// tightens as K grows (L_1 is −F). Its path-wise gradient is Σ_k w̃_k ∇F̂_k with the noise fixed,
/// w̃_k = exp(−F̂_k) / Σ_j exp(−F̂_j): stochastic back-propagation with each sample weighted by its
/// normalised importance weight. Needs reparameterised (Gaussian) hidden layers; Price's theorem does
/// not apply to a weighted sum, so the variances' gradients are path-wise.
/// </summary>
public sealed class ImportanceWeightedBound : ILearningRule
{
    private readonly PathwiseGradient _backward = new();
    private double[] _freeEnergy = [], _logJoint = [];
    private float[] _weights = [];
    private HelmholtzMachine? _machine;
    private UsageGuard? _use;   // RuleUse: entered by Prepare and AccumulateGradients

    /// <param name="samples">K, the samples per example (at least 1; K = 1 is stochastic back-propagation).</param>
    public ImportanceWeightedBound(int samples = 5)
    {
        if (samples < 1) throw new ArgumentOutOfRangeException(nameof(samples), samples, "The importance-weighted bound needs K ≥ 1 samples per example.");
        SamplesPerExample = samples;
    }

    /// <summary>"iwae".</summary>
    public string Name => "iwae";
    /// <summary>"K = " and the samples per example.</summary>
    public string Settings => $"K = {SamplesPerExample}";
    /// <inheritdoc/>
    public string Objective => $"−L_{SamplesPerExample} (the {SamplesPerExample}-sample importance-weighted bound)";
    /// <inheritdoc/>
    public int SamplesPerExample { get; }
    /// <inheritdoc/>
    public IReadOnlyList<Parameter> Parameters { get; } = [];

    /// <inheritdoc/>
    public string? Unsupported(HelmholtzArchitecture architecture) => ReparameterizedLayers.Unsupported(architecture, "The importance-weighted bound (IWAE)");

    /// <inheritdoc/>
    public void Prepare(HelmholtzMachine machine, int batchCapacity)
    {
        using var use = RuleUse.Enter(this, ref _use, nameof(Prepare));
        ArgumentNullException.ThrowIfNull(machine);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchCapacity);
        if (Unsupported(machine.Architecture) is { } reason) throw new NotSupportedException(reason);
        int rows = SampleRows.Of(batchCapacity, SamplesPerExample, "The importance-weighted bound");
        PathwiseGradient.RequireRows(machine.Architecture, rows, nameof(batchCapacity),
            SampleRows.Describe(batchCapacity, SamplesPerExample, "The importance-weighted bound"), SampleRows.Remedy);
        SampleRows.FitMachine(machine, rows, batchCapacity, SamplesPerExample, "The importance-weighted bound");
        _freeEnergy = new double[rows];
        _logJoint = new double[rows];
        _weights = new float[rows];
        _backward.Prepare(machine.Architecture, rows);
        _machine = machine;
    }

    /// <inheritdoc/>
    public BatchLoss AccumulateGradients(HelmholtzMachine machine, TrainingBatch batch)
    {
        using var use = RuleUse.Enter(this, ref _use, nameof(AccumulateGradients));
        ArgumentNullException.ThrowIfNull(batch);
        batch.RequireSamplesPerExample(SamplesPerExample);
        int rows = batch.Rows, examples = batch.Examples, k = SamplesPerExample;
        if (!ReferenceEquals(machine, _machine) || _weights.Length < rows) Prepare(machine, examples);

        batch.SampleFreeEnergy(machine, _freeEnergy, _logJoint);
        double bound = ImportanceWeights.Normalize(_freeEnergy.AsSpan(0, rows), examples, k, _weights.AsSpan(0, rows));
        _backward.Accumulate(machine, batch.States, rows, _weights.AsSpan(0, rows), batch.Conditioning, price: false);

        return new BatchLoss(-bound, BatchLoss.MeanFreeEnergy(_freeEnergy.AsSpan(0, rows)));
    }
}

/// <summary>The self-normalised importance weights of K samples per example.</summary>
internal static class ImportanceWeights
{
    /// <summary>
    /// For each example (rows eK … eK + K − 1 of <paramref name="freeEnergy"/>): weights[r] =
    /// w̃_r / B with w̃ the softmax of −F̂ over the example's samples. Returns the mean over examples of
    /// L̂_K = ln (1/K) Σ_k exp(−F̂_k).
    /// </summary>
    public static double Normalize(ReadOnlySpan<double> freeEnergy, int examples, int k, Span<float> weights)
    {
        double total = 0, logK = Math.Log(k);
        for (int e = 0; e < examples; e++)
        {
            ReadOnlySpan<double> f = freeEnergy.Slice(e * k, k);
            double max = double.NegativeInfinity;
            foreach (double x in f) max = Math.Max(max, -x);
            double sum = 0;
            foreach (double x in f) sum += Math.Exp(-x - max);
            for (int j = 0; j < k; j++) weights[e * k + j] = (float)(Math.Exp(-f[j] - max) / sum / examples);
            total += max + Math.Log(sum) - logK;
        }
        return total / examples;
    }
}
