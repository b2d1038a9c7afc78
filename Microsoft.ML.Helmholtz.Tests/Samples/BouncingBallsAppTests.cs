using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Evaluation;
using Microsoft.ML.Helmholtz.Temporal;
using Microsoft.ML.Helmholtz.Learning;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Tests.Data;
using Microsoft.ML.Helmholtz.Tests.Support;

namespace Microsoft.ML.Helmholtz.Tests.Samples;

/// <summary>The bouncing-balls sample end to end on a small data set it generates, and its errors (one line each).</summary>
[TestClass]
public sealed class BouncingBallsAppTests : TempDirectoryTests
{
    private (int Exit, string Output, string Error) Run(params string[] args) => Run(new StringWriter(), CancellationToken.None, args);

    private (int Exit, string Output, string Error) Run(StringWriter output, CancellationToken cancellation, params string[] args)
    {
        var error = new StringWriter();
        int exit = BouncingBallsApp.Run([.. args, "--data", Temp.File("data"), "--out", Temp.File("out")], output, error, cancellation);
        return (exit, output.ToString(), error.ToString());
    }

    // A data set and machine small enough for a test: runs in a second or two.
    private static readonly string[] Small = ["--train-sequences", "24", "--test-sequences", "4", "--frames", "12", "--batch-sequences", "8",
        "--k", "5", "--predict-samples", "3", "--architecture", "900bs-20g", "--recurrent-units", "8"];

    /// <summary>Output that calls <c>action</c> when a line starting with <c>trigger</c> is written.</summary>
    private sealed class AtLine(string trigger, Action action) : StringWriter
    {
        public override void WriteLine(string? value)
        {
            base.WriteLine(value);
            if (value is not null && value.StartsWith(trigger, StringComparison.Ordinal)) action();
        }
    }

    [TestMethod]
    public void ItGeneratesTheDataTrainsBothMachinesAndWritesTheReportAndTheStrip()
    {
        // --time-limit 0 is no limit, as in the MNIST sample.
        var (exit, text, error) = Run([.. Small, "--epochs", "2", "--time-limit", "0", "--decay", "0.5"]);
        Assert.AreEqual(BouncingBallsApp.Success, exit, error);
        StringAssert.Contains(text, "  epoch 2: ");
        StringAssert.Contains(text, "lr 0.0005,", "the second epoch's rate, decayed once");
        StringAssert.Contains(text, "temporal machine:");
        StringAssert.Contains(text, "without the LSTM:");
        StringAssert.Contains(text, "copying the previous frame");
        Assert.IsTrue(File.Exists(Temp.File("data/" + BouncingBalls.TrainFile)), "the data set was written for the next run");
        byte[] png = File.ReadAllBytes(Temp.File("out/strip.png"));
        CollectionAssert.AreEqual(PngWriter.Signature.ToArray(), png[..8]);
        // Four rows (the true frames, the predictions, the roll-out, a generated sequence) of the 12 frames (at most 20): the IHDR's width and height.
        var (stripWidth, stripHeight) = PngWriter.TiledSize(30, 30, 4, 12, 2);
        Assert.AreEqual(stripWidth, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16, 4)), "the strip's width");
        Assert.AreEqual(stripHeight, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20, 4)), "the strip's height");
        string[] report = File.ReadAllLines(Temp.File("out/report.csv"));
        Assert.AreEqual(4, report.Length, string.Join("\n", report));
        Assert.IsTrue(report[1].StartsWith("temporal,2,", StringComparison.Ordinal), report[1]);
        Assert.DoesNotContain("stopped after epoch", text, "a run that trained every epoch asked for did not stop early");
        // The copying baseline predicts each test frame by the one before it: its error is theirs, squared and summed over the pixels.
        SequenceSet test = BouncingBalls.LoadOrCreate(Temp.File("data"), new BouncingBallsOptions { Frames = 12 }, 24, 4).Test;
        double copy = 0;
        for (int s = 0; s < test.Count; s++)
            for (int t = 1; t < test.Frames; t++)
                for (int i = 0; i < test.ValuesPerFrame; i++)
                {
                    double e = test.Frame(s, t)[i] - test.Frame(s, t - 1)[i];
                    copy += e * e;
                }
        copy /= test.Count * (test.Frames - 1);
        string[] copyRow = report[3].Split(',');
        Assert.AreEqual("copy_previous_frame", copyRow[0]);
        Assert.AreEqual(copy, double.Parse(copyRow[4], System.Globalization.CultureInfo.InvariantCulture), 5.1e-5, "printed to 4 decimals");
        // The trained model is saved: two epochs of three minibatches of 8 of the 24 sequences.
        Assert.AreEqual(6L, TemporalHelmholtzMachine.Load(Temp.File("out/" + BouncingBallsApp.ModelFile)).Machine.StepsTrained);
        // The curve has a row per epoch: its number, F̂ and the rule's objective per frame, the values the epoch's line printed.
        string[] curve = File.ReadAllLines(Temp.File("out/" + BouncingBallsApp.CurveFile));
        Assert.HasCount(3, curve);
        Assert.AreEqual("epoch,train_free_energy_per_frame,train_objective_per_frame,seconds", curve[0]);
        for (int epoch = 1; epoch <= 2; epoch++)
        {
            Assert.AreEqual(epoch, PrintedCurveRow(text, curve[epoch])[0], curve[epoch]);
            StringAssert.Contains(text, $"  epoch {epoch}: ", curve[epoch]);
        }
        // The temporal row is the library's scoring of the model saved: ln p per frame at K = 5 under seed + 1, averaged over every
        // frame, and the error of its predictions from 3 draws under seed + 2.
        var saved = TemporalHelmholtzMachine.Load(Temp.File("out/" + BouncingBallsApp.ModelFile));
        string[] temporalRow = report[1].Split(',');
        Assert.AreEqual(TemporalEvaluation.LogLikelihoodPerFrame(saved, test, 5, seed: 2).Average(),
            double.Parse(temporalRow[3], System.Globalization.CultureInfo.InvariantCulture), 5.1e-5, "the log-likelihood, printed to 4 decimals");
        Assert.AreEqual(TemporalEvaluation.PredictionError(test, TemporalEvaluation.PredictFrames(saved, test, 3, seed: 3)),
            double.Parse(temporalRow[4], System.Globalization.CultureInfo.InvariantCulture), 5.1e-5, "the prediction error, printed to 4 decimals");
        Assert.IsEmpty(Directory.GetFiles(Temp.File("out"), "*.tmp"), "no temporary file is left");
        // The second run reads the files the first wrote.
        var (again, secondText, secondError) = Run([.. Small, "--epochs", "1", "--no-baseline"]);
        Assert.AreEqual(BouncingBallsApp.Success, again, secondError);
        Assert.IsFalse(secondText.Contains("without the LSTM:", StringComparison.Ordinal), "--no-baseline");
        Assert.HasCount(3, File.ReadAllLines(Temp.File("out/report.csv")), "no empty row where the baseline would be");
    }

    /// <summary>
    /// The sample's own files (the report, the curve) are written as the library writes its files: a link at the path is written where
    /// it leads and stays a link, and a private file stays private. The sample's writer used to replace the link with a file, leaving
    /// the file it led to as it was, and gave the new file the default permissions.
    /// </summary>
    [TestMethod]
    [OSCondition(OperatingSystems.Linux)]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]   // for the platform analyser, which does not read OSCondition
    public void ItsFilesAreWrittenThroughLinksKeepingTheirPermissions()
    {
        Directory.CreateDirectory(Temp.File("out"));
        Directory.CreateDirectory(Temp.File("kept"));
        foreach (string name in new[] { BouncingBallsApp.ReportFile, BouncingBallsApp.CurveFile })
        {
            File.WriteAllText(Temp.File("kept/" + name), "earlier");
            File.SetUnixFileMode(Temp.File("kept/" + name), UnixFileMode.UserRead | UnixFileMode.UserWrite);
            File.CreateSymbolicLink(Temp.File("out/" + name), Temp.File("kept/" + name));
        }
        var (exit, _, error) = Run([.. Small, "--epochs", "1", "--no-baseline"]);
        Assert.AreEqual(BouncingBallsApp.Success, exit, error);
        foreach (string name in new[] { BouncingBallsApp.ReportFile, BouncingBallsApp.CurveFile })
        {
            Assert.AreEqual(Temp.File("kept/" + name), new FileInfo(Temp.File("out/" + name)).LinkTarget, $"{name} is still a link");
            StringAssert.StartsWith(File.ReadAllText(Temp.File("kept/" + name)), name == BouncingBallsApp.ReportFile ? "model," : "epoch,", $"{name} was written where its link leads");
            Assert.AreEqual(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Temp.File("kept/" + name)), $"{name} stays private");
        }
    }

    [TestMethod]
    public void UserErrorsAreOneLineWithExitCodeTwo()
    {
        var (exit, _, error) = Run("--architecture", "784b-20g", "--epochs", "1");
        Assert.AreEqual(BouncingBallsApp.UserError, exit);
        StringAssert.Contains(error, "784 units, but a frame has 900 pixels");
        (exit, _, error) = Run("--rule", "sbp", "--architecture", "900bs-20b", "--epochs", "1");
        Assert.AreEqual(BouncingBallsApp.UserError, exit);
        StringAssert.Contains(error, "error:");
        (exit, _, error) = Run("--epochs", "0");
        Assert.AreEqual(BouncingBallsApp.UserError, exit);
        StringAssert.Contains(error, "--epochs needs a whole number from 1");
        (exit, _, error) = Run("--epochs", "3", "--decay", "1e-30");
        Assert.AreEqual(BouncingBallsApp.UserError, exit);
        StringAssert.Contains(error, "--decay 1E-30 takes the learning rate to 0 in single precision by epoch 3");
        // One frame has nothing to predict from: refused with the options, not after the data set and the training.
        (exit, _, error) = Run("--frames", "1");
        Assert.AreEqual(BouncingBallsApp.UserError, exit);
        StringAssert.Contains(error, "--frames needs a whole number from 2");
        (exit, _, error) = Run("--frames", "12", "--bogus");
        Assert.AreEqual(BouncingBallsApp.UserError, exit);
        StringAssert.Contains(error, "unknown option --bogus");
        // A rule that cannot take the LSTM's conditioning is refused before the data set is made.
        (exit, _, error) = Run("--rule", "rws-sleep", "--architecture", "900bs-20b", "--epochs", "1");
        Assert.AreEqual(BouncingBallsApp.UserError, exit);
        StringAssert.StartsWith(error, "error: --rule rws-sleep: Reweighted wake-sleep's sleep phase does not take conditioning");
        // Binary visible units cannot model the frames' soft edges: refused before the data set is made, not at its first frame.
        (exit, _, error) = Run("--architecture", "900b-20g", "--epochs", "1");
        Assert.AreEqual(BouncingBallsApp.UserError, exit);
        StringAssert.StartsWith(error, "error: --architecture: the visible layer 900b is binary, but the frames' pixels lie between 0 and 1");
        Assert.IsFalse(Directory.Exists(Temp.File("data")), "no data set was made");
    }

    /// <summary>A --data that is a file is named as such before anything is made (it was "The file … already exists").</summary>
    [TestMethod]
    public void ADataPathThatIsAFileIsNamed()
    {
        string file = Temp.File("data-file");
        File.WriteAllText(file, "");
        var error = new StringWriter();
        int exit = BouncingBallsApp.Run(["--epochs", "1", "--data", file, "--out", Temp.File("out")], new StringWriter(), error);
        Assert.AreEqual(BouncingBallsApp.UserError, exit, error.ToString());
        StringAssert.StartsWith(error.ToString(), $"error: --data {file} is a file; give a folder for the bouncing-balls data set.");
        // A path with a line break in its name is still one line ("error: …" each user error, whatever the message holds).
        string broken = Temp.File("data\nfile");
        File.WriteAllText(broken, "");
        error = new StringWriter();
        exit = BouncingBallsApp.Run(["--epochs", "1", "--data", broken, "--out", Temp.File("out")], new StringWriter(), error);
        Assert.AreEqual(BouncingBallsApp.UserError, exit, error.ToString());
        Assert.AreEqual($"error: --data {broken.Replace('\n', ' ')} is a file; give a folder for the bouncing-balls data set.", error.ToString().TrimEnd());
    }

    [TestMethod]
    [DataRow("--architecture", "900b-xx", "--architecture 900b-xx: Layer 'xx'")]
    [DataRow("--epochs", "abc", "--epochs needs a whole number")]
    [DataRow("--epochs", "99999999999", "--epochs needs a whole number")]
    [DataRow("--seed", "-1", "--seed needs a whole number")]
    [DataRow("--learning-rate", "0", "--learning-rate needs a positive number")]
    [DataRow("--learning-rate", "NaN", "--learning-rate needs a positive number")]
    [DataRow("--decay", "0", "--decay 0: the learning-rate decay per epoch must lie in (0, 1]; got 0.")]
    [DataRow("--decay", "NaN", "--decay NaN: the learning-rate decay per epoch must lie in (0, 1]; got NaN.")]
    [DataRow("--decay", "x", "--decay needs a number")]
    [DataRow("--min-lr", "0.1", "--min-lr 0.1: The minimum learning rate 0.1 exceeds the initial rate 0.001.")]
    [DataRow("--min-lr", "-1", "--min-lr -1: the minimum learning rate must be finite and at least 0; got -1.")]
    [DataRow("--time-limit", "-1", "--time-limit needs a number of minutes")]
    [DataRow("--time-limit", "NaN", "--time-limit needs a number of minutes")]
    [DataRow("--time-limit", "1e300", "--time-limit 1e300 is more minutes than a time limit holds")]
    [DataRow("--rule", "bogus", "--rule must be one of")]
    [DataRow("--batch-sequences", "25", "--batch-sequences 25 is more than the 24 training sequences")]
    [DataRow("--out", "", "--out needs a folder; got an empty value")]
    [DataRow("--data", " ", "--data needs a folder; got an empty value")]
    [DataRow("--train-sequences", "300000", "--train-sequences 300000: 300,000 sequences of 12 frames of 900 pixels are 3,240,000,000 values, more than one array holds")]
    [DataRow("--test-sequences", "300000", "--test-sequences 300000: 300,000 sequences of 12 frames of 900 pixels are 3,240,000,000 values")]
    [DataRow("--recurrent-units", "2000000000", "--recurrent-units 2000000000: 2,000,000,000 recurrent units make the parameter")]
    [DataRow("--k", "2000000000", "--k 2000000000: K = 2000000000 draws a frame")]
    [DataRow("--predict-samples", "2000000000", "--predict-samples 2000000000: K = 2000000000 draws a frame")]
    public void AnOptionsErrorNamesItBeforeTheDataIsMade(string option, string value, string problem)
    {
        var (exit, _, error) = Run([.. Small, "--epochs", "1", option, value]);
        Assert.AreEqual(BouncingBallsApp.UserError, exit, error);
        StringAssert.StartsWith(error, $"error: {problem}");
        Assert.IsFalse(error.Contains("   at ", StringComparison.Ordinal), "no stack trace");
        Assert.DoesNotContain("(Parameter", error, "no .NET parameter suffix");
        Assert.DoesNotContain("Actual value", error, "no .NET actual-value suffix");
        Assert.IsFalse(Directory.Exists(Temp.File("data")), "no data set was made");
        Assert.IsFalse(Directory.Exists(Temp.File("out")), "no output folder was made");
    }

    [TestMethod]
    public void AnOutputThatCannotBeWrittenIsRefusedBeforeTheDataIsMade()
    {
        Directory.CreateDirectory(Temp.File("out/report.csv"));
        var (exit, _, error) = Run([.. Small, "--epochs", "1"]);
        Assert.AreEqual(BouncingBallsApp.UserError, exit, error);
        StringAssert.Contains(error, "report.csv there is a folder");
        Assert.IsFalse(Directory.Exists(Temp.File("data")), "no data set was made, no machine trained");
        Assert.IsFalse(File.Exists(Temp.File("out/strip.png")));
    }

    // A run stopped by its time limit says so, and how to reproduce it, and saves and scores the epoch it finished.
    [TestMethod]
    public void ARunStoppedByItsTimeLimitSaysSo()
    {
        // 1e-6 minutes (60 µs) is past before the first epoch ends: the trainer stops at its end.
        var (exit, text, error) = Run([.. Small, "--epochs", "3", "--time-limit", "1e-6", "--no-baseline"]);
        Assert.AreEqual(BouncingBallsApp.Success, exit, error);
        StringAssert.Contains(text, "time limit reached: stopped after epoch 1 (reproduce with --epochs 1 and no time limit)");
        Assert.AreEqual(3L, TemporalHelmholtzMachine.Load(Temp.File("out/" + BouncingBallsApp.ModelFile)).Machine.StepsTrained, "one epoch of three minibatches");
    }

    // The machine without the LSTM trains the epochs the temporal one finished (one, under a time limit), not the epochs asked for.
    [TestMethod]
    public void TheMachineWithoutTheLstmTrainsTheEpochsTheTemporalOneFinished()
    {
        var (exit, text, error) = Run([.. Small, "--epochs", "3", "--time-limit", "1e-6"]);
        Assert.AreEqual(BouncingBallsApp.Success, exit, error);
        StringAssert.Contains(text, "time limit reached: stopped after epoch 1");
        string plain = text[text.IndexOf("training the same machine without the LSTM", StringComparison.Ordinal)..];
        Assert.AreEqual(1, plain.Split('\n').Count(line => line.StartsWith("  epoch ", StringComparison.Ordinal)), text);
        StringAssert.Contains(File.ReadAllText(Temp.File("out/" + BouncingBallsApp.ReportFile)), "without_lstm,1,");
    }

    // A time limit shorter than the clock's tick of 100 ns is one tick, not the zero the trainer refuses: the run stops after its first epoch.
    [TestMethod]
    public void ATimeLimitUnderATickIsOneTick()
    {
        var (exit, text, error) = Run([.. Small, "--epochs", "2", "--time-limit", "1e-12", "--no-baseline"]);
        Assert.AreEqual(BouncingBallsApp.Success, exit, error);
        StringAssert.Contains(text, "time limit reached: stopped after epoch 1");
    }

    // The rate is checked at the last epoch asked for, not the one after: --decay 1e-43 leaves epoch 1's rate, so the options go on
    // to the next check.
    [TestMethod]
    public void TheRateIsCheckedAtTheLastEpochAskedFor()
    {
        var (exit, _, error) = Run([.. Small, "--epochs", "1", "--decay", "1e-43", "--batch-sequences", "25"]);
        Assert.AreEqual(BouncingBallsApp.UserError, exit, error);
        StringAssert.StartsWith(error, "error: --batch-sequences 25 is more than the 24 training sequences");
    }

    [TestMethod]
    public void CancelledInTrainingTheModelAsItStandsIsSavedAndScored()
    {
        using var source = new CancellationTokenSource();
        var (exit, text, error) = Run(new AtLine("  epoch 1:", source.Cancel), source.Token, [.. Small, "--epochs", "1000"]);
        Assert.AreEqual(BouncingBallsApp.Cancelled, exit, error);
        StringAssert.Contains(error, "training cancelled; the model as it stands is saved and scored");
        // Cancelled after the first epoch's report: its three minibatches and at most one more.
        long steps = TemporalHelmholtzMachine.Load(Temp.File("out/" + BouncingBallsApp.ModelFile)).Machine.StepsTrained;
        Assert.IsTrue(steps is >= 3 and <= 4, $"{steps} steps");
        StringAssert.Contains(text, "temporal machine:");
        Assert.IsFalse(text.Contains("without the LSTM:", StringComparison.Ordinal), "the baseline is skipped");
        Assert.DoesNotContain("training the same machine without the LSTM", text, "not even started");
        Assert.IsTrue(File.Exists(Temp.File("out/report.csv")) && File.Exists(Temp.File("out/strip.png")));
    }

    /// <summary>
    /// The curve's columns are F̂ then the rule's objective, as the epoch's line prints them: under IWAE, whose objective (the bound)
    /// is not F̂, a swap shows.
    /// </summary>
    [TestMethod]
    public void TheCurveHoldsTheFreeEnergyThenTheObjective()
    {
        var (exit, text, error) = Run([.. Small, "--epochs", "1", "--no-baseline", "--rule", "iwae"]);
        Assert.AreEqual(BouncingBallsApp.Success, exit, error);
        string[] curve = File.ReadAllLines(Temp.File("out/" + BouncingBallsApp.CurveFile));
        double[] row = PrintedCurveRow(text, curve[1]);
        Assert.IsGreaterThan(0.01, Math.Abs(row[1] - row[2]), $"F̂ and the bound differ at the printed precision: {curve[1]}");
    }

    /// <summary>A row of the curve (epoch, F̂, objective, seconds), whose objective and F̂ an epoch's line in <paramref name="text"/> printed.</summary>
    private static double[] PrintedCurveRow(string text, string line)
    {
        double[] row = line.Split(',').Select(v => double.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        StringAssert.Contains(text, $" {row[2]:F2} nats per frame (F̂ {row[1]:F2}), lr ", line);
        return row;
    }

    /// <summary>
    /// A signal while the machine without the LSTM trains leaves it out: the temporal machine is still scored (its training finished),
    /// the report has no row for the other, and the exit code is 130.
    /// </summary>
    [TestMethod]
    public void CancelledWhileTheMachineWithoutTheLstmTrainsItIsLeftOut()
    {
        using var source = new CancellationTokenSource();
        var (exit, text, error) = Run(new AtLine("training the same machine without the LSTM", source.Cancel), source.Token, [.. Small, "--epochs", "1"]);
        Assert.AreEqual(BouncingBallsApp.Cancelled, exit, error);
        Assert.AreEqual("training of the machine without the LSTM cancelled; it is left out, and the temporal machine is scored.", error.TrimEnd());
        StringAssert.Contains(text, "temporal machine:");
        Assert.IsFalse(text.Contains("without the LSTM:", StringComparison.Ordinal), "the machine without the LSTM is not scored");
        string[] report = File.ReadAllLines(Temp.File("out/" + BouncingBallsApp.ReportFile));
        Assert.HasCount(3, report, string.Join("\n", report));
        Assert.IsFalse(report.Any(line => line.StartsWith("without_lstm", StringComparison.Ordinal)), string.Join("\n", report));
    }

    /// <summary>
    /// A run whose first step diverges keeps no step: it saves and scores nothing, and the model, curve and report an earlier run
    /// left in the folder stay as they were (it saved the untrained model and a curve of no epoch over them). A run cancelled
    /// before its first step does the same.
    /// </summary>
    [TestMethod]
    public void ARunThatKeepsNoStepLeavesTheFolderAsItWas()
    {
        var (exit, _, error) = Run([.. Small, "--epochs", "1", "--no-baseline"]);
        Assert.AreEqual(BouncingBallsApp.Success, exit, error);
        var before = Directory.GetFiles(Temp.File("out")).ToDictionary(path => Path.GetFileName(path), File.ReadAllBytes);
        Assert.IsTrue(before.ContainsKey(BouncingBallsApp.ModelFile) && before.ContainsKey(BouncingBallsApp.ReportFile), string.Join(", ", before.Keys));
        void Unchanged(string when)
        {
            CollectionAssert.AreEquivalent(before.Keys.ToArray(), Directory.GetFiles(Temp.File("out")).Select(path => Path.GetFileName(path)).ToArray(), when);
            foreach (var (name, bytes) in before) CollectionAssert.AreEqual(bytes, File.ReadAllBytes(Temp.File("out/" + name)), $"{when}: {name}");
        }

        // A rate this large sends the first step's parameters to 1e30: the next segment's free energy is not finite.
        (exit, string text, error) = Run([.. Small, "--epochs", "2", "--learning-rate", "1e30"]);
        Assert.AreEqual(BouncingBallsApp.Diverged, exit, error);
        string[] lines = error.TrimEnd().Split('\n');
        Assert.HasCount(1, lines, error);
        StringAssert.StartsWith(lines[0], "error: training diverged: ");
        StringAssert.Contains(lines[0], $"No step was kept: nothing is saved or scored (the files in {Temp.File("out")} are as they were).");
        Assert.IsFalse(text.Contains("temporal machine:", StringComparison.Ordinal), text);
        Unchanged("diverged");

        // Cancelled when training starts, before its first step.
        using var source = new CancellationTokenSource();
        (exit, _, error) = Run(new AtLine("training the temporal machine", source.Cancel), source.Token, [.. Small, "--epochs", "2"]);
        Assert.AreEqual(BouncingBallsApp.Cancelled, exit, error);
        StringAssert.Contains(error, $"training cancelled before its first step: nothing is saved or scored (the files in {Temp.File("out")} are as they were).");
        Unchanged("cancelled");
    }

    [TestMethod]
    public void AnUnexpectedExceptionIsOneLineWithExitCodeOne()
    {
        var output = new AtLine("bouncing balls:", () => throw new InvalidOperationException("a bug"));
        var (exit, _, error) = Run(output, CancellationToken.None, [.. Small, "--epochs", "1"]);
        Assert.AreEqual(BouncingBallsApp.Internal, exit, error);
        StringAssert.StartsWith(error, "error: internal error (InvalidOperationException): a bug");
        Assert.IsFalse(error.Contains("   at ", StringComparison.Ordinal), "no stack trace unless HELMHOLTZ_DEBUG=1");
    }

    /// <summary>
    /// A signal while the data set is made (the generator takes no token) is acted on once it is written: exit code 130, the data set
    /// there for the next run, and nothing trained or saved.
    /// </summary>
    [TestMethod]
    public void CancelledWhileTheDataSetIsMadeItIsWrittenAndNothingTrained()
    {
        using var source = new CancellationTokenSource();
        var (exit, text, error) = Run(new AtLine("bouncing balls:", source.Cancel), source.Token, [.. Small, "--epochs", "1"]);
        Assert.AreEqual(BouncingBallsApp.Cancelled, exit, error);
        Assert.AreEqual("cancelled before training: the data set is written, nothing trained.", error.TrimEnd());
        Assert.DoesNotContain("training the temporal machine", text);
        Assert.IsTrue(File.Exists(Temp.File("data/" + BouncingBalls.TrainFile)) && File.Exists(Temp.File("data/" + BouncingBalls.TestFile)), "the data set is written");
        Assert.IsEmpty(Directory.GetFiles(Temp.File("out")), "nothing trained, nothing saved");
    }

    /// <summary>
    /// A signal while the test sequences are scored stops the scoring: exit code 130, the trained model saved (before the scoring), no
    /// strip and no report.
    /// </summary>
    [TestMethod]
    public void CancelledWhileScoringTheTrainedModelIsSavedAndTheScoringStops()
    {
        using var source = new CancellationTokenSource();
        var (exit, text, error) = Run(new AtLine("model saved to", source.Cancel), source.Token, [.. Small, "--epochs", "1", "--no-baseline"]);
        Assert.AreEqual(BouncingBallsApp.Cancelled, exit, error);
        string model = Temp.File("out/" + BouncingBallsApp.ModelFile);
        Assert.AreEqual($"scoring cancelled; the model is saved in {model}.", error.TrimEnd());
        Assert.AreEqual(3L, TemporalHelmholtzMachine.Load(model).Machine.StepsTrained, "the epoch's three minibatches");
        Assert.DoesNotContain("temporal machine:", text, "nothing scored");
        Assert.IsFalse(File.Exists(Temp.File("out/" + BouncingBallsApp.ReportFile)) || File.Exists(Temp.File("out/" + BouncingBallsApp.StripFile)), "no report, no strip");
    }

    /// <summary>
    /// Each minibatch of --batch-sequences sequences is one step per segment of --truncation frames (0: the whole sequence): 24 sequences
    /// of 12 frames are 3 minibatches of 8, 6 steps when cut in segments of 6 frames, and one minibatch of 24 (a batch as large as the
    /// training set is allowed).
    /// </summary>
    [TestMethod]
    [DataRow("8", "0", 3L)]
    [DataRow("8", "6", 6L)]
    [DataRow("24", "0", 1L)]
    public void EachSegmentOfEachMinibatchIsOneStep(string batch, string truncation, long steps)
    {
        var (exit, text, error) = Run([.. Small, "--epochs", "1", "--no-baseline", "--batch-sequences", batch, "--truncation", truncation]);
        Assert.AreEqual(BouncingBallsApp.Success, exit, error);
        Assert.AreEqual(steps, TemporalHelmholtzMachine.Load(Temp.File("out/" + BouncingBallsApp.ModelFile)).Machine.StepsTrained);
        Assert.AreEqual(truncation != "0", text.Contains($", BPTT truncated to {truncation} steps", StringComparison.Ordinal), text);
    }

    /// <summary>
    /// Under a time limit a decay that takes the rate to 0 is allowed: the run stops at the epoch whose rate is 0 and says so
    /// (--decay 1e-30: epoch 2's rate is 1e-33, epoch 3's 1e-63, 0 as a float).
    /// </summary>
    [TestMethod]
    public void UnderATimeLimitARateThatReachesZeroStopsTheRunThere()
    {
        var (exit, text, error) = Run([.. Small, "--epochs", "3", "--decay", "1e-30", "--time-limit", "60", "--no-baseline"]);
        Assert.AreEqual(BouncingBallsApp.Success, exit, error);
        StringAssert.Contains(text, "learning rate 0: stopped after epoch 2, where --decay takes the rate to 0 in single precision");
        Assert.AreEqual(6L, TemporalHelmholtzMachine.Load(Temp.File("out/" + BouncingBallsApp.ModelFile)).Machine.StepsTrained, "two epochs of three minibatches");
    }

    /// <summary>
    /// The model saved is the library's temporal machine made and trained under the options given, --seed included (both the initial
    /// weights and the training draw from it): the same parameters, bit for bit.
    /// </summary>
    [TestMethod]
    public void TheModelSavedIsTheLibrarysTrainingUnderTheSeedGiven()
    {
        var (exit, _, error) = Run([.. Small, "--epochs", "1", "--no-baseline", "--seed", "7"]);
        Assert.AreEqual(BouncingBallsApp.Success, exit, error);
        BouncingBallsDataset data = BouncingBalls.LoadOrCreate(Temp.File("data"), new BouncingBallsOptions { Frames = 12 }, 24, 4);
        var expected = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("900bs-20g"), 8, 7);
        new TemporalTrainer(LearningRules.Create("sbp"), new TemporalTrainingOptions { Epochs = 1, BatchSequences = 8, Seed = 7, LearningRate = new LearningRateSchedule(1e-3f) })
            .Train(expected, data.Train);
        var saved = TemporalHelmholtzMachine.Load(Temp.File("out/" + BouncingBallsApp.ModelFile));
        Assert.HasCount(expected.Parameters.Count, saved.Parameters);
        TestModels.AssertParameters(expected.Parameters, saved.Parameters);
    }

    /// <summary>
    /// The report's row for the machine without the LSTM is the library's: the frame machine made from --seed, trained on the training
    /// frames alone in minibatches of 100 for the epochs the temporal machine finished, its ln p at K = --k under seed + 1, and the error
    /// of predicting every frame by its mean frame (2000 draws under seed + 2). Both are computed again here on the same engine from the
    /// same draws: they agree with the row within its printing to 4 decimals (5e-5). The sample's own training and scoring of this
    /// machine were checked by no test: a seed or a minibatch size not passed on changed the row unseen.
    /// </summary>
    [TestMethod]
    public void TheMachineWithoutTheLstmIsTheLibrarysUnderTheSeedGiven()
    {
        var (exit, _, error) = Run([.. Small, "--epochs", "1", "--seed", "7"]);
        Assert.AreEqual(BouncingBallsApp.Success, exit, error);
        BouncingBallsDataset data = BouncingBalls.LoadOrCreate(Temp.File("data"), new BouncingBallsOptions { Frames = 12 }, 24, 4);
        var plain = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("900bs-20g"), 7);
        new HelmholtzTrainer(LearningRules.Create("sbp"), new TrainingOptions { Epochs = 1, BatchSize = 100, Seed = 7, LearningRate = new LearningRateSchedule(1e-3f) })
            .Train(plain, new DataMatrix(24 * 12, 900, data.Train.Values));
        SequenceSet test = data.Test;
        double logLikelihood = new ImportanceSampledLogLikelihood(5, seed: 8).EstimatePerExample(plain, new DataMatrix(4 * 12, 900, test.Values)).Average();
        float[] mean = TemporalEvaluation.MeanFrame(plain, 2000, seed: 9);
        float[] constant = new float[test.Values.Length];
        for (int i = 0; i < constant.Length; i++) constant[i] = mean[i % mean.Length];
        double predictionError = TemporalEvaluation.PredictionError(test, constant);
        string[] report = File.ReadAllLines(Temp.File("out/" + BouncingBallsApp.ReportFile));
        string[] row = report.Single(line => line.StartsWith("without_lstm,", StringComparison.Ordinal)).Split(',');
        Assert.AreEqual("1", row[1], "the epochs the temporal machine finished");
        Assert.AreEqual(logLikelihood, double.Parse(row[3], System.Globalization.CultureInfo.InvariantCulture), 5.1e-5, "the log-likelihood, printed to 4 decimals");
        Assert.AreEqual(predictionError, double.Parse(row[4], System.Globalization.CultureInfo.InvariantCulture), 5.1e-5, "the prediction error, printed to 4 decimals");
    }

    /// <summary>
    /// The strip's four rows of 12 frames (the frames of the small data set, at most 20) are test sequence 1's first frames, the model's
    /// one-step predictions of them (K = --predict-samples under seed + 2), its roll-out after the first 10 true frames (seed + 3) and a
    /// sequence generated from nothing (seed + 4): each the library's from the model saved, here computed again with the same draws.
    /// A pixel may round to the neighbouring grey level, no further. The strip's content was checked by no test (only its size).
    /// </summary>
    [TestMethod]
    public void TheStripShowsTheTrueFramesThePredictionsTheRollOutAndAGeneratedSequence()
    {
        var (exit, _, error) = Run([.. Small, "--epochs", "1", "--no-baseline"]);
        Assert.AreEqual(BouncingBallsApp.Success, exit, error);
        var saved = TemporalHelmholtzMachine.Load(Temp.File("out/" + BouncingBallsApp.ModelFile));
        SequenceSet test = BouncingBalls.LoadOrCreate(Temp.File("data"), new BouncingBallsOptions { Frames = 12 }, 24, 4).Test;
        const int shown = 12, side = 30, d = side * side, gap = 2;
        float[][] rows =
        [
            test.Sequence(0).ToArray(),
            TemporalEvaluation.PredictFrames(saved, test, 3, seed: 3)[..(shown * d)],
            TemporalEvaluation.Generate(saved, 1, shown, seed: 4, prefix: test, prefixFrames: 10).Values,
            TemporalEvaluation.Generate(saved, 1, shown, seed: 5, frameWidth: side).Values,
        ];
        var (width, height) = PngWriter.TiledSize(side, side, 4, shown, gap);
        byte[] grey = GreyLevels(File.ReadAllBytes(Temp.File("out/" + BouncingBallsApp.StripFile)), width, height);
        string[] names = ["the true frames", "the predictions", "the roll-out", "the generated sequence"];
        for (int r = 0; r < 4; r++)
            for (int t = 0; t < shown; t++)
            {
                int worst = 0;
                for (int i = 0; i < side; i++)
                    for (int j = 0; j < side; j++)
                    {
                        byte expected = (byte)(Math.Clamp(rows[r][t * d + i * side + j], 0f, 1f) * 255f + 0.5f);
                        worst = Math.Max(worst, Math.Abs(grey[(r * (side + gap) + i) * width + t * (side + gap) + j] - expected));
                    }
                Assert.IsLessThanOrEqualTo(1, worst, $"{names[r]}, frame {t + 1}: grey levels off by {worst}");
            }
    }

    /// <summary>The grey levels of an 8-bit greyscale PNG of <paramref name="width"/>×<paramref name="height"/> whose rows are all of filter 0 (as PngWriter writes).</summary>
    private static byte[] GreyLevels(byte[] png, int width, int height)
    {
        using var idat = new MemoryStream();
        for (int at = 8; at < png.Length;)
        {
            int length = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(at));
            if (System.Text.Encoding.ASCII.GetString(png, at + 4, 4) == "IDAT") idat.Write(png, at + 8, length);
            at += 12 + length;
        }
        idat.Position = 0;
        using var zlib = new System.IO.Compression.ZLibStream(idat, System.IO.Compression.CompressionMode.Decompress);
        using var raw = new MemoryStream();
        zlib.CopyTo(raw);
        byte[] rows = raw.ToArray();
        Assert.HasCount((width + 1) * height, rows, "a filter byte and the pixels of each row");
        byte[] grey = new byte[width * height];
        for (int i = 0; i < height; i++)
        {
            Assert.AreEqual(0, rows[i * (width + 1)], $"row {i}'s filter");
            rows.AsSpan(i * (width + 1) + 1, width).CopyTo(grey.AsSpan(i * width));
        }
        return grey;
    }
}
