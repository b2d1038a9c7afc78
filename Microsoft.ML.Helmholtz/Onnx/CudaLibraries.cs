using System.Runtime.InteropServices;

namespace Microsoft.ML.Helmholtz.Onnx;

/// <summary>
/// The libraries ONNX Runtime 1.31's CUDA provider loads, looked for the way the provider looks for
/// them, so that a failed start can name what is missing (ONNX Runtime says only "Failed to load
/// shared library").
/// </summary>
internal static class CudaLibraries
{
    /// <summary>File name and what it is, for this operating system.</summary>
    public static IReadOnlyList<(string File, string What)> Required { get; } =
        OperatingSystem.IsWindows()
            ? [("nvcuda.dll", "the NVIDIA driver"), ("cudart64_13.dll", "the CUDA 13 runtime"), ("cublas64_13.dll", "cuBLAS 13"),
               ("cublasLt64_13.dll", "cuBLASLt 13"), ("curand64_10.dll", "cuRAND 10"), ("cudnn64_9.dll", "cuDNN 9")]
            : [("libcuda.so.1", "the NVIDIA driver"), ("libcudart.so.13", "the CUDA 13 runtime"), ("libcublas.so.13", "cuBLAS 13"),
               ("libcublasLt.so.13", "cuBLASLt 13"), ("libcurand.so.10", "cuRAND 10"), ("libcudnn.so.9", "cuDNN 9")];

    /// <summary>"libcudart.so.13 (the CUDA 13 runtime), …" for each required library that does not load; empty when all load.</summary>
    public static string Missing(Func<string, bool>? loads = null)
    {
        loads ??= TryLoad;
        return string.Join(", ", Required.Where(r => !loads(r.File)).Select(r => $"{r.File} ({r.What})"));
    }

    private static bool TryLoad(string file)
    {
        if (!NativeLibrary.TryLoad(file, out IntPtr handle)) return false;
        NativeLibrary.Free(handle);
        return true;
    }
}
