using Microsoft.ML.OnnxRuntime;

namespace Microsoft.ML.Helmholtz.Tests.Onnx;

/// <summary>
/// The ONNX Runtime sessions the graph tests compare with the managed numbers. By default on the CPU provider; a run given
/// <c>HELMHOLTZ_TEST_CUDA_DEVICE=N</c> puts every such session on CUDA device N instead (<c>Benchmarks/cuda-check.sh</c>
/// does, on a machine lent a GPU), and a provider that cannot start there fails the test rather than falling back. TF32
/// products are off in those sessions: ONNX Runtime's CUDA default (10-bit mantissas) would move the values by about 1e-4
/// of themselves, beyond the tests' tolerances, and what is checked is each node's meaning on the device, not its speed.
/// </summary>
internal static class TestSessions
{
    public const string CudaDeviceVariable = "HELMHOLTZ_TEST_CUDA_DEVICE";

    /// <summary>The CUDA device the run asks for, or null (the CPU provider).</summary>
    public static int? CudaDevice
    {
        get
        {
            string? text = Environment.GetEnvironmentVariable(CudaDeviceVariable);
            if (string.IsNullOrEmpty(text)) return null;
            if (!int.TryParse(text, out int device) || device < 0)
                throw new InvalidOperationException($"{CudaDeviceVariable} is '{text}': a CUDA device number (0 or more) was expected.");
            return device;
        }
    }

    public static InferenceSession Create(byte[] model) => new(model, Options());

    public static InferenceSession Create(string path) => new(path, Options());

    private static SessionOptions Options()
    {
        if (CudaDevice is not { } device) return new SessionOptions();
        _ = OrtEnv.Instance();   // the CUDA options log through the environment, which must exist first
        using var cuda = new OrtCUDAProviderOptions();
        cuda.UpdateOptions(new Dictionary<string, string> { ["device_id"] = device.ToString(System.Globalization.CultureInfo.InvariantCulture), ["use_tf32"] = "0" });
        return SessionOptions.MakeSessionOptionWithCudaProvider(cuda);
    }
}
