using Microsoft.ML.Data;
using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;
using Microsoft.ML.Helmholtz.Onnx;
using Microsoft.ML.Helmholtz.Temporal;
using Microsoft.ML.Helmholtz.Tests.Support;
using Microsoft.ML.Helmholtz.Transforms;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Microsoft.ML.Helmholtz.Tests.Onnx;

/// <summary>
/// The temporal machine's ONNX graph (ONNX's LSTM, the conditioning, the frame machine with fixed noise) against
/// the managed fixed-noise scorer, and the ML.NET transformer saved with the pipeline and loaded back.
/// </summary>
[TestClass]
public sealed class TemporalGraphTests
{
    private static TemporalHelmholtzMachine RandomModel(string architecture, int units, ulong seed)
    {
        var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse(architecture), units, seed);
        var random = new RandomStream(seed + 1000);
        foreach (Parameter p in model.Parameters)
        {
            float[] noise = new float[p.Length];
            random.FillNormal(noise);
            for (int i = 0; i < p.Length; i++) p.Value[i] = p.Role == ParameterRole.Weight ? p.Value[i] + 0.4f * noise[i] : 0.4f * noise[i];
        }
        return model;
    }

    private static float[] SoftSequence(int frames, int size, ulong seed, bool binary)
    {
        var random = new RandomStream(seed);
        return Enumerable.Range(0, frames * size).Select(_ => binary ? (random.NextDouble() < 0.4 ? 1f : 0f) : (float)random.NextDouble()).ToArray();
    }

    [TestMethod]
    [DataRow("9bs-5g", 4)]
    [DataRow("9b-6b-3b", 3)]
    [DataRow("9bs-6g-4g", 5)]
    [DataRow("9gl-5t-4g", 3)]
    [DataRow("9cb-5g", 4)]
    [DataRow("9cb-6cb-3b", 3)]
    [DataRow("9b-6cb", 3)]   // a continuous Bernoulli prior: its conditioning adds to its natural parameter
    public void OnnxRuntimeGivesTheManagedFixedNoiseScoresOfEveryFrame(string architecture, int units)
    {
        const int frames = 7, k = 30;
        var model = RandomModel(architecture, units, 11);
        var scorer = new TemporalFixedNoiseLogLikelihood(model, k, seed: 12);
        int d = model.FrameSize;
        byte[] graph = TemporalGraph.Build(scorer, frames, "frames", "per_frame", "total");
        using var session = TestSessions.Create(graph);
        // The graph saved in a pipeline's file says what it holds: the frame machine, the LSTM's units and the frames it scores.
        ModelMetadata metadata = session.ModelMetadata;
        Assert.AreEqual("microsoft.ml.helmholtz", metadata.Domain);
        Assert.AreEqual("Microsoft.ML.Helmholtz", metadata.ProducerName);
        Assert.AreEqual(model.Machine.Architecture.ToString(), metadata.CustomMetadataMap["architecture"]);
        Assert.AreEqual(units.ToString(System.Globalization.CultureInfo.InvariantCulture), metadata.CustomMetadataMap["recurrent_units"]);
        Assert.AreEqual(frames.ToString(System.Globalization.CultureInfo.InvariantCulture), metadata.CustomMetadataMap["frames"]);
        for (int s = 0; s < 3; s++)
        {
            float[] sequence = SoftSequence(frames, d, (ulong)(20 + s), binary: architecture.StartsWith("9b-", StringComparison.Ordinal));
            double[] managed = new double[frames];
            scorer.Score(sequence, frames, managed);
            using var results = session.Run([NamedOnnxValue.CreateFromTensor("frames", new DenseTensor<float>(sequence, [frames * d]))]);
            float[] perFrame = results.First(r => r.Name == "per_frame").AsTensor<float>().ToArray();
            // The total is a vector of one value, as the graph declares it ([1]): ML.NET's OnnxTransformer gives vectors, never scalars.
            var totalTensor = results.First(r => r.Name == "total").AsTensor<float>();
            CollectionAssert.AreEqual(new[] { 1 }, totalTensor.Dimensions.ToArray(), "the total's shape");
            float total = totalTensor.ToArray().Single();
            for (int t = 0; t < frames; t++)
                Assert.AreEqual(managed[t], perFrame[t], 2e-4 * Math.Max(1, Math.Abs(managed[t])), $"{architecture}, sequence {s}, frame {t}");
            Assert.AreEqual(managed.Sum(), total, 2e-4 * Math.Max(1, Math.Abs(managed.Sum())), "the total");
            Assert.IsTrue(managed.Distinct().Count() == frames, "the frames' scores differ (the conditioning is not trivial)");
        }
    }

    [TestMethod]
    public void TheFixedNoiseScoreOfASequenceDependsOnItAloneAndConvergesToTheLogLikelihood()
    {
        var model = RandomModel("6bs-3b", 2, 31);
        var data = new SequenceSet(2, 3, 1, 6, SoftSequence(6, 6, 32, binary: false));
        var scorer = new TemporalFixedNoiseLogLikelihood(model, 20000, seed: 33);
        double[] first = new double[3], again = new double[3], other = new double[3];
        scorer.Score(data.Sequence(0), 3, first);
        scorer.Score(data.Sequence(1), 3, other);
        scorer.Score(data.Sequence(0), 3, again);
        CollectionAssert.AreEqual(first, again, "the same sequence, after another, scores the same bits");
        // Both it and an estimate from fresh noise with as many samples lie within five standard deviations of ln p, by enumeration.
        double[] fresh = TemporalEvaluation.LogLikelihoodPerFrame(model, data, 20000, seed: 34);
        var (exact, sd) = Temporal.TemporalMachineTests.ExactFrameLogLikelihoods(model, data, 20000);
        for (int t = 0; t < 3; t++)
        {
            Assert.AreEqual(exact[t], first[t], 5 * sd[t] + 1e-4, $"frame {t}, fixed noise");
            Assert.AreEqual(exact[t], fresh[t], 5 * sd[t] + 1e-4, $"frame {t}, fresh noise");
        }
    }

    private sealed class Sequence
    {
        [VectorType(6 * 8)] public float[] Frames { get; set; } = [];
    }

    private sealed class ShadowingSequence
    {
        public float LogLikelihood { get; set; }
        [VectorType(6 * 8)] public float[] Frames { get; set; } = [];
        public float After { get; set; }
    }

    /// <summary>As for the frame transformer: an output named as a data column sits right after it, and the loaded pipeline agrees.</summary>
    [TestMethod]
    public void AnOutputThatShadowsADataColumnSitsAsInMLNetAndTheLoadedPipelineAgrees()
    {
        var ml = new MLContext(seed: 1);
        IDataView data = ml.Data.LoadFromEnumerable(MovingDots().Select(s => new ShadowingSequence { Frames = s.Frames, LogLikelihood = 5, After = 6 }));
        TemporalHelmholtzTransformer fitted = ml.Transforms.TemporalHelmholtzMachine(SavedOptions()).Fit(data);
        string[] fresh = Transforms.TransformTestData.Columns(fitted.Transform(data).Schema);
        CollectionAssert.AreEqual(new[]
        {
            "LogLikelihood (hidden): Single", "LogLikelihood: Single", "Frames: Vector<Single, 48>", "After: Single", "FrameLogLikelihoods: Vector<Single, 6>",
        }, fresh, string.Join(", ", fresh));
        using var directory = new Data.TempDirectory();
        ml.Model.Save(fitted, data.Schema, directory.File("temporal.zip"));
        ITransformer loaded = SavedPipelines.Load(new MLContext(), directory.File("temporal.zip"), out _);
        string[] after = Transforms.TransformTestData.Columns(loaded.Transform(data).Schema);
        CollectionAssert.AreEqual(fresh, after, string.Join(", ", after));
    }

    private sealed class Scored
    {
        public float LogLikelihood { get; set; }
        [VectorType(6)] public float[] FrameLogLikelihoods { get; set; } = [];
    }

    /// <summary>24 sequences of 6 frames of 8: a lit pixel moving one place right per frame, from a random start.</summary>
    private static Sequence[] MovingDots()
    {
        var random = new RandomStream(5);
        return Enumerable.Range(0, 24).Select(_ =>
        {
            int start = random.NextInt(8);
            var values = new float[6 * 8];
            for (int t = 0; t < 6; t++) values[t * 8 + (start + t) % 8] = 1f;
            return new Sequence { Frames = values };
        }).ToArray();
    }

    private static TemporalHelmholtzOptions SavedOptions() =>
        new() { FrameSize = 8, Architecture = "8b-5g", RecurrentUnits = 6, Epochs = 3, BatchSequences = 8, Samples = 50 };

    private static void AssertSameScores(Scored[] before, Scored[] after)
    {
        Assert.HasCount(before.Length, after);
        for (int i = 0; i < before.Length; i++)
        {
            Assert.AreEqual(before[i].LogLikelihood, after[i].LogLikelihood, 1e-3 * Math.Max(1, Math.Abs(before[i].LogLikelihood)), $"row {i}: the sequence");
            for (int t = 0; t < 6; t++)
                Assert.AreEqual(before[i].FrameLogLikelihoods[t], after[i].FrameLogLikelihoods[t], 1e-3 * Math.Max(1, Math.Abs(before[i].FrameLogLikelihoods[t])), $"row {i}, frame {t}");
        }
    }

    [TestMethod]
    public void APipelineWithTheTemporalMachineIsSavedAndLoadedAndScoresTheSame()
    {
        var ml = new MLContext(seed: 1);
        Sequence[] rows = MovingDots();
        IDataView data = ml.Data.LoadFromEnumerable(rows);
        TemporalHelmholtzOptions options = SavedOptions();
        TemporalHelmholtzTransformer fitted = ml.Transforms.TemporalHelmholtzMachine(options).Fit(data);
        Scored[] before = ml.Data.CreateEnumerable<Scored>(fitted.Transform(data), false).ToArray();

        using var directory = new Data.TempDirectory();
        string path = Path.Combine(directory.Path, "temporal.zip");
        ml.Model.Save(fitted, data.Schema, path);
        ITransformer loaded = SavedPipelines.Load(new MLContext(), path, out _);
        AssertSameScores(before, new MLContext().Data.CreateEnumerable<Scored>(loaded.Transform(data), false).ToArray());

        // The loaded pipeline checks its input as the fitted transformer does: a value binary units cannot model is refused, not scored.
        rows[4].Frames[13] = 2f;
        Exception refused = Assert.Throws<Exception>(() => new MLContext().Data.CreateEnumerable<Scored>(loaded.Transform(new MLContext().Data.LoadFromEnumerable(rows)), false).ToArray());
        while (refused.InnerException is not null && !refused.Message.Contains("slot", StringComparison.Ordinal)) refused = refused.InnerException;   // ML.NET may wrap it
        StringAssert.Contains(refused.Message, "A saved Helmholtz machine's input: column 'Frames', slot 13 is 2: a Bernoulli visible layer models only 0 and 1");

        options.PredictedFramesColumnName = "Predicted";
        TemporalHelmholtzTransformer predicting = TemporalHelmholtzTransformer.Create(fitted.GetModel(), options, 6);
        using var stream = new MemoryStream();
        var e = Assert.ThrowsExactly<NotSupportedException>(() => ml.Model.Save(predicting, data.Schema, stream));
        StringAssert.Contains(e.Message, "with options whose PredictedFramesColumnName is null");
    }

    /// <summary>
    /// A loaded temporal pipeline refuses a sequence of another length than the machine reads (6 frames of 8), naming the
    /// column and both lengths, through Transform and a PredictionEngine, which goes on scoring sequences of the right length.
    /// </summary>
    [TestMethod]
    [DataRow(47)]
    [DataRow(49)]
    [DataRow(0)]
    public void ALoadedTemporalPipelineRefusesASequenceOfAnotherLengthNamingTheColumn(int length)
    {
        var ml = new MLContext(seed: 1);
        Sequence[] rows = MovingDots();
        IDataView data = ml.Data.LoadFromEnumerable(rows);
        TemporalHelmholtzTransformer fitted = ml.Transforms.TemporalHelmholtzMachine(SavedOptions()).Fit(data);
        using var directory = new Data.TempDirectory();
        ml.Model.Save(fitted, data.Schema, directory.File("temporal.zip"));
        var fresh = new MLContext();
        ITransformer loaded = SavedPipelines.Load(fresh, directory.File("temporal.zip"), out _);
        float[] right = rows[4].Frames;
        rows[4].Frames = Transforms.TransformTestData.Resized(right, length);
        string message = Transforms.TransformTestData.SavedLengthMessage("Frames", length, 48);

        Exception e = Transforms.TransformTestData.Innermost(() => fresh.Data.CreateEnumerable<Scored>(loaded.Transform(fresh.Data.LoadFromEnumerable(rows)), false).ToArray());
        Assert.AreEqual(typeof(InvalidOperationException), e.GetType(), e.ToString());
        StringAssert.Contains(e.Message, message);
        var engine = fresh.Model.CreatePredictionEngine<Sequence, Scored>(loaded);
        StringAssert.Contains(Assert.ThrowsExactly<InvalidOperationException>(() => engine.Predict(rows[4])).Message, message, "one row at a time too");
        rows[4].Frames = right;
        Scored[] expected = fresh.Data.CreateEnumerable<Scored>(loaded.Transform(fresh.Data.LoadFromEnumerable(rows)), false).ToArray();
        Assert.AreEqual(expected[4].LogLikelihood, engine.Predict(rows[4]).LogLikelihood, "the engine goes on scoring sequences of the machine's length");
    }

    /// <summary>A temporal zip saved before the length check (the values checked alone) still loads and scores as the fitted transformer.</summary>
    [TestMethod]
    public void ATemporalPipelineSavedWithTheValueOnlyCheckStillLoadsAndScores()
    {
        var ml = new MLContext(seed: 1);
        IDataView data = ml.Data.LoadFromEnumerable(MovingDots());
        TemporalHelmholtzTransformer fitted = ml.Transforms.TemporalHelmholtzMachine(SavedOptions()).Fit(data);
        using var directory = new Data.TempDirectory();
        ml.Model.Save(TemporalSavedChain.Build(fitted, SavedInputCheck.ValuesOnly), data.Schema, directory.File("old.zip"));
        var fresh = new MLContext();
        ITransformer loaded = SavedPipelines.Load(fresh, directory.File("old.zip"), out _);
        Assert.AreEqual(0, Transforms.TransformTestData.SavedParts(loaded).OfType<Microsoft.ML.Transforms.ExpressionTransformer>().Count(),
            "the premise: the old chain has no stored length");
        AssertSameScores(ml.Data.CreateEnumerable<Scored>(fitted.Transform(data), false).ToArray(),
            fresh.Data.CreateEnumerable<Scored>(loaded.Transform(fresh.Data.LoadFromEnumerable(MovingDots())), false).ToArray());
    }
}
