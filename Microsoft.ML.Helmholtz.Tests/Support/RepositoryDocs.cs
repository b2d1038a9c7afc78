using System.Text.RegularExpressions;

namespace Microsoft.ML.Helmholtz.Tests.Support;

/// <summary>The repository's own markdown (the README, docs/), read from the clone the tests were built in, and its code.</summary>
internal static partial class RepositoryDocs
{
    /// <summary>The folder that holds Helmholtz.ML.sln, above the test assembly.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>A file of the repository, by its path from the root ("docs/usage.md").</summary>
    public static string Read(string path) => File.ReadAllText(Path.Combine(Root, path));

    /// <summary>The fenced code blocks of a markdown text whose info string is <paramref name="language"/> (any, when null): each block's first line number and code.</summary>
    public static IEnumerable<(int Line, string Code)> FencedBlocks(string markdown, string? language = null) =>
        FencedBlock().Matches(markdown).Where(m => language is null || m.Groups["language"].Value == language)
            .Select(m => (markdown.AsSpan(0, m.Groups["code"].Index).Count('\n') + 1, m.Groups["code"].Value));

    /// <summary>The lines of a markdown text's fenced blocks, and its inline code spans each as one line (a span may wrap in the prose).</summary>
    public static IEnumerable<string> CodeLines(string markdown)
    {
        foreach (var (_, code) in FencedBlocks(markdown))
            foreach (string line in code.Split('\n')) yield return line;
        foreach (Match span in InlineCode().Matches(FencedBlock().Replace(markdown, "")))
            yield return Regex.Replace(span.Groups["code"].Value, @"\s+", " ");
    }

    [GeneratedRegex(@"^[ \t]*```(?<language>[^\n]*?)[ \t]*\r?\n(?<code>.*?)^[ \t]*```", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex FencedBlock();

    [GeneratedRegex(@"`(?<code>[^`]+)`")]
    private static partial Regex InlineCode();

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
            if (File.Exists(Path.Combine(directory.FullName, "Helmholtz.ML.sln"))) return directory.FullName;
        throw new InvalidOperationException($"No folder above {AppContext.BaseDirectory} holds Helmholtz.ML.sln: the tests read the repository's docs.");
    }
}
