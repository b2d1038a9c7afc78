using System.Diagnostics;
using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Learning.Optimizers;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Learning;

/// <summary>
/// The training loop: shuffled minibatches, one learning rule, one optimiser, a learning-rate
/// schedule, progress after each epoch, cancellation between minibatches, and a guard that stops
/// before a non-finite step reaches the parameters.
/// </summary>
public sealed class HelmholtzTrainer
{
    public HelmholtzTrainer(ILearningRule rule, TrainingOptions? options = null)
    {
        Rule = rule ?? throw new ArgumentNullException(nameof(rule));
        Options = options ?? new TrainingOptions();
    }

    public ILearningRule Rule { get; }
    public TrainingOptions Options { get; }

    /// <summary>Trains on an in-memory data set, checked in full before the first step.</summary>
    public IReadOnlyList<EpochReport> Train(HelmholtzMachine machine, DataMatrix training, DataMatrix? validation = null,
        IProgress<EpochReport>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(machine);
        ArgumentNullException.ThrowIfNull(training);
        Options.Validate();
        DataValidation.Validate(training.Values, training.Rows, training.Columns, machine.Architecture.Visible, "training data");
        if (Options.InitializeVisibleBiases) machine.InitializeVisibleBiasesFromData(training.Values, training.Rows);
        return TrainCore(machine, new ShuffledMinibatches(training), checkEachBatch: false, validation, progress, cancellationToken);
    }

    /// <summary>
    /// Trains on minibatches from <paramref name="training"/>; each minibatch is checked as it
    /// arrives. <see cref="TrainingOptions.InitializeVisibleBiases"/> does not apply: it needs a
    /// pass over the data first.
    /// </summary>
    public IReadOnlyList<EpochReport> Train(HelmholtzMachine machine, IMinibatchSource training, DataMatrix? validation = null,
        IProgress<EpochReport>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(machine);
        ArgumentNullException.ThrowIfNull(training);
        Options.Validate();
        if (training.Columns != machine.Architecture.Visible.Size)
            throw new ArgumentException($"training data has vectors of length {training.Columns}, but the visible layer has {machine.Architecture.Visible.Size} units.", nameof(training));
        if (training.Rows is 0) throw new ArgumentException("training data is empty: at least one example is needed.", nameof(training));
        return TrainCore(machine, training, checkEachBatch: true, validation, progress, cancellationToken);
    }

    private List<EpochReport> TrainCore(HelmholtzMachine machine, IMinibatchSource training, bool checkEachBatch, DataMatrix? validation,
        IProgress<EpochReport>? progress, CancellationToken cancellationToken)
    {
        LayerDefinition visible = machine.Architecture.Visible;
        if (validation is not null)
            DataValidation.Validate(validation.Values, validation.Rows, validation.Columns, visible, "validation data");

        int batchSize = Math.Min(Options.BatchSize, training.Rows ?? Options.BatchSize);
        Rule.Prepare(machine, batchSize);
        var states = new LayerStates(machine.Architecture, batchSize);
        var random = new RandomStream(Options.Seed);
        var evaluationRandom = random.Fork(1);
        IOptimizer optimizer = Options.Optimizer();
        var parameters = machine.Parameters.Concat(Rule.Parameters).ToArray();
        var blocks = new ParameterBlocks(parameters);

        // Gradients start at zero; after that, an optimiser that clears them as it steps saves a pass.
        blocks.ClearGradients();
        bool clearEachStep = !optimizer.ClearsGradients;
        var reports = new List<EpochReport>(Options.Epochs);
        var clock = Stopwatch.StartNew();
        for (int epoch = 0; epoch < Options.Epochs; epoch++)
        {
            float rate = (float)Options.LearningRate.At(epoch);
            training.BeginEpoch(random);
            double sum = 0;
            int seen = 0;
            // Whole minibatches only: a short last one would weigh its examples more.
            for (int batch = 0; ; batch++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                Span<float> x0 = states.Layer(0, batchSize);
                if (training.NextBatch(x0, batchSize) < batchSize) break;
                if (checkEachBatch) DataValidation.Validate(x0, batchSize, visible.Size, visible, $"training data (epoch {epoch + 1}, minibatch {batch})");

                if (clearEachStep) blocks.ClearGradients();
                double freeEnergy = Rule.AccumulateGradients(machine, states, batchSize, random);
                CheckFinite(freeEnergy, blocks, epoch, batch);
                optimizer.Step(parameters, rate);
                sum += freeEnergy * batchSize;
                seen += batchSize;
            }
            if (seen == 0)
                throw new ArgumentException($"training data gave no whole minibatch of {batchSize} examples in epoch {epoch + 1}.", nameof(training));
            double? valid = validation is null ? null : MeanFreeEnergy(machine, validation, evaluationRandom, states, cancellationToken);
            var report = new EpochReport(epoch + 1, sum / seen, valid, rate, clock.Elapsed);
            reports.Add(report);
            progress?.Report(report);
            if (Options.TimeLimit is { } limit && clock.Elapsed >= limit) break;
        }
        return reports;
    }

    /// <summary>The mean over the data of one free-energy sample per example (an upper bound on −ln p in expectation).</summary>
    public static double MeanFreeEnergy(HelmholtzMachine machine, DataMatrix data, RandomStream random, LayerStates states, CancellationToken cancellationToken = default)
    {
        int batch = states.Capacity;
        double[] fe = new double[batch], lj = new double[batch];
        double sum = 0;
        for (int start = 0; start < data.Rows; start += batch)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int rows = Math.Min(batch, data.Rows - start);
            data.Values.AsSpan(start * data.Columns, rows * data.Columns).CopyTo(states.Layer(0, rows));
            machine.SampleFreeEnergy(random, states, rows, fe, lj);
            for (int r = 0; r < rows; r++) sum += fe[r];
        }
        return sum / data.Rows;
    }

    private static void CheckFinite(double freeEnergy, ParameterBlocks parameters, int epoch, int batch)
    {
        if (!double.IsFinite(freeEnergy))
            throw new TrainingDivergedException($"Epoch {epoch + 1}, minibatch {batch}: the free energy is {freeEnergy}; the parameters keep their last finite values. Lower the learning rate.");
        if (parameters.FirstNonFiniteGradient() is { } p)
            throw new TrainingDivergedException($"Epoch {epoch + 1}, minibatch {batch}: the gradient of {p.Name} is not finite; the parameters keep their last finite values. Lower the learning rate.");
    }
}
