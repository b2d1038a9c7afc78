using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Evaluation;
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
    private static double RelativeWeightVariance(HelmholtzMachine machine, float[] v)
    {
        var (logJoint, logQ) = TestModels.Enumerate(machine, v);
        double logP = Kernels.LogSumExp(logJoint);
        double second = 0;
        for (int k = 0; k < logQ.Length; k++) second += Math.Exp(2 * (logJoint[k] - logP) - logQ[k]);
        return second - 1;
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
        for (int i = 0; i < Examples.Length; i++)
        {
            double exact = TestModels.ExactLogLikelihood(machine, Examples[i]);
            // Delta method: sd(ln p̂) ≈ sqrt(Var[w] / (K E[w]²)).
            double sd = Math.Sqrt(RelativeWeightVariance(machine, Examples[i]) / k);
            Assert.AreEqual(exact, estimate[i], 5 * sd + 1e-4, $"example {i}");
        }
    }

    [TestMethod]
    public void OneSampleEstimateIsMinusTheFreeEnergyAndLargerKTightensTheBound()
    {
        var machine = TestModels.Random("10b-4b-3b", 73, scale: 0.8f);
        const int replicates = 4000;
        var data = Data(replicates);
        double previousGap = double.PositiveInfinity;
        foreach (int k in new[] { 1, 10, 100 })
        {
            double[] estimates = new ImportanceSampledLogLikelihood(k, seed: 74 + (ulong)k).EstimatePerExample(machine, data);
            for (int i = 0; i < Examples.Length; i++)
            {
                double[] mine = estimates.Where((_, r) => r % Examples.Length == i).ToArray();
                var summary = LogLikelihoodEstimate.FromPerExample(mine, k);
                double exact = TestModels.ExactLogLikelihood(machine, Examples[i]);
                if (k == 1)
                    Assert.AreEqual(-TestModels.ExactFreeEnergy(machine, Examples[i]), summary.Mean, 5 * summary.StandardError, $"K=1 is −F, example {i}");
                Assert.IsTrue(summary.Mean < exact + 5 * summary.StandardError, $"K={k}, example {i}: {summary.Mean} should not exceed ln p = {exact}");
                if (i == 0)
                {
                    double gap = exact - summary.Mean;
                    Assert.IsTrue(gap < previousGap, $"K={k}: the gap {gap} should shrink with K (was {previousGap})");
                    previousGap = gap;
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
    private static double[] LogPriorOfEachConfiguration(HelmholtzMachine machine, float[] v)
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
        double[] a = estimator.EstimatePerExample(machine, data), b = estimator.EstimatePerExample(machine, data);
        CollectionAssert.AreEqual(a, b, "same seed and parallelism, same estimates");
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
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new ImportanceSampledLogLikelihood(0));
    }
}
