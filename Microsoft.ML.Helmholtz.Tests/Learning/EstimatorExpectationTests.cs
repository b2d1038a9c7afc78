using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Learning;
using Microsoft.ML.Helmholtz.Learning.Rules;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;
using Microsoft.ML.Helmholtz.Tests.Support;

namespace Microsoft.ML.Helmholtz.Tests.Learning;

/// <summary>
/// The stochastic gradient estimators, averaged over many samples, against exact gradients: the
/// tolerance of each entry is five standard errors of the average (measured over independent
/// batches) plus the finite-difference tolerance.
/// </summary>
[TestClass]
public sealed class EstimatorExpectationTests
{
    private static double[] GradientOfOneBatch(HelmholtzMachine machine, ILearningRule rule, LayerStates states, int rows, RandomStream random)
    {
        machine.ZeroGradients();
        rule.AccumulateGradients(machine, states, rows, random);
        return Statistics.Flatten(machine.Parameters, p => p.Gradient);
    }

    private static LayerStates Replicated(HelmholtzMachine machine, float[][] examples, int rows)
    {
        var states = new LayerStates(machine.Architecture, rows);
        int d = machine.Architecture.Visible.Size;
        for (int r = 0; r < rows; r++) examples[r % examples.Length].CopyTo(states.Layer(0, rows).Slice(r * d, d));
        return states;
    }

    [TestMethod]
    [DataRow("10b-4b-3b")]
    [DataRow("10b-3t-4b-3t-3b")]   // the score-function gradient back through tanh trunks in both networks
    public void ReinforceGradientAveragesToTheExactGradientOfTheFreeEnergy(string architecture)
    {
        var machine = TestModels.Random(architecture, 51, scale: 0.7f);
        float[] v = [1, 0, 1, 1, 0, 0, 1, 0, 1, 1];
        double exactLoss() => TestModels.ExactFreeEnergy(machine, v);
        double[] exact = Statistics.NumericGradient(machine.Parameters, exactLoss);

        const int rows = 2500, batches = 40;
        // No baseline: the plain score-function estimator, unbiased term by term.
        var rule = new Reinforce(new ReinforceOptions { BaselineDecay = 0, InputBaselineHiddenUnits = 0, NormalizeVariance = false });
        rule.Prepare(machine, rows);
        var states = Replicated(machine, [v], rows);
        var random = new RandomStream(52);
        Statistics.AssertAveragesTo(exact, Enumerable.Range(0, batches).Select(_ => GradientOfOneBatch(machine, rule, states, rows, random)).ToList());
    }

    /// <summary>
    /// A rule's first batch starts its running baseline, and each of its rows is measured against the mean of the others: the first
    /// step's expected gradient is the free energy's. With the batch's own mean, a row's own F̂ in its baseline shrank the expected
    /// recognition gradient of that step by 1 − 1/rows (a half for two rows, which this checks over many fresh rules).
    /// </summary>
    [TestMethod]
    [DataRow("reinforce")]
    [DataRow("nvil")]
    public void TheFirstBatchsBaselineLeavesItsGradientUnbiased(string ruleName)
    {
        var machine = TestModels.Random("10b-4b-3b", 71, scale: 0.7f);
        float[] v = [1, 0, 1, 1, 0, 0, 1, 0, 1, 1];
        double[] exact = Statistics.NumericGradient(machine.Parameters, () => TestModels.ExactFreeEnergy(machine, v));
        const int rows = 2;
        var states = Replicated(machine, [v], rows);
        var random = new RandomStream(72);
        var samples = new List<double[]>();
        for (int i = 0; i < 160_000; i++)
        {
            ILearningRule rule = ruleName == "nvil"
                ? new Nvil(new NvilOptions { InputBaselineHiddenUnits = 0, NormalizeVariance = false })
                : new Reinforce(new ReinforceOptions { InputBaselineHiddenUnits = 0, NormalizeVariance = false });
            samples.Add(GradientOfOneBatch(machine, rule, states, rows, random));
        }
        Statistics.AssertAveragesTo(exact, samples);
    }

    [TestMethod]
    [DataRow("10b-4b-3b", 55)]
    [DataRow("10b-3t-3t-4b-3t-3b", 61)]   // the nonlinear 200∼200 machine's kind: the signals reach the weights through two tanh layers
    public void NvilWithLocalSignalsAveragesToTheExactGradient(string architecture, int seed)
    {
        // Each recognition layer's signal keeps only the terms its sample can change: unbiased.
        var machine = TestModels.Random(architecture, (ulong)seed, scale: 0.7f);
        float[] v = [1, 1, 0, 1, 0, 0, 1, 0, 1, 0];
        double[] exact = Statistics.NumericGradient(machine.Parameters, () => TestModels.ExactFreeEnergy(machine, v));
        Statistics.AssertAveragesTo(exact, NvilGradients(machine, Replicated(machine, [v], NvilRows), local: true, (ulong)seed + 1));
    }

    [TestMethod]
    public void NvilsLocalSignalsHaveLessVariance()
    {
        // The top layer no longer carries the noise of ln p(x | h1) and ln q(h1 | x); seen where the
        // visible layer (whose terms the top layer's local signal leaves out) is wide.
        var wide = TestModels.Random("60b-4b-3b", 57, scale: 0.7f);
        var wideStates = Replicated(wide, [TestModels.RandomStates(wide.Architecture, 1, 58).Layer(0, 1).ToArray()], NvilRows);
        var (_, localSe) = Statistics.MeanAndStandardError(NvilGradients(wide, wideStates, local: true, 59));
        var (_, globalSe) = Statistics.MeanAndStandardError(NvilGradients(wide, wideStates, local: false, 60));
        int top = localSe.Length - (3 * 4 + 3);   // recognition layer 2's weights and biases come last
        double localTop = localSe[top..].Average(), globalTop = globalSe[top..].Average();
        // The ratio of the two standard errors over 10 seed pairs (these, and 1000 + s, 2000 + s for s = 1…9; 2026-12-05):
        // mean 0.062, SD 0.0068; allowed: the mean + 5 SD.
        Assert.IsTrue(localTop < 0.10 * globalTop, $"the top recognition layer's gradient: standard error {localTop:G3} with local signals, {globalTop:G3} with the whole F̂");
    }

    private const int NvilRows = 2500;

    /// <summary>40 batches' gradients of NVIL without baselines or variance normalisation, with or without local signals.</summary>
    private static List<double[]> NvilGradients(HelmholtzMachine machine, LayerStates states, bool local, ulong seed)
    {
        var rule = new Nvil(new NvilOptions { BaselineDecay = 0, InputBaselineHiddenUnits = 0, NormalizeVariance = false, LocalSignals = local });
        rule.Prepare(machine, NvilRows);
        var random = new RandomStream(seed);
        return Enumerable.Range(0, 40).Select(_ => GradientOfOneBatch(machine, rule, states, NvilRows, random)).ToList();
    }

    [TestMethod]
    [DataRow("nvil", 55)]
    [DataRow("nvil", 155)]
    [DataRow("reinforce", 55)]
    public void TheDefaultNormalisedSignalsKeepEachLayersGradientDirection(string ruleName, int seed)
    {
        // With their default options (running and input-dependent baselines, variance normalisation) both rules divide each
        // recognition layer's signal by a running estimate of its spread: NVIL per layer, REINFORCE one for all. So the averaged
        // generative gradient is the exact one, and each recognition layer's is parallel to its exact gradient, with a positive
        // scale of its own (fitted here by least squares). The whole gradient is not parallel when the layers' scales differ.
        var machine = TestModels.Random("10b-4b-3b", (ulong)seed, scale: 0.7f);
        float[] v = [1, 1, 0, 1, 0, 0, 1, 0, 1, 0];
        double[] exact = Statistics.NumericGradient(machine.Parameters, () => TestModels.ExactFreeEnergy(machine, v));
        ILearningRule rule = ruleName == "nvil" ? new Nvil() : new Reinforce();
        const int rows = 2500, batches = 60;
        rule.Prepare(machine, rows);
        var states = Replicated(machine, [v], rows);
        var random = new RandomStream((ulong)seed + 1);
        for (int i = 0; i < 5; i++) GradientOfOneBatch(machine, rule, states, rows, random);   // let the baselines and the spreads settle
        var samples = Enumerable.Range(0, batches).Select(_ => GradientOfOneBatch(machine, rule, states, rows, random)).ToList();
        int at = 0;
        foreach (var (name, parameters) in new[] { ("generative", machine.Generative.Parameters), ("recognition 1", machine.Recognition.Layer(1).Parameters),
                     ("recognition 2", machine.Recognition.Layer(2).Parameters) })
        {
            int n = parameters.Sum(p => p.Length);
            double[] block = exact[at..(at + n)];
            var blockSamples = samples.Select(g => g[at..(at + n)]).ToList();
            double[] mean = Statistics.MeanAndStandardError(blockSamples).Mean;
            double scale = name == "generative" ? 1 : block.Zip(mean, (e, m) => e * m).Sum() / block.Sum(e => e * e);
            Assert.IsTrue(scale > 0.05, $"{name}: the scale {scale:G3} of its gradient");
            Statistics.AssertAveragesTo(block.Select(e => scale * e).ToArray(), blockSamples, label: i => $"{name}, scale {scale:F4}");
            at += n;
        }
    }

    [TestMethod]
    public void ReinforceWithBaselinesKeepsTheExpectedRecognitionGradientDirection()
    {
        // With a running and an input-dependent baseline the estimator stays unbiased: without variance normalisation the
        // averaged recognition gradient is the exact one (with it, a rescaled one: TheDefaultNormalisedSignalsKeepEachLayersGradientDirection).
        var machine = TestModels.Random("10b-4b-3b", 53, scale: 0.7f);
        float[] v = [0, 1, 1, 0, 0, 1, 1, 0, 1, 0];
        double[] exact = Statistics.NumericGradient(machine.Recognition.Parameters, () => TestModels.ExactFreeEnergy(machine, v));
        var rule = new Reinforce(new ReinforceOptions { NormalizeVariance = false });
        const int rows = 2500, batches = 40;
        rule.Prepare(machine, rows);
        var states = Replicated(machine, [v], rows);
        var random = new RandomStream(54);
        int generative = Statistics.Flatten(machine.Generative.Parameters, p => p.Value).Length;
        for (int i = 0; i < 5; i++) GradientOfOneBatch(machine, rule, states, rows, random); // let the baselines settle
        var samples = Enumerable.Range(0, batches).Select(_ => GradientOfOneBatch(machine, rule, states, rows, random)[generative..]).ToList();
        Statistics.AssertAveragesTo(exact, samples, label: _ => "recognition");
    }

    [TestMethod]
    [DataRow("6b-4g-3g")]
    [DataRow("5g-4g-3g")]
    public void PriceAndPathWiseVarianceGradientsHaveTheSameExpectation(string architecture)
    {
        var machine = TestModels.Random(architecture, 61, scale: 0.4f);
        var data = TestModels.RandomStates(machine.Architecture, 4, 62);
        float[][] examples = Enumerable.Range(0, 4).Select(r => data.Layer(0, 4).Slice(r * machine.Architecture.Visible.Size, machine.Architecture.Visible.Size).ToArray()).ToArray();
        const int rows = 2000, batches = 40;
        var states = Replicated(machine, examples, rows);
        List<double[]> Run(VarianceGradient variance, ulong seed)
        {
            var rule = new StochasticBackpropagation(variance);
            rule.Prepare(machine, rows);
            var random = new RandomStream(seed);
            return Enumerable.Range(0, batches).Select(_ => GradientOfOneBatch(machine, rule, states, rows, random)).ToList();
        }
        var price = Run(VarianceGradient.Price, 63);
        var pathWise = Run(VarianceGradient.PathWise, 64);
        var (mp, sp) = Statistics.MeanAndStandardError(price);
        var (mw, sw) = Statistics.MeanAndStandardError(pathWise);
        for (int i = 0; i < mp.Length; i++)
        {
            double se = Math.Sqrt(sp[i] * sp[i] + sw[i] * sw[i]);
            Assert.AreEqual(mw[i], mp[i], 5 * se + 1e-5, $"entry {i}: Price {mp[i]:G5} ± {sp[i]:G3}, path-wise {mw[i]:G5} ± {sw[i]:G3}");
        }
        // On the same draws, Price's form gives the path-wise generative gradient bit for bit (it changes only the recognition
        // variances' gradient) and a recognition gradient of its own: the two must really differ, or the comparison proves nothing,
        // and a rule asked for Price's form that ran path-wise would agree in both (draws of two seeds had differed anyway).
        double[] OnSameDraws(VarianceGradient variance)
        {
            var rule = new StochasticBackpropagation(variance);
            rule.Prepare(machine, rows);
            return GradientOfOneBatch(machine, rule, states, rows, new RandomStream(65));
        }
        double[] priceOnce = OnSameDraws(VarianceGradient.Price), pathWiseOnce = OnSameDraws(VarianceGradient.PathWise);
        int generative = Statistics.Flatten(machine.Generative.Parameters, p => p.Value).Length;
        CollectionAssert.AreEqual(pathWiseOnce[..generative], priceOnce[..generative], "the generative gradient");
        Assert.IsTrue(Enumerable.Range(generative, mp.Length - generative).Any(i => Math.Abs(priceOnce[i] - pathWiseOnce[i]) > 1e-3), "Price's and the path-wise recognition gradients coincide");
    }

    /// <summary>
    /// The input-dependent baseline's backward is the gradient of its loss Σ_r ½ (c(x_r) − t_r)² / B, through the tanh hidden layer,
    /// against central differences (Richardson-extrapolated at ε = 10⁻²: their error is far below the 10⁻³ allowed, as is the float
    /// rounding of a loss of a few units).
    /// </summary>
    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]   // each call's gradient alone: the hidden layer's gradient buffer, which the output map adds into, is cleared on each call
    public void TheInputBaselinesBackwardIsTheGradientOfItsSquaredError(bool afterAnEarlierBatch)
    {
        const int inputs = 5, hidden = 4, rows = 6;
        var baseline = new InputDependentBaseline(inputs, hidden, MatrixEngine.Managed, new RandomStream(117));
        var random = new RandomStream(118);
        float[] input = new float[rows * inputs];
        random.FillNormal(input);
        foreach (Parameter p in baseline.Parameters) random.FillNormal(p.Value);   // biases and output weights away from 0 too
        double[] target = Enumerable.Range(0, rows).Select(r => 0.5 * r - 1).ToArray();
        if (afterAnEarlierBatch)
        {
            float[] earlier = new float[rows * inputs];
            random.FillNormal(earlier);
            baseline.Predict(earlier, rows);
            baseline.Backward(earlier, Enumerable.Range(0, rows).Select(r => 3.0 - r).ToArray(), rows);
        }
        double Loss()
        {
            ReadOnlySpan<float> c = baseline.Predict(input, rows);
            double loss = 0;
            for (int r = 0; r < rows; r++) loss += 0.5 * (c[r] - target[r]) * (c[r] - target[r]) / rows;
            return loss;
        }
        double[] exact = Statistics.NumericGradient(baseline.Parameters, Loss);
        foreach (Parameter p in baseline.Parameters) Array.Clear(p.Gradient);
        baseline.Predict(input, rows);
        baseline.Backward(input, target, rows);
        double[] analytic = Statistics.Flatten(baseline.Parameters, p => p.Gradient);
        for (int i = 0; i < exact.Length; i++) Assert.AreEqual(exact[i], analytic[i], 1e-3 * Math.Max(1, Math.Abs(exact[i])), $"entry {i}");
    }

    [TestMethod]
    public void StochasticBackpropagationRefusesBinaryHiddenLayersWithAClearError()
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("6b-4g-3b"), 1);
        var e = Assert.ThrowsExactly<NotSupportedException>(() => new StochasticBackpropagation().Prepare(machine, 10));
        StringAssert.Contains(e.Message, "hidden layer 2");
        StringAssert.Contains(e.Message, "Bernoulli");
    }

    /// <summary>
    /// The running baselines' arithmetic: the first batch's mean F̂ starts them, and each later batch moves them by
    /// b ← decay · b + (1 − decay) · mean. NVIL without local signals gives every layer the whole F̂, so each of its
    /// baselines is that of REINFORCE. The mean F̂ is the batch loss the rule returns; the baselines are formed from
    /// it in double precision, so the tolerance is a few rounding errors of the values. The second batch is larger than the first:
    /// the rule, prepared again for it on the same machine, keeps its baselines (a rule that restarted them as it grew would hold
    /// the second mean alone).
    /// </summary>
    [TestMethod]
    [DataRow("reinforce")]
    [DataRow("nvil")]
    public void TheRunningBaselineStartsAtTheFirstMeanAndThenDecays(string ruleName)
    {
        var machine = TestModels.Random("10b-4b-3b", 81, scale: 0.7f);
        const int firstRows = 10, rows = 40;
        const double decay = 0.8;
        ILearningRule rule = ruleName == "nvil"
            ? new Nvil(new NvilOptions { BaselineDecay = decay, InputBaselineHiddenUnits = 0, NormalizeVariance = false, LocalSignals = false })
            : new Reinforce(new ReinforceOptions { BaselineDecay = decay, InputBaselineHiddenUnits = 0, NormalizeVariance = false });
        IReadOnlyList<double> Baselines() => rule is Nvil nvil ? nvil.Baselines : [((Reinforce)rule).Baseline];
        var random = new RandomStream(83);
        double first = rule.AccumulateGradients(machine, TestModels.RandomStates(machine.Architecture, firstRows, 82), firstRows, random);
        foreach (double b in Baselines()) Assert.AreEqual(first, b, 1e-12 * Math.Abs(first), "after the first batch");
        double second = rule.AccumulateGradients(machine, TestModels.RandomStates(machine.Architecture, rows, 84), rows, random);
        Assert.IsTrue(Math.Abs(second - first) > 1e-3 * Math.Abs(first), $"the two batches' means {first} and {second} should differ");
        double expected = decay * first + (1 - decay) * second;
        foreach (double b in Baselines()) Assert.AreEqual(expected, b, 1e-12 * Math.Abs(expected), "after the second batch");
        // Another machine starts the baselines afresh: at its own first batch's mean, not moved from 0 by a fifth of it.
        var other = TestModels.Random("10b-4b-3b", 86, scale: 0.7f);
        double otherFirst = rule.AccumulateGradients(other, TestModels.RandomStates(other.Architecture, rows, 87), rows, random);
        foreach (double b in Baselines()) Assert.AreEqual(otherFirst, b, 1e-12 * Math.Abs(otherFirst), "after another machine's first batch");
    }

    /// <summary>
    /// REINFORCE and NVIL divide each signal by its running standard deviation only when that is above 1: a machine whose F̂ terms
    /// hardly vary (tiny weights) keeps every running variance below 1 from the start (0.9 · 1 + 0.1 · a small variance), so the
    /// normalised rule's gradients are, bit for bit, those of the rule without normalisation (the same scale 1.0 multiplies).
    /// </summary>
    [TestMethod]
    [DataRow("reinforce", "6b-1b", 85)]
    [DataRow("nvil", "6b-3b-2b", 91)]
    public void ASignalWhoseSpreadIsBelowOneIsLeftUnscaled(string ruleName, string architecture, int seed)
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse(architecture), (ulong)seed);
        foreach (Parameter p in machine.Parameters) for (int i = 0; i < p.Length; i++) p.Value[i] = 0.05f * ((i % 5) - 2);
        const int rows = 30;
        var states = TestModels.RandomStates(machine.Architecture, rows, (ulong)seed + 1);
        double[][] Gradients(bool normalize)
        {
            ILearningRule rule = TestModels.RuleWithoutInputBaseline(ruleName, normalize);
            var random = new RandomStream((ulong)seed + 2);
            return Enumerable.Range(0, 4).Select(_ => GradientOfOneBatch(machine, rule, states, rows, random)).ToArray();
        }
        double[][] normalized = Gradients(true), plain = Gradients(false);
        for (int b = 0; b < plain.Length; b++) CollectionAssert.AreEqual(plain[b], normalized[b], $"batch {b}");
    }

    /// <summary>
    /// The running variance moves as v ← d · v + (1 − d) · s² from v = 1, s² the batch's mean squared signal: after one batch
    /// v(d) − d = (1 − d) · s², with the same s² for every decay d (neither the draws nor the signal depend on it). So
    /// v(0.9) − 0.9 is a fifth of v(0.5) − 0.5, up to the rounding of a few double operations (the 1e-12 relative tolerance).
    /// </summary>
    [TestMethod]
    [DataRow("reinforce")]
    [DataRow("nvil")]
    public void TheRunningVarianceMovesByOneMinusItsDecayTowardsTheBatchs(string ruleName)
    {
        var machine = TestModels.Random("10b-4b-3b", 94, scale: 0.7f);
        const int rows = 40;
        var states = TestModels.RandomStates(machine.Architecture, rows, 95);
        int signals = ruleName == "nvil" ? 3 : 1;   // NVIL keeps one per layer and an unused 0th
        double[] VarianceAfterOneBatch(double decay)
        {
            ILearningRule rule = TestModels.RuleWithoutInputBaseline(ruleName, normalizeVariance: true, decay);
            GradientOfOneBatch(machine, rule, states, rows, new RandomStream(96));
            return RuleStates.Of(rule, machine.Parameters).ReadDoubles("variances", signals).ToArray();
        }
        double[] slow = VarianceAfterOneBatch(0.9), fast = VarianceAfterOneBatch(0.5);
        for (int i = 0; i < signals; i++)
        {
            Assert.IsTrue(fast[i] > 0.5, $"signal {i}: the batch's signals vary ({fast[i]})");
            Assert.AreEqual(0.2 * (fast[i] - 0.5), slow[i] - 0.9, 1e-12 * fast[i], $"signal {i}");
        }
    }

    /// <summary>
    /// The running variance is the mean squared signal itself, not its square or another power: with a variance decay of 0, no
    /// running baseline and no input-dependent baseline, a batch of one row has the signal F̂ (NVIL's lowest layer: F̂_1, the whole
    /// F̂), which is the batch loss, so v = loss². (The tests above compare decays and scales against v as the rule reports it, so a
    /// v of the wrong power passes them.) Each batch is formed by a handful of double operations from the same F̂: 1e-12 relative.
    /// </summary>
    [TestMethod]
    [DataRow("reinforce")]
    [DataRow("nvil")]
    public void WithNoDecayTheRunningVarianceIsTheBatchsMeanSquaredSignal(string ruleName)
    {
        var machine = TestModels.Random("10b-4b-3b", 97, scale: 0.7f);
        ILearningRule rule = TestModels.RuleWithoutInputBaseline(ruleName, normalizeVariance: true, varianceDecay: 0, baselineDecay: 0);
        var random = new RandomStream(100);
        for (int batch = 0; batch < 3; batch++)
        {
            double loss = rule.AccumulateGradients(machine, TestModels.RandomStates(machine.Architecture, 1, 101 + (ulong)batch), 1, random);
            double v = RuleStates.Of(rule, machine.Parameters).ReadDoubles("variances", ruleName == "nvil" ? machine.Architecture.Depth + 1 : 1)[ruleName == "nvil" ? 1 : 0];
            Assert.IsTrue(Math.Abs(loss) > 2, $"batch {batch}: the premise, a signal whose square and fourth power differ ({loss})");
            Assert.AreEqual(loss * loss, v, 1e-12 * loss * loss, $"batch {batch}");
        }
    }

    /// <summary>
    /// A normalised signal is divided by its running standard deviation √v (when above 1), not by the variance v: with a variance
    /// decay of 0, v is the batch's mean squared signal, and on the same draws each recognition layer's gradient is the unnormalised
    /// rule's times 1/√v (NVIL: its own layer's v; REINFORCE: one v for every layer), the generative gradient unchanged. Both are
    /// float sums of the same terms, each scaled in double before its rounding to float: 1e-5 of the layer's largest entry covers it.
    /// </summary>
    [TestMethod]
    [DataRow("reinforce")]
    [DataRow("nvil")]
    public void ANormalisedSignalIsDividedByItsRunningStandardDeviation(string ruleName)
    {
        var machine = TestModels.Random("10b-4b-3b", 97, scale: 0.7f);
        const int rows = 40;
        var states = TestModels.RandomStates(machine.Architecture, rows, 98);
        int depth = machine.Architecture.Depth;
        (double[][] Recognition, double[] Generative) Gradients(ILearningRule rule)
        {
            machine.ZeroGradients();
            rule.AccumulateGradients(machine, states, rows, new RandomStream(99));
            return (Enumerable.Range(1, depth).Select(l => Statistics.Flatten(machine.Recognition.Layer(l).Parameters, p => p.Gradient)).ToArray(),
                Statistics.Flatten(machine.Generative.Parameters, p => p.Gradient));
        }
        ILearningRule normalised = TestModels.RuleWithoutInputBaseline(ruleName, normalizeVariance: true, varianceDecay: 0);
        var (scaled, generative) = Gradients(normalised);
        var (plain, plainGenerative) = Gradients(TestModels.RuleWithoutInputBaseline(ruleName, normalizeVariance: false));
        CollectionAssert.AreEqual(plainGenerative, generative, "the generative gradient");
        double[] variances = RuleStates.Of(normalised, machine.Parameters).ReadDoubles("variances", ruleName == "nvil" ? depth + 1 : 1).ToArray();
        for (int l = 1; l <= depth; l++)
        {
            double v = ruleName == "nvil" ? variances[l] : variances[0];
            Assert.IsTrue(v > 2, $"layer {l}: the signal's variance {v} should be well above 1");
            double scale = 1 / Math.Sqrt(v), largest = plain[l - 1].Max(Math.Abs);
            for (int i = 0; i < plain[l - 1].Length; i++)
                Assert.AreEqual(scale * plain[l - 1][i], scaled[l - 1][i], 1e-5 * largest, $"layer {l}, entry {i}: scale {scale:G4}");
        }
    }

    /// <summary>
    /// With local signals each NVIL layer's running baseline follows its own signal F̂_l: the first batch starts it at that signal's
    /// mean whatever the decay (the lowest layer's F̂_1 is the whole F̂, the batch loss; the top layer's leaves out the visible
    /// layer's terms), so on the same draws rules of decay 0.5 and 0.9 agree after it; a later batch moves each by 1 − d towards its
    /// signal's new mean, so (b − d b₁)/(1 − d) agree after the second. The tolerances are a few double roundings of a few nats.
    /// </summary>
    [TestMethod]
    public void EachNvilLayersRunningBaselineFollowsItsOwnLocalSignal()
    {
        var machine = TestModels.Random("10b-4b-3b", 81, scale: 0.7f);
        const int rows = 40;
        double[] decays = [0.5, 0.9];
        var first = new double[2][];
        var second = new double[2][];
        double loss = 0;
        for (int i = 0; i < 2; i++)
        {
            double d = decays[i];
            var rule = (Nvil)TestModels.RuleWithoutInputBaseline("nvil", normalizeVariance: false, baselineDecay: d);
            var random = new RandomStream(83);
            loss = rule.AccumulateGradients(machine, TestModels.RandomStates(machine.Architecture, rows, 82), rows, random);
            double[] b1 = first[i] = rule.Baselines.ToArray();
            rule.AccumulateGradients(machine, TestModels.RandomStates(machine.Architecture, rows, 84), rows, random);
            second[i] = rule.Baselines.Select((b, l) => (b - d * b1[l]) / (1 - d)).ToArray();
        }
        Assert.AreEqual(loss, first[0][0], 1e-12 * Math.Abs(loss), "the lowest layer's signal is the whole F̂");
        Assert.IsTrue(Math.Abs(first[0][1] - loss) > 0.1, $"the top layer's baseline {first[0][1]} should leave out the visible terms of F̂ = {loss}");
        for (int l = 0; l < first[0].Length; l++)
        {
            Assert.AreEqual(first[0][l], first[1][l], 1e-12 * Math.Abs(first[0][l]), $"layer {l + 1} after the first batch");
            Assert.AreEqual(second[0][l], second[1][l], 1e-9 * Math.Abs(second[0][l]), $"layer {l + 1}: the second batch's mean");
        }
    }

    /// <summary>
    /// Without a running baseline (decay 0), an input-dependent one or normalisation, REINFORCE and NVIL keep no state between
    /// batches: every batch's signal is F̂ itself (b = 0, the first batch's too), so a batch's gradient on the same draws is, bit
    /// for bit, the same as the rule's first batch or after another, and the baselines stay 0.
    /// </summary>
    [TestMethod]
    [DataRow("reinforce")]
    [DataRow("nvil")]
    public void WithoutARunningBaselineTheFirstBatchIsMeasuredAsEveryOther(string ruleName)
    {
        var machine = TestModels.Random("10b-4b-3b", 101, scale: 0.7f);
        const int rows = 20;
        var states = TestModels.RandomStates(machine.Architecture, rows, 102);
        ILearningRule rule = TestModels.RuleWithoutInputBaseline(ruleName, normalizeVariance: false, baselineDecay: 0);
        double[] firstBatch = GradientOfOneBatch(machine, rule, states, rows, new RandomStream(103));
        GradientOfOneBatch(machine, rule, TestModels.RandomStates(machine.Architecture, rows, 104), rows, new RandomStream(105));
        CollectionAssert.AreEqual(firstBatch, GradientOfOneBatch(machine, rule, states, rows, new RandomStream(103)));
        IReadOnlyList<double> baselines = rule is Nvil nvil ? nvil.Baselines : [((Reinforce)rule).Baseline];
        CollectionAssert.AreEqual(new double[baselines.Count], baselines.ToArray());
    }

    /// <summary>
    /// A first batch of one row has no other rows to measure it against: its baseline is 0 (not its own F̂, which would leave it no
    /// recognition gradient), so its gradient is, bit for bit, that of the rule without a running baseline on the same draw.
    /// </summary>
    [TestMethod]
    [DataRow("reinforce")]
    [DataRow("nvil")]
    public void AFirstBatchOfOneRowIsMeasuredAgainstNoBaseline(string ruleName)
    {
        var machine = TestModels.Random("10b-4b-3b", 107, scale: 0.7f);
        var states = TestModels.RandomStates(machine.Architecture, 1, 108);
        double[] without = GradientOfOneBatch(machine, TestModels.RuleWithoutInputBaseline(ruleName, normalizeVariance: false, baselineDecay: 0), states, 1, new RandomStream(109));
        CollectionAssert.AreEqual(without, GradientOfOneBatch(machine, TestModels.RuleWithoutInputBaseline(ruleName, normalizeVariance: false, baselineDecay: 0.9), states, 1, new RandomStream(109)));
        int generative = Statistics.Flatten(machine.Generative.Parameters, p => p.Value).Length;
        Assert.IsTrue(without[generative..].Any(g => Math.Abs(g) > 1e-3), "the recognition gradient of the one row");
    }

    /// <summary>
    /// The first batch's baseline for a row is the mean of the other rows' values, formed from the batch's mean: for two rows the
    /// other row's value (the smallest batch that has one: a baseline of 0 there left its signal uncentred), for one row none (0).
    /// Exact in double for these small integers.
    /// </summary>
    [TestMethod]
    [DataRow(new double[] { 3 }, 0.0)]
    [DataRow(new double[] { 1, 4 }, 4.0)]
    [DataRow(new double[] { 1, 4, 7 }, 5.5)]
    public void TheFirstBatchsBaselineForARowIsTheMeanOfTheOtherRows(double[] values, double expected)
        => Assert.AreEqual(expected, RunningEstimates.MeanOfOthers(values.Average(), values[0], values.Length));

    /// <summary>
    /// The input-dependent baseline c(x) is fitted by least squares to the centred signal F̂ − b, not to what is left of it after
    /// c: with its output weights 0 and its output bias 5, c(x) = 5 for every row, and on the first batch F̂ − b averages to 0
    /// (each row against the mean of the others), so the bias's gradient, the mean of c − (F̂ − b), is 5 (10 if c were fitted to
    /// F̂ − b − c). The tolerance covers the float sums of 40 terms of a few nats.
    /// </summary>
    [TestMethod]
    [DataRow("reinforce")]
    [DataRow("nvil")]
    public void TheInputBaselineIsFittedToTheCentredSignal(string ruleName)
    {
        var machine = TestModels.Random("10b-4b-3b", 88, scale: 0.7f);
        const int rows = 40;
        ILearningRule rule = ruleName == "nvil"
            ? new Nvil(new NvilOptions { InputBaselineHiddenUnits = 8, NormalizeVariance = false })
            : new Reinforce(new ReinforceOptions { InputBaselineHiddenUnits = 8, NormalizeVariance = false });
        rule.Prepare(machine, rows);
        Parameter[] outputBiases = rule.Parameters.Where(p => p.Name.EndsWith(".output.b", StringComparison.Ordinal)).ToArray();
        Assert.AreEqual(ruleName == "nvil" ? 2 : 1, outputBiases.Length, string.Join(", ", rule.Parameters.Select(p => p.Name)));
        foreach (Parameter p in rule.Parameters.Where(p => p.Name.EndsWith(".output.W", StringComparison.Ordinal))) Array.Clear(p.Value);
        foreach (Parameter p in outputBiases) p.Value[0] = 5;
        rule.AccumulateGradients(machine, TestModels.RandomStates(machine.Architecture, rows, 89), rows, new RandomStream(90));
        foreach (Parameter p in outputBiases) Assert.AreEqual(5.0, p.Gradient[0], 1e-4, p.Name);
    }

    /// <summary>
    /// The input-dependent baseline's prediction c(x) is subtracted from the learning signal, as the running baseline b is: a rule
    /// whose c is 5 for every row (output weights 0, output bias 5) and that keeps no running baseline (decay 0) gives, on the same
    /// draws, bit for bit the gradient of the rule without c whose running baseline was restored at 5 (each layer's, for NVIL).
    /// Both signals are F̂ − 5 (F̂ + 5 if c were added), formed in double the same way.
    /// </summary>
    [TestMethod]
    [DataRow("reinforce")]
    [DataRow("nvil")]
    public void TheInputBaselinesPredictionIsSubtractedFromTheSignal(string ruleName)
    {
        var machine = TestModels.Random("10b-4b-3b", 131, scale: 0.7f);
        const int rows = 30;
        int depth = machine.Architecture.Depth, signals = ruleName == "nvil" ? depth + 1 : 1;   // NVIL keeps an unused 0th
        ILearningRule withInput = ruleName == "nvil"
            ? new Nvil(new NvilOptions { BaselineDecay = 0, InputBaselineHiddenUnits = 8, NormalizeVariance = false })
            : new Reinforce(new ReinforceOptions { BaselineDecay = 0, InputBaselineHiddenUnits = 8, NormalizeVariance = false });
        withInput.Prepare(machine, rows);
        foreach (Parameter p in withInput.Parameters.Where(p => p.Name.EndsWith(".output.W", StringComparison.Ordinal))) Array.Clear(p.Value);
        Parameter[] outputBiases = withInput.Parameters.Where(p => p.Name.EndsWith(".output.b", StringComparison.Ordinal)).ToArray();
        Assert.AreEqual(ruleName == "nvil" ? depth : 1, outputBiases.Length, string.Join(", ", withInput.Parameters.Select(p => p.Name)));
        foreach (Parameter p in outputBiases) p.Value[0] = 5;

        ILearningRule withRunning = TestModels.RuleWithoutInputBaseline(ruleName, normalizeVariance: false, baselineDecay: 0.9);
        withRunning.Prepare(machine, rows);
        var restored = new StateSection("the restored rule");
        restored.Write("baselines", Enumerable.Repeat(5.0, signals).ToArray());
        restored.Write("variances", Enumerable.Repeat(1.0, signals).ToArray());
        restored.Write("started", 1);
        ((IResumable)withRunning).RestoreState(restored, machine.Parameters);

        var states = TestModels.RandomStates(machine.Architecture, rows, 132);
        double[] expected = GradientOfOneBatch(machine, withRunning, states, rows, new RandomStream(133));
        double[] actual = GradientOfOneBatch(machine, withInput, states, rows, new RandomStream(133));
        int generative = Statistics.Flatten(machine.Generative.Parameters, p => p.Value).Length;
        Assert.IsTrue(expected[generative..].Any(g => Math.Abs(g) > 1e-3), "the premise: a recognition gradient");
        CollectionAssert.AreEqual(expected, actual);
    }
}
