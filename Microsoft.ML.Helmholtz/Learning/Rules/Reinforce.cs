using Microsoft.ML.Helmholtz.Concurrency;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Learning.Rules;

/// <summary>Options of <see cref="Reinforce"/>; the defaults are the variance-reduced form.</summary>
public sealed class ReinforceOptions
{
    /// <summary>Decay of the running estimate b of ⟨F̂⟩ (0 = no running baseline: b = 0).</summary>
    public double BaselineDecay { get; set; } = 0.9;

    /// <summary>Hidden units of the input-dependent baseline c(x) (0 = none).</summary>
    public int InputBaselineHiddenUnits { get; set; } = 100;

    /// <summary>Divide the learning signal by a running estimate of its standard deviation (when above 1).</summary>
    public bool NormalizeVariance { get; set; } = true;

    /// <summary>Decay of the running variance estimate.</summary>
    public double VarianceDecay { get; set; } = 0.9;

    /// <summary>The seed's plain form: running baseline only.</summary>
    public static ReinforceOptions Plain => new() { InputBaselineHiddenUnits = 0, NormalizeVariance = false };

    internal ReinforceOptions Copy() => (ReinforceOptions)MemberwiseClone();
}

/// <summary>
/// REINFORCE (likelihood-ratio) gradient of the free energy. θg: ∇θg (−ln p(X)) at X_{&gt;0} ~ q, as in
/// the wake phase. θr: (F̂ − b − c(X_0)) ∇θr ln q(X_{&gt;0} | X_0), unbiased for ∇θr F because
/// ⟨∇ ln q⟩_q = 0 whatever the baseline; b is a running mean of F̂, c an input-dependent baseline,
/// and the signal can be divided by a running standard deviation (these only change the variance
/// and, for the normalisation, the recognition parameters' step size; the gradient it adds to a conditioning stays unscaled, as
/// parameters both networks share must follow the objective's gradient).
/// </summary>
public sealed class Reinforce : ILearningRule, IResumable, IUndoableRunningEstimates
{
    private readonly ReinforceOptions _options;
    private InputDependentBaseline? _inputBaseline;
    private double[] _freeEnergy = [], _logJoint = [], _target = [];
    private float[] _weights = [];
    private double _baseline, _variance = 1;
    private bool _started;
    private (double Baseline, double Variance, bool Started) _kept = (0, 1, false);
    private HelmholtzMachine? _machine;
    private UsageGuard? _use;   // RuleUse: entered by Prepare and AccumulateGradients
    private readonly UnscaledConditioningGradient _unscaled = new();

    /// <summary>The options are copied: changing them afterwards does not change this rule.</summary>
    public Reinforce(ReinforceOptions? options = null)
    {
        options ??= new ReinforceOptions();
        _options = new ReinforceOptions
        {
            BaselineDecay = Requires.InUnitIntervalOpenAbove(options.BaselineDecay, "ReinforceOptions.BaselineDecay"),
            VarianceDecay = Requires.InUnitIntervalOpenAbove(options.VarianceDecay, "ReinforceOptions.VarianceDecay"),
            InputBaselineHiddenUnits = options.InputBaselineHiddenUnits >= 0 ? options.InputBaselineHiddenUnits
                : throw new ArgumentOutOfRangeException("ReinforceOptions.InputBaselineHiddenUnits", options.InputBaselineHiddenUnits, "ReinforceOptions.InputBaselineHiddenUnits must be ≥ 0."),
            NormalizeVariance = options.NormalizeVariance,
        };
    }

    /// <summary>"reinforce-plain" for the seed's form (running baseline only), else "reinforce".</summary>
    public string Name => _options.InputBaselineHiddenUnits == 0 && !_options.NormalizeVariance ? "reinforce-plain" : "reinforce";
    /// <summary>The options: e.g. "baseline decay 0.9, input baseline of 100 hidden units, variance normalised with decay 0.9".</summary>
    public string Settings
        => RunningEstimates.Settings(_options.BaselineDecay, _options.InputBaselineHiddenUnits, _options.NormalizeVariance, _options.VarianceDecay);
    /// <inheritdoc/>
    public string Objective => "free energy";
    /// <inheritdoc/>
    public int SamplesPerExample => 1;
    /// <summary>
    /// The input-dependent baseline's parameters: none before <see cref="Prepare"/> (which makes the baseline for its machine)
    /// or with <see cref="ReinforceOptions.InputBaselineHiddenUnits"/> = 0.
    /// </summary>
    public IReadOnlyList<Parameter> Parameters => _inputBaseline?.Parameters ?? [];
    /// <inheritdoc/>
    public string? Unsupported(HelmholtzArchitecture architecture) => null;

    /// <summary>The running baseline b.</summary>
    public double Baseline => _baseline;

    /// <summary>
    /// Allocates for <paramref name="machine"/>. The baselines are learned for the machine they
    /// train, so preparing for another machine starts them afresh (a new input-dependent baseline
    /// sized for its visible layer, running estimates reset); the same machine keeps them, so
    /// training can continue over several calls.
    /// </summary>
    public void Prepare(HelmholtzMachine machine, int batchCapacity)
    {
        using var use = RuleUse.Enter(this, ref _use, nameof(Prepare));
        ArgumentNullException.ThrowIfNull(machine);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchCapacity);
        machine.RequireRows(batchCapacity, nameof(batchCapacity), $"REINFORCE: batchCapacity = {batchCapacity} examples", "use a smaller batch (TrainingOptions.BatchSize)");
        // Everything allocated before the baselines change: a rule that cannot be prepared still knows the machine it trained.
        var freeEnergy = new double[batchCapacity];
        var logJoint = new double[batchCapacity];
        var target = new double[batchCapacity];
        var weights = new float[batchCapacity];
        if (!ReferenceEquals(machine, _machine))
        {
            _inputBaseline = _options.InputBaselineHiddenUnits > 0
                ? new InputDependentBaseline(machine.Architecture.Visible.Size, _options.InputBaselineHiddenUnits, machine.Engine, new RandomStream(0x5EED))
                : null;
            _baseline = 0;
            _variance = 1;
            _started = false;
            _machine = machine;
        }
        (_freeEnergy, _logJoint, _target, _weights) = (freeEnergy, logJoint, target, weights);
    }

    /// <summary>Keeps the running baseline and variance (the input-dependent baseline's weights are parameters, which the trainer's undo restores).</summary>
    public void KeepForUndo() => _kept = (_baseline, _variance, _started);

    /// <summary>Puts back the running baseline and variance <see cref="KeepForUndo"/> kept.</summary>
    public void UndoLastUpdate() => (_baseline, _variance, _started) = _kept;

    /// <summary>The running baseline and variance and the input-dependent baseline's weights.</summary>
    public void SaveState(StateSection section, IReadOnlyList<Parameter> parameters)
    {
        ArgumentNullException.ThrowIfNull(section);
        RunningEstimates.Save(section, [_baseline], [_variance], _started);
        _inputBaseline?.SaveState(section);
    }

    /// <inheritdoc/>
    public void RestoreState(StateSection section, IReadOnlyList<Parameter> parameters)
    {
        ArgumentNullException.ThrowIfNull(section);
        var (baseline, variance, started) = RunningEstimates.Read(section, 1);
        RunningEstimates.RefuseOtherEntries(section, [_inputBaseline]);
        _inputBaseline?.CheckState(section);
        _inputBaseline?.RestoreState(section);
        (_baseline, _variance, _started) = (baseline[0], variance[0], started);
    }

    /// <inheritdoc/>
    public BatchLoss AccumulateGradients(HelmholtzMachine machine, TrainingBatch batch)
    {
        using var use = RuleUse.Enter(this, ref _use, nameof(AccumulateGradients));
        ArgumentNullException.ThrowIfNull(batch);
        batch.RequireSamplesPerExample(SamplesPerExample);
        int rows = batch.Rows;
        if (!ReferenceEquals(machine, _machine) || _weights.Length < rows) Prepare(machine, rows);
        Span<float> w = _weights.AsSpan(0, rows);
        LayerStates states = batch.States;
        LayerConditioning? conditioning = batch.Conditioning;

        machine.SampleFreeEnergy(batch.Random, states, rows, _freeEnergy, _logJoint, conditioning);
        double mean = 0;
        for (int r = 0; r < rows; r++) mean += _freeEnergy[r];
        mean /= rows;
        // The running mean starts at the first batch's mean; that batch's own rows are measured against the mean of the others (a row's
        // own F̂ in its baseline would shrink its expected gradient by 1 − 1/rows).
        bool first = !_started && _options.BaselineDecay > 0;
        if (first) { _baseline = mean; _started = true; }

        w.Fill(-1f / rows);
        machine.Generative.AccumulateLogJointGradient(states, rows, w, conditioning);

        // Learning signal F̂ − b − c(x), from baselines fitted on earlier batches (b) or trained now (c).
        ReadOnlySpan<float> input = states.Layer(0, rows);
        ReadOnlySpan<float> c = _inputBaseline is null ? default : _inputBaseline.Predict(input, rows);
        double signalVariance = 0;
        for (int r = 0; r < rows; r++)
        {
            _target[r] = _freeEnergy[r] - (first ? RunningEstimates.MeanOfOthers(mean, _freeEnergy[r], rows) : _baseline);
            double signal = _target[r] - (c.IsEmpty ? 0 : c[r]);
            signalVariance += signal * signal;
            _logJoint[r] = signal;
        }
        signalVariance /= rows;
        if (_options.NormalizeVariance) _variance = _options.VarianceDecay * _variance + (1 - _options.VarianceDecay) * signalVariance;
        double scale = _options.NormalizeVariance ? 1.0 / Math.Max(1.0, Math.Sqrt(_variance)) : 1.0;
        for (int r = 0; r < rows; r++) w[r] = (float)(_logJoint[r] * scale / rows);
        // The conditioning's share is the objective's own gradient, unscaled (it reaches parameters both networks share).
        bool unscale = conditioning is not null && scale != 1;
        if (unscale) _unscaled.Keep(conditioning!, rows, 1, machine.Architecture.Depth);
        machine.Recognition.AccumulateLogProbGradient(states, rows, w, conditioning);
        if (unscale) _unscaled.Unscale(conditioning!, rows, 1, machine.Architecture.Depth, scale);

        _inputBaseline?.Backward(input, _target, rows);
        if (_options.BaselineDecay > 0) _baseline = _options.BaselineDecay * _baseline + (1 - _options.BaselineDecay) * mean;
        return BatchLoss.OfFreeEnergy(mean);
    }
}
