using Microsoft.ML.Data;
using Microsoft.ML.Helmholtz.Evaluation;

namespace Microsoft.ML.Helmholtz.Transforms;

/// <summary>The names of a scoring transformer's input and of the columns it adds (null: not added).</summary>
internal sealed record ScoringColumns(string Input, string? Features, string? LogLikelihood, string? Score, string? PredictedLabel)
{
    public static ScoringColumns Of(HelmholtzMachineOptions o)
        => new(o.InputColumnName, o.FeatureColumnName, o.LogLikelihoodColumnName, o.ScoreColumnName, o.PredictedLabelColumnName);

    public bool NeedsLogLikelihood => LogLikelihood is not null || Score is not null || PredictedLabel is not null;

    /// <summary>The added columns: the features (a vector of <paramref name="featureSize"/>), the log-likelihood and score (Single), the predicted label (Boolean).</summary>
    public IEnumerable<DataViewSchema.DetachedColumn> Added(int featureSize)
    {
        if (Features is { } features) yield return new(features, new VectorDataViewType(NumberDataViewType.Single, featureSize));
        if (LogLikelihood is { } logLikelihood) yield return new(logLikelihood, NumberDataViewType.Single);
        if (Score is { } score) yield return new(score, NumberDataViewType.Single);
        if (PredictedLabel is { } predicted) yield return new(predicted, BooleanDataViewType.Instance);
    }
}

/// <summary>
/// A transformer that adds a machine's columns, whatever computes them (the managed scorers, or
/// ONNX Runtime): what the batched view, the row mapper and the column layout need of it.
/// </summary>
internal interface IRowScoring
{
    ScoringColumns Columns { get; }
    InputColumn Input { get; }
    string Architecture { get; }
    int FeatureSize { get; }
    double Threshold { get; }

    /// <summary>Rows a cursor reads ahead and computes together.</summary>
    int BatchRows { get; }

    /// <summary>Buffers of its own for one cursor or row.</summary>
    IRowComputation CreateComputation();
}

/// <summary>Rows in, features and log-likelihoods out; one per cursor or row (not thread-safe).</summary>
internal interface IRowComputation
{
    void Features(ReadOnlySpan<float> rows, int count, Span<float> features);
    void LogLikelihood(ReadOnlySpan<float> rows, int count, Span<float> logLikelihood);
}

/// <summary>
/// The managed computation: the transformer's extractor and scorer, made on first use, so a cursor
/// that needs only the features never copies the machine for the log-likelihood.
/// </summary>
internal sealed class ManagedComputation(HelmholtzMachineTransformer transformer) : IRowComputation
{
    private RecognitionFeatures.Extractor? _extractor;
    private FixedNoiseLogLikelihood.Scorer? _scorer;
    private double[] _logLikelihood = [];

    public void Features(ReadOnlySpan<float> rows, int count, Span<float> features)
        => (_extractor ??= transformer.Features!.CreateExtractor()).Extract(rows, count, features);

    public void LogLikelihood(ReadOnlySpan<float> rows, int count, Span<float> logLikelihood)
    {
        if (_logLikelihood.Length < count) _logLikelihood = new double[count];
        (_scorer ??= transformer.LogLikelihood!.CreateScorer()).Estimate(rows, count, _logLikelihood);
        for (int i = 0; i < count; i++) logLikelihood[i] = (float)_logLikelihood[i];
    }
}
