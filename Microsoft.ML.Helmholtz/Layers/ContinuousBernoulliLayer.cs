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
public sealed class ContinuousBernoulliLayer : ConditionalLayer, IBilinearLogProb
{
    private readonly AffineMap _affine;
    private float[] _logits = [];
    private float[] _scratch = [], _shared = [];

    public ContinuousBernoulliLayer(string name, int inputSize, int outputSize, IMatrixEngine engine)
        : base(inputSize, outputSize)
    {
        _affine = new AffineMap(name, inputSize, outputSize, engine);
        Parameters = _affine.Parameters.ToArray();
    }

    public override UnitType Units => UnitType.ContinuousBernoulli;
    public override IReadOnlyList<Parameter> Parameters { get; }
    internal AffineMap Affine => _affine;

    /// <summary>The logits a of the last forward, [batch × OutputSize].</summary>
    public ReadOnlySpan<float> Logits(int batch) => _logits.AsSpan(0, batch * OutputSize);

    /// <summary>Sets each bias to the logit whose mean A'(b) is the column's mean (clamped to [10⁻³, 1 − 10⁻³]); the weights are left alone.</summary>
    internal override void InitializeFromDataMeans(ReadOnlySpan<double> means)
    {
        if (means.Length != OutputSize) throw new ArgumentException($"{means.Length} means for {OutputSize} units.", nameof(means));
        for (int c = 0; c < means.Length; c++)
            if (!(means[c] >= 0 && means[c] <= 1))
                throw new ArgumentOutOfRangeException(nameof(means), means[c], $"The mean of column {c} is {means[c]}: a column of values in [0, 1] has its mean there too.");
        float[] bias = _affine.Bias.Value;
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

    protected override void Allocate(int rows)
    {
        _logits = new float[rows * OutputSize];
        _scratch = new float[rows * OutputSize];
        _shared = new float[rows * OutputSize];
    }

    public override void Forward(ReadOnlySpan<float> input, ReadOnlySpan<float> conditioning, int batch)
    {
        CheckBatch(batch, conditioning);
        _affine.Forward(input, batch, _logits.AsSpan(0, batch * OutputSize), conditioning);
    }

    public override void Sample(RandomStream random, int batch, Span<float> output)
    {
        int n = batch * OutputSize;
        Span<float> u = _scratch.AsSpan(0, n);
        random.FillUniform(u);
        Kernels.SampleContinuousBernoulli(_logits.AsSpan(0, n), u, output[..n]);
    }

    internal override void SampleWithNoise(ReadOnlySpan<float> noise, int batch, Span<float> output)
    {
        int n = batch * OutputSize;
        Kernels.SampleContinuousBernoulli(_logits.AsSpan(0, n), noise[..n], output[..n]);
    }

    internal override bool NoiseIsNormal => false;

    public override void Expectation(int batch, Span<float> output)
    {
        int n = batch * OutputSize;
        Kernels.ContinuousBernoulliMean(_logits.AsSpan(0, n), output[..n]);
    }

    public override void AccumulateLogProb(ReadOnlySpan<float> y, int batch, Span<double> rowLogProb)
        => Kernels.AccumulateContinuousBernoulliLogProb(_logits, y, batch, default, batch, OutputSize, rowLogProb);

    public override void AccumulateLogProb(ReadOnlySpan<float> distinctY, int distinctRows, ReadOnlySpan<int> rowSource, int batch, Span<double> rowLogProb)
        => Kernels.AccumulateContinuousBernoulliLogProb(_logits, distinctY, distinctRows, rowSource, batch, OutputSize, rowLogProb);

    public override void AccumulateLogProbGradient(ReadOnlySpan<float> y, ReadOnlySpan<float> input, int batch,
        ReadOnlySpan<float> rowWeights, Span<float> inputGradient, Span<float> outputGradient, Span<float> conditioningGradient = default)
    {
        int n = batch * OutputSize;
        Span<float> da = _scratch.AsSpan(0, n);
        Kernels.ContinuousBernoulliLogProbGradient(_logits, y, batch, OutputSize, rowWeights, da);
        if (inputGradient.IsEmpty && TryReduceOverSharedInputs(da, batch, OutputSize, _shared, out var distinct, out int distinctRows))
            _affine.Backward(_shared.AsSpan(0, distinctRows * OutputSize), distinct, distinctRows, default);
        else
            _affine.Backward(da, input, batch, inputGradient);
        AddConditioningGradient(da, batch, conditioningGradient);
        // ∂ ln p / ∂y_i = a_i.
        if (!outputGradient.IsEmpty) Kernels.AddRowScaled(_logits.AsSpan(0, n), rowWeights, 1f, batch, OutputSize, outputGradient);
    }

    public override void AccumulateNegLogProbInputHessianDiagonal(ReadOnlySpan<float> y, int batch, Span<float> destination)
    {
        int n = batch * OutputSize;
        Span<float> kappa = _scratch.AsSpan(0, n);
        Kernels.ContinuousBernoulliCurvature(_logits.AsSpan(0, n), kappa);
        _affine.AccumulateInputHessianDiagonal(kappa, batch, destination);
    }

    public bool IsBilinear => true;

    /// <summary>ln p(y | a) = y · a − Σ A(a): φ = a, c(φ) = −Σ A(a).</summary>
    public void InputFeatures(int batch, Span<float> features, Span<double> constant)
    {
        int n = batch * OutputSize;
        _logits.AsSpan(0, n).CopyTo(features);
        Span<float> zeros = _scratch.AsSpan(0, n);
        zeros.Clear();
        constant[..batch].Clear();
        Kernels.AccumulateContinuousBernoulliLogProb(_logits, zeros, batch, default, batch, OutputSize, constant);
    }

    /// <summary>ỹ = y, c(y) = 0.</summary>
    public void OutputTerms(ReadOnlySpan<float> y, int rows, Span<float> transformed, Span<double> constant)
    {
        y[..(rows * OutputSize)].CopyTo(transformed);
        constant[..rows].Clear();
    }

    protected override void CopyStatistics(int from, int to)
        => _logits.AsSpan(from * OutputSize, OutputSize).CopyTo(_logits.AsSpan(to * OutputSize, OutputSize));
}
