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

    private static readonly Lock s_quiet = new();

    /// <summary>
    /// Appends ONNX Runtime's CUDA provider with its own log held to fatal messages: where the provider cannot start, ONNX Runtime
    /// writes an error line of its own to the console before it throws, and the caller's exception (or fallback warning) says it
    /// better. The log level is the process's; it is put back at once.
    /// </summary>
    public static void AppendCudaQuietly(Microsoft.ML.OnnxRuntime.SessionOptions options, int device)
    {
        lock (s_quiet)
        {
            var environment = Microsoft.ML.OnnxRuntime.OrtEnv.Instance();
            var level = environment.EnvLogLevel;
            environment.EnvLogLevel = Microsoft.ML.OnnxRuntime.OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL;
            try
            {
                options.AppendExecutionProvider_CUDA(device);
            }
            finally
            {
                environment.EnvLogLevel = level;
            }
        }
    }
}
