using Microsoft.ML.Helmholtz.Concurrency;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Learning.Rules;

/// <summary>
/// VIMCO (Mnih and Rezende 2016): the K-sample bound L̂ = ln (1/K) Σ_k f_k, f_k = p(x, h_k) / q(h_k | x),
/// optimised with score-function gradients whose baseline for sample k comes from the other samples
/// of the same example: ∇L̂ = Σ_k (L̂ − L̂_{−k}) ∇ ln q(h_k | x) + Σ_k w̃_k ∇ ln f_k, where L̂_{−k}
/// replaces f_k by the geometric mean of the other K − 1 and w̃ are the normalised weights. The
/// baseline L̂_{−k} does not depend on h_k, so the estimator stays unbiased; no learned baseline is
/// needed. For θg the second term is Σ_k w̃_k ∇ ln p(x, h_k); for θr (samples held fixed) it is
/// −Σ_k w̃_k ∇ ln q(h_k | x). Works with any hidden units (it never differentiates a sample).
/// </summary>
public sealed class Vimco : ILearningRule
{
    private double[] _freeEnergy = [], _logJoint = [];
    private float[] _weights = [], _signal = [];
    private HelmholtzMachine? _machine;
    private UsageGuard? _use;   // RuleUse: entered by Prepare and AccumulateGradients

    /// <param name="samples">K, the samples per example: at least 2 (the baseline of each is built from the others).</param>
    public Vimco(int samples = 5)
    {
        if (samples < 2) throw new ArgumentOutOfRangeException(nameof(samples), samples, "VIMCO needs K ≥ 2 samples per example: each sample's baseline comes from the others.");
        SamplesPerExample = samples;
    }

    /// <summary>"vimco".</summary>
    public string Name => "vimco";
    /// <summary>"K = " and the samples per example.</summary>
    public string Settings => $"K = {SamplesPerExample}";
    /// <inheritdoc/>
    public string Objective => $"−L_{SamplesPerExample} (the {SamplesPerExample}-sample importance-weighted bound)";
    /// <inheritdoc/>
    public int SamplesPerExample { get; }
    /// <inheritdoc/>
    public IReadOnlyList<Parameter> Parameters { get; } = [];
    /// <inheritdoc/>
    public string? Unsupported(HelmholtzArchitecture architecture) => null;

    /// <inheritdoc/>
    public void Prepare(HelmholtzMachine machine, int batchCapacity)
    {
        using var use = RuleUse.Enter(this, ref _use, nameof(Prepare));
        ArgumentNullException.ThrowIfNull(machine);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchCapacity);
        int rows = SampleRows.Of(machine, batchCapacity, SamplesPerExample, "VIMCO");
        _freeEnergy = new double[rows];
        _logJoint = new double[rows];
        _weights = new float[rows];
        _signal = new float[rows];
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
        LayerStates states = batch.States;
        LayerConditioning? conditioning = batch.Conditioning;

        batch.SampleFreeEnergy(machine, _freeEnergy, _logJoint);
        Span<float> w = _weights.AsSpan(0, rows);
        double bound = ImportanceWeights.Normalize(_freeEnergy.AsSpan(0, rows), examples, k, w);
        LeaveOneOutSignals(_freeEnergy.AsSpan(0, rows), examples, k, _signal.AsSpan(0, rows));

        // θg: the loss −L̂ has gradient −Σ_k w̃_k ∇ ln p(x, h_k).
        for (int r = 0; r < rows; r++) _signal[r] = w[r] - _signal[r] / examples;   // θr's coefficients, before w is reused
        for (int r = 0; r < rows; r++) w[r] = -w[r];
        machine.Generative.AccumulateLogJointGradient(states, rows, w, conditioning);

        // θr: −Σ_k (L̂ − L̂_{−k}) ∇ ln q_k + Σ_k w̃_k ∇ ln q_k, per example over B.
        machine.Recognition.AccumulateLogProbGradient(states, rows, _signal.AsSpan(0, rows), conditioning);

        return new BatchLoss(-bound, BatchLoss.MeanFreeEnergy(_freeEnergy.AsSpan(0, rows)));
    }

    /// <summary>
    /// signal[r] = L̂ − L̂_{−k} for sample k of each example, in log space (a = −F̂): L̂_{−k} takes the mean of
    /// the other a's in place of a_k. O(K) an example: with M = max a and S = Σ_j e^{a_j − M}, the others'
    /// sum is S − e^{a_k − M}. That subtraction cancels only where sample k holds nearly all of S, which at
    /// most one sample of an example can; for that one L̂_{−k} is summed directly.
    /// </summary>
    internal static void LeaveOneOutSignals(ReadOnlySpan<double> freeEnergy, int examples, int k, Span<float> signal)
    {
        for (int e = 0; e < examples; e++)
        {
            ReadOnlySpan<double> f = freeEnergy.Slice(e * k, k);
            double max = double.NegativeInfinity, total = 0;
            for (int j = 0; j < k; j++)
            {
                max = Math.Max(max, -f[j]);
                total -= f[j];
            }
            double sum = 0;
            for (int j = 0; j < k; j++) sum += Math.Exp(-f[j] - max);
            double full = max + Math.Log(sum);
            for (int j = 0; j < k; j++)
            {
                double meanOthers = (total + f[j]) / (k - 1);
                double others = sum - Math.Exp(-f[j] - max);
                // Below this share of S the subtraction would have lost more than 10 of double's 53 bits.
                double withoutJ = others >= sum * CancellationShare
                    ? max + Math.Log(others + Math.Exp(meanOthers - max))
                    : LogSumExpReplacing(f, j, meanOthers);
                signal[e * k + j] = (float)(full - withoutJ);
            }
        }
    }

    private const double CancellationShare = 1.0 / 1024;

    /// <summary>ln Σ_j exp(−F̂_j) with the term at <paramref name="replaced"/> replaced by exp(<paramref name="replacement"/>), summed directly.</summary>
    private static double LogSumExpReplacing(ReadOnlySpan<double> freeEnergy, int replaced, double replacement)
    {
        var sum = LogSumExpAccumulator.Empty;
        sum.Add(replacement);
        for (int j = 0; j < freeEnergy.Length; j++)
            if (j != replaced) sum.Add(-freeEnergy[j]);
        return sum.Value;
    }
}
