using System.Numerics.Tensors;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Layers;

/// <summary>
/// The factorised prior of a smooth top layer: p(y) = N(y; 0, I). It has no parameters. A
/// conditioned forward shifts the mean row by row: p(y) = N(y; c, I).
/// </summary>
public sealed class StandardNormalPrior : ConditionalLayer
{
    private float[] _shift = [], _centred = [];
    private bool _shifted;

    /// <summary>The prior N(0, I) over <paramref name="outputSize"/> units.</summary>
    /// <param name="outputSize">Units, at least 1.</param>
    /// <param name="name">What messages call the layer; the type's name when null.</param>
    public StandardNormalPrior(int outputSize, string? name = null) : base(0, outputSize, name) { }

    /// <inheritdoc/>
    public override UnitType Units => UnitType.Gaussian;
    /// <summary>Empty: the prior has no parameters.</summary>
    public override IReadOnlyList<Parameter> Parameters { get; } = [];

    /// <inheritdoc/>
    protected override void Allocate(int rows)
    {
        _shift = new float[rows * OutputSize];
        _centred = new float[rows * OutputSize];
    }

    /// <inheritdoc/>
    protected override void ForwardCore(ReadOnlySpan<float> input, ReadOnlySpan<float> conditioning, int batch)
    {
        CheckBatch(batch, conditioning);
        _shifted = !conditioning.IsEmpty;
        if (_shifted) conditioning[..(batch * OutputSize)].CopyTo(_shift);
    }

    /// <inheritdoc/>
    protected override void SampleCore(RandomStream random, int batch, Span<float> output)
    {
        Span<float> y = output[..(batch * OutputSize)];
        random.FillNormal(y);
        if (_shifted) TensorPrimitives.Add(y, _shift.AsSpan(0, y.Length), y);
    }

    /// <inheritdoc/>
    protected override void ExpectationCore(int batch, Span<float> output)
    {
        Span<float> y = output[..(batch * OutputSize)];
        if (_shifted) _shift.AsSpan(0, y.Length).CopyTo(y);
        else y.Clear();
    }

    /// <inheritdoc/>
    protected override void AccumulateLogProbCore(ReadOnlySpan<float> y, int batch, Span<double> rowLogProb)
        => Kernels.AccumulateStandardNormalLogProb(Centred(y, batch), batch, OutputSize, rowLogProb);

    /// <inheritdoc/>
    public override void AccumulateLogProbGradient(ReadOnlySpan<float> y, ReadOnlySpan<float> input, int batch,
        ReadOnlySpan<float> rowWeights, Span<float> inputGradient, Span<float> outputGradient, Span<float> conditioningGradient = default)
    {
        RequireForward(batch, nameof(AccumulateLogProbGradient));   // the last forward's conditioning
        CheckGradientSpans(y, input, batch, rowWeights, inputGradient, outputGradient, conditioningGradient);
        if (outputGradient.IsEmpty && conditioningGradient.IsEmpty) return;
        ReadOnlySpan<float> d = Centred(y, batch);
        // ∂ ln N(y; c, I) / ∂y = −(y − c) = −∂/∂c.
        if (!outputGradient.IsEmpty) Kernels.AddRowScaled(d, rowWeights, -1f, batch, OutputSize, outputGradient);
        if (!conditioningGradient.IsEmpty) Kernels.AddRowScaled(d, rowWeights, 1f, batch, OutputSize, conditioningGradient);
    }

    /// <summary>Adds nothing: the prior has no input.</summary>
    public override void AccumulateNegLogProbInputHessianDiagonal(ReadOnlySpan<float> y, int batch, Span<float> destination) { }

    /// <inheritdoc/>
    public override void AccumulateNegLogProbOutputHessianDiagonal(ReadOnlySpan<float> y, int batch, Span<float> destination)
    {
        TensorPrimitives.Add(destination[..(batch * OutputSize)], 1f, destination[..(batch * OutputSize)]);
    }

    /// <inheritdoc/>
    protected override void CopyStatistics(int from, int to)
    {
        if (_shifted) _shift.AsSpan(from * OutputSize, OutputSize).CopyTo(_shift.AsSpan(to * OutputSize, OutputSize));
    }

    /// <summary>y − c of the last forward (y itself when it had no conditioning).</summary>
    private ReadOnlySpan<float> Centred(ReadOnlySpan<float> y, int batch)
    {
        if (!_shifted) return y;
        int n = batch * OutputSize;
        TensorPrimitives.Subtract(y[..n], _shift.AsSpan(0, n), _centred.AsSpan(0, n));
        return _centred.AsSpan(0, n);
    }
}
