using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Learning;
using Microsoft.ML.Helmholtz.Learning.Rules;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;
using Microsoft.ML.Helmholtz.Tests.Support;

namespace Microsoft.ML.Helmholtz.Tests.Learning;

/// <summary>
/// The K-sample rules: IWAE's path-wise gradient against finite differences of the bound with the
/// noise fixed (exact, not in expectation), IWAE with K = 1 against stochastic back-propagation, and
/// VIMCO's gradient averaged over many batches against the exact gradient of the expected bound,
/// enumerated on a machine small enough to list every K-tuple of hidden configurations, and reweighted
/// wake-sleep's updates (wake, sleep, both) against the enumerated gradients they estimate.
/// </summary>
[TestClass]
public sealed class MultiSampleRuleTests
{
    private static TrainingBatch Batch(HelmholtzMachine machine, float[] examples, int count, int k, ulong seed, bool conditioned = false)
    {
        var batch = new TrainingBatch(machine.Architecture, count, k, new RandomStream(seed), conditioned);
        examples.AsSpan(0, count * machine.Architecture.Visible.Size).CopyTo(batch.ExampleRows(count));
        batch.Load(count);
        return batch;
    }

    /// <summary>The flattened gradients of <paramref name="count"/> calls of the rule on the same batch (fresh noise each time).</summary>
    private static List<double[]> GradientsOfBatches(HelmholtzMachine machine, ILearningRule rule, TrainingBatch batch, int count)
        => Enumerable.Range(0, count).Select(_ =>
        {
            machine.ZeroGradients();
            rule.AccumulateGradients(machine, batch);
            return Statistics.Flatten(machine.Parameters, p => p.Gradient);
        }).ToList();

    /// <summary>KL(p(h | v) ‖ q(h | v)) by enumeration, the divergence reweighted wake-sleep's wake phase lowers.</summary>
    private static double InclusiveDivergence(HelmholtzMachine machine, float[] v)
    {
        var (logJoint, logQ) = TestModels.Enumerate(machine, v);
        double logP = Kernels.LogSumExp(logJoint), kl = 0;
        for (int c = 0; c < logJoint.Length; c++) kl += Math.Exp(logJoint[c] - logP) * (logJoint[c] - logP - logQ[c]);
        return kl;
    }

    /// <summary>−(1/B) Σ_e L̂_K(x_e) with the noise drawn from <paramref name="seed"/>: a deterministic function of the parameters.</summary>
    private static double NegativeBound(HelmholtzMachine machine, TrainingBatch batch, ulong seed)
    {
        int rows = batch.Rows, k = batch.SamplesPerExample;
        var f = new double[rows];
        var lj = new double[rows];
        machine.SampleFreeEnergy(new RandomStream(seed), batch.States, rows, f, lj, batch.Conditioning);
        double total = 0;
        for (int e = 0; e < batch.Examples; e++)
            total += Kernels.LogSumExp(f.AsSpan(e * k, k).ToArray().Select(x => -x).ToArray()) - Math.Log(k);
        return -total / batch.Examples;
    }

    [TestMethod]
    [DataRow("5b-3g-2g")]
    [DataRow("4gl-3g")]
    [DataRow("5b-3gr-2gr")]
    [DataRow("4gl-3gr")]
    [DataRow("5b-3t-3gl-2t-2gl")]   // Burda et al.'s kind of machine: tanh trunks, linear Gaussian means
    [DataRow("5b-3t-3grl-2t-2grl")]
    public void IwaeGradientIsTheGradientOfTheBoundWithItsNoiseFixed(string architecture)
    {
        var machine = TestModels.Random(architecture, 71, scale: 0.4f);
        var data = TestModels.RandomStates(machine.Architecture, 3, 72).Layer(0, 3).ToArray();
        const ulong seed = 73;
        var rule = new ImportanceWeightedBound(samples: 4);
        var batch = Batch(machine, data, 3, 4, seed);
        machine.ZeroGradients();
        BatchLoss loss = rule.AccumulateGradients(machine, batch);
        Assert.AreEqual(NegativeBound(machine, batch, seed), loss.Objective, 1e-4, "the reported objective is −L_K");
        TestModels.AssertGradientsMatch(machine.Parameters, () => NegativeBound(machine, batch, seed), context: architecture);
    }

    /// <summary>
    /// Each rule reports the mean one-sample free energy of the draws it trains on and its objective: −L_K for the K-sample rules
    /// (only IWAE's objective was checked), the free energy itself for the others. The rule draws first from the batch's stream,
    /// so the same seed gives the same F̂.
    /// </summary>
    [TestMethod]
    [DataRow("vimco", "6b-4b-3b", 3)]
    [DataRow("rws", "6b-4b-3b", 3)]
    [DataRow("rws-sleep", "6b-4b-3b", 3)]
    [DataRow("iwae", "6b-4g-3g", 3)]
    [DataRow("wake-sleep", "6b-4b-3b", 1)]
    [DataRow("reinforce", "6b-4b-3b", 1)]
    [DataRow("nvil", "6b-4b-3b", 1)]
    [DataRow("sbp", "6b-4g-3g", 1)]
    public void EachRuleReportsItsObjectiveAndTheMeanFreeEnergyOfItsDraws(string ruleName, string architecture, int k)
    {
        var machine = TestModels.Random(architecture, 101, scale: 0.6f);
        var data = TestModels.RandomStates(machine.Architecture, 5, 102).Layer(0, 5).ToArray();
        const ulong seed = 103;
        var batch = Batch(machine, data, 5, k, seed);
        BatchLoss loss = LearningRules.Create(ruleName, k).AccumulateGradients(machine, batch);
        var f = new double[batch.Rows];
        machine.SampleFreeEnergy(new RandomStream(seed), batch.States, batch.Rows, f, new double[batch.Rows], batch.Conditioning);
        Assert.AreEqual(f.Average(), loss.FreeEnergy, 1e-9 * Math.Abs(f.Average()), $"{ruleName}: the mean free energy of its {batch.Rows} draws");
        double objective = LearningRules.IsMultiSample(ruleName) ? NegativeBound(machine, batch, seed) : f.Average();
        Assert.AreEqual(objective, loss.Objective, 1e-9 * Math.Abs(objective), $"{ruleName}: the reported objective");
    }

    [TestMethod]
    public void IwaeWithOneSampleIsStochasticBackpropagationBitForBit()
    {
        var machine = TestModels.Random("6b-4g-3g", 74, scale: 0.4f);
        var data = TestModels.RandomStates(machine.Architecture, 8, 75).Layer(0, 8).ToArray();
        float[] Gradient(ILearningRule rule)
        {
            machine.ZeroGradients();
            rule.AccumulateGradients(machine, Batch(machine, data, 8, 1, 76));
            return machine.Parameters.SelectMany(p => p.Gradient).ToArray();
        }
        CollectionAssert.AreEqual(Gradient(new StochasticBackpropagation()), Gradient(new ImportanceWeightedBound(samples: 1)));
    }

    [TestMethod]
    public void TheBoundTightensWithKAndStaysBelowTheLogLikelihood()
    {
        // On average over draws, L_1 ≤ L_5 ≤ L_50 ≤ ln p(x); the importance-sampled estimate stands in for ln p. Each mean is over
        // 400 draws in 8 batches of 50, whose spread gives its standard error: each step up must exceed three of the two combined.
        var machine = TestModels.Random("6b-4g-3g", 77, scale: 0.5f);
        var data = TestModels.RandomStates(machine.Architecture, 1, 78).Layer(0, 1).ToArray();
        (double Mean, double StandardError) Bound(int k)
        {
            const int batches = 8, repeats = 50;
            float[] examples = Enumerable.Range(0, repeats).SelectMany(_ => data).ToArray();
            var rule = new ImportanceWeightedBound(k);
            double[] means = new double[batches];
            for (int b = 0; b < batches; b++)
            {
                machine.ZeroGradients();
                means[b] = -rule.AccumulateGradients(machine, Batch(machine, examples, repeats, k, 79 + (ulong)(k * batches + b))).Objective;
            }
            double mean = means.Average();
            return (mean, Math.Sqrt(means.Sum(m => (m - mean) * (m - mean)) / (batches - 1) / batches));
        }
        var (l1, se1) = Bound(1);
        var (l5, se5) = Bound(5);
        var (l50, se50) = Bound(50);
        var logP = new Microsoft.ML.Helmholtz.Evaluation.ImportanceSampledLogLikelihood(200000, seed: 80)
            .Estimate(machine, new Microsoft.ML.Helmholtz.Data.DataMatrix(1, 6, data));
        static double Combined(double a, double b) => Math.Sqrt(a * a + b * b);
        string values = $"L_1 {l1:F4} ± {se1:F4}, L_5 {l5:F4} ± {se5:F4}, L_50 {l50:F4} ± {se50:F4}, ln p ≈ {logP.Mean:F4} ± {logP.MonteCarloStandardError:F4}";
        Assert.IsGreaterThan(3 * Combined(se1, se5), l5 - l1, "L_5 above L_1: " + values);
        Assert.IsGreaterThan(3 * Combined(se5, se50), l50 - l5, "L_50 above L_5: " + values);
        Assert.IsLessThan(3 * Combined(se50, logP.MonteCarloStandardError), l50 - logP.Mean, "L_50 below ln p: " + values);
    }

    [TestMethod]
    [DataRow("6b-2b-2b")]
    [DataRow("6b-3t-2b-3t-2b")]   // tanh trunks inside both conditionals, as in the nonlinear 200∼200 machine
    public void VimcoGradientAveragesToTheExactGradientOfTheExpectedBound(string architecture)
    {
        var machine = TestModels.Random(architecture, 91, scale: 0.8f);
        float[] v = [1, 0, 1, 1, 0, 1];
        const int k = 3;
        var (logJoint0, _) = TestModels.Enumerate(machine, v);
        int configurations = logJoint0.Length;
        // E over K-tuples of q of ln (1/K) Σ_k exp(ln p − ln q), in double.
        double ExactNegativeBound()
        {
            var (logJoint, logQ) = TestModels.Enumerate(machine, v);
            double total = 0;
            var a = new double[k];
            int tuples = (int)Math.Pow(configurations, k);
            for (int t = 0; t < tuples; t++)
            {
                double logProb = 0;
                for (int j = 0, rest = t; j < k; j++, rest /= configurations)
                {
                    int c = rest % configurations;
                    logProb += logQ[c];
                    a[j] = logJoint[c] - logQ[c];
                }
                total += Math.Exp(logProb) * (Kernels.LogSumExp(a) - Math.Log(k));
            }
            return -total;
        }
        double[] exact = Statistics.NumericGradient(machine.Parameters, ExactNegativeBound);

        const int examples = 1500, batches = 40;
        var rule = new Vimco(k);
        float[] replicated = Enumerable.Range(0, examples).SelectMany(_ => v).ToArray();
        var batch = Batch(machine, replicated, examples, k, 92);
        Statistics.AssertAveragesTo(exact, GradientsOfBatches(machine, rule, batch, batches));
    }

    [TestMethod]
    [DataRow("6b-2b-2b", 400, 96)]
    [DataRow("6b-3t-2b-3t-2b", 1000, 96)]   // its importance weights vary more
    [DataRow("6b-3t-2b-3t-2b", 1000, 196)]
    public void ReweightedWakeSleepFollowsTheLogLikelihoodAndTheInclusiveDivergenceForLargeK(string architecture, int k, int seed)
    {
        // θg: Σ w̃ ∇ ln p(x, h_k) → ∇ ln p(x); θr (wake): Σ w̃ ∇ ln q(h_k | x) → −∇ KL(p(h | x) ‖ q(h | x)).
        // Both are self-normalised, biased by b/K + O(1/K²): each batch's 2 g_K − g_{K/2} (the two from independent draws) has
        // the limit as its mean to O(1/K²), so the check holds the rule to the exact gradient at the default tolerance rather than
        // to a floor wide enough for the bias. (The bias alone had reached 0.013 in one entry at K = 400.)
        var machine = TestModels.Random(architecture, 95, scale: 0.8f);
        float[] v = [0, 1, 1, 0, 1, 1];
        double[] exactGenerative = Statistics.NumericGradient(machine.Generative.Parameters, () => -TestModels.ExactLogLikelihood(machine, v));
        double[] exactRecognition = Statistics.NumericGradient(machine.Recognition.Parameters, () => InclusiveDivergence(machine, v));
        double[] exact = [.. exactGenerative, .. exactRecognition];

        const int examples = 50, batches = 30;
        float[] replicated = Enumerable.Range(0, examples).SelectMany(_ => v).ToArray();
        var full = GradientsOfBatches(machine, new ReweightedWakeSleep(k), Batch(machine, replicated, examples, k, (ulong)seed), batches);
        var half = GradientsOfBatches(machine, new ReweightedWakeSleep(k / 2), Batch(machine, replicated, examples, k / 2, (ulong)seed + 1), batches);
        var extrapolated = full.Zip(half, (g, h) => g.Zip(h, (a, b) => 2 * a - b).ToArray()).ToList();
        Statistics.AssertAveragesTo(exact, extrapolated, label: i => i < exactGenerative.Length ? "generative" : "recognition");
    }

    [TestMethod]
    [DataRow(RecognitionUpdate.Sleep)]
    [DataRow(RecognitionUpdate.WakeAndSleep)]
    public void ReweightedWakeSleepsSleepPhaseFollowsTheDreamsCrossEntropy(RecognitionUpdate update)
    {
        // θr (sleep): ∇ ln q(h | x) at dreams (x, h) ~ p, whose mean is −∇ Σ_{x,h} p(x, h) ln q(h | x) (the
        // dreams do not depend on θr); with both updates, half of it and half of the wake phase's. θg as in
        // the wake-phase rule.
        const int k = 400;
        var machine = TestModels.Random("6b-2b-2b", 95, scale: 0.8f);
        float[] v = [0, 1, 1, 0, 1, 1];
        float[] everyX = TestModels.AllBinaryVectors(6);
        double DreamsCrossEntropy()
        {
            double total = 0;
            for (int x = 0; x < 64; x++)
            {
                var (logJoint, logQ) = TestModels.Enumerate(machine, everyX.AsSpan(x * 6, 6));
                for (int c = 0; c < logJoint.Length; c++) total -= Math.Exp(logJoint[c]) * logQ[c];
            }
            return total;
        }
        double[] exactGenerative = Statistics.NumericGradient(machine.Generative.Parameters, () => -TestModels.ExactLogLikelihood(machine, v));
        double[] sleep = Statistics.NumericGradient(machine.Recognition.Parameters, DreamsCrossEntropy);
        double[] exactRecognition = update == RecognitionUpdate.Sleep ? sleep
            : sleep.Zip(Statistics.NumericGradient(machine.Recognition.Parameters, () => InclusiveDivergence(machine, v)), (s, w) => 0.5 * (s + w)).ToArray();
        double[] exact = [.. exactGenerative, .. exactRecognition];

        // The wake terms' O(1/K) bias taken out as in ReweightedWakeSleepFollows…: 2 g_K − g_{K/2} from independent draws.
        const int examples = 50, batches = 200;
        float[] replicated = Enumerable.Range(0, examples).SelectMany(_ => v).ToArray();
        var full = GradientsOfBatches(machine, new ReweightedWakeSleep(k, update), Batch(machine, replicated, examples, k, 97), batches);
        var half = GradientsOfBatches(machine, new ReweightedWakeSleep(k / 2, update), Batch(machine, replicated, examples, k / 2, 98), batches);
        Statistics.AssertAveragesTo(exact, full.Zip(half, (g, h) => g.Zip(h, (a, b) => 2 * a - b).ToArray()).ToList(),
            label: i => i < exactGenerative.Length ? "generative" : "recognition");
    }

    [TestMethod]
    [DataRow("iwae", "6b-4g-3g")]
    [DataRow("iwae", "6b-4gr-3gr")]
    [DataRow("vimco", "6b-4b-3b")]
    [DataRow("rws", "6b-4b-3b")]
    public void SharingTheBottomLayerAcrossAnExamplesSamplesChangesNoGradient(string ruleName, string architecture)
    {
        // Unconditioned, the K rows of an example share the bottom recognition layer's forward and its
        // weight gradients' products; a conditioned batch (zero conditioning) takes every row on its own.
        var machine = TestModels.Random(architecture, 97, scale: 0.5f);
        var data = TestModels.RandomStates(machine.Architecture, 5, 98).Layer(0, 5).ToArray();
        float[] Gradient(bool conditioned)
        {
            machine.ZeroGradients();
            LearningRules.Create(ruleName, 4).AccumulateGradients(machine, Batch(machine, data, 5, 4, 99, conditioned));
            return machine.Parameters.SelectMany(p => p.Gradient).ToArray();
        }
        float[] shared = Gradient(false), alone = Gradient(true);
        for (int i = 0; i < shared.Length; i++)
            Assert.AreEqual(alone[i], shared[i], 1e-5 + 1e-4 * Math.Abs(alone[i]), $"entry {i}");
        Assert.IsTrue(shared.Any(g => g != 0));
    }

    [TestMethod]
    [DataRow(2)]
    [DataRow(3)]
    [DataRow(5)]
    [DataRow(50)]
    public void VimcoLeaveOneOutSignalsAgreeWithTheirDirectSums(int k)
    {
        // Log weights a = −F̂ spread from nothing to far past double's range of e^a, around small and large
        // levels; one sample far ahead of the rest (the case where S − e^{a_k} cancels), and two tied ahead.
        var random = new Random(17);
        var examples = new List<double[]>();
        foreach (double level in new[] { 0.0, -95.0, 1e4 })
            foreach (double spread in new[] { 0.0, 1e-9, 1.0, 10.0, 100.0, 1000.0 })
                examples.Add(Enumerable.Range(0, k).Select(_ => level + spread * (random.NextDouble() - 0.5)).ToArray());
        foreach (double gap in new[] { 20.0, 40.0, 800.0 })
        {
            examples.Add(Enumerable.Range(0, k).Select(j => j == k / 2 ? -90.0 : -90.0 - gap - random.NextDouble()).ToArray());
            examples.Add(Enumerable.Range(0, k).Select(j => j < 2 ? -90.0 : -90.0 - gap - random.NextDouble()).ToArray());
        }
        double[] freeEnergy = examples.SelectMany(a => a.Select(x => -x)).ToArray();
        var signal = new float[freeEnergy.Length];
        Vimco.LeaveOneOutSignals(freeEnergy, examples.Count, k, signal);

        for (int e = 0; e < examples.Count; e++)
        {
            double[] a = examples[e];
            double full = LogSumExp(a);
            for (int j = 0; j < k; j++)
            {
                double[] replaced = (double[])a.Clone();
                replaced[j] = (a.Sum() - a[j]) / (k - 1);
                double expected = full - LogSumExp(replaced);
                Assert.AreEqual(expected, signal[e * k + j], 1e-6 * Math.Max(1, Math.Abs(expected)), $"example {e}, sample {j}");
            }
        }
    }

    /// <summary>
    /// The self-normalised weights and the reported bound are taken relative to each example's largest log weight −F̂: free
    /// energies of thousands of nats (a wide visible layer) lie far outside double's range of e^−F̂, where a softmax taken
    /// from a fixed origin gives 0/0 or ∞/∞ weights and an infinite bound. Each weight is the softmax of −F̂ over its example's
    /// K samples over B, and the bound the mean over examples of ln (1/K) Σ_k e^−F̂_k.
    /// </summary>
    [TestMethod]
    [DataRow(1e4)]
    [DataRow(-1e3)]
    [DataRow(0.0)]
    public void ImportanceWeightsAreTheSoftmaxOfEachExamplesLogWeightsAtAnyLevel(double level)
    {
        const int examples = 2, k = 3;
        double[] offsets = [0, 1, 2.5, 0.5, -3, 4];   // −F̂ = −level − offset: relative weights of order one
        double[] freeEnergy = offsets.Select(o => level + o).ToArray();
        var weights = new float[examples * k];
        double bound = ImportanceWeights.Normalize(freeEnergy, examples, k, weights);

        double expectedBound = 0;
        for (int e = 0; e < examples; e++)
        {
            double sum = Enumerable.Range(0, k).Sum(j => Math.Exp(-offsets[e * k + j]));
            for (int j = 0; j < k; j++)
            {
                double expected = Math.Exp(-offsets[e * k + j]) / sum / examples;
                Assert.AreEqual(expected, weights[e * k + j], 1e-6 * expected, $"example {e}, sample {j}");   // float rounding
            }
            expectedBound += -level + Math.Log(sum) - Math.Log(k);
        }
        expectedBound /= examples;
        // Double arithmetic on numbers of size |level|: a few ulps of it.
        Assert.AreEqual(expectedBound, bound, 1e-12 * Math.Max(1, Math.Abs(level)));
    }

    private static double LogSumExp(double[] a)
    {
        double max = a.Max();
        return max + Math.Log(a.Sum(x => Math.Exp(x - max)));
    }

    /// <summary>
    /// Wake-sleep is reweighted wake-sleep's sleep update with one sample: the one weight of each example is 1, both phases weigh
    /// each row by 1/B, and the two draw the wake samples and the dreams from the batch's stream in the same order, so that their
    /// gradients agree bit for bit (a wake-sleep whose rows were not divided by B would give B times its gradient).
    /// </summary>
    [TestMethod]
    public void WakeSleepIsReweightedWakeSleepsSleepUpdateWithOneSample()
    {
        var machine = TestModels.Random("6b-4b-3b", 111, scale: 0.7f);
        const int examples = 7;
        float[] data = TestModels.RandomStates(machine.Architecture, examples, 112).Layer(0, examples).ToArray();
        double[] Gradient(ILearningRule rule) => GradientsOfBatches(machine, rule, Batch(machine, data, examples, 1, 113), 1)[0];
        double[] wakeSleep = Gradient(new WakeSleep()), reweighted = Gradient(new ReweightedWakeSleep(1, RecognitionUpdate.Sleep));
        Assert.IsTrue(wakeSleep.Any(g => g != 0), "a gradient of zeros proves nothing");
        CollectionAssert.AreEqual(reweighted, wakeSleep);
    }

    /// <summary>
    /// Reweighted wake-sleep with a sleep phase refuses a conditioned batch itself, not only through the trainers that read
    /// <see cref="ReweightedWakeSleep.UnsupportedConditioning"/>: called directly it threw nothing without its own check, and its
    /// sleep phase dreamt and learnt as if the conditioning were not there. It refuses before it adds to any gradient; the
    /// wake-phase update takes the same batch.
    /// </summary>
    [TestMethod]
    [DataRow(RecognitionUpdate.Sleep)]
    [DataRow(RecognitionUpdate.WakeAndSleep)]
    public void ReweightedWakeSleepsSleepPhaseRefusesAConditionedBatchItself(RecognitionUpdate update)
    {
        var machine = TestModels.Random("6b-4b-3b", 141, scale: 0.5f);
        var data = TestModels.RandomStates(machine.Architecture, 3, 142).Layer(0, 3).ToArray();
        machine.ZeroGradients();
        var e = Assert.ThrowsExactly<NotSupportedException>(
            () => new ReweightedWakeSleep(2, update).AccumulateGradients(machine, Batch(machine, data, 3, 2, 143, conditioned: true)));
        StringAssert.Contains(e.Message, "sleep phase does not take conditioning");
        Assert.IsTrue(machine.Parameters.All(p => p.Gradient.All(g => g == 0)), $"{update}: no gradient was added before the refusal");
        new ReweightedWakeSleep(2, RecognitionUpdate.Wake).AccumulateGradients(machine, Batch(machine, data, 3, 2, 143, conditioned: true));
        Assert.IsTrue(machine.Parameters.Any(p => p.Gradient.Any(g => g != 0)), "the wake-phase update trains on the conditioned batch");
    }

    [TestMethod]
    public void MultiSampleRulesRefuseWhatTheyCannotTrain()
    {
        StringAssert.Contains(new ImportanceWeightedBound().Unsupported(HelmholtzArchitecture.Parse("6b-4b")), "hidden layer 1");
        Assert.IsNull(new Vimco().Unsupported(HelmholtzArchitecture.Parse("6b-4b")));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Vimco(1));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new ImportanceWeightedBound(0));
        // Reweighted wake-sleep takes K = 1 (wake-sleep's sleep update, below) but not 0, and no update it does not name
        // (one would have run both phases under the name "rws-wake-sleep").
        Assert.AreEqual("samples", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new ReweightedWakeSleep(0)).ParamName);
        Assert.AreEqual("update", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new ReweightedWakeSleep(3, (RecognitionUpdate)3)).ParamName);
        var machine = TestModels.Random("6b-4g", 93);
        var wrongK = Batch(machine, new float[6], 1, 2, 94);
        Assert.ThrowsExactly<ArgumentException>(() => new ImportanceWeightedBound(3).AccumulateGradients(machine, wrongK));
    }

    /// <summary>
    /// The importance-weighted bound refuses a machine with a hidden layer it cannot back-propagate through, in Prepare and in a
    /// direct AccumulateGradients, before it adds to any gradient. The trainers ask <see cref="ILearningRule.Unsupported"/> first;
    /// a direct caller without the rule's own check would reach the path-wise backward pass, which takes every hidden layer to be
    /// reparameterised.
    /// </summary>
    [TestMethod]
    public void TheImportanceWeightedBoundRefusesABinaryMachineBeforeAddingAGradient()
    {
        var machine = TestModels.Random("6b-4b-3b", 151, scale: 0.5f);
        var data = TestModels.RandomStates(machine.Architecture, 4, 152).Layer(0, 4).ToArray();
        var prepare = Assert.ThrowsExactly<NotSupportedException>(() => new ImportanceWeightedBound(3).Prepare(machine, 4));
        StringAssert.Contains(prepare.Message, "hidden layer 1");
        machine.ZeroGradients();
        var step = Assert.ThrowsExactly<NotSupportedException>(() => new ImportanceWeightedBound(3).AccumulateGradients(machine, Batch(machine, data, 4, 3, 153)));
        StringAssert.Contains(step.Message, "hidden layer 1");
        Assert.IsTrue(machine.Parameters.All(p => p.Gradient.All(g => g == 0)), "no gradient was added before the refusal");
    }

    /// <summary>
    /// Reweighted wake-sleep names its recognition update in its name and in the objective the epoch reports carry: a run of both
    /// phases must not be reported as one of the sleep phase alone.
    /// </summary>
    [TestMethod]
    [DataRow(RecognitionUpdate.Wake, "rws", "wake")]
    [DataRow(RecognitionUpdate.Sleep, "rws-sleep", "sleep")]
    [DataRow(RecognitionUpdate.WakeAndSleep, "rws-wake-sleep", "wake and sleep")]
    public void ReweightedWakeSleepNamesItsRecognitionUpdate(RecognitionUpdate update, string name, string phases)
    {
        var rule = new ReweightedWakeSleep(4, update);
        Assert.AreEqual(name, rule.Name);
        StringAssert.StartsWith(rule.Objective, "−L_4 (the 4-sample bound");
        StringAssert.EndsWith(rule.Objective, $"; q follows the {phases} update)");
    }
}
