using Microsoft.ML.Helmholtz.Learning.Optimizers;

namespace Microsoft.ML.Helmholtz.Learning;

/// <summary>
/// How <see cref="HelmholtzTrainer"/> runs: epochs, minibatches, optimiser, schedule, seed. A run
/// works on a copy taken (and checked) when it starts: changing the options during a run does not
/// affect it.
/// </summary>
public sealed class TrainingOptions
{
    /// <summary>Passes over the training data, ≥ 0 (10 by default); a run of 0 epochs takes no step.</summary>
    public int Epochs { get; set; } = 10;
    /// <summary>
    /// Examples per minibatch, &gt; 0 (100 by default); a run whose data has a known row count below it takes all the rows as one
    /// minibatch. An epoch trains on whole minibatches only.
    /// </summary>
    public int BatchSize { get; set; } = 100;

    /// <summary>
    /// Seeds the minibatch order and every sample: the same seed, engine and thread count give the same run bit for bit.
    /// A run resumed from a <see cref="TrainingState"/> takes its streams from the state instead. The stream starts at the
    /// seed itself, as the machine's and the estimators' do: give each of them a seed of its own.
    /// </summary>
    public ulong Seed { get; set; } = 1;

    /// <summary>
    /// The learning rate of each epoch, used in single precision: a constant 10⁻³ by default. A run's first epoch takes the
    /// schedule's epoch <see cref="FirstScheduleEpoch"/>. Must not be null.
    /// </summary>
    public LearningRateSchedule LearningRate { get; set; } = new(1e-3);

    /// <summary>
    /// The schedule's epoch (counted from 0) whose rate this run's first epoch takes. A run that goes on
    /// from E epochs trained earlier passes E, so that the rate continues from where that run left it
    /// instead of starting again at <see cref="LearningRateSchedule.Initial"/> (a <see cref="TrainingState"/> says
    /// where: its <see cref="TrainingState.ScheduleEpoch"/>). The optimiser's moments start afresh unless the
    /// run is given the state. Reports still count this run's epochs from 1.
    /// </summary>
    public int FirstScheduleEpoch { get; set; }

    /// <summary>Creates the optimiser: a new one for each training run (an optimiser holds the state of one run). Adam by default.</summary>
    public Func<IOptimizer> Optimizer { get; set; } = () => new Adam();

    /// <summary>
    /// Stop at the end of the first epoch that ends after this much training time (null: run all
    /// <see cref="Epochs"/>). Stopping between epochs keeps a run reproducible with Epochs set to
    /// the count it reached.
    /// A run whose learning rate becomes 0 in single precision before
    /// its Epochs is refused without a TimeLimit; with one, it stops at that epoch, as at its limit.
    /// </summary>
    public TimeSpan? TimeLimit { get; set; }

    /// <summary>
    /// Set a Bernoulli visible layer's generative biases from the training data's marginals before
    /// the first step, when the machine has never been trained (<see cref="Model.HelmholtzMachine.StepsTrained"/> = 0),
    /// so that continuing to train a machine keeps what it learned. To reset them on a trained
    /// machine, call <see cref="Model.HelmholtzMachine.InitializeVisibleBiasesFromData"/>.
    /// </summary>
    public bool InitializeVisibleBiases { get; set; } = true;

    /// <summary>
    /// Take the optimiser's steps in centred coordinates: each map that reads the visible layer or a
    /// hidden layer whose draws lie in [0, 1] (binary, soft-target or continuous Bernoulli) moves its weights and its
    /// pre-activation at the input's centre (the training data's column means for the visible layer, 0.5 for those
    /// hidden units) instead of its weights and
    /// biases. The machine is the same kind of machine and is stored, scored and exported as any; only
    /// the path of the optimiser differs, as in the public code of the literature's binary machines,
    /// which centres their inputs. A run from a stream (no pass over the data first) centres the
    /// visible layer at 0.5 unless the caller knows the means (<see cref="VisibleMeans"/>). Costs two
    /// passes over those weights a step. Off by default: on binarized MNIST with NVIL and Adam it
    /// trained more slowly than the plain steps (docs/results.md).
    /// </summary>
    public bool CenterInputs { get; set; }

    /// <summary>
    /// For data read as a stream: its column means, known from a pass the caller made. They start a new
    /// machine's visible biases (<see cref="InitializeVisibleBiases"/>) and centre the visible layer
    /// (<see cref="CenterInputs"/>), as the data's own means do for data in memory.
    /// </summary>
    internal double[]? VisibleMeans { get; set; }

    /// <summary>
    /// When a run is called diverged. With F₀ the mean free energy of the run's first minibatch
    /// and D the visible units, a step fails when the free energy measured after it (on the next
    /// minibatch, or at the end of an epoch on the epoch's last one) exceeds
    /// F₀ + DivergenceFactor · (|F₀| + D) nats, or is not finite. The step is then undone and
    /// <see cref="TrainingDivergedException"/> thrown. The margin is wide (7,840 nats or more on
    /// MNIST by default) because only a blow-up should trip it; +∞ keeps the finiteness checks only.
    /// </summary>
    public double DivergenceFactor { get; set; } = 10;

    /// <summary>How a divergence message names <see cref="DivergenceFactor"/>: the ML.NET estimator names its own option.</summary>
    internal string DivergenceFactorName { get; set; } = "TrainingOptions.DivergenceFactor";

    /// <summary>The schedule's epoch of a run's epoch <paramref name="epoch"/> (from 0), held at int.MaxValue: a schedule epoch past an int wrapped negative, and a training state recorded then could not be loaded.</summary>
    internal static int ScheduleEpoch(int first, long epoch) => (int)Math.Min(int.MaxValue, first + epoch);

    /// <summary>F₀ + factor · (|F₀| + D): the free energy past which a step has failed (see <see cref="DivergenceFactor"/>), relative to the start and never tighter than factor · D nats.</summary>
    internal static double DivergenceLimit(double firstFreeEnergy, double factor, int visibleUnits)
        => firstFreeEnergy + factor * (Math.Abs(firstFreeEnergy) + visibleUnits);

    /// <summary>A checked copy, which is what a run uses.</summary>
    internal TrainingOptions Snapshot()
    {
        var copy = (TrainingOptions)MemberwiseClone();
        copy.Validate();
        return copy;
    }

    internal void Validate()
    {
        if (Epochs < 0) throw new ArgumentOutOfRangeException(nameof(Epochs), Epochs, "Epochs must be ≥ 0.");
        if (BatchSize <= 0) throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "BatchSize must be positive.");
        if (LearningRate is null) throw new ArgumentNullException(nameof(LearningRate), "TrainingOptions.LearningRate must be set.");
        LearningRate.Validate();
        if (FirstScheduleEpoch < 0) throw new ArgumentOutOfRangeException(nameof(FirstScheduleEpoch), FirstScheduleEpoch, "FirstScheduleEpoch must be ≥ 0.");
        // A rate of 0 as a float takes steps that change nothing: refused before the run, as a schedule that starts at 0 is. With a
        // TimeLimit the epochs asked for may be a bound the run never reaches ("--epochs 100000 --time-limit 60"): the run stops
        // instead at the first epoch whose rate is 0 (HelmholtzTrainer), as at its time limit.
        if (TimeLimit is null && LearningRate.FirstZeroInSinglePrecision(FirstScheduleEpoch, ScheduleEpoch(FirstScheduleEpoch, Epochs - 1)) is { } zero)
            throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate,
                $"The learning-rate schedule ({LearningRate.Initial} × {LearningRate.DecayPerEpoch}^epoch, minimum {LearningRate.Minimum}) gives 0 in single precision, " +
                $"in which it is used, from its epoch {zero} (this run's epoch {(long)zero - FirstScheduleEpoch + 1}, FirstScheduleEpoch = {FirstScheduleEpoch}): " +
                "its steps would not change the machine. Set a floor (LearningRateSchedule.Minimum; MinimumLearningRate in HelmholtzMachineOptions), decay more slowly, or train fewer epochs.");
        if (Optimizer is null) throw new ArgumentNullException(nameof(Optimizer), "TrainingOptions.Optimizer must be set: a function that creates a new optimiser.");
        if (TimeLimit is { } limit && limit <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(TimeLimit), limit, "TimeLimit must be positive.");
        if (!(DivergenceFactor > 0)) throw new ArgumentOutOfRangeException(nameof(DivergenceFactor), DivergenceFactor, "DivergenceFactor must be positive (+∞ to keep only the finiteness checks).");
    }
}

/// <summary>
/// What one epoch did: mean free-energy samples (nats per example) on the training and validation
/// data, whatever the rule, and the mean of the rule's own objective on the training data.
/// <see cref="LearningRate"/> is the rate the optimiser stepped with (a float), as the shortest decimal that is that float.
/// </summary>
public sealed record EpochReport(int Epoch, double TrainFreeEnergy, double? ValidationFreeEnergy, double LearningRate, TimeSpan Elapsed)
{
    /// <summary>The mean of what the rule minimises over the epoch's minibatches (its <see cref="Objective"/>); equal to <see cref="TrainFreeEnergy"/> for rules that minimise the free energy.</summary>
    public double TrainObjective { get; init; } = double.NaN;

    /// <summary>The rule's <see cref="ILearningRule.Objective"/>.</summary>
    public string Objective { get; init; } = "free energy";

    /// <summary>
    /// An importance-sampled estimate of the validation rows' mean ln p after the epoch, where the caller
    /// made one (the ML.NET estimator's <c>ValidationSamples</c>); the trainer itself leaves it null.
    /// </summary>
    public double? ValidationLogLikelihood { get; init; }
}

/// <summary>
/// Thrown when a training step fails: a free energy or gradient that is not finite, a parameter the
/// step made non-finite, or a free energy past the divergence limit (<see cref="TrainingOptions.DivergenceFactor"/>).
/// The failed step is not kept: the machine holds exactly the parameters it had before it. Also thrown by
/// <see cref="Evaluation.MeanFieldLogLikelihood"/> when its per-example optimisation diverges (its machine is a private copy).
/// </summary>
public sealed class TrainingDivergedException : Exception
{
    /// <summary>An exception with the message "Training diverged."; <see cref="Epoch"/> and <see cref="Minibatch"/> are 0.</summary>
    public TrainingDivergedException() : base("Training diverged.") { }

    /// <summary>An exception with <paramref name="message"/>; <see cref="Epoch"/> and <see cref="Minibatch"/> are 0.</summary>
    public TrainingDivergedException(string message) : base(message) { }

    /// <summary>An exception with <paramref name="message"/>, caused by <paramref name="innerException"/>; <see cref="Epoch"/> and <see cref="Minibatch"/> are 0.</summary>
    public TrainingDivergedException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>An exception with <paramref name="message"/> for the failed step of <paramref name="epoch"/> (from 1) and <paramref name="minibatch"/> (from 0, within the epoch).</summary>
    public TrainingDivergedException(string message, int epoch, int minibatch) : base(message)
    {
        Epoch = epoch;
        Minibatch = minibatch;
    }

    /// <summary>The epoch (from 1) of the step that failed; 0 when no training step failed (an estimator's optimisation, e.g. the mean-field baseline's).</summary>
    public int Epoch { get; }

    /// <summary>The minibatch (from 0, within the epoch) of the step that failed; meaningful only when <see cref="Epoch"/> is not 0.</summary>
    public int Minibatch { get; }
}
