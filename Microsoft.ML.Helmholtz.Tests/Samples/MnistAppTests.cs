using System.Globalization;
using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Evaluation;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;
using Microsoft.ML.Helmholtz.Tests.Data;
using Microsoft.ML.Helmholtz.Tests.Support;

namespace Microsoft.ML.Helmholtz.Tests.Samples;

/// <summary>
/// The MNIST sample as a user meets it: every user error is one line "error: …" and a non-zero
/// exit code, never a stack trace, and errors that need no data are found before the data loads.
/// The runs that train use the shared data (and fail, never skip, without it).
/// </summary>
[TestClass]
public sealed class MnistAppTests : TempDirectoryTests
{
    private static (int Exit, string Output, string Error) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = MnistApp.Run(args, output, error);
        return (exit, output.ToString(), error.ToString());
    }

    /// <summary>Runs with a data folder that does not exist: the error must come from what is checked before the data.</summary>
    private (int Exit, string Output, string Error) RunWithoutData(params string[] args)
        => Run([.. args, "--data", Temp.File("no-data-here"), "--out", Temp.File("out")]);

    private static void AssertOneLineError(int exit, string error, string problem, int expectedExit = MnistApp.UserError)
    {
        Assert.AreEqual(expectedExit, exit, error);
        string[] lines = error.TrimEnd().Split('\n');
        Assert.HasCount(1, lines, $"one line, no stack trace: {error}");
        StringAssert.StartsWith(lines[0], "error: ");
        StringAssert.Contains(lines[0], problem);
    }

    private static string RealData() => SharedData.MnistDirectory();

    /// <summary>The estimate a validation line prints after "images): ".</summary>
    private static string EstimateIn(string line) => line.Split("images): ")[1].Split(' ')[0];

    /// <summary>One BP-SBP epoch on 500 training images, scored on 50 test images with K = 5, into <paramref name="output"/>.</summary>
    private static (int Exit, string Output, string Error) ShortRun(string output, params string[] more)
        => Run(["--rule", "sbp", "--epochs", "1", "--train-limit", "500", "--valid-rows", "100", "--test-limit", "50", "--k", "5", "--data", RealData(), "--out", output, .. more]);

    [TestMethod]
    public void ABadOptionIsNamedWithTheUsage()
    {
        var (exit, _, error) = Run("--epochs", "ten");
        Assert.AreEqual(MnistApp.UserError, exit);
        StringAssert.StartsWith(error, "error: --epochs needs a whole number from 0 to 2147483647; got 'ten'.");
        StringAssert.Contains(error, "usage:");
        Assert.IsFalse(error.Contains("   at "), "no stack trace");
        // Too large for an int is not called negative.
        (exit, _, error) = Run("--epochs", "99999999999");
        StringAssert.StartsWith(error, "error: --epochs needs a whole number from 0 to 2147483647; got '99999999999'.");

        // An option whose value is missing does not take the next option for it: "--out --epochs 3" made a folder named
        // "--epochs" and then called '3' an unknown option.
        // The option is refused as the arguments are read, before any folder is made.
        (exit, _, error) = Run("--out", "--epochs", "3");
        Assert.AreEqual(MnistApp.UserError, exit);
        StringAssert.StartsWith(error, "error: --out needs a value, but the next argument is the option --epochs.");
        Assert.IsFalse(Directory.Exists("--epochs"), "no folder named after the option");

        // Options that would change nothing are refused: a mean-field start without the baseline, K for a one-sample rule.
        (exit, _, error) = RunWithoutData("--mean-field-start", "prior");
        Assert.AreEqual(MnistApp.UserError, exit);
        StringAssert.StartsWith(error, "error: --mean-field-start sets where the mean-field baseline starts: give --mean-field STEPS too.");
        (exit, _, error) = RunWithoutData("--train-samples", "10");
        Assert.AreEqual(MnistApp.UserError, exit);
        StringAssert.StartsWith(error, "error: --train-samples sets K of the K-sample rules (iwae, vimco, rws, rws-sleep, rws-wake-sleep); --rule sbp draws one sample per example.");

        (exit, _, error) = Run("--continue-schedule");
        Assert.AreEqual(MnistApp.UserError, exit);
        StringAssert.StartsWith(error, "error: --continue-schedule continues a resumed run: give --resume FILE too.");

        // --epochs 0 scores the model given with --resume; without one it made a random machine and saved it over the folder's
        // trained model, deleting its state and emptying its curve (a review's finding). Refused before anything is read or written.
        (exit, _, error) = RunWithoutData("--epochs", "0");
        Assert.AreEqual(MnistApp.UserError, exit);
        StringAssert.StartsWith(error, "error: --epochs 0 scores the model given with --resume FILE and trains nothing: give --resume FILE, or --epochs N (N > 0).");

        // A value that no branch takes is refused naming its option, before the data: not run as another (an --optimizer that is not
        // sgd is Adam, a --mean-field-start that is not recognition the prior's), nor left to the library to refuse naming no option.
        foreach (var (arguments, message) in new (string[], string)[]
                 {
                     (["--optimizer", "adm"], "--optimizer must be adam or sgd; got 'adm'."),
                     (["--mean-field", "3", "--mean-field-start", "Prior"], "--mean-field-start must be recognition or prior; got 'Prior'."),
                     (["--rule", "iwae", "--train-samples", "0"], "--train-samples must be at least 1 for iwae; got 0."),
                     (["--rule", "sbp-prize"], "--rule must be one of "),
                 })
        {
            (exit, _, error) = RunWithoutData(arguments);
            Assert.AreEqual(MnistApp.UserError, exit, error);
            StringAssert.StartsWith(error, "error: " + message);
        }
    }

    [TestMethod]
    [DataRow("784b--10b", "layer 1 is empty")]
    [DataRow("784b-", "is empty")]
    [DataRow("784b-99999999999b", "too large")]
    [DataRow("784b-100000b-100000b", "too large")]
    [DataRow("10b-5b", "must be 784b")]
    [DataRow("784g-20g", "the visible layer is 784g, but binarized MNIST has 784 binary pixels: it must be 784b.")]
    [DataRow("784b-0g", "--architecture 784b-0g: Layer '0g': the size must be positive.")]
    [DataRow("784b", "--architecture 784b: ")]
    public void ABadArchitectureIsNamedBeforeTheDataLoads(string architecture, string problem)
    {
        var (exit, _, error) = RunWithoutData("--architecture", architecture);
        AssertOneLineError(exit, error, problem);
        Assert.DoesNotContain("(Parameter", error);
    }

    [TestMethod]
    public void ARuleThatDoesNotFitIsNamedBeforeTheDataLoads()
    {
        var (exit, _, error) = RunWithoutData("--rule", "sbp", "--architecture", "784b-20b");
        AssertOneLineError(exit, error, "needs Gaussian hidden layers");
    }

    [TestMethod]
    public void AMissingOrDamagedModelToResumeIsNamed()
    {
        var (exit, _, error) = RunWithoutData("--resume", Temp.File("missing.hm"));
        AssertOneLineError(exit, error, "model file not found");

        string truncated = Temp.File("truncated.hm");
        using (var stream = new MemoryStream())
        {
            TestModels.Random("784b-20b", 1).Save(stream);
            File.WriteAllBytes(truncated, stream.ToArray()[..1000]);
        }
        (exit, _, error) = RunWithoutData("--resume", truncated);
        AssertOneLineError(exit, error, "truncated");

        string small = Temp.File("small.hm");
        TestModels.Random("10b-4b", 2).Save(small);
        (exit, _, error) = RunWithoutData("--resume", small);
        AssertOneLineError(exit, error, "the visible layer is 10b");

        string other = Temp.File("other.hm");
        TestModels.Random("784b-20b", 3).Save(other);
        (exit, _, error) = RunWithoutData("--resume", other, "--architecture", "784b-30b");
        AssertOneLineError(exit, error, "does not match the model");
    }

    /// <summary>
    /// A run with a time limit whose rate decays to 0 in single precision stops at that epoch, as the trainer stops at its time
    /// limit, and says so: it once said "time limit reached" after well under a second of a 100-minute limit.
    /// </summary>
    [TestMethod]
    public void ARunStoppedByARateOfZeroSaysSo()
    {
        var (exit, output, error) = ShortRun(Temp.File("out"), "--epochs", "5", "--time-limit", "100", "--decay", "1e-30");
        Assert.AreEqual(MnistApp.Success, exit, error);
        StringAssert.Contains(output, "learning rate 0: stopped after epoch 2, where --decay takes the rate to 0 in single precision");
        Assert.DoesNotContain("time limit reached", output);
    }

    private static string EpochLine(string output, int epoch)
        => output.Split('\n').Single(line => line.StartsWith($"epoch {epoch,4} ", StringComparison.Ordinal));

    [TestMethod]
    public void AnOutputThatCannotBeWrittenIsNamedBeforeTheDataLoads()
    {
        string file = Temp.File("a-file");
        File.WriteAllText(file, "");
        var (exit, _, error) = Run("--data", Temp.File("no-data-here"), "--out", file);
        AssertOneLineError(exit, error, "is a file");

        (exit, _, error) = Run("--data", Temp.File("no-data-here"), "--out", "/proc/self/runs");
        AssertOneLineError(exit, error, "cannot be written");

        // A folder where one of the run's files goes: once found only when that file was saved, after the training it lost.
        foreach (string name in new[] { "sbp.hm", "sbp.state", "sbp-curve.csv", "sbp-test-log-likelihood.csv", "sbp-best.hm", "sbp-best.state" })
        {
            string folder = Temp.File($"out-{name}");
            Directory.CreateDirectory(Path.Combine(folder, name));
            bool best = name.Contains("-best", StringComparison.Ordinal);   // written only with --valid-k
            (exit, _, error) = Run([.. best ? new[] { "--valid-k", "10" } : [], "--data", Temp.File("no-data-here"), "--out", folder]);
            AssertOneLineError(exit, error, $"{name} there is a folder, where the run writes a file");
            if (!best) continue;
            // Without --valid-k the best model is not written: a folder of its name is no obstacle (the run goes on to the data, missing here).
            (exit, _, error) = Run("--data", Temp.File("no-data-here"), "--out", folder);
            AssertOneLineError(exit, error, "does not exist");
        }
        // Scoring a model writes its scores only: a folder named as the run's model does not stop it.
        string scoring = Temp.File("out-scoring");
        Directory.CreateDirectory(Path.Combine(scoring, "model-test-log-likelihood.csv"));
        string model = Temp.File("model.hm");
        HelmholtzMachine.Create(HelmholtzArchitecture.Parse("784b-10b-5b"), 1).Save(model);
        (exit, _, error) = Run("--resume", model, "--epochs", "0", "--data", Temp.File("no-data-here"), "--out", scoring);
        AssertOneLineError(exit, error, "model-test-log-likelihood.csv there is a folder");
    }

    [TestMethod]
    public void MissingOrDamagedDataIsNamed()
    {
        var (exit, _, error) = RunWithoutData();
        AssertOneLineError(exit, error, "does not exist");

        string file = Temp.File("data-file");
        File.WriteAllText(file, "");
        (exit, _, error) = Run("--data", file, "--out", Temp.File("out"));
        AssertOneLineError(exit, error, "is a file");

        string damaged = Temp.File("damaged");
        Directory.CreateDirectory(damaged);
        foreach (string name in new[] { BinarizedMnist.TrainFile, BinarizedMnist.ValidFile, BinarizedMnist.TestFile })
        {
            byte[] real = File.ReadAllBytes(Path.Combine(RealData(), name));
            File.WriteAllBytes(Path.Combine(damaged, name), real[..(real.Length / 3)]);
        }
        (exit, _, error) = Run("--data", damaged, "--out", Temp.File("out"));
        AssertOneLineError(exit, error, damaged);
    }

    [TestMethod]
    [DataRow("iwae", "3", "784b-200g-50g")]
    [DataRow("vimco", "2", "784b-200b-50b")]
    public void TheKSampleRulesTrainWithTheirKAndReportTheirBound(string rule, string k, string architecture)
    {
        string output = Temp.File("out");
        var (exit, text, error) = Run("--rule", rule, "--train-samples", k, "--epochs", "1", "--train-limit", "300", "--valid-rows", "100", "--test-limit", "20",
            "--k", "5", "--data", RealData(), "--out", output);
        Assert.AreEqual(MnistApp.Success, exit, error);
        StringAssert.Contains(text, $"rule {rule}-{k} (minimises the −L_{k}");
        StringAssert.Contains(text, $"architecture {architecture}");
        StringAssert.Contains(text, "train objective");
        Assert.AreEqual(3L, HelmholtzMachine.Load(Path.Combine(output, $"{rule}-{k}.hm")).StepsTrained);
        string[] curve = File.ReadAllLines(Path.Combine(output, $"{rule}-{k}-curve.csv"));
        int objective = Array.IndexOf(curve[0].Split(','), "train_objective");
        Assert.IsGreaterThan(0, objective, curve[0]);
        // The K-sample bound is tighter than the one-sample free energy: −L_K ≤ F̂ on average.
        string[] row = curve[1].Split(',');
        Assert.IsTrue(double.Parse(row[objective], CultureInfo.InvariantCulture) < double.Parse(row[1], CultureInfo.InvariantCulture), curve[1]);

        // An argument error: named on the first line, then the usage.
        (exit, _, error) = Run("--rule", "vimco", "--train-samples", "1", "--data", RealData(), "--out", output);
        Assert.AreEqual(MnistApp.UserError, exit, error);
        StringAssert.StartsWith(error, "error: --train-samples must be at least 2 for vimco");
    }

    [TestMethod]
    public void TheMeanFieldBaselineScoresAfterTrainingAndRefusesBinaryLayers()
    {
        string output = Temp.File("out");
        var (exit, text, error) = Run("--rule", "sbp", "--epochs", "1", "--train-limit", "300", "--valid-rows", "100", "--test-limit", "20",
            "--k", "5", "--mean-field", "3", "--data", RealData(), "--out", output);
        Assert.AreEqual(MnistApp.Success, exit, error);
        StringAssert.Contains(text, "test log-likelihood (mean-field q per image, 3 Adam steps from the recognition network's marginals, K = 5)");
        // The same model scored with q started from the prior, and with the naive estimate too: other numbers than the recognition start's.
        (exit, string prior, error) = Run("--resume", Path.Combine(output, "sbp.hm"), "--epochs", "0", "--test-limit", "20", "--k", "5", "--mean-field", "3",
            "--mean-field-start", "prior", "--naive", "1", "--data", RealData(), "--out", output);
        Assert.AreEqual(MnistApp.Success, exit, error);
        static string MeanField(string output) => output.Split('\n').Single(l => l.StartsWith("test log-likelihood (mean-field", StringComparison.Ordinal)).Split("): ")[1].Split(' ')[0];
        StringAssert.Contains(prior, "test log-likelihood (mean-field q per image, 3 Adam steps from N(0, I), K = 5)");
        Assert.AreNotEqual(MeanField(text), MeanField(prior), "another start, another estimate");
        StringAssert.Contains(prior, "test log-likelihood (naive, K = 1 prior samples): ");

        (exit, _, error) = Run("--rule", "wake-sleep", "--mean-field", "3", "--data", Temp.File("no-data-here"), "--out", output);
        AssertOneLineError(exit, error, "--mean-field needs Gaussian hidden layers");
    }

    [TestMethod]
    public void TheValidationEstimateAtEachCheckpointKeepsTheBestModel()
    {
        string output = Temp.File("out");
        string[] common = ["--rule", "sbp", "--train-limit", "300", "--valid-rows", "40", "--test-limit", "20", "--k", "5", "--valid-k", "4",
            "--checkpoint-every", "1", "--data", RealData(), "--out", output];
        var (exit, text, error) = Run([.. common, "--epochs", "3", "--lr", "0.003"]);
        Assert.AreEqual(MnistApp.Success, exit, error);
        Assert.AreEqual(3, text.Split('\n').Count(l => l.Contains("validation log-likelihood of epoch ")), text);
        StringAssert.Contains(text, "(K = 4, 40 images)");

        // The curve holds each checkpoint's estimate; the best file is the model of the epoch that scored highest.
        string[] curve = File.ReadAllLines(Path.Combine(output, "sbp-curve.csv"));
        int column = Array.IndexOf(curve[0].Split(','), "validation_log_likelihood");
        Assert.IsGreaterThan(0, column, curve[0]);
        double[] estimates = curve.Skip(1).Select(line => double.Parse(line.Split(',')[column], CultureInfo.InvariantCulture)).ToArray();
        Assert.HasCount(3, estimates);
        Assert.IsTrue(estimates.All(v => double.IsFinite(v) && v < 0), string.Join(" ", estimates));
        int bestEpoch = Array.IndexOf(estimates, estimates.Max()) + 1;
        Assert.AreEqual(3L * bestEpoch, HelmholtzMachine.Load(Path.Combine(output, "sbp-best.hm")).StepsTrained, string.Join(" ", estimates));
        StringAssert.Contains(text, $"validation log-likelihood of epoch {bestEpoch} ");
        Assert.AreEqual(3L * 3, HelmholtzMachine.Load(Path.Combine(output, "sbp.hm")).StepsTrained, "the last model is kept as well");
        // The estimate is of the validation split's rows: the last model scored on the same 40 rows of that split with the same draws
        // (the final score's estimator has the seed --seed + 1, the validation's --seed + 5) gives the same number.
        (exit, string scored, error) = Run("--resume", Path.Combine(output, "sbp.hm"), "--epochs", "0", "--score", "valid", "--test-limit", "40", "--k", "4",
            "--seed", "5", "--data", RealData(), "--out", Temp.File("scored"));
        Assert.AreEqual(MnistApp.Success, exit, error);
        StringAssert.Contains(scored, $"valid log-likelihood (importance sampling, K = 4): {estimates[2].ToString("F2", CultureInfo.InvariantCulture)} nats over 40 images");

        // Resumed in its own folder, the best model already there is scored first, then the model the run starts
        // from: a model of this run replaces the best file only by beating both.
        string bestFile = Path.Combine(output, "sbp-best.hm");
        string resumeFrom = Temp.File("start.hm");
        File.Copy(Path.Combine(output, "sbp.hm"), resumeFrom);
        (exit, text, error) = Run([.. common, "--epochs", "2", "--lr", "0.003", "--resume", resumeFrom]);
        Assert.AreEqual(MnistApp.Success, exit, error);
        string earlierLine = text.Split('\n').Single(l => l.Contains($"validation log-likelihood of the best model already in {bestFile} (K = 4, 40 images): "));
        Assert.AreEqual(estimates.Max().ToString("F2", CultureInfo.InvariantCulture), EstimateIn(earlierLine), "the same model and the same draws: the same estimate");
        // The model resumed from is the third epoch's, which scored no higher than the best: it does not replace it.
        string startLine = text.Split('\n').Single(l => l.Contains($"validation log-likelihood of the model resumed from {resumeFrom} (K = 4, 40 images): "));
        StringAssert.Contains(startLine, "; the best is " + EstimateIn(earlierLine));
        curve = File.ReadAllLines(Path.Combine(output, "sbp-curve.csv"));
        double[] resumed = [estimates.Max(), .. curve.Skip(1).Select(line => double.Parse(line.Split(',')[column], CultureInfo.InvariantCulture))];
        Assert.HasCount(3, resumed);
        long[] steps = [3L * bestEpoch, 12, 15];
        int best = Array.IndexOf(resumed, resumed.Max());   // the first of equal estimates is kept
        Assert.AreEqual(steps[best], HelmholtzMachine.Load(bestFile).StepsTrained, string.Join(" ", resumed));

        // A worse model resumed in the folder (an untrained one, barely moved) leaves the best file as it was.
        byte[] bestBytes = File.ReadAllBytes(bestFile);
        string untrained = Temp.File("untrained.hm");
        HelmholtzMachine.Create(HelmholtzMachine.Load(bestFile).Architecture, seed: 2).Save(untrained);
        (exit, text, error) = Run([.. common, "--epochs", "1", "--lr", "1e-9", "--resume", untrained]);
        Assert.AreEqual(MnistApp.Success, exit, error);
        double bar = double.Parse(EstimateIn(text.Split('\n').Single(l => l.Contains("validation log-likelihood of the best model already in "))), CultureInfo.InvariantCulture);
        double start = double.Parse(EstimateIn(text.Split('\n').Single(l => l.Contains($"validation log-likelihood of the model resumed from {untrained} "))), CultureInfo.InvariantCulture);
        double epoch = double.Parse(File.ReadAllLines(Path.Combine(output, "sbp-curve.csv"))[1].Split(',')[column], CultureInfo.InvariantCulture);
        Assert.IsTrue(start < bar && epoch < bar, $"the untrained model must score below the best: {start}, {epoch} against {bar}");
        CollectionAssert.AreEqual(bestBytes, File.ReadAllBytes(bestFile), "the earlier best model is kept");
        Assert.AreEqual(3L, HelmholtzMachine.Load(Path.Combine(output, "sbp.hm")).StepsTrained, "the run's own last model is saved as ever");

        // A best model of another architecture in the folder is another model, not an earlier leg of this run: it is no bar, and the
        // model resumed from becomes the best.
        string small = Temp.File("small.hm");
        HelmholtzMachine.Create(HelmholtzArchitecture.Parse("784b-20g"), seed: 2).Save(small);
        (exit, text, error) = Run([.. common, "--epochs", "1", "--resume", small]);
        Assert.AreEqual(MnistApp.Success, exit, error);
        Assert.DoesNotContain("the best model already in", text);
        StringAssert.Contains(text.Split('\n').Single(l => l.Contains($"validation log-likelihood of the model resumed from {small} ")), "the best so far");

        // Without checkpoints there is nothing to estimate at.
        (exit, _, error) = Run("--valid-k", "10", "--checkpoint-every", "0");
        Assert.AreEqual(MnistApp.UserError, exit);
        StringAssert.StartsWith(error, "error: --valid-k estimates at each checkpoint: give --checkpoint-every N (N > 0) too.");
    }

    [TestMethod]
    public void AModelWithoutStateThatBecomesTheBestTakesNoOtherModelsState()
    {
        // The folder's best model so far: one barely trained (3 steps at a rate of 1e-9), with its training state beside it.
        string output = Temp.File("out");
        string[] common = ["--rule", "sbp", "--train-limit", "300", "--valid-rows", "40", "--test-limit", "20", "--k", "5", "--data", RealData()];
        var (exit, _, error) = Run([.. common, "--out", output, "--epochs", "1", "--lr", "1e-9", "--valid-k", "4", "--checkpoint-every", "1"]);
        Assert.AreEqual(MnistApp.Success, exit, error);
        string bestFile = Path.Combine(output, "sbp-best.hm");
        string bestState = Path.Combine(output, "sbp-best.state");
        Assert.IsTrue(File.Exists(bestState), "the first run's best model is saved with its state");

        // A better model (9 steps at 0.003) with no state beside it, resumed in that folder: it is estimated first and beats
        // the best, so it becomes the best file; the state there is of another model and must go with the file it belonged to.
        string elsewhere = Temp.File("elsewhere");
        (exit, _, error) = Run([.. common, "--out", elsewhere, "--epochs", "3", "--lr", "0.003"]);
        Assert.AreEqual(MnistApp.Success, exit, error);
        string stateless = Temp.File("stateless.hm");
        File.Copy(Path.Combine(elsewhere, "sbp.hm"), stateless);
        // No checkpoint in this run's one epoch (the 10th is the first): the model resumed from is the last to be estimated.
        (exit, string text, error) = Run([.. common, "--out", output, "--epochs", "1", "--lr", "0.003", "--valid-k", "4", "--checkpoint-every", "10", "--resume", stateless]);
        Assert.AreEqual(MnistApp.Success, exit, error);
        StringAssert.Contains(text, "no training state beside it");
        StringAssert.Contains(text.Split('\n').Single(l => l.Contains($"validation log-likelihood of the model resumed from {stateless} ")), "the best so far");
        Assert.AreEqual(9L, HelmholtzMachine.Load(bestFile).StepsTrained);
        Assert.IsFalse(File.Exists(bestState), "the earlier best model's state is not left beside the new best model");

        // So the best model resumes, its optimiser starting afresh, instead of failing on a state of another checkpoint.
        (exit, text, error) = Run([.. common, "--out", Temp.File("again"), "--epochs", "1", "--resume", bestFile]);
        Assert.AreEqual(MnistApp.Success, exit, error);
        StringAssert.Contains(text, "no training state beside it");
    }

    [TestMethod]
    public void AShortRunTrainsSavesAndScores()
    {
        string output = Temp.File("out");
        var (exit, text, error) = ShortRun(output);
        Assert.AreEqual(MnistApp.Success, exit, error);
        StringAssert.Contains(text, "test log-likelihood (importance sampling, K = 5)");
        StringAssert.Contains(text, "Monte Carlo standard error");
        var model = HelmholtzMachine.Load(Path.Combine(output, "sbp.hm"));
        Assert.AreEqual(5L, model.StepsTrained, "500 images in minibatches of 100");
        Assert.IsTrue(File.Exists(Path.Combine(output, "sbp-curve.csv")));
        Assert.DoesNotContain("stopped after epoch", text, "a run that trained all its epochs did not stop early");

        // Resumed, it continues from its steps.
        (exit, text, error) = ShortRun(output, "--resume", Path.Combine(output, "sbp.hm"));
        Assert.AreEqual(MnistApp.Success, exit, error);
        StringAssert.Contains(text, "resumed from");
        Assert.AreEqual(10L, HelmholtzMachine.Load(Path.Combine(output, "sbp.hm")).StepsTrained);
        StringAssert.Contains(EpochLine(text, 2), "lr 0.001 ", "the rate starts again without --continue-schedule");

        // With --continue-schedule, the rate goes on from the model's two epochs: 0.001 · 0.5².
        (exit, text, error) = ShortRun(output, "--resume", Path.Combine(output, "sbp.hm"), "--decay", "0.5", "--continue-schedule");
        Assert.AreEqual(MnistApp.Success, exit, error);
        StringAssert.Contains(text, "the schedule continuing at its epoch 3 (lr 0.00025)");
        StringAssert.Contains(EpochLine(text, 3), "lr 0.00025 ");
        Assert.AreEqual(15L, HelmholtzMachine.Load(Path.Combine(output, "sbp.hm")).StepsTrained);
    }

    /// <summary>A run of <paramref name="first"/> epochs resumed for <paramref name="more"/>, validated at each checkpoint: the folder, and the second run's console.</summary>
    private (string Output, string Text) TwoLegs(int first, int more, int checkpointEvery)
    {
        static string N(int value) => value.ToString(CultureInfo.InvariantCulture);
        string output = Temp.File("out");
        var (exit, _, error) = ShortRun(output, "--epochs", N(first));
        Assert.AreEqual(MnistApp.Success, exit, error);
        (exit, string text, error) = ShortRun(output, "--epochs", N(more), "--resume", Path.Combine(output, "sbp.hm"), "--valid-k", "2", "--checkpoint-every", N(checkpointEvery));
        Assert.AreEqual(MnistApp.Success, exit, error);
        return (output, text);
    }

    [TestMethod]
    public void AResumedRunNumbersItsConsoleEpochsAsItsCurve()
    {
        var (output, text) = TwoLegs(2, 2, checkpointEvery: 1);
        string[] curveEpochs = File.ReadAllLines(Path.Combine(output, "sbp-curve.csv")).Skip(1).Select(line => line.Split(',')[0]).ToArray();
        CollectionAssert.AreEqual(new[] { "1", "2", "3", "4" }, curveEpochs, "the curve numbers the resumed run's epochs on from the model's two");
        string[] consoleEpochs = text.Split('\n').Where(line => line.StartsWith("epoch ", StringComparison.Ordinal))
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]).ToArray();
        CollectionAssert.AreEqual(new[] { "3", "4" }, consoleEpochs, text);
        StringAssert.Contains(text, "validation log-likelihood of epoch 3 ");
        StringAssert.Contains(text, "validation log-likelihood of epoch 4 ");
    }

    /// <summary>A continued schedule whose rate reaches 0 is named by the sample's options (it named LearningRateSchedule's properties).</summary>
    [TestMethod]
    public void AContinuedScheduleThatReachesZeroIsNamedByTheOptions()
    {
        string output = Temp.File("out");
        var (exit, _, error) = ShortRun(output, "--decay", "1e-43");
        Assert.AreEqual(MnistApp.Success, exit, error);
        (exit, _, error) = ShortRun(output, "--decay", "1e-43", "--resume", Path.Combine(output, "sbp.hm"), "--continue-schedule");
        AssertOneLineError(exit, error, "--decay 1E-43 takes --lr 0.001 to 0 in single precision by epoch 2 of the continued schedule (the model has trained 1 epochs)");
        Assert.DoesNotContain("LearningRateSchedule", error);
    }

    /// <summary>A resumed run checkpoints at the epochs an unbroken one does (it once counted its own epochs: 3 after a leg of 1, not 2 and 4).</summary>
    [TestMethod]
    public void AResumedRunCheckpointsAtTheCurvesEpochs()
    {
        var (_, text) = TwoLegs(1, 3, checkpointEvery: 2);
        string[] estimated = text.Split('\n').Where(line => line.Contains("validation log-likelihood of epoch ", StringComparison.Ordinal))
            .Select(line => line.Split("of epoch ")[1].Split(' ')[0]).ToArray();
        CollectionAssert.AreEqual(new[] { "2", "4" }, estimated, text);
    }

    [TestMethod]
    public void ABatchOfKSamplesTheMachineCannotHoldIsRefusedBeforeTheDataLoads()
    {
        // 1,000 images × 5,000 samples = 5,000,000 rows of up to 784 values: more than one array holds. The data folder does not exist.
        var (exit, _, error) = RunWithoutData("--rule", "iwae", "--train-samples", "5000", "--batch", "1000");
        AssertOneLineError(exit, error, "--batch 1000 with --train-samples 5000: iwae's minibatches of 1,000 images × 5,000 samples = 5,000,000 rows do not fit the buffers of 784b-200g-50g");
        StringAssert.Contains(error, "give a smaller --batch or fewer --train-samples.");
        // The trainer's minibatch is the whole training part when --train-limit leaves fewer images than --batch.
        (exit, _, error) = RunWithoutData("--rule", "vimco", "--train-samples", "5000", "--batch", "5000", "--train-limit", "2000");
        AssertOneLineError(exit, error, "--batch 5000 with --train-samples 5000: vimco's minibatches of 2,000 images × 5,000 samples = 10,000,000 rows do not fit");
    }

    [TestMethod]
    public void ARunResumedWithItsTrainingStateGoesOnAsIfNeverStopped()
    {
        string[] common = ["--rule", "nvil", "--decay", "0.5", "--checkpoint-every", "1"];
        string whole = Temp.File("whole"), split = Temp.File("split");
        var (exit, _, error) = ShortRun(whole, [.. common, "--epochs", "3"]);
        Assert.AreEqual(MnistApp.Success, exit, error);
        (exit, _, error) = ShortRun(split, [.. common, "--epochs", "2"]);
        Assert.AreEqual(MnistApp.Success, exit, error);
        string model = Path.Combine(split, "nvil.hm");
        Assert.IsTrue(File.Exists(Path.Combine(split, "nvil.state")), "the state is saved beside the model");
        string ten = Path.Combine(split, "ten.hm");
        File.Copy(model, ten);
        string text;
        (exit, text, error) = ShortRun(split, [.. common, "--epochs", "1", "--resume", model, "--continue-schedule"]);
        Assert.AreEqual(MnistApp.Success, exit, error);
        StringAssert.Contains(text, $"after 10 steps, with its training state ({Path.Combine(split, "nvil.state")})");
        CollectionAssert.AreEqual(File.ReadAllBytes(Path.Combine(whole, "nvil.hm")), File.ReadAllBytes(model), "the split run's model is the whole run's");
        CollectionAssert.AreEqual(File.ReadAllBytes(Path.Combine(whole, "nvil.state")), File.ReadAllBytes(Path.Combine(split, "nvil.state")));

        // Another rule leaves the state aside; a state from another point is refused, naming both files.
        (exit, text, error) = ShortRun(Temp.File("other"), ["--rule", "wake-sleep", "--architecture", "784b-200b-50b", "--resume", model]);
        Assert.AreEqual(MnistApp.Success, exit, error);
        StringAssert.Contains(text, "its training state left aside (a run of nvil (baseline decay 0.9, input baseline of 100 hidden units, variance normalised with decay 0.9, local signals) " +
            "with adam (β1 0.9, β2 0.999, ε 1E-08, weight decay 0): the optimiser starts afresh)");
        File.Copy(Path.Combine(split, "nvil.state"), Path.Combine(split, "ten.state"));
        (exit, _, error) = ShortRun(split, [.. common, "--resume", ten]);
        AssertOneLineError(exit, error, $"{Path.Combine(split, "ten.state")} is the training state after 15 steps, but the model in {ten} has trained 10");
        // A state of another machine at the same step count (a run of another seed) is refused too.
        string seeded = Temp.File("seeded");
        (exit, _, error) = ShortRun(seeded, [.. common, "--epochs", "3", "--seed", "9"]);
        Assert.AreEqual(MnistApp.Success, exit, error);
        string other = Path.Combine(split, "other.hm");
        File.Copy(Path.Combine(seeded, "nvil.hm"), other);
        File.Copy(Path.Combine(split, "nvil.state"), Path.Combine(split, "other.state"));
        (exit, _, error) = ShortRun(split, [.. common, "--resume", other]);
        AssertOneLineError(exit, error, $"{Path.Combine(split, "other.state")} was recorded on another machine than the model in {other}, at the same step count (15)");
    }

    [TestMethod]
    public void CenteredInputsAreSaidAndChangeTheSteps()
        => AnOptionIsSaidAndChangesTheSteps(["--center-inputs"], ", centred inputs", "centred inputs",
            "five centred steps move the weights that read the pixels otherwise");

    [TestMethod]
    public void AdamsBeta2IsSaidAndChangesTheSteps()
        => AnOptionIsSaidAndChangesTheSteps(["--adam-beta2", "0.99999"], "adam lr 0.001 × 1/epoch (β2 0.99999), seed 1", "β2",
            "after its first step, Adam's second-moment average decays at another rate, so the steps differ");

    [TestMethod]
    public void WeightDecayIsSaidAndChangesTheSteps()
        => AnOptionIsSaidAndChangesTheSteps(["--weight-decay", "0.5"], "adam lr 0.001 × 1/epoch, weight decay 0.5, seed 1", "weight decay",
            "each step shrinks the weight matrices by 1 − lr·λ as well");

    [TestMethod]
    [DataRow(new[] { "--optimizer", "sgd", "--weight-decay", "0.1" }, "--weight-decay is Adam's (decoupled); it has no meaning with --optimizer sgd.")]
    [DataRow(new[] { "--lr", "0.5", "--weight-decay", "2" }, "--weight-decay 2 with --lr 0.5 would shrink the weights by 1 − lr·λ ≤ 0 at each step: lr·λ must be under 1.")]
    [DataRow(new[] { "--lr", "1", "--weight-decay", "0.999999999" }, "--weight-decay 0.999999999 with --lr 1 would shrink the weights by 1 − lr·λ ≤ 0 at each step: lr·λ must be under 1.")]
    [DataRow(new[] { "--weight-decay", "-1" }, "--weight-decay needs a finite number, 0 or more; got '-1'.")]
    public void AWeightDecayAdamCannotUseIsRefused(string[] arguments, string message)
    {
        var (exit, _, error) = Run(arguments);
        Assert.AreEqual(MnistApp.UserError, exit);
        StringAssert.StartsWith(error, "error: " + message);
    }

    /// <summary>A short run with <paramref name="option"/> says <paramref name="said"/> in its first line (a run without it
    /// says nothing of <paramref name="unsaid"/>) and ends, after as many steps, with other weights on the pixels.</summary>
    private void AnOptionIsSaidAndChangesTheSteps(string[] option, string said, string unsaid, string why)
    {
        string plainOutput = Temp.File("plain"), optionOutput = Temp.File("option");
        var (exit, text, error) = ShortRun(optionOutput, option);
        Assert.AreEqual(MnistApp.Success, exit, error);
        StringAssert.Contains(text, said);
        (exit, text, error) = ShortRun(plainOutput);
        Assert.AreEqual(MnistApp.Success, exit, error);
        Assert.IsFalse(text.Contains(unsaid), text);
        var withOption = HelmholtzMachine.Load(Path.Combine(optionOutput, "sbp.hm"));
        var plain = HelmholtzMachine.Load(Path.Combine(plainOutput, "sbp.hm"));
        Assert.AreEqual(plain.StepsTrained, withOption.StepsTrained);
        CollectionAssert.AreNotEqual(plain.Recognition.Layer(1).Parameters[0].Value, withOption.Recognition.Layer(1).Parameters[0].Value, why);
    }

    [TestMethod]
    [DataRow("1", "--adam-beta2 must be in [0, 1); got 1.")]
    [DataRow("0.9999999999", "--adam-beta2 0.9999999999 is 1 in single precision, in which Adam uses it: it must be at most 0.99999994.")]
    [DataRow("1e-50", "--adam-beta2 1E-50 is 0 in single precision, in which Adam uses it: give 0 or at least 1E-45.")]
    [DataRow("-0.5", "--adam-beta2 needs a finite number, 0 or more; got '-0.5'.")]
    [DataRow("1e400", "--adam-beta2 needs a finite number, 0 or more; got '1e400'.")]
    public void ABeta2OutsideTheUnitIntervalAsAFloatIsRefused(string value, string message)
    {
        var (exit, _, error) = RunWithoutData("--adam-beta2", value);
        Assert.AreEqual(MnistApp.UserError, exit);
        StringAssert.StartsWith(error, "error: " + message);

        // Adam takes 0 (no average: each step divides by the last gradient's size), so the sample does too.
        (exit, _, error) = RunWithoutData("--adam-beta2", "0");
        AssertOneLineError(exit, error, "does not exist");
    }

    [TestMethod]
    [DataRow(new[] { "--time-limit", "1e300" }, "--time-limit must be at most 1.54E+10 minutes; got 1E+300.")]
    [DataRow(new[] { "--time-limit", "1e-300" }, "--time-limit 1E-300 minutes is no time at all")]
    [DataRow(new[] { "--out", "" }, "--out needs a value; got an empty string.")]
    [DataRow(new[] { "--data", "" }, "--data needs a value; got an empty string.")]
    [DataRow(new[] { "--resume", "" }, "--resume needs a value; got an empty string.")]
    [DataRow(new[] { "--compare", "" }, "--compare needs a value; got an empty string.")]
    [DataRow(new[] { "--architecture", "" }, "--architecture needs a value; got an empty string.")]
    [DataRow(new[] { "--min-lr", "1" }, "--min-lr 1 exceeds --lr 0.001.")]
    [DataRow(new[] { "--min-lr", "1e-50" }, "--min-lr 1E-50 is 0 in single precision")]
    [DataRow(new[] { "--decay", "1.5" }, "--decay must be in (0, 1]; got 1.5.")]
    [DataRow(new[] { "--decay", "0" }, "--decay must be in (0, 1]; got 0.")]
    [DataRow(new[] { "--lr", "0" }, "--lr must be positive; got 0.")]
    [DataRow(new[] { "--batch", "0" }, "--batch and --k must be positive.")]
    [DataRow(new[] { "--epochs" }, "--epochs needs a value.")]
    [DataRow(new[] { "--lr", "1e-50" }, "--lr 1E-50 is 0 in single precision")]
    [DataRow(new[] { "--decay", "0.5", "--epochs", "200" }, "--decay 0.5 takes --lr 0.001 to 0 in single precision by epoch 200")]
    public void AnOptionTheLibraryWouldRefuseIsNamedBeforeTheDataLoads(string[] arguments, string message)
    {
        // The arguments come last, so that an empty --data or --out is the one the run gets.
        var (exit, _, error) = Run(["--data", Temp.File("no-data-here"), "--out", Temp.File("out"), .. arguments]);
        Assert.AreEqual(MnistApp.UserError, exit, error);
        StringAssert.StartsWith(error, "error: " + message);
    }

    [TestMethod]
    public void TheUsageListsTheOptionsTheParserTakesAndWhatTheDefaultsDo()
    {
        var (exit, usage, _) = Run("--help");
        Assert.AreEqual(MnistApp.Success, exit);
        string[] parsed = ["--rule", "--architecture", "--epochs", "--batch", "--lr", "--decay", "--min-lr", "--optimizer", "--adam-beta2", "--weight-decay",
            "--seed", "--k", "--train-samples", "--naive", "--mean-field", "--mean-field-start", "--train-limit", "--test-limit", "--valid-rows", "--valid-k",
            "--checkpoint-every", "--data", "--out", "--resume", "--continue-schedule", "--center-inputs", "--score", "--compare", "--time-limit", "--help", "-h"];
        foreach (string option in parsed)
            Assert.IsTrue(System.Text.RegularExpressions.Regex.IsMatch(usage, $@"(^|[\s,]){option}([\s,]|$)", System.Text.RegularExpressions.RegexOptions.Multiline), $"{option} is not in the usage");
        foreach (string option in System.Text.RegularExpressions.Regex.Matches(usage, @"--[a-z0-9-]+").Select(m => m.Value).Distinct())
        {
            // Each option the usage names is one the parser takes (the second argument stops it before the data, whatever the option).
            var (_, _, error) = RunWithoutData(option, "x");
            Assert.DoesNotContain($"unknown option {option}.", error, $"the usage names {option}, which the parser does not take");
        }
        // What the code does: --valid-rows 0 takes all the rows, as the other limits do; the environment variable comes before the search.
        StringAssert.Contains(usage, "--valid-rows N (all, all, 1000; 0: all)");
        StringAssert.Contains(usage, "(default: $HELMHOLTZ_MNIST_DIR when it is set, else the first");
    }

    [TestMethod]
    public void Beta2WithSgdIsRefused()
    {
        var (exit, _, error) = Run("--optimizer", "sgd", "--adam-beta2", "0.99");
        Assert.AreEqual(MnistApp.UserError, exit);
        StringAssert.StartsWith(error, "error: --adam-beta2 sets Adam's decay; it has no meaning with --optimizer sgd.");
    }

    [TestMethod]
    public void EachImagesEstimateIsKeptAndTwoRunsCompareImageByImage()
    {
        string output = Temp.File("out");
        var (exit, text, error) = ShortRun(output);
        Assert.AreEqual(MnistApp.Success, exit, error);
        string scores = Path.Combine(output, "sbp-test-log-likelihood.csv");
        StringAssert.Contains(text, $"the estimate for each image in {scores}");
        string[] lines = File.ReadAllLines(scores);
        Assert.AreEqual("split,row,log_likelihood", lines[0]);
        Assert.HasCount(51, lines);
        var records = lines.Skip(1).Select(l => l.Split(',')).ToArray();
        Assert.IsTrue(records.All(r => r[0] == "test"));
        // The 50 images are taken evenly spaced through the 10,000 of the split (it is ordered by digit).
        CollectionAssert.AreEqual(Enumerable.Range(0, 50).Select(i => (i * 200).ToString(CultureInfo.InvariantCulture)).ToArray(), records.Select(r => r[1]).ToArray());
        double mean = records.Average(r => double.Parse(r[2], CultureInfo.InvariantCulture));
        StringAssert.Contains(text, $"test log-likelihood (importance sampling, K = 5): {mean.ToString("F2", CultureInfo.InvariantCulture)} nats over 50 images");

        // The same model scored again with the same seed gives the same estimates: a paired difference of exactly 0.
        string again = Temp.File("again");
        string model = Path.Combine(output, "sbp.hm");
        (exit, text, error) = ShortRun(again, "--resume", model, "--epochs", "0", "--compare", scores);
        Assert.AreEqual(MnistApp.Success, exit, error);
        StringAssert.Contains(text, $"paired difference, this model − {scores}: 0.00 ± 0.00 nats (50 examples");
        // Trained on, it differs from where it started by a paired difference whose error is below either mean's own.
        (exit, text, error) = ShortRun(again, "--resume", model, "--epochs", "2", "--compare", scores);
        Assert.AreEqual(MnistApp.Success, exit, error);
        string paired = text.Split('\n').Single(l => l.StartsWith("paired difference", StringComparison.Ordinal));
        string overImages = text.Split('\n').Single(l => l.StartsWith("test log-likelihood (importance", StringComparison.Ordinal));
        double pairedError = double.Parse(paired.Split(" ± ")[1].Split(' ')[0], CultureInfo.InvariantCulture);
        double meanError = double.Parse(overImages.Split("standard error over images ")[1].Split(',')[0], CultureInfo.InvariantCulture);
        Assert.IsLessThan(meanError, pairedError, $"{paired} / {overImages}");

        // Other images than the file's, named after the data loads; a file that is not one, before.
        (exit, _, error) = ShortRun(again, "--resume", model, "--epochs", "0", "--test-limit", "40", "--compare", scores);
        AssertOneLineError(exit, error, "holds the estimates of 50 images of the test split, but this run scores 40 images of the test split");
        (exit, _, error) = ShortRun(again, "--resume", model, "--epochs", "0", "--score", "valid", "--compare", scores);
        AssertOneLineError(exit, error, "but this run scores 50 images of the valid split");
        // The training split can be scored too (how far a model overfits): its rows are taken evenly spaced through the 50,000.
        string trained = Temp.File("trained");
        (exit, text, error) = ShortRun(trained, "--resume", model, "--epochs", "0", "--score", "train");
        Assert.AreEqual(MnistApp.Success, exit, error);
        StringAssert.Contains(text, "train log-likelihood (importance sampling, K = 5): ");
        string[] trainLines = File.ReadAllLines(Path.Combine(trained, "sbp-train-log-likelihood.csv"));
        CollectionAssert.AreEqual(Enumerable.Range(0, 50).Select(i => $"train,{i * 1000},").ToArray(),
            trainLines.Skip(1).Select(l => l[..(l.LastIndexOf(',') + 1)]).ToArray());
        // The validation split is scored from its own images: at the test scores' rows (both splits hold 10,000), other estimates.
        string validated = Temp.File("validated");
        (exit, _, error) = ShortRun(validated, "--resume", model, "--epochs", "0", "--score", "valid");
        Assert.AreEqual(MnistApp.Success, exit, error);
        string[] validLines = File.ReadAllLines(Path.Combine(validated, "sbp-valid-log-likelihood.csv"));
        CollectionAssert.AreEqual(records.Select(r => $"valid,{r[1]}").ToArray(), validLines.Skip(1).Select(l => l[..l.LastIndexOf(',')]).ToArray());
        CollectionAssert.AreNotEqual(records.Select(r => r[2]).ToArray(), validLines.Skip(1).Select(l => l.Split(',')[2]).ToArray(), "the test split's estimates");
        (exit, _, error) = ShortRun(again, "--resume", model, "--epochs", "0", "--score", "training");
        Assert.AreEqual(MnistApp.UserError, exit);
        StringAssert.StartsWith(error, "error: --score must be test, valid or train; got 'training'.");
        (exit, _, error) = RunWithoutData("--compare", Path.Combine(output, "sbp-curve.csv"));
        AssertOneLineError(exit, error, "is not a file of image estimates written by this sample: its header is 'epoch,");
        string damaged = Temp.File("damaged.csv");
        File.WriteAllLines(damaged, ["split,row,log_likelihood", "test,0,-90.5", "test,3,minus ninety"]);
        (exit, _, error) = RunWithoutData("--compare", damaged);
        AssertOneLineError(exit, error, $"--compare {damaged} is not a file of image estimates");
        File.WriteAllLines(damaged, ["split,row,log_likelihood", "test,5,-90.5", "test,3,-80"]);
        (exit, _, error) = RunWithoutData("--compare", damaged);
        AssertOneLineError(exit, error, "record 2 has the row 3: the rows must rise from 0");
        File.WriteAllLines(damaged, ["split,row,log_likelihood", "test,-1,-90.5"]);
        (exit, _, error) = RunWithoutData("--compare", damaged);
        AssertOneLineError(exit, error, "record 1 has the row -1: the rows must rise from 0");
        File.WriteAllLines(damaged, ["split,row,log_likelihood"]);
        (exit, _, error) = RunWithoutData("--compare", damaged);
        AssertOneLineError(exit, error, $"--compare {damaged} holds no image estimates.");
        (exit, _, error) = RunWithoutData("--compare", Temp.File("missing.csv"));
        AssertOneLineError(exit, error, "missing.csv: no such file");
    }

    [TestMethod]
    public void AScoreOnlyRunLeavesTheLearningCurve()
    {
        string output = Temp.File("out");
        var (exit, _, error) = ShortRun(output, "--epochs", "2");
        Assert.AreEqual(MnistApp.Success, exit, error);
        string curve = Path.Combine(output, "sbp-curve.csv");
        byte[] before = File.ReadAllBytes(curve);
        Assert.HasCount(3, File.ReadAllLines(curve));

        (exit, _, error) = ShortRun(output, "--resume", Path.Combine(output, "sbp.hm"), "--epochs", "0");
        Assert.AreEqual(MnistApp.Success, exit, error);
        CollectionAssert.AreEqual(before, File.ReadAllBytes(curve), "nothing trained: the curve is left as it was");
    }

    [TestMethod]
    public void AScoreOnlyRunWithAnotherOptimiserKeepsTheModelAndItsTrainingState()
    {
        string output = Temp.File("out");
        var (exit, _, error) = ShortRun(output);
        Assert.AreEqual(MnistApp.Success, exit, error);
        string model = Path.Combine(output, "sbp.hm"), state = Path.Combine(output, "sbp.state");
        byte[] modelBytes = File.ReadAllBytes(model), stateBytes = File.ReadAllBytes(state);

        (exit, _, error) = ShortRun(output, "--resume", model, "--epochs", "0", "--optimizer", "sgd");
        Assert.AreEqual(MnistApp.Success, exit, error);
        Assert.IsTrue(File.Exists(state), "no step trained: the state is still the model's");
        CollectionAssert.AreEqual(stateBytes, File.ReadAllBytes(state));
        CollectionAssert.AreEqual(modelBytes, File.ReadAllBytes(model));
    }

    [TestMethod]
    public void AModelWithBinaryHiddenLayersIsScoredWithoutItsRule()
    {
        // The default rule, sbp, cannot train binary hidden layers; scoring only, it is not asked to. The scores are named after the file.
        string model = Temp.File("wake-sleep.hm"), output = Temp.File("out");
        TestModels.Random("784b-20b", 1).Save(model);
        var (exit, text, error) = Run("--resume", model, "--epochs", "0", "--test-limit", "20", "--k", "5", "--data", RealData(), "--out", output);
        Assert.AreEqual(MnistApp.Success, exit, error);
        StringAssert.StartsWith(text, $"scoring {model} (trained 0 steps), architecture 784b-20b");
        Assert.HasCount(21, File.ReadAllLines(Path.Combine(output, "wake-sleep-test-log-likelihood.csv")));
        CollectionAssert.AreEqual(new[] { "wake-sleep-test-log-likelihood.csv" }, Directory.GetFiles(output).Select(Path.GetFileName).ToArray(), "only the scores are written");

        // Training it, the rule must fit.
        (exit, _, error) = RunWithoutData("--resume", model);
        AssertOneLineError(exit, error, "needs Gaussian hidden layers");
    }

    /// <summary>
    /// A model the estimators refuse (a free energy of NaN with every draw finite, what weights near 10³⁸ give where a product
    /// passes float) is one line and the exit code of a diverged run, not an internal error. Whether such weights give NaN or ±∞
    /// depends on how an engine rounds its sums, so an engine whose visible layer's products are NaN stands in for them.
    /// </summary>
    [TestMethod]
    [DoNotParallelize] // swaps the process-wide matrix engine
    public void AModelThatCannotBeScoredExitsAsADivergedRun()
    {
        string model = Temp.File("model.hm");
        TestModels.Random("784b-20g", 1).Save(model);
        int exit;
        string error;
        // The visible layer's logits: the products into 784 columns from 20.
        var visibleProductsOfNaN = new ObservingEngine(MatrixEngine.Managed, afterProduct: (m, n, k, c, ldc) =>
        {
            if (n == 784 && k == 20)
                for (int r = 0; r < m; r++) c.Slice(r * ldc, n).Fill(float.NaN);
        });
        using (MatrixEngine.Replaced(visibleProductsOfNaN))
            (exit, _, error) = Run("--resume", model, "--epochs", "0", "--test-limit", "20", "--k", "5", "--data", RealData(), "--out", Temp.File("out"));
        AssertOneLineError(exit, error, "error: the model cannot be scored: ", MnistApp.Diverged);
        StringAssert.Contains(error, "generative layer 0's term, is NaN");
    }

    /// <summary>The curve's rows: epoch and learning rate.</summary>
    private static (int Epoch, double Rate)[] CurveRows(string path)
        => [.. File.ReadAllLines(path).Skip(1).Select(l => l.Split(',')).Select(f => (int.Parse(f[0], CultureInfo.InvariantCulture), double.Parse(f[3], CultureInfo.InvariantCulture)))];

    [TestMethod]
    public void ARunResumedInItsFolderGoesOnWithItsCurve()
    {
        string output = Temp.File("out");
        string model = Path.Combine(output, "sbp.hm"), curve = Path.Combine(output, "sbp-curve.csv");
        var (exit, _, error) = ShortRun(output, "--epochs", "2", "--decay", "0.5");
        Assert.AreEqual(MnistApp.Success, exit, error);
        string[] first = File.ReadAllLines(curve);
        string two = Path.Combine(output, "sbp-epoch2.hm");   // a checkpoint of this run: its name begins with the run's
        File.Copy(model, two);

        // The model has trained two epochs: the schedule and the curve go on at the third.
        string text;
        (exit, text, error) = ShortRun(output, "--resume", model, "--decay", "0.5", "--continue-schedule");
        Assert.AreEqual(MnistApp.Success, exit, error);
        StringAssert.Contains(text, "the schedule continuing at its epoch 3 (lr 0.00025)");
        string[] lines = File.ReadAllLines(curve);
        CollectionAssert.AreEqual(first, lines[..3], "the earlier epochs are kept as they were");
        CollectionAssert.AreEqual(new[] { (1, 0.001), (2, 0.0005), (3, 0.00025) }, CurveRows(curve).Select(r => (r.Epoch, Math.Round(r.Rate, 6))).ToArray());

        // Without --continue-schedule the rate starts again, and the epochs still go on.
        (exit, _, error) = ShortRun(output, "--resume", model, "--decay", "0.5");
        Assert.AreEqual(MnistApp.Success, exit, error);
        CollectionAssert.AreEqual(new[] { 1, 2, 3, 4 }, CurveRows(curve).Select(r => r.Epoch).ToArray());
        Assert.AreEqual(0.001, CurveRows(curve)[3].Rate, 1e-9);

        // Resumed from the model of epoch 2, the later epochs are not its own: the new one replaces them.
        (exit, _, error) = ShortRun(output, "--resume", two);
        Assert.AreEqual(MnistApp.Success, exit, error);
        CollectionAssert.AreEqual(new[] { 1, 2, 3 }, CurveRows(curve).Select(r => r.Epoch).ToArray());
        CollectionAssert.AreEqual(first, File.ReadAllLines(curve)[..3]);

        // Into another folder, the curve is the run's own, numbered on from the model's epochs, even where that folder holds a
        // curve of the run's name: it is not the curve of the model's folder.
        string elsewhere = Temp.File("elsewhere");
        Directory.CreateDirectory(elsewhere);
        File.Copy(curve, Path.Combine(elsewhere, "sbp-curve.csv"));
        (exit, _, error) = ShortRun(elsewhere, "--resume", two);
        Assert.AreEqual(MnistApp.Success, exit, error);
        CollectionAssert.AreEqual(new[] { 3 }, CurveRows(Path.Combine(elsewhere, "sbp-curve.csv")).Select(r => r.Epoch).ToArray());

        // A model of another name beside the curve is not this run's: the curve is a new one, numbered on from the model's epochs.
        string other = Path.Combine(output, "other.hm");
        File.Copy(two, other);
        (exit, _, error) = ShortRun(output, "--resume", other);
        Assert.AreEqual(MnistApp.Success, exit, error);
        CollectionAssert.AreEqual(new[] { 3 }, CurveRows(curve).Select(r => r.Epoch).ToArray());
        // Nor is another rule's whose name begins with this one's (sbp-price's beside sbp's; it once took this curve on).
        (exit, _, error) = ShortRun(output, "--epochs", "2");
        Assert.AreEqual(MnistApp.Success, exit, error);
        File.Copy(two, Path.Combine(output, "sbp-price-best.hm"));
        (exit, _, error) = ShortRun(output, "--resume", Path.Combine(output, "sbp-price-best.hm"));
        Assert.AreEqual(MnistApp.Success, exit, error);
        CollectionAssert.AreEqual(new[] { 3 }, CurveRows(curve).Select(r => r.Epoch).ToArray());
        Assert.IsTrue(MnistApp.OfThisRun("sbp-epoch2", "sbp") && MnistApp.OfThisRun("sbp-best", "sbp") && MnistApp.OfThisRun("vimco-5-best", "vimco-5"));
        Assert.IsFalse(MnistApp.OfThisRun("sbp-price", "sbp") || MnistApp.OfThisRun("reinforce-plain-best", "reinforce") || MnistApp.OfThisRun("vimco-50", "vimco-5"));

        // A curve that is not one is named before the data loads, not replaced.
        File.WriteAllText(curve, "epoch,loss\n1,2\n");
        (exit, _, error) = Run("--resume", model, "--data", Temp.File("no-data-here"), "--out", output);
        AssertOneLineError(exit, error, $"{curve} is not a learning curve written by this sample (its header is 'epoch,loss'");
        Assert.AreEqual("epoch,loss\n1,2\n", File.ReadAllText(curve));
        // Nor is one of the right header whose record has fewer fields (it was carried on into the new curve as it was).
        string header = "epoch,train_free_energy,validation_free_energy,learning_rate,seconds,train_objective,validation_log_likelihood";
        File.WriteAllText(curve, $"{header}\n1,2\n");
        (exit, _, error) = Run("--resume", model, "--data", Temp.File("no-data-here"), "--out", output);
        AssertOneLineError(exit, error, $"{curve} is not a learning curve written by this sample (record 1 has 2 fields)");
    }

    [TestMethod]
    public void ADivergedRunSaysSoAndSavesNoModel()
    {
        string output = Temp.File("out");
        var (exit, _, error) = Run("--rule", "wake-sleep", "--optimizer", "sgd", "--lr", "1e6", "--epochs", "2", "--train-limit", "500",
            "--valid-rows", "100", "--test-limit", "50", "--k", "5", "--data", RealData(), "--out", output);
        AssertOneLineError(exit, error, "training diverged", MnistApp.Diverged);
        StringAssert.Contains(error, "The model is not saved");
        StringAssert.Contains(error, $"this run wrote no checkpoint (the files in {output} are as they were)");
        Assert.IsFalse(File.Exists(Path.Combine(output, "wake-sleep.hm")), "no model is written from a diverged run");

        // In a folder an earlier run left its model and curve in: they are not called this run's checkpoint, and the curve stays
        // the earlier model's (it was replaced by one of no rows).
        string[] shortRun = ["--rule", "wake-sleep", "--train-limit", "500", "--valid-rows", "100", "--test-limit", "50", "--k", "5",
            "--data", RealData(), "--out", output];
        (exit, _, error) = Run([.. shortRun, "--epochs", "1"]);
        Assert.AreEqual(MnistApp.Success, exit, error);
        var before = Directory.GetFiles(output).ToDictionary(path => Path.GetFileName(path), File.ReadAllBytes);
        (exit, _, error) = Run([.. shortRun, "--optimizer", "sgd", "--lr", "1e6", "--epochs", "2"]);
        AssertOneLineError(exit, error, "training diverged", MnistApp.Diverged);
        StringAssert.Contains(error, "this run wrote no checkpoint");
        Assert.DoesNotContain("holds", error);
        CollectionAssert.AreEquivalent(before.Keys.ToArray(), Directory.GetFiles(output).Select(Path.GetFileName).ToArray());
        foreach (var (name, bytes) in before) CollectionAssert.AreEqual(bytes, File.ReadAllBytes(Path.Combine(output, name)), name);
    }

    // A run that diverges after it wrote checkpoints names the last one it wrote, which stays as that epoch left it.
    [TestMethod]
    public void ADivergedRunNamesTheLastCheckpointItWrote()
    {
        // One step an epoch at SGD's rate 8: the free energy after epoch 1's step is about 6,480 nats and after epoch 2's about
        // 4,990, under the limit of about 10,420 (F₀ 235 + 10 · (F₀ + 784)); epoch 3's step takes it to about 30,000. Each side
        // is 1.6 times or more from the limit, far past what the four CI environments' rounding moves.
        string output = Temp.File("out");
        var (exit, _, error) = Run("--rule", "wake-sleep", "--optimizer", "sgd", "--lr", "8", "--epochs", "6", "--train-limit", "100", "--batch", "100",
            "--checkpoint-every", "1", "--valid-rows", "100", "--test-limit", "50", "--k", "5", "--data", RealData(), "--out", output);
        AssertOneLineError(exit, error, "The step of epoch 3, minibatch 0 failed", MnistApp.Diverged);
        string model = Path.Combine(output, "wake-sleep.hm");
        StringAssert.Contains(error, $"The model is not saved; {model} holds this run's last checkpoint, of epoch 2.");
        Assert.AreEqual(2L, HelmholtzMachine.Load(model).StepsTrained, "the checkpoint is epoch 2's model, not the diverged one");
        CollectionAssert.AreEqual(new[] { 1, 2 }, CurveRows(Path.Combine(output, "wake-sleep-curve.csv")).Select(r => r.Epoch).ToArray());
    }

    // A negative count, --k 0 and a short option taken for a value are refused as the arguments are read.
    [TestMethod]
    public void ANegativeCountAZeroKAndAShortOptionAsAValueAreRefused()
    {
        // A negative --train-limit would have trained on all the images, as 0 does.
        var (exit, _, error) = RunWithoutData("--train-limit", "-1");
        Assert.AreEqual(MnistApp.UserError, exit, error);
        StringAssert.StartsWith(error, "error: --train-limit needs a whole number from 0 to 2147483647; got '-1'.");
        (exit, _, error) = RunWithoutData("--k", "0");
        Assert.AreEqual(MnistApp.UserError, exit, error);
        StringAssert.StartsWith(error, "error: --batch and --k must be positive.");
        // An option of one letter after its two dashes is an option too, not a value.
        (exit, _, error) = Run("--out", "--k", "5");
        Assert.AreEqual(MnistApp.UserError, exit, error);
        StringAssert.StartsWith(error, "error: --out needs a value, but the next argument is the option --k.");
    }

    // A file of estimates that repeats a row, mixes two splits or holds an estimate that is not finite is not one this sample wrote.
    [TestMethod]
    [DataRow("test,0,-80", "record 2 has the row 0: the rows must rise from 0")]
    [DataRow("valid,1,-80", "record 2 is of the split 'valid', the records before of 'test'")]
    [DataRow("test,1,-Infinity", "is not a file of image estimates written by this sample: record 2 has the estimate ")]
    public void AnEstimatesFileThisSampleDidNotWriteIsRefused(string second, string message)
    {
        string file = Temp.File("estimates.csv");
        File.WriteAllLines(file, ["split,row,log_likelihood", "test,0,-90.5", second]);
        var (exit, _, error) = RunWithoutData("--compare", file);
        AssertOneLineError(exit, error, message);
    }

    // The curve's columns hold what the console's epoch line says; a scoring run takes a training command's --train-samples;
    // --compare refuses a file of other rows of the same count; another optimiser's state is left aside on resuming.
    [TestMethod]
    public void TheCurvesColumnsScoringWithTrainSamplesOtherRowsAndAnotherOptimisersState()
    {
        string output = Temp.File("out");
        var (exit, text, error) = ShortRun(output, "--optimizer", "sgd");
        Assert.AreEqual(MnistApp.Success, exit, error);
        string[] curve = File.ReadAllLines(Path.Combine(output, "sbp-curve.csv"));
        Assert.AreEqual("epoch,train_free_energy,validation_free_energy,learning_rate,seconds,train_objective,validation_log_likelihood", curve[0]);
        Assert.HasCount(2, curve);
        string[] fields = curve[1].Split(',');
        // The console prints the curve's values to 2 decimals ("R" in the file): the same numbers, rounded the same way.
        static string F2(string value) => double.Parse(value, CultureInfo.InvariantCulture).ToString("F2", CultureInfo.InvariantCulture);
        string line = EpochLine(text, 1);
        Assert.AreEqual("1", fields[0]);
        StringAssert.Contains(line, $"train F {F2(fields[1]),8}", line);
        StringAssert.Contains(line, $"valid F {F2(fields[2]),8}", line);
        Assert.AreNotEqual(fields[1], fields[2], "the training and validation free energies of 500 and 100 images differ");

        // --epochs 0 scores the model with the training command's options as they are, --train-samples of a one-sample rule included.
        string model = Path.Combine(output, "sbp.hm");
        string again = Temp.File("again");
        (exit, _, error) = ShortRun(again, "--resume", model, "--epochs", "0", "--train-samples", "5");
        Assert.AreEqual(MnistApp.Success, exit, error);

        // A file of 50 estimates of the test split at other rows than this run's (0, 200, …, 9800) is refused.
        string others = Temp.File("others.csv");
        File.WriteAllLines(others, ["split,row,log_likelihood", .. Enumerable.Range(0, 50).Select(i => $"test,{i},-90.5")]);
        (exit, _, error) = ShortRun(again, "--resume", model, "--epochs", "0", "--compare", others);
        AssertOneLineError(exit, error, "holds the estimates of 50 images of the test split, but this run scores 50 images of the test split at other rows");

        // The sgd run's training state is not Adam's: resumed with Adam, the optimiser starts afresh. The model resumed from, estimated
        // first (no checkpoint in this run's one epoch) and so the best, is saved as sbp-best.hm with the state it was resumed with.
        byte[] sgdState = File.ReadAllBytes(Path.Combine(output, "sbp.state"));
        (exit, text, error) = ShortRun(output, "--resume", model, "--valid-k", "2", "--checkpoint-every", "10");
        Assert.AreEqual(MnistApp.Success, exit, error);
        StringAssert.Contains(text, "its training state left aside (a run of sbp with sgd (momentum 0.9): the optimiser starts afresh)");
        Assert.AreEqual(5L, HelmholtzMachine.Load(Path.Combine(output, "sbp-best.hm")).StepsTrained);
        CollectionAssert.AreEqual(sgdState, File.ReadAllBytes(Path.Combine(output, "sbp-best.state")), "the best model's state is the one it was resumed with");
    }

    // A continued schedule counts the model's whole epochs (the trainer takes whole minibatches only: 550 images in batches of 100
    // are 5 steps an epoch), checks the rate of its own last epoch, and a run it stops at a rate of 0 says so, counted from there.
    [TestMethod]
    public void AContinuedScheduleGoesOnFromTheModelsWholeEpochs()
    {
        string output = Temp.File("out");
        string model = Path.Combine(output, "sbp.hm");
        var (exit, text, error) = ShortRun(output, "--train-limit", "550", "--epochs", "2", "--decay", "0.5");
        Assert.AreEqual(MnistApp.Success, exit, error);
        Assert.AreEqual(10L, HelmholtzMachine.Load(model).StepsTrained, "two epochs of 5 whole minibatches");
        (exit, text, error) = ShortRun(output, "--train-limit", "550", "--decay", "0.5", "--resume", model, "--continue-schedule");
        Assert.AreEqual(MnistApp.Success, exit, error);
        StringAssert.Contains(text, "the schedule continuing at its epoch 3 (lr 0.00025)");
        CollectionAssert.AreEqual(new[] { 1, 2, 3 }, CurveRows(Path.Combine(output, "sbp-curve.csv")).Select(r => r.Epoch).ToArray());

        // --decay 1e-20: the rate of schedule epoch 2 is 1e-43, a float above 0 (the least is 1.4e-45); that of epoch 3 is 0.
        string first = Temp.File("first");
        (exit, _, error) = ShortRun(first, "--decay", "1e-20");
        Assert.AreEqual(MnistApp.Success, exit, error);
        string one = Temp.File("one.hm");
        File.Copy(Path.Combine(first, "sbp.hm"), one);
        // Two more epochs are the schedule's epochs 1 and 2: the last has a rate, so the run is not refused.
        (exit, _, error) = ShortRun(Temp.File("two"), "--decay", "1e-20", "--resume", one, "--continue-schedule", "--epochs", "2");
        Assert.AreEqual(MnistApp.Success, exit, error);
        // Under a time limit five are let run: the trainer stops after two, at the rate of 0 of schedule epoch 3.
        (exit, text, error) = ShortRun(Temp.File("five"), "--decay", "1e-20", "--resume", one, "--continue-schedule", "--epochs", "5", "--time-limit", "100");
        Assert.AreEqual(MnistApp.Success, exit, error);
        StringAssert.Contains(text, "learning rate 0: stopped after epoch 2, where --decay takes the rate to 0 in single precision");
        Assert.DoesNotContain("time limit reached", text);
    }

    /// <summary>The CSV files are UTF-8 without a byte-order mark: their first bytes are the header's (many readers take a mark into the first column's name).</summary>
    [TestMethod]
    public void TheCsvFilesStartWithTheirHeaderWithoutAByteOrderMark()
    {
        string output = Temp.File("out");
        var (exit, _, error) = ShortRun(output);
        Assert.AreEqual(MnistApp.Success, exit, error);
        foreach (var (file, header) in new[] { ("sbp-curve.csv", "epoch,train_free_energy,"), ("sbp-test-log-likelihood.csv", "split,row,log_likelihood") })
            StringAssert.StartsWith(System.Text.Encoding.Latin1.GetString(File.ReadAllBytes(Path.Combine(output, file))), header, file);
    }

    /// <summary>--min-lr may equal --lr (the usage says "at most --lr"): a constant floor at the rate is taken, and the run goes on to the data.</summary>
    [TestMethod]
    public void AMinimumRateEqualToTheRateIsTaken()
    {
        var (exit, _, error) = RunWithoutData("--min-lr", "0.001");
        AssertOneLineError(exit, error, "does not exist");
        (exit, _, error) = RunWithoutData("--lr", "0.01", "--min-lr", "0.01", "--decay", "0.5");
        AssertOneLineError(exit, error, "does not exist");
    }

    /// <summary>Only "--" and a letter is an option: an argument such as "--1" is the value of the option before it, and is judged as one.</summary>
    [TestMethod]
    public void TwoDashesWithoutALetterAreAValueNotAnOption()
    {
        var (exit, _, error) = Run("--epochs", "--1");
        Assert.AreEqual(MnistApp.UserError, exit, error);
        StringAssert.StartsWith(error, "error: --epochs needs a whole number from 0 to 2147483647; got '--1'.");
    }

    /// <summary>--seed reaches the trainer's draws, not only the new machine's weights: one model resumed (without a training state) with
    /// two seeds trains to two models, and again with the same seed to the same one.</summary>
    [TestMethod]
    public void TheSeedReachesTheTrainersDraws()
    {
        string model = Temp.File("start.hm");
        HelmholtzMachine.Create(HelmholtzArchitecture.Parse("784b-20g"), seed: 3).Save(model);
        byte[] Trained(string seed)
        {
            string output = Temp.File($"out-{seed}-{Guid.NewGuid():N}");
            var (exit, _, error) = ShortRun(output, "--resume", model, "--seed", seed);
            Assert.AreEqual(MnistApp.Success, exit, error);
            Assert.AreEqual(5L, HelmholtzMachine.Load(Path.Combine(output, "sbp.hm")).StepsTrained);
            return File.ReadAllBytes(Path.Combine(output, "sbp.hm"));
        }
        byte[] one = Trained("1"), two = Trained("2");
        CollectionAssert.AreEqual(two, Trained("2"), "the same seed trains the same model");
        CollectionAssert.AreNotEqual(one, two, "another seed draws other minibatches and samples");
    }

    /// <summary>
    /// A model resumed on a training part smaller than --batch (one minibatch of all its images an epoch, as the trainer takes it) counts
    /// its epochs by that one step each: the curve goes on at epoch 2 (it divided by the 0 whole batches of 100 in 50 images).
    /// </summary>
    [TestMethod]
    public void AModelResumedOnFewerImagesThanABatchCountsOneStepAnEpoch()
    {
        string output = Temp.File("out");
        string model = Path.Combine(output, "sbp.hm");
        var (exit, _, error) = ShortRun(output, "--train-limit", "50");
        Assert.AreEqual(MnistApp.Success, exit, error);
        Assert.AreEqual(1L, HelmholtzMachine.Load(model).StepsTrained, "the 50 images are one minibatch");
        string text;
        (exit, text, error) = ShortRun(output, "--train-limit", "50", "--resume", model, "--decay", "0.5", "--continue-schedule");
        Assert.AreEqual(MnistApp.Success, exit, error);
        StringAssert.Contains(text, "the schedule continuing at its epoch 2 (lr 0.0005)");
        Assert.AreEqual(2L, HelmholtzMachine.Load(model).StepsTrained);
        CollectionAssert.AreEqual(new[] { 1, 2 }, CurveRows(Path.Combine(output, "sbp-curve.csv")).Select(r => r.Epoch).ToArray());
    }

    /// <summary>
    /// Each estimator of the final score has its own seed from --seed: the free energy --seed + 3, importance sampling --seed + 1, the naive
    /// estimate --seed + 2, the mean-field one --seed + 4 (so their draws are not the same draws). The numbers printed are the library's with
    /// those seeds on the scored rows; the scoring's progress stops short of a line for 100 %.
    /// </summary>
    [TestMethod]
    public void EachScoringEstimatorHasItsOwnSeed()
    {
        string model = Temp.File("model.hm");
        TestModels.Random("784b-20g", 1).Save(model);
        var (exit, text, error) = Run("--resume", model, "--epochs", "0", "--seed", "7", "--test-limit", "20", "--k", "5", "--naive", "3",
            "--mean-field", "2", "--data", RealData(), "--out", Temp.File("out"));
        Assert.AreEqual(MnistApp.Success, exit, error);

        var machine = HelmholtzMachine.Load(model);
        DataMatrix all = BinarizedMnist.LoadSplit(RealData(), BinarizedMnist.TestFile);
        var values = new float[20 * all.Columns];
        for (int i = 0; i < 20; i++) all.Row(i * 500).CopyTo(values.AsSpan(i * all.Columns, all.Columns));
        var test = new DataMatrix(20, all.Columns, values);
        static string F2(double value) => value.ToString("F2", CultureInfo.InvariantCulture);
        string Printed(string start) => text.Split('\n').Single(l => l.StartsWith(start, StringComparison.Ordinal)).Split("): ")[1].Split(' ')[0];

        Assert.AreEqual(F2(new SampledFreeEnergy(7 + 3).Estimate(machine, test)), Printed("test free energy (one sample per image"), text);
        Assert.AreEqual(F2(new ImportanceSampledLogLikelihood(5, seed: 7 + 1).Estimate(machine, test).Mean), Printed("test log-likelihood (importance sampling"), text);
        Assert.AreEqual(F2(new NaiveLogLikelihood(3, seed: 7 + 2).Estimate(machine, test).Mean), Printed("test log-likelihood (naive"), text);
        Assert.AreEqual(F2(new MeanFieldLogLikelihood(5, 2, startFromRecognition: true, seed: 7 + 4).Estimate(machine, test).Mean),
            Printed("test log-likelihood (mean-field"), text);
        Assert.DoesNotContain("scoring 100%", text);
    }
}
