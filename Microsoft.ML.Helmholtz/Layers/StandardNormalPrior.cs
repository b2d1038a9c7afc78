using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Layers;

/// <summary>The factorised prior of a smooth top layer: p(y) = N(y; 0, I). It has no parameters.</summary>
public sealed class StandardNormalPrior : ConditionalLayer
{
    public StandardNormalPrior(int outputSize) : base(0, outputSize) { }

    public override UnitType Units => UnitType.Gaussian;
    public override IReadOnlyList<Parameter> Parameters { get; } = [];

    protected override void Allocate(int rows) { }

    public override void Forward(ReadOnlySpan<float> input, int batch) => CheckBatch(batch);

    public override void Sample(RandomStream random, int batch, Span<float> output) => random.FillNormal(output[..(batch * OutputSize)]);

    public override void Expectation(int batch, Span<float> output) => output[..(batch * OutputSize)].Clear();

    public override void AccumulateLogProb(ReadOnlySpan<float> y, int batch, Span<double> rowLogProb)
        => Kernels.AccumulateStandardNormalLogProb(y, batch, OutputSize, rowLogProb);

    public override void AccumulateLogProbGradient(ReadOnlySpan<float> y, ReadOnlySpan<float> input, int batch,
        ReadOnlySpan<float> rowWeights, Span<float> inputGradient, Span<float> outputGradient)
    {
        if (outputGradient.IsEmpty) return;
        Kernels.AddRowScaled(y, rowWeights, -1f, batch, OutputSize, outputGradient);
    }

    public override void AccumulateNegLogProbInputHessianDiagonal(ReadOnlySpan<float> y, int batch, Span<float> destination) { }

    public override void AccumulateNegLogProbOutputHessianDiagonal(ReadOnlySpan<float> y, int batch, Span<float> destination)
    {
        System.Numerics.Tensors.TensorPrimitives.Add(destination[..(batch * OutputSize)], 1f, destination[..(batch * OutputSize)]);
    }

    protected override void CopyStatistics(int from, int to) { }
}
