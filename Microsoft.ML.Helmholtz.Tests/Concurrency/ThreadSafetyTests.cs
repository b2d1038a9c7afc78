using System.Collections.Concurrent;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Evaluation;
using Microsoft.ML.Helmholtz.Learning;
using Microsoft.ML.Helmholtz.Learning.Optimizers;
using Microsoft.ML.Helmholtz.Learning.Rules;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;
using Microsoft.ML.Helmholtz.Temporal;
using Microsoft.ML.Helmholtz.Tests.Support;

namespace Microsoft.ML.Helmholtz.Tests.Concurrency;

/// <summary>
/// One machine used from many threads: the estimators give the serial results bit for bit, training
/// is unchanged by what runs beside it, copies hold the parameters between two steps, and what is
/// not thread-safe says so instead of computing garbage.
/// </summary>
[TestClass]
public sealed class ThreadSafetyTests
{
    private static ulong Hash(HelmholtzMachine machine)
    {
        var hash = new XxHash64();
        foreach (Parameter p in machine.Parameters) hash.Append(MemoryMarshal.AsBytes(p.Value.AsSpan()));
        return hash.GetCurrentHashAsUInt64();
    }

    private static void RunThreads(int count, Action<int> body)
    {
        using var start = new Barrier(count);
        var errors = new ConcurrentQueue<Exception>();
        var threads = Enumerable.Range(0, count).Select(t => new Thread(() =>
        {
            start.SignalAndWait();
            try
            {
                body(t);
            }
            catch (Exception e)
            {
                errors.Enqueue(e);
            }
        })).ToArray();
        foreach (var thread in threads) thread.Start();
        foreach (var thread in threads) thread.Join();
        if (!errors.IsEmpty) throw new AggregateException(errors);
    }

    [TestMethod]
    public void ManyThreadsScoringOneMachineGetTheSerialResultsBitForBit()
    {
        var machine = TestModels.Random("20b-10g-5g", 1);
        DataMatrix data = TestModels.BinaryData(40, 20, 2), oneRow = data.Slice(7, 1);
        // Each thread scores with a seed of its own, so that a buffer shared by mistake would mix different numbers.
        Func<ulong, double[]>[] scorers =
        [
            seed => new ImportanceSampledLogLikelihood(30, seed) { Parallelism = 1 }.EstimatePerExample(machine, data),
            seed => new ImportanceSampledLogLikelihood(30, seed) { Parallelism = 3 }.EstimatePerExample(machine, data),
            seed => new ImportanceSampledLogLikelihood(30, seed).EstimatePerExample(machine, oneRow),
            seed => new NaiveLogLikelihood(200, seed).EstimatePerExample(machine, data),
            seed => [new SampledFreeEnergy(seed, rowsPerBatch: 16).Estimate(machine, data)],
        ];
        const int threads = 8;
        for (int s = 0; s < scorers.Length; s++)
        {
            double[][] serial = Enumerable.Range(0, threads).Select(t => scorers[s](100 + (ulong)t)).ToArray();
            // The threads start the same scorer together, five times each, so that their calls overlap.
            var results = new ConcurrentBag<(int Thread, double[] Values)>();
            RunThreads(threads, t =>
            {
                for (int round = 0; round < 5; round++) results.Add((t, scorers[s](100 + (ulong)t)));
            });
            Assert.HasCount(threads * 5, results);
            foreach (var (t, values) in results) CollectionAssert.AreEqual(serial[t], values, $"scorer {s}, thread {t}");
        }
    }

    /// <summary>An optimiser that records the hash of the machine's parameters before and after each step: the states between steps.</summary>
    private sealed class RecordingOptimizer(IOptimizer inner, HelmholtzMachine machine, Action<int> afterStep) : IOptimizer
    {
        private int _steps;
        public ConcurrentDictionary<ulong, int> States { get; } = new();
        public string Name => inner.Name;
        public bool ClearsGradients => inner.ClearsGradients;

        public void Step(IReadOnlyList<Parameter> parameters, float learningRate)
        {
            States.TryAdd(Hash(machine), _steps);
            inner.Step(parameters, learningRate);
            States.TryAdd(Hash(machine), ++_steps);
            afterStep(_steps);
        }
    }

    [TestMethod]
    public void CopiesTakenDuringTrainingHoldTheParametersBetweenStepsAndTrainingIsUnchanged()
    {
        DataMatrix data = TestModels.BinaryData(400, 60, 6);
        var options = new TrainingOptions { Epochs = 4, BatchSize = 20, Seed = 7 };
        var alone = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("60b-30b-10b"), 8);
        new HelmholtzTrainer(new Reinforce(), options).Train(alone, data);

        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("60b-30b-10b"), 8);
        const int observers = 3;
        using var everyoneLooked = new CountdownEvent(observers);
        using var started = new ManualResetEventSlim();
        RecordingOptimizer? recorder = null;
        options.Optimizer = () => recorder = new RecordingOptimizer(new Adam(), machine, _ => started.Set());
        // After the first epoch training waits until every observer has looked at least once, so the copies overlap the run.
        var progress = new SynchronousProgress<EpochReport>(r =>
        {
            if (r.Epoch == 1) Assert.IsTrue(everyoneLooked.Wait(TimeSpan.FromSeconds(30)), "every observer looked");
        });
        var observed = new ConcurrentBag<ulong>();
        var scores = new ConcurrentBag<double>();
        bool done = false;
        Exception? trainingError = null;
        var trainer = new Thread(() =>
        {
            try { new HelmholtzTrainer(new Reinforce(), options).Train(machine, data, progress: progress); }
            catch (Exception e) { trainingError = e; }
            finally { Volatile.Write(ref done, true); }
        });
        trainer.Start();
        Assert.IsTrue(started.Wait(TimeSpan.FromSeconds(30)), "training started");
        RunThreads(observers, t =>
        {
            bool counted = false;
            do
            {
                switch (t)
                {
                    case 0: observed.Add(Hash(machine.Clone())); break;
                    case 1:
                        using (var stream = new MemoryStream())
                        {
                            machine.Save(stream);
                            stream.Position = 0;
                            observed.Add(Hash(HelmholtzMachine.Load(stream)));
                        }
                        break;
                    default: scores.Add(new ImportanceSampledLogLikelihood(5, seed: 9) { Parallelism = 1 }.Estimate(machine, data.Slice(0, 10)).Mean); break;
                }
                if (!counted) { everyoneLooked.Signal(); counted = true; }
            }
            while (!Volatile.Read(ref done));
        });
        trainer.Join();
        Assert.IsNull(trainingError, trainingError?.ToString());

        for (int i = 0; i < alone.Parameters.Count; i++)
            CollectionAssert.AreEqual(alone.Parameters[i].Value, machine.Parameters[i].Value, $"{alone.Parameters[i].Name} differs when copies and scores ran beside training");
        Assert.IsNotNull(recorder);
        Assert.IsTrue(observed.Count >= 2, $"{observed.Count} copies observed");
        foreach (ulong state in observed)
            Assert.IsTrue(recorder.States.ContainsKey(state), "a copy holds parameters that never existed between two steps (a torn read)");
        Assert.IsTrue(scores.All(double.IsFinite) && !scores.IsEmpty, "scores beside training are finite");
    }

    /// <summary>An optimiser whose one step writes the first parameter, then waits at a gate before it writes the last: a step held open half-made.</summary>
    private sealed class HalfMadeStep(ManualResetEventSlim halfway, ManualResetEventSlim resume) : IOptimizer
    {
        public string Name => "half-made step";
        public bool ClearsGradients => false;

        public void Step(IReadOnlyList<Parameter> parameters, float learningRate)
        {
            parameters[0].Value.AsSpan().Fill(1f);
            halfway.Set();
            Assert.IsTrue(resume.Wait(TimeSpan.FromSeconds(30)), "the test let the step go on");
            parameters[^1].Value.AsSpan().Fill(2f);
        }
    }

    /// <summary>
    /// A copy or a saved file asked for while a step is half-made waits for the step, then holds it whole with its count:
    /// the read lock of Clone and Save, each taken away, fails this deterministically (the copy is made at once, half-made).
    /// </summary>
    [TestMethod]
    [DataRow("Clone")]
    [DataRow("Save")]
    public void ACopyAskedForDuringAStepWaitsForItAndHoldsItWhole(string how)
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("12b-6b-3b"), 31);
        using var halfway = new ManualResetEventSlim();
        using var resume = new ManualResetEventSlim();
        // One minibatch, one epoch: the run's only step, so the machine after it is the machine at the end.
        var options = new TrainingOptions { Epochs = 1, BatchSize = 10, Seed = 32, InitializeVisibleBiases = false, Optimizer = () => new HalfMadeStep(halfway, resume) };
        // Threads of their own (LongRunning), not the pool's: with one processor the pool would add a second thread only after a delay.
        var training = Task.Factory.StartNew(() => new HelmholtzTrainer(new WakeSleep(), options).Train(machine, TestModels.BinaryData(10, 12, 33)), TaskCreationOptions.LongRunning);
        try
        {
            Assert.IsTrue(halfway.Wait(TimeSpan.FromSeconds(30)), "the step started");
            var copy = Task.Factory.StartNew(() =>
            {
                if (how == "Clone") return machine.Clone();
                using var stream = new MemoryStream();
                machine.Save(stream);
                stream.Position = 0;
                return HelmholtzMachine.Load(stream);
            }, TaskCreationOptions.LongRunning);
            // Correct code can never finish here; without the lock the copy finishes in microseconds.
            Assert.IsFalse(copy.Wait(TimeSpan.FromMilliseconds(300)), $"{how} finished while the step was half-made");
            resume.Set();
            Assert.IsTrue(copy.Wait(TimeSpan.FromSeconds(30)), $"{how} finished after the step");
            Assert.IsTrue(training.Wait(TimeSpan.FromSeconds(30)), "training finished");   // a failed run throws here
            HelmholtzMachine held = copy.Result;
            Assert.AreEqual(1L, held.StepsTrained, "the copy's count is the step's");
            Assert.IsTrue(held.Parameters[0].Value.All(v => v == 1f) && held.Parameters[^1].Value.All(v => v == 2f), "the copy holds the whole step");
            for (int i = 0; i < machine.Parameters.Count; i++)
                CollectionAssert.AreEqual(machine.Parameters[i].Value, held.Parameters[i].Value, machine.Parameters[i].Name);
        }
        finally
        {
            resume.Set();
            training.Wait(TimeSpan.FromSeconds(30));
        }
    }

    [TestMethod]
    public void ATemporalRunHoldsItsRuleAndOptimiserAsAnyRunDoes()
    {
        static SequenceSet Sequences(ulong seed)
        {
            var random = new RandomStream(seed);
            return new SequenceSet(8, 3, 1, 4, Enumerable.Range(0, 8 * 3 * 4).Select(_ => (float)random.NextDouble()).ToArray());
        }
        SequenceSet data = Sequences(21);
        var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("4cb-3g"), 3, 22);
        var rule = new StochasticBackpropagation();
        var sharedAdam = new Adam();
        using var paused = new ManualResetEventSlim();
        using var resume = new ManualResetEventSlim();
        var progress = new SynchronousProgress<TemporalEpochReport>(r =>
        {
            if (r.Epoch != 1) return;
            paused.Set();
            resume.Wait(TimeSpan.FromSeconds(60));
        });
        Exception? trainingError = null;
        var options = new TemporalTrainingOptions { Epochs = 2, BatchSequences = 4, Optimizer = () => sharedAdam };
        var trainer = new Thread(() =>
        {
            try { new TemporalTrainer(rule, options).Train(model, data, progress); }
            catch (Exception e) { trainingError = e; }
        });
        trainer.Start();
        try
        {
            Assert.IsTrue(paused.Wait(TimeSpan.FromSeconds(30)), "training reached its first epoch");
            // The machine's own calls are refused too, naming the run.
            string zero = Assert.ThrowsExactly<InvalidOperationException>(() => model.ZeroGradients()).Message;
            StringAssert.Contains(zero, "This TemporalHelmholtzMachine is in use by temporal training on another thread");
            // The advice is the model's: it has no Clone(), and its evaluation works in its own buffers.
            StringAssert.Contains(zero, "a TemporalFixedNoiseLogLikelihood each");
            Assert.IsFalse(zero.Contains("Clone()"), zero);
            StringAssert.Contains(Assert.ThrowsExactly<InvalidOperationException>(() => TemporalEvaluation.MeanFrame(model.Machine, 4)).Message, "in use by temporal training on another thread");
            // And calls made directly on its LSTM, whose buffers the run is using.
            foreach (var (call, name) in new (Action, string)[]
            {
                (() => model.Recurrence.EnsureCapacity(2, 1), "Lstm.EnsureCapacity"),
                (() => model.Recurrence.Forward(new float[2 * 4], 2, 1), "Lstm.Forward"),
                (() => model.Recurrence.Backward(new float[2 * 3], 2, 1), "Lstm.Backward"),
                // Its weights drawn again mid-run, and its live state read (these were let through).
                (() => model.Recurrence.Initialize(new RandomStream(99)), "Lstm.Initialize"),
                (() => _ = model.Recurrence.Hidden(1, 4).Length, "Lstm.Hidden"),
                (() => _ = model.Recurrence.FinalHidden(4).Length, "Lstm.FinalHidden"),
                (() => _ = model.Recurrence.FinalCell(4).Length, "Lstm.FinalCell"),
            })
            {
                string message = Assert.ThrowsExactly<InvalidOperationException>(call, name).Message;
                StringAssert.Contains(message, "in use by temporal training on another thread", name);
                StringAssert.Contains(message, $"so {name} cannot run now", name);
            }
            var other = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("4cb-3g"), 3, 23);
            var e = Assert.ThrowsExactly<InvalidOperationException>(() => new TemporalTrainer(rule, new TemporalTrainingOptions { BatchSequences = 4 }).Train(other, data));
            StringAssert.Contains(e.Message, "learning rule 'sbp'");
            e = Assert.ThrowsExactly<InvalidOperationException>(() => new TemporalTrainer(new StochasticBackpropagation(), options).Train(other, data));
            StringAssert.Contains(e.Message, "optimiser 'adam'");
            Assert.AreEqual(0L, other.Machine.StepsTrained, "the refused runs changed nothing");
        }
        finally
        {
            resume.Set();
            trainer.Join();
        }
        Assert.IsNull(trainingError, trainingError?.ToString());
        // Once the run is over, the rule is free for another.
        new TemporalTrainer(rule, new TemporalTrainingOptions { Epochs = 1, BatchSequences = 4 }).Train(model, data);
    }

    [TestMethod]
    public void ComputingWithAMachineThatTrainsOnAnotherThreadIsNamed()
    {
        DataMatrix data = TestModels.BinaryData(100, 12, 10);
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("12b-6b-3b"), 11);
        var rule = new WakeSleep();
        var sharedAdam = new Adam();
        var options = new TrainingOptions { Epochs = 2, BatchSize = 10, Optimizer = () => sharedAdam };
        var sharedState = new TrainingState();
        using var paused = new ManualResetEventSlim();
        using var resume = new ManualResetEventSlim();
        var progress = new SynchronousProgress<EpochReport>(r =>
        {
            if (r.Epoch != 1) return;
            paused.Set();
            resume.Wait(TimeSpan.FromSeconds(60));
        });
        Exception? trainingError = null;
        var trainer = new Thread(() =>
        {
            try { new HelmholtzTrainer(rule, options).Train(machine, data, progress: progress, state: sharedState); }
            catch (Exception e) { trainingError = e; }
        });
        trainer.Start();
        try
        {
            Assert.IsTrue(paused.Wait(TimeSpan.FromSeconds(30)), "training reached its first epoch");
            var states = new LayerStates(machine.Architecture, 4);
            double[] f = new double[4], l = new double[4];
            void Named(Action action, string what)
            {
                var e = Assert.ThrowsExactly<InvalidOperationException>(action, what);
                StringAssert.Contains(e.Message, "in use by training on another thread", what);
            }
            Named(() => machine.SampleFreeEnergy(new RandomStream(1), states, 4, f, l), "SampleFreeEnergy");
            Named(() => machine.Recognition.Infer(4, states), "Infer");
            Named(() => machine.Generative.Dream(new RandomStream(1), 4, states), "Dream");
            Named(() => machine.Generative.Layers[0].Forward(states.Layer(1, 4), 4), "a layer's Forward");
            // The layer's other calls read and write the same buffers.
            var layer = machine.Generative.Layers[0];
            float[] y = new float[4 * layer.OutputSize], gradient = new float[4 * layer.InputSize];
            double[] logProb = new double[4];
            Named(() => layer.Sample(new RandomStream(1), 4, y), "a layer's Sample");
            Named(() => layer.Expectation(4, y), "a layer's Expectation");
            Named(() => layer.AccumulateLogProb(y, 4, logProb), "a layer's AccumulateLogProb");
            Named(() => layer.AccumulateLogProbOfSample(y, 4, logProb), "a layer's AccumulateLogProbOfSample");
            Named(() => layer.AccumulateLogProbGradient(y, states.Layer(1, 4), 4, [1, 1, 1, 1], gradient, default), "a layer's gradient");
            Named(() => layer.EnsureCapacity(1000), "a layer's EnsureCapacity (new buffers under the running step)");
            // Refused before it touches the layer's scratch, which the running step uses: it cleared it first, then was refused
            // by the AccumulateLogProb it calls, named in its place, having changed the training run.
            var e0 = Assert.ThrowsExactly<InvalidOperationException>(() => ((IBilinearLogProb)layer).InputFeatures(4, y, logProb));
            StringAssert.Contains(e0.Message, "BernoulliLayer.InputFeatures cannot run now");
            Named(() => ((BernoulliLayer)layer).Logits(4), "a layer's Logits");
            Named(() => new HelmholtzTrainer(new WakeSleep()).Train(machine, data), "a second training run");
            Named(() => machine.InitializeVisibleBiasesFromMeans(new double[12]), "setting the visible biases");
            var other = HelmholtzMachine.Create(machine.Architecture, 12);
            var e = Assert.ThrowsExactly<InvalidOperationException>(() => new HelmholtzTrainer(rule).Train(other, data));
            StringAssert.Contains(e.Message, "learning rule 'wake-sleep'");
            e = Assert.ThrowsExactly<InvalidOperationException>(() => new HelmholtzTrainer(new WakeSleep(), options).Train(other, data));
            StringAssert.Contains(e.Message, "optimiser 'adam'");
            e = Assert.ThrowsExactly<InvalidOperationException>(() => new HelmholtzTrainer(new WakeSleep()).Train(other, data, state: sharedState));
            StringAssert.Contains(e.Message, "The training state is in use by training on another thread");
            Assert.AreEqual(0L, other.StepsTrained, "the refused runs changed nothing");
            // A state can be saved while its run goes on: it holds the point of the last epoch.
            var saved = new MemoryStream();
            sharedState.Save(saved);
            saved.Position = 0;
            Assert.AreEqual(machine.StepsTrained, TrainingState.Load(saved).StepsTrained);
            // Copies and scores need no exclusive use: they work while training holds the machine.
            HelmholtzMachine copy = machine.Clone();
            var estimator = new ImportanceSampledLogLikelihood(10, seed: 2) { Parallelism = 1 };
            CollectionAssert.AreEqual(estimator.EstimatePerExample(copy, data), estimator.EstimatePerExample(machine, data));
        }
        finally
        {
            resume.Set();
            trainer.Join();
        }
        Assert.IsNull(trainingError, trainingError?.ToString());
        // Once training is over the machine is free again, for any thread.
        new HelmholtzTrainer(new WakeSleep(), new TrainingOptions { Epochs = 1, BatchSize = 10 }).Train(machine, data);
    }

    [TestMethod]
    public void TwoFillsOfOneRandomStreamAtOnceAreNamed()
    {
        var stream = new RandomStream(13);
        float[] large = new float[1 << 22], small = new float[1];
        var caught = new ConcurrentQueue<InvalidOperationException>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        // Two threads fill the stream in a loop until one of them sees the other's fill (within ms when both run).
        RunThreads(2, t =>
        {
            while (caught.IsEmpty && clock.Elapsed < TimeSpan.FromSeconds(20))
            {
                try
                {
                    if (t == 0) stream.FillUniform(large);
                    else stream.FillNormal(small);
                }
                catch (InvalidOperationException e)
                {
                    caught.Enqueue(e);
                }
            }
        });
        Assert.IsFalse(caught.IsEmpty, "two threads filled one stream at once for 20 s without a word");
        StringAssert.Contains(caught.First().Message, "a RandomStream belongs to one thread");
    }

    /// <summary>
    /// The per-thread objects (a fixed-noise scorer, a feature extractor, the temporal fixed-noise estimator) refuse a call
    /// while another thread's call runs, naming themselves and what to do, and work again once it has ended. Before, only
    /// their machine's product calls were guarded: the copies into their buffers and the reads of the results were not,
    /// so two threads sharing one read each other's estimates without a word.
    /// </summary>
    [TestMethod]
    public void ThePerThreadEstimatorsRefuseASecondThreadsCall()
    {
        var machine = TestModels.Random("20b-10g-5g", 1);
        DataMatrix data = TestModels.BinaryData(4, 20, 2);
        FixedNoiseLogLikelihood.Scorer scorer = new FixedNoiseLogLikelihood(machine, 8, seed: 3).CreateScorer();
        RecognitionFeatures.Extractor extractor = new RecognitionFeatures(machine, FeatureLayers.AllHidden).CreateExtractor();
        var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("6b-3g-2g"), 3, 13);
        var temporal = new TemporalFixedNoiseLogLikelihood(model, 10, seed: 16);
        float[] frames = new float[5 * 6];
        for (int i = 0; i < frames.Length; i += 2) frames[i] = 1;
        double[] estimates = new double[4], perFrame = new double[5];
        float[] features = new float[4 * 15];
        var cases = new (string Name, Helmholtz.Concurrency.UsageGuard Guard, Action Call, string Refusal)[]
        {
            ("scorer", scorer.Guard, () => scorer.Estimate(data.Values, 4, estimates),
                "This FixedNoiseLogLikelihood.Scorer is in use by a test's holder on another thread, so Scorer.Estimate cannot run now"),
            ("extractor", extractor.Guard, () => extractor.Extract(data.Values, 4, features),
                "This RecognitionFeatures.Extractor is in use by a test's holder on another thread, so Extractor.Extract cannot run now"),
            ("temporal", temporal.Guard, () => temporal.Score(frames, 5, perFrame),
                "This TemporalFixedNoiseLogLikelihood is in use by a test's holder on another thread, so Score cannot run now"),
        };
        foreach (var (name, guard, call, refusal) in cases)
        {
            call();   // alone: works
            GuardHolder.WhileHeldByAnotherThread(() => guard.Enter("a test's holder"), () =>
            {
                var e = Assert.ThrowsExactly<InvalidOperationException>(call, name);
                StringAssert.StartsWith(e.Message, refusal, name);
                StringAssert.Contains(e.Message, "per thread", name);
            });
            call();   // released: works again
        }
        Assert.IsTrue(estimates.All(double.IsFinite) && perFrame.All(double.IsFinite) && features.All(float.IsFinite));
    }

    /// <summary>
    /// A guard refused on a call that ends at once still names that call: the refused thread read the holder's name after
    /// the holder could have finished and cleared it, and said "another call" (CI met it once on a shared PredictionEngine).
    /// </summary>
    [TestMethod]
    public void ARefusalNamesTheHolderEvenWhenItsCallEndsAtOnce()
    {
        var guard = new Helmholtz.Concurrency.UsageGuard("This test's object", "Use it from one thread.");
        var messages = new ConcurrentQueue<string>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        // Holds as short as they come: the refused thread's reading races the holder's release on nearly every refusal.
        RunThreads(2, t =>
        {
            string name = t == 0 ? "Holding0" : "Holding1";
            while (messages.Count < 2000 && clock.Elapsed < TimeSpan.FromSeconds(10))
            {
                try
                {
                    using var use = guard.Enter(name);
                }
                catch (InvalidOperationException e)
                {
                    messages.Enqueue(e.Message);
                }
            }
        });
        Assert.IsGreaterThan(100, messages.Count, "two threads entering one guard in a loop for 10 s were refused only a few times");
        foreach (string m in messages)
            Assert.IsTrue(m.StartsWith("This test's object is in use by Holding0 on another thread, so Holding1 cannot run now", StringComparison.Ordinal)
                || m.StartsWith("This test's object is in use by Holding1 on another thread, so Holding0 cannot run now", StringComparison.Ordinal), m);
    }

    /// <summary>
    /// A refusal names the operation that holds the guard now, not an earlier one the same thread entered (each thread keeps its
    /// holdings to reuse them, by operation). The other thread's call runs while the guard is held, joined before it is released.
    /// </summary>
    [TestMethod]
    public void ARefusalNamesTheOperationHeldNowNotAnEarlierOneOfTheSameThread()
    {
        var guard = new Helmholtz.Concurrency.UsageGuard("This test's object", "Use it from one thread.");
        using (guard.Enter("EarlierCall")) { }
        string? message = null;
        using (guard.Enter("LaterCall"))
        {
            var other = new Thread(() =>
            {
                try { using var use = guard.Enter("OtherCall"); }
                catch (InvalidOperationException e) { message = e.Message; }
            });
            other.Start();
            other.Join();
        }
        Assert.IsNotNull(message, "another thread entered a held guard");
        StringAssert.StartsWith(message, "This test's object is in use by LaterCall on another thread, so OtherCall cannot run now");
        using (guard.Enter("AfterRelease")) { }   // released
    }

    /// <summary>
    /// A refused entry changes nothing of the holder's: a call nested in another keeps the guard held until the outer one
    /// ends, whatever another thread tried meanwhile. The other thread's try is joined before the holder goes on.
    /// </summary>
    [TestMethod]
    public void ARefusedEntryLeavesTheHoldersNestingAsItWas()
    {
        var guard = new Helmholtz.Concurrency.UsageGuard("This test's object", "Use it from one thread.");
        bool AnotherThreadEnters()
        {
            bool entered = false;
            var other = new Thread(() =>
            {
                try { using var use = guard.Enter("OtherCall"); entered = true; }
                catch (InvalidOperationException) { }
            });
            other.Start();
            other.Join();
            return entered;
        }
        using (guard.Enter("Outer"))
        {
            using (guard.Enter("Inner"))
                Assert.IsFalse(AnotherThreadEnters(), "another thread entered while the guard was held twice");
            // The inner call has ended; the outer one still holds the guard.
            Assert.IsFalse(AnotherThreadEnters(), "the end of a nested call released the guard its outer call still holds");
        }
        Assert.IsTrue(AnotherThreadEnters(), "the guard was not released when its outer call ended");
    }
}
