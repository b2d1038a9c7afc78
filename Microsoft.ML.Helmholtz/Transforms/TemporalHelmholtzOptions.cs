using Microsoft.ML.Helmholtz.Learning.Rules;

namespace Microsoft.ML.Helmholtz.Transforms;

/// <summary>
/// Options of the temporal Helmholtz machine in ML.NET: one row per sequence, the input a known-size
/// vector of Single holding its frames one after another (frames × <see cref="FrameSize"/> values),
/// so that any loader that gives a fixed-size vector column feeds it, and each row is scored alone.
/// </summary>
public sealed class TemporalHelmholtzOptions
{
    /// <summary>The vector column of a sequence's frames, frame after frame.</summary>
    public string InputColumnName { get; set; } = "Frames";

    /// <summary>Values per frame; the input vector's length must be a multiple of it (the multiple is the sequence length T). Required: no default suits every data set.</summary>
    public required int FrameSize { get; set; }

    /// <summary>The frame machine; null gives "{FrameSize}bs-200g" (soft-target Bernoulli visible units, 200 Gaussian hidden).</summary>
    public string? Architecture { get; set; }

    /// <summary>Units of the LSTM state that reads the frames before each step and conditions the frame machine; positive.</summary>
    public int RecurrentUnits { get; set; } = 100;
    /// <summary>
    /// How the model learns. The rules that differentiate through the samples, such as the default
    /// <see cref="HelmholtzLearningRule.StochasticBackpropagation"/>, need Gaussian hidden layers, as the default architecture has;
    /// an <see cref="Architecture"/> the rule cannot train is refused unless <see cref="Epochs"/> is 0.
    /// </summary>
    public HelmholtzLearningRule LearningRule { get; set; } = HelmholtzLearningRule.StochasticBackpropagation;

    /// <summary>K for the K-sample rules.</summary>
    public int TrainingSamples { get; set; } = 5;

    /// <summary>REINFORCE's baselines and variance normalisation (with <see cref="HelmholtzLearningRule.Reinforce"/>), as <see cref="HelmholtzMachineOptions.Reinforce"/>.</summary>
    public ReinforceOptions Reinforce { get; set; } = new();

    /// <summary>NVIL's baselines, variance normalisation and local signals (with <see cref="HelmholtzLearningRule.Nvil"/>), as <see cref="HelmholtzMachineOptions.Nvil"/>.</summary>
    public NvilOptions Nvil { get; set; } = new();

    /// <summary>Passes over the training sequences; 0 or more. 0 takes no step: the transformer scores the model as it is, new or given.</summary>
    public int Epochs { get; set; } = 10;
    /// <summary>Sequences per training step; positive. Data of fewer sequences makes one minibatch of them all.</summary>
    public int BatchSequences { get; set; } = 20;

    /// <summary>Truncated back-propagation through time: segments of this many frames (0: whole sequences).</summary>
    public int TruncationSteps { get; set; }

    // The optimiser options are the frame estimator's, checked by the same code (OptimizerSettings).
    /// <inheritdoc cref="HelmholtzMachineOptions.Optimizer"/>
    public HelmholtzOptimizer Optimizer { get; set; } = HelmholtzOptimizer.Adam;

    /// <inheritdoc cref="HelmholtzMachineOptions.LearningRate"/>
    public double LearningRate { get; set; } = 1e-3;

    /// <inheritdoc cref="HelmholtzMachineOptions.LearningRateDecay"/>
    public double LearningRateDecay { get; set; } = 1.0;

    /// <summary>
    /// The floor of the decayed rate: 0 (the default) or a positive rate no larger than <see cref="LearningRate"/>. With 0, a
    /// <see cref="LearningRateDecay"/> that takes the rate to 0 in single precision within <see cref="Epochs"/> is refused unless
    /// <see cref="TimeLimit"/> is set.
    /// </summary>
    public double MinimumLearningRate { get; set; }

    /// <inheritdoc cref="HelmholtzMachineOptions.Momentum"/>
    public double? Momentum { get; set; }

    /// <summary>
    /// Decoupled weight decay λ of <see cref="HelmholtzOptimizer.Adam"/> (AdamW): each step multiplies the weight matrices
    /// (the frame machine's, the LSTM's and the map from its state to the layers' biases) by 1 − ηλ. 0 (the default): none. Refused
    /// with <see cref="HelmholtzOptimizer.SgdMomentum"/>.
    /// </summary>
    public double WeightDecay { get; set; }

    /// <inheritdoc cref="HelmholtzMachineOptions.AdamBeta2"/>
    public double? AdamBeta2 { get; set; }

    /// <summary>
    /// Seeds the initial weights (the seed itself), the training (seed + 1), the log-likelihoods' fixed noise (seed + 2),
    /// the one-step predictions' draws (seed + 3) and the validation estimates' noise (seed + 4), so that no two of them share random numbers. Null: drawn from the
    /// MLContext's seeded random source (0 for <see cref="TemporalHelmholtzTransformer.Create"/>, which has none).
    /// </summary>
    public int? Seed { get; set; }

    /// <summary>
    /// Sequences to estimate ln p on after each epoch, in the training data's column and of its length (read into memory
    /// once); null: none. Needs <see cref="ValidationSamples"/>.
    /// </summary>
    public IDataView? ValidationData { get; set; }

    /// <summary>
    /// With <see cref="ValidationData"/>: K, the importance samples per frame for an estimate of the validation sequences'
    /// mean ln p per frame after each epoch, with the same random numbers at every epoch (so that two epochs' estimates
    /// differ by their machines, not by the draws). It is reported (<see cref="Temporal.TemporalEpochReport.ValidationLogLikelihood"/>,
    /// and on the log), and the fitted transformer holds the machine of the epoch that scored best, not the last one: a
    /// guard against overfitting. Each estimate costs about K forward passes over the validation frames. 0 (the default): none.
    /// </summary>
    public int ValidationSamples { get; set; }

    /// <summary>
    /// Where a fit records what it knows beyond the machine (the optimiser's moments, the rule's baselines, the random streams, the
    /// schedule's epoch) when it succeeds, as <see cref="HelmholtzMachineOptions.TrainingState"/> does for the frame machine: a fit
    /// from an initial model (<c>Fit(data, model)</c>) given the state that the model's own fit recorded goes on from it, as one
    /// longer fit would have (bit for bit, with the same options and data); a fit that fails or is cancelled leaves it as it was,
    /// and so does one that keeps the initial model's machine (<see cref="ValidationSamples"/>); one that keeps an earlier epoch's
    /// records the last epoch's state, which no machine it returns can go on from. A state of another point is refused: another step count, or another model (or one changed since) at the same step count, known by a fingerprint of its parameters (LSTM's and map's included).
    /// Null (the default): none; the optimiser starts afresh.
    /// </summary>
    public Learning.TrainingState? TrainingState { get; set; }

    /// <summary>Stop at the end of the first epoch past this much training time; null: all epochs.</summary>
    public TimeSpan? TimeLimit { get; set; }

    /// <summary>See <see cref="Temporal.TemporalTrainingOptions.DivergenceFactor"/>.</summary>
    public double DivergenceFactor { get; set; } = 10;

    /// <summary>Receives a report after each epoch, on the thread that fits (besides the messages on the MLContext's log).</summary>
    public IProgress<Temporal.TemporalEpochReport>? Progress { get; set; }

    /// <summary>Stops Fit, while it reads the data or between training steps, with <see cref="OperationCanceledException"/>.</summary>
    public CancellationToken CancellationToken { get; set; }

    /// <summary>Importance samples per frame for the log-likelihood columns.</summary>
    public int Samples { get; set; } = 100;

    /// <summary>Draws of the hidden layers per frame for <see cref="PredictedFramesColumnName"/>.</summary>
    public int PredictionSamples { get; set; } = 20;

    /// <summary>ln p̂ of the whole sequence (Single), the sum of the per-frame estimates; null: not added.</summary>
    public string? LogLikelihoodColumnName { get; set; } = "LogLikelihood";

    /// <summary>ln p̂(v_t | v_&lt;t) of each frame (a vector of T Single); null: not added.</summary>
    public string? FrameLogLikelihoodColumnName { get; set; } = "FrameLogLikelihoods";

    /// <summary>E[v_t | v_&lt;t], the one-step prediction of every frame from the true frames before it (a vector like the input); null: not added.</summary>
    public string? PredictedFramesColumnName { get; set; }

    internal TemporalHelmholtzOptions Copy()
    {
        var copy = (TemporalHelmholtzOptions)MemberwiseClone();
        copy.Reinforce = Reinforce?.Copy()!;
        copy.Nvil = Nvil?.Copy()!;
        return copy;
    }
}
