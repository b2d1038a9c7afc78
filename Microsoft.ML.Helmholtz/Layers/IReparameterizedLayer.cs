namespace Microsoft.ML.Helmholtz.Layers;

/// <summary>
/// The gradient of a loss with respect to a layer's last sample y, as a learning rule collects it
/// for <see cref="IReparameterizedLayer.BackwardThroughSample"/>. Spans are [batch × OutputSize]
/// unless said otherwise; <see cref="PathWise"/> and <see cref="Local"/> are already weighted per row.
/// </summary>
public readonly ref struct SampleGradient
{
    /// <summary>∂L/∂y of the terms differentiated path-wise (with the noise of the sample held fixed).</summary>
    public ReadOnlySpan<float> PathWise { get; init; }

    /// <summary>
    /// ∂L/∂y of the terms that depend on y only directly (empty: none). They count in the mean's
    /// gradient as they are; in the variance's, path-wise when <see cref="LocalCurvature"/> is empty,
    /// else by Price's theorem from it.
    /// </summary>
    public ReadOnlySpan<float> Local { get; init; }

    /// <summary>∂²/∂y² of the local terms at unit weight (empty: none, or differentiate them path-wise); the loss holds them times <see cref="RowWeights"/>.</summary>
    public ReadOnlySpan<float> LocalCurvature { get; init; }

    /// <summary>w_r [batch]: the loss holds w_r ln q(y_r | x_r), the sample's own log-density (the entropy term), and the local terms at weight w_r.</summary>
    public ReadOnlySpan<float> RowWeights { get; init; }
}

/// <summary>
/// A layer whose samples are a differentiable function of its statistics and noise drawn
/// independently of its parameters (y = m + σ ε for a Gaussian): a learning rule can back-propagate
/// through the sample itself. The layer owns the noise of its last draw, so it owns this backward:
/// rules do not need to know its statistics, and a new reparameterised layer (another covariance,
/// another distribution) works with every rule that uses this interface.
/// </summary>
public interface IReparameterizedLayer
{
    /// <summary>
    /// Back-propagates <paramref name="gradient"/> at the last <see cref="ConditionalLayer.Sample"/>
    /// (or SampleWithNoise) into the parameters and, when the spans are not empty, into the input
    /// (∂L/∂x through the statistics, with the noise fixed) and the conditioning of the last forward.
    /// <paramref name="input"/> must be the input of that forward.
    /// </summary>
    void BackwardThroughSample(in SampleGradient gradient, ReadOnlySpan<float> input, int batch, Span<float> inputGradient, Span<float> conditioningGradient = default);
}
