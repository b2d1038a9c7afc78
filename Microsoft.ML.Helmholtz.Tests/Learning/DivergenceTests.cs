using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Learning;
using Microsoft.ML.Helmholtz.Learning.Optimizers;
using Microsoft.ML.Helmholtz.Learning.Rules;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;
using Microsoft.ML.Helmholtz.Tests.Support;

namespace Microsoft.ML.Helmholtz.Tests.Learning;

/// <summary>
/// A step that blows up, finite or not, is undone exactly and named; what progress reports (and so
/// any checkpoint saved from it) has passed the check; bad rates are refused before anything runs.
/// </summary>
[TestClass]
public sealed class DivergenceTests
{
    private static DataMatrix Data(int rows = 200) => TestModels.BinaryData(rows, 10, 21);

    /// <summary>
    /// Adam, except that from step <paramref name="sabotagedStep"/> on the rate is multiplied by
    /// <paramref name="factor"/>; keeps a copy of the machine's parameters before every step.
    /// </summary>
    private class SabotagedOptimizer(HelmholtzMachine machine, int sabotagedStep, float factor) : IOptimizer
    {
        protected readonly Adam Adam = new();
        public List<float[][]> Before { get; } = [];
        public string Name => "sabotaged adam";
        public bool ClearsGradients => true;

        public void Step(IReadOnlyList<Parameter> parameters, float learningRate) => Adam.Step(parameters, Rate(learningRate));

        protected float Rate(float learningRate)
        {
            Before.Add(TestModels.Snapshot(machine.Parameters));
            return Before.Count - 1 >= sabotagedStep ? learningRate * factor : learningRate;
        }
    }

    /// <summary>The same through the path the built-in optimisers take: the undo copy made by the step's own pass.</summary>
    private sealed class SabotagedKeepingOptimizer(HelmholtzMachine machine, int sabotagedStep, float factor)
        : SabotagedOptimizer(machine, sabotagedStep, factor), IKeepsValuesBeforeStep
    {
        public void Step(IReadOnlyList<Parameter> parameters, float learningRate, StepUndo before)
            => ((IKeepsValuesBeforeStep)Adam).Step(parameters, Rate(learningRate), before);
    }

    /// <summary>Adam that ends the run (as a cancellation would) when asked for step <paramref name="stopAt"/>, before taking it.</summary>
    private class StoppingAdam(int stopAt) : IOptimizer
    {
        protected readonly Adam Adam = new();
        private int _steps;
        public string Name => "stopping adam";
        public bool ClearsGradients => true;

        public void Step(IReadOnlyList<Parameter> parameters, float learningRate)
        {
            Count();
            Adam.Step(parameters, learningRate);
        }

        protected void Count()
        {
            if (_steps++ == stopAt) throw new OperationCanceledException($"stopped before step {stopAt}");
        }
    }

    private sealed class StoppingKeepingAdam(int stopAt) : StoppingAdam(stopAt), IKeepsValuesBeforeStep
    {
        public void Step(IReadOnlyList<Parameter> parameters, float learningRate, StepUndo before)
        {
            Count();
            ((IKeepsValuesBeforeStep)Adam).Step(parameters, learningRate, before);
        }
    }

    /// <summary>
    /// 10 minibatches an epoch; step 24 (epoch 3, minibatch 4) is taken with a rate far too
    /// large (10⁶), or one that overflows every parameter to ±∞/NaN. Either way the step is undone (the
    /// machine holds exactly the parameters from before it), the error names it, and the epochs
    /// reported before (and the checkpoint saved at them) are untouched.
    /// </summary>
    [TestMethod]
    [DataRow("wake-sleep", "10b-6b-3b", 1e6f, false)]
    [DataRow("reinforce", "10b-6b-3b", 1e6f, false)]
    [DataRow("sbp", "10b-6g-3g", 1e6f, false)]
    [DataRow("wake-sleep", "10b-6b-3b", float.MaxValue, false)]
    [DataRow("sbp", "10b-6g-3g", float.MaxValue, false)]
    [DataRow("reinforce", "10b-6b-3b", 1e6f, true)]
    [DataRow("sbp", "10b-6g-3g", float.MaxValue, true)]
    public void AStepThatBlowsUpIsUndoneExactlyAndNamed(string rule, string architecture, float factor, bool keptByTheStep)
    {
        using var temp = new Data.TempDirectory();
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse(architecture), 22);
        SabotagedOptimizer? optimizer = null;
        var options = new TrainingOptions
        {
            Epochs = 5, BatchSize = 20, Seed = 23, LearningRate = new(1e-3),
            Optimizer = () => optimizer = keptByTheStep ? new SabotagedKeepingOptimizer(machine, 24, factor) : new SabotagedOptimizer(machine, 24, factor),
        };
        string checkpoint = temp.File("checkpoint.hm");
        var reported = new List<int>();
        var progress = new SynchronousProgress<EpochReport>(r => { reported.Add(r.Epoch); machine.Save(checkpoint); });
        var e = Assert.ThrowsExactly<TrainingDivergedException>(() => new HelmholtzTrainer(LearningRules.Create(rule), options).Train(machine, Data(), progress: progress));
        Assert.AreEqual(3, e.Epoch, e.Message);
        Assert.AreEqual(4, e.Minibatch, e.Message);
        StringAssert.Contains(e.Message, "The step of epoch 3, minibatch 4 failed");
        StringAssert.Contains(e.Message, "undone");
        TestModels.AssertParameters(optimizer!.Before[24], machine.Parameters, "the machine after the failure");
        Assert.AreEqual(24L, machine.StepsTrained, "the undone step is not counted");
        CollectionAssert.AreEqual(new[] { 1, 2 }, reported);
        var saved = HelmholtzMachine.Load(checkpoint);
        TestModels.AssertParameters(optimizer.Before[20], saved.Parameters, "the checkpoint of epoch 2");
    }

    /// <summary>
    /// With centred inputs (TrainingOptions.CenterInputs) the optimiser steps on b̃ = b + W c. A step that
    /// fails (step 24, as above) is undone to exactly the parameters of the same run stopped before that
    /// step, on both undo paths; and a step not taken because the optimiser threw leaves the biases as
    /// they were. The same run without centring ends elsewhere, so centring was in effect.
    /// </summary>
    [TestMethod]
    [DataRow("reinforce", "10b-6b-3b", false)]
    [DataRow("reinforce", "10b-6b-3b", true)]
    [DataRow("sbp", "10b-6g-3g", true)]
    public void ACentredStepThatFailsIsUndoneExactly(string rule, string architecture, bool keptByTheStep)
    {
        HelmholtzMachine Fresh() => HelmholtzMachine.Create(HelmholtzArchitecture.Parse(architecture), 27);
        HelmholtzTrainer Trainer(Func<IOptimizer> optimizer, bool centred = true)
            => new(LearningRules.Create(rule), new TrainingOptions { Epochs = 5, BatchSize = 20, Seed = 28, LearningRate = new(1e-3), CenterInputs = centred, Optimizer = optimizer });

        var failed = Fresh();
        Assert.ThrowsExactly<TrainingDivergedException>(() => Trainer(() => keptByTheStep
            ? new SabotagedKeepingOptimizer(failed, 24, 1e6f) : new SabotagedOptimizer(failed, 24, 1e6f)).Train(failed, Data()));
        var stopped = Fresh();
        Assert.ThrowsExactly<OperationCanceledException>(() => Trainer(() => keptByTheStep ? new StoppingKeepingAdam(24) : new StoppingAdam(24)).Train(stopped, Data()));
        TestModels.AssertParameters(stopped.Parameters.Select(p => p.Value).ToArray(), failed.Parameters, "the failed run against the run stopped before the failed step");

        var plain = Fresh();
        Assert.ThrowsExactly<OperationCanceledException>(() => Trainer(() => new StoppingAdam(24), centred: false).Train(plain, Data()));
        Assert.IsTrue(plain.Parameters.Zip(stopped.Parameters).Any(pair => !pair.First.Value.SequenceEqual(pair.Second.Value)),
            "24 centred steps should end elsewhere than 24 plain ones");
    }

    /// <summary>The last step of an epoch is checked before the epoch is reported, so a checkpoint saved then never holds it.</summary>
    [TestMethod]
    public void TheLastStepOfAnEpochIsCheckedBeforeTheEpochIsReported()
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 24);
        SabotagedOptimizer? optimizer = null;
        var options = new TrainingOptions { Epochs = 5, BatchSize = 20, Seed = 25, Optimizer = () => optimizer = new(machine, 19, 1e6f) };
        var reported = new List<int>();
        var e = Assert.ThrowsExactly<TrainingDivergedException>(() =>
            new HelmholtzTrainer(new WakeSleep(), options).Train(machine, Data(), progress: new SynchronousProgress<EpochReport>(r => reported.Add(r.Epoch))));
        StringAssert.Contains(e.Message, "The step of epoch 2, minibatch 9 failed");
        StringAssert.Contains(e.Message, "the last minibatch of epoch 2, after the epoch");
        CollectionAssert.AreEqual(new[] { 1 }, reported, "epoch 2 ended with the failed step: it is not reported");
        TestModels.AssertParameters(optimizer!.Before[19], machine.Parameters, "after the failure");
    }

    /// <summary>
    /// An epoch that is not a whole number of minibatches ends with a short fill, which is not trained: it goes into the other of
    /// the trainer's two batches, so the epoch's last step is checked on its own minibatch, not on rows it never saw.
    /// </summary>
    [TestMethod]
    public void AShortLastFillIsNotTrainedNorCheckedInPlaceOfTheLastMinibatch()
    {
        var machine = MachineForZeros();
        var reports = new HelmholtzTrainer(new WakeSleep(), ShortFillOptions).Train(machine, new ZerosThenAShortFillOfOnes(10, 3));
        Assert.HasCount(2, reports);
        Assert.AreEqual(6L, machine.StepsTrained, "three whole minibatches an epoch; the short fill is not trained");

        // The epoch's means are over the rows trained: a source that declares its 79 rows reports what one of unknown length does.
        var declared = new HelmholtzTrainer(new WakeSleep(), ShortFillOptions).Train(MachineForZeros(), new ZerosThenAShortFillOfOnes(10, 3, length: 79));
        for (int e = 0; e < 2; e++)
        {
            Assert.AreEqual(reports[e].TrainFreeEnergy, declared[e].TrainFreeEnergy, $"epoch {e + 1}'s training F");
            Assert.AreEqual(reports[e].TrainObjective, declared[e].TrainObjective, $"epoch {e + 1}'s training objective");
        }

        // A source whose first fill is already short gives no minibatch to train on: refused, naming the epoch.
        var none = Assert.ThrowsExactly<ArgumentException>(() => new HelmholtzTrainer(new WakeSleep(), ShortFillOptions)
            .Train(MachineForZeros(), new ZerosThenAShortFillOfOnes(10, 0)));
        StringAssert.Contains(none.Message, "training data gave no whole minibatch of 20 examples in epoch 1");
    }

    /// <summary>
    /// A run stopped after an epoch's last whole minibatch and resumed passes over the minibatches it trained, the last of them
    /// into the batch the epoch's check reads, so the short fill after it goes into the other: the check (which the fill's ones
    /// would fail) passes, and the resumed run is the one that was not stopped, bit for bit.
    /// </summary>
    [TestMethod]
    public void AResumedRunChecksTheLastMinibatchItPassedOverNotTheShortFillAfterIt()
    {
        var whole = MachineForZeros();
        new HelmholtzTrainer(new WakeSleep(), ShortFillOptions).Train(whole, new ZerosThenAShortFillOfOnes(10, 2));

        var split = MachineForZeros();
        var state = new TrainingState();
        using (var source = new CancellationTokenSource())
        {
            Assert.ThrowsExactly<OperationCanceledException>(() => new HelmholtzTrainer(new WakeSleep(), ShortFillOptions)
                .Train(split, new ZerosThenAShortFillOfOnes(10, 2, cancelAtCall: (2, source)), null, null, source.Token, state));
        }
        Assert.AreEqual(2L, split.StepsTrained, "stopped after the epoch's two whole minibatches, before its fill");
        new HelmholtzTrainer(new WakeSleep(), ShortFillOptions).Train(split, new ZerosThenAShortFillOfOnes(10, 2), null, null, default, state);
        TestModels.AssertParameters(TestModels.Snapshot(whole.Parameters), split.Parameters, "resumed");
    }

    /// <summary>Two epochs of minibatches of 20 under a divergence limit of about 2 F₀ + 10 nats: the zeros pass it, a minibatch of the fill's ones would not.</summary>
    private static TrainingOptions ShortFillOptions => new()
    {
        Epochs = 2, BatchSize = 20, Seed = 29, DivergenceFactor = 1, LearningRate = new LearningRateSchedule(1e-4),
    };

    /// <summary>A machine for <see cref="ZerosThenAShortFillOfOnes"/>: zeros likely, a row of ones about 70 nats.</summary>
    private static HelmholtzMachine MachineForZeros()
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 28);
        machine.InitializeVisibleBiasesFromMeans(Enumerable.Repeat(1e-3, 10).ToArray());
        return machine;
    }

    /// <summary>
    /// Each epoch: <paramref name="wholeBatches"/> minibatches of zeros, then a fill of ones one row short of a minibatch; the
    /// epoch's length is <paramref name="length"/> (null: not known in advance). The token source of <paramref name="cancelAtCall"/>,
    /// if given, is cancelled while it serves that call of its first epoch.
    /// </summary>
    private sealed class ZerosThenAShortFillOfOnes(int columns, int wholeBatches, int? length = null, (int Call, CancellationTokenSource Source)? cancelAtCall = null)
        : IMinibatchSource
    {
        private int _calls, _epochs;
        public int Columns => columns;
        public int? Rows => length;
        public void BeginEpoch(RandomStream random) => (_calls, _epochs) = (0, _epochs + 1);

        public int NextBatch(Span<float> destination, int rows)
        {
            _calls++;
            if (_epochs == 1 && cancelAtCall is { } cancel && cancel.Call == _calls) cancel.Source.Cancel();
            if (_calls <= wholeBatches)
            {
                destination[..(rows * columns)].Clear();
                return rows;
            }
            if (_calls > wholeBatches + 1) return 0;
            destination[..((rows - 1) * columns)].Fill(1f);
            return rows - 1;
        }
    }

    /// <summary>With one minibatch and one epoch, the only step is checked too: no NaN model comes back, and the machine is as it was given.</summary>
    [TestMethod]
    [DataRow(1e6f)]
    [DataRow(float.MaxValue)]
    public void AOneStepRunDoesNotReturnABrokenModel(float factor)
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6g-3g"), 26);
        float[][] given = TestModels.Snapshot(machine.Parameters);
        var options = new TrainingOptions { Epochs = 1, BatchSize = 20, Optimizer = () => new SabotagedOptimizer(machine, 0, factor) };
        var e = Assert.ThrowsExactly<TrainingDivergedException>(() => new HelmholtzTrainer(new StochasticBackpropagation(), options).Train(machine, Data(20)));
        StringAssert.Contains(e.Message, "the machine is as it was when the run started");
        TestModels.AssertParameters(given, machine.Parameters, "after the failed only step (visible biases included)");
        Assert.AreEqual(0L, machine.StepsTrained);
    }

    [TestMethod]
    public void AMachineWhoseFreeEnergyIsNotFiniteIsRefusedUnchanged()
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("3gl-2g"), 27);
        float[][] given = TestModels.Snapshot(machine.Parameters);
        var data = new DataMatrix(4, 3, [1e30f, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1]);   // (1e30)² overflows float
        var e = Assert.ThrowsExactly<TrainingDivergedException>(() =>
            new HelmholtzTrainer(new StochasticBackpropagation(), new TrainingOptions { Epochs = 1, BatchSize = 4 }).Train(machine, data));
        StringAssert.Contains(e.Message, "The free energy of the machine as given is");
        TestModels.AssertParameters(given, machine.Parameters, "refused");
    }

    [TestMethod]
    public void RatesAreCheckedInTheSinglePrecisionTheyAreUsedIn()
    {
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new LearningRateSchedule(1e39)).Message, "single precision");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new LearningRateSchedule(1e-50)).Message, "zero in single precision");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new LearningRateSchedule(double.NaN));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new LearningRateSchedule(1e-3, double.NaN));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new LearningRateSchedule(1e-3, 0.9, double.NaN));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new LearningRateSchedule(1e-3, 0.9, 1e-2));
        var schedule = new LearningRateSchedule(1e-3, 0.9, 1e-4);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => schedule with { Minimum = double.NaN });
        var raised = schedule with { Minimum = 1e-2 };   // each bound alone is fine; together they are not
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b"), 28);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new HelmholtzTrainer(new WakeSleep(), new TrainingOptions { LearningRate = raised }).Train(machine, Data()));
        // The schedule's own At refuses it too, as it promises, instead of giving the floor as the rate of every epoch.
        var at = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => raised.At(0));
        Assert.AreEqual(nameof(LearningRateSchedule.Minimum), at.ParamName);
        StringAssert.Contains(at.Message, "exceeds the initial rate");
        Assert.AreEqual(1e-3, schedule.At(0), 1e-12);
        Assert.AreEqual(1e-4, schedule.At(1000), 1e-12);

        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Adam(beta1: float.NaN));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Adam(epsilon: float.PositiveInfinity));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new SgdMomentum(float.NaN));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Reinforce(new ReinforceOptions { BaselineDecay = double.NaN }));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Reinforce(new ReinforceOptions { VarianceDecay = double.NaN }));
        foreach (double factor in new[] { double.NaN, 0, -1 })
            Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new HelmholtzTrainer(new WakeSleep(), new TrainingOptions { DivergenceFactor = factor }).Train(machine, Data()));
        Assert.AreEqual(0L, machine.StepsTrained);
    }

    /// <summary>Adam whose step <paramref name="sabotagedStep"/> takes the rate times <paramref name="factor"/>, after which it cancels <paramref name="cancellation"/> (if any).</summary>
    private sealed class CancelAfterSabotage(int sabotagedStep, float factor, CancellationTokenSource? cancellation) : IOptimizer
    {
        private readonly Adam _adam = new();
        private int _steps;
        public string Name => "adam";
        public bool ClearsGradients => true;

        public void Step(IReadOnlyList<Parameter> parameters, float learningRate)
        {
            int n = _steps++;
            _adam.Step(parameters, n == sabotagedStep ? learningRate * factor : learningRate);
            if (n == sabotagedStep) cancellation?.Cancel();
        }
    }

    /// <summary>
    /// A run cancelled right after a step that blew up checks that step before it stops, and undoes it as the uncancelled
    /// run does: it once stopped with the unchecked step kept (a machine the MNIST sample then saved and scored), and a run
    /// resumed from its state took the blown-up free energy as its reference.
    /// </summary>
    [TestMethod]
    [DataRow(1e6f)]
    [DataRow(float.MaxValue)]
    public void ARunCancelledAfterAStepThatBlewUpUndoesIt(float factor)
    {
        var uncancelled = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 22);
        var machine = uncancelled.Clone();
        TrainingOptions Options(CancellationTokenSource? cancellation) => new()
        {
            Epochs = 3, BatchSize = 20, Seed = 23, Optimizer = () => new CancelAfterSabotage(14, factor, cancellation),
        };
        Assert.ThrowsExactly<TrainingDivergedException>(() => new HelmholtzTrainer(new WakeSleep(), Options(null)).Train(uncancelled, Data()));
        using var cancellation = new CancellationTokenSource();
        var state = new TrainingState();
        var e = Assert.ThrowsExactly<TrainingDivergedException>(() => new HelmholtzTrainer(new WakeSleep(), Options(cancellation))
            .Train(machine, Data(), cancellationToken: cancellation.Token, state: state));
        StringAssert.Contains(e.Message, "The step of epoch 2, minibatch 4 failed");
        StringAssert.Contains(e.Message, "when the run was cancelled");
        Assert.AreEqual(14L, machine.StepsTrained, "the step undone");
        Assert.AreEqual(uncancelled.StepsTrained, machine.StepsTrained);
        TestModels.AssertParameters(uncancelled.Parameters, machine.Parameters);
    }

    /// <summary>
    /// The free energy that fails a step's check was measured by the rule on the next minibatch, which its running baselines
    /// and variances had already learned from (NVIL's baselines stood at 4·10³⁵): undoing the step takes that back, so the same
    /// rule given a lower rate goes on from what it knew before, as after the minibatch before.
    /// </summary>
    [TestMethod]
    [DataRow("nvil")]
    [DataRow("reinforce")]
    public void AnUndoneStepTakesBackWhatItsMeasureTaughtTheRule(string name)
    {
        IReadOnlyList<double> Estimates(ILearningRule rule) => rule is Nvil nvil ? nvil.Baselines : [((Reinforce)rule).Baseline];
        ILearningRule diverged = LearningRules.Create(name), stopped = LearningRules.Create(name);
        var options = new TrainingOptions { Epochs = 3, BatchSize = 20, Seed = 23, Optimizer = () => new CancelAfterSabotage(14, float.MaxValue, null) };
        Assert.ThrowsExactly<TrainingDivergedException>(() => new HelmholtzTrainer(diverged, options)
            .Train(HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 22), Data()));
        // The same run stopped when asked for the sabotaged step: its rule has learned from the minibatches up to that step's.
        var stopping = new TrainingOptions { Epochs = 3, BatchSize = 20, Seed = 23, Optimizer = () => new StoppingAdam(14) };
        Assert.ThrowsExactly<OperationCanceledException>(() => new HelmholtzTrainer(stopped, stopping)
            .Train(HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 22), Data()));
        CollectionAssert.AreEqual(Estimates(stopped).ToArray(), Estimates(diverged).ToArray(), $"{name}'s running baselines");
        Assert.IsTrue(Estimates(diverged).All(b => Math.Abs(b) < 1e3), string.Join(", ", Estimates(diverged)));
    }

    /// <summary>
    /// Taking back the rule's first measure leaves it as a new rule: not started, so that its next batch starts the running
    /// baselines at that batch's mean again (a rule that forgot it had not started moved its restored baselines of 0 a tenth of
    /// the way towards that mean). Compared bit for bit with a fresh rule given the same batch and stream, also where the estimates
    /// were kept before the rule was prepared (NVIL's undo then did nothing: its kept estimates had not been sized).
    /// </summary>
    [TestMethod]
    [DataRow("nvil", false)]
    [DataRow("reinforce", false)]
    [DataRow("nvil", true)]
    [DataRow("reinforce", true)]
    public void TakingBackTheFirstMeasureLeavesTheRuleAsNew(string name, bool keptBeforePrepare)
    {
        IReadOnlyList<double> Estimates(ILearningRule rule) => rule is Nvil nvil ? nvil.Baselines : [((Reinforce)rule).Baseline];
        var machine = TestModels.Random("10b-6b-3b", 24, scale: 0.7f);
        const int rows = 20;
        ILearningRule undone = LearningRules.Create(name), fresh = LearningRules.Create(name);
        var estimates = (IUndoableRunningEstimates)undone;
        // The trainer prepares the rule before it keeps the estimates; one that keeps them first (NVIL's were not sized yet) gets the same.
        if (keptBeforePrepare) estimates.KeepForUndo();
        undone.Prepare(machine, rows);
        fresh.Prepare(machine, rows);
        if (!keptBeforePrepare) estimates.KeepForUndo();
        undone.AccumulateGradients(machine, TestModels.RandomStates(machine.Architecture, rows, 25), rows, new RandomStream(26));
        estimates.UndoLastUpdate();
        var retry = TestModels.RandomStates(machine.Architecture, rows, 27);
        undone.AccumulateGradients(machine, retry, rows, new RandomStream(28));
        fresh.AccumulateGradients(machine, TestModels.RandomStates(machine.Architecture, rows, 27), rows, new RandomStream(28));
        CollectionAssert.AreEqual(Estimates(fresh).ToArray(), Estimates(undone).ToArray(), $"{name}'s running baselines");
        // The variances too: an NVIL undone before its estimates were sized kept the first measure's variances, not the prepared 1s.
        RuleStates.AssertSame(RuleStates.Of(fresh, machine.Parameters), RuleStates.Of(undone, machine.Parameters), $"{name}'s whole state");
    }

    /// <summary>
    /// Taking back a later measure (not the first) puts back every running estimate the rule keeps, variances and all: the rule's
    /// whole saved state after the undo is, bit for bit, the one it had before that measure.
    /// </summary>
    [TestMethod]
    [DataRow("nvil")]
    [DataRow("reinforce")]
    public void TakingBackALaterMeasurePutsBackEveryRunningEstimate(string name)
    {
        var machine = TestModels.Random("10b-6b-3b", 29, scale: 0.7f);
        const int rows = 20;
        ILearningRule rule = LearningRules.Create(name);
        var estimates = (IUndoableRunningEstimates)rule;
        rule.Prepare(machine, rows);
        rule.AccumulateGradients(machine, TestModels.RandomStates(machine.Architecture, rows, 30), rows, new RandomStream(31));
        StateSection before = RuleStates.Of(rule, machine.Parameters);
        estimates.KeepForUndo();
        rule.AccumulateGradients(machine, TestModels.RandomStates(machine.Architecture, rows, 32), rows, new RandomStream(33));
        StateSection after = RuleStates.Of(rule, machine.Parameters);
        int signals = name == "nvil" ? 3 : 1;   // NVIL: one per layer of 10b-6b-3b and the unused 0th; REINFORCE: one
        CollectionAssert.AreNotEqual(before.ReadDoubles("variances", signals).ToArray(), after.ReadDoubles("variances", signals).ToArray(), "the second measure moves the variances");
        estimates.UndoLastUpdate();
        RuleStates.AssertSame(before, RuleStates.Of(rule, machine.Parameters), name);
    }

    /// <summary>
    /// NVIL whose measure number <paramref name="poisoned"/> leaves a gradient that is not finite (its free energy stays finite), in
    /// the last element of the machine's parameter number <paramref name="parameter"/>.
    /// </summary>
    private sealed class PoisonedGradientNvil(int poisoned, int parameter = 0) : ILearningRule, IUndoableRunningEstimates
    {
        public readonly Nvil Inner = new();
        private int _measures;
        public double[]? BaselinesBefore { get; private set; }
        public float[][]? MachineBefore { get; private set; }
        public string Name => Inner.Name;
        public string Objective => Inner.Objective;
        public int SamplesPerExample => Inner.SamplesPerExample;
        public IReadOnlyList<Parameter> Parameters => Inner.Parameters;
        public string? Unsupported(HelmholtzArchitecture architecture) => Inner.Unsupported(architecture);
        public void Prepare(HelmholtzMachine machine, int batchCapacity) => Inner.Prepare(machine, batchCapacity);
        public void KeepForUndo() => Inner.KeepForUndo();
        public void UndoLastUpdate() => Inner.UndoLastUpdate();

        public BatchLoss AccumulateGradients(HelmholtzMachine machine, TrainingBatch batch)
        {
            if (_measures == poisoned) (BaselinesBefore, MachineBefore) = (Inner.Baselines.ToArray(), TestModels.Snapshot(machine.Parameters));
            BatchLoss loss = Inner.AccumulateGradients(machine, batch);
            if (_measures++ == poisoned) machine.Parameters[parameter].Gradient[^1] = float.NaN;
            return loss;
        }
    }

    /// <summary>
    /// A step refused for a gradient that is not finite takes back what the rule's measure of its minibatch taught the running
    /// baselines, as a step undone for its free energy does (it once kept them), and advises by whether a step was taken: before the
    /// run's first, the learning rate played no part. The message names the parameter that holds the value, not the first.
    /// </summary>
    [TestMethod]
    [DataRow(0, 0)]
    [DataRow(7, 0)]
    [DataRow(7, 3)]
    public void AGradientNotFiniteIsRefusedWithTheRulesEstimatesTakenBack(int poisoned, int parameter)
    {
        var rule = new PoisonedGradientNvil(poisoned, parameter);
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 22);
        float[][] given = TestModels.Snapshot(machine.Parameters);
        var e = Assert.ThrowsExactly<TrainingDivergedException>(() => new HelmholtzTrainer(rule, new TrainingOptions { Epochs = 3, BatchSize = 20, Seed = 23 })
            .Train(machine, Data()));
        StringAssert.Contains(e.Message, $"the gradient of {machine.Parameters[parameter].Name} is not finite");
        if (poisoned == 0)
        {
            StringAssert.Contains(e.Message, "Check its parameters");
            Assert.DoesNotContain("learning rate", e.Message);
        }
        else StringAssert.Contains(e.Message, "Lower the learning rate");
        Assert.IsNotNull(rule.BaselinesBefore);
        CollectionAssert.AreEqual(rule.BaselinesBefore, rule.Inner.Baselines.ToArray(), "the running baselines after the refused step");
        // The refused step was never taken: after earlier steps the machine keeps them (after step 7, not put back to step 6), bit for
        // bit; before the first, it is the machine as given (its data-based visible biases undone).
        TestModels.AssertParameters(poisoned == 0 ? given : rule.MachineBefore!, machine.Parameters, "after the refused step");
    }

    /// <summary>
    /// The divergence limit is F₀ + factor · (|F₀| + D): above F₀ by the factor times F₀'s size, whatever its sign. A machine
    /// of real-valued units can start below 0 nats (densities), where F₀ + factor · (F₀ + D) would put the limit below F₀ itself
    /// and fail the first step that did not lower the free energy. Exact: the same double operations.
    /// </summary>
    [TestMethod]
    [DataRow(-200.0, 10.0, 50, 2300.0)]
    [DataRow(-30.0, 0.5, 10, -10.0)]
    [DataRow(120.0, 2.0, 10, 380.0)]
    [DataRow(0.0, 10.0, 784, 7840.0)]
    public void TheDivergenceLimitIsAboveTheFirstFreeEnergyWhateverItsSign(double first, double factor, int visible, double limit)
    {
        Assert.AreEqual(limit, TrainingOptions.DivergenceLimit(first, factor, visible));
        Assert.IsTrue(TrainingOptions.DivergenceLimit(first, factor, visible) > first);
    }

    /// <summary>
    /// A run split in two through its training state has the unbroken run's divergence limit: F₀ travels in the state (and its
    /// file). The resumed half once built its limit from its own first minibatch, lower, and failed a step the whole run kept.
    /// </summary>
    [TestMethod]
    public void ASplitRunHasTheWholeRunsDivergenceLimit()
    {
        var train = TestModels.BinaryData(120, 10, 61);
        TrainingOptions Options(int epochs, int first) => new()
        {
            Epochs = epochs, BatchSize = 20, Seed = 63, LearningRate = new LearningRateSchedule(0.01), FirstScheduleEpoch = first,
            DivergenceFactor = 0.005, InitializeVisibleBiases = false,
        };
        var whole = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 64);
        new HelmholtzTrainer(LearningRules.Create("nvil"), Options(6, 0)).Train(whole, train, state: new TrainingState());
        var split = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 64);
        var state = new TrainingState();
        new HelmholtzTrainer(LearningRules.Create("nvil"), Options(3, 0)).Train(split, train, state: state);
        Assert.IsTrue(double.IsFinite(state.DivergenceReference), "the state carries F₀");
        // Through the file, as the MNIST sample resumes.
        using var file = new MemoryStream();
        state.Save(file);
        file.Position = 0;
        var loaded = TrainingState.Load(file);
        Assert.AreEqual(state.DivergenceReference, loaded.DivergenceReference);
        new HelmholtzTrainer(LearningRules.Create("nvil"), Options(3, loaded.ScheduleEpoch)).Train(split, train, state: loaded);
        TestModels.AssertParameters(whole.Parameters, split.Parameters);

        // A machine past the carried limit before the resumed run's first step is refused as given, unchanged. Its state is of format
        // version 2, which knows its machine by the step count alone (a state of version 3 refuses a machine changed since).
        var recorded = new TrainingState();
        var broken = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 64);
        new HelmholtzTrainer(LearningRules.Create("nvil"), Options(1, 0)).Train(broken, train, state: recorded);
        var state2 = StateFileBytes.AsVersion2(recorded);
        foreach (Parameter p in broken.Generative.Parameters) for (int i = 0; i < p.Value.Length; i++) p.Value[i] *= 40;
        float[][] before = TestModels.Snapshot(broken.Parameters);
        var e = Assert.ThrowsExactly<TrainingDivergedException>(() => new HelmholtzTrainer(LearningRules.Create("nvil"), Options(1, 1)).Train(broken, train, state: state2));
        StringAssert.Contains(e.Message, "The free energy of the machine as given is");
        StringAssert.Contains(e.Message, "that the training state carries from the run that recorded it (TrainingOptions.DivergenceFactor)");
        TestModels.AssertParameters(before, broken.Parameters);
    }
}
