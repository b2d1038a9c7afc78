using Microsoft.ML.Data;
using Microsoft.ML.Helmholtz.Evaluation;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;
using Microsoft.ML.Helmholtz.Tests.Support;
using Microsoft.ML.Helmholtz.Transforms;

namespace Microsoft.ML.Helmholtz.Tests.Transforms;

/// <summary>
/// The fitted transformer scores a batch's log-likelihoods in pipelines side by side, one per core of the pool it
/// runs under: a row's value is the one a single scorer gives it, and a failure is the scorer's own exception.
/// </summary>
[TestClass]
public sealed class ParallelScoringTests
{
    private sealed class SixValues
    {
        [VectorType(6)] public float[] Pixels { get; set; } = [];
    }

    private sealed class Image
    {
        [VectorType(784)] public float[] Pixels { get; set; } = [];
    }

    private sealed class LogLikelihoodRow
    {
        public float LogLikelihood { get; set; }
    }

    private static float[] LogLikelihoods(MLContext ml, IDataView scored)
        => ml.Data.CreateEnumerable<LogLikelihoodRow>(scored, reuseRowObject: false).Select(r => r.LogLikelihood).ToArray();

    /// <summary>
    /// K = 100 and 64 score each row alone (a pipeline per core from two rows on); K = 7 scores 142 rows a chunk in slots
    /// (a pipeline per 142 rows). 600 rows under a pool of 4 threads, against the same transformer with every loop inline
    /// (one scorer for the batch), and against a single scorer of the transformer's noise: the same bits.
    /// </summary>
    [TestMethod]
    [DataRow(100)]
    [DataRow(64)]
    [DataRow(7)]
    public void ABatchSplitOverTheCoresGivesEachRowTheSingleScorersValue(int k)
    {
        var ml = new MLContext(seed: 1);
        var model = ml.Transforms.HelmholtzMachine(new HelmholtzMachineOptions
        {
            InputColumnName = "Pixels", Architecture = "20b-10g-8g", Epochs = 1, BatchSize = 10, Samples = k, Seed = 1, FeatureColumnName = null,
        }).Fit(ml.Data.LoadFromEnumerable(TransformTestData.Rows(50, 1)));
        PixelRow[] rows = TransformTestData.Rows(600, 2);
        IDataView data = ml.Data.LoadFromEnumerable(rows);

        float[] inline;
        using (WorkerPool.InlineScope()) inline = LogLikelihoods(ml, model.Transform(data));
        float[] split;
        using (var pool = new WorkerPool(4))
        using (WorkerPool.Use(pool))
            split = LogLikelihoods(ml, model.Transform(data));

        double[] single = new double[rows.Length];
        FixedNoiseLogLikelihood.Scorer scorer = model.LogLikelihood!.CreateScorer();
        using (WorkerPool.InlineScope()) scorer.Estimate(rows.SelectMany(r => r.Pixels).ToArray(), rows.Length, single);
        for (int i = 0; i < rows.Length; i++)
        {
            Assert.IsTrue(float.IsFinite(split[i]) && split[i] < 0, $"row {i}: {split[i]}");
            Assert.AreEqual(inline[i], split[i], 0f, $"row {i}: split over 4 pipelines against one scorer inline");
            Assert.AreEqual((float)single[i], split[i], 0f, $"row {i}: against the transformer's scorer");
        }
    }

    /// <summary>
    /// On the default matrix engine (OpenBLAS where it loads), a row of a batch split into pipelines has the bits a
    /// PredictionEngine gives it alone on the pool, and a data view of that row alone: the pipelines cut their products
    /// as the pool cuts them (OpenBLAS sums each piece in its own order; cut differently, 8 of 16 rows of a 784b-400g-20g
    /// machine on a pool of 4 differed in their last bits). usage.md's promise that the threads do not change a row.
    /// </summary>
    [TestMethod]
    [DataRow("784b-200g-50g", 100, 0)]
    [DataRow("784b-784b-10b", 128, 0)]
    [DataRow("784b-400g-20g", 100, 4)]
    [DataRow("784b-100b", 64, 4)]
    public void ASplitBatchAPredictionEngineAndALoneRowGiveTheSameBits(string architecture, int k, int poolThreads)
    {
        var transformer = new HelmholtzMachineTransformer(TestModels.Random(architecture, 5, 0.1f), new HelmholtzMachineOptions
        {
            InputColumnName = "Pixels", Architecture = architecture, Samples = k, FeatureColumnName = null,
        }, seed: 1, threshold: 0);
        var ml = new MLContext(seed: 1);
        var random = new RandomStream(4);
        Image[] images = Enumerable.Range(0, 16).Select(_ => new Image
        {
            Pixels = Enumerable.Range(0, 784).Select(_ => random.NextDouble() < 0.2 ? 1f : 0f).ToArray(),
        }).ToArray();
        using var pool = new WorkerPool(Math.Max(1, poolThreads));
        using (poolThreads > 0 ? WorkerPool.Use(pool) : default(WorkerPool.CurrentRegion?))
        {
            float[] batch = LogLikelihoods(ml, transformer.Transform(ml.Data.LoadFromEnumerable(images)));
            var engine = ml.Model.CreatePredictionEngine<Image, LogLikelihoodRow>(transformer);
            for (int i = 0; i < images.Length; i++)
                Assert.AreEqual(BitConverter.SingleToInt32Bits(batch[i]), BitConverter.SingleToInt32Bits(engine.Predict(images[i]).LogLikelihood),
                    $"row {i}: {batch[i]:R} in the batch");
            Assert.AreEqual(batch[3], LogLikelihoods(ml, transformer.Transform(ml.Data.LoadFromEnumerable(images.Skip(3).Take(1)))).Single(), 0f,
                "a data view of one row");
        }
    }

    /// <summary>The split path reads the rows through a pointer: rows shorter than count × size are refused there as by one scorer.</summary>
    [TestMethod]
    public void RowsShorterThanTheirCountAreRefusedWhenSplitAsWhenNot()
    {
        var transformer = new HelmholtzMachineTransformer(TestModels.Random("6b-3b", 5), new HelmholtzMachineOptions
        {
            InputColumnName = "Pixels", Architecture = "6b-3b", Samples = 100, FeatureColumnName = null,
        }, seed: 1, threshold: 0);
        float[] backing = new float[4 * 6];
        float[] result = new float[4];
        string inline;
        using (WorkerPool.InlineScope())
            inline = Assert.ThrowsExactly<ArgumentException>(() => new ManagedComputation(transformer).LogLikelihood(backing.AsSpan(0, 6), 4, result)).Message;
        StringAssert.Contains(inline, "rows holds 6 values, not 4 rows × 6");
        using var pool = new WorkerPool(4);
        using (WorkerPool.Use(pool))
            StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => new ManagedComputation(transformer).LogLikelihood(backing.AsSpan(0, 6), 4, result)).Message,
                "rows holds 6 values, not 4 rows × 6");
    }

    /// <summary>
    /// A machine no float computation can score (a continuous Bernoulli layer's logits past float) is refused with the
    /// scorer's own NotFiniteNumberException when the batch is split, as when it is not: not an AggregateException of
    /// the pipelines. The next batch is scored as before by the same transformer once the machine can be scored.
    /// </summary>
    [TestMethod]
    public void APipelinesFailureIsTheScorersOwnException()
    {
        HelmholtzMachine machine = TestModels.Random("6cb-3g", 5);
        machine.Parameters.Single(p => p.Name == "generative.0.W").Value.AsSpan().Fill(3e38f);
        var transformer = new HelmholtzMachineTransformer(machine, new HelmholtzMachineOptions
        {
            InputColumnName = "Pixels", Architecture = "6cb-3g", Samples = 100, FeatureColumnName = null,
        }, seed: 1, threshold: 0);
        var ml = new MLContext(seed: 1);
        var random = new RandomStream(3);
        IDataView data = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 40).Select(_ => new SixValues
        {
            Pixels = Enumerable.Range(0, 6).Select(_ => (float)random.NextDouble()).ToArray(),
        }).ToArray());

        string inlineMessage;
        using (WorkerPool.InlineScope())
            inlineMessage = Assert.ThrowsExactly<NotFiniteNumberException>(() => LogLikelihoods(ml, transformer.Transform(data))).Message;
        using var pool = new WorkerPool(4);
        using (WorkerPool.Use(pool))
        {
            var e = Assert.ThrowsExactly<NotFiniteNumberException>(() => LogLikelihoods(ml, transformer.Transform(data)));
            Assert.AreEqual(inlineMessage, e.Message, "the first pipeline's failure, as one scorer meets it");
            StringAssert.Contains(e.Message, "generative.0.W");
        }
    }

    /// <summary>
    /// Rows no scorer can read (0.5 in a binary layer) in the first and the last of four pipelines: the first pipeline's
    /// exception, as one scorer meets it; the same computation then scores good rows as one scorer does, the failures cleared.
    /// </summary>
    [TestMethod]
    public void TheFirstPipelinesBadRowIsNamedAndTheComputationScoresOnAfterIt()
    {
        var transformer = new HelmholtzMachineTransformer(TestModels.Random("6b-3b", 5), new HelmholtzMachineOptions
        {
            InputColumnName = "Pixels", Architecture = "6b-3b", Samples = 100, FeatureColumnName = null,
        }, seed: 1, threshold: 0);
        var random = new RandomStream(3);
        float[] good = Enumerable.Range(0, 40 * 6).Select(_ => random.NextDouble() < 0.5 ? 1f : 0f).ToArray();
        float[] bad = (float[])good.Clone();
        bad[2 * 6 + 1] = 0.5f;    // row 2, column 1: the first pipeline's
        bad[37 * 6 + 4] = 0.5f;   // row 37, column 4: the last pipeline's
        float[] inline = new float[40], split = new float[40];
        string inlineMessage;
        using (WorkerPool.InlineScope())
        {
            var one = new ManagedComputation(transformer);
            inlineMessage = Assert.ThrowsExactly<ArgumentException>(() => one.LogLikelihood(bad, 40, inline)).Message;
            one.LogLikelihood(good, 40, inline);
        }
        StringAssert.Contains(inlineMessage, "row 2, column 1");
        using var pool = new WorkerPool(4);
        using (WorkerPool.Use(pool))
        {
            var computation = new ManagedComputation(transformer);
            Assert.AreEqual(inlineMessage, Assert.ThrowsExactly<ArgumentException>(() => computation.LogLikelihood(bad, 40, split)).Message);
            computation.LogLikelihood(good, 40, split);
        }
        for (int i = 0; i < 40; i++) Assert.AreEqual(inline[i], split[i], 0f, $"row {i}");

        // A bad row in the last pipeline alone is named by its row in the batch, not in the pipeline's part of it.
        float[] lastOnly = (float[])good.Clone();
        lastOnly[37 * 6 + 4] = 0.5f;
        using (WorkerPool.InlineScope())
            inlineMessage = Assert.ThrowsExactly<ArgumentException>(() => new ManagedComputation(transformer).LogLikelihood(lastOnly, 40, inline)).Message;
        StringAssert.Contains(inlineMessage, "row 37, column 4");
        using (WorkerPool.Use(pool))
            Assert.AreEqual(inlineMessage, Assert.ThrowsExactly<ArgumentException>(() => new ManagedComputation(transformer).LogLikelihood(lastOnly, 40, split)).Message);
    }
}
