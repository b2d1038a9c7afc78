using Microsoft.ML.Helmholtz.Concurrency;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Learning.Rules;

/// <summary>Options of <see cref="Nvil"/>; the defaults are the paper's full method.</summary>
public sealed class NvilOptions
{
    /// <summary>Decay of each layer's running estimate b_l of its signal's mean (0: none).</summary>
    public double BaselineDecay { get; set; } = 0.9;

    /// <summary>Hidden units of each layer's input-dependent baseline c_l(h_{l−1}) (0: none).</summary>
    public int InputBaselineHiddenUnits { get; set; } = 100;

    /// <summary>Divide each layer's signal by a running estimate of its standard deviation (when above 1).</summary>
    public bool NormalizeVariance { get; set; } = true;

    /// <summary>Decay of the running variance estimates.</summary>
    public double VarianceDecay { get; set; } = 0.9;

    /// <summary>
    /// Give each recognition layer the terms of F̂ that its sample can change only (the local learning
    /// signals); false: every layer gets the whole F̂, as in <see cref="Reinforce"/>.
    /// </summary>
    public bool LocalSignals { get; set; } = true;

    /// <summary>No baselines and no normalisation: the plain estimator with local signals (unbiased term by term).</summary>
    public static NvilOptions Plain => new() { BaselineDecay = 0, InputBaselineHiddenUnits = 0, NormalizeVariance = false };

    internal NvilOptions Copy() => (NvilOptions)MemberwiseClone();
}

/// <summary>
/// Neural variational inference and learning (Mnih and Gregor 2014): REINFORCE for the recognition
/// network with, for each recognition layer q(h_l | h_{l−1}), a learning signal of its own. The
/// layer's sample cannot change the terms of F̂ = ln q − ln p below it, so its signal keeps only
/// F̂_l = Σ_{j≥l} ln q(h_j | h_{j−1}) − Σ_{j≥l−1} ln p(h_j | h_{j+1}) (ln p(h_L) at the top); from it
/// the layer subtracts a running mean b_l and an input-dependent baseline c_l(h_{l−1}) trained by
/// least squares, and divides by a running standard deviation. θg follows ∇ ln p(x, h) as in the
/// wake phase. Dropping terms the sample cannot change and subtracting baselines that do not depend
/// on it keep the estimator unbiased (the normalisation rescales each layer's step; the gradient a layer adds to a conditioning
/// stays unscaled, as parameters both networks share must follow the objective's gradient).
/// </summary>
public sealed class Nvil : ILearningRule, IResumable, IUndoableRunningEstimates
{
    private readonly NvilOptions _options;
    private InputDependentBaseline?[] _inputBaselines = [];
    private double[] _baseline = [], _variance = [];
    private double[] _keptBaseline = [], _keptVariance = [];
    private bool _keptStarted;
    private readonly UnscaledConditioningGradient _unscaled = new();
    private double[] _freeEnergy = [], _logJoint = [], _target = [], _signal = [];
    private double[][] _logQ = [], _logP = [];
    private float[] _weights = [];
    private bool _started;
    private HelmholtzMachine? _machine;
    private UsageGuard? _use;   // RuleUse: entered by Prepare and AccumulateGradients

    /// <summary>The options are copied: changing them afterwards does not change this rule.</summary>
    public Nvil(NvilOptions? options = null)
    {
        options ??= new NvilOptions();
        _options = new NvilOptions
        {
            BaselineDecay = Requires.InUnitIntervalOpenAbove(options.BaselineDecay, "NvilOptions.BaselineDecay"),
            VarianceDecay = Requires.InUnitIntervalOpenAbove(options.VarianceDecay, "NvilOptions.VarianceDecay"),
            InputBaselineHiddenUnits = options.InputBaselineHiddenUnits >= 0 ? options.InputBaselineHiddenUnits
                : throw new ArgumentOutOfRangeException("NvilOptions.InputBaselineHiddenUnits", options.InputBaselineHiddenUnits, "NvilOptions.InputBaselineHiddenUnits must be ≥ 0."),
            NormalizeVariance = options.NormalizeVariance,
            LocalSignals = options.LocalSignals,
        };
    }

    /// <summary>"nvil".</summary>
    public string Name => "nvil";
    /// <summary>The options: e.g. "baseline decay 0.9, input baseline of 100 hidden units, variance normalised with decay 0.9, local signals".</summary>
    public string Settings
        => RunningEstimates.Settings(_options.BaselineDecay, _options.InputBaselineHiddenUnits, _options.NormalizeVariance, _options.VarianceDecay) +
           (_options.LocalSignals ? ", local signals" : ", the whole F̂ for every layer");
    /// <inheritdoc/>
    public string Objective => "free energy";
    /// <inheritdoc/>
    public int SamplesPerExample => 1;
    /// <summary>
    /// The input-dependent baselines' parameters, layer by layer: none before <see cref="Prepare"/> (which makes the baselines for
    /// its machine) or with <see cref="NvilOptions.InputBaselineHiddenUnits"/> = 0.
    /// </summary>
    public IReadOnlyList<Parameter> Parameters => _inputBaselines.Where(b => b is not null).SelectMany(b => b!.Parameters).ToArray();
    /// <inheritdoc/>
    public string? Unsupported(HelmholtzArchitecture architecture) => null;

    /// <summary>The running baselines b_l, l = 1…L.</summary>
    public IReadOnlyList<double> Baselines => _baseline.Skip(1).ToArray();

    /// <summary>
    /// Allocates for <paramref name="machine"/>; the baselines are learned for the machine they train,
    /// so another machine starts them afresh and the same machine keeps them.
    /// </summary>
    public void Prepare(HelmholtzMachine machine, int batchCapacity)
    {
        using var use = RuleUse.Enter(this, ref _use, nameof(Prepare));
        ArgumentNullException.ThrowIfNull(machine);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchCapacity);
        machine.RequireRows(batchCapacity, nameof(batchCapacity), $"NVIL: batchCapacity = {batchCapacity} examples", "use a smaller batch (TrainingOptions.BatchSize)");
        var layers = machine.Architecture.Layers;
        int depth = machine.Architecture.Depth;
        // Everything allocated before the baselines change: a rule that cannot be prepared still knows the machine it trained.
        var buffers = (FreeEnergy: new double[batchCapacity], LogJoint: new double[batchCapacity], Target: new double[batchCapacity],
            Signal: new double[batchCapacity], Weights: new float[batchCapacity],
            LogQ: Enumerable.Range(0, depth + 1).Select(_ => new double[batchCapacity]).ToArray(),
            LogP: Enumerable.Range(0, depth + 1).Select(_ => new double[batchCapacity]).ToArray());
        if (!ReferenceEquals(machine, _machine))
        {
            var random = new RandomStream(0x5EED);
            var inputBaselines = new InputDependentBaseline?[depth + 1];
            for (int l = 1; l <= depth && _options.InputBaselineHiddenUnits > 0; l++)
                inputBaselines[l] = new InputDependentBaseline(layers[l - 1].Size, _options.InputBaselineHiddenUnits, machine.Engine, random.Fork((ulong)l), $"nvil.baseline.{l}", "NvilOptions.InputBaselineHiddenUnits");
            _inputBaselines = inputBaselines;
            _baseline = new double[depth + 1];
            _variance = Enumerable.Repeat(1.0, depth + 1).ToArray();
            _started = false;
            _machine = machine;
        }
        (_freeEnergy, _logJoint, _target, _signal, _weights, _logQ, _logP) = buffers;
    }

    /// <summary>Keeps each layer's running baseline and variance (the input-dependent baselines' weights are parameters, which the trainer's undo restores).</summary>
    public void KeepForUndo()
    {
        if (_keptBaseline.Length != _baseline.Length) (_keptBaseline, _keptVariance) = (new double[_baseline.Length], new double[_variance.Length]);
        _baseline.CopyTo(_keptBaseline, 0);
        _variance.CopyTo(_keptVariance, 0);
        _keptStarted = _started;
    }

    /// <summary>Puts back the running baselines and variances <see cref="KeepForUndo"/> kept.</summary>
    public void UndoLastUpdate()
    {
        if (_keptBaseline.Length != _baseline.Length)
        {
            // Kept before Prepare sized the estimates for this machine: nothing was measured on it then, so the rule is as prepared
            // (as REINFORCE, whose one estimate is kept whenever it is asked).
            Array.Clear(_baseline);
            Array.Fill(_variance, 1.0);
            _started = false;
            return;
        }
        _keptBaseline.CopyTo(_baseline, 0);
        _keptVariance.CopyTo(_variance, 0);
        _started = _keptStarted;
    }

    /// <summary>Each layer's running baseline and variance and the input-dependent baselines' weights.</summary>
    public void SaveState(StateSection section, IReadOnlyList<Parameter> parameters)
    {
        ArgumentNullException.ThrowIfNull(section);
        RunningEstimates.Save(section, _baseline, _variance, _started);
        foreach (InputDependentBaseline? b in _inputBaselines) b?.SaveState(section);
    }

    /// <inheritdoc/>
    public void RestoreState(StateSection section, IReadOnlyList<Parameter> parameters)
    {
        ArgumentNullException.ThrowIfNull(section);
        var (baseline, variance, started) = RunningEstimates.Read(section, _baseline.Length);
        RunningEstimates.RefuseOtherEntries(section, _inputBaselines);
        foreach (InputDependentBaseline? b in _inputBaselines) b?.CheckState(section);
        foreach (InputDependentBaseline? b in _inputBaselines) b?.RestoreState(section);
        (_baseline, _variance, _started) = (baseline, variance, started);
    }

    /// <inheritdoc/>
    public BatchLoss AccumulateGradients(HelmholtzMachine machine, TrainingBatch batch)
    {
        using var use = RuleUse.Enter(this, ref _use, nameof(AccumulateGradients));
        ArgumentNullException.ThrowIfNull(batch);
        batch.RequireSamplesPerExample(SamplesPerExample);
        int rows = batch.Rows;
        if (!ReferenceEquals(machine, _machine) || _weights.Length < rows) Prepare(machine, rows);
        LayerStates states = batch.States;
        LayerConditioning? conditioning = batch.Conditioning;
        GenerativeNetwork gen = machine.Generative;
        RecognitionNetwork rec = machine.Recognition;
        int depth = gen.Depth;
        Span<float> w = _weights.AsSpan(0, rows);

        // With local signals each layer's terms are kept as F̂ is formed, not computed again.
        if (_options.LocalSignals) machine.SampleFreeEnergy(batch.Random, states, rows, _freeEnergy, _logJoint, _logQ, _logP, conditioning);
        else machine.SampleFreeEnergy(batch.Random, states, rows, _freeEnergy, _logJoint, conditioning);
        double mean = 0;
        for (int r = 0; r < rows; r++) mean += _freeEnergy[r];
        mean /= rows;

        w.Fill(-1f / rows);
        gen.AccumulateLogJointGradient(states, rows, w, conditioning);

        // Top-down, so that F̂_l = F̂_{l+1} + ln q(h_l | h_{l−1}) − ln p(h_{l−1} | h_l) builds up in _signal.
        if (_options.LocalSignals)
            for (int r = 0; r < rows; r++) _signal[r] = -_logP[depth][r];
        bool first = !_started;
        for (int l = depth; l >= 1; l--)
        {
            if (_options.LocalSignals)
                for (int r = 0; r < rows; r++) _signal[r] += _logQ[l][r] - _logP[l - 1][r];
            ReadOnlySpan<double> layerSignal = _options.LocalSignals ? _signal : _freeEnergy;
            double layerMean = 0;
            for (int r = 0; r < rows; r++) layerMean += layerSignal[r];
            layerMean /= rows;
            if (first && _options.BaselineDecay > 0) _baseline[l] = layerMean;

            ReadOnlySpan<float> input = states.Layer(l - 1, rows);
            InputDependentBaseline? inputBaseline = _inputBaselines[l];
            ReadOnlySpan<float> c = inputBaseline is null ? default : inputBaseline.Predict(input, rows);
            double signalVariance = 0;
            for (int r = 0; r < rows; r++)
            {
                // The first batch's rows against the mean of the others (their own value would shrink the expected gradient by 1 − 1/rows).
                _target[r] = layerSignal[r] - (first && _options.BaselineDecay > 0 ? RunningEstimates.MeanOfOthers(layerMean, layerSignal[r], rows) : _baseline[l]);
                double signal = _target[r] - (c.IsEmpty ? 0 : c[r]);
                signalVariance += signal * signal;
                w[r] = (float)signal;
            }
            signalVariance /= rows;
            if (_options.NormalizeVariance) _variance[l] = _options.VarianceDecay * _variance[l] + (1 - _options.VarianceDecay) * signalVariance;
            double scale = _options.NormalizeVariance ? 1.0 / Math.Max(1.0, Math.Sqrt(_variance[l])) : 1.0;
            for (int r = 0; r < rows; r++) w[r] = (float)(w[r] * scale / rows);
            // The conditioning's share is the objective's own gradient, unscaled (it reaches parameters both networks share).
            bool unscale = conditioning is not null && scale != 1;
            if (unscale) _unscaled.Keep(conditioning!, rows, l, l);
            rec.Layer(l).AccumulateLogProbGradient(states.Layer(l, rows), input, rows, w, default, default,
                conditioning is null ? default : conditioning.RecognitionGradient(l, rows));
            if (unscale) _unscaled.Unscale(conditioning!, rows, l, l, scale);

            inputBaseline?.Backward(input, _target, rows);
            if (_options.BaselineDecay > 0) _baseline[l] = _options.BaselineDecay * _baseline[l] + (1 - _options.BaselineDecay) * layerMean;
        }
        _started = true;
        return BatchLoss.OfFreeEnergy(mean);
    }
}
