using System.Numerics.Tensors;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Model;

namespace Microsoft.ML.Helmholtz.Learning;

/// <summary>
/// Optimiser steps in centred coordinates (<see cref="TrainingOptions.CenterInputs"/>). A map
/// u = x Wᵀ + b whose input has a centre c is also u = (x − c) Wᵀ + b̃ with b̃ = b + W c; the step
/// moves W and b̃ instead of W and b. By the chain rule, at fixed b̃ the weight gradient is
/// dW − db cᵀ and the gradient of b̃ is db. The machine keeps (W, b) between steps, so its file,
/// scores and export are those of any machine; only the optimiser's path changes. Centring takes
/// out of each weight's gradient the part its bias already carries (MNIST's pixels are mostly 0,
/// binary units are 0 or 1), which is why the public code of the literature's binary machines
/// centres its inputs.
/// </summary>
internal sealed class InputCentering
{
    private readonly CentredMap[] _maps;

    private InputCentering(CentredMap[] maps) => _maps = maps;

    /// <summary>The maps that read a centred input.</summary>
    public int Count => _maps.Length;

    /// <summary>
    /// The centres of the machine's inputs: the visible layer's at <paramref name="visibleCentre"/> (the
    /// training data's means), each binary hidden layer's at 0.5; Gaussian layers are centred at 0 already.
    /// Recognition layer l reads X_{l−1}; generative layer l &lt; L reads X_{l+1}.
    /// </summary>
    public static InputCentering For(HelmholtzMachine machine, ReadOnlySpan<double> visibleCentre)
    {
        HelmholtzArchitecture architecture = machine.Architecture;
        if (visibleCentre.Length != architecture.Visible.Size)
            throw new ArgumentException($"{visibleCentre.Length} centres for {architecture.Visible.Size} visible units.", nameof(visibleCentre));
        var centres = new float[]?[architecture.Layers.Count];
        centres[0] = new float[visibleCentre.Length];
        for (int i = 0; i < visibleCentre.Length; i++) centres[0]![i] = (float)visibleCentre[i];
        for (int k = 1; k < centres.Length; k++)
            if (architecture.Layers[k].Units == UnitType.Bernoulli)
                centres[k] = Enumerable.Repeat(0.5f, architecture.Layers[k].Size).ToArray();

        var maps = new List<CentredMap>();
        void Add(ConditionalLayer layer, int input)
        {
            if (centres[input] is not { } centre) return;
            foreach (AffineMap map in layer.InputMaps)
                maps.Add(new CentredMap(map.Weight!, map.Bias, centre));
        }
        for (int l = 1; l <= architecture.Depth; l++) Add(machine.Recognition.Layer(l), l - 1);
        for (int l = 0; l < architecture.Depth; l++) Add(machine.Generative.Layers[l], l + 1);
        return new InputCentering(maps.ToArray());
    }

    /// <summary>
    /// Before the step: b̃ = b + W c into the bias and dW − db cᵀ into the weight gradient (b kept for an
    /// undo). W c is the one the last step left (W changes only in steps, and a run ends with a step undone).
    /// </summary>
    public void ToCentred()
    {
        foreach (CentredMap m in _maps)
        {
            m.Bias.Value.CopyTo(m.BiasBefore, 0);
            if (!m.ProductKnown) m.MultiplyWeightsByCentre();
            for (int o = 0; o < m.Outputs; o++)
            {
                Span<float> dw = m.Weight.Gradient.AsSpan(o * m.Inputs, m.Inputs);
                m.Bias.Value[o] += m.WeightsTimesCentre[o];
                TensorPrimitives.MultiplyAdd(m.Centre, -m.Bias.Gradient[o], dw, dw);
            }
        }
    }

    /// <summary>
    /// After the step: b = b̃ − W c with the new W. An optimiser that filled <paramref name="undo"/> as it
    /// stepped kept b̃ there; the b from before the step replaces it, so an undone step is exact.
    /// </summary>
    public void FromCentred(StepUndo? undo)
    {
        foreach (CentredMap m in _maps)
        {
            m.MultiplyWeightsByCentre();
            TensorPrimitives.Subtract(m.Bias.Value, m.WeightsTimesCentre, m.Bias.Value);
            if (undo is not null) m.BiasBefore.CopyTo(undo.SavedOf(m.Bias), 0);
        }
    }

    /// <summary>Puts back the biases <see cref="ToCentred"/> changed, for a step that was not taken.</summary>
    public void Abandon()
    {
        foreach (CentredMap m in _maps) m.BiasBefore.CopyTo(m.Bias.Value, 0);
    }

    private sealed class CentredMap(Parameter weight, Parameter bias, float[] centre)
    {
        public Parameter Weight { get; } = weight;
        public Parameter Bias { get; } = bias;
        public float[] Centre { get; } = centre;
        public float[] BiasBefore { get; } = new float[bias.Length];
        public float[] WeightsTimesCentre { get; } = new float[bias.Length];
        public bool ProductKnown { get; private set; }
        public int Outputs => Bias.Length;
        public int Inputs => Centre.Length;

        public void MultiplyWeightsByCentre()
        {
            for (int o = 0; o < Outputs; o++) WeightsTimesCentre[o] = TensorPrimitives.Dot(Weight.Value.AsSpan(o * Inputs, Inputs), Centre);
            ProductKnown = true;
        }
    }
}
