using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Evaluation;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;
using Microsoft.ML.Helmholtz.Tests.Support;

namespace Microsoft.ML.Helmholtz.Tests.Evaluation;

/// <summary>
/// The estimators on a machine small enough to enumerate (10 binary visible, 4 + 3 binary hidden).
/// Tolerances come from the importance weights' variance, computed exactly by enumeration.
/// </summary>
[TestClass]
public sealed class LogLikelihoodTests
{
    private static readonly float[][] Examples =
    [
        [1, 0, 1, 1, 0, 0, 1, 0, 1, 1],
        [0, 0, 0, 1, 1, 0, 1, 1, 0, 0],
        [1, 1, 1, 1, 1, 0, 0, 0, 0, 1],
    ];

    private static DataMatrix Data(int copies = 1)
    {
        var rows = Enumerable.Range(0, copies).SelectMany(_ => Examples).ToArray();
        return new DataMatrix(rows.Length, 10, rows.SelectMany(r => r).ToArray());
    }

    /// <summary>Var_q[w] / E_q[w]² for w = p(v, h) / q(h | v): the relative variance of one importance weight.</summary>
    internal static double RelativeWeightVariance(HelmholtzMachine machine, float[] v)
    {
        var (logJoint, logQ) = TestModels.Enumerate(machine, v);
        double logP = Kernels.LogSumExp(logJoint);
        double second = 0;
        for (int k = 0; k < logQ.Length; k++) second += Math.Exp(2 * (logJoint[k] - logP) - logQ[k]);
        return second - 1;
    }

    /// <summary>
    /// Each example's importance-sampled estimate with <paramref name="k"/> samples is within 5 standard deviations of the exact
    /// ln p enumerated, the deviation from the delta method: sd(ln p̂) ≈ sqrt(Var[w] / (K E[w]²)).
    /// </summary>
    internal static void AssertNearTheExactLogLikelihood(HelmholtzMachine machine, float[][] examples, double[] estimate, int k)
    {
        for (int i = 0; i < examples.Length; i++)
        {
            double exact = TestModels.ExactLogLikelihood(machine, examples[i]);
            double sd = Math.Sqrt(RelativeWeightVariance(machine, examples[i]) / k);
            Assert.AreEqual(exact, estimate[i], 5 * sd + 1e-4, $"example {i}");
        }
    }

    [TestMethod]
    public void ProgressRisesToOneAsTheSamplesAreDrawn()
    {
        var machine = TestModels.Random("10b-4b-3b", 61, scale: 0.8f);
        var data = new DataMatrix(30, 10, TestModels.RandomStates(machine.Architecture, 30, 62).Layer(0, 30).ToArray());
        // One pipeline, chunks of 100 rows (10 examples × K = 10): the share of the samples drawn, after each chunk, in order.
        var serial = new List<double>();
        new ImportanceSampledLogLikelihood(10, seed: 63, rowsPerChunk: 100) { Parallelism = 1 }.Estimate(machine, data, new SynchronousProgress<double>(serial.Add));
        CollectionAssert.AreEqual(new[] { 1 / 3.0, 2 / 3.0, 1.0 }, serial.ToArray());
        // Pipelines report from their own threads: each report is a share of the whole, and the last share is all of it.
        var parallel = new List<double>();
        new ImportanceSampledLogLikelihood(10, seed: 63, rowsPerChunk: 100) { Parallelism = 2 }.Estimate(machine, data,
            new SynchronousProgress<double>(p => { lock (parallel) parallel.Add(p); }));
        Assert.IsTrue(parallel.Count >= 2 && parallel.All(p => p > 0 && p <= 1), string.Join(", ", parallel));
        Assert.AreEqual(1.0, parallel.Max());
    }

    [TestMethod]
    [DataRow(1)]
    [DataRow(2)]
    [DataRow(3)]
    public void ImportanceSamplingConvergesToTheExactLogLikelihood(int pipelines)
    {
        var machine = TestModels.Random("10b-4b-3b", 71, scale: 0.8f);
        const int k = 20000;
        double[] estimate = new ImportanceSampledLogLikelihood(k, seed: 72, rowsPerChunk: 4096) { Parallelism = pipelines }.EstimatePerExample(machine, Data());
        AssertNearTheExactLogLikelihood(machine, Examples, estimate, k);
    }

    [TestMethod]
    public void OneSampleEstimateIsMinusTheFreeEnergyAndLargerKTightensTheBound()
    {
        var machine = TestModels.Random("10b-4b-3b", 73, scale: 0.8f);
        const int replicates = 4000;
        var data = Data(replicates);
        double previousGap = double.PositiveInfinity, previousError = 0;
        foreach (int k in new[] { 1, 10, 100 })
        {
            // One pipeline: the seed then fixes the draws whatever the core count.
            double[] estimates = new ImportanceSampledLogLikelihood(k, seed: 74 + (ulong)k) { Parallelism = 1 }.EstimatePerExample(machine, data);
            for (int i = 0; i < Examples.Length; i++)
            {
                double[] mine = estimates.Where((_, r) => r % Examples.Length == i).ToArray();
                var summary = LogLikelihoodEstimate.FromPerExample(mine, new double[mine.Length], k);  // the spread over replicates is what is wanted here
                double exact = TestModels.ExactLogLikelihood(machine, Examples[i]);
                if (k == 1)
                    Assert.AreEqual(-TestModels.ExactFreeEnergy(machine, Examples[i]), summary.Mean, 5 * summary.StandardErrorOverExamples, $"K=1 is −F, example {i}");
                Assert.IsTrue(summary.Mean < exact + 5 * summary.StandardErrorOverExamples, $"K={k}, example {i}: {summary.Mean} should not exceed ln p = {exact}");
                if (i == 0)
                {
                    // The two means are independent (their own seeds): the gap must shrink by more than 5 standard errors of the difference.
                    double gap = exact - summary.Mean, error = summary.StandardErrorOverExamples;
                    double margin = 5 * Math.Sqrt(error * error + previousError * previousError);
                    Assert.IsTrue(gap < previousGap - margin, $"K={k}: the gap {gap} should shrink with K (was {previousGap}, margin {margin})");
                    previousGap = gap;
                    previousError = error;
                }
            }
        }
    }

    [TestMethod]
    public void TheOneSampleGapIsTheKullbackLeiblerDivergenceAndIsResolved()
    {
        // F − (−ln p) = KL(q ‖ p(h | v)) ≥ 0: the exact enumeration must agree, and for this random machine it is clearly positive.
        var machine = TestModels.Random("10b-4b-3b", 73, scale: 0.8f);
        double gap = TestModels.ExactFreeEnergy(machine, Examples[0]) + TestModels.ExactLogLikelihood(machine, Examples[0]);
        Assert.IsTrue(gap > 0.05, $"KL should be clearly positive for a random q, got {gap}");
    }

    [TestMethod]
    public void TheNaiveEstimatesMonteCarloErrorIsTheMeanOfItsExamplesErrors()
    {
        // The dreams are shared by every example, so copies of one example have the same estimate and error, and the error of
        // their mean is that one error (the mean of the per-example errors), not the independent samples' √(Σ v) / N = it / √N.
        var machine = TestModels.Random("10b-4b-3b", 75, scale: 0.8f);
        var estimator = new NaiveLogLikelihood(500, seed: 77);
        var one = estimator.Estimate(machine, new DataMatrix(1, 10, Examples[0]));
        var four = estimator.Estimate(machine, new DataMatrix(4, 10, Enumerable.Repeat(Examples[0], 4).SelectMany(r => r).ToArray()));
        Assert.IsTrue(one.MonteCarloStandardError > 0, $"error {one.MonteCarloStandardError}");
        // Tolerances: the same dreams per example; only the float products' rounding may differ with the rows multiplied at once
        // (the AVX2 kernel's blocking), about 2⁻²⁴ of terms of a few nats, far inside 1e-4 nats and 0.1% (the mutant's error is half).
        Assert.AreEqual(one.Mean, four.Mean, 1e-4);
        Assert.AreEqual(one.MonteCarloStandardError, four.MonteCarloStandardError, 1e-3 * one.MonteCarloStandardError);
    }

    [TestMethod]
    public void NaiveEstimatorConvergesToTheExactLogLikelihood()
    {
        var machine = TestModels.Random("10b-4b-3b", 75, scale: 0.8f);
        const int k = 200000;
        double[] estimate = new NaiveLogLikelihood(k, seed: 76).EstimatePerExample(machine, Data());
        for (int i = 0; i < Examples.Length; i++)
        {
            var (logJoint, _) = TestModels.Enumerate(machine, Examples[i]);
            double exact = Kernels.LogSumExp(logJoint);
            // Prior proposal: w = p(v | h); Var[w]/E[w]² = Σ_h p(h) p(v|h)² / p(v)² − 1 = Σ_h p(v,h)² / p(h) / p(v)² − 1.
            double relativeVariance = 0;
            double[] logPrior = LogPriorOfEachConfiguration(machine, Examples[i]);
            for (int c = 0; c < logJoint.Length; c++) relativeVariance += Math.Exp(2 * (logJoint[c] - exact) - logPrior[c]);
            relativeVariance -= 1;
            double sd = Math.Sqrt(relativeVariance / k);
            Assert.AreEqual(exact, estimate[i], 5 * sd + 1e-4, $"example {i}");
        }
    }

    /// <summary>ln p(h) = ln p(v, h) − ln p(v | h) for each enumerated h (the enumeration order of <see cref="TestModels.Enumerate"/>).</summary>
    internal static double[] LogPriorOfEachConfiguration(HelmholtzMachine machine, float[] v)
    {
        var (logJoint, _) = TestModels.Enumerate(machine, v);
        var layers = machine.Architecture.Layers;
        int configurations = logJoint.Length, hidden = layers.Skip(1).Sum(l => l.Size), d = layers[0].Size;
        var states = new LayerStates(machine.Architecture, configurations);
        var all = TestModels.AllBinaryVectors(hidden);
        for (int c = 0; c < configurations; c++)
        {
            v.CopyTo(states.Layer(0, configurations).Slice(c * d, d));
            int offset = 0;
            for (int l = 1; l < layers.Count; l++)
            {
                all.AsSpan(c * hidden + offset, layers[l].Size).CopyTo(states.Layer(l, configurations).Slice(c * layers[l].Size, layers[l].Size));
                offset += layers[l].Size;
            }
        }
        var visibleTerm = new double[configurations];
        machine.Generative.Layers[0].Forward(states.Layer(1, configurations), configurations);
        machine.Generative.Layers[0].AccumulateLogProb(states.Layer(0, configurations), configurations, visibleTerm);
        return logJoint.Select((lj, c) => lj - visibleTerm[c]).ToArray();
    }

    [TestMethod]
    public void BothEstimatorsHandleAGaussianVisibleLayer()
    {
        // Gaussian visible units with a linear mean over binary hidden units: still enumerable.
        var machine = TestModels.Random("5gl-4b-3b", 78, scale: 0.8f);
        float[][] examples = [[0.3f, -1.2f, 0.8f, 2.0f, -0.1f], [-0.5f, 0.4f, 1.1f, -0.9f, 0.0f]];
        var data = new DataMatrix(2, 5, examples.SelectMany(e => e).ToArray());
        const int k = 50000;
        double[] importance = new ImportanceSampledLogLikelihood(k, seed: 79).EstimatePerExample(machine, data);
        double[] naive = new NaiveLogLikelihood(k, seed: 80).EstimatePerExample(machine, data);
        for (int i = 0; i < examples.Length; i++)
        {
            double exact = TestModels.ExactLogLikelihood(machine, examples[i]);
            double sdImportance = Math.Sqrt(RelativeWeightVariance(machine, examples[i]) / k);
            Assert.AreEqual(exact, importance[i], 5 * sdImportance + 1e-4, $"importance sampling, example {i}");
            var (logJoint, _) = TestModels.Enumerate(machine, examples[i]);
            double[] logPrior = LogPriorOfEachConfiguration(machine, examples[i]);
            double relativeVariance = -1;
            for (int c = 0; c < logJoint.Length; c++) relativeVariance += Math.Exp(2 * (logJoint[c] - exact) - logPrior[c]);
            Assert.AreEqual(exact, naive[i], 5 * Math.Sqrt(relativeVariance / k) + 1e-4, $"naive, example {i}");
        }
    }

    [TestMethod]
    public void ParallelPipelinesGiveTheSameEstimateForTheSameSeedAndLeaveTheCallerParallel()
    {
        var machine = TestModels.Random("10b-4b-3b", 79, scale: 0.8f);
        var data = Data(4);
        var estimator = new ImportanceSampledLogLikelihood(50, seed: 80) { Parallelism = 2 };
        // A pool of two threads of its own, so that the caller is parallel before the estimates on any machine (one of one
        // core's shared pool is inline already).
        using var pool = new WorkerPool(2);
        using var use = WorkerPool.Use(pool);
        double[] a = estimator.EstimatePerExample(machine, data), b = estimator.EstimatePerExample(machine, data);
        CollectionAssert.AreEqual(a, b, "same seed and parallelism, same estimates");
        // Another seed draws other samples, on one pipeline as on two.
        foreach (int parallelism in new[] { 1, 2 })
            CollectionAssert.AreNotEqual(new ImportanceSampledLogLikelihood(50, seed: 80) { Parallelism = parallelism }.EstimatePerExample(machine, data),
                new ImportanceSampledLogLikelihood(50, seed: 81) { Parallelism = parallelism }.EstimatePerExample(machine, data), $"seeds 80 and 81, {parallelism} pipeline(s)");
        Assert.AreSame(pool, WorkerPool.Current, "the caller's pool after the estimates");
        Assert.IsFalse(WorkerPool.IsInlineOnThisThread, "the pipelines' inline scopes must end with them (Parallel.For runs one on the caller)");
    }

    [TestMethod]
    public void EstimatorsRejectDataTheVisibleLayerCannotModel()
    {
        var machine = TestModels.Random("10b-4b-3b", 77);
        var bad = new DataMatrix(1, 10, [1, 0, 0.5f, 1, 0, 0, 1, 0, 1, 1]);
        var e = Assert.ThrowsExactly<ArgumentException>(() => new ImportanceSampledLogLikelihood(10).Estimate(machine, bad));
        StringAssert.Contains(e.Message, "0.5");
        Assert.ThrowsExactly<ArgumentException>(() => new NaiveLogLikelihood(10).Estimate(machine, bad));
        Assert.AreEqual("samples", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new ImportanceSampledLogLikelihood(0)).ParamName);
        // Chunks of no rows would never end the estimate.
        Assert.AreEqual("rowsPerChunk", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new ImportanceSampledLogLikelihood(10, rowsPerChunk: 0)).ParamName);
    }

    [TestMethod]
    public void TheLogSumExpTreatsAZeroWeightAsZeroWhereverItComes()
    {
        static LogSumExpAccumulator Sum(params double[] values)
        {
            var sum = LogSumExpAccumulator.Empty;
            foreach (double v in values) sum.Add(v);
            return sum;
        }
        double expected = Math.Log(Math.Exp(1) + Math.Exp(2));
        Assert.AreEqual(expected, Sum(double.NegativeInfinity, 1, 2).Value, 1e-12, "−∞ first");
        Assert.AreEqual(expected, Sum(1, double.NegativeInfinity, 2).Value, 1e-12, "−∞ between");
        Assert.AreEqual(expected, Sum(double.NegativeInfinity, double.NegativeInfinity, 1, 2).Value, 1e-12, "−∞ twice first");
        Assert.AreEqual(double.NegativeInfinity, Sum(double.NegativeInfinity, double.NegativeInfinity).Value);
        Assert.AreEqual(double.PositiveInfinity, Sum(1, double.PositiveInfinity, 2, double.PositiveInfinity).Value);
        Assert.IsTrue(double.IsNaN(Sum(1, double.NaN, 2).Value));
        // The Monte Carlo variance counts the zero weights among the K samples: weights (0, e, e²) by hand.
        double[] w = [0, Math.E, Math.E * Math.E];
        double s1 = w.Sum(), s2 = w.Sum(x => x * x);
        Assert.AreEqual((3 * s2 / (s1 * s1) - 1) / 2, Sum(double.NegativeInfinity, 1, 2).LogMeanVariance, 1e-12);
        Assert.IsTrue(double.IsNaN(Sum(1).LogMeanVariance), "one sample has no variance estimate");
        // Two weights a rounding apart: K Σw² / (Σw)² comes out just under 1 (by 2⁻⁵³), and the variance is held at 0,
        // never negative (its square root is the standard error the estimators report).
        Assert.AreEqual(0.0, Sum(0, 1e-16).LogMeanVariance, "a variance under 0 from rounding");
        // The log-sum-exp of a whole span says the same (it gave NaN for a +∞, and lost a NaN behind −∞).
        foreach (double[] values in new double[][]
        {
            [double.NegativeInfinity, 1, 2], [1, double.NegativeInfinity, 2], [double.NegativeInfinity, double.NegativeInfinity], [],
            [1, double.PositiveInfinity, 2, double.PositiveInfinity], [double.PositiveInfinity, 0], [1, double.NaN, 2], [double.NaN, double.NegativeInfinity],
            [double.PositiveInfinity, double.NaN],
        })
        {
            double streamed = Sum(values).Value, atOnce = Kernels.LogSumExp(values);
            Assert.IsTrue(streamed.Equals(atOnce) || Math.Abs(streamed - atOnce) <= 1e-12, $"[{string.Join(", ", values)}]: streamed {streamed}, at once {atOnce}");
        }
    }

    /// <summary>
    /// A machine whose visible logit overflows to +∞ when both hidden units are on: those samples
    /// have weight 0 (log-weight −∞), and q draws them first about half the time. ln p(x) is finite,
    /// and so must every estimate be (the log-sum-exp once turned a first −∞ into NaN).
    /// </summary>
    [TestMethod]
    public void SamplesOfWeightZeroLeaveTheEstimateFinite()
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("1b-2b"), 1);
        var visible = machine.Generative.Layers[0].Parameters;   // W [1×2], b [1]
        visible[0].Value[0] = visible[0].Value[1] = 3e38f;      // their sum is +∞ in float
        visible[1].Value[0] = 0;
        machine.Generative.Prior.Parameters[0].Value.AsSpan().Clear();
        var recognition = machine.Recognition.Layer(1).Parameters;   // W [2×1], b [2]
        recognition[0].Value.AsSpan().Clear();
        recognition[1].Value.AsSpan().Fill(0.85f);   // q(h_i = 1) = 0.70: both on with probability 0.49
        const int examples = 20, k = 2000;
        var data = new DataMatrix(examples, 1, new float[examples]);
        var estimator = new ImportanceSampledLogLikelihood(k, seed: 90) { Parallelism = 1 };
        double[] estimates = estimator.EstimatePerExample(machine, data);
        // ln p(x = 0) = ln Σ_h p(h) p(x = 0 | h): only h = (0, 0) contributes (the others' logits are ≥ 3e38).
        double exact = Math.Log(0.25 * 0.5);
        double q00 = 0.3 * 0.3;   // w = p(0, h)/q(h) = 0.125/0.09 for h = (0,0), else 0: Var w / E[w]² = (1 − q00)/q00
        double sd = Math.Sqrt((1 - q00) / q00 / k);
        for (int i = 0; i < examples; i++)
            Assert.AreEqual(exact, estimates[i], 5 * sd, $"example {i}: {estimates[i]}");
        var summary = estimator.Estimate(machine, data);
        // From the weights, an example's standard deviation goes with the share of draws that hit (0, 0), p̂: its relative error is
        // ½ / √(K q00 (1 − q00)) = 3.9%, and the root mean square over 20 examples' 0.87%; 5% is between five and six of those.
        Assert.AreEqual(sd, summary.MonteCarloStandardError * Math.Sqrt(examples), 0.05 * sd, "the Monte Carlo error of one example, from the weights");
    }

    // Each example's Monte Carlo variance is computed from its own weights, not from the first example's of its range. With one
    // pipeline and chunks of K rows, example A alone and A first in [A, B] draw the same samples, so 4·MC[A, B]² − MC[A]² is exactly
    // B's own variance estimate, from its K weights, to be near Var w / (K E[w]²) by enumeration. At K = 5000 the weights' standard
    // deviation is within about 5% of the true one (TheReportedMonteCarloErrorIsTheEstimatorsOwn), so the variance within about 10%:
    // 40% is four of those (over 40 seeds the ratio lay in 0.84–1.15). A and B are the examples of least and most spread, more than
    // 2 times apart, so that A's variance in B's place is far outside the tolerance.
    [TestMethod]
    public void EachExamplesMonteCarloVarianceIsItsOwn()
    {
        var machine = TestModels.Random("10b-4b-3b", 81, scale: 0.3f);
        const int k = 5000;
        float[][] byVariance = Examples.OrderBy(v => RelativeWeightVariance(machine, v)).ToArray();
        float[] a = byVariance[0], b = byVariance[^1];
        double exactA = RelativeWeightVariance(machine, a) / k, exactB = RelativeWeightVariance(machine, b) / k;
        Assert.IsTrue(exactB > 2 * exactA, $"{exactB} against {exactA}: the examples must differ for the test to see which is used");
        var estimator = new ImportanceSampledLogLikelihood(k, seed: 83, rowsPerChunk: k) { Parallelism = 1 };
        double aAlone = estimator.Estimate(machine, new DataMatrix(1, 10, a)).MonteCarloStandardError;
        double both = estimator.Estimate(machine, new DataMatrix(2, 10, [.. a, .. b])).MonteCarloStandardError;
        Assert.AreEqual(exactA, aAlone * aAlone, 0.4 * exactA, "A's variance");
        Assert.AreEqual(exactB, 4 * both * both - aAlone * aAlone, 0.4 * exactB, "B's variance, second in the call");
        // On pipelines side by side, one example each, every example keeps its own variance and draws samples of its own: three
        // copies of B are three different estimates whose variances add to three of B's (the sum's error is less than one's).
        var pipelines = new ImportanceSampledLogLikelihood(k, seed: 84) { Parallelism = 3 };
        double three = pipelines.Estimate(machine, new DataMatrix(3, 10, [.. b, .. b, .. b]), out double[] copies).MonteCarloStandardError;
        Assert.AreEqual(3 * exactB, 9 * three * three, 0.4 * 3 * exactB, "three of B's variances, one from each pipeline");
        Assert.AreEqual(3, copies.Distinct().Count(), $"each pipeline's own samples: {string.Join(", ", copies)}");
    }

    /// <summary>
    /// The Monte Carlo error the estimate reports is the estimator's own: per example it matches
    /// the delta-method value computed exactly by enumeration, and it is not the spread over examples.
    /// </summary>
    [TestMethod]
    public void TheReportedMonteCarloErrorIsTheEstimatorsOwn()
    {
        // Weights of moderate spread (Var w / E[w]² of 3 to 7 here): with heavy tails the sample
        // variance is itself unreliable. At K = 5000 the standard deviation estimated from the weights
        // is within about 5% of the true one, so 20% is four of its standard errors (with one pipeline the seed fixes the draws
        // whatever the core count; three would let one seed in 400 fail). A factor of √2 (a variance halved or doubled) is 41%.
        var machine = TestModels.Random("10b-4b-3b", 81, scale: 0.3f);
        const int k = 5000;
        var data = Data();
        var estimate = new ImportanceSampledLogLikelihood(k, seed: 82) { Parallelism = 1 }.Estimate(machine, data);
        double exactVariance = Examples.Sum(v => RelativeWeightVariance(machine, v) / k);
        double exactError = Math.Sqrt(exactVariance) / Examples.Length;
        Assert.AreEqual(exactError, estimate.MonteCarloStandardError, 0.2 * exactError, "Monte Carlo standard error");
        Assert.IsTrue(estimate.StandardErrorOverExamples > 10 * estimate.MonteCarloStandardError,
            $"over examples {estimate.StandardErrorOverExamples} is the examples' spread, not the estimator's error {estimate.MonteCarloStandardError}");
        StringAssert.Contains(estimate.ToString(), "standard error over examples");
        StringAssert.Contains(estimate.ToString(), "Monte Carlo standard error");
    }

    /// <summary>
    /// Progress from pipelines side by side is heard one call at a time, its fraction increasing to 1: two pipelines called it at
    /// once (a handler that is not thread-safe broke), and a later chunk's fraction could come before an earlier one's.
    /// </summary>
    [TestMethod]
    public void ProgressFromPipelinesSideBySideComesOneCallAtATime()
    {
        var machine = TestModels.Random("16b-8b", 90);
        var random = new RandomStream(91);
        float[] values = new float[64 * 16];
        for (int i = 0; i < values.Length; i++) values[i] = random.NextDouble() < 0.5 ? 0 : 1;
        int inside = 0, most = 0;
        var fractions = new List<double>();
        var progress = new SynchronousProgress<double>(f =>
        {
            int now = Interlocked.Increment(ref inside);
            most = Math.Max(most, now);
            fractions.Add(f);
            Thread.Sleep(5);   // long enough for the other pipeline's chunk to end meanwhile
            Interlocked.Decrement(ref inside);
        });
        new ImportanceSampledLogLikelihood(20, seed: 1, rowsPerChunk: 20) { Parallelism = 2 }.Estimate(machine, new DataMatrix(64, 16, values), progress);
        Assert.AreEqual(1, most, "calls at once");
        for (int i = 1; i < fractions.Count; i++) Assert.IsGreaterThan(fractions[i - 1], fractions[i], $"fraction {i}");
        Assert.AreEqual(1.0, fractions[^1]);
    }

    // Cancelled between chunks (here by the progress the first chunk reports), the estimate stops: on one pipeline at once, and on
    // pipelines side by side each between its chunks, not only the loop that starts them (which lets a started pipeline run to its
    // end). 40 rows in chunks of one row's 10 samples: after the first report cancels, each pipeline ends at most the chunk it is
    // in, so at most one report a pipeline comes in all, not the other 39.
    [TestMethod]
    [DataRow(1)]
    [DataRow(2)]
    public void CancellationStopsTheEstimateBetweenChunks(int parallelism)
    {
        var machine = TestModels.Random("16b-8b", 92);
        DataMatrix data = TestModels.BinaryData(40, 16, 93);
        using var cancellation = new CancellationTokenSource();
        int reports = 0;
        var progress = new SynchronousProgress<double>(_ => { Interlocked.Increment(ref reports); cancellation.Cancel(); });
        var estimator = new ImportanceSampledLogLikelihood(10, seed: 94, rowsPerChunk: 10) { Parallelism = parallelism };
        Assert.ThrowsExactly<OperationCanceledException>(() => estimator.Estimate(machine, data, progress, cancellation.Token));
        Assert.IsGreaterThanOrEqualTo(1, reports, "the first chunk's report");
        Assert.IsLessThanOrEqualTo(parallelism, reports, "chunks reported after the cancellation");
    }

    // The sampled free energy and the naive estimator take the token too: one already cancelled stops either before its first
    // batch of rows (or chunk of dreams), not after scoring every row as if no token were given.
    [TestMethod]
    public void TheFreeEnergyAndTheNaiveEstimateStopForACancelledToken()
    {
        var machine = TestModels.Random("16b-8b", 92);
        DataMatrix data = TestModels.BinaryData(40, 16, 93);
        using var cancellation = new CancellationTokenSource();
        cancellation.Cancel();
        Assert.ThrowsExactly<OperationCanceledException>(() => new SampledFreeEnergy(seed: 94, rowsPerBatch: 10).Estimate(machine, data, cancellation.Token));
        Assert.ThrowsExactly<OperationCanceledException>(() => new NaiveLogLikelihood(20, seed: 94, samplesPerChunk: 5).Estimate(machine, data, cancellation.Token));
        Assert.ThrowsExactly<OperationCanceledException>(() => new NaiveLogLikelihood(20, seed: 94, samplesPerChunk: 5).EstimatePerExample(machine, data, cancellation.Token));
    }

    // Chunks no larger than a pipeline's samples: a rowsPerChunk past what one array holds scores 3 examples × K = 10 in chunks of
    // at most 30 rows, not refused (nor a buffer of that many rows allocated), with the same draws and so the same bits as 30.
    [TestMethod]
    public void ARowsPerChunkLargerThanTheSamplesScoresThemAsOneChunk()
    {
        var machine = TestModels.Random("10b-4b-3b", 85, scale: 0.8f);
        foreach (int parallelism in new[] { 1, 2 })
            CollectionAssert.AreEqual(new ImportanceSampledLogLikelihood(10, seed: 86, rowsPerChunk: 30) { Parallelism = parallelism }.EstimatePerExample(machine, Data()),
                new ImportanceSampledLogLikelihood(10, seed: 86, rowsPerChunk: int.MaxValue) { Parallelism = parallelism }.EstimatePerExample(machine, Data()),
                $"{parallelism} pipeline(s)");
    }

    // The sampled free energy over rows that do not fill the last batch: the mean of each row's own free energy, from the same
    // draws as batches of the machine's own (3 rows at 2 a batch: the last batch's second row is the first batch's, stale).
    [TestMethod]
    public void TheSampledFreeEnergyOfAShortLastBatchCountsItsOwnRowsOnly()
    {
        var machine = TestModels.Random("6b-4b-3b", 151);
        var data = new DataMatrix(3, 6, TestModels.RandomStates(machine.Architecture, 3, 152).Layer(0, 3).ToArray());
        double estimate = new SampledFreeEnergy(seed: 153, rowsPerBatch: 2).Estimate(machine, data);
        var random = new RandomStream(153);
        var states = new LayerStates(machine.Architecture, 2);
        double[] freeEnergy = new double[2], logJoint = new double[2];
        double sum = 0;
        foreach (var (start, rows) in new[] { (0, 2), (2, 1) })
        {
            data.Values.AsSpan(start * 6, rows * 6).CopyTo(states.Layer(0, rows));
            machine.SampleFreeEnergy(random, states, rows, freeEnergy, logJoint);
            for (int r = 0; r < rows; r++) sum += freeEnergy[r];
        }
        Assert.AreEqual(sum / 3, estimate, 1e-12 * Math.Abs(sum), "the mean of the three rows' free energies");
    }

    // Batches no larger than the data: a rowsPerBatch past what one array holds scores 3 rows as one batch of 3, not refused
    // (nor a buffer of that many rows allocated), with the same draws and so the same bits as rowsPerBatch = 3.
    [TestMethod]
    public void ARowsPerBatchLargerThanTheDataScoresTheDataAsOneBatch()
    {
        var machine = TestModels.Random("6b-4b-3b", 151);
        var data = new DataMatrix(3, 6, TestModels.RandomStates(machine.Architecture, 3, 152).Layer(0, 3).ToArray());
        double exact = new SampledFreeEnergy(seed: 153, rowsPerBatch: 3).Estimate(machine, data);
        Assert.AreEqual(exact, new SampledFreeEnergy(seed: 153, rowsPerBatch: int.MaxValue).Estimate(machine, data));
    }

    // Parallelism 0 was taken, and the estimate then split its rows over no pipelines (a division by zero): refused where it
    // is set, naming it.
    [TestMethod]
    public void AParallelismBelowOneIsRefusedWhereItIsSet()
    {
        foreach (int parallelism in new[] { 0, -1 })
        {
            var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new ImportanceSampledLogLikelihood(10) { Parallelism = parallelism });
            Assert.AreEqual("Parallelism", e.ParamName, $"Parallelism = {parallelism}");
        }
        Assert.AreEqual(1, new ImportanceSampledLogLikelihood(10) { Parallelism = 1 }.Parallelism);
    }

    // Each pipeline's products run on the engine PipelineEngine makes for it, one engine a pipeline, and none on the machine's
    // own engine (which the pipelines would otherwise call at the same time).
    [TestMethod]
    public void EachPipelineComputesOnTheEngineMadeForIt()
    {
        var own = new ObservingEngine(MatrixEngine.Managed);
        var machine = TestModels.Random("10b-4b-3b", 87, scale: 0.8f).Clone(own);
        var made = new List<ObservingEngine>();
        var estimator = new ImportanceSampledLogLikelihood(20, seed: 88, rowsPerChunk: 20)
        {
            Parallelism = 2,
            PipelineEngine = () =>
            {
                var engine = new ObservingEngine(MatrixEngine.Managed);
                lock (made) made.Add(engine);
                return engine;
            },
        };
        double[] estimates = estimator.EstimatePerExample(machine, Data(2));
        Assert.HasCount(2, made, "one engine a pipeline");
        foreach (ObservingEngine engine in made) Assert.IsGreaterThan(0, engine.Products, "a pipeline's products on its own engine");
        Assert.AreEqual(0, own.Products, "products on the machine's engine");
        Assert.IsTrue(estimates.All(double.IsFinite), string.Join(", ", estimates));
    }

    // Chunks no larger than K: a samplesPerChunk past what one array holds draws K = 10 dreams as one chunk, not refused (nor a
    // buffer of that many dreams allocated), with the same dreams and so the same bits as samplesPerChunk = 10.
    [TestMethod]
    public void ASamplesPerChunkLargerThanTheSamplesDrawsThemAsOneChunk()
    {
        var machine = TestModels.Random("10b-4b-3b", 85, scale: 0.8f);
        CollectionAssert.AreEqual(new NaiveLogLikelihood(10, seed: 86, samplesPerChunk: 10).EstimatePerExample(machine, Data()),
            new NaiveLogLikelihood(10, seed: 86, samplesPerChunk: int.MaxValue).EstimatePerExample(machine, Data()));
    }

    // The sampled free energy refuses data the visible layer cannot take, naming data, as the estimators do: rows of the wrong length
    // (unchecked, they would be copied short into the visible states and scored) and a value the binary visible layer does not model.
    [TestMethod]
    public void TheSampledFreeEnergyRefusesDataTheVisibleLayerCannotTakeNamingData()
    {
        var machine = TestModels.Random("6b-4b-3b", 151);
        var shortRows = Assert.ThrowsExactly<ArgumentException>(() => new SampledFreeEnergy(seed: 1).Estimate(machine, new DataMatrix(2, 3, new float[6])));
        Assert.AreEqual("data", shortRows.ParamName);
        var values = new float[12];
        values[6 + 2] = 0.5f;
        var half = Assert.ThrowsExactly<ArgumentException>(() => new SampledFreeEnergy(seed: 1).Estimate(machine, new DataMatrix(2, 6, values)));
        Assert.AreEqual("data", half.ParamName);
        StringAssert.Contains(half.Message, "row 1, column 2");
    }

    // No rows a batch is refused where it is given, naming it (taken, 0 would give batches of no rows that never reach the end of the data).
    [TestMethod]
    public void TheSampledFreeEnergyRefusesRowsPerBatchBelowOneNamingIt()
    {
        foreach (int rowsPerBatch in new[] { 0, -1 })
            Assert.AreEqual("rowsPerBatch", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new SampledFreeEnergy(rowsPerBatch: rowsPerBatch)).ParamName, $"{rowsPerBatch}");
    }

    // Each call scores a private copy of the machine taken as it begins, so a change to the machine during the call (a trainer's step on
    // another thread) reaches none of its batches. The engine changes every parameter of the machine at the call's first product: the
    // estimate is the same bits as the unchanged machine's, and a call after the change sees it.
    [TestMethod]
    public void TheSampledFreeEnergyScoresTheMachineAsItWasWhenTheCallBegan()
    {
        bool armed = false;
        HelmholtzMachine? machine = null;
        var engine = new ObservingEngine(MatrixEngine.Managed, (_, _, _) =>
        {
            if (!armed) return;
            armed = false;
            foreach (Parameter p in machine!.Parameters) p.Value.AsSpan().Fill(0.5f);
        });
        machine = TestModels.Random("6b-4b-3b", 154, engine: engine);
        var data = new DataMatrix(8, 6, TestModels.RandomStates(machine.Architecture, 8, 155).Layer(0, 8).ToArray());
        var estimator = new SampledFreeEnergy(seed: 156, rowsPerBatch: 2);
        double before = estimator.Estimate(machine, data);
        armed = true;
        double during = estimator.Estimate(machine, data);
        Assert.IsFalse(armed, "the engine changed the machine during the call");
        Assert.AreEqual(before, during, 0, "the call's batches scored the machine as it was when the call began");
        Assert.AreNotEqual(before, estimator.Estimate(machine, data), "a call after the change scores the changed machine");
    }
}
