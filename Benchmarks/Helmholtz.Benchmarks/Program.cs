using Helmholtz.Benchmarks;

const string Usage = """
    usage: Helmholtz.Benchmarks <mode> [options]   (--help: this text)
    modes:
      gemm [REPEATS]
      kernels [REPEATS]
      model [--epochs N] [--score-images N] [--k K1,K2] [--chunks ROWS1,ROWS2] [--scoring-only] [--only TEXT1,TEXT2]
      paired [--rounds N] [--rule NAME] [--architecture SPEC]
      pipeline [--repeats N] [--epochs-only | --saved-only]
      stream-memory [ROWS]
      onnx [--repeats N] [--gpu DEVICE] [--no-full-test]
      saved-chain [--repeats N] [--gpu DEVICE]
      temporal [--rounds N] [--architecture A] [--rule R] [--recurrent-units N] [--k K] [--scoring-rounds N] [--onnx] [--gpu DEVICE]
      optimizer-step [--rounds N] [--architecture SPEC]
      floors --model FILE [--rule NAME] [--rounds N] [--train-samples K] [--lr X]
      builds DIR_A DIR_B [--rounds N] [--only TEXT]
      centring [--rounds N] [--architecture SPEC]
      packing-free [ROUNDS]
      fused-visible [ROUNDS]
    """;

if (args.Length == 0)
{
    Console.Error.WriteLine(Usage);
    return 2;
}
if (args.Any(a => a is "--help" or "-h"))
{
    Console.WriteLine(Usage);
    return 0;
}

// One error path: a command-line mistake, a missing or damaged file or data folder, a rule that does not fit
// the architecture is one line "error: …" and exit code 2; anything else is an internal error, exit code 1.
try
{
    string[] options = args.AsSpan(1).ToArray();
    Modes.Run(args[0], options);
    return 0;
}
catch (UsageException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    Console.Error.WriteLine(Usage);
    return 2;
}
catch (Exception e) when (e is ArgumentException or FormatException or InvalidDataException or IOException or UnauthorizedAccessException or NotSupportedException)
{
    Console.Error.WriteLine($"error: {e.Message.ReplaceLineEndings(" ")}");
    return 2;
}
catch (Exception e)
{
    Console.Error.WriteLine($"error: internal error ({e.GetType().Name}): {e.Message.ReplaceLineEndings(" ")}");
    if (Environment.GetEnvironmentVariable("HELMHOLTZ_DEBUG") is "1") Console.Error.WriteLine(e);
    else Console.Error.WriteLine("(set HELMHOLTZ_DEBUG=1 to see where)");
    return 1;
}
