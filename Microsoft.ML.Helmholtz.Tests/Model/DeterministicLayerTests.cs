using Microsoft.ML.Helmholtz.Evaluation;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Learning.Rules;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;
using Microsoft.ML.Helmholtz.Tests.Data;
using Microsoft.ML.Helmholtz.Tests.Support;

namespace Microsoft.ML.Helmholtz.Tests.Model;

/// <summary>
/// Deterministic tanh layers inside the conditionals ("784b-100t-100t-200b"; the literature's
/// nonlinear machines have two of 200 units in each): the architecture's text, sizes and errors, the networks built from it, the
/// estimators against exact enumeration, and the model file. The gradients are checked with the
/// other layers' (GradientCheckTests), the ONNX graph with the others' (MachineGraphTests).
/// </summary>
[TestClass]
public sealed class DeterministicLayerTests
{
    [TestMethod]
    public void TheArchitectureReadsWritesAndCountsItsTrunks()
    {
        var a = HelmholtzArchitecture.Parse("784b-100t-100t-200b-100t-100t-200b");
        Assert.AreEqual("784b-100t-100t-200b-100t-100t-200b", a.ToString());
        Assert.AreEqual(2, a.Depth);
        CollectionAssert.AreEqual(new[] { 100, 100 }, a.Trunks[0].ToArray());
        Assert.IsTrue(a.HasTrunks);
        Assert.IsFalse(a.SameAs(HelmholtzArchitecture.Parse("784b-200b-200b")));
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("6b-5t-3t-4g-2t-2b"), 1);
        Assert.AreEqual(machine.Architecture.ParameterCount, machine.Parameters.Sum(p => (long)p.Length));
        // Unequal trunk sizes: the string is written bottom-up, as Parse reads it (the trunks above are symmetric).
        Assert.AreEqual("6b-5t-3t-4g-2t-2b", machine.Architecture.ToString());
        var generative = (TrunkedLayer)machine.Generative.Layers[0];
        CollectionAssert.AreEqual(new[] { 3, 5 }, generative.TrunkSizes.ToArray(), "down from X_1 the trunk runs top to bottom");
        CollectionAssert.AreEqual(new[] { 5, 3 }, ((TrunkedLayer)machine.Recognition.Layer(1)).TrunkSizes.ToArray());
        Assert.IsInstanceOfType<BernoulliLayer>(machine.Generative.Layers[2], "the prior has no trunk");
        Assert.IsTrue(machine.Parameters.Where(p => p.Name.Contains(".trunk")).All(p => p.Role != ParameterRole.Weight || p.Value.Any(v => v != 0)), "trunk weights are drawn");
    }

    [TestMethod]
    [DataRow("100t-784b-200b", "before the visible layer")]
    [DataRow("784b-200b-100t", "after the top layer")]
    [DataRow("784b-0t-200b", "positive size")]
    [DataRow("784b-99999999999t-200b", "positive size")]
    public void MisplacedOrBadTrunksAreNamed(string text, string problem)
    {
        var e = Assert.ThrowsExactly<FormatException>(() => HelmholtzArchitecture.Parse(text));
        StringAssert.Contains(e.Message, problem);
    }

    [TestMethod]
    public void TooWideATrunkIsRefusedBeforeAnythingIsAllocated()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => HelmholtzArchitecture.Parse("60000b-60000t-10b"));
        StringAssert.Contains(e.Message, "60000 and 60000 units");
    }

    /// <summary>
    /// A trunk's middle layer wider than the layers around it sets the widest row: 60000 rows of its 40000 units (2.4·10⁹ values)
    /// fit no array, though 60000 rows of the 4 visible, the 2 hidden or the 10 units on either side of it (the heads' inputs, the
    /// generative trunk being the recognition one reversed) would, so a block of that many rows is refused up front, naming the
    /// argument that asked for it, and not when an extractor is first made.
    /// </summary>
    [TestMethod]
    public void ATrunkWiderThanItsLayersSetsTheRowsAnArrayHolds()
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("4b-10t-40000t-10t-2b"), 1, MatrixEngine.Managed);
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new RecognitionFeatures(machine, rowsPerBlock: 60000));
        Assert.AreEqual("rowsPerBlock", e.ParamName);
        Assert.AreEqual(50000, new RecognitionFeatures(machine, rowsPerBlock: 50000).RowsPerBlock, "2·10⁹ values fit one array");
    }

    [TestMethod]
    public void BothEstimatorsConvergeToTheExactLogLikelihoodThroughTrunks()
    {
        var machine = TestModels.Random("8b-6t-3b-4t-2b", 121, scale: 0.8f);
        var data = TestModels.BinaryData(4, 8, 122);
        double[] importance = new ImportanceSampledLogLikelihood(20000, seed: 123).EstimatePerExample(machine, data);
        double[] naive = new NaiveLogLikelihood(200000, seed: 124).EstimatePerExample(machine, data);
        for (int i = 0; i < data.Rows; i++)
        {
            float[] v = data.Row(i).ToArray();
            var (logJoint, _) = TestModels.Enumerate(machine, v);
            double exact = Kernels.LogSumExp(logJoint);
            // Delta method, as in LogLikelihoodTests: sd(ln p̂) ≈ √(Var[w] / (K E[w]²)), w = p/q, or p(v | h) under the prior.
            double sdImportance = Math.Sqrt(Evaluation.LogLikelihoodTests.RelativeWeightVariance(machine, v) / 20000);
            double[] logPrior = Evaluation.LogLikelihoodTests.LogPriorOfEachConfiguration(machine, v);
            double relative = -1;
            for (int c = 0; c < logJoint.Length; c++) relative += Math.Exp(2 * (logJoint[c] - exact) - logPrior[c]);
            double sdNaive = Math.Sqrt(relative / 200000);
            Assert.AreEqual(exact, importance[i], 5 * sdImportance + 1e-4, $"importance sampling, example {i}");
            Assert.AreEqual(exact, naive[i], 5 * sdNaive + 1e-4, $"naive, example {i}");
        }
    }

    [TestMethod]
    public void AMachineWithTrunksSavesAndLoadsExactly()
    {
        var machine = TestModels.Random("6b-5t-4g-3t-2gr", 125);
        using var temp = new TempDirectory();
        string path = temp.File("m.hm");
        machine.Save(path);
        var loaded = HelmholtzMachine.Load(path);
        Assert.AreEqual(machine.Architecture.ToString(), loaded.Architecture.ToString());
        TestModels.AssertParameters(machine.Parameters, loaded.Parameters);
    }

    [TestMethod]
    public void PriceIsRefusedThroughTrunksAndForRankOnePosteriors()
    {
        var price = new StochasticBackpropagation(VarianceGradient.Price);
        StringAssert.Contains(price.Unsupported(HelmholtzArchitecture.Parse("6b-5t-4g")), "deterministic layers");
        StringAssert.Contains(price.Unsupported(HelmholtzArchitecture.Parse("6b-4gr")), "diagonal posterior variances");
        Assert.IsNull(new StochasticBackpropagation().Unsupported(HelmholtzArchitecture.Parse("6b-5t-4gr")));
    }

    /// <summary>
    /// The gradient between two deterministic layers is a buffer the backward reuses: each backward must start it from zero, so that
    /// a second backward over the same forward (after the gradients are zeroed) gives the first's parameter and input gradients again,
    /// not those plus what the first left there. A fresh layer's buffers are zero, so only a second backward shows this.
    /// </summary>
    [TestMethod]
    [DataRow("20b-6t-4t-5b")]
    [DataRow("20b-6t-4t-7g")]
    public void EveryBackwardOverOneForwardGivesTheSameGradients(string architecture)
    {
        const int rows = 5;
        var machine = TestModels.Random(architecture + "-4g", 88);
        ConditionalLayer layer = machine.Recognition.Layer(1);
        int visible = machine.Architecture.Visible.Size;
        float[] x = TestModels.RandomStates(machine.Architecture, rows, 89).Layer(0, rows).ToArray();
        float[] weights = Enumerable.Range(0, rows).Select(r => 1f - 0.15f * r).ToArray();
        layer.Forward(x, rows);
        var y = new float[rows * layer.OutputSize];
        layer.Sample(new RandomStream(90), rows, y);

        float[] Backward()
        {
            machine.ZeroGradients();
            var dx = new float[rows * visible];
            layer.AccumulateLogProbGradient(y, x, rows, weights, dx, default);
            return [.. layer.Parameters.SelectMany(p => p.Gradient), .. dx];
        }

        float[] first = Backward(), second = Backward();
        // The same products over the same operands: equal up to at most a reordering of the sums.
        double scale = first.Max(v => Math.Abs((double)v));
        Assert.IsTrue(scale > 0, "all zero, so the comparison would not test anything");
        for (int i = 0; i < first.Length; i++) Assert.AreEqual(first[i], second[i], 1e-6 * scale, $"{architecture}: gradient {i}");
    }
}
