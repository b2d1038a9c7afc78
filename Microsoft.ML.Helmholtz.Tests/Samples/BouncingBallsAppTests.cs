using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Tests.Data;

namespace Microsoft.ML.Helmholtz.Tests.Samples;

/// <summary>The bouncing-balls sample end to end on a small data set it generates, and its errors (one line each).</summary>
[TestClass]
public sealed class BouncingBallsAppTests : TempDirectoryTests
{
    private (int Exit, string Output, string Error) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = BouncingBallsApp.Run([.. args, "--data", Temp.File("data"), "--out", Temp.File("out")], output, error);
        return (exit, output.ToString(), error.ToString());
    }

    [TestMethod]
    public void ItGeneratesTheDataTrainsBothMachinesAndWritesTheReportAndTheStrip()
    {
        var (exit, text, error) = Run("--train-sequences", "24", "--test-sequences", "4", "--frames", "12", "--epochs", "2", "--batch-sequences", "8",
            "--k", "5", "--predict-samples", "3", "--architecture", "900bs-20g", "--recurrent-units", "8");
        Assert.AreEqual(BouncingBallsApp.Success, exit, error);
        StringAssert.Contains(text, "temporal machine:");
        StringAssert.Contains(text, "without the LSTM:");
        StringAssert.Contains(text, "copying the previous frame");
        Assert.IsTrue(File.Exists(Temp.File("data/" + BouncingBalls.TrainFile)), "the data set was written for the next run");
        byte[] png = File.ReadAllBytes(Temp.File("out/strip.png"));
        CollectionAssert.AreEqual(PngWriter.Signature.ToArray(), png[..8]);
        string[] report = File.ReadAllLines(Temp.File("out/report.csv"));
        Assert.AreEqual(4, report.Length, string.Join("\n", report));
        Assert.IsTrue(report[1].StartsWith("temporal,2,", StringComparison.Ordinal), report[1]);
        // The second run reads the files the first wrote.
        var (again, secondText, secondError) = Run("--train-sequences", "24", "--test-sequences", "4", "--frames", "12", "--epochs", "1", "--batch-sequences", "8",
            "--k", "5", "--predict-samples", "3", "--architecture", "900bs-20g", "--recurrent-units", "8", "--no-baseline");
        Assert.AreEqual(BouncingBallsApp.Success, again, secondError);
        Assert.IsFalse(secondText.Contains("without the LSTM:", StringComparison.Ordinal), "--no-baseline");
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
        StringAssert.Contains(error, "--epochs must be positive");
        (exit, _, error) = Run("--frames", "12", "--bogus");
        Assert.AreEqual(BouncingBallsApp.UserError, exit);
        StringAssert.Contains(error, "unknown option --bogus");
        // A rule that cannot take the LSTM's conditioning is refused before the data set is made.
        (exit, _, error) = Run("--rule", "rws-sleep", "--architecture", "900bs-20b", "--epochs", "1");
        Assert.AreEqual(BouncingBallsApp.UserError, exit);
        StringAssert.StartsWith(error, "error: --rule rws-sleep: Reweighted wake-sleep's sleep phase does not take conditioning");
        Assert.IsFalse(Directory.Exists(Temp.File("data")), "no data set was made");
    }
}
