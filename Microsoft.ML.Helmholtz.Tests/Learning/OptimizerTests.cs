using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Numerics;
using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Learning;
using Microsoft.ML.Helmholtz.Learning.Optimizers;
using Microsoft.ML.Helmholtz.Model;

namespace Microsoft.ML.Helmholtz.Tests.Learning;

[TestClass]
public sealed class OptimizerTests
{
    private static readonly float[][] Gradients = [[0.5f, -2f, 0f, 1e-3f, 40f, -0.25f, 3f], [0.1f, -1f, 0.2f, -1e-3f, 10f, 0.5f, -3f], [-0.3f, 0.4f, 0f, 2e-3f, -5f, 1f, 3f]];

    private static Parameter NewParameter()
    {
        var p = new Parameter("x", 1, 7);
        for (int i = 0; i < 7; i++) p.Value[i] = 0.1f * i - 0.3f;
        return p;
    }

    [TestMethod]
    public void AdamFollowsTheTextbookUpdate()
    {
        var p = NewParameter();
        double[] x = p.Value.Select(v => (double)v).ToArray(), m = new double[7], v = new double[7];
        var adam = new Adam(0.9f, 0.999f, 1e-8f);
        for (int t = 1; t <= Gradients.Length; t++)
        {
            Gradients[t - 1].CopyTo(p.Gradient, 0);
            adam.Step([p], 0.01f);
            CollectionAssert.AreEqual(new float[7], p.Gradient, "Adam clears the gradients it used");
            for (int i = 0; i < 7; i++)
            {
                double g = Gradients[t - 1][i];
                m[i] = 0.9 * m[i] + 0.1 * g;
                v[i] = 0.999 * v[i] + 0.001 * g * g;
                double mHat = m[i] / (1 - Math.Pow(0.9, t)), vHat = v[i] / (1 - Math.Pow(0.999, t));
                x[i] -= 0.01 * mHat / (Math.Sqrt(vHat) + 1e-8);
                Assert.AreEqual(x[i], p.Value[i], 1e-6, $"step {t}, entry {i}");
            }
        }
    }

    [TestMethod]
    public void AdamsWeightDecayShrinksTheWeightMatricesOnly()
    {
        // Decoupled (AdamW): x ← (1 − ηλ) x − η̂ m̂ / (√v̂ + ε), on weights; biases step as without it.
        var weight = new Parameter("w", 1, 7, ParameterRole.Weight);
        var bias = NewParameter();
        var plainWeight = new Parameter("w", 1, 7, ParameterRole.Weight);
        var plainBias = NewParameter();
        for (int i = 0; i < 7; i++) weight.Value[i] = plainWeight.Value[i] = 0.2f * i - 0.5f;
        double[] x = weight.Value.Select(v => (double)v).ToArray(), m = new double[7], v = new double[7];
        var adam = new Adam(weightDecay: 0.5f);
        var plain = new Adam();
        Assert.AreEqual(0.5f, adam.WeightDecay);
        for (int t = 1; t <= Gradients.Length; t++)
        {
            foreach (var p in new[] { weight, bias, plainWeight, plainBias }) Gradients[t - 1].CopyTo(p.Gradient, 0);
            adam.Step([weight, bias], 0.01f);
            plain.Step([plainWeight, plainBias], 0.01f);
            CollectionAssert.AreEqual(plainBias.Value, bias.Value, $"step {t}: a bias does not decay");
            for (int i = 0; i < 7; i++)
            {
                double g = Gradients[t - 1][i];
                m[i] = 0.9 * m[i] + 0.1 * g;
                v[i] = 0.999 * v[i] + 0.001 * g * g;
                double mHat = m[i] / (1 - Math.Pow(0.9, t)), vHat = v[i] / (1 - Math.Pow(0.999, t));
                x[i] = (1 - 0.01 * 0.5) * x[i] - 0.01 * mHat / (Math.Sqrt(vHat) + 1e-8);
                Assert.AreEqual(x[i], weight.Value[i], 1e-6, $"step {t}, entry {i}");
            }
        }
        CollectionAssert.AreNotEqual(plainWeight.Value, weight.Value);
    }

    [TestMethod]
    public void AdamRefusesAWeightDecayItCannotApply()
    {
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Adam(weightDecay: -0.1f));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Adam(weightDecay: float.NaN));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Adam(weightDecay: float.PositiveInfinity));
        // A rate at which 1 − ηλ is not positive is refused before anything moves.
        var weight = new Parameter("w", 1, 7, ParameterRole.Weight);
        for (int i = 0; i < 7; i++) weight.Value[i] = 0.1f * i;
        float[] before = (float[])weight.Value.Clone();
        Gradients[0].CopyTo(weight.Gradient, 0);
        var adam = new Adam(weightDecay: 10f);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => adam.Step([weight], 0.1f));
        CollectionAssert.AreEqual(before, weight.Value);
        adam.Step([weight], 0.01f);   // 1 − 0.1: it steps
        CollectionAssert.AreNotEqual(before, weight.Value);
    }

    [TestMethod]
    public void SgdWithMomentumFollowsTheHeavyBallUpdate()
    {
        var p = NewParameter();
        double[] x = p.Value.Select(v => (double)v).ToArray(), velocity = new double[7];
        var sgd = new SgdMomentum(0.8f);
        for (int t = 0; t < Gradients.Length; t++)
        {
            Gradients[t].CopyTo(p.Gradient, 0);
            sgd.Step([p], 0.05f);
            CollectionAssert.AreEqual(new float[7], p.Gradient, "SGD clears the gradients it used");
            for (int i = 0; i < 7; i++)
            {
                velocity[i] = 0.8 * velocity[i] - 0.05 * Gradients[t][i];
                x[i] += velocity[i];
                Assert.AreEqual(x[i], p.Value[i], 1e-5, $"step {t}, entry {i}");
            }
        }
    }

    // A parameter longer than two of the optimisers' blocks (ParameterBlocks.BlockSize floats) and a partial third: every element steps
    // and has its gradient cleared, the last ones too. Exact: 1 − 0.25 · 1 and Adam's first step of a gradient 1 (its m̂/√v̂ is 1 for all).
    [TestMethod]
    public void AParameterOfSeveralBlocksStepsToItsLastElement()
    {
        const int n = 2 * ParameterBlocks.BlockSize + 5;
        foreach (IOptimizer optimizer in new IOptimizer[] { new SgdMomentum(0.5f), new Adam() })
        {
            var p = new Parameter("long", 1, n);
            Array.Fill(p.Value, 1f);
            Array.Fill(p.Gradient, 1f);
            optimizer.Step([p], 0.25f);
            float first = p.Value[0];
            Assert.AreNotEqual(1f, first, optimizer.Name);
            if (optimizer is SgdMomentum) Assert.AreEqual(0.75f, first);
            for (int i = 0; i < n; i++)
            {
                if (p.Value[i] != first) Assert.Fail($"{optimizer.Name}: element {i} is {p.Value[i]}, element 0 {first}");
                if (optimizer.ClearsGradients && p.Gradient[i] != 0) Assert.Fail($"{optimizer.Name}: gradient {i} not cleared");
            }
        }
    }

    // SGD's state before its first step holds no velocity (a run cancelled before it records one), and such a state restores:
    // the next step is a first step.
    [TestMethod]
    public void SgdsStateBeforeItsFirstStepIsEmptyAndRestores()
    {
        var p = NewParameter();
        var section = new StateSection("the optimiser");
        new SgdMomentum(0.8f).SaveState(section, [p]);
        Assert.AreEqual(0, section.Names.Count);
        var restored = new SgdMomentum(0.8f);
        restored.RestoreState(section, [p]);
        float[] start = (float[])p.Value.Clone();
        Gradients[0].CopyTo(p.Gradient, 0);
        restored.Step([p], 0.05f);
        for (int i = 0; i < 7; i++) Assert.AreEqual(start[i] - 0.05f * Gradients[0][i], p.Value[i], 1e-6f, $"entry {i}");
    }

    /// <summary>SGD with momentum 0.8 ("sgd") or Adam ("adam"), new.</summary>
    private static IOptimizer Optimizer(string kind) => kind == "sgd" ? new SgdMomentum(0.8f) : new Adam();

    // A state restored into an optimiser that has stepped replaces its state (SGD's velocities; Adam's moments and step count),
    // a state saved before the first step too (Adam's is then its step count 0 alone): the next step goes on from the restored
    // state, not from its own earlier steps' (the step's blocks are rebuilt over the arrays it restored). Exact: both paths
    // compute the same floats.
    [TestMethod]
    [DataRow("sgd", 1)]
    [DataRow("adam", 1)]
    [DataRow("sgd", 0)]
    [DataRow("adam", 0)]
    public void AnOptimiserRestoredAfterItsOwnStepsGoesOnFromTheRestoredState(string kind, int stepsBeforeSave)
    {
        var p = NewParameter();
        var reference = Optimizer(kind);
        for (int t = 0; t < stepsBeforeSave; t++)
        {
            Gradients[t].CopyTo(p.Gradient, 0);
            reference.Step([p], 0.05f);
        }
        var section = new StateSection("the optimiser");
        ((IResumable)reference).SaveState(section, [p]);
        if (kind == "adam" && stepsBeforeSave == 0) CollectionAssert.AreEqual(new[] { "step" }, section.Names.ToArray(), "no moments before the first step");
        float[] saved = (float[])p.Value.Clone();

        var optimiser = Optimizer(kind);
        var q = NewParameter();
        for (int t = 1; t < 3; t++)
        {
            Gradients[t].CopyTo(q.Gradient, 0);
            optimiser.Step([q], 0.05f);
        }
        ((IResumable)optimiser).RestoreState(section, [q]);
        saved.CopyTo(q.Value, 0);
        Gradients[stepsBeforeSave].CopyTo(p.Gradient, 0);
        Gradients[stepsBeforeSave].CopyTo(q.Gradient, 0);
        reference.Step([p], 0.05f);
        optimiser.Step([q], 0.05f);
        CollectionAssert.AreEqual(p.Value, q.Value);
    }

    // An optimiser stepped over another list of parameters of the same shapes steps those (each keeps its own moments or
    // velocities): the blocks built over the first list's arrays are not reused for a list that only has their count.
    [TestMethod]
    [DataRow("sgd")]
    [DataRow("adam")]
    public void AnOptimiserSteppedOverOtherParametersStepsThoseAndNotTheFirst(string kind)
    {
        IOptimizer optimiser = Optimizer(kind);
        Parameter p = NewParameter(), q = NewParameter();
        Gradients[0].CopyTo(p.Gradient, 0);
        optimiser.Step([p], 0.05f);
        float[] afterItsStep = (float[])p.Value.Clone();
        Gradients[1].CopyTo(q.Gradient, 0);
        optimiser.Step([q], 0.05f);
        CollectionAssert.AreEqual(afterItsStep, p.Value, "the first list is not stepped again");
        CollectionAssert.AreNotEqual(NewParameter().Value, q.Value, "the second list is stepped");
    }

    // A velocity that is not finite is refused, naming the parameter: it would step every later value to NaN or ±∞.
    [TestMethod]
    public void SgdRefusesAVelocityThatIsNotFinite()
    {
        var p = NewParameter();
        var section = new StateSection("the optimiser");
        float[] velocity = new float[7];
        velocity[6] = float.NaN;
        section.Write("velocity0 x", velocity);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => new SgdMomentum().RestoreState(section, [p]));
        StringAssert.Contains(e.Message, "holds a velocity of x that is not finite");
    }

    /// <summary>
    /// An optimiser's state with an entry more than this run's parameters keep (a machine with one more parameter, whose first
    /// ones match) is refused, not read in part: each entry of the run's parameters is there, only the count tells.
    /// </summary>
    [TestMethod]
    public void AnOptimiserStateWithAnEntryTooManyIsRefused()
    {
        foreach (Func<IResumable> make in new Func<IResumable>[] { () => new SgdMomentum(), () => new Adam() })
        {
            IResumable optimizer = make();
            var p = NewParameter();
            Gradients[0].CopyTo(p.Gradient, 0);
            ((IOptimizer)optimizer).Step([p], 0.05f);
            var section = new StateSection("the optimiser");
            optimizer.SaveState(section, [p]);
            section.Write("velocity1 y", new float[3]);
            var e = Assert.ThrowsExactly<InvalidDataException>(() => make().RestoreState(section, [p]), optimizer.GetType().Name);
            StringAssert.Contains(e.Message, "from another machine or rule");
        }
    }

    /// <summary>
    /// Adam's state whose step count is not a whole number, or not under 2⁵³ (past which a double no longer holds every whole
    /// number), is refused, naming the count; the same entries with a whole count under 2⁵³ restore.
    /// </summary>
    [TestMethod]
    [DataRow(1.5)]
    [DataRow(9007199254740992.0)]   // 2⁵³
    [DataRow(1e300)]
    public void AdamRefusesAStepCountThatIsNotAWholeNumberUnder2To53(double step)
    {
        var p = NewParameter();
        var adam = new Adam();
        Gradients[0].CopyTo(p.Gradient, 0);
        adam.Step([p], 0.01f);
        var saved = new StateSection("the optimiser");
        adam.SaveState(saved, [p]);
        StateSection WithStep(double count)
        {
            var section = new StateSection("the optimiser");
            section.Write("step", count);
            section.Write("m0 x", saved.ReadFloats("m0 x", 7));
            section.Write("v0 x", saved.ReadFloats("v0 x", 7));
            return section;
        }
        var e = Assert.ThrowsExactly<InvalidDataException>(() => new Adam().RestoreState(WithStep(step), [p]));
        StringAssert.Contains(e.Message, $"the step count {step}: it must be a whole number ≥ 0");
        foreach (double whole in new[] { 1.0, 2.0, 9007199254740991.0 })   // the last 2⁵³ − 1
        {
            var restored = new Adam();
            restored.RestoreState(WithStep(whole), [p]);
            var again = new StateSection("the optimiser");
            restored.SaveState(again, [p]);
            Assert.AreEqual(whole, again.ReadDouble("step"), $"the step count {whole} restores");
        }
    }

    /// <summary>
    /// A step that Adam refuses (its weight decay would shrink the weights by 1 − ηλ ≤ 0) counts no step: the next step's bias
    /// correction is a first step's, bit for bit the step of a new Adam, and the state records one step.
    /// </summary>
    [TestMethod]
    public void AStepAdamRefusesCountsNoStep()
    {
        static Parameter Weight()
        {
            var w = new Parameter("w", 1, 7, ParameterRole.Weight);
            for (int i = 0; i < 7; i++) w.Value[i] = 0.1f * i;
            Gradients[0].CopyTo(w.Gradient, 0);
            return w;
        }
        var refused = Weight();
        var adam = new Adam(weightDecay: 10f);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => adam.Step([refused], 0.1f));
        adam.Step([refused], 0.01f);
        var fresh = Weight();
        new Adam(weightDecay: 10f).Step([fresh], 0.01f);
        CollectionAssert.AreEqual(fresh.Value, refused.Value, "the step after the refused one is a first step");
        var section = new StateSection("the optimiser");
        adam.SaveState(section, [refused]);
        Assert.AreEqual(1.0, section.ReadDouble("step"));
    }

    /// <summary>
    /// An optimiser that has stepped without keeping the values from before its step, then is given a trainer's undo copy, writes
    /// that copy (its blocks are rebuilt for the copy, not reused from the steps that kept nothing), and a second copy given later
    /// is written in its turn while the first is left alone, and a plain step after them writes into neither (the blocks built for
    /// a copy are not reused for a step given none): each undo puts back the values from before its step.
    /// </summary>
    [TestMethod]
    [DataRow("sgd")]
    [DataRow("adam")]
    public void AnOptimiserGivenAnUndoCopyAfterPlainStepsKeepsTheValuesInIt(string kind)
    {
        IOptimizer optimiser = Optimizer(kind);
        var p = NewParameter();
        Gradients[0].CopyTo(p.Gradient, 0);
        optimiser.Step([p], 0.05f);
        float[] beforeSecond = (float[])p.Value.Clone();
        var undo = new StepUndo([p]);
        Gradients[1].CopyTo(p.Gradient, 0);
        ((IKeepsValuesBeforeStep)optimiser).Step([p], 0.05f, undo);
        CollectionAssert.AreNotEqual(beforeSecond, p.Value, "it stepped");
        CollectionAssert.AreEqual(beforeSecond, undo.SavedOf(p), "the undo copy holds the values from before the step");

        float[] beforeThird = (float[])p.Value.Clone();
        var other = new StepUndo([p]);
        Gradients[2].CopyTo(p.Gradient, 0);
        ((IKeepsValuesBeforeStep)optimiser).Step([p], 0.05f, other);
        CollectionAssert.AreEqual(beforeThird, other.SavedOf(p), "the second copy holds the values from before its step");
        CollectionAssert.AreEqual(beforeSecond, undo.SavedOf(p), "the first copy is left alone");

        float[] beforePlain = (float[])p.Value.Clone();
        Gradients[0].CopyTo(p.Gradient, 0);
        optimiser.Step([p], 0.05f);
        CollectionAssert.AreNotEqual(beforePlain, p.Value, "the plain step moved the values");
        CollectionAssert.AreEqual(beforeThird, other.SavedOf(p), "the plain step left the second copy alone");
        CollectionAssert.AreEqual(beforeSecond, undo.SavedOf(p), "and the first");
        undo.Restore();
        CollectionAssert.AreEqual(beforeSecond, p.Value, "the undo puts the values back");
    }

    /// <summary>
    /// An optimiser that has stepped, asked to save the state of a parameter its steps were not given, refuses naming that
    /// parameter and its place (it threw a bare KeyNotFoundException), and writes nothing into the section; before its first
    /// step it keeps no state of any parameter, and saves what it did (Adam its step count 0, SGD nothing).
    /// </summary>
    [TestMethod]
    [DataRow("sgd")]
    [DataRow("adam")]
    public void SavingTheStateOfAParameterNeverSteppedIsRefusedNamingIt(string kind)
    {
        IOptimizer optimiser = Optimizer(kind);
        var stepped = NewParameter();
        var other = new Parameter("other", 1, 3);
        var unstarted = new StateSection("the optimiser");
        ((IResumable)optimiser).SaveState(unstarted, [stepped, other]);
        Assert.AreEqual(kind == "adam" ? 1 : 0, unstarted.Names.Count, "before the first step");

        Gradients[0].CopyTo(stepped.Gradient, 0);
        optimiser.Step([stepped], 0.05f);
        var section = new StateSection("the optimiser");
        var e = Assert.ThrowsExactly<ArgumentException>(() => ((IResumable)optimiser).SaveState(section, [stepped, other]));
        Assert.AreEqual("parameters", e.ParamName);
        StringAssert.Contains(e.Message, $"Parameter 1 (other) was never stepped by this '{kind}' optimiser");
        Assert.AreEqual(0, section.Names.Count, "nothing is written");
        ((IResumable)optimiser).SaveState(section, [stepped]);
        Assert.AreEqual(kind == "adam" ? 3 : 1, section.Names.Count, "the parameters it stepped save");
    }

    /// <summary>
    /// Adam's weight decay shrinks the weight matrices only: a log-variance vector and a covariance factor step as without it,
    /// bit for bit, as a bias does (AdamsWeightDecayShrinksTheWeightMatricesOnly).
    /// </summary>
    [TestMethod]
    [DataRow(ParameterRole.LogVariance)]
    [DataRow(ParameterRole.Factor)]
    public void AdamsWeightDecayLeavesLogVariancesAndFactorsAlone(ParameterRole role)
    {
        Parameter decayed = new("p", 1, 7, role), plain = new("p", 1, 7, role);
        for (int i = 0; i < 7; i++) decayed.Value[i] = plain.Value[i] = 0.2f * i - 0.5f;
        var adam = new Adam(weightDecay: 0.5f);
        var none = new Adam();
        for (int t = 0; t < Gradients.Length; t++)
        {
            Gradients[t].CopyTo(decayed.Gradient, 0);
            Gradients[t].CopyTo(plain.Gradient, 0);
            adam.Step([decayed], 0.1f);   // 1 − ηλ = 0.95: a weight would shrink by 5% a step
            none.Step([plain], 0.1f);
            CollectionAssert.AreEqual(plain.Value, decayed.Value, $"step {t}");
        }
    }

    /// <summary>
    /// Of several parameters whose gradients are not finite, the first in order is named (a divergence message names it), whichever
    /// holds the NaN or ±∞, and in whichever block: one past the first block of a long parameter counts.
    /// </summary>
    [TestMethod]
    public void TheFirstParameterWithAGradientNotFiniteIsNamed()
    {
        Parameter a = new("a", 1, 5), b = new("b", 1, ParameterBlocks.BlockSize + 3), c = new("c", 1, 4);
        var blocks = new ParameterBlocks([a, b, c]);
        Assert.IsNull(blocks.FirstNonFiniteGradient(), "all finite");
        c.Gradient[0] = float.PositiveInfinity;
        Assert.AreSame(c, blocks.FirstNonFiniteGradient());
        b.Gradient[ParameterBlocks.BlockSize + 1] = float.NaN;
        Assert.AreSame(b, blocks.FirstNonFiniteGradient(), "b comes before c");
        a.Gradient[4] = float.NegativeInfinity;
        Assert.AreSame(a, blocks.FirstNonFiniteGradient(), "a comes first");
    }

    /// <summary>
    /// An optimiser stepped over a list, then over that list with one more parameter, steps the one it adds too (and clears its
    /// gradient): blocks built for the shorter list, whose parameters match the longer one's first ones, are not reused for it.
    /// </summary>
    [TestMethod]
    [DataRow("sgd")]
    [DataRow("adam")]
    public void AnOptimiserSteppedOverALongerListStepsTheParameterItAdds(string kind)
    {
        IOptimizer optimiser = Optimizer(kind);
        Parameter p = NewParameter(), q = NewParameter();
        Gradients[0].CopyTo(p.Gradient, 0);
        optimiser.Step([p], 0.05f);
        Gradients[1].CopyTo(p.Gradient, 0);
        Gradients[1].CopyTo(q.Gradient, 0);
        optimiser.Step([p, q], 0.05f);
        CollectionAssert.AreNotEqual(NewParameter().Value, q.Value, "the parameter added to the list is stepped");
        CollectionAssert.AreEqual(new float[7], q.Gradient, "and its gradient cleared");
    }

    /// <summary>A negative epoch has no rate: At refuses it, naming the epoch, instead of a rate above the initial one (Initial / DecayPerEpoch).</summary>
    [TestMethod]
    public void AScheduleRefusesANegativeEpoch()
    {
        var schedule = new LearningRateSchedule(1e-2, 0.5);
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => schedule.At(-1));
        Assert.AreEqual("epoch", e.ParamName);
        Assert.AreEqual(1e-2, schedule.At(0));
    }

    /// <summary>
    /// A state Adam refuses (here a step count of 40 without the moments that one parameter needs) leaves its own step count as it
    /// was: its next step's bias correction is that of its second step, bit for bit a twin's that was never given the state.
    /// </summary>
    [TestMethod]
    public void AStateAdamRefusesLeavesItsStepCountAsItWas()
    {
        Parameter p = NewParameter(), twin = NewParameter();
        Adam adam = new(), reference = new();
        Gradients[0].CopyTo(p.Gradient, 0);
        Gradients[0].CopyTo(twin.Gradient, 0);
        adam.Step([p], 0.05f);
        reference.Step([twin], 0.05f);
        var refused = new StateSection("the optimiser");
        refused.Write("step", 40);
        Assert.ThrowsExactly<InvalidDataException>(() => adam.RestoreState(refused, [p]));
        Gradients[1].CopyTo(p.Gradient, 0);
        Gradients[1].CopyTo(twin.Gradient, 0);
        adam.Step([p], 0.05f);
        reference.Step([twin], 0.05f);
        CollectionAssert.AreEqual(twin.Value, p.Value, "the step after the refusal is a second step");
        var saved = new StateSection("the optimiser");
        adam.SaveState(saved, [p]);
        Assert.AreEqual(2.0, saved.ReadDouble("step"));
    }

    [TestMethod]
    public void LearningRateScheduleDecaysToItsFloor()
    {
        var schedule = new LearningRateSchedule(1e-2, 0.5, 2e-3);
        Assert.AreEqual(1e-2, schedule.At(0), 1e-15);
        Assert.AreEqual(5e-3, schedule.At(1), 1e-15);
        Assert.AreEqual(2.5e-3, schedule.At(2), 1e-15);
        Assert.AreEqual(2e-3, schedule.At(3), 1e-15);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new LearningRateSchedule(-1).At(0));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new LearningRateSchedule(1, 1.5).At(0));
        // A floor may be the initial rate itself ("at most Initial"), which holds the rate there; one above it is refused.
        var constant = new LearningRateSchedule(1e-2, 0.5, 1e-2);
        Assert.AreEqual(1e-2, constant.At(0));
        Assert.AreEqual(1e-2, constant.At(5));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new LearningRateSchedule(1e-2, 0.5, 1.0000001e-2));
    }

    /// <summary>A run that continues an earlier one takes its rates from the schedule's later epochs, and every step of an epoch uses its epoch's rate.</summary>
    [TestMethod]
    public void FirstScheduleEpochContinuesTheSchedule()
    {
        var data = new DataMatrix(40, 6, Enumerable.Range(0, 240).Select(i => (float)(i % 3 == 0 ? 1 : 0)).ToArray());
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("6b-4b"), 1);
        var rates = new RateRecordingOptimizer();
        var options = new TrainingOptions { Epochs = 3, BatchSize = 10, LearningRate = new(1e-2, 0.5, 2e-3), FirstScheduleEpoch = 1, Optimizer = () => rates };
        var reports = new HelmholtzTrainer(new ConstantGradientRule(), options).Train(machine, data);
        CollectionAssert.AreEqual(new[] { 5e-3, 2.5e-3, 2e-3 }, reports.Select(r => Math.Round(r.LearningRate, 9)).ToArray());
        CollectionAssert.AreEqual(new[] { 1, 2, 3 }, reports.Select(r => r.Epoch).ToArray(), "reports count this run's epochs");
        CollectionAssert.AreEqual(new[] { 5e-3f, 5e-3f, 5e-3f, 5e-3f, 2.5e-3f }, rates.Rates.Take(5).ToArray());
        options.FirstScheduleEpoch = -1;
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new HelmholtzTrainer(new ConstantGradientRule(), options).Train(machine, data));
    }

    [TestMethod]
    public void AScheduleEpochPastAnIntIsHeldAtTheLast()
    {
        // The run records FirstScheduleEpoch + the epochs done into its state: past an int that was −2,147,483,648, saved, and refused on
        // loading. A resumed run that continues its schedule may ask for any number of epochs: the schedule's epoch stays at its last.
        var data = new DataMatrix(20, 6, Enumerable.Range(0, 120).Select(i => (float)(i % 3 == 0 ? 1 : 0)).ToArray());
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("6b-4b"), 2);
        var state = new TrainingState();
        var options = new TrainingOptions { Epochs = 3, BatchSize = 10, FirstScheduleEpoch = int.MaxValue - 1, LearningRate = new(1e-3, 1.0), Optimizer = () => new RateRecordingOptimizer() };
        Assert.HasCount(3, new HelmholtzTrainer(new ConstantGradientRule(), options).Train(machine, data, state: state));
        Assert.AreEqual(6L, machine.StepsTrained);
        using var bytes = new MemoryStream();
        state.Save(bytes);
        bytes.Position = 0;
        Assert.AreEqual(int.MaxValue, TrainingState.Load(bytes).ScheduleEpoch);
    }

    /// <summary>
    /// The bisection that names the first epoch whose rate is 0 in single precision agrees with a scan of the epochs, for every
    /// range around the schedule's first such epoch (the refusal's message names it, and the run's epoch from it).
    /// </summary>
    [TestMethod]
    [DataRow(1e-3, 0.5)]
    [DataRow(0.1, 0.9)]
    [DataRow(1.0, 0.25)]
    public void TheFirstEpochAtZeroIsTheFirstAScanFinds(double initial, double decay)
    {
        var schedule = new LearningRateSchedule(initial, decay);
        int zero = 0;
        while ((float)schedule.At(zero) != 0) zero++;
        for (int first = 0; first <= zero + 3; first += first < zero - 3 ? Math.Max(1, zero / 16) : 1)   // every start near the first zero
            for (int last = first; last <= zero + 40; last++)
            {
                int? expected = last < zero ? null : Math.Max(first, zero);
                Assert.AreEqual(expected, schedule.FirstZeroInSinglePrecision(first, last), $"epochs {first}…{last}");
            }
    }

    [TestMethod]
    public void ARateThatIsZeroInSinglePrecisionIsRefusedBeforeTheRun()
    {
        // A floor that is 0 as a float keeps nothing up.
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new LearningRateSchedule(1e-3, 0.5, 1e-50)).Message, "zero in single precision");
        Assert.AreEqual(0, new LearningRateSchedule(1e-3, 0.5, 0).Minimum, "no floor");

        // 1e-3 · 0.5^5000 is 0 as a float: the run reported a rate of 0 and counted steps that changed nothing.
        var data = new DataMatrix(20, 6, Enumerable.Range(0, 120).Select(i => (float)(i % 3 == 0 ? 1 : 0)).ToArray());
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("6b-4b"), 3);
        TrainingOptions Options(int first, int epochs, double minimum = 0) => new()
            { Epochs = epochs, BatchSize = 10, FirstScheduleEpoch = first, LearningRate = new(1e-3, 0.5, minimum), Optimizer = () => new RateRecordingOptimizer() };
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new HelmholtzTrainer(new ConstantGradientRule(), Options(5000, 1)).Train(machine, data));
        Assert.AreEqual(nameof(TrainingOptions.LearningRate), e.ParamName);
        StringAssert.Contains(e.Message, "from its epoch 5000 (this run's epoch 1, FirstScheduleEpoch = 5000)");
        StringAssert.Contains(e.Message, "LearningRateSchedule.Minimum");
        Assert.AreEqual(0L, machine.StepsTrained, "refused before the first step");

        // 1e-3 · 2⁻¹⁴⁰ still rounds to the smallest float; 2⁻¹⁴¹ of it does not: the first epoch at 0 is named, in the run's terms too.
        e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new HelmholtzTrainer(new ConstantGradientRule(), Options(100, 50)).Train(machine, data));
        StringAssert.Contains(e.Message, "from its epoch 141 (this run's epoch 42, FirstScheduleEpoch = 100)");
        var reports = new HelmholtzTrainer(new ConstantGradientRule(), Options(100, 41)).Train(machine, data);
        Assert.AreEqual(float.Epsilon, (float)reports[^1].LearningRate, "schedule epoch 140 takes the smallest float");
        var floored = new HelmholtzTrainer(new ConstantGradientRule(), Options(5000, 1, minimum: 1e-4)).Train(machine, data);
        Assert.AreEqual(1e-4f, (float)floored[0].LearningRate, "a floor keeps the rate up");

        // With a time limit the epochs asked for are a bound ("--epochs 100000 --time-limit 60"): the run stops at the first epoch at 0, as at its limit.
        TrainingOptions Limited(int first, int epochs) { var o = Options(first, epochs); o.TimeLimit = TimeSpan.FromHours(1); return o; }
        long steps = machine.StepsTrained;
        Assert.IsEmpty(new HelmholtzTrainer(new ConstantGradientRule(), Limited(5000, 1)).Train(machine, data), "no epoch has a rate");
        Assert.AreEqual(steps, machine.StepsTrained);
        Assert.HasCount(41, new HelmholtzTrainer(new ConstantGradientRule(), Limited(100, 1_000_000)).Train(machine, data), "schedule epochs 100 to 140");
    }

    private sealed class RateRecordingOptimizer : IOptimizer
    {
        public List<float> Rates { get; } = [];
        public string Name => "rates";
        public void Step(IReadOnlyList<Parameter> parameters, float learningRate) => Rates.Add(learningRate);
    }

    /// <summary>Adds 1 to every gradient entry per minibatch, whatever the data.</summary>
    private sealed class ConstantGradientRule : ILearningRule
    {
        public string Name => "constant";
        public string Objective => "nothing";
        public int SamplesPerExample => 1;
        public IReadOnlyList<Parameter> Parameters { get; } = [];
        public string? Unsupported(HelmholtzArchitecture architecture) => null;
        public void Prepare(HelmholtzMachine machine, int batchCapacity) { }

        public BatchLoss AccumulateGradients(HelmholtzMachine machine, TrainingBatch batch)
        {
            foreach (Parameter p in machine.Parameters)
                for (int i = 0; i < p.Length; i++) p.Gradient[i] += 1f;
            return BatchLoss.OfFreeEnergy(0);
        }
    }

    /// <summary>Records the largest gradient entry it is given, and leaves gradients and values alone.</summary>
    private sealed class RecordingOptimizer : IOptimizer
    {
        public List<float> Largest { get; } = [];
        public string Name => "recording";
        public void Step(IReadOnlyList<Parameter> parameters, float learningRate) => Largest.Add(parameters.Max(p => p.Gradient.Max()));
    }

    [TestMethod]
    public void EachMinibatchStartsFromZeroGradientsWhetherOrNotTheOptimizerClearsThem()
    {
        var data = new DataMatrix(40, 6, Enumerable.Range(0, 240).Select(i => (float)(i % 3 == 0 ? 1 : 0)).ToArray());
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("6b-4b"), 1);
        foreach (Parameter p in machine.Parameters) Array.Fill(p.Gradient, 7f); // left over from earlier use
        var recording = new RecordingOptimizer();
        new HelmholtzTrainer(new ConstantGradientRule(), new TrainingOptions { Epochs = 2, BatchSize = 10, Optimizer = () => recording }).Train(machine, data);
        CollectionAssert.AreEqual(Enumerable.Repeat(1f, 8).ToArray(), recording.Largest, "an optimiser that does not clear: the trainer clears before each minibatch");

        foreach (Parameter p in machine.Parameters) Array.Fill(p.Gradient, 7f);
        new HelmholtzTrainer(new ConstantGradientRule(), new TrainingOptions { Epochs = 2, BatchSize = 10, Optimizer = () => new Adam() }).Train(machine, data);
        foreach (Parameter p in machine.Parameters)
            CollectionAssert.AreEqual(new float[p.Length], p.Gradient, $"{p.Name}: Adam cleared as it stepped, and the stale gradients were cleared before the first");
    }
}
