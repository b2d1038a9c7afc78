using Microsoft.ML.Helmholtz.Learning.Optimizers;

namespace Microsoft.ML.Helmholtz.Learning;

/// <summary>How <see cref="HelmholtzTrainer"/> runs: epochs, minibatches, optimiser, schedule, seed.</summary>
public sealed class TrainingOptions
{
    public int Epochs { get; set; } = 10;
    public int BatchSize { get; set; } = 100;

    /// <summary>Seeds the minibatch order and every sample: the same seed, engine and thread count give the same run bit for bit.</summary>
    public ulong Seed { get; set; } = 1;

    public LearningRateSchedule LearningRate { get; set; } = new(1e-3);

    /// <summary>Creates the optimiser (a fresh one per training run). Adam by default.</summary>
    public Func<IOptimizer> Optimizer { get; set; } = () => new Adam();

    /// <summary>
    /// Stop at the end of the first epoch that ends after this much training time (null: run all
    /// <see cref="Epochs"/>). Stopping between epochs keeps a run reproducible with Epochs set to
    /// the count it reached.
    /// </summary>
    public TimeSpan? TimeLimit { get; set; }

    /// <summary>Set a Bernoulli visible layer's biases from the training data's marginals before the first epoch.</summary>
    public bool InitializeVisibleBiases { get; set; } = true;

    internal void Validate()
    {
        if (Epochs < 0) throw new ArgumentOutOfRangeException(nameof(Epochs), "Epochs must be ≥ 0.");
        if (BatchSize <= 0) throw new ArgumentOutOfRangeException(nameof(BatchSize), "BatchSize must be positive.");
        ArgumentNullException.ThrowIfNull(LearningRate);
        LearningRate.At(0);
        ArgumentNullException.ThrowIfNull(Optimizer);
        if (TimeLimit is { } limit && limit <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(TimeLimit), "TimeLimit must be positive.");
    }
}

/// <summary>What one epoch did: mean free-energy samples (nats per example) on the training and validation data.</summary>
public sealed record EpochReport(int Epoch, double TrainFreeEnergy, double? ValidationFreeEnergy, double LearningRate, TimeSpan Elapsed);

/// <summary>Thrown when a step would make the model non-finite; the parameters keep their last finite values.</summary>
public sealed class TrainingDivergedException : Exception
{
    public TrainingDivergedException(string message) : base(message) { }
}
