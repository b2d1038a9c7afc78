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
    {
        for (int r = 0; r < batch; r++)
        {
            double sum = 0;
            foreach (float v in y.Slice(r * OutputSize, OutputSize)) sum += v * v;
            rowLogProb[r] += -0.5 * (sum + OutputSize * Kernels.LogTwoPi);
        }
    }

    public override void AccumulateLogProbGradient(ReadOnlySpan<float> y, ReadOnlySpan<float> input, int batch,
        ReadOnlySpan<float> rowWeights, Span<float> inputGradient, Span<float> outputGradient)
    {
        if (outputGradient.IsEmpty) return;
        for (int r = 0; r < batch; r++)
        {
            float w = rowWeights[r];
            for (int i = r * OutputSize; i < (r + 1) * OutputSize; i++) outputGradient[i] -= w * y[i];
        }
    }

    public override void AccumulateNegLogProbInputHessianDiagonal(ReadOnlySpan<float> y, int batch, Span<float> destination) { }

    public override void AccumulateNegLogProbOutputHessianDiagonal(ReadOnlySpan<float> y, int batch, Span<float> destination)
    {
        for (int i = 0; i < batch * OutputSize; i++) destination[i] += 1f;
    }

    protected override void CopyStatistics(int from, int to) { }
}
