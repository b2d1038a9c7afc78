using Microsoft.ML.Helmholtz.Evaluation;
using Microsoft.ML.Helmholtz.Learning;
using Microsoft.ML.Helmholtz.Learning.Rules;

namespace Microsoft.ML.Helmholtz.Transforms;

/// <summary>The learning rules of the core, by name.</summary>
public enum HelmholtzLearningRule
{
    /// <summary>Wake-Sleep (binary or Gaussian hidden layers).</summary>
    WakeSleep,

    /// <summary>REINFORCE with the options in <see cref="HelmholtzMachineOptions.Reinforce"/> (binary or Gaussian hidden layers).</summary>
    Reinforce,

    /// <summary>Stochastic back-propagation, path-wise (Gaussian hidden layers only).</summary>
    StochasticBackpropagation,

    /// <summary>Stochastic back-propagation with Bonnet's and Price's theorems (Gaussian hidden layers only).</summary>
    StochasticBackpropagationPrice,

    /// <summary>The K-sample importance-weighted bound (IWAE), path-wise (Gaussian hidden layers only); K is <see cref="HelmholtzMachineOptions.TrainingSamples"/>.</summary>
    ImportanceWeighted,

    /// <summary>VIMCO: the K-sample bound with leave-one-out baselines (binary or Gaussian hidden layers); K ≥ 2 is <see cref="HelmholtzMachineOptions.TrainingSamples"/>.</summary>
    Vimco,

    /// <summary>Reweighted wake-sleep with the wake-phase recognition update (binary or Gaussian hidden layers); K is <see cref="HelmholtzMachineOptions.TrainingSamples"/>.</summary>
    ReweightedWakeSleep,

    /// <summary>NVIL: REINFORCE with local learning signals, per-layer running and input-dependent baselines and variance normalisation (<see cref="HelmholtzMachineOptions.Nvil"/>).</summary>
    Nvil,
}

/// <summary>The optimisers of the core.</summary>
public enum HelmholtzOptimizer
{
    /// <summary>Adam, with <see cref="HelmholtzMachineOptions.AdamBeta2"/> and decoupled weight decay (<see cref="HelmholtzMachineOptions.WeightDecay"/>).</summary>
    Adam,
    /// <summary>Stochastic gradient descent with heavy-ball momentum (<see cref="HelmholtzMachineOptions.Momentum"/>).</summary>
    SgdMomentum,
}

/// <summary>
/// Everything <see cref="HelmholtzMachineEstimator"/> needs: the columns, the machine, how it learns and
/// how it scores. Each output column is optional: set its name to null to leave it out.
/// </summary>
public sealed class HelmholtzMachineOptions
{
    /// <summary>The input: a known-size vector of Single, one value per visible unit.</summary>
    public string InputColumnName { get; set; } = "Features";

    /// <summary>
    /// The features (a vector of Single of known size): the recognition network's probabilities or
    /// means, from the top hidden layer or all of them (<see cref="FeatureLayers"/>). Null: no column.
    /// </summary>
    public string? FeatureColumnName { get; set; } = "HelmholtzFeatures";

    /// <summary>The estimated ln p(x) of each row in nats (Single), importance-sampled with <see cref="Samples"/>. Null: no column.</summary>
    public string? LogLikelihoodColumnName { get; set; } = "LogLikelihood";

    /// <summary>The anomaly score (Single): −ln p(x), higher is more anomalous. Null: no column.</summary>
    public string? ScoreColumnName { get; set; }

    /// <summary>Whether the row is an anomaly (Boolean): score above the threshold. Null: no column.</summary>
    public string? PredictedLabelColumnName { get; set; }

    /// <summary>
    /// Layers bottom-up, e.g. "784b-200g-50g" (b binary, g Gaussian with a tanh mean, gl Gaussian with
    /// a linear mean, gr and grl the same with a rank-one-plus-diagonal recognition covariance; the
    /// visible layer may also be bs or cb for values in [0, 1]; Nt writes N deterministic tanh units
    /// between stochastic layers, e.g. "784b-200t-200t-200b"); the first must have the input's size.
    /// Null: the input's size, binary, then 200 and 50 hidden units (Gaussian for the rules that
    /// differentiate through the samples, stochastic back-propagation and IWAE; binary otherwise).
    /// </summary>
    public string? Architecture { get; set; }

    /// <summary>
    /// How the machine learns. The rules that differentiate through the samples, such as the default
    /// <see cref="HelmholtzLearningRule.StochasticBackpropagation"/>, need Gaussian hidden layers (a null <see cref="Architecture"/>
    /// gives them); an <see cref="Architecture"/> the rule cannot train is refused unless <see cref="Epochs"/> is 0.
    /// </summary>
    public HelmholtzLearningRule LearningRule { get; set; } = HelmholtzLearningRule.StochasticBackpropagation;

    /// <summary>K, the samples per example of the K-sample rules (<see cref="HelmholtzLearningRule.ImportanceWeighted"/>, <see cref="HelmholtzLearningRule.Vimco"/>, <see cref="HelmholtzLearningRule.ReweightedWakeSleep"/>).</summary>
    public int TrainingSamples { get; set; } = 5;

    /// <summary>REINFORCE's baselines and variance normalisation (with <see cref="HelmholtzLearningRule.Reinforce"/>).</summary>
    public ReinforceOptions Reinforce { get; set; } = new();

    /// <summary>NVIL's baselines, variance normalisation and local signals (with <see cref="HelmholtzLearningRule.Nvil"/>); the defaults are the paper's full method.</summary>
    public NvilOptions Nvil { get; set; } = new();

    /// <summary>
    /// How <see cref="HelmholtzLearningRule.ReweightedWakeSleep"/> updates the recognition network: the wake
    /// phase on the data's K samples (the default), the sleep phase on dreams, or both. Refused with another rule.
    /// </summary>
    public RecognitionUpdate RecognitionUpdate { get; set; } = RecognitionUpdate.Wake;

    /// <summary>The optimiser: <see cref="HelmholtzOptimizer.Adam"/> (the default) or <see cref="HelmholtzOptimizer.SgdMomentum"/>.</summary>
    public HelmholtzOptimizer Optimizer { get; set; } = HelmholtzOptimizer.Adam;

    /// <summary>The learning rate of the first epoch.</summary>
    public double LearningRate { get; set; } = 1e-3;

    /// <summary>The rate is multiplied by this after each epoch, down to <see cref="MinimumLearningRate"/>.</summary>
    public double LearningRateDecay { get; set; } = 1.0;

    /// <summary>
    /// The floor of the decayed rate: 0 (the default) or a positive rate no larger than <see cref="LearningRate"/>. With 0, a
    /// <see cref="LearningRateDecay"/> that takes the rate to 0 in single precision within <see cref="Epochs"/> is refused unless
    /// <see cref="TimeLimit"/> is set.
    /// </summary>
    public double MinimumLearningRate { get; set; }

    /// <summary>Momentum of <see cref="HelmholtzOptimizer.SgdMomentum"/>, in [0, 1); null (the default): 0.9. Refused with <see cref="HelmholtzOptimizer.Adam"/>.</summary>
    public double? Momentum { get; set; }

    /// <summary>
    /// Decoupled weight decay λ of <see cref="HelmholtzOptimizer.Adam"/> (AdamW): each step multiplies the
    /// weight matrices by 1 − ηλ. 0 (the default): none. Refused with <see cref="HelmholtzOptimizer.SgdMomentum"/>.
    /// </summary>
    public double WeightDecay { get; set; }

    /// <summary>
    /// β₂, <see cref="HelmholtzOptimizer.Adam"/>'s decay of its squared-gradient average, in [0, 1). Null (the
    /// default): 0.999, Adam's own. (The public REBAR code's runs use 0.99999; on binarized MNIST it
    /// trained more slowly here: docs/results.md.) Refused with <see cref="HelmholtzOptimizer.SgdMomentum"/>.
    /// </summary>
    public double? AdamBeta2 { get; set; }

    /// <summary>Passes over the training data; 0 or more. 0 takes no step: the transformer scores the machine as it is, new or given.</summary>
    public int Epochs { get; set; } = 10;

    /// <summary>Examples per step; data of fewer rows (known in advance or not) makes one minibatch of them all. With a K-sample rule a minibatch holds BatchSize × TrainingSamples rows.</summary>
    public int BatchSize { get; set; } = 100;

    /// <summary>Seeds the initial weights, the minibatch order, every training draw and the scoring noise. Null: drawn from the MLContext's seeded random source.</summary>
    public int? Seed { get; set; }

    /// <summary>K, the samples per row for the log-likelihood and the anomaly score.</summary>
    public int Samples { get; set; } = 100;

    /// <summary>Which hidden layers give the features.</summary>
    public FeatureLayers FeatureLayers { get; set; } = FeatureLayers.Top;

    /// <summary>Data to report a validation free energy on after each epoch (read into memory once); null for none.</summary>
    public IDataView? ValidationData { get; set; }

    /// <summary>
    /// With <see cref="ValidationData"/>: K for an importance-sampled estimate of the validation rows' mean
    /// ln p after each epoch, with the same random numbers at every epoch (so that two epochs' estimates
    /// differ by their machines, not by the draws). It is reported (<see cref="EpochReport.ValidationLogLikelihood"/>,
    /// and on the log), and the fitted transformer holds the machine of the epoch that scored best, not
    /// the last one: a guard against overfitting when training long on little data (when re-training from
    /// an initial model, its machine is estimated first and kept if no epoch beats it). Each estimate costs
    /// about K forward passes over the validation rows. 0 (the default): none; the last epoch's machine.
    /// </summary>
    public int ValidationSamples { get; set; }

    /// <summary>Stop at the end of the first epoch past this much training time; null: all epochs.</summary>
    public TimeSpan? TimeLimit { get; set; }

    /// <summary>Receives a report after each epoch (besides the messages on the MLContext's log).</summary>
    public IProgress<EpochReport>? Progress { get; set; }

    /// <summary>Stops Fit between minibatches with <see cref="OperationCanceledException"/>.</summary>
    public CancellationToken CancellationToken { get; set; }

    /// <summary>
    /// Where a fit records what it knows beyond the machine (the optimiser's moments, the rule's baselines,
    /// the random streams, the schedule's epoch) when it succeeds; a fit that fails or is cancelled leaves
    /// the state as it was, as its machine is lost with it (the state stays the one of the model you hold).
    /// One fit at a time uses a state. A fit from an initial
    /// model (<c>Fit(data, model)</c>) given the state that the model's own fit recorded goes on from it, the
    /// learning rate from the state's epoch, as one longer fit would have (bit for bit for data held in
    /// memory, with the same options). The state must be that model's: a fit that keeps an earlier epoch's
    /// machine (<see cref="ValidationSamples"/>) hands back another point than the state's (one that keeps the
    /// initial model's leaves the state as it was, still that model's), and a fit given a state of another point is refused: another step count,
    /// or another machine (or one changed since) at the same step count, which a state knows by a fingerprint of the parameters (a state saved
    /// by version 1 or 2 of its format has none, and knows its machine by its steps alone). Null (the default): none; the optimiser starts afresh.
    /// </summary>
    public Learning.TrainingState? TrainingState { get; set; }

    /// <summary>
    /// Training data up to this many bytes (rows × columns × 4) is read into memory once and shuffled
    /// there; larger data is read from the IDataView each epoch through a shuffle buffer of
    /// <see cref="ShuffleBufferRows"/> rows. Data whose row count is unknown (LoadFromEnumerable over a
    /// lazy sequence, a filter) is read once to count it, and held when twice its size fits (it is
    /// gathered in pieces, then copied into one array). 512 MiB by default.
    /// </summary>
    public long MemoryBudgetBytes { get; set; } = 512L << 20;

    /// <summary>Rows of the shuffle buffer when the data is streamed.</summary>
    public int ShuffleBufferRows { get; set; } = 10_000;

    /// <summary>
    /// The anomaly threshold on the score; null: the <see cref="AnomalyQuantile"/> of the training rows' scores. Refused without a
    /// score or predicted-label column, which it would not touch.
    /// </summary>
    public double? AnomalyThreshold { get; set; }

    /// <summary>
    /// The quantile of the training scores (as the float Score column shows them) that sets the threshold when none is given,
    /// in (0, 1); null (the default): 0.99. The threshold lies halfway from that score to the next one up, so that the rows at
    /// or below the quantile keep their label in the saved pipeline and ONNX Runtime, whose scores differ in the last digits. Refused with an <see cref="AnomalyThreshold"/>, and without a score or predicted-label
    /// column, where it would not be used.
    /// </summary>
    public double? AnomalyQuantile { get; set; }

    /// <summary>The quantile used: <see cref="AnomalyQuantile"/>, or 0.99.</summary>
    internal double Quantile => AnomalyQuantile ?? 0.99;

    /// <summary>Training rows scored to find the quantile (evenly spaced through the data when there are more).</summary>
    public int AnomalyQuantileRows { get; set; } = 10_000;

    /// <summary>See <see cref="TrainingOptions.DivergenceFactor"/>.</summary>
    public double DivergenceFactor { get; set; } = 10;

    /// <summary>
    /// Set a new machine's binary visible biases from the training data's marginals before the first step. A machine or
    /// model given to <c>Fit(data, …)</c> keeps its own.
    /// </summary>
    public bool InitializeVisibleBiases { get; set; } = true;

    /// <summary>See <see cref="TrainingOptions.CenterInputs"/>: steps in coordinates where the inputs of each map that reads the data or a hidden layer whose draws lie in [0, 1] are centred (the data's column means; 0.5 for binary, soft-target and continuous Bernoulli units).</summary>
    public bool CenterInputs { get; set; }

    /// <summary>A copy that shares nothing the caller could change afterwards (the REINFORCE and NVIL options too).</summary>
    internal HelmholtzMachineOptions Copy()
    {
        var copy = (HelmholtzMachineOptions)MemberwiseClone();
        copy.Reinforce = Reinforce?.Copy()!;
        copy.Nvil = Nvil?.Copy()!;
        return copy;
    }
}
