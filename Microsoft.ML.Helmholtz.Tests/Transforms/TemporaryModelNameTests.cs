using Microsoft.ML.Helmholtz.Evaluation;
using Microsoft.ML.Helmholtz.Onnx;
using Microsoft.ML.Helmholtz.Tests.Data;
using Microsoft.ML.Helmholtz.Tests.Support;
using Microsoft.ML.Helmholtz.Transforms;

namespace Microsoft.ML.Helmholtz.Tests.Transforms;

/// <summary>
/// ML.NET writes an ONNX model given as bytes to a temporary file named by Path.GetRandomFileName, and ONNX Runtime reads a file
/// whose name ends in ".ort" as its own format: one name in 32,768 failed a valid model with "ORT model verification failed"
/// (once in CI, loading a saved pipeline). The saved chains make their ONNX estimator again on that refusal alone. The tests
/// make the refusal for real by naming the file themselves.
/// </summary>
[TestClass]
public sealed class TemporaryModelNameTests
{
    private static readonly byte[] s_model = MachineGraph.Build(null, new FixedNoiseLogLikelihood(TestModels.Random("6b-4b", 1), 5, seed: 2),
        new GraphColumns(Features: null));

    private static IEstimator<ITransformer> Apply(MLContext ml, string path)
        => ml.Transforms.ApplyOnnxModel(MachineGraph.LogLikelihoodName, MachineGraph.InputName, path);

    [TestMethod]
    public void AnOnnxModelInAFileNamedAsOnnxRuntimesOwnFormatIsRefusedAndKnownForIt()
    {
        using var temp = new TempDirectory();
        var ml = new MLContext(seed: 1);
        File.WriteAllBytes(temp.File("model.ort"), s_model);
        File.WriteAllBytes(temp.File("model.onnx"), s_model);
        File.WriteAllBytes(temp.File("broken.onnx"), s_model[..(s_model.Length / 2)]);
        Exception refusal = Assert.Throws<Exception>(() => Apply(ml, temp.File("model.ort")));
        Assert.IsTrue(OnnxRuntimeNative.IsOrtFormatNameRefusal(refusal), refusal.ToString());
        Assert.IsNotNull(Apply(ml, temp.File("model.onnx")), "the same bytes under another name");
        Exception broken = Assert.Throws<Exception>(() => Apply(ml, temp.File("broken.onnx")));
        Assert.IsFalse(OnnxRuntimeNative.IsOrtFormatNameRefusal(broken), "a model cut in half is refused for what it is: " + broken);
        Assert.IsFalse(OnnxRuntimeNative.IsOrtFormatNameRefusal(new InvalidOperationException("ORT model verification failed")),
            "the words alone, not from ONNX Runtime");
    }

    [TestMethod]
    [DataRow(0)]
    [DataRow(1)]
    [DataRow(OnnxRuntimeNative.TemporaryNameTries - 1)]
    public void TheEstimatorIsMadeAgainWhileOnlyItsFilesNameIsRefused(int refusedNames)
    {
        using var temp = new TempDirectory();
        var ml = new MLContext(seed: 1);
        File.WriteAllBytes(temp.File("model.ort"), s_model);
        File.WriteAllBytes(temp.File("model.onnx"), s_model);
        int calls = 0;
        IEstimator<ITransformer> estimator = OnnxRuntimeNative.RetryingTheTemporaryName(
            () => Apply(ml, temp.File(calls++ < refusedNames ? "model.ort" : "model.onnx")));
        Assert.IsNotNull(estimator);
        Assert.AreEqual(refusedNames + 1, calls);
    }

    [TestMethod]
    public void ARefusalThatStaysOrIsAboutTheModelIsThrown()
    {
        using var temp = new TempDirectory();
        var ml = new MLContext(seed: 1);
        File.WriteAllBytes(temp.File("model.ort"), s_model);
        File.WriteAllBytes(temp.File("broken.onnx"), s_model[..(s_model.Length / 2)]);
        int calls = 0;
        Exception stays = Assert.Throws<Exception>(() => OnnxRuntimeNative.RetryingTheTemporaryName(() => { calls++; return Apply(ml, temp.File("model.ort")); }));
        Assert.IsTrue(OnnxRuntimeNative.IsOrtFormatNameRefusal(stays));
        Assert.AreEqual(OnnxRuntimeNative.TemporaryNameTries, calls, "tries before the refusal stands");
        calls = 0;
        Exception broken = Assert.Throws<Exception>(() => OnnxRuntimeNative.RetryingTheTemporaryName(() => { calls++; return Apply(ml, temp.File("broken.onnx")); }));
        Assert.IsFalse(OnnxRuntimeNative.IsOrtFormatNameRefusal(broken));
        Assert.AreEqual(1, calls, "a broken model is not made again");
    }
}
