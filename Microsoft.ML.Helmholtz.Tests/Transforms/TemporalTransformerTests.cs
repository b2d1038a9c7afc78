using Microsoft.ML.Data;
using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Temporal;
using Microsoft.ML.Helmholtz.Transforms;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Tests.Transforms;

/// <summary>The temporal machine in ML.NET: one row per sequence, trained by Fit, scored row by row by Transform.</summary>
[TestClass]
public sealed class TemporalTransformerTests
{
    private const int FrameCount = 12, FrameSize = 8;

    private sealed class Sequence
    {
        [VectorType(FrameCount * FrameSize)] public float[] Frames { get; set; } = [];
    }

    private sealed class Scored
    {
        public float LogLikelihood { get; set; }
        [VectorType(FrameCount)] public float[] FrameLogLikelihoods { get; set; } = [];
        [VectorType(FrameCount * FrameSize)] public float[] PredictedFrames { get; set; } = [];
    }

    /// <summary>A lit pixel moving one place right per frame, wrapping round, from a random start.</summary>
    private static Sequence[] MovingDot(int count, ulong seed)
    {
        var random = new RandomStream(seed);
        return Enumerable.Range(0, count).Select(_ =>
        {
            int start = random.NextInt(FrameSize);
            var values = new float[FrameCount * FrameSize];
            for (int t = 0; t < FrameCount; t++) values[t * FrameSize + (start + t) % FrameSize] = 1f;
            return new Sequence { Frames = values };
        }).ToArray();
    }

    private static TemporalHelmholtzOptions Options => new()
    {
        InputColumnName = "Frames", FrameSize = FrameSize, Architecture = "8b-6g", RecurrentUnits = 16, Epochs = 150, BatchSequences = 16,
        LearningRate = 0.01f, Seed = 3, Samples = 200, PredictedFramesColumnName = "PredictedFrames",
    };

    [TestMethod]
    public void FitTrainsOnSequencesAndTransformScoresEachRowAlone()
    {
        var ml = new MLContext(seed: 1);
        IDataView training = ml.Data.LoadFromEnumerable(MovingDot(96, 1));
        Sequence[] testRows = MovingDot(6, 2);
        IDataView test = ml.Data.LoadFromEnumerable(testRows);
        TemporalHelmholtzTransformer transformer = ml.Transforms.TemporalHelmholtzMachine(Options).Fit(training);
        Assert.AreEqual(FrameCount, transformer.Frames);

        Scored[] scored = ml.Data.CreateEnumerable<Scored>(transformer.Transform(test), reuseRowObject: false).ToArray();
        Assert.AreEqual(testRows.Length, scored.Length);
        double[] direct = new double[FrameCount];
        new TemporalFixedNoiseLogLikelihood(transformer.Model, Options.Samples, Options.Seed).Score(testRows[0].Frames, FrameCount, direct);
        for (int t = 0; t < FrameCount; t++) Assert.AreEqual(direct[t], scored[0].FrameLogLikelihoods[t], 1e-4, $"frame {t}: the column is the core's fixed-noise estimate");
        foreach (Scored row in scored)
        {
            Assert.AreEqual(row.FrameLogLikelihoods.Sum(), row.LogLikelihood, 1e-3, "the sequence's ln p̂ is the sum over its frames");
            // Trained on a pattern that the past determines: after the first frame, every frame is nearly certain.
            Assert.IsTrue(row.FrameLogLikelihoods.Skip(1).Average() > -0.7, $"frames after the first: {row.FrameLogLikelihoods.Skip(1).Average():F3} nats");
            Assert.AreEqual(FrameCount * FrameSize, row.PredictedFrames.Length);
        }

        // A row's values depend on the row alone: the same rows in reverse order, or through two cursors, score the same.
        Scored[] reversed = ml.Data.CreateEnumerable<Scored>(transformer.Transform(ml.Data.LoadFromEnumerable(testRows.Reverse())), false).Reverse().ToArray();
        for (int i = 0; i < scored.Length; i++) Assert.AreEqual(scored[i].LogLikelihood, reversed[i].LogLikelihood, $"row {i} in reverse order");
        IDataView output = transformer.Transform(test);
        var column = output.Schema["LogLikelihood"];
        var values = new List<float>();
        foreach (DataViewRowCursor cursor in output.GetRowCursorSet([column], 2))
            using (cursor)
            {
                var getter = cursor.GetGetter<float>(column);
                float v = 0;
                while (cursor.MoveNext()) { getter(ref v); values.Add(v); }
            }
        CollectionAssert.AreEquivalent(scored.Select(s => s.LogLikelihood).ToArray(), values.ToArray(), "parallel cursors");
    }

    [TestMethod]
    public void BadInputIsRefusedNamingTheColumnAndSavingPredictionsSaysWhatToDoInstead()
    {
        var ml = new MLContext(seed: 1);
        var options = Options;
        options.Epochs = 1;
        options.FrameSize = 7;
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => ml.Transforms.TemporalHelmholtzMachine(options)).Message, "FrameSize is 7");

        options = Options;
        options.Epochs = 1;
        options.FrameSize = 8;
        options.Architecture = "8b-6g";
        options.InputColumnName = "Missing";
        IDataView data = ml.Data.LoadFromEnumerable(MovingDot(20, 1));
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Transforms.TemporalHelmholtzMachine(options).Fit(data)).Message, "'Missing'");

        options.InputColumnName = "Frames";
        options.FrameSize = 8;
        options.Architecture = "8b-6g";
        var odd = ml.Data.LoadFromEnumerable(new[] { new OddSequence() });
        var fit = ml.Transforms.TemporalHelmholtzMachine(options);
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => fit.Fit(odd)).Message, "not a whole number of frames of 8");

        var bad = MovingDot(20, 1);
        bad[3].Frames[5] = 2f;
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => fit.Fit(ml.Data.LoadFromEnumerable(bad))).Message, "only 0 and 1");

        TemporalHelmholtzTransformer transformer = fit.Fit(data);
        using var stream = new MemoryStream();
        var e = Assert.ThrowsExactly<NotSupportedException>(() => ml.Model.Save(transformer, data.Schema, stream));
        StringAssert.Contains(e.Message, "PredictedFramesColumnName = null");
        var shape = fit.GetOutputSchema(Microsoft.ML.Helmholtz.Transforms.SchemaShapes.FromSchema(data.Schema));
        Assert.IsTrue(shape.Any(c => c.Name == "FrameLogLikelihoods") && shape.Any(c => c.Name == "LogLikelihood"));
    }

    private sealed class OddSequence
    {
        [VectorType(FrameCount * FrameSize + 3)] public float[] Frames { get; set; } = new float[FrameCount * FrameSize + 3];
    }
}
