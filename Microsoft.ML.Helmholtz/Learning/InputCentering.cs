using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;

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
internal sealed unsafe class InputCentering
{
    // About 16,000 weights a piece, as the optimiser's blocks (ParameterBlocks.BlockSize).
    private const int WeightsPerPiece = ParameterBlocks.BlockSize;

    private readonly CentredMap[] _maps;
    private readonly RowPiece[] _pieces;   // pinned: the row pieces of every map, for the worker pool
    private readonly RowPiece* _pieceTable;
    private bool _productsKnown;

    private InputCentering(CentredMap[] maps)
    {
        _maps = maps;
        var pieces = new List<RowPiece>();
        foreach (CentredMap m in maps)
        {
            int rowsPerPiece = Math.Max(1, WeightsPerPiece / Math.Max(1, m.Inputs));
            for (int first = 0; first < m.Outputs; first += rowsPerPiece)
                pieces.Add(new RowPiece
                {
                    Weight = ParameterBlocks.Pointer(m.Weight.Value), WeightGradient = ParameterBlocks.Pointer(m.Weight.Gradient),
                    BiasGradient = ParameterBlocks.Pointer(m.Bias.Gradient), Centre = ParameterBlocks.Pointer(m.Centre),
                    WeightsTimesCentre = ParameterBlocks.Pointer(m.WeightsTimesCentre),
                    Inputs = m.Inputs, FirstRow = first, EndRow = Math.Min(m.Outputs, first + rowsPerPiece),
                });
        }
        _pieces = GC.AllocateArray<RowPiece>(pieces.Count, pinned: true);
        pieces.CopyTo(_pieces);
        _pieceTable = (RowPiece*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_pieces));
    }

    /// <summary>The maps that read a centred input.</summary>
    public int Count => _maps.Length;

    /// <summary>
    /// The centres of the machine's inputs: the visible layer's at <paramref name="visibleCentre"/> (the
    /// training data's means), each hidden layer's at its units' <see cref="UnitType.HiddenCentre"/> (0.5 for
    /// binary, soft-target and continuous Bernoulli units); Gaussian layers are centred at 0 already.
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
            if (architecture.Layers[k].Units.HiddenCentre is float c)
                centres[k] = Enumerable.Repeat(c, architecture.Layers[k].Size).ToArray();

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
        RunOverRows(new RowWork { Pieces = _pieceTable, FormProducts = !_productsKnown, CorrectGradients = true });
        _productsKnown = true;
        foreach (CentredMap m in _maps)
        {
            m.Bias.Value.CopyTo(m.BiasBefore, 0);
            TensorPrimitives.Add(m.Bias.Value, m.WeightsTimesCentre, m.Bias.Value);
        }
    }

    /// <summary>
    /// After the step: b = b̃ − W c with the new W. An optimiser that filled <paramref name="undo"/> as it
    /// stepped kept b̃ there; the b from before the step replaces it, so an undone step is exact.
    /// </summary>
    public void FromCentred(StepUndo? undo)
    {
        RunOverRows(new RowWork { Pieces = _pieceTable, FormProducts = true });
        foreach (CentredMap m in _maps)
        {
            TensorPrimitives.Subtract(m.Bias.Value, m.WeightsTimesCentre, m.Bias.Value);
            if (undo is not null) m.BiasBefore.CopyTo(undo.SavedOf(m.Bias), 0);
        }
    }

    /// <summary>Puts back the biases <see cref="ToCentred"/> changed, for a step that was not taken.</summary>
    public void Abandon()
    {
        foreach (CentredMap m in _maps) m.BiasBefore.CopyTo(m.Bias.Value, 0);
    }

    // The passes over the weight matrices (a read of W for W c, a read and write of dW) are the cost of
    // centring, bound by memory: they run on the worker pool, a piece of rows of one map each. Each row's
    // dot product and update is the same call whatever the split, so the bits do not depend on it.
    private void RunOverRows(RowWork work) => WorkerPool.Current.Run(_pieces.Length, work);

    private struct RowPiece
    {
        public float* Weight, WeightGradient, BiasGradient, Centre, WeightsTimesCentre;
        public int Inputs, FirstRow, EndRow;
    }

    private struct RowWork : IPieceWork
    {
        public RowPiece* Pieces;
        public bool FormProducts, CorrectGradients;

        public readonly void Execute(int piece)
        {
            RowPiece p = Pieces[piece];
            var centre = new ReadOnlySpan<float>(p.Centre, p.Inputs);
            for (int o = p.FirstRow; o < p.EndRow; o++)
            {
                if (FormProducts) p.WeightsTimesCentre[o] = TensorPrimitives.Dot(new ReadOnlySpan<float>(p.Weight + (long)o * p.Inputs, p.Inputs), centre);
                if (CorrectGradients)
                {
                    var dw = new Span<float>(p.WeightGradient + (long)o * p.Inputs, p.Inputs);
                    TensorPrimitives.MultiplyAdd(centre, -p.BiasGradient[o], dw, dw);
                }
            }
        }
    }

    private sealed class CentredMap(Parameter weight, Parameter bias, float[] centre)
    {
        public Parameter Weight { get; } = weight;
        public Parameter Bias { get; } = bias;
        /// <summary>Pinned, as the parameters' arrays are: the row pieces point into it.</summary>
        public float[] Centre { get; } = Pinned(centre);
        public float[] BiasBefore { get; } = new float[bias.Length];
        public float[] WeightsTimesCentre { get; } = ParameterBlocks.AllocateState(bias.Length);
        public int Outputs => Bias.Length;
        public int Inputs => Centre.Length;

        private static float[] Pinned(float[] values)
        {
            float[] copy = ParameterBlocks.AllocateState(values.Length);
            values.CopyTo(copy, 0);
            return copy;
        }
    }
}
