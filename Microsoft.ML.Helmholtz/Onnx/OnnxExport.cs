using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Evaluation;
using Microsoft.ML.Helmholtz.Model;

namespace Microsoft.ML.Helmholtz.Onnx;

/// <summary>How an exported graph takes its rows.</summary>
public enum OnnxLayout
{
    /// <summary>A batch: input [N, D] with N symbolic ("N"), outputs [N, F] and [N]. For ONNX Runtime and other engines.</summary>
    Batch,

    /// <summary>One row: input [D], outputs [F] and one-value vectors [1]. For ML.NET's ApplyOnnxModel, which feeds rows one at a time and reads fixed sizes.</summary>
    Row,
}

/// <summary>What an ONNX export holds and how its values are named. An export reads it as it goes: do not change it during one.</summary>
public sealed class OnnxExportOptions
{
    /// <summary>The features: the top hidden layer's probabilities or means, or all hidden layers' concatenated.</summary>
    public FeatureLayers FeatureLayers { get; set; } = FeatureLayers.Top;

    /// <summary>Also every hidden layer's "hidden_l_probability" (binary units), "hidden_l_mean" (continuous Bernoulli units), "hidden_l_mean" and "hidden_l_log_variance" (Gaussian units), with "hidden_l_factor" too for the rank-one-plus-diagonal posterior, as outputs of their own.</summary>
    public bool LayerStatistics { get; set; }

    /// <summary>How the graph takes its rows: <see cref="OnnxLayout.Batch"/> (the default) or <see cref="OnnxLayout.Row"/> for ML.NET's ApplyOnnxModel.</summary>
    public OnnxLayout Layout { get; set; } = OnnxLayout.Batch;

    /// <summary>The input's name (with ML.NET's ApplyOnnxModel: the input column's name).</summary>
    public string InputName { get; set; } = MachineGraph.InputName;

    /// <summary>The features output's name (with ApplyOnnxModel: the output column's name).</summary>
    public string FeaturesName { get; set; } = MachineGraph.FeaturesName;

    /// <summary>The log-likelihood output's name.</summary>
    public string LogLikelihoodName { get; set; } = MachineGraph.LogLikelihoodName;
}

/// <summary>
/// Exports a machine to ONNX (opset 18, ir_version 8; see <c>docs/usage.md</c>): the recognition
/// network's features, and the importance-sampled log-likelihood with its common random numbers
/// held in the graph, so that ONNX Runtime gives the managed scorers' numbers (to a few 1e-7 of the
/// value). A path is written atomically: a failure leaves an earlier file intact and nothing
/// partial behind.
/// </summary>
public static class OnnxExport
{
    /// <summary>The recognition network: input [N, D] (or [D]), output the features (and, when asked, every hidden layer's statistics).</summary>
    public static void ExportRecognitionToOnnx(this HelmholtzMachine machine, Stream stream, OnnxExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(machine);
        ArgumentNullException.ThrowIfNull(stream);
        options ??= new();
        Check(options, recognition: true);   // before the features are made from them, so that a bad option is named as the other exports name it
        stream.Write(RecognitionModel(new RecognitionFeatures(machine, options.FeatureLayers), options));
    }

    /// <inheritdoc cref="ExportRecognitionToOnnx(HelmholtzMachine, Stream, OnnxExportOptions?)"/>
    public static void ExportRecognitionToOnnx(this HelmholtzMachine machine, string path, OnnxExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(machine);
        options ??= new();
        WriteFile(path, () =>
        {
            Check(options, recognition: true);
            return RecognitionModel(new RecognitionFeatures(machine, options.FeatureLayers), options);
        });
    }

    /// <summary>The log-likelihood with this estimator's K and noise: input [N, D] (or [D]), output [N] (or [1]).</summary>
    public static void ExportToOnnx(this FixedNoiseLogLikelihood estimator, Stream stream, OnnxExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(estimator);
        ArgumentNullException.ThrowIfNull(stream);
        stream.Write(LogLikelihoodModel(estimator, options ?? new()));
    }

    /// <inheritdoc cref="ExportToOnnx(FixedNoiseLogLikelihood, Stream, OnnxExportOptions?)"/>
    public static void ExportToOnnx(this FixedNoiseLogLikelihood estimator, string path, OnnxExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(estimator);
        WriteFile(path, () => LogLikelihoodModel(estimator, options ?? new()));
    }

    /// <summary>
    /// Writes a model to a path atomically: the path checked first, then the model built, then the file touched. A name ending in
    /// ".ort" (any case) is refused: ONNX Runtime reads such a file as its own flatbuffer format and refuses an ONNX model in it,
    /// "ORT model verification failed", which would not say why.
    /// </summary>
    internal static void WriteFile(string path, Func<byte[]> build)
    {
        if (path is not null && path.EndsWith(".ort", StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"'{path}': ONNX Runtime reads a file whose name ends in .ort as its own (ORT) format, not ONNX, " +
                "and would refuse this model in it (\"ORT model verification failed\"); name the file .onnx.", nameof(path));
        byte[] model = build();
        AtomicFile.Write(path!, "the ONNX model", s => s.Write(model));
    }

    internal static byte[] RecognitionModel(RecognitionFeatures features, OnnxExportOptions options)
    {
        Check(options, recognition: true);
        var columns = new GraphColumns(options.InputName, options.FeaturesName, null, null, null, options.Layout == OnnxLayout.Row, 0, options.LayerStatistics);
        return NamedByTheOptions(() => MachineGraph.Build(features, null, columns, new Dictionary<string, string>
        {
            ["helmholtz.graph"] = "recognition",
            ["helmholtz.feature_layers"] = features.Layers.ToString(),
        }));
    }

    internal static byte[] LogLikelihoodModel(FixedNoiseLogLikelihood estimator, OnnxExportOptions options, string? scoreName = null, string? predictedName = null, double threshold = 0)
    {
        Check(options, recognition: false);
        var columns = new GraphColumns(options.InputName, null, options.LogLikelihoodName, scoreName, predictedName, options.Layout == OnnxLayout.Row, threshold);
        return NamedByTheOptions(() => MachineGraph.Build(null, estimator, columns, new Dictionary<string, string>
        {
            ["helmholtz.graph"] = "log_likelihood",
            ["helmholtz.samples"] = estimator.Samples.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["helmholtz.seed"] = estimator.Seed.ToString(System.Globalization.CultureInfo.InvariantCulture),
        }));
    }

    /// <summary>
    /// The names the graph takes from the options (the input, and the features or the log-likelihood): not empty, not in the
    /// graph's own namespace (<see cref="OnnxGraphBuilder.InternalPrefix"/>), the output's not the input's. The names of an
    /// export that has no such output (the features of a log-likelihood graph) are not used, so not checked.
    /// </summary>
    private static void Check(OnnxExportOptions options, bool recognition)
    {
        if (!Enum.IsDefined(options.Layout)) throw new ArgumentOutOfRangeException(nameof(options), options.Layout, "Unknown ONNX layout.");
        if (!Enum.IsDefined(options.FeatureLayers)) throw new ArgumentOutOfRangeException(nameof(options), options.FeatureLayers, "Unknown feature layers.");
        (string Option, string? Name) output = recognition ? (nameof(options.FeaturesName), options.FeaturesName) : (nameof(options.LogLikelihoodName), options.LogLikelihoodName);
        foreach ((string option, string? name) in new[] { (nameof(options.InputName), options.InputName), output })
        {
            if (string.IsNullOrWhiteSpace(name))
                throw new ArgumentException($"OnnxExportOptions.{option}: the graph's input and output names must not be empty.", nameof(options));
            if (name.StartsWith(OnnxGraphBuilder.InternalPrefix, StringComparison.Ordinal))
                throw new ArgumentException($"OnnxExportOptions.{option}: '{Requires.Shortened(name)}' begins with '{OnnxGraphBuilder.InternalPrefix}', " +
                    "which the graph keeps for its own values: choose another name.", nameof(options));
        }
        if (options.InputName == output.Name)
            throw new ArgumentException($"OnnxExportOptions: InputName and {output.Option} are both '{Requires.Shortened(options.InputName)}': give each its own name.", nameof(options));
    }

    /// <summary>A name the options give that meets another of the graph's outputs (a layer's statistics, a score) is the options' error.</summary>
    private static byte[] NamedByTheOptions(Func<byte[]> build)
    {
        try
        {
            return build();
        }
        catch (ArgumentException e) when (e.ParamName == "name")
        {
            throw new ArgumentException($"OnnxExportOptions: {Requires.Reason(e)}", "options", e);
        }
    }
}
