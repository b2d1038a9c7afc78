namespace Microsoft.ML.Helmholtz.Layers;

/// <summary>
/// A layer whose log-probability is bilinear in a transform of the output and a feature of the
/// input: ln p(y | x) = ỹ · φ(x) + c(φ) + c(y), where ỹ and c(y) do not depend on x. Every pair of
/// many outputs and many inputs is then scored by one matrix product (the naive estimator scores all
/// examples under all prior samples so).
/// </summary>
public interface IBilinearLogProb
{
    /// <summary>Whether this layer, as configured, has the form (a Gaussian needs a variance that does not depend on its input).</summary>
    bool IsBilinear { get; }

    /// <summary>φ [batch × OutputSize] of each row of the last forward, and constant[r] = c(φ_r).</summary>
    void InputFeatures(int batch, Span<float> features, Span<double> constant);

    /// <summary>
    /// ỹ [rows × OutputSize] and constant[r] = c(y_r) for outputs y: terms of the parameters that every input shares where the
    /// form holds (a Gaussian's per-unit log-variance, read from its parameter at the call), for the rows of the last forward.
    /// </summary>
    void OutputTerms(ReadOnlySpan<float> y, int rows, Span<float> transformed, Span<double> constant);
}
