namespace Microsoft.ML.Helmholtz.Transforms;

/// <summary>
/// The library uses ONNX Runtime's managed API only; the application brings the native package. Without it, the
/// first native call fails as a type initializer's or a loader's exception: these name what is missing instead. Here too: ML.NET's
/// ONNX estimator made again where ONNX Runtime refused only the name of ML.NET's temporary model file.
/// </summary>
internal static class OnnxRuntimeNative
{
    public static bool IsMissing(Exception e) => e is DllNotFoundException or TypeInitializationException or EntryPointNotFoundException;

    public static InvalidOperationException Missing(string what, Exception e) => new(
        $"{what} needs ONNX Runtime's native library (the machine runs as an ONNX model): add the package Microsoft.ML.OnnxRuntime (CPU) " +
        "or Microsoft.ML.OnnxRuntime.Gpu to the application.", e);

    /// <summary>How many times the library makes ML.NET's ONNX estimator over its bytes before a refusal of the file's name stands.</summary>
    public const int TemporaryNameTries = 4;

    /// <summary>
    /// ML.NET's ApplyOnnxModel over a model's bytes: the estimator of a saved chain, with ONNX Runtime's absence named (what: the
    /// work that needed it). ML.NET writes the bytes to a temporary file named by Path.GetRandomFileName, and ONNX Runtime reads a
    /// file whose name ends in ".ort" as its own flatbuffer format: one name in 32,768 (three random characters of 32) fails a
    /// valid ONNX model with "ORT model verification failed". The library's models are always ONNX, so that refusal is the name's
    /// alone and the estimator is made again, under another name.
    /// </summary>
    public static IEstimator<ITransformer> ApplyOnnxModel(MLContext ml, string[] outputs, string[] inputs, byte[] model, string what)
        => RetryingTheTemporaryName(() =>
        {
            try
            {
                return (IEstimator<ITransformer>)ml.Transforms.ApplyOnnxModel(outputs, inputs, new MemoryStream(model));
            }
            catch (Exception e) when (IsMissing(e))
            {
                throw Missing(what, e);
            }
        });

    /// <summary>create(), made again while it fails only for its temporary file's name (<see cref="IsOrtFormatNameRefusal"/>), up to <see cref="TemporaryNameTries"/> times in all.</summary>
    public static T RetryingTheTemporaryName<T>(Func<T> create)
    {
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return create();
            }
            catch (Exception e) when (attempt < TemporaryNameTries && IsOrtFormatNameRefusal(e))
            {
            }
        }
    }

    /// <summary>Whether e, or an exception inside it, is ONNX Runtime's refusal of an ONNX model in a file named as its own format (".ort").</summary>
    public static bool IsOrtFormatNameRefusal(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
            if (e is Microsoft.ML.OnnxRuntime.OnnxRuntimeException && e.Message.Contains("ORT model verification failed", StringComparison.Ordinal)) return true;
        return false;
    }

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
