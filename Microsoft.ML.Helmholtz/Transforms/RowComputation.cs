using Microsoft.ML.Helmholtz.Evaluation;

namespace Microsoft.ML.Helmholtz.Transforms;

/// <summary>
/// The per-cursor (or per-row-mapper) work of a transformer: rows in, features and log-likelihoods
/// out, with buffers of its own. The extractor and scorer are made on first use, so a cursor that
/// needs only the features never copies the machine for the log-likelihood.
/// </summary>
internal sealed class RowComputation(HelmholtzMachineTransformer transformer)
{
    private RecognitionFeatures.Extractor? _extractor;
    private FixedNoiseLogLikelihood.Scorer? _scorer;
    private double[] _logLikelihood = [];

    public int FeatureSize => transformer.FeatureSize;

    public void Features(ReadOnlySpan<float> rows, int count, Span<float> features)
        => (_extractor ??= transformer.Features!.CreateExtractor()).Extract(rows, count, features);

    public void LogLikelihood(ReadOnlySpan<float> rows, int count, Span<float> logLikelihood)
    {
        if (_logLikelihood.Length < count) _logLikelihood = new double[count];
        (_scorer ??= transformer.LogLikelihood!.CreateScorer()).Estimate(rows, count, _logLikelihood);
        for (int i = 0; i < count; i++) logLikelihood[i] = (float)_logLikelihood[i];
    }

    public bool IsAnomaly(float logLikelihood) => -logLikelihood > transformer.Threshold;
}
