using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Learning;
using Microsoft.ML.Helmholtz.Learning.Rules;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;
using Microsoft.ML.Helmholtz.Tests.Support;

namespace Microsoft.ML.Helmholtz.Tests.Learning;

/// <summary>
/// The built-in rules called directly, as the trainers call them, but wrongly: from two threads at once, with a batch of
/// another K, with a capacity no buffer holds (found by a review that called each rule's public members).
/// </summary>
[TestClass]
public sealed class RuleMisuseTests
{
    private static HelmholtzArchitecture ArchitectureFor(string rule)
        => HelmholtzArchitecture.Parse(rule is "iwae" or "sbp" or "sbp-price" ? "12b-6g-3g" : "12b-6b-3b");

    private static TrainingBatch Batch(HelmholtzMachine machine, int examples, int k, ulong seed)
    {
        var batch = new TrainingBatch(machine.Architecture, examples, k, new RandomStream(seed));
        TestModels.BinaryData(examples, machine.Architecture.Visible.Size, seed).Values.AsSpan(0, examples * machine.Architecture.Visible.Size)
            .CopyTo(batch.ExampleRows(examples));
        batch.Load(examples);
        return batch;
    }

    public static IEnumerable<object[]> Rules => LearningRules.Names.Select(n => new object[] { n });

    /// <summary>
    /// Each built-in rule's Prepare and AccumulateGradients enter the guard the trainers hold for a run: a rule that another
    /// thread holds is named, with what holds it, before anything of the rule's changes (two direct callers at once gave an
    /// index out of range in NVIL's buffers, or IWAE objectives that were silently another batch's).
    /// </summary>
    [TestMethod]
    [DynamicData(nameof(Rules))]
    public void ARuleHeldByAnotherThreadRefusesItsDirectCalls(string name)
    {
        ILearningRule rule = LearningRules.Create(name, samples: 3);
        var machine = HelmholtzMachine.Create(ArchitectureFor(name), 1);
        TrainingBatch batch = Batch(machine, 5, rule.SamplesPerExample, 2);
        BatchLoss alone = rule.AccumulateGradients(machine, batch);
        StateSection? before = Saved(rule, machine);
        GuardHolder.WhileHeldByAnotherThread(() => RuleUse.Enter(rule, "a test's run"), () =>
        {
            var e = Assert.ThrowsExactly<InvalidOperationException>(() => rule.AccumulateGradients(machine, batch));
            StringAssert.Contains(e.Message, $"The learning rule '{name}' is in use by a test's run on another thread, so AccumulateGradients cannot run now");
            e = Assert.ThrowsExactly<InvalidOperationException>(() => rule.Prepare(HelmholtzMachine.Create(machine.Architecture, 3), 5));
            StringAssert.Contains(e.Message, "so Prepare cannot run now");
        });
        // As it was: a rule with running estimates (NVIL's, REINFORCE's baselines) holds the same ones, and any other gives the same
        // batch the same objective again.
        if (before is not null)
        {
            var kept = Saved(rule, machine)!.Entries.ToDictionary(x => x.Name, x => x.Values);
            foreach (var (entry, values) in before.Entries) CollectionAssert.AreEqual(values, kept[entry], $"{name}: {entry}");
        }
        BatchLoss again = rule.AccumulateGradients(machine, Batch(machine, 5, rule.SamplesPerExample, 2));
        if (before is null) Assert.AreEqual(alone.Objective, again.Objective, $"{name}: the same batch, the same objective");
        Assert.IsTrue(double.IsFinite(again.FreeEnergy));
    }

    /// <summary>
    /// A rule prepared for fewer examples than the batch it is then given (a direct call; the trainers prepare for their batch) grows its
    /// buffers first: its gradient is bit for bit that of the same rule prepared for the whole batch.
    /// </summary>
    [TestMethod]
    [DynamicData(nameof(Rules))]
    public void ARulePreparedForFewerExamplesGrowsItsBuffersForALargerBatch(string name)
    {
        var machine = HelmholtzMachine.Create(ArchitectureFor(name), 1);
        float[] Gradient(int preparedFor)
        {
            ILearningRule rule = LearningRules.Create(name, samples: 3);
            rule.Prepare(machine, preparedFor);
            machine.ZeroGradients();
            rule.AccumulateGradients(machine, Batch(machine, 6, rule.SamplesPerExample, 5));
            return machine.Parameters.SelectMany(p => p.Gradient).ToArray();
        }
        float[] expected = Gradient(6), grown = Gradient(2);
        Assert.IsTrue(expected.Any(g => g != 0), $"{name}: a gradient of zeros proves nothing");
        CollectionAssert.AreEqual(expected, grown, name);
    }

    /// <summary>
    /// A K-sample rule refuses a batch drawn for another K, with fewer or with more samples per example, naming the batch, before it
    /// adds to any gradient: without its own check it would read the batch's rows in groups of its own K, taking samples of two
    /// examples for one or running past the buffers it had prepared.
    /// </summary>
    [TestMethod]
    [DataRow("vimco")]
    [DataRow("iwae")]
    [DataRow("rws")]
    [DataRow("rws-wake-sleep")]
    public void AKSampleRuleRefusesABatchOfAnotherKBeforeAddingAGradient(string name)
    {
        ILearningRule rule = LearningRules.Create(name, samples: 3);
        var machine = HelmholtzMachine.Create(ArchitectureFor(name), 1);
        machine.ZeroGradients();
        foreach (int k in new[] { 2, 4 })
        {
            var e = Assert.ThrowsExactly<ArgumentException>(() => rule.AccumulateGradients(machine, Batch(machine, 4, k, 2)), $"{name}, K = {k}");
            Assert.AreEqual("batch", e.ParamName, $"{name}, K = {k}");
            StringAssert.Contains(e.Message, $"The batch holds {k} samples per example; this rule draws 3.", $"{name}, K = {k}");
            Assert.IsTrue(machine.Parameters.All(p => p.Gradient.All(g => g == 0)), $"{name}, K = {k}: no gradient was added before the refusal");
        }
        Assert.IsTrue(double.IsFinite(rule.AccumulateGradients(machine, Batch(machine, 4, 3, 2)).FreeEnergy), $"{name}: a batch of its own K");
    }

    /// <summary>
    /// A rule that took a step on one machine and is then given another, wider one directly (a direct call; the trainers prepare
    /// the rule for their machine) prepares for the new machine: its gradient there is bit for bit a fresh rule's. The path-wise
    /// rules' buffers hold rows of every layer, so buffers for as many rows of the narrower machine do not hold the wider one's.
    /// </summary>
    [TestMethod]
    [DataRow("iwae")]
    [DataRow("sbp")]
    [DataRow("vimco")]
    [DataRow("rws")]
    public void ARuleGivenAnotherMachinePreparesForIt(string name)
    {
        var first = HelmholtzMachine.Create(ArchitectureFor(name), 1);
        var wider = HelmholtzMachine.Create(HelmholtzArchitecture.Parse(name is "iwae" or "sbp" ? "12b-9g-5g" : "12b-9b-5b"), 2);
        float[] GradientOnTheWider(ILearningRule rule)
        {
            wider.ZeroGradients();
            rule.AccumulateGradients(wider, Batch(wider, 5, rule.SamplesPerExample, 7));
            return wider.Parameters.SelectMany(p => p.Gradient).ToArray();
        }
        ILearningRule moved = LearningRules.Create(name, samples: 3);
        moved.AccumulateGradients(first, Batch(first, 5, moved.SamplesPerExample, 6));
        float[] expected = GradientOnTheWider(LearningRules.Create(name, samples: 3));
        Assert.IsTrue(expected.Any(g => g != 0), $"{name}: a gradient of zeros proves nothing");
        CollectionAssert.AreEqual(expected, GradientOnTheWider(moved), name);
    }

    /// <summary>
    /// A rule's second batch gives the gradient a fresh rule gives it: what a step leaves in the rule's buffers (the path-wise
    /// rules' gradients at each hidden layer, which the layers add to) is cleared before the next step adds to it. Two hidden
    /// layers, so that a layer's gradient is reached both from below and through the layer above. The rules listed keep no
    /// running estimates, which would rightly carry from one batch to the next.
    /// </summary>
    [TestMethod]
    [DataRow("iwae")]
    [DataRow("sbp")]
    [DataRow("sbp-price")]
    [DataRow("vimco")]
    [DataRow("rws")]
    [DataRow("rws-wake-sleep")]
    [DataRow("wake-sleep")]
    public void ASecondBatchGivesTheGradientAFreshRuleGives(string name)
    {
        var machine = HelmholtzMachine.Create(ArchitectureFor(name), 1);
        float[] Gradient(ILearningRule rule, ulong seed)
        {
            machine.ZeroGradients();
            rule.AccumulateGradients(machine, Batch(machine, 5, rule.SamplesPerExample, seed));
            return machine.Parameters.SelectMany(p => p.Gradient).ToArray();
        }
        ILearningRule used = LearningRules.Create(name, samples: 3);
        Gradient(used, 8);
        float[] expected = Gradient(LearningRules.Create(name, samples: 3), 9);
        Assert.IsTrue(expected.Any(g => g != 0), $"{name}: a gradient of zeros proves nothing");
        CollectionAssert.AreEqual(expected, Gradient(used, 9), name);
    }

    /// <summary>
    /// A rule prepared for more examples than the batch it is then given (the trainers prepare for their batch size; an epoch's last
    /// batch may be shorter) scales by the batch's own rows: its gradient and its loss are bit for bit those of the same rule prepared
    /// for exactly that batch. Scaled by the capacity, a batch of 6 prepared for 10 took 6/10 of its mean gradient, and a loss
    /// averaged over the capacity took the buffer's other entries in.
    /// </summary>
    [TestMethod]
    [DynamicData(nameof(Rules))]
    public void ARulePreparedForMoreExamplesThanItsBatchGivesThatBatchsGradientAndLoss(string name)
    {
        var machine = HelmholtzMachine.Create(ArchitectureFor(name), 1);
        (float[] Gradient, BatchLoss Loss) Step(int preparedFor)
        {
            ILearningRule rule = LearningRules.Create(name, samples: 3);
            rule.Prepare(machine, preparedFor);
            machine.ZeroGradients();
            BatchLoss loss = rule.AccumulateGradients(machine, Batch(machine, 6, rule.SamplesPerExample, 5));
            return (machine.Parameters.SelectMany(p => p.Gradient).ToArray(), loss);
        }
        var (expected, expectedLoss) = Step(6);
        var (prepared, preparedLoss) = Step(10);
        Assert.IsTrue(expected.Any(g => g != 0), $"{name}: a gradient of zeros proves nothing");
        CollectionAssert.AreEqual(expected, prepared, name);
        Assert.AreEqual(expectedLoss, preparedLoss, name);
    }

    /// <summary>
    /// An option out of its range (a running-estimate decay outside [0, 1), a negative input-dependent baseline) is refused by the
    /// rule's constructor naming the option that holds it, in the parameter name and the message: a variance decay of 1 named as
    /// the baseline decay would send the caller to the wrong option.
    /// </summary>
    [TestMethod]
    [DataRow("reinforce", "BaselineDecay")]
    [DataRow("reinforce", "VarianceDecay")]
    [DataRow("reinforce", "InputBaselineHiddenUnits")]
    [DataRow("nvil", "BaselineDecay")]
    [DataRow("nvil", "VarianceDecay")]
    [DataRow("nvil", "InputBaselineHiddenUnits")]
    public void ARefusedOptionIsNamedByItself(string ruleName, string option)
    {
        Action make = (ruleName, option) switch
        {
            ("nvil", "BaselineDecay") => () => _ = new Nvil(new NvilOptions { BaselineDecay = 1 }),
            ("nvil", "VarianceDecay") => () => _ = new Nvil(new NvilOptions { VarianceDecay = 1 }),
            ("nvil", _) => () => _ = new Nvil(new NvilOptions { InputBaselineHiddenUnits = -1 }),
            (_, "BaselineDecay") => () => _ = new Reinforce(new ReinforceOptions { BaselineDecay = 1 }),
            (_, "VarianceDecay") => () => _ = new Reinforce(new ReinforceOptions { VarianceDecay = 1 }),
            _ => () => _ = new Reinforce(new ReinforceOptions { InputBaselineHiddenUnits = -1 }),
        };
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(make);
        string named = (ruleName == "nvil" ? "NvilOptions." : "ReinforceOptions.") + option;
        Assert.AreEqual(named, e.ParamName);
        StringAssert.Contains(e.Message, option == "InputBaselineHiddenUnits" ? $"{named} must be ≥ 0." : $"{named} must lie in [0, 1); got 1");
    }

    /// <summary>What a rule with running estimates would carry to a resumed run; null for a rule without them.</summary>
    private static StateSection? Saved(ILearningRule rule, HelmholtzMachine machine)
    {
        if (rule is not IResumable resumable) return null;
        var section = new StateSection("the test");
        resumable.SaveState(section, machine.Parameters.Concat(rule.Parameters).ToArray());
        return section;
    }

    /// <summary>The one-sample rules refuse a batch of K rows per example, as the K-sample rules refuse another K (they took its rows for examples).</summary>
    [TestMethod]
    [DataRow("wake-sleep")]
    [DataRow("reinforce")]
    [DataRow("nvil")]
    [DataRow("sbp")]
    [DataRow("sbp-price")]
    public void AOneSampleRuleRefusesABatchOfSeveralSamplesPerExample(string name)
    {
        ILearningRule rule = LearningRules.Create(name);
        var machine = HelmholtzMachine.Create(ArchitectureFor(name), 1);
        var e = Assert.ThrowsExactly<ArgumentException>(() => rule.AccumulateGradients(machine, Batch(machine, 4, 5, 2)));
        Assert.AreEqual("batch", e.ParamName);
        StringAssert.Contains(e.Message, "The batch holds 5 samples per example; this rule draws 1.");
        Assert.IsTrue(double.IsFinite(rule.AccumulateGradients(machine, Batch(machine, 4, 1, 2)).FreeEnergy));
    }

    /// <summary>
    /// NVIL's and REINFORCE's Prepare name a capacity no buffer holds (an out-of-memory error for "array dimensions" before), and a
    /// refused Prepare for another machine leaves the baselines learned on the machine they train.
    /// </summary>
    [TestMethod]
    [DataRow("nvil")]
    [DataRow("reinforce")]
    public void APrepareNoBufferHoldsIsNamedAndKeepsTheBaselines(string name)
    {
        ILearningRule rule = LearningRules.Create(name);
        var machine = HelmholtzMachine.Create(ArchitectureFor(name), 1);
        for (int i = 0; i < 5; i++) rule.AccumulateGradients(machine, Batch(machine, 10, 1, (ulong)i));
        var before = new StateSection("the test");
        ((IResumable)rule).SaveState(before, machine.Parameters.Concat(rule.Parameters).ToArray());
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => rule.Prepare(HelmholtzMachine.Create(machine.Architecture, 2), int.MaxValue));
        Assert.AreEqual("batchCapacity", e.ParamName);
        StringAssert.Contains(e.Message, "batchCapacity = 2147483647 examples");
        var after = new StateSection("the test");
        ((IResumable)rule).SaveState(after, machine.Parameters.Concat(rule.Parameters).ToArray());
        var kept = after.Entries.ToDictionary(x => x.Name, x => x.Values);
        CollectionAssert.AreEqual(before.Names.ToArray(), kept.Keys.ToArray());
        foreach (var (entry, values) in before.Entries) CollectionAssert.AreEqual(values, kept[entry], $"{name}: {entry}");
    }

    /// <summary>
    /// Wake-Sleep's Prepare names a capacity no buffer holds as the other rules do (it named its states' 'capacity'), and a refused
    /// Prepare for another machine leaves the rule prepared for the one it had: it took the new machine first, and its next step
    /// on that machine, skipping the Prepare, failed on states of the old machine's architecture.
    /// </summary>
    [TestMethod]
    public void WakeSleepsRefusedPrepareKeepsTheMachineItHad()
    {
        var rule = new WakeSleep();
        var first = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("8b-4b"), 1);
        var second = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("9b-5b"), 2);
        rule.Prepare(first, 10);
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => rule.Prepare(second, 1_000_000_000));
        Assert.AreEqual("batchCapacity", e.ParamName);
        StringAssert.Contains(e.Message, "Wake-Sleep: batchCapacity = 1000000000 examples");
        Assert.IsTrue(double.IsFinite(rule.AccumulateGradients(second, Batch(second, 4, 1, 3)).FreeEnergy), "the other machine's step prepares for it");
        Assert.IsTrue(double.IsFinite(rule.AccumulateGradients(first, Batch(first, 4, 1, 4)).FreeEnergy));
    }

    /// <summary>
    /// Rows a rule is given directly are checked as the trainers check their data: NaN, an infinity or a value a Bernoulli
    /// visible layer does not model is named by its row and column at <see cref="TrainingBatch.Load"/>, for one sample per
    /// example and for K, and the batch is left without examples, so a rule given it refuses it (before, a rule stepped on
    /// them and gave NaN parameters).
    /// </summary>
    [TestMethod]
    public void ABatchRefusesRowsItsVisibleLayerCannotModel()
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("12b-6b-3b"), 1);
        foreach (int k in new[] { 1, 4 })
            foreach (float bad in new[] { float.NaN, float.PositiveInfinity, 0.5f, -1f })
            {
                string context = $"K = {k}, {bad}";
                ILearningRule rule = LearningRules.Create(k == 1 ? "wake-sleep" : "vimco", samples: k);
                TrainingBatch batch = Batch(machine, 5, k, 7);
                float[][] before = TestModels.Snapshot(machine.Parameters);
                Span<float> rows = batch.ExampleRows(5);
                rows[3 * 12 + 9] = bad;
                var e = Assert.ThrowsExactly<ArgumentException>(() => batch.Load(5), context);
                StringAssert.Contains(e.Message, "row 3, column 9 is", context);
                Assert.AreEqual("examples", e.ParamName);
                Assert.AreEqual(0, batch.Examples, context);
                var unloaded = Assert.ThrowsExactly<InvalidOperationException>(() => rule.AccumulateGradients(machine, batch), context);
                StringAssert.Contains(unloaded.Message, "holds no examples", context);
                TestModels.AssertParameters(before, machine.Parameters, context);
                rows[3 * 12 + 9] = 1f;
                batch.Load(5);   // the same rows, mended, load
                Assert.IsTrue(double.IsFinite(rule.AccumulateGradients(machine, batch).FreeEnergy), context);
            }
        // Over existing states (one sample per example), at construction.
        var states = new LayerStates(machine.Architecture, 5);
        TestModels.BinaryData(5, 12, 8).Values.AsSpan(0, 60).CopyTo(states.Layer(0, 5));
        states.Layer(0, 5)[2 * 12 + 4] = float.NaN;
        var refused = Assert.ThrowsExactly<ArgumentException>(() => new TrainingBatch(states, 5, new RandomStream(9)));
        StringAssert.Contains(refused.Message, "row 2, column 4 is NaN");
        Assert.AreEqual("states", refused.ParamName);
    }

    // A batch over existing states is one row per example (RowSource r → r), and it checks the conditioning it is given when made.
    [TestMethod]
    public void ABatchOverStatesIsARowPerExampleAndChecksItsConditioning()
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("12b-4b-2b"), 5);
        var states = new LayerStates(machine.Architecture, 5);
        TestModels.BinaryData(5, 12, 8).Values.AsSpan(0, 60).CopyTo(states.Layer(0, 5));
        var batch = new TrainingBatch(states, 3, new RandomStream(9), new LayerConditioning(machine.Architecture, 3));
        Assert.AreEqual(3, batch.Rows);
        CollectionAssert.AreEqual(new[] { 0, 1, 2 }, batch.RowSource.ToArray());

        var other = new LayerConditioning(HelmholtzArchitecture.Parse("12b-5b-2b"), 3);
        Assert.AreEqual("conditioning", Assert.ThrowsExactly<ArgumentException>(() => new TrainingBatch(states, 3, new RandomStream(9), other)).ParamName);
        var fewer = new LayerConditioning(machine.Architecture, 2);
        Assert.AreEqual("conditioning", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new TrainingBatch(states, 3, new RandomStream(9), fewer)).ParamName);
    }

    /// <summary>
    /// A batch whose examples × K sample rows would not fit one array is refused when made, naming samplesPerExample (the argument
    /// that multiplies the examples into rows) and both counts, rather than the capacity alone.
    /// </summary>
    [TestMethod]
    public void ABatchOfMoreSampleRowsThanAnArrayHoldsNamesItsSamplesPerExample()
    {
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(
            () => new TrainingBatch(HelmholtzArchitecture.Parse("6b-4b"), 1 << 20, 1 << 12, new RandomStream(1)));
        Assert.AreEqual("samplesPerExample", e.ParamName);
        StringAssert.Contains(e.Message, "1048576 examples × 4096 samples");
    }

    [TestMethod]
    public void ANullRuleNameIsAnArgumentNullException()
        => Assert.AreEqual("name", Assert.ThrowsExactly<ArgumentNullException>(() => LearningRules.Create(null!)).ParamName);
}
