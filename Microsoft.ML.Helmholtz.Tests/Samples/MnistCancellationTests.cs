using Microsoft.ML.Helmholtz.Tests.Support;
using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Learning;
using Microsoft.ML.Helmholtz.Learning.Optimizers;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;
using Microsoft.ML.Helmholtz.Tests.Data;

namespace Microsoft.ML.Helmholtz.Tests.Samples;

/// <summary>
/// Stopping the MNIST sample: cancelled in training, the model as it stands is saved and scored;
/// cancelled while scoring, the trained model is kept and the scoring stops; and the process turns
/// SIGTERM into that cancellation (a run in the background ignores SIGINT). They use the shared data.
/// </summary>
[TestClass]
public sealed class MnistCancellationTests : TempDirectoryTests
{
    /// <summary>Output that cancels the run when a line starting with <c>trigger</c> is written.</summary>
    private sealed class CancelAtLine(string trigger, CancellationTokenSource source) : StringWriter
    {
        public override void WriteLine(string? value)
        {
            base.WriteLine(value);
            if (value is not null && value.StartsWith(trigger, StringComparison.Ordinal)) source.Cancel();
        }
    }

    private string[] ShortRun(string output, int epochs, int samples) =>
        ["--rule", "sbp", "--epochs", $"{epochs}", "--train-limit", "500", "--valid-rows", "100", "--test-limit", "50",
         "--k", $"{samples}", "--data", SharedData.MnistDirectory(), "--out", output];

    /// <summary>A short run in this process, cancelled when it writes a line starting with <paramref name="trigger"/>; the model's path.</summary>
    private (int Exit, string Output, string Error, string Model) RunCancelledAt(string trigger, int epochs, int samples)
    {
        string output = Temp.File("out");
        using var source = new CancellationTokenSource();
        var text = new CancelAtLine(trigger, source);
        var error = new StringWriter();
        int exit = MnistApp.Run(ShortRun(output, epochs, samples), text, error, source.Token);
        return (exit, text.ToString(), error.ToString(), Path.Combine(output, "sbp.hm"));
    }

    [TestMethod]
    public void CancelledInTrainingTheModelAsItStandsIsSavedAndScored()
    {
        var (exit, text, error, model) = RunCancelledAt("epoch    1 ", 100, 5);

        Assert.AreEqual(MnistApp.Cancelled, exit, error);
        StringAssert.Contains(error, "training cancelled");
        long steps = HelmholtzMachine.Load(model).StepsTrained;
        // Cancelled after the first epoch's report: its five minibatches and at most one more.
        Assert.IsTrue(steps is >= 5 and <= 6, $"{steps} steps");
        StringAssert.Contains(text, "test log-likelihood (importance sampling, K = 5)");
    }

    /// <summary>
    /// A new run cancelled before its first step saves and scores nothing: its model is the untrained one, which replaced the model,
    /// state, curve and scores an earlier run had left in the folder (the run went on as if it had trained).
    /// </summary>
    [TestMethod]
    public void CancelledBeforeItsFirstStepANewRunLeavesTheFolderAsItWas()
    {
        string output = Temp.File("out");
        int exit = MnistApp.Run(ShortRun(output, 1, 5), new StringWriter(), new StringWriter());
        Assert.AreEqual(MnistApp.Success, exit);
        var before = Directory.GetFiles(output).ToDictionary(path => Path.GetFileName(path), File.ReadAllBytes);
        Assert.IsTrue(before.ContainsKey("sbp.hm") && before.ContainsKey("sbp.state") && before.ContainsKey("sbp-curve.csv"), string.Join(", ", before.Keys));

        // Cancelled when the run's first line is written: after the data loads, before the trainer's first step.
        using var source = new CancellationTokenSource();
        var text = new CancelAtLine("rule sbp", source);
        var error = new StringWriter();
        exit = MnistApp.Run(ShortRun(output, 2, 5), text, error, source.Token);
        Assert.AreEqual(MnistApp.Cancelled, exit, error.ToString());
        StringAssert.Contains(error.ToString(), $"training cancelled before its first step: nothing is saved or scored (the files in {output} are as they were)");
        Assert.DoesNotContain("test log-likelihood", text.ToString());
        CollectionAssert.AreEquivalent(before.Keys.ToArray(), Directory.GetFiles(output).Select(Path.GetFileName).ToArray());
        foreach (var (name, bytes) in before) CollectionAssert.AreEqual(bytes, File.ReadAllBytes(Path.Combine(output, name)), name);
    }

    /// <summary>
    /// The defaults the usage gives, as the run's first line reports them: all 50,000 training and 10,000 test images, 1,000 validation
    /// rows, 10 epochs of minibatches of 100, Adam at 0.001 without decay, seed 1, and sbp's Gaussian 200+50. Cancelled at that line.
    /// </summary>
    [TestMethod]
    public void ARunWithoutOptionsTakesTheDefaultsTheUsageGives()
    {
        string output = Temp.File("out");
        using var source = new CancellationTokenSource();
        var text = new CancelAtLine("rule sbp", source);
        var error = new StringWriter();
        int exit = MnistApp.Run(["--data", SharedData.MnistDirectory(), "--out", output], text, error, source.Token);
        Assert.AreEqual(MnistApp.Cancelled, exit, error.ToString());
        string line = text.ToString().Split('\n')[0];
        StringAssert.StartsWith(line, "rule sbp (minimises the ");
        StringAssert.Contains(line, "architecture 784b-200g-50g, engine ");
        StringAssert.EndsWith(line.TrimEnd(), "train 50000, valid 1000, test 10000, epochs 10, batch 100, adam lr 0.001 × 1/epoch, seed 1");
    }

    /// <summary>A resumed run cancelled before its first step scores the model it resumed from, and leaves that file as it was.</summary>
    [TestMethod]
    public void CancelledBeforeItsFirstStepAResumedRunScoresTheModelItResumedFrom()
    {
        string output = Temp.File("out");
        int exit = MnistApp.Run(ShortRun(output, 1, 5), new StringWriter(), new StringWriter());
        Assert.AreEqual(MnistApp.Success, exit);
        string model = Path.Combine(output, "sbp.hm");
        byte[] before = File.ReadAllBytes(model);

        using var source = new CancellationTokenSource();
        var text = new CancelAtLine("rule sbp", source);
        var error = new StringWriter();
        exit = MnistApp.Run([.. ShortRun(output, 2, 5), "--resume", model], text, error, source.Token);
        Assert.AreEqual(MnistApp.Cancelled, exit, error.ToString());
        StringAssert.Contains(error.ToString(), "training cancelled before its first step; the model resumed from is scored.");
        StringAssert.Contains(text.ToString(), "test log-likelihood (importance sampling, K = 5)");
        Assert.HasCount(51, File.ReadAllLines(Path.Combine(output, "sbp-test-log-likelihood.csv")));
        CollectionAssert.AreEqual(before, File.ReadAllBytes(model), "no step: the model resumed from is as it was");
    }

    /// <summary>
    /// A new run cancelled inside its first epoch, after its first step and before any epoch is reported, saves the model as it stands
    /// with its state, and a learning curve of no epochs (the header alone), which replaces an earlier run's (the folder's curve is of
    /// its model), and scores the model. The run is cancelled by the matrix engine at its first product, which is in the first step.
    /// </summary>
    [TestMethod]
    [DoNotParallelize] // swaps the process-wide matrix engine for one that cancels the run
    public void CancelledInsideItsFirstEpochANewRunSavesItsModelAndACurveOfNoEpochs()
    {
        string output = Temp.File("out");
        int exit = MnistApp.Run(ShortRun(output, 1, 5), new StringWriter(), new StringWriter());
        Assert.AreEqual(MnistApp.Success, exit);
        string curve = Path.Combine(output, "sbp-curve.csv");
        Assert.HasCount(2, File.ReadAllLines(curve), "an earlier run's curve of one epoch");

        IMatrixEngine original = MatrixEngine.Default;
        string reason = MatrixEngine.DefaultReason;
        using var source = new CancellationTokenSource();
        var text = new StringWriter();
        var error = new StringWriter();
        using (MatrixEngine.Replaced(new ObservingEngine(original, (_, _, _) => source.Cancel(), original.AllowsFusedProducts)))
        {
            Assert.AreEqual("set by the program", MatrixEngine.DefaultReason);
            exit = MnistApp.Run(ShortRun(output, 1, 5), text, error, source.Token);
        }
        // Later tests (and their logs) see the engine the process chose, and why.
        Assert.AreSame(original, MatrixEngine.Default);
        Assert.AreEqual(reason, MatrixEngine.DefaultReason);
        Assert.AreEqual(MnistApp.Cancelled, exit, error.ToString());
        StringAssert.Contains(error.ToString(), "training cancelled; the model as it stands is saved and scored.");
        string model = Path.Combine(output, "sbp.hm");
        long steps = HelmholtzMachine.Load(model).StepsTrained;
        Assert.IsTrue(steps is >= 1 and < 5, $"{steps} steps: cancelled inside the first epoch of 5 minibatches");
        Assert.AreEqual(steps, TrainingState.Load(Path.ChangeExtension(model, ".state")).StepsTrained, "the state is the model's");
        CollectionAssert.AreEqual(new[] { "epoch,train_free_energy,validation_free_energy,learning_rate,seconds,train_objective,validation_log_likelihood" },
            File.ReadAllLines(curve), "no epoch reported: the curve is the header alone");
        StringAssert.Contains(text.ToString(), "test log-likelihood (importance sampling, K = 5)");
    }

    [TestMethod]
    public void CancelledInTrainingTheRunGoesOnExactlyFromTheModelAndStateSaved()
    {
        var (exit, _, error, model) = RunCancelledAt("epoch    1 ", 100, 5);
        Assert.AreEqual(MnistApp.Cancelled, exit, error);
        Assert.AreEqual(HelmholtzMachine.Load(model).StepsTrained, TrainingState.Load(Path.ChangeExtension(model, ".state")).StepsTrained, "the state is the model's");

        StringWriter output = new(), errors = new();
        exit = MnistApp.Run([.. ShortRun(Path.GetDirectoryName(model)!, 2, 5), "--resume", model, "--continue-schedule"], output, errors);
        Assert.AreEqual(MnistApp.Success, exit, errors.ToString());
        StringAssert.Contains(output.ToString(), "with its training state");
        string whole = Temp.File("whole");
        exit = MnistApp.Run(ShortRun(whole, 3, 5), new StringWriter(), new StringWriter());
        Assert.AreEqual(MnistApp.Success, exit);
        CollectionAssert.AreEqual(File.ReadAllBytes(Path.Combine(whole, "sbp.hm")), File.ReadAllBytes(model), "cancelled and resumed, the run is the uninterrupted one");
    }

    [TestMethod]
    public void CancelledWhileScoringTheTrainedModelIsKeptAndTheScoringStops()
    {
        // K = 2000 over 50 images: 100 chunks of 1000 rows, each a point at which the scoring stops.
        var (exit, text, error, model) = RunCancelledAt("test free energy", 1, 2000);

        Assert.AreEqual(MnistApp.Cancelled, exit, error);
        StringAssert.Contains(error, $"scoring cancelled; the model is saved in {model}");
        Assert.DoesNotContain("test log-likelihood", text);
        Assert.AreEqual(5L, HelmholtzMachine.Load(model).StepsTrained);
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);

    private const int SIGTERM = 15;

    /// <summary>
    /// One SIGTERM, or the same one twice within a second (as `timeout` sends it to the process and then its group, and as `dotnet run`
    /// passes on what the group also gets; the second once killed the run before it saved), stops after the minibatch, saves and scores.
    /// </summary>
    [TestMethod]
    [OSCondition(OperatingSystems.Linux)]
    [DataRow(1)]
    [DataRow(2)]
    public void SigtermStopsTheProcessLikeCtrlC(int signals)
    {
        string output = Temp.File("out");
        string program = Path.Combine(AppContext.BaseDirectory, "Helmholtz.Mnist");
        Assert.IsTrue(File.Exists(program), $"the sample's program is built beside the tests: {program}");
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string arg in ShortRun(output, 1000, 5)) start.ArgumentList.Add(arg);

        using var process = Process.Start(start)!;
        var errorText = process.StandardError.ReadToEndAsync();
        var lines = new List<string>();
        bool signalled = false;
        while (process.StandardOutput.ReadLine() is { } line)
        {
            lines.Add(line);
            if (!signalled && line.StartsWith("epoch    1 ", StringComparison.Ordinal))
            {
                for (int i = 0; i < signals; i++)
                {
                    if (i > 0) Thread.Sleep(10);   // delivered apart (two at once may merge into one pending signal), long before the run ends
                    Assert.AreEqual(0, kill(process.Id, SIGTERM), $"kill failed: errno {Marshal.GetLastPInvokeError()}");
                }
                signalled = true;
            }
        }
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill();
            Assert.Fail("the process did not stop after SIGTERM");
        }
        string error = errorText.Result;
        string all = string.Join('\n', lines);
        Assert.IsTrue(signalled, $"no first epoch was reported: {all}\n{error}");
        Assert.AreEqual(MnistApp.Cancelled, process.ExitCode, $"{all}\n{error}");
        StringAssert.Contains(error, "SIGTERM: cancelling after the current minibatch");
        StringAssert.Contains(error, "training cancelled");
        StringAssert.Contains(all, "test log-likelihood (importance sampling, K = 5)");
        Assert.IsLessThan(1000 * 5L, HelmholtzMachine.Load(Path.Combine(output, "sbp.hm")).StepsTrained, "stopped long before its 1000 epochs");
    }

    private static string[] ResumeRun(string output) =>
        ["--rule", "sbp", "--train-limit", "500", "--valid-rows", "100", "--test-limit", "20", "--k", "2", "--decay", "0.5",
         "--data", SharedData.MnistDirectory(), "--out", output];

    private static DataMatrix Spaced(DataMatrix data, int count)
    {
        var values = new float[count * data.Columns];
        for (int i = 0; i < count; i++) data.Row((int)((long)i * data.Rows / count)).CopyTo(values.AsSpan(i * data.Columns, data.Columns));
        return new DataMatrix(count, data.Columns, values);
    }

    /// <summary>
    /// Ctrl+C during the last minibatch of an epoch, or during its validation: the trainer records the state as "all 5 minibatches
    /// of epoch 1 trained" and the model has 5 steps. The sample counted 5 / 5 = 1 epoch trained, so the resumed run finished epoch
    /// 1 (no step) calling it epoch 2 and continued the schedule one epoch ahead (a review's finding); it now counts the epochs
    /// before the one the state stopped in, and goes on as the uninterrupted run, bit for bit.
    /// </summary>
    [TestMethod]
    [DataRow(5, DisplayName = "Ctrl+C during the step of minibatch 5 of 5")]
    [DataRow(6, DisplayName = "Ctrl+C during the epoch's validation")]
    public void CancelledDuringAnEpochsLastMinibatchTheResumedRunIsTheUninterruptedOne(int cancelAtCall)
    {
        string whole = Temp.File("whole"), split = Temp.File("split");
        int exit = MnistApp.Run([.. ResumeRun(whole), "--epochs", "3"], new StringWriter(), new StringWriter());
        Assert.AreEqual(MnistApp.Success, exit);

        // The first leg as the sample runs it (same machine, rule, options, data), cancelled during minibatch 5 of 5 of epoch 1.
        MnistSplits data = BinarizedMnist.Load(SharedData.MnistDirectory());
        DataMatrix train = Spaced(data.Train, 500), valid = Spaced(data.Valid, 100);
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("784b-200g-50g"), 1);
        var options = new TrainingOptions
        {
            Epochs = 3, BatchSize = 100, Seed = 1, LearningRate = new LearningRateSchedule(1e-3, 0.5, 0),
            Optimizer = () => new Adam(weightDecay: 0f), VisibleMeans = DataMatrix.ColumnMeans(train.Values, train.Rows, train.Columns),
        };
        var state = new TrainingState();
        using var source = new CancellationTokenSource();
        Assert.ThrowsExactly<OperationCanceledException>(() => new HelmholtzTrainer(LearningRules.Create("sbp", LearningRules.DefaultSamples), options)
            .Train(machine, new ScriptedMinibatches(train, cancelAtCall, source), valid, null, source.Token, state));
        Assert.AreEqual(5L, machine.StepsTrained);
        Directory.CreateDirectory(split);
        string model = Path.Combine(split, "sbp.hm");
        machine.Save(model);
        state.Save(Path.ChangeExtension(model, ".state"));

        // No epoch was reported before the stop: all three are still to run.
        var output = new StringWriter();
        var errors = new StringWriter();
        exit = MnistApp.Run([.. ResumeRun(split), "--epochs", "3", "--resume", model, "--continue-schedule"], output, errors);
        Assert.AreEqual(MnistApp.Success, exit, errors.ToString());
        StringAssert.Contains(output.ToString(), "with its training state");
        Assert.AreEqual(15L, HelmholtzMachine.Load(model).StepsTrained);
        CollectionAssert.AreEqual(File.ReadAllBytes(Path.Combine(whole, "sbp.hm")), File.ReadAllBytes(model), "stopped and resumed, the model differs from the uninterrupted run's:\n" + output);
        string[] epochs = File.ReadAllLines(Path.Combine(split, "sbp-curve.csv")).Skip(1).Select(l => l.Split(',')[0]).ToArray();
        Assert.AreEqual("1,2,3", string.Join(",", epochs), "the curve's epochs; the epoch the stop fell in is epoch 1:\n" + output);
    }

    /// <summary>
    /// The sample's signal handling, in this process (its ConsoleCancellation is internal: reached by reflection, its handler called with a
    /// context as .NET passes one): the first signal cancels the token and is taken (the process goes on), with one notice; a repeat within
    /// the second is the same request, taken silently; one a second or more after the first is left to end the process.
    /// </summary>
    [TestMethod]
    [OSCondition(OperatingSystems.Linux)]
    public void TheFirstSignalCancelsARepeatWithinASecondIsTakenAndALaterOneEndsTheProcess()
    {
        Type type = typeof(MnistApp).Assembly.GetType("Helmholtz.Samples.ConsoleCancellation", throwOnError: true)!;
        var error = new StringWriter();
        object cancellation = Activator.CreateInstance(type, error, "the current minibatch")!;
        using var disposable = (IDisposable)cancellation;
        var token = (CancellationToken)type.GetProperty("Token")!.GetValue(cancellation)!;
        var onSignal = type.GetMethod("OnSignal", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!;
        bool Taken(PosixSignal signal)
        {
            var context = new PosixSignalContext(signal);
            onSignal.Invoke(cancellation, [context]);
            return context.Cancel;
        }

        Assert.IsFalse(token.IsCancellationRequested);
        Assert.IsTrue(Taken(PosixSignal.SIGTERM), "the first signal is taken");
        Assert.IsTrue(token.IsCancellationRequested);
        Assert.IsTrue(Taken(PosixSignal.SIGINT), "a repeat within the second");
        Assert.IsTrue(Taken(PosixSignal.SIGTERM), "and another");
        Assert.AreEqual("SIGTERM: cancelling after the current minibatch (send it again, a second or more from now, to stop at once)…", error.ToString().TrimEnd(), "one notice");
        // The first signal two seconds ago: the next one is not taken, and the default ends the process.
        var first = type.GetField("_firstSignalMilliseconds", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!;
        first.SetValue(cancellation, (long)first.GetValue(cancellation)! - 2000);
        Assert.IsFalse(Taken(PosixSignal.SIGINT), "a signal a second or more after the first");
        Assert.IsFalse(Taken(PosixSignal.SIGTERM), "and every one after it");
    }
}
