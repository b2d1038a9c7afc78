using System.Text.RegularExpressions;
using Microsoft.ML.Helmholtz.Tests.Support;
using Bench = Helmholtz.Benchmarks;

namespace Microsoft.ML.Helmholtz.Tests.Docs;

/// <summary>
/// docs/usage.md names every option a user sets: each sample's section the options that sample's usage text names, no more and
/// no fewer (an option added to a sample and not documented, or one documented after it was removed, fails here; that each
/// option in the usage text is one the parser takes is the samples' own tests' concern), and every settable property of the
/// options classes a user of the ML.NET components and the trainers fills in.
/// </summary>
[TestClass]
public sealed partial class OptionsDocumentationTests
{
    [TestMethod]
    [DataRow("## The MNIST sample", "Mnist")]
    [DataRow("## The pipeline sample", "Pipeline")]
    [DataRow("## The bouncing-balls sample", "BouncingBalls")]
    public void TheUsageDocumentsTheOptionsTheSampleNames(string heading, string sample)
    {
        var help = new StringWriter();
        var error = new StringWriter();
        int exit = sample switch
        {
            "Mnist" => MnistApp.Run(["--help"], help, error),
            "Pipeline" => PipelineApp.Run(["--help"], help, error),
            _ => BouncingBallsApp.Run(["--help"], help, error),
        };
        Assert.AreEqual(0, exit, error.ToString());
        SortedSet<string> named = Options(help.ToString());
        Assert.IsGreaterThan(5, named.Count, $"the {sample} sample's usage names {named.Count} options: the test reads the wrong text.");

        string usage = RepositoryDocs.Read("docs/usage.md");
        int start = usage.IndexOf("\n" + heading, StringComparison.Ordinal);   // the heading may go on: "(the temporal machine)"
        Assert.IsGreaterThanOrEqualTo(0, start, $"docs/usage.md has no section \"{heading}\".");
        int end = usage.IndexOf("\n## ", start + heading.Length + 2, StringComparison.Ordinal);
        SortedSet<string> documented = Options(usage[start..(end < 0 ? usage.Length : end)]);
        documented.Remove("--project");   // dotnet run's own, in the command line that starts the sample

        var undocumented = named.Except(documented).ToList();
        Assert.IsEmpty(undocumented, $"the {sample} sample's options that docs/usage.md does not name under \"{heading}\": {string.Join(", ", undocumented)}");
        var unknown = documented.Except(named).ToList();
        Assert.IsEmpty(unknown, $"options docs/usage.md names under \"{heading}\" that the {sample} sample's usage does not: {string.Join(", ", unknown)}");
    }

    [TestMethod]
    [DataRow(typeof(Microsoft.ML.Helmholtz.Transforms.HelmholtzMachineOptions))]
    [DataRow(typeof(Microsoft.ML.Helmholtz.Transforms.TemporalHelmholtzOptions))]
    [DataRow(typeof(Microsoft.ML.Helmholtz.Learning.TrainingOptions))]
    [DataRow(typeof(Microsoft.ML.Helmholtz.Temporal.TemporalTrainingOptions))]
    [DataRow(typeof(Microsoft.ML.Helmholtz.Onnx.OnnxExportOptions))]
    public void TheUsageNamesEverySettablePropertyOf(Type options)
    {
        string usage = RepositoryDocs.Read("docs/usage.md");
        var settable = options.GetProperties(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance)
            .Where(p => p.SetMethod is { IsPublic: true }).Select(p => p.Name).ToList();
        Assert.IsNotEmpty(settable);
        var unnamed = settable.Where(name => !Regex.IsMatch(usage, $@"\b{name}\b")).ToList();
        Assert.IsEmpty(unnamed, $"docs/usage.md does not name these properties of {options.Name}: {string.Join(", ", unnamed)}");
    }

    /// <summary>
    /// Every MNIST sample command the results give (`dotnet $M …` in docs/results.md, the README's quick run) is one the sample
    /// takes today: a figure's command that an option's rename or a new cross-check had made a usage error would no longer
    /// reproduce it. The table's placeholders (RULE, ARCH, K, …) stand for a K-sample rule on the linear 200-200 machine.
    /// </summary>
    [TestMethod]
    public void EveryMnistCommandInTheResultsIsOneTheSampleTakes()
    {
        var placeholders = new Dictionary<string, string> { ["RULE"] = "vimco", ["R"] = "vimco", ["ARCH"] = "784b-200b-200b", ["K"] = "5", ["FILE"] = "model.hm", ["NAME"] = "name" };
        var commands = Commands(MnistCommand(), placeholders, "docs/results.md", "README.md");
        Assert.IsGreaterThan(20, commands.Count, "docs/results.md gives its commands as `dotnet $M …`: the test reads the wrong text.");
        AssertAllTaken(commands, arguments => MnistOptions.Parse(arguments), "the MNIST sample");
    }

    /// <summary>
    /// The pipeline sample's commands in the docs (`--project $P -- …` in docs/results.md, `Helmholtz.Pipeline.dll …` in
    /// docs/performance.md) are ones it takes today; a command shown with an ellipsis for its options is not one.
    /// </summary>
    [TestMethod]
    public void EveryPipelineCommandInTheDocsIsOneTheSampleTakes()
    {
        var commands = Commands(PipelineCommand(), [], "docs/performance.md", "docs/results.md", "README.md");
        Assert.IsGreaterThan(3, commands.Count, "the docs give the pipeline sample's commands as `Helmholtz.Pipeline.dll …`: the test reads the wrong text.");
        AssertAllTaken(commands, PipelineApp.CheckArguments, "the pipeline sample");
    }

    /// <summary>The bouncing-balls sample's commands in the docs (`--project Samples/Helmholtz.BouncingBalls -- …`) are ones it takes today.</summary>
    [TestMethod]
    public void EveryBouncingBallsCommandInTheDocsIsOneTheSampleTakes()
    {
        var commands = Commands(BouncingBallsCommand(), [], "docs/performance.md", "docs/results.md", "README.md");
        Assert.IsGreaterThan(1, commands.Count, "docs/results.md gives the bouncing-balls runs as `--project Samples/Helmholtz.BouncingBalls -- …`: the test reads the wrong text.");
        AssertAllTaken(commands, BouncingBallsApp.CheckArguments, "the bouncing-balls sample");
    }

    /// <summary>Fails naming each command that <paramref name="check"/> refuses (a usage error of the sample's or the benchmark's), with the reason it gives.</summary>
    private static void AssertAllTaken(List<(string Command, string[] Arguments)> commands, Action<string[]> check, string program)
    {
        var refused = new List<string>();
        foreach (var (command, arguments) in commands)
        {
            try
            {
                check(arguments);
            }
            catch (Exception e) when (e is ArgumentException or FormatException or Bench.UsageException)
            {
                refused.Add($"{command}\n    {e.Message}");
            }
        }
        Assert.IsEmpty(refused, $"commands {program} refuses:\n" + string.Join("\n", refused));
    }

    /// <summary>
    /// Every benchmark command the docs give (`dotnet $B MODE …`, $B the benchmark's dll, and the other forms below) is one its mode takes today: each
    /// mode reads and checks its options, then stops before any work (<see cref="Bench.CommandLine.OnlyReadOptions"/>).
    /// Placeholders: OLD, NEW, … are the builds' folders (not opened before the check) and R a rule.
    /// </summary>
    [TestMethod]
    public void EveryBenchmarkCommandInTheDocsIsOneTheBenchmarkTakes()
    {
        var commands = Commands(BenchmarkCommand(), new Dictionary<string, string> { ["R"] = "wake-sleep" }, "docs/performance.md", "docs/results.md", "README.md");
        Assert.IsGreaterThan(40, commands.Count, "docs/performance.md gives its commands as `dotnet $B MODE …`: the test reads the wrong text.");
        Bench.CommandLine.OnlyReadOptions = true;
        try
        {
            AssertAllTaken(commands, arguments =>
            {
                try
                {
                    Bench.Modes.Run(arguments[0], arguments[1..]);
                }
                catch (Bench.OptionsReadException)
                {
                    return;   // its options were read and checked, and the mode stopped there
                }
                throw new ArgumentException("ran without reaching its options check");
            }, "the benchmark");
        }
        finally
        {
            Bench.CommandLine.OnlyReadOptions = false;
        }
    }

    /// <summary>
    /// Each command <paramref name="pattern"/> finds in the files' code (fenced lines and inline spans), once, with its argument
    /// words, a placeholder word replaced by its stand-in.
    /// </summary>
    private static List<(string Command, string[] Arguments)> Commands(Regex pattern, Dictionary<string, string> placeholders, params string[] files) =>
        files.SelectMany(file => RepositoryDocs.CodeLines(RepositoryDocs.Read(file)))
            .SelectMany(line => pattern.Matches(line)).Select(m => m.Groups["arguments"].Value.Trim()).Distinct()
            .Select(command => (command, ShellWords(command).Select(word => placeholders.GetValueOrDefault(word, word)).ToArray())).ToList();

    /// <summary>A shell command line's words, double quotes grouping, up to a comment, a `;` or a pipe.</summary>
    private static List<string> ShellWords(string line)
    {
        var words = new List<string>();
        var word = new System.Text.StringBuilder();
        bool quoted = false, any = false;
        foreach (char c in line)
        {
            if (c == '"') { quoted = !quoted; any = true; continue; }
            if (!quoted && c is '#' or ';' or '|' or '&' or '>') break;
            if (!quoted && char.IsWhiteSpace(c))
            {
                if (any) words.Add(word.ToString());
                word.Clear();
                any = false;
                continue;
            }
            word.Append(c);
            any = true;
        }
        if (any) words.Add(word.ToString());
        return words;
    }

    // `dotnet $B ARGS` (performance.md names the benchmark's dll $B), `dotnet FOLDER/Helmholtz.Benchmarks.dll ARGS` or
    // `dotnet run … --project Benchmarks/Helmholtz.Benchmarks -- ARGS`.
    [GeneratedRegex(@"(?:dotnet \$B|Helmholtz\.Benchmarks\.dll|--project Benchmarks/Helmholtz\.Benchmarks --) (?<arguments>.*)")]
    private static partial Regex BenchmarkCommand();

    // `dotnet $M ARGS` (results.md names the sample's dll $M) or `dotnet run … --project Samples/Helmholtz.Mnist -- ARGS`.
    [GeneratedRegex(@"(?:dotnet \$M|--project Samples/Helmholtz\.Mnist --) (?<arguments>.*)")]
    private static partial Regex MnistCommand();

    // `Helmholtz.Pipeline.dll ARGS`, `Helmholtz.Pipeline ARGS` or `dotnet run … --project $P -- ARGS` ($P the sample's folder); not `-- …`.
    [GeneratedRegex(@"(?:--project (?:Samples/Helmholtz\.Pipeline|\$P) --|Helmholtz\.Pipeline(?:\.dll)?) (?<arguments>(?!…).*)")]
    private static partial Regex PipelineCommand();

    [GeneratedRegex(@"(?:--project Samples/Helmholtz\.BouncingBalls --|Helmholtz\.BouncingBalls(?:\.dll)?) (?<arguments>(?!…).*)")]
    private static partial Regex BouncingBallsCommand();

    [GeneratedRegex(@"(?<![\w-])--[a-z0-9][a-z0-9-]*")]
    private static partial Regex Option();

    private static SortedSet<string> Options(string text) => new(Option().Matches(text).Select(m => m.Value), StringComparer.Ordinal);
}
