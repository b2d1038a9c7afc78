using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Layers;

/// <summary>
/// Units on [0, 1]: p(y | x) = Π_i CB(y_i | a_i), a = W x + b, the continuous Bernoulli density
/// CB(y | a) = exp(a y − A(a)), A(a) = ln((e^a − 1)/a) (Loaiza-Ganem &amp; Cunningham 2019). It is the
/// Bernoulli likelihood y ln λ + (1 − y) ln(1 − λ) of λ = sigmoid(a) made a density on [0, 1] by its
/// normaliser, so that soft pixels (the bouncing balls' anti-aliased edges) get a log-likelihood in
/// nats that means something; the Bernoulli cross-entropy on such values is no log-probability of
/// anything. Its mean is A'(a), not sigmoid(a). With no input it is a factorised prior with learned logits.
/// </summary>
public sealed class ContinuousBernoulliLayer : NaturalParameterLayer
{
    /// <summary>
    /// Continuous Bernoulli units with the weights <c>name.W</c> [outputSize × inputSize] (none for a prior) and the biases <c>name.b</c>.
    /// </summary>
    /// <param name="name">What messages call the layer, and the start of its parameters' names.</param>
    /// <param name="inputSize">Inputs per row; 0 for the factorised prior.</param>
    /// <param name="outputSize">Units, at least 1.</param>
    /// <param name="engine">The engine that makes the layer's matrix products.</param>
    public ContinuousBernoulliLayer(string name, int inputSize, int outputSize, IMatrixEngine engine)
        : base(name, inputSize, outputSize, engine)
    {
    }

    /// <inheritdoc/>
    public override UnitType Units => UnitType.ContinuousBernoulli;

    /// <summary>Sets each bias to the logit whose mean A'(b) is the column's mean (clamped to [10⁻³, 1 − 10⁻³]); the weights are left alone.</summary>
    internal override void InitializeFromDataMeans(ReadOnlySpan<double> means)
    {
        RequireMeansInUnitInterval(means, "a column of values in [0, 1] has its mean there too");
        float[] bias = Affine.Bias.Value;
        for (int c = 0; c < means.Length; c++) bias[c] = (float)LogitOfMean(Math.Clamp(means[c], 1e-3, 1 - 1e-3));
    }

    /// <summary>The a with A'(a) = mean, by bisection: A' rises monotonically from 0 to 1 (mean 10⁻³ is a ≈ −1000).</summary>
    internal static double LogitOfMean(double mean)
    {
        double lo = -2000, hi = 2000;
        for (int i = 0; i < 80; i++)
        {
            double mid = (lo + hi) / 2;
            if (Kernels.ContinuousBernoulliMean(mid) < mean) lo = mid; else hi = mid;
        }
        return (lo + hi) / 2;
    }

    /// <inheritdoc/>
    protected override void SampleCore(RandomStream random, int batch, Span<float> output)
    {
        int n = batch * OutputSize;
        Span<float> u = Scratch(n);
        random.FillUniform(u);
        Kernels.SampleContinuousBernoulli(Logits(batch), u, output[..n]);
    }

    internal override void SampleWithNoise(ReadOnlySpan<float> noise, int batch, Span<float> output)
    {
        int n = batch * OutputSize;
        Kernels.SampleContinuousBernoulli(Logits(batch), noise[..n], output[..n]);
    }

    internal override bool NoiseIsNormal => false;

    /// <inheritdoc/>
    protected override void ExpectationCore(int batch, Span<float> output)
        => Kernels.ContinuousBernoulliMean(Logits(batch), output[..(batch * OutputSize)]);

    /// <inheritdoc/>
    protected override void AccumulateLogProbCore(ReadOnlySpan<float> distinctY, int distinctRows, ReadOnlySpan<int> rowSource, int batch, Span<double> rowLogProb)
        => Kernels.AccumulateContinuousBernoulliLogProb(LogitBuffer, distinctY, distinctRows, rowSource, batch, OutputSize, rowLogProb);

    /// <summary>w (y − A'(a)).</summary>
    protected override void LogProbGradient(ReadOnlySpan<float> logits, ReadOnlySpan<float> y, int batch, ReadOnlySpan<float> rowWeights, Span<float> da)
        => Kernels.ContinuousBernoulliLogProbGradient(logits, y, batch, OutputSize, rowWeights, da);

    /// <summary>A''(a).</summary>
    protected override void Curvature(ReadOnlySpan<float> logits, Span<float> kappa) => Kernels.ContinuousBernoulliCurvature(logits, kappa);
}
