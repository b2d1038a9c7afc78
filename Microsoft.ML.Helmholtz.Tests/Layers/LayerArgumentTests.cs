using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Numerics;
using Microsoft.ML.Helmholtz.Tests.Support;

namespace Microsoft.ML.Helmholtz.Tests.Layers;

/// <summary>
/// A layer's calls name the argument that cannot serve them (a span too short for its rows, a null stream or engine, a value
/// of no enum member) before they change anything: they threw IndexOutOfRangeException, a bare ArgumentOutOfRangeException, the
/// matrix routine's names for its operands ('a', 'c'), or NullReferenceException at the first forward, and a gradient call
/// refused for its output or conditioning gradient had already accumulated the parameters' gradients.
/// </summary>
[TestClass]
public sealed class LayerArgumentTests
{
    private const int Rows = 3;

    private static void AssertNamed(Action call, string parameter, string because)
    {
        var e = Assert.Throws<ArgumentException>(call, because);
        Assert.AreEqual(parameter, e.ParamName, because);
        if (e is not ArgumentNullException) StringAssert.Contains(e.Message, parameter, because);
    }

    [TestMethod]
    [DataRow("9b-5b", 1)]
    [DataRow("9cb-5g", 1)]
    [DataRow("9b-5g-3g", 2)]
    [DataRow("9b-5gr", 1)]
    [DataRow("9b-4t-5g", 1)]
    public void AShortSpanIsNamedAndAFailedGradientAccumulatesNothing(string architecture, int index)
    {
        var machine = TestModels.Random(architecture, 51);
        // A recognition layer: it has inputs, outputs and (Gaussian) reparameterised draws.
        ConditionalLayer layer = machine.Recognition.Layer(Math.Min(index, machine.Architecture.Layers.Count - 1));
        int i = layer.InputSize, o = layer.OutputSize;
        var (x, y) = TestModels.ForwardAndSample(layer, Rows, 52);
        float[] w = [1, 1, 1];

        AssertNamed(() => layer.Forward(x.AsSpan(1), Rows), "input", "Forward");
        AssertNamed(() => layer.Forward(x, new float[Rows * o - 1], Rows), "conditioning", "Forward with a short conditioning");
        AssertNamed(() => layer.Sample(null!, Rows, y), "random", "Sample");
        AssertNamed(() => layer.Sample(new RandomStream(52), Rows, y.AsSpan(1)), "output", "Sample");
        AssertNamed(() => layer.Expectation(Rows, y.AsSpan(1)), "output", "Expectation");
        AssertNamed(() => layer.AccumulateLogProb(y.AsSpan(1), Rows, new double[Rows]), "y", "AccumulateLogProb");
        AssertNamed(() => layer.AccumulateLogProb(y, Rows, new double[Rows - 1]), "rowLogProb", "AccumulateLogProb");
        AssertNamed(() => layer.AccumulateLogProb(y, 1, [0, 1, 1], Rows, new double[Rows]), "rowSource", "a source past the distinct rows");
        AssertNamed(() => layer.AccumulateLogProb(y, 2, [0, -1, 1], Rows, new double[Rows]), "rowSource", "a negative source");
        AssertNamed(() => layer.AccumulateLogProb(y, 2, [], Rows, new double[Rows]), "distinctRows", "no source and fewer outputs than rows");
        Assert.Throws<ArgumentOutOfRangeException>(() => layer.Expectation(-1, y), "a negative count");

        machine.ZeroGradients();
        var gradients = new (string Name, Action Call)[]
        {
            ("y", () => layer.AccumulateLogProbGradient(y.AsSpan(1), x, Rows, w, default, default)),
            ("input", () => layer.AccumulateLogProbGradient(y, x.AsSpan(1), Rows, w, default, default)),
            ("rowWeights", () => layer.AccumulateLogProbGradient(y, x, Rows, w.AsSpan(1), default, default)),
            ("inputGradient", () => layer.AccumulateLogProbGradient(y, x, Rows, w, new float[Rows * i - 1], default)),
            ("outputGradient", () => layer.AccumulateLogProbGradient(y, x, Rows, w, default, new float[Rows * o - 1])),
            ("conditioningGradient", () => layer.AccumulateLogProbGradient(y, x, Rows, w, default, default, new float[Rows * o - 1])),
        };
        foreach (var (name, call) in gradients)
            AssertNamed(call, name, "AccumulateLogProbGradient");
        Assert.IsTrue(machine.Parameters.All(p => p.Gradient.All(g => g == 0)), "a refused gradient call accumulates nothing");
        layer.AccumulateLogProbGradient(y, x, Rows, w, new float[Rows * i], new float[Rows * o], new float[Rows * o]);
        Assert.IsTrue(layer.Parameters.Any(p => p.Gradient.Any(g => g != 0)), "the call with every span whole accumulates");
    }

    /// <summary>
    /// Outputs taken by row index are checked for every row before anything is scored: a source past the distinct outputs in the
    /// last row (which the outputs given, three rows long, would silently serve), a negative count of distinct outputs (whose
    /// unsigned comparison would let every source through), a row source one entry short and a rowLogProb one row short (though
    /// long enough for the distinct outputs; a check against those alone let it through to the scoring, which named no argument)
    /// are each refused, naming the argument.
    /// </summary>
    [TestMethod]
    [DataRow("9b-5b")]
    [DataRow("9cb-5g")]
    [DataRow("9b-4t-5g")]
    public void OutputsByRowIndexAreCheckedInEveryRowBeforeAnyIsScored(string architecture)
    {
        var machine = TestModels.Random(architecture, 57);
        ConditionalLayer layer = machine.Recognition.Layer(1);
        var (x, y) = TestModels.ForwardAndSample(layer, Rows, 58);
        double[] logProb = new double[Rows];

        AssertNamed(() => layer.AccumulateLogProb(y, 1, [0, 0, 1], Rows, logProb), "rowSource", "a source past the distinct rows in the last row only");
        AssertNamed(() => layer.AccumulateLogProb(y, Rows, [0, 1], Rows, logProb), "rowSource", "a row source one entry short");
        Assert.AreEqual("distinctRows", Assert.ThrowsExactly<ArgumentOutOfRangeException>(
            () => layer.AccumulateLogProb(y, -1, [0, 0, 0], Rows, logProb)).ParamName, "a negative count of distinct outputs");
        AssertNamed(() => layer.AccumulateLogProb(y, 1, [0, 0, 0], Rows, logProb.AsSpan(0, Rows - 1)), "rowLogProb", "a value per row, one row short");
        Assert.IsTrue(logProb.All(v => v == 0), "a refused call scores nothing");
        layer.AccumulateLogProb(y, 1, [0, 0, 0], Rows, logProb);   // the premise: a source inside the distinct rows in every row is taken
        Assert.IsTrue(logProb.All(v => v != 0), "the call with every source inside scores every row");
    }

    /// <summary>
    /// The bilinear form's calls name the span that is short: the features (one unit short) or the constants (one row short),
    /// each by its own name, for the binary and the continuous Bernoulli layers and through a trunk.
    /// </summary>
    [TestMethod]
    [DataRow("9b-5b")]
    [DataRow("9cb-5b")]
    [DataRow("9b-4t-5b")]
    public void TheBilinearTermsNameTheSpanThatIsShort(string architecture)
    {
        var machine = TestModels.Random(architecture, 55);
        ConditionalLayer layer = machine.Generative.Layers[0];
        var bilinear = (IBilinearLogProb)layer;
        int o = layer.OutputSize;
        float[] x = new float[Rows * layer.InputSize], y = new float[Rows * o];
        new RandomStream(56).FillUniform(x);
        layer.Forward(x, Rows);

        AssertNamed(() => bilinear.InputFeatures(Rows, new float[Rows * o - 1], new double[Rows]), "features", "InputFeatures with short features");
        AssertNamed(() => bilinear.InputFeatures(Rows, new float[Rows * o], new double[Rows - 1]), "constant", "InputFeatures with short constants");
        AssertNamed(() => bilinear.OutputTerms(y, Rows, new float[Rows * o], new double[Rows - 1]), "constant", "OutputTerms with short constants");
        bilinear.InputFeatures(Rows, new float[Rows * o], new double[Rows]);   // whole spans serve
    }

    [TestMethod]
    public void ALayerWithoutAnEngineOrWithAnUndefinedMeanIsRefusedAtConstruction()
    {
        AssertNamed(() => new BernoulliLayer("b", 2, 3, null!), "engine", "Bernoulli");
        AssertNamed(() => new ContinuousBernoulliLayer("c", 2, 3, null!), "engine", "continuous Bernoulli");
        AssertNamed(() => new GaussianLayer("g", 2, 3, GaussianMean.Tanh, VarianceSource.PerUnit, null!), "engine", "Gaussian");
        AssertNamed(() => new RankOneGaussianLayer("r", 2, 3, null!), "engine", "rank one");
        AssertNamed(() => new GaussianLayer("g", 2, 3, (GaussianMean)9, VarianceSource.PerUnit, MatrixEngine.Managed), "mean", "an undefined mean function");
        AssertNamed(() => new GaussianLayer("g", 2, 3, GaussianMean.Tanh, (VarianceSource)9, MatrixEngine.Managed), "variance", "an undefined variance source");
    }

    /// <summary>Arguments the model's calls were named wrongly for: a parameter's column count (named 'rows'), a count of 0 rows (named 'states'), a short logJoint (no name).</summary>
    [TestMethod]
    public void TheModelsCallsNameTheArgumentThatIsWrong()
    {
        Assert.AreEqual("columns", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Parameter("p", 5, 0)).ParamName);
        Assert.AreEqual("rows", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Parameter("p", 0, 5)).ParamName);
        var machine = TestModels.Random("6b-3b", 9);
        var states = new Microsoft.ML.Helmholtz.Model.LayerStates(machine.Architecture, 4);
        Assert.AreEqual("rows", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => machine.Generative.Dream(new RandomStream(1), 0, states)).ParamName);
        Assert.AreEqual("states", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => machine.Generative.Dream(new RandomStream(1), 5, states)).ParamName, "more rows than the states hold");
        Assert.AreEqual("logJoint", Assert.ThrowsExactly<ArgumentException>(() => machine.SampleFreeEnergy(new RandomStream(1), states, 4, new double[4], new double[3])).ParamName);
        Assert.AreEqual("freeEnergy", Assert.ThrowsExactly<ArgumentException>(() => machine.SampleFreeEnergy(new RandomStream(1), states, 4, new double[3], new double[4])).ParamName);
    }

    /// <summary>
    /// A Gaussian layer needs an input (the top layer's Gaussian is <see cref="StandardNormalPrior"/>): one of 0 inputs is refused,
    /// naming inputSize, where the base layer would take 0 as a prior's and build a mean map without weights.
    /// </summary>
    [TestMethod]
    public void AGaussianLayerWithoutAnInputIsRefusedAtConstruction()
    {
        AssertNamed(() => new GaussianLayer("g", 0, 3, GaussianMean.Tanh, VarianceSource.PerUnit, MatrixEngine.Managed), "inputSize", "a diagonal Gaussian, its variance per unit");
        AssertNamed(() => new GaussianLayer("g", 0, 3, GaussianMean.Linear, VarianceSource.FromInput, MatrixEngine.Managed), "inputSize", "a diagonal Gaussian, its variance from the input");
        AssertNamed(() => new RankOneGaussianLayer("r", 0, 3, MatrixEngine.Managed), "inputSize", "rank one");
    }

    /// <summary>
    /// The backward through a draw takes a weight per row: row weights one short are refused, naming the gradient, before anything
    /// accumulates (the rank-one layer's rows read their weights through a pointer, which reads past the end of a short span).
    /// </summary>
    [TestMethod]
    [DataRow("9cb-5g")]   // diagonal
    [DataRow("9b-5gr")]   // rank one
    public void ShortRowWeightsInTheBackwardThroughADrawAreNamedBeforeAnythingAccumulates(string architecture)
    {
        var machine = TestModels.Random(architecture, 53);
        ConditionalLayer layer = machine.Recognition.Layer(1);
        var reparameterized = (IReparameterizedLayer)layer;
        var random = new RandomStream(54);
        float[] x = new float[Rows * layer.InputSize], y = new float[Rows * layer.OutputSize], g = new float[Rows * layer.OutputSize], w = [1, 1, 1];
        random.FillUniform(x);
        random.FillNormal(g);
        layer.Forward(x, Rows);
        layer.Sample(random, Rows, y);
        machine.ZeroGradients();
        AssertNamed(() => reparameterized.BackwardThroughSample(new SampleGradient { PathWise = g, RowWeights = w.AsSpan(1) }, x, Rows, default),
            "gradient", "row weights one short");
        Assert.IsTrue(machine.Parameters.All(p => p.Gradient.All(v => v == 0)), "a refused backward accumulates nothing");
        reparameterized.BackwardThroughSample(new SampleGradient { PathWise = g, RowWeights = w }, x, Rows, default);
        Assert.IsTrue(layer.Parameters.Any(p => p.Gradient.Any(v => v != 0)), "the backward with a weight per row accumulates");
    }
}
