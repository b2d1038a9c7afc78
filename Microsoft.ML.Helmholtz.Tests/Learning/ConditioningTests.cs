using Microsoft.ML.Helmholtz.Learning;
using Microsoft.ML.Helmholtz.Learning.Rules;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;
using Microsoft.ML.Helmholtz.Tests.Support;

namespace Microsoft.ML.Helmholtz.Tests.Learning;

/// <summary>
/// Per-row conditioning of every layer (what the temporal model's LSTM will set): the gradients the
/// rules add into it against finite differences, on every layer kind of both networks, and zero
/// conditioning against none, bit for bit.
/// </summary>
[TestClass]
public sealed class ConditioningTests
{
    private static void Fill(LayerConditioning c, int rows, ulong seed, float scale)
    {
        var random = new RandomStream(seed);
        for (int l = 0; l <= c.Architecture.Depth; l++)
        {
            random.FillNormal(c.Generative(l, rows));
            Scale(c.Generative(l, rows), scale);
            if (l == 0) continue;
            random.FillNormal(c.Recognition(l, rows));
            Scale(c.Recognition(l, rows), scale);
        }
    }

    private static void Scale(Span<float> x, float s) { for (int i = 0; i < x.Length; i++) x[i] *= s; }

    /// <summary>Central differences (Richardson-extrapolated) of <paramref name="loss"/> in every conditioning value, against the gradients the rule left.</summary>
    private static void AssertConditioningGradientsMatch(LayerConditioning c, int rows, Func<double> loss, string context)
    {
        int depth = c.Architecture.Depth;
        int checkedValues = 0, nonZero = 0;
        for (int network = 0; network < 2; network++)
        {
            for (int l = network; l <= depth; l++)
            {
                Span<float> Values() => network == 0 ? c.Generative(l, rows) : c.Recognition(l, rows);
                float[] analytic = (network == 0 ? c.GenerativeGradient(l, rows) : c.RecognitionGradient(l, rows)).ToArray();
                for (int i = 0; i < analytic.Length; i++)
                {
                    double Central(double h)
                    {
                        float saved = Values()[i];
                        Values()[i] = saved + (float)h;
                        double up = loss();
                        Values()[i] = saved - (float)h;
                        double down = loss();
                        Values()[i] = saved;
                        return (up - down) / (2 * h);
                    }
                    const double epsilon = 1e-2;
                    double numeric = (4 * Central(epsilon) - Central(2 * epsilon)) / 3;
                    double tolerance = 1e-3 + 3e-3 * Math.Abs(numeric) + 1e-6 * Math.Abs(loss()) / epsilon;
                    Assert.AreEqual(numeric, analytic[i], tolerance, $"{context}: {(network == 0 ? "generative" : "recognition")} layer {l} conditioning [{i}]");
                    checkedValues++;
                    if (Math.Abs(numeric) > 1e-3) nonZero++;
                }
            }
        }
        Assert.IsTrue(nonZero > checkedValues / 2, $"{context}: most conditioning gradients should be non-zero ({nonZero} of {checkedValues})");
    }

    /// <summary>
    /// K rows of an example under one conditioning (the temporal trainer's batches): sharing the bottom
    /// recognition layer per example gives the per-row path's loss and gradients (parameters and
    /// conditioning) from the same draws, to float rounding of the products' order.
    /// </summary>
    [TestMethod]
    [DataRow("iwae", "6b-4g-3g")]
    [DataRow("vimco", "6b-4b-3b")]
    [DataRow("rws", "6b-4b-3b")]
    public void SharingTheBottomLayerUnderConditioningPerExampleChangesNothing(string ruleName, string architecture)
    {
        const int examples = 4, k = 3;
        var data = TestModels.RandomStates(HelmholtzArchitecture.Parse(architecture), examples, 111).Layer(0, examples).ToArray();
        var perExample = new LayerConditioning(HelmholtzArchitecture.Parse(architecture), examples);
        Fill(perExample, examples, 112, 0.5f);
        (BatchLoss Loss, float[][] Parameters, float[][] Conditioning) Run(bool shared)
        {
            var machine = TestModels.Random(architecture, 110, scale: 0.4f);
            var batch = new TrainingBatch(machine.Architecture, examples, k, new RandomStream(113), conditioned: true) { ConditioningSharedByExample = shared };
            data.CopyTo(batch.ExampleRows(examples));
            batch.Load(examples);
            LayerConditioning c = batch.Conditioning!;
            var layers = machine.Architecture.Layers;
            for (int l = 0; l <= machine.Architecture.Depth; l++)
                for (int r = 0; r < batch.Rows; r++)
                {
                    int size = layers[l].Size, e = r / k;
                    perExample.Generative(l, examples).Slice(e * size, size).CopyTo(c.Generative(l, batch.Rows).Slice(r * size, size));
                    if (l > 0) perExample.Recognition(l, examples).Slice(e * size, size).CopyTo(c.Recognition(l, batch.Rows).Slice(r * size, size));
                }
            c.ClearGradients();
            machine.ZeroGradients();
            BatchLoss loss = LearningRules.Create(ruleName, k).AccumulateGradients(machine, batch);
            var conditioningGradients = new List<float[]>();
            for (int l = 0; l <= machine.Architecture.Depth; l++)
            {
                conditioningGradients.Add(c.GenerativeGradient(l, batch.Rows).ToArray());
                if (l > 0) conditioningGradients.Add(c.RecognitionGradient(l, batch.Rows).ToArray());
            }
            return (loss, machine.Parameters.Select(p => (float[])p.Gradient.Clone()).ToArray(), conditioningGradients.ToArray());
        }
        var perRow = Run(shared: false);
        var sharedRun = Run(shared: true);
        Assert.AreEqual(perRow.Loss.FreeEnergy, sharedRun.Loss.FreeEnergy, 1e-5 * Math.Abs(perRow.Loss.FreeEnergy));
        Assert.AreEqual(perRow.Loss.Objective, sharedRun.Loss.Objective, 1e-5 * Math.Abs(perRow.Loss.Objective));
        int nonZero = 0;
        foreach (var (expected, actual) in perRow.Parameters.Concat(perRow.Conditioning).Zip(sharedRun.Parameters.Concat(sharedRun.Conditioning)))
            for (int i = 0; i < expected.Length; i++)
            {
                Assert.AreEqual(expected[i], actual[i], 1e-5 + 1e-4 * Math.Abs(expected[i]), $"entry {i}");
                if (expected[i] != 0) nonZero++;
            }
        Assert.IsTrue(nonZero > 50, $"the gradients are not trivially zero ({nonZero} non-zero)");
    }

    [TestMethod]
    [DataRow("sbp", 1, "5b-3g-2g")]
    [DataRow("iwae", 3, "5b-3g-2g")]
    [DataRow("iwae", 3, "5b-3gr-2gr")]
    public void PathWiseRulesGiveTheGradientOfTheirObjectiveInTheConditioning(string ruleName, int k, string architecture)
    {
        var machine = TestModels.Random(architecture, 101, scale: 0.4f);
        const int examples = 3;
        const ulong seed = 102;
        var data = TestModels.RandomStates(machine.Architecture, examples, 103).Layer(0, examples).ToArray();
        var batch = new TrainingBatch(machine.Architecture, examples, k, new RandomStream(seed), conditioned: true);
        data.CopyTo(batch.ExampleRows(examples));
        batch.Load(examples);
        LayerConditioning c = batch.Conditioning!;
        Fill(c, batch.Rows, 104, 0.5f);
        c.ClearGradients();
        ILearningRule rule = LearningRules.Create(ruleName, k);
        rule.AccumulateGradients(machine, batch);

        double Loss()
        {
            int rows = batch.Rows;
            var f = new double[rows];
            var lj = new double[rows];
            machine.SampleFreeEnergy(new RandomStream(seed), batch.States, rows, f, lj, c);
            double total = 0;
            for (int e = 0; e < examples; e++)
                total += -(Kernels.LogSumExp(f.AsSpan(e * k, k).ToArray().Select(x => -x).ToArray()) - Math.Log(k));
            return total / examples;
        }
        AssertConditioningGradientsMatch(c, batch.Rows, Loss, ruleName);
    }

    [TestMethod]
    public void BinaryLayersGiveTheGradientOfTheirLogProbabilityInTheConditioning()
    {
        // Σ_r w_r ln p(X_r) and Σ_r w_r ln q(X_>0,r | X_0,r) at fixed states: Bernoulli layers and the Bernoulli prior.
        var machine = TestModels.Random("5b-3b-2b", 105, scale: 0.6f);
        const int rows = 4;
        var states = TestModels.RandomStates(machine.Architecture, rows, 106);
        var c = new LayerConditioning(machine.Architecture, rows);
        Fill(c, rows, 107, 0.7f);
        float[] w = [0.5f, -1f, 2f, 0.25f];
        double Loss()
        {
            var lp = new double[rows];
            var lq = new double[rows];
            machine.Generative.AccumulateLogJoint(states, rows, lp, c);
            machine.Recognition.AccumulateLogProb(states, rows, lq, c);
            double total = 0;
            for (int r = 0; r < rows; r++) total += w[r] * (lp[r] + lq[r]);
            return total;
        }
        c.ClearGradients();
        Loss();   // leaves the forwards current for the gradients
        machine.Generative.AccumulateLogJoint(states, rows, new double[rows], c);
        machine.Generative.AccumulateLogJointGradient(states, rows, w, c);
        machine.Recognition.AccumulateLogProb(states, rows, new double[rows], c);
        machine.Recognition.AccumulateLogProbGradient(states, rows, w, c);
        AssertConditioningGradientsMatch(c, rows, Loss, "binary");
    }

    /// <summary>
    /// Variance normalisation scales the recognition parameters' gradients (a step size), but the gradient the rules add to a
    /// conditioning is the objective's own: with and without the normalisation, on the same draws, the conditioning gradients of
    /// both networks agree, while the recognition weights' gradients differ by the scale. The recognition share was scaled too,
    /// and the temporal model's LSTM, which both networks' conditioning reaches, followed a mix of the two that is the gradient
    /// of no objective (a review measured its input weights' expected step at −0.47 times the free energy's gradient).
    /// </summary>
    [TestMethod]
    [DataRow("reinforce")]
    [DataRow("nvil")]
    public void VarianceNormalisationLeavesTheConditioningGradientUnscaled(string ruleName)
    {
        var machine = TestModels.Random("24b-6b-4b", 111, scale: 0.8f);
        const int examples = 16;
        var data = TestModels.BinaryData(examples, 24, 112);
        (float[][] Conditioning, float[] RecognitionWeight) Gradients(bool normalise)
        {
            ILearningRule rule = TestModels.RuleWithoutInputBaseline(ruleName, normalise);
            var batch = new TrainingBatch(machine.Architecture, examples, 1, new RandomStream(113), conditioned: true);
            data.Values.CopyTo(batch.ExampleRows(examples));
            batch.Load(examples);
            Fill(batch.Conditioning!, examples, 114, 0.5f);
            batch.Conditioning!.ClearGradients();
            // A recognition conditioning gradient already there (an earlier call's, as a temporal run's steps accumulate) is kept
            // as it was: only what this call adds is unscaled.
            for (int l = 1; l <= 2; l++) batch.Conditioning.RecognitionGradient(l, examples).Fill(1f);
            machine.ZeroGradients();
            rule.AccumulateGradients(machine, batch);
            var c = batch.Conditioning;
            float[][] conditioning = [.. Enumerable.Range(0, 3).Select(l => c.GenerativeGradient(l, examples).ToArray()),
                .. Enumerable.Range(1, 2).Select(l => c.RecognitionGradient(l, examples).ToArray())];
            return (conditioning, machine.Recognition.Layer(1).Parameters[0].Gradient.ToArray());
        }
        var (normalised, normalisedWeight) = Gradients(true);
        var (plain, plainWeight) = Gradients(false);
        double ratio = normalisedWeight.Zip(plainWeight).Where(p => Math.Abs(p.Second) > 1e-3).Average(p => p.First / p.Second);
        Assert.IsTrue(ratio < 0.9, $"the premise: the normalisation scales the recognition weights' gradient (by {ratio})");
        for (int i = 0; i < plain.Length; i++)
            for (int j = 0; j < plain[i].Length; j++)
                Assert.AreEqual(plain[i][j], normalised[i][j], 1e-5f * (1 + Math.Abs(plain[i][j])), $"{ruleName}: conditioning gradient {i}, value {j}");
    }

    /// <summary>
    /// Wake-sleep dreams under the batch's conditioning, row by row: a prior conditioned far to one side (±30 on every top unit)
    /// makes every dream's top units 1 (or 0), so the recognition's top biases get the gradient of −ln q of those values alone,
    /// −(1 − σ(a))/B (or σ(a)/B) summed over the rows: every entry of one sign. Dreams drawn without it (a prior of biases near
    /// 0) mix both values over 20 rows.
    /// </summary>
    [TestMethod]
    [DataRow(30f)]
    [DataRow(-30f)]
    public void WakeSleepDreamsUnderTheBatchsConditioning(float shift)
    {
        var machine = TestModels.Random("6b-4b-5b", 119, scale: 0.8f);
        const int examples = 20;
        var batch = new TrainingBatch(machine.Architecture, examples, 1, new RandomStream(120), conditioned: true);
        TestModels.BinaryData(examples, 6, 121).Values.CopyTo(batch.ExampleRows(examples));
        batch.Load(examples);
        batch.Conditioning!.Generative(2, examples).Fill(shift);
        machine.ZeroGradients();
        new WakeSleep().AccumulateGradients(machine, batch);
        float[] topBias = machine.Recognition.Layer(2).Parameters.Single(p => p.Role == Microsoft.ML.Helmholtz.Layers.ParameterRole.Bias).Gradient;
        Assert.HasCount(5, topBias);
        foreach (float g in topBias) Assert.AreEqual(-Math.Sign(shift), Math.Sign(g), $"{g} with the prior shifted by {shift}");
    }

    /// <summary>Conditioned batches of the same binary rows drawing from the same seed: each is the one before, for replaying a rule's draws.</summary>
    private static Func<TrainingBatch> ReplayableBatches(HelmholtzMachine machine, int rows, ulong seed, ulong dataSeed)
    {
        var data = TestModels.BinaryData(rows, machine.Architecture.Visible.Size, dataSeed);
        return () =>
        {
            var b = new TrainingBatch(machine.Architecture, rows, 1, new RandomStream(seed), conditioned: true);
            data.Values.CopyTo(b.ExampleRows(rows));
            b.Load(rows);
            return b;
        };
    }

    /// <summary>
    /// Wake-sleep's gradient in the conditioning of both networks: with its wake samples X and its dreams D held as drawn, the
    /// loss is (1/B) Σ_r [−ln p(X_r) − ln q(D_r,&gt;0 | D_r,0)], the generative conditioning reached by the wake phase and the
    /// recognition conditioning by the sleep phase. (Only the dreams' draw under the conditioning was checked: a sleep phase that
    /// left the recognition conditioning without its gradient passed every test.) The draws are replayed from the batch's seed.
    /// </summary>
    [TestMethod]
    public void WakeSleepGivesTheGradientOfBothPhasesLossesInTheConditioning()
    {
        var machine = TestModels.Random("5b-3b-2b", 131, scale: 0.6f);
        const int rows = 4;
        Func<TrainingBatch> NewBatch = ReplayableBatches(machine, rows, seed: 132, dataSeed: 133);
        var batch = NewBatch();
        LayerConditioning c = batch.Conditioning!;
        Fill(c, rows, 134, 0.5f);
        c.ClearGradients();
        machine.ZeroGradients();
        new WakeSleep().AccumulateGradients(machine, batch);

        // The rule's draws replayed: the wake samples, then the dreams, from one stream.
        var replay = NewBatch();
        machine.SampleFreeEnergy(replay.Random, replay.States, rows, new double[rows], new double[rows], c);
        var dreams = new LayerStates(machine.Architecture, rows);
        machine.Generative.Dream(replay.Random, rows, dreams, c);
        for (int l = 0; l <= machine.Architecture.Depth; l++)
            CollectionAssert.AreEqual(batch.States.Layer(l, rows).ToArray(), replay.States.Layer(l, rows).ToArray(), $"the replayed wake samples of layer {l}");

        double Loss()
        {
            var lp = new double[rows];
            var lq = new double[rows];
            machine.Generative.AccumulateLogJoint(replay.States, rows, lp, c);
            machine.Recognition.AccumulateLogProb(dreams, rows, lq, c);
            double total = 0;
            for (int r = 0; r < rows; r++) total -= lp[r] + lq[r];
            return total / rows;
        }
        AssertConditioningGradientsMatch(c, rows, Loss, "wake-sleep");
    }

    [TestMethod]
    public void ZeroConditioningTrainsExactlyLikeNone()
    {
        var machine = TestModels.Random("6b-4g-3g", 108, scale: 0.4f);
        const int examples = 8;
        var data = TestModels.RandomStates(machine.Architecture, examples, 109).Layer(0, examples).ToArray();
        float[] Gradient(bool conditioned)
        {
            var batch = new TrainingBatch(machine.Architecture, examples, 1, new RandomStream(110), conditioned);
            data.CopyTo(batch.ExampleRows(examples));
            batch.Load(examples);
            machine.ZeroGradients();
            new StochasticBackpropagation().AccumulateGradients(machine, batch);
            return machine.Parameters.SelectMany(p => p.Gradient).ToArray();
        }
        CollectionAssert.AreEqual(Gradient(false), Gradient(true));
    }

    // A shared draw takes each row's own conditioning, row 0 alone on its input too (sources [0, 1, 1]): the draw is the plain one
    // over the inputs written out row by row. Gaussian draws, so row 0's conditioning (2 against −1) left out moves its draw by O(1);
    // 1e-5 allows the shared product's other rounding of the same 6-term sums.
    [TestMethod]
    public void ASharedDrawTakesTheFirstRowsOwnConditioning()
    {
        var machine = TestModels.Random("6b-4g", 121);
        const int rows = 3, distinct = 2;
        float[] visible = TestModels.RandomStates(machine.Architecture, distinct, 122).Layer(0, distinct).ToArray();
        int[] source = [0, 1, 1];
        var conditioning = new LayerConditioning(machine.Architecture, rows);
        Span<float> c = conditioning.Recognition(1, rows);
        for (int i = 0; i < c.Length; i++) c[i] = i < 4 ? 2f : -1f;
        var shared = new LayerStates(machine.Architecture, rows);
        machine.Recognition.Sample(new RandomStream(123), rows, shared, visible, distinct, source, conditioning);
        var plain = new LayerStates(machine.Architecture, rows);
        for (int r = 0; r < rows; r++) visible.AsSpan(source[r] * 6, 6).CopyTo(plain.Layer(0, rows).Slice(r * 6, 6));
        machine.Recognition.Sample(new RandomStream(123), rows, plain, conditioning);
        float[] expected = plain.Layer(1, rows).ToArray(), actual = shared.Layer(1, rows).ToArray();
        for (int i = 0; i < expected.Length; i++)
            Assert.AreEqual(expected[i], actual[i], 1e-5, $"row {i / 4}, unit {i % 4}");
    }

    /// <summary>
    /// A shared draw with conditioning checks its row sources before it reads them to pick each distinct input's conditioning, as
    /// the draw without conditioning does: it threw IndexOutOfRangeException, or a bare ArgumentOutOfRangeException, instead.
    /// </summary>
    [TestMethod]
    public void ASharedDrawWithConditioningNamesBadRowSources()
    {
        var machine = TestModels.Random("6b-3b", 120);
        var states = new LayerStates(machine.Architecture, 2);
        var conditioning = new LayerConditioning(machine.Architecture, 2);
        float[] visible = new float[12];
        foreach (int[] source in new[] { new[] { 0, 5 }, new[] { 0 }, new[] { 0, -1 } })
            foreach (LayerConditioning? c in new[] { null, conditioning })
            {
                var e = Assert.ThrowsExactly<ArgumentException>(() => machine.Recognition.Sample(new RandomStream(1), 2, states, visible, 1, source, c),
                    $"[{string.Join(", ", source)}], {(c is null ? "without" : "with")} conditioning");
                Assert.AreEqual("rowSource", e.ParamName);
            }
        var outOfRange = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => machine.Recognition.Sample(new RandomStream(1), 2, states, visible, -1, [0, 0], conditioning));
        Assert.AreEqual("distinctRows", outOfRange.ParamName);
    }

    // Variance normalisation's unscaling kept for a small batch, then a larger one: the copy it keeps grows with the rows
    // (a rule called on 2 rows, then 8). Exact: 1 + (3 − 1) / 2 = 2 in floats.
    [TestMethod]
    public void TheUnscaledConditioningGradientKeepsABatchLargerThanTheLast()
    {
        var conditioning = new LayerConditioning(HelmholtzArchitecture.Parse("6b-4b-3b"), 8);
        var unscaled = new UnscaledConditioningGradient();
        unscaled.Keep(conditioning, 2, 1, 2);
        unscaled.Unscale(conditioning, 2, 1, 2, 2.0);
        AssertUnscalesHalfwayBack(unscaled, conditioning, 8, before: 1, after: 3);
    }

    /// <summary>
    /// REINFORCE's and NVIL's gradient in the conditioning of both networks: with the draws and the learning signals s_r = F̂_r held
    /// as drawn (no baselines, no normalisation; NVIL giving every layer the whole F̂), it is the gradient of the surrogate
    /// (1/B) Σ_r [−ln p(X_r) + s_r ln q(X_r,&gt;0 | X_r,0)]: the generative conditioning reached by −ln p, the recognition
    /// conditioning by the score term. (The recognition share was checked only against the normalised rule's: a rule that left
    /// it out of both passed.) The draws are replayed from the batch's seed.
    /// </summary>
    [TestMethod]
    [DataRow("reinforce")]
    [DataRow("nvil")]
    public void TheScoreFunctionRulesGiveTheGradientOfTheirSurrogateInTheConditioning(string ruleName)
    {
        var machine = TestModels.Random("5b-3b-2b", 141, scale: 0.6f);
        const int rows = 4;
        Func<TrainingBatch> NewBatch = ReplayableBatches(machine, rows, seed: 142, dataSeed: 143);
        var batch = NewBatch();
        LayerConditioning c = batch.Conditioning!;
        Fill(c, rows, 144, 0.5f);
        c.ClearGradients();
        machine.ZeroGradients();
        ILearningRule rule = ruleName == "nvil"
            ? new Nvil(new NvilOptions { BaselineDecay = 0, InputBaselineHiddenUnits = 0, NormalizeVariance = false, LocalSignals = false })
            : new Reinforce(new ReinforceOptions { BaselineDecay = 0, InputBaselineHiddenUnits = 0, NormalizeVariance = false });
        rule.AccumulateGradients(machine, batch);

        // The rule's draws replayed, and with them each row's F̂, its signal.
        var replay = NewBatch();
        double[] signal = new double[rows];
        machine.SampleFreeEnergy(replay.Random, replay.States, rows, signal, new double[rows], c);
        for (int l = 0; l <= machine.Architecture.Depth; l++)
            CollectionAssert.AreEqual(batch.States.Layer(l, rows).ToArray(), replay.States.Layer(l, rows).ToArray(), $"the replayed samples of layer {l}");

        double Loss()
        {
            var lp = new double[rows];
            var lq = new double[rows];
            machine.Generative.AccumulateLogJoint(replay.States, rows, lp, c);
            machine.Recognition.AccumulateLogProb(replay.States, rows, lq, c);
            double total = 0;
            for (int r = 0; r < rows; r++) total += signal[r] * lq[r] - lp[r];
            return total / rows;
        }
        AssertConditioningGradientsMatch(c, rows, Loss, ruleName);
    }

    // Each Keep copies that call's gradients, also when the copy it keeps is already large enough (a rule's later batches of as
    // many rows): the second call gives 5 + (9 − 5) / 2 = 7, not 1 + (9 − 1) / 2 from the first call's copy. Exact in floats.
    [TestMethod]
    public void TheUnscaledConditioningGradientKeepsEachCallsGradient()
    {
        var conditioning = new LayerConditioning(HelmholtzArchitecture.Parse("6b-4b-3b"), 4);
        var unscaled = new UnscaledConditioningGradient();
        for (int call = 0; call < 2; call++)
            AssertUnscalesHalfwayBack(unscaled, conditioning, 4, before: 1 + 4 * call, after: 3 + 6 * call, $"call {call}, ");
    }

    /// <summary>
    /// Layers 1 and 2's recognition gradients in the conditioning kept at <paramref name="before"/>, then <paramref name="after"/>,
    /// unscaled by a factor 2: each is before + (after − before) / 2 (exact in floats for the small integers the tests give).
    /// </summary>
    private static void AssertUnscalesHalfwayBack(UnscaledConditioningGradient unscaled, LayerConditioning conditioning, int rows, float before, float after, string what = "")
    {
        for (int l = 1; l <= 2; l++) conditioning.RecognitionGradient(l, rows).Fill(before);
        unscaled.Keep(conditioning, rows, 1, 2);
        for (int l = 1; l <= 2; l++) conditioning.RecognitionGradient(l, rows).Fill(after);
        unscaled.Unscale(conditioning, rows, 1, 2, 2.0);
        for (int l = 1; l <= 2; l++)
            foreach (float g in conditioning.RecognitionGradient(l, rows).ToArray()) Assert.AreEqual(before + (after - before) / 2, g, $"{what}layer {l}");
    }

    // One rule's unscaling serves every machine the rule is prepared for (REINFORCE keeps layers 1…L): kept for a machine of one
    // hidden layer, then for one of two, the copy it keeps grows to the deeper machine's top layer (a copy sized for the first
    // machine had no room for it). Exact: 1 + (3 − 1) / 2 = 2 in floats.
    [TestMethod]
    public void TheUnscaledConditioningGradientKeepsTheLayersOfADeeperMachine()
    {
        var shallow = new LayerConditioning(HelmholtzArchitecture.Parse("6b-4b"), 4);
        var unscaled = new UnscaledConditioningGradient();
        unscaled.Keep(shallow, 4, 1, 1);
        unscaled.Unscale(shallow, 4, 1, 1, 2.0);
        var deep = new LayerConditioning(HelmholtzArchitecture.Parse("6b-4b-3b"), 4);
        AssertUnscalesHalfwayBack(unscaled, deep, 4, before: 1, after: 3);
    }
}
