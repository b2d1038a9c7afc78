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

    public AffineMap(string name, int inputs, int outputs, IMatrixEngine engine, ParameterRole weightRole = ParameterRole.Weight)
    {
        ArgumentNullException.ThrowIfNull(engine);
        Inputs = inputs;
        Outputs = outputs;
        _engine = engine;
        Weight = inputs > 0 ? new Parameter(name + ".W", outputs, inputs, weightRole) : null;
        Bias = new Parameter(name + ".b", 1, outputs, ParameterRole.Bias);
    }

    public int Inputs { get; }
    public int Outputs { get; }
    public Parameter? Weight { get; }
    public Parameter Bias { get; }

    public IEnumerable<Parameter> Parameters => Weight is null ? [Bias] : [Weight, Bias];

    /// <summary>
    /// output[batch × Outputs] = input Wᵀ + b, plus <paramref name="conditioning"/> (a per-row
    /// addition to u, [batch × Outputs]) when it is not empty.
    /// </summary>
    public void Forward(ReadOnlySpan<float> input, int batch, Span<float> output, ReadOnlySpan<float> conditioning = default)
    {
        Start(output, batch, conditioning);
        if (Weight is not null) ForwardProduct(input, batch, output).RunOn(_engine);
    }

    /// <summary>
    /// <see cref="Forward(ReadOnlySpan{float}, int, Span{float}, ReadOnlySpan{float})"/> of two maps over the same input, their
    /// products as one pair (they share the engine of <paramref name="first"/>); the conditioning, if any, is the first map's.
    /// </summary>
    public static void Forward(AffineMap first, Span<float> firstOutput, AffineMap second, Span<float> secondOutput, ReadOnlySpan<float> input, int batch,
        ReadOnlySpan<float> firstConditioning = default)
    {
        if (first.Weight is null || second.Weight is null || first.Inputs != second.Inputs)
        {
            first.Forward(input, batch, firstOutput, firstConditioning);
            second.Forward(input, batch, secondOutput);
            return;
        }
        first.Start(firstOutput, batch, firstConditioning);
        second.Start(secondOutput, batch, default);
        first._engine.GemmPair(first.ForwardProduct(input, batch, firstOutput), second.ForwardProduct(input, batch, secondOutput));
    }

    /// <summary>output = b (+ conditioning): what the product is added to.</summary>
    private void Start(Span<float> output, int batch, ReadOnlySpan<float> conditioning)
    {
        Kernels.BroadcastRows(Bias.Value, conditioning, output, batch, Outputs);
    }

    /// <summary>
    /// Given dLoss/du for the batch: accumulates dW += duᵀ x, db += Σ_rows du, and, when
    /// <paramref name="inputGradient"/> is not empty, dLoss/dx += du W. The two products are
    /// independent, so they run as a pair. A conditioning gradient is du itself: callers add it.
    /// </summary>
    public void Backward(ReadOnlySpan<float> outputGradient, ReadOnlySpan<float> input, int batch, Span<float> inputGradient)
    {
        Kernels.AddColumnSums(outputGradient, batch, Outputs, Bias.Gradient);
        if (Weight is null) return;
        if (inputGradient.IsEmpty) WeightGradientProduct(outputGradient, input, batch).RunOn(_engine);
        else _engine.GemmPair(WeightGradientProduct(outputGradient, input, batch),
            new GemmCall(false, false, batch, Inputs, Outputs, 1f, outputGradient, Outputs, Weight.Value, Inputs, 1f, inputGradient, Inputs));
    }

    /// <summary>
    /// <see cref="Backward(ReadOnlySpan{float}, ReadOnlySpan{float}, int, Span{float})"/> of two maps over the same input: without an input gradient, the two weight
    /// gradients as one pair; with one, each map pairs its weight gradient with its share of ∂/∂x
    /// (both add into it, so they cannot run side by side).
    /// </summary>
    public static void Backward(AffineMap first, ReadOnlySpan<float> firstOutputGradient, AffineMap second, ReadOnlySpan<float> secondOutputGradient,
        ReadOnlySpan<float> input, int batch, Span<float> inputGradient)
    {
        if (inputGradient.IsEmpty)
        {
            BackwardWeights(first, firstOutputGradient, second, secondOutputGradient, input, batch);
            return;
        }
        first.Backward(firstOutputGradient, input, batch, inputGradient);
        second.Backward(secondOutputGradient, input, batch, inputGradient);
    }

    /// <summary>
    /// <see cref="Backward(ReadOnlySpan{float}, ReadOnlySpan{float}, int, Span{float})"/> of two maps over the same input without an input gradient: the two
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
        first._engine.GemmPair(first.WeightGradientProduct(firstOutputGradient, input, batch), second.WeightGradientProduct(secondOutputGradient, input, batch));
    }

    /// <summary>output += input Wᵀ (the weights must exist).</summary>
    private GemmCall ForwardProduct(ReadOnlySpan<float> input, int batch, Span<float> output)
        => new(false, true, batch, Outputs, Inputs, 1f, input, Inputs, Weight!.Value, Inputs, 1f, output, Outputs);

    /// <summary>dW += duᵀ x (the weights must exist).</summary>
    private GemmCall WeightGradientProduct(ReadOnlySpan<float> outputGradient, ReadOnlySpan<float> input, int batch)
        => new(true, false, Outputs, Inputs, batch, 1f, outputGradient, Outputs, input, Inputs, 1f, Weight!.Gradient, Inputs);

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
