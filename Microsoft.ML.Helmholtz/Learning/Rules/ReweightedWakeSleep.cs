using Microsoft.ML.Helmholtz.Concurrency;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Model;

namespace Microsoft.ML.Helmholtz.Learning.Rules;

/// <summary>How <see cref="ReweightedWakeSleep"/> updates the recognition network.</summary>
public enum RecognitionUpdate
{
    /// <summary>Wake phase: Σ_k w̃_k ∇θr ln q(h_k | x) on the data's K samples, a self-normalised estimate of −∇ KL(p(h | x) ‖ q(h | x)).</summary>
    Wake,

    /// <summary>Sleep phase only: ∇θr ln q(h | x) at dreams (x, h) ~ p, as in wake-sleep.</summary>
    Sleep,

    /// <summary>Both, averaged.</summary>
    WakeAndSleep,
}

/// <summary>
/// Reweighted wake-sleep (Bornschein and Bengio 2015). With K samples h_k ~ q(· | x) and their
/// normalised importance weights w̃_k: θg follows Σ_k w̃_k ∇ ln p(x, h_k), the self-normalised
/// estimate of ∇ ln p(x) (the same as the K-sample bound's generative gradient); θr follows
/// Σ_k w̃_k ∇ ln q(h_k | x), which estimates −∇ KL(p(h | x) ‖ q(h | x)) (the wake-phase update), or the
/// sleep phase's ∇ ln q at dreams, or both. Both estimates are biased for finite K, with a bias
/// that falls as 1/K; no sample is differentiated, so any hidden units work.
/// </summary>
public sealed class ReweightedWakeSleep : ILearningRule
{
    private LayerStates? _dreams;
    private double[] _freeEnergy = [], _logJoint = [];
    private float[] _weights = [], _dreamWeights = [];
    private HelmholtzMachine? _machine;
    private UsageGuard? _use;   // RuleUse: entered by Prepare and AccumulateGradients

    /// <param name="samples">K, the samples per example (at least 1).</param>
    /// <param name="update">How the recognition network learns.</param>
    public ReweightedWakeSleep(int samples = 5, RecognitionUpdate update = RecognitionUpdate.Wake)
    {
        if (samples < 1) throw new ArgumentOutOfRangeException(nameof(samples), samples, "Reweighted wake-sleep needs K ≥ 1 samples per example.");
        if (!Enum.IsDefined(update)) throw new ArgumentOutOfRangeException(nameof(update), update, "Unknown recognition update.");
        SamplesPerExample = samples;
        Update = update;
    }

    /// <summary>How the recognition network learns.</summary>
    public RecognitionUpdate Update { get; }
    /// <summary>"rws", "rws-sleep" or "rws-wake-sleep", by <see cref="Update"/>.</summary>
    public string Name => Update switch { RecognitionUpdate.Wake => "rws", RecognitionUpdate.Sleep => "rws-sleep", _ => "rws-wake-sleep" };
    /// <summary>"K = " and the samples per example.</summary>
    public string Settings => $"K = {SamplesPerExample}";
    /// <inheritdoc/>
    public string Objective => $"−L_{SamplesPerExample} (the {SamplesPerExample}-sample bound, measured; q follows the {Update switch { RecognitionUpdate.Wake => "wake", RecognitionUpdate.Sleep => "sleep", _ => "wake and sleep" }} update)";
    /// <inheritdoc/>
    public int SamplesPerExample { get; }
    /// <inheritdoc/>
    public IReadOnlyList<Parameter> Parameters { get; } = [];
    /// <inheritdoc/>
    public string? Unsupported(HelmholtzArchitecture architecture) => null;

    /// <summary>
    /// Null for the wake-phase update (<see cref="RecognitionUpdate.Wake"/>); the updates with a sleep phase refuse conditioning,
    /// since a dream has no data row to take it from.
    /// </summary>
    public string? UnsupportedConditioning => Update == RecognitionUpdate.Wake ? null
        : "Reweighted wake-sleep's sleep phase does not take conditioning (a dream has no data row to take it from); use its wake-phase update alone (RecognitionUpdate.Wake, the rule \"rws\").";

    /// <inheritdoc/>
    public void Prepare(HelmholtzMachine machine, int batchCapacity)
    {
        using var use = RuleUse.Enter(this, ref _use, nameof(Prepare));
        ArgumentNullException.ThrowIfNull(machine);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchCapacity);
        int rows = SampleRows.Of(machine, batchCapacity, SamplesPerExample, "Reweighted wake-sleep");
        _freeEnergy = new double[rows];
        _logJoint = new double[rows];
        _weights = new float[rows];
        _dreams = Update == RecognitionUpdate.Wake ? null : new LayerStates(machine.Architecture, batchCapacity);
        _dreamWeights = new float[batchCapacity];
        _machine = machine;
    }

    /// <inheritdoc/>
    public BatchLoss AccumulateGradients(HelmholtzMachine machine, TrainingBatch batch)
    {
        using var use = RuleUse.Enter(this, ref _use, nameof(AccumulateGradients));
        ArgumentNullException.ThrowIfNull(batch);
        batch.RequireSamplesPerExample(SamplesPerExample);
        if (batch.Conditioning is not null && UnsupportedConditioning is { } reason) throw new NotSupportedException(reason);
        int rows = batch.Rows, examples = batch.Examples, k = SamplesPerExample;
        if (!ReferenceEquals(machine, _machine) || _weights.Length < rows || _dreamWeights.Length < examples) Prepare(machine, examples);
        LayerStates states = batch.States;
        LayerConditioning? conditioning = batch.Conditioning;

        batch.SampleFreeEnergy(machine, _freeEnergy, _logJoint);
        Span<float> w = _weights.AsSpan(0, rows);
        double bound = ImportanceWeights.Normalize(_freeEnergy.AsSpan(0, rows), examples, k, w);
        // The losses: −Σ w̃ ln p (θg) and −Σ w̃ ln q (θr, wake), per example over B; half each phase's when both run.
        float wakeShare = Update == RecognitionUpdate.WakeAndSleep ? 0.5f : 1f;
        for (int r = 0; r < rows; r++) w[r] = -w[r];
        machine.Generative.AccumulateLogJointGradient(states, rows, w, conditioning);
        if (Update != RecognitionUpdate.Sleep)
        {
            if (wakeShare != 1f) for (int r = 0; r < rows; r++) w[r] *= wakeShare;
            machine.Recognition.AccumulateLogProbGradient(states, rows, w, conditioning);
        }
        if (Update != RecognitionUpdate.Wake)
        {
            // Sleep: −ln q(D_{>0} | D_0) at one dream per example.
            Span<float> dw = _dreamWeights.AsSpan(0, examples);
            float sleepShare = Update == RecognitionUpdate.Sleep ? 1f : 0.5f;
            dw.Fill(-sleepShare / examples);
            machine.Generative.Dream(batch.Random, examples, _dreams!);
            machine.Recognition.AccumulateLogProb(_dreams!, examples, _logJoint.AsSpan(0, examples));
            machine.Recognition.AccumulateLogProbGradient(_dreams!, examples, dw);
        }

        return new BatchLoss(-bound, BatchLoss.MeanFreeEnergy(_freeEnergy.AsSpan(0, rows)));
    }
}
