namespace Microsoft.ML.Helmholtz.Transforms;

/// <summary>
/// The library uses ONNX Runtime's managed API only; the application brings the native package. Without it, the
/// first native call fails as a type initializer's or a loader's exception: these name what is missing instead.
/// </summary>
internal static class OnnxRuntimeNative
{
    public static bool IsMissing(Exception e) => e is DllNotFoundException or TypeInitializationException or EntryPointNotFoundException;

    public static InvalidOperationException Missing(string what, Exception e) => new(
        $"{what} needs ONNX Runtime's native library (the machine runs as an ONNX model): add the package Microsoft.ML.OnnxRuntime (CPU) " +
        "or Microsoft.ML.OnnxRuntime.Gpu to the application.", e);
}
