using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Evaluation;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Learning;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;
using Microsoft.ML.Helmholtz.Tests.Support;

namespace Microsoft.ML.Helmholtz.Tests.Evaluation;

/// <summary>The mean-field baseline: its estimate is consistent, and its optimisation raises the bound.</summary>
[TestClass]
public sealed class MeanFieldTests
{
    private static DataMatrix Replicated(HelmholtzMachine machine, int distinct, int copies, ulong seed)
    {
        float[] rows = TestModels.RandomStates(machine.Architecture, distinct, seed).Layer(0, distinct).ToArray();
        int d = machine.Architecture.Visible.Size;
        var values = new float[distinct * copies * d];
        for (int c = 0; c < copies; c++) rows.CopyTo(values, c * rows.Length);
        return new DataMatrix(distinct * copies, d, values);
    }

    /// <summary>
    /// On a linear-Gaussian machine (2 visible units with linear means, 1 hidden unit under N(0, 1)) ln p(x) = ln N(x; b, w wᵀ + D)
    /// in closed form, and with one hidden unit the factorised q can reach the exact posterior, whose importance weights are
    /// constant. Optimised from N(0, I), the estimate must agree with the exact value within five of its own Monte Carlo
    /// errors, and those must be under half those of q = N(0, 1) itself: the optimisation moved q towards the posterior.
    /// Over 8 seeds × 4 examples (development runs) the errors fell at least 4.0×, and |estimate − exact| stayed under 2 errors.
    /// This replaced a comparison with the recognition network's estimate on a random 8b-3g-2g machine, whose heavy-tailed
    /// weights biased that reference by about 0.3 nats: it failed under 2 of 6 other seeds.
    /// </summary>
    [TestMethod]
    public void OnALinearGaussianMachineItGivesTheExactLogLikelihood()
    {
        float[] w = [0.8f, -1.3f], b = [0.2f, -0.4f], logVariance = [MathF.Log(0.5f), MathF.Log(0.3f)];
        var machine = ExtremeMachineTests.LinearGaussianMachine("2gl-1g", 131, w, b, logVariance);
        double[] variance = logVariance.Select(s => Math.Exp(s)).ToArray();
        float[][] examples = [[0.5f, -1.0f], [-0.7f, 0.9f], [1.5f, 1.2f], [-2.0f, 2.5f]];
        for (int i = 0; i < examples.Length; i++)
        {
            double exact = ExtremeMachineTests.LinearGaussianLogLikelihood(examples[i], w, b, variance);
            var row = new DataMatrix(1, 2, examples[i]);
            LogLikelihoodEstimate optimised = new MeanFieldLogLikelihood(samples: 2000, steps: 2000, learningRate: 0.01, startFromRecognition: false, seed: 133).Estimate(machine, row);
            LogLikelihoodEstimate unoptimised = new MeanFieldLogLikelihood(samples: 2000, steps: 0, startFromRecognition: false, seed: 133).Estimate(machine, row);
            Assert.IsTrue(optimised.MonteCarloStandardError < unoptimised.MonteCarloStandardError / 2,
                $"example {i}: the optimised q's weights vary less ({optimised.MonteCarloStandardError:G3} against {unoptimised.MonteCarloStandardError:G3} from N(0, 1))");
            Assert.AreEqual(exact, optimised.Mean, 5 * optimised.MonteCarloStandardError + 1e-4, $"example {i}: {optimised}");
            Assert.AreEqual(exact, unoptimised.Mean, 5 * unoptimised.MonteCarloStandardError + 1e-4, $"example {i}, q = N(0, 1): {unoptimised}");
        }
        // With w = 0, q = N(0, 1) is the posterior: every weight is p(x) itself, so even 5 samples give the exact value (the
        // mean of equal weights, ln K cancelling to the rounding; a wrong K would be off by ln(6/5) or more).
        var flat = ExtremeMachineTests.LinearGaussianMachine("2gl-1g", 131, [0f, 0f], b, logVariance);
        foreach (float[] example in examples)
            Assert.AreEqual(ExtremeMachineTests.LinearGaussianLogLikelihood(example, [0f, 0f], b, variance),
                new MeanFieldLogLikelihood(samples: 5, steps: 0, startFromRecognition: false, seed: 134).Estimate(flat, new DataMatrix(1, 2, example)).Mean, 1e-5);
    }

    [TestMethod]
    public void OptimisingEachExamplesQRaisesTheBound()
    {
        // With K = 1 the estimate is ln p(x, h) − ln q(h), whose mean is −F: the bound the optimisation raises.
        var machine = TestModels.Random("8b-3g-2g", 135, scale: 0.5f);
        var data = Replicated(machine, 4, 500, 136);
        double Bound(int steps, bool fromRecognition) => new MeanFieldLogLikelihood(samples: 1, steps: steps, startFromRecognition: fromRecognition, seed: 137).Estimate(machine, data).Mean;
        double prior = Bound(0, false), optimised = Bound(200, false), recognition = Bound(0, true), refined = Bound(200, true);
        // Standard error of a mean of 2000 one-sample bounds: about 0.1 nats here; the gaps measured 2.2 and 7.1 nats
        // (an untrained recognition network is a poor start; the two optimisations end within 0.1 of each other).
        Assert.IsTrue(optimised > prior + 1, $"from N(0, I): −F {prior:F3} before, {optimised:F3} after 200 steps");
        Assert.IsTrue(refined > recognition + 1, $"from the recognition network's marginals: −F {recognition:F3} before, {refined:F3} after");
    }

    [TestMethod]
    [DataRow(5_000_000, 1, DisplayName = "in the optimisation steps")]
    [DataRow(0, 10_000_000, DisplayName = "in the K samples")]
    public void CancellationStopsTheBatchInProgress(int steps, int samples)
    {
        // One batch whose steps or samples would take 10 s or more. The token is cancelled by the machine's engine at the
        // batch's 20th matrix product, so the batch has begun; a token seen only between batches (of which there is no other)
        // let the estimate run to its end. Each step or sample makes a few products, so a stop within the next one leaves the
        // count far below the millions the batch would make.
        using var cancellation = new CancellationTokenSource();
        ObservingEngine? engine = null;
        engine = new ObservingEngine(MatrixEngine.Managed, (_, _, _) => { if (engine!.Products >= 20) cancellation.Cancel(); });
        var machine = TestModels.Random("8b-3g-2g", 140, scale: 0.5f, engine);
        var data = Replicated(machine, 2, 1, 141);
        Assert.ThrowsExactly<OperationCanceledException>(() => new MeanFieldLogLikelihood(samples, steps, seed: 142).Estimate(machine, data, cancellationToken: cancellation.Token));
        Assert.IsTrue(cancellation.IsCancellationRequested, "the engine cancelled the token from within the batch");
        Assert.IsLessThan(20 + 50, engine.Products, "products after the cancellation: the batch stopped within a step or sample");
    }

    [TestMethod]
    public void ADivergedOptimisationIsRefusedNotReturnedAsNaN()
    {
        // A learning rate of 100 sends the log-variances past a float within 100 steps: the estimate was NaN.
        var machine = TestModels.Random("10b-5g-3g", 143, scale: 0.5f);
        var data = TestModels.BinaryData(20, 10, 144);
        var e = Assert.ThrowsExactly<TrainingDivergedException>(() => new MeanFieldLogLikelihood(5, steps: 100, learningRate: 100, seed: 145).Estimate(machine, data));
        StringAssert.Contains(e.Message, "learningRate = 100");
        StringAssert.Contains(e.Message, "diverged");
        Assert.IsTrue(double.IsFinite(new MeanFieldLogLikelihood(5, steps: 100, seed: 145).Estimate(machine, data).Mean), "the default rate converges");

        // A value far out of the model's range fails the same way at any rate: the message names the example's values too.
        var gaussian = TestModels.Random("3gl-2g", 146, scale: 0.5f);
        var far = new DataMatrix(2, 3, [0.1f, -0.2f, 0.3f, 1e30f, 0f, 0f]);
        var extreme = Assert.ThrowsExactly<TrainingDivergedException>(() => new MeanFieldLogLikelihood(3, steps: 2, seed: 147).EstimatePerExample(gaussian, far));
        StringAssert.Contains(extreme.Message, "example 1");
        StringAssert.Contains(extreme.Message, "check the example's values");
    }

    // Progress hears the share of the examples done as each batch ends, rising to 1: 2, 4 and 5 of 5 examples in batches of 2.
    [TestMethod]
    public void ProgressRisesToOneAsTheBatchesFinish()
    {
        var machine = TestModels.Random("8b-3g-2g", 148, scale: 0.5f);
        var fractions = new List<double>();
        new MeanFieldLogLikelihood(samples: 2, steps: 1, seed: 149, examplesPerBatch: 2).Estimate(machine, Replicated(machine, 5, 1, 150),
            new SynchronousProgress<double>(fractions.Add));
        CollectionAssert.AreEqual(new[] { 0.4, 0.8, 1.0 }, fractions.ToArray());
    }

    [TestMethod]
    public void BinaryHiddenLayersAreRefused()
    {
        var machine = TestModels.Random("8b-3b", 138);
        var e = Assert.ThrowsExactly<NotSupportedException>(() => new MeanFieldLogLikelihood(10).Estimate(machine, Replicated(machine, 2, 1, 139)));
        StringAssert.Contains(e.Message, "hidden layer 1");
    }

    // Each batch of examples starts its q and Adam's moments afresh: an example's estimate is the same bits whatever the examples
    // of the batch before it (the draws are the same in both runs, their count not depending on the values).
    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void AnExamplesEstimateDoesNotDependOnTheBatchBeforeIt(bool startFromRecognition)
    {
        var machine = TestModels.Random("8b-3g-2g", 141, scale: 0.5f);
        float[] one = TestModels.RandomStates(machine.Architecture, 4, 142).Layer(0, 4).ToArray();
        float[] other = TestModels.RandomStates(machine.Architecture, 2, 143).Layer(0, 2).ToArray();
        var estimator = new MeanFieldLogLikelihood(samples: 3, steps: 20, learningRate: 0.05, startFromRecognition: startFromRecognition, seed: 144, examplesPerBatch: 2);
        double[] first = estimator.EstimatePerExample(machine, new DataMatrix(4, 8, one));
        double[] second = estimator.EstimatePerExample(machine, new DataMatrix(4, 8, [.. other, .. one.Skip(16)]));
        Assert.AreNotEqual(first[0], second[0], "the first batches differ");
        for (int r = 2; r < 4; r++) Assert.AreEqual(first[r], second[r], 0, $"row {r}");
    }

    // Each batch writes its examples' Monte Carlo variances in their own places. Batches of one example draw the same noise whatever
    // the values (q starts at the recognition network's marginals, without draws): [A, B] and [B, B] share the second batch's draws,
    // and A alone and B alone the first's, so the variances the two pairs' summaries add up (N² MC²) differ by exactly A's less B's.
    [TestMethod]
    public void EachBatchsMonteCarloVariancesAreItsExamplesOwn()
    {
        var machine = TestModels.Random("8b-3g-2g", 145, scale: 0.5f);
        float[] rows = TestModels.RandomStates(machine.Architecture, 2, 146).Layer(0, 2).ToArray();
        float[] a = rows[..8], b = rows[8..];
        var estimator = new MeanFieldLogLikelihood(samples: 50, steps: 5, seed: 147, examplesPerBatch: 1);
        double SummedVariance(params float[][] examples)
        {
            LogLikelihoodEstimate e = estimator.Estimate(machine, new DataMatrix(examples.Length, 8, examples.SelectMany(x => x).ToArray()));
            return e.Examples * e.Examples * e.MonteCarloStandardError * e.MonteCarloStandardError;
        }
        double aThenB = SummedVariance(a, b), bThenB = SummedVariance(b, b), aAlone = SummedVariance(a), bAlone = SummedVariance(b);
        Assert.IsTrue(Math.Abs(aAlone - bAlone) > 0.1 * aAlone, $"A's variance {aAlone} and B's {bAlone} must differ for the test to tell them apart");
        Assert.AreEqual(aAlone - bAlone, aThenB - bThenB, 1e-9 * (aThenB + bThenB), $"[A, B] {aThenB}, [B, B] {bThenB}");
    }

    // Arguments no estimate can follow are refused when the estimator is made, naming each: no samples, a negative step count
    // (it ran as no steps), no examples a batch. No steps is an estimate: q where it starts.
    [TestMethod]
    public void ArgumentsNoEstimateCanFollowAreRefusedNamingThem()
    {
        foreach (var (make, parameter) in new (Func<MeanFieldLogLikelihood>, string)[]
                 {
                     (() => new MeanFieldLogLikelihood(samples: 0), "samples"),
                     (() => new MeanFieldLogLikelihood(samples: 1, steps: -1), "steps"),
                     (() => new MeanFieldLogLikelihood(samples: 1, examplesPerBatch: 0), "examplesPerBatch"),
                 })
            Assert.AreEqual(parameter, Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => make()).ParamName);
        Assert.AreEqual(0, new MeanFieldLogLikelihood(samples: 1, steps: 0).Steps);
    }

    /// <summary>
    /// Steps are Adam's steps at the given rate: on the 2gl-1g machine with w = 0, q = N(0, 1) is the posterior, and each weight
    /// p(x, h)/q(h) is p(x) itself (no spread). The gradient there is dF̂/dμ = ε and dF̂/ds = ½(ε² − 1), and Adam's first step moves
    /// each by the rate against its sign whatever its size: one step at 0.2 leaves q = N(±0.2, e^{±0.2}), whose weights have a relative
    /// variance ∫p²/q − 1 of 0.045 to 0.091 over the four signs. (K − 1) times the Monte Carlo variance estimates it: between 0.02 and
    /// 0.2 (over 60 seeds in development runs, 0.040 to 0.102); a step not taken left it at 0, one at the default rate, 0.02, under 0.001.
    /// </summary>
    [TestMethod]
    public void OneStepIsOneAdamStepAtTheGivenRate()
    {
        float[] b = [0.2f, -0.4f], logVariance = [MathF.Log(0.5f), MathF.Log(0.3f)];
        var flat = ExtremeMachineTests.LinearGaussianMachine("2gl-1g", 131, [0f, 0f], b, logVariance);
        var row = new DataMatrix(1, 2, [0.5f, -1.0f]);
        const int k = 4000;
        LogLikelihoodEstimate unmoved = new MeanFieldLogLikelihood(samples: k, steps: 0, startFromRecognition: false, seed: 151).Estimate(flat, row);
        Assert.AreEqual(0, (k - 1) * unmoved.MonteCarloStandardError * unmoved.MonteCarloStandardError, 1e-9, "q = N(0, 1) is the posterior");
        foreach (ulong seed in new ulong[] { 151, 152, 153, 154 })
        {
            LogLikelihoodEstimate moved = new MeanFieldLogLikelihood(samples: k, steps: 1, learningRate: 0.2, startFromRecognition: false, seed: seed).Estimate(flat, row);
            double relativeVariance = (k - 1) * moved.MonteCarloStandardError * moved.MonteCarloStandardError;
            Assert.IsTrue(relativeVariance > 0.02 && relativeVariance < 0.2, $"seed {seed}: the weights' relative variance after one step at 0.2 is {relativeVariance:G4}");
        }
    }

    // The seed draws every sample: the same seed gives the same bits, another seed other estimates of every example (with and without
    // optimisation steps, whose draws come from the same stream).
    [TestMethod]
    [DataRow(0)]
    [DataRow(5)]
    public void TheSeedDrawsTheEstimate(int steps)
    {
        var machine = TestModels.Random("8b-3g-2g", 155, scale: 0.5f);
        var data = Replicated(machine, 3, 1, 156);
        double[] Estimates(ulong seed) => new MeanFieldLogLikelihood(samples: 4, steps: steps, seed: seed).EstimatePerExample(machine, data);
        double[] first = Estimates(157), again = Estimates(157), other = Estimates(158);
        CollectionAssert.AreEqual(first, again, "the same seed");
        for (int r = 0; r < 3; r++) Assert.AreNotEqual(first[r], other[r], $"example {r}, seeds 157 and 158");
    }

    /// <summary>
    /// A batch's examples each have their Monte Carlo variance: in batches of two, the second slot's draws do not depend on the
    /// values (q starts at the recognition network's marginals, without draws), and its example is optimised on its own, so replacing
    /// the second example A by B changes the summed variance (N² MC²) by B's less A's, whatever the first example. That difference
    /// must also be large (measured: 0.17, against [A, A]'s 0.073): the second example's variance was the first's.
    /// </summary>
    [TestMethod]
    public void EachExampleOfABatchHasItsOwnMonteCarloVariance()
    {
        var machine = TestModels.Random("8b-3g-2g", 145, scale: 0.5f);
        // Two examples far apart (all off, all on), whose variances differ, and a third beside them.
        float[] a = new float[8], b = Enumerable.Repeat(1f, 8).ToArray(), c = TestModels.RandomStates(machine.Architecture, 1, 159).Layer(0, 1).ToArray();
        var estimator = new MeanFieldLogLikelihood(samples: 50, steps: 5, seed: 160, examplesPerBatch: 2);
        double SummedVariance(float[] first, float[] second)
        {
            LogLikelihoodEstimate e = estimator.Estimate(machine, new DataMatrix(2, 8, [.. first, .. second]));
            return 4 * e.MonteCarloStandardError * e.MonteCarloStandardError;
        }
        double aB = SummedVariance(a, b), aA = SummedVariance(a, a), cB = SummedVariance(c, b), cA = SummedVariance(c, a);
        Assert.IsTrue(Math.Abs(aB - aA) > 0.1 * aA, $"[A, B] {aB} and [A, A] {aA}: the second slot's variance is its own example's");
        Assert.AreEqual(aB - aA, cB - cA, 1e-9 * (aB + cB), $"[C, B] {cB}, [C, A] {cA}");
    }

    /// <summary>
    /// Started from the recognition network, q is its marginals: on the 2gl-1g linear-Gaussian machine with the recognition layer set
    /// to the exact posterior N(v Σ wᵢ(xᵢ − bᵢ)/σᵢ², v), v = 1/(1 + Σ wᵢ²/σᵢ²), every weight is p(x), and even 5 samples with no steps give
    /// ln p(x) to the rounding of the parameters (1e-5). From N(0, I) the same estimator is off (the check that the start matters).
    /// </summary>
    [TestMethod]
    public void StartedFromAnExactRecognitionNetworkItGivesTheExactLogLikelihoodAtOnce()
    {
        float[] w = [0.8f, -1.3f], b = [0.2f, -0.4f], logVariance = [MathF.Log(0.5f), MathF.Log(0.3f)];
        var machine = ExtremeMachineTests.LinearGaussianMachine("2gl-1g", 131, w, b, logVariance);
        double[] variance = logVariance.Select(s => Math.Exp(s)).ToArray();
        double precision = 1 + w[0] * w[0] / variance[0] + w[1] * w[1] / variance[1], v = 1 / precision;
        foreach (Parameter p in machine.Recognition.Layer(1).Parameters)
        {
            float[] value = p.Name switch
            {
                "recognition.1.mean.W" => [(float)(v * w[0] / variance[0]), (float)(v * w[1] / variance[1])],
                "recognition.1.mean.b" => [(float)(-v * (w[0] * b[0] / variance[0] + w[1] * b[1] / variance[1]))],
                "recognition.1.logvar.W" => [0f, 0f],
                "recognition.1.logvar.b" => [(float)Math.Log(v)],
                _ => throw new AssertFailedException($"unexpected parameter {p.Name}"),
            };
            value.CopyTo(p.Value, 0);
        }
        float[][] examples = [[0.5f, -1.0f], [-0.7f, 0.9f], [1.5f, 1.2f], [-2.0f, 2.5f]];
        var data = new DataMatrix(4, 2, examples.SelectMany(x => x).ToArray());
        double[] fromRecognition = new MeanFieldLogLikelihood(samples: 5, steps: 0, startFromRecognition: true, seed: 161).EstimatePerExample(machine, data);
        double[] fromPrior = new MeanFieldLogLikelihood(samples: 5, steps: 0, startFromRecognition: false, seed: 161).EstimatePerExample(machine, data);
        for (int i = 0; i < examples.Length; i++)
        {
            double exact = ExtremeMachineTests.LinearGaussianLogLikelihood(examples[i], w, b, variance);
            Assert.AreEqual(exact, fromRecognition[i], 1e-5, $"example {i}");
            Assert.IsTrue(Math.Abs(fromPrior[i] - exact) > 1e-3, $"example {i} from N(0, 1): {fromPrior[i]} against {exact}");
        }
    }

    // Data the machine cannot read is refused naming data, before any optimisation: rows of the wrong length, and a value the
    // binary visible layer does not model (0.5 was scored as a Bernoulli value, silently).
    [TestMethod]
    public void DataTheVisibleLayerCannotTakeIsRefusedNamingData()
    {
        var machine = TestModels.Random("8b-3g-2g", 165, scale: 0.5f);
        var estimator = new MeanFieldLogLikelihood(samples: 2, steps: 1, seed: 166);
        var shortRows = Assert.ThrowsExactly<ArgumentException>(() => estimator.Estimate(machine, new DataMatrix(2, 3, new float[6])));
        Assert.AreEqual("data", shortRows.ParamName);
        StringAssert.Contains(shortRows.Message, "length 3");
        float[] values = Replicated(machine, 2, 1, 167).Values.ToArray();
        values[8 + 3] = 0.5f;
        var half = Assert.ThrowsExactly<ArgumentException>(() => estimator.EstimatePerExample(machine, new DataMatrix(2, 8, values)));
        Assert.AreEqual("data", half.ParamName);
        StringAssert.Contains(half.Message, "row 1, column 3");
    }

    // A batch of more examples than the data holds is the data's rows: examplesPerBatch = int.MaxValue scores 3 examples as one
    // batch of 3, with the same draws and so the same bits, not refused as a batch no array holds (nor buffers of that many rows made).
    [TestMethod]
    public void AnExamplesPerBatchLargerThanTheDataScoresTheDataAsOneBatch()
    {
        var machine = TestModels.Random("8b-3g-2g", 168, scale: 0.5f);
        var data = Replicated(machine, 3, 1, 169);
        double[] Estimates(int examplesPerBatch) => new MeanFieldLogLikelihood(samples: 4, steps: 3, seed: 170, examplesPerBatch: examplesPerBatch).EstimatePerExample(machine, data);
        CollectionAssert.AreEqual(Estimates(3), Estimates(int.MaxValue));
    }

    // EstimatePerExample takes the token as Estimate does: one already cancelled stops it before its first batch, not after
    // every example has been optimised and scored.
    [TestMethod]
    public void EstimatePerExampleStopsForACancelledToken()
    {
        var machine = TestModels.Random("8b-3g-2g", 171, scale: 0.5f);
        using var cancellation = new CancellationTokenSource();
        cancellation.Cancel();
        Assert.ThrowsExactly<OperationCanceledException>(
            () => new MeanFieldLogLikelihood(samples: 2, steps: 1, seed: 172).EstimatePerExample(machine, Replicated(machine, 2, 1, 173), cancellation.Token));
    }

    /// <summary>
    /// Each Adam step is bias-corrected for its own count, so a constant gradient moves a parameter by the rate at every step. On the
    /// 2gl-1g machine with w = 0, started at the recognition network's q = N(0, e^{−100}): h = σ ε is about 1e-22, under the optimiser's
    /// gradient floor (1e-16), so μ stays 0 and dF̂/ds = −½ exactly, and N steps at rate 1 leave s = −100 + N. With K = 1 the estimate
    /// is ln p(x, h) − ln q(h) = ln N(x; b, D) − ½ ln 2π + ½ (ε² + s + ln 2π) = ln N(x; b, D) + ½ (ε² + s), ε the draw after the N
    /// steps' draws (one each, for one example of one hidden unit). Float rounding of s and of the products is far below 1e-4; steps
    /// corrected for the run's last count instead moved s by 1.74 in 2 steps, 0.13 nats off.
    /// </summary>
    [TestMethod]
    public void EachAdamStepIsBiasCorrectedForItsOwnCount()
    {
        float[] b = [0.2f, -0.4f], logVariance = [MathF.Log(0.5f), MathF.Log(0.3f)];
        var flat = ExtremeMachineTests.LinearGaussianMachine("2gl-1g", 131, [0f, 0f], b, logVariance);
        foreach (Parameter p in flat.Recognition.Layer(1).Parameters) p.Value.AsSpan().Fill(p.Name == "recognition.1.logvar.b" ? -100f : 0f);
        float[] x = [0.5f, -1.0f];
        double logPx = ExtremeMachineTests.LinearGaussianLogLikelihood(x, [0f, 0f], b, logVariance.Select(s => Math.Exp(s)).ToArray());
        foreach (int steps in new[] { 1, 2, 5, 20 })
        {
            var random = new RandomStream(174);
            var noise = new float[1];
            for (int i = 0; i <= steps; i++) random.FillNormal(noise);   // the steps' draws, then the sample's
            double expected = logPx + 0.5 * (noise[0] * (double)noise[0] + (-100 + steps));
            double estimate = new MeanFieldLogLikelihood(samples: 1, steps: steps, learningRate: 1, startFromRecognition: true, seed: 174)
                .EstimatePerExample(flat, new DataMatrix(1, 2, x))[0];
            Assert.AreEqual(expected, estimate, 1e-4, $"{steps} steps");
        }
    }

    /// <summary>
    /// Where a factorised q can be the posterior, the optimisation reaches it, every hidden layer's gradient holding each of its terms:
    /// on the 2gl-1g linear-Gaussian machine, and on a 2gl-1gl-1g one whose middle layer does not depend on the top (its W = 0, so
    /// h₁ ~ N(0, ¼) and the posterior is N(0, 1) for h₂ times the exact 1-D one for h₁; ln p(x) = ln N(x; b, ¼ w wᵀ + D)). There the
    /// weights p(x, h)/q(h) hardly vary: their relative variance, (K − 1) times the Monte Carlo variance, averaged over 4 examples,
    /// measured 0.0005 to 0.0135 over seeds 175–186 on both machines (Adam's jitter at rate 0.002; 0.002 to 0.067 at 0.01), against
    /// 0.12 to 0.24 with the s gradient's σ squared (q twice as wide) and 5.4 to 20.5 on 2gl-1gl-1g without ln p(h₁ | h₂)'s gradient
    /// for h₁ (q(h₁) fitted to the likelihood alone): the limit, 0.04, is three times the first and a third of the second. The
    /// estimate itself stays within five of its Monte Carlo errors of ln p(x) either way (importance sampling is consistent for any q).
    /// </summary>
    [TestMethod]
    [DataRow("2gl-1g")]
    [DataRow("2gl-1gl-1g")]
    public void WhereAFactorisedPosteriorExistsTheOptimisedQReachesIt(string architecture)
    {
        float[] w = [0.8f, -1.3f], b = [0.2f, -0.4f], logVariance = [MathF.Log(0.5f), MathF.Log(0.3f)];
        var machine = ExtremeMachineTests.LinearGaussianMachine(architecture, 131, w, b, logVariance);
        float scale = 1;   // h₁'s standard deviation
        if (machine.Architecture.Depth == 2)
        {
            Parameter Named(string name) => machine.Parameters.Single(p => p.Name == name);
            Named("generative.1.mean.W").Value[0] = 0;
            Named("generative.1.mean.b").Value[0] = 0;
            Named("generative.1.logvar").Value[0] = MathF.Log(0.25f);
            scale = 0.5f;
        }
        double[] variance = logVariance.Select(s => Math.Exp(s)).ToArray();
        float[][] examples = [[0.5f, -1.0f], [-0.7f, 0.9f], [1.5f, 1.2f], [-2.0f, 2.5f]];
        const int k = 2000;
        double relativeVariance = 0;
        for (int i = 0; i < examples.Length; i++)
        {
            double exact = ExtremeMachineTests.LinearGaussianLogLikelihood(examples[i], [scale * w[0], scale * w[1]], b, variance);
            LogLikelihoodEstimate e = new MeanFieldLogLikelihood(samples: k, steps: 6000, learningRate: 0.002, startFromRecognition: false, seed: 175)
                .Estimate(machine, new DataMatrix(1, 2, examples[i]));
            Assert.AreEqual(exact, e.Mean, 5 * e.MonteCarloStandardError + 1e-4, $"example {i}: {e}");
            relativeVariance += (k - 1) * e.MonteCarloStandardError * e.MonteCarloStandardError / examples.Length;
        }
        Assert.IsLessThan(0.04, relativeVariance, "the weights' mean relative variance: q is the posterior");
    }
}
