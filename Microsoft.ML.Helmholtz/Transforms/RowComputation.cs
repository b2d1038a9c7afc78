using System.Runtime.ExceptionServices;
using Microsoft.ML.Data;
using Microsoft.ML.Helmholtz.Evaluation;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;

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
/// <remarks>
/// The log-likelihood of a batch runs as pipelines side by side, one per core, each on its own scorer
/// and thread (its products stay on that thread, cut into the pieces the pool would cut them into), as
/// <see cref="ImportanceSampledLogLikelihood"/> does: from K = 64 a row's products are K rows deep, too
/// small to share well among many cores. A row's estimate does not depend on the rows beside it or on
/// the split: a PredictionEngine's row, scored alone on the pool, has the same bits.
/// </remarks>
internal sealed class ManagedComputation(HelmholtzMachineTransformer transformer) : IRowComputation
{
    private RecognitionFeatures.Extractor? _extractor;
    private FixedNoiseLogLikelihood.Scorer?[] _scorers = new FixedNoiseLogLikelihood.Scorer?[1];
    private ExceptionDispatchInfo?[] _failures = [];
    private double[] _logLikelihood = [];

    public void Features(ReadOnlySpan<float> rows, int count, Span<float> features)
        => (_extractor ??= transformer.Features!.CreateExtractor()).Extract(rows, count, features);

    public unsafe void LogLikelihood(ReadOnlySpan<float> rows, int count, Span<float> logLikelihood)
    {
        if (_logLikelihood.Length < count) _logLikelihood = new double[count];
        FixedNoiseLogLikelihood.Scorer first = Scorer(0);
        int pipelines = WorkerPool.IsInlineOnThisThread ? 1 : Math.Clamp(count / first.RowsTogether, 1, WorkerPool.Current.Threads);
        if (pipelines == 1)
        {
            first.Estimate(rows, count, _logLikelihood);
        }
        else
        {
            if (_failures.Length < pipelines) _failures = new ExceptionDispatchInfo?[pipelines];
            if (_scorers.Length < pipelines) Array.Resize(ref _scorers, pipelines);   // here, so that the pipelines never resize it
            LayerDefinition visible = transformer.LogLikelihood!.Machine.Architecture.Visible;
            int size = visible.Size;
            // The whole batch checked here as one scorer checks it: the pipelines read through a pointer, and a bad value
            // is named by its row in the batch, not in a pipeline's part of it.
            DataValidation.Validate(rows, count, size, visible, "rows", nameof(rows));
            // Each pipeline keeps to its thread, its products cut as the pool would cut them: OpenBLAS sums each piece in
            // its own order, so a row keeps the bits a PredictionEngine (one row, on the pool) gives it.
            WorkerPool cut = WorkerPool.CallerOnly(WorkerPool.Current.Threads);
            fixed (float* x = rows)
            {
                nint address = (nint)x;
                Parallel.For(0, pipelines, new ParallelOptions { MaxDegreeOfParallelism = pipelines }, p =>
                {
                    using var alone = WorkerPool.Use(cut);
                    int start = (int)((long)count * p / pipelines), end = (int)((long)count * (p + 1) / pipelines);
                    try
                    {
                        Scorer(p).Estimate(new ReadOnlySpan<float>((float*)address + (long)start * size, (end - start) * size), end - start,
                            _logLikelihood.AsSpan(start, end - start));
                    }
                    catch (Exception e)
                    {
                        _failures[p] = ExceptionDispatchInfo.Capture(e);
                    }
                });
            }
            // The first pipeline's failure, as one scorer over the whole batch would have met it first.
            for (int p = 0; p < pipelines; p++)
            {
                ExceptionDispatchInfo? failure = _failures[p];
                if (failure is null) continue;
                Array.Clear(_failures);
                failure.Throw();
            }
        }
        for (int i = 0; i < count; i++) logLikelihood[i] = (float)_logLikelihood[i];
    }

    /// <summary>Pipeline <paramref name="p"/>'s scorer (each holds a copy of the machine and its buffers), made on its first use.</summary>
    private FixedNoiseLogLikelihood.Scorer Scorer(int p) => _scorers[p] ??= transformer.LogLikelihood!.CreateScorer();
}
