using Microsoft.ML.Data;
using Microsoft.ML.Helmholtz.Evaluation;
using Microsoft.ML.Helmholtz.Learning.Rules;
using Microsoft.ML.Helmholtz.Transforms;
using Microsoft.ML.Helmholtz.Tests.Support;

namespace Microsoft.ML.Helmholtz.Tests.Transforms;

/// <summary>Every schema, option and value error names the column (or option) and what was expected, before any work.</summary>
[TestClass]
public sealed class SchemaAndOptionErrorTests
{
    private sealed class ScalarRow { public float Pixels { get; set; } }
    private sealed class DoubleRow { [VectorType(20)] public double[] Pixels { get; set; } = new double[20]; }
    private sealed class VariableRow { public float[] Pixels { get; set; } = new float[20]; }
    private sealed class TextRow { public string Pixels { get; set; } = "0 1"; }
    private sealed class WrongSizeRow { [VectorType(19)] public float[] Pixels { get; set; } = new float[19]; }
    private sealed class BooleanRow { [VectorType(20)] public bool[] Pixels { get; set; } = new bool[20]; }

    private static HelmholtzMachineOptions Options(Action<HelmholtzMachineOptions>? change = null)
    {
        var o = new HelmholtzMachineOptions { InputColumnName = "Pixels", Architecture = "20b-10g-8g", Epochs = 1, BatchSize = 10, Samples = 5, Seed = 1 };
        change?.Invoke(o);
        return o;
    }

    private static void AssertMismatch(Action action, params string[] parts)
    {
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(action);
        StringAssert.Contains(e.Message, "Schema mismatch for input column 'Pixels'");
        foreach (string part in parts) StringAssert.Contains(e.Message, part);
    }

    /// <summary>
    /// A column named with the saved pipeline's reserved prefixes is refused when the estimator is made: the loaded pipeline copied
    /// into its intermediate columns of those names and dropped them, losing the user's column without a word.
    /// </summary>
    [TestMethod]
    public void AColumnNamedWithTheSavedPipelinesReservedPrefixesIsRefused()
    {
        var ml = new MLContext(1);
        var e = Assert.ThrowsExactly<ArgumentException>(() => ml.Transforms.HelmholtzMachine(Options(o => o.InputColumnName = "__helmholtz_input")));
        StringAssert.Contains(e.Message, "HelmholtzMachineOptions.InputColumnName: '__helmholtz_input' begins with '__helmholtz_'");
        e = Assert.ThrowsExactly<ArgumentException>(() => ml.Transforms.HelmholtzMachine(Options(o => o.ScoreColumnName = "__helmholtz_score")));
        StringAssert.Contains(e.Message, "HelmholtzMachineOptions.ScoreColumnName: '__helmholtz_score' begins with '__helmholtz_'");
        e = Assert.ThrowsExactly<ArgumentException>(() => ml.Transforms.TemporalHelmholtzMachine(new TemporalHelmholtzOptions
            { FrameSize = 8, LogLikelihoodColumnName = "__temporal_log_likelihood" }));
        StringAssert.Contains(e.Message, "TemporalHelmholtzOptions.LogLikelihoodColumnName: '__temporal_log_likelihood' begins with '__temporal_'");
    }

    [TestMethod]
    public void EachUnusableInputColumnIsNamedAtTheSchemaShapeAndAtFit()
    {
        var ml = new MLContext(1);
        var estimator = ml.Transforms.HelmholtzMachine(Options());
        void Both<T>(T[] rows, params string[] parts) where T : class
        {
            IDataView data = ml.Data.LoadFromEnumerable(rows);
            AssertMismatch(() => estimator.Fit(data), parts);
            if (data.Schema["Pixels"].Type is not VectorDataViewType { IsKnownSize: true } vector || vector.Size == 20)
                AssertMismatch(() => estimator.GetOutputSchema(SchemaShapes.FromSchema(data.Schema)), parts);
        }
        Both([new ScalarRow()], "one value per row", "Concatenate");
        Both([new DoubleRow()], "Double", "ConvertType");
        Both([new VariableRow()], "size is not known", "VectorType");
        Both([new TextRow()], "text");
        Both([new WrongSizeRow()], "19 values", "20 units");
        // A vector of Boolean is a vector of numbers to the first check, but not of Single: converted, not read as is.
        Both([new BooleanRow()], "Boolean", "ConvertType");
        IDataView other = ml.Data.LoadFromEnumerable([new { Other = 1f }]);
        AssertMismatch(() => estimator.Fit(other), "no such column", "'Other'");
        IDataView keys = ml.Transforms.Conversion.MapValueToKey("Pixels", "Text").Fit(ml.Data.LoadFromEnumerable([new { Text = "a" }]))
            .Transform(ml.Data.LoadFromEnumerable([new { Text = "a" }]));
        AssertMismatch(() => estimator.Fit(keys), "keys", "MapKeyToValue");
        // The transformer checks the schema it is given too.
        var model = estimator.Fit(ml.Data.LoadFromEnumerable(TransformTestData.Rows(20, 1)));
        AssertMismatch(() => model.Transform(ml.Data.LoadFromEnumerable([new WrongSizeRow()])), "19 values");
        AssertMismatch(() => model.GetOutputSchema(ml.Data.LoadFromEnumerable([new DoubleRow()]).Schema), "Double");
    }

    /// <summary>The shape of an output: the schema shape says which columns come, of which types.</summary>
    [TestMethod]
    public void TheOutputShapeListsTheAddedColumns()
    {
        var ml = new MLContext(1);
        IDataView data = ml.Data.LoadFromEnumerable(TransformTestData.Rows(5, 1));
        SchemaShape shape = ml.AnomalyDetection.Trainers.HelmholtzMachine(Options(o => o.FeatureLayers = FeatureLayers.AllHidden))
            .GetOutputSchema(SchemaShapes.FromSchema(data.Schema));
        SchemaShape.Column Find(string name) => shape.Single(c => c.Name == name);
        Assert.AreEqual(SchemaShape.Column.VectorKind.Vector, Find("HelmholtzFeatures").Kind);
        Assert.AreEqual(NumberDataViewType.Single, Find("LogLikelihood").ItemType);
        Assert.AreEqual(NumberDataViewType.Single, Find("Score").ItemType);
        Assert.AreEqual(BooleanDataViewType.Instance, Find("PredictedLabel").ItemType);
        Assert.IsTrue(shape.Any(c => c.Name == "Id"), "input columns pass through");
        var model = ml.AnomalyDetection.Trainers.HelmholtzMachine(Options(o => o.FeatureLayers = FeatureLayers.AllHidden)).Fit(data);
        Assert.AreEqual(new VectorDataViewType(NumberDataViewType.Single, 18), model.Transform(data).Schema["HelmholtzFeatures"].Type, "all hidden layers: 10 + 8");
    }

    [TestMethod]
    public void ValuesTheVisibleLayerCannotModelAreNamedByColumnRowAndSlot()
    {
        var ml = new MLContext(1);
        var rows = TransformTestData.Rows(50, 1);
        var model = ml.Transforms.HelmholtzMachine(Options()).Fit(ml.Data.LoadFromEnumerable(rows));
        var bad = TransformTestData.Rows(50, 2);
        bad[17].Pixels[3] = float.NaN;
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => ml.Data.CreateEnumerable<ScoredRow>(model.Transform(ml.Data.LoadFromEnumerable(bad)), false).ToList());
        StringAssert.Contains(e.Message, "column 'Pixels', row 17, slot 3 is NaN");
        bad[17].Pixels[3] = 0.5f;
        e = Assert.ThrowsExactly<InvalidOperationException>(() => ml.Model.CreatePredictionEngine<PixelRow, ScoredRow>(model).Predict(bad[17]));
        StringAssert.Contains(e.Message, "slot 3 is 0.5");
        StringAssert.Contains(e.Message, "models only 0 and 1");
        // A grey value: the message names the visible layers that model values in [0, 1] (it named only the Gaussian one).
        StringAssert.Contains(e.Message, "for grey values in [0, 1] use a soft-target Bernoulli ('bs') or continuous Bernoulli ('cb') visible layer");
        // At Fit, the training data is checked the same way, before any step.
        e = Assert.ThrowsExactly<InvalidOperationException>(() => ml.Transforms.HelmholtzMachine(Options()).Fit(ml.Data.LoadFromEnumerable(bad)));
        StringAssert.Contains(e.Message, "training data: column 'Pixels', row 17, slot 3 is 0.5");
        // A Gaussian visible layer takes real values, but not infinities.
        var gaussian = ml.Transforms.HelmholtzMachine(Options(o => o.Architecture = "20gl-10g-8g")).Fit(ml.Data.LoadFromEnumerable(bad));
        bad[4].Pixels[0] = float.PositiveInfinity;
        e = Assert.ThrowsExactly<InvalidOperationException>(() => ml.Data.CreateEnumerable<ScoredRow>(gaussian.Transform(ml.Data.LoadFromEnumerable(bad)), false).ToList());
        StringAssert.Contains(e.Message, "row 4, slot 0 is ∞".Replace("∞", "Infinity"));
    }

    // The last slot is checked as the others are: a value there the layer cannot model is named, not scored or trained on.
    [TestMethod]
    public void AValueTheVisibleLayerCannotModelInTheLastSlotIsNamed()
    {
        var ml = new MLContext(1);
        var model = ml.Transforms.HelmholtzMachine(Options()).Fit(ml.Data.LoadFromEnumerable(TransformTestData.Rows(50, 1)));
        var bad = TransformTestData.Rows(50, 2);
        bad[9].Pixels[19] = 0.5f;
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => ml.Data.CreateEnumerable<ScoredRow>(model.Transform(ml.Data.LoadFromEnumerable(bad)), false).ToList());
        StringAssert.Contains(e.Message, "column 'Pixels', row 9, slot 19 is 0.5");
        e = Assert.ThrowsExactly<InvalidOperationException>(() => ml.Transforms.HelmholtzMachine(Options()).Fit(ml.Data.LoadFromEnumerable(bad)));
        StringAssert.Contains(e.Message, "training data: column 'Pixels', row 9, slot 19 is 0.5");
    }

    [TestMethod]
    public void TooManyScoringSamplesAreRefusedBeforeTraining()
    {
        var ml = new MLContext(1);
        int epochs = 0;
        // 20b-10g-8g draws 18 noise values a sample: this K needs one more than 2²⁸ of them.
        var o = Options(o => { o.Samples = (1 << 28) / 18 + 1; o.Epochs = 2; o.Progress = new SynchronousProgress<Microsoft.ML.Helmholtz.Learning.EpochReport>(_ => epochs++); });
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Transforms.HelmholtzMachine(o).Fit(ml.Data.LoadFromEnumerable(TransformTestData.Rows(20, 1))));
        StringAssert.Contains(e.Message, "HelmholtzMachineOptions.Samples: K = 14913081 samples of 18 noise values each");
        Assert.AreEqual(0, epochs, "no epoch was trained");
        // Without a column that needs them, K is not used, and the fit goes on.
        o.LogLikelihoodColumnName = null;
        Assert.IsNotNull(ml.Transforms.HelmholtzMachine(o).Fit(ml.Data.LoadFromEnumerable(TransformTestData.Rows(20, 1))).GetMachine());
        Assert.AreEqual(2, epochs);
    }

    /// <summary>The estimator keeps a copy of every option it checked, the REINFORCE options inside too.</summary>
    [TestMethod]
    public void TheCatalogsShortFormsAddTheColumnsTheyDocument()
    {
        var ml = new MLContext(1);
        IDataView data = ml.Data.LoadFromEnumerable(TransformTestData.Rows(20, 1));
        SchemaShape input = SchemaShapes.FromSchema(data.Schema);
        static bool Has(SchemaShape shape, string name) => shape.Any(c => c.Name == name);
        HelmholtzMachineEstimator transform = ml.Transforms.HelmholtzMachine("Pixels", "20b-10b-8b", HelmholtzLearningRule.WakeSleep);
        HelmholtzMachineOptions t = transform.Options;
        Assert.AreEqual(("Pixels", "20b-10b-8b", HelmholtzLearningRule.WakeSleep), (t.InputColumnName, t.Architecture, t.LearningRule));
        SchemaShape added = transform.GetOutputSchema(input);
        Assert.IsTrue(Has(added, "HelmholtzFeatures") && Has(added, "LogLikelihood"));
        Assert.IsFalse(Has(added, "Score") || Has(added, "PredictedLabel"));

        // The anomaly form reads "Features" unless told otherwise, and adds the score and the label alone.
        Assert.AreEqual("Features", ml.AnomalyDetection.Trainers.HelmholtzMachine().Options.InputColumnName);
        HelmholtzMachineEstimator anomaly = ml.AnomalyDetection.Trainers.HelmholtzMachine("Pixels", "20b-10b-8b", HelmholtzLearningRule.WakeSleep);
        SchemaShape scored = anomaly.GetOutputSchema(input);
        Assert.IsTrue(Has(scored, "Score") && Has(scored, "PredictedLabel"));
        Assert.IsFalse(Has(scored, "HelmholtzFeatures") || Has(scored, "LogLikelihood"));
        Assert.AreEqual(("20b-10b-8b", HelmholtzLearningRule.WakeSleep), (anomaly.Options.Architecture, anomaly.Options.LearningRule));
        // A feature column of an output's name is refused naming the argument given (the options' check blamed ScoreColumnName, never set).
        foreach (string output in new[] { "Score", "PredictedLabel" })
        {
            var clash = Assert.ThrowsExactly<ArgumentException>(() => ml.AnomalyDetection.Trainers.HelmholtzMachine(output), output);
            Assert.AreEqual("featureColumnName", clash.ParamName, output);
            StringAssert.Contains(clash.Message, $"The feature column '{output}' has the name of an output of this detector", output);
            StringAssert.Contains(clash.Message, "ml.Transforms.CopyColumns", output);
        }
        // The options form says when a name it fills in meets one the caller gave (the options' check blamed the option left null).
        foreach (var (given, filled, other) in new[] { ("InputColumnName", "ScoreColumnName", "Score"), ("FeatureColumnName", "PredictedLabelColumnName", "PredictedLabel"),
                     ("PredictedLabelColumnName", "ScoreColumnName", "Score") })
        {
            var options = new HelmholtzMachineOptions { InputColumnName = "Pixels" };
            typeof(HelmholtzMachineOptions).GetProperty(given)!.SetValue(options, other);
            var clash = Assert.ThrowsExactly<ArgumentException>(() => ml.AnomalyDetection.Trainers.HelmholtzMachine(options), given);
            Assert.AreEqual("options", clash.ParamName, given);
            StringAssert.StartsWith(clash.Message, $"HelmholtzMachineOptions.{filled} is null, so the anomaly detector names that column '{other}', " +
                $"which is also HelmholtzMachineOptions.{given}", given);
        }
        // A name the caller gave that meets another is the options' check's, as before.
        var set = Assert.ThrowsExactly<ArgumentException>(() => ml.AnomalyDetection.Trainers.HelmholtzMachine(
            new HelmholtzMachineOptions { InputColumnName = "Score", ScoreColumnName = "Score" }));
        StringAssert.StartsWith(set.Message, "HelmholtzMachineOptions.ScoreColumnName: 'Score' is the input column's name");

        // The temporal machine's: the column, the frame size and the two log-likelihood columns.
        TemporalHelmholtzOptions temporal = ml.Transforms.TemporalHelmholtzMachine("Frames", 10, "10b-4g", HelmholtzLearningRule.Vimco).Options;
        Assert.AreEqual(("Frames", 10, "10b-4g", HelmholtzLearningRule.Vimco, "LogLikelihood", "FrameLogLikelihoods", (string?)null),
            (temporal.InputColumnName, temporal.FrameSize, temporal.Architecture, temporal.LearningRule, temporal.LogLikelihoodColumnName,
             temporal.FrameLogLikelihoodColumnName, temporal.PredictedFramesColumnName));
        Assert.AreEqual("TemporalHelmholtzOptions.Architecture",
            Assert.ThrowsExactly<ArgumentException>(() => ml.Transforms.TemporalHelmholtzMachine("Frames", 12, "10b-4g")).Message[..37]);
    }

    // The anomaly options form fills in only the names left null, keeps those given, and leaves the caller's options as they were.
    [TestMethod]
    public void TheAnomalyFormKeepsTheNamesGivenAndTheCallersOptions()
    {
        var ml = new MLContext(1);
        SchemaShape input = SchemaShapes.FromSchema(ml.Data.LoadFromEnumerable(TransformTestData.Rows(20, 1)).Schema);
        foreach (var (score, label) in new[] { ("Anomaly", (string?)null), (null, "IsAnomaly") })
        {
            var options = new HelmholtzMachineOptions { InputColumnName = "Pixels", Architecture = "20b-10g-8g", ScoreColumnName = score, PredictedLabelColumnName = label };
            HelmholtzMachineEstimator anomaly = ml.AnomalyDetection.Trainers.HelmholtzMachine(options);
            Assert.AreEqual((score ?? "Score", label ?? "PredictedLabel"), (anomaly.Options.ScoreColumnName, anomaly.Options.PredictedLabelColumnName));
            Assert.AreEqual((score, label), (options.ScoreColumnName, options.PredictedLabelColumnName), "the caller's options");
            SchemaShape scored = anomaly.GetOutputSchema(input);
            Assert.IsTrue(scored.Any(c => c.Name == (score ?? "Score")) && scored.Any(c => c.Name == (label ?? "PredictedLabel")));
            Assert.IsFalse(scored.Any(c => c.Name == (score is null ? "PredictedLabel" : "Score")));
        }
    }

    [TestMethod]
    public void TheEstimatorsOptionsAreCopiesDownToTheReinforceOptions()
    {
        var ml = new MLContext(1);
        var o = Options(o => { o.LearningRule = HelmholtzLearningRule.Reinforce; o.Architecture = "20b-10b-8b"; o.Reinforce = new ReinforceOptions { BaselineDecay = 0.8 }; });
        var estimator = ml.Transforms.HelmholtzMachine(o);
        o.Reinforce.BaselineDecay = 2;                 // after the check: would be refused by the rule
        estimator.Options.Reinforce.BaselineDecay = 3; // a copy
        Assert.AreEqual(0.8, estimator.Options.Reinforce.BaselineDecay);
        Assert.IsNotNull(estimator.Fit(ml.Data.LoadFromEnumerable(TransformTestData.Rows(20, 1))).GetMachine());
    }

    [TestMethod]
    public void TheNvilOptionsReachTheRuleAndAreCopies()
    {
        var ml = new MLContext(1);
        IDataView data = ml.Data.LoadFromEnumerable(TransformTestData.Rows(40, 1));
        float[] Trained(NvilOptions nvil) => ml.Transforms.HelmholtzMachine(Options(o => { o.LearningRule = HelmholtzLearningRule.Nvil; o.Architecture = "20b-10b-8b"; o.Nvil = nvil; }))
            .Fit(data).GetMachine().Parameters.SelectMany(p => p.Value).ToArray();
        float[] full = Trained(new NvilOptions()), plain = Trained(NvilOptions.Plain);
        CollectionAssert.AreEqual(full, Trained(new NvilOptions()), "the same options and seed give the same machine");
        CollectionAssert.AreNotEqual(full, plain, "the plain estimator (no baselines, no normalisation) takes other steps");
        var given = new NvilOptions { LocalSignals = false };
        var estimator = ml.Transforms.HelmholtzMachine(Options(o => { o.LearningRule = HelmholtzLearningRule.Nvil; o.Architecture = "20b-10b-8b"; o.Nvil = given; }));
        given.VarianceDecay = 2;   // after the check: would be refused
        estimator.Options.Nvil.LocalSignals = true;   // a copy
        Assert.AreEqual((false, 0.9), (estimator.Options.Nvil.LocalSignals, estimator.Options.Nvil.VarianceDecay));
    }

    [TestMethod]
    [DataRow("Architecture", "20b-10b")]
    [DataRow("Architecture", "20b--10g")]
    [DataRow("Samples", "0")]
    [DataRow("BatchSize", "0")]
    [DataRow("AnomalyQuantile", "1")]
    [DataRow("LearningRate", "NaN")]
    [DataRow("LogLikelihoodColumnName", "the features' name")]
    [DataRow("ScoreColumnName", "the log-likelihood's name")]
    [DataRow("ScoreColumnName", "empty")]
    [DataRow("FeatureColumnName", "none")]
    [DataRow("InputColumnName", "")]
    [DataRow("TrainingSamples", "vimco 1")]
    [DataRow("Architecture", "iwae 20b-10b")]
    [DataRow("WeightDecay", "-1")]
    [DataRow("WeightDecay", "with sgd")]
    [DataRow("WeightDecay", "lr · λ = 1")]
    [DataRow("WeightDecay", "lr · λ rounds to 1 in single precision")]
    [DataRow("RecognitionUpdate", "sleep with vimco")]
    [DataRow("AdamBeta2", "with sgd")]
    [DataRow("ValidationSamples", "-1")]
    [DataRow("ValidationSamples", "without validation data")]
    [DataRow("ValidationSamples", "1 without validation data")]
    [DataRow("AdamBeta2", "1")]
    [DataRow("FeatureColumnName", "the input's name")]
    [DataRow("ScoreColumnName", "the input's name")]
    [DataRow("LearningRateDecay", "to 0 in float")]
    [DataRow("LearningRate", "0")]
    [DataRow("LearningRateDecay", "0")]
    [DataRow("MinimumLearningRate", "above the rate")]
    [DataRow("Momentum", "1")]
    [DataRow("Momentum", "with adam")]
    [DataRow("AnomalyQuantile", "with a threshold")]
    [DataRow("AnomalyQuantile", "without a score or label column")]
    [DataRow("AnomalyThreshold", "without a score or label column")]
    [DataRow("Reinforce", "null")]
    [DataRow("Reinforce", "baseline decay 2")]
    [DataRow("Nvil", "null")]
    [DataRow("Nvil", "variance decay 2")]
    [DataRow("AnomalyQuantileRows", "0")]
    [DataRow("ShuffleBufferRows", "0")]
    [DataRow("MemoryBudgetBytes", "-1")]
    [DataRow("Epochs", "-1")]
    [DataRow("DivergenceFactor", "0")]
    [DataRow("DivergenceFactor", "NaN")]
    [DataRow("AnomalyThreshold", "+∞ with a score column")]
    [DataRow("AnomalyThreshold", "NaN with a score column")]
    public void BadOptionsAreNamedWhenTheEstimatorIsMade(string option, string value)
    {
        var ml = new MLContext(1);
        var o = Options();
        switch (option)
        {
            case "Architecture" when value.StartsWith("iwae"): o.LearningRule = HelmholtzLearningRule.ImportanceWeighted; o.Architecture = value[5..]; break;
            case "Architecture": o.Architecture = value; break;   // 20b-10b: stochastic back-propagation needs Gaussian hidden layers
            case "TrainingSamples": o.LearningRule = HelmholtzLearningRule.Vimco; o.TrainingSamples = 1; break;
            case "Samples": o.Samples = 0; break;
            case "BatchSize": o.BatchSize = 0; break;
            case "AnomalyQuantile" when value == "with a threshold": o.ScoreColumnName = "Score"; o.AnomalyThreshold = 5; o.AnomalyQuantile = 0.5; break;
            case "AnomalyQuantile" when value.StartsWith("without"): o.AnomalyQuantile = 0.5; break;   // no Score or PredictedLabel column: no threshold is set
            case "AnomalyQuantile": o.AnomalyQuantile = 1; break;
            // A score column, so that only the value refuses it: +∞ would label no row, NaN every comparison false.
            case "AnomalyThreshold" when value.StartsWith("+∞"): o.ScoreColumnName = "Score"; o.AnomalyThreshold = double.PositiveInfinity; break;
            case "AnomalyThreshold" when value.StartsWith("NaN"): o.ScoreColumnName = "Score"; o.AnomalyThreshold = double.NaN; break;
            case "AnomalyThreshold": o.AnomalyThreshold = 5; break;   // no Score or PredictedLabel column: it was kept and never used
            case "WeightDecay" when value == "-1": o.WeightDecay = -1; break;
            case "AdamBeta2" when value == "1": o.AdamBeta2 = 1; break;
            case "LearningRate" when value == "0": o.LearningRate = 0; break;
            case "LearningRate": o.LearningRate = double.NaN; break;
            case "LearningRateDecay" when value == "0": o.LearningRateDecay = 0; break;
            case "MinimumLearningRate": o.MinimumLearningRate = 2 * o.LearningRate; break;
            case "Momentum" when value == "with adam": o.Momentum = 0.5; break;   // Adam, the default, has no momentum option
            case "Momentum": o.Optimizer = HelmholtzOptimizer.SgdMomentum; o.Momentum = 1; break;
            case "Reinforce" when value == "null": o.Reinforce = null!; break;
            case "Reinforce": o.Reinforce = new ReinforceOptions { BaselineDecay = 2 }; break;
            case "Nvil" when value == "null": o.Nvil = null!; break;
            case "Nvil": o.Nvil = new NvilOptions { VarianceDecay = 2 }; break;
            case "WeightDecay" when value == "with sgd": o.Optimizer = HelmholtzOptimizer.SgdMomentum; o.WeightDecay = 0.1; break;
            case "WeightDecay" when value.StartsWith("lr · λ rounds"): o.LearningRate = 1; o.WeightDecay = 1 - 1e-9; break;   // under 1 in double; Adam's step, in float, would shrink by 0
            case "WeightDecay": o.LearningRate = 0.5; o.WeightDecay = 2; break;
            case "RecognitionUpdate": o.LearningRule = HelmholtzLearningRule.Vimco; o.RecognitionUpdate = RecognitionUpdate.Sleep; break;
            case "ValidationSamples" when value == "-1": o.ValidationSamples = -1; break;
            case "ValidationSamples" when value.StartsWith("1 "): o.ValidationSamples = 1; break;   // the first count that estimates anything
            case "ValidationSamples": o.ValidationSamples = 10; break;
            case "AdamBeta2": o.Optimizer = HelmholtzOptimizer.SgdMomentum; o.AdamBeta2 = 0.99; break;
            case "FeatureColumnName" when value == "the input's name": o.FeatureColumnName = o.InputColumnName; break;
            case "ScoreColumnName" when value == "the input's name": o.ScoreColumnName = o.InputColumnName; break;
            case "ScoreColumnName" when value == "empty": o.ScoreColumnName = ""; break;
            case "ScoreColumnName": o.ScoreColumnName = o.LogLikelihoodColumnName; break;
            case "LogLikelihoodColumnName": o.LogLikelihoodColumnName = o.FeatureColumnName; break;
            case "FeatureColumnName": o.FeatureColumnName = o.LogLikelihoodColumnName = null; break;
            case "InputColumnName": o.InputColumnName = ""; break;
            case "LearningRateDecay": o.LearningRateDecay = 0.5; o.Epochs = 200; break;   // 1e-3 · 0.5^199 is 0 as a float
            case "AnomalyQuantileRows": o.ScoreColumnName = "Score"; o.AnomalyQuantile = 0.9; o.AnomalyQuantileRows = 0; break;   // no rows to set the threshold from
            case "ShuffleBufferRows": o.ShuffleBufferRows = 0; break;
            case "MemoryBudgetBytes": o.MemoryBudgetBytes = -1; break;
            case "Epochs": o.Epochs = -1; break;
            // The first factor refused, and NaN, which no comparison with a free energy would ever trip: named here, not at the first epoch.
            case "DivergenceFactor" when value == "0": o.DivergenceFactor = 0; break;
            case "DivergenceFactor": o.DivergenceFactor = double.NaN; break;
        }
        var e = Assert.ThrowsExactly<ArgumentException>(() => ml.Transforms.HelmholtzMachine(o));
        StringAssert.Contains(e.Message, $"HelmholtzMachineOptions.{option}");
        // The inner error's words only: .NET's " (Parameter '…')" once, for the options, and no "Actual value was" line.
        Assert.AreEqual(1, e.Message.Split("(Parameter").Length - 1, e.Message);
        Assert.DoesNotContain("Actual value was", e.Message);
    }

    /// <summary>
    /// With a time limit the fit stops when it is reached, so a decay that would take the rate to 0 by the last epoch is taken
    /// (the time limit passed on to the check, as the temporal estimator's test has it too); without it the same options are refused.
    /// </summary>
    [TestMethod]
    public void ADecayToZeroIsTakenWithATimeLimit()
    {
        var ml = new MLContext(1);
        void Decaying(HelmholtzMachineOptions o) { o.LearningRateDecay = 0.5; o.Epochs = 200; }   // 1e-3 · 0.5^199 is 0 as a float
        Assert.ThrowsExactly<ArgumentException>(() => ml.Transforms.HelmholtzMachine(Options(Decaying)));
        ml.Transforms.HelmholtzMachine(Options(o => { Decaying(o); o.TimeLimit = TimeSpan.FromHours(1); }));
    }

    private sealed class ShadowedRow
    {
        [VectorType(20)] public float[] Pixels { get; set; } = new float[20];
        public string LogLikelihood { get; set; } = "an earlier score";
        [VectorType(3)] public float[] PredictedLabel { get; set; } = new float[3];
    }

    /// <summary>
    /// An input column of an output's name is replaced, in the shape as in the data: a pipeline checked against the shape would
    /// otherwise expect the input's text and vector where the transformer gives a Single score and a Boolean label.
    /// </summary>
    [TestMethod]
    public void TheOutputShapeReplacesAnInputColumnOfAnAddedColumnsName()
    {
        var ml = new MLContext(1);
        IDataView data = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 20).Select(_ => new ShadowedRow()));
        var estimator = ml.AnomalyDetection.Trainers.HelmholtzMachine(Options());
        SchemaShape shape = estimator.GetOutputSchema(SchemaShapes.FromSchema(data.Schema));
        SchemaShape.Column likelihood = shape.Single(c => c.Name == "LogLikelihood"), label = shape.Single(c => c.Name == "PredictedLabel");
        Assert.AreEqual((SchemaShape.Column.VectorKind.Scalar, (DataViewType)NumberDataViewType.Single), (likelihood.Kind, likelihood.ItemType));
        Assert.AreEqual((SchemaShape.Column.VectorKind.Scalar, (DataViewType)BooleanDataViewType.Instance), (label.Kind, label.ItemType));
        // The premise: the fitted transformer's columns of those names are the added ones.
        DataViewSchema scored = estimator.Fit(data).Transform(data).Schema;
        Assert.AreEqual((NumberDataViewType.Single, (DataViewType)BooleanDataViewType.Instance), (scored["LogLikelihood"].Type, scored["PredictedLabel"].Type));
    }

    // The open bounds: a quantile of 0 or 1 (with a score column, so that only the bound refuses it) and a time limit of zero.
    [TestMethod]
    [DataRow("AnomalyQuantile", 0.0)]
    [DataRow("AnomalyQuantile", 1.0)]
    [DataRow("TimeLimit", 0.0)]
    public void TheBoundsOfAnOpenIntervalAreRefused(string option, double value)
    {
        HelmholtzMachineOptions o = Options(o =>
        {
            if (option == "TimeLimit") o.TimeLimit = TimeSpan.FromSeconds(value);
            else
            {
                o.ScoreColumnName = "Score";
                o.AnomalyQuantile = value;
            }
        });
        var e = Assert.ThrowsExactly<ArgumentException>(() => new MLContext(1).Transforms.HelmholtzMachine(o));
        StringAssert.Contains(e.Message, $"HelmholtzMachineOptions.{option}");
    }
}
