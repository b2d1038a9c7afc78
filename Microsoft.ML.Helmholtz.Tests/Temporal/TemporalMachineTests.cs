using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Evaluation;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Learning;
using Microsoft.ML.Helmholtz.Learning.Optimizers;
using Microsoft.ML.Helmholtz.Learning.Rules;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;
using Microsoft.ML.Helmholtz.Temporal;
using Microsoft.ML.Helmholtz.Tests.Data;
using Microsoft.ML.Helmholtz.Tests.Evaluation;
using Microsoft.ML.Helmholtz.Tests.Support;

namespace Microsoft.ML.Helmholtz.Tests.Temporal;

/// <summary>
/// The temporal machine: its gradient through the conditioned layers, the map and the LSTM over
/// several steps against finite differences; its per-frame scorer against exact enumeration; and, on
/// sequences with strong temporal structure, training that beats the same machine without the LSTM.
/// </summary>
[TestClass]
public sealed class TemporalMachineTests
{
    /// <summary>A temporal machine with every parameter random, the conditioning map included, so that no gradient is trivially zero.</summary>
    private static TemporalHelmholtzMachine RandomModel(string architecture, int recurrentUnits, ulong seed, float scale)
    {
        var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse(architecture), recurrentUnits, seed);
        var random = new RandomStream(seed + 1000);
        foreach (Parameter p in model.Parameters)
        {
            float[] noise = new float[p.Length];
            random.FillNormal(noise);
            for (int i = 0; i < p.Length; i++) p.Value[i] = p.Role == ParameterRole.Weight ? p.Value[i] + scale * noise[i] : scale * noise[i];
        }
        return model;
    }

    /// <summary>The model as saved: every parameter and the steps trained.</summary>
    private static byte[] Bytes(TemporalHelmholtzMachine model)
    {
        var stream = new MemoryStream();
        model.Save(stream);
        return stream.ToArray();
    }

    private static SequenceSet SoftSequences(int count, int frames, int size, ulong seed)
    {
        var random = new RandomStream(seed);
        return new SequenceSet(count, frames, 1, size, Enumerable.Range(0, count * frames * size).Select(_ => (float)random.NextDouble()).ToArray());
    }

    [TestMethod]
    [DataRow(0)]
    [DataRow(2)]
    public void TheGradientThroughTheLstmAndTheConditionedLayersMatchesFiniteDifferences(int firstFrame)
    {
        // SBP's path-wise gradient with the noise held fixed is the exact derivative of the sampled free energy of
        // the frames, through c_t = U z_t + a into every layer and back through the LSTM over four steps. From frame 2
        // the LSTM starts from the state the first two frames left (truncated BPTT): that state is held fixed.
        const int steps = 4, batch = 2;
        var model = RandomModel("4cb-3g-2g", 3, 5, scale: 0.3f);
        var data = SoftSequences(batch, 6, 4, 6);
        var rule = new StochasticBackpropagation();
        rule.Prepare(model.Machine, steps * batch);
        int[] sequences = [1, 0];
        // The carried state, from the parameters as they are (the differences must not move it).
        var first = new TemporalStep(model, rule, batch, steps, new RandomStream(7));
        if (firstFrame > 0) first.AccumulateGradients(data, sequences, 0, firstFrame);
        float[] hidden = (float[])first.CarriedState.Hidden.Clone(), cell = (float[])first.CarriedState.Cell.Clone();
        double Run()
        {
            // The same noise each time: the first segment draws it in the same order whatever the parameters.
            var step = new TemporalStep(model, rule, batch, steps, new RandomStream(7));
            if (firstFrame > 0) step.AccumulateGradients(data, sequences, 0, firstFrame);
            model.ZeroGradients();   // only the second segment's gradient is checked
            hidden.CopyTo(step.CarriedState.Hidden, 0);
            cell.CopyTo(step.CarriedState.Cell, 0);
            return step.AccumulateGradients(data, sequences, firstFrame, steps).FreeEnergy;
        }
        double Loss()
        {
            // The finite differences must leave the analytic gradients alone.
            float[][] kept = model.Parameters.Select(p => (float[])p.Gradient.Clone()).ToArray();
            double value = Run();
            for (int i = 0; i < kept.Length; i++) kept[i].CopyTo(model.Parameters[i].Gradient, 0);
            return value;
        }
        model.ZeroGradients();
        Run();
        Assert.IsTrue(model.Recurrence.Parameters.All(p => p.Gradient.Any(g => g != 0)), "every LSTM parameter gets a gradient");
        TestModels.AssertGradientsMatch(model.Parameters, Loss, context: $"from frame {firstFrame}");
    }

    [TestMethod]
    public void ThePerFrameScoreConvergesToTheExactConditionalLogLikelihood()
    {
        var model = RandomModel("6cb-3b", 2, 11, scale: 0.8f);
        var data = SoftSequences(2, 3, 6, 12);
        const int k = 20000;
        double[] estimate = TemporalEvaluation.LogLikelihoodPerFrame(model, data, k, seed: 13);
        var (exact, sd) = ExactFrameLogLikelihoods(model, data, k);
        for (int i = 0; i < exact.Length; i++)
            Assert.AreEqual(exact[i], estimate[i], 5 * sd[i] + 1e-4, $"sequence {i / data.Frames}, frame {i % data.Frames}");
    }

    // The progress is reported after a batch of sequences whose last chunk of frames fills its chunk exactly: K = 1024 draws take
    // 4096 / 1024 = 4 frames a chunk (TemporalEvaluation's RowsPerChunk), and 2 sequences of 6 frames are 3 whole chunks.
    [TestMethod]
    public void TheProgressReachesOneWhenTheLastChunkOfFramesIsFull()
    {
        var model = RandomModel("6cb-3b", 2, 11, scale: 0.8f);
        var data = SoftSequences(2, 6, 6, 12);
        var reports = new List<double>();
        TemporalEvaluation.LogLikelihoodPerFrame(model, data, 1024, seed: 13, progress: new SynchronousProgress<double>(reports.Add));
        CollectionAssert.AreEqual(new[] { 1.0 }, reports);
        reports.Clear();
        TemporalEvaluation.LogLikelihoodPerFrame(model, data, 1024, seed: 13, batchSequences: 1, progress: new SynchronousProgress<double>(reports.Add));
        CollectionAssert.AreEqual(new[] { 0.5, 1.0 }, reports, "two batches of one sequence");
    }

    /// <summary>
    /// <see cref="TemporalEvaluation.ThrowIfTooManySamples"/>, the check a program makes before its training, refuses what
    /// the scoring and the prediction refuse, with their message, and allows the largest K they would take: chunks of K rows
    /// (K past 4096) of the machine's widest row up to the largest array. It refuses a K under 1 and no model, naming them.
    /// </summary>
    [TestMethod]
    public void TheUpFrontSampleCheckRefusesWhatTheScoringRefuses()
    {
        var model = RandomModel("6cb-3b", 2, 11, scale: 0.8f);
        var data = SoftSequences(2, 6, 6, 12);
        int largest = Array.MaxLength / model.Machine.WidestRow;
        TemporalEvaluation.ThrowIfTooManySamples(model, largest);
        TemporalEvaluation.ThrowIfTooManySamples(model, 1);
        var refused = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => TemporalEvaluation.ThrowIfTooManySamples(model, largest + 1));
        Assert.AreEqual("samples", refused.ParamName);
        StringAssert.StartsWith(refused.Message, $"K = {largest + 1} draws a frame");
        foreach (var (what, call) in new (string, Action)[]
                 {
                     ("scoring", () => TemporalEvaluation.LogLikelihoodPerFrame(model, data, largest + 1)),
                     ("prediction", () => TemporalEvaluation.PredictFrames(model, data, largest + 1)),
                 })
        {
            var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(call, what);
            Assert.AreEqual(refused.Message, e.Message, what);
        }
        Assert.AreEqual("samples", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => TemporalEvaluation.ThrowIfTooManySamples(model, 0)).ParamName);
        Assert.AreEqual("model", Assert.ThrowsExactly<ArgumentNullException>(() => TemporalEvaluation.ThrowIfTooManySamples(null!, 1)).ParamName);
    }

    [TestMethod]
    public void ABatchOfMoreSequencesThanTheDataHoldsIsAllOfThem()
    {
        // batchSequences bounds a group of sequences, as the data's count does: int.MaxValue is one group of the 2 sequences, as
        // the default 20 is, so the same estimates and predictions, bit for bit; not a refusal of buffers for int.MaxValue sequences.
        var model = RandomModel("6cb-3b", 2, 11, scale: 0.8f);
        var data = SoftSequences(2, 6, 6, 12);
        CollectionAssert.AreEqual(TemporalEvaluation.LogLikelihoodPerFrame(model, data, 4, seed: 13),
            TemporalEvaluation.LogLikelihoodPerFrame(model, data, 4, seed: 13, batchSequences: int.MaxValue), "ln p per frame");
        CollectionAssert.AreEqual(TemporalEvaluation.PredictFrames(model, data, 4, seed: 13),
            TemporalEvaluation.PredictFrames(model, data, 4, seed: 13, batchSequences: int.MaxValue), "predicted frames");
    }

    /// <summary>
    /// The LSTM's input over <paramref name="steps"/> steps, time-major, as the scorer and the trainer feed it: step t holds frame
    /// t − 1 of each of <paramref name="sequences"/> (zeros at step 0).
    /// </summary>
    internal static float[] PreviousFrames(SequenceSet data, int[] sequences, int steps)
    {
        int d = data.Height * data.Width, n = sequences.Length;
        float[] input = new float[steps * n * d];
        for (int t = 1; t < steps; t++)
            for (int b = 0; b < n; b++) data.Frame(sequences[b], t - 1).CopyTo(input.AsSpan((t * n + b) * d, d));
        return input;
    }

    /// <summary>
    /// ln p(x_t | x_&lt;t) of every frame (index b · frames + t) by enumerating the 8 states of a machine of one hidden layer of 3 binary
    /// units, and the standard deviation of a K-sample importance-sampled estimate of it from the machine's recognition model.
    /// </summary>
    internal static (double[] Exact, double[] StandardDeviation) ExactFrameLogLikelihoods(TemporalHelmholtzMachine model, SequenceSet data, int k)
    {
        // The conditioning of each frame, as the scorer makes it: the LSTM over the frames before (zeros first).
        int frames = data.Frames, count = data.Count, d = data.Height * data.Width;
        Assert.AreEqual(2, model.Machine.Architecture.Layers.Count, "one hidden layer");
        Assert.AreEqual(new LayerDefinition(3, UnitType.Bernoulli), model.Machine.Architecture.Layers[1], "of 3 binary units");
        float[] input = PreviousFrames(data, Enumerable.Range(0, count).ToArray(), frames);
        model.Recurrence.EnsureCapacity(frames, count);
        model.Recurrence.Forward(input, frames, count);
        float[] c = new float[frames * count * model.ConditioningWidth];
        model.ConditioningMap.Forward(model.Recurrence.Hidden(frames, count), frames * count, c);

        const int configurations = 8;
        var states = new LayerStates(model.Machine.Architecture, configurations);
        var conditioning = new LayerConditioning(model.Machine.Architecture, configurations);
        double[] exactAll = new double[count * frames], sdAll = new double[count * frames];
        for (int t = 0; t < frames; t++)
            for (int b = 0; b < count; b++)
            {
                for (int h = 0; h < configurations; h++)
                {
                    data.Frame(b, t).CopyTo(states.Layer(0, configurations).Slice(h * d, d));
                    for (int j = 0; j < 3; j++) states.Layer(1, configurations)[h * 3 + j] = (h >> j) & 1;
                }
                model.Scatter(c.AsSpan((t * count + b) * model.ConditioningWidth), new int[configurations], configurations, conditioning);
                double[] logJoint = new double[configurations], logQ = new double[configurations];
                model.Machine.Generative.AccumulateLogJoint(states, configurations, logJoint, conditioning);
                model.Machine.Recognition.AccumulateLogProb(states, configurations, logQ, conditioning);
                double exact = Kernels.LogSumExp(logJoint);
                double second = 0;
                for (int h = 0; h < configurations; h++) second += Math.Exp(2 * (logJoint[h] - exact) - logQ[h]);
                (exactAll[b * frames + t], sdAll[b * frames + t]) = (exact, Math.Sqrt((second - 1) / k));
            }
        return (exactAll, sdAll);
    }

    /// <summary>8-pixel frames with one lit pixel that moves one place right each frame, wrapping round, from a random start.</summary>
    private static SequenceSet MovingDot(int count, int frames, ulong seed)
    {
        var random = new RandomStream(seed);
        var values = new float[count * frames * 8];
        for (int s = 0; s < count; s++)
        {
            int start = random.NextInt(8);
            for (int t = 0; t < frames; t++) values[(s * frames + t) * 8 + (start + t) % 8] = 1f;
        }
        return new SequenceSet(count, frames, 1, 8, values);
    }

    /// <summary>
    /// The thresholds are from 10 seed pairs (the machines' and the trainings': the test's 23 and 24, and 100 + s, 200 + s for
    /// s = 1…9; 2026-12-05): the temporal machine's lead per frame was 2.673 ± 0.005 (SD) nats with BP-SBP and 2.722 ± 0.006
    /// with Wake-Sleep, allowed down to the mean − 5 SD; every seed predicted every frame and rolled out every step right,
    /// allowed about one frame in a hundred wrong.
    /// </summary>
    [TestMethod]
    [DataRow("8b-6g", "sbp", 2.64)]
    [DataRow("8b-6b", "wake-sleep", 2.69)]
    public void OnAMovingPatternTheConditionedMachineBeatsTheSameMachineWithoutTheLstm(string architecture, string ruleName, double lead)
    {
        // Given the past, every frame after the first is determined: the temporal machine can approach
        // ln p(v_t | v_<t) = 0 for t ≥ 2, while a machine of single frames can do no better than ln(1/8) = −2.08 per frame.
        const int frames = 12;
        var training = MovingDot(96, frames, 21);
        var test = MovingDot(32, frames, 22);
        var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse(architecture), 16, 23);
        new TemporalTrainer(LearningRules.Create(ruleName), new TemporalTrainingOptions { Epochs = 150, BatchSequences = 16, LearningRate = new(0.01), Seed = 24 })
            .Train(model, training);
        var plain = HelmholtzMachine.Create(HelmholtzArchitecture.Parse(architecture), 23);
        var frameData = new DataMatrix(training.Count * frames, 8, training.Values);
        new HelmholtzTrainer(LearningRules.Create(ruleName), new TrainingOptions { Epochs = 150, BatchSize = 16 * frames, LearningRate = new(0.01), Seed = 24 })
            .Train(plain, frameData);

        double temporal = TemporalEvaluation.LogLikelihoodPerFrame(model, test, 500, seed: 25).Average();
        LogLikelihoodEstimate single = new ImportanceSampledLogLikelihood(500, seed: 25).Estimate(plain, new DataMatrix(test.Count * frames, 8, test.Values));
        double unconditioned = single.Mean;
        // No model of single frames scores the test frames above minus their empirical entropy (the lit pixel's frequencies),
        // at most ln(1/8); the estimate (biased low, by Jensen) can pass that only by its Monte Carlo error.
        double[] lit = new double[8];
        for (int f = 0; f < test.Count * frames; f++)
            for (int i = 0; i < 8; i++) lit[i] += test.Values[f * 8 + i];
        double entropy = -lit.Where(n => n > 0).Sum(n => n / (test.Count * frames) * Math.Log(n / (test.Count * frames)));
        Assert.IsTrue(unconditioned < -entropy + 4 * single.MonteCarloStandardError,
            $"frames alone carry −{entropy:F4} nats at best (ln(1/8) = {-Math.Log(8):F4}); the unconditioned machine scored {unconditioned:F4} (Monte Carlo SE {single.MonteCarloStandardError:F4})");
        Assert.IsTrue(temporal > unconditioned + lead, $"temporal {temporal:F3} nats per frame against unconditioned {unconditioned:F3}: a lead under {lead}");

        float[] predicted = TemporalEvaluation.PredictFrames(model, test, 50, seed: 26);
        float[] mean = TemporalEvaluation.MeanFrame(plain, 2000, seed: 27);
        float[] constant = Enumerable.Range(0, test.Values.Length).Select(i => mean[i % 8]).ToArray();
        double error = TemporalEvaluation.PredictionError(test, predicted), baseline = TemporalEvaluation.PredictionError(test, constant);
        // A frame predicted wholly wrong costs 2 (two pixels); the mean frame about 0.875: one frame in a hundred wrong is 0.023 of it.
        Assert.IsTrue(error < 0.03 * baseline, $"one-step prediction error {error:F3} against {baseline:F3} for the mean frame");

        // Rolled out from a true first frame, the dot keeps moving right.
        SequenceSet rolled = TemporalEvaluation.Generate(model, test.Count, frames, seed: 28, prefix: test, prefixFrames: 1);
        int right = 0, total = 0;
        for (int s = 0; s < test.Count; s++)
            for (int t = 1; t < frames; t++, total++)
            {
                int before = ArgMax(rolled.Frame(s, t - 1)), now = ArgMax(rolled.Frame(s, t));
                if (now == (before + 1) % 8) right++;
            }
        Assert.IsTrue(right >= 0.99 * total, $"{right} of {total} generated steps moved the dot one place right");
    }

    private static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++) if (values[i] > values[best]) best = i;
        return best;
    }

    [TestMethod]
    public void TruncationAtTheSequenceLengthIsTheWholeSequenceAndTrainingIsReproducible()
    {
        var data = SoftSequences(8, 6, 4, 31);
        byte[] Train(int truncation)
        {
            var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("4cb-3g"), 3, 32);
            new TemporalTrainer(new StochasticBackpropagation(), new TemporalTrainingOptions { Epochs = 2, BatchSequences = 4, TruncationSteps = truncation, Seed = 33 }).Train(model, data);
            return model.Parameters.SelectMany(p => p.Value).SelectMany(BitConverter.GetBytes).ToArray();
        }
        byte[] whole = Train(0);
        CollectionAssert.AreEqual(whole, Train(0), "the same seed gives the same parameters");
        CollectionAssert.AreEqual(whole, Train(6), "segments as long as the sequences are the whole sequences");
        CollectionAssert.AreNotEqual(whole, Train(2), "shorter segments take more, different steps");
    }

    [TestMethod]
    public void TruncationLongerThanTheSequencesIsTheWholeSequenceNotARefusalOfItsBuffers()
    {
        // TruncationSteps bounds a segment as the sequences' length does: int.MaxValue is one segment of the 6 frames, as 0 is,
        // so the same steps bit for bit; not buffers sized for int.MaxValue frames, refused.
        var data = SoftSequences(8, 6, 4, 31);
        byte[] Train(int truncation)
        {
            var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("4cb-3g"), 3, 32);
            var reports = new TemporalTrainer(new StochasticBackpropagation(), new TemporalTrainingOptions { Epochs = 2, BatchSequences = 4, TruncationSteps = truncation, Seed = 33 }).Train(model, data);
            Assert.HasCount(2, reports, $"truncation {truncation}: epochs");
            Assert.AreEqual(4L, model.Machine.StepsTrained, $"truncation {truncation}: one step per minibatch, two minibatches an epoch");
            return model.Parameters.SelectMany(p => p.Value).SelectMany(BitConverter.GetBytes).ToArray();
        }
        byte[] whole = Train(0);
        CollectionAssert.AreEqual(whole, Train(7), "one frame longer than the sequences");
        CollectionAssert.AreEqual(whole, Train(int.MaxValue), "int.MaxValue");
    }

    [TestMethod]
    [DataRow("8b-6g", "sbp", 2)]
    [DataRow("8b-6b", "nvil", 0)]
    public void ARunSplitBetweenEpochsWithItsTrainingStateIsTheUninterruptedRun(string architecture, string ruleName, int truncation)
    {
        var data = MovingDot(24, 6, 61);
        // A decaying schedule with a floor: the resumed run must go on from the state's epoch of it, not start again.
        var schedule = new LearningRateSchedule(0.01, 0.7, 0.004);
        TemporalTrainingOptions Options(int epochs) => new() { Epochs = epochs, BatchSequences = 8, TruncationSteps = truncation, LearningRate = schedule, Seed = 62 };

        var whole = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse(architecture), 5, 63);
        var wholeReports = new TemporalTrainer(LearningRules.Create(ruleName), Options(5)).Train(whole, data);
        // Reported as the shortest decimals of the floats stepped with.
        CollectionAssert.AreEqual(new[] { 0.01, 0.007, 0.0049, 0.004, 0.004 }, wholeReports.Select(r => r.LearningRate).ToArray(), "the rates follow the schedule to its floor");

        var first = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse(architecture), 5, 63);
        var state = new TrainingState();
        new TemporalTrainer(LearningRules.Create(ruleName), Options(2)).Train(first, data, state: state);
        Assert.AreEqual(2, state.ScheduleEpoch, "epochs recorded");
        var saved = new MemoryStream();
        state.Save(saved);
        saved.Position = 0;
        var second = TemporalHelmholtzMachine.Load(new MemoryStream(Bytes(first)));
        var resumed = TrainingState.Load(saved);
        var secondReports = new TemporalTrainer(LearningRules.Create(ruleName), Options(3)).Train(second, data, state: resumed);
        CollectionAssert.AreEqual(Bytes(whole), Bytes(second), "the split run's model is the uninterrupted run's");
        Assert.AreEqual(5, resumed.ScheduleEpoch, "epochs recorded: the first run's two and the resumed run's three");
        for (int e = 0; e < 3; e++)
        {
            Assert.AreEqual(wholeReports[e + 2].TrainObjective, secondReports[e].TrainObjective, $"epoch {e + 3}");
            Assert.AreEqual(wholeReports[e + 2].LearningRate, secondReports[e].LearningRate, $"epoch {e + 3}'s rate");
        }

        // Without the state the split run goes elsewhere; a state of another point is refused.
        var without = TemporalHelmholtzMachine.Load(new MemoryStream(Bytes(first)));
        new TemporalTrainer(LearningRules.Create(ruleName), Options(3)).Train(without, data);
        CollectionAssert.AreNotEqual(Bytes(whole), Bytes(without), "without the state");
        var fresh = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse(architecture), 5, 63);
        var e2 = Assert.ThrowsExactly<ArgumentException>(() => new TemporalTrainer(LearningRules.Create(ruleName), Options(1)).Train(fresh, data, state: state));
        StringAssert.Contains(e2.Message, "but the machine given has trained 0");
        CollectionAssert.AreEqual(Bytes(TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse(architecture), 5, 63)), Bytes(fresh), "the refused run changed nothing");

        // Another model at the same step, and the model with one bit of its recurrence changed since: the state's fingerprint refuses them.
        var twin = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse(architecture), 5, 64);
        new TemporalTrainer(LearningRules.Create(ruleName), Options(2)).Train(twin, data);
        var changed = TemporalHelmholtzMachine.Load(new MemoryStream(Bytes(first)));
        float[] recurrent = changed.TemporalParameters[0].Value;
        recurrent[1] = BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(recurrent[1]) ^ 1);
        Assert.IsTrue(state.Matches(first), "the model of the state's point");
        foreach (var (name, given) in new[] { ("another model", twin), ("the model changed since", changed) })
        {
            Assert.IsFalse(state.Matches(given), name);
            Assert.AreEqual(state.StepsTrained, given.Machine.StepsTrained, $"the premise: {name} at the state's step");
            byte[] before = Bytes(given);
            var e3 = Assert.ThrowsExactly<ArgumentException>(() => new TemporalTrainer(LearningRules.Create(ruleName), Options(1)).Train(given, data, state: state), name);
            StringAssert.Contains(e3.Message, $"recorded on a machine whose parameters differ from those of the machine given (both at {state.StepsTrained} steps trained", name);
            CollectionAssert.AreEqual(before, Bytes(given), $"{name}: the refused run changed nothing");
        }
    }

    /// <summary>
    /// A resumed run keeps the first run's divergence limit, F₀ carried in the state as the frame trainer carries it: the
    /// resumed run built its own from its first segment, so under a tight factor the second half of a run that finishes whole
    /// was refused at its epoch 7 (the repro of a review). Half a run, saved and loaded with its state, then the other half,
    /// is the whole run bit for bit, and the state carries the whole run's F₀ through the file.
    /// </summary>
    [TestMethod]
    public void ARunSplitWithItsTrainingStateKeepsTheUninterruptedRunsDivergenceLimit()
    {
        var random = new RandomStream(1);
        var values = new float[8 * 5 * 16];
        for (int i = 0; i < values.Length; i++) values[i] = random.NextDouble() < 0.9 ? 1 : 0;
        var data = new SequenceSet(8, 5, 4, 4, values);
        TemporalTrainingOptions Options(int epochs) => new()
        {
            Epochs = epochs, BatchSequences = 4, TruncationSteps = 2, LearningRate = new LearningRateSchedule(0.01), DivergenceFactor = 0.1,
            InitializeVisibleBiases = false, Seed = 3,
        };
        TemporalHelmholtzMachine Model() => TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("16b-4b"), 3, 7);

        var whole = Model();
        var wholeState = new TrainingState();
        new TemporalTrainer(LearningRules.Create("wake-sleep"), Options(30)).Train(whole, data, state: wholeState);
        Assert.IsTrue(double.IsFinite(wholeState.DivergenceReference), "the run records its F₀");

        var split = Model();
        var state = new TrainingState();
        new TemporalTrainer(LearningRules.Create("wake-sleep"), Options(15)).Train(split, data, state: state);
        Assert.AreEqual(wholeState.DivergenceReference, state.DivergenceReference, "the first half's F₀ is the whole run's");
        var saved = new MemoryStream();
        state.Save(saved);
        saved.Position = 0;
        var loaded = TrainingState.Load(saved);
        Assert.AreEqual(state.DivergenceReference, loaded.DivergenceReference, "F₀ through the file");
        var second = TemporalHelmholtzMachine.Load(new MemoryStream(Bytes(split)));
        new TemporalTrainer(LearningRules.Create("wake-sleep"), Options(15)).Train(second, data, state: loaded);
        CollectionAssert.AreEqual(Bytes(whole), Bytes(second), "the split run's model is the uninterrupted run's");
        Assert.AreEqual(wholeState.DivergenceReference, loaded.DivergenceReference, "the resumed run keeps the first run's F₀");
    }

    [TestMethod]
    public void BadSequencesAreRefusedNamingTheProblem()
    {
        var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("4cb-3g"), 3, 1);
        var trainer = new TemporalTrainer(new StochasticBackpropagation(), new TemporalTrainingOptions { Epochs = 1, BatchSequences = 2 });
        var wrongSize = new SequenceSet(4, 3, 1, 5, new float[4 * 3 * 5]);
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => trainer.Train(model, wrongSize)).Message, "frames of 5 values");
        var outside = SoftSequences(4, 3, 4, 2);
        outside.Values[17] = 1.5f;
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => trainer.Train(model, outside)).Message, "values in [0, 1]");
        outside.Values[17] = float.NaN;
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => trainer.Train(model, outside)).Message, "NaN");
        // The fixed-noise scorer checks its sequence too: frames × the frame size values exactly (one more is not a prefix to
        // score), and values the visible units model (sequence 1 of `outside` holds the NaN).
        var scorer = new TemporalFixedNoiseLogLikelihood(model, 2);
        double[] scores = new double[3];
        var tooLong = Assert.ThrowsExactly<ArgumentException>(() => scorer.Score(new float[3 * 4 + 1], 3, scores));
        Assert.AreEqual("sequence", tooLong.ParamName);
        StringAssert.Contains(tooLong.Message, "holds 13 values, not 3 frames of 4");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => scorer.Score(outside.Values.AsSpan(12, 12), 3, scores)).Message, "NaN");
        // The place is named as the set holds it: sequence, frame, and row and column within the frame (2×2 frames here).
        var square = new SequenceSet(4, 3, 2, 2, (float[])SoftSequences(4, 3, 4, 2).Values.Clone());
        square.Values[(2 * 3 + 1) * 4 + 1 * 2 + 0] = float.NaN;
        var placed = Assert.ThrowsExactly<ArgumentException>(() => trainer.Train(model, square));
        StringAssert.Contains(placed.Message, "training sequences sequence 2, frame 1, row 1, column 0 is NaN: values must be finite.");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => TemporalEvaluation.LogLikelihoodPerFrame(model, square, 2)).Message, "sequence 2, frame 1, row 1, column 0 is NaN");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => trainer.Train(model, SoftSequences(1, 3, 4, 2))).Message, "no minibatch of 2");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => trainer.Train(model, new SequenceSet(0, 3, 1, 4, []))).Message, "empty");
        Assert.AreEqual(0, model.Machine.StepsTrained, "nothing was trained");
    }

    [TestMethod]
    public void ARuleThatCannotTakeConditioningIsRefusedBeforeAnythingChanges()
    {
        var data = SoftSequences(4, 3, 4, 2);
        foreach (RecognitionUpdate update in new[] { RecognitionUpdate.Sleep, RecognitionUpdate.WakeAndSleep })
        {
            var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("4cb-3b"), 3, 1);
            var rule = new ReweightedWakeSleep(samples: 2, update);
            Assert.IsNotNull(rule.UnsupportedConditioning, $"{update}");
            var trainer = new TemporalTrainer(rule, new TemporalTrainingOptions { Epochs = 1, BatchSequences = 2 });
            var e = Assert.ThrowsExactly<NotSupportedException>(() => trainer.Train(model, data));
            StringAssert.Contains(e.Message, "sleep phase does not take conditioning");
            StringAssert.Contains(e.Message, "RecognitionUpdate.Wake");
            Assert.AreEqual(0, model.Machine.StepsTrained, $"{update}: nothing was trained");
        }
        // Its wake-phase update alone takes it, as do the rules that do not override the interface's default.
        var wake = new ReweightedWakeSleep(samples: 2, RecognitionUpdate.Wake);
        Assert.IsNull(wake.UnsupportedConditioning);
        Assert.IsNull(((ILearningRule)new Nvil()).UnsupportedConditioning);
        var trained = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("4cb-3b"), 3, 1);
        new TemporalTrainer(wake, new TemporalTrainingOptions { Epochs = 1, BatchSequences = 2 }).Train(trained, data);
        Assert.IsGreaterThan(0L, trained.Machine.StepsTrained);
    }

    [TestMethod]
    public void SavedAndLoadedTheMachineScoresTheSameAndDamagedFilesAreNamed()
    {
        var model = RandomModel("6bs-4g", 3, 41, scale: 0.4f);
        var data = SoftSequences(3, 5, 6, 42);
        using var directory = new TempDirectory();
        string path = Path.Combine(directory.Path, "temporal.htm");
        model.Save(path);
        var loaded = TemporalHelmholtzMachine.Load(path);
        Assert.AreEqual(model.RecurrentUnits, loaded.RecurrentUnits);
        for (int i = 0; i < model.Parameters.Count; i++)
            CollectionAssert.AreEqual(model.Parameters[i].Value, loaded.Parameters[i].Value, model.Parameters[i].Name);
        CollectionAssert.AreEqual(TemporalEvaluation.LogLikelihoodPerFrame(model, data, 10, seed: 3), TemporalEvaluation.LogLikelihoodPerFrame(loaded, data, 10, seed: 3));

        byte[] bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^3]);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => TemporalHelmholtzMachine.Load(path));
        StringAssert.StartsWith(e.Message, path);
        File.WriteAllBytes(path, [.. bytes, 0]);
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => TemporalHelmholtzMachine.Load(path)).Message, "bytes after");
        byte[] flipped = (byte[])bytes.Clone();
        flipped[^9] ^= 0x01;   // inside the map's last value: still a finite number
        File.WriteAllBytes(path, flipped);
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => TemporalHelmholtzMachine.Load(path)).Message, "checksum");
        bytes[0] ^= 0xFF;
        File.WriteAllBytes(path, bytes);
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => TemporalHelmholtzMachine.Load(path)).Message, "magic");
    }

    /// <summary>
    /// A header that promises more than the file holds, or an LSTM no parameter could hold, is refused naming the file before
    /// anything that size is allocated. Before, a frame machine's length of int.MaxValue was an OutOfMemoryException and one
    /// of 2,000,000,000 allocated 2 GB; 32771 units were an ArgumentOutOfRangeException without the path; 2048 units
    /// built a 134 MB LSTM before the file's counts were compared. A stream that cannot seek is read as its bytes arrive.
    /// </summary>
    [TestMethod]
    public void ADamagedHeaderIsRefusedNamingTheFileBeforeWhatItPromisesIsAllocated()
    {
        byte[] good = Bytes(TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("6b-4b"), 3, 1));
        byte[] WithUnits(int units)
        {
            byte[] bytes = (byte[])good.Clone();
            System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(8), units);
            return bytes;
        }
        byte[] HeaderWithLength(long length, int following)
        {
            byte[] bytes = [.. good[..20], .. new byte[following]];
            System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(12), length);
            return bytes;
        }
        // A stream that cannot seek is read in chunks from 1 MiB: a few MiB where one could be meant.
        void Refused(Func<TemporalHelmholtzMachine> load, string expected, string? path = null, long limit = 1 << 20)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            var e = Assert.ThrowsExactly<InvalidDataException>(() => load(), expected);
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            if (path is not null) StringAssert.StartsWith(e.Message, path + ":", expected);
            StringAssert.Contains(e.Message, expected);
            Assert.IsTrue(allocated < limit, $"{expected}: {allocated} bytes allocated before the refusal");
        }
        using var directory = new TempDirectory();
        string path = Path.Combine(directory.Path, "damaged.htm");
        void RefusedFile(byte[] content, string expected)
        {
            File.WriteAllBytes(path, content);
            Refused(() => TemporalHelmholtzMachine.Load(path), expected, path);
        }
        RefusedFile(HeaderWithLength(int.MaxValue, 0), "the frame machine's length 2147483647 is impossible");
        RefusedFile(HeaderWithLength(2_000_000_000, 0), "the file is truncated: the header gives the frame machine 2000000000 bytes, but only 0 follow");
        RefusedFile(WithUnits(32771), $"an LSTM of 32771 units would make temporal.lstm.Wh {4L * 32771 * 32771} values, more than a parameter may hold");
        RefusedFile(WithUnits(2048), "the file is truncated: an LSTM of 2048 units and its conditioning map need");

        Refused(() => TemporalHelmholtzMachine.Load(new NonSeekableStream(HeaderWithLength(64L << 20, 10))),
            "the file is truncated: it ends inside the frame machine (10 of 67108864 bytes)", limit: 4 << 20);
        Refused(() => TemporalHelmholtzMachine.Load(new NonSeekableStream(WithUnits(2048))),
            $"temporal.lstm.Wx holds 72 values in the file; this architecture needs {4 * 2048 * 6}");
        // A count larger than the architecture's (the file's own units, the first block's count one more) is refused as well, not read.
        byte[] longer = (byte[])good.Clone();
        int wxCount = 20 + (int)System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(good.AsSpan(12));
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(longer.AsSpan(wxCount), 73);
        RefusedFile(longer, "temporal.lstm.Wx holds 73 values in the file; this architecture needs 72.");
        var loaded = TemporalHelmholtzMachine.Load(new NonSeekableStream(good));
        CollectionAssert.AreEqual(good, Bytes(loaded), "a whole file through a stream that cannot seek");

        var e = Assert.ThrowsExactly<FileNotFoundException>(() => TemporalHelmholtzMachine.Load(directory.Path));
        StringAssert.Contains(e.Message, $"{directory.Path}: is a directory");
    }

    /// <summary>Save refuses a model that Load would refuse (a value not finite, in the LSTM or the frame machine), writing nothing.</summary>
    [TestMethod]
    public void AModelWithAValueNotFiniteIsNotSaved()
    {
        var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("4cb-3g"), 3, 63);
        using var directory = new Data.TempDirectory();
        string path = Path.Combine(directory.Path, "model.htm");
        model.TemporalParameters[1].Value[2] = float.NaN;
        StringAssert.Contains(Assert.ThrowsExactly<InvalidOperationException>(() => model.Save(path)).Message, $"{model.TemporalParameters[1].Name} holds a value that is not finite");
        model.TemporalParameters[1].Value[2] = 0;
        model.Machine.Parameters[0].Value[0] = float.PositiveInfinity;
        Assert.ThrowsExactly<InvalidOperationException>(() => model.Save(path));
        Assert.IsFalse(File.Exists(path), "nothing written");
        Assert.IsEmpty(Directory.GetFiles(directory.Path), "nor a temporary file beside it");
    }

    [TestMethod]
    public void ADivergingRunStopsNamingTheStepAndLeavesFiniteParametersAndCancellationStopsIt()
    {
        var data = SoftSequences(8, 6, 4, 51);
        var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("4cb-3g"), 3, 52);
        var trainer = new TemporalTrainer(new StochasticBackpropagation(), new TemporalTrainingOptions { Epochs = 50, BatchSequences = 4, LearningRate = new(1e30), Seed = 53 });
        var e = Assert.ThrowsExactly<TrainingDivergedException>(() => trainer.Train(model, data));
        StringAssert.Contains(e.Message, "Lower the learning rate");
        Assert.IsTrue(model.Parameters.All(p => p.Value.All(float.IsFinite)), "the step that broke the machine was undone");

        using var cancellation = new CancellationTokenSource();
        cancellation.Cancel();
        var fresh = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("4cb-3g"), 3, 52);
        Assert.ThrowsExactly<OperationCanceledException>(() =>
            new TemporalTrainer(new StochasticBackpropagation(), new TemporalTrainingOptions { Epochs = 1, BatchSequences = 4 }).Train(fresh, data, cancellationToken: cancellation.Token));
    }

    /// <summary>Adam, with the parameters kept before each step and step <paramref name="sabotagedStep"/> (from 0) taken at <paramref name="factor"/> times the rate.</summary>
    private sealed class SabotagedAdam(TemporalHelmholtzMachine model, int sabotagedStep, float factor, CancellationTokenSource? cancelAfter = null) : IOptimizer
    {
        private readonly Adam _adam = new();
        public List<float[][]> Before { get; } = [];
        public string Name => "sabotaged adam";
        public bool ClearsGradients => true;

        public void Step(IReadOnlyList<Parameter> parameters, float learningRate)
        {
            Before.Add(TestModels.Snapshot(model.Parameters));
            _adam.Step(parameters, Before.Count - 1 == sabotagedStep ? learningRate * factor : learningRate);
            if (Before.Count - 1 == sabotagedStep) cancelAfter?.Cancel();
        }
    }

    /// <summary>
    /// NVIL's running baselines learn from the free energy that fails a step's check; the undone step takes that back, as in
    /// the frame trainer (they stood at 8·10²⁶ after the failure, and a retry with the same rule learned from noise).
    /// </summary>
    [TestMethod]
    public void AnUndoneStepTakesBackWhatItsMeasureTaughtTheRule()
    {
        var data = SoftSequences(8, 6, 4, 57);
        var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("4cb-3b"), 3, 58);
        var rule = new Nvil();
        var options = new TemporalTrainingOptions { Epochs = 3, BatchSequences = 4, TruncationSteps = 3, Seed = 59, Optimizer = () => new SabotagedAdam(model, 1, 1e30f) };
        Assert.ThrowsExactly<TrainingDivergedException>(() => new TemporalTrainer(rule, options).Train(model, data));
        Assert.IsTrue(rule.Baselines.All(b => double.IsFinite(b) && Math.Abs(b) < 1e3), string.Join(", ", rule.Baselines));
    }

    /// <summary>Adam taking step <paramref name="sabotagedStep"/> (from 0) at <paramref name="factor"/> times the rate, keeping NVIL's baselines as each step starts.</summary>
    private sealed class BaselineKeepingAdam(Nvil rule, int sabotagedStep, float factor) : IOptimizer
    {
        private readonly Adam _adam = new();
        public List<double[]> Baselines { get; } = [];
        public string Name => "baseline-keeping adam";
        public bool ClearsGradients => true;

        public void Step(IReadOnlyList<Parameter> parameters, float learningRate)
        {
            Baselines.Add(rule.Baselines.ToArray());
            _adam.Step(parameters, Baselines.Count - 1 == sabotagedStep ? learningRate * factor : learningRate);
        }
    }

    /// <summary>
    /// Whichever check fails the segment after a blown-up step (its free energy past the limit though finite, or not finite),
    /// NVIL's baselines are those the last step was taken with: what the failed segment's measure taught them is taken back.
    /// </summary>
    [TestMethod]
    [DataRow(1000f, 0.5, "past the divergence limit", DisplayName = "past the limit")]
    [DataRow(1e30f, double.PositiveInfinity, "not finite", DisplayName = "not finite")]
    public void AnUndoneStepLeavesTheRulesBaselinesAsTheLastStepHadThem(float factor, double divergenceFactor, string failure)
    {
        var data = SoftSequences(8, 6, 4, 57);
        var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("4cb-3b"), 3, 58);
        var rule = new Nvil();
        BaselineKeepingAdam? optimizer = null;
        var options = new TemporalTrainingOptions { Epochs = 3, BatchSequences = 4, TruncationSteps = 3, Seed = 59, DivergenceFactor = divergenceFactor, Optimizer = () => optimizer = new(rule, 1, factor) };
        var e = Assert.ThrowsExactly<TrainingDivergedException>(() => new TemporalTrainer(rule, options).Train(model, data));
        StringAssert.Contains(e.Message, "Epoch 1, minibatch 1, frames from 1");
        StringAssert.Contains(e.Message, failure);
        Assert.HasCount(2, optimizer!.Baselines, "no step after the failed one");
        CollectionAssert.AreNotEqual(optimizer.Baselines[0], optimizer.Baselines[1], "the premise: each segment teaches the baselines");
        CollectionAssert.AreEqual(optimizer.Baselines[1], rule.Baselines.ToArray(), "the baselines the undone step was taken with");
    }

    /// <summary>
    /// A call refused before its first step (cancelled) with a rule trained on another model leaves the rule as it was (it once
    /// prepared itself for the refused call's machine first, forgetting NVIL's baselines), as in the frame trainer; and a
    /// gradient that is not finite before the run's first step does not blame the learning rate, which played no part.
    /// </summary>
    [TestMethod]
    public void ARefusedCallKeepsTheRuleAndAFailureBeforeTheFirstStepNamesTheData()
    {
        var data = SoftSequences(8, 6, 4, 57);
        var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("4cb-3b"), 3, 58);
        var rule = new Nvil();
        var options = new TemporalTrainingOptions { Epochs = 1, BatchSequences = 4, TruncationSteps = 3, Seed = 59 };
        new TemporalTrainer(rule, options).Train(model, data);
        double[] baselines = rule.Baselines.ToArray();
        Assert.IsTrue(baselines.All(b => b != 0), "the premise: the rule has learned its baselines");
        var other = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("4cb-3b"), 3, 60);
        using (var cancelled = new CancellationTokenSource())
        {
            cancelled.Cancel();
            Assert.ThrowsExactly<OperationCanceledException>(() => new TemporalTrainer(rule, options).Train(other, data, cancellationToken: cancelled.Token));
        }
        CollectionAssert.AreEqual(baselines, rule.Baselines.ToArray(), "the baselines after the cancelled call");
        // A state from another kind of run (the frame trainer's streams), at the step count of the model given: it was refused only after
        // the rule had prepared itself for that model.
        var foreign = new TrainingState();
        foreign.Record(new Nvil(), new Adam(), [], 0, TrainingState.Fingerprint(other.Parameters), 1, 0, 4, data.Count, 0, 0, 0,
            ("training", new ulong[RandomStream.StateWords]), ("validation", new ulong[RandomStream.StateWords]));
        var refused = Assert.ThrowsExactly<InvalidDataException>(() => new TemporalTrainer(rule, options).Train(other, data, state: foreign));
        StringAssert.Contains(refused.Message, "it is from another kind of run");
        CollectionAssert.AreEqual(baselines, rule.Baselines.ToArray(), "the baselines after a call given a state from another kind of run");

        // A value the visible units can hold but no weight can fit: the gradient at the machine as given is not finite.
        var gaussian = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("4gl-3g"), 3, 61);
        float[] values = SoftSequences(8, 6, 4, 62).Values.ToArray();
        values[5] = 1e30f;
        var e = Assert.ThrowsExactly<TrainingDivergedException>(() => new TemporalTrainer(new StochasticBackpropagation(), options)
            .Train(gaussian, new SequenceSet(8, 6, 1, 4, values)));
        StringAssert.Contains(e.Message, "No step was taken");
        StringAssert.Contains(e.Message, "Check its parameters (they may be extreme) and the data");
        Assert.DoesNotContain("learning rate", e.Message);
    }

    /// <summary>
    /// A run cancelled right after a step that blew up (mid-epoch, where no state is recorded) measures the step before it
    /// stops and undoes it: it once stopped on it, and the bouncing-balls sample saved and scored the broken machine.
    /// </summary>
    [TestMethod]
    [DataRow(8, 1, 0, DisplayName = "the first minibatch's second segment")]
    [DataRow(12, 3, 1, DisplayName = "the second minibatch's second segment, the measure on that minibatch, not the first")]
    public void ARunCancelledAfterAStepThatBlewUpUndoesIt(int sequences, int sabotagedStep, int minibatch)
    {
        // Minibatches of four sequences, two segments each: the sabotaged step is taken far too large, and the run is cancelled after it,
        // before the next minibatch (a third one where the blown-up step is the second's, so that it is not the epoch's last).
        var data = SoftSequences(sequences, 6, 4, 57);
        var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("4cb-3g"), 3, 58);
        using var cancellation = new CancellationTokenSource();
        SabotagedAdam? optimizer = null;
        var options = new TemporalTrainingOptions { Epochs = 3, BatchSequences = 4, TruncationSteps = 3, Seed = 59, Optimizer = () => optimizer = new(model, sabotagedStep, 1e30f, cancellation) };
        var e = Assert.ThrowsExactly<TrainingDivergedException>(() => new TemporalTrainer(new StochasticBackpropagation(), options)
            .Train(model, data, cancellationToken: cancellation.Token));
        StringAssert.Contains(e.Message, $"Epoch 1, after its last step before the run was cancelled (minibatch {minibatch}), measured on that minibatch's first 3 frames");
        StringAssert.Contains(e.Message, "the machine holds the parameters it had before it");
        Assert.HasCount(sabotagedStep + 1, optimizer!.Before, "no step after the failed one");
        for (int i = 0; i < model.Parameters.Count; i++)
            CollectionAssert.AreEqual(optimizer.Before[sabotagedStep][i], model.Parameters[i].Value, $"{model.Parameters[i].Name}: the failed step is undone");
        Assert.AreEqual((long)sabotagedStep, model.Machine.StepsTrained, "the undone step is not counted");

        // A sound step before the cancellation passes the measure: the run stops as cancelled, its steps kept.
        var sound = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("4cb-3g"), 3, 58);
        using var soundCancellation = new CancellationTokenSource();
        var soundOptions = new TemporalTrainingOptions { Epochs = 3, BatchSequences = 4, TruncationSteps = 3, Seed = 59, Optimizer = () => new SabotagedAdam(sound, 1, 1f, soundCancellation) };
        Assert.ThrowsExactly<OperationCanceledException>(() => new TemporalTrainer(new StochasticBackpropagation(), soundOptions)
            .Train(sound, data, cancellationToken: soundCancellation.Token));
        Assert.AreEqual(2L, sound.Machine.StepsTrained);
    }

    [TestMethod]
    public void AOneStepRunDoesNotReturnABrokenModel()
    {
        // One minibatch of whole sequences, one epoch: the only step has no next segment to check it.
        var data = SoftSequences(8, 6, 4, 54);
        var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("4cb-3g"), 3, 55);
        byte[] given = Bytes(model);
        var state = new TrainingState();
        var reported = new List<int>();
        var e = Assert.ThrowsExactly<TrainingDivergedException>(() =>
            new TemporalTrainer(new StochasticBackpropagation(), new TemporalTrainingOptions { Epochs = 1, BatchSequences = 8, LearningRate = new(1e30), Seed = 56 })
                .Train(model, data, new SynchronousProgress<TemporalEpochReport>(r => reported.Add(r.Epoch)), state: state));
        StringAssert.Contains(e.Message, "Epoch 1, after its last step (minibatch 0)");
        StringAssert.Contains(e.Message, "the machine is as it was when the run started");
        Assert.AreEqual(1, e.Epoch);
        Assert.AreEqual(0, e.Minibatch);
        CollectionAssert.AreEqual(given, Bytes(model), "the failed only step is undone, and the visible biases' start with it");
        Assert.IsEmpty(reported, "the epoch that ended with the failed step is not reported");
        Assert.IsTrue(state.IsEmpty, "nor recorded");
    }

    /// <summary>
    /// Adam whose only step then leaves the LSTM's biases 0 and the conditioning map's weights at 10³⁰: the first frame's hidden
    /// state is then exactly 0 (its gates' inputs are all 0, so g = tanh 0 = 0), its conditioning the map's finite bias, while every
    /// later frame's conditioning is of order 10²⁹.
    /// </summary>
    private sealed class LaterFramesBreakingAdam(TemporalHelmholtzMachine model) : IOptimizer
    {
        private readonly Adam _adam = new();
        public string Name => "later-frames-breaking adam";
        public bool ClearsGradients => true;

        public void Step(IReadOnlyList<Parameter> parameters, float learningRate)
        {
            _adam.Step(parameters, learningRate);
            Array.Clear(model.Recurrence.Bias.Value);
            Array.Fill(model.ConditioningMap.Weight!.Value, 1e30f);
        }
    }

    [TestMethod]
    public void TheEndOfEpochMeasureCoversEveryFrameOfTheSegmentNotOnlyTheFirst()
    {
        // One minibatch of whole sequences, one epoch: the only step is checked by the end-of-epoch measure alone, and it breaks
        // only frames 2 … 6. A measure of the first frame would pass it and return the broken model.
        var data = SoftSequences(8, 6, 4, 54);
        var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("4cb-3g"), 3, 55);
        byte[] given = Bytes(model);
        var e = Assert.ThrowsExactly<TrainingDivergedException>(() =>
            new TemporalTrainer(new StochasticBackpropagation(), new TemporalTrainingOptions { Epochs = 1, BatchSequences = 8, Seed = 56, Optimizer = () => new LaterFramesBreakingAdam(model) })
                .Train(model, data));
        StringAssert.Contains(e.Message, "Epoch 1, after its last step (minibatch 0), measured on that minibatch's first 6 frames");
        CollectionAssert.AreEqual(given, Bytes(model), "the failed only step is undone");
    }

    [TestMethod]
    public void TheEndOfEpochMeasureReadsEveryFrameOfTheSegmentTheLastIncluded()
    {
        // The measure that checks an epoch's last step is the mean sampled free energy of the first segment's frames, all of
        // them. Changing only the last frame of each sequence leaves the rows of the earlier frames exactly as they were (the
        // same draws; the LSTM reads a frame only for the frames after it) and changes the last frame's rows and the mean.
        // A measure a frame short would not read that frame, and its mean would be over fewer rows than the segment holds.
        const int batch = 2, frames = 3, d = 4, rows = batch * frames;
        var model = RandomModel("4cb-3g", 3, 111, scale: 0.5f);
        var data = SoftSequences(batch, frames, d, 112);
        var changed = new SequenceSet(batch, frames, 1, d, (float[])data.Values.Clone());
        for (int s = 0; s < batch; s++)
            for (int i = 0; i < d; i++)
            {
                int at = (s * frames + frames - 1) * d + i;
                changed.Values[at] = 1f - data.Values[at];
            }
        var rule = new StochasticBackpropagation();
        rule.Prepare(model.Machine, rows);
        var step = new TemporalStep(model, rule, batch, frames, new RandomStream(113));
        int[] sequences = [0, 1];
        double[] freeEnergy = new double[rows], changedFreeEnergy = new double[rows], logJoint = new double[rows];
        double mean = step.SampleFreeEnergy(data, sequences, new RandomStream(114), freeEnergy, logJoint);
        double changedMean = step.SampleFreeEnergy(changed, sequences, new RandomStream(114), changedFreeEnergy, logJoint);
        // Rows are time-major (row t · batch + b), one sample each for SBP; the means are of the same six doubles in the same order.
        Assert.AreEqual(freeEnergy.Sum() / rows, mean, 0.0, "the mean over every frame of the segment");
        Assert.AreEqual(changedFreeEnergy.Sum() / rows, changedMean, 0.0, "the mean over every frame of the segment");
        for (int r = 0; r < (frames - 1) * batch; r++) Assert.AreEqual(freeEnergy[r], changedFreeEnergy[r], 0.0, $"row {r}, before the last frame");
        for (int r = (frames - 1) * batch; r < rows; r++) Assert.AreNotEqual(freeEnergy[r], changedFreeEnergy[r], $"row {r}, of the last frame");
        Assert.AreNotEqual(mean, changedMean, "the last frame counts in the measure");
    }

    [TestMethod]
    public void TheLastStepOfAnEpochIsCheckedBeforeTheEpochIsReportedOrRecorded()
    {
        // Two minibatches of two segments: step 3 is epoch 1's last, and the one taken far too large.
        var data = SoftSequences(8, 6, 4, 57);
        var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("4cb-3g"), 3, 58);
        SabotagedAdam? optimizer = null;
        var options = new TemporalTrainingOptions { Epochs = 3, BatchSequences = 4, TruncationSteps = 3, Seed = 59, Optimizer = () => optimizer = new(model, 3, 1e30f) };
        var state = new TrainingState();
        var reported = new List<int>();
        var e = Assert.ThrowsExactly<TrainingDivergedException>(() => new TemporalTrainer(new StochasticBackpropagation(), options)
            .Train(model, data, new SynchronousProgress<TemporalEpochReport>(r => reported.Add(r.Epoch)), state: state));
        StringAssert.Contains(e.Message, "Epoch 1, after its last step (minibatch 1)");
        StringAssert.Contains(e.Message, "the machine holds the parameters it had before it");
        Assert.AreEqual(1, e.Epoch);
        Assert.HasCount(4, optimizer!.Before, "no step after the failed one");
        for (int i = 0; i < model.Parameters.Count; i++)
            CollectionAssert.AreEqual(optimizer.Before[3][i], model.Parameters[i].Value, $"{model.Parameters[i].Name}: the failed step is undone");
        Assert.AreEqual(3L, model.Machine.StepsTrained, "the undone step is not counted");
        Assert.IsEmpty(reported, "epoch 1 ended with the failed step: it is not reported");
        Assert.IsTrue(state.IsEmpty, "nor recorded");
    }

    [TestMethod]
    public void AStepPastTheDivergenceLimitIsUndoneThoughItsValuesAreFinite()
    {
        // Step 1 is taken at 1000 times the rate: finite parameters, a free energy far past F₀ + 0.5 · (|F₀| + D).
        var data = SoftSequences(8, 6, 4, 60);
        var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("4cb-3g"), 3, 61);
        SabotagedAdam? optimizer = null;
        var options = new TemporalTrainingOptions { Epochs = 3, BatchSequences = 4, TruncationSteps = 3, Seed = 62, DivergenceFactor = 0.5, Optimizer = () => optimizer = new(model, 1, 1000f) };
        var e = Assert.ThrowsExactly<TrainingDivergedException>(() => new TemporalTrainer(new StochasticBackpropagation(), options).Train(model, data));
        StringAssert.Contains(e.Message, "Epoch 1, minibatch 1, frames from 1");
        StringAssert.Contains(e.Message, "past the divergence limit");
        StringAssert.Contains(e.Message, "TemporalTrainingOptions.DivergenceFactor");
        StringAssert.Contains(e.Message, "the machine holds the parameters it had before it");
        Assert.HasCount(2, optimizer!.Before, "no step after the failed one");
        for (int i = 0; i < model.Parameters.Count; i++)
            CollectionAssert.AreEqual(optimizer.Before[1][i], model.Parameters[i].Value, $"{model.Parameters[i].Name}: the failed step is undone");

        // With the finiteness checks only (+∞), the same run takes the step and trains on: the limit is what refused it.
        var again = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("4cb-3g"), 3, 61);
        var wide = new TemporalTrainingOptions { Epochs = 1, BatchSequences = 4, TruncationSteps = 3, Seed = 62, DivergenceFactor = double.PositiveInfinity, Optimizer = () => new SabotagedAdam(again, 1, 1000f) };
        Assert.HasCount(1, new TemporalTrainer(new StochasticBackpropagation(), wide).Train(again, data));
    }

    [TestMethod]
    public void AnEpochsLastStepPastTheDivergenceLimitNamesItsEpochAndMinibatch()
    {
        // Two minibatches of two segments: step 3, epoch 1's last, is taken at 1000 times the rate (finite, far past the limit);
        // only the end-of-epoch measure checks it, and the exception names epoch 1 (from 1) and minibatch 1 (from 0), as its message does.
        var data = SoftSequences(8, 6, 4, 60);
        var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("4cb-3g"), 3, 61);
        SabotagedAdam? optimizer = null;
        var options = new TemporalTrainingOptions { Epochs = 3, BatchSequences = 4, TruncationSteps = 3, Seed = 62, DivergenceFactor = 0.5, Optimizer = () => optimizer = new(model, 3, 1000f) };
        var e = Assert.ThrowsExactly<TrainingDivergedException>(() => new TemporalTrainer(new StochasticBackpropagation(), options).Train(model, data));
        StringAssert.Contains(e.Message, "Epoch 1, after its last step (minibatch 1)");
        StringAssert.Contains(e.Message, "past the divergence limit");
        Assert.AreEqual(1, e.Epoch, "the epoch, from 1");
        Assert.AreEqual(1, e.Minibatch, "the minibatch, from 0");
        Assert.HasCount(4, optimizer!.Before, "no step after the failed one");
        for (int i = 0; i < model.Parameters.Count; i++)
            CollectionAssert.AreEqual(optimizer.Before[3][i], model.Parameters[i].Value, $"{model.Parameters[i].Name}: the failed step is undone");
    }

    [TestMethod]
    public void ACallThatIsRefusedLeavesTheMachineUntouched()
    {
        var data = SoftSequences(8, 6, 4, 71);
        var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("4cb-3g"), 3, 72);
        byte[] given = Bytes(model);
        TException Refused<TException>(string context, TemporalTrainingOptions options, CancellationToken cancellationToken = default) where TException : Exception
        {
            var e = Assert.ThrowsExactly<TException>(() => new TemporalTrainer(new StochasticBackpropagation(), options).Train(model, data, cancellationToken: cancellationToken), context);
            CollectionAssert.AreEqual(given, Bytes(model), $"{context}: the machine changed");
            return e;
        }
        var noRate = Refused<ArgumentNullException>("no learning rate", new() { LearningRate = null!, BatchSequences = 4 });
        Assert.AreEqual("options", noRate.ParamName);
        StringAssert.Contains(noRate.Message, "TemporalTrainingOptions.LearningRate must be set");
        // A floor above the start, set by a with expression (the schedule's constructor would have refused it).
        var floor = Refused<ArgumentOutOfRangeException>("a floor above the initial rate", new() { LearningRate = new LearningRateSchedule(1e-3) with { Minimum = 1e-2 }, BatchSequences = 4 });
        Assert.AreEqual("options", floor.ParamName);
        StringAssert.Contains(floor.Message, "TemporalTrainingOptions.LearningRate: The minimum learning rate 0.01 exceeds the initial rate 0.001");
        // A rate that reaches 0 as a float by the last epoch changes nothing after it: refused unless a time limit bounds the run.
        var toZero = Refused<ArgumentOutOfRangeException>("a rate that decays to 0 in float", new() { Epochs = 40, LearningRate = new(1e-3, 0.01), BatchSequences = 4 });
        StringAssert.Contains(toZero.Message, "gives 0 in single precision");
        StringAssert.Contains(toZero.Message, "Set a floor");
        // The first rate is the schedule's largest: one at which Adam's weight decay would zero the weights is refused as the run starts.
        var decay = Refused<ArgumentOutOfRangeException>("a weight decay that would shrink the weights to 0", new() { LearningRate = new(0.5), Optimizer = () => new Adam(weightDecay: 2f), BatchSequences = 4 });
        Assert.AreEqual("options", decay.ParamName);
        StringAssert.StartsWith(decay.Message, "TemporalTrainingOptions.LearningRate starts at 0.5, at which Adam's weight decay 2 would shrink the weights by 1 − ηλ = 0 ");
        var none = Refused<ArgumentNullException>("no optimiser factory", new() { Optimizer = null!, BatchSequences = 4 });
        Assert.AreEqual("options", none.ParamName);
        StringAssert.Contains(none.Message, "TemporalTrainingOptions.Optimizer must be set");
        StringAssert.Contains(Refused<InvalidOperationException>("an optimiser factory that returns null", new() { Optimizer = () => null!, BatchSequences = 4 }).Message,
            "TemporalTrainingOptions.Optimizer returned null");
        StringAssert.Contains(Refused<ArgumentOutOfRangeException>("negative epochs", new() { Epochs = -1, BatchSequences = 4 }).Message, "TemporalTrainingOptions.Epochs");
        StringAssert.Contains(Refused<ArgumentOutOfRangeException>("no sequences a minibatch", new() { BatchSequences = 0 }).Message, "TemporalTrainingOptions.BatchSequences");
        StringAssert.Contains(Refused<ArgumentOutOfRangeException>("negative truncation", new() { TruncationSteps = -1, BatchSequences = 4 }).Message, "TemporalTrainingOptions.TruncationSteps");
        StringAssert.Contains(Refused<ArgumentOutOfRangeException>("a time limit of zero", new() { TimeLimit = TimeSpan.Zero, BatchSequences = 4 }).Message, "TemporalTrainingOptions.TimeLimit");
        foreach (double factor in new[] { 0, -1, double.NaN })
            StringAssert.Contains(Refused<ArgumentOutOfRangeException>($"a divergence factor of {factor}", new() { DivergenceFactor = factor, BatchSequences = 4 }).Message, "TemporalTrainingOptions.DivergenceFactor");
        using (var cancelled = new CancellationTokenSource())
        {
            cancelled.Cancel();
            Refused<OperationCanceledException>("cancelled before the start", new() { BatchSequences = 4 }, cancelled.Token);
        }
        // Refused at the first step, after the visible biases were started from the data: they go back too.
        Refused<ArgumentOutOfRangeException>("Adam's weight decay at the rate (η·λ = 1)", new() { BatchSequences = 4, Optimizer = () => new Adam(weightDecay: 1000f) });
        Assert.IsEmpty(new TemporalTrainer(new StochasticBackpropagation(), new TemporalTrainingOptions { Epochs = 0, BatchSequences = 4 }).Train(model, data));
        CollectionAssert.AreEqual(given, Bytes(model), "zero epochs");

        // A machine whose first segment has no finite free energy: refused before its first step, its visible biases not started.
        foreach (Parameter p in model.Machine.Recognition.Parameters) Array.Fill(p.Value, 1e30f);
        byte[] extreme = Bytes(model);
        var diverged = Assert.ThrowsExactly<TrainingDivergedException>(() =>
            new TemporalTrainer(new StochasticBackpropagation(), new TemporalTrainingOptions { BatchSequences = 4 }).Train(model, data));
        StringAssert.Contains(diverged.Message, "Epoch 1, minibatch 0, frames from 1");
        StringAssert.Contains(diverged.Message, "No step was taken: the machine is as it was when the run started");
        CollectionAssert.AreEqual(extreme, Bytes(model), "refused before the first step");
    }

    [TestMethod]
    public void ARateThatReaches0StopsARunWithATimeLimitAndRefusesAResumedRunWithoutOne()
    {
        var data = SoftSequences(8, 6, 4, 76);
        var schedule = new LearningRateSchedule(0.01, 1e-30);   // 0.01, 1e-32, then 0 in single precision
        var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("4cb-3g"), 3, 77);
        var state = new TrainingState();
        var reports = new TemporalTrainer(new StochasticBackpropagation(),
            new TemporalTrainingOptions { Epochs = 5, BatchSequences = 4, LearningRate = schedule, TimeLimit = TimeSpan.FromHours(1), Seed = 78 })
            .Train(model, data, state: state);
        CollectionAssert.AreEqual(new[] { 0.01f, 1e-32f }, reports.Select(r => (float)r.LearningRate).ToArray(), "it stops before the first epoch whose rate is 0");
        Assert.AreEqual(4L, model.Machine.StepsTrained, "two epochs of two minibatches: no step at a rate of 0");

        // Resumed from that state, the schedule's next epoch is already 0: without a time limit the run is refused before anything changes.
        byte[] before = Bytes(model);
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new TemporalTrainer(new StochasticBackpropagation(),
            new TemporalTrainingOptions { Epochs = 1, BatchSequences = 4, LearningRate = schedule, Seed = 78 }).Train(model, data, state: state));
        StringAssert.Contains(e.Message, "gives 0 in single precision, in which it is used, from its epoch 2 (this run's epoch 1)");
        CollectionAssert.AreEqual(before, Bytes(model));
    }

    [TestMethod]
    public void ARunUsesTheOptionsAsTheyWereWhenItStarted()
    {
        var data = SoftSequences(8, 6, 4, 73);
        TemporalTrainingOptions Options() => new() { Epochs = 3, BatchSequences = 4, TruncationSteps = 3, Seed = 74 };
        var reference = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("4cb-3g"), 3, 75);
        new TemporalTrainer(new StochasticBackpropagation(), Options()).Train(reference, data);

        var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("4cb-3g"), 3, 75);
        var options = Options();
        var reports = new TemporalTrainer(new StochasticBackpropagation(), options).Train(model, data, new SynchronousProgress<TemporalEpochReport>(_ =>
        {
            options.Epochs = 1;
            options.LearningRate = new(1e30);
            options.TruncationSteps = 1;
            options.Optimizer = null!;
        }));
        Assert.HasCount(3, reports);
        CollectionAssert.AreEqual(Bytes(reference), Bytes(model), "the options changed during the run did not change it");
    }

    [TestMethod]
    public void APrefixOfAnotherFrameSizeIsRefusedEvenWhenNoneOfItsFramesIsUsed()
    {
        var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("36b-3b"), 2, 11);
        // Frames of 2×2 for a 6×6 model: with prefixFrames = 0 the generated frames once took its shape, 18×2.
        var small = new SequenceSet(4, 1, 2, 2, new float[16]);
        var e = Assert.ThrowsExactly<ArgumentException>(() => TemporalEvaluation.Generate(model, 4, 3, prefix: small, prefixFrames: 0));
        Assert.AreEqual("prefix", e.ParamName);
        StringAssert.Contains(e.Message, "36 units");
        // A prefix of the model's frame size sets the frames' shape, as documented, with none of its frames read.
        var shaped = new SequenceSet(1, 1, 6, 6, new float[36]);
        SequenceSet rolled = TemporalEvaluation.Generate(model, 4, 3, prefix: shaped, prefixFrames: 0);
        Assert.AreEqual((4, 3, 6, 6), (rolled.Count, rolled.Frames, rolled.Height, rolled.Width));
        // A frameWidth that is not the prefix's was once dropped without a word: refused; the same width is accepted.
        var width = Assert.ThrowsExactly<ArgumentException>(() => TemporalEvaluation.Generate(model, 4, 3, prefix: shaped, prefixFrames: 0, frameWidth: 4));
        Assert.AreEqual("frameWidth", width.ParamName);
        StringAssert.Contains(width.Message, "the prefix's frames are 6 wide (6×6)");
        Assert.AreEqual(6, TemporalEvaluation.Generate(model, 1, 3, prefix: shaped, prefixFrames: 1, frameWidth: 6).Width);
        Assert.AreEqual(4, TemporalEvaluation.Generate(model, 4, 3, frameWidth: 4).Width);
        // Without a prefix, a width that does not divide the frame size of 36 is refused naming it, not left to the frames' set.
        var notADivisor = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => TemporalEvaluation.Generate(model, 4, 3, frameWidth: 5));
        Assert.AreEqual("frameWidth", notADivisor.ParamName);
    }

    [TestMethod]
    [DataRow(2, 1, DisplayName = "fewer sequences than generated")]
    [DataRow(1, 3, DisplayName = "fewer frames than the prefix frames")]
    public void APrefixShorterThanAskedIsRefused(int sequences, int prefixFrames)
    {
        var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("36b-3b"), 2, 11);
        var prefix = new SequenceSet(1, 2, 6, 6, new float[72]);
        var e = Assert.ThrowsExactly<ArgumentException>(() => TemporalEvaluation.Generate(model, sequences, 3, prefix: prefix, prefixFrames: prefixFrames));
        Assert.AreEqual("prefix", e.ParamName);
        StringAssert.Contains(e.Message, $"prefix holds 1 sequences of 2 frames; {sequences} of at least {prefixFrames} are needed.");
        // Exactly as many as asked is enough.
        Assert.AreEqual(3, TemporalEvaluation.Generate(model, 1, 3, prefix: prefix, prefixFrames: 2).Frames);
    }

    [TestMethod]
    public void ThePredictionErrorOfNoSequencesIsRefused()
    {
        // The mean over no sequences was 0/0 = NaN, returned as if it were an error (a review's finding).
        var e = Assert.ThrowsExactly<ArgumentException>(() => TemporalEvaluation.PredictionError(new SequenceSet(0, 3, 1, 4, []), []));
        Assert.AreEqual("data", e.ParamName);
        StringAssert.Contains(e.Message, "empty");
    }

    [TestMethod]
    public void ASegmentStartsFromTheStateThePreviousSegmentLeft()
    {
        // Truncated BPTT carries the LSTM's hidden state and cell from one segment to the next: after segments of frames
        // 0–1 and 2–3 the carried state is the LSTM's over all four frames in one call. The tolerance is float rounding
        // (products of other row counts) on values of order 1 over four steps.
        const int batch = 2, frames = 4, d = 4;
        var model = RandomModel("4cb-3g", 3, 81, scale: 0.5f);
        var data = SoftSequences(batch, frames, d, 82);
        var rule = new StochasticBackpropagation();
        rule.Prepare(model.Machine, 2 * batch);
        int[] sequences = [1, 0];
        var step = new TemporalStep(model, rule, batch, 2, new RandomStream(83));
        step.AccumulateGradients(data, sequences, 0, 2);
        step.AccumulateGradients(data, sequences, 2, 2);
        float[] input = PreviousFrames(data, sequences, frames);
        model.Recurrence.EnsureCapacity(frames, batch);
        model.Recurrence.Forward(input, frames, batch);
        float[] hidden = model.Recurrence.FinalHidden(batch).ToArray(), cell = model.Recurrence.FinalCell(batch).ToArray();
        Assert.IsTrue(cell.Any(v => Math.Abs(v) > 0.05f), "the cell is not trivially 0");
        for (int i = 0; i < hidden.Length; i++)
        {
            Assert.AreEqual(hidden[i], step.CarriedState.Hidden[i], 1e-5f, $"hidden {i}");
            Assert.AreEqual(cell[i], step.CarriedState.Cell[i], 1e-5f, $"cell {i}");
        }
    }

    /// <summary>An optimiser that moves nothing, counts its steps, and leaves every gradient NaN (it does not clear them).</summary>
    private sealed class SpoilingOptimizer : IOptimizer
    {
        public int Steps { get; private set; }
        public string Name => "spoiling";

        public void Step(IReadOnlyList<Parameter> parameters, float learningRate)
        {
            Steps++;
            foreach (Parameter p in parameters) Array.Fill(p.Gradient, float.NaN);
        }
    }

    /// <summary>A rule that trains as <paramref name="inner"/> does and keeps the first value of each batch's first example row.</summary>
    private sealed class FirstValueRecordingRule(ILearningRule inner) : ILearningRule
    {
        public List<float> FirstValues { get; } = [];
        public string Name => inner.Name;
        public string Settings => inner.Settings;
        public string Objective => inner.Objective;
        public int SamplesPerExample => inner.SamplesPerExample;
        public IReadOnlyList<Parameter> Parameters => inner.Parameters;
        public string? UnsupportedConditioning => inner.UnsupportedConditioning;
        public string? Unsupported(HelmholtzArchitecture architecture) => inner.Unsupported(architecture);
        public void Prepare(HelmholtzMachine machine, int batchCapacity) => inner.Prepare(machine, batchCapacity);

        public BatchLoss AccumulateGradients(HelmholtzMachine machine, TrainingBatch batch)
        {
            FirstValues.Add(batch.Visible[0]);
            return inner.AccumulateGradients(machine, batch);
        }
    }

    [TestMethod]
    public void EveryEpochDrawsAnyOrderOfTheSequences()
    {
        // Three sequences told apart by their values (sequence i is all (i + 1)/4), minibatches of one whole sequence: each epoch's
        // three steps show its order. An unbiased shuffle reaches all 3! orders; one that must move every sequence (Sattolo's,
        // NextInt(i) for NextInt(i + 1)) reaches only the two rotations, and never keeps the identity. 60 epochs leave a given
        // order unseen with probability (5/6)^60 ≈ 2·10⁻⁵, and the seed is fixed.
        const int count = 3, frames = 2, size = 4, epochs = 60;
        var values = new float[count * frames * size];
        for (int i = 0; i < count; i++) values.AsSpan(i * frames * size, frames * size).Fill((i + 1) / 4f);
        var data = new SequenceSet(count, frames, 1, size, values);
        var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("4cb-3g"), 3, 91);
        var rule = new FirstValueRecordingRule(new StochasticBackpropagation());
        new TemporalTrainer(rule, new TemporalTrainingOptions { Epochs = epochs, BatchSequences = 1, Seed = 92 }).Train(model, data);
        Assert.HasCount(count * epochs, rule.FirstValues, "one step a sequence an epoch");
        var orders = new HashSet<string>();
        for (int e = 0; e < epochs; e++)
        {
            int[] order = rule.FirstValues.Skip(e * count).Take(count).Select(v => (int)Math.Round(v * 4) - 1).ToArray();
            CollectionAssert.AreEquivalent(new[] { 0, 1, 2 }, order, $"epoch {e + 1} sees each sequence once");
            orders.Add(string.Join(",", order));
        }
        Assert.HasCount(6, orders, string.Join(" | ", orders));
    }

    [TestMethod]
    public void EverySegmentIsAStepAndGradientsAnOptimiserLeavesAreCleared()
    {
        // 5 frames in segments of 2: three steps a minibatch, the last of one frame. An optimiser that does not clear the
        // gradients has them cleared by the trainer: the NaNs it leaves would otherwise reach the next step's gradient.
        var model = RandomModel("4cb-3g", 3, 84, scale: 0.3f);
        var data = SoftSequences(4, 5, 4, 85);
        var optimizer = new SpoilingOptimizer();
        var options = new TemporalTrainingOptions { Epochs = 2, BatchSequences = 2, TruncationSteps = 2, Optimizer = () => optimizer };
        new TemporalTrainer(new StochasticBackpropagation(), options).Train(model, data);
        Assert.AreEqual(2 * 2 * 3, optimizer.Steps);
        Assert.AreEqual(2L * 2 * 3, model.Machine.StepsTrained);
    }

    [TestMethod]
    public void TheEpochsFreeEnergyIsTheMeanOverItsFrames()
    {
        // One minibatch of whole sequences is one step, its free energy measured before it: the epoch reports the mean
        // sampled free energy of a frame, which the scorer's one-sample log-likelihood (−F of one draw) estimates too.
        // Each mean is over 160 frames (800 draws for the reference) of a free energy of about 12 nats that spreads by several
        // nats a draw: they agree within about 0.7 nats, and 20% of F is far from the 4/5 of F that a mean over the wrong
        // count (steps rather than frames) would be off by.
        var model = RandomModel("6b-4g", 3, 86, scale: 0.5f);
        var random = new RandomStream(87);
        var data = new SequenceSet(32, 5, 1, 6, Enumerable.Range(0, 32 * 5 * 6).Select(_ => random.NextDouble() < 0.3 ? 1f : 0f).ToArray());
        double reference = 0;
        const int seeds = 5;
        for (ulong s = 1; s <= seeds; s++) reference -= TemporalEvaluation.LogLikelihoodPerFrame(model, data, 1, seed: s).Average() / seeds;
        var options = new TemporalTrainingOptions { Epochs = 1, BatchSequences = 32, InitializeVisibleBiases = false, LearningRate = new(1e-6) };
        var reports = new TemporalTrainer(new StochasticBackpropagation(), options).Train(model, data);
        Assert.IsGreaterThan(5.0, reference, "the free energy is large enough for the check to tell");
        Assert.AreEqual(reference, reports[0].TrainFreeEnergy, 0.2 * reference);
    }

    [TestMethod]
    public void GenerationCarriesTheLstmStateFromFrameToFrame()
    {
        // Generation runs the LSTM a step at a time, carrying its hidden state and cell; after a prefix of three frames the
        // fourth is dreamed from the state the LSTM reaches over those frames in one call, from the same seed. The hidden
        // layer is Gaussian and the visible one continuous Bernoulli, so the frame is a smooth function of the state:
        // float rounding of the products (about 1e-6) moves it by as little.
        const int sequences = 2, frames = 4, d = 4;
        const ulong seed = 93;
        var model = RandomModel("4cb-3g", 3, 91, scale: 0.8f);
        var prefix = SoftSequences(sequences, frames - 1, d, 92);
        SequenceSet rolled = TemporalEvaluation.Generate(model, sequences, frames, seed, prefix, prefixFrames: frames - 1);
        float[] input = PreviousFrames(prefix, [0, 1], frames);
        model.Recurrence.EnsureCapacity(frames, sequences);
        model.Recurrence.Forward(input, frames, sequences);
        float[] c = new float[sequences * model.ConditioningWidth];
        model.ConditioningMap.Forward(model.Recurrence.FinalHidden(sequences), sequences, c);
        var machine = model.Machine;
        var states = new LayerStates(machine.Architecture, sequences);
        var conditioning = new LayerConditioning(machine.Architecture, sequences);
        model.Scatter(c, [0, 1], sequences, conditioning);
        machine.Generative.Dream(new RandomStream(seed), sequences, states, conditioning);
        float[] expected = new float[sequences * d];
        machine.Generative.Layers[0].Expectation(sequences, expected);
        for (int b = 0; b < sequences; b++)
            for (int i = 0; i < d; i++)
                Assert.AreEqual(expected[b * d + i], rolled.Frame(b, frames - 1)[i], 1e-4f, $"sequence {b}, value {i}");
    }

    [TestMethod]
    public void ThePredictionErrorIsTheMeanSquaredErrorOfAFrameFromTheFirstFrameAsked()
    {
        // Off by 3 in every value of frame 0 and by 1 in every value of the others: 2 values a frame, so a frame's error is
        // 18 or 2; from frame 1 the mean is 2, from frame 0 (18 + 2 + 2) / 3. Exact in double.
        var data = new SequenceSet(2, 3, 1, 2, Enumerable.Range(0, 12).Select(i => (float)(i % 5) / 4).ToArray());
        float[] predicted = new float[12];
        for (int i = 0; i < 12; i++) predicted[i] = data.Values[i] + ((i / 2) % 3 == 0 ? 3 : 1);
        Assert.AreEqual(2.0, TemporalEvaluation.PredictionError(data, predicted), 1e-12);
        Assert.AreEqual(22.0 / 3, TemporalEvaluation.PredictionError(data, predicted, fromFrame: 0), 1e-12);
        Assert.AreEqual(2.0, TemporalEvaluation.PredictionError(data, predicted, fromFrame: 2), 1e-12, "the last frame alone");
        // fromFrame = Frames counts no frame: a mean over none, 0/0, is refused rather than returned as NaN.
        Assert.AreEqual("fromFrame", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => TemporalEvaluation.PredictionError(data, predicted, fromFrame: 3)).ParamName);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => TemporalEvaluation.PredictionError(data, predicted, fromFrame: -1));
    }

    [TestMethod]
    public void AFileWithAValueNotFiniteIsRefusedThoughItsChecksumMatches()
    {
        // The checksum guards against damage, not against a writer that put a NaN there: the value itself is refused.
        var model = RandomModel("6bs-4g", 3, 94, scale: 0.4f);
        byte[] bytes = Bytes(model);
        // Magic, version, units (4 bytes each), the frame machine's length (8), the frame machine, then Wx's count and values.
        int start = 20 + (int)System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(12));
        System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(start + 4 + 2 * sizeof(float)), float.NaN);
        var crc = new System.IO.Hashing.Crc32();
        crc.Append(bytes.AsSpan(start, bytes.Length - 4 - start));
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(bytes.Length - 4), crc.GetCurrentHashAsUInt32());
        var e = Assert.ThrowsExactly<InvalidDataException>(() => TemporalHelmholtzMachine.Load(new MemoryStream(bytes)));
        StringAssert.Contains(e.Message, "temporal.lstm.Wx[2] is NaN");
    }

    /// <summary>
    /// A segment of one frame: the end-of-epoch measure of the last step reads that frame (a measure of no frames would be 0 / 0,
    /// a NaN free energy, and every run would stop as diverged).
    /// </summary>
    [TestMethod]
    public void SequencesOfOneFrameTrainWithEachEpochsLastStepMeasuredOnThatFrame()
    {
        var model = RandomModel("4cb-3g", 3, 101, scale: 0.5f);
        var data = SoftSequences(4, 1, 4, 102);
        var options = new TemporalTrainingOptions { Epochs = 2, BatchSequences = 2, Seed = 103 };
        var reports = new TemporalTrainer(new StochasticBackpropagation(), options).Train(model, data);
        Assert.HasCount(2, reports);
        Assert.IsTrue(reports.All(r => double.IsFinite(r.TrainFreeEnergy)), "each epoch's free energy is finite");
        Assert.AreEqual(4L, model.Machine.StepsTrained, "two minibatches of one segment in each of two epochs");
    }

    [TestMethod]
    public void TheEpochsObjectiveIsTheRulesOwnNotTheFreeEnergy()
    {
        // One sequence in one segment: the epoch is one step, and its report is the loss of that step's gradient, drawn from the
        // seed's sample stream (Fork(1)). IWAE's objective is −(the K-sample bound), below the mean one-sample free energy by
        // Jensen's gap; each report is that step's own value, to double rounding (a sum of one term times the rows, over the rows).
        const ulong seed = 97;
        var model = RandomModel("4cb-3g", 3, 95, scale: 0.5f);
        var reference = RandomModel("4cb-3g", 3, 95, scale: 0.5f);
        var data = SoftSequences(1, 3, 4, 96);
        var rule = new ImportanceWeightedBound(5);
        rule.Prepare(reference.Machine, 3);
        BatchLoss loss = new TemporalStep(reference, rule, 1, 3, new RandomStream(seed).Fork(1)).AccumulateGradients(data, [0], 0, 3);
        Assert.IsGreaterThan(0.01, loss.FreeEnergy - loss.Objective, "the bound is tighter than one sample's free energy");
        var options = new TemporalTrainingOptions { Epochs = 1, BatchSequences = 1, InitializeVisibleBiases = false, Seed = seed };
        var reports = new TemporalTrainer(new ImportanceWeightedBound(5), options).Train(model, data);
        Assert.AreEqual(loss.Objective, reports[0].TrainObjective, 1e-9 * Math.Abs(loss.Objective));
        Assert.AreEqual(loss.FreeEnergy, reports[0].TrainFreeEnergy, 1e-9 * Math.Abs(loss.FreeEnergy));
    }

    [TestMethod]
    public void APredictionIsTheMeanOfItsDrawsExpectationsNotTheirSum()
    {
        // With the visible layer's weights at 0 its expectation σ(b + c_t) does not depend on the draw of h: the mean over any
        // number of draws is that one value, and the mean frame of the unconditioned machine is σ(b). K = 64 draws take
        // 4096 / 64 = 64 frames a chunk (TemporalEvaluation's RowsPerChunk): the 90 frames of 3 sequences of 30 are a chunk of 64
        // and one of 26, and K = 1 puts them in one. The mean of 64 equal values is off by the rounding of 64 float additions,
        // under 64 · ulp(64) / 2 / 64 ≈ 4e-6; a sum, or a later chunk's mean that kept what the earlier one left, by σ / 64 ≥ 1e-3.
        var model = RandomModel("4bs-3g", 3, 98, scale: 0.5f);
        foreach (Parameter p in model.Machine.Generative.Layers[0].Parameters)
            if (p.Role == ParameterRole.Weight) Array.Clear(p.Value);
        var data = SoftSequences(3, 30, 4, 99);
        float[] one = TemporalEvaluation.PredictFrames(model, data, 1, seed: 5), many = TemporalEvaluation.PredictFrames(model, data, 64, seed: 5);
        Assert.IsTrue(one.Any(v => Math.Abs(v - 0.5f) > 0.05f), "the prediction is not trivially one half");
        for (int i = 0; i < one.Length; i++) Assert.AreEqual(one[i], many[i], 2e-5f, $"sequence {i / 120}, frame {i / 4 % 30}, value {i % 4}");
        float[] bias = model.Machine.Generative.Layers[0].Parameters.Single(p => p.Role == ParameterRole.Bias).Value;
        float[] mean = TemporalEvaluation.MeanFrame(model.Machine, 6, seed: 5);
        for (int i = 0; i < mean.Length; i++) Assert.AreEqual(1 / (1 + Math.Exp(-bias[i])), mean[i], 1e-5, $"mean frame {i}");
    }

    [TestMethod]
    public void EachChunkOfFramesDrawsItsOwnSamples()
    {
        // Two copies of one sequence, scored one per batch (batchSequences: 1), have the same frames and the same c_t: only the
        // draws set their estimates apart, and the Gaussian hidden layer's draws give a frame's K = 3 samples continuous values.
        // Draws shared by the two batches (the stream started again for each chunk) would give them the same estimates, bit
        // for bit; independent draws, as the scorer promises, give every frame another.
        var model = RandomModel("4bs-3g", 3, 98, scale: 0.5f);
        var sequence = SoftSequences(1, 5, 4, 99);
        var data = new SequenceSet(2, 5, 1, 4, [.. sequence.Values, .. sequence.Values]);
        double[] perFrame = TemporalEvaluation.LogLikelihoodPerFrame(model, data, 3, seed: 7, batchSequences: 1);
        for (int t = 0; t < 5; t++) Assert.AreNotEqual(perFrame[t], perFrame[5 + t], $"frame {t}");
    }

    [TestMethod]
    public void TheFixedNoiseScoresOfFramesPastTheFirstChunkAreTheirOwnFramesConditionals()
    {
        // The scorer computes 16 frames at a time: frames 16 … 19 are a second chunk, each conditioned on its own c_t. Every
        // frame's K-sample estimate lies within 5 of its standard deviations of the exact ln p(v_t | v_<t) (by enumeration).
        var model = RandomModel("6cb-3b", 2, 11, scale: 0.8f);
        Parameter map = model.TemporalParameters.Single(p => p.Name == "temporal.conditioning.W");
        for (int i = 0; i < map.Length; i++) map.Value[i] *= 4;   // frames' conditionals far apart: a frame scored under another's c_t is off
        const int frames = 20, k = 5000;
        var data = SoftSequences(1, frames, 6, 14);
        double[] estimate = new double[frames];
        new TemporalFixedNoiseLogLikelihood(model, k, seed: 15).Score(data.Values, frames, estimate);
        var (exact, sd) = ExactFrameLogLikelihoods(model, data, k);
        for (int t = 0; t < frames; t++) Assert.AreEqual(exact[t], estimate[t], 5 * sd[t] + 1e-4, $"frame {t}");
    }

    /// <summary>
    /// The seed reaches the draws of the scoring, the prediction, the mean frame and the generation: under a Gaussian hidden layer
    /// every draw takes continuous values, so two seeds give other values (equal ones, bit for bit, only if the seed did not reach
    /// the draws) and one seed the same again.
    /// </summary>
    [TestMethod]
    public void TheSeedReachesTheDrawsOfEveryEvaluation()
    {
        var model = RandomModel("4bs-3g", 3, 98, scale: 0.5f);
        var data = SoftSequences(2, 5, 4, 99);
        foreach (var (what, of) in new (string, Func<ulong, float[]>)[]
                 {
                     ("the log-likelihood per frame", seed => [.. TemporalEvaluation.LogLikelihoodPerFrame(model, data, 3, seed).Select(v => (float)v)]),
                     ("the predicted frames", seed => TemporalEvaluation.PredictFrames(model, data, 3, seed)),
                     ("the mean frame", seed => TemporalEvaluation.MeanFrame(model.Machine, 6, seed)),
                     ("the generated frames", seed => TemporalEvaluation.Generate(model, 2, 5, seed).Values),
                 })
        {
            CollectionAssert.AreEqual(of(7), of(7), $"{what}: one seed, the same draws");
            CollectionAssert.AreNotEqual(of(7), of(8), $"{what}: another seed, other draws");
        }
    }

    /// <summary>
    /// The largest K the scoring takes is the one whose chunk of K rows of the widest row fills the largest array exactly: with a
    /// visible layer of 11 units (Array.MaxLength is 11 × 195,225,781) that K is allowed, one more refused. (The machine of
    /// <see cref="TheUpFrontSampleCheckRefusesWhatTheScoringRefuses"/> has a widest row that does not divide the limit, so a
    /// chunk that filled it exactly was never asked for, and a check of values &lt; the limit passed it too.)
    /// </summary>
    [TestMethod]
    public void AChunkThatFillsTheLargestArrayExactlyIsAllowed()
    {
        var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("11cb-3b"), 2, 11);
        int widest = model.Machine.WidestRow;
        Assert.AreEqual(0, Array.MaxLength % widest, $"a widest row of {widest} divides {Array.MaxLength}");
        int largest = Array.MaxLength / widest;
        Assert.IsGreaterThan(4096, largest, "a chunk is one frame's K rows");
        TemporalEvaluation.ThrowIfTooManySamples(model, largest);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => TemporalEvaluation.ThrowIfTooManySamples(model, largest + 1));
    }

    [TestMethod]
    public void APredictionOfAnotherLengthThanTheSequencesIsRefused()
    {
        // One value more or one fewer is not a prediction of these sequences: refused naming it, not scored on the values it shares.
        var data = new SequenceSet(2, 3, 1, 2, new float[12]);
        foreach (int length in new[] { 11, 13 })
        {
            var e = Assert.ThrowsExactly<ArgumentException>(() => TemporalEvaluation.PredictionError(data, new float[length]));
            Assert.AreEqual("predicted", e.ParamName, $"{length} values");
        }
    }

    [TestMethod]
    public void ABadValueOfAFrameThatIsNotSquareIsPlacedByItsRowAndColumn()
    {
        // Frames of 2 rows × 3 columns: value 4 of a frame is row 1, column 1 (counted in rows of the width, 3), not row 2, column 0.
        var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("6cb-3g"), 2, 1);
        var data = new SequenceSet(2, 3, 2, 3, (float[])SoftSequences(2, 3, 6, 20).Values.Clone());
        data.Values[(1 * 3 + 2) * 6 + 4] = float.NaN;
        var e = Assert.ThrowsExactly<ArgumentException>(() => TemporalEvaluation.LogLikelihoodPerFrame(model, data, 2));
        Assert.AreEqual("data", e.ParamName);
        StringAssert.Contains(e.Message, "sequence 1, frame 2, row 1, column 1 is NaN");
    }

    [TestMethod]
    public void ACancelledScoringOrPredictionStopsBeforeItsFirstChunk()
    {
        // A token cancelled before the call: the scoring and the prediction check it chunk by chunk, the first chunk included,
        // and throw rather than return estimates.
        var model = RandomModel("4bs-3g", 3, 98, scale: 0.5f);
        var data = SoftSequences(2, 5, 4, 99);
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.ThrowsExactly<OperationCanceledException>(() => TemporalEvaluation.LogLikelihoodPerFrame(model, data, 3, cancellationToken: cancelled.Token));
        Assert.ThrowsExactly<OperationCanceledException>(() => TemporalEvaluation.PredictFrames(model, data, 3, cancellationToken: cancelled.Token));
    }

    /// <summary>
    /// The seed reaches the LSTM's draws as it reaches the frame machine's: two seeds give two LSTMs, not one LSTM under two frame
    /// machines (the bias is no draw: the forget gate's starts at 1 whatever the seed).
    /// </summary>
    [TestMethod]
    public void TheSeedDrawsTheLstmsWeightsAsWellAsTheFrameMachines()
    {
        var architecture = HelmholtzArchitecture.Parse("4cb-3g");
        float[] Weights(ulong seed, Func<Lstm, Parameter> which) => which(TemporalHelmholtzMachine.Create(architecture, 3, seed).Recurrence).Value.ToArray();
        foreach (Func<Lstm, Parameter> which in new Func<Lstm, Parameter>[] { l => l.InputWeights, l => l.RecurrentWeights })
        {
            CollectionAssert.AreEqual(Weights(5, which), Weights(5, which), "one seed, one LSTM");
            CollectionAssert.AreNotEqual(Weights(5, which), Weights(6, which), "another seed, another LSTM");
        }
    }

    /// <summary>
    /// Frames of fewer values than the visible layer are refused as frames of more are, naming the sequences, by training,
    /// scoring and prediction: read as frames of the machine's size, every frame would be padded with whatever the buffer held.
    /// </summary>
    [TestMethod]
    public void SequencesOfFramesSmallerThanTheVisibleLayerAreRefused()
    {
        var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("4cb-3g"), 3, 1);
        var small = SoftSequences(4, 3, 3, 2);
        var trainer = new TemporalTrainer(new StochasticBackpropagation(), new TemporalTrainingOptions { Epochs = 1, BatchSequences = 2 });
        byte[] before = Bytes(model);
        foreach (var (what, call, parameter) in new (string, Action, string)[]
                 {
                     ("training", () => trainer.Train(model, small), "training"),
                     ("scoring", () => TemporalEvaluation.LogLikelihoodPerFrame(model, small, 2), "data"),
                     ("prediction", () => TemporalEvaluation.PredictFrames(model, small, 2), "data"),
                 })
        {
            var e = Assert.ThrowsExactly<ArgumentException>(call, what);
            Assert.AreEqual(parameter, e.ParamName, what);
            StringAssert.Contains(e.Message, "frames of 3 values", what);
        }
        CollectionAssert.AreEqual(before, Bytes(model), "nothing was trained");
    }

    /// <summary>
    /// A rate that becomes 0 only after the run's last epoch does not refuse the run: with 0.01 × (10⁻³⁰)^epoch, epochs 1 and 2
    /// train at 0.01 and 10⁻³² and the third would be 0 in single precision, so a run of two epochs, with no time limit, takes
    /// every step (a check that looked one epoch past the run would refuse it).
    /// </summary>
    [TestMethod]
    public void ARateThatReaches0OnlyAfterTheLastEpochTrainsEveryEpoch()
    {
        var data = SoftSequences(8, 6, 4, 76);
        var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("4cb-3g"), 3, 77);
        var reports = new TemporalTrainer(new StochasticBackpropagation(),
            new TemporalTrainingOptions { Epochs = 2, BatchSequences = 4, LearningRate = new LearningRateSchedule(0.01, 1e-30), Seed = 78 }).Train(model, data);
        CollectionAssert.AreEqual(new[] { 0.01f, 1e-32f }, reports.Select(r => (float)r.LearningRate).ToArray());
        Assert.AreEqual(4L, model.Machine.StepsTrained, "two epochs of two minibatches");
    }
}
