using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Layers;

/// <summary>
/// Binary units: p(y | x) = Π_i Bernoulli(y_i | sigmoid(a_i)), a = W x + b. With no input it is the
/// factorised Bernoulli prior with learned biases. With soft targets (units "bs") it also scores values
/// y in [0, 1] by the same formula, y ln λ + (1 − y) ln(1 − λ): the cross-entropy of the data's
/// intensities taken as probabilities, the measure the literature uses for soft pixels (its draws stay binary).
/// </summary>
public sealed class BernoulliLayer : ConditionalLayer, IBilinearLogProb
{
    private readonly AffineMap _affine;
    private float[] _logits = [];
    private float[] _scratch = [], _shared = [];

    public BernoulliLayer(string name, int inputSize, int outputSize, IMatrixEngine engine, bool softTargets = false)
        : base(inputSize, outputSize)
    {
        SoftTargets = softTargets;
        _affine = new AffineMap(name, inputSize, outputSize, engine);
        Parameters = _affine.Parameters.ToArray();
    }

    public override UnitType Units => SoftTargets ? UnitType.SoftBernoulli : UnitType.Bernoulli;

    /// <summary>Whether y may lie anywhere in [0, 1] (scored by the cross-entropy), not only at 0 and 1.</summary>
    public bool SoftTargets { get; }
    public override IReadOnlyList<Parameter> Parameters { get; }
    internal AffineMap Affine => _affine;

    /// <summary>The logits a of the last forward, [batch × OutputSize].</summary>
    public ReadOnlySpan<float> Logits(int batch) => _logits.AsSpan(0, batch * OutputSize);

    /// <summary>Sets the biases to the logits of the data's column means (clamped to [10⁻³, 1 − 10⁻³]); the weights are left alone.</summary>
    internal override void InitializeFromDataMeans(ReadOnlySpan<double> means)
    {
        if (means.Length != OutputSize) throw new ArgumentException($"{means.Length} means for {OutputSize} units.", nameof(means));
        for (int c = 0; c < means.Length; c++)
            if (!(means[c] >= 0 && means[c] <= 1))
                throw new ArgumentOutOfRangeException(nameof(means), means[c], $"The mean of column {c} is {means[c]}: a binary column's mean lies in [0, 1].");
        float[] bias = _affine.Bias.Value;
        for (int c = 0; c < means.Length; c++)
        {
            double mean = Math.Clamp(means[c], 1e-3, 1 - 1e-3);
            bias[c] = (float)Math.Log(mean / (1 - mean));
        }
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
        Kernels.SampleBernoulli(_logits.AsSpan(0, n), u, output[..n]);
    }

    internal override void SampleWithNoise(ReadOnlySpan<float> noise, int batch, Span<float> output)
    {
        int n = batch * OutputSize;
        Kernels.SampleBernoulli(_logits.AsSpan(0, n), noise[..n], output[..n]);
    }

    internal override bool NoiseIsNormal => false;

    public override void Expectation(int batch, Span<float> output)
    {
        int n = batch * OutputSize;
        Kernels.Sigmoid(_logits.AsSpan(0, n), output[..n]);
    }

    public override void AccumulateLogProb(ReadOnlySpan<float> y, int batch, Span<double> rowLogProb)
        => AccumulateLogProb(y, batch, default, batch, rowLogProb);

    public override void AccumulateLogProb(ReadOnlySpan<float> distinctY, int distinctRows, ReadOnlySpan<int> rowSource, int batch, Span<double> rowLogProb)
    {
        // The binary kernel's sign trick holds for 0 and 1 only.
        if (SoftTargets) Kernels.AccumulateSoftBernoulliLogProb(_logits, distinctY, distinctRows, rowSource, batch, OutputSize, rowLogProb);
        else Kernels.AccumulateBernoulliLogProb(_logits, distinctY, distinctRows, rowSource, batch, OutputSize, rowLogProb);
    }

    public override void AccumulateLogProbGradient(ReadOnlySpan<float> y, ReadOnlySpan<float> input, int batch,
        ReadOnlySpan<float> rowWeights, Span<float> inputGradient, Span<float> outputGradient, Span<float> conditioningGradient = default)
    {
        int n = batch * OutputSize;
        Span<float> da = _scratch.AsSpan(0, n);
        Kernels.BernoulliLogProbGradient(_logits, y, batch, OutputSize, rowWeights, da);
        // Rows that share their input (K samples of one example) form the weight gradient per distinct input.
        if (inputGradient.IsEmpty && TryReduceOverSharedInputs(da, batch, OutputSize, _shared, out var distinct, out int distinctRows))
            _affine.Backward(_shared.AsSpan(0, distinctRows * OutputSize), distinct, distinctRows, default);
        else
            _affine.Backward(da, input, batch, inputGradient);
        AddConditioningGradient(da, batch, conditioningGradient);
        if (!outputGradient.IsEmpty)
        {
            // ∂ ln p / ∂y_i = a_i: the logit, as for a relaxed y.
            Kernels.AddRowScaled(_logits.AsSpan(0, n), rowWeights, 1f, batch, OutputSize, outputGradient);
        }
    }

    public override void AccumulateNegLogProbInputHessianDiagonal(ReadOnlySpan<float> y, int batch, Span<float> destination)
    {
        int n = batch * OutputSize;
        Span<float> kappa = _scratch.AsSpan(0, n);
        Kernels.BernoulliCurvature(_logits.AsSpan(0, n), kappa);
        _affine.AccumulateInputHessianDiagonal(kappa, batch, destination);
    }

    public bool IsBilinear => true;

    /// <summary>ln p(y | a) = y · a − Σ softplus(a): φ = a, c(φ) = −Σ softplus(a).</summary>
    public void InputFeatures(int batch, Span<float> features, Span<double> constant)
    {
        int n = batch * OutputSize;
        _logits.AsSpan(0, n).CopyTo(features);
        // −Σ softplus(a) is ln Bernoulli(0 | sigmoid(a)): the log-probability kernel at y = 0.
        Span<float> zeros = _scratch.AsSpan(0, n);
        zeros.Clear();
        constant[..batch].Clear();
        Kernels.AccumulateBernoulliLogProb(_logits, zeros, batch, OutputSize, constant);
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
