using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Concurrency;
using System.Diagnostics;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Learning;
using Microsoft.ML.Helmholtz.Learning.Optimizers;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Temporal;

/// <summary>How <see cref="TemporalTrainer"/> trains.</summary>
public sealed class TemporalTrainingOptions
{
    /// <summary>Passes over the training sequences, ≥ 0 (10 by default); a run of 0 epochs takes no step.</summary>
    public int Epochs { get; set; } = 10;

    /// <summary>Sequences per minibatch; each step sees their frames of one segment.</summary>
    public int BatchSequences { get; set; } = 20;

    /// <summary>
    /// Truncated back-propagation through time: segments of this many steps, each a step of the
    /// optimiser, the LSTM's state carried from one to the next but not differentiated across. 0: whole sequences.
    /// </summary>
    public int TruncationSteps { get; set; }

    /// <summary>
    /// The learning rate of each epoch, as <see cref="TrainingOptions.LearningRate"/> says for the frame machine (a constant
    /// 10⁻³ by default). A run resumed from a <see cref="TrainingState"/> goes on from the epoch of the schedule where the
    /// state's run stopped (<see cref="TrainingState.ScheduleEpoch"/>), as the uninterrupted run would have. A run whose rate
    /// becomes 0 in single precision before its Epochs is refused without a <see cref="TimeLimit"/>; with one, it stops at that epoch.
    /// </summary>
    public LearningRateSchedule LearningRate { get; set; } = new(1e-3);

    /// <summary>
    /// Seeds the run's random streams: the sequences' order, the samples and the end-of-epoch measures. A run resumed from a
    /// <see cref="TrainingState"/> takes the order's and the samples' streams from the state instead.
    /// </summary>
    public ulong Seed { get; set; } = 1;

    /// <summary>Creates the optimiser of a run: called once at the start of each run, so that each has a fresh one.</summary>
    public Func<IOptimizer> Optimizer { get; set; } = () => new Adam();

    /// <summary>Stops after the epoch during which this much time has passed.</summary>
    public TimeSpan? TimeLimit { get; set; }

    /// <summary>Starts a fresh machine's visible biases from the frames' means, as <see cref="TrainingOptions.InitializeVisibleBiases"/> does.</summary>
    public bool InitializeVisibleBiases { get; set; } = true;

    /// <summary>
    /// When a run is called diverged, as <see cref="TrainingOptions.DivergenceFactor"/> says for the frame machine: with F₀
    /// the free energy per frame of the run's first segment (of the first run, for a run resumed from a
    /// <see cref="TrainingState"/>, which carries it) and D the frame's visible units, a step fails when the free
    /// energy per frame measured after it (the next segment's, or the end-of-epoch measure) exceeds
    /// F₀ + DivergenceFactor · (|F₀| + D) nats, or is not finite. +∞ keeps the finiteness checks only.
    /// </summary>
    public double DivergenceFactor { get; set; } = 10;

    /// <summary>How a divergence message names <see cref="DivergenceFactor"/>: the ML.NET estimator names its own option.</summary>
    internal string DivergenceFactorName { get; set; } = "TemporalTrainingOptions.DivergenceFactor";

    /// <summary>A copy, which is what a run uses: changing the options during a run does not change it.</summary>
    internal TemporalTrainingOptions Snapshot() => (TemporalTrainingOptions)MemberwiseClone();
}

/// <summary>One epoch of temporal training: the means per frame of the rule's objective and of F̂ over its steps, and the epoch's learning rate.</summary>
public sealed record TemporalEpochReport(int Epoch, double TrainFreeEnergy, double TrainObjective, string Objective, TimeSpan Elapsed, double LearningRate)
{
    /// <summary>
    /// An importance-sampled estimate of the validation sequences' mean ln p per frame after the epoch, where the caller made one
    /// (the ML.NET estimator's <c>ValidationSamples</c>); the trainer itself leaves it null.
    /// </summary>
    public double? ValidationLogLikelihood { get; init; }
}

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
/// Its runs hold the model, the rule and the optimiser as <see cref="HelmholtzTrainer"/>'s do: a second run on any of them at
/// once is refused, naming what holds it.
/// </summary>
public sealed class TemporalTrainer
{
    /// <summary>
    /// A trainer whose runs use <paramref name="rule"/> and <paramref name="options"/> (null: a new <see cref="TemporalTrainingOptions"/>,
    /// the defaults). Throws <see cref="ArgumentNullException"/> for a null rule.
    /// </summary>
    public TemporalTrainer(ILearningRule rule, TemporalTrainingOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(rule);
        Rule = rule;
        Options = options ?? new TemporalTrainingOptions();
    }

    /// <summary>The learning rule that trains the frame machine in every run; a run holds it, so two runs at once need a rule each.</summary>
    public ILearningRule Rule { get; }
    /// <summary>The options as given, not a copy: each run copies them when it starts, so a change applies from the next run.</summary>
    public TemporalTrainingOptions Options { get; }

    /// <summary>
    /// Trains on <paramref name="training"/>. With a <paramref name="state"/>, the run goes on from it (when a
    /// run recorded itself there: the optimiser's moments, the rule's baselines, the random streams) and
    /// records itself into it after each epoch, so that the model saved after an epoch and the state
    /// resume as the uninterrupted run would have. A run cancelled within an epoch leaves the state at
    /// the last epoch, which the machine has passed: resume from the model saved then.
    /// </summary>
    /// <remarks>
    /// The options are copied when the call starts. Everything that can refuse the run (the options, the
    /// sequences, the rule, the state, cancellation) is checked before the machine changes. Each step is
    /// checked by what is measured after it: the next segment's free energy and gradients, or, after an
    /// epoch's last step, the free energy of that minibatch's first segment and the parameters, before the
    /// epoch is recorded or reported: past <see cref="TemporalTrainingOptions.DivergenceFactor"/>'s limit, or not finite,
    /// it has failed. A step that fails is undone (with the run's first, the start of the visible biases too) and
    /// <see cref="TrainingDivergedException"/> is thrown.
    /// </remarks>
    public IReadOnlyList<TemporalEpochReport> Train(TemporalHelmholtzMachine model, SequenceSet training, IProgress<TemporalEpochReport>? progress = null,
        CancellationToken cancellationToken = default, TrainingState? state = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(training);
        // Everything that can refuse the run, before anything changes; the options checked here are the ones the run uses.
        TemporalTrainingOptions o = Options.Snapshot();
        Validate(o);
        if (Rule.UnsupportedConditioning is { } refused) throw new NotSupportedException($"The temporal machine conditions every frame on the LSTM: {refused}");
        training.Validate(model, "training sequences", nameof(training));
        if (training.Count < o.BatchSequences)
            throw new ArgumentException($"training sequences: {training.Count} sequences give no minibatch of {o.BatchSequences}; lower BatchSequences.", nameof(training));

        var machine = model.Machine;
        using var machineUse = machine.Access.Compute.Enter("temporal training");
        // The rule and the optimiser hold a run's buffers and learned state: one run at a time each, as HelmholtzTrainer holds them.
        using var ruleUse = RuleUse.Enter(Rule, "temporal training");
        int batch = o.BatchSequences, frames = training.Frames;
        int segment = o.TruncationSteps == 0 ? frames : Math.Min(o.TruncationSteps, frames);
        // A run of no epochs takes no step: its rule need not suit the machine and its buffers are not made (as HelmholtzTrainer;
        // the ML.NET estimator wraps machines trained otherwise so). Its state is still checked below.
        if (o.Epochs > 0)
        {
            if (Rule.Unsupported(machine.Architecture) is { } reason) throw new NotSupportedException(reason);
            // The step's buffers are sized from the options: refused here, naming them, before the rule or the step allocates.
            TemporalStep.RequireFits(model, Rule.SamplesPerExample, batch, segment, "options",
                $"TemporalTrainingOptions.BatchSequences = {batch} and TruncationSteps = {o.TruncationSteps} (segments of {segment} frames)",
                "use a smaller TemporalTrainingOptions.BatchSequences or TruncationSteps");
        }
        IOptimizer optimizer = o.Optimizer() ?? throw new InvalidOperationException("TemporalTrainingOptions.Optimizer returned null.");
        using var optimizerUse = OptimizerRuns.Enter(optimizer, "TemporalTrainingOptions.Optimizer", "temporal training");
        using var stateUse = state?.EnterRun("temporal training") ?? default;
        using var run = TrainingRuns.Enter("temporal training", (machine, "The model's frame machine"), (Rule, $"The learning rule '{Rule.Name}'"), (state, "The training state"));
        bool resume = state is { IsEmpty: false };
        if (resume) state!.CheckFits(Rule, optimizer, machine.StepsTrained, TrainingState.Fingerprint(model.Parameters), batch, training.Count);
        int epochsBefore = resume ? state!.ScheduleEpoch : 0;
        // A rate that decays to 0 as a float changes nothing: refused unless a time limit bounds the run (it then stops at that epoch).
        if (o.TimeLimit is null && o.LearningRate.FirstZeroInSinglePrecision(epochsBefore, TrainingOptions.ScheduleEpoch(epochsBefore, o.Epochs - 1)) is { } zero)
            throw new ArgumentOutOfRangeException("options", o.LearningRate,
                $"TemporalTrainingOptions.LearningRate ({o.LearningRate.Initial} × {o.LearningRate.DecayPerEpoch}^epoch, minimum {o.LearningRate.Minimum}) gives 0 in " +
                $"single precision, in which it is used, from its epoch {zero} (this run's epoch {(long)zero - epochsBefore + 1}): its steps would not change the machine. " +
                "Set a floor (LearningRateSchedule.Minimum), decay more slowly, train fewer epochs, or set a TimeLimit.");
        cancellationToken.ThrowIfCancellationRequested();
        var reports = new List<TemporalEpochReport>();
        if (o.Epochs == 0) return reports;
        Adam.RequireFirstRateFits(optimizer, (float)o.LearningRate.At(epochsBefore), "TemporalTrainingOptions.LearningRate", "options");
        // The state's streams first: a state without one (from another kind of run) is refused before the rule is prepared.
        ulong[]? orderWords = resume ? state!.Stream(OrderStream).ToArray() : null, sampleWords = resume ? state!.Stream(SampleStream).ToArray() : null;
        // After the refusals above, which must not make the rule forget what it learned on another machine (as HelmholtzTrainer).
        Rule.Prepare(machine, segment * batch);

        var random = new RandomStream(o.Seed);
        var samples = random.Fork(1);
        var workspace = new TemporalStep(model, Rule, batch, segment, samples);
        int[] order = new int[training.Count];
        Parameter[] parameters = model.Parameters.Concat(Rule.Parameters).ToArray();
        StateSection? ruleBefore = null;
        long stepsAtStart = machine.StepsTrained;
        if (resume)
        {
            random.RestoreState(orderWords!);
            samples.RestoreState(sampleWords!);
            ruleBefore = state!.RestoreInto(optimizer, Rule, parameters);   // one that does not fit is refused here, before the machine changes
        }
        OptimizerRuns.MarkUsed(optimizer);
        UndoableSteps? steps = null;
        // Whatever fails before the run's first step (a rule's or an optimiser's exception, an allocation)
        // leaves the machine as it was given, the visible biases' start undone, and the rule as it was; a step's own
        // failures undo themselves.
        try
        {
            steps = new UndoableSteps(machine, parameters);
            if (o.InitializeVisibleBiases && machine.StepsTrained == 0)
            {
                steps.KeepBeforeInitialization(machine.Generative.Layers[0].Parameters);
                machine.InitializeVisibleBiasesFromData(training.Values, training.Count * frames);
            }
            foreach (Parameter p in parameters) p.ZeroGradient();

            var clock = Stopwatch.StartNew();
            // F₀, the limit's reference: the first run's first free energy, carried in the state so that a resumed run has the
            // unbroken run's limit (as HelmholtzTrainer carries it); a state without one (recorded before it was kept) gives NaN,
            // and the run takes its own first free energy.
            double divergenceReference = resume ? state!.DivergenceReference : double.NaN;
            double divergenceLimit = double.IsNaN(divergenceReference) ? double.NaN
                : TrainingOptions.DivergenceLimit(divergenceReference, o.DivergenceFactor, machine.Architecture.Visible.Size);
            string? PastLimit(double freeEnergy)
            {
                if (double.IsNaN(divergenceLimit))
                {
                    divergenceReference = freeEnergy;
                    divergenceLimit = TrainingOptions.DivergenceLimit(freeEnergy, o.DivergenceFactor, machine.Architecture.Visible.Size);
                    return null;
                }
                return freeEnergy <= divergenceLimit ? null
                    : $"the free energy is {freeEnergy:G6} nats a frame, past the divergence limit of {divergenceLimit:G6} ({o.DivergenceFactorName})";
            }
            double[] checkFreeEnergy = new double[segment * batch * Rule.SamplesPerExample], checkLogJoint = new double[checkFreeEnergy.Length];
            int minibatches = order.Length / batch;
            // The last step measured on the first segment of its minibatch (the one starting at order[first]), on a stream of its
            // own from the seed and the steps trained, so training draws the same numbers with or without it and a resumed run
            // measures as the uninterrupted one; a failure undoes the step. `when` says where in the run the measure is made.
            void MeasureLastStep(int epoch, int first, string when)
            {
                var check = new RandomStream(o.Seed).Fork(CheckStreams + (ulong)machine.StepsTrained);
                double measured = workspace.SampleFreeEnergy(training, order.AsSpan(first, batch), check, checkFreeEnergy, checkLogJoint);
                Parameter? broken = FirstNonFinite(parameters, p => p.Value);
                string where = $"Epoch {epoch + 1}, {when} (minibatch {first / batch}), measured on that minibatch's first {segment} frames";
                if (!double.IsFinite(measured) || broken is not null)
                    throw Diverged(steps, $"{where}: " + (broken is null ? $"the free energy is {measured}" : $"{broken.Name} is not finite"), epoch + 1, first / batch);
                if (PastLimit(measured) is { } beyond)
                    throw Diverged(steps, $"{where}: {beyond}", epoch + 1, first / batch);
            }
            bool stepUnchecked = false;   // a step of this run that no free energy has measured yet
            var runningEstimates = Rule as IUndoableRunningEstimates;
            int lastStepFirst = 0;        // where in the order that step's minibatch starts
            for (int epoch = 0; epoch < o.Epochs; epoch++)
            {
                float rate = (float)o.LearningRate.At(TrainingOptions.ScheduleEpoch(epochsBefore, epoch));
                // Refused before the run without a time limit; with one, the run ends here, as at its limit (as HelmholtzTrainer does).
                if (rate == 0) break;
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
                        // A run cancelled after a step measures it first, as an epoch's last step is measured: it never stops on a
                        // step that no free energy has checked (the bouncing-balls sample saves and scores what a cancelled run holds).
                        if (cancellationToken.IsCancellationRequested && stepUnchecked)
                            MeasureLastStep(epoch, lastStepFirst, "after its last step before the run was cancelled");
                        cancellationToken.ThrowIfCancellationRequested();   // before the first step, the handler below puts the machine back
                        int length = Math.Min(segment, frames - t0), rows = length * batch;
                        runningEstimates?.KeepForUndo();
                        BatchLoss loss = workspace.AccumulateGradients(training, sequences, t0, length);
                        Parameter? bad = FirstNonFinite(parameters, p => p.Gradient);
                        // A failure here was measured by the rule, which learned from it: taken back with the step (as HelmholtzTrainer does).
                        if (!double.IsFinite(loss.FreeEnergy) || bad is not null)
                        {
                            runningEstimates?.UndoLastUpdate();
                            throw Diverged(steps, $"Epoch {epoch + 1}, minibatch {first / batch}, frames from {t0 + 1}: " +
                                (bad is null ? $"the free energy is {loss.FreeEnergy}" : $"the gradient of {bad.Name} is not finite"), epoch + 1, first / batch);
                        }
                        if (PastLimit(loss.FreeEnergy) is { } past)
                        {
                            runningEstimates?.UndoLastUpdate();
                            throw Diverged(steps, $"Epoch {epoch + 1}, minibatch {first / batch}, frames from {t0 + 1}: {past}", epoch + 1, first / batch);
                        }
                        steps.Take(optimizer, rate);
                        (stepUnchecked, lastStepFirst) = (true, first);
                        if (!optimizer.ClearsGradients) foreach (Parameter p in parameters) p.ZeroGradient();
                        freeEnergy += loss.FreeEnergy * rows;
                        objective += loss.Objective * rows;
                        seen += rows;
                    }
                }

                // The epoch's last step has no next segment to check it: it is measured here, before the epoch is recorded or reported.
                MeasureLastStep(epoch, (minibatches - 1) * batch, "after its last step");
                stepUnchecked = false;

                // After a step of this run: the machine is left as it is here.
                state?.Record(Rule, optimizer, parameters, machine.StepsTrained, TrainingState.Fingerprint(model.Parameters), epochsBefore + epoch + 1, 0, batch, training.Count, 0, 0, divergenceReference,
                    (OrderStream, random.SaveState()), (SampleStream, samples.SaveState()));
                var report = new TemporalEpochReport(epoch + 1, freeEnergy / seen, objective / seen, Rule.Objective, clock.Elapsed, LearningRateSchedule.AsReported(rate));
                reports.Add(report);
                progress?.Report(report);
                if (o.TimeLimit is { } limit && clock.Elapsed >= limit) break;
            }
            return reports;
        }
        catch (Exception failure)
        {
            steps?.UndoIfNoStepTaken();
            if (machine.StepsTrained == stepsAtStart) TrainingState.GiveBack(Rule, ruleBefore, parameters, failure);
            throw;
        }
    }

    private static void Validate(TemporalTrainingOptions options)
    {
        if (options.Epochs < 0) throw new ArgumentOutOfRangeException(nameof(options), options.Epochs, "TemporalTrainingOptions.Epochs must be ≥ 0.");
        if (options.BatchSequences <= 0) throw new ArgumentOutOfRangeException(nameof(options), options.BatchSequences, "TemporalTrainingOptions.BatchSequences must be positive.");
        if (options.TruncationSteps < 0) throw new ArgumentOutOfRangeException(nameof(options), options.TruncationSteps, "TemporalTrainingOptions.TruncationSteps must be ≥ 0 (0: whole sequences).");
        if (options.LearningRate is null) throw new ArgumentNullException(nameof(options), "TemporalTrainingOptions.LearningRate must be set.");
        try
        {
            options.LearningRate.Validate();   // a `with` expression can set a minimum above the initial rate
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.LearningRate, $"TemporalTrainingOptions.LearningRate: {Requires.Reason(e)}");
        }
        if (options.Optimizer is null) throw new ArgumentNullException(nameof(options), "TemporalTrainingOptions.Optimizer must be set: a function that creates a new optimiser.");
        if (options.TimeLimit is { } limit && limit <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(options), limit, "TemporalTrainingOptions.TimeLimit must be positive (null: none).");
        if (!(options.DivergenceFactor > 0))
            throw new ArgumentOutOfRangeException(nameof(options), options.DivergenceFactor, "TemporalTrainingOptions.DivergenceFactor must be positive (+∞ to keep only the finiteness checks).");
    }

    // The names of the random streams in a training state: the sequences' order, and the samples'.
    private const string OrderStream = "sequence order", SampleStream = "samples";

    // Fork ids of the end-of-epoch measures' streams: far from the samples' (1).
    private const ulong CheckStreams = 1UL << 32;

    private static Parameter? FirstNonFinite(Parameter[] parameters, Func<Parameter, float[]> values)
    {
        foreach (Parameter p in parameters)
            if (!Kernels.AllFinite(values(p))) return p;
        return null;
    }

    /// <summary>Undoes the last step (before the first, what the run changed) and names the failure.</summary>
    private static TrainingDivergedException Diverged(UndoableSteps steps, string what, int epoch, int minibatch)
    {
        string undone = !steps.StepTaken ? "No step was taken: the machine is as it was when the run started"
            : steps.Taken == 1 ? "The run's only step was undone: the machine is as it was when the run started"
            : "The last step was undone: the machine holds the parameters it had before it";
        // Before the run's first step the learning rate played no part: the machine as given (or its data) is the cause.
        string advice = steps.StepTaken ? "Lower the learning rate." : "Check its parameters (they may be extreme) and the data.";
        steps.UndoLast();
        return new TrainingDivergedException($"{what}. {undone}. {advice}", epoch, minibatch);
    }
}
