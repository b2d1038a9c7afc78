using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Learning;
using Microsoft.ML.Helmholtz.Learning.Optimizers;
using Microsoft.ML.Helmholtz.Learning.Rules;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;
using Microsoft.ML.Helmholtz.Temporal;
using Microsoft.ML.Helmholtz.Tests.Support;

namespace Microsoft.ML.Helmholtz.Tests.Learning;

[TestClass]
/// <summary>
/// A resume that fails with no step holding leaves the rule as the run prepared it, not with the training state's estimates:
/// a failure before the first step, or a first step undone, in both trainers.
/// </summary>
public sealed class ResumeRuleUndoTests
{
    private static readonly DataMatrix Train = TestModels.BinaryData(120, 10, 61);

    private static TrainingOptions Options(int epochs, double rate) => new()
    {
        Epochs = epochs,
        BatchSize = 20,
        Seed = 63,
        LearningRate = new LearningRateSchedule(rate, 1, Math.Min(rate, 0.001)),
        Optimizer = () => new Adam(),
    };

    /// <summary>
    /// A state recorded by NVIL or REINFORCE with an input-dependent baseline, resumed by the same rule without one, is refused
    /// naming the baseline's entry, before any step: the rule dropped the baseline's weights without a word. Adam's and SGD's
    /// sections refuse such a state first (its parameters differ), so the run here has an optimiser that keeps no state.
    /// </summary>
    [TestMethod]
    public void AStateWithAnInputBaselineIsRefusedByTheRuleWithout()
    {
        (Func<ILearningRule> With, Func<ILearningRule> Without)[] rules =
        [
            (() => new Nvil(), () => new Nvil(new NvilOptions { InputBaselineHiddenUnits = 0 })),
            (() => new Reinforce(), () => new Reinforce(new ReinforceOptions { InputBaselineHiddenUnits = 0 })),
        ];
        foreach (var (with, without) in rules)
        {
            TrainingOptions options = Options(1, 0.01);
            options.Optimizer = () => new Stateless();
            var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 71);
            var state = new TrainingState();
            ILearningRule recorder = with();
            new HelmholtzTrainer(recorder, options).Train(machine, Train, state: state);
            float[][] before = TestModels.Snapshot(machine.Parameters);
            ILearningRule rule = without();
            // The state names the rule's settings: refused before anything is restored.
            var settings = Assert.ThrowsExactly<ArgumentException>(() => new HelmholtzTrainer(rule, options).Train(machine, Train, state: state), rule.Name);
            Assert.AreEqual("state", settings.ParamName);
            StringAssert.Contains(settings.Message, "input baseline of 100 hidden units", rule.Name);
            StringAssert.Contains(settings.Message, "but this run's has 'baseline decay 0.9, input baseline of 0 hidden units", rule.Name);
            // A state of version 3 recorded no settings: the rule's restore finds the entry it does not keep.
            TrainingState older = StateFileBytes.AsVersion3(state);
            var e = Assert.ThrowsExactly<InvalidDataException>(() => new HelmholtzTrainer(rule, options).Train(machine, Train, state: older), rule.Name);
            StringAssert.Contains(e.Message, "which this rule does not keep", rule.Name);
            StringAssert.Contains(e.Message, $"holds '{recorder.Parameters[0].Name}'", rule.Name);
            TestModels.AssertParameters(before, machine.Parameters, rule.Name);
            // The rule's own state resumes.
            var own = new TrainingState();
            var other = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 71);
            new HelmholtzTrainer(without(), options).Train(other, Train, state: own);
            new HelmholtzTrainer(without(), options).Train(other, Train, state: own);
            Assert.AreEqual(2 * (Train.Rows / 20), other.StepsTrained, rule.Name);
        }
    }

    /// <summary>Plain gradient descent that keeps no state (not <see cref="IResumable"/>), as an application's optimiser may.</summary>
    private sealed class Stateless : IOptimizer
    {
        public string Name => "stateless";

        public void Step(IReadOnlyList<Parameter> parameters, float learningRate)
        {
            foreach (Parameter p in parameters)
                for (int i = 0; i < p.Length; i++) p.Value[i] -= learningRate * p.Gradient[i];
        }
    }

    /// <summary>
    /// A resumed run whose only step fails is undone to "the machine as it was when the run started", and the rule with it (the
    /// rule kept the state's estimates when the trainer asked whether a step had been taken, which counts an undone one).
    /// </summary>
    [TestMethod]
    public void AResumeWhoseOnlyStepIsUndoneLeavesTheRuleAsGiven()
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 71);
        var state = new TrainingState();
        new HelmholtzTrainer(LearningRules.Create("nvil"), Options(2, 0.01)).Train(machine, Train, state: state);

        var prepared = LearningRules.Create("nvil");
        prepared.Prepare(machine, 20);
        StateSection before = RuleStates.Of(prepared, machine.Parameters);
        float[][] parameters = TestModels.Snapshot(machine.Parameters);

        var rule = LearningRules.Create("nvil");
        var e = Assert.ThrowsExactly<TrainingDivergedException>(() => new HelmholtzTrainer(rule, Options(1, 1e4)).Train(machine, Train, state: state));
        StringAssert.Contains(e.Message, "the machine is as it was when the run started");
        TestModels.AssertParameters(parameters, machine.Parameters);
        RuleStates.AssertSame(before, RuleStates.Of(rule, machine.Parameters));
    }

    /// <summary>
    /// A rule's running estimates in a training state are read back only when they fit: a baseline that is not finite, or a
    /// variance that is negative or not finite, or an input-dependent baseline's weight that is not finite, is refused with
    /// <see cref="InvalidDataException"/> before the rule changes.
    /// </summary>
    [TestMethod]
    [DataRow("nvil", "baselines", double.NaN)]
    [DataRow("nvil", "baselines", double.PositiveInfinity)]
    [DataRow("reinforce", "baselines", double.NegativeInfinity)]
    [DataRow("nvil", "variances", -1.0)]
    [DataRow("reinforce", "variances", -1e-12)]   // any negative variance, however small, not only one of −1 or below
    [DataRow("reinforce", "variances", double.NaN)]
    [DataRow("reinforce", "variances", double.PositiveInfinity)]
    [DataRow("reinforce", "baseline.hidden.W", double.NaN)]
    [DataRow("nvil", "nvil.baseline.2.output.b", double.PositiveInfinity)]
    public void ARunningEstimateThatDoesNotFitIsRefused(string name, string entry, double value)
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 72);
        var rule = LearningRules.Create(name);
        rule.AccumulateGradients(machine, TestModels.RandomStates(machine.Architecture, 20, 73), 20, new RandomStream(74));
        StateSection before = RuleStates.Of(rule, machine.Parameters);
        StateSection tampered = WithLastValue(before, entry, value);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => ((IResumable)rule).RestoreState(tampered, machine.Parameters));
        StringAssert.Contains(e.Message, "finite");
        RuleStates.AssertSame(before, RuleStates.Of(rule, machine.Parameters));
    }

    /// <summary>
    /// A state holding an entry the rule does not keep (another rule's, or the rule's with an input-dependent baseline) is refused
    /// before anything is taken back: the rule keeps the running estimates it had, not the refused state's baselines, variances and
    /// started flag (a restore that took those first and refused after left the rule half-restored by a restore that failed).
    /// </summary>
    [TestMethod]
    [DataRow("nvil")]
    [DataRow("reinforce")]
    public void AStateWithAnEntryTheRuleDoesNotKeepLeavesTheRuleAsItWas(string name)
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 72);
        ILearningRule rule = TestModels.RuleWithoutInputBaseline(name, normalizeVariance: true);
        rule.AccumulateGradients(machine, TestModels.RandomStates(machine.Architecture, 20, 73), 20, new RandomStream(74));
        StateSection before = RuleStates.Of(rule, machine.Parameters);
        int signals = name == "nvil" ? 3 : 1;   // NVIL: one per layer of 10b-6b-3b and the unused 0th
        var other = new StateSection("another run's rule");
        other.Write("baselines", Enumerable.Repeat(5.0, signals).ToArray());
        other.Write("variances", Enumerable.Repeat(2.0, signals).ToArray());
        other.Write("started", 1);
        other.Write("baseline.hidden.W", new float[10 * 8]);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => ((IResumable)rule).RestoreState(other, machine.Parameters));
        StringAssert.Contains(e.Message, "holds 'baseline.hidden.W', which this rule does not keep");
        RuleStates.AssertSame(before, RuleStates.Of(rule, machine.Parameters));
    }

    /// <summary>A copy of a rule's state with the last value of <paramref name="entry"/> set to <paramref name="value"/>.</summary>
    private static StateSection WithLastValue(StateSection state, string entry, double value)
    {
        var edited = new StateSection("the edited rule");
        foreach (var (n, values) in state.Entries)
        {
            if (values is float[] f)
            {
                float[] copy = (float[])f.Clone();
                if (n == entry) copy[^1] = (float)value;
                edited.Write(n, copy);
            }
            else
            {
                double[] d = (double[])((double[])values).Clone();
                if (n == entry) d[^1] = value;
                edited.Write(n, d);
            }
        }
        return edited;
    }

    /// <summary>
    /// A running variance of 0 fits (a batch whose signals were all 0, with a variance decay of 0): a state holding one is taken
    /// back whole, the baselines with it.
    /// </summary>
    [TestMethod]
    [DataRow("nvil")]
    [DataRow("reinforce")]
    public void ARunningVarianceOfZeroIsTakenBack(string name)
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 72);
        var rule = LearningRules.Create(name);
        rule.AccumulateGradients(machine, TestModels.RandomStates(machine.Architecture, 20, 73), 20, new RandomStream(74));
        StateSection edited = WithLastValue(RuleStates.Of(rule, machine.Parameters), "variances", 0);
        ((IResumable)rule).RestoreState(edited, machine.Parameters);
        RuleStates.AssertSame(edited, RuleStates.Of(rule, machine.Parameters));
    }

    /// <summary>
    /// A training state recorded before the rule's first measure says it had not started: a rule that had started (it measured a
    /// batch) and takes that state back starts again, its next batch starting the running baselines at that batch's mean, as a
    /// fresh rule's does (a rule that took the state as started moved its restored baselines of 0 a tenth of the way towards it).
    /// Compared bit for bit with a fresh rule given the same batch and stream.
    /// </summary>
    [TestMethod]
    [DataRow("nvil")]
    [DataRow("reinforce")]
    public void AStateRecordedBeforeTheFirstMeasureIsTakenBackAsNotStarted(string name)
    {
        var machine = TestModels.Random("10b-6b-3b", 34, scale: 0.7f);
        const int rows = 20;
        ILearningRule unstarted = LearningRules.Create(name), resumed = LearningRules.Create(name), fresh = LearningRules.Create(name);
        unstarted.Prepare(machine, rows);
        StateSection notStarted = RuleStates.Of(unstarted, machine.Parameters);
        Assert.AreEqual(0.0, notStarted.ReadDouble("started"), "the premise: the state was recorded before any measure");
        resumed.Prepare(machine, rows);
        resumed.AccumulateGradients(machine, TestModels.RandomStates(machine.Architecture, rows, 35), rows, new RandomStream(36));
        ((IResumable)resumed).RestoreState(notStarted, machine.Parameters);
        fresh.Prepare(machine, rows);
        double loss = resumed.AccumulateGradients(machine, TestModels.RandomStates(machine.Architecture, rows, 37), rows, new RandomStream(38));
        fresh.AccumulateGradients(machine, TestModels.RandomStates(machine.Architecture, rows, 37), rows, new RandomStream(38));
        RuleStates.AssertSame(RuleStates.Of(fresh, machine.Parameters), RuleStates.Of(resumed, machine.Parameters), name);
        IReadOnlyList<double> baselines = resumed is Nvil nvil ? nvil.Baselines : [((Reinforce)resumed).Baseline];
        Assert.AreEqual(loss, baselines[0], 1e-12 * Math.Abs(loss), "the lowest layer's baseline starts at the batch's mean F̂");
    }

    /// <summary>A rule that delegates to a built-in one, failing its first measure when asked (an allocation, a rule bug).</summary>
    private sealed class FailingRule(ILearningRule inner) : ILearningRule, IResumable, IUndoableRunningEstimates
    {
        public bool Fail, FailRestoringPartWay, FailGivingBack;
        private int _restores;
        public string Name => inner.Name;
        public string Settings => inner.Settings;
        public string Objective => inner.Objective;
        public int SamplesPerExample => inner.SamplesPerExample;
        public IReadOnlyList<Parameter> Parameters => inner.Parameters;
        public string? Unsupported(HelmholtzArchitecture architecture) => inner.Unsupported(architecture);
        public string? UnsupportedConditioning => inner.UnsupportedConditioning;
        public void Prepare(HelmholtzMachine machine, int batchCapacity) => inner.Prepare(machine, batchCapacity);
        public BatchLoss AccumulateGradients(HelmholtzMachine machine, TrainingBatch batch)
            => Fail ? throw new InvalidOperationException("injected") : inner.AccumulateGradients(machine, batch);
        public void SaveState(StateSection section, IReadOnlyList<Parameter> parameters) => ((IResumable)inner).SaveState(section, parameters);
        public void RestoreState(StateSection section, IReadOnlyList<Parameter> parameters)
        {
            // The first restore takes the training state's estimates; a second gives back what the rule knew before.
            if (++_restores > 1 && FailGivingBack) throw new IOException("injected: the rule cannot take back what it knew");
            ((IResumable)inner).RestoreState(section, parameters);
            if (FailRestoringPartWay)
            {
                FailRestoringPartWay = false;
                throw new InvalidDataException("injected after the estimates were taken");
            }
        }
        public void KeepForUndo() => ((IUndoableRunningEstimates)inner).KeepForUndo();
        public void UndoLastUpdate() => ((IUndoableRunningEstimates)inner).UndoLastUpdate();
    }

    /// <summary>HelmholtzTrainer: a resume whose rule fails before the first step gives the rule back.</summary>
    [TestMethod]
    public void FrameTrainerGivesTheRuleBackWhenTheFirstMeasureFails()
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 71);
        var state = new TrainingState();
        new HelmholtzTrainer(LearningRules.Create("nvil"), Options(2, 0.01)).Train(machine, Train, state: state);
        var rule = new FailingRule(LearningRules.Create("nvil")) { Fail = true };
        rule.Prepare(machine, 20);
        StateSection before = RuleStates.Of(rule, machine.Parameters);
        Assert.ThrowsExactly<InvalidOperationException>(() => new HelmholtzTrainer(rule, Options(1, 0.01)).Train(machine, Train, state: state));
        RuleStates.AssertSame(before, RuleStates.Of(rule, machine.Parameters));
    }

    /// <summary>TemporalTrainer: the same failure gives the rule back too (it kept the state's estimates).</summary>
    [TestMethod]
    public void TemporalTrainerGivesTheRuleBackWhenTheFirstMeasureFails()
    {
        var random = new RandomStream(5);
        var data = new SequenceSet(16, 4, 1, 8, Enumerable.Range(0, 16 * 4 * 8).Select(_ => random.NextDouble() < 0.3 ? 1f : 0f).ToArray());
        var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("8b-6b"), 5, 63);
        TemporalTrainingOptions Opt(int epochs) => new() { Epochs = epochs, BatchSequences = 8, LearningRate = new LearningRateSchedule(0.01, 1, 0.001), Seed = 62 };
        var state = new TrainingState();
        new TemporalTrainer(LearningRules.Create("nvil"), Opt(2)).Train(model, data, state: state);

        var rule = new FailingRule(LearningRules.Create("nvil")) { Fail = true };
        var parameters = model.Parameters.Concat(rule.Parameters).ToArray();
        rule.Prepare(model.Machine, 8 * 4);
        StateSection before = RuleStates.Of(rule, parameters);
        Assert.ThrowsExactly<InvalidOperationException>(() => new TemporalTrainer(rule, Opt(1)).Train(model, data, state: state));
        RuleStates.AssertSame(before, RuleStates.Of(rule, parameters));
    }

    /// <summary>A rule whose RestoreState fails after it has taken part of the state is given back what it knew.</summary>
    [TestMethod]
    public void ARuleThatFailsPartWayThroughItsRestoreIsGivenBackWhatItKnew()
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 71);
        var state = new TrainingState();
        new HelmholtzTrainer(LearningRules.Create("nvil"), Options(2, 0.01)).Train(machine, Train, state: state);
        var rule = new FailingRule(LearningRules.Create("nvil")) { FailRestoringPartWay = true };
        rule.Prepare(machine, 20);
        StateSection before = RuleStates.Of(rule, machine.Parameters);
        Assert.ThrowsExactly<InvalidDataException>(() => new HelmholtzTrainer(rule, Options(1, 0.01)).Train(machine, Train, state: state));
        RuleStates.AssertSame(before, RuleStates.Of(rule, machine.Parameters));
    }

    /// <summary>
    /// When the rule cannot take back what it knew either (an application's RestoreState that throws), the run's own
    /// failure stays the one thrown, the rule's recorded in its Data under TrainingState.RuleNotGivenBackKey: a failure
    /// before the first step in both trainers, and a restore that failed part-way.
    /// </summary>
    [TestMethod]
    public void WhenTheRuleCannotTakeBackWhatItKnewTheRunsFailureIsStillTheOneThrown()
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 71);
        var state = new TrainingState();
        new HelmholtzTrainer(LearningRules.Create("nvil"), Options(2, 0.01)).Train(machine, Train, state: state);
        void AssertRecorded(Exception e)
        {
            var given = e.Data[TrainingState.RuleNotGivenBackKey] as IOException;
            Assert.IsNotNull(given, "the rule's failure is recorded on the run's");
            StringAssert.Contains(given.Message, "cannot take back");
        }

        var failing = new FailingRule(LearningRules.Create("nvil")) { Fail = true, FailGivingBack = true };
        failing.Prepare(machine, 20);
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => new HelmholtzTrainer(failing, Options(1, 0.01)).Train(machine, Train, state: state));
        Assert.AreEqual("injected", e.Message);
        AssertRecorded(e);

        var partWay = new FailingRule(LearningRules.Create("nvil")) { FailRestoringPartWay = true, FailGivingBack = true };
        partWay.Prepare(machine, 20);
        var restore = Assert.ThrowsExactly<InvalidDataException>(() => new HelmholtzTrainer(partWay, Options(1, 0.01)).Train(machine, Train, state: state));
        StringAssert.Contains(restore.Message, "injected after the estimates were taken");
        AssertRecorded(restore);

        var random = new RandomStream(5);
        var data = new SequenceSet(16, 4, 1, 8, Enumerable.Range(0, 16 * 4 * 8).Select(_ => random.NextDouble() < 0.3 ? 1f : 0f).ToArray());
        var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("8b-6b"), 5, 63);
        TemporalTrainingOptions Opt(int epochs) => new() { Epochs = epochs, BatchSequences = 8, LearningRate = new LearningRateSchedule(0.01, 1, 0.001), Seed = 62 };
        var temporalState = new TrainingState();
        new TemporalTrainer(LearningRules.Create("nvil"), Opt(2)).Train(model, data, state: temporalState);
        var temporal = new FailingRule(LearningRules.Create("nvil")) { Fail = true, FailGivingBack = true };
        temporal.Prepare(model.Machine, 8 * 4);
        var t = Assert.ThrowsExactly<InvalidOperationException>(() => new TemporalTrainer(temporal, Opt(1)).Train(model, data, state: temporalState));
        Assert.AreEqual("injected", t.Message);
        AssertRecorded(t);
    }
}
