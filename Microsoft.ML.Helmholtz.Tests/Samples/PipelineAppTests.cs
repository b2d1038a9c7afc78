using Microsoft.ML.Helmholtz.Evaluation;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Tests.Support;
using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Tests.Data;
using System.Reflection;

namespace Microsoft.ML.Helmholtz.Tests.Samples;

/// <summary>The pipeline sample's three tasks, on a few hundred images, and its errors (one line each). Needs the shared data (fails without it).</summary>
[TestClass]
public sealed class PipelineAppTests : TempDirectoryTests
{
    private (int Exit, string Output, string Error) Run(params string[] args) => Run(new StringWriter(), args);

    private (int Exit, string Output, string Error) Run(StringWriter output, params string[] args) => Run(output, CancellationToken.None, args);

    private (int Exit, string Output, string Error) Run(StringWriter output, CancellationToken cancellation, params string[] args)
    {
        string data = SharedData.MnistDirectory();
        var error = new StringWriter();
        // --out only for the tasks that write files (the others refuse it).
        int task = Array.IndexOf(args, "--task");
        bool writes = task < 0 || task + 1 >= args.Length || args[task + 1] is not ("few-labels" or "anomaly");
        int exit = PipelineApp.Run([.. args, "--data", data, .. writes ? new[] { "--out", Temp.File("out") } : []], output, error, cancellation);
        return (exit, output.ToString(), error.ToString());
    }

    /// <summary>Output that calls <c>action</c> when a line starting with <c>trigger</c> is written.</summary>
    private sealed class AtLine(string trigger, Action action) : StringWriter
    {
        public override void WriteLine(string? value)
        {
            base.WriteLine(value);
            if (value is not null && value.StartsWith(trigger, StringComparison.Ordinal)) action();
        }
    }

    /// <summary>
    /// Ctrl+C (the token given to Run) in Fit stops the training; after Fit, the task before its next step. Either way the exit code
    /// is 130 with one line saying that nothing was saved, and no model.zip, whole or half, is written.
    /// </summary>
    [TestMethod]
    [DataRow("  Epoch 1/", "in Fit")]
    [DataRow("test log-likelihood", "after Fit")]
    public void CancelledTheMainTaskSavesNothing(string trigger, string when)
    {
        using var source = new CancellationTokenSource();
        var (exit, text, error) = Run(new AtLine(trigger, source.Cancel), source.Token, "--epochs", "3", "--train-limit", "300", "--k", "2", "--architecture", "784b-20g-8g");
        Assert.AreEqual(PipelineApp.Cancelled, exit, $"{when}: {error}");
        Assert.AreEqual("cancelled: the run stopped and nothing was saved (no file is written after the signal, and a Fit it stops gives back no model).",
            error.TrimEnd(), when);
        Assert.IsEmpty(Directory.GetFiles(Temp.File("out")), $"{when}: no model.zip, whole or half, and no temporary file");
        if (when == "in Fit") Assert.DoesNotContain("Epoch 2/", text, "the training stopped after the minibatch in progress");
        else Assert.DoesNotContain("classifier on the machine's features", text, "the task stopped before its next step");
    }

    /// <summary>
    /// The scoring passes read their rows through a check of the signal at each row, so a signal while the test set is scored stops
    /// it within the batch being computed: it once scored the whole test set (40 s at K = 1000) before it stopped.
    /// </summary>
    [TestMethod]
    public void AScoringPassStopsAtTheRowWhereTheSignalCame()
    {
        using var source = new CancellationTokenSource();
        int served = 0;
        IEnumerable<int> Rows()
        {
            for (int i = 0; i < 10; i++)
            {
                served++;
                yield return i;
            }
        }
        var read = new List<int>();
        Assert.ThrowsExactly<OperationCanceledException>(() =>
        {
            foreach (int row in PipelineApp.Read(Rows(), source.Token))
            {
                read.Add(row);
                if (row == 2) source.Cancel();
            }
        });
        CollectionAssert.AreEqual(new[] { 0, 1, 2 }, read);
        Assert.AreEqual(4, served, "the row after the signal is fetched, then refused");
    }

    [TestMethod]
    public void TheMainTaskTrainsScoresClassifiesAndSavesTheModel()
    {
        var (exit, text, error) = Run("--epochs", "1", "--train-limit", "1000", "--k", "5", "--architecture", "784b-30g-10g");
        Assert.AreEqual(PipelineApp.Success, exit, error);
        StringAssert.Contains(text, "Epoch 1/1: training free energy");   // the MLContext's log, printed
        StringAssert.Contains(text, "test log-likelihood (the LogLikelihood column, K = 5)");
        StringAssert.Contains(text, "classifier on the machine's features");
        Assert.IsTrue(File.Exists(Path.Combine(Temp.File("out"), "model.zip")));
        // The accuracy before saving and after loading, as printed, are the same.
        string[] accuracies = text.Split('\n').Where(l => l.Contains("accuracy")).Select(l => l[(l.IndexOf("accuracy ", StringComparison.Ordinal) + 9)..].Split(' ')[0]).ToArray();
        Assert.HasCount(2, accuracies);
        Assert.AreEqual(accuracies[0], accuracies[1], text);
    }

    /// <summary>
    /// --machine: a machine the MNIST sample saved goes into the pipeline as it is with --epochs 0 (a binary one under the default rule,
    /// which it need not suit then): the LogLikelihood column is the fixed-noise estimate of that machine under the estimator's seed.
    /// </summary>
    [TestMethod]
    public void TheMainTaskTakesAMachineTheMnistSampleSaved()
    {
        HelmholtzMachine machine = TestModels.Random("784b-20b-8b", 3);
        string file = Temp.File("machine.hm");
        machine.Save(file);
        var (exit, text, error) = Run("--machine", file, "--epochs", "0", "--k", "4", "--train-limit", "300");
        Assert.AreEqual(PipelineApp.Success, exit, error);
        StringAssert.Contains(text, $"The machine in {file} (784b-20b-8b, 0 steps trained), as it is:");
        Assert.DoesNotContain("Epoch 1/", text, "no training");
        StringAssert.Contains(text, $"No epochs: the transformer scores the Helmholtz machine 784b-20b-8b ({machine.Parameters.Sum(p => p.Length):N0} parameters, the initial model's, trained 0 steps) as it is.");
        DataMatrix test = BinarizedMnist.Load(SharedData.MnistDirectory()).Test;
        var values = new double[test.Rows];
        new FixedNoiseLogLikelihood(machine, 4, seed: 1 + 2).CreateScorer().Estimate(test.Values, test.Rows, values);   // --seed 1; the transformer's is 2 on
        double mean = values.Average(v => (double)(float)v);
        StringAssert.Contains(text, $"test log-likelihood (the LogLikelihood column, K = 4): {mean:F2} nats over 10,000 images");
        StringAssert.Contains(text, "classifier on the machine's features (8b units)");
        Assert.IsTrue(File.Exists(Path.Combine(Temp.File("out"), "model.zip")));

        (exit, _, error) = Run("--machine", file, "--architecture", "784b-20b-8b");
        Assert.AreEqual(PipelineApp.UserError, exit, error);
        StringAssert.StartsWith(error, "error: --machine and --architecture: the machine's file gives its architecture");
        (exit, _, error) = Run("--task", "anomaly", "--machine", file);
        Assert.AreEqual(PipelineApp.UserError, exit, error);
        StringAssert.StartsWith(error, "error: --machine is an option of the main task; --task anomaly does not use it");
        // Trained on under the default rule, which a binary machine does not suit: the rule is named, not the architecture the user never gave.
        (exit, _, error) = Run("--machine", file, "--epochs", "1", "--train-limit", "300");
        Assert.AreEqual(PipelineApp.UserError, exit, error);
        StringAssert.StartsWith(error, $"error: the machine in {file} (784b-20b-8b) cannot be trained with --rule sbp: Stochastic back-propagation needs Gaussian hidden layers");
        StringAssert.Contains(error, "Give another --rule, or --epochs 0 to score it as it is.");
        string small = Temp.File("small.hm");
        TestModels.Random("100b-8b", 3).Save(small);
        (exit, _, error) = Run("--machine", small, "--epochs", "0");
        Assert.AreEqual(PipelineApp.UserError, exit, error);
        StringAssert.StartsWith(error, $"error: the machine in {small} (100b-8b) reads 100 values; MNIST images have 784.");
        (exit, _, error) = Run("--machine", Temp.File("none.hm"), "--epochs", "0");
        Assert.AreEqual(PipelineApp.UserError, exit, error);
        StringAssert.Contains(error, "none.hm");
    }

    [TestMethod]
    public void TheFewLabelsAndAnomalyTasksReportTheirTables()
    {
        var (exit, text, error) = Run("--task", "few-labels", "--epochs", "1", "--train-limit", "500", "--architecture", "784b-30g-10g", "--per-digit", "10,20");
        Assert.AreEqual(PipelineApp.Success, exit, error);
        StringAssert.Contains(text, "Helmholtz features");
        Assert.IsTrue(text.Contains("             100 ") && text.Contains("             200 "), text);
        (exit, text, error) = Run("--task", "anomaly", "--epochs", "2", "--train-limit", "500", "--architecture", "784b-30g-10g", "--k", "10");
        Assert.AreEqual(PipelineApp.Success, exit, error);
        StringAssert.Contains(text, "ML.NET RandomizedPca (rank 50)");
        StringAssert.Contains(text, "AUROC");
    }

    [TestMethod]
    public void TheOnnxTaskExportsAndScoresOnOnnxRuntime()
    {
        var (exit, text, error) = Run("--task", "onnx", "--epochs", "1", "--train-limit", "500", "--architecture", "784b-20g-8g", "--k", "5");
        Assert.AreEqual(PipelineApp.Success, exit, error);
        foreach (string file in new[] { "recognition.onnx", "log-likelihood.onnx" })
            using (var session = new Microsoft.ML.OnnxRuntime.InferenceSession(Path.Combine(Temp.File("out"), file)))
                Assert.HasCount(1, session.OutputMetadata);
        StringAssert.Contains(text, "ONNX Runtime on CPU");
        StringAssert.Contains(text, " over 10,000 images", "the whole test set is scored, whatever --train-limit takes of the training split");
        // The printed means agree to their printed precision, and so does every row (the largest differences printed). Compared as
        // numbers: means a few millionths apart print differently when a rounding boundary falls between them.
        double[] means = text.Split('\n').Single(l => l.StartsWith("test log-likelihood", StringComparison.Ordinal)).Split(' ').Where(w => w.StartsWith('-'))
            .Select(w => double.Parse(w.TrimEnd(',', ';', ':'), System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        Assert.HasCount(2, means);
        Assert.AreEqual(means[0], means[1], 0.0100001, text);
        string[] differences = text.Split('\n').Single(l => l.StartsWith("largest difference", StringComparison.Ordinal)).Split(' ');
        Assert.IsLessThan(1e-3, double.Parse(differences[2], System.Globalization.CultureInfo.InvariantCulture), text);
        Assert.IsLessThan(1e-5, double.Parse(differences[7], System.Globalization.CultureInfo.InvariantCulture), text);
    }

    /// <summary>
    /// A signal at the last epoch's report (Fit then returns its machine) stops the onnx task before the export: exit code 130 and no
    /// ONNX file, whole or half.
    /// </summary>
    [TestMethod]
    public void CancelledAsTheTrainingEndsTheOnnxTaskExportsNothing()
    {
        using var source = new CancellationTokenSource();
        var (exit, text, error) = Run(new AtLine("  Epoch 1/1", source.Cancel), source.Token, "--task", "onnx", "--epochs", "1", "--train-limit", "100",
            "--architecture", "784b-10g-4g", "--k", "1");
        Assert.AreEqual(PipelineApp.Cancelled, exit, error);
        Assert.IsEmpty(Directory.GetFiles(Temp.File("out")), "no ONNX file, whole or half, and no temporary file");
        Assert.DoesNotContain("exported", text);
    }

    /// <summary>A bad --architecture is named with the option, before the data loads, without ArgumentException's parameter suffix.</summary>
    [TestMethod]
    [DataRow("100b-10g", "--architecture 100b-10g: the visible layer has 100 units; MNIST images have 784 pixels.")]
    [DataRow("784b-0g", "--architecture 784b-0g: Layer '0g': the size must be positive.")]
    [DataRow("784b", "--architecture 784b: ")]
    public void ABadArchitectureIsNamedBeforeTheDataLoads(string architecture, string problem)
    {
        var error = new StringWriter();
        int exit = PipelineApp.Run(["--architecture", architecture, "--data", Temp.File("no-data-here"), "--out", Temp.File("out")], new StringWriter(), error);
        Assert.AreEqual(PipelineApp.UserError, exit, error.ToString());
        StringAssert.StartsWith(error.ToString(), "error: " + problem);
        Assert.DoesNotContain("(Parameter", error.ToString());
    }

    /// <summary>An --out that is a file is refused, naming --out, before the training (whose machine the save at the end then lost).</summary>
    [TestMethod]
    [DataRow("main")]
    [DataRow("onnx")]
    public void AnOutputFolderThatCannotBeWrittenIsRefusedBeforeTraining(string task)
    {
        string file = Temp.File("a-file");
        File.WriteAllText(file, "");
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = PipelineApp.Run(["--task", task, "--epochs", "1", "--train-limit", "100", "--architecture", "784b-20g-8g", "--k", "5",
            "--data", SharedData.MnistDirectory(), "--out", file], output, error, CancellationToken.None);
        Assert.AreEqual(PipelineApp.UserError, exit, error.ToString());
        StringAssert.StartsWith(error.ToString(), $"error: --out {file} is a file");
        Assert.DoesNotContain("Training", output.ToString());

        // A folder where the task's file goes (model.zip; the ONNX models) is refused as early.
        string folder = Temp.File("out-with-folders");
        string written = task == "main" ? "model.zip" : "log-likelihood.onnx";
        Directory.CreateDirectory(Path.Combine(folder, written));
        output = new StringWriter();
        error = new StringWriter();
        exit = PipelineApp.Run(["--task", task, "--epochs", "1", "--train-limit", "100", "--architecture", "784b-20g-8g", "--k", "5",
            "--data", SharedData.MnistDirectory(), "--out", folder], output, error, CancellationToken.None);
        Assert.AreEqual(PipelineApp.UserError, exit, error.ToString());
        StringAssert.StartsWith(error.ToString(), $"error: --out {folder}: {written} there is a folder, where the run writes a file");
        Assert.DoesNotContain("Training", output.ToString());
    }

    [TestMethod]
    public void AGpuThatCannotBeHadIsRefusedBeforeTraining()
    {
        // A GPU asked for strictly: on the CPU-only test machines, one line naming what is missing, before the training and the export.
        var (exit, text, error) = Run("--task", "onnx", "--epochs", "1", "--train-limit", "100", "--architecture", "784b-20g-8g", "--k", "5", "--gpu", "0");
        if (exit == PipelineApp.Success) StringAssert.Contains(text, "ONNX Runtime on CUDA device 0");
        else
        {
            Assert.AreEqual(PipelineApp.UserError, exit, error);
            StringAssert.StartsWith(error, "error: --gpu 0: ONNX Runtime could not start its CUDA provider");
            Assert.HasCount(1, error.TrimEnd().Split('\n'), "one line: " + error);
            StringAssert.Contains(error, "--fallback-to-cpu");
            Assert.DoesNotContain("Training", text);
            Assert.IsFalse(File.Exists(Path.Combine(Temp.File("out"), "recognition.onnx")), "nothing was exported");
        }
    }

    [TestMethod]
    [DataRow("rws-sleep", "q updated in the sleep phase")]
    [DataRow("rws-wake-sleep", "q updated in the wake and sleep phases")]
    public void ReweightedWakeSleepsOtherRecognitionUpdatesAreRules(string rule, string said)
    {
        var (exit, text, error) = Run("--task", "anomaly", "--rule", rule, "--epochs", "1", "--train-limit", "300", "--architecture", "784b-20b-8b", "--k", "5");
        Assert.AreEqual(PipelineApp.Success, exit, error);
        StringAssert.Contains(text, $"(ReweightedWakeSleep, {said})");
        StringAssert.Contains(text, "AUROC");
    }

    [TestMethod]
    [DataRow("--rule", "rws-dream", "--rule must be")]
    [DataRow("--task", "clustering", "--task must be")]
    [DataRow("--gpu", "0", "options of the onnx task")]
    [DataRow("--epochs", "-1", "--epochs needs")]
    [DataRow("--architecture", "784b--10g", "--architecture 784b--10g: Architecture '784b--10g': layer 1 is empty")]
    [DataRow("--architecture", "784b-20b", "--architecture 784b-20b with --rule sbp: ")]
    [DataRow("--architecture", "784b-20b", "needs Gaussian hidden layers")]
    [DataRow("--epochs", "99999999999", "--epochs needs a whole number from 0 to 2147483647; got '99999999999'.")]
    [DataRow("--seed", "-1", "--seed needs a whole number from 0 to 2147483647; got '-1'.")]
    [DataRow("--out", "--task", "--out needs a value, but the next argument is the option --task.")]
    [DataRow("--epochs", "0", "--epochs 0 scores the machine given with --machine FILE as it is and trains nothing")]
    [DataRow("--normal-digits", "0,1,x", "--normal-digits")]
    [DataRow("--normal-digits", "5,6", "--normal-digits is an option of the anomaly task; --task main does not use it")]
    [DataRow("--per-digit", "10", "--per-digit is an option of the few-labels task; --task main does not use it")]
    [DataRow("--out", "", "--out needs a path; got an empty value.")]
    [DataRow("--data", " ", "--data needs a path; got an empty value.")]
    [DataRow("--machine", "", "--machine needs a path; got an empty value.")]
    [DataRow("--k", "0", "--k needs a whole number from 1 to 2147483647; got '0'.")]   // refused as the arguments are read, with the usage
    public void UserErrorsAreOneLine(string option, string value, string problem)
    {
        var (exit, _, error) = Run(option, value);
        Assert.AreEqual(PipelineApp.UserError, exit, error);
        StringAssert.StartsWith(error, "error: ");
        StringAssert.Contains(error.Split('\n')[0], problem);
        Assert.IsFalse(error.Contains("   at "), "no stack trace");
    }

    /// <summary>A K whose fixed noise the transformer cannot hold is named as --k, without the estimator's property or .NET's suffixes.</summary>
    [TestMethod]
    public void AKTheTransformerCannotHoldIsNamedAsTheOption()
    {
        var (exit, _, error) = Run("--epochs", "1", "--train-limit", "100", "--architecture", "784b-30g-10g", "--k", "20000000");
        Assert.AreEqual(PipelineApp.UserError, exit, error);
        StringAssert.StartsWith(error, "error: --k: K = 20000000 samples");
        Assert.DoesNotContain("HelmholtzMachineOptions", error);
        Assert.DoesNotContain("Actual value", error);
    }

    [TestMethod]
    public void AnOptionTheTaskDoesNotUseIsRefused()
    {
        var (exit, _, error) = Run("--task", "few-labels", "--k", "5");
        Assert.AreEqual(PipelineApp.UserError, exit, error);
        StringAssert.StartsWith(error, "error: --k sets the samples of the log-likelihood, which --task few-labels does not compute");
        (exit, _, error) = Run("--task", "anomaly", "--per-digit", "10");
        Assert.AreEqual(PipelineApp.UserError, exit, error);
        StringAssert.StartsWith(error, "error: --per-digit is an option of the few-labels task; --task anomaly does not use it");
        // Options that would change nothing: a fallback from no GPU, and no epochs without a machine.
        (exit, _, error) = Run("--task", "onnx", "--fallback-to-cpu");
        Assert.AreEqual(PipelineApp.UserError, exit, error);
        StringAssert.StartsWith(error, "error: --fallback-to-cpu falls back from --gpu N");
        // --out to a task that writes nothing (it was accepted, even a path no folder could be made at).
        File.WriteAllText(Temp.File("a-file"), "");
        var error2 = new StringWriter();
        exit = PipelineApp.Run(["--task", "anomaly", "--out", Temp.File("a-file/out"), "--data", SharedData.MnistDirectory()], new StringWriter(), error2);
        Assert.AreEqual(PipelineApp.UserError, exit, error2.ToString());
        StringAssert.StartsWith(error2.ToString(), "error: --out is an option of the main and onnx tasks, which write files; --task anomaly writes none.");
        (exit, _, error) = Run("--task", "anomaly", "--epochs", "0");
        Assert.AreEqual(PipelineApp.UserError, exit, error);
        StringAssert.StartsWith(error, "error: --epochs 0 trains nothing, and --task anomaly starts from no machine");
    }

    [TestMethod]
    [DataRow("--help")]
    [DataRow("-h")]
    public void HelpListsEveryOption(string help)
    {
        var (exit, text, error) = Run(help);
        Assert.AreEqual(PipelineApp.Success, exit, error);
        Assert.AreEqual("", error);
        foreach (string option in new[] { "--task", "--epochs", "--k", "--seed", "--architecture", "--rule", "--train-limit", "--normal-digits", "--per-digit",
                                          "--data", "--out", "--gpu", "--fallback-to-cpu", "--help" })
            StringAssert.Contains(text, option + " ");
    }

    /// <summary>Output that throws when a line starting with <c>trigger</c> is written: an error that is no user's.</summary>
    private sealed class ThrowAtLine(string trigger) : StringWriter
    {
        public override void WriteLine(string? value)
        {
            base.WriteLine(value);
            if (value is not null && value.StartsWith(trigger, StringComparison.Ordinal)) throw new InvalidOperationException("a bug");
        }
    }

    [TestMethod]
    public void AnInternalErrorIsOneLineWithExitCodeOne()
    {
        // An InvalidOperationException is ML.NET's or the sample's own failure, not the user's.
        var (exit, _, error) = Run(new ThrowAtLine("Training"), "--epochs", "1", "--train-limit", "100", "--architecture", "784b-20g-8g");
        Assert.AreEqual(PipelineApp.Internal, exit, error);
        StringAssert.StartsWith(error, "error: internal error (InvalidOperationException): a bug");
        Assert.IsFalse(error.Contains("   at ", StringComparison.Ordinal), "no stack trace unless HELMHOLTZ_DEBUG=1");
    }

    /// <summary>The sample's internal MnistViews (the pipeline's views over the shared data), reached by reflection: the sample grants the tests no internals.</summary>
    private static object? CallViews(string name, params object?[] args) =>
        typeof(DigitRow).Assembly.GetType("MnistViews", throwOnError: true)!.GetMethod(name, BindingFlags.Public | BindingFlags.Static)!.Invoke(null, args);

    /// <summary>--train-limit N takes N images evenly spaced over the split (the binarized splits are ordered by digit), all of them when N is 0 or more than the split holds.</summary>
    [TestMethod]
    [DataRow(3, new[] { 0, 2, 4 })]
    [DataRow(5, new[] { 0, 1, 2, 4, 5 })]
    [DataRow(10, new[] { 0, 1, 2, 3, 4, 5, 6 })]
    [DataRow(0, new[] { 0, 1, 2, 3, 4, 5, 6 })]
    [DataRow(1, new[] { 0 })]   // a limit of one image is one image, not the whole split
    public void TheUnlabelledViewTakesEvenlySpacedImages(int limit, int[] expected)
    {
        var values = new float[7 * BinarizedMnist.PixelCount];
        for (int r = 0; r < 7; r++) values[r * BinarizedMnist.PixelCount] = r;   // the first pixel names the row
        var ml = new MLContext(seed: 1);
        var view = (IDataView)CallViews("Unlabelled", ml, new DataMatrix(7, BinarizedMnist.PixelCount, values), limit)!;
        CollectionAssert.AreEqual(expected, ml.Data.CreateEnumerable<DigitRow>(view, false).Select(r => (int)r.Pixels[0]).ToArray());
    }

    /// <summary>The labelled images are the grey test set in file order, each pixel 1 where the grey level is 0.5 or more, each row with its own label.</summary>
    [TestMethod]
    public void TheLabelledViewIsTheGreyTestSetBinarizedAtOneHalf()
    {
        var (images, labels) = BinarizedMnist.LoadGreyTest(SharedData.MnistDirectory());
        var rows = (DigitRow[])CallViews("Labelled", SharedData.MnistDirectory())!;
        Assert.HasCount(images.Rows, rows);
        for (int i = 0; i < rows.Length; i++)
        {
            if (rows[i].Digit != labels[i]) Assert.Fail($"row {i}: digit {rows[i].Digit}, label {labels[i]}");
            ReadOnlySpan<float> grey = images.Row(i);
            for (int j = 0; j < grey.Length; j++)
                if (rows[i].Pixels[j] != (grey[j] >= 0.5f ? 1f : 0f)) Assert.Fail($"row {i}, pixel {j}: grey {grey[j]}, binarized {rows[i].Pixels[j]}");
        }
    }

    /// <summary>The digit options' bounds: digits 0-9, some left out as anomalies (a repeated digit counted once); 1 to 800 images a digit.</summary>
    [TestMethod]
    [DataRow("anomaly", "--normal-digits", "10", "--normal-digits takes digits 0-9 separated by commas; got '10'.")]
    [DataRow("anomaly", "--normal-digits", "0,1,2,3,4,5,6,7,8,9", "--normal-digits must leave some digits out")]
    [DataRow("anomaly", "--normal-digits", "0,1,2,3,4,5,6,7,8,9,9", "--normal-digits must leave some digits out")]
    [DataRow("few-labels", "--per-digit", "10,0", "--per-digit takes counts from 1 to 800 separated by commas; got '10,0'.")]
    [DataRow("few-labels", "--per-digit", "801", "--per-digit takes counts from 1 to 800 separated by commas; got '801'.")]
    public void TheDigitOptionsAreChecked(string task, string option, string value, string problem)
    {
        var (exit, _, error) = Run("--task", task, option, value);
        Assert.AreEqual(PipelineApp.UserError, exit, error);
        StringAssert.StartsWith(error, "error: " + problem);
    }

    /// <summary>
    /// The anomaly task trains on the even-indexed images of the normal digits (all of them without --train-limit) and tests on the
    /// odd-indexed ones, the other digits' being the anomalies: the counts it prints are those of the labels.
    /// </summary>
    [TestMethod]
    public void TheAnomalyTaskTrainsOnTheNormalDigitsEvenImagesAndTestsOnTheOddOnes()
    {
        byte[] labels = BinarizedMnist.LoadGreyTest(SharedData.MnistDirectory()).Labels;
        int train = Enumerable.Range(0, labels.Length).Count(i => i % 2 == 0 && labels[i] == 5);
        int anomalies = Enumerable.Range(0, labels.Length).Count(i => i % 2 == 1 && labels[i] != 5);
        var (exit, text, error) = Run("--task", "anomaly", "--normal-digits", "5,5", "--epochs", "1", "--architecture", "784b-10g-4g", "--k", "1");
        Assert.AreEqual(PipelineApp.Success, exit, error);
        StringAssert.Contains(text, $"(StochasticBackpropagation) on {train:N0} binarized images of digits 5; 5,000 test images, {anomalies:N0} of them of other digits (the anomalies):");
        // A --train-limit above the normal digits' images takes each of them once, not the limit's count (cancelled as the training starts).
        using var source = new CancellationTokenSource();
        (exit, text, error) = Run(new AtLine("Training", source.Cancel), source.Token, "--task", "anomaly", "--normal-digits", "5", "--train-limit", "100000",
            "--epochs", "1", "--architecture", "784b-10g-4g", "--k", "1");
        Assert.AreEqual(PipelineApp.Cancelled, exit, error);
        StringAssert.StartsWith(text, $"Training 784b-10g-4g (StochasticBackpropagation) on {train:N0} binarized images of digits 5;");
    }

    /// <summary>Each --rule trains under its own rule (as the line before the training names it; the run is cancelled there).</summary>
    [TestMethod]
    [DataRow("sbp", "StochasticBackpropagation")]
    [DataRow("sbp-price", "StochasticBackpropagationPrice")]
    [DataRow("wake-sleep", "WakeSleep")]
    [DataRow("reinforce", "Reinforce")]
    [DataRow("nvil", "Nvil")]
    [DataRow("iwae", "ImportanceWeighted")]
    [DataRow("vimco", "Vimco")]
    [DataRow("rws", "ReweightedWakeSleep, q updated in the wake phase")]
    public void EachRuleIsTheOneNamed(string rule, string said)
    {
        using var source = new CancellationTokenSource();
        var (exit, text, error) = Run(new AtLine("Training", source.Cancel), source.Token, "--task", "anomaly", "--rule", rule, "--epochs", "1", "--train-limit", "100",
            "--architecture", "784b-10g-4g", "--k", "1");
        Assert.AreEqual(PipelineApp.Cancelled, exit, error);
        StringAssert.StartsWith(text, $"Training 784b-10g-4g ({said}) on 100 binarized images");
    }

    /// <summary>
    /// A machine given with --seed 5 is scored with the transformer's fixed noise of that seed (5 + 2), its mean and standard error over the
    /// images printed; the classifier trains on 500 images of each digit and is evaluated on the other 5,000; and a signal while it
    /// trains stops the task before the save: no model.zip.
    /// </summary>
    [TestMethod]
    public void TheMainTaskScoresUnderTheSeedGivenAndSavesNothingAfterASignal()
    {
        HelmholtzMachine machine = TestModels.Random("784b-10b-4b", 3);
        string file = Temp.File("machine.hm");
        machine.Save(file);
        using var source = new CancellationTokenSource();
        var (exit, text, error) = Run(new AtLine("classifier on the machine's features", source.Cancel), source.Token,
            "--machine", file, "--epochs", "0", "--k", "2", "--seed", "5", "--train-limit", "100");
        Assert.AreEqual(PipelineApp.Cancelled, exit, error);
        Assert.IsEmpty(Directory.GetFiles(Temp.File("out")), "no model.zip, whole or half, and no temporary file");
        DataMatrix test = BinarizedMnist.Load(SharedData.MnistDirectory()).Test;
        var values = new double[test.Rows];
        new FixedNoiseLogLikelihood(machine, 2, seed: 5 + 2).CreateScorer().Estimate(test.Values, test.Rows, values);
        double[] column = values.Select(v => (double)(float)v).ToArray();   // the column is float
        double mean = column.Average();
        double se = Math.Sqrt(column.Sum(v => (v - mean) * (v - mean)) / (column.Length - 1) / column.Length);
        StringAssert.Contains(text, $"test log-likelihood (the LogLikelihood column, K = 2): {mean:F2} nats over 10,000 images (standard error over images {se:F2})");
        StringAssert.Contains(text, "classifier on the machine's features (4b units), 5,000 labelled images: accuracy ");
        StringAssert.EndsWith(text.TrimEnd(), " on the other 5,000");
    }

    /// <summary>
    /// Under the defaults (the README's first command) the main task trains 784b-200g-50g for 10 epochs on the whole binarized training
    /// split, not on the test set it scores (cancelled as the training starts).
    /// </summary>
    [TestMethod]
    public void TheMainTaskTrainsOnTheTrainingSplitUnderTheDefaults()
    {
        int rows = BinarizedMnist.Load(SharedData.MnistDirectory()).Train.Rows;
        using var source = new CancellationTokenSource();
        var (exit, text, error) = Run(new AtLine("Training", source.Cancel), source.Token);
        Assert.AreEqual(PipelineApp.Cancelled, exit, error);
        StringAssert.StartsWith(text, $"Training 784b-200g-50g (StochasticBackpropagation) on {rows:N0} unlabelled binarized MNIST images, 10 epochs:");
    }

    /// <summary>A signal while the few-labels task is between its rows stops it before the next classifier: exit code 130, no row (--per-digit 800, its largest).</summary>
    [TestMethod]
    public void TheFewLabelsTaskStopsBeforeItsNextRowAfterASignal()
    {
        using var source = new CancellationTokenSource();
        var (exit, text, error) = Run(new AtLine(" labelled images", source.Cancel), source.Token,
            "--task", "few-labels", "--epochs", "1", "--train-limit", "100", "--architecture", "784b-10g-4g", "--per-digit", "800");
        Assert.AreEqual(PipelineApp.Cancelled, exit, error);
        Assert.DoesNotContain("           8,000 ", text, "no row of the table");
    }

    /// <summary>A --machine file that is no machine (its data invalid) is the user's error, one line naming the file.</summary>
    [TestMethod]
    public void AMachineFileThatIsNoMachineIsAUserError()
    {
        string file = Temp.File("not-a-machine.hm");
        File.WriteAllText(file, "not a Helmholtz machine");
        var (exit, _, error) = Run("--machine", file, "--epochs", "0");
        Assert.AreEqual(PipelineApp.UserError, exit, error);
        StringAssert.StartsWith(error, $"error: {file}: ");
    }

    /// <summary>--fallback-to-cpu to another task than onnx is refused as an onnx option.</summary>
    [TestMethod]
    public void TheFallbackToTheCpuIsAnOptionOfTheOnnxTask()
    {
        var (exit, _, error) = Run("--fallback-to-cpu");
        Assert.AreEqual(PipelineApp.UserError, exit, error);
        StringAssert.StartsWith(error, "error: --gpu and --fallback-to-cpu are options of the onnx task.");
    }

    /// <summary>--out is refused by the few-labels task, which writes no file, as by the anomaly task: before the data loads or a folder is made.</summary>
    [TestMethod]
    public void TheFewLabelsTaskRefusesOut()
    {
        string output = Temp.File("few-labels-out");
        var (exit, _, error) = Run("--task", "few-labels", "--epochs", "1", "--train-limit", "100", "--architecture", "784b-10g-4g", "--out", output);
        Assert.AreEqual(PipelineApp.UserError, exit, error);
        StringAssert.StartsWith(error, "error: --out is an option of the main and onnx tasks, which write files; --task few-labels writes none.");
        Assert.IsFalse(Directory.Exists(output), "no folder is made for it");
    }

    /// <summary>
    /// With --fallback-to-cpu a GPU that cannot be had is no error: the CUDA provider is not probed before the training (GPU 99, which no
    /// machine the tests run on has), and the task goes on to train; it is cancelled there to keep the run short.
    /// </summary>
    [TestMethod]
    public void AGpuThatCannotBeHadWithTheFallbackGoesOnToTrain()
    {
        using var source = new CancellationTokenSource();
        var (exit, text, error) = Run(new AtLine("Training", source.Cancel), source.Token, "--task", "onnx", "--epochs", "1", "--train-limit", "100",
            "--architecture", "784b-10g-4g", "--k", "2", "--gpu", "99", "--fallback-to-cpu");
        Assert.AreEqual(PipelineApp.Cancelled, exit, error);
        StringAssert.StartsWith(text, "Training 784b-10g-4g (StochasticBackpropagation) on 100 unlabelled binarized MNIST images");
        Assert.DoesNotContain("--gpu", error);
    }

    /// <summary>
    /// The anomaly task's --train-limit takes its images evenly spaced over the normal digits' training images, as the other tasks do,
    /// not the first of them: a run limited to 100 of 200 such images trains and scores exactly as a run given only the even-numbered
    /// 100 of them (the same test images, seed and options), so that the two tables and thresholds agree to the last digit printed.
    /// </summary>
    [TestMethod]
    public void TheAnomalyTasksTrainLimitTakesEvenlySpacedImages()
    {
        // Grey test files of 400 random black-and-white images: the even-indexed ones train (digit 0 the normal one), the odd ones test.
        var random = new Random(5);
        byte[][] normal = Enumerable.Range(0, 200).Select(_ => RandomImage(random)).ToArray();
        byte[][] tests = Enumerable.Range(0, 200).Select(_ => RandomImage(random)).ToArray();
        byte[] testLabels = Enumerable.Range(0, 200).Select(j => (byte)(j % 3 == 0 ? 0 : 1)).ToArray();
        byte[] filler = RandomImage(random);
        // All 200 normal images, the limit to take 100 of them; and only the even-numbered 100, the rest of the even slots
        // an anomaly digit's (which neither trains nor tests).
        string all = WriteGreyTest("all", Interleave(normal, tests), Interleave(Enumerable.Repeat((byte)0, 200).ToArray(), testLabels));
        byte[][] everyOther = Enumerable.Range(0, 200).Select(j => j < 100 ? normal[2 * j] : filler).ToArray();
        string half = WriteGreyTest("half", Interleave(everyOther, tests), Interleave(Enumerable.Range(0, 200).Select(j => (byte)(j < 100 ? 0 : 1)).ToArray(), testLabels));

        string[] common = ["--task", "anomaly", "--normal-digits", "0", "--epochs", "1", "--architecture", "784b-10g-4g", "--k", "2", "--seed", "3"];
        var (limited, limitedText) = RunAnomaly([.. common, "--data", all, "--train-limit", "100"]);
        var (given, givenText) = RunAnomaly([.. common, "--data", half]);
        Assert.AreEqual(PipelineApp.Success, limited, limitedText);
        Assert.AreEqual(PipelineApp.Success, given, givenText);
        StringAssert.Contains(limitedText, "on 100 binarized images of digits 0; 200 test images, 133 of them of other digits");
        StringAssert.Contains(givenText, "on 100 binarized images of digits 0; 200 test images, 133 of them of other digits");
        Assert.HasCount(3, Results(givenText), givenText);
        CollectionAssert.AreEqual(Results(givenText), Results(limitedText), "the limited run trains on the even-numbered images");

        static byte[] RandomImage(Random random) => Enumerable.Range(0, BinarizedMnist.PixelCount).Select(_ => (byte)(random.Next(2) * 255)).ToArray();
        static T[] Interleave<T>(T[] even, T[] odd) => even.Zip(odd).SelectMany(p => new[] { p.First, p.Second }).ToArray();
        string WriteGreyTest(string name, byte[][] images, byte[] labels)
        {
            string folder = Directory.CreateDirectory(Temp.File(name)).FullName;
            IdxWriter.WriteImages(Path.Combine(folder, BinarizedMnist.GreyTestImagesFile), 28, 28, images.SelectMany(i => i).ToArray(), gzip: true);
            IdxWriter.WriteLabels(Path.Combine(folder, BinarizedMnist.GreyTestLabelsFile), labels, gzip: true);
            return folder;
        }
        static (int Exit, string Text) RunAnomaly(string[] args)
        {
            var output = new StringWriter();
            var error = new StringWriter();
            int exit = PipelineApp.Run(args, output, error);
            return (exit, exit == PipelineApp.Success ? output.ToString() : error.ToString());
        }
        // The detectors' table and the threshold (the epoch lines carry timings).
        static string[] Results(string text) => text.Split('\n').Select(l => l.TrimEnd('\r'))
            .Where(l => l.StartsWith("Helmholtz machine", StringComparison.Ordinal) || l.StartsWith("ML.NET RandomizedPca", StringComparison.Ordinal)
                        || l.StartsWith("threshold", StringComparison.Ordinal)).ToArray();
    }
}
