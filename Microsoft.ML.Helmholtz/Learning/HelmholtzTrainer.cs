using System.Diagnostics;
using System.Globalization;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Concurrency;
using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Evaluation;
using Microsoft.ML.Helmholtz.Learning.Optimizers;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Learning;

/// <summary>
/// The training loop: shuffled minibatches, one learning rule, one optimiser, a learning-rate
/// schedule, progress after each epoch, cancellation between minibatches, and a guard that undoes
/// a failed step (<see cref="TrainingOptions.DivergenceFactor"/> states the rule).
/// </summary>
/// <remarks>
/// A run checks everything that can refuse it (options, data, the rule's fit to the machine,
/// cancellation) before it changes the machine; a run of zero epochs changes nothing. A run that
/// stops early keeps the steps it completed: cancellation stops between minibatches, and a failed
/// step is undone before <see cref="TrainingDivergedException"/> is thrown. A machine trains in
/// one run at a time; the rule and the optimiser of a run belong to it while it runs. Other
/// threads may copy, save and score the machine meanwhile: they see the parameters between steps.
/// </remarks>
public sealed class HelmholtzTrainer
{
    /// <summary>
    /// A trainer whose runs use <paramref name="rule"/> and <paramref name="options"/> (null: a new <see cref="TrainingOptions"/>,
    /// the defaults). Throws <see cref="ArgumentNullException"/> for a null rule.
    /// </summary>
    public HelmholtzTrainer(ILearningRule rule, TrainingOptions? options = null)
    {
        Rule = rule ?? throw new ArgumentNullException(nameof(rule));
        Options = options ?? new TrainingOptions();
    }

    /// <summary>The learning rule of every run; a run holds it, so two runs at once need a rule each.</summary>
    public ILearningRule Rule { get; }
    /// <summary>The options as given, not a copy: each run copies them when it starts, so a change applies from the next run.</summary>
    public TrainingOptions Options { get; }

    /// <summary>
    /// Trains on an in-memory data set, checked in full before the first step. With a
    /// <paramref name="state"/>, the run goes on from it (when a run recorded itself there) and records
    /// itself into it after each epoch and when cancelled (<see cref="TrainingState"/>).
    /// </summary>
    public IReadOnlyList<EpochReport> Train(HelmholtzMachine machine, DataMatrix training, DataMatrix? validation = null,
        IProgress<EpochReport>? progress = null, CancellationToken cancellationToken = default, TrainingState? state = null)
    {
        ArgumentNullException.ThrowIfNull(machine);
        ArgumentNullException.ThrowIfNull(training);
        TrainingOptions options = Options.Snapshot();
        DataValidation.Validate(training.Values, training.Rows, training.Columns, machine.Architecture.Visible, "training data", nameof(training));
        return Run(machine, new ShuffledMinibatches(training), checkEachBatch: false, training, options, validation, progress, cancellationToken, state);
    }

    /// <summary>
    /// Trains on minibatches from <paramref name="training"/>; each minibatch is checked as it
    /// arrives. <see cref="TrainingOptions.InitializeVisibleBiases"/> does not apply: it needs a
    /// pass over the data first (the ML.NET estimator, which makes one, passes the means in). A
    /// <paramref name="state"/> carries the optimiser, the rule and the random streams on. From an
    /// epoch's end the resumed run is the uninterrupted one for any source whose order follows from the
    /// stream it is given; within an epoch only for one that draws the whole epoch's order in
    /// <see cref="IMinibatchSource.BeginEpoch"/>, as <see cref="ShuffledMinibatches"/> does
    /// (<see cref="StreamingMinibatches"/> draws as it hands rows out, between the rule's draws, so the
    /// rest of that epoch takes other rows).
    /// </summary>
    public IReadOnlyList<EpochReport> Train(HelmholtzMachine machine, IMinibatchSource training, DataMatrix? validation = null,
        IProgress<EpochReport>? progress = null, CancellationToken cancellationToken = default, TrainingState? state = null)
    {
        ArgumentNullException.ThrowIfNull(machine);
        ArgumentNullException.ThrowIfNull(training);
        TrainingOptions options = Options.Snapshot();
        if (training.Columns != machine.Architecture.Visible.Size)
            throw new ArgumentException($"training data has vectors of length {training.Columns}, but the visible layer has {machine.Architecture.Visible.Size} units.", nameof(training));
        if (training.Rows is <= 0) throw new ArgumentException("training data is empty: at least one example is needed.", nameof(training));
        return Run(machine, training, checkEachBatch: true, initialization: null, options, validation, progress, cancellationToken, state);
    }

    private List<EpochReport> Run(HelmholtzMachine machine, IMinibatchSource training, bool checkEachBatch, DataMatrix? initialization,
        TrainingOptions options, DataMatrix? validation, IProgress<EpochReport>? progress, CancellationToken cancellationToken, TrainingState? state)
    {
        LayerDefinition visible = machine.Architecture.Visible;
        if (validation is not null)
            DataValidation.Validate(validation.Values, validation.Rows, validation.Columns, visible, "validation data", nameof(validation));

        // Everything that can refuse the run, before anything changes.
        using var machineUse = machine.Access.Compute.Enter("training");
        using var ruleUse = RuleUse.Enter(Rule, "training");
        int batchSize = Math.Min(options.BatchSize, training.Rows ?? options.BatchSize);
        // A run of no epochs takes no step: its rule need not suit the machine (the ML.NET estimator wraps machines trained otherwise so),
        // nor its minibatches fit. The trainer's own minibatches (K rows per example) name the option, whatever the rule's buffers would say.
        if (options.Epochs > 0)
        {
            if (Rule.Unsupported(machine.Architecture) is { } reason) throw new NotSupportedException(reason);
            machine.RequireRows((long)batchSize * Rule.SamplesPerExample, nameof(options.BatchSize),
                $"Minibatches of {batchSize:N0} examples × {Rule.SamplesPerExample:N0} samples ({Rule.Name}; TrainingOptions.BatchSize = {options.BatchSize:N0})",
                "use a smaller TrainingOptions.BatchSize" + (Rule.SamplesPerExample > 1 ? " or fewer samples per example" : ""));
        }
        IOptimizer optimizer = options.Optimizer()
            ?? throw new InvalidOperationException("TrainingOptions.Optimizer returned null: it must create an optimiser (e.g. () => new Adam()).");
        using var optimizerUse = OptimizerRuns.Enter(optimizer, "TrainingOptions.Optimizer", "training");
        using var stateUse = state?.EnterRun("training") ?? default;
        using var run = TrainingRuns.Enter("training", (machine, "The machine"), (Rule, $"The learning rule '{Rule.Name}'"), (state, "The training state"));
        bool resume = state is { IsEmpty: false };
        // The machine as given, which a run that fails before its first step leaves it as: what a state recorded then must name.
        ulong givenFingerprint = state is null ? 0 : TrainingState.Fingerprint(machine.Parameters);
        if (resume) state!.CheckFits(Rule, optimizer, machine.StepsTrained, givenFingerprint, batchSize, training.Rows ?? -1);
        cancellationToken.ThrowIfCancellationRequested();
        var reports = new List<EpochReport>();
        // A run whose first epoch's rate is 0 (accepted with a TimeLimit) stops there, as a run of no epochs: before anything changes.
        float firstRate = (float)options.LearningRate.At(TrainingOptions.ScheduleEpoch(options.FirstScheduleEpoch, 0));
        if (options.Epochs == 0 || firstRate == 0) return reports;
        Adam.RequireFirstRateFits(optimizer, firstRate, "TrainingOptions.LearningRate", nameof(options.LearningRate));
        // The state's streams are read before the rule is prepared or anything restored: a state without one (from another kind of
        // run) is refused with the rule as it was.
        int skip = resume ? state!.MinibatchesIntoEpoch : 0;   // minibatches of the first epoch that the run resumed from had trained
        ulong[]? validationWords = resume ? state!.Stream(StateRecorder.Validation).ToArray() : null;
        ulong[]? checkStartWords = resume ? state!.Stream(StateRecorder.Check).ToArray() : null;
        ulong[]? trainingWords = resume ? state!.Stream(StateRecorder.Training).ToArray() : null;
        ulong[]? epochStartWords = skip > 0 ? state!.Stream(StateRecorder.EpochStart).ToArray() : null;
        // After the refusals above: a rule prepared for another machine forgets what it learned (NVIL's baselines), which a
        // refused call must not do to the machine it trains.
        Rule.Prepare(machine, batchSize);

        var parameters = machine.Parameters.Concat(Rule.Parameters).ToArray();
        // One that does not fit the parameters is refused here, before the machine changes. What the rule knew before is kept, so that a run
        // that fails before its first step (its data ends before the state's minibatch, a cancellation) leaves the rule as it was given too.
        StateSection? ruleBefore = resume ? state!.RestoreInto(optimizer, Rule, parameters) : null;
        OptimizerRuns.MarkUsed(optimizer);
        long stepsAtStart = machine.StepsTrained;
        StepGuard? step = null;
        // From here on the machine changes: whatever fails before the run's first step (a refusal, a cancellation,
        // an allocation) leaves it as it was given, the data-based initialisation undone, and the rule as it was.
        try
        {
            var blocks = new ParameterBlocks(parameters);
            step = new StepGuard(machine, parameters, options.DivergenceFactor, options.DivergenceFactorName, Rule as IUndoableRunningEstimates);
            if (resume) step.ResumeFrom(state!.DivergenceReference);
            // The data's column means start a new machine's visible biases and centre its inputs: from the caller's pass over a stream, or from the data in memory.
            bool initialize = options.InitializeVisibleBiases && machine.StepsTrained == 0 && (initialization is not null || options.VisibleMeans is not null);
            double[]? means = initialize || options.CenterInputs
                ? options.VisibleMeans ?? (initialization is null ? null : DataMatrix.ColumnMeans(initialization.Values, initialization.Rows, visible.Size))
                : null;
            if (initialize)
            {
                step.KeepBeforeInitialization(machine.Generative.Layers[0].Parameters);
                machine.InitializeVisibleBiasesFromMeans(means!);
            }
            InputCentering? centering = options.CenterInputs ? InputCentering.For(machine, means ?? Enumerable.Repeat(0.5, visible.Size).ToArray()) : null;

            // Two batches, used in turn: the epoch's last minibatch is still there when the next fill comes up short.
            var random = new RandomStream(options.Seed);
            int samples = Rule.SamplesPerExample;
            TrainingBatch[] batches = [new(machine.Architecture, batchSize, samples, random), new(machine.Architecture, batchSize, samples, random)];
            var evaluationRandom = random.Fork(1);
            var checkRandom = new RandomStream(options.Seed).Fork(2);   // a root of its own: the training stream stays as it was
            double[] checkFreeEnergy = new double[batchSize * samples], checkLogJoint = new double[batchSize * samples];
            ulong[] checkWords = new ulong[RandomStream.StateWords];
            bool stepUnchecked = false;   // a step of this run that no free energy has measured yet
            var recorder = state is null ? null : new StateRecorder(state, Rule, optimizer, parameters, machine, stepsAtStart, givenFingerprint,
                batchSize, training.Rows ?? -1, options.FirstScheduleEpoch, random, evaluationRandom, checkRandom, step);
            if (resume)
            {
                evaluationRandom.RestoreState(validationWords!);
                checkRandom.RestoreState(checkStartWords!);
                random.RestoreState(epochStartWords ?? trainingWords!);
            }

            void CheckLastStep(TrainingBatch last, string where)
            {
                checkRandom.SaveState(checkWords);
                machine.SampleFreeEnergy(checkRandom, last.States, last.Rows, checkFreeEnergy, checkLogJoint);
                checkRandom.RestoreState(checkWords);
                step.CheckFreeEnergy(checkFreeEnergy.Average(), where, fromRule: false);
            }

            // Gradients start at zero; after that, an optimiser that clears them as it steps saves a pass.
            blocks.ClearGradients();
            bool clearEachStep = !optimizer.ClearsGradients;
            var clock = Stopwatch.StartNew();
            for (int epoch = 0; epoch < options.Epochs; epoch++)
            {
                float rate = (float)options.LearningRate.At(TrainingOptions.ScheduleEpoch(options.FirstScheduleEpoch, epoch));
                // Refused before the run without a time limit (TrainingOptions.Validate); with one, the run ends here, as at its limit.
                if (rate == 0) break;
                recorder?.BeginEpoch();
                training.BeginEpoch(random);
                double sum = 0, objective = 0;
                int seen = 0, batch = 0;
                TrainingBatch? last = null;
                if (skip > 0)
                {
                    // The minibatches trained before the state was recorded: the same order, drawn again, passed over.
                    for (; batch < skip; batch++)
                    {
                        last = batches[batch & 1];
                        if (training.NextBatch(last.ExampleRows(batchSize), batchSize) < batchSize)
                            throw new ArgumentException($"training data ended before minibatch {skip} of the epoch that the training state stopped in.", nameof(training));
                        last.LoadValidated(batchSize);
                    }
                    random.RestoreState(trainingWords!);
                    (sum, objective, seen, skip) = (state!.PartialFreeEnergy, state.PartialObjective, batch * batchSize, 0);
                }
                // Whole minibatches only: a short last one would weigh its examples more.
                for (; ; batch++)
                {
                    if (cancellationToken.IsCancellationRequested)
                    {
                        // The last step is checked as the epoch's last is (else the next minibatch would have): a run stops
                        // with a machine that passed, or undoes the step. The check's draws are given back, so that the
                        // resumed run's checks draw what the uninterrupted run's would have.
                        if (stepUnchecked && last is not null) CheckLastStep(last, $"minibatch {batch - 1} of epoch {epoch + 1}, when the run was cancelled");
                        recorder?.Cancelled(epoch, batch, sum, objective);
                        cancellationToken.ThrowIfCancellationRequested();
                    }
                    TrainingBatch current = batches[batch & 1];
                    Span<float> x0 = current.ExampleRows(batchSize);
                    if (training.NextBatch(x0, batchSize) < batchSize) break;
                    if (checkEachBatch)
                    {
                        try
                        {
                            DataValidation.Validate(x0, batchSize, visible.Size, visible, $"training data (epoch {epoch + 1}, minibatch {batch})", nameof(training));
                        }
                        catch (ArgumentException)
                        {
                            // The run stops here: the last step is checked as a cancellation checks it, so it never stops on a step that failed.
                            if (stepUnchecked && last is not null) CheckLastStep(last, $"minibatch {batch - 1} of epoch {epoch + 1}, when minibatch {batch} was refused");
                            throw;
                        }
                    }
                    current.LoadValidated(batchSize);

                    if (clearEachStep) blocks.ClearGradients();
                    step.KeepRuleEstimates();
                    BatchLoss loss = Rule.AccumulateGradients(machine, current);
                    step.CheckFreeEnergy(loss.FreeEnergy, $"minibatch {batch} of epoch {epoch + 1}", fromRule: true);
                    if (blocks.FirstNonFiniteGradient() is { } bad) step.RefuseNonFiniteGradient(bad, epoch, batch);
                    step.Take(optimizer, rate, epoch, batch, centering);
                    stepUnchecked = true;
                    sum += loss.FreeEnergy * batchSize;
                    objective += loss.Objective * batchSize;
                    seen += batchSize;
                    last = current;
                }
                if (last is null)
                    throw new ArgumentException($"training data gave no whole minibatch of {batchSize} examples in epoch {epoch + 1} (TrainingOptions.BatchSize: a source of fewer rows needs a smaller one).", nameof(training));

                // The epoch's last step is measured on its own minibatch, so what is reported has passed the check.
                recorder?.EndOfMinibatches();
                machine.SampleFreeEnergy(checkRandom, last.States, last.Rows, checkFreeEnergy, checkLogJoint);
                step.CheckFreeEnergy(checkFreeEnergy.Average(), $"the last minibatch of epoch {epoch + 1}, after the epoch", fromRule: false);
                stepUnchecked = false;

                double? valid = null;
                if (validation is not null)
                {
                    recorder?.BeginValidation();
                    try
                    {
                        valid = SampledFreeEnergy.Mean(machine, validation, evaluationRandom, batches[0].States, cancellationToken);
                    }
                    catch (OperationCanceledException)
                    {
                        recorder?.CancelledInValidation(epoch, batch, sum, objective);
                        throw;
                    }
                }
                recorder?.EndEpoch(epoch);
                var report = new EpochReport(epoch + 1, sum / seen, valid, LearningRateSchedule.AsReported(rate), clock.Elapsed) { TrainObjective = objective / seen, Objective = Rule.Objective };
                reports.Add(report);
                progress?.Report(report);
                if (options.TimeLimit is { } limit && clock.Elapsed >= limit) break;
            }
            return reports;
        }
        catch (Exception failure)
        {
            step?.UndoIfNoStepTaken();
            // After the machine's undo, which puts back the rule's parameters as the state gave them.
            if (machine.StepsTrained == stepsAtStart) TrainingState.GiveBack(Rule, ruleBefore, parameters, failure);
            throw;
        }
    }

    /// <summary>
    /// Records a run into its <see cref="TrainingState"/>: after each epoch, and at the point where it was
    /// cancelled. Within an epoch it keeps the training stream from before the epoch's shuffle, so that a
    /// resumed run can draw the same order again.
    /// </summary>
    private sealed class StateRecorder(TrainingState state, ILearningRule rule, IOptimizer optimizer, IReadOnlyList<Parameter> parameters,
        HelmholtzMachine machine, long stepsAtStart, ulong givenFingerprint, int batchSize, long trainingRows, int firstScheduleEpoch, RandomStream training, RandomStream evaluation, RandomStream check,
        StepGuard guard)
    {
        // The names of the streams in the state: the training stream (shuffles and samples), itself before the epoch's shuffle, validation's, the step guard's.
        public const string Training = "training", EpochStart = "training at the epoch's start", Validation = "validation", Check = "check";

        private readonly ulong[] _epochStart = new ulong[RandomStream.StateWords], _checkBefore = new ulong[RandomStream.StateWords],
            _evaluationBefore = new ulong[RandomStream.StateWords];

        public void BeginEpoch() => training.SaveState(_epochStart);

        /// <summary>The machine as the run leaves it here: before its first step, a failure (the cancellation) gives the machine back as it was given.</summary>
        private ulong MachineFingerprint() => machine.StepsTrained == stepsAtStart ? givenFingerprint : TrainingState.Fingerprint(machine.Parameters);

        public void EndOfMinibatches() => check.SaveState(_checkBefore);

        public void BeginValidation() => evaluation.SaveState(_evaluationBefore);

        public void EndEpoch(int epoch) => Between(epoch + 1, training.SaveState(), evaluation.SaveState());

        /// <summary>Cancelled before minibatch <paramref name="batch"/> of <paramref name="epoch"/>, with the epoch's sums so far.</summary>
        public void Cancelled(int epoch, int batch, double sum, double objective)
        {
            if (batch == 0)
            {
                Between(epoch, (ulong[])_epochStart.Clone(), evaluation.SaveState());   // nothing of the epoch trained: it starts again
                return;
            }
            state.Record(rule, optimizer, parameters, machine.StepsTrained, MachineFingerprint(), TrainingOptions.ScheduleEpoch(firstScheduleEpoch, epoch), batch, batchSize, trainingRows,
                sum, objective, guard.Reference, (Training, training.SaveState()), (EpochStart, (ulong[])_epochStart.Clone()), (Validation, evaluation.SaveState()), (Check, check.SaveState()));
        }

        /// <summary>
        /// Cancelled while the epoch's validation ran, after all <paramref name="batches"/> minibatches: recorded as within
        /// the epoch, so that the resumed run passes over them, checks and validates the epoch, and reports it.
        /// </summary>
        public void CancelledInValidation(int epoch, int batches, double sum, double objective)
        {
            state.Record(rule, optimizer, parameters, machine.StepsTrained, MachineFingerprint(), TrainingOptions.ScheduleEpoch(firstScheduleEpoch, epoch), batches, batchSize, trainingRows,
                sum, objective, guard.Reference, (Training, training.SaveState()), (EpochStart, (ulong[])_epochStart.Clone()), (Validation, (ulong[])_evaluationBefore.Clone()),
                (Check, (ulong[])_checkBefore.Clone()));
        }

        private void Between(int epochsDone, ulong[] trainingWords, ulong[] evaluationWords)
        {
            state.Record(rule, optimizer, parameters, machine.StepsTrained, MachineFingerprint(), TrainingOptions.ScheduleEpoch(firstScheduleEpoch, epochsDone), 0, batchSize, trainingRows,
                0, 0, guard.Reference, (Training, trainingWords), (EpochStart, trainingWords), (Validation, evaluationWords), (Check, check.SaveState()));
        }
    }

    /// <summary>
    /// Takes the steps of one run and undoes one that failed. A step is checked by the free energy
    /// measured after it: the next minibatch's, or the end-of-epoch measure after the last one.
    /// </summary>
    private sealed class StepGuard
    {
        private readonly HelmholtzMachine _machine;
        private readonly UndoableSteps _steps;
        private readonly double _factor;
        private readonly string _factorName;
        private double _limit = double.NaN;   // set by the run's first free energy, or carried by the training state resumed from
        private int _lastEpoch = -1, _lastBatch = -1;

        /// <summary>F₀, the free energy the limit is built from: the first run's first minibatch's (NaN before it is measured).</summary>
        public double Reference { get; private set; } = double.NaN;

        /// <summary>Takes F₀ from the run that recorded the training state, so that a resumed run has the unbroken run's limit.</summary>
        public void ResumeFrom(double reference)
        {
            if (!double.IsFinite(reference)) return;   // a state that carries none (format version 1): this run's first F̂ sets it
            Reference = reference;
            _limit = TrainingOptions.DivergenceLimit(reference, _factor, _machine.Architecture.Visible.Size);
        }

        private readonly IUndoableRunningEstimates? _ruleEstimates;

        public StepGuard(HelmholtzMachine machine, IReadOnlyList<Parameter> parameters, double factor, string factorName, IUndoableRunningEstimates? ruleEstimates)
        {
            _machine = machine;
            _factor = factor;
            _factorName = factorName;
            _ruleEstimates = ruleEstimates;
            _steps = new UndoableSteps(machine, parameters);
        }

        private bool StepTaken => _steps.StepTaken;

        /// <summary>After a failure before the run's first step: the machine as it was given (a step's own failures have undone theirs).</summary>
        public void UndoIfNoStepTaken() => _steps.UndoIfNoStepTaken();

        /// <summary>See <see cref="UndoableSteps.KeepBeforeInitialization"/>.</summary>
        public void KeepBeforeInitialization(IEnumerable<Parameter> parameters) => _steps.KeepBeforeInitialization(parameters);

        /// <summary>Keeps the rule's running estimates before it measures the next minibatch, for <see cref="CheckFreeEnergy"/> to take back.</summary>
        public void KeepRuleEstimates() => _ruleEstimates?.KeepForUndo();

        /// <summary>
        /// Checks the free energy of the parameters the last step left (or of the machine as given). When it was the rule's
        /// own measure (<paramref name="fromRule"/>), a failure also takes back what that measure taught the rule's running
        /// estimates (<see cref="IUndoableRunningEstimates"/>): a retry with the same rule starts from what it knew before the step.
        /// </summary>
        public void CheckFreeEnergy(double freeEnergy, string where, bool fromRule)
        {
            if (double.IsNaN(_limit))
            {
                if (!double.IsFinite(freeEnergy))
                {
                    Undo();
                    if (fromRule) _ruleEstimates?.UndoLastUpdate();
                    throw new TrainingDivergedException(
                        $"The free energy of the machine as given is {Format(freeEnergy)} on {where}: no step was taken and the machine is unchanged. " +
                        "Check its parameters (they may be extreme) and the data.", 1, 0);
                }
                Reference = freeEnergy;
                _limit = TrainingOptions.DivergenceLimit(freeEnergy, _factor, _machine.Architecture.Visible.Size);
                return;
            }
            if (double.IsFinite(freeEnergy) && freeEnergy <= _limit) return;
            Parameter? broken = _machine.Parameters.FirstOrDefault(p => !Kernels.AllFinite(p.Value));
            Undo();
            if (fromRule) _ruleEstimates?.UndoLastUpdate();
            if (!StepTaken)
                throw new TrainingDivergedException(
                    $"The free energy of the machine as given is {Format(freeEnergy)} on {where}, past the divergence limit of {Format(_limit)} nats that the " +
                    $"training state carries from the run that recorded it ({_factorName}): no step was taken and the machine is unchanged. " +
                    "The state's last step may have failed: resume from an earlier machine and state, or with a lower learning rate.", 1, 0);
            string what = double.IsFinite(freeEnergy)
                ? $"{Format(freeEnergy)} nats, past the divergence limit of {Format(_limit)} nats ({_factorName})"
                : Format(freeEnergy) + (broken is null ? "" : $" (it made {broken.Name} non-finite)");
            throw new TrainingDivergedException(
                $"The step of epoch {_lastEpoch + 1}, minibatch {_lastBatch} failed: the free energy after it is {what}, measured on {where}. " +
                $"The step was undone: {UndoneState}. Lower the learning rate.", _lastEpoch + 1, _lastBatch);
        }

        /// <summary>
        /// Refuses the step whose gradient is not finite, taking back what the rule's measure of the minibatch taught its running
        /// estimates (as <see cref="CheckFreeEnergy"/> does). Before the run's first step the learning rate played no part.
        /// </summary>
        public void RefuseNonFiniteGradient(Parameter parameter, int epoch, int batch)
        {
            if (!StepTaken) Undo();   // puts back what the run changed before its first step
            _ruleEstimates?.UndoLastUpdate();
            throw new TrainingDivergedException(
                $"Epoch {epoch + 1}, minibatch {batch}: the gradient of {parameter.Name} is not finite. The step was not taken: " +
                $"{State(asGiven: !StepTaken)}. " + (StepTaken ? "Lower the learning rate." : "Check its parameters (they may be extreme) and the data."), epoch + 1, batch);
        }

        /// <summary>One optimiser step (in centred coordinates with <paramref name="centering"/>), with the parameters before it kept until the next check.</summary>
        public void Take(IOptimizer optimizer, float rate, int epoch, int batch, InputCentering? centering)
        {
            try
            {
                _steps.Take(optimizer, rate, centering);
            }
            catch
            {
                // A run refused at its first step (Adam's weight decay at its rate) leaves the rule as it was given, as the machine is.
                if (!StepTaken) _ruleEstimates?.UndoLastUpdate();
                throw;
            }
            (_lastEpoch, _lastBatch) = (epoch, batch);
        }

        /// <summary>Puts back the parameters from before the last step (or, up to the first, as given to the run).</summary>
        private void Undo() => _steps.UndoLast();

        private string UndoneState => _steps.UndoneState;

        private static string State(bool asGiven) => asGiven ? "the machine is as it was when the run started" : "the machine holds the parameters it had before it";

        private static string Format(double value) => value.ToString("G6", CultureInfo.InvariantCulture);
    }
}
