using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Layers;

/// <summary>
/// u = x Wᵀ + b over a batch of rows, with W stored [outputs × inputs]. With no inputs it is a bias
/// alone (the factorised prior). Forward and backward sit side by side.
/// </summary>
internal sealed class AffineMap
{
    private readonly IMatrixEngine _engine;
    private float[] _squaredWeights = [];

    public AffineMap(string name, int inputs, int outputs, IMatrixEngine engine)
    {
        Inputs = inputs;
        Outputs = outputs;
        _engine = engine;
        Weight = inputs > 0 ? new Parameter(name + ".W", outputs, inputs) : null;
        Bias = new Parameter(name + ".b", 1, outputs);
    }

    public int Inputs { get; }
    public int Outputs { get; }
    public Parameter? Weight { get; }
    public Parameter Bias { get; }

    public IEnumerable<Parameter> Parameters => Weight is null ? [Bias] : [Weight, Bias];

    /// <summary>output[batch × Outputs] = input Wᵀ + b.</summary>
    public void Forward(ReadOnlySpan<float> input, int batch, Span<float> output)
    {
        Kernels.BroadcastRows(Bias.Value, output, batch, Outputs);
        if (Weight is not null)
            _engine.Gemm(false, true, batch, Outputs, Inputs, 1f, input, Inputs, Weight.Value, Inputs, 1f, output, Outputs);
    }

    /// <summary><see cref="Forward"/> of two maps over the same input, their products as one pair (they share the engine of <paramref name="first"/>).</summary>
    public static void Forward(AffineMap first, Span<float> firstOutput, AffineMap second, Span<float> secondOutput, ReadOnlySpan<float> input, int batch)
    {
        if (first.Weight is null || second.Weight is null || first.Inputs != second.Inputs)
        {
            first.Forward(input, batch, firstOutput);
            second.Forward(input, batch, secondOutput);
            return;
        }
        Kernels.BroadcastRows(first.Bias.Value, firstOutput, batch, first.Outputs);
        Kernels.BroadcastRows(second.Bias.Value, secondOutput, batch, second.Outputs);
        first._engine.GemmPair(
            new GemmCall(false, true, batch, first.Outputs, first.Inputs, 1f, input, first.Inputs, first.Weight.Value, first.Inputs, 1f, firstOutput, first.Outputs),
            new GemmCall(false, true, batch, second.Outputs, second.Inputs, 1f, input, second.Inputs, second.Weight.Value, second.Inputs, 1f, secondOutput, second.Outputs));
    }

    /// <summary>
    /// Given dLoss/du for the batch: accumulates dW += duᵀ x, db += Σ_rows du, and, when
    /// <paramref name="inputGradient"/> is not empty, dLoss/dx += du W. The two products are
    /// independent, so they run as a pair.
    /// </summary>
    public void Backward(ReadOnlySpan<float> outputGradient, ReadOnlySpan<float> input, int batch, Span<float> inputGradient)
    {
        Kernels.AddColumnSums(outputGradient, batch, Outputs, Bias.Gradient);
        if (Weight is null) return;
        var weightGradient = new GemmCall(true, false, Outputs, Inputs, batch, 1f, outputGradient, Outputs, input, Inputs, 1f, Weight.Gradient, Inputs);
        if (inputGradient.IsEmpty) weightGradient.RunOn(_engine);
        else _engine.GemmPair(weightGradient,
            new GemmCall(false, false, batch, Inputs, Outputs, 1f, outputGradient, Outputs, Weight.Value, Inputs, 1f, inputGradient, Inputs));
    }

    /// <summary>
    /// <see cref="Backward"/> of two maps over the same input without an input gradient: the two
    /// weight gradients as one pair.
    /// </summary>
    public static void BackwardWeights(AffineMap first, ReadOnlySpan<float> firstOutputGradient, AffineMap second, ReadOnlySpan<float> secondOutputGradient,
        ReadOnlySpan<float> input, int batch)
    {
        if (first.Weight is null || second.Weight is null || first.Inputs != second.Inputs)
        {
            first.Backward(firstOutputGradient, input, batch, default);
            second.Backward(secondOutputGradient, input, batch, default);
            return;
        }
        Kernels.AddColumnSums(firstOutputGradient, batch, first.Outputs, first.Bias.Gradient);
        Kernels.AddColumnSums(secondOutputGradient, batch, second.Outputs, second.Bias.Gradient);
        first._engine.GemmPair(
            new GemmCall(true, false, first.Outputs, first.Inputs, batch, 1f, firstOutputGradient, first.Outputs, input, first.Inputs, 1f, first.Weight.Gradient, first.Inputs),
            new GemmCall(true, false, second.Outputs, second.Inputs, batch, 1f, secondOutputGradient, second.Outputs, input, second.Inputs, 1f, second.Weight.Gradient, second.Inputs));
    }

    /// <summary>
    /// The diagonal of the Hessian of a loss with respect to the input, when the loss is a sum of
    /// per-unit functions of u whose second derivatives are <paramref name="curvature"/>:
    /// d²/dx_j² = Σ_i W_ij² κ_i. Accumulates into <paramref name="destination"/>.
    /// </summary>
    public void AccumulateInputHessianDiagonal(ReadOnlySpan<float> curvature, int batch, Span<float> destination)
    {
        if (Weight is null) return;
        if (_squaredWeights.Length != Weight.Length) _squaredWeights = new float[Weight.Length];
        Kernels.Square(Weight.Value, _squaredWeights);
        _engine.Gemm(false, false, batch, Inputs, Outputs, 1f, curvature, Outputs, _squaredWeights, Inputs, 1f, destination, Inputs);
    }
}
