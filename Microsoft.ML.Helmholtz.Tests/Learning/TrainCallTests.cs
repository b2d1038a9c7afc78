using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Learning;
using Microsoft.ML.Helmholtz.Learning.Optimizers;
using Microsoft.ML.Helmholtz.Learning.Rules;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Numerics;
using Microsoft.ML.Helmholtz.Temporal;
using Microsoft.ML.Helmholtz.Tests.Support;

namespace Microsoft.ML.Helmholtz.Tests.Learning;

/// <summary>
/// A Train call that is refused or does nothing leaves the machine as it was; the data-based start
/// is for a fresh machine only; a rule reused on another machine is rebuilt for it.
/// </summary>
[TestClass]
public sealed class TrainCallTests
{
    private static DataMatrix Data(int columns = 10, int rows = 120, ulong seed = 31) => TestModels.BinaryData(rows, columns, seed);

    private static void AssertUnchanged(float[][] before, HelmholtzMachine machine, string context)
    {
        TestModels.AssertParameters(before, machine.Parameters, context);
        Assert.AreEqual(0L, machine.StepsTrained, context);
    }

    [TestMethod]
    public void ABatchThatWasNeverLoadedIsNamedByEveryRule()
    {
        // Once each rule sized its buffers for the batch's 0 rows and refused them: "batchCapacity ('0')".
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("6b-4g"), 33);
        foreach (string name in LearningRules.Names)
        {
            ILearningRule rule = LearningRules.Create(name, samples: 3);
            var batch = new TrainingBatch(machine.Architecture, 4, rule.SamplesPerExample, new RandomStream(34));
            var e = Assert.ThrowsExactly<InvalidOperationException>(() => rule.AccumulateGradients(machine, batch), name);
            StringAssert.Contains(e.Message, "holds no examples", name);
            StringAssert.Contains(e.Message, "TrainingBatch.Load", name);
        }
    }

    [TestMethod]
    public void ACallThatIsRefusedOrDoesNothingLeavesTheMachineUntouched()
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 32);
        float[][] before = TestModels.Snapshot(machine.Parameters);
        DataMatrix data = Data();
        TException Refused<TException>(string context, Func<object> call) where TException : Exception
        {
            var e = Assert.ThrowsExactly<TException>(call, context);
            AssertUnchanged(before, machine, context);
            return e;
        }
        Refused<ArgumentException>("bad validation data", () => new HelmholtzTrainer(new WakeSleep()).Train(machine, data, new DataMatrix(1, 9, new float[9])));
        Refused<NotSupportedException>("a rule that does not fit", () => new HelmholtzTrainer(new StochasticBackpropagation()).Train(machine, data));
        Refused<InvalidOperationException>("an optimiser factory that returns null", () => new HelmholtzTrainer(new WakeSleep(), new TrainingOptions { Optimizer = () => null! }).Train(machine, data));
        Refused<ArgumentNullException>("no optimiser factory", () => new HelmholtzTrainer(new WakeSleep(), new TrainingOptions { Optimizer = null! }).Train(machine, data));
        Refused<ArgumentOutOfRangeException>("a negative epoch count", () => new HelmholtzTrainer(new WakeSleep(), new TrainingOptions { Epochs = -1 }).Train(machine, data));
        // A time limit must be positive: zero is refused naming it (taken, it would train one epoch and stop).
        var noTime = Refused<ArgumentOutOfRangeException>("a time limit of zero", () => new HelmholtzTrainer(new WakeSleep(), new TrainingOptions { TimeLimit = TimeSpan.Zero }).Train(machine, data));
        Assert.AreEqual(nameof(TrainingOptions.TimeLimit), noTime.ParamName);
        using (var cancelled = new CancellationTokenSource())
        {
            cancelled.Cancel();
            Refused<OperationCanceledException>("cancelled before the start", () => new HelmholtzTrainer(new WakeSleep()).Train(machine, data, cancellationToken: cancelled.Token));
        }
        // A source that says it holds no rows is refused naming the training data, before it is read (without the check its
        // minibatches would be min(BatchSize, 0) = 0 rows).
        var noRows = new NoRows(10);
        var empty = Refused<ArgumentException>("a source of no rows", () => new HelmholtzTrainer(new WakeSleep()).Train(machine, noRows));
        Assert.AreEqual("training", empty.ParamName);
        StringAssert.Contains(empty.Message, "empty");
        Assert.AreEqual(0, noRows.Calls, "the source is not read");
        // The schedule's first rate is its largest: refused as the run starts, naming the option, not at the first step.
        Refused<ArgumentOutOfRangeException>("a weight decay that would shrink the weights to 0 (η·λ = 1)",
            () => new HelmholtzTrainer(new WakeSleep(), new TrainingOptions { Optimizer = () => new Adam(weightDecay: 1000f) }).Train(machine, data));
        var decay = Refused<ArgumentOutOfRangeException>("a resumed schedule's first rate, 0.25, with λ = 4", () => new HelmholtzTrainer(new WakeSleep(),
            new TrainingOptions { LearningRate = new(0.5, 0.5), FirstScheduleEpoch = 1, Optimizer = () => new Adam(weightDecay: 4f) }).Train(machine, data));
        Assert.AreEqual("LearningRate", decay.ParamName);
        StringAssert.StartsWith(decay.Message, "TrainingOptions.LearningRate starts at 0.25, at which Adam's weight decay 4 would shrink the weights by 1 − ηλ = 0 ");
        Assert.IsNotEmpty(new HelmholtzTrainer(new WakeSleep(), new TrainingOptions { Epochs = 1, LearningRate = new(0.5, 0.5), FirstScheduleEpoch = 2,
            Optimizer = () => new Adam(weightDecay: 4f) }).Train(machine.Clone(), data), "a resumed schedule's first rate, 0.125 (η·λ = 0.5), trains");
        // Refused at the first step, after the visible biases were set from the data: they go back too.
        Refused<InvalidOperationException>("a rule that fails in its first step",
            () => new HelmholtzTrainer(new FailingRule(new WakeSleep())).Train(machine, data));
        var none = new HelmholtzTrainer(new WakeSleep(), new TrainingOptions { Epochs = 0 }).Train(machine, data);
        Assert.IsEmpty(none);
        AssertUnchanged(before, machine, "zero epochs");
    }

    /// <summary>
    /// Each option out of range is refused as the run starts, naming that option, and the machine is left as given.
    /// </summary>
    [TestMethod]
    public void EachOptionOutOfRangeIsRefusedNamingIt()
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 35);
        float[][] before = TestModels.Snapshot(machine.Parameters);
        DataMatrix data = Data();
        var cases = new (string Option, Action<TrainingOptions> Set)[]
        {
            (nameof(TrainingOptions.Epochs), o => o.Epochs = -1),
            (nameof(TrainingOptions.BatchSize), o => o.BatchSize = 0),
            (nameof(TrainingOptions.LearningRate), o => o.LearningRate = null!),
            (nameof(TrainingOptions.FirstScheduleEpoch), o => o.FirstScheduleEpoch = -1),
            (nameof(TrainingOptions.Optimizer), o => o.Optimizer = null!),
            (nameof(TrainingOptions.TimeLimit), o => o.TimeLimit = TimeSpan.FromTicks(-1)),
            (nameof(TrainingOptions.DivergenceFactor), o => o.DivergenceFactor = 0),
            (nameof(TrainingOptions.DivergenceFactor), o => o.DivergenceFactor = double.NaN),
        };
        foreach (var (option, set) in cases)
        {
            var options = new TrainingOptions { Epochs = 1, BatchSize = 20 };
            set(options);
            var e = Assert.Throws<ArgumentException>(() => new HelmholtzTrainer(new WakeSleep(), options).Train(machine, data), option);
            Assert.AreEqual(option, e.ParamName, $"{option}: {e.Message}");
            AssertUnchanged(before, machine, option);
        }
    }

    /// <summary>
    /// An optimiser holds one run's moments and step count: a factory that returns one a run has used (<c>() =&gt; adam</c>) is
    /// refused by both trainers, naming the option, before anything changes. Its second run trained differently from a run
    /// with a new optimiser (Adam's bias correction went on from the first run's step count). A run refused before the
    /// machine changes does not use the optimiser up.
    /// </summary>
    /// <summary>
    /// A run started from a synchronous progress handler of a run on the same thread, with that run's machine, rule or state, is
    /// refused naming the part and the outer run, before anything changes: the guards let their own thread in again (a step's
    /// nested calls), so the inner run trained the outer one's machine mid-run, or prepared its rule for another machine. The
    /// outer run, its handler having caught each refusal, ends as a run without the handler does, bit for bit. Parts of their
    /// own train from the handler as they would anywhere.
    /// </summary>
    [TestMethod]
    public void ARunStartedFromAProgressHandlerWithTheRunningPartsIsRefused()
    {
        DataMatrix data = Data();
        TrainingOptions Options() => new() { Epochs = 2, BatchSize = 20, Seed = 9 };
        var reference = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b"), 5);
        new HelmholtzTrainer(new Nvil(), Options()).Train(reference, data, state: new TrainingState());

        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b"), 5);
        var rule = new Nvil();
        var state = new TrainingState();
        var refusals = new List<string>();
        int handled = 0;
        var own = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b"), 6);
        var progress = new SynchronousProgress<EpochReport>(_ =>
        {
            handled++;
            var other = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-5b"), 7);
            float[][] otherBefore = TestModels.Snapshot(other.Parameters);
            foreach (var (name, call) in new (string, Action)[]
            {
                ("the machine", () => new HelmholtzTrainer(new WakeSleep(), Options()).Train(machine, data)),
                ("the rule", () => new HelmholtzTrainer(rule, Options()).Train(other, data)),
                ("the state", () => new HelmholtzTrainer(new Nvil(), Options()).Train(other, data, state: state)),
            })
            {
                var e = Assert.ThrowsExactly<InvalidOperationException>(call, name);
                refusals.Add(e.Message);
            }
            AssertUnchanged(otherBefore, other, "the refused runs' other machine");
            new HelmholtzTrainer(new WakeSleep(), Options()).Train(own, data);   // a run of parts of its own
        });
        new HelmholtzTrainer(rule, Options()).Train(machine, data, progress: progress, state: state);

        Assert.AreEqual(2, handled);
        CollectionAssert.AreEqual(new[]
        {
            "The machine is already in a training run (training) that has not returned",
            "The learning rule 'nvil' is already in a training run (training) that has not returned",
            "The training state is already in a training run (training) that has not returned",
        }, refusals.Take(3).Select(m => m[..m.IndexOf(':')]).ToArray());
        StringAssert.Contains(refusals[0], "a run's progress handler or callbacks may not start another run with it");
        for (int i = 0; i < reference.Parameters.Count; i++)
            CollectionAssert.AreEqual(reference.Parameters[i].Value, machine.Parameters[i].Value, $"the outer run: {reference.Parameters[i].Name}");
        Assert.AreEqual(4L * 6, own.StepsTrained, "the handler's own runs trained");

        // After the run, its parts train again.
        new HelmholtzTrainer(rule, Options()).Train(machine, data, state: state);

        // The temporal trainer's runs hold the model's frame machine alike, against either trainer.
        var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b"), 4, 7);
        var temporalRefusals = new List<string>();
        new TemporalTrainer(new WakeSleep(), new TemporalTrainingOptions { Epochs = 1, BatchSequences = 3 }).Train(model, Sequences(data),
            new SynchronousProgress<TemporalEpochReport>(_ =>
            {
                temporalRefusals.Add(Assert.ThrowsExactly<InvalidOperationException>(() =>
                    new TemporalTrainer(new WakeSleep(), new TemporalTrainingOptions { Epochs = 1, BatchSequences = 3 }).Train(model, Sequences(data))).Message);
                temporalRefusals.Add(Assert.ThrowsExactly<InvalidOperationException>(() => new HelmholtzTrainer(new WakeSleep(), Options()).Train(model.Machine, data)).Message);
            }));
        Assert.AreEqual(2, temporalRefusals.Count);
        StringAssert.StartsWith(temporalRefusals[0], "The model's frame machine is already in a training run (temporal training)");
        StringAssert.StartsWith(temporalRefusals[1], "The machine is already in a training run (temporal training)");
    }

    private static SequenceSet Sequences(DataMatrix data) => new(6, 3, 1, 10, data.Values.AsSpan(0, 6 * 3 * 10).ToArray());

    [TestMethod]
    public void AnOptimiserThatAnEarlierRunUsedIsRefused()
    {
        DataMatrix data = Data();
        var adam = new Adam();
        var options = new TrainingOptions { Epochs = 1, BatchSize = 20, Optimizer = () => adam };
        using (var cancelled = new CancellationTokenSource())
        {
            cancelled.Cancel();
            Assert.ThrowsExactly<OperationCanceledException>(() => new HelmholtzTrainer(new WakeSleep(), options).Train(HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b"), 5), data, cancellationToken: cancelled.Token));
        }
        var first = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b"), 5);
        new HelmholtzTrainer(new WakeSleep(), options).Train(first, data);
        var fresh = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b"), 5);
        new HelmholtzTrainer(new WakeSleep(), new TrainingOptions { Epochs = 1, BatchSize = 20 }).Train(fresh, data);
        for (int i = 0; i < first.Parameters.Count; i++)
            CollectionAssert.AreEqual(fresh.Parameters[i].Value, first.Parameters[i].Value, "the first run's optimiser was new");

        var second = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b"), 5);
        float[][] before = TestModels.Snapshot(second.Parameters);
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => new HelmholtzTrainer(new WakeSleep(), options).Train(second, data));
        StringAssert.Contains(e.Message, "TrainingOptions.Optimizer returned an optimiser ('adam') that an earlier training run used");
        AssertUnchanged(before, second, "a used optimiser");

        var sgd = new SgdMomentum();
        var sequences = new SequenceSet(6, 3, 1, 10, data.Values.AsSpan(0, 6 * 3 * 10).ToArray());
        var temporalOptions = new TemporalTrainingOptions { Epochs = 1, BatchSequences = 3, Optimizer = () => sgd };
        new TemporalTrainer(new WakeSleep(), temporalOptions).Train(TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b"), 4, 7), sequences);
        var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b"), 4, 7);
        var t = Assert.ThrowsExactly<InvalidOperationException>(() => new TemporalTrainer(new WakeSleep(), temporalOptions).Train(model, sequences));
        StringAssert.Contains(t.Message, "TemporalTrainingOptions.Optimizer returned an optimiser ('sgd') that an earlier training run used");
        Assert.AreEqual(0L, model.Machine.StepsTrained);
        // Across the trainers too: the frame trainer's used optimiser is refused by the temporal one.
        Assert.ThrowsExactly<InvalidOperationException>(() => new TemporalTrainer(new WakeSleep(), new TemporalTrainingOptions { Epochs = 1, BatchSequences = 3, Optimizer = () => adam }).Train(model, sequences));
    }

    /// <summary>
    /// A run refused for an optimiser that an earlier run used lets go of it as it refuses: tried again from another thread, the
    /// refusal still names the earlier run, not a run on the first thread that would hold the optimiser for ever.
    /// </summary>
    [TestMethod]
    public void ARunRefusedForAUsedOptimiserDoesNotKeepHoldingIt()
    {
        DataMatrix data = Data();
        var adam = new Adam();
        var options = new TrainingOptions { Epochs = 1, BatchSize = 20, Optimizer = () => adam };
        new HelmholtzTrainer(new WakeSleep(), options).Train(HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b"), 5), data);
        Assert.ThrowsExactly<InvalidOperationException>(() => new HelmholtzTrainer(new WakeSleep(), options).Train(HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b"), 5), data));
        Exception? refusal = null;
        // A thread of its own (not a task, which a wait could run inline on this thread); what it throws is caught there.
        var other = new Thread(() =>
        {
            try { new HelmholtzTrainer(new WakeSleep(), options).Train(HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b"), 5), data); }
            catch (Exception e) { refusal = e; }
        });
        other.Start();
        other.Join();
        Assert.IsInstanceOfType<InvalidOperationException>(refusal);
        StringAssert.Contains(refusal.Message, "TrainingOptions.Optimizer returned an optimiser ('adam') that an earlier training run used");
    }

    /// <summary>The optimisers' own Step refuses a learning rate that would write NaN into every parameter, naming it.</summary>
    [TestMethod]
    public void AnOptimiserStepRefusesALearningRateThatIsNotFinite()
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("6b-3b"), 5);
        float[][] before = TestModels.Snapshot(machine.Parameters);
        foreach (IOptimizer optimizer in new IOptimizer[] { new Adam(), new SgdMomentum() })
            foreach (float rate in new[] { float.NaN, float.PositiveInfinity, -0.1f })
            {
                var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => optimizer.Step(machine.Parameters, rate), $"{optimizer.Name} {rate}");
                Assert.AreEqual("learningRate", e.ParamName);
                AssertUnchanged(before, machine, $"{optimizer.Name} {rate}");
            }
        Assert.AreEqual("parameters", Assert.ThrowsExactly<ArgumentNullException>(() => new Adam().Step(null!, 0.1f)).ParamName);
    }

    /// <summary>
    /// A call refused before its first step (cancelled; an optimiser factory that returns null) with a rule trained on another
    /// machine leaves the rule as it was: it once prepared itself for the refused call's machine first, forgetting NVIL's
    /// baselines, so the first machine's next run trained differently from one without the refused call. A training state from
    /// another kind of run was refused only after that preparation.
    /// </summary>
    [TestMethod]
    public void ACallRefusedOnAnotherMachineLeavesTheRuleAsItWas()
    {
        var options = new TrainingOptions { Epochs = 1, BatchSize = 20, Seed = 44 };
        DataMatrix data = Data();
        (HelmholtzMachine Machine, Nvil Rule) Trained()
        {
            var rule = new Nvil();
            var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 45);
            new HelmholtzTrainer(rule, options).Train(machine, data);
            return (machine, rule);
        }
        var (reference, referenceRule) = Trained();
        var (machine, rule) = Trained();
        double[] baselines = rule.Baselines.ToArray();
        Assert.IsTrue(baselines.All(b => b != 0), "the premise: the rule has learned its baselines");
        var other = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 46);
        using (var cancelled = new CancellationTokenSource())
        {
            cancelled.Cancel();
            Assert.ThrowsExactly<OperationCanceledException>(() => new HelmholtzTrainer(rule, options).Train(other, data, cancellationToken: cancelled.Token));
        }
        CollectionAssert.AreEqual(baselines, rule.Baselines.ToArray(), "the baselines after a cancelled call");
        Assert.ThrowsExactly<InvalidOperationException>(() => new HelmholtzTrainer(rule, new TrainingOptions { Epochs = 1, BatchSize = 20, Optimizer = () => null! })
            .Train(other, data));
        CollectionAssert.AreEqual(baselines, rule.Baselines.ToArray(), "the baselines after a call whose optimiser factory returned null");
        // A state from another kind of run (the temporal trainer's streams), at the step count of the machine given.
        var foreign = new TrainingState();
        foreign.Record(new FailingRule(new Nvil()), new Adam(), other.Parameters, 0, TrainingState.Fingerprint(other.Parameters), 1, 0, 20, data.Rows, 0, 0, 0,
            ("sequence order", new ulong[RandomStream.StateWords]), ("samples", new ulong[RandomStream.StateWords]));
        var e = Assert.ThrowsExactly<InvalidDataException>(() => new HelmholtzTrainer(rule, options).Train(other, data, state: foreign));
        StringAssert.Contains(e.Message, "it is from another kind of run");
        CollectionAssert.AreEqual(baselines, rule.Baselines.ToArray(), "the baselines after a call given a state from another kind of run");
        new HelmholtzTrainer(referenceRule, options).Train(reference, data);
        new HelmholtzTrainer(rule, options).Train(machine, data);
        for (int i = 0; i < reference.Parameters.Count; i++)
            CollectionAssert.AreEqual(reference.Parameters[i].Value, machine.Parameters[i].Value, reference.Parameters[i].Name);
    }

    /// <summary>A rule that fails in its first <see cref="ILearningRule.AccumulateGradients"/>, as one that runs out of memory might.</summary>
    private sealed class FailingRule(ILearningRule inner) : ILearningRule
    {
        public string Name => inner.Name;
        public string Settings => inner.Settings;
        public string Objective => inner.Objective;
        public int SamplesPerExample => inner.SamplesPerExample;
        public IReadOnlyList<Parameter> Parameters => inner.Parameters;
        public string? Unsupported(HelmholtzArchitecture architecture) => inner.Unsupported(architecture);
        public void Prepare(HelmholtzMachine machine, int batchCapacity) => inner.Prepare(machine, batchCapacity);
        public BatchLoss AccumulateGradients(HelmholtzMachine machine, TrainingBatch batch) => throw new InvalidOperationException("out of something");
    }

    [TestMethod]
    public void AFreshMachineStartsFromTheDataAndATrainedOneKeepsWhatItLearned()
    {
        DataMatrix data = Data();
        var options = new TrainingOptions { Epochs = 2, BatchSize = 20, Seed = 33 };
        // A fresh machine: the trainer's initialisation is the data's logit marginals, as if set by hand.
        var automatic = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 34);
        new HelmholtzTrainer(new WakeSleep(), options).Train(automatic, data);
        var byHand = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 34);
        byHand.InitializeVisibleBiasesFromData(data.Values, data.Rows);
        new HelmholtzTrainer(new WakeSleep(), new TrainingOptions { Epochs = 2, BatchSize = 20, Seed = 33, InitializeVisibleBiases = false }).Train(byHand, data);
        TestModels.AssertParameters(byHand.Parameters, automatic.Parameters);
        Assert.AreEqual(2L * data.Rows / 20, automatic.StepsTrained);

        // A trained machine: a second call does not reset its visible biases, whatever the option says.
        var continued = automatic.Clone();
        new HelmholtzTrainer(new WakeSleep(), options).Train(continued, data);
        var withoutInitialization = automatic.Clone();
        new HelmholtzTrainer(new WakeSleep(), new TrainingOptions { Epochs = 2, BatchSize = 20, Seed = 33, InitializeVisibleBiases = false }).Train(withoutInitialization, data);
        TestModels.AssertParameters(withoutInitialization.Parameters, continued.Parameters);
        Assert.AreEqual(4L * data.Rows / 20, continued.StepsTrained);
    }

    [TestMethod]
    public void ARunUsesTheOptionsAsTheyWereWhenItStarted()
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b"), 35);
        var options = new TrainingOptions { Epochs = 3, BatchSize = 20 };
        var reports = new HelmholtzTrainer(new WakeSleep(), options).Train(machine, Data(), progress: new SynchronousProgress<EpochReport>(_ =>
        {
            options.Epochs = 1;
            options.LearningRate = new LearningRateSchedule(10);
        }));
        Assert.HasCount(3, reports);
        // Reported as the shortest decimal of the float stepped with: 0.001 itself, not the float widened (0.0010000000474974513).
        Assert.IsTrue(reports.All(r => r.LearningRate == 1e-3), string.Join(", ", reports.Select(r => r.LearningRate.ToString("R"))));
    }

    [TestMethod]
    public void AHugeEpochCountIsNotPreallocated()
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b"), 36);
        var reports = new HelmholtzTrainer(new WakeSleep(), new TrainingOptions { Epochs = int.MaxValue, BatchSize = 20, TimeLimit = TimeSpan.FromTicks(1) })
            .Train(machine, Data());
        Assert.HasCount(1, reports);
    }

    /// <summary>
    /// A rule built and trained on one machine, then used on another of a different size, is
    /// rebuilt for it: it trains exactly as a new rule would (REINFORCE's baselines start afresh).
    /// </summary>
    [TestMethod]
    [DataRow("reinforce", "20b-8b-4b", "10b-6b-3b")]
    [DataRow("reinforce", "10b-6b-3b", "30b-6b-3b")]
    [DataRow("wake-sleep", "20b-8b-4b", "10b-6b-3b")]
    [DataRow("sbp", "20b-8g-4g", "10b-6g-3g-2g")]
    public void ARuleReusedOnAnotherMachineTrainsAsANewOne(string name, string first, string second)
    {
        var options = new TrainingOptions { Epochs = 2, BatchSize = 20, Seed = 37 };
        ILearningRule reused = LearningRules.Create(name);
        var firstMachine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse(first), 38);
        new HelmholtzTrainer(reused, options).Train(firstMachine, Data(firstMachine.Architecture.Visible.Size));

        HelmholtzMachine Train(ILearningRule rule)
        {
            var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse(second), 39);
            new HelmholtzTrainer(rule, options).Train(machine, Data(machine.Architecture.Visible.Size, seed: 40));
            return machine;
        }
        HelmholtzMachine withReused = Train(reused), withNew = Train(LearningRules.Create(name));
        for (int i = 0; i < withNew.Parameters.Count; i++)
            CollectionAssert.AreEqual(withNew.Parameters[i].Value, withReused.Parameters[i].Value, $"{name}: {withNew.Parameters[i].Name}");
        // Called directly on a machine it was not prepared for, the rule prepares itself for it.
        var direct = HelmholtzMachine.Create(HelmholtzArchitecture.Parse(first), 41);
        var states = TestModels.RandomStates(direct.Architecture, 5, 42);
        Assert.IsTrue(double.IsFinite(reused.AccumulateGradients(direct, states, 5, new RandomStream(43))));
    }

    // The defaults the options' comments and docs promise: 10 epochs of minibatches of 100 examples, seed 1, a constant rate of
    // 10⁻³, Adam, visible biases from the data's means, no centring, a divergence factor of 10.
    [TestMethod]
    public void TheTrainingOptionsDefaultsAreTheDocumentedOnes()
    {
        var o = new TrainingOptions();
        Assert.AreEqual(10, o.Epochs);
        Assert.AreEqual(100, o.BatchSize);
        Assert.AreEqual(1UL, o.Seed);
        Assert.AreEqual(new LearningRateSchedule(1e-3), o.LearningRate);
        Assert.AreEqual(0, o.FirstScheduleEpoch);
        Assert.IsInstanceOfType<Adam>(o.Optimizer());
        Assert.IsNull(o.TimeLimit);
        Assert.IsTrue(o.InitializeVisibleBiases);
        Assert.IsFalse(o.CenterInputs);
        Assert.AreEqual(10.0, o.DivergenceFactor);
    }

    private sealed class NoRows(int columns) : IMinibatchSource
    {
        public int Columns => columns;
        public int? Rows => 0;
        public int Calls { get; private set; }
        public void BeginEpoch(RandomStream random) { }
        public int NextBatch(Span<float> destination, int rows) { Calls++; return 0; }
    }

    /// <summary>
    /// A batch loads 1 to Capacity examples, with one sample per example or several: 0 examples (which would leave a batch that every
    /// rule then refuses as never loaded) and Capacity + 1 are refused as the load is asked, naming the count.
    /// </summary>
    [TestMethod]
    public void ABatchLoadsOneToCapacityExamplesAndRefusesNone()
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("6b-4b"), 35);
        foreach (int k in new[] { 1, 3 })
        {
            var batch = new TrainingBatch(machine.Architecture, 4, k, new RandomStream(36));
            foreach (int examples in new[] { 0, 5, -1 })
                Assert.AreEqual("examples", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => batch.Load(examples), $"K = {k}, {examples} examples").ParamName);
            Assert.AreEqual(0, batch.Examples, $"K = {k}: nothing loaded");
            TestModels.BinaryData(4, 6, 37).Values.CopyTo(batch.ExampleRows(4));
            batch.Load(4);
            Assert.AreEqual(4 * k, batch.Rows, $"K = {k}: the whole capacity loads");
        }
    }

    /// <summary>Data of fewer rows than BatchSize trains in minibatches of all its rows, one step an epoch, rather than in none.</summary>
    [TestMethod]
    public void DataOfFewerRowsThanABatchTrainsAsOneMinibatchAnEpoch()
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 38);
        var reports = new HelmholtzTrainer(new WakeSleep(), new TrainingOptions { Epochs = 2, BatchSize = 100, Seed = 39 }).Train(machine, TestModels.BinaryData(30, 10, 40));
        Assert.HasCount(2, reports);
        Assert.AreEqual(2L, machine.StepsTrained, "one minibatch of all 30 rows in each epoch");
    }
}
