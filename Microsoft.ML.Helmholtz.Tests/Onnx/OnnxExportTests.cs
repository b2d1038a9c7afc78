using Microsoft.ML.Data;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Evaluation;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Onnx;
using Microsoft.ML.Helmholtz.Tests.Support;
using Microsoft.ML.Helmholtz.Tests.Transforms;
using Microsoft.ML.Helmholtz.Transforms;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Helmholtz.Tests.Onnx;

/// <summary>
/// The exports run in a plain ONNX Runtime session and through ML.NET's ApplyOnnxModel and give the
/// managed numbers (features within 1e-5 relative, log-likelihood within 1e-4 nats); the batched
/// ONNX Runtime transformer picks its device as ML.NET users expect.
/// </summary>
[TestClass]
public sealed class OnnxExportTests
{
    private static DataMatrix Data(HelmholtzMachine machine, int rows, ulong seed)
    {
        var visible = machine.Architecture.Visible;
        if (visible.Units == UnitType.Bernoulli) return TestModels.BinaryData(rows, visible.Size, seed);
        var values = new float[rows * visible.Size];
        var random = new Microsoft.ML.Helmholtz.Numerics.RandomStream(seed);
        if (visible.Units == UnitType.ContinuousBernoulli) random.FillUniform(values);
        else random.FillNormal(values);
        return new DataMatrix(rows, visible.Size, values);
    }

    private static Dictionary<string, float[]> Run(byte[] model, string input, DataMatrix data, out InferenceSession session)
    {
        session = TestSessions.Create(model);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor(input, new DenseTensor<float>(data.Values, [data.Rows, data.Columns]))]);
        return results.ToDictionary(r => r.Name, r => r.AsTensor<float>().ToArray());
    }

    private static void Near(float expected, float actual, double relative, string what)
        => Assert.AreEqual(expected, actual, relative * Math.Max(1, Math.Abs(expected)), what);

    [TestMethod]
    [DataRow("12b-8b")]
    [DataRow("12b-8g-5g")]
    [DataRow("12b-8g-6b-4g")]
    [DataRow("12gl-7g")]
    [DataRow("12g-6b-3b")]
    [DataRow("12cb-8b")]
    [DataRow("12b-8cb-5g")]
    [DataRow("12b-8gr-5g")]   // a rank-one posterior: its factor u too
    public void TheRecognitionExportGivesTheFeaturesAndEveryLayersStatistics(string architecture)
    {
        var machine = TestModels.Random(architecture, 1, scale: 0.4f);
        DataMatrix data = Data(machine, 9, 2);
        using var stream = new MemoryStream();
        machine.ExportRecognitionToOnnx(stream, new OnnxExportOptions { FeatureLayers = FeatureLayers.AllHidden, LayerStatistics = true });
        var outputs = Run(stream.ToArray(), "input", data, out InferenceSession session);
        using (session)
        {
            // Declared: a named input [N, D] with N symbolic, fixed feature sizes.
            NodeMetadata input = session.InputMetadata["input"];
            CollectionAssert.AreEqual(new[] { -1, data.Columns }, input.Dimensions);
            Assert.AreEqual("N", input.SymbolicDimensions[0]);
            var features = new RecognitionFeatures(machine, FeatureLayers.AllHidden);
            CollectionAssert.AreEqual(new[] { -1, features.Size }, session.OutputMetadata["features"].Dimensions);
            float[] expected = new float[9 * features.Size];
            features.CreateExtractor().Extract(data.Values, 9, expected);
            for (int i = 0; i < expected.Length; i++) Near(expected[i], outputs["features"][i], 1e-5, $"feature {i}");
            // Each layer's statistics: the recognition layers' own means and log-variances.
            var states = new LayerStates(machine.Architecture, 9);
            data.Values.CopyTo(states.Layer(0, 9));
            for (int l = 1; l <= machine.Architecture.Depth; l++)
            {
                var layer = machine.Recognition.Layer(l);
                layer.Forward(states.Layer(l - 1, 9), 9);
                layer.Expectation(9, states.Layer(l, 9));
                float[] mean = states.Layer(l, 9).ToArray();
                string prefix = $"hidden_{l}_";
                if (layer is Microsoft.ML.Helmholtz.Layers.GaussianLayer gaussian)
                {
                    float[] logVariance = gaussian.LogVariances(9).ToArray();
                    for (int i = 0; i < mean.Length; i++)
                    {
                        Near(mean[i], outputs[prefix + "mean"][i], 1e-5, $"{prefix}mean {i}");
                        Near(logVariance[i], outputs[prefix + "log_variance"][i], 1e-5, $"{prefix}log_variance {i}");
                    }
                }
                else if (layer is RankOneGaussianLayer rankOne)
                {
                    float[] logVariance = rankOne.LogVariances(9).ToArray(), factor = rankOne.Factors(9).ToArray();
                    for (int i = 0; i < mean.Length; i++)
                    {
                        Near(mean[i], outputs[prefix + "mean"][i], 1e-5, $"{prefix}mean {i}");
                        Near(logVariance[i], outputs[prefix + "log_variance"][i], 1e-5, $"{prefix}log_variance {i}");
                        Near(factor[i], outputs[prefix + "factor"][i], 1e-5, $"{prefix}factor {i}");
                    }
                }
                else
                {
                    // Continuous Bernoulli units give their mean A'(a), Bernoulli ones their probability.
                    string statistic = prefix + (layer is ContinuousBernoulliLayer ? "mean" : "probability");
                    for (int i = 0; i < mean.Length; i++) Near(mean[i], outputs[statistic][i], 1e-5, $"{statistic} {i}");
                }
            }
        }
        // The file declares opset 18 and IR version 8.
        var parsed = Microsoft.ML.Helmholtz.Onnx.Proto.ModelProto.Parser.ParseFrom(stream.ToArray());
        Assert.AreEqual(18L, parsed.OpsetImport.Single().Version);
        Assert.AreEqual(8L, parsed.IrVersion);
    }

    [TestMethod]
    [DataRow("12b-8b")]
    [DataRow("12b-8g-5g")]
    [DataRow("12b-8g-6b-4g")]
    [DataRow("12gl-7g")]
    [DataRow("12cb-8g")]
    [DataRow("12cb-8cb-4b")]
    public void TheLogLikelihoodExportGivesTheManagedEstimate(string architecture)
    {
        var machine = TestModels.Random(architecture, 3, scale: 0.3f);
        DataMatrix data = Data(machine, 11, 4);
        var estimator = new FixedNoiseLogLikelihood(machine, 30, seed: 5);
        double[] expected = new double[11];
        estimator.CreateScorer().Estimate(data.Values, 11, expected);
        using var stream = new MemoryStream();
        estimator.ExportToOnnx(stream);
        var outputs = Run(stream.ToArray(), "input", data, out InferenceSession session);
        session.Dispose();
        for (int i = 0; i < 11; i++) Assert.AreEqual(expected[i], outputs["log_likelihood"][i], 1e-4, $"row {i}: |ln p| = {Math.Abs(expected[i]):F1} nats");
    }

    /// <summary>
    /// The graph's own values (constants, axes, the scoring noise) are named apart from its input and outputs: names such as
    /// "one", "axis_0", "log_k" or "Sigmoid_1", once taken by them, are the user's to give.
    /// </summary>
    [TestMethod]
    public void BadExportOptionsAreNamedBeforeTheGraphIsBuilt()
    {
        // The recognition export made its features from the options before checking them: an unknown FeatureLayers was
        // refused by RecognitionFeatures as its own argument "layers", not as the options given.
        var machine = TestModels.Random("12b-8g-5b", 1, scale: 0.4f);
        var unknown = new OnnxExportOptions { FeatureLayers = (FeatureLayers)99 };
        using var stream = new MemoryStream();
        Assert.AreEqual("options", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => machine.ExportRecognitionToOnnx(stream, unknown)).ParamName);
        using var directory = new Data.TempDirectory();
        string path = directory.File("features.onnx");
        Assert.AreEqual("options", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => machine.ExportRecognitionToOnnx(path, unknown)).ParamName);
        Assert.IsFalse(File.Exists(path));
        Assert.AreEqual(0, stream.Length);

        // Names that cannot make a graph are the options' errors, named, before anything is written: an output named as the
        // input, a name in the graph's own namespace (once "Value name … is already used", as the builder's argument "name"),
        // and a features output named as a layer's statistics.
        var estimator = new FixedNoiseLogLikelihood(machine, 5, seed: 2);
        void Refused(Action export, string message)
        {
            var e = Assert.ThrowsExactly<ArgumentException>(export, message);
            Assert.AreEqual("options", e.ParamName, e.Message);
            StringAssert.Contains(e.Message, message);
        }
        Refused(() => machine.ExportRecognitionToOnnx(path, new OnnxExportOptions { InputName = "x", FeaturesName = "x" }),
            "OnnxExportOptions: InputName and FeaturesName are both 'x': give each its own name.");
        Refused(() => estimator.ExportToOnnx(path, new OnnxExportOptions { InputName = "x", LogLikelihoodName = "x" }),
            "OnnxExportOptions: InputName and LogLikelihoodName are both 'x'");
        Refused(() => machine.ExportRecognitionToOnnx(path, new OnnxExportOptions { FeaturesName = "helmholtz/Gemm_0" }),
            "OnnxExportOptions.FeaturesName: 'helmholtz/Gemm_0' begins with 'helmholtz/', which the graph keeps for its own values");
        Refused(() => estimator.ExportToOnnx(path, new OnnxExportOptions { InputName = "helmholtz/x" }), "OnnxExportOptions.InputName:");
        // A name of blanks is as empty as "" (ONNX would take it, and ML.NET's column of that name is not one a user can give).
        Refused(() => estimator.ExportToOnnx(path, new OnnxExportOptions { LogLikelihoodName = " " }),
            "OnnxExportOptions.LogLikelihoodName: the graph's input and output names must not be empty.");
        // An unknown layout is refused by either export, not taken for a batch.
        var unknownLayout = new OnnxExportOptions { Layout = (OnnxLayout)99 };
        Assert.AreEqual("options", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => machine.ExportRecognitionToOnnx(path, unknownLayout)).ParamName);
        Assert.AreEqual("options", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => estimator.ExportToOnnx(stream, unknownLayout)).ParamName);
        Assert.AreEqual(0, stream.Length);
        Refused(() => machine.ExportRecognitionToOnnx(path, new OnnxExportOptions { FeaturesName = "hidden_1_mean", LayerStatistics = true }),
            "OnnxExportOptions: 'hidden_1_mean' names two of the graph's inputs and outputs");
        Assert.IsFalse(File.Exists(path), "nothing written");
        // A log-likelihood graph has no features: their name is not used, so not checked (it was refused when empty).
        estimator.ExportToOnnx(path, new OnnxExportOptions { FeaturesName = "", InputName = "features" });
        Assert.IsTrue(File.Exists(path));
    }

    /// <summary>
    /// An exported file says what it holds in its metadata, as ONNX Runtime reads it: the graph, the machine's architecture, the
    /// features' layers, and the log-likelihood's K and seed (its noise is in the graph; these are the only record of how it was drawn).
    /// </summary>
    [TestMethod]
    public void AnExportsMetadataSaysWhatItHolds()
    {
        var machine = TestModels.Random("12b-8g-5b", 1, scale: 0.4f);
        string libraryVersion = typeof(HelmholtzMachine).Assembly.GetName().Version!.ToString();
        ModelMetadata Metadata(Action<Stream> export)
        {
            using var stream = new MemoryStream();
            export(stream);
            // ONNX Runtime's metadata leaves out the producer's version, the only record of which library wrote the file: read from the file.
            Assert.AreEqual(libraryVersion, Microsoft.ML.Helmholtz.Onnx.Proto.ModelProto.Parser.ParseFrom(stream.ToArray()).ProducerVersion);
            using var session = TestSessions.Create(stream.ToArray());
            return session.ModelMetadata;
        }
        ModelMetadata features = Metadata(s => machine.ExportRecognitionToOnnx(s, new OnnxExportOptions { FeatureLayers = FeatureLayers.AllHidden }));
        ModelMetadata logLikelihood = Metadata(s => new FixedNoiseLogLikelihood(machine, 7, seed: 12345).ExportToOnnx(s));
        foreach (ModelMetadata m in new[] { features, logLikelihood })
        {
            Assert.AreEqual("microsoft.ml.helmholtz", m.Domain);
            Assert.AreEqual("Microsoft.ML.Helmholtz", m.ProducerName);
            Assert.AreEqual(machine.Architecture.ToString(), m.CustomMetadataMap["architecture"]);
        }
        Assert.AreEqual("recognition", features.CustomMetadataMap["helmholtz.graph"]);
        Assert.AreEqual("AllHidden", features.CustomMetadataMap["helmholtz.feature_layers"]);
        Assert.AreEqual("log_likelihood", logLikelihood.CustomMetadataMap["helmholtz.graph"]);
        Assert.AreEqual("7", logLikelihood.CustomMetadataMap["helmholtz.samples"]);
        Assert.AreEqual("12345", logLikelihood.CustomMetadataMap["helmholtz.seed"]);
    }

    /// <summary>
    /// A transformer whose input column has the name an export would give an output without a column of its own ("features",
    /// "log_likelihood") exports under "helmholtz_" + that name, where the export once failed on a transformer that had fitted.
    /// </summary>
    [TestMethod]
    [DataRow("features")]
    [DataRow("log_likelihood")]
    [DataRow("score named log_likelihood")]
    public void ATransformerWhoseInputHasAnOutputsDefaultNameExports(string input)
    {
        // A score column named as the log-likelihood's default output (the log-likelihood without a column of its own) too.
        string? score = input.StartsWith("score", StringComparison.Ordinal) ? "log_likelihood" : "Score";
        if (score == "log_likelihood") input = "Pixels";
        var ml = new MLContext(seed: 1);
        IDataView train = ml.Transforms.CopyColumns(input, "Pixels").Fit(ml.Data.LoadFromEnumerable(TransformTestData.Rows(100, 1)))
            .Transform(ml.Data.LoadFromEnumerable(TransformTestData.Rows(100, 1)));
        var model = ml.Transforms.HelmholtzMachine(new HelmholtzMachineOptions
        {
            InputColumnName = input, Architecture = "20b-10g-8g", Epochs = 1, BatchSize = 20, Samples = 5, Seed = 7,
            FeatureColumnName = null, LogLikelihoodColumnName = null, ScoreColumnName = score,
        }).Fit(train);
        using var features = new MemoryStream();
        model.ExportRecognitionToOnnx(features);
        using var logLikelihood = new MemoryStream();
        model.ExportLogLikelihoodToOnnx(logLikelihood);
        using var featureSession = TestSessions.Create(features.ToArray());
        using var logLikelihoodSession = TestSessions.Create(logLikelihood.ToArray());
        Assert.AreEqual(input, featureSession.InputMetadata.Keys.Single());
        Assert.AreEqual(input == "features" ? "helmholtz_features" : "features", featureSession.OutputMetadata.Keys.Single());
        CollectionAssert.AreEquivalent(new[] { input == "log_likelihood" || score == "log_likelihood" ? "helmholtz_log_likelihood" : "log_likelihood", score },
            logLikelihoodSession.OutputMetadata.Keys.ToArray());
        // What no default name can avoid (a column named as a layer's statistics) is named as the transformer's columns, not as options it never made.
        if (input == "features")
        {
            var clash = Assert.ThrowsExactly<InvalidOperationException>(() => ml.Transforms.HelmholtzMachine(new HelmholtzMachineOptions
            {
                InputColumnName = input, Architecture = "20b-10g-8g", Epochs = 1, BatchSize = 20, Samples = 5, Seed = 7, FeatureColumnName = "hidden_1_mean",
            }).Fit(train).ExportRecognitionToOnnx(new MemoryStream(), layerStatistics: true));
            Assert.AreEqual("This transformer's columns cannot name the ONNX graph's values: 'hidden_1_mean' names two of the graph's inputs and outputs: give each its own name.", clash.Message);
        }
    }

    [TestMethod]
    [DataRow("one", "features", "log_likelihood", OnnxLayout.Batch)]
    [DataRow("axis_0", "features", "log_likelihood", OnnxLayout.Row)]
    [DataRow("axis_1", "features", "log_likelihood", OnnxLayout.Batch)]
    [DataRow("log_k", "features", "log_likelihood", OnnxLayout.Row)]
    [DataRow("input", "Sigmoid_1", "minus_two", OnnxLayout.Batch)]
    [DataRow("features_shape", "features", "noise_1", OnnxLayout.Row)]
    [DataRow("Helmholtz/x", "Helmholtz/X", "HELMHOLTZ/x", OnnxLayout.Row)]   // ONNX names are case-sensitive: neither the graph's prefix "helmholtz/" nor the input's name
    public void TheUsersNamesAreFreeOfTheGraphsOwn(string input, string features, string logLikelihood, OnnxLayout layout)
    {
        var machine = TestModels.Random("12b-8g-5b", 1, scale: 0.4f);
        DataMatrix data = Data(machine, 5, 2);
        var options = new OnnxExportOptions { InputName = input, FeaturesName = features, LogLikelihoodName = logLikelihood, Layout = layout, LayerStatistics = true };
        var recognition = new RecognitionFeatures(machine);
        var estimator = new FixedNoiseLogLikelihood(machine, 10, seed: 3);
        float[] expectedFeatures = new float[5 * recognition.Size];
        recognition.CreateExtractor().Extract(data.Values, 5, expectedFeatures);
        double[] expectedLogLikelihood = new double[5];
        estimator.CreateScorer().Estimate(data.Values, 5, expectedLogLikelihood);
        using var recognitionModel = new MemoryStream();
        machine.ExportRecognitionToOnnx(recognitionModel, options);
        using var logLikelihoodModel = new MemoryStream();
        estimator.ExportToOnnx(logLikelihoodModel, options);
        using var featureSession = TestSessions.Create(recognitionModel.ToArray());
        using var logLikelihoodSession = TestSessions.Create(logLikelihoodModel.ToArray());
        Assert.AreEqual(input, featureSession.InputMetadata.Keys.Single());
        Assert.AreEqual(input, logLikelihoodSession.InputMetadata.Keys.Single());
        // A batch at once, or (Row) one row a call.
        int rows = layout == OnnxLayout.Batch ? 5 : 1, d = data.Columns;
        for (int first = 0; first < 5; first += rows)
        {
            var tensor = new DenseTensor<float>(data.Values.AsMemory(first * d, rows * d), layout == OnnxLayout.Batch ? [rows, d] : [d]);
            using var featureResults = featureSession.Run([NamedOnnxValue.CreateFromTensor(input, tensor)]);
            using var logLikelihoodResults = logLikelihoodSession.Run([NamedOnnxValue.CreateFromTensor(input, tensor)]);
            float[] actualFeatures = featureResults.Single(r => r.Name == features).AsTensor<float>().ToArray();
            float[] actualLogLikelihood = logLikelihoodResults.Single(r => r.Name == logLikelihood).AsTensor<float>().ToArray();
            for (int i = 0; i < actualFeatures.Length; i++) Near(expectedFeatures[first * recognition.Size + i], actualFeatures[i], 1e-5, $"row {first + i / recognition.Size}, feature {i % recognition.Size}");
            for (int i = 0; i < rows; i++) Assert.AreEqual(expectedLogLikelihood[first + i], actualLogLikelihood[i], 1e-4, $"row {first + i}");
        }
    }

    [TestMethod]
    public void TheTransformersExportsRunThroughApplyOnnxModel()
    {
        var ml = new MLContext(seed: 1);
        IDataView train = ml.Data.LoadFromEnumerable(TransformTestData.Rows(300, 1));
        IDataView test = ml.Data.LoadFromEnumerable(TransformTestData.Rows(40, 2));
        var model = ml.Transforms.HelmholtzMachine(new HelmholtzMachineOptions
        {
            InputColumnName = "Pixels", Architecture = "20b-10g-8g", Epochs = 2, BatchSize = 20, Samples = 20, Seed = 7,
        }).Fit(train);
        using var recognition = new MemoryStream();
        model.ExportRecognitionToOnnx(recognition, layout: OnnxLayout.Row);
        using var logLikelihood = new MemoryStream();
        model.ExportLogLikelihoodToOnnx(logLikelihood, OnnxLayout.Row);
        // The documented way: the graph's input and outputs are named as the columns.
        // ML.NET names its temporary copy of the model at random; one name in 32,768 is refused (TemporaryModelNameTests).
        IDataView scored = OnnxRuntimeNative.RetryingTheTemporaryName(() => ml.Transforms.ApplyOnnxModel("HelmholtzFeatures", "Pixels", new MemoryStream(recognition.ToArray()))).Fit(test).Transform(test);
        Assert.AreEqual(new VectorDataViewType(NumberDataViewType.Single, 8), scored.Schema["HelmholtzFeatures"].Type);
        ScoredRow[] expected = ml.Data.CreateEnumerable<ScoredRow>(model.Transform(test), false).ToArray();
        ScoredRow[] actual = ml.Data.CreateEnumerable<FeaturesOnly>(scored, false).Select(r => new ScoredRow { HelmholtzFeatures = r.HelmholtzFeatures }).ToArray();
        for (int i = 0; i < 40; i++)
            for (int j = 0; j < 8; j++) Near(expected[i].HelmholtzFeatures[j], actual[i].HelmholtzFeatures[j], 1e-5, $"row {i}, feature {j}");
        IDataView ll = OnnxRuntimeNative.RetryingTheTemporaryName(() => ml.Transforms.ApplyOnnxModel("LogLikelihood", "Pixels", new MemoryStream(logLikelihood.ToArray()))).Fit(test).Transform(test);
        float[][] values = ml.Data.CreateEnumerable<OneValue>(ll, false).Select(r => r.LogLikelihood).ToArray();
        for (int i = 0; i < 40; i++) Assert.AreEqual(expected[i].LogLikelihood, values[i][0], 1e-4, $"row {i}");
    }

    private sealed class FeaturesOnly
    {
        [VectorType(8)] public float[] HelmholtzFeatures { get; set; } = [];
    }

    private sealed class OneValue
    {
        [VectorType(1)] public float[] LogLikelihood { get; set; } = [];
    }

    [TestMethod]
    public void AnExportToAPathIsAtomic()
    {
        var machine = TestModels.Random("12b-8g", 6);
        using var temp = new Microsoft.ML.Helmholtz.Tests.Data.TempDirectory();
        string path = temp.File("model.onnx");
        machine.ExportRecognitionToOnnx(path);
        byte[] before = File.ReadAllBytes(path);
        using (var session = TestSessions.Create(path)) Assert.IsTrue(session.OutputMetadata.ContainsKey("features"));
        // The writer the exports use: a stream that fails part-way leaves the earlier file and nothing beside it.
        var e = Assert.ThrowsExactly<IOException>(() => AtomicFile.Write(path, "the ONNX model", s => { s.Write(before, 0, 100); throw new IOException("disk full"); }));
        StringAssert.Contains(e.Message, path);
        CollectionAssert.AreEqual(before, File.ReadAllBytes(path));
        CollectionAssert.AreEqual(new[] { "model.onnx" }, Directory.GetFileSystemEntries(temp.Path).Select(Path.GetFileName).ToArray());
        Assert.ThrowsExactly<IOException>(() => machine.ExportRecognitionToOnnx(temp.Path));
        Assert.ThrowsExactly<DirectoryNotFoundException>(() => machine.ExportRecognitionToOnnx(temp.File(Path.Combine("nowhere", "m.onnx"))));
    }

    /// <summary>
    /// An export to a path builds its model before it touches the file: nothing is beside the target while the graph is built (a
    /// process stopped during a long build leaves no temporary file), and a bad option is named as the options even where the
    /// directory does not exist, rather than as the missing directory.
    /// </summary>
    [TestMethod]
    public void AnExportToAPathBuildsTheModelBeforeItTouchesTheFile()
    {
        using var temp = new Data.TempDirectory();
        string path = temp.File("model.onnx");
        string[] duringTheBuild = ["not called"];
        OnnxExport.WriteFile(path, () =>
        {
            duringTheBuild = Directory.GetFileSystemEntries(temp.Path);
            return [1, 2, 3];
        });
        Assert.IsEmpty(duringTheBuild, string.Join(", ", duringTheBuild));
        CollectionAssert.AreEqual(new byte[] { 1, 2, 3 }, File.ReadAllBytes(path));
        var machine = TestModels.Random("12b-8g", 6);
        string nowhere = temp.File(Path.Combine("nowhere", "model.onnx"));
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => machine.ExportRecognitionToOnnx(nowhere, new OnnxExportOptions { Layout = (OnnxLayout)99 }));
        Assert.AreEqual("options", e.ParamName);
    }

    // A path named .ort, which ONNX Runtime would read as its own format and refuse the model in ("ORT model verification
    // failed"; TemporaryModelNameTests makes that refusal), is refused by every export to a path, naming it, and nothing is written.
    [TestMethod]
    [DataRow("model.ort")]
    [DataRow("MODEL.Ort")]
    public void AnExportToAPathNamedAsOnnxRuntimesOwnFormatIsRefused(string name)
    {
        var machine = TestModels.Random("12b-8g", 6);
        var ml = new MLContext(seed: 1);
        var transformer = ml.Transforms.HelmholtzMachine(new HelmholtzMachineOptions
        {
            InputColumnName = "Pixels", Architecture = "20b-10g-8g", Epochs = 0, Samples = 5, Seed = 7,
        }).Fit(ml.Data.LoadFromEnumerable(TransformTestData.Rows(20, 1)));
        using var temp = new Data.TempDirectory();
        string path = temp.File(name);
        foreach (var (what, export) in new (string, Action)[]
        {
            ("the machine's recognition", () => machine.ExportRecognitionToOnnx(path)),
            ("the estimator's log-likelihood", () => new FixedNoiseLogLikelihood(machine, 5, seed: 2).ExportToOnnx(path)),
            ("the transformer's recognition", () => transformer.ExportRecognitionToOnnx(path)),
            ("the transformer's log-likelihood", () => transformer.ExportLogLikelihoodToOnnx(path)),
        })
        {
            var e = Assert.ThrowsExactly<ArgumentException>(export, what);
            Assert.AreEqual("path", e.ParamName, what);
            StringAssert.Contains(e.Message, path, what);
            StringAssert.Contains(e.Message, ".onnx", what);
        }
        Assert.IsEmpty(Directory.GetFileSystemEntries(temp.Path), "nothing written");
        machine.ExportRecognitionToOnnx(temp.File("model.onnx.ort.onnx"));   // only the name's end counts
    }

    /// <summary>
    /// A recognition graph has no log-likelihood output: the log-likelihood's name is not used, so not checked, whether the
    /// graph goes to a stream or to a path (an input named as the log-likelihood's output is the user's to give).
    /// </summary>
    [TestMethod]
    public void ARecognitionExportLeavesTheLogLikelihoodsNameUnchecked()
    {
        var machine = TestModels.Random("12b-8g-5b", 1, scale: 0.4f);
        var options = new OnnxExportOptions { InputName = "x", LogLikelihoodName = "x" };
        using var stream = new MemoryStream();
        machine.ExportRecognitionToOnnx(stream, options);
        using var temp = new Data.TempDirectory();
        string path = temp.File("features.onnx");
        machine.ExportRecognitionToOnnx(path, options);
        foreach (byte[] model in new[] { stream.ToArray(), File.ReadAllBytes(path) })
        {
            using var session = TestSessions.Create(model);
            Assert.AreEqual("x", session.InputMetadata.Keys.Single());
            Assert.AreEqual("features", session.OutputMetadata.Keys.Single());
        }
    }

    /// <summary>
    /// An export to a path checks the path before it builds the model: a name ending in .ort is refused as the path even when
    /// the options would be refused too, so that the user learns of the name before any work on the graph.
    /// </summary>
    [TestMethod]
    public void AnOrtPathIsRefusedBeforeTheOptionsAreChecked()
    {
        var machine = TestModels.Random("12b-8g", 6);
        var unknownLayout = new OnnxExportOptions { Layout = (OnnxLayout)99 };
        using var temp = new Data.TempDirectory();
        string path = temp.File("model.ort");
        foreach (var (what, export) in new (string, Action)[]
        {
            ("the machine's recognition", () => machine.ExportRecognitionToOnnx(path, unknownLayout)),
            ("the estimator's log-likelihood", () => new FixedNoiseLogLikelihood(machine, 5, seed: 2).ExportToOnnx(path, unknownLayout)),
        })
        {
            var e = Assert.ThrowsExactly<ArgumentException>(export, what);
            Assert.AreEqual("path", e.ParamName, what);
        }
        Assert.IsEmpty(Directory.GetFileSystemEntries(temp.Path), "nothing written");
    }

    /// <remarks>
    /// Alone: it reads ONNX Runtime's log level, which is the process's, before and after trying the CUDA provider. Every test that
    /// tries the provider (OnnxRuntimesOwnErrorLine…, the pipeline sample's --gpu) holds that level at fatal while it tries (about
    /// 5 ms here; the first try in a process loads the provider's library and takes longer), so a read beside one of them saw its
    /// fatal and failed "the level put back" (3 runs in 70 with another test trying the provider beside it).
    /// </remarks>
    [TestMethod]
    [DoNotParallelize]
    public void TheOnnxRuntimeTransformerGivesTheManagedColumnsAndPicksItsDevice()
    {
        var ml = new MLContext(seed: 1);
        var warnings = new List<string>();
        ml.Log += (_, e) => { if (e.Kind == ChannelMessageKind.Warning && e.Source.StartsWith("HelmholtzMachine", StringComparison.Ordinal)) lock (warnings) warnings.Add(e.RawMessage); };
        IDataView train = ml.Data.LoadFromEnumerable(TransformTestData.Rows(300, 1));
        IDataView test = ml.Data.LoadFromEnumerable(TransformTestData.Rows(100, 2));
        var model = ml.Transforms.HelmholtzMachine(new HelmholtzMachineOptions
        {
            InputColumnName = "Pixels", Architecture = "20b-10g-8g", Epochs = 2, BatchSize = 20, Samples = 20, Seed = 7, ScoreColumnName = "Score",
        }).Fit(train);
        ScoredRow[] expected = ml.Data.CreateEnumerable<ScoredRow>(model.Transform(test), false).ToArray();
        using (var onnx = model.ToOnnxRuntime(ml, batchRows: 32))
        {
            Assert.AreEqual("CPU", onnx.Device);
            Assert.AreEqual((model.Architecture, model.FeatureSize, model.Threshold, model.Seed, model.Samples, 32),
                (onnx.Architecture, onnx.FeatureSize, onnx.Threshold, onnx.Seed, onnx.Samples, onnx.BatchRows), "what the transformer it runs tells");
            // A session runs every node of its graph: the features must not sit in the graph of the K samples.
            CollectionAssert.AreEqual(new[] { "features", "log_likelihood" }, onnx.SessionOutputs.Select(o => string.Join(",", o)).ToArray());
            ScoredRow[] actual = ml.Data.CreateEnumerable<ScoredRow>(onnx.Transform(test), false).ToArray();
            var engine = ml.Model.CreatePredictionEngine<PixelRow, ScoredRow>(onnx);
            PixelRow[] rows = ml.Data.CreateEnumerable<PixelRow>(test, false).ToArray();
            for (int i = 0; i < 100; i++)
            {
                for (int j = 0; j < 8; j++) Near(expected[i].HelmholtzFeatures[j], actual[i].HelmholtzFeatures[j], 1e-5, $"row {i}, feature {j}");
                Assert.AreEqual(expected[i].LogLikelihood, actual[i].LogLikelihood, 1e-4, $"row {i}");
                // ONNX Runtime's products round by batch shape (one row goes another way than 32), so
                // the PredictionEngine is held to the managed value, not to the batched bits.
                Assert.AreEqual(expected[i].LogLikelihood, engine.Predict(rows[i]).LogLikelihood, 1e-4, $"row {i} through a PredictionEngine");
            }
        }
        // A GPU asked for: on a machine with a GPU and the CUDA 13 libraries the scorer runs there and
        // gives the CPU's numbers; elsewhere (CI) it falls back with a warning that names what is
        // missing, or, without FallbackToCpu, fails naming it.
        ml.GpuDeviceId = 0;
        ml.FallbackToCpu = true;
        string fallback;
        using (var gpu = model.ToOnnxRuntime(ml))
        {
            fallback = gpu.Device;
            ScoredRow first = ml.Data.CreateEnumerable<ScoredRow>(gpu.Transform(test), false).First();
            // On CUDA, ONNX Runtime's products default to TF32: inputs rounded to 10-bit mantissas, within 2^-11 ≈ 4.9e-4 of
            // themselves, so the values move by a few 1e-4 of their size (1.6e-4 of ln p measured on an H200); on the CPU
            // provider by float rounding alone.
            bool cuda = gpu.Device == "CUDA device 0";
            double relative = cuda ? 2e-3 : 1e-5;
            Assert.AreEqual(expected[0].LogLikelihood, first.LogLikelihood, cuda ? relative * Math.Abs(expected[0].LogLikelihood) : 1e-4, gpu.Device);
            for (int j = 0; j < 8; j++) Near(expected[0].HelmholtzFeatures[j], first.HelmholtzFeatures[j], relative, $"{gpu.Device}: feature {j}");
            if (cuda)
            {
                Assert.AreEqual(0, warnings.Count, string.Join("\n", warnings));
                return;
            }
            StringAssert.StartsWith(gpu.Device, "CPU (fallback: ");
            StringAssert.Contains(gpu.Device, "CUDA provider");
            string missing = CudaLibraries.Missing();
            if (missing.Length > 0) StringAssert.Contains(gpu.Device, "do not load: " + missing);
            Assert.IsTrue(warnings.Any(w => w.Contains("GPU 0 was asked for", StringComparison.Ordinal) && w.Contains("CUDA", StringComparison.Ordinal)), string.Join("\n", warnings));
        }
        // The probe an application can make before long work says the same (where the provider starts, the run returned above).
        string? problem = HelmholtzOnnxTransformer.CudaProviderProblem(0);
        Assert.IsNotNull(problem);
        Assert.AreEqual($"CPU (fallback: {problem})", fallback);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => HelmholtzOnnxTransformer.CudaProviderProblem(-1));
        // Without ONNX Runtime's native library (an application with the managed package alone, whose first native call fails in a
        // type initializer) the probe names the package, not the CUDA libraries, which it blamed.
        string? noNative = HelmholtzOnnxTransformer.CudaProviderProblem(0, () => throw new TypeInitializationException("Microsoft.ML.OnnxRuntime.NativeMethods", new DllNotFoundException("onnxruntime")));
        Assert.AreEqual("this application has no ONNX Runtime native library (add the package Microsoft.ML.OnnxRuntime.Gpu, which holds it with its CUDA provider)", noNative);
        ml.FallbackToCpu = false;
        // ONNX Runtime's own error line was held back while the provider was tried (its log level), and the level put back: a level
        // of the test's own, which a try that left fatal behind (here, or in an earlier test) would not give back.
        OrtEnv environment = OrtEnv.Instance();
        OrtLoggingLevel level = environment.EnvLogLevel;
        environment.EnvLogLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR;
        InvalidOperationException e;
        try
        {
            e = Assert.ThrowsExactly<InvalidOperationException>(() => model.ToOnnxRuntime(ml));
            Assert.AreEqual(OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR, environment.EnvLogLevel, "ONNX Runtime's log level after the provider was tried");
        }
        finally
        {
            environment.EnvLogLevel = level;
        }
        StringAssert.Contains(e.Message, "GpuDeviceId asks for GPU 0");
        StringAssert.Contains(e.Message, "CUDA provider");
        StringAssert.Contains(e.Message, "FallbackToCpu");
    }

    /// <summary>
    /// Each way a missing native library shows itself (the library absent, a type initializer that failed over it, an entry point a
    /// stale library lacks) is told as the package to add, with the cause kept; other failures are not called a missing library.
    /// </summary>
    [TestMethod]
    public void AnApplicationWithoutOnnxRuntimesNativeLibraryIsToldWhichPackageToAdd()
    {
        foreach (Exception cause in new Exception[]
                 {
                     new DllNotFoundException("onnxruntime"),
                     new TypeInitializationException("Microsoft.ML.OnnxRuntime.NativeMethods", new DllNotFoundException("onnxruntime")),
                     new EntryPointNotFoundException("OrtGetApiBase"),
                 })
        {
            string kind = cause.GetType().Name;
            Assert.IsTrue(OnnxRuntimeNative.IsMissing(cause), kind);
            InvalidOperationException e = OnnxRuntimeNative.Missing("Scoring with ONNX Runtime (ToOnnxRuntime)", cause);
            Assert.AreEqual("Scoring with ONNX Runtime (ToOnnxRuntime) needs ONNX Runtime's native library (the machine runs as an ONNX model): " +
                "add the package Microsoft.ML.OnnxRuntime (CPU) or Microsoft.ML.OnnxRuntime.Gpu to the application.", e.Message, kind);
            Assert.AreSame(cause, e.InnerException, kind);
            Assert.AreEqual("this application has no ONNX Runtime native library (add the package Microsoft.ML.OnnxRuntime.Gpu, which holds it with its CUDA provider)",
                HelmholtzOnnxTransformer.CudaProviderProblem(0, () => throw cause), kind);
        }
        Assert.IsFalse(OnnxRuntimeNative.IsMissing(new InvalidOperationException("onnxruntime")));
        Assert.IsFalse(OnnxRuntimeNative.IsMissing(new FileNotFoundException("model.onnx")));
    }

    /// <summary>
    /// The transformer of a random 20b-10g-8g machine (seed 5) reading "Pixels", K = 5, scoring seed 1 and no anomaly threshold,
    /// its options changed by <paramref name="set"/>.
    /// </summary>
    private static HelmholtzMachineTransformer PixelsTransformer(Action<HelmholtzMachineOptions>? set = null)
    {
        var options = new HelmholtzMachineOptions { InputColumnName = "Pixels", Architecture = "20b-10g-8g", Samples = 5 };
        set?.Invoke(options);
        return new HelmholtzMachineTransformer(TestModels.Random("20b-10g-8g", 5), options, seed: 1, threshold: double.PositiveInfinity);
    }

    /// <summary>
    /// Dispose while runs are inside ONNX Runtime leaves their sessions to them: released when the last run ends, never under a
    /// run (ONNX Runtime's Run does not check its session: a freed one crashed the test host when the dispose check was removed).
    /// </summary>
    [TestMethod]
    public void DisposingWhileRunsAreInFlightReleasesTheSessionsWhenTheLastEnds()
    {
        var ml = new MLContext(seed: 1);
        var model = PixelsTransformer();
        using (var idle = model.ToOnnxRuntime(ml))
        {
            Assert.IsFalse(idle.SessionsReleased);
            idle.Dispose();
            Assert.IsTrue(idle.SessionsReleased, "no run in flight: released at once");
        }
        var onnx = model.ToOnnxRuntime(ml);
        var first = onnx.EnterRun();
        var second = onnx.EnterRun();
        onnx.Dispose();
        Assert.IsFalse(onnx.SessionsReleased, "two runs in flight");
        Assert.ThrowsExactly<ObjectDisposedException>(() => onnx.EnterRun(), "a run after Dispose");
        first.Dispose();
        Assert.IsFalse(onnx.SessionsReleased, "one run in flight");
        second.Dispose();
        Assert.IsTrue(onnx.SessionsReleased, "the last run out releases them");
        Assert.ThrowsExactly<ObjectDisposedException>(() => onnx.EnterRun(), "and later runs are refused");
    }

    /// <summary>
    /// Dispose releases every session the transformer opened, the log-likelihood's as well as the features' (the flag above is
    /// set either way): left open, a native session and its graph's noise stay until a finalizer runs. Read from each session's own
    /// disposed flag, which ONNX Runtime sets once it has released the native session.
    /// </summary>
    [TestMethod]
    public void DisposeReleasesTheFeaturesAndTheLogLikelihoodSessions()
    {
        var ml = new MLContext(seed: 1);
        using var onnx = PixelsTransformer().ToOnnxRuntime(ml);
        const System.Reflection.BindingFlags flags = System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance;
        InferenceSession[] sessions = new[] { "_features", "_logLikelihood" }
            .Select(name => (InferenceSession)typeof(HelmholtzOnnxTransformer).GetField(name, flags)!.GetValue(onnx)!).ToArray();
        System.Reflection.FieldInfo disposed = typeof(InferenceSession).GetField("_disposed", flags)
            ?? throw new AssertFailedException("the premise: ONNX Runtime's InferenceSession keeps a _disposed flag");
        CollectionAssert.AreEqual(new[] { false, false }, sessions.Select(s => (bool)disposed.GetValue(s)!).ToArray(), "open before");
        onnx.Dispose();
        CollectionAssert.AreEqual(new[] { true, true }, sessions.Select(s => (bool)disposed.GetValue(s)!).ToArray(), "the features' and the log-likelihood's, released");
    }

    /// <summary>
    /// Cursors on four threads while the transformer is disposed under them: each reads its rows or meets ObjectDisposedException
    /// (as the cursor throws a batch's failure), and the sessions are released once all have stopped. Any interleaving holds it.
    /// </summary>
    [TestMethod]
    public void CursorsOnOtherThreadsMeetDisposeAsObjectDisposedException()
    {
        var ml = new MLContext(seed: 1);
        var model = new HelmholtzMachineTransformer(TestModels.Random("20b-10g-8g", 5), new HelmholtzMachineOptions
        {
            InputColumnName = "Pixels", Architecture = "20b-10g-8g", Samples = 200,
        }, seed: 1, threshold: double.PositiveInfinity);
        IDataView data = ml.Data.LoadFromEnumerable(TransformTestData.Rows(200, 1));
        var onnx = model.ToOnnxRuntime(ml, batchRows: 8);
        IDataView view = onnx.Transform(data);
        using var started = new CountdownEvent(4);
        var outcomes = new string[4];
        var threads = Enumerable.Range(0, 4).Select(t => new Thread(() =>
        {
            started.Signal();
            try
            {
                for (int pass = 0; pass < 50; pass++) Assert.HasCount(200, ml.Data.CreateEnumerable<ScoredRow>(view, false).ToArray());
                outcomes[t] = "finished";
            }
            catch (ObjectDisposedException)
            {
                outcomes[t] = "disposed";
            }
            catch (Exception e)
            {
                outcomes[t] = e.ToString();
            }
        })).ToArray();
        foreach (var thread in threads) thread.Start();
        started.Wait();
        Thread.Sleep(50);
        onnx.Dispose();
        foreach (var thread in threads) Assert.IsTrue(thread.Join(TimeSpan.FromMinutes(2)), "a cursor thread ended");
        foreach (string outcome in outcomes) Assert.IsTrue(outcome is "finished" or "disposed", outcome);
        Assert.IsTrue(onnx.SessionsReleased);
    }

    [TestMethod]
    public void TheOnnxRuntimeTransformerRefusesUseAfterDispose()
    {
        var ml = new MLContext(seed: 1);
        IDataView data = ml.Data.LoadFromEnumerable(TransformTestData.Rows(60, 1));
        var model = ml.Transforms.HelmholtzMachine(new HelmholtzMachineOptions
        {
            InputColumnName = "Pixels", Architecture = "20b-10g-8g", Epochs = 1, BatchSize = 20, Samples = 5, Seed = 7,
        }).Fit(data);
        var onnx = model.ToOnnxRuntime(ml, batchRows: 16);
        IDataView madeBefore = onnx.Transform(data);
        Assert.HasCount(60, ml.Data.CreateEnumerable<ScoredRow>(madeBefore, false).ToArray(), "in use before");
        onnx.Dispose();
        onnx.Dispose();   // twice is harmless
        // ONNX Runtime's own Run would reach its freed session: every way in is refused first.
        Assert.ThrowsExactly<ObjectDisposedException>(() => onnx.Transform(data));
        Assert.ThrowsExactly<ObjectDisposedException>(() => onnx.GetRowToRowMapper(data.Schema));
        Assert.ThrowsExactly<ObjectDisposedException>(() => onnx.GetOutputSchema(data.Schema));
        Assert.ThrowsExactly<ObjectDisposedException>(() => ml.Data.CreateEnumerable<ScoredRow>(madeBefore, false).ToArray());
        // A missing argument is named first, as on the managed transformer, disposed or not.
        Assert.AreEqual("input", Assert.ThrowsExactly<ArgumentNullException>(() => onnx.Transform(null!)).ParamName);
        Assert.AreEqual("inputSchema", Assert.ThrowsExactly<ArgumentNullException>(() => onnx.GetRowToRowMapper(null!)).ParamName);
        Assert.AreEqual("inputSchema", Assert.ThrowsExactly<ArgumentNullException>(() => onnx.GetOutputSchema(null!)).ParamName);
        // A batch that would not fit one array is refused before a session is made.
        var big = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => model.ToOnnxRuntime(ml, batchRows: int.MaxValue / 10));
        StringAssert.Contains(big.Message, "does not fit one array");
        // The managed transformer it was made from goes on.
        Assert.HasCount(60, ml.Data.CreateEnumerable<ScoredRow>(model.Transform(data), false).ToArray());
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "dup")] private static extern int Dup(int fd);
    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "dup2")] private static extern int Dup2(int from, int to);
    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "close")] private static extern int Close(int fd);
    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "write")] private static extern nint Write(int fd, byte[] bytes, nint count);

    /// <summary>
    /// Where ONNX Runtime cannot start its CUDA provider it writes an error line of its own to the process's standard error before it
    /// throws: held back while the transformer tries the provider (its exception, or its fallback warning, says it better). The
    /// process's file descriptor 2 is sent to a file around the call. On a machine where the provider starts, no error is written either.
    /// Alone: the descriptor is the process's, so an error line another test made ONNX Runtime write meanwhile would land in the file.
    /// </summary>
    [TestMethod]
    [DoNotParallelize]
    [OSCondition(OperatingSystems.Linux)]
    public void OnnxRuntimesOwnErrorLineIsHeldBackWhileTheCudaProviderIsTried()
    {
        var ml = new MLContext(seed: 1);
        var model = ml.Transforms.HelmholtzMachine(new HelmholtzMachineOptions
        {
            InputColumnName = "Pixels", Architecture = "20b-10g-8g", Epochs = 1, BatchSize = 20, Samples = 5, Seed = 7,
        }).Fit(ml.Data.LoadFromEnumerable(TransformTestData.Rows(40, 1)));
        ml.GpuDeviceId = 0;
        ml.FallbackToCpu = true;
        using var temp = new Data.TempDirectory();
        string captured = temp.File("stderr.txt");
        Console.Error.Flush();
        int saved = Dup(2);
        using (var file = new FileStream(captured, FileMode.Create, FileAccess.Write))
        {
            Assert.IsTrue(Dup2((int)file.SafeFileHandle.DangerousGetHandle(), 2) >= 0, "standard error sent to the file");
            string device;
            try
            {
                // A line of the test's own through the descriptor, as native code writes: the file must hold it.
                byte[] marker = "descriptor 2 reached the file\n"u8.ToArray();
                Write(2, marker, marker.Length);
                using var gpu = model.ToOnnxRuntime(ml);
                device = gpu.Device;
            }
            finally
            {
                Dup2(saved, 2);
                Close(saved);
            }
            // The provider was tried: it runs there, or the transformer fell back (no GPU, as on CI).
            Assert.IsTrue(device.StartsWith("CUDA device 0", StringComparison.Ordinal) || device.StartsWith("CPU (fallback", StringComparison.Ordinal), device);
        }
        // No error line of ONNX Runtime's (its warnings, which a session on a GPU may write, are not what is held back).
        string written = File.ReadAllText(captured);
        StringAssert.Contains(written, "descriptor 2 reached the file", "the descriptor was sent to the file");
        Assert.DoesNotContain("[E:onnxruntime", written, written);
    }

    [TestMethod]
    public void AFailedCudaStartNamesTheLibrariesThatDoNotLoad()
    {
        var absent = new HashSet<string>(CudaLibraries.Required.Select(r => r.File).Where((_, i) => i % 2 == 1));
        string missing = CudaLibraries.Missing(file => !absent.Contains(file));
        foreach (var (file, what) in CudaLibraries.Required)
            Assert.AreEqual(absent.Contains(file), missing.Contains($"{file} ({what})", StringComparison.Ordinal), missing);
        Assert.AreEqual("", CudaLibraries.Missing(_ => true));
        StringAssert.Contains(CudaLibraries.Missing(_ => false), OperatingSystem.IsWindows() ? "cudart64_13.dll" : "libcudart.so.13");
        // What the errors say: the libraries that do not load, or, where all load, the device; a package without a CUDA provider (the
        // CPU-only one, where appending it finds no entry point) said as such, whatever loads. CI has neither a GPU nor that package.
        var failed = new InvalidOperationException("CUDA failure 100: no CUDA-capable device is detected\nmore");
        string libraries = HelmholtzOnnxTransformer.WhyNoCudaProvider(failed, file => !absent.Contains(file));
        StringAssert.StartsWith(libraries, $"ONNX Runtime could not start its CUDA provider: these libraries it needs do not load: {missing} (");
        StringAssert.EndsWith(libraries, "it said: CUDA failure 100: no CUDA-capable device is detected)");
        Assert.AreEqual("ONNX Runtime could not start its CUDA provider on that device (CUDA failure 100: no CUDA-capable device is detected; " +
            "the CUDA libraries it needs load, so look at the device id and the GPU)", HelmholtzOnnxTransformer.WhyNoCudaProvider(failed, _ => true));
        foreach (Exception noProvider in new Exception[] { new EntryPointNotFoundException(), new DllNotFoundException() })
            StringAssert.Contains(HelmholtzOnnxTransformer.WhyNoCudaProvider(noProvider, _ => false), "has no CUDA provider (it needs the Microsoft.ML.OnnxRuntime.Gpu package)");
    }

    private sealed class LogLikelihoodOnly
    {
        public float LogLikelihood { get; set; }
    }

    /// <summary>
    /// K = 2000: a log-likelihood run holds at most 100,000 samples, so a batch of more than 50 rows is cut into runs of 50; every
    /// row of every run lands on its own row with its own value (the managed one, within the 1e-4 nats of the other tests).
    /// K = 100,001, more than a run holds: each run is one row (at least one, not ⌊100,000 / K⌋ = 0, which never ended).
    /// </summary>
    [TestMethod]
    [DataRow(2000, 230, 200)]
    [DataRow(100_001, 3, 3)]
    public void TheOnnxRuntimeTransformerCutsABatchIntoRunsOfAtMost100000Samples(int samples, int rows, int batchRows)
    {
        var ml = new MLContext(seed: 1);
        var model = new HelmholtzMachineTransformer(TestModels.Random("20b-10g-8g", 5), new HelmholtzMachineOptions
        {
            InputColumnName = "Pixels", Architecture = "20b-10g-8g", Samples = samples, FeatureColumnName = null,
        }, seed: 3, threshold: double.PositiveInfinity);
        IDataView test = ml.Data.LoadFromEnumerable(TransformTestData.Rows(rows, 2));
        float[] expected = ml.Data.CreateEnumerable<LogLikelihoodOnly>(model.Transform(test), false).Select(r => r.LogLikelihood).ToArray();
        using var onnx = model.ToOnnxRuntime(ml, batchRows: batchRows);
        float[] actual = ml.Data.CreateEnumerable<LogLikelihoodOnly>(onnx.Transform(test), false).Select(r => r.LogLikelihood).ToArray();
        Assert.HasCount(rows, actual);
        Assert.IsGreaterThan(Math.Min(20, rows - 1), expected.Distinct().Count(), "rows of their own values");
        for (int i = 0; i < expected.Length; i++) Assert.AreEqual(expected[i], actual[i], 1e-4, $"row {i}");
    }

    /// <summary>The array a batch needs is as wide as its widest row, input or features: features wider than the input count.</summary>
    [TestMethod]
    public void ABatchWhoseFeaturesWouldNotFitOneArrayIsRefused()
    {
        var ml = new MLContext(seed: 1);
        var model = new HelmholtzMachineTransformer(TestModels.Random("10b-300g", 5), new HelmholtzMachineOptions
        {
            InputColumnName = "Pixels", Architecture = "10b-300g", LogLikelihoodColumnName = null,
        }, seed: 1, threshold: double.PositiveInfinity);
        Assert.AreEqual(300, model.FeatureSize);
        // 10 input values a row fit one array at this many rows; 300 feature values do not.
        int rows = Array.MaxLength / 100;
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => model.ToOnnxRuntime(ml, batchRows: rows));
        StringAssert.Contains(e.Message, "rows of up to 300 values does not fit one array");
        using var fits = model.ToOnnxRuntime(ml, batchRows: Array.MaxLength / 300);
        Assert.AreEqual(Array.MaxLength / 300, fits.BatchRows);
    }

    /// <summary>An output without a column of its own whose default name and "helmholtz_" + that name are both taken is numbered.</summary>
    [TestMethod]
    public void AnOutputsNameIsNumberedWhereItsHelmholtzNameIsTakenToo()
    {
        var model = new HelmholtzMachineTransformer(TestModels.Random("20b-10g-8g", 5), new HelmholtzMachineOptions
        {
            InputColumnName = "features", Architecture = "20b-10g-8g", Samples = 5, FeatureColumnName = null,
            LogLikelihoodColumnName = null, ScoreColumnName = "helmholtz_features", PredictedLabelColumnName = "log_likelihood",
        }, seed: 1, threshold: 10);
        using var features = new MemoryStream();
        model.ExportRecognitionToOnnx(features);
        using (var session = TestSessions.Create(features.ToArray()))
            Assert.AreEqual("helmholtz_features_2", session.OutputMetadata.Keys.Single());
        var taken = new HelmholtzMachineTransformer(TestModels.Random("20b-10g-8g", 5), new HelmholtzMachineOptions
        {
            InputColumnName = "log_likelihood", Architecture = "20b-10g-8g", Samples = 5, FeatureColumnName = "helmholtz_log_likelihood",
            LogLikelihoodColumnName = null, ScoreColumnName = "helmholtz_log_likelihood_2",
        }, seed: 1, threshold: 10);
        using var logLikelihood = new MemoryStream();
        taken.ExportLogLikelihoodToOnnx(logLikelihood);
        using (var session = TestSessions.Create(logLikelihood.ToArray()))
            CollectionAssert.AreEquivalent(new[] { "helmholtz_log_likelihood_3", "helmholtz_log_likelihood_2" }, session.OutputMetadata.Keys.ToArray());
    }

    /// <summary>
    /// A transformer without a log-likelihood column exports its log-likelihood with its own seed's noise: the values of the same
    /// machine and seed with the column (within the 1e-4 nats of the other tests; another seed's noise moves K = 5 samples' mean far more).
    /// </summary>
    [TestMethod]
    public void TheLogLikelihoodExportOfATransformerWithoutThatColumnUsesItsSeed()
    {
        var ml = new MLContext(seed: 1);
        HelmholtzMachineTransformer Make(string? column) => new(TestModels.Random("20b-10g-8g", 5), new HelmholtzMachineOptions
        {
            InputColumnName = "Pixels", Architecture = "20b-10g-8g", Samples = 5, LogLikelihoodColumnName = column,
        }, seed: 11, threshold: double.PositiveInfinity);
        HelmholtzMachineTransformer without = Make(null), with = Make("LogLikelihood");
        Assert.IsNull(without.LogLikelihood);
        PixelRow[] rows = TransformTestData.Rows(30, 2);
        float[] expected = ml.Data.CreateEnumerable<LogLikelihoodOnly>(with.Transform(ml.Data.LoadFromEnumerable(rows)), false).Select(r => r.LogLikelihood).ToArray();
        using var stream = new MemoryStream();
        without.ExportLogLikelihoodToOnnx(stream);
        var data = new DataMatrix(rows.Length, PixelRow.Size, rows.SelectMany(r => r.Pixels).ToArray());
        Dictionary<string, float[]> outputs = Run(stream.ToArray(), "Pixels", data, out InferenceSession session);
        using (session)
        {
            float[] actual = outputs["log_likelihood"];
            for (int i = 0; i < rows.Length; i++) Assert.AreEqual(expected[i], actual[i], 1e-4, $"row {i}");
        }
    }

    /// <summary>
    /// The first of the two sessions settles the device and the second follows it: a GPU that cannot be had is tried and its
    /// fallback logged once, not once a graph (a machine with the GPU and the CUDA 13 libraries logs none).
    /// </summary>
    [TestMethod]
    public void AFallbackToTheCpuIsTriedAndLoggedOnceForBothGraphs()
    {
        var ml = new MLContext(seed: 1) { GpuDeviceId = 0, FallbackToCpu = true };
        var fallbacks = new List<string>();
        ml.Log += (_, e) => { if (e.Kind == ChannelMessageKind.Warning && e.RawMessage.Contains("was asked for", StringComparison.Ordinal)) lock (fallbacks) fallbacks.Add(e.RawMessage); };
        var model = PixelsTransformer();
        using var onnx = model.ToOnnxRuntime(ml);
        Assert.AreEqual(2, onnx.SessionOutputs.Count(), "a features graph and a log-likelihood graph");
        Assert.HasCount(onnx.Device.StartsWith("CUDA", StringComparison.Ordinal) ? 0 : 1, fallbacks, string.Join("\n", fallbacks));
    }

    /// <summary>
    /// A view made before Dispose refuses a cursor of the machine's columns made after it at once, not at its first batch: over
    /// data with no rows, where no batch would ever reach a session, too.
    /// </summary>
    [TestMethod]
    public void ACursorMadeAfterDisposeIsRefusedAtOnceEvenOverNoRows()
    {
        var ml = new MLContext(seed: 1);
        var model = PixelsTransformer();
        var onnx = model.ToOnnxRuntime(ml);
        IDataView rows = onnx.Transform(ml.Data.LoadFromEnumerable(TransformTestData.Rows(20, 1)));
        IDataView empty = onnx.Transform(ml.Data.LoadFromEnumerable(Array.Empty<PixelRow>()));
        Assert.HasCount(20, ml.Data.CreateEnumerable<ScoredRow>(rows, false).ToArray(), "in use before");
        onnx.Dispose();
        Assert.ThrowsExactly<ObjectDisposedException>(() => rows.GetRowCursor(rows.Schema), "made, before a row is asked for");
        Assert.ThrowsExactly<ObjectDisposedException>(() => empty.GetRowCursor(empty.Schema), "over no rows");
    }

    /// <summary>
    /// Each required CUDA library is named missing exactly where the loader cannot load it, whichever of them this machine has (CI
    /// has none; a GPU machine all).
    /// </summary>
    [TestMethod]
    public void TheLibrariesNamedMissingAreThoseTheLoaderCannotLoad()
    {
        string missing = CudaLibraries.Missing();
        foreach (var (file, what) in CudaLibraries.Required)
        {
            bool loads = System.Runtime.InteropServices.NativeLibrary.TryLoad(file, out IntPtr handle);
            if (loads) System.Runtime.InteropServices.NativeLibrary.Free(handle);
            Assert.AreEqual(!loads, missing.Contains($"{file} ({what})", StringComparison.Ordinal), $"{file}: {missing}");
        }
    }

    /// <summary>
    /// The libraries are those ONNX Runtime 1.31's CUDA provider loads: on Linux its NEEDED entries (readelf -d
    /// libonnxruntime_providers_cuda.so: libcuda.so.1, libcudart.so.13, libcublas.so.13, libcublasLt.so.13, libcurand.so.10) and
    /// cuDNN 9, which it opens at run time. Another version's name would send a user after a library the provider never loads.
    /// </summary>
    [TestMethod]
    public void TheRequiredCudaLibrariesAreThoseOfOnnxRuntimesCudaProvider()
    {
        string[] expected = OperatingSystem.IsWindows()
            ? ["nvcuda.dll", "cudart64_13.dll", "cublas64_13.dll", "cublasLt64_13.dll", "curand64_10.dll", "cudnn64_9.dll"]
            : ["libcuda.so.1", "libcudart.so.13", "libcublas.so.13", "libcublasLt.so.13", "libcurand.so.10", "libcudnn.so.9"];
        CollectionAssert.AreEqual(expected, CudaLibraries.Required.Select(r => r.File).ToArray());
        Assert.IsTrue(CudaLibraries.Required.All(r => r.What.Length > 0), "each says what it is");
    }

    /// <summary>
    /// Array.MaxLength = 11 × 195,225,781: a batch of that many rows of 11 values fills the largest array exactly and fits it;
    /// one row more does not.
    /// </summary>
    [TestMethod]
    public void ABatchThatFillsTheLargestArrayExactlyIsAllowed()
    {
        var ml = new MLContext(seed: 1);
        var model = new HelmholtzMachineTransformer(TestModels.Random("11b-5g", 5), new HelmholtzMachineOptions
        {
            InputColumnName = "Pixels", Architecture = "11b-5g", LogLikelihoodColumnName = null,
        }, seed: 1, threshold: double.PositiveInfinity);
        Assert.AreEqual(0, Array.MaxLength % 11);
        int rows = Array.MaxLength / 11;
        using (var fits = model.ToOnnxRuntime(ml, batchRows: rows))
            Assert.AreEqual(rows, fits.BatchRows);
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => model.ToOnnxRuntime(ml, batchRows: rows + 1));
        Assert.AreEqual("batchRows", e.ParamName);
    }

    /// <summary>
    /// Without a feature column the transformer computes no features: its FeatureSize is 0, as documented, and its ONNX Runtime
    /// scorer opens the log-likelihood's graph alone (a features session would be made for nothing).
    /// </summary>
    [TestMethod]
    public void ATransformerWithoutAFeatureColumnComputesNoFeatures()
    {
        var ml = new MLContext(seed: 1);
        var model = PixelsTransformer(o => o.FeatureColumnName = null);
        Assert.AreEqual(0, model.FeatureSize);
        using var onnx = model.ToOnnxRuntime(ml);
        Assert.AreEqual(0, onnx.FeatureSize);
        CollectionAssert.AreEqual(new[] { "log_likelihood" }, onnx.SessionOutputs.Select(o => string.Join(",", o)).ToArray());
    }

    /// <summary>
    /// The transformer's log-likelihood export labels a row as the transformer does: Score &gt; its Threshold (a quantile of the
    /// training scores), not Score &gt; 0, which every score −ln p̂ of binary data passes. The graph compares with the float t_f
    /// that a float score exceeds exactly when it exceeds the double threshold, so the label agrees with the graph's own score exactly.
    /// </summary>
    [TestMethod]
    public void TheTransformersLogLikelihoodExportLabelsTheRowsAboveItsThreshold()
    {
        var ml = new MLContext(seed: 1);
        PixelRow[] rows = TransformTestData.Rows(200, 1);
        var model = ml.Transforms.HelmholtzMachine(new HelmholtzMachineOptions
        {
            InputColumnName = "Pixels", Architecture = "20b-10g-8g", Epochs = 1, BatchSize = 20, Samples = 5, Seed = 7,
            FeatureColumnName = null, ScoreColumnName = "Score", PredictedLabelColumnName = "PredictedLabel",
        }).Fit(ml.Data.LoadFromEnumerable(rows));
        Assert.IsGreaterThan(0.0, model.Threshold, "the premise: a threshold that scores above 0 can fall below");
        using var stream = new MemoryStream();
        model.ExportLogLikelihoodToOnnx(stream);
        using var session = TestSessions.Create(stream.ToArray());
        float[] pixels = rows.SelectMany(r => r.Pixels).ToArray();
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("Pixels", new DenseTensor<float>(pixels, [rows.Length, PixelRow.Size]))]);
        float[] scores = results.Single(r => r.Name == "Score").AsTensor<float>().ToArray();
        bool[] labels = results.Single(r => r.Name == "PredictedLabel").AsTensor<bool>().ToArray();
        Assert.HasCount(rows.Length, labels);
        for (int i = 0; i < rows.Length; i++) Assert.AreEqual(scores[i] > model.Threshold, labels[i], $"row {i}: score {scores[i]:R}, threshold {model.Threshold:R}");
        // Both labels occur: the threshold is a quantile of these very rows' scores, with rows above and below it.
        Assert.IsTrue(labels.Contains(true) && labels.Contains(false), $"{labels.Count(l => l)} of {labels.Length} labelled");
    }
}
