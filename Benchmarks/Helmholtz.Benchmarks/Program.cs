using Helmholtz.Benchmarks;

if (args.Length == 0)
{
    Console.Error.WriteLine("usage: Helmholtz.Benchmarks <mode> [options]\nmodes: gemm [repeats] | kernels [repeats] | model [--epochs N] [--score-images N] [--k K1,K2] [--scoring-only] [--only TEXT1,TEXT2] | paired [--rounds N] [--rule NAME] [--architecture SPEC] | pipeline [--repeats N] [--epochs-only] | stream-memory [ROWS] | onnx [--repeats N] [--gpu DEVICE] [--no-full-test] | temporal [--rounds N] [--architecture A] [--rule R] [--recurrent-units N] [--k K] | floors --model FILE [--rule NAME] [--rounds N] [--train-samples K] [--lr X] | builds DIR_A DIR_B [--rounds N] [--only TEXT] | centring [--rounds N] [--architecture SPEC]");
    return 2;
}

switch (args[0])
{
    case "gemm":
        GemmBenchmark.Run(args.AsSpan(1).ToArray());
        return 0;
    case "model":
        ModelBenchmark.Run(args.AsSpan(1).ToArray());
        return 0;
    case "paired":
        PairedBenchmark.Run(args.AsSpan(1).ToArray());
        return 0;
    case "pipeline":
        PipelineBenchmark.Run(args.AsSpan(1).ToArray());
        return 0;
    case "onnx":
        OnnxBenchmark.Run(args.AsSpan(1).ToArray());
        return 0;
    case "stream-memory":
        PipelineBenchmark.StreamMemory(args.AsSpan(1).ToArray());
        return 0;
    case "temporal":
        TemporalBenchmark.Run(args.AsSpan(1).ToArray());
        return 0;
    case "floors":
        OptimizerFloorsBenchmark.Run(args.AsSpan(1).ToArray());
        return 0;
    case "kernels":
        KernelBenchmark.Run(args.AsSpan(1).ToArray());
        return 0;
    case "centring":
        CentringBenchmark.Run(args.AsSpan(1).ToArray());
        return 0;
    case "builds":
        BuildsBenchmark.Run(args.AsSpan(1).ToArray());
        return 0;
    default:
        Console.Error.WriteLine($"unknown mode '{args[0]}'");
        return 2;
}
