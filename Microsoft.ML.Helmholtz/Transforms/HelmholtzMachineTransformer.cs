using Microsoft.ML.Data;
using Microsoft.ML.Helmholtz.Evaluation;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Onnx;

namespace Microsoft.ML.Helmholtz.Transforms;

/// <summary>
/// A trained Helmholtz machine in a pipeline: adds the features, the log-likelihood and the anomaly
/// columns its options name to any data with the input column.
/// </summary>
/// <remarks>
/// <para>Immutable and safe to use from many threads: every cursor (and every PredictionEngine row)
/// computes with buffers of its own. <see cref="Transform"/> computes lazily, in batches of rows.</para>
/// <para>A row's outputs depend on the row, the model and the seed only (the log-likelihood uses
/// fixed noise: common random numbers), never on the rows beside it, their order, or the number of
/// threads, bit for bit for a given matrix engine and core count.</para>
/// <para>Saved with the pipeline (<c>MLContext.Model.Save</c>) as standard ML.NET transformers: an
/// ONNX model of the same computation, run by ML.NET's OnnxTransformer (it needs an ONNX Runtime
/// native package in the application), and a small mapping that turns its one-value vectors into the
/// scalar columns. The loaded pipeline gives the same values to float precision, but runs row by row.</para>
/// </remarks>
public sealed class HelmholtzMachineTransformer : ITransformer, IRowScoring
{
    /// <param name="machine">The trained machine (the transformer's own: not shared).</param>
    /// <param name="options">A copy of the estimator's options.</param>
    /// <param name="seed">The seed of the scoring noise.</param>
    /// <param name="threshold">The anomaly threshold on the score.</param>
    internal HelmholtzMachineTransformer(HelmholtzMachine machine, HelmholtzMachineOptions options, ulong seed, double threshold)
    {
        Options = options;
        Seed = seed;
        Threshold = threshold;
        Machine = machine;
        Input = new InputColumn(options.InputColumnName, machine.Architecture.Visible);
        Features = options.FeatureColumnName is null ? null : new RecognitionFeatures(machine, options.FeatureLayers);
        LogLikelihood = NeedsLogLikelihood(options) ? new FixedNoiseLogLikelihood(machine, options.Samples, seed) : null;
    }

    private HelmholtzMachineTransformer(HelmholtzMachineTransformer source, double threshold)
    {
        (Options, Seed, Machine, Input, Features, LogLikelihood) = (source.Options, source.Seed, source.Machine, source.Input, source.Features, source.LogLikelihood);
        Threshold = threshold;
    }

    /// <summary>The same transformer with another anomaly threshold (its scorers are shared).</summary>
    internal HelmholtzMachineTransformer WithThreshold(double threshold) => new(this, threshold);

    internal static bool NeedsLogLikelihood(HelmholtzMachineOptions options) => ScoringColumns.Of(options).NeedsLogLikelihood;

    internal HelmholtzMachineOptions Options { get; }
    internal HelmholtzMachine Machine { get; }
    internal InputColumn Input { get; }
    internal RecognitionFeatures? Features { get; }
    internal FixedNoiseLogLikelihood? LogLikelihood { get; }

    /// <summary>The machine's layers, e.g. "784b-200g-50g".</summary>
    public string Architecture => Machine.Architecture.ToString();

    /// <summary>Values per row of the feature column (0 when there is none).</summary>
    public int FeatureSize => Features?.Size ?? 0;

    /// <summary>
    /// The anomaly threshold on the score (−ln p̂): rows above it are predicted anomalies. +∞ (no row is an anomaly)
    /// when the options set no <see cref="HelmholtzMachineOptions.AnomalyThreshold"/> and named neither a score nor a predicted-label column.
    /// </summary>
    public double Threshold { get; }

    /// <summary>
    /// The seed of the scoring noise (the fixed draws of the log-likelihood and the score): the fit's seed + 2, where the
    /// fit's seed is <see cref="HelmholtzMachineOptions.Seed"/> or, when that is null, a draw from the MLContext's random
    /// source. A new machine's weights come from the fit's seed and its training from the fit's seed + 1.
    /// </summary>
    public ulong Seed { get; }

    /// <summary>K, the samples per row of the log-likelihood.</summary>
    public int Samples => Options.Samples;

    /// <summary>A copy of the trained machine, for the core's own estimators, sampling or saving.</summary>
    public HelmholtzMachine GetMachine() => Machine.Clone();

    ScoringColumns IRowScoring.Columns => ScoringColumns.Of(Options);

    InputColumn IRowScoring.Input => Input;

    IRowComputation IRowScoring.CreateComputation() => new ManagedComputation(this);

    /// <summary>1024 rows a batch: large enough for the products, small enough to stay in the caches.</summary>
    int IRowScoring.BatchRows => 1024;

    /// <inheritdoc/>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        return new OutputColumns(this, inputSchema).OutputSchema;
    }

    /// <summary>The input with the machine's columns added, computed lazily in batches of rows.</summary>
    public IDataView Transform(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return new BatchedDataView(this, input);
    }

    /// <inheritdoc/>
    public bool IsRowToRowMapper => true;

    /// <inheritdoc/>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        return new RowMapper(this, inputSchema);
    }

    /// <summary>
    /// The recognition network as ONNX (opset 18): the input named as this transformer's input
    /// column, the features as its feature column (or "features"; "helmholtz_features" where one of its columns is so named), exactly as this transformer
    /// computes them; with <paramref name="layerStatistics"/> also every hidden layer's probabilities,
    /// or means and log-variances. <see cref="OnnxLayout.Batch"/>: [N, D] in, for ONNX Runtime;
    /// <see cref="OnnxLayout.Row"/>: [D] in, for ML.NET's ApplyOnnxModel.
    /// </summary>
    public void ExportRecognitionToOnnx(Stream stream, bool layerStatistics = false, OnnxLayout layout = OnnxLayout.Batch)
    {
        ArgumentNullException.ThrowIfNull(stream);
        stream.Write(RecognitionModel(layerStatistics, layout));
    }

    /// <inheritdoc cref="ExportRecognitionToOnnx(Stream, bool, OnnxLayout)"/>
    /// <remarks>The file is written atomically: a failure leaves an earlier file intact and nothing partial behind.</remarks>
    public void ExportRecognitionToOnnx(string path, bool layerStatistics = false, OnnxLayout layout = OnnxLayout.Batch)
        => OnnxExport.WriteFile(path, () => RecognitionModel(layerStatistics, layout));

    /// <summary>
    /// The log-likelihood as ONNX (opset 18), with this transformer's K and scoring noise in the graph,
    /// so ONNX Runtime gives this transformer's numbers (to a few 1e-7 of the value): the input named
    /// as the input column, the output as the log-likelihood column (or "log_likelihood"; "helmholtz_log_likelihood" where
    /// one of its columns is so named), and the
    /// score and predicted label when this transformer adds them.
    /// </summary>
    public void ExportLogLikelihoodToOnnx(Stream stream, OnnxLayout layout = OnnxLayout.Batch)
    {
        ArgumentNullException.ThrowIfNull(stream);
        stream.Write(LogLikelihoodModel(layout));
    }

    /// <inheritdoc cref="ExportLogLikelihoodToOnnx(Stream, OnnxLayout)"/>
    /// <remarks>The file is written atomically: a failure leaves an earlier file intact and nothing partial behind.</remarks>
    public void ExportLogLikelihoodToOnnx(string path, OnnxLayout layout = OnnxLayout.Batch)
        => OnnxExport.WriteFile(path, () => LogLikelihoodModel(layout));

    private byte[] RecognitionModel(bool layerStatistics, OnnxLayout layout) => NamedByTheColumns(() => OnnxExport.RecognitionModel(
        Features ?? new RecognitionFeatures(Machine, Options.FeatureLayers),
        new OnnxExportOptions
        {
            FeatureLayers = Options.FeatureLayers, LayerStatistics = layerStatistics, Layout = layout,
            InputName = Options.InputColumnName, FeaturesName = Options.FeatureColumnName ?? Unused(MachineGraph.FeaturesName),
        }));

    private byte[] LogLikelihoodModel(OnnxLayout layout) => NamedByTheColumns(() => OnnxExport.LogLikelihoodModel(
        LogLikelihood ?? new FixedNoiseLogLikelihood(Machine, Options.Samples, Seed),
        new OnnxExportOptions { Layout = layout, InputName = Options.InputColumnName, LogLikelihoodName = Options.LogLikelihoodColumnName ?? Unused(MachineGraph.LogLikelihoodName) },
        Options.ScoreColumnName, Options.PredictedLabelColumnName, Threshold));

    /// <summary>The graph's names come from this transformer's columns, not from options the caller made: a clash is named by them.</summary>
    private static byte[] NamedByTheColumns(Func<byte[]> build)
    {
        try
        {
            return build();
        }
        catch (ArgumentException e) when (e.ParamName == "options")
        {
            string reason = Requires.Reason(e).Replace("OnnxExportOptions.InputName", "InputColumnName", StringComparison.Ordinal)
                .Replace("OnnxExportOptions.FeaturesName", "FeatureColumnName", StringComparison.Ordinal)
                .Replace("OnnxExportOptions.LogLikelihoodName", "LogLikelihoodColumnName", StringComparison.Ordinal)
                .Replace("OnnxExportOptions: ", "", StringComparison.Ordinal);
            throw new InvalidOperationException($"This transformer's columns cannot name the ONNX graph's values: {reason}", e);
        }
    }

    /// <summary>
    /// An output without a column of its own takes the graph's default name, or "helmholtz_" before it (and a number after, if need be)
    /// where one of the transformer's columns, input or output, has that name.
    /// </summary>
    private string Unused(string name)
    {
        var taken = new HashSet<string?>([Options.InputColumnName, Options.FeatureColumnName, Options.LogLikelihoodColumnName, Options.ScoreColumnName,
            Options.PredictedLabelColumnName], StringComparer.Ordinal);
        if (!taken.Contains(name)) return name;
        string free = "helmholtz_" + name;
        for (int i = 2; taken.Contains(free); i++) free = $"helmholtz_{name}_{i}";
        return free;
    }

    /// <summary>
    /// The same columns computed by ONNX Runtime in batches of up to <paramref name="batchRows"/> rows (a cursor's first batches are
    /// smaller, from 16 rows, so that its first rows come sooner), on the
    /// device <paramref name="mlContext"/> names (<c>GpuDeviceId</c>, <c>FallbackToCpu</c>); see
    /// <see cref="HelmholtzOnnxTransformer"/>. The application needs an ONNX Runtime native package.
    /// </summary>
    public HelmholtzOnnxTransformer ToOnnxRuntime(MLContext mlContext, int batchRows = 4096)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchRows);
        // A batch's rows are one array of values (input, then features): it must fit one.
        long widest = Math.Max(Input.Size, FeatureSize);
        if (batchRows * widest > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(batchRows), batchRows, $"A batch of {batchRows} rows of up to {widest} values does not fit one array; give at most {Array.MaxLength / widest} rows.");
        return new HelmholtzOnnxTransformer(this, mlContext, mlContext.GpuDeviceId, mlContext.FallbackToCpu, batchRows);
    }

    /// <summary>
    /// ML.NET's own save hooks are internal to it, so the transformer saves itself as a chain of
    /// standard transformers that compute the same columns (see <see cref="SavedChain"/>).
    /// </summary>
    void ICanSaveModel.Save(ModelSaveContext ctx) => ((ICanSaveModel)SavedChain.Build(this)).Save(ctx);
}
