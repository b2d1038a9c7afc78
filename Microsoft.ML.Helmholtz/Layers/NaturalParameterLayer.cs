using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Layers;

/// <summary>
/// Units whose log-density is ln p(y | a) = Σ_i [y_i a_i − A(a_i)] with one natural parameter per unit,
/// a = W x + b (+ the conditioning): Bernoulli units (A = softplus) and continuous Bernoulli ones. What
/// follows from that form alone is here: the forward, the backward through the affine map (with the
/// weight gradients per distinct input of a shared forward), ∂ ln p/∂y = a, the input Hessian through
/// A''(a), and the bilinear form φ = a, c(φ) = −Σ A(a). Each kind supplies A's kernels, sampling and its start from the data.
/// </summary>
public abstract class NaturalParameterLayer : ConditionalLayer, IBilinearLogProb
{
    private readonly AffineMap _affine;
    private float[] _logits = [];
    private float[] _scratch = [], _shared = [];

    /// <summary>
    /// A layer whose natural parameters are a = W x + b, with the weights <c>name.W</c> [outputSize × inputSize] (none for a prior)
    /// and the biases <c>name.b</c>.
    /// </summary>
    /// <param name="name">What messages call the layer, and the start of its parameters' names.</param>
    /// <param name="inputSize">Inputs per row; 0 for a factorised prior.</param>
    /// <param name="outputSize">Units, at least 1.</param>
    /// <param name="engine">The engine that makes the layer's matrix products.</param>
    protected NaturalParameterLayer(string name, int inputSize, int outputSize, IMatrixEngine engine)
        : base(inputSize, outputSize, name)
    {
        _affine = new AffineMap(name, inputSize, outputSize, engine);
        Parameters = Array.AsReadOnly(_affine.Parameters.ToArray());
    }

    /// <summary>The weights W [OutputSize × InputSize] (absent for a prior), then the biases b [1 × OutputSize].</summary>
    public override IReadOnlyList<Parameter> Parameters { get; }
    internal AffineMap Affine => _affine;
    internal override IEnumerable<AffineMap> InputMaps => _affine.Weight is null ? [] : [_affine];

    /// <summary>The natural parameters (logits) a of the last forward, [batch × OutputSize].</summary>
    public ReadOnlySpan<float> Logits(int batch)
    {
        RequireRows(batch, nameof(Logits));
        return _logits.AsSpan(0, batch * OutputSize);
    }

    /// <summary>All rows' logits as allocated (at least the last forward's), for the kernels that take the whole buffer.</summary>
    protected float[] LogitBuffer => _logits;

    /// <summary>Per-row scratch of [rows × OutputSize] floats (the draws' uniforms, zeros), free between calls.</summary>
    protected Span<float> Scratch(int n) => _scratch.AsSpan(0, n);

    /// <inheritdoc/>
    protected override void Allocate(int rows)
    {
        _logits = new float[rows * OutputSize];
        _scratch = new float[rows * OutputSize];
        _shared = new float[rows * OutputSize];
        LogitsChanged();
    }

    /// <summary>Called whenever the logits change (a forward, a row copied, new buffers): what a kind keeps of them is stale.</summary>
    private protected virtual void LogitsChanged() { }

    /// <summary>
    /// Before biases start from the data's column means: one mean per unit, each in [0, 1] (NaN refused: hence the negated
    /// comparison), all checked before any bias changes; <paramref name="why"/> ends the message.
    /// </summary>
    private protected void RequireMeansInUnitInterval(ReadOnlySpan<double> means, string why)
    {
        if (means.Length != OutputSize) throw new ArgumentException($"{means.Length} means for {OutputSize} units.", nameof(means));
        for (int c = 0; c < means.Length; c++)
            if (!(means[c] >= 0 && means[c] <= 1))
                throw new ArgumentOutOfRangeException(nameof(means), means[c], $"The mean of column {c} is {means[c]}: {why}.");
    }

    /// <inheritdoc/>
    protected override void ForwardCore(ReadOnlySpan<float> input, ReadOnlySpan<float> conditioning, int batch)
    {
        CheckBatch(batch, conditioning);
        LogitsChanged();   // first: a forward that throws part-way leaves nothing kept for the old logits
        _affine.Forward(input, batch, _logits.AsSpan(0, batch * OutputSize), conditioning);
    }

    /// <summary>da[r, i] = w_r ∂ ln p(y_r | a_r)/∂a_i = w_r (y_i − A'(a_i)).</summary>
    protected abstract void LogProbGradient(ReadOnlySpan<float> logits, ReadOnlySpan<float> y, int batch, ReadOnlySpan<float> rowWeights, Span<float> da);

    /// <summary>kappa = A''(a), the curvature of −ln p in a.</summary>
    protected abstract void Curvature(ReadOnlySpan<float> logits, Span<float> kappa);

    /// <inheritdoc/>
    protected override void AccumulateLogProbCore(ReadOnlySpan<float> y, int batch, Span<double> rowLogProb)
        => AccumulateLogProb(y, batch, default, batch, rowLogProb);

    /// <inheritdoc/>
    public override void AccumulateLogProbGradient(ReadOnlySpan<float> y, ReadOnlySpan<float> input, int batch,
        ReadOnlySpan<float> rowWeights, Span<float> inputGradient, Span<float> outputGradient, Span<float> conditioningGradient = default)
    {
        RequireForward(batch, nameof(AccumulateLogProbGradient));
        CheckGradientSpans(y, input, batch, rowWeights, inputGradient, outputGradient, conditioningGradient);
        Span<float> da = PreActivationGradient(y, batch, rowWeights);
        // Rows that share their input (K samples of one example) form the weight gradient per distinct input.
        if (inputGradient.IsEmpty && TryDistinctInputs(batch, out var distinct))
            BackwardPerDistinctInput(da, batch, distinct, default);
        else
            _affine.Backward(da, input, batch, inputGradient);
        OutputAndConditioningGradients(da, batch, rowWeights, outputGradient, conditioningGradient);
    }

    internal override bool TryAccumulateLogProbGradientPerDistinctInput(ReadOnlySpan<float> y, int batch, ReadOnlySpan<float> rowWeights, in DistinctInputs inputs,
        Span<float> distinctInputGradient, Span<float> outputGradient, Span<float> conditioningGradient)
    {
        Span<float> da = PreActivationGradient(y, batch, rowWeights);
        BackwardPerDistinctInput(da, batch, inputs, distinctInputGradient);
        OutputAndConditioningGradients(da, batch, rowWeights, outputGradient, conditioningGradient);
        return true;
    }

    private Span<float> PreActivationGradient(ReadOnlySpan<float> y, int batch, ReadOnlySpan<float> rowWeights)
    {
        Span<float> da = _scratch.AsSpan(0, batch * OutputSize);
        LogProbGradient(_logits, y, batch, rowWeights, da);
        return da;
    }

    /// <summary>The map's backward from da summed per distinct input: the weight gradient and, when asked, ∂/∂x per distinct input.</summary>
    private void BackwardPerDistinctInput(ReadOnlySpan<float> da, int batch, in DistinctInputs inputs, Span<float> distinctInputGradient)
    {
        Span<float> reduced = _shared.AsSpan(0, inputs.Rows * OutputSize);
        SumPerDistinctInput(da, batch, OutputSize, inputs, reduced);
        _affine.Backward(reduced, inputs.Values, inputs.Rows, distinctInputGradient);
    }

    private void OutputAndConditioningGradients(ReadOnlySpan<float> da, int batch, ReadOnlySpan<float> rowWeights, Span<float> outputGradient, Span<float> conditioningGradient)
    {
        AddConditioningGradient(da, batch, conditioningGradient);
        // ∂ ln p / ∂y_i = a_i (for Bernoulli units: as for a relaxed y).
        if (!outputGradient.IsEmpty) Kernels.AddRowScaled(_logits.AsSpan(0, batch * OutputSize), rowWeights, 1f, batch, OutputSize, outputGradient);
    }

    /// <inheritdoc/>
    public override void AccumulateNegLogProbInputHessianDiagonal(ReadOnlySpan<float> y, int batch, Span<float> destination)
    {
        RequireForward(batch, nameof(AccumulateNegLogProbInputHessianDiagonal));
        int n = batch * OutputSize;
        Span<float> kappa = _scratch.AsSpan(0, n);
        Curvature(_logits.AsSpan(0, n), kappa);
        _affine.AccumulateInputHessianDiagonal(kappa, batch, destination);
    }

    /// <summary>True: ln p(y | a) = y · a − Σ A(a) has the form whatever the layer's configuration.</summary>
    public bool IsBilinear => true;

    /// <summary>ln p(y | a) = y · a − Σ A(a): φ = a, c(φ) = −Σ A(a), which is ln p(0 | a).</summary>
    public void InputFeatures(int batch, Span<float> features, Span<double> constant)
    {
        // First: the scratch below is the running computation's when another thread holds the machine.
        RequireRows(batch, nameof(InputFeatures));
        RequireLength(features.Length, batch, OutputSize, nameof(features), "units");
        RequireLength(constant.Length, batch, 1, nameof(constant), "values");
        int n = batch * OutputSize;
        _logits.AsSpan(0, n).CopyTo(features);
        Span<float> y = _scratch.AsSpan(0, n);
        y.Clear();
        constant[..batch].Clear();
        AccumulateLogProb(y, batch, constant);
    }

    /// <summary>ỹ = y, c(y) = 0.</summary>
    public void OutputTerms(ReadOnlySpan<float> y, int rows, Span<float> transformed, Span<double> constant)
    {
        CheckOutputTerms(y, rows, transformed, constant);
        y[..(rows * OutputSize)].CopyTo(transformed);
        constant[..rows].Clear();
    }

    /// <inheritdoc/>
    protected override void CopyStatistics(int from, int to)
    {
        LogitsChanged();
        _logits.AsSpan(from * OutputSize, OutputSize).CopyTo(_logits.AsSpan(to * OutputSize, OutputSize));
    }
}
