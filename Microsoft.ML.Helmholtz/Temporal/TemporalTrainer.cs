using Microsoft.ML.Helmholtz.Data;
using System.Diagnostics;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Learning;
using Microsoft.ML.Helmholtz.Learning.Optimizers;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Temporal;

/// <summary>How <see cref="TemporalTrainer"/> trains.</summary>
public sealed class TemporalTrainingOptions
{
    public int Epochs { get; set; } = 10;

    /// <summary>Sequences per minibatch; each step sees their frames of one segment.</summary>
    public int BatchSequences { get; set; } = 20;

    /// <summary>
    /// Truncated back-propagation through time: segments of this many steps, each a step of the
    /// optimiser, the LSTM's state carried from one to the next but not differentiated across. 0: whole sequences.
    /// </summary>
    public int TruncationSteps { get; set; }

    public float LearningRate { get; set; } = 1e-3f;
    public ulong Seed { get; set; } = 1;
    public Func<IOptimizer> Optimizer { get; set; } = () => new Adam();

    /// <summary>Stops after the epoch during which this much time has passed.</summary>
    public TimeSpan? TimeLimit { get; set; }

    /// <summary>Starts a fresh machine's visible biases from the frames' means, as <see cref="TrainingOptions.InitializeVisibleBiases"/> does.</summary>
    public bool InitializeVisibleBiases { get; set; } = true;
}

/// <summary>One epoch of temporal training: the means per frame of the rule's objective and of F̂ over its steps.</summary>
public sealed record TemporalEpochReport(int Epoch, double TrainFreeEnergy, double TrainObjective, string Objective, TimeSpan Elapsed);

/// <summary>
/// Trains a <see cref="TemporalHelmholtzMachine"/> by the seed's algorithm 2, with the frames of a
/// minibatch computed together rather than one step at a time: the LSTM runs forward over the
/// segment (its states depend on the data only, not on the samples), the conditioning map gives every
/// frame's c_t, the learning rule takes all the segment's frames as one batch with their conditioning
/// and returns ε_t = ∂F/∂c_t for each, the map turns those into ∂F/∂z_t, and the LSTM back-propagates
/// them through time. Any <see cref="ILearningRule"/> that takes conditioning trains the frame machine, unchanged: SBP for
/// Gaussian hidden layers, REINFORCE, Wake-Sleep or NVIL for binary ones, the K-sample rules too
/// (reweighted wake-sleep with its wake-phase update: its sleep phase is refused, <see cref="ILearningRule.UnsupportedConditioning"/>).
/// The objective is the mean per frame of the rule's (the free energy for SBP).
/// </summary>
public sealed class TemporalTrainer
{
    public TemporalTrainer(ILearningRule rule, TemporalTrainingOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(rule);
        Rule = rule;
        Options = options ?? new TemporalTrainingOptions();
    }

    public ILearningRule Rule { get; }
    public TemporalTrainingOptions Options { get; }

    /// <summary>
    /// Trains on <paramref name="training"/>. With a <paramref name="state"/>, the run goes on from it (when a
    /// run recorded itself there: the optimiser's moments, the rule's baselines, the random streams) and
    /// records itself into it after each epoch, so that the model saved after an epoch and the state
    /// resume as the uninterrupted run would have. A run cancelled within an epoch leaves the state at
    /// the last epoch, which the machine has passed: resume from the model saved then.
    /// </summary>
    public IReadOnlyList<TemporalEpochReport> Train(TemporalHelmholtzMachine model, SequenceSet training, IProgress<TemporalEpochReport>? progress = null,
        CancellationToken cancellationToken = default, TrainingState? state = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(training);
        TemporalTrainingOptions o = Options;
        ArgumentOutOfRangeException.ThrowIfNegative(o.Epochs);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(o.BatchSequences);
        ArgumentOutOfRangeException.ThrowIfNegative(o.TruncationSteps);
        if (!(o.LearningRate > 0) || !float.IsFinite(o.LearningRate)) throw new ArgumentOutOfRangeException(nameof(training), o.LearningRate, "The learning rate must be positive and finite.");
        if (Rule.UnsupportedConditioning is { } refused) throw new NotSupportedException($"The temporal machine conditions every frame on the LSTM: {refused}");
        training.Validate(model, "training sequences");
        if (training.Count < o.BatchSequences)
            throw new ArgumentException($"training sequences: {training.Count} sequences give no minibatch of {o.BatchSequences}; lower BatchSequences.", nameof(training));

        var machine = model.Machine;
        using var machineUse = machine.Access.Compute.Enter("temporal training");
        int batch = o.BatchSequences, frames = training.Frames;
        int segment = o.TruncationSteps == 0 ? frames : Math.Min(o.TruncationSteps, frames);
        Rule.Prepare(machine, segment * batch);
        IOptimizer optimizer = o.Optimizer() ?? throw new InvalidOperationException("TemporalTrainingOptions.Optimizer returned null.");
        using var stateUse = state?.EnterRun("temporal training") ?? default;
        bool resume = state is { IsEmpty: false };
        if (resume) state!.CheckFits(Rule.Name, optimizer.Name, machine.StepsTrained, batch, training.Count);
        var reports = new List<TemporalEpochReport>();
        if (o.Epochs == 0) return reports;

        var random = new RandomStream(o.Seed);
        var samples = random.Fork(1);
        var workspace = new TemporalStep(model, Rule, batch, segment, samples);
        int[] order = new int[training.Count];
        Parameter[] parameters = model.Parameters.Concat(Rule.Parameters).ToArray();
        int epochsBefore = resume ? state!.ScheduleEpoch : 0;
        if (resume)
        {
            state!.RestoreInto(optimizer, Rule, parameters);   // one that does not fit is refused here, before the machine changes
            random.RestoreState(state.Stream(OrderStream));
            samples.RestoreState(state.Stream(SampleStream));
        }
        var undo = new StepUndo(parameters);
        if (o.InitializeVisibleBiases && machine.StepsTrained == 0)
            machine.InitializeVisibleBiasesFromData(training.Values, training.Count * frames);
        foreach (Parameter p in parameters) p.ZeroGradient();
        undo.Save();   // a failure before the first step goes back to the machine as given (its visible biases started)

        long taken = 0;
        var clock = Stopwatch.StartNew();
        for (int epoch = 0; epoch < o.Epochs; epoch++)
        {
            // From the identity each epoch, so that the order follows from the stream alone (a resumed run draws it again).
            for (int i = 0; i < order.Length; i++) order[i] = i;
            for (int i = order.Length - 1; i > 0; i--)
            {
                int j = random.NextInt(i + 1);
                (order[i], order[j]) = (order[j], order[i]);
            }
            double freeEnergy = 0, objective = 0;
            long seen = 0;
            for (int first = 0; first + batch <= order.Length; first += batch)
            {
                ReadOnlySpan<int> sequences = order.AsSpan(first, batch);
                for (int t0 = 0; t0 < frames; t0 += segment)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    int steps = Math.Min(segment, frames - t0), rows = steps * batch;
                    BatchLoss loss = workspace.AccumulateGradients(training, sequences, t0, steps);
                    Parameter? bad = FirstNonFinite(parameters);
                    if (!double.IsFinite(loss.FreeEnergy) || bad is not null)
                    {
                        if (taken > 0) machine.StepsTrained--;
                        throw Diverged(undo, epoch, first / batch, t0, bad is null ? $"the free energy is {loss.FreeEnergy}" : $"the gradient of {bad.Name} is not finite");
                    }
                    using (machine.Access.EnterWrite())
                    {
                        // The built-in optimisers fill the undo copy within their own pass over the parameters.
                        if (optimizer is IKeepsValuesBeforeStep keeping) keeping.Step(parameters, o.LearningRate, undo);
                        else
                        {
                            undo.Save();
                            optimizer.Step(parameters, o.LearningRate);
                        }
                    }
                    if (!optimizer.ClearsGradients) foreach (Parameter p in parameters) p.ZeroGradient();
                    machine.StepsTrained++;
                    taken++;
                    freeEnergy += loss.FreeEnergy * rows;
                    objective += loss.Objective * rows;
                    seen += rows;
                }
            }
            state?.Record(Rule, optimizer, parameters, machine.StepsTrained, epochsBefore + epoch + 1, 0, batch, training.Count, 0, 0,
                (OrderStream, random.SaveState()), (SampleStream, samples.SaveState()));
            var report = new TemporalEpochReport(epoch + 1, freeEnergy / seen, objective / seen, Rule.Objective, clock.Elapsed);
            reports.Add(report);
            progress?.Report(report);
            if (o.TimeLimit is { } limit && clock.Elapsed >= limit) break;
        }
        return reports;
    }

    // The names of the random streams in a training state: the sequences' order, and the samples'.
    private const string OrderStream = "sequence order", SampleStream = "samples";

    private static Parameter? FirstNonFinite(Parameter[] parameters)
    {
        foreach (Parameter p in parameters)
            if (!Kernels.AllFinite(p.Gradient)) return p;
        return null;
    }

    private static TrainingDivergedException Diverged(StepUndo undo, int epoch, int minibatch, int t0, string what)
    {
        // The step that led here is undone: the machine holds the parameters that gave a finite free energy.
        undo.Restore();
        return new TrainingDivergedException(
            $"Epoch {epoch + 1}, minibatch {minibatch}, frames from {t0 + 1}: {what}. The last step was undone. Lower the learning rate.", epoch + 1, minibatch);
    }
}
