using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Evaluation;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;
using Microsoft.ML.Helmholtz.Tests.Evaluation;
using Microsoft.ML.Helmholtz.Tests.Support;

namespace Microsoft.ML.Helmholtz.Tests.Layers;

/// <summary>
/// The continuous Bernoulli units ("cb"): the density, its moments and its quantile against numerical
/// integration, the sampler against the moments, and a machine with such a visible layer against
/// exact enumeration. The gradient checks are in <see cref="GradientCheckTests"/>.
/// </summary>
[TestClass]
public sealed class ContinuousBernoulliTests
{
    private static readonly double[] Logits = [-300, -30, -5, -0.3, -0.0100001, -0.0099999, -1e-3, 0, 1e-6, 0.005, 0.0099999, 0.0100001, 0.02, 2, 40, 300];

    /// <summary>∫₀¹ f(x) dx by Simpson's rule on n intervals, in double.</summary>
    private static double Integrate(Func<double, double> f, int n = 200_000)
    {
        double h = 1.0 / n, sum = f(0) + f(1);
        for (int i = 1; i < n; i++) sum += (i % 2 == 1 ? 4 : 2) * f(i * h);
        return sum * h / 3;
    }

    [TestMethod]
    public void TheDensityIntegratesToOneWithTheMeanAndVarianceItsNormaliserGives()
    {
        foreach (double eta in Logits)
        {
            if (Math.Abs(eta) > 50) continue;   // the mass sits within 1/|η| of an end: see the tail test
            double a = Kernels.ContinuousBernoulliLogNormalizer(eta);
            double Density(double x) => Math.Exp(eta * x - a);
            double mass = Integrate(Density);
            double mean = Integrate(x => x * Density(x));
            double variance = Integrate(x => (x - mean) * (x - mean) * Density(x));
            Assert.AreEqual(1, mass, 1e-9, $"η = {eta}: mass");
            Assert.AreEqual(mean, Kernels.ContinuousBernoulliMean(eta), 1e-9, $"η = {eta}: mean");
            Assert.AreEqual(variance, Kernels.ContinuousBernoulliVariance(eta), 1e-9, $"η = {eta}: variance");
        }
    }

    [TestMethod]
    public void FarFromZeroTheLogitsGiveTheExponentialLimits()
    {
        // For |η| ≫ 1 the density is an exponential of rate |η| at the nearer end: A(η) → η⁺ − ln|η|, mean → 1 − 1/η or −1/η, variance → 1/η².
        foreach (double eta in new[] { -300.0, 300.0 })
        {
            Assert.AreEqual(Math.Max(eta, 0) - Math.Log(Math.Abs(eta)), Kernels.ContinuousBernoulliLogNormalizer(eta), 1e-12, $"A({eta})");
            Assert.AreEqual(eta > 0 ? 1 - 1 / eta : -1 / eta, Kernels.ContinuousBernoulliMean(eta), 1e-12, $"A'({eta})");
            Assert.AreEqual(1 / (eta * eta), Kernels.ContinuousBernoulliVariance(eta), 1e-12, $"A''({eta})");
        }
        Assert.AreEqual(0.0, Kernels.ContinuousBernoulliLogNormalizer(0));
        Assert.AreEqual(0.5, Kernels.ContinuousBernoulliMean(0));
        Assert.AreEqual(1.0 / 12, Kernels.ContinuousBernoulliVariance(0));
    }

    [TestMethod]
    public void TheSeriesAndTheClosedFormsAgreeWhereOneHandsOverToTheOther()
    {
        // Just below and above the switch at |η| = 10⁻²: the two forms must meet (no step in the functions or their derivatives).
        foreach (double sign in new[] { -1.0, 1.0 })
        {
            double below = sign * 0.0099999999, above = sign * 0.0100000001, step = above - below;
            // f(above) − f(below) must be f'·Δ (Δ = 2·10⁻¹⁰), with f' from the next function up. The closed forms
            // lose about 10⁻¹⁴ (A) and 10⁻¹² (A', a difference of two terms near 100) to cancellation at |η| = 10⁻²;
            // a series one term short would be off by 10⁻¹¹ (A) and 10⁻⁹ (A').
            Assert.AreEqual(Kernels.ContinuousBernoulliMean(above) * step, Kernels.ContinuousBernoulliLogNormalizer(above) - Kernels.ContinuousBernoulliLogNormalizer(below), 2e-13);
            Assert.AreEqual(Kernels.ContinuousBernoulliVariance(above) * step, Kernels.ContinuousBernoulliMean(above) - Kernels.ContinuousBernoulliMean(below), 1e-11);
            Assert.AreEqual(1.0 / 12, Kernels.ContinuousBernoulliVariance(above), 1e-5);
            Assert.AreEqual(Kernels.ContinuousBernoulliVariance(below), Kernels.ContinuousBernoulliVariance(above), 1e-10);
        }
    }

    [TestMethod]
    public void TheQuantileInvertsTheDistributionFunction()
    {
        foreach (double eta in new[] { -40.0, -3, -0.5, 1e-7, 0.5, 3, 40 })
            foreach (double u in new[] { 0, 1e-6, 0.01, 0.3, 0.5, 0.77, 0.999, 1 })   // 0 and 1: at η = −40, u = 1 the formula rounds to ln 0 / η = +∞, held at 1
            {
                double x = Kernels.ContinuousBernoulliQuantile(eta, u);
                // F(x) = (e^{ηx} − 1)/(e^η − 1), written with expm1-free forms that hold for these η.
                double cdf = Math.Abs(eta) < 1e-6 ? x : (Math.Exp(eta * x) - 1) / (Math.Exp(eta) - 1);
                Assert.IsTrue(x is >= 0 and <= 1, $"η = {eta}, u = {u}: x = {x}");
                Assert.AreEqual(u, cdf, 1e-9 + 1e-9 * u, $"η = {eta}, u = {u}");
            }
    }

    [TestMethod]
    public void SamplesHaveTheMeanAndVarianceOfTheDensity()
    {
        const int n = 200_000;
        foreach (float eta in new[] { -4f, 0f, 0.7f, 12f })
        {
            var layer = new ContinuousBernoulliLayer("cb", 1, 1, MatrixEngine.Default);
            layer.Parameters.Single(p => p.Role == ParameterRole.Bias).Value[0] = eta;
            var input = new float[n];
            layer.Forward(input, n);
            var y = new float[n];
            layer.Sample(new RandomStream(5), n, y);
            double mean = y.Average(v => (double)v), variance = y.Average(v => (v - mean) * (v - mean));
            double expectedMean = Kernels.ContinuousBernoulliMean(eta), expectedVariance = Kernels.ContinuousBernoulliVariance(eta);
            // Standard errors: sd/√n for the mean; for the variance √((μ₄ − σ⁴)/n) ≤ σ²·√(2 + |excess kurtosis|)/√n, bounded here by 3σ²/√n.
            Assert.AreEqual(expectedMean, mean, 5 * Math.Sqrt(expectedVariance / n), $"η = {eta}: mean");
            Assert.AreEqual(expectedVariance, variance, 5 * 3 * expectedVariance / Math.Sqrt(n), $"η = {eta}: variance");
            Assert.IsTrue(y.All(v => v is >= 0 and <= 1), $"η = {eta}: draws outside [0, 1]");
            var means = new float[n];
            layer.Expectation(n, means);
            Assert.AreEqual(expectedMean, means[0], 1e-6, $"η = {eta}: the layer's expectation");
        }
    }

    [TestMethod]
    public void TheLayerLogProbabilityIsTheDensityAtEachValue()
    {
        var machine = TestModels.Random("7cb-3b", 3, scale: 2f);
        var states = TestModels.RandomStates(machine.Architecture, 4, 4);
        states.Layer(0, 4)[0] = 0f;
        states.Layer(0, 4)[1] = 1f;
        var logJoint = new double[4];
        machine.Generative.AccumulateLogJoint(states, 4, logJoint);
        var layer = (ContinuousBernoulliLayer)machine.Generative.Layers[0];
        var prior = new double[4];
        machine.Generative.Prior.Forward(default, 4);
        machine.Generative.Prior.AccumulateLogProb(states.Layer(1, 4), 4, prior);
        layer.Forward(states.Layer(1, 4), 4);
        ReadOnlySpan<float> logits = layer.Logits(4);
        ReadOnlySpan<float> x = states.Layer(0, 4);
        for (int r = 0; r < 4; r++)
        {
            double expected = prior[r];
            for (int c = 0; c < 7; c++)
            {
                double eta = logits[r * 7 + c];
                expected += eta * x[r * 7 + c] - Kernels.ContinuousBernoulliLogNormalizer(eta);
            }
            Assert.AreEqual(expected, logJoint[r], 1e-9 * Math.Abs(expected) + 1e-9, $"row {r}");
        }
    }

    /// <summary>
    /// The bilinear form the naive estimator scores with: ln p(y | x) = ỹ · φ(x) + c(φ) + c(y) for each natural-parameter visible
    /// layer, the constants written (not added) into buffers that held other values.
    /// </summary>
    [TestMethod]
    [DataRow("7cb-3b")]
    [DataRow("7b-3b")]
    [DataRow("7bs-3b")]
    [DataRow("7g-3b")]    // the Gaussian visible layer: random log-variances, not 0, so that e^{−s} and e^{s} differ
    [DataRow("7gl-3b")]
    public void TheBilinearTermsSumToTheLayerLogProbability(string architecture)
    {
        const int rows = 4;
        var machine = TestModels.Random(architecture, 3, scale: 2f);
        var states = TestModels.RandomStates(machine.Architecture, rows, 4);
        ConditionalLayer layer = machine.Generative.Layers[0];
        var bilinear = (IBilinearLogProb)layer;
        layer.Forward(states.Layer(1, rows), rows);
        ReadOnlySpan<float> y = states.Layer(0, rows);
        var logProb = new double[rows];
        layer.AccumulateLogProb(y, rows, logProb);
        float[] features = new float[rows * 7], transformed = new float[rows * 7];
        double[] featureConstant = [5, 5, 5, 5], outputConstant = [5, 5, 5, 5];
        bilinear.InputFeatures(rows, features, featureConstant);
        bilinear.OutputTerms(y, rows, transformed, outputConstant);
        for (int r = 0; r < rows; r++)
        {
            double bilinearSum = featureConstant[r] + outputConstant[r];
            for (int c = 0; c < 7; c++) bilinearSum += (double)transformed[r * 7 + c] * features[r * 7 + c];
            Assert.AreEqual(logProb[r], bilinearSum, 1e-5 * Math.Abs(logProb[r]) + 1e-5, $"row {r}");
        }
    }

    /// <summary>
    /// A row-wise kernel called for one row (a minibatch of one, one sample of one example) takes its columns as the row's
    /// values, not as rows of their own: the same sums and gradients as that row within a larger call, in one piece or several.
    /// </summary>
    [TestMethod]
    [DataRow(7)]
    [DataRow(20_000)]
    public void OneRowGivesWhatThatRowGivesAmongOthers(int columns)
    {
        var random = new RandomStream(5);
        float[] logits = new float[2 * columns], x = new float[2 * columns];
        random.FillNormal(logits);
        random.FillUniform(x);
        double[] both = new double[2], one = new double[1];
        Kernels.AccumulateContinuousBernoulliLogProb(logits, x, 2, default, 2, columns, both);
        Kernels.AccumulateContinuousBernoulliLogProb(logits, x, 1, default, 1, columns, one);
        Assert.AreEqual(both[0], one[0], 1e-9 * Math.Abs(both[0]), "log-probability");
        float[] gradientOfBoth = new float[2 * columns], gradientOfOne = new float[columns];
        Kernels.ContinuousBernoulliLogProbGradient(logits, x, 2, columns, [0.5f, 2f], gradientOfBoth);
        Kernels.ContinuousBernoulliLogProbGradient(logits, x, 1, columns, [0.5f], gradientOfOne);
        CollectionAssert.AreEqual(gradientOfBoth[..columns], gradientOfOne, "gradient");
        Assert.IsTrue(gradientOfOne.Any(v => v != 0), "a gradient was written");
    }

    /// <summary>Minibatches of one row train a machine with continuous Bernoulli hidden units (the kernel once read past the row).</summary>
    [TestMethod]
    public void MinibatchesOfOneRowTrain()
    {
        var machine = TestModels.Random("12b-4cb", 1, scale: 0.4f);
        var options = new global::Microsoft.ML.Helmholtz.Learning.TrainingOptions { Epochs = 1, BatchSize = 1, LearningRate = new(0.01), Seed = 3 };
        var reports = new global::Microsoft.ML.Helmholtz.Learning.HelmholtzTrainer(new global::Microsoft.ML.Helmholtz.Learning.Rules.WakeSleep(), options).Train(machine, TestModels.BinaryData(5, 12, 3));
        Assert.HasCount(1, reports);
        Assert.IsTrue(double.IsFinite(reports[0].TrainFreeEnergy), $"{reports[0].TrainFreeEnergy}");
    }

    [TestMethod]
    public void ImportanceSamplingConvergesToTheExactLogLikelihoodOfSoftData()
    {
        var machine = TestModels.Random("8cb-4b-3b", 81, scale: 1.5f);
        float[][] examples = [[0f, 0.1f, 0.5f, 1f, 0.93f, 0.2f, 0.7f, 0.05f], [1f, 1f, 0.8f, 0f, 0.01f, 0.5f, 0.5f, 0.99f]];
        const int k = 20000;
        double[] estimate = new ImportanceSampledLogLikelihood(k, seed: 82).EstimatePerExample(machine, new DataMatrix(2, 8, examples.SelectMany(e => e).ToArray()));
        LogLikelihoodTests.AssertNearTheExactLogLikelihood(machine, examples, estimate, k);
    }

    [TestMethod]
    public void ValuesOutsideTheUnitIntervalAreNamed()
    {
        UnitType units = UnitType.ContinuousBernoulli;
        Assert.IsTrue(units.Models(0f) && units.Models(1f) && units.Models(0.25f) && units.Models(-0f));
        Assert.IsFalse(units.Models(1.0000001f) || units.Models(-1e-30f) || units.Models(float.NaN));
        foreach (int length in new[] { 5, 16, 37 })
            for (int bad = 0; bad < length; bad += 7)
            {
                float[] values = Enumerable.Range(0, length).Select(i => i / (float)length).ToArray();
                Assert.IsTrue(units.ModelsAll(values), $"length {length}: clean");
                values[bad] = float.NaN;
                Assert.IsFalse(units.ModelsAll(values), $"length {length}: NaN at {bad}");
                values[bad] = 1.5f;
                Assert.IsFalse(units.ModelsAll(values), $"length {length}: 1.5 at {bad}");
            }
        var machine = TestModels.Random("4cb-3b", 1);
        var e = Assert.ThrowsExactly<ArgumentException>(() => machine.InitializeVisibleBiasesFromData([0f, 0.5f, 1.25f, 1f], 1));
        StringAssert.Contains(e.Message, "[0, 1]");
    }

    [TestMethod]
    public void TheVisibleBiasesStartAtTheLogitsOfTheDataMeans()
    {
        var machine = TestModels.Random("3cb-2b", 1);
        machine.InitializeVisibleBiasesFromData([0.1f, 0.5f, 0.999f, 0.3f, 0.5f, 0.999f], 2);
        float[] bias = machine.Generative.Layers[0].Parameters.Single(p => p.Role == ParameterRole.Bias).Value;
        double[] means = [0.2, 0.5, 0.999];
        for (int c = 0; c < 3; c++) Assert.AreEqual(means[c], Kernels.ContinuousBernoulliMean(bias[c]), 1e-5, $"column {c}");
    }

    [TestMethod]
    public void JustAboveTheSeriesLimitTheMeanIsExactToDoublePrecision()
    {
        // Above |η| = 10⁻² the closed form must take over: the three-term series left out η⁵/30240, which is 10⁻¹¹ at
        // η = 0.05 and 2·10⁻¹⁰ at 0.09. The reference is the series two terms longer (Bernoulli numbers B₆, B₈), whose
        // first term left out is under 10⁻¹⁶ here; the closed form loses about ε/η² ≤ 5·10⁻¹⁴ to cancellation.
        foreach (double eta in new[] { -0.09, -0.05, 0.05, 0.09 })
        {
            double e2 = eta * eta;
            double series = 0.5 + eta / 12 - eta * e2 / 720 + eta * e2 * e2 / 30240 - eta * e2 * e2 * e2 / 1209600;
            Assert.AreEqual(series, Kernels.ContinuousBernoulliMean(eta), 1e-12, $"A'({eta})");
        }
    }
}
