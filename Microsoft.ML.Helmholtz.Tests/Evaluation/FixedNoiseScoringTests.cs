using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Evaluation;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;
using Microsoft.ML.Helmholtz.Tests.Support;

namespace Microsoft.ML.Helmholtz.Tests.Evaluation;

/// <summary>
/// Scoring rows with common random numbers: a row's log-likelihood and features are functions of
/// the row alone, bit for bit, whatever is scored with it; the estimate converges to ln p(x).
/// </summary>
[TestClass]
public sealed class FixedNoiseScoringTests
{
    public static IEnumerable<object[]> Engines => [["default"], ["managed"]];

    private static IMatrixEngine Engine(string name) => name == "managed" ? MatrixEngine.Managed : MatrixEngine.Default;

    private static float[] Reversed(DataMatrix data)
    {
        var result = new float[data.Values.Length];
        for (int i = 0; i < data.Rows; i++) data.Row(data.Rows - 1 - i).CopyTo(result.AsSpan(i * data.Columns));
        return result;
    }

    [TestMethod]
    [DataRow("default", "60b-30g-10g", 1)]
    [DataRow("default", "60b-30g-10g", 7)]
    [DataRow("default", "60b-30b-10b", 100)]
    [DataRow("default", "60b-13g", 1500)]
    [DataRow("default", "61b-29g-11b", 33)]
    [DataRow("default", "37b-13g-7g", 3)]
    [DataRow("default", "60b-30g-10g", 100)]
    [DataRow("managed", "60b-30g-10g", 7)]
    [DataRow("managed", "60b-13g", 1500)]
    public void ARowsLogLikelihoodDoesNotDependOnTheRowsBesideIt(string engine, string architecture, int k)
    {
        var machine = TestModels.Random(architecture, 1, scale: 0.3f);
        machine = machine.Clone(Engine(engine));
        int d = machine.Architecture.Visible.Size;
        DataMatrix data = TestModels.BinaryData(23, d, 2);
        var estimator = new FixedNoiseLogLikelihood(machine, k, seed: 3, rowsPerChunk: 1000);
        var scorer = estimator.CreateScorer();
        double[] together = new double[23], reversed = new double[23], one = new double[1];
        scorer.Estimate(data.Values, 23, together);
        estimator.CreateScorer().Estimate(Reversed(data), 23, reversed);
        for (int i = 0; i < 23; i++)
        {
            scorer.Estimate(data.Row(i), 1, one);
            Assert.AreEqual(together[i], one[0], 0.0, $"row {i} alone");
            Assert.AreEqual(together[i], reversed[22 - i], 0.0, $"row {i} in reverse order");
            Assert.IsTrue(double.IsFinite(together[i]));
        }
    }

    [TestMethod]
    [DynamicData(nameof(Engines))]
    public void ARowsFeaturesDoNotDependOnTheRowsBesideIt(string engine)
    {
        var machine = TestModels.Random("60b-30b-10g", 4, scale: 0.3f).Clone(Engine(engine));
        DataMatrix data = TestModels.BinaryData(150, 60, 5);   // two whole blocks of 64 and a padded one
        foreach (FeatureLayers layers in new[] { FeatureLayers.Top, FeatureLayers.AllHidden })
        {
            var features = new RecognitionFeatures(machine, layers);
            int size = features.Size;
            Assert.AreEqual(layers == FeatureLayers.Top ? 10 : 40, size);
            var extractor = features.CreateExtractor();
            float[] together = new float[150 * size], reversed = new float[150 * size], one = new float[size];
            extractor.Extract(data.Values, 150, together);
            features.CreateExtractor().Extract(Reversed(data), 150, reversed);
            for (int i = 0; i < 150; i++)
            {
                extractor.Extract(data.Row(i), 1, one);
                CollectionAssert.AreEqual(together.AsSpan(i * size, size).ToArray(), one, $"{layers}: row {i} alone");
                CollectionAssert.AreEqual(together.AsSpan(i * size, size).ToArray(), reversed.AsSpan((149 - i) * size, size).ToArray(), $"{layers}: row {i} reversed");
            }
            // They are the recognition network's deterministic pass.
            var states = new LayerStates(machine.Architecture, 150);
            data.Values.CopyTo(states.Layer(0, 150));
            machine.Recognition.Infer(150, states);
            ReadOnlySpan<float> top = states.Layer(2, 150);
            for (int i = 0; i < 150; i++)
                for (int j = 0; j < 10; j++)
                    Assert.AreEqual(top[i * 10 + j], together[i * size + size - 10 + j], 1e-5f, $"{layers}: row {i}, top unit {j}");
        }
    }

    /// <summary>On a machine small enough to enumerate, the estimate converges to ln p(x) within the spread the weights give.</summary>
    [TestMethod]
    public void TheEstimateConvergesToTheExactLogLikelihood()
    {
        var machine = TestModels.Random("10b-4b-3b", 6, scale: 0.5f);
        DataMatrix data = TestModels.BinaryData(6, 10, 7);
        const int k = 20000;
        double[] estimate = new double[6], variance = new double[6];
        new FixedNoiseLogLikelihood(machine, k, seed: 8).CreateScorer().Estimate(data.Values, 6, estimate, variance);
        for (int i = 0; i < 6; i++)
        {
            var (logJoint, logQ) = TestModels.Enumerate(machine, data.Row(i));
            double exact = Kernels.LogSumExp(logJoint);
            // r = w / p(x), of mean 1 under q: its variance and fourth central moment, exactly.
            double relative = 0, fourth = 0;
            for (int c = 0; c < logQ.Length; c++)
            {
                double q = Math.Exp(logQ[c]), d = Math.Exp(logJoint[c] - exact - logQ[c]) - 1;
                relative += q * d * d;
                fourth += q * d * d * d * d;
            }
            double sd = Math.Sqrt(relative / k);
            Assert.AreEqual(exact, estimate[i], 5 * sd + 1e-4, $"row {i}");
            // The variance is estimated from the K weights: a sample variance's relative standard deviation is √((m₄/σ⁴ − 1)/K).
            double varianceError = Math.Sqrt((fourth / (relative * relative) - 1) / k) * sd * sd;
            Assert.AreEqual(sd * sd, variance[i], 5 * varianceError, $"row {i}: the Monte Carlo variance from the weights; relative tolerance {5 * varianceError / (sd * sd):F3}, off by {Math.Abs(variance[i] - sd * sd) / (sd * sd):F3}");
        }
    }

    [TestMethod]
    public void ScorersOnManyThreadsAgreeAndTheMachineCanChangeAfterwards()
    {
        var machine = TestModels.Random("60b-30g-10g", 9, scale: 0.3f);
        DataMatrix data = TestModels.BinaryData(40, 60, 10);
        var estimator = new FixedNoiseLogLikelihood(machine, 50, seed: 11);
        double[] serial = new double[40];
        estimator.CreateScorer().Estimate(data.Values, 40, serial);
        foreach (Parameter p in machine.Parameters) p.Value.AsSpan().Fill(0.5f);   // the estimator scores its own copy
        var results = new double[8][];
        Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 8 }, t =>
        {
            results[t] = new double[40];
            var scorer = estimator.CreateScorer();
            for (int round = 0; round < 3; round++) scorer.Estimate(data.Values, 40, results[t]);
        });
        foreach (double[] r in results) CollectionAssert.AreEqual(serial, r);
        Assert.AreEqual(50 * 30, estimator.Noise(1).Length);
        Assert.IsTrue(estimator.Noise(2).ToArray().Any(v => v < 0), "Gaussian layers get standard normals");
    }

    [TestMethod]
    public void TheNoiseOfALayerOutOfRangeIsNamed()
    {
        var estimator = new FixedNoiseLogLikelihood(TestModels.Random("6b-4b-3b", 1), 5);
        foreach (int layer in new[] { 0, 3, -1 })
        {
            var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => { _ = estimator.Noise(layer).Length; });
            Assert.AreEqual("layer", e.ParamName);
            StringAssert.Contains(e.Message, "1 to 2");
        }
        Assert.AreEqual(5 * 4, estimator.Noise(1).Length);
    }

    /// <summary>A negative count is named as the count (it was blamed on 'rows', as empty).</summary>
    [TestMethod]
    public void AnExtractorNamesANegativeCount()
    {
        var machine = TestModels.Random("6b-3b", 7);
        var extractor = new RecognitionFeatures(machine).CreateExtractor();
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => extractor.Extract(new float[6], -1, new float[100]));
        Assert.AreEqual("count", e.ParamName);
        // Features too few for the rows are named too: 3 a row, 2 given.
        var shortFeatures = Assert.ThrowsExactly<ArgumentException>(() => extractor.Extract(new float[6], 1, new float[2]));
        Assert.AreEqual("features", shortFeatures.ParamName);
    }

    // A call of more rows than a block takes them in blocks, each block reading its own rows (not the call's first ones):
    // the same bits as each row alone, for the top layer and for every hidden layer.
    [TestMethod]
    public void FeaturesOverSeveralBlocksAreEachRowsOwn()
    {
        var machine = TestModels.Random("12b-5b-3g", 31, scale: 1f);
        const int count = 11;   // blocks of 4, 4 and a last one of 3
        DataMatrix data = TestModels.BinaryData(count, 12, 32);
        foreach (FeatureLayers layers in new[] { FeatureLayers.Top, FeatureLayers.AllHidden })
        {
            var features = new RecognitionFeatures(machine, layers, rowsPerBlock: 4);
            var extractor = features.CreateExtractor();
            var together = new float[count * features.Size];
            extractor.Extract(data.Values, count, together);
            var alone = new float[features.Size];
            for (int r = 0; r < count; r++)
            {
                extractor.Extract(data.Values.AsSpan(r * 12, 12), 1, alone);
                CollectionAssert.AreEqual(alone, together.AsSpan(r * features.Size, features.Size).ToArray(), $"{layers}, row {r}");
            }
        }
    }

    // From K = 64 a row is scored alone in chunks of rowsPerChunk samples, each with its own samples' noise: the estimate does
    // not depend on the chunk size (only the products' shapes change with it, so agreement to float rounding, not bits).
    [TestMethod]
    public void AnEstimateOverChunksOfTheSamplesDoesNotDependOnTheChunkSize()
    {
        var machine = TestModels.Random("20b-7g-3g", 21, scale: 1f);
        DataMatrix data = TestModels.BinaryData(3, 20, 22);
        const int k = 96;
        double[] whole = new double[3], chunked = new double[3];
        new FixedNoiseLogLikelihood(machine, k, seed: 23).CreateScorer().Estimate(data.Values, 3, whole);
        new FixedNoiseLogLikelihood(machine, k, seed: 23, rowsPerChunk: 40).CreateScorer().Estimate(data.Values, 3, chunked);
        // Free energies of some 20 nats from float products: a relative 1e-5 is many roundings.
        for (int i = 0; i < 3; i++) Assert.AreEqual(whole[i], chunked[i], 1e-5 * Math.Abs(whole[i]), $"row {i}");
    }

    // Features are of the machine as it was when they were made: a change to the machine afterwards (training makes them) reaches no
    // extractor, not even one made after it; features made after it see it.
    [TestMethod]
    public void FeaturesAreOfTheMachineAsItWasWhenTheyWereMade()
    {
        var machine = TestModels.Random("12b-5b-3g", 33, scale: 1f);
        DataMatrix data = TestModels.BinaryData(4, 12, 34);
        var features = new RecognitionFeatures(machine, FeatureLayers.AllHidden);
        float[] before = new float[4 * features.Size], after = new float[4 * features.Size], changed = new float[4 * features.Size];
        features.CreateExtractor().Extract(data.Values, 4, before);
        foreach (Parameter p in machine.Recognition.Layer(1).Parameters) p.Value.AsSpan().Fill(0.5f);
        features.CreateExtractor().Extract(data.Values, 4, after);
        CollectionAssert.AreEqual(before, after, "an extractor made after the change");
        new RecognitionFeatures(machine, FeatureLayers.AllHidden).CreateExtractor().Extract(data.Values, 4, changed);
        CollectionAssert.AreNotEqual(before, changed, "features made after the change");
    }

    // Feature layers that name neither member of the enumeration are refused when the features are made (they extracted every hidden layer).
    [TestMethod]
    public void UndefinedFeatureLayersAreRefused()
    {
        var machine = TestModels.Random("4b-3b", 12);
        foreach (FeatureLayers layers in new[] { (FeatureLayers)2, (FeatureLayers)(-1) })
            Assert.AreEqual("layers", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new RecognitionFeatures(machine, layers)).ParamName, layers.ToString());
    }

    [TestMethod]
    public void AContinuousBernoulliRecognitionLayerGetsUniformNoise()
    {
        // Its draws are quantiles of uniforms, as the binary layer's are comparisons with them: 200 × 5 values in [0, 1),
        // their mean within 5 standard deviations (sqrt(1/12/1000) ≈ 0.009) of 1/2; the estimate finite.
        var machine = TestModels.Random("6b-5cb-3b", 1, scale: 0.3f);
        var estimator = new FixedNoiseLogLikelihood(machine, 200, seed: 4);
        foreach (int layer in new[] { 1, 2 })
        {
            float[] noise = estimator.Noise(layer).ToArray();
            Assert.IsTrue(noise.All(v => v >= 0 && v < 1), $"layer {layer}: every value in [0, 1)");
            Assert.AreEqual(0.5, noise.Average(v => (double)v), 5 * Math.Sqrt(1.0 / 12 / noise.Length), $"layer {layer}");
        }
        var estimate = new double[2];
        estimator.CreateScorer().Estimate(TestModels.BinaryData(2, 6, 5).Values, 2, estimate);
        Assert.IsTrue(estimate.All(double.IsFinite), string.Join(", ", estimate));
    }

    // The seed draws the fixed noise: the same seed gives the same noise and estimates, another seed other noise and other estimates.
    [TestMethod]
    public void TheSeedDrawsTheFixedNoise()
    {
        var machine = TestModels.Random("10b-4b-3g", 41, scale: 0.5f);
        DataMatrix data = TestModels.BinaryData(3, 10, 42);
        double[] Estimates(FixedNoiseLogLikelihood estimator)
        {
            var result = new double[3];
            estimator.CreateScorer().Estimate(data.Values, 3, result);
            return result;
        }
        FixedNoiseLogLikelihood first = new(machine, 20, seed: 43), again = new(machine, 20, seed: 43), other = new(machine, 20, seed: 44);
        foreach (int layer in new[] { 1, 2 })
        {
            CollectionAssert.AreEqual(first.Noise(layer).ToArray(), again.Noise(layer).ToArray(), $"layer {layer}, the same seed");
            CollectionAssert.AreNotEqual(first.Noise(layer).ToArray(), other.Noise(layer).ToArray(), $"layer {layer}, seeds 43 and 44");
        }
        CollectionAssert.AreEqual(Estimates(first), Estimates(again), "the same seed");
        CollectionAssert.AreNotEqual(Estimates(first), Estimates(other), "seeds 43 and 44");
    }

    // K past the limit on noise values is refused naming samples, before any noise is allocated: 3 values a sample × 2³⁰ samples
    // also passes an int, where the noise's size wrapped to a negative count.
    [TestMethod]
    public void SamplesWhoseNoisePassesTheLimitAreRefusedNamingSamples()
    {
        var machine = TestModels.Random("4b-3b", 45);
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new FixedNoiseLogLikelihood(machine, 1 << 30));
        Assert.AreEqual("samples", e.ParamName);
        StringAssert.Contains(e.Message, "noise values");
    }

    /// <summary>
    /// The fixed noise may hold exactly the parameter limit of values, not one sample more: 4 noise values a sample (two
    /// hidden layers of 2 Bernoulli units) times 2^26 samples is 2^28, the limit. Checked through the size check itself, since
    /// a scorer at the limit would draw a gigabyte of noise; one sample more is refused by the constructor, naming K, before
    /// anything is drawn.
    /// </summary>
    [TestMethod]
    public void TheFixedNoiseMayHoldExactlyTheParameterLimitOfValues()
    {
        var machine = TestModels.Random("4b-2b-2b", 1, scale: 0.3f);
        int atTheLimit = checked((int)(HelmholtzArchitecture.MaxParameterCount / 4));   // 2^26 samples of 4 noise values
        Assert.AreEqual(HelmholtzArchitecture.MaxParameterCount, 4L * atTheLimit, "the premise: a limit that 4 divides");
        Assert.IsNull(FixedNoiseLogLikelihood.TooManySamples(machine, atTheLimit), "exactly the limit");
        Assert.IsNotNull(FixedNoiseLogLikelihood.TooManySamples(machine, atTheLimit + 1), "one sample more");
        var refused = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new FixedNoiseLogLikelihood(machine, atTheLimit + 1));
        Assert.AreEqual("samples", refused.ParamName);
    }

    /// <summary>
    /// The fixed noise is the seed's own stream, layer after layer from the first hidden layer, uniforms for Bernoulli units and
    /// normals for Gaussian ones: a seed gives the same estimates in every version and beside any other code drawing from the
    /// same seed (an offset seed passed every comparison of two estimators, both drawing from it).
    /// </summary>
    [TestMethod]
    public void TheFixedNoiseIsTheSeedsStreamLayerAfterLayer()
    {
        var machine = TestModels.Random("6b-4g-3b", 1, scale: 0.3f);
        var estimator = new FixedNoiseLogLikelihood(machine, 5, seed: 42);
        var random = new RandomStream(42);
        float[] first = new float[5 * machine.Recognition.Layer(1).NoisePerRow], second = new float[5 * machine.Recognition.Layer(2).NoisePerRow];
        random.FillNormal(first);
        random.FillUniform(second);
        CollectionAssert.AreEqual(first, estimator.Noise(1).ToArray(), "layer 1 (Gaussian): the seed's first normals");
        CollectionAssert.AreEqual(second, estimator.Noise(2).ToArray(), "layer 2 (Bernoulli): the uniforms that follow");
    }

    /// <summary>
    /// From K = 64 on a row is scored alone (its K samples fill the products), below it in slots of ⌊rowsPerChunk / K⌋ rows a chunk:
    /// at the default 1000 rows, K = 63 puts 15 rows together and K = 64 one. The boundary sizes the transformer's pipelines
    /// (a batch is split by the rows scored together), and a row alone never waits on a chunk of others.
    /// </summary>
    [TestMethod]
    public void FromSixtyFourSamplesEachRowIsScoredAlone()
    {
        var machine = TestModels.Random("10b-4b-3g", 51, scale: 0.5f);
        Assert.AreEqual(1000 / 63, new FixedNoiseLogLikelihood(machine, 63, seed: 52).CreateScorer().RowsTogether, "K = 63: in slots");
        Assert.AreEqual(1, new FixedNoiseLogLikelihood(machine, 64, seed: 52).CreateScorer().RowsTogether, "K = 64: alone");
        Assert.AreEqual(1, new FixedNoiseLogLikelihood(machine, 65, seed: 52).CreateScorer().RowsTogether, "K = 65: alone");
    }
}
