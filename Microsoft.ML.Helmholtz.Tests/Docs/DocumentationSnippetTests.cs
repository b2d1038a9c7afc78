using System.Text;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.ML.Helmholtz.Tests.Support;

namespace Microsoft.ML.Helmholtz.Tests.Docs;

/// <summary>
/// The C# in the README and docs/usage.md compiles against the library as it is: a renamed member, a changed signature or a
/// missing using in a snippet fails here, not in a user's editor. A snippet that declares its own usings is compiled with those
/// (and .NET's implicit ones) alone, so that the usings it shows are the ones it needs; one that shows none is a fragment of a
/// program that has them, and gets every namespace of the library. Its free variables (train, machine, …) are the parameters of
/// the method it is compiled in, given below by a line of the snippet.
/// </summary>
[TestClass]
public sealed class DocumentationSnippetTests
{
    /// <summary>What a snippet needs from the program around it: null for a program as written (top-level statements).</summary>
    private static readonly (string File, string Line, string? Parameters)[] s_contexts =
    [
        ("README.md", "ITransformer model = pipeline.Fit(train);", "IDataView train, IDataView test"),
        ("README.md", "MnistSplits mnist = BinarizedMnist.Load();", null),
        ("docs/usage.md", "var estimator = ml.Transforms.HelmholtzMachine(new HelmholtzMachineOptions",
            "IDataView train, IDataView validation, IProgress<EpochReport> progress, CancellationToken token"),
        ("docs/usage.md", "HelmholtzMachineTransformer machine = ml.Transforms.HelmholtzMachine(", null),
        ("docs/usage.md", "machine.ExportRecognitionToOnnx(\"recognition.onnx\");",
            "Microsoft.ML.Helmholtz.Model.HelmholtzMachine machine, Stream stream, HelmholtzMachineTransformer transformer"),
        ("docs/usage.md", "var onnx = ml.Transforms.ApplyOnnxModel(", "MLContext ml, HelmholtzMachineTransformer transformer"),
        ("docs/usage.md", "ILearningRule rule = new StochasticBackpropagation(VarianceGradient.PathWise);",
            "DataMatrix train, DataMatrix validation, IProgress<EpochReport> progress, CancellationToken cancellationToken, DataMatrix testData"),
        ("docs/usage.md", "var state = new TrainingState();",
            "HelmholtzMachine machine, ILearningRule rule, TrainingOptions options, DataMatrix train, DataMatrix validation, CancellationToken cancellationToken"),
        ("docs/usage.md", "var temporal = TemporalHelmholtzMachine.Create(",
            "BouncingBallsDataset data, IProgress<TemporalEpochReport> progress, CancellationToken cancellationToken"),
    ];

    private static readonly string[] s_implicitUsings =
        ["System", "System.Collections.Generic", "System.IO", "System.Linq", "System.Net.Http", "System.Threading", "System.Threading.Tasks"];

    private static readonly string[] s_libraryNamespaces =
    [
        "Microsoft.ML", "Microsoft.ML.Data", "Microsoft.ML.Helmholtz", "Microsoft.ML.Helmholtz.Data", "Microsoft.ML.Helmholtz.Evaluation",
        "Microsoft.ML.Helmholtz.Layers", "Microsoft.ML.Helmholtz.Learning", "Microsoft.ML.Helmholtz.Learning.Optimizers",
        "Microsoft.ML.Helmholtz.Learning.Rules", "Microsoft.ML.Helmholtz.Model", "Microsoft.ML.Helmholtz.Onnx",
        "Microsoft.ML.Helmholtz.Temporal", "Microsoft.ML.Helmholtz.Transforms",
    ];

    // The framework and every assembly the test project references (the library, ML.NET, ONNX Runtime's managed part), as an
    // application that uses the library would have them.
    private static readonly Lazy<MetadataReference[]> s_references = new(() =>
        ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(path => path.EndsWith(".dll", StringComparison.OrdinalIgnoreCase))
            .Select(path => (MetadataReference)MetadataReference.CreateFromFile(path)).ToArray());

    [TestMethod]
    [DataRow("README.md")]
    [DataRow("docs/usage.md")]
    public void EverySnippetCompilesAgainstTheLibrary(string file)
    {
        var snippets = RepositoryDocs.FencedBlocks(RepositoryDocs.Read(file), "csharp").ToList();
        Assert.IsNotEmpty(snippets, $"{file} has no C# snippets: the test reads the wrong file, or the fences changed.");
        var failures = new List<string>();
        foreach (var snippet in snippets)
        {
            var contexts = s_contexts.Where(c => c.File == file && snippet.Code.Contains(c.Line, StringComparison.Ordinal)).ToList();
            if (contexts.Count != 1)
            {
                failures.Add($"the snippet at line {snippet.Line} matches {contexts.Count} of this test's contexts (give it one: its free variables as parameters).");
                continue;
            }
            failures.AddRange(Errors(snippet, contexts[0].Parameters).Select(error => $"the snippet at line {snippet.Line}: {error}"));
        }
        foreach (var context in s_contexts.Where(c => c.File == file && !snippets.Any(s => s.Code.Contains(c.Line, StringComparison.Ordinal))))
            failures.Add($"no snippet holds the context's line \"{context.Line}\" any more: update the context.");
        Assert.IsEmpty(failures, $"{file}:\n" + string.Join("\n", failures));
    }

    /// <summary>A snippet that leaves out a using it needs, or calls a member the library lacks, fails: the check itself checked.</summary>
    [TestMethod]
    public void ASnippetWithoutAUsingItNeedsOrWithAMemberTheLibraryLacksFails()
    {
        var withUsing = (Line: 1, Code: "using Microsoft.ML.Helmholtz.Model;\nvar machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse(\"4b-2b\"), seed: 1);\n");
        Assert.IsEmpty(Errors(withUsing, null));
        Assert.IsNotEmpty(Errors(withUsing with { Code = withUsing.Code.Replace("using Microsoft.ML.Helmholtz.Model;\n", "using Microsoft.ML.Helmholtz.Data;\n") }, null));
        var fragment = (Line: 1, Code: "var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse(\"4b-2b\"), seed: 1);\nmachine.Save(path);\n");
        Assert.IsEmpty(Errors(fragment, "string path"));
        Assert.IsNotEmpty(Errors(fragment with { Code = fragment.Code.Replace("Save", "SaveTo") }, "string path"));
        Assert.IsNotEmpty(Errors(fragment, null), "a free variable the context does not declare must fail");
    }

    /// <summary>The compiler's errors for a snippet: a program as written where parameters is null, else a method body with them.</summary>
    private static IEnumerable<string> Errors((int Line, string Code) snippet, string? parameters)
    {
        string[] lines = snippet.Code.Split('\n');
        bool ownUsings = lines.Any(l => l.StartsWith("using ", StringComparison.Ordinal));
        var globals = new StringBuilder();
        foreach (string name in ownUsings ? s_implicitUsings : [.. s_implicitUsings, .. s_libraryNamespaces])
            globals.Append($"global using {name};\n");
        string source;
        if (parameters is null)
        {
            source = snippet.Code;
        }
        else
        {
            // Usings stay at the top and type declarations (a class at the start of a line, to its closing brace) beside the method.
            var usings = new StringBuilder();
            var types = new StringBuilder();
            var body = new StringBuilder();
            bool inType = false;
            foreach (string line in lines)
            {
                if (line.StartsWith("using ", StringComparison.Ordinal)) usings.Append(line).Append('\n');
                else if (inType || Regex.IsMatch(line, @"^(public |internal )?(sealed |static )?(class|record|struct) "))
                {
                    types.Append(line).Append('\n');
                    inType = !line.StartsWith('}');
                }
                else body.Append(line).Append('\n');
            }
            source = $"{usings}{types}internal static class DocumentationSnippet\n{{\n    internal static void Run({parameters})\n    {{\n{body}    }}\n}}\n";
        }
        var options = new CSharpParseOptions(LanguageVersion.Latest);
        var compilation = CSharpCompilation.Create("Snippet",
            [CSharpSyntaxTree.ParseText(globals.ToString(), options), CSharpSyntaxTree.ParseText(source, options)],
            s_references.Value,
            new CSharpCompilationOptions(parameters is null ? OutputKind.ConsoleApplication : OutputKind.DynamicallyLinkedLibrary,
                nullableContextOptions: NullableContextOptions.Enable));
        // Named by the snippet's own line (the positions are in the wrapped source).
        return compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).Select(d =>
            d.Location.SourceTree is { } tree ? $"{d.Id} {d.GetMessage()} in \"{tree.GetText().Lines[d.Location.GetLineSpan().StartLinePosition.Line].ToString().Trim()}\""
                : $"{d.Id} {d.GetMessage()}");
    }
}
