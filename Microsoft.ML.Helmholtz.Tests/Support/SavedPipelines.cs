using Microsoft.ML.Helmholtz.Transforms;

namespace Microsoft.ML.Helmholtz.Tests.Support;

/// <summary>
/// MLContext.Model.Load of a saved pipeline, loaded again where ONNX Runtime refused only the name of the temporary file ML.NET
/// writes the ONNX model to (one name in 32,768 ends in ".ort"; OnnxRuntimeNative.IsOrtFormatNameRefusal): the tests check the
/// pipeline, not ML.NET's choice of name. usage.md says the same to applications.
/// </summary>
internal static class SavedPipelines
{
    public static ITransformer Load(MLContext ml, string path, out DataViewSchema schema)
    {
        DataViewSchema? loaded = null;
        ITransformer model = OnnxRuntimeNative.RetryingTheTemporaryName(() => ml.Model.Load(path, out loaded));
        schema = loaded!;
        return model;
    }

    public static ITransformer Load(MLContext ml, Stream stream, out DataViewSchema schema)
    {
        long start = stream.Position;
        DataViewSchema? loaded = null;
        ITransformer model = OnnxRuntimeNative.RetryingTheTemporaryName(() =>
        {
            stream.Position = start;
            return ml.Model.Load(stream, out loaded);
        });
        schema = loaded!;
        return model;
    }
}
