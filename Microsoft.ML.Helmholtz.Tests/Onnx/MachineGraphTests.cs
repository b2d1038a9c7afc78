using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Evaluation;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Onnx;
using Microsoft.ML.Helmholtz.Tests.Support;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Microsoft.ML.Helmholtz.Tests.Onnx;

/// <summary>The ONNX graphs of a machine, run in ONNX Runtime, give the managed scorers' numbers.</summary>
[TestClass]
public sealed class MachineGraphTests
{
    /// <summary>The graph's threshold labels every float score as the managed comparison with the double threshold does, at the boundary too.</summary>
    [TestMethod]
    public void TheThresholdInFloatLabelsEveryScoreAsTheDoubleDoes()
    {
        foreach (double threshold in new[] { 1 - 1e-9, 1 + 1e-9, 1.0, -87.123456789, 1e-40, -1e-40, 0.0, 3e38 })
        {
            float t = MachineGraph.ThresholdAsFloat(threshold);
            float near = (float)threshold;
            foreach (float s in new[] { MathF.BitDecrement(MathF.BitDecrement(near)), MathF.BitDecrement(near), near, MathF.BitIncrement(near), MathF.BitIncrement(MathF.BitIncrement(near)) })
                Assert.AreEqual(s > threshold, s > t, $"score {s:R} against {threshold:R} (as float {t:R})");
        }
        // Why the threshold is not simply rounded to nearest: 1f > 1 − 1e-9, but not 1f > (float)(1 − 1e-9), which is 1f, so a score
        // of 1 would have been labelled normal against 1 − 1e-9 (the first threshold above checks it).
    }

    /// <summary>
    /// A graph whose constants (the weights and the K samples' noise) would pass what one protobuf message
    /// holds is refused while it is built, naming the limit and what to shrink; at the limit it is built.
    /// The limit is lowered here from protobuf's 2 GiB, which the builder holds to by default.
    /// </summary>
    [TestMethod]
    public void AGraphPastWhatOneOnnxFileHoldsIsRefusedWhileItIsBuilt()
    {
        var machine = TestModels.Random("6b-4b-3b", 1);
        var logLikelihood = new FixedNoiseLogLikelihood(machine, 1000, seed: 2);
        byte[] model = MachineGraph.Build(null, logLikelihood, new GraphColumns(Features: null));
        Assert.IsTrue(model.Length > 7 * 1000 * sizeof(float), "the noise of 1000 samples of 7 hidden units is in the file");
        // The file holds its constants and more, so its own length lets them through.
        CollectionAssert.AreEqual(model, MachineGraph.Build(null, logLikelihood, new GraphColumns(Features: null), constantByteLimit: model.Length));
        var refusal = Assert.ThrowsExactly<NotSupportedException>(
            () => MachineGraph.Build(null, logLikelihood, new GraphColumns(Features: null), constantByteLimit: 7 * 1000 * sizeof(float) / 2));
        StringAssert.Contains(refusal.Message, "2 GiB");
        StringAssert.Contains(refusal.Message, "fewer samples");
        StringAssert.Contains(refusal.Message, "14,000 bytes");
        // Exactly at the limit the constants are taken: 12 bytes hold three floats, and a fourth is refused.
        var builder = new OnnxGraphBuilder("limit", constantByteLimit: 12);
        builder.Initializer("two", [1f, 2f], 2);
        // A name refused as taken counts none of the limit's bytes.
        Assert.ThrowsExactly<ArgumentException>(() => builder.Scalar("two", 3f));
        builder.Scalar("third", 3f);
        Assert.ThrowsExactly<NotSupportedException>(() => builder.Scalar("fourth", 4f));
    }

    /// <summary>
    /// A node's output the builder names itself passes over a name the graph already holds: an initializer named as
    /// the builder would name the node's output (both under the internal prefix) does not make the node refused.
    /// </summary>
    [TestMethod]
    public void TheBuildersOwnNameForAValuePassesOverOneAlreadyTaken()
    {
        var builder = new OnnxGraphBuilder("names");
        string x = builder.Input("x", 2);
        string taken = builder.Initializer("Neg_0", [1f, 2f], 2);
        string negated = builder.Node("Neg", [x]);
        Assert.AreEqual(OnnxGraphBuilder.InternalPrefix + "Neg_0", taken);
        Assert.AreEqual(OnnxGraphBuilder.InternalPrefix + "Neg_1", negated, "the next free name");
        Assert.AreEqual(OnnxGraphBuilder.InternalPrefix + "Neg_2", builder.Node("Neg", [negated]));
    }

    /// <summary>
    /// The builder refuses what would make a graph ONNX Runtime rejects only when it loads it: a node reading a value not yet
    /// declared, a negative fixed dimension, a graph with no outputs. A dimension of 0 is a size ONNX allows.
    /// </summary>
    [TestMethod]
    public void TheBuilderRefusesAnUndeclaredInputANegativeDimensionAndAGraphWithoutOutputs()
    {
        var builder = new OnnxGraphBuilder("checks");
        string x = builder.Input("x", 2);
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => builder.Node("Neg", [x, "later"])).Message, "Unknown value 'later'");
        builder.Input("empty", (OnnxDim)0);
        Assert.AreEqual("value", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => builder.Input("negative", -1)).ParamName);
        StringAssert.Contains(Assert.ThrowsExactly<InvalidOperationException>(() => builder.ToBytes("test", "0")).Message, "no outputs");
        builder.Output(builder.Node("Neg", [x], "y"), 2);
        Assert.IsNotEmpty(builder.ToBytes("test", "0"));
    }

    /// <summary>
    /// An output names a value the graph holds, once: an undeclared value or a second declaration of the same output would
    /// make a model ONNX Runtime refuses only when it loads it. The refusals leave the graph as it was, and it loads.
    /// </summary>
    [TestMethod]
    public void TheBuilderRefusesAnOutputOfAnUndeclaredValueAndAnOutputDeclaredTwice()
    {
        var builder = new OnnxGraphBuilder("outputs");
        string y = builder.Node("Neg", [builder.Input("x", 2)], "y");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => builder.Output("z", 2)).Message, "Unknown value 'z'");
        builder.Output(y, 2);
        var twice = Assert.ThrowsExactly<ArgumentException>(() => builder.Output(y, 2));
        Assert.AreEqual("name", twice.ParamName);
        StringAssert.Contains(twice.Message, "'y' is already an output");
        using var session = TestSessions.Create(builder.ToBytes("test", "0"));
        CollectionAssert.AreEqual(new[] { "y" }, session.OutputNames.ToArray(), "one output, the one declared once");
    }

    /// <summary>
    /// An initializer holds exactly as many values as its shape: too few or too many are refused as it is declared (ONNX
    /// Runtime would refuse the model only when it loads it), and the refused name stays free. A dimension of 0 is a shape
    /// ONNX allows: an empty initializer is taken, and a graph concatenating it runs.
    /// </summary>
    [TestMethod]
    public void AnInitializerHoldsAsManyValuesAsItsShapeAndMayBeEmpty()
    {
        var builder = new OnnxGraphBuilder("initializers");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => builder.Initializer("short", [1f, 2f], 3)).Message, "2 values do not match shape [3]");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => builder.Initializer("short", [1f, 2f, 3f, 4f], 3)).Message, "4 values do not match shape [3]");
        Assert.AreEqual("dims", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => builder.Int64Initializer("negative", [], -1)).ParamName);
        Assert.AreEqual(OnnxGraphBuilder.InternalPrefix + "short", builder.Initializer("short", [1f, 2f, 3f], 3), "the refused name is still free");
        string empty = builder.Initializer("empty", [], 0, 3);
        string x = builder.Input("x", 2, 3);
        builder.Output(builder.Node("Concat", [x, empty], "y", ("axis", 0L)), 2, 3);
        using var session = TestSessions.Create(builder.ToBytes("test", "0"));
        float[] values = [1f, 2f, 3f, 4f, 5f, 6f];
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("x", new DenseTensor<float>(values, [2, 3]))]);
        CollectionAssert.AreEqual(values, results.Single().AsTensor<float>().ToArray(), "x with no rows added");
    }

    /// <summary>
    /// The graph's outputs match the scorers given: a log-likelihood, score or label column without the log-likelihood's
    /// scorer, a scorer without a column for it, or neither output is refused, rather than a graph built without what was asked for.
    /// </summary>
    [TestMethod]
    public void AGraphWhoseColumnsDoNotMatchItsScorersIsRefused()
    {
        var machine = TestModels.Random("6b-4b", 1);
        var features = new RecognitionFeatures(machine, FeatureLayers.Top);
        var estimator = new FixedNoiseLogLikelihood(machine, 5, seed: 2);
        void Refused(Action build, string message) => StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(build).Message, message);
        Refused(() => MachineGraph.Build(features, null), "must match the scorers");   // the default columns hold the log-likelihood
        Refused(() => MachineGraph.Build(features, null, new GraphColumns(LogLikelihood: null, Score: "score")), "must match the scorers");
        Refused(() => MachineGraph.Build(features, estimator, new GraphColumns(LogLikelihood: null)), "must match the scorers");
        Refused(() => MachineGraph.Build(null, estimator), "must match the scorers");   // a features column without its scorer
        Refused(() => MachineGraph.Build(null, null, new GraphColumns(Features: null, LogLikelihood: null)), "Ask for the features, the log-likelihood or both");
        // The control: each column with its scorer is built.
        Assert.IsNotEmpty(MachineGraph.Build(features, estimator, new GraphColumns(Score: "score")));
    }

    /// <summary>
    /// A single-row graph of any size (what a saved pipeline hands ML.NET's OnnxTransformer) takes its row as [1, values],
    /// the leading 1 fixed (OnnxTransformer takes a leading unknown dimension for a batch), and gives the features and each
    /// layer's statistics as the vectors it declares, [units], not as a batch of one; the features are the managed ones.
    /// </summary>
    [TestMethod]
    public void ASingleRowGraphOfAnySizeTakesOneRowAndGivesVectorsOfTheDeclaredShape()
    {
        var machine = TestModels.Random("6b-4g-3b", 1);
        var features = new RecognitionFeatures(machine, FeatureLayers.AllHidden);
        byte[] model = MachineGraph.Build(features, null, new GraphColumns(LogLikelihood: null, SingleRow: true, LayerStatistics: true, RowOfAnySize: true));
        var graph = Microsoft.ML.Helmholtz.Onnx.Proto.ModelProto.Parser.ParseFrom(model).Graph;
        var input = graph.Input.Single().Type.TensorType.Shape.Dim;
        Assert.AreEqual(2, input.Count);
        Assert.AreEqual(1L, input[0].DimValue, "a leading 1, fixed");
        Assert.AreEqual("values", input[1].DimParam);
        DataMatrix data = TestModels.BinaryData(1, 6, 3);
        float[] managed = new float[features.Size];
        features.CreateExtractor().Extract(data.Values, 1, managed);
        using var session = TestSessions.Create(model);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor(MachineGraph.InputName, new DenseTensor<float>(data.Values, [1, 6]))]);
        foreach (var (name, units) in new[] { (MachineGraph.FeaturesName, 4 + 3), ("hidden_1_mean", 4), ("hidden_1_log_variance", 4), ("hidden_2_probability", 3) })
        {
            var declared = graph.Output.Single(o => o.Name == name).Type.TensorType.Shape.Dim;
            Assert.AreEqual(1, declared.Count, name);
            Assert.AreEqual((long)units, declared[0].DimValue, name);
            CollectionAssert.AreEqual(new[] { units }, results.First(r => r.Name == name).AsTensor<float>().Dimensions.ToArray(), name);
        }
        float[] onnx = results.First(r => r.Name == MachineGraph.FeaturesName).AsTensor<float>().ToArray();
        for (int i = 0; i < onnx.Length; i++) Assert.AreEqual(managed[i], onnx[i], 1e-5, $"feature {i}");
    }

    private static DataMatrix Data(HelmholtzMachine machine, int rows, ulong seed)
    {
        var visible = machine.Architecture.Visible;
        if (visible.Units == UnitType.Bernoulli) return TestModels.BinaryData(rows, visible.Size, seed);
        var random = new Microsoft.ML.Helmholtz.Numerics.RandomStream(seed);
        var values = new float[rows * visible.Size];
        if (visible.Units == UnitType.ContinuousBernoulli)
        {
            // Values in [0, 1], the ends among them.
            random.FillUniform(values);
            for (int i = 0; i < values.Length; i += 7) values[i] = i % 2;
        }
        else random.FillNormal(values);
        return new DataMatrix(rows, visible.Size, values);
    }

    /// <summary>Every row's fixed-noise log-likelihood (K samples of the seed's noise) is finite in the managed scorer, and the graph's is the same.</summary>
    private static void ScoredAsTheManagedScorerScoresIt(HelmholtzMachine machine, int k, ulong seed, DataMatrix data)
    {
        var estimator = new FixedNoiseLogLikelihood(machine, k, seed);
        double[] managed = new double[data.Rows];
        estimator.CreateScorer().Estimate(data.Values, data.Rows, managed);
        var (_, onnx) = Run(MachineGraph.Build(null, estimator, new GraphColumns(Features: null)), data);
        for (int i = 0; i < data.Rows; i++)
        {
            Assert.IsTrue(double.IsFinite(managed[i]), $"managed row {i}: {managed[i]}");
            Assert.AreEqual(managed[i], onnx[i], 1e-5 * (1 + Math.Abs(managed[i])), $"row {i}");
        }
    }

    private static (float[] Features, float[] LogLikelihood) Run(byte[] model, DataMatrix data)
    {
        using var session = TestSessions.Create(model);
        var input = new DenseTensor<float>(data.Values, [data.Rows, data.Columns]);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor(MachineGraph.InputName, input)]);
        float[] Output(string name) => results.FirstOrDefault(r => r.Name == name)?.AsTensor<float>().ToArray() ?? [];
        return (Output(MachineGraph.FeaturesName), Output(MachineGraph.LogLikelihoodName));
    }

    [TestMethod]
    [DataRow("30b-12b-5b", FeatureLayers.Top)]
    [DataRow("30b-12g-5g", FeatureLayers.AllHidden)]
    [DataRow("30gl-12g", FeatureLayers.Top)]
    [DataRow("30b-12g-6b-3g", FeatureLayers.AllHidden)]
    [DataRow("30g-8b", FeatureLayers.Top)]
    [DataRow("30b-12gr-5gr", FeatureLayers.AllHidden)]
    [DataRow("30gl-12gr", FeatureLayers.Top)]
    [DataRow("30b-12grl-5grl", FeatureLayers.AllHidden)]
    [DataRow("30b-12g-5gr", FeatureLayers.Top)]
    [DataRow("30b-8t-12b-5b", FeatureLayers.AllHidden)]
    [DataRow("30b-8t-6t-12g-4t-5gr", FeatureLayers.AllHidden)]
    [DataRow("30cb-12g-5g", FeatureLayers.Top)]
    [DataRow("30cb-12b", FeatureLayers.AllHidden)]
    [DataRow("30b-12cb-5cb", FeatureLayers.AllHidden)]
    [DataRow("30cb-8t-12cb-5g", FeatureLayers.AllHidden)]
    public void TheGraphGivesTheManagedFeaturesAndLogLikelihood(string architecture, FeatureLayers layers)
        => GivesTheManagedNumbers(architecture, layers, 0.4f);

    /// <summary>
    /// Continuous Bernoulli units from logits near 0 (where the graph takes the kernel's series) to logits of tens (where e^−|a|
    /// is all but 0): their mean, density and draws.
    /// </summary>
    [TestMethod]
    [DataRow(0.01f)]
    [DataRow(0.1f)]
    [DataRow(1f)]
    [DataRow(4f)]
    public void ContinuousBernoulliUnitsGiveTheManagedNumbersAtEveryScaleOfLogit(float scale)
        => GivesTheManagedNumbers("30cb-12cb-6cb", FeatureLayers.AllHidden, scale);

    [TestMethod]
    public void ContinuousBernoulliUnitsGiveTheManagedNumbersAcrossTheirLogits()
    {
        // Logits set outright, on both sides of the graph's series limit (0.25) and out to where e^−|a| underflows.
        float[] logits = [0f, 1e-7f, -1e-6f, 1e-4f, -3e-3f, 0.01f, -0.1f, 0.2f, -0.2499f, 0.25f, -0.2501f, 0.3f, -0.5f, 1f, -2f, 5f, -10f, 20f, -40f, 90f, -110f];
        var machine = TestModels.Random($"6cb-{logits.Length}cb", 1, scale: 0.3f);
        var recognition = (ContinuousBernoulliLayer)machine.Recognition.Layer(1);
        Array.Clear(recognition.Affine.Weight!.Value);
        logits.CopyTo(recognition.Affine.Bias.Value, 0);
        // The prior's logits differ from q's, so that ln p − ln q depends on every draw.
        var prior = (ContinuousBernoulliLayer)machine.Generative.Prior;
        logits.Reverse().ToArray().CopyTo(prior.Affine.Bias.Value, 0);
        GivesTheManagedNumbers(machine, FeatureLayers.Top);
    }

    private static void GivesTheManagedNumbers(string architecture, FeatureLayers layers, float scale)
        => GivesTheManagedNumbers(TestModels.Random(architecture, 1, scale), layers);

    private static void GivesTheManagedNumbers(HelmholtzMachine machine, FeatureLayers layers)
    {
        var features = new RecognitionFeatures(machine, layers);
        var logLikelihood = new FixedNoiseLogLikelihood(machine, 40, seed: 2);
        byte[] model = MachineGraph.Build(features, logLikelihood);
        DataMatrix data = Data(machine, 13, 3);
        float[] managedFeatures = new float[13 * features.Size];
        features.CreateExtractor().Extract(data.Values, 13, managedFeatures);
        double[] managedLogLikelihood = new double[13];
        logLikelihood.CreateScorer().Estimate(data.Values, 13, managedLogLikelihood);
        foreach (int rows in new[] { 13, 1 })
        {
            DataMatrix batch = data.Slice(0, rows);
            var (onnxFeatures, onnxLogLikelihood) = Run(model, batch);
            Assert.HasCount(rows * features.Size, onnxFeatures);
            Assert.HasCount(rows, onnxLogLikelihood);
            for (int i = 0; i < onnxFeatures.Length; i++)
                Assert.AreEqual(managedFeatures[i], onnxFeatures[i], 1e-5, $"feature {i}, batch of {rows}");
            // Float sums in ONNX Runtime against double sums of float terms: about 1e-7 of the value (measured up to
            // 1.1e-7, 7e-5 nats at −640; continuous Bernoulli units up to 4.3e-7 of 1 + |ln p|); a Bernoulli draw within
            // rounding of its threshold would differ more.
            for (int i = 0; i < rows; i++)
                Assert.AreEqual(managedLogLikelihood[i], onnxLogLikelihood[i], 2e-6 * (1 + Math.Abs(managedLogLikelihood[i])), $"log-likelihood of row {i}, batch of {rows}");
        }
    }

    /// <summary>
    /// A sample whose ln p − ln q is ∞ − ∞ (a draw past float in a deep Gaussian machine) has weight 0 in the graph, as the
    /// managed scorer decides it, rather than a NaN for the whole row.
    /// </summary>
    [TestMethod]
    public void ASampleOfNoWeightLeavesTheRowFinite()
    {
        var machine = TestModels.Random("12g-8g-6g-4g", 1, scale: 0.4f);
        var values = new float[7 * 12];
        new Microsoft.ML.Helmholtz.Numerics.RandomStream(3).FillNormal(values);
        ScoredAsTheManagedScorerScoresIt(machine, 9, 2, new DataMatrix(7, 12, values));
    }

    /// <summary>
    /// A row whose first sample has weight 0 (ln p − ln q = −∞) and whose others lie far below −88 is finite in the graph, as in
    /// the managed scorer: ONNX Runtime's ReduceLogSumExp took the first element for its maximum, 0 where it was −∞, and gave
    /// −∞ (the first repro, −57,758 nats managed) or a value off by the underflow. The rows of the second machine, some with
    /// a first weight of −∞, agree too.
    /// </summary>
    [TestMethod]
    [DataRow("10b-6g-4g-2g", 1.5f, 7, 1)]
    [DataRow("100b-20g-10g", 0.5f, 50, 37)]
    public void ARowWhoseFirstSampleHasNoWeightIsScoredAsTheManagedScorerScoresIt(string architecture, float scale, int k, int rows)
    {
        var machine = TestModels.Random(architecture, 3, scale);
        var random = new Microsoft.ML.Helmholtz.Numerics.RandomStream(9);
        int d = machine.Architecture.Visible.Size;
        var values = new float[rows * d];
        for (int i = 0; i < values.Length; i++) values[i] = random.NextDouble() < 0.4 ? 1f : 0f;
        ScoredAsTheManagedScorerScoresIt(machine, k, 5, new DataMatrix(rows, d, values));
    }

    /// <summary>
    /// A row every one of whose samples has weight 0 (each draw past float in a deep Gaussian machine) is −∞ in the graph, as
    /// in the managed scorer, not NaN: its log-sum-exp shifts by 0 where the largest weight is infinite. Other rows of the
    /// same batch, with one sample of weight, stay finite and agree.
    /// </summary>
    [TestMethod]
    public void ARowWhoseSamplesAllHaveNoWeightIsMinusInfinityInTheGraphToo()
    {
        var machine = TestModels.Random("10b-6g-4g-2g", 3, 1.5f);
        var random = new Microsoft.ML.Helmholtz.Numerics.RandomStream(9);
        int rows = 40, d = machine.Architecture.Visible.Size;
        var data = new DataMatrix(rows, d, new float[rows * d]);
        for (int i = 0; i < data.Values.Length; i++) data.Values[i] = random.NextDouble() < 0.4 ? 1f : 0f;
        var estimator = new FixedNoiseLogLikelihood(machine, 2, seed: 5);
        double[] managed = new double[rows];
        estimator.CreateScorer().Estimate(data.Values, rows, managed);
        var (_, onnx) = Run(MachineGraph.Build(null, estimator, new GraphColumns(Features: null)), data);
        int infinite = 0;
        for (int i = 0; i < rows; i++)
        {
            if (double.IsNegativeInfinity(managed[i]))
            {
                infinite++;
                Assert.AreEqual(float.NegativeInfinity, onnx[i], $"row {i}");
            }
            // The finite rows reach −4e32 here, sums of float terms larger still, so rounding moves them more than ordinary
            // rows (checked to 1e-5 of the value above): measured up to 1.5e-5 of the value with the scalar kernels and 2.1e-4
            // on CUDA (an H100). This test is about the −∞ rows; these are held to 1e-3.
            else Assert.AreEqual(managed[i], onnx[i], 1e-3 * (1 + Math.Abs(managed[i])), $"row {i}");
        }
        // Both kinds of row are here (13 of 40 −∞ when written).
        Assert.IsTrue(infinite > 0 && infinite < rows, $"{infinite} of {rows} rows −∞");
    }

    /// <summary>
    /// The rank-one posterior's ln q in the graph stays finite where a = u / σ passes float (log-variances of −100), as the
    /// managed layer's scaled form does, and agrees with it; at −40 the scaled form (c &gt; 0) runs where the plain one also held.
    /// One factor is 0 throughout (its weights and bias), the ln 0 = −∞ of the scaled form. Ordinary variances (c = 0) are checked above.
    /// </summary>
    [TestMethod]
    [DataRow(-100f)]
    [DataRow(-40f)]
    public void ARankOnePosteriorOfTinyVarianceIsScoredAsTheManagedLayerScoresIt(float logVariance)
    {
        var machine = TestModels.Random("6gl-4grl", 1, scale: 0.3f);
        var recognition = (RankOneGaussianLayer)machine.Recognition.Layer(1);
        Array.Clear(recognition.LogVarianceMap.Weight!.Value);
        Array.Fill(recognition.LogVarianceMap.Bias.Value, logVariance);
        int inputs = recognition.FactorMap.Inputs;
        Array.Clear(recognition.FactorMap.Weight!.Value, 0, inputs);   // unit 0's factor is 0 whatever the input
        recognition.FactorMap.Bias.Value[0] = 0;
        ScoredAsTheManagedScorerScoresIt(machine, 5, 2, Data(machine, 3, 3));
    }

    /// <summary>
    /// A generative Gaussian layer of tiny variance is scored as the managed kernel scores it: ((y − m) e^{−s/2})², e^{−s/2}
    /// held at float.MaxValue below s = −177. The graph formed (y − m)² e^{−s}, whose e^{−s} is ∞ below s = −88.7: a value at
    /// its mean gave 0 · ∞ (every sample dropped, the row −∞) and y − m = 10⁻²⁵ squared to 0 before the product (NaN again).
    /// Visible units 0 and 1 have the log-variance given, their means fixed by their biases; the rows put unit 0 at its mean
    /// and unit 1 10⁻²⁵ from it. At −60 both forms hold (the control).
    /// </summary>
    [TestMethod]
    [DataRow(-60f)]
    [DataRow(-100f)]
    [DataRow(-200f)]
    public void AGaussianLayerOfTinyVarianceIsScoredAsTheManagedKernelScoresIt(float logVariance)
    {
        var machine = TestModels.Random("6gl-4g", 1, scale: 0.3f);
        var visible = (GaussianLayer)machine.Generative.Layers[0];
        int inputs = visible.MeanMap.Inputs;
        Array.Clear(visible.MeanMap.Weight!.Value, 0, 2 * inputs);   // units 0 and 1: their means are their biases whatever the input
        visible.MeanMap.Bias.Value[0] = 0.3f;
        visible.MeanMap.Bias.Value[1] = 0f;
        visible.LogVarianceParameter!.Value[0] = logVariance;
        visible.LogVarianceParameter.Value[1] = logVariance;
        DataMatrix data = Data(machine, 3, 4);
        for (int r = 0; r < 3; r++)
        {
            data.Values[r * 6] = 0.3f;
            data.Values[r * 6 + 1] = 1e-25f;
        }
        ScoredAsTheManagedScorerScoresIt(machine, 5, 2, data);
    }

    [TestMethod]
    public void AScoreEqualToTheThresholdIsNotLabelledAnAnomaly()
    {
        // The label is score > threshold, strictly, as the managed transformer has it: a row whose score is the threshold
        // exactly (the graph's own float score, given back as the threshold) is not labelled; the others are by the comparison.
        var machine = TestModels.Random("6b-4b", 1);
        var estimator = new FixedNoiseLogLikelihood(machine, 5, seed: 2);
        var data = TestModels.BinaryData(8, 6, 3);
        (float[] Scores, bool[] Labels) Run(double threshold)
        {
            byte[] model = MachineGraph.Build(null, estimator, new GraphColumns(Features: null, Score: "score", PredictedLabel: "label", Threshold: threshold));
            using var session = TestSessions.Create(model);
            var input = new DenseTensor<float>(data.Values, [data.Rows, data.Columns]);
            using var results = session.Run([NamedOnnxValue.CreateFromTensor(MachineGraph.InputName, input)]);
            return (results.First(r => r.Name == "score").AsTensor<float>().ToArray(), results.First(r => r.Name == "label").AsTensor<bool>().ToArray());
        }
        float[] scores = Run(0).Scores;
        double threshold = scores[3];
        var (again, labels) = Run(threshold);
        CollectionAssert.AreEqual(scores, again);
        for (int i = 0; i < data.Rows; i++) Assert.AreEqual(scores[i] > threshold, labels[i], $"row {i}: score {scores[i]:R} against {threshold:R}");
        Assert.IsFalse(labels[3]);
    }

    [TestMethod]
    public void ASingleRowGraphDeclaresEachOutputOfOneValue()
    {
        // A single-row graph's log-likelihood, score and label are declared [1] (what ML.NET's OnnxTransformer reads), the label Boolean, and come back so.
        var machine = TestModels.Random("6b-4b", 1);
        var estimator = new FixedNoiseLogLikelihood(machine, 5, seed: 2);
        byte[] model = MachineGraph.Build(null, estimator, new GraphColumns(Features: null, Score: "score", PredictedLabel: "label", SingleRow: true));
        // ONNX Runtime reports an output's inferred shape, not only the declared one: the file's own declarations are read too.
        var declared = Microsoft.ML.Helmholtz.Onnx.Proto.ModelProto.Parser.ParseFrom(model).Graph.Output;
        foreach (string name in new[] { MachineGraph.LogLikelihoodName, "score", "label" })
        {
            var dims = declared.Single(o => o.Name == name).Type.TensorType.Shape.Dim;
            Assert.AreEqual(1, dims.Count, name);
            Assert.AreEqual(1L, dims[0].DimValue, name);
        }
        using var session = TestSessions.Create(model);
        foreach (string name in new[] { MachineGraph.LogLikelihoodName, "score", "label" })
            CollectionAssert.AreEqual(new[] { 1 }, session.OutputMetadata[name].Dimensions, name);
        Assert.AreEqual(typeof(bool), session.OutputMetadata["label"].ElementType);
        var input = new DenseTensor<float>(TestModels.BinaryData(1, 6, 3).Values, [6]);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor(MachineGraph.InputName, input)]);
        CollectionAssert.AreEqual(new[] { 1 }, results.First(r => r.Name == "label").AsTensor<bool>().Dimensions.ToArray());
    }

    /// <summary>
    /// A batch graph declares its log-likelihood, score and label [N], N the input's symbolic batch dimension, as it declares
    /// the features [N, F]. Declared [1], the graph still ran in ONNX Runtime (which warns and hands back the N values), but a
    /// runtime or tool that trusts the declarations takes one value for the whole batch.
    /// </summary>
    [TestMethod]
    public void ABatchGraphDeclaresEachRowsOutputsAlongTheBatchDimension()
    {
        var machine = TestModels.Random("6b-4b", 1);
        var features = new RecognitionFeatures(machine, FeatureLayers.Top);
        var estimator = new FixedNoiseLogLikelihood(machine, 5, seed: 2);
        byte[] model = MachineGraph.Build(features, estimator, new GraphColumns(Score: "score", PredictedLabel: "label"));
        string[] perRow = [MachineGraph.LogLikelihoodName, "score", "label"];
        var declared = Microsoft.ML.Helmholtz.Onnx.Proto.ModelProto.Parser.ParseFrom(model).Graph.Output;
        foreach (string name in perRow)
        {
            var dims = declared.Single(o => o.Name == name).Type.TensorType.Shape.Dim;
            Assert.AreEqual(1, dims.Count, name);
            Assert.AreEqual("N", dims[0].DimParam, name);
        }
        var featureDims = declared.Single(o => o.Name == MachineGraph.FeaturesName).Type.TensorType.Shape.Dim;
        Assert.AreEqual("N", featureDims[0].DimParam);
        Assert.AreEqual(4L, featureDims[1].DimValue);
        using var session = TestSessions.Create(model);
        foreach (string name in perRow)
        {
            CollectionAssert.AreEqual(new[] { -1 }, session.OutputMetadata[name].Dimensions, name);
            Assert.AreEqual("N", session.OutputMetadata[name].SymbolicDimensions[0], name);
        }
        // A batch of three rows gives three values of each.
        var input = new DenseTensor<float>(TestModels.BinaryData(3, 6, 3).Values, [3, 6]);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor(MachineGraph.InputName, input)]);
        foreach (string name in perRow)
        {
            var result = results.First(r => r.Name == name);
            int[] shape = name == "label" ? result.AsTensor<bool>().Dimensions.ToArray() : result.AsTensor<float>().Dimensions.ToArray();
            CollectionAssert.AreEqual(new[] { 3 }, shape, name);
        }
    }

    /// <summary>
    /// An input named "" is an optional input left out, as ONNX writes it: the builder takes it without a declaration, and
    /// ONNX Runtime runs the node without it (Clip with no minimum clips from above only). Were "" refused as an undeclared
    /// value, no node could leave out an optional input before a later one (an LSTM's sequence lengths before its initial state).
    /// </summary>
    [TestMethod]
    public void AnEmptyInputNameLeavesAnOptionalInputOut()
    {
        var builder = new OnnxGraphBuilder("optional");
        string x = builder.Input("x", 4);
        builder.Output(builder.Node("Clip", [x, "", builder.Scalar("max", 1f)], "y"), 4);
        using var session = TestSessions.Create(builder.ToBytes("test", "0"));
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("x", new DenseTensor<float>(new[] { -3f, 0.5f, 1f, 2f }, [4]))]);
        // Clip only copies or replaces values: exact.
        CollectionAssert.AreEqual(new[] { -3f, 0.5f, 1f, 1f }, results.Single().AsTensor<float>().ToArray());
    }
}
