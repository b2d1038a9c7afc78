using System.Globalization;
using Microsoft.ML.Helmholtz.Learning;
using Microsoft.ML.Helmholtz.Model;

namespace Helmholtz.Benchmarks;

/// <summary>A mistake on the command line: Program prints it as one line "error: …" and the usage, exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>What a mode throws at <see cref="CommandLine.OptionsRead"/> on a thread that only checks command lines.</summary>
internal sealed class OptionsReadException() : Exception("the options were read and checked; nothing was run.");

/// <summary>The modes' option values, read and checked before any data loads, each error naming the option.</summary>
internal static class CommandLine
{
    /// <summary>
    /// Set on a thread that only checks command lines (the tests check every one docs/performance.md gives): a mode then stops
    /// at <see cref="OptionsRead"/>, before any work.
    /// </summary>
    [ThreadStatic] public static bool OnlyReadOptions;

    /// <summary>Called by each mode once its options are read and checked, before it loads or measures anything.</summary>
    public static void OptionsRead()
    {
        if (OnlyReadOptions) throw new OptionsReadException();
    }

    /// <summary>The value after the option at <paramref name="i"/>, which moves onto it.</summary>
    public static string Value(string[] args, ref int i) => i + 1 < args.Length ? args[++i] : throw new UsageException($"{args[i]} needs a value.");

    /// <summary>The whole number after the option at <paramref name="i"/>, at least <paramref name="min"/>.</summary>
    public static int Int(string[] args, ref int i, int min = 1)
    {
        string name = args[i];
        return Whole(name, Value(args, ref i), min);
    }

    /// <summary>Whole numbers separated by commas after the option at <paramref name="i"/>, each at least 1.</summary>
    public static int[] Ints(string[] args, ref int i)
    {
        string name = args[i];
        string text = Value(args, ref i);
        return text.Split(',').Select(part => Whole(name, part, 1, text)).ToArray();
    }

    /// <summary>The positive, finite number after the option at <paramref name="i"/>.</summary>
    public static double Positive(string[] args, ref int i)
    {
        string name = args[i];
        string text = Value(args, ref i);
        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && v > 0 && double.IsFinite(v) ? v
            : throw new UsageException($"{name} needs a positive number; got '{text}'.");
    }

    /// <summary>A mode's only argument, a count (REPEATS, ROWS): <paramref name="fallback"/> when absent.</summary>
    public static long Count(string[] args, string what, long fallback, long max = int.MaxValue)
    {
        if (args.Length == 0) return fallback;
        if (args.Length > 1) throw new UsageException($"unexpected argument {args[1]} (one {what} at most).");
        return long.TryParse(args[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out long v) && v >= 1 && v <= max ? v
            : throw new UsageException($"{what} needs a whole number from 1 to {max}; got '{args[0]}'.");
    }

    /// <summary>A rule name, checked now rather than after the data has loaded.</summary>
    public static string Rule(string[] args, ref int i)
    {
        string rule = Value(args, ref i);
        return LearningRules.Names.Contains(rule) ? rule : throw new UsageException($"--rule must be one of {string.Join(", ", LearningRules.Names)}; got '{rule}'.");
    }

    /// <summary>An architecture, parsed now rather than after the data has loaded.</summary>
    public static string Architecture(string[] args, ref int i)
    {
        string text = Value(args, ref i);
        try
        {
            HelmholtzArchitecture.Parse(text);
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            throw new UsageException($"--architecture {text}: {e.Message}");
        }
        return text;
    }

    public static UsageException Unknown(string option, string accepted) => new($"unknown option {option} ({accepted}).");

    /// <summary>
    /// A CUDA provider that cannot start (no driver, no CUDA libraries, no such device) as the one-line user error of
    /// the other modes' <c>--gpu</c>, with ONNX Runtime's innermost message; ML.NET wraps it in reflection errors.
    /// </summary>
    public static NotSupportedException CudaUnavailable(int device, Exception e)
    {
        while (e.InnerException is not null) e = e.InnerException;
        return new NotSupportedException($"--gpu {device}: ONNX Runtime cannot start its CUDA provider ({e.Message.ReplaceLineEndings(" ").Trim()}).");
    }

    private static int Whole(string name, string text, int min, string? whole = null)
        => int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v >= min ? v
            : throw new UsageException($"{name} needs {(whole is null ? "a whole number" : "whole numbers separated by commas, each")} from {min} to {int.MaxValue}; got '{whole ?? text}'.");
}
