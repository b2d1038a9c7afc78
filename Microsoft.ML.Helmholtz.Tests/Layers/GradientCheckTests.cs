using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Learning.Rules;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;
using Microsoft.ML.Helmholtz.Tests.Support;

namespace Microsoft.ML.Helmholtz.Tests.Layers;

/// <summary>Every analytic gradient against central finite differences, for both unit types, both visible types, depth 1 and 3.</summary>
[TestClass]
public sealed class GradientCheckTests
{
    private const int Rows = 3;

    [TestMethod]
    [DataRow("6b-4b")]
    [DataRow("6b-4b-3b-2b")]
    [DataRow("6b-4g")]
    [DataRow("6b-4g-3g-2g")]
    [DataRow("5g-4g")]
    [DataRow("5gl-4g-3g-2g")]
    [DataRow("5gl-4b-3g-2b")]
    [DataRow("6b-5t-4b")]
    [DataRow("5gl-6t-3t-4g-2t-3b")]
    [DataRow("6cb-4b")]
    [DataRow("6cb-4g-3g")]
    [DataRow("6bs-4b-3g")]
    public void GenerativeLogJointGradientMatchesFiniteDifferences(string architecture)
    {
        var machine = TestModels.Random(architecture, 11);
        var states = TestModels.RandomStates(machine.Architecture, Rows, 12);
        double Loss()
        {
            var logJoint = new double[Rows];
            machine.Generative.AccumulateLogJoint(states, Rows, logJoint);
            return -logJoint.Sum() / Rows;
        }
        machine.ZeroGradients();
        Loss();
        machine.Generative.AccumulateLogJointGradient(states, Rows, Enumerable.Repeat(-1f / Rows, Rows).ToArray());
        TestModels.AssertGradientsMatch(machine.Generative.Parameters, Loss, context: architecture);
    }

    [TestMethod]
    [DataRow("6b-4b")]
    [DataRow("6b-4b-3b-2b")]
    [DataRow("6b-4g")]
    [DataRow("6b-4g-3g-2g")]
    [DataRow("5gl-4b-3g-2b")]
    [DataRow("6b-5t-4b")]
    [DataRow("5gl-6t-3t-4g-2t-3b")]
    [DataRow("6b-5t-4gr")]
    public void RecognitionLogProbGradientMatchesFiniteDifferences(string architecture)
    {
        var machine = TestModels.Random(architecture, 21);
        var states = TestModels.RandomStates(machine.Architecture, Rows, 22);
        float[] weights = [0.5f, -1f, 2f];
        double Loss()
        {
            double total = 0;
            for (int r = 0; r < Rows; r++)
            {
                var logQ = new double[Rows];
                machine.Recognition.AccumulateLogProb(states, Rows, logQ);
                total = 0;
                for (int k = 0; k < Rows; k++) total += weights[k] * logQ[k];
            }
            return total;
        }
        machine.ZeroGradients();
        Loss();
        machine.Recognition.AccumulateLogProbGradient(states, Rows, weights);
        TestModels.AssertGradientsMatch(machine.Recognition.Parameters, Loss, context: architecture);
    }

    /// <summary>With the noise held fixed, the path-wise SBP gradient is the exact derivative of the sampled free energy.</summary>
    [TestMethod]
    [DataRow("6b-4g")]
    [DataRow("6b-4g-3g-2g")]
    [DataRow("5g-4g")]
    [DataRow("5gl-4g-3g-2g")]
    [DataRow("6b-5t-4g-3t-2g")]
    [DataRow("5gl-4t-3gr-2t-2gr")]
    [DataRow("5gl-4t-19gr")]   // 16 units a vector step and 3 more, in the rank-one layer's backward through its draw
    [DataRow("6cb-4g-3g")]
    [DataRow("6bs-4g-3g")]
    public void PathWiseStochasticBackpropagationIsTheDerivativeOfTheSampledFreeEnergy(string architecture)
    {
        var machine = TestModels.Random(architecture, 31, scale: 0.3f);
        // Keep the recognition variances O(1) through the stack, so that a sample cannot cascade
        // into exp(s) of 1e20 where finite differences say nothing.
        foreach (var p in machine.Recognition.Parameters.Where(p => p.Name.EndsWith("logvar.W")))
            for (int i = 0; i < p.Length; i++) p.Value[i] *= 0.2f;
        var states = TestModels.RandomStates(machine.Architecture, Rows, 32);
        const ulong noiseSeed = 33;
        double[] fe = new double[Rows], lj = new double[Rows];
        double Loss()
        {
            machine.SampleFreeEnergy(new RandomStream(noiseSeed), states, Rows, fe, lj);
            return fe.Sum() / Rows;
        }
        var rule = new StochasticBackpropagation(VarianceGradient.PathWise);
        rule.Prepare(machine, Rows);
        machine.ZeroGradients();
        double mean = rule.AccumulateGradients(machine, states, Rows, new RandomStream(noiseSeed));
        Assert.AreEqual(Loss(), mean, 1e-9, "the rule reports the mean of the same free-energy samples");
        TestModels.AssertGradientsMatch(machine.Parameters, Loss, context: architecture);
    }

    /// <summary>The diagonal input Hessians behind Price's theorem, against differences of the analytic input gradient.</summary>
    [TestMethod]
    [DataRow("5b-4g")]
    [DataRow("5g-4g")]
    [DataRow("5gl-4g")]
    [DataRow("5cb-4g")]
    [DataRow("5bs-4g")]
    public void InputHessianDiagonalMatchesFiniteDifferencesOfTheInputGradient(string architecture)
    {
        const int inputs = 4, rows = 2;
        var machine = TestModels.Random(architecture, 41);
        ConditionalLayer layer = machine.Generative.Layers[0];
        var states = TestModels.RandomStates(machine.Architecture, rows, 42);
        float[] x = states.Layer(1, rows).ToArray(), y = states.Layer(0, rows).ToArray();
        float[] minusOne = Enumerable.Repeat(-1f, rows).ToArray();
        float[] InputGradient(float[] input)
        {
            var g = new float[rows * inputs];
            layer.Forward(input, rows);
            layer.AccumulateLogProbGradient(y, input, rows, minusOne, g, default);
            return g;
        }
        layer.Forward(x, rows);
        var hessian = new float[rows * inputs];
        layer.AccumulateNegLogProbInputHessianDiagonal(y, rows, hessian);
        // Added to its destination, as the name says: a second call onto the first's result doubles it (1e-6 relative allows a
        // kernel that starts its sum from the destination, a few float roundings of a 5-term sum).
        var twice = (float[])hessian.Clone();
        layer.AccumulateNegLogProbInputHessianDiagonal(y, rows, twice);
        for (int i = 0; i < hessian.Length; i++)
            Assert.AreEqual(2.0 * hessian[i], twice[i], 1e-6 * Math.Abs(2.0 * hessian[i]), $"entry {i} after a second call");
        machine.ZeroGradients();
        float[] atX = InputGradient(x);
        const float h = 1e-2f;
        for (int i = 0; i < x.Length; i++)
        {
            double Central(float step)
            {
                float[] up = (float[])x.Clone(), down = (float[])x.Clone();
                up[i] += step;
                down[i] -= step;
                return (InputGradient(up)[i] - InputGradient(down)[i]) / (2.0 * step);
            }
            // Richardson-extrapolated (truncation O(h⁴)), with the tolerance of TestModels.AssertGradientsMatch: the float gradient's
            // rounding, about 1e-6 of its size, over the step.
            double numeric = (4 * Central(h / 2) - Central(h)) / 3;
            double tolerance = 1e-3 + 3e-3 * Math.Abs(numeric) + 1e-6 * (1 + Math.Abs(atX[i])) / h;
            Assert.AreEqual(numeric, hessian[i], tolerance, $"d²(−ln p)/dx² at entry {i}");
        }
        Assert.IsTrue(hessian.Any(v => Math.Abs(v) > 1e-3), "the Hessian should not be trivially zero");
    }

    /// <summary>
    /// The input Hessian reads the weights as they are at the call (Σ_i W_ij² κ_i), not as they were at the layer's first call:
    /// after a call, weights halved give bit for bit the Hessian of a layer that had those weights from the start, and not the
    /// Hessian before.
    /// </summary>
    [TestMethod]
    [DataRow("5b-4g")]
    [DataRow("5g-4g")]
    public void TheInputHessianReadsTheWeightsAsTheyAreAtTheCall(string architecture)
    {
        const int rows = 2;
        var states = TestModels.RandomStates(TestModels.Random(architecture, 41).Architecture, rows, 42);
        float[] x = states.Layer(1, rows).ToArray(), y = states.Layer(0, rows).ToArray();
        float[] Hessian(ConditionalLayer layer)
        {
            var hessian = new float[rows * layer.InputSize];
            layer.Forward(x, rows);
            layer.AccumulateNegLogProbInputHessianDiagonal(y, rows, hessian);
            return hessian;
        }
        static void HalveTheWeights(ConditionalLayer layer)
        {
            foreach (Parameter p in layer.Parameters.Where(p => p.Role == ParameterRole.Weight))
                for (int i = 0; i < p.Length; i++) p.Value[i] *= 0.5f;
        }
        ConditionalLayer used = TestModels.Random(architecture, 41).Generative.Layers[0], fresh = TestModels.Random(architecture, 41).Generative.Layers[0];
        float[] before = Hessian(used);
        HalveTheWeights(used);
        HalveTheWeights(fresh);
        float[] after = Hessian(used);
        CollectionAssert.AreEqual(Hessian(fresh), after);
        CollectionAssert.AreNotEqual(before, after, "the premise: halving the weights changes the Hessian");
    }

    /// <summary>
    /// A Gaussian whose variance depends on its input has no input Hessian here: refused, not given the per-unit formula with the
    /// variance's own dependence on the input left out.
    /// </summary>
    [TestMethod]
    public void TheInputHessianOfAnInputDependentVarianceIsRefused()
    {
        const int inputs = 4, units = 3, rows = 2;
        var layer = new GaussianLayer("q", inputs, units, GaussianMean.Linear, VarianceSource.FromInput, MatrixEngine.Managed);
        layer.Forward(new float[rows * inputs], rows);
        Assert.ThrowsExactly<NotSupportedException>(() => layer.AccumulateNegLogProbInputHessianDiagonal(new float[rows * units], rows, new float[rows * inputs]));
    }

    /// <summary>
    /// The backward accumulates (+=), so that several terms can share one pass: a second backward over the same forward adds its
    /// gradients to the first's, in the weights and biases (by one product per map, or a pair of them where two maps read the
    /// input) and in every span asked for. Each is twice the first's, within the rounding of one more addition per value.
    /// </summary>
    [TestMethod]
    [DataRow("9b-5b")]      // one map
    [DataRow("9cb-5g")]     // the mean's and the log-variance's maps, as a pair
    [DataRow("9b-5gr")]     // rank one: three maps
    [DataRow("9b-4t-5g")]   // behind a deterministic trunk
    public void ASecondBackwardAddsToTheGradientsOfTheFirst(string architecture)
    {
        var machine = TestModels.Random(architecture, 61);
        ConditionalLayer layer = machine.Recognition.Layer(1);
        int inputs = layer.InputSize, units = layer.OutputSize;
        var (x, y) = TestModels.ForwardAndSample(layer, Rows, 62);
        float[] w = [0.5f, 1f, 1.5f];
        // Without the input's gradient the maps' weight gradients run as one pair; with it, each map pairs its own with its share of ∂/∂x.
        foreach (bool inputGradient in new[] { false, true })
        {
            machine.ZeroGradients();
            float[] dx = inputGradient ? new float[Rows * inputs] : [], dy = new float[Rows * units], dc = new float[Rows * units];
            float[] Gradients() => [.. layer.Parameters.SelectMany(p => p.Gradient), .. dx, .. dy, .. dc];
            layer.AccumulateLogProbGradient(y, x, Rows, w, dx, dy, dc);
            float[] once = Gradients();
            layer.AccumulateLogProbGradient(y, x, Rows, w, dx, dy, dc);
            float[] twice = Gradients();
            double scale = once.Max(v => Math.Abs((double)v));
            Assert.IsTrue(scale > 0, "all zero, so the comparison would not test anything");
            for (int i = 0; i < once.Length; i++)
                Assert.AreEqual(2.0 * once[i], twice[i], 1e-5 * scale, $"{architecture}{(inputGradient ? ", input gradient asked" : "")}: value {i}");
        }
    }

    [TestMethod]
    public void InputDependentBaselineGradientMatchesFiniteDifferences()
    {
        var random = new RandomStream(51);
        var baseline = new InputDependentBaseline(6, 5, MatrixEngine.Default, random);
        foreach (var p in baseline.Parameters) { var noise = new float[p.Length]; random.FillNormal(noise); for (int i = 0; i < p.Length; i++) p.Value[i] += 0.3f * noise[i]; }
        float[] x = new float[Rows * 6];
        random.FillNormal(x);
        double[] target = [1.5, -0.5, 2.0];
        double Loss()
        {
            ReadOnlySpan<float> c = baseline.Predict(x, Rows);
            double sum = 0;
            for (int r = 0; r < Rows; r++) sum += 0.5 * (c[r] - target[r]) * (c[r] - target[r]);
            return sum / Rows;
        }
        foreach (var p in baseline.Parameters) p.ZeroGradient();
        Loss();
        baseline.Backward(x, target, Rows);
        TestModels.AssertGradientsMatch(baseline.Parameters, Loss, context: "baseline");
    }
}
