using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Layers;

/// <summary>
/// A distribution whose input first passes through deterministic tanh layers: p(y | x) =
/// <see cref="Inner"/>(y | trunk(x)). The nonlinear machines of the literature ("200∼200": two
/// layers of 200 tanh units inside every conditional) are stacks of these. Everything about y is the
/// inner layer's (its units, samples, densities, the backward through its samples); the trunk adds
/// its parameters and carries every gradient on to the input. Price's theorem is not available
/// through a trunk (its input Hessian is not diagonal in the units).
/// </summary>
public sealed class TrunkedLayer : ConditionalLayer, IReparameterizedLayer, IBilinearLogProb
{
    private readonly DeterministicTrunk _trunk;
    // After ForwardShared, row r's trunk activations are those of row _sharedTrunk.Source[r] until the
    // backward, the only reader of every row's own, copies them (OwnTrunkRows): scoring never does.
    private readonly SharedRows _sharedTrunk;

    internal TrunkedLayer(DeterministicTrunk trunk, ConditionalLayer inner)
        : base(trunk.Inputs, inner.OutputSize, inner.Name)
    {
        if (inner.InputSize != trunk.Outputs)
            throw new ArgumentException($"The inner layer takes {inner.InputSize} inputs, but the trunk gives {trunk.Outputs}.", nameof(inner));
        _trunk = trunk;
        Inner = inner;
        _sharedTrunk = new SharedRows(trunk.CopyRow);
        Parameters = [.. trunk.Parameters, .. inner.Parameters];
    }

    /// <summary>The distribution after the trunk.</summary>
    public ConditionalLayer Inner { get; }

    /// <summary>The sizes of the deterministic layers, input side first.</summary>
    public IReadOnlyList<int> TrunkSizes => _trunk.Sizes;

    internal DeterministicTrunk Trunk => _trunk;
    internal override IEnumerable<AffineMap> InputMaps => [_trunk.Maps[0]];
    /// <summary>The <see cref="Inner"/> layer's units.</summary>
    public override UnitType Units => Inner.Units;
    /// <summary>The deterministic layers' weights and biases, input side first, then the <see cref="Inner"/> layer's parameters.</summary>
    public override IReadOnlyList<Parameter> Parameters { get; }
    internal override bool NoiseIsNormal => Inner.NoiseIsNormal;
    internal override int NoisePerRow => Inner.NoisePerRow;
    internal override int WidestRow => Math.Max(Math.Max(base.WidestRow, _trunk.Widest), Inner.WidestRow);

    /// <inheritdoc/>
    protected override void Allocate(int rows)
    {
        _trunk.EnsureCapacity(rows);
        Inner.EnsureCapacity(rows);
        _sharedTrunk.Allocate(rows);
    }

    /// <inheritdoc/>
    protected override void ForwardCore(ReadOnlySpan<float> input, ReadOnlySpan<float> conditioning, int batch)
    {
        CheckBatch(batch, conditioning);
        _sharedTrunk.Reset();
        Inner.Forward(_trunk.Forward(input, batch), conditioning, batch);
    }

    /// <summary>The head's operands (a binary head only): the trunk runs as in a forward, then the head's fused kernel.</summary>
    internal override BernoulliProductOperands? ProductOperands() => Inner.ProductOperands();

    internal override void AccumulateLogProbOfProduct(BernoulliProductOperands operands, ReadOnlySpan<float> input, ReadOnlySpan<float> distinctY, int distinctRows,
        ReadOnlySpan<int> rowSource, int batch, Span<double> rowLogProb)
    {
        RefuseWhileAnotherThreadComputes(nameof(AccumulateLogProbOfProduct));
        ForwardRows = 0;
        _sharedTrunk.Reset();
        Inner.AccumulateLogProbOfProduct(operands, _trunk.Forward(input, batch), distinctY, distinctRows, rowSource, batch, rowLogProb);
    }

    /// <inheritdoc/>
    protected override void CopyStatistics(int from, int to)
    {
        OwnTrunkRows();
        _trunk.CopyRow(from, to);
        Inner.CopyStatisticsOf(from, to);
    }

    /// <inheritdoc/>
    protected override void ShareStatistics(ReadOnlySpan<int> rowSource, int rows)
    {
        Inner.ShareStatisticsOf(rowSource, rows);
        _sharedTrunk.Share(rowSource, rows);
    }

    /// <summary>
    /// Whether the rows still read the trunk activations of a shared forward over <paramref name="batch"/> rows,
    /// whose distinct inputs are then <paramref name="visible"/>. The backward then carries only the distinct
    /// rows through the trunk: its activations are the same for every row of an input, so the rows' gradients
    /// at its output can be summed per input first (K times fewer multiply-adds, and no rows copied).
    /// </summary>
    private bool TrunkRowsShared(int batch, out DistinctInputs visible)
    {
        visible = default;
        return _sharedTrunk.Covers(batch) && TryDistinctInputs(batch, out visible);
    }

    /// <summary>The trunk's outputs for the distinct inputs of a shared forward: the inner layer's distinct inputs.</summary>
    private DistinctInputs TrunkOutputs(in DistinctInputs visible) => new(_trunk.Output(visible.Rows), visible.Rows, visible.Source);

    /// <summary>Gives every row its own trunk activations (nothing when they are not shared).</summary>
    private void OwnTrunkRows() => _sharedTrunk.Own();

    /// <inheritdoc/>
    protected override void SampleCore(RandomStream random, int batch, Span<float> output) => Inner.Sample(random, batch, output);
    internal override void SampleWithNoise(ReadOnlySpan<float> noise, int batch, Span<float> output) => Inner.SampleWithNoise(noise, batch, output);
    /// <inheritdoc/>
    protected override void ExpectationCore(int batch, Span<float> output) => Inner.Expectation(batch, output);
    /// <inheritdoc/>
    protected override void AccumulateLogProbCore(ReadOnlySpan<float> y, int batch, Span<double> rowLogProb) => Inner.AccumulateLogProb(y, batch, rowLogProb);
    /// <inheritdoc/>
    protected override void AccumulateLogProbOfSampleCore(ReadOnlySpan<float> y, int batch, Span<double> rowLogProb) => Inner.AccumulateLogProbOfSample(y, batch, rowLogProb);

    /// <inheritdoc/>
    protected override void AccumulateLogProbCore(ReadOnlySpan<float> distinctY, int distinctRows, ReadOnlySpan<int> rowSource, int batch, Span<double> rowLogProb)
        => Inner.AccumulateLogProb(distinctY, distinctRows, rowSource, batch, rowLogProb);

    internal override void InitializeFromDataMeans(ReadOnlySpan<double> means) => Inner.InitializeFromDataMeans(means);
    internal override bool TryGaussianMarginals(int batch, Span<float> mean, Span<float> logVariance) => Inner.TryGaussianMarginals(batch, mean, logVariance);

    /// <inheritdoc/>
    public override void AccumulateLogProbGradient(ReadOnlySpan<float> y, ReadOnlySpan<float> input, int batch,
        ReadOnlySpan<float> rowWeights, Span<float> inputGradient, Span<float> outputGradient, Span<float> conditioningGradient = default)
    {
        RequireForward(batch, nameof(AccumulateLogProbGradient));   // the trunk's activations too
        CheckGradientSpans(y, input, batch, rowWeights, inputGradient, outputGradient, conditioningGradient);
        if (inputGradient.IsEmpty && TrunkRowsShared(batch, out var visible)
            && Inner.TryAccumulateLogProbGradientPerDistinctInput(y, batch, rowWeights, TrunkOutputs(visible), _trunk.ClearedOutputGradient(visible.Rows),
                outputGradient, conditioningGradient))
        {
            _trunk.Backward(visible.Values, visible.Rows, default);
            return;
        }
        OwnTrunkRows();
        // The trunk's parameters need ∂L/∂(trunk output) whether or not the input's gradient is asked for.
        Inner.AccumulateLogProbGradient(y, _trunk.Output(batch), batch, rowWeights, _trunk.ClearedOutputGradient(batch), outputGradient, conditioningGradient);
        _trunk.Backward(input, batch, inputGradient);
    }

    /// <inheritdoc/>
    /// <exception cref="NotSupportedException">The <see cref="Inner"/> layer has no reparameterised samples (it is not an <see cref="IReparameterizedLayer"/>).</exception>
    public void BackwardThroughSample(in SampleGradient gradient, ReadOnlySpan<float> input, int batch, Span<float> inputGradient, Span<float> conditioningGradient = default)
    {
        if (Inner is not IReparameterizedLayer inner)
            throw new NotSupportedException($"{Inner.GetType().Name} has no reparameterised samples.");
        RequireForward(batch, nameof(BackwardThroughSample));
        if (inputGradient.IsEmpty && TrunkRowsShared(batch, out var visible)
            && Inner.TryBackwardThroughSamplePerDistinctInput(gradient, batch, TrunkOutputs(visible), _trunk.ClearedOutputGradient(visible.Rows), conditioningGradient))
        {
            _trunk.Backward(visible.Values, visible.Rows, default);
            return;
        }
        OwnTrunkRows();
        inner.BackwardThroughSample(gradient, _trunk.Output(batch), batch, _trunk.ClearedOutputGradient(batch), conditioningGradient);
        _trunk.Backward(input, batch, inputGradient);
    }

    /// <summary>Whether the <see cref="Inner"/> layer has the form, with the trunk's output as its input.</summary>
    public bool IsBilinear => Inner is IBilinearLogProb { IsBilinear: true };

    /// <inheritdoc/>
    /// <exception cref="NotSupportedException">The <see cref="Inner"/> layer has no bilinear log-probability.</exception>
    public void InputFeatures(int batch, Span<float> features, Span<double> constant)
        => (Inner as IBilinearLogProb ?? throw new NotSupportedException($"{Inner.GetType().Name} has no bilinear log-probability.")).InputFeatures(batch, features, constant);

    /// <inheritdoc/>
    /// <exception cref="NotSupportedException">The <see cref="Inner"/> layer has no bilinear log-probability.</exception>
    public void OutputTerms(ReadOnlySpan<float> y, int rows, Span<float> transformed, Span<double> constant)
        => (Inner as IBilinearLogProb ?? throw new NotSupportedException($"{Inner.GetType().Name} has no bilinear log-probability.")).OutputTerms(y, rows, transformed, constant);

    /// <summary>
    /// Always throws <see cref="NotSupportedException"/>: a trunk's input Hessian is not diagonal in the units, so Price's theorem
    /// is not available through it.
    /// </summary>
    public override void AccumulateNegLogProbInputHessianDiagonal(ReadOnlySpan<float> y, int batch, Span<float> destination)
        => throw new NotSupportedException("Price's theorem needs the diagonal Hessian in a layer's input, which a deterministic trunk does not give; use the path-wise gradient (sbp).");

    /// <inheritdoc/>
    public override void AccumulateNegLogProbOutputHessianDiagonal(ReadOnlySpan<float> y, int batch, Span<float> destination)
        => Inner.AccumulateNegLogProbOutputHessianDiagonal(y, batch, destination);
}
