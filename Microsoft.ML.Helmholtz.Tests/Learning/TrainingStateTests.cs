using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Evaluation;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Learning;
using Microsoft.ML.Helmholtz.Learning.Optimizers;
using Microsoft.ML.Helmholtz.Learning.Rules;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;
using Microsoft.ML.Helmholtz.Tests.Data;
using Microsoft.ML.Helmholtz.Tests.Support;

namespace Microsoft.ML.Helmholtz.Tests.Learning;

/// <summary>
/// A run split in two, with the machine and the <see cref="TrainingState"/> saved and loaded between
/// the parts, is the uninterrupted run bit for bit: the optimiser's moments, the rule's baselines, the
/// random streams and the position in the schedule and the epoch all carry over. A state that does
/// not belong to the machine or the run is refused before anything changes.
/// </summary>
[TestClass]
public sealed class TrainingStateTests
{
    private static readonly DataMatrix Train = TestModels.BinaryData(120, 10, 61);
    private static readonly DataMatrix Valid = TestModels.BinaryData(30, 10, 62);

    private static TrainingOptions Options(string optimizer, int epochs, int firstScheduleEpoch = 0, bool center = false) => new()
    {
        Epochs = epochs,
        BatchSize = 20,
        Seed = 63,
        LearningRate = new LearningRateSchedule(0.01, 0.8, 0.001),
        FirstScheduleEpoch = firstScheduleEpoch,
        Optimizer = optimizer == "sgd" ? () => new SgdMomentum(0.9f) : () => new Adam(weightDecay: 0.01f),
        CenterInputs = center,
    };

    private static (HelmholtzMachine, TrainingState) SavedAndLoaded(HelmholtzMachine machine, TrainingState state)
    {
        var machineBytes = new MemoryStream();
        machine.Save(machineBytes);
        var stateBytes = new MemoryStream();
        state.Save(stateBytes);
        machineBytes.Position = stateBytes.Position = 0;
        return (HelmholtzMachine.Load(machineBytes), TrainingState.Load(stateBytes));
    }

    private static byte[] Bytes(TrainingState state)
    {
        var stream = new MemoryStream();
        state.Save(stream);
        return stream.ToArray();
    }

    private static void AssertSameParameters(HelmholtzMachine expected, HelmholtzMachine actual, string context)
    {
        Assert.AreEqual(expected.StepsTrained, actual.StepsTrained, context);
        for (int i = 0; i < expected.Parameters.Count; i++)
            CollectionAssert.AreEqual(expected.Parameters[i].Value, actual.Parameters[i].Value, $"{context}: {expected.Parameters[i].Name}");
    }

    private static bool SameParameters(HelmholtzMachine a, HelmholtzMachine b)
        => a.Parameters.Zip(b.Parameters).All(p => p.First.Value.AsSpan().SequenceEqual(p.Second.Value));

    [TestMethod]
    [DataRow("nvil", 1, "adam", "10b-6b-3b", false)]
    [DataRow("reinforce", 1, "sgd", "10b-6b-3b", false)]
    [DataRow("vimco", 3, "adam", "10b-6b-3b", true)]
    [DataRow("wake-sleep", 1, "sgd", "10b-6b-3b", false)]
    [DataRow("iwae", 3, "adam", "10b-6g-3g", false)]
    public void ARunSplitBetweenEpochsIsTheUninterruptedRun(string rule, int samples, string optimizer, string architecture, bool center)
    {
        var whole = HelmholtzMachine.Create(HelmholtzArchitecture.Parse(architecture), 64);
        var wholeState = new TrainingState();
        var wholeReports = new HelmholtzTrainer(LearningRules.Create(rule, samples), Options(optimizer, 5, center: center)).Train(whole, Train, Valid, state: wholeState);

        var first = HelmholtzMachine.Create(HelmholtzArchitecture.Parse(architecture), 64);
        var state = new TrainingState();
        new HelmholtzTrainer(LearningRules.Create(rule, samples), Options(optimizer, 2, center: center)).Train(first, Train, Valid, state: state);
        Assert.AreEqual(2, state.ScheduleEpoch);
        Assert.AreEqual(0, state.MinibatchesIntoEpoch);
        Assert.AreEqual(first.StepsTrained, state.StepsTrained);
        var (second, loaded) = SavedAndLoaded(first, state);
        var secondReports = new HelmholtzTrainer(LearningRules.Create(rule, samples), Options(optimizer, 3, loaded.ScheduleEpoch, center))
            .Train(second, Train, Valid, state: loaded);

        AssertSameParameters(whole, second, rule);
        for (int e = 0; e < 3; e++)
        {
            Assert.AreEqual(wholeReports[e + 2].TrainFreeEnergy, secondReports[e].TrainFreeEnergy, $"{rule}: epoch {e + 3}'s training F");
            Assert.AreEqual(wholeReports[e + 2].ValidationFreeEnergy, secondReports[e].ValidationFreeEnergy, $"{rule}: epoch {e + 3}'s validation F");
            Assert.AreEqual(wholeReports[e + 2].LearningRate, secondReports[e].LearningRate, $"{rule}: epoch {e + 3}'s rate");
        }
        Assert.AreEqual(5, loaded.ScheduleEpoch);
        CollectionAssert.AreEqual(Bytes(wholeState), Bytes(loaded), $"{rule}: the states at the end (moments, baselines, every random stream)");

        // What the state carries matters: the same split without it goes elsewhere.
        var (withoutState, _) = SavedAndLoaded(first, state);
        new HelmholtzTrainer(LearningRules.Create(rule, samples), Options(optimizer, 3, 2, center)).Train(withoutState, Train, Valid);
        Assert.IsFalse(SameParameters(whole, withoutState), $"{rule}: a split run without the state matched the whole run");
    }

    /// <summary>
    /// A stream shuffled through a buffer draws its order as it hands rows out, between the rule's draws
    /// from the same stream: a run split between epochs is the whole run, since each epoch reads the
    /// stream afresh (within an epoch it is not: usage.md).
    /// </summary>
    [TestMethod]
    public void AStreamedRunSplitBetweenEpochsIsTheUninterruptedRun()
    {
        IMinibatchSource Source() => new StreamingMinibatches(new MatrixStream(Train, 7), 50);
        var whole = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 72);
        new HelmholtzTrainer(LearningRules.Create("nvil"), Options("adam", 4)).Train(whole, Source(), Valid);

        var first = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 72);
        var state = new TrainingState();
        new HelmholtzTrainer(LearningRules.Create("nvil"), Options("adam", 2)).Train(first, Source(), Valid, state: state);
        var (second, loaded) = SavedAndLoaded(first, state);
        new HelmholtzTrainer(LearningRules.Create("nvil"), Options("adam", 2, loaded.ScheduleEpoch)).Train(second, Source(), Valid, state: loaded);
        AssertSameParameters(whole, second, "streamed through a shuffle buffer");
    }

    // 120 examples in minibatches of 20: six whole minibatches and a seventh call that finds the epoch over.
    [TestMethod]
    [DataRow(10, 1, 3, 1, DisplayName = "cancelled three minibatches into the second epoch")]
    [DataRow(8, 1, 1, 1, DisplayName = "cancelled one minibatch into the second epoch")]
    [DataRow(7, 0, 6, 0, DisplayName = "cancelled during the first epoch's validation")]
    [DataRow(20, 2, 6, 2, DisplayName = "cancelled after the third epoch's last minibatch")]
    public void ARunCancelledWithinAnEpochGoesOnFromTheMinibatchItStoppedAt(int cancelAtCall, int scheduleEpoch, int minibatches, int reported)
    {
        var whole = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 65);
        var wholeState = new TrainingState();
        var wholeReports = new HelmholtzTrainer(LearningRules.Create("nvil"), Options("adam", 4))
            .Train(whole, new ScriptedMinibatches(Train, 0), Valid, state: wholeState);

        var first = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 65);
        var state = new TrainingState();
        using var cancellation = new CancellationTokenSource();
        var firstReports = new List<EpochReport>();
        Assert.ThrowsExactly<OperationCanceledException>(() => new HelmholtzTrainer(LearningRules.Create("nvil"), Options("adam", 4))
            .Train(first, new ScriptedMinibatches(Train, cancelAtCall, cancellation), Valid, new SynchronousProgress<EpochReport>(firstReports.Add), cancellation.Token, state));
        Assert.AreEqual(scheduleEpoch, state.ScheduleEpoch, "the schedule epoch recorded");
        Assert.AreEqual(minibatches, state.MinibatchesIntoEpoch, "the minibatches recorded");
        Assert.AreEqual(first.StepsTrained, state.StepsTrained);

        var (second, loaded) = SavedAndLoaded(first, state);
        var secondReports = new HelmholtzTrainer(LearningRules.Create("nvil"), Options("adam", 4 - scheduleEpoch, loaded.ScheduleEpoch))
            .Train(second, new ScriptedMinibatches(Train, 0), Valid, state: loaded);
        AssertSameParameters(whole, second, $"cancelled at call {cancelAtCall}");
        CollectionAssert.AreEqual(Bytes(wholeState), Bytes(loaded), "the states at the end");
        // The epoch that was cut reports as the whole run's did: its first part's sums travel in the state.
        for (int e = 0; e < secondReports.Count; e++)
        {
            Assert.AreEqual(wholeReports[scheduleEpoch + e].TrainFreeEnergy, secondReports[e].TrainFreeEnergy, $"epoch {scheduleEpoch + e + 1}'s training F");
            Assert.AreEqual(wholeReports[scheduleEpoch + e].ValidationFreeEnergy, secondReports[e].ValidationFreeEnergy, $"epoch {scheduleEpoch + e + 1}'s validation F");
        }
        Assert.HasCount(reported, firstReports, "the epochs reported before the cancellation");
    }

    /// <summary>
    /// Cancelled between the first epoch's two validation batches (Valid's 30 rows in batches of 20), after the first batch has
    /// drawn from the validation stream, the state keeps that stream as it was before the validation began: the resumed run
    /// validates the epoch with the uninterrupted run's draws, and ends with its state. (Cancelled before the first validation
    /// batch, as in the test above, the stream has drawn nothing, so a state that kept it as it stood would pass too.) The token is
    /// read between batches, so the cancellation is made at the first batch's last product, counted: the products from the call
    /// that finds the first epoch over to the second epoch's first call are the last step's check and two validation batches of
    /// the same products each.
    /// </summary>
    [TestMethod]
    public void ARunCancelledBetweenValidationBatchesValidatesTheEpochAgainWithTheSameDraws()
    {
        var architecture = HelmholtzArchitecture.Parse("10b-6b-3b");
        var whole = HelmholtzMachine.Create(architecture, 65);
        var wholeState = new TrainingState();
        var wholeReports = new HelmholtzTrainer(LearningRules.Create("nvil"), Options("adam", 2))
            .Train(whole, new ScriptedMinibatches(Train, 0), Valid, state: wholeState);

        // The products of one validation batch, and those from the epoch's end (its seventh call) to the next epoch's first.
        var counting = new ObservingEngine(MatrixEngine.Default, allowsFusedProducts: MatrixEngine.Default.AllowsFusedProducts);
        new SampledFreeEnergy(rowsPerBatch: 20).Estimate(HelmholtzMachine.Create(architecture, 65, counting), Valid.Slice(0, 20));
        int perBatch = counting.Products;
        counting = new ObservingEngine(MatrixEngine.Default, allowsFusedProducts: MatrixEngine.Default.AllowsFusedProducts);
        int atEnd = -1, atNext = -1;
        new HelmholtzTrainer(LearningRules.Create("nvil"), Options("adam", 2)).Train(HelmholtzMachine.Create(architecture, 65, counting),
            new ScriptedMinibatches(Train, 0, onCall: call => { if (call == 7) atEnd = counting.Products; else if (call == 8) atNext = counting.Products; }), Valid);
        int check = atNext - atEnd - 2 * perBatch;
        Assert.IsTrue(perBatch > 0 && check >= 0, $"{perBatch} products a validation batch, {atNext - atEnd} from the epoch's end to the next");

        using var cancellation = new CancellationTokenSource();
        int armedAt = int.MaxValue;
        ObservingEngine? cancelling = null;
        cancelling = new ObservingEngine(MatrixEngine.Default, (_, _, _) =>
        {
            if (cancelling!.Products == armedAt + check + perBatch) cancellation.Cancel();
        }, MatrixEngine.Default.AllowsFusedProducts);
        var first = HelmholtzMachine.Create(architecture, 65, cancelling);
        var state = new TrainingState();
        Assert.ThrowsExactly<OperationCanceledException>(() => new HelmholtzTrainer(LearningRules.Create("nvil"), Options("adam", 2))
            .Train(first, new ScriptedMinibatches(Train, 0, onCall: call => { if (call == 7) armedAt = cancelling.Products; }), Valid,
                cancellationToken: cancellation.Token, state: state));
        Assert.AreEqual((0, 6), (state.ScheduleEpoch, state.MinibatchesIntoEpoch), "recorded within the first epoch, after its six minibatches");
        Assert.AreEqual(armedAt + check + perBatch, cancelling.Products, "stopped after the first validation batch, before the second");

        var (second, loaded) = SavedAndLoaded(first, state);
        var secondReports = new HelmholtzTrainer(LearningRules.Create("nvil"), Options("adam", 2, loaded.ScheduleEpoch))
            .Train(second, new ScriptedMinibatches(Train, 0), Valid, state: loaded);
        AssertSameParameters(whole, second, "cancelled between validation batches");
        Assert.AreEqual(wholeReports[0].ValidationFreeEnergy, secondReports[0].ValidationFreeEnergy, "the first epoch's validation F");
        Assert.AreEqual(wholeReports[1].ValidationFreeEnergy, secondReports[1].ValidationFreeEnergy, "the second epoch's validation F");
        CollectionAssert.AreEqual(Bytes(wholeState), Bytes(loaded), "the states at the end");
    }

    [TestMethod]
    public void ARunCancelledBetweenEpochsStartsTheNextEpochAgain()
    {
        var whole = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 66);
        new HelmholtzTrainer(LearningRules.Create("reinforce"), Options("adam", 3)).Train(whole, Train);

        var first = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 66);
        var state = new TrainingState();
        using var cancellation = new CancellationTokenSource();
        // Cancelled from the progress handler: the next epoch has shuffled but trained nothing.
        Assert.ThrowsExactly<OperationCanceledException>(() => new HelmholtzTrainer(LearningRules.Create("reinforce"), Options("adam", 3))
            .Train(first, Train, null, new SynchronousProgress<EpochReport>(r => { if (r.Epoch == 2) cancellation.Cancel(); }), cancellation.Token, state));
        Assert.AreEqual(2, state.ScheduleEpoch);
        Assert.AreEqual(0, state.MinibatchesIntoEpoch);

        var (second, loaded) = SavedAndLoaded(first, state);
        new HelmholtzTrainer(LearningRules.Create("reinforce"), Options("adam", 1, loaded.ScheduleEpoch)).Train(second, Train, state: loaded);
        AssertSameParameters(whole, second, "resumed after a cancellation between epochs");
    }

    /// <summary>
    /// A resume that fails before its first step, after the rule took the state's estimates (streamed data that ends before the
    /// minibatch the state stopped at), leaves the rule as the run prepared it, as it leaves the machine: NVIL kept the state's
    /// baselines, and a run without the state went on from them.
    /// </summary>
    [TestMethod]
    public void AResumeThatFailsBeforeItsFirstStepLeavesTheRuleWithoutTheStatesEstimates()
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 71);
        var state = new TrainingState();
        using var cancellation = new CancellationTokenSource();
        Assert.ThrowsExactly<OperationCanceledException>(() => new HelmholtzTrainer(LearningRules.Create("nvil"), Options("adam", 2))
            .Train(machine, new UnknownLength(Train, int.MaxValue, 10, cancellation), null, null, cancellation.Token, state));
        Assert.AreEqual((3, -1L), (state.MinibatchesIntoEpoch, state.TrainingRows), "cut three minibatches into the second epoch of a stream");

        // A new rule, prepared for the machine as the run prepares it: what it knows before it takes the state's estimates.
        var prepared = LearningRules.Create("nvil");
        prepared.Prepare(machine, 20);
        var before = new StateSection("before");
        ((IResumable)prepared).SaveState(before, machine.Parameters);
        float[][] parameters = TestModels.Snapshot(machine.Parameters);

        var rule = LearningRules.Create("nvil");
        var e = Assert.ThrowsExactly<ArgumentException>(() => new HelmholtzTrainer(rule, Options("adam", 1)).Train(machine, new UnknownLength(Train, 1), state: state));
        StringAssert.Contains(e.Message, "training data ended before minibatch 3");
        var after = new StateSection("after");
        ((IResumable)rule).SaveState(after, machine.Parameters);
        CollectionAssert.AreEqual(before.Names.ToArray(), after.Names.ToArray());
        foreach (string name in before.Names)
            CollectionAssert.AreEqual(before.Entries.First(x => x.Name == name).Values, after.Entries.First(x => x.Name == name).Values, name);
        TestModels.AssertParameters(parameters, machine.Parameters);
    }

    [TestMethod]
    public void AStateThatIsNotTheMachinesOrTheRunsIsRefusedBeforeAnythingChanges()
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 67);
        var state = new TrainingState();
        new HelmholtzTrainer(LearningRules.Create("nvil"), Options("adam", 1)).Train(machine, Train, state: state);

        void Refused<TException>(string context, string expected, HelmholtzMachine target, Func<HelmholtzTrainer> trainer, int batchSize = 20, IMinibatchSource? source = null)
            where TException : Exception
        {
            float[][] before = TestModels.Snapshot(target.Parameters);
            long steps = target.StepsTrained;
            var e = Assert.ThrowsExactly<TException>(() => source is null
                ? trainer().Train(target, Train, state: state)
                : trainer().Train(target, source, state: state), context);
            StringAssert.Contains(e.Message, expected, context);
            TestModels.AssertParameters(before, target.Parameters, context);
            Assert.AreEqual(steps, target.StepsTrained, context);
        }

        Refused<ArgumentException>("another rule", "the rule 'nvil', but this run's rule is 'reinforce'", machine,
            () => new HelmholtzTrainer(LearningRules.Create("reinforce"), Options("adam", 1)));
        Refused<ArgumentException>("another optimiser", "the optimiser 'adam', but this run's is 'sgd'", machine,
            () => new HelmholtzTrainer(LearningRules.Create("nvil"), Options("sgd", 1)));
        var fresh = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 67);
        Refused<ArgumentException>("another point of the machine", $"had trained {state.StepsTrained} steps, but the machine given has trained 0", fresh,
            () => new HelmholtzTrainer(LearningRules.Create("nvil"), Options("adam", 1)));

        // Another machine at the same step count: its fingerprint differs. Known by its step count alone (a state of format version 2),
        // the optimiser's state does not fit its parameters.
        var other = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-5b-3b"), 67);
        new HelmholtzTrainer(LearningRules.Create("nvil"), Options("adam", 1)).Train(other, Train);
        Assert.AreEqual(state.StepsTrained, other.StepsTrained);
        Refused<ArgumentException>("another machine", $"both at {state.StepsTrained} steps trained", other,
            () => new HelmholtzTrainer(LearningRules.Create("nvil"), Options("adam", 1)));
        (state, var recorded) = (StateFileBytes.AsVersion2(state), state);
        Refused<InvalidDataException>("another machine, a state of version 2", "it is from another machine, rule (or the rule with other options) or optimiser", other,
            () => new HelmholtzTrainer(LearningRules.Create("nvil"), Options("adam", 1)));
        state = recorded;

        // Moments that no step could have made.
        var nanMoment = new TrainingState();
        var bad = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 67);
        new HelmholtzTrainer(LearningRules.Create("nvil"), Options("adam", 1)).Train(bad, Train, state: nanMoment);
        string first = nanMoment.OptimizerState.Names.First(n => n.StartsWith("v0 ", StringComparison.Ordinal));
        nanMoment.OptimizerState.Write(first, Enumerable.Repeat(-1f, bad.Parameters[0].Length).ToArray());
        (state, var kept) = (nanMoment, state);
        Refused<InvalidDataException>("a negative second moment", "a negative second moment", bad,
            () => new HelmholtzTrainer(LearningRules.Create("nvil"), Options("adam", 1)));
        state = kept;

        // Within an epoch, the run needs the same minibatches.
        using var cancellation = new CancellationTokenSource();
        var cut = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 68);
        var cutState = new TrainingState();
        Assert.ThrowsExactly<OperationCanceledException>(() => new HelmholtzTrainer(LearningRules.Create("nvil"), Options("adam", 2))
            .Train(cut, new ScriptedMinibatches(Train, 3, cancellation), null, null, cancellation.Token, cutState));
        state = cutState;
        var larger = Options("adam", 1);
        larger.BatchSize = 30;
        Refused<ArgumentException>("another batch size within an epoch", "3 minibatches into an epoch of 120 examples in minibatches of 20", cut,
            () => new HelmholtzTrainer(LearningRules.Create("nvil"), larger));
        // A run that streamed data without a count records −1 rows: named as such, not as "an epoch of -1 examples".
        var streamed = new TrainingState();
        streamed.Record(LearningRules.Create("nvil"), Options("adam", 1).Optimizer(), cut.Parameters, cut.StepsTrained, TrainingState.Fingerprint(cut.Parameters), 1, 3, 20, -1, 0, 0, 0);
        state = streamed;
        Refused<ArgumentException>("streamed data within an epoch", "3 minibatches into an epoch of examples streamed without a count in minibatches of 20; " +
            "to go on within that epoch the run needs the same, but it has 120 examples in minibatches of 20", cut,
            () => new HelmholtzTrainer(LearningRules.Create("nvil"), Options("adam", 1)));
    }

    /// <summary>
    /// A state records its rule's and optimiser's settings: a run of the same rule with another K, or of the same optimiser with
    /// other hyperparameters, would not go on as the recorded run, and is refused before anything changes (it went on, silently
    /// another run). The settings survive the file; a state of version 3 recorded none and is known by the names alone.
    /// </summary>
    [TestMethod]
    public void AStateIsRefusedByTheSameRuleOrOptimiserWithOtherSettings()
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 91);
        var state = new TrainingState();
        TrainingOptions adam = Options("adam", 1);
        new HelmholtzTrainer(new Vimco(5), adam).Train(machine, Train, state: state);
        Assert.AreEqual("K = 5", state.RuleSettings);
        Assert.AreEqual("β1 0.9, β2 0.999, ε 1E-08, weight decay 0.01", state.OptimizerSettings);
        Assert.IsTrue(state.IsFrom(new Vimco(5), new Adam(weightDecay: 0.01f)));
        Assert.IsFalse(state.IsFrom(new Vimco(2), new Adam(weightDecay: 0.01f)));
        Assert.IsFalse(state.IsFrom(new Vimco(5), new Adam(0.5f, 0.6f, weightDecay: 0.01f)));
        Assert.IsFalse(state.IsFrom(new ImportanceWeightedBound(5), new Adam(weightDecay: 0.01f)), "another rule of the same settings");
        Assert.IsFalse(new TrainingState().IsFrom(new Vimco(5), new Adam()), "an empty state is from no run");
        // Each of the REINFORCE-family options is its own number in the settings: a run with another variance decay is another run.
        Assert.AreEqual("baseline decay 0.5, input baseline of 7 hidden units, variance normalised with decay 0.8",
            new Reinforce(new ReinforceOptions { BaselineDecay = 0.5, InputBaselineHiddenUnits = 7, VarianceDecay = 0.8 }).Settings);
        Assert.AreEqual("baseline decay 0.9, input baseline of 0 hidden units, variance not normalised", new Reinforce(ReinforceOptions.Plain).Settings);

        float[][] before = TestModels.Snapshot(machine.Parameters);
        long steps = machine.StepsTrained;
        var k = Assert.ThrowsExactly<ArgumentException>(() => new HelmholtzTrainer(new Vimco(2), adam).Train(machine, Train, state: state));
        Assert.AreEqual("state", k.ParamName);
        StringAssert.Contains(k.Message, "from a run of the rule 'vimco' with 'K = 5', but this run's has 'K = 2'");
        var betas = new TrainingOptions { Epochs = 1, BatchSize = 20, Seed = 63, LearningRate = adam.LearningRate, Optimizer = () => new Adam(0.5f, 0.6f, weightDecay: 0.01f) };
        var b = Assert.ThrowsExactly<ArgumentException>(() => new HelmholtzTrainer(new Vimco(5), betas).Train(machine, Train, state: state));
        StringAssert.Contains(b.Message, "the optimiser 'adam' of 'β1 0.9, β2 0.999, ε 1E-08, weight decay 0.01', but this run's has 'β1 0.5, β2 0.6, ε 1E-08, weight decay 0.01'");
        TestModels.AssertParameters(before, machine.Parameters);
        Assert.AreEqual(steps, machine.StepsTrained);

        // Saved and loaded, the settings are the state's still; resaved from version 3, a state has none and goes on by name.
        var file = new MemoryStream();
        state.Save(file);
        file.Position = 0;
        var loaded = TrainingState.Load(file);
        Assert.AreEqual(state.RuleSettings, loaded.RuleSettings);
        Assert.AreEqual(state.OptimizerSettings, loaded.OptimizerSettings);
        TrainingState older = StateFileBytes.AsVersion3(state);
        Assert.IsNull(older.RuleSettings);
        Assert.IsNull(older.OptimizerSettings);
        Assert.IsNull(StateFileBytes.AsVersion3(older).RuleSettings, "resaved, a state of version 3 claims no settings it did not record");
        Assert.IsTrue(older.IsFrom(new Vimco(2), new Adam()), "known by the names alone");
        new HelmholtzTrainer(new Vimco(2), adam).Train(machine, Train, state: older);
        Assert.AreEqual("K = 2", older.RuleSettings, "the run records its own settings");
        byte[] payload = StateFileBytes.Payload(state);
        payload[StateFileBytes.SettingsAt(payload)] = 2;
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => TrainingState.Load(StateFileBytes.Framed(payload, 4))).Message,
            "the settings' flag is 2, neither 0 (none) nor 1");
    }

    /// <summary>
    /// Between epochs a state asks nothing of the minibatches: the next epoch draws its own order, so the run may go on with another
    /// batch size or other data (only a state that stopped within an epoch needs the same, which the test above refuses).
    /// </summary>
    [TestMethod]
    public void BetweenEpochsAStateGoesOnWithAnotherBatchSizeOrData()
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 69);
        var state = new TrainingState();
        new HelmholtzTrainer(LearningRules.Create("nvil"), Options("adam", 1)).Train(machine, Train, state: state);
        Assert.AreEqual(0, state.MinibatchesIntoEpoch);
        var larger = Options("adam", 1);
        larger.BatchSize = 30;
        long steps = machine.StepsTrained;
        new HelmholtzTrainer(LearningRules.Create("nvil"), larger).Train(machine, Train, state: state);
        Assert.AreEqual(steps + 4, machine.StepsTrained, "120 rows in minibatches of 30");
        new HelmholtzTrainer(LearningRules.Create("nvil"), Options("adam", 1)).Train(machine, Train.Slice(0, 60), state: state);
        Assert.AreEqual(steps + 7, machine.StepsTrained, "60 rows in minibatches of 20");
    }

    /// <summary>
    /// A state knows its machine by a fingerprint of the parameters as well as by the step count: another machine of the same
    /// architecture trained as many steps, or the machine changed in one bit since, is refused naming both fingerprints and left
    /// unchanged (each was accepted, and trained on with another machine's moments). The fingerprint travels in the file; a state of
    /// format version 2 has none, and is still accepted by its step count alone.
    /// </summary>
    [TestMethod]
    public void AStateIsRefusedForAnotherMachineOrOneChangedSinceAtTheSameStep()
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 81);
        var state = new TrainingState();
        new HelmholtzTrainer(LearningRules.Create("nvil"), Options("adam", 1)).Train(machine, Train, state: state);
        var twin = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 82);
        new HelmholtzTrainer(LearningRules.Create("nvil"), Options("adam", 1)).Train(twin, Train);
        Assert.AreEqual(state.StepsTrained, twin.StepsTrained, "the premise: the same step count");
        var changed = machine.Clone();
        changed.Parameters[1].Value[3] = BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(changed.Parameters[1].Value[3]) ^ 1);

        var saved = new MemoryStream();
        state.Save(saved);
        saved.Position = 0;
        var loaded = TrainingState.Load(saved);
        foreach (var (name, given, recorded) in new[] { ("another machine", twin, state), ("the machine changed in one bit", changed, state), ("through the file", twin, loaded) })
        {
            float[][] before = TestModels.Snapshot(given.Parameters);
            var e = Assert.ThrowsExactly<ArgumentException>(() => new HelmholtzTrainer(LearningRules.Create("nvil"), Options("adam", 1)).Train(given, Train, state: recorded), name);
            StringAssert.Contains(e.Message, $"recorded on a machine whose parameters differ from those of the machine given (both at {state.StepsTrained} steps trained; fingerprints ", name);
            StringAssert.Contains(e.Message, "Give the machine saved at the same point as the state.", name);
            Assert.AreEqual("state", e.ParamName, name);
            TestModels.AssertParameters(before, given.Parameters, name);
            Assert.AreEqual(state.StepsTrained, given.StepsTrained, name);
        }

        // Matches says so before a run, for pairing files.
        var reloaded = HelmholtzMachine.Load(new MemoryStream(ModelBytes(machine)));
        Assert.IsTrue(state.Matches(machine) && loaded.Matches(reloaded), "the machine, and through the files");
        Assert.IsFalse(state.Matches(twin) || state.Matches(changed) || loaded.Matches(twin), "another machine, or one changed since");
        Assert.IsFalse(state.Matches(HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 81)), "another step count");
        Assert.IsFalse(new TrainingState().Matches(machine), "an empty state");
        Assert.IsTrue(StateFileBytes.AsVersion2(state).Matches(twin), "a state of version 2 knows its machine by the step count alone");
        Assert.IsFalse(StateFileBytes.AsVersion2(state).Matches(HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 81)), "a state of version 2: another step count");

        // The machine itself, saved and loaded, goes on; a state of version 2 takes the other machine, as that version did.
        new HelmholtzTrainer(LearningRules.Create("nvil"), Options("adam", 1)).Train(reloaded, Train, state: loaded);
        Assert.AreEqual(2 * twin.StepsTrained, reloaded.StepsTrained);
        var older = StateFileBytes.AsVersion2(state);
        new HelmholtzTrainer(LearningRules.Create("nvil"), Options("adam", 1)).Train(twin, Train, state: older);
        Assert.AreEqual(reloaded.StepsTrained, twin.StepsTrained);
        // The resumed run recorded the fingerprint of the machine it left.
        var e2 = Assert.ThrowsExactly<ArgumentException>(() => new HelmholtzTrainer(LearningRules.Create("nvil"), Options("adam", 1)).Train(reloaded, Train, state: older));
        StringAssert.Contains(e2.Message, "recorded on a machine whose parameters differ");
    }

    /// <summary>
    /// A state of format version 2 saved again keeps having no fingerprint (flag 0), and loads so; a flag that is neither 0 nor 1
    /// is refused naming the field. The fingerprint itself hashes names and shapes as well as values.
    /// </summary>
    [TestMethod]
    public void TheFingerprintCoversNamesAndShapesAndItsFieldIsReadStrictly()
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 84);
        var state = new TrainingState();
        new HelmholtzTrainer(LearningRules.Create("nvil"), Options("adam", 1)).Train(machine, Train, state: state);
        Assert.IsNotNull(state.MachineFingerprint);
        Assert.AreEqual(TrainingState.Fingerprint(machine.Parameters), state.MachineFingerprint, "the state names the machine the run left");
        var older = StateFileBytes.AsVersion2(state);
        Assert.IsNull(older.MachineFingerprint);
        byte[] resaved = StateFileBytes.Payload(older);
        Assert.AreEqual(0, resaved[StateFileBytes.FingerprintAt(resaved)], "no fingerprint: flag 0");
        Assert.IsNull(TrainingState.Load(StateFileBytes.Framed(resaved, 4)).MachineFingerprint);

        byte[] payload = StateFileBytes.Payload(state);
        payload[StateFileBytes.FingerprintAt(payload)] = 2;
        var e = Assert.ThrowsExactly<InvalidDataException>(() => TrainingState.Load(StateFileBytes.Framed(payload, 4)));
        StringAssert.Contains(e.Message, "the machine fingerprint's flag is 2, neither 0 (none) nor 1");
        var future = Assert.ThrowsExactly<InvalidDataException>(() => TrainingState.Load(StateFileBytes.Framed(StateFileBytes.Payload(state), 5)));
        StringAssert.Contains(future.Message, "training state format version 5 is not supported (this library reads versions 1 to 4)");

        // The fingerprint hashes names and shapes with the values: the same six zeros as 2×3 or 3×2, or under another name, are other machines.
        ulong Of(string name, int rows, int columns) => TrainingState.Fingerprint([new Parameter(name, rows, columns)]);
        Assert.AreEqual(Of("w", 2, 3), Of("w", 2, 3), "the same parameter");
        Assert.AreNotEqual(Of("w", 2, 3), Of("w", 3, 2), "another shape");
        Assert.AreNotEqual(Of("w", 2, 3), Of("v", 2, 3), "another name");
    }

    /// <summary>
    /// A run cancelled before its first step gives the machine back as it was given (the data-based start of its visible biases
    /// undone) and records the state there: the state names that machine, which resumes from it as if never started.
    /// </summary>
    [TestMethod]
    public void AStateRecordedBeforeTheFirstStepNamesTheMachineAsGiven()
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 83);
        float[][] given = TestModels.Snapshot(machine.Parameters);
        var state = new TrainingState();
        using var cancellation = new CancellationTokenSource();
        var options = Options("adam", 1);
        // As the ML.NET estimator gives a streamed run the means of its pass over the data.
        options.VisibleMeans = Enumerable.Range(0, Train.Columns).Select(j => Enumerable.Range(0, Train.Rows).Average(i => (double)Train.Values[i * Train.Columns + j])).ToArray();
        Assert.IsTrue(options.InitializeVisibleBiases, "the premise: the run starts the visible biases from the data, which the cancellation undoes");
        Assert.ThrowsExactly<OperationCanceledException>(() => new HelmholtzTrainer(LearningRules.Create("nvil"), options)
            .Train(machine, new CancelledAtEpochStart(Train, cancellation), null, null, cancellation.Token, state));
        TestModels.AssertParameters(given, machine.Parameters);
        Assert.IsFalse(state.IsEmpty, "the premise: the cancelled run recorded itself");
        Assert.AreEqual(0L, state.StepsTrained);

        new HelmholtzTrainer(LearningRules.Create("nvil"), Options("adam", 1)).Train(machine, Train, state: state);
        var unbroken = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 83);
        new HelmholtzTrainer(LearningRules.Create("nvil"), Options("adam", 1)).Train(unbroken, Train);
        TestModels.AssertParameters(unbroken.Parameters, machine.Parameters);
    }

    /// <summary>Minibatches from <paramref name="data"/> whose first epoch is cancelled as it begins: before the run's first step.</summary>
    private sealed class CancelledAtEpochStart(DataMatrix data, CancellationTokenSource cancellation) : IMinibatchSource
    {
        private readonly ShuffledMinibatches _inner = new(data);
        public int Columns => _inner.Columns;
        public int? Rows => _inner.Rows;
        public void BeginEpoch(RandomStream random)
        {
            cancellation.Cancel();
            _inner.BeginEpoch(random);
        }
        public int NextBatch(Span<float> destination, int rows) => _inner.NextBatch(destination, rows);
    }

    [TestMethod]
    public void ADamagedOrEmptyStateFileIsNamedAsSuch()
    {
        Assert.ThrowsExactly<InvalidOperationException>(() => new TrainingState().Save(new MemoryStream()));
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 69);
        var state = new TrainingState();
        new HelmholtzTrainer(LearningRules.Create("nvil"), Options("adam", 1)).Train(machine, Train, state: state);
        var bytes = new MemoryStream();
        state.Save(bytes);
        byte[] file = bytes.ToArray();

        void Damaged(string context, byte[] content, string expected)
        {
            var e = Assert.ThrowsExactly<InvalidDataException>(() => TrainingState.Load(new MemoryStream(content)), context);
            StringAssert.Contains(e.Message, expected, context);
        }
        Damaged("a flipped byte", file.Select((b, i) => i == file.Length / 2 ? (byte)(b ^ 1) : b).ToArray(), "checksum");
        Damaged("cut short", file[..(file.Length - 7)], "the file is truncated");
        Damaged("cut inside the magic", file[..5], "inside the 25-byte magic");
        Damaged("bytes after the end", [.. file, 0], "1 unexpected byte follows the end of the training state");
        Damaged("a model file", ModelBytes(machine), "not a training state file");

        using var temp = new TempDirectory();
        string path = temp.File("damaged.state");
        state.Save(path);
        var loaded = TrainingState.Load(path);
        Assert.AreEqual(state.StepsTrained, loaded.StepsTrained);
        File.WriteAllBytes(path, file[..40]);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => TrainingState.Load(path));
        StringAssert.Contains(e.Message, path, "the message names the file");
    }

    /// <summary>The state file around <paramref name="payload"/>, its checksum matching: a file made by hand or by another program.</summary>
    private static byte[] Framed(byte[] payload, int version = 1)
    {
        var stream = new MemoryStream();
        ChecksummedFile.Write(stream, "HELMHOLTZ-TRAINING-STATE\n"u8, version, payload);
        return stream.ToArray();
    }

    /// <summary>
    /// A payload with no streams and empty sections, each field as given: of format version 1, or of version 2 when
    /// <paramref name="divergenceReference"/> is given.
    /// </summary>
    private static byte[] Payload(long trainingRows = 120, double partialFreeEnergy = 1.5, double partialObjective = 1.5, byte[]? entryName = null,
        ulong[]? streamWords = null, int minibatchesIntoEpoch = 3, int? streamCount = null, byte[]? entryRest = null, double? divergenceReference = null,
        int scheduleEpoch = 0, int batchSize = 20)
    {
        var stream = new MemoryStream();
        using (var w = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            w.Write("nvil");
            w.Write("adam");
            w.Write(10L);
            w.Write(scheduleEpoch);
            w.Write(minibatchesIntoEpoch);
            w.Write(batchSize);
            w.Write(trainingRows);
            w.Write(partialFreeEnergy);
            w.Write(partialObjective);
            if (divergenceReference is { } reference) w.Write(reference);
            w.Write(streamCount ?? (streamWords is null ? 0 : 1));
            if (streamWords is not null)
            {
                w.Write("training");
                foreach (ulong word in streamWords) w.Write(word);
            }
            w.Write(entryName is null ? 0 : 1);
            if (entryName is not null) w.Write(entryName);   // the optimiser's one entry ends there, at its name, or with entryRest
            if (entryRest is not null) w.Write(entryRest);
            w.Write(0);
        }
        return stream.ToArray();
    }

    /// <summary>
    /// Fields that no run records, in a file whose checksum matches: a string length that is negative or malformed
    /// (BinaryReader's IOException and FormatException escaped), a partial sum that is NaN or infinite and a count of
    /// training rows below −1 (which loaded) are each refused naming the file and the field.
    /// </summary>
    [TestMethod]
    public void AFieldNoRunRecordsIsRefusedNamingTheFileAndTheField()
    {
        using var temp = new TempDirectory();
        string path = temp.File("hand-made.state");
        File.WriteAllBytes(path, Framed(Payload()));
        Assert.AreEqual(120L, TrainingState.Load(path).TrainingRows, "the payload the cases below each change in one field loads");
        Assert.IsTrue(double.IsNaN(TrainingState.Load(path).DivergenceReference), "format version 1 carries no divergence reference");
        File.WriteAllBytes(path, Framed(Payload(trainingRows: -1)));
        Assert.AreEqual(-1L, TrainingState.Load(path).TrainingRows, "−1: a stream of unknown length");

        void Refused(byte[] payload, string expected, int version = 1)
        {
            File.WriteAllBytes(path, Framed(payload, version));
            var e = Assert.ThrowsExactly<InvalidDataException>(() => TrainingState.Load(path), expected);
            StringAssert.StartsWith(e.Message, path + ":", expected);
            StringAssert.Contains(e.Message, expected);
        }
        Refused([0xFF, 0xFF, 0xFF, 0xFF, 0x0F], "the rule's name has a length of -1 bytes");
        Refused([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], "the length of the rule's name is malformed");
        Refused(Payload(entryName: [0x80, 0x80, 0x80, 0x80, 0x08]), "the name of entry 0 of the optimiser has a length of -2147483648 bytes");
        Refused(Payload(trainingRows: -7), "the training rows are -7");
        // Past the epoch's last minibatch: a resume drew them all, then refused it blaming the training data, the rule holding the state's estimates.
        Refused(Payload(minibatchesIntoEpoch: 50), "the state stopped 50 minibatches into an epoch of 120 examples in minibatches of 20, which has 6");
        Assert.AreEqual(6, TrainingState.Load(new MemoryStream(Framed(Payload(minibatchesIntoEpoch: 6)))).MinibatchesIntoEpoch, "the epoch's last minibatch");
        Refused(Payload(partialFreeEnergy: double.NaN), "the epoch's partial free-energy sum is NaN");
        // A random stream with a lane of four zero words (every draw of it the same for ever; it trained on without complaint).
        ulong[] words = new RandomStream(3).SaveState();
        Assert.IsNotNull(TrainingState.Load(new MemoryStream(Framed(Payload(streamWords: words)))), "a stream's own words load");
        for (int word = 0; word < 4; word++) words[8 * word + 5] = 0;
        Refused(Payload(streamWords: words), "lane 5 all zero");
        // The objective is reported, not relied on: a rule of the application's may report one that is not finite, and its state loads.
        Assert.AreEqual(double.NegativeInfinity, TrainingState.Load(new MemoryStream(Framed(Payload(partialObjective: double.NegativeInfinity)))).PartialObjective);
        // F₀ (format version 2 on) is a finite free energy, or NaN for none: never infinite.
        Assert.AreEqual(-3.5, TrainingState.Load(new MemoryStream(Framed(Payload(divergenceReference: -3.5), 2))).DivergenceReference);
        Refused(Payload(divergenceReference: double.PositiveInfinity), $"the divergence reference is {double.PositiveInfinity}: a run records a finite free energy", version: 2);
        Refused(Payload(scheduleEpoch: -1), "the schedule epoch is negative (-1)");
        Refused(Payload(minibatchesIntoEpoch: -1), "the minibatches into the epoch is negative (-1)");
        Refused(Payload(batchSize: 0), "the batch size 0 is not positive");
        // Saved again (as format version 4) and loaded, each field is where it was: the two partial sums not swapped.
        var resaved = TrainingState.Load(new MemoryStream(Bytes(TrainingState.Load(new MemoryStream(Framed(Payload(partialObjective: 2.5, scheduleEpoch: 4)))))));
        Assert.AreEqual((10L, 4, 3, 20, 120L, 1.5, 2.5), (resaved.StepsTrained, resaved.ScheduleEpoch, resaved.MinibatchesIntoEpoch, resaved.BatchSize,
            resaved.TrainingRows, resaved.PartialFreeEnergy, resaved.PartialObjective));
        Refused(Payload(streamCount: 65), "the state has 65 random streams, more than any run records");
        // The optimiser's entry 'x' (its name length-prefixed), then its kind byte and its int32 length.
        Refused(Payload(entryName: [1, (byte)'x'], entryRest: [2, 0, 0, 0, 0]), "the entry 'x' has the unknown kind 2");
        // 2²⁹ float32 values in a payload of a few bytes: short, refused before 2 GiB are asked for (a count of bytes past int's range).
        Refused(Payload(entryName: [1, (byte)'x'], entryRest: [0, 0, 0, 0, 0x20]), "the payload ends early");
        Refused(Payload()[..^1], "the payload ends early");
        Refused([.. Payload(), 0], "the payload has bytes after its last section");
    }

    /// <summary>
    /// A stream that cannot seek (a pipe, a GZipStream) and holds less than its header promises is called truncated
    /// having allocated about what it held (the promised length was allocated at once: 2 GiB for a 56-byte gzip);
    /// one that holds it all reads back the same bytes, through the chunks it grew by.
    /// </summary>
    [TestMethod]
    public void AStreamThatCannotSeekIsReadAsItsBytesArrive()
    {
        var header = new MemoryStream();
        using (var w = new BinaryWriter(header, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            w.Write("HELMHOLTZ-TRAINING-STATE\n"u8);
            w.Write(1);
            w.Write(64L << 20);
            w.Write(new byte[10]);
        }
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.ThrowsExactly<InvalidDataException>(() => TrainingState.Load(new NonSeekableStream(header.ToArray())));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        StringAssert.Contains(e.Message, "the file is truncated: it ends inside the training state (10 of 67108864 bytes)");
        Assert.IsTrue(allocated < 4 << 20, $"{allocated} bytes allocated for a stream of {header.Length}");

        byte[] content = new byte[(3 << 20) + 5];   // past the first chunk (1 MiB) and the doubled one
        new Random(73).NextBytes(content);
        CollectionAssert.AreEqual(content, ChecksummedFile.ReadExactly(new NonSeekableStream(content), content.Length, "the content"));
        var cut = Assert.ThrowsExactly<InvalidDataException>(() => ChecksummedFile.ReadExactly(new NonSeekableStream(content), content.Length + 1, "the content"));
        StringAssert.Contains(cut.Message, $"it ends inside the content ({content.Length} of {content.Length + 1} bytes)");
    }

    private static byte[] ModelBytes(HelmholtzMachine machine)
    {
        var stream = new MemoryStream();
        machine.Save(stream);
        return stream.ToArray();
    }

    [TestMethod]
    public void ARandomStreamRestoredGivesTheDrawsThatFollowed()
    {
        var random = new RandomStream(70);
        random.NextUInt64();
        random.NextUInt64();   // part-way through a step's eight outputs
        ulong[] saved = random.SaveState();
        var expected = new float[1000];
        random.FillNormal(expected);
        ulong next = random.NextUInt64();

        var other = new RandomStream(71);
        other.RestoreState(saved);
        var actual = new float[1000];
        other.FillNormal(actual);
        CollectionAssert.AreEqual(expected, actual);
        Assert.AreEqual(next, other.NextUInt64());
        Assert.ThrowsExactly<InvalidDataException>(() => other.RestoreState(saved.AsSpan(1)));
        // Words no stream writes: a count past the eight lanes, or a lane of four zero words (it would draw one value for ever).
        ulong[] counted = (ulong[])saved.Clone();
        counted[^1] = 9;
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => other.RestoreState(counted)).Message, "at most 8 buffered draws; got 9");
        ulong[] zeroLane = (ulong[])saved.Clone();
        for (int word = 0; word < 4; word++) zeroLane[8 * word + 3] = 0;
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => other.RestoreState(zeroLane)).Message, "lane 3 all zero");
        ulong[] oneZeroWord = (ulong[])saved.Clone();
        oneZeroWord[3] = 0;
        other.RestoreState(oneZeroWord);   // a lane with some zero words is a state like any other
    }

    [TestMethod]
    public void LoadingADirectoryOrAMissingFileSaysSo()
    {
        using var temp = new TempDirectory();
        string directory = temp.File("folder.state");
        Directory.CreateDirectory(directory);
        // As HelmholtzMachine.Load says it, not a raw UnauthorizedAccessException.
        var e = Assert.ThrowsExactly<FileNotFoundException>(() => TrainingState.Load(directory));
        StringAssert.Contains(e.Message, "is a directory");
        StringAssert.Contains(e.Message, directory);
        e = Assert.ThrowsExactly<FileNotFoundException>(() => TrainingState.Load(temp.File("missing.state")));
        StringAssert.Contains(e.Message, temp.File("missing.state"));
    }

    /// <summary>
    /// An entry written again with another length or precision is replaced, keeping its place in <see cref="StateSection.Names"/>
    /// (each name is there once); reading checks the name, the length and the precision, each refusal an
    /// <see cref="InvalidDataException"/> naming the owner and the entry; a null or empty name is refused as it is written.
    /// </summary>
    [TestMethod]
    public void AStateSectionsEntryWrittenAgainIsReplacedInItsPlaceAndReadStrictly()
    {
        var section = new StateSection("the test's optimiser");
        section.Write("a", [1.0, 2.0]);
        section.Write("b", 5.0);
        section.Write("a", [3.0, 4.0, 5.0]);
        CollectionAssert.AreEqual(new[] { "a", "b" }, section.Names.ToArray());
        CollectionAssert.AreEqual(new[] { 3.0, 4.0, 5.0 }, section.ReadDoubles("a", 3).ToArray());
        section.Write("a", [6.0]);   // shorter: nothing of the longer entry left over
        CollectionAssert.AreEqual(new[] { 6.0 }, section.ReadDoubles("a", 1).ToArray());
        section.Write("b", [7f, 8f]);
        CollectionAssert.AreEqual(new[] { 7f, 8f }, section.ReadFloats("b", 2).ToArray());
        CollectionAssert.AreEqual(new[] { "a", "b" }, section.Names.ToArray());
        Assert.IsTrue(section.Contains("b"));
        Assert.IsFalse(section.Contains("c"));

        string Refused(Action read) => Assert.ThrowsExactly<InvalidDataException>(read).Message;
        StringAssert.Contains(Refused(() => section.ReadDoubles("c", 1)), "The training state of the test's optimiser has no entry 'c'");
        StringAssert.Contains(Refused(() => section.ReadDoubles("a", 2)), "of the test's optimiser holds 'a' as 1 double-precision numbers, but this run needs 2 double-precision ones");
        StringAssert.Contains(Refused(() => section.ReadFloats("a", 1)), "holds 'a' as 1 double-precision numbers, but this run needs 1 single-precision ones");
        Assert.ThrowsExactly<ArgumentException>(() => section.Write("", 1.0));
        Assert.ThrowsExactly<ArgumentNullException>(() => section.Write(null!, 1.0));

        // A copy (a state's, which the ML.NET estimator trains on) becomes the source's entries alone, in their order, sharing no array:
        // a run recording into one writes its entries in place.
        var copy = new StateSection("the copy");
        copy.Write("old", 1.0);
        copy.CopyFrom(section);
        CollectionAssert.AreEqual(new[] { "a", "b" }, copy.Names.ToArray());
        Assert.IsFalse(copy.Contains("old"));
        section.Write("a", [9.0]);
        Assert.AreEqual(6.0, copy.ReadDouble("a"), "the copy shares no array with its source");
    }

    // A copy (the ML.NET estimator trains on one and keeps it) carries the divergence reference F₀, so that a fit resumed from it
    // keeps the unbroken run's limit. Exact: the double is copied. A recorded state's copy saves to the same bytes: every field, the
    // machine's fingerprint too (without it, the copy would resume on another machine at the same step).
    [TestMethod]
    public void ACopyOfAStateCarriesItsDivergenceReferenceAndEveryField()
    {
        var state = new TrainingState { DivergenceReference = -42.5 };
        Assert.AreEqual(-42.5, state.Copy().DivergenceReference);
        var into = new TrainingState();
        into.CopyFrom(state);
        Assert.AreEqual(-42.5, into.DivergenceReference);

        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 86);
        var recorded = new TrainingState();
        new HelmholtzTrainer(LearningRules.Create("nvil"), Options("adam", 1)).Train(machine, Train, state: recorded);
        Assert.IsNotNull(recorded.MachineFingerprint, "the premise: a fingerprint to copy");
        CollectionAssert.AreEqual(Bytes(recorded), Bytes(recorded.Copy()), "the copy");
        into.CopyFrom(recorded);
        CollectionAssert.AreEqual(Bytes(recorded), Bytes(into), "a state that became the recorded one");
    }

    /// <summary>
    /// Data of fewer rows than BatchSize trains in minibatches of all its rows: a state cut within such an epoch records that
    /// minibatch size, and the same options resume it as the uninterrupted run (a check against BatchSize as set would refuse
    /// the state for minibatches of another size).
    /// </summary>
    [TestMethod]
    public void AStateCutWithinAnEpochOfFewerRowsThanABatchGoesOn()
    {
        DataMatrix small = Train.Slice(0, 30);
        TrainingOptions Larger(int epochs, int firstScheduleEpoch = 0)
        {
            TrainingOptions options = Options("adam", epochs, firstScheduleEpoch);
            options.BatchSize = 40;
            return options;
        }
        var whole = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 66);
        new HelmholtzTrainer(LearningRules.Create("nvil"), Larger(2)).Train(whole, new ScriptedMinibatches(small, 0), Valid);

        // One minibatch an epoch and a call that finds the epoch over: the third call is the second epoch's minibatch.
        var first = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 66);
        var state = new TrainingState();
        using var cancellation = new CancellationTokenSource();
        Assert.ThrowsExactly<OperationCanceledException>(() => new HelmholtzTrainer(LearningRules.Create("nvil"), Larger(2))
            .Train(first, new ScriptedMinibatches(small, 3, cancellation), Valid, cancellationToken: cancellation.Token, state: state));
        Assert.AreEqual((1, 1, 30), (state.ScheduleEpoch, state.MinibatchesIntoEpoch, state.BatchSize), "one minibatch of 30 into the second epoch");

        var (second, loaded) = SavedAndLoaded(first, state);
        new HelmholtzTrainer(LearningRules.Create("nvil"), Larger(1, loaded.ScheduleEpoch)).Train(second, new ScriptedMinibatches(small, 0), Valid, state: loaded);
        AssertSameParameters(whole, second, "resumed within the epoch");
    }

    /// <summary>
    /// An epoch cut within carries two partial sums, the free energy's and the rule's objective's: with a rule whose objective is
    /// not the free energy (VIMCO's bound), the resumed epoch reports each as the uninterrupted run did, neither in place of the other.
    /// </summary>
    [TestMethod]
    public void AnEpochCutWithinReportsTheObjectiveAndTheFreeEnergyOfTheWholeRun()
    {
        var whole = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 67);
        var wholeReports = new HelmholtzTrainer(LearningRules.Create("vimco", 3), Options("adam", 2)).Train(whole, new ScriptedMinibatches(Train, 0), Valid);
        Assert.AreNotEqual(wholeReports[1].TrainFreeEnergy, wholeReports[1].TrainObjective, "a rule whose objective is not the free energy");

        // 120 rows in minibatches of 20: the tenth call is the second epoch's third minibatch.
        var first = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 67);
        var state = new TrainingState();
        using var cancellation = new CancellationTokenSource();
        Assert.ThrowsExactly<OperationCanceledException>(() => new HelmholtzTrainer(LearningRules.Create("vimco", 3), Options("adam", 2))
            .Train(first, new ScriptedMinibatches(Train, 10, cancellation), Valid, cancellationToken: cancellation.Token, state: state));
        Assert.AreEqual(3, state.MinibatchesIntoEpoch);

        var (second, loaded) = SavedAndLoaded(first, state);
        var resumed = new HelmholtzTrainer(LearningRules.Create("vimco", 3), Options("adam", 1, loaded.ScheduleEpoch))
            .Train(second, new ScriptedMinibatches(Train, 0), Valid, state: loaded);
        AssertSameParameters(whole, second, "resumed three minibatches into the second epoch");
        Assert.AreEqual(wholeReports[1].TrainFreeEnergy, resumed[0].TrainFreeEnergy, "the second epoch's training F");
        Assert.AreEqual(wholeReports[1].TrainObjective, resumed[0].TrainObjective, "the second epoch's objective");
    }

    /// <summary>
    /// A machine trained on past its state (without the state: the file was not paired with it) is refused naming both step
    /// counts, with the state of format version 4 and with one of version 2, which knows its machine by the step count alone
    /// (a check that refused only a machine behind its state took the version-2 state, and trained on with the moments of an
    /// earlier point; the version-4 one was refused as "both at 12 steps trained").
    /// </summary>
    [TestMethod]
    public void AMachineTrainedPastItsStateIsRefusedNamingBothStepCounts()
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 87);
        var state = new TrainingState();
        new HelmholtzTrainer(LearningRules.Create("nvil"), Options("adam", 1)).Train(machine, Train, state: state);
        long recorded = state.StepsTrained;
        new HelmholtzTrainer(LearningRules.Create("nvil"), Options("adam", 1)).Train(machine, Train);
        Assert.AreEqual(2 * recorded, machine.StepsTrained, "the premise: the machine is an epoch past its state");
        foreach (var (name, given) in new[] { ("version 4", state), ("version 2", StateFileBytes.AsVersion2(state)) })
        {
            float[][] before = TestModels.Snapshot(machine.Parameters);
            var e = Assert.ThrowsExactly<ArgumentException>(() => new HelmholtzTrainer(LearningRules.Create("nvil"), Options("adam", 1)).Train(machine, Train, state: given), name);
            StringAssert.Contains(e.Message, $"recorded when the machine had trained {recorded} steps, but the machine given has trained {2 * recorded}", name);
            Assert.AreEqual("state", e.ParamName, name);
            TestModels.AssertParameters(before, machine.Parameters, name);
            Assert.AreEqual(2 * recorded, machine.StepsTrained, name);
            Assert.IsFalse(given.Matches(machine), name);
        }
    }

    /// <summary>An empty state names no machine: Matches is false even for a machine of no steps (whose step count is the empty state's 0).</summary>
    [TestMethod]
    public void AnEmptyStateMatchesNoMachineNotEvenOneOfNoSteps()
    {
        var fresh = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 88);
        Assert.AreEqual(0L, fresh.StepsTrained, "the premise: the empty state's step count");
        Assert.IsFalse(new TrainingState().Matches(fresh));
        Assert.IsFalse(new TrainingState().Matches(Microsoft.ML.Helmholtz.Temporal.TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("8b-6b"), 5, 63)), "a temporal model of no steps");
    }

    /// <summary>
    /// The fingerprint hashes every value of every parameter, the last one included: a machine changed in one bit of any
    /// parameter's last value (a bias's last unit, a weight matrix's last element) is another machine to the state.
    /// </summary>
    [TestMethod]
    public void AMachineChangedOnlyInAParametersLastValueIsAnotherMachine()
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 89);
        var state = new TrainingState();
        new HelmholtzTrainer(LearningRules.Create("nvil"), Options("adam", 1)).Train(machine, Train, state: state);
        Assert.IsTrue(state.Matches(machine), "the premise: the machine the run left");
        for (int i = 0; i < machine.Parameters.Count; i++)
        {
            var changed = machine.Clone();
            float[] values = changed.Parameters[i].Value;
            values[^1] = BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(values[^1]) ^ 1);
            Assert.IsFalse(state.Matches(changed), changed.Parameters[i].Name);
        }
        // A parameter of one value: that value is its last.
        var one = new Parameter("b", 1, 1);
        ulong zero = TrainingState.Fingerprint([one]);
        one.Value[0] = 1;
        Assert.AreNotEqual(zero, TrainingState.Fingerprint([one]), "a one-value parameter's value");
    }

    /// <summary>
    /// Versions 1 to 4 are read and no other: a file that says version 0 is refused naming the version, though its payload would
    /// read as version 1's (the same bytes framed as version 1 load).
    /// </summary>
    [TestMethod]
    public void AStateFileOfVersionZeroIsRefusedNamingTheVersion()
    {
        Assert.AreEqual(120L, TrainingState.Load(new MemoryStream(Framed(Payload(), 1))).TrainingRows, "the premise: the payload is version 1's");
        var e = Assert.ThrowsExactly<InvalidDataException>(() => TrainingState.Load(new MemoryStream(Framed(Payload(), 0))));
        StringAssert.Contains(e.Message, "training state format version 0 is not supported (this library reads versions 1 to 4)");
    }

    /// <summary>
    /// Save to a path writes a temporary file and renames it over the old one: a save that fails (an empty state has nothing
    /// to save) leaves the file saved before whole, not truncated.
    /// </summary>
    [TestMethod]
    public void ASaveToAPathThatFailsLeavesTheFileSavedBeforeWhole()
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 90);
        var state = new TrainingState();
        new HelmholtzTrainer(LearningRules.Create("nvil"), Options("adam", 1)).Train(machine, Train, state: state);
        using var temp = new TempDirectory();
        string path = temp.File("saved-before.state");
        state.Save(path);
        byte[] saved = File.ReadAllBytes(path);
        Assert.ThrowsExactly<InvalidOperationException>(() => new TrainingState().Save(path));
        CollectionAssert.AreEqual(saved, File.ReadAllBytes(path), "the earlier file, byte for byte");
        Assert.IsTrue(TrainingState.Load(path).Matches(machine), "and it still loads, naming its machine");
    }

    /// <summary>
    /// The bounds of the fields a run records, at their edges: −2 training rows (−1 is a stream of unknown length), an epoch of 0
    /// rows cut within (it has no minibatch; between epochs it loads), a divergence reference of −∞ as well as +∞, and an entry of
    /// negative length (a raw ArgumentOutOfRangeException from the reader) are each refused naming the field.
    /// </summary>
    [TestMethod]
    public void EachFieldsBoundIsCheckedAtItsEdge()
    {
        static string Refused(byte[] payload, int version = 1)
            => Assert.ThrowsExactly<InvalidDataException>(() => TrainingState.Load(new MemoryStream(Framed(payload, version)))).Message;
        StringAssert.Contains(Refused(Payload(trainingRows: -2)), "the training rows are -2");
        StringAssert.Contains(Refused(Payload(trainingRows: 0, minibatchesIntoEpoch: 1)), "the state stopped 1 minibatches into an epoch of 0 examples in minibatches of 20, which has 0");
        Assert.AreEqual(0L, TrainingState.Load(new MemoryStream(Framed(Payload(trainingRows: 0, minibatchesIntoEpoch: 0)))).TrainingRows, "between epochs");
        StringAssert.Contains(Refused(Payload(divergenceReference: double.NegativeInfinity), version: 2),
            $"the divergence reference is {double.NegativeInfinity}: a run records a finite free energy");
        // The optimiser's entry 'x' (its name length-prefixed), then its kind byte (float32) and the int32 length −1.
        StringAssert.Contains(Refused(Payload(entryName: [1, (byte)'x'], entryRest: [0, 0xFF, 0xFF, 0xFF, 0xFF])), "the length of 'x' is negative (-1)");
    }

    /// <summary>
    /// A run that goes on from a state of format version 3 (its rule known by the name alone) with other settings records its own
    /// rule's state in place of the recorded one: an entry that only the other settings wrote is not left behind in the state
    /// (an application's rule whose entries depend on its settings, taking back none of them).
    /// </summary>
    [TestMethod]
    public void ARunOfOtherSettingsLeavesNoEntryOfTheRecordedRunsInTheState()
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 89);
        var state = new TrainingState();
        new HelmholtzTrainer(new SettingsDependentRule("with an extra estimate", extra: true), Options("adam", 1)).Train(machine, Train, state: state);
        CollectionAssert.AreEqual(new[] { "extra" }, state.RuleState.Names.ToArray(), "the premise: the first run's entry");
        TrainingState older = StateFileBytes.AsVersion3(state);
        Assert.IsTrue(older.RuleState.Contains("extra"), "the premise: the entry travels in the file of version 3");
        new HelmholtzTrainer(new SettingsDependentRule("without", extra: false), Options("adam", 1)).Train(machine, Train, state: older);
        Assert.AreEqual("without", older.RuleSettings, "the run records its own settings");
        Assert.AreEqual(0, older.RuleState.Names.Count, "nothing of the run of other settings is left");
    }

    /// <summary>Wake-sleep under another name, whose settings say whether it keeps one running estimate (it takes none back).</summary>
    private sealed class SettingsDependentRule(string settings, bool extra) : ILearningRule, IResumable
    {
        private readonly ILearningRule _inner = LearningRules.Create("wake-sleep");
        public string Name => "settings-dependent";
        public string Settings => settings;
        public string Objective => _inner.Objective;
        public int SamplesPerExample => _inner.SamplesPerExample;
        public IReadOnlyList<Parameter> Parameters => _inner.Parameters;
        public string? Unsupported(HelmholtzArchitecture architecture) => _inner.Unsupported(architecture);
        public string? UnsupportedConditioning => _inner.UnsupportedConditioning;
        public void Prepare(HelmholtzMachine machine, int batchCapacity) => _inner.Prepare(machine, batchCapacity);
        public BatchLoss AccumulateGradients(HelmholtzMachine machine, TrainingBatch batch) => _inner.AccumulateGradients(machine, batch);
        public void SaveState(StateSection section, IReadOnlyList<Parameter> parameters)
        {
            if (extra) section.Write("extra", 1.0);
        }
        public void RestoreState(StateSection section, IReadOnlyList<Parameter> parameters) { }
    }
}
