namespace Helmholtz.Samples;

/// <summary>What the samples share at the command line: one-line messages, the internal-error exit, an output folder checked before work, and files written whole.</summary>
internal static class SampleConsole
{
    public static string OneLine(string message) => message.ReplaceLineEndings(" ");

    /// <summary>
    /// The value after option <paramref name="name"/>, at args[i + 1] (i moves to it). Refused when there is none, or when the
    /// next argument is an option: "--out --epochs 3" took "--epochs" for a folder (and made it) and then named '3' the
    /// unknown option. A value that begins with "--" can be written otherwise (a path as ./--name).
    /// </summary>
    public static string NextValue(string[] args, ref int i, string name)
    {
        if (i + 1 >= args.Length) throw new ArgumentException($"{name} needs a value.");
        string next = args[i + 1];
        if (next.Length > 2 && next.StartsWith("--", StringComparison.Ordinal) && char.IsAsciiLetter(next[2]))
            throw new ArgumentException($"{name} needs a value, but the next argument is the option {next}.");
        return args[++i];
    }

    /// <summary>
    /// An exception's message without the "(Parameter 'x')" that ArgumentException adds, nor the line "Actual value was v." that
    /// ArgumentOutOfRangeException adds: the options are named in the text, with their values.
    /// </summary>
    public static string WithoutParameter(Exception e)
    {
        string message = e.Message;
        if (e is ArgumentOutOfRangeException { ActualValue: { } value } && Environment.NewLine + $"Actual value was {value}." is var line
            && message.EndsWith(line, StringComparison.Ordinal))
            message = message[..^line.Length];
        return e is ArgumentException { ParamName: { } name } ? message.Replace($" (Parameter '{name}')", "", StringComparison.Ordinal) : message;
    }

    /// <summary>The architecture <paramref name="text"/> of --architecture; one that does not parse is an <see cref="ArgumentException"/> naming the option.</summary>
    public static Microsoft.ML.Helmholtz.Model.HelmholtzArchitecture ParseArchitecture(string text)
    {
        try
        {
            return Microsoft.ML.Helmholtz.Model.HelmholtzArchitecture.Parse(text);
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            throw new ArgumentException($"--architecture {text}: {WithoutParameter(e)}", e);
        }
    }

    /// <summary>The line for an estimator's refusal of a machine whose numbers pass single precision (exit code 3, as a diverged run).</summary>
    public static string CannotBeScored(NotFiniteNumberException e) => $"the model cannot be scored: {OneLine(e.Message)}";

    /// <summary>An exception no user error explains: one line, the stack trace only when HELMHOLTZ_DEBUG=1; returns <paramref name="exitCode"/>.</summary>
    public static int InternalError(TextWriter error, Exception e, int exitCode)
    {
        error.WriteLine($"error: internal error ({e.GetType().Name}): {OneLine(e.Message)}");
        if (Environment.GetEnvironmentVariable("HELMHOLTZ_DEBUG") is "1") error.WriteLine(e);
        else error.WriteLine("(set HELMHOLTZ_DEBUG=1 to see where)");
        return exitCode;
    }

    /// <summary>
    /// Why a run with a time limit stopped after <paramref name="epochs"/> epochs, fewer than it was given: the learning rate
    /// reached 0 in single precision at the next epoch of <paramref name="schedule"/> (counted from <paramref name="firstScheduleEpoch"/>),
    /// where the trainer stops as at its time limit, or the time limit itself.
    /// </summary>
    public static string StoppedEarly(Microsoft.ML.Helmholtz.Learning.LearningRateSchedule schedule, int firstScheduleEpoch, int epochs)
        => (float)schedule.At((int)Math.Min(int.MaxValue, (long)firstScheduleEpoch + epochs)) == 0
            ? $"learning rate 0: stopped after epoch {epochs}, where --decay takes the rate to 0 in single precision (set --min-lr, or decay more slowly)"
            : $"time limit reached: stopped after epoch {epochs} (reproduce with --epochs {epochs} and no time limit)";

    /// <summary>
    /// Creates the folder, proves it writable and refuses a folder where one of <paramref name="files"/> (names in it) goes, so that a
    /// bad --out fails before the data is read and the machine trained rather than at the first save; <paramref name="contents"/> says
    /// what goes there ("the model and the learning curve"), <paramref name="option"/> the option that named the folder.
    /// </summary>
    public static void PrepareOutputDirectory(string directory, string contents, string option = "--out", params string[] files)
    {
        if (File.Exists(directory))
            throw new IOException($"{option} {directory} is a file; give a folder for {contents}.");
        try
        {
            Directory.CreateDirectory(directory);
            string probe = Path.Combine(directory, $".write-test-{Guid.NewGuid():N}");
            File.WriteAllBytes(probe, []);
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"{option} {directory} cannot be written: {OneLine(e.Message)}", e);
        }
        foreach (string file in files)
            if (Directory.Exists(Path.Combine(directory, file)))
                throw new IOException($"{option} {directory}: {file} there is a folder, where the run writes a file; remove it or give another {option}.");
    }
}
