using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Evaluation;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;
using Microsoft.ML.Helmholtz.Tests.Evaluation;
using Microsoft.ML.Helmholtz.Tests.Support;

namespace Microsoft.ML.Helmholtz.Tests.Layers;

/// <summary>Bernoulli units with soft targets ("bs"): the cross-entropy of values in [0, 1], and the same as "b" on binary data.</summary>
[TestClass]
public sealed class SoftBernoulliTests
{
    [TestMethod]
    public void SoftTargetsAreScoredByTheCrossEntropyAndBinaryOnesAsByTheBinaryLayer()
    {
        var soft = TestModels.Random("7bs-3b", 3, scale: 2f);
        var binary = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("7b-3b"), 3);
        for (int i = 0; i < soft.Parameters.Count; i++) soft.Parameters[i].Value.CopyTo(binary.Parameters[i].Value, 0);
        var states = TestModels.RandomStates(soft.Architecture, 4, 4);
        Span<float> x = states.Layer(0, 4);
        x[0] = 0f;
        x[1] = 1f;
        var layer = (BernoulliLayer)soft.Generative.Layers[0];
        layer.Forward(states.Layer(1, 4), 4);
        var logProb = new double[4];
        layer.AccumulateLogProb(x, 4, logProb);
        ReadOnlySpan<float> a = layer.Logits(4);
        for (int r = 0; r < 4; r++)
        {
            double expected = 0;
            for (int c = 0; c < 7; c++)
            {
                double v = x[r * 7 + c], logit = a[r * 7 + c];
                expected += v * logit - Math.Log(1 + Math.Exp(logit));
            }
            Assert.AreEqual(expected, logProb[r], 1e-5 * Math.Abs(expected) + 1e-5, $"row {r}");
        }

        // On 0/1 data the two kinds agree.
        for (int i = 0; i < x.Length; i++) x[i] = x[i] < 0.5f ? 0f : 1f;
        var binaryStates = new LayerStates(binary.Architecture, 4);
        for (int l = 0; l < 2; l++) states.Layer(l, 4).CopyTo(binaryStates.Layer(l, 4));
        double[] softJoint = new double[4], binaryJoint = new double[4];
        soft.Generative.AccumulateLogJoint(states, 4, softJoint);
        binary.Generative.AccumulateLogJoint(binaryStates, 4, binaryJoint);
        for (int r = 0; r < 4; r++) Assert.AreEqual(binaryJoint[r], softJoint[r], 1e-5 * Math.Abs(binaryJoint[r]), $"binary row {r}");
    }

    /// <summary>Rows of two vectors and a tail, and rows past the 2016 values whose softplus factors one product holds.</summary>
    [TestMethod]
    [DataRow(37)]
    [DataRow(4100)]
    public void TheVectorKernelGivesTheCrossEntropyAndTheExactFormAtInfiniteLogits(int columns)
    {
        const int rows = 3;
        var random = new Microsoft.ML.Helmholtz.Numerics.RandomStream(8);
        float[] a = new float[rows * columns], x = new float[rows * columns];
        random.FillNormal(a);
        for (int i = 0; i < a.Length; i++) { a[i] *= 6; x[i] = i % 5 == 0 ? 0f : i % 7 == 0 ? 1f : (float)random.NextDouble(); }
        a[columns + 3] = float.NegativeInfinity;   // row 1: x = 0 there, a term of exactly 0
        x[columns + 3] = 0f;
        var sums = new double[rows];
        Microsoft.ML.Helmholtz.Numerics.Kernels.AccumulateSoftBernoulliLogProb(a, x, rows, default, rows, columns, sums);
        for (int r = 0; r < rows; r++)
        {
            double expected = 0;
            for (int c = 0; c < columns; c++)
            {
                double logit = a[r * columns + c], v = x[r * columns + c];
                if (double.IsInfinity(logit)) continue;
                expected += v * logit - (Math.Max(logit, 0) + Math.Log(1 + Math.Exp(-Math.Abs(logit))));
            }
            Assert.AreEqual(expected, sums[r], 1e-4 * Math.Max(1, Math.Abs(expected)), $"row {r}");
        }
    }

    [TestMethod]
    public void ImportanceSamplingConvergesToTheEnumeratedSumOverTheHiddenLayers()
    {
        // Σ_h p(h) Π_i λ_i^{x_i} (1 − λ_i)^{1 − x_i}: what the estimator's weights average to, soft x or not.
        var machine = TestModels.Random("8bs-4b-3b", 91, scale: 1.2f);
        float[][] examples = [[0f, 0.1f, 0.5f, 1f, 0.93f, 0.2f, 0.7f, 0.05f], [1f, 1f, 0.8f, 0f, 0.01f, 0.5f, 0.5f, 0.99f]];
        const int k = 20000;
        double[] estimate = new ImportanceSampledLogLikelihood(k, seed: 92).EstimatePerExample(machine, new DataMatrix(2, 8, examples.SelectMany(e => e).ToArray()));
        for (int i = 0; i < examples.Length; i++)
        {
            double exact = TestModels.ExactLogLikelihood(machine, examples[i]);
            double sd = Math.Sqrt(LogLikelihoodTests.RelativeWeightVariance(machine, examples[i]) / k);
            Assert.IsTrue(exact < 0, "the cross-entropy of soft targets is a log of probabilities");
            Assert.AreEqual(exact, estimate[i], 5 * sd + 1e-4, $"example {i}");
        }
    }

    // ln p(y | a) = y·a − A(a) is linear in y: the output gradient adds w_r a_ri to what it holds, and matches the change of ln p in y.
    [TestMethod]
    [DataRow("7bs-3b")]
    [DataRow("7cb-3b")]
    public void TheOutputGradientIsTheRowWeightTimesTheLogits(string architecture)
    {
        const int rows = 4, units = 7;
        var machine = TestModels.Random(architecture, 5, scale: 1.5f);
        var states = TestModels.RandomStates(machine.Architecture, rows, 6);
        float[] y = new float[rows * units];
        for (int i = 0; i < y.Length; i++) y[i] = 0.1f + 0.8f * ((i * 5) % 11) / 10f;   // inside (0, 1), room for the steps below
        var layer = (NaturalParameterLayer)machine.Generative.Layers[0];
        layer.Forward(states.Layer(1, rows), rows);
        float[] weights = [0.5f, -1f, 2f, 1f];
        float[] outputGradient = new float[rows * units];
        outputGradient[3] = 0.25f;   // accumulated into, not overwritten
        layer.AccumulateLogProbGradient(y, states.Layer(1, rows), rows, weights, default, outputGradient);
        float[] a = layer.Logits(rows).ToArray();
        for (int i = 0; i < rows * units; i++)
            Assert.AreEqual((i == 3 ? 0.25f : 0f) + weights[i / units] * a[i], outputGradient[i], 1e-6f * (1 + Math.Abs(a[i])), $"element {i}");
        // Central differences of row 0's ln p: exact for a linear function but for float rounding of terms of a few nats (~1e-6 over a step of 0.1).
        for (int i = 0; i < units; i++)
        {
            float kept = y[i];
            double LogProb(float value)
            {
                y[i] = value;
                var sums = new double[rows];
                layer.AccumulateLogProb(y, rows, sums);
                return sums[0];
            }
            float up = kept + 0.05f, down = kept - 0.05f;
            double slope = (LogProb(up) - LogProb(down)) / ((double)up - down);
            y[i] = kept;
            Assert.AreEqual(a[i], slope, 1e-3 * (1 + Math.Abs(a[i])), $"unit {i}");
        }
    }

    [TestMethod]
    public void ValuesOutsideTheUnitIntervalAreNamed()
    {
        var machine = TestModels.Random("4bs-3b", 1);
        var e = Assert.ThrowsExactly<ArgumentException>(() => machine.InitializeVisibleBiasesFromData([0f, 0.5f, -0.25f, 1f], 1));
        StringAssert.Contains(e.Message, "values in [0, 1]");
        Assert.AreEqual(UnitType.SoftBernoulli, HelmholtzArchitecture.Parse("4bs-3b").Visible.Units);
    }

    // A column of all zeros or all ones starts its bias at the logit of 10⁻³ or 1 − 10⁻³ (not at ±∞, nor nearer it), for each
    // kind whose biases start from the data: the unit's mean at its bias against the clamped column mean. 1e-5: a float logit
    // (|a| ≤ 10³, relative rounding 6e-8) moves the mean by at most 6e-8 |a| A''(a) < 1e-7; a looser clamp moves it by 10⁻³.
    [TestMethod]
    [DataRow("4b-2b")]
    [DataRow("4bs-2b")]
    [DataRow("4cb-2b")]
    public void AColumnOfAllZerosOrAllOnesStartsItsBiasAtTheClampedMean(string architecture)
    {
        var machine = TestModels.Random(architecture, 1);
        machine.InitializeVisibleBiasesFromData([0f, 1f, 1f, 0f, 0f, 1f, 0f, 0f], 2);   // column means 0, 1, 0.5, 0
        float[] bias = machine.Generative.Layers[0].Parameters.Single(p => p.Role == ParameterRole.Bias).Value;
        bool continuous = machine.Architecture.Visible.Units == UnitType.ContinuousBernoulli;
        double[] expected = [1e-3, 1 - 1e-3, 0.5, 1e-3];
        for (int c = 0; c < expected.Length; c++)
        {
            double mean = continuous ? Kernels.ContinuousBernoulliMean(bias[c]) : 1 / (1 + Math.Exp(-(double)bias[c]));
            Assert.AreEqual(expected[c], mean, 1e-5, $"{architecture}, column {c}: bias {bias[c]}");
        }
    }
}
