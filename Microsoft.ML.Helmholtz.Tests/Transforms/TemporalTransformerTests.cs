using Microsoft.ML.Data;
using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Learning;
using Microsoft.ML.Helmholtz.Learning.Optimizers;
using Microsoft.ML.Helmholtz.Learning.Rules;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Temporal;
using Microsoft.ML.Helmholtz.Transforms;
using Microsoft.ML.Helmholtz.Numerics;
using Microsoft.ML.Helmholtz.Tests.Support;

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

    /// <summary>The dot moving the other way: <see cref="MovingDot"/>'s sequences with their frames in reverse order.</summary>
    private static Sequence[] Leftward(int count, ulong seed) => MovingDot(count, seed).Select(r =>
    {
        var values = new float[FrameCount * FrameSize];
        for (int t = 0; t < FrameCount; t++) r.Frames.AsSpan((FrameCount - 1 - t) * FrameSize, FrameSize).CopyTo(values.AsSpan(t * FrameSize));
        return new Sequence { Frames = values };
    }).ToArray();

    /// <summary>The machine's file, to compare machines bit for bit.</summary>
    private static byte[] Bytes(TemporalHelmholtzMachine model)
    {
        var stream = new MemoryStream();
        model.Save(stream);
        return stream.ToArray();
    }

    private static byte[] StateBytes(TrainingState state)
    {
        var stream = new MemoryStream();
        state.Save(stream);
        return stream.ToArray();
    }

    private static TemporalHelmholtzOptions Options => new()
    {
        InputColumnName = "Frames", FrameSize = FrameSize, Architecture = "8b-6g", RecurrentUnits = 16, Epochs = 150, BatchSequences = 16,
        LearningRate = 0.01, Seed = 3, Samples = 200, PredictedFramesColumnName = "PredictedFrames",
    };

    [TestMethod]
    public void WithoutAnArchitectureTheFrameMachineIsSoftBernoulliFramesUnderTwoHundredGaussianUnits()
    {
        // The options' promise: a null Architecture gives "{FrameSize}bs-200g". No epoch is trained; the machine is the one made.
        var ml = new MLContext(seed: 1);
        var transformer = ml.Transforms.TemporalHelmholtzMachine(new TemporalHelmholtzOptions { FrameSize = FrameSize, Epochs = 0, Seed = 1 })
            .Fit(ml.Data.LoadFromEnumerable(MovingDot(4, 1)));
        Assert.AreEqual($"{FrameSize}bs-200g", transformer.GetModel().Machine.Architecture.ToString());
    }

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
        Assert.AreEqual(3UL + 2, transformer.Seed, "the scoring noise takes Seed + 2 (the weights Seed, the training Seed + 1)");
        new TemporalFixedNoiseLogLikelihood(transformer.GetModel(), Options.Samples, 3UL + 2).Score(testRows[0].Frames, FrameCount, direct);
        for (int t = 0; t < FrameCount; t++) Assert.AreEqual(direct[t], scored[0].FrameLogLikelihoods[t], 1e-4, $"frame {t}: the column is the core's fixed-noise estimate");
        foreach (Scored row in scored)
        {
            Assert.AreEqual(row.FrameLogLikelihoods.Sum(), row.LogLikelihood, 1e-3, "the sequence's ln p̂ is the sum over its frames");
            // Trained on a pattern that the past determines: after the first frame, every frame is nearly certain. The lowest
            // row's mean over 10 seeds (3, and 101…109; 2026-12-05) was −0.012 with SD 0.012: allowed, the mean − 5 SD.
            Assert.IsTrue(row.FrameLogLikelihoods.Skip(1).Average() > -0.075, $"frames after the first: {row.FrameLogLikelihoods.Skip(1).Average():F3} nats");
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
    public void APredictionEngineScoresEachSequenceAsTransformDoes()
    {
        var ml = new MLContext(seed: 1);
        TemporalHelmholtzTransformer transformer = ml.Transforms.TemporalHelmholtzMachine(Quick(o => o.Epochs = 3)).Fit(ml.Data.LoadFromEnumerable(MovingDot(16, 1)));
        Assert.IsTrue(transformer.IsRowToRowMapper);
        Sequence[] rows = MovingDot(4, 2);
        Scored[] transformed = ml.Data.CreateEnumerable<Scored>(transformer.Transform(ml.Data.LoadFromEnumerable(rows)), reuseRowObject: false).ToArray();
        using var engine = ml.Model.CreatePredictionEngine<Sequence, Scored>(transformer);
        // In another order than Transform's: a row's values depend on the row alone.
        for (int i = rows.Length - 1; i >= 0; i--)
        {
            Scored predicted = engine.Predict(rows[i]);
            Assert.AreEqual(transformed[i].LogLikelihood, predicted.LogLikelihood, $"row {i}");
            CollectionAssert.AreEqual(transformed[i].FrameLogLikelihoods, predicted.FrameLogLikelihoods, $"row {i}'s frames");
            CollectionAssert.AreEqual(transformed[i].PredictedFrames, predicted.PredictedFrames, $"row {i}'s predictions");
        }

        // Through a pipeline whose last transformer it is, and naming a bad value as Prediction's.
        var chain = new TransformerChain<TemporalHelmholtzTransformer>(transformer);
        using var chained = ml.Model.CreatePredictionEngine<Sequence, Scored>(chain);
        Assert.AreEqual(transformed[0].LogLikelihood, chained.Predict(rows[0]).LogLikelihood);
        var bad = new Sequence { Frames = (float[])rows[1].Frames.Clone() };
        bad.Frames[3 * FrameSize + 2] = float.NaN;
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => engine.Predict(bad));
        StringAssert.Contains(e.Message, "Prediction: column 'Frames'");
        StringAssert.Contains(e.Message, "frame 3, slot 2 is NaN");
        Assert.AreEqual(transformed[2].LogLikelihood, engine.Predict(rows[2]).LogLikelihood, "the engine scores on after a refused row");
    }

    [TestMethod]
    public void EachEpochIsOnTheLogBeforeFitReturns()
    {
        var ml = new MLContext(seed: 1);
        var epochs = new List<string>();
        var threads = new List<int>();
        ml.Log += (_, e) =>
        {
            if (!e.Source.StartsWith("TemporalHelmholtzMachine", StringComparison.Ordinal) || !e.RawMessage.StartsWith("epoch ", StringComparison.Ordinal)) return;
            lock (epochs) { epochs.Add(e.RawMessage); threads.Add(Environment.CurrentManagedThreadId); }
        };
        var options = Options;
        options.Epochs = 3;
        ml.Transforms.TemporalHelmholtzMachine(options).Fit(ml.Data.LoadFromEnumerable(MovingDot(32, 4)));
        string[] seen;
        lock (epochs) seen = epochs.ToArray();   // read at once: a message posted elsewhere would come later, or never
        CollectionAssert.AreEqual(new[] { "epoch 1", "epoch 2", "epoch 3" }, seen.Select(m => string.Join(' ', m.Split(' ').Take(2)).TrimEnd(':')).ToArray(), string.Join("\n", seen));
        lock (epochs) Assert.IsTrue(threads.All(t => t == Environment.CurrentManagedThreadId), "logged on the thread that fits, as each epoch ends");
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
        // No sequences: refused naming the argument, rather than training on nothing.
        var empty = Assert.ThrowsExactly<ArgumentException>(() => fit.Fit(ml.Data.LoadFromEnumerable(Array.Empty<Sequence>())));
        Assert.AreEqual("input", empty.ParamName);
        StringAssert.Contains(empty.Message, "The input column 'Frames' has no rows: at least one sequence is needed to train.");

        var bad = MovingDot(20, 1);
        bad[3].Frames[5] = 2f;
        StringAssert.Contains(Assert.ThrowsExactly<InvalidOperationException>(() => fit.Fit(ml.Data.LoadFromEnumerable(bad))).Message, "row 3, frame 0, slot 5 is 2: a Bernoulli visible layer models only 0 and 1");

        TemporalHelmholtzTransformer transformer = fit.Fit(data);
        using var stream = new MemoryStream();
        var e = Assert.ThrowsExactly<NotSupportedException>(() => ml.Model.Save(transformer, data.Schema, stream));
        StringAssert.Contains(e.Message, "TemporalHelmholtzTransformer.Create(transformer.GetModel(), options, transformer.Frames) with options whose PredictedFramesColumnName is null");
        // The advice as given: the same model without the predictions saves, and loads to the same log-likelihoods.
        options.PredictedFramesColumnName = null;
        var saveable = TemporalHelmholtzTransformer.Create(transformer.GetModel(), options, transformer.Frames);
        using var saved = new MemoryStream();
        ml.Model.Save(saveable, data.Schema, saved);
        saved.Position = 0;
        ITransformer loaded = SavedPipelines.Load(new MLContext(seed: 1), saved, out _);
        float[] fitted = LogLikelihoods(ml, transformer.Transform(data)), again = loaded.Transform(data).GetColumn<float>("LogLikelihood").ToArray();
        for (int i = 0; i < fitted.Length; i++) Assert.AreEqual(fitted[i], again[i], 1e-3f * (1 + Math.Abs(fitted[i])), $"sequence {i}");
        var shape = fit.GetOutputSchema(Microsoft.ML.Helmholtz.Transforms.SchemaShapes.FromSchema(data.Schema));
        Assert.IsTrue(shape.Any(c => c.Name == "FrameLogLikelihoods") && shape.Any(c => c.Name == "LogLikelihood"));
    }

    /// <summary>The test options, for one quick epoch.</summary>
    private static (MLContext, TemporalHelmholtzTransformer) FittedWithSamples(int samples)
    {
        var ml = new MLContext(seed: 1);
        return (ml, ml.Transforms.TemporalHelmholtzMachine(Quick(o => { o.Samples = samples; o.RecurrentUnits = 16; }))
            .Fit(ml.Data.LoadFromEnumerable(MovingDot(16, 1))));
    }

    /// <summary>An engine shared by two threads is named as the docs' threads table quotes it, for the temporal transformer as for the frame one.</summary>
    [TestMethod]
    public void APredictionEngineSharedByThreadsIsNamedAsTheEngine()
    {
        var (ml, transformer) = FittedWithSamples(2000);
        var engine = ml.Model.CreatePredictionEngine<Sequence, Scored>(transformer);
        Sequence[] rows = MovingDot(8, 2);
        SharedEngineRace.AssertNamedAsTheEngine(SharedEngineRace.Failures((t, i) => engine.Predict(rows[(2 * i + t) % rows.Length])));
    }

    /// <summary>One cursor read by two threads is named as the cursor, as for the frame transformer.</summary>
    [TestMethod]
    public void ACursorSharedByThreadsIsNamedAsTheCursor()
    {
        var (ml, transformer) = FittedWithSamples(2000);
        SharedEngineRace.AssertNamedAsTheCursor(SharedEngineRace.CursorFailures(transformer.Transform(ml.Data.LoadFromEnumerable(MovingDot(400, 2))), "LogLikelihood"));
    }

    /// <summary>
    /// A getter called while the cursor is not on a row (before the first MoveNext, after the last) is refused, as the frame
    /// transformer's is: it gave 0, or after a read the last row's value, since −1 meant both "no row" and "nothing computed".
    /// </summary>
    [TestMethod]
    public void AGetterOffARowIsRefused()
    {
        var (ml, transformer) = FittedWithSamples(5);
        IDataView scored = transformer.Transform(ml.Data.LoadFromEnumerable(MovingDot(2, 3)));
        using DataViewRowCursor cursor = scored.GetRowCursor(scored.Schema);
        var logLikelihood = cursor.GetGetter<float>(scored.Schema["LogLikelihood"]);
        float value = 0;
        StringAssert.Contains(Assert.ThrowsExactly<InvalidOperationException>(() => logLikelihood(ref value)).Message, "not on a row", "before the first row");
        while (cursor.MoveNext()) logLikelihood(ref value);
        Assert.IsLessThan(0f, value);
        StringAssert.Contains(Assert.ThrowsExactly<InvalidOperationException>(() => logLikelihood(ref value)).Message, "not on a row", "after the last row");
    }

    /// <summary>What the guards must not refuse: a cursor set read on four threads, and one cursor or engine handed between threads in turn.</summary>
    [TestMethod]
    public void CursorSetsAndACursorHandedBetweenThreadsAreNotRefused()
    {
        var (ml, transformer) = FittedWithSamples(50);
        IDataView output = transformer.Transform(ml.Data.LoadFromEnumerable(MovingDot(40, 2)));
        var column = output.Schema["LogLikelihood"];
        var values = new System.Collections.Concurrent.ConcurrentBag<float>();
        DataViewRowCursor[] set = output.GetRowCursorSet([column], 4);
        Parallel.ForEach(set, new ParallelOptions { MaxDegreeOfParallelism = 4 }, cursor =>
        {
            using (cursor)
            {
                var getter = cursor.GetGetter<float>(column);
                float v = 0;
                while (cursor.MoveNext()) { getter(ref v); values.Add(v); }
            }
        });
        Assert.HasCount(40, values);

        using DataViewRowCursor one = output.GetRowCursor([column]);
        var g = one.GetGetter<float>(column);
        for (int i = 0; i < 40; i++)
            Task.Run(() => { Assert.IsTrue(one.MoveNext()); float v = 0; g(ref v); g(ref v); }).Wait();
        var engine = ml.Model.CreatePredictionEngine<Sequence, Scored>(transformer);
        foreach (Sequence row in MovingDot(4, 3)) Task.Run(() => engine.Predict(row)).Wait();
    }

    /// <summary>Sequences whose values cannot be read: a Fit that reads a row fails on it.</summary>
    private sealed class UnreadableSequence
    {
        [VectorType(FrameCount * FrameSize)] public float[] Frames { get => throw new InvalidOperationException("a row was read"); set { } }
    }

    /// <summary>
    /// Training samples too many for the step's buffers are refused before a row is read when the data gives its row count, naming
    /// the estimator's options (they were refused after the data was read, naming TemporalTrainingOptions' and not TrainingSamples);
    /// recurrent units too many for a parameter are refused when the estimator is made, naming the option (Fit allocated the frame
    /// machine, then named the LSTM's parameter).
    /// </summary>
    [TestMethod]
    public void TrainingSamplesAndRecurrentUnitsTooManyAreRefusedBeforeTheWorkNamingTheOption()
    {
        var ml = new MLContext(1);
        var estimator = ml.Transforms.TemporalHelmholtzMachine(Quick(o => { o.LearningRule = HelmholtzLearningRule.ImportanceWeighted; o.TrainingSamples = 100_000_000; }));
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => estimator.Fit(ml.Data.LoadFromEnumerable(new UnreadableSequence[40])));
        StringAssert.Contains(e.Message, "TemporalHelmholtzOptions.BatchSequences = 8, TruncationSteps = 0 (segments of 12 frames) and TrainingSamples = 100000000");
        StringAssert.Contains(e.Message, "fewer TrainingSamples");
        // Data of unknown length: refused once read, naming the same options and the sequences it holds.
        IDataView unknown = ml.Data.FilterRowsByMissingValues(ml.Data.LoadFromEnumerable(MovingDot(6, 1)), "Frames");
        Assert.IsNull(unknown.GetRowCount());
        e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => estimator.Fit(unknown));
        StringAssert.Contains(e.Message, "TemporalHelmholtzOptions.BatchSequences = 8 (6 sequences in the data), TruncationSteps = 0");

        var units = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Transforms.TemporalHelmholtzMachine(Quick(o => o.RecurrentUnits = 20_000)));
        StringAssert.Contains(units.Message, "TemporalHelmholtzOptions.RecurrentUnits: the parameter temporal.lstm.Wh would hold 1,600,000,000 values");
    }

    private static TemporalHelmholtzOptions Quick(Action<TemporalHelmholtzOptions>? change = null)
    {
        var o = Options;
        o.Epochs = 1;
        o.BatchSequences = 8;
        o.Samples = 20;
        o.PredictionSamples = 2;
        change?.Invoke(o);
        return o;
    }

    private static float[] LogLikelihoods(MLContext ml, IDataView scored)
        => ml.Data.CreateEnumerable<Scored>(scored, reuseRowObject: false).Select(r => r.LogLikelihood).ToArray();

    /// <summary>
    /// The estimator made with its public constructor is the catalog's: it logs to the MLContext and takes its seed from it
    /// (the same scores as the catalog's estimator on an MLContext of the same seed), and a null context is named.
    /// </summary>
    [TestMethod]
    public void ThePublicConstructorMakesTheCatalogsEstimator()
    {
        float[] Scores(Func<MLContext, TemporalHelmholtzEstimator> make, out int messages)
        {
            var ml = new MLContext(seed: 3);
            int logged = 0;
            ml.Log += (_, e) => { if (e.Source.StartsWith("TemporalHelmholtzMachine", StringComparison.Ordinal)) Interlocked.Increment(ref logged); };
            IDataView data = ml.Data.LoadFromEnumerable(MovingDot(16, 1));
            float[] scores = LogLikelihoods(ml, make(ml).Fit(data).Transform(data));
            messages = logged;
            return scores;
        }
        float[] catalog = Scores(ml => ml.Transforms.TemporalHelmholtzMachine(Quick(o => o.Seed = null)), out int catalogMessages);
        float[] constructed = Scores(ml => new TemporalHelmholtzEstimator(ml, Quick(o => o.Seed = null)), out int constructedMessages);
        CollectionAssert.AreEqual(catalog, constructed);
        Assert.IsGreaterThan(0, constructedMessages);
        Assert.AreEqual(catalogMessages, constructedMessages);
        Assert.AreEqual("mlContext", Assert.ThrowsExactly<ArgumentNullException>(() => new TemporalHelmholtzEstimator(null!, Quick())).ParamName);
        Assert.AreEqual("mlContext", Assert.ThrowsExactly<ArgumentNullException>(() => new HelmholtzMachineEstimator(null!, new HelmholtzMachineOptions())).ParamName);
    }

    [TestMethod]
    public void OptionsAreCopiesThatTheEstimatorAndTransformerKeepAndCreateChecks()
    {
        var ml = new MLContext(seed: 1);
        IDataView data = ml.Data.LoadFromEnumerable(MovingDot(16, 1));
        var given = Quick();
        var estimator = ml.Transforms.TemporalHelmholtzMachine(given);
        given.FrameSize = 0;
        estimator.Options.FrameSize = 0;   // a copy: the estimator's own stays as checked
        estimator.Options.LogLikelihoodColumnName = null;
        Assert.AreEqual(FrameSize, estimator.Options.FrameSize);
        Assert.AreEqual("LogLikelihood", estimator.Options.LogLikelihoodColumnName);
        // The copies go down to the rules' own options, which the rule is built from when the estimator fits.
        given.Reinforce.BaselineDecay = 2;
        given.Nvil.BaselineDecay = 2;
        estimator.Options.Reinforce.VarianceDecay = 3;
        estimator.Options.Nvil.VarianceDecay = 3;
        Assert.AreEqual((0.9, 0.9), (estimator.Options.Reinforce.BaselineDecay, estimator.Options.Reinforce.VarianceDecay), "REINFORCE's options as given");
        Assert.AreEqual((0.9, 0.9), (estimator.Options.Nvil.BaselineDecay, estimator.Options.Nvil.VarianceDecay), "NVIL's options as given");
        TemporalHelmholtzTransformer transformer = estimator.Fit(data);

        float[] before = LogLikelihoods(ml, transformer.Transform(data));
        transformer.Options.Samples = 1;
        transformer.Options.LogLikelihoodColumnName = "Other";
        transformer.Options.FrameSize = 4;
        Assert.AreEqual(20, transformer.Options.Samples);
        IDataView after = transformer.Transform(data);
        Assert.IsNull(after.Schema.GetColumnOrNull("Other"));
        CollectionAssert.AreEqual(before, LogLikelihoods(ml, after), "the transformer scores as fitted");

        // Create checks the options it scores with, as the estimator does, and keeps a copy of them.
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => TemporalHelmholtzTransformer.Create(transformer.GetModel(), Quick(o => o.Samples = 0), FrameCount));
        StringAssert.Contains(e.Message, "TemporalHelmholtzOptions.Samples:");
        var duplicate = Assert.ThrowsExactly<ArgumentException>(() =>
            TemporalHelmholtzTransformer.Create(transformer.GetModel(), Quick(o => o.FrameLogLikelihoodColumnName = "LogLikelihood"), FrameCount));
        StringAssert.Contains(duplicate.Message, "TemporalHelmholtzOptions.FrameLogLikelihoodColumnName: 'LogLikelihood' is also TemporalHelmholtzOptions.LogLikelihoodColumnName");
        // Frames whose values no vector holds: they once wrapped to a 20-value column that passed the schema check.
        var frames = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => TemporalHelmholtzTransformer.Create(transformer.GetModel(), Quick(), (1 << 30) + 5));
        Assert.AreEqual("frames", frames.ParamName);
        StringAssert.Contains(frames.Message, "more than one array holds");
        var createdWith = Quick();
        var created = TemporalHelmholtzTransformer.Create(transformer.GetModel(), createdWith, FrameCount);
        createdWith.Samples = 1;
        Assert.AreEqual(20, created.Options.Samples);
        CollectionAssert.AreEqual(before, LogLikelihoods(ml, created.Transform(data)), "the same model and options score the same");
        // The options kept describe the model (they kept the ones given, 100 recurrent units for a model of another count), and an
        // architecture that is not the model's is refused.
        TemporalHelmholtzMachine model = transformer.GetModel();
        var described = TemporalHelmholtzTransformer.Create(model, Quick(o => { o.Architecture = null; o.RecurrentUnits = model.RecurrentUnits + 77; }), FrameCount).Options;
        Assert.AreEqual((model.Machine.Architecture.ToString(), model.RecurrentUnits), (described.Architecture, described.RecurrentUnits));
        var other = Assert.ThrowsExactly<ArgumentException>(() => TemporalHelmholtzTransformer.Create(model, Quick(o => o.Architecture = $"{FrameSize}b-100g"), FrameCount));
        StringAssert.Contains(other.Message, $"TemporalHelmholtzOptions.Architecture is '{FrameSize}b-100g', but the model's frame machine is {model.Machine.Architecture}");
    }

    /// <summary>A view of <paramref name="data"/>'s schema whose rows cannot be read: it counts the cursors asked for and refuses each.</summary>
    private sealed class UnreadableView(IDataView data) : IDataView
    {
        public int Cursors;
        public bool CanShuffle => data.CanShuffle;
        public DataViewSchema Schema => data.Schema;
        public long? GetRowCount() => data.GetRowCount();

        public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
        {
            Interlocked.Increment(ref Cursors);
            throw new InvalidOperationException("a row was asked for");
        }

        public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null)
        {
            Interlocked.Increment(ref Cursors);
            throw new InvalidOperationException("a row was asked for");
        }
    }

    /// <summary>
    /// Scoring samples whose buffers no array can hold are refused before a row is read (the options alone decide it) and so before
    /// the first epoch (the machine would be lost), and by Create.
    /// </summary>
    [TestMethod]
    public void ScoringSamplesThatCannotFitAreRefusedBeforeTheDataIsRead()
    {
        var ml = new MLContext(seed: 1);
        int epochs = 0;
        ml.Log += (_, e) => { if (e.Source.StartsWith("TemporalHelmholtzMachine", StringComparison.Ordinal) && e.RawMessage.StartsWith("epoch ", StringComparison.Ordinal)) Interlocked.Increment(ref epochs); };
        IDataView data = ml.Data.LoadFromEnumerable(MovingDot(16, 1));
        var unreadable = new UnreadableView(data);
        (Action<TemporalHelmholtzOptions> Change, string Message)[] cases =
        [
            (o => o.Samples = 50_000_000, "TemporalHelmholtzOptions.Samples: K = 50000000 samples of 6 noise values each"),   // the fixed noise: 3·10⁸ values
            (o => o.Samples = 20_000_000, "TemporalHelmholtzOptions.Samples: K = 20000000 samples a frame, scored 16 frames at a time"),   // 3.2·10⁸ rows a chunk
            (o => o.PredictionSamples = int.MaxValue / 2, "TemporalHelmholtzOptions.PredictionSamples: K = 1073741823 draws a frame"),
        ];
        foreach (var (change, message) in cases)
        {
            var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Transforms.TemporalHelmholtzMachine(Quick(change)).Fit(unreadable), message);
            StringAssert.Contains(e.Message, message);
            Assert.AreEqual(0, unreadable.Cursors, $"{message}: no row was read");
            Assert.AreEqual(0, epochs, $"{message}: no epoch was trained");
        }
        // Without the predicted frames, their draws are not used.
        Assert.IsNotNull(ml.Transforms.TemporalHelmholtzMachine(Quick(o => { o.PredictionSamples = int.MaxValue / 2; o.PredictedFramesColumnName = null; })).Fit(data));
        var model = ml.Transforms.TemporalHelmholtzMachine(Quick()).Fit(data).GetModel();
        foreach (var (change, message) in cases)
            StringAssert.Contains(Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => TemporalHelmholtzTransformer.Create(model, Quick(change), FrameCount)).Message, message);
        Assert.AreEqual("samples", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new TemporalFixedNoiseLogLikelihood(model, 20_000_000)).ParamName);
    }

    [TestMethod]
    public void TheSeedIsSplitByUseAndANullSeedComesFromTheMLContext()
    {
        IDataView data = new MLContext(seed: 1).Data.LoadFromEnumerable(MovingDot(16, 1));
        Sequence[] rows = MovingDot(2, 2);

        // No epochs: the transformer scores the machine as made. Its weights come from Seed, its noise from Seed + 2. Before, all
        // three uses shared one stream, so the scoring noise was the draws that made the first weight matrix.
        TemporalHelmholtzOptions untrained = Quick(o => { o.Epochs = 0; o.Seed = 11; });
        var ml = new MLContext(seed: 1);
        TemporalHelmholtzTransformer transformer = ml.Transforms.TemporalHelmholtzMachine(untrained).Fit(data);
        Assert.AreEqual(13UL, transformer.Seed);
        var made = TemporalHelmholtzMachine.Create(TemporalHelmholtzEstimator.Architecture(untrained), untrained.RecurrentUnits, 11);
        CollectionAssert.AreEqual(Bytes(made), Bytes(transformer.GetModel()), "the weights come from Seed itself");
        Scored scored = ml.Data.CreateEnumerable<Scored>(transformer.Transform(ml.Data.LoadFromEnumerable(rows)), reuseRowObject: false).First();
        double[] withItsNoise = new double[FrameCount], withTheWeightsStream = new double[FrameCount];
        new TemporalFixedNoiseLogLikelihood(made, untrained.Samples, 13).Score(rows[0].Frames, FrameCount, withItsNoise);
        new TemporalFixedNoiseLogLikelihood(made, untrained.Samples, 11).Score(rows[0].Frames, FrameCount, withTheWeightsStream);
        for (int t = 0; t < FrameCount; t++) Assert.AreEqual(withItsNoise[t], scored.FrameLogLikelihoods[t], 1e-4, $"frame {t}: scored with the noise of Seed + 2");
        Assert.IsTrue(Enumerable.Range(0, FrameCount).Any(t => Math.Abs(withTheWeightsStream[t] - scored.FrameLogLikelihoods[t]) > 1e-3),
            "not with the stream that made the weights");

        Assert.AreEqual("inputSchema", Assert.ThrowsExactly<ArgumentNullException>(() => transformer.GetOutputSchema(null!)).ParamName);

        // GetModel gives a copy: changing it changes nothing the transformer computes.
        TemporalHelmholtzMachine copy = transformer.GetModel();
        foreach (var p in copy.Parameters) Array.Clear(p.Value);
        CollectionAssert.AreEqual(Bytes(made), Bytes(transformer.GetModel()));

        // A null seed is drawn from the MLContext's random source, as the frame machine's is: the same context seed gives the same machine.
        TemporalHelmholtzOptions unseeded = Quick(o => { o.Epochs = 0; o.Seed = null; o.PredictedFramesColumnName = null; });
        byte[] Fitted(int contextSeed) => Bytes(new MLContext(seed: contextSeed).Transforms.TemporalHelmholtzMachine(unseeded).Fit(data).GetModel());
        CollectionAssert.AreEqual(Fitted(5), Fitted(5));
        CollectionAssert.AreNotEqual(Fitted(5), Fitted(6));
        // The drawn seed is kept in the transformer's options, so they remake it: the same noise through Create.
        TemporalHelmholtzTransformer drawn = new MLContext(seed: 5).Transforms.TemporalHelmholtzMachine(unseeded).Fit(data);
        Assert.AreEqual(drawn.Seed, (ulong)drawn.Options.Seed!.Value + 2);
        Assert.AreEqual(drawn.Seed, TemporalHelmholtzTransformer.Create(drawn.GetModel(), drawn.Options, FrameCount).Seed);
        // Create has no context: a null seed is 0, so its noise is 2.
        Assert.AreEqual(2UL, TemporalHelmholtzTransformer.Create(made, unseeded, FrameCount).Seed);
    }

    [TestMethod]
    public void FitReportsEachEpochStopsAtItsTimeLimitAndIsCancelled()
    {
        var ml = new MLContext(seed: 1);
        IDataView data = ml.Data.LoadFromEnumerable(MovingDot(16, 1));
        var reports = new List<TemporalEpochReport>();
        TemporalHelmholtzOptions Reporting(Action<TemporalHelmholtzOptions>? change = null) => Quick(o =>
        {
            o.Epochs = 4;
            o.Progress = new SynchronousProgress<TemporalEpochReport>(reports.Add);
            change?.Invoke(o);
        });
        ml.Transforms.TemporalHelmholtzMachine(Reporting()).Fit(data);
        CollectionAssert.AreEqual(new[] { 1, 2, 3, 4 }, reports.Select(r => r.Epoch).ToArray());
        Assert.IsTrue(reports.All(r => double.IsFinite(r.TrainObjective)));

        reports.Clear();
        ml.Transforms.TemporalHelmholtzMachine(Reporting(o => o.TimeLimit = TimeSpan.FromTicks(1))).Fit(data);
        Assert.HasCount(1, reports, "the time limit stops the fit at the end of the epoch that passed it");

        using var cancellation = new CancellationTokenSource();
        reports.Clear();
        var cancelled = Reporting(o =>
        {
            o.CancellationToken = cancellation.Token;
            o.Progress = new SynchronousProgress<TemporalEpochReport>(r => { reports.Add(r); if (r.Epoch == 2) cancellation.Cancel(); });
        });
        Assert.ThrowsExactly<OperationCanceledException>(() => ml.Transforms.TemporalHelmholtzMachine(cancelled).Fit(data));
        Assert.HasCount(2, reports, "cancelled during epoch 3, which is not reported");
        Assert.ThrowsExactly<OperationCanceledException>(() => ml.Transforms.TemporalHelmholtzMachine(cancelled).Fit(data), "cancelled before: while the data is read");
        // Before each row's values are read: a bad value in the first sequence is never reached (the trainer's own check would come after it).
        Sequence[] bad = MovingDot(16, 1);
        bad[0].Frames[5] = 2f;
        Assert.ThrowsExactly<OperationCanceledException>(() => ml.Transforms.TemporalHelmholtzMachine(cancelled).Fit(ml.Data.LoadFromEnumerable(bad)),
            "cancelled before the first row is read");

        StringAssert.Contains(Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Transforms.TemporalHelmholtzMachine(Quick(o => o.TimeLimit = TimeSpan.Zero))).Message,
            "TemporalHelmholtzOptions.TimeLimit: must be positive");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Transforms.TemporalHelmholtzMachine(Quick(o => o.DivergenceFactor = double.NaN))).Message,
            "TemporalHelmholtzOptions.DivergenceFactor: must be positive");
    }

    [TestMethod]
    public void OutputColumnNamesAreCheckedWhenTheEstimatorIsMade()
    {
        var ml = new MLContext(seed: 1);
        (Action<TemporalHelmholtzOptions> Change, string Message)[] cases =
        [
            (o => { o.LogLikelihoodColumnName = null; o.FrameLogLikelihoodColumnName = null; o.PredictedFramesColumnName = null; },
                "TemporalHelmholtzOptions.LogLikelihoodColumnName: every output column is null"),
            (o => o.FrameLogLikelihoodColumnName = "", "TemporalHelmholtzOptions.FrameLogLikelihoodColumnName: the column name is empty"),
            (o => o.PredictedFramesColumnName = "  ", "TemporalHelmholtzOptions.PredictedFramesColumnName: the column name is empty"),
            (o => o.FrameLogLikelihoodColumnName = "LogLikelihood",
                "TemporalHelmholtzOptions.FrameLogLikelihoodColumnName: 'LogLikelihood' is also TemporalHelmholtzOptions.LogLikelihoodColumnName"),
            (o => o.LogLikelihoodColumnName = "Frames", "TemporalHelmholtzOptions.LogLikelihoodColumnName: 'Frames' is the input column's name"),
            (o => o.InputColumnName = " ", "TemporalHelmholtzOptions.InputColumnName:"),
        ];
        foreach (var (change, message) in cases)
        {
            var e = Assert.ThrowsExactly<ArgumentException>(() => ml.Transforms.TemporalHelmholtzMachine(Quick(change)), message);
            StringAssert.Contains(e.Message, message);
        }
    }

    [TestMethod]
    public void LearningRuleAndArchitectureErrorsNameTheOption()
    {
        var ml = new MLContext(seed: 1);
        (Action<TemporalHelmholtzOptions> Change, string Message)[] cases =
        [
            (o => o.Architecture = "8b--6g", "TemporalHelmholtzOptions.Architecture: Architecture '8b--6g': layer 1 is empty"),
            (o => o.Architecture = "8b-6b", "TemporalHelmholtzOptions.Architecture: '8b-6b' does not suit the learning rule StochasticBackpropagation"),
            (o => o.LearningRule = (HelmholtzLearningRule)99, "TemporalHelmholtzOptions.LearningRule: unknown rule 99"),
        ];
        foreach (var (change, message) in cases)
        {
            var e = Assert.ThrowsExactly<ArgumentException>(() => ml.Transforms.TemporalHelmholtzMachine(Quick(change)), message);
            StringAssert.Contains(e.Message, message);
        }
        var k = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Transforms.TemporalHelmholtzMachine(Quick(o => { o.LearningRule = HelmholtzLearningRule.Vimco; o.TrainingSamples = 1; })));
        StringAssert.Contains(k.Message, "TemporalHelmholtzOptions.TrainingSamples: K must be at least 2 for Vimco");
    }

    [TestMethod]
    public void TheOptimiserOptionsTrainAsTheCoreTrainerWithTheSameSettings()
    {
        Sequence[] rows = MovingDot(16, 1);
        IDataView data = new MLContext(seed: 1).Data.LoadFromEnumerable(rows);
        var sequences = new SequenceSet(rows.Length, FrameCount, 1, FrameSize, rows.SelectMany(r => r.Frames).ToArray());
        byte[] Core(TemporalTrainingOptions options)
        {
            var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("8b-6g"), 16, 7);
            new TemporalTrainer(new StochasticBackpropagation(), options).Train(model, sequences);
            return Bytes(model);
        }
        var reports = new List<TemporalEpochReport>();
        byte[] Fitted(Action<TemporalHelmholtzOptions> change) => Bytes(new MLContext(seed: 1).Transforms.TemporalHelmholtzMachine(Quick(o =>
        {
            o.Epochs = 3;
            o.Seed = 7;
            o.Progress = new SynchronousProgress<TemporalEpochReport>(reports.Add);
            change(o);
        })).Fit(data).GetModel());

        // Adam with a decaying rate, a floor, β₂ and weight decay: the core trainer given the same schedule and optimiser (seed + 1 trains).
        byte[] adam = Fitted(o => { o.LearningRate = 0.01; o.LearningRateDecay = 0.5; o.MinimumLearningRate = 0.004; o.AdamBeta2 = 0.99; o.WeightDecay = 0.5; });
        CollectionAssert.AreEqual(new[] { 0.01f, 0.005f, 0.004f }, reports.Select(r => (float)r.LearningRate).ToArray(), "each epoch's rate, reported");
        CollectionAssert.AreEqual(Core(new TemporalTrainingOptions
        {
            Epochs = 3, BatchSequences = 8, Seed = 8, LearningRate = new(0.01, 0.5, 0.004), Optimizer = () => new Adam(beta2: 0.99f, weightDecay: 0.5f),
        }), adam);
        CollectionAssert.AreNotEqual(Fitted(o => { o.LearningRate = 0.01; o.LearningRateDecay = 0.5; o.MinimumLearningRate = 0.004; o.AdamBeta2 = 0.99; }), adam,
            "the weight decay is used");
        CollectionAssert.AreNotEqual(Fitted(o => { o.LearningRate = 0.01; o.LearningRateDecay = 0.5; o.MinimumLearningRate = 0.004; o.WeightDecay = 0.5; }), adam,
            "β₂ is used");

        // SGD with momentum.
        byte[] sgd = Fitted(o => { o.Optimizer = HelmholtzOptimizer.SgdMomentum; o.Momentum = 0.5; o.LearningRate = 0.01; });
        CollectionAssert.AreEqual(Core(new TemporalTrainingOptions
        {
            Epochs = 3, BatchSequences = 8, Seed = 8, LearningRate = new(0.01), Optimizer = () => new SgdMomentum(0.5f),
        }), sgd);
        // SGD without a momentum given: the documented 0.9.
        CollectionAssert.AreEqual(Core(new TemporalTrainingOptions
        {
            Epochs = 3, BatchSequences = 8, Seed = 8, LearningRate = new(0.01), Optimizer = () => new SgdMomentum(0.9f),
        }), Fitted(o => { o.Optimizer = HelmholtzOptimizer.SgdMomentum; o.LearningRate = 0.01; }), "the default momentum");
    }

    [TestMethod]
    public void TheRulesOptionsReachTheRuleAndAreCopies()
    {
        Sequence[] rows = MovingDot(16, 1);
        IDataView data = new MLContext(seed: 1).Data.LoadFromEnumerable(rows);
        var sequences = new SequenceSet(rows.Length, FrameCount, 1, FrameSize, rows.SelectMany(r => r.Frames).ToArray());
        TemporalHelmholtzOptions Binary(HelmholtzLearningRule rule, Action<TemporalHelmholtzOptions> change) => Quick(o =>
        {
            o.Architecture = "8b-6b";
            o.LearningRule = rule;
            o.Epochs = 2;
            o.Seed = 7;
            change(o);
        });
        byte[] Fitted(TemporalHelmholtzOptions options) => Bytes(new MLContext(seed: 1).Transforms.TemporalHelmholtzMachine(options).Fit(data).GetModel());
        byte[] Core(ILearningRule rule)
        {
            var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("8b-6b"), 16, 7);
            new TemporalTrainer(rule, new TemporalTrainingOptions { Epochs = 2, BatchSequences = 8, Seed = 8, LearningRate = new(0.01) }).Train(model, sequences);
            return Bytes(model);
        }

        byte[] plainNvil = Fitted(Binary(HelmholtzLearningRule.Nvil, o => o.Nvil = NvilOptions.Plain));
        CollectionAssert.AreEqual(Core(new Nvil(NvilOptions.Plain)), plainNvil, "NVIL with the options given");
        CollectionAssert.AreNotEqual(Fitted(Binary(HelmholtzLearningRule.Nvil, _ => { })), plainNvil, "the default NVIL takes other steps");
        byte[] plainReinforce = Fitted(Binary(HelmholtzLearningRule.Reinforce, o => o.Reinforce = ReinforceOptions.Plain));
        CollectionAssert.AreEqual(Core(new Reinforce(ReinforceOptions.Plain)), plainReinforce, "REINFORCE with the options given");
        CollectionAssert.AreNotEqual(Fitted(Binary(HelmholtzLearningRule.Reinforce, _ => { })), plainReinforce, "the default REINFORCE takes other steps");

        // Copies: what the caller does to its object after the estimator is made changes nothing.
        var given = NvilOptions.Plain;
        var estimator = new MLContext(seed: 1).Transforms.TemporalHelmholtzMachine(Binary(HelmholtzLearningRule.Nvil, o => o.Nvil = given));
        given.VarianceDecay = 2;
        given.NormalizeVariance = true;
        estimator.Options.Nvil.LocalSignals = true;
        CollectionAssert.AreEqual(plainNvil, Bytes(estimator.Fit(data).GetModel()));

        var missing = Assert.ThrowsExactly<ArgumentException>(() => new MLContext(seed: 1).Transforms.TemporalHelmholtzMachine(Binary(HelmholtzLearningRule.Nvil, o => o.Nvil = null!)));
        StringAssert.Contains(missing.Message, "TemporalHelmholtzOptions.Nvil: must be set");
        var bad = Assert.ThrowsExactly<ArgumentException>(() =>
            new MLContext(seed: 1).Transforms.TemporalHelmholtzMachine(Binary(HelmholtzLearningRule.Reinforce, o => o.Reinforce = new ReinforceOptions { VarianceDecay = 2 })));
        StringAssert.Contains(bad.Message, "TemporalHelmholtzOptions.Reinforce:");
    }

    [TestMethod]
    public void WithValidationDataTheTransformerHoldsTheMachineOfTheBestEpoch()
    {
        Sequence[] rows = MovingDot(16, 1);
        // Validation sequences whose dot moves the other way: what the LSTM learns from the training sequences fits them less and less.
        Sequence[] leftward = Leftward(8, 2);
        var ml = new MLContext(seed: 1);
        IDataView data = ml.Data.LoadFromEnumerable(rows), validation = ml.Data.LoadFromEnumerable(leftward);
        var reports = new List<TemporalEpochReport>();
        const int epochs = 12, k = 10;
        TemporalHelmholtzTransformer transformer = ml.Transforms.TemporalHelmholtzMachine(Quick(o =>
        {
            o.Epochs = epochs;
            o.Seed = 7;
            o.LearningRate = 0.03;
            o.ValidationData = validation;
            o.ValidationSamples = k;
            o.Progress = new SynchronousProgress<TemporalEpochReport>(reports.Add);
        })).Fit(data);
        Assert.HasCount(epochs, reports);
        double[] estimates = reports.Select(r => r.ValidationLogLikelihood!.Value).ToArray();
        Assert.IsTrue(estimates.All(double.IsFinite));
        int best = Array.IndexOf(estimates, estimates.Max()) + 1;
        Assert.IsTrue(best < epochs, $"the best epoch, {best}, is not the last here: estimates {string.Join(", ", estimates.Select(e => e.ToString("F3")))}");

        // The machine kept is the core trainer's after the best epoch's number of epochs, and the estimate reported for it is its own.
        var sequences = new SequenceSet(rows.Length, FrameCount, 1, FrameSize, rows.SelectMany(r => r.Frames).ToArray());
        var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("8b-6g"), 16, 7);
        new TemporalTrainer(new StochasticBackpropagation(), new TemporalTrainingOptions { Epochs = best, BatchSequences = 8, Seed = 8, LearningRate = new(0.03) })
            .Train(model, sequences);
        CollectionAssert.AreEqual(Bytes(model), Bytes(transformer.GetModel()), $"the machine of epoch {best}");
        var scorer = new TemporalFixedNoiseLogLikelihood(model, k, 11);   // the fit's seed + 4
        double total = 0;
        var perFrame = new double[FrameCount];
        foreach (Sequence r in leftward)
        {
            scorer.Score(r.Frames, FrameCount, perFrame);
            total += perFrame.Sum();
        }
        Assert.AreEqual(estimates[best - 1], total / (leftward.Length * FrameCount), 1e-9, "the estimate reported for that epoch");

        // Refusals, named, before any row is read.
        (Action<TemporalHelmholtzOptions> Change, string Message)[] refused =
        [
            (o => o.ValidationSamples = 5, "TemporalHelmholtzOptions.ValidationSamples: estimates ln p of the validation data, and ValidationData is null"),
            (o => o.ValidationData = validation, "TemporalHelmholtzOptions.ValidationData: is read only to estimate ln p after each epoch"),
        ];
        foreach (var (change, message) in refused)
            StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => ml.Transforms.TemporalHelmholtzMachine(Quick(change)), message).Message, message);
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Transforms.TemporalHelmholtzMachine(Quick(o => o.ValidationSamples = -1))).Message,
            "TemporalHelmholtzOptions.ValidationSamples: must be 0 or more");
        IDataView shorter = ml.Data.LoadFromEnumerable(new[] { new ShortSequence() });
        var wrongSize = Assert.ThrowsExactly<ArgumentException>(() =>
            ml.Transforms.TemporalHelmholtzMachine(Quick(o => { o.ValidationData = shorter; o.ValidationSamples = 5; })).Fit(data));
        StringAssert.Contains(wrongSize.Message,
            "TemporalHelmholtzOptions.ValidationData: column 'Frames' holds sequences of 16 values (2 frames of 8), but the training data's hold 96 (12 frames)");
        IDataView none = ml.Data.LoadFromEnumerable(Array.Empty<Sequence>());
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() =>
            ml.Transforms.TemporalHelmholtzMachine(Quick(o => { o.ValidationData = none; o.ValidationSamples = 5; })).Fit(data)).Message,
            "TemporalHelmholtzOptions.ValidationData: column 'Frames' has no rows");
    }

    private sealed class ShortSequence
    {
        [VectorType(FrameSize * 2)] public float[] Frames { get; set; } = new float[FrameSize * 2];
    }

    [TestMethod]
    public void AFitFromAModelWithItsTrainingStateIsTheLongerFit()
    {
        var ml = new MLContext(seed: 1);
        IDataView data = ml.Data.LoadFromEnumerable(MovingDot(16, 1));
        var reports = new List<TemporalEpochReport>();
        TemporalHelmholtzEstimator Estimator(int epochs, TrainingState? state, int units = 16) => ml.Transforms.TemporalHelmholtzMachine(Quick(o =>
        {
            o.Epochs = epochs;
            o.Seed = 7;
            o.RecurrentUnits = units;
            o.LearningRate = 0.01;
            o.LearningRateDecay = 0.7;
            o.MinimumLearningRate = 0.004;
            o.TrainingState = state;
            o.Progress = new SynchronousProgress<TemporalEpochReport>(reports.Add);
        }));
        byte[] whole = Bytes(Estimator(5, null).Fit(data).GetModel());

        var state = new TrainingState();
        TemporalHelmholtzTransformer first = Estimator(2, state).Fit(data);
        Assert.AreEqual(2, state.ScheduleEpoch, "the fit recorded its state");
        byte[] firstBytes = Bytes(first.GetModel());
        reports.Clear();
        TemporalHelmholtzTransformer second = Estimator(3, state).Fit(data, first);
        CollectionAssert.AreEqual(whole, Bytes(second.GetModel()), "two fits with the state are the one longer fit");
        CollectionAssert.AreEqual(new[] { 0.0049f, 0.004f, 0.004f }, reports.Select(r => (float)r.LearningRate).ToArray(), "the schedule went on from the state's epoch");
        CollectionAssert.AreEqual(firstBytes, Bytes(first.GetModel()), "the initial model is not changed");
        Assert.AreEqual(5, state.ScheduleEpoch);

        // Without the state the optimiser and the schedule start again: another machine, from the model given.
        reports.Clear();
        byte[] restarted = Bytes(Estimator(3, null).Fit(data, first.GetModel()).GetModel());
        CollectionAssert.AreNotEqual(whole, restarted);
        Assert.AreEqual(0.01f, (float)reports[0].LearningRate, "the schedule starts again");
        TemporalHelmholtzTransformer restartedFit = Estimator(3, null).Fit(data, first);
        CollectionAssert.AreEqual(restarted, Bytes(restartedFit.GetModel()), "from the transformer or from its machine, the same fit");
        // That model has trained as many steps as the state records, but is another machine: refused by the state's fingerprint.
        Assert.AreEqual(state.StepsTrained, restartedFit.GetModel().Machine.StepsTrained, "the premise: the same step count");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => Estimator(1, state).Fit(data, restartedFit)).Message,
            "TemporalHelmholtzOptions.TrainingState: The training state was recorded on a machine whose parameters differ from those of the machine given");

        // A state of another point is refused, naming the option, and left as it was; so is a model of another shape.
        byte[] stateBefore = StateBytes(state);
        var refused = Assert.ThrowsExactly<ArgumentException>(() => Estimator(1, state).Fit(data, first));
        StringAssert.Contains(refused.Message, "TemporalHelmholtzOptions.TrainingState: The training state was recorded when the machine had trained");
        CollectionAssert.AreEqual(stateBefore, StateBytes(state), "the refused fit left the state as it was");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => Estimator(0, state).Fit(data, first)).Message,
            "TemporalHelmholtzOptions.TrainingState: The training state was recorded when the machine had trained", "with no epochs too, as the frame estimator");
        var fresh = Assert.ThrowsExactly<ArgumentException>(() => Estimator(1, state).Fit(data));
        StringAssert.Contains(fresh.Message, "A fit without an initial model starts a new machine");
        // A cancelled fit's machine is lost with it: the state stays the one of the model the caller holds.
        using (var cancellation = new CancellationTokenSource())
        {
            var cancelled = ml.Transforms.TemporalHelmholtzMachine(Quick(o =>
            {
                o.Epochs = 3;
                o.Seed = 7;
                o.LearningRate = 0.01;
                o.TrainingState = state;
                o.CancellationToken = cancellation.Token;
                o.Progress = new SynchronousProgress<TemporalEpochReport>(r => { if (r.Epoch == 2) cancellation.Cancel(); });
            }));
            Assert.ThrowsExactly<OperationCanceledException>(() => cancelled.Fit(data, second));
            CollectionAssert.AreEqual(stateBefore, StateBytes(state), "the cancelled fit left the state as it was");
        }
        var shape = Assert.ThrowsExactly<ArgumentException>(() => Estimator(1, null, units: 8).Fit(data, first));
        Assert.AreEqual("initialModel", shape.ParamName);
        StringAssert.Contains(shape.Message, "TemporalHelmholtzOptions.Architecture and RecurrentUnits: the initial model is a machine 8b-6g with 16 recurrent units");
    }

    [TestMethod]
    public void FewerSequencesThanAMinibatchTrainAsOneAndNoEpochsWrapAModelAnyRuleCouldNotTrain()
    {
        var ml = new MLContext(seed: 1);
        Sequence[] five = MovingDot(5, 1);
        // BatchSequences 8 over 5 sequences: each step takes the 5, as the core trainer does when given minibatches of 5.
        TemporalHelmholtzTransformer fitted = ml.Transforms.TemporalHelmholtzMachine(Quick(o => { o.Epochs = 3; o.Seed = 7; })).Fit(ml.Data.LoadFromEnumerable(five));
        var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("8b-6g"), 16, 7);
        new TemporalTrainer(new StochasticBackpropagation(), new TemporalTrainingOptions { Epochs = 3, BatchSequences = 5, Seed = 8, LearningRate = new(0.01) })
            .Train(model, new SequenceSet(5, FrameCount, 1, FrameSize, five.SelectMany(r => r.Frames).ToArray()));
        CollectionAssert.AreEqual(Bytes(model), Bytes(fitted.GetModel()));
        Assert.AreEqual(3L, fitted.GetModel().Machine.StepsTrained, "one step an epoch");

        // A binary machine, which the default rule (SBP) cannot train, wrapped with no epochs: scored as it is.
        var binary = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("8b-6b"), 16, 9);
        TemporalHelmholtzTransformer wrapped = ml.Transforms.TemporalHelmholtzMachine(Quick(o => { o.Epochs = 0; o.Architecture = "8b-6b"; }))
            .Fit(ml.Data.LoadFromEnumerable(five), binary);
        CollectionAssert.AreEqual(Bytes(binary), Bytes(wrapped.GetModel()));
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => ml.Transforms.TemporalHelmholtzMachine(Quick(o => o.Architecture = "8b-6b"))).Message,
            "does not suit the learning rule StochasticBackpropagation", "with epochs to train, the rule must suit the machine");
    }

    [TestMethod]
    public void AFitFromAModelThatNoEpochBeatsOnValidationKeepsItAndItsState()
    {
        var ml = new MLContext(seed: 1);
        Sequence[] rightward = MovingDot(16, 1);
        Sequence[] leftward = Leftward(16, 2);
        // A machine trained on leftward dots, validated on them while it trains on rightward ones at a high rate: every epoch is worse.
        var state = new TrainingState();
        TemporalHelmholtzOptions Options(int epochs, double rate) => Quick(o =>
        {
            o.Epochs = epochs;
            o.Seed = 7;
            o.LearningRate = rate;
            o.TrainingState = state;
        });
        TemporalHelmholtzTransformer left = ml.Transforms.TemporalHelmholtzMachine(Options(30, 0.03)).Fit(ml.Data.LoadFromEnumerable(leftward));
        byte[] initial = Bytes(left.GetModel()), initialState = StateBytes(state);
        IDataView validation = ml.Data.LoadFromEnumerable(leftward), training = ml.Data.LoadFromEnumerable(rightward);
        var reports = new List<TemporalEpochReport>();
        TemporalHelmholtzOptions Retraining() => Quick(o =>
        {
            o.Epochs = 4;
            o.Seed = 7;
            o.LearningRate = 0.05;
            o.ValidationData = validation;
            o.ValidationSamples = 10;
            o.TrainingState = state;
            o.Progress = new SynchronousProgress<TemporalEpochReport>(reports.Add);
        });
        // Through the catalog (with a log) and without a host (no log): the initial model is estimated and kept either way.
        foreach (TemporalHelmholtzEstimator estimator in new[] { ml.Transforms.TemporalHelmholtzMachine(Retraining()), new TemporalHelmholtzEstimator((Microsoft.ML.Runtime.IHostEnvironment?)null, Retraining()) })
        {
            reports.Clear();
            TemporalHelmholtzTransformer retrained = estimator.Fit(training, left);
            Assert.HasCount(4, reports);
            CollectionAssert.AreEqual(initial, Bytes(retrained.GetModel()),
                $"no epoch beat the initial model: {string.Join(", ", reports.Select(r => r.ValidationLogLikelihood!.Value.ToString("F3")))}");
            CollectionAssert.AreEqual(initialState, StateBytes(state), "the state is still the initial model's");
        }
    }

    [TestMethod]
    public void OptimiserOptionErrorsNameTheOption()
    {
        var ml = new MLContext(seed: 1);
        (Action<TemporalHelmholtzOptions> Change, string Message)[] cases =
        [
            (o => o.LearningRate = 0, "TemporalHelmholtzOptions.LearningRate: the initial learning rate must be positive and finite"),
            (o => o.LearningRate = double.NaN, "TemporalHelmholtzOptions.LearningRate:"),
            (o => o.LearningRateDecay = 0, "TemporalHelmholtzOptions.LearningRateDecay: the learning-rate decay per epoch must lie in (0, 1]"),
            (o => { o.Epochs = 40; o.LearningRateDecay = 0.01; }, "TemporalHelmholtzOptions.LearningRateDecay: 0.01 takes the learning rate 0.01 to 0 in single precision"),
            (o => o.MinimumLearningRate = 1, "TemporalHelmholtzOptions.MinimumLearningRate: The minimum learning rate 1 exceeds the initial rate 0.01"),
            (o => { o.Optimizer = HelmholtzOptimizer.SgdMomentum; o.Momentum = 1; }, "TemporalHelmholtzOptions.Momentum:"),
            (o => o.AdamBeta2 = 1, "TemporalHelmholtzOptions.AdamBeta2:"),
            (o => o.WeightDecay = -1, "TemporalHelmholtzOptions.WeightDecay:"),
            (o => o.WeightDecay = 100, "TemporalHelmholtzOptions.WeightDecay: 100 with the learning rate 0.01 would shrink the weights"),
            (o => { o.Optimizer = HelmholtzOptimizer.SgdMomentum; o.WeightDecay = 0.1; }, "TemporalHelmholtzOptions.WeightDecay: is Adam's decoupled weight decay; it has no meaning with SgdMomentum"),
            (o => { o.Optimizer = HelmholtzOptimizer.SgdMomentum; o.AdamBeta2 = 0.99; }, "TemporalHelmholtzOptions.AdamBeta2: is Adam's β₂; it has no meaning with SgdMomentum"),
            (o => o.Momentum = 0.5, "TemporalHelmholtzOptions.Momentum: is SgdMomentum's momentum; it has no meaning with Adam"),
            (o => o.Optimizer = (HelmholtzOptimizer)7, "TemporalHelmholtzOptions.Optimizer: unknown value 7"),
        ];
        foreach (var (change, message) in cases)
        {
            // The exceptions the frame estimator throws for the same options (one OptimizerSettings checks both).
            var e = Assert.ThrowsExactly<ArgumentException>(() => ml.Transforms.TemporalHelmholtzMachine(Quick(change)), message);
            StringAssert.Contains(e.Message, message);
            Assert.AreEqual("options", e.ParamName, message);
        }
        // With a time limit the fit stops when it is reached, so a rate that would reach 0 later is not refused.
        ml.Transforms.TemporalHelmholtzMachine(Quick(o => { o.Epochs = 40; o.LearningRateDecay = 0.01; o.TimeLimit = TimeSpan.FromHours(1); }));
    }

    [TestMethod]
    public void BadValuesAreNamedByColumnRowFrameAndSlot()
    {
        var ml = new MLContext(seed: 1);
        var estimator = ml.Transforms.TemporalHelmholtzMachine(Quick());
        Sequence[] bad = MovingDot(16, 1);
        bad[3].Frames[2 * FrameSize + 5] = 0.5f;
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => estimator.Fit(ml.Data.LoadFromEnumerable(bad)));
        StringAssert.Contains(e.Message, "training data: column 'Frames', row 3, frame 2, slot 5 is 0.5: a Bernoulli visible layer models only 0 and 1");
        bad[3].Frames[2 * FrameSize + 5] = float.NaN;
        e = Assert.ThrowsExactly<InvalidOperationException>(() => estimator.Fit(ml.Data.LoadFromEnumerable(bad)));
        StringAssert.Contains(e.Message, "training data: column 'Frames', row 3, frame 2, slot 5 is NaN: the values must be finite");

        TemporalHelmholtzTransformer transformer = estimator.Fit(ml.Data.LoadFromEnumerable(MovingDot(16, 1)));
        Sequence[] test = MovingDot(3, 2);
        test[1].Frames[4 * FrameSize + 1] = float.NaN;
        e = Assert.ThrowsExactly<InvalidOperationException>(() => LogLikelihoods(ml, transformer.Transform(ml.Data.LoadFromEnumerable(test))));
        StringAssert.Contains(e.Message, "Transform: column 'Frames', row 1, frame 4, slot 1 is NaN");
    }

    [TestMethod]
    [DataRow(FrameCount * FrameSize - 3)]
    [DataRow(FrameCount * FrameSize + 1)]
    [DataRow(0)]
    public void ASequenceOfAnotherLengthThanTheColumnDeclaresIsAnErrorNamingTheRow(int length)
    {
        var ml = new MLContext(seed: 1);
        var estimator = ml.Transforms.TemporalHelmholtzMachine(Quick());
        Sequence[] bad = MovingDot(16, 1);
        bad[7].Frames = bad[7].Frames.Take(length).Concat(Enumerable.Repeat(1f, Math.Max(0, length - bad[7].Frames.Length))).ToArray();
        string Expected(string data) => $"{data}: column 'Frames', row 7 holds {length} values, but the column is declared a vector of 96: give every row the column's size.";
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => estimator.Fit(ml.Data.LoadFromEnumerable(bad)));
        StringAssert.Contains(e.Message, Expected("training data"));
        TemporalHelmholtzTransformer transformer = estimator.Fit(ml.Data.LoadFromEnumerable(MovingDot(16, 1)));
        e = Assert.ThrowsExactly<InvalidOperationException>(() => LogLikelihoods(ml, transformer.Transform(ml.Data.LoadFromEnumerable(bad))));
        StringAssert.Contains(e.Message, Expected("Transform"));
    }

    /// <summary>A cursor of a parallel set counts only the rows it is dealt: it names the row by its ID, a cache's row index.</summary>
    [TestMethod]
    public void ABadValueReadThroughAParallelCursorSetIsNamedByTheRowsId()
    {
        var ml = new MLContext(seed: 1);
        TemporalHelmholtzTransformer transformer = ml.Transforms.TemporalHelmholtzMachine(Quick(o => o.Samples = 2)).Fit(ml.Data.LoadFromEnumerable(MovingDot(16, 1)));
        Sequence[] rows = MovingDot(800, 2);
        rows[765].Frames[3 * FrameSize + 2] = float.NaN;
        IDataView scored = transformer.Transform(ml.Data.Cache(ml.Data.LoadFromEnumerable(rows)));
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => LogLikelihoods(ml, scored));
        StringAssert.Contains(e.Message, "Transform: column 'Frames', row 765, frame 3, slot 2 is NaN");
        List<string> errors = ParallelCursors.ErrorsReadingAll(scored, "LogLikelihood");
        Assert.HasCount(1, errors, "one cursor meets the row");
        StringAssert.Contains(errors[0], "Transform: column 'Frames', the row with ID 765, frame 3, slot 2 is NaN");
        StringAssert.Contains(ParallelCursors.ErrorReadingShuffled(scored, "LogLikelihood"), "Transform: column 'Frames', the row with ID 765, frame 3, slot 2 is NaN");
    }

    private sealed class OddSequence
    {
        [VectorType(FrameCount * FrameSize + 3)] public float[] Frames { get; set; } = new float[FrameCount * FrameSize + 3];
    }

    /// <summary>
    /// A fit resumed from the TrainingState of one whose decaying rate reaches 0 later in the schedule is refused naming this
    /// estimator's options, before its data is read (a review's finding: it was refused after, naming the core library's
    /// TemporalTrainingOptions.LearningRate and LearningRateSchedule.Minimum, which an ML.NET user never sets).
    /// </summary>
    [TestMethod]
    public void AResumedFitWhoseRateWouldReachZeroIsRefusedNamingTheEstimatorsOptions()
    {
        var ml = new MLContext(seed: 1);
        IDataView training = ml.Data.LoadFromEnumerable(MovingDot(16, 1));
        var options = Quick(o => { o.Epochs = 100; o.BatchSequences = 16; o.LearningRate = 0.001; o.LearningRateDecay = 0.5; o.PredictedFramesColumnName = null; o.TrainingState = new TrainingState(); });
        TemporalHelmholtzTransformer first = ml.Transforms.TemporalHelmholtzMachine(options).Fit(training);   // 0.5^99 × 10⁻³ > 0 in float
        var e = Assert.ThrowsExactly<ArgumentException>(() => ml.Transforms.TemporalHelmholtzMachine(options).Fit(new UnreadableView(training), first));
        StringAssert.StartsWith(e.Message, "TemporalHelmholtzOptions.LearningRateDecay: 0.5 takes the learning rate 0.001 to 0 in single precision");
        StringAssert.Contains(e.Message, "resumed from TrainingState at epoch 100");
        StringAssert.Contains(e.Message, "set MinimumLearningRate");
    }

    /// <summary>
    /// A fit past its divergence limit names this estimator's option, not the core library's TemporalTrainingOptions. A limit of
    /// 10⁻⁴ (|F₀| + D) above the first segment's free energy trips where learning is slower than the noise of a segment's F̂: at some
    /// of these rates (which ones depends on the engine's bits), so the test asks for one at least.
    /// </summary>
    [TestMethod]
    public void ADivergingFitNamesTheEstimatorsDivergenceFactor()
    {
        var ml = new MLContext(seed: 1);
        IDataView training = ml.Data.LoadFromEnumerable(MovingDot(16, 1));
        var messages = new List<string>();
        foreach (double rate in new[] { 0.002, 0.005, 0.01, 0.02, 0.05 })
        {
            try
            {
                ml.Transforms.TemporalHelmholtzMachine(Quick(o =>
                {
                    o.Epochs = 20;
                    o.Optimizer = HelmholtzOptimizer.SgdMomentum;
                    o.LearningRate = rate;
                    o.DivergenceFactor = 1e-4;
                })).Fit(training);
            }
            catch (TrainingDivergedException e)
            {
                messages.Add(e.Message);
            }
        }
        Assert.IsNotEmpty(messages, "no rate tripped the limit");
        foreach (string message in messages)
        {
            StringAssert.Contains(message, "past the divergence limit", message);
            StringAssert.Contains(message, "(TemporalHelmholtzOptions.DivergenceFactor)", message);
        }
    }

    // A fit from a given machine that has taken no step keeps its visible biases: the core trainer's run with InitializeVisibleBiases off, bit for bit.
    [TestMethod]
    public void AFitFromAMachineThatHasTakenNoStepKeepsItsVisibleBiases()
    {
        var ml = new MLContext(seed: 1);
        Sequence[] five = MovingDot(5, 1);
        var start = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("8b-6g"), 16, 7);
        TemporalHelmholtzTransformer fitted = ml.Transforms.TemporalHelmholtzMachine(Quick(o => { o.Epochs = 1; o.Seed = 7; }))
            .Fit(ml.Data.LoadFromEnumerable(five), start);
        Assert.AreEqual(0L, start.Machine.StepsTrained, "the machine given is not changed");
        var model = TemporalHelmholtzMachine.Load(new MemoryStream(Bytes(start)));
        new TemporalTrainer(new StochasticBackpropagation(),
                new TemporalTrainingOptions { Epochs = 1, BatchSequences = 5, Seed = 8, LearningRate = new(0.01), InitializeVisibleBiases = false })
            .Train(model, new SequenceSet(5, FrameCount, 1, FrameSize, five.SelectMany(r => r.Frames).ToArray()));
        CollectionAssert.AreEqual(Bytes(model), Bytes(fitted.GetModel()));
    }

    // Create refuses options whose FrameSize is not the model's, even with no Architecture to compare.
    [TestMethod]
    public void CreateRefusesAFrameSizeThatIsNotTheModels()
    {
        var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("8b-6g"), 16, 7);
        var e = Assert.ThrowsExactly<ArgumentException>(() =>
            TemporalHelmholtzTransformer.Create(model, Quick(o => { o.FrameSize = 4; o.Architecture = null; }), 2 * FrameCount));
        Assert.AreEqual("options", e.ParamName);
        StringAssert.StartsWith(e.Message, "TemporalHelmholtzOptions.FrameSize is 4, but the model's frames have 8 values.");
    }

    // The predicted frames are TemporalEvaluation.PredictFrames' with the seed after the transformer's Seed, as Seed's documentation says: exactly.
    [TestMethod]
    public void PredictedFramesDrawFromTheSeedAfterTheTransformers()
    {
        var ml = new MLContext(seed: 1);
        var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("8b-6g"), 16, 7);
        TemporalHelmholtzTransformer transformer = TemporalHelmholtzTransformer.Create(model, Quick(o => o.PredictionSamples = 3), FrameCount);
        Sequence[] rows = MovingDot(2, 4);
        Scored[] scored = ml.Data.CreateEnumerable<Scored>(transformer.Transform(ml.Data.LoadFromEnumerable(rows)), reuseRowObject: false).ToArray();
        for (int r = 0; r < rows.Length; r++)
        {
            float[] expected = TemporalEvaluation.PredictFrames(model, new SequenceSet(1, FrameCount, 1, FrameSize, rows[r].Frames), 3, transformer.Seed + 1);
            CollectionAssert.AreEqual(expected, scored[r].PredictedFrames, $"row {r}");
        }
    }

    // A schema whose input vector is not the trained sequences' length is refused when the output schema is asked for, not at the first row.
    [TestMethod]
    public void AnInputOfAnotherSequenceLengthIsRefusedByTheSchema()
    {
        var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("8b-6g"), 16, 7);
        TemporalHelmholtzTransformer transformer = TemporalHelmholtzTransformer.Create(model, Quick(), FrameCount);
        var builder = new DataViewSchema.Builder();
        builder.AddColumn("Frames", new VectorDataViewType(NumberDataViewType.Single, (FrameCount - 1) * FrameSize));
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => transformer.GetOutputSchema(builder.ToSchema()));
        StringAssert.Contains(e.Message, "it is a vector of 88 values, but the transformer was trained on sequences of 12 frames of 8");
    }

    // The estimator's output shape replaces an input column of an output's name with the output's type.
    [TestMethod]
    public void TheOutputShapeReplacesAnInputColumnOfAnOutputsName()
    {
        var ml = new MLContext(seed: 1);
        var builder = new DataViewSchema.Builder();
        builder.AddColumn("Frames", new VectorDataViewType(NumberDataViewType.Single, FrameCount * FrameSize));
        builder.AddColumn("LogLikelihood", TextDataViewType.Instance);
        SchemaShape shape = ml.Transforms.TemporalHelmholtzMachine(Quick()).GetOutputSchema(SchemaShapes.FromSchema(builder.ToSchema()));
        Assert.IsTrue(shape.TryFind("LogLikelihood", out SchemaShape.Column column));
        Assert.AreEqual(NumberDataViewType.Single, column.ItemType);
        Assert.AreEqual(SchemaShape.Column.VectorKind.Scalar, column.Kind);
        Assert.AreEqual(1, shape.Count(c => c.Name == "LogLikelihood"));
    }

    // The check that the rate's decay reaches 0 in single precision covers the last epoch (0-based Epochs − 1) and no further.
    [TestMethod]
    public void ARateThatReachesZeroInTheLastEpochIsRefusedAndOneEpochLessIsNot()
    {
        var ml = new MLContext(seed: 1);
        int zero = new LearningRateSchedule(0.01, 0.5).FirstZeroInSinglePrecision(0, 10_000)!.Value;
        var e = Assert.ThrowsExactly<ArgumentException>(() => ml.Transforms.TemporalHelmholtzMachine(Quick(o => { o.LearningRateDecay = 0.5; o.Epochs = zero + 1; })));
        StringAssert.StartsWith(e.Message, "TemporalHelmholtzOptions.LearningRateDecay: 0.5 takes the learning rate 0.01 to 0 in single precision");
        _ = ml.Transforms.TemporalHelmholtzMachine(Quick(o => { o.LearningRateDecay = 0.5; o.Epochs = zero; }));
    }

    // A negative TruncationSteps, and no recurrent units or sequences per step, are refused when the estimator is made, naming the
    // option (not by the trainer at Fit); a TruncationSteps past the sequences' length is taken as whole sequences.
    [TestMethod]
    public void TruncationAndSizesAreCheckedWhenTheEstimatorIsMade()
    {
        var ml = new MLContext(seed: 1);
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Transforms.TemporalHelmholtzMachine(Quick(o => o.TruncationSteps = -1)));
        Assert.AreEqual("options", e.ParamName);
        StringAssert.StartsWith(e.Message, "TemporalHelmholtzOptions.TruncationSteps: must be 0 or more");
        _ = ml.Transforms.TemporalHelmholtzMachine(Quick(o => o.TruncationSteps = 0));
        StringAssert.StartsWith(Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Transforms.TemporalHelmholtzMachine(Quick(o => o.RecurrentUnits = 0))).Message,
            "TemporalHelmholtzOptions.RecurrentUnits: must be positive");
        StringAssert.StartsWith(Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Transforms.TemporalHelmholtzMachine(Quick(o => o.BatchSequences = 0))).Message,
            "TemporalHelmholtzOptions.BatchSequences: must be positive");
        // Segments longer than the sequences are whole sequences: the step is sized for the 12 frames there are, not refused for the
        // option's count, and trains as TruncationSteps = 0 does, bit for bit.
        IDataView data = ml.Data.LoadFromEnumerable(MovingDot(16, 1));
        TemporalHelmholtzMachine longer = ml.Transforms.TemporalHelmholtzMachine(Quick(o => { o.Seed = 7; o.TruncationSteps = int.MaxValue; })).Fit(data).GetModel();
        CollectionAssert.AreEqual(Bytes(ml.Transforms.TemporalHelmholtzMachine(Quick(o => o.Seed = 7)).Fit(data).GetModel()), Bytes(longer));
    }

    /// <summary>
    /// Each bounded option's first value out of range is refused when the estimator is made, as an ArgumentOutOfRangeException naming
    /// that option (not later, as another option's error or the trainer's), and the first value in range is not.
    /// </summary>
    [TestMethod]
    public void EachOptionsFirstValueOutOfRangeIsRefusedNamingItAndTheFirstInRangeIsNot()
    {
        var ml = new MLContext(seed: 1);
        (Action<TemporalHelmholtzOptions> Bad, Action<TemporalHelmholtzOptions> Good, string Message)[] cases =
        [
            (o => o.Epochs = -1, o => o.Epochs = 0, "TemporalHelmholtzOptions.Epochs: must be 0 or more"),
            (o => o.FrameSize = 0, o => o.FrameSize = 1, "TemporalHelmholtzOptions.FrameSize: must give the values per frame"),
            (o => o.PredictionSamples = 0, o => o.PredictionSamples = 1, "TemporalHelmholtzOptions.PredictionSamples: must be at least 1"),
            (o => o.TrainingSamples = 0, o => o.TrainingSamples = 1, "TemporalHelmholtzOptions.TrainingSamples: K must be at least 1 for StochasticBackpropagation"),
            (o => o.DivergenceFactor = 0, o => o.DivergenceFactor = double.Epsilon, "TemporalHelmholtzOptions.DivergenceFactor: must be positive"),
            (o => o.TimeLimit = TimeSpan.FromTicks(-1), o => o.TimeLimit = TimeSpan.FromTicks(1), "TemporalHelmholtzOptions.TimeLimit: must be positive"),
        ];
        foreach (var (bad, good, message) in cases)
        {
            // FrameSize 1 needs a machine of one visible unit.
            Action<TemporalHelmholtzOptions> withArchitecture = o => o.Architecture = o.FrameSize == 1 ? "1b-6g" : o.Architecture;
            var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Transforms.TemporalHelmholtzMachine(Quick(o => { bad(o); withArchitecture(o); })), message);
            StringAssert.StartsWith(e.Message, message, message);
            Assert.AreEqual("options", e.ParamName, message);
            Assert.IsNotNull(ml.Transforms.TemporalHelmholtzMachine(Quick(o => { good(o); withArchitecture(o); })), message);
        }
        // Create checks the scoring options as the estimator does.
        var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("8b-6g"), 16, 7);
        StringAssert.StartsWith(Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => TemporalHelmholtzTransformer.Create(model, Quick(o => o.PredictionSamples = 0), FrameCount)).Message,
            "TemporalHelmholtzOptions.PredictionSamples: must be at least 1");
        StringAssert.StartsWith(Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => TemporalHelmholtzTransformer.Create(model, Quick(o => { o.FrameSize = 0; o.Architecture = null; }), FrameCount)).Message,
            "TemporalHelmholtzOptions.FrameSize: must give the values per frame");
        // And a sequence of no frames, which no input column could give.
        Assert.AreEqual("frames", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => TemporalHelmholtzTransformer.Create(model, Quick(), 0)).ParamName);
        Assert.AreEqual("frames", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => TemporalHelmholtzTransformer.Create(model, Quick(), -1)).ParamName);
    }

    /// <summary>
    /// The resumed fit's zero-rate check covers exactly its epochs (the state's epoch to that + Epochs − 1) and is skipped with a
    /// TimeLimit: then the fit goes on to read the data, as the unresumed check lets it.
    /// </summary>
    [TestMethod]
    public void AResumedFitIsRefusedOnlyWhenItsOwnEpochsReachAZeroRateAndNotWithATimeLimit()
    {
        var ml = new MLContext(seed: 1);
        IDataView training = ml.Data.LoadFromEnumerable(MovingDot(16, 1));
        int zero = new LearningRateSchedule(0.001, 0.5).FirstZeroInSinglePrecision(0, 10_000)!.Value;
        var state = new TrainingState();
        TemporalHelmholtzOptions Resuming(int epochs, TimeSpan? limit = null) => Quick(o =>
        {
            o.Epochs = epochs; o.BatchSequences = 16; o.LearningRate = 0.001; o.LearningRateDecay = 0.5; o.PredictedFramesColumnName = null;
            o.TrainingState = state; o.TimeLimit = limit;
        });
        // Epochs 0 … zero − 2: every rate is positive.
        TemporalHelmholtzTransformer first = ml.Transforms.TemporalHelmholtzMachine(Resuming(zero - 1)).Fit(training);
        Assert.AreEqual(zero - 1, state.ScheduleEpoch);
        // One more epoch (zero − 1) has a positive rate: not refused, so the data is read (and the view refuses that).
        var unreadable = new UnreadableView(training);
        StringAssert.Contains(Assert.ThrowsExactly<InvalidOperationException>(() => ml.Transforms.TemporalHelmholtzMachine(Resuming(1)).Fit(unreadable, first)).Message,
            "a row was asked for");
        Assert.AreEqual(1, unreadable.Cursors);
        // Two more reach epoch zero: refused before a row is read.
        var e = Assert.ThrowsExactly<ArgumentException>(() => ml.Transforms.TemporalHelmholtzMachine(Resuming(2)).Fit(unreadable, first));
        StringAssert.StartsWith(e.Message, $"TemporalHelmholtzOptions.LearningRateDecay: 0.5 takes the learning rate 0.001 to 0 in single precision by the schedule's epoch {zero}");
        StringAssert.Contains(e.Message, $"resumed from TrainingState at epoch {zero - 1}, would reach in its epoch 2");
        Assert.AreEqual(1, unreadable.Cursors, "refused before a row is read");
        // With a time limit, the fit may stop before: not refused.
        StringAssert.Contains(Assert.ThrowsExactly<InvalidOperationException>(() =>
            ml.Transforms.TemporalHelmholtzMachine(Resuming(2, TimeSpan.FromHours(1))).Fit(unreadable, first)).Message, "a row was asked for");
        Assert.AreEqual(2, unreadable.Cursors);
    }

    /// <summary>TruncationSteps reaches the trainer: a fit with segments of 4 frames is the core trainer's with TruncationSteps = 4, bit for bit, and not the whole sequences' fit.</summary>
    [TestMethod]
    public void TruncationStepsTrainAsTheCoreTrainerWithTheSameSegments()
    {
        var ml = new MLContext(seed: 1);
        Sequence[] rows = MovingDot(16, 1);
        IDataView data = ml.Data.LoadFromEnumerable(rows);
        byte[] Core(int truncation)
        {
            var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("8b-6g"), 16, 7);
            new TemporalTrainer(new StochasticBackpropagation(), new TemporalTrainingOptions
            {
                Epochs = 2, BatchSequences = 8, Seed = 8, LearningRate = new(0.01), TruncationSteps = truncation,
            }).Train(model, new SequenceSet(rows.Length, FrameCount, 1, FrameSize, rows.SelectMany(r => r.Frames).ToArray()));
            return Bytes(model);
        }
        byte[] truncated = Bytes(ml.Transforms.TemporalHelmholtzMachine(Quick(o => { o.Epochs = 2; o.Seed = 7; o.TruncationSteps = 4; })).Fit(data).GetModel());
        CollectionAssert.AreEqual(Core(4), truncated, "segments of 4 frames");
        CollectionAssert.AreNotEqual(Core(0), truncated, "not whole sequences");
    }

    private sealed class OtherColumn
    {
        [VectorType(FrameCount * FrameSize)] public float[] Other { get; set; } = new float[FrameCount * FrameSize];
    }

    /// <summary>
    /// Validation data are checked as the training data are, naming the option: a missing column (an ArgumentException naming
    /// ValidationData, not the schema's ArgumentOutOfRangeException), a scoring K too large for its buffers (before any row is
    /// read) and a bad value (named as the validation data's).
    /// </summary>
    [TestMethod]
    public void ValidationDataAndSamplesAreCheckedNamingTheOption()
    {
        var ml = new MLContext(seed: 1);
        IDataView data = ml.Data.LoadFromEnumerable(MovingDot(16, 1));
        var missing = Assert.ThrowsExactly<ArgumentException>(() => ml.Transforms.TemporalHelmholtzMachine(Quick(o =>
        {
            o.ValidationData = ml.Data.LoadFromEnumerable(new[] { new OtherColumn() });
            o.ValidationSamples = 5;
        })).Fit(data));
        Assert.AreEqual("options", missing.ParamName);
        StringAssert.StartsWith(missing.Message, "TemporalHelmholtzOptions.ValidationData: ");
        StringAssert.Contains(missing.Message, "'Frames'");

        var unreadable = new UnreadableView(data);
        var tooMany = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Transforms.TemporalHelmholtzMachine(Quick(o =>
        {
            o.ValidationData = data;
            o.ValidationSamples = 50_000_000;
        })).Fit(unreadable));
        StringAssert.Contains(tooMany.Message, "TemporalHelmholtzOptions.ValidationSamples: K = 50000000 samples of 6 noise values each");
        Assert.AreEqual(0, unreadable.Cursors, "refused before a row is read");

        Sequence[] bad = MovingDot(4, 2);
        bad[2].Frames[3 * FrameSize + 1] = float.NaN;
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => ml.Transforms.TemporalHelmholtzMachine(Quick(o =>
        {
            o.ValidationData = ml.Data.LoadFromEnumerable(bad);
            o.ValidationSamples = 5;
        })).Fit(data));
        StringAssert.Contains(e.Message, "validation data: column 'Frames', row 2, frame 3, slot 1 is NaN");
    }

    /// <summary>An initial model of another frame machine, with the options' recurrent units, is refused naming the argument, as one of other units is.</summary>
    [TestMethod]
    public void AnInitialModelOfAnotherArchitectureIsRefused()
    {
        var ml = new MLContext(seed: 1);
        var other = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("8b-5g"), 16, 7);
        var e = Assert.ThrowsExactly<ArgumentException>(() => ml.Transforms.TemporalHelmholtzMachine(Quick()).Fit(ml.Data.LoadFromEnumerable(MovingDot(8, 1)), other));
        Assert.AreEqual("initialModel", e.ParamName);
        StringAssert.Contains(e.Message, "the initial model is a machine 8b-5g with 16 recurrent units, and these options train 8b-6g with 16");
    }

    private sealed class SequenceAndMore
    {
        [VectorType(FrameCount * FrameSize)] public float[] Frames { get; set; } = new float[FrameCount * FrameSize];
        public float More { get; set; }
    }

    /// <summary>A row mapper refuses a row of another schema than the one it was made for, more columns as fewer.</summary>
    [TestMethod]
    public void ARowMapperRefusesARowOfAnotherSchema()
    {
        var ml = new MLContext(seed: 1);
        var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("8b-6g"), 16, 7);
        TemporalHelmholtzTransformer transformer = TemporalHelmholtzTransformer.Create(model, Quick(o => o.PredictedFramesColumnName = null), FrameCount);
        IDataView plain = ml.Data.LoadFromEnumerable(MovingDot(2, 1));
        IDataView wider = ml.Data.LoadFromEnumerable(new[] { new SequenceAndMore() });
        foreach (var (madeFor, given) in new[] { (plain, wider), (wider, plain) })
        {
            IRowToRowMapper mapper = transformer.GetRowToRowMapper(madeFor.Schema);
            using DataViewRowCursor cursor = given.GetRowCursor(given.Schema);
            var e = Assert.ThrowsExactly<ArgumentException>(() => mapper.GetRow(cursor, mapper.OutputSchema));
            Assert.AreEqual("input", e.ParamName);
            StringAssert.Contains(e.Message, $"The row has {given.Schema.Count} columns; this mapper was made for a schema of {madeFor.Schema.Count}.");
        }
    }

    private sealed class LongSequence
    {
        [VectorType(FrameCount * FrameSize * 2)] public float[] Frames { get; set; } = new float[FrameCount * FrameSize * 2];
    }

    /// <summary>
    /// Validation sequences longer than the training ones are refused as shorter ones are: naming the option, before the training
    /// data is read (not by the reader after it, as rows longer than a vector "declared" of the training data's size).
    /// </summary>
    [TestMethod]
    public void LongerValidationSequencesAreRefusedNamingTheOptionBeforeTheTrainingDataIsRead()
    {
        var ml = new MLContext(seed: 1);
        var unreadable = new UnreadableView(ml.Data.LoadFromEnumerable(MovingDot(16, 1)));
        var e = Assert.ThrowsExactly<ArgumentException>(() => ml.Transforms.TemporalHelmholtzMachine(Quick(o =>
        {
            o.ValidationData = ml.Data.LoadFromEnumerable(new[] { new LongSequence() });
            o.ValidationSamples = 5;
        })).Fit(unreadable));
        Assert.AreEqual("options", e.ParamName);
        StringAssert.Contains(e.Message,
            "TemporalHelmholtzOptions.ValidationData: column 'Frames' holds sequences of 192 values (24 frames of 8), but the training data's hold 96 (12 frames)");
        Assert.AreEqual(0, unreadable.Cursors, "refused before a row is read");
    }
}
