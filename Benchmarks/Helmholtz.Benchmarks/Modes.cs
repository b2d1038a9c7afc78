namespace Helmholtz.Benchmarks;

/// <summary>The benchmark's modes by name: each reads and checks its options (<see cref="CommandLine"/>), then measures.</summary>
internal static class Modes
{
    public static void Run(string mode, string[] options)
    {
        switch (mode)
        {
            case "gemm": GemmBenchmark.Run(options); break;
            case "model": ModelBenchmark.Run(options); break;
            case "paired": PairedBenchmark.Run(options); break;
            case "pipeline": PipelineBenchmark.Run(options); break;
            case "onnx": OnnxBenchmark.Run(options); break;
            case "saved-chain": SavedChainBenchmark.Run(options); break;
            case "stream-memory": PipelineBenchmark.StreamMemory(options); break;
            case "temporal": TemporalBenchmark.Run(options); break;
            case "optimizer-step": OptimizerStepBenchmark.Run(options); break;
            case "floors": OptimizerFloorsBenchmark.Run(options); break;
            case "kernels": KernelBenchmark.Run(options); break;
            case "centring": CentringBenchmark.Run(options); break;
            case "packing-free": PackingFreeBenchmark.Run(options); break;
            case "fused-visible": FusedVisibleBenchmark.Run(options); break;
            case "builds": BuildsBenchmark.Run(options); break;
            default: throw new UsageException($"unknown mode '{mode}'.");
        }
    }
}
