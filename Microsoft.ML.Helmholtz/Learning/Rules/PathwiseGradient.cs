using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Model;

namespace Microsoft.ML.Helmholtz.Learning.Rules;

/// <summary>
/// The gradient of Σ_r v_r F̂_r, F̂_r = ln q(h_r | x_r) − ln p(x_r, h_r), with the samples' noise held
/// fixed, for machines whose hidden layers are all <see cref="IReparameterizedLayer"/>s: the backward
/// pass shared by stochastic back-propagation (v_r = 1/B) and the importance-weighted bound
/// (v_r = the normalised weight of sample r over B). F̂ is back-propagated through the generative
/// model, then top-down through the recognition model; for each hidden layer the terms below it
/// (local) and those reached through the layers above (path-wise) are kept apart so that Price's
/// theorem can take the local ones. Buffers are allocated once per capacity.
/// </summary>
internal sealed class PathwiseGradient
{
    private float[] _negated = [];
    private float[][] _local = [], _rest = [], _hessian = [];

    public int Capacity => _negated.Length;

    public void Prepare(HelmholtzArchitecture architecture, int rows)
    {
        RequireRows(architecture, rows, nameof(rows), $"{rows} rows", "use fewer rows");
        _negated = new float[rows];
        float[][] PerLayer() => architecture.Layers.Select(l => new float[rows * l.Size]).ToArray();
        _local = PerLayer();
        _rest = PerLayer();
        _hessian = PerLayer();
    }

    /// <summary>
    /// Throws <see cref="ArgumentOutOfRangeException"/> for the caller's argument <paramref name="name"/> unless
    /// <paramref name="rows"/> rows of every layer, the buffers <see cref="Prepare"/> allocates, fit one array.
    /// </summary>
    public static void RequireRows(HelmholtzArchitecture architecture, long rows, string name, string what, string remedy)
    {
        int widest = architecture.Layers.Max(l => l.Size);
        Requires.ArrayLength(name, $"{what}, through layers of up to {widest} units ({architecture})", remedy, rows, widest);
    }

    /// <summary>
    /// Accumulates ∇ Σ_r v_r F̂_r into θg, θr and, when given, the conditioning's gradients. Every
    /// layer's forward must be current from the sample (machine.SampleFreeEnergy on these states).
    /// </summary>
    public void Accumulate(HelmholtzMachine machine, LayerStates states, int rows, ReadOnlySpan<float> v, LayerConditioning? conditioning, bool price)
    {
        if (Capacity < rows) Prepare(machine.Architecture, rows);
        GenerativeNetwork gen = machine.Generative;
        RecognitionNetwork rec = machine.Recognition;
        var layers = machine.Architecture.Layers;
        int depth = gen.Depth;
        for (int l = 1; l <= depth; l++)
        {
            int n = rows * layers[l].Size;
            _local[l].AsSpan(0, n).Clear();
            _rest[l].AsSpan(0, n).Clear();
            if (price) _hessian[l].AsSpan(0, n).Clear();
        }

        // Generative model: the loss −Σ v ln p(X); ∂/∂h_l splits into the term below h_l (local) and the term at h_l (rest).
        Span<float> w = _negated.AsSpan(0, rows);
        for (int r = 0; r < rows; r++) w[r] = -v[r];
        for (int l = 0; l < depth; l++)
        {
            int nAbove = rows * layers[l + 1].Size;
            Span<float> outputGradient = l == 0 ? default : _rest[l].AsSpan(0, rows * layers[l].Size);
            Span<float> dc = conditioning is null ? default : conditioning.GenerativeGradient(l, rows);
            gen.Layers[l].AccumulateLogProbGradient(states.Layer(l, rows), states.Layer(l + 1, rows), rows, w, _local[l + 1].AsSpan(0, nAbove), outputGradient, dc);
            if (price)
                gen.Layers[l].AccumulateNegLogProbInputHessianDiagonal(states.Layer(l, rows), rows, _hessian[l + 1].AsSpan(0, nAbove));
        }
        int nTop = rows * layers[depth].Size;
        gen.Prior.AccumulateLogProbGradient(states.Layer(depth, rows), default, rows, w, default, _local[depth].AsSpan(0, nTop),
            conditioning is null ? default : conditioning.GenerativeGradient(depth, rows));
        if (price)
            gen.Prior.AccumulateNegLogProbOutputHessianDiagonal(states.Layer(depth, rows), rows, _hessian[depth].AsSpan(0, nTop));

        // Recognition model, top-down: every path from h_l upwards is in _rest[l] by the time l is reached.
        // The loss holds v_r ln q(h_l | h_{l−1}) (the entropy term) and the local terms at weight v_r.
        for (int l = depth; l >= 1; l--)
        {
            var layer = (IReparameterizedLayer)rec.Layer(l);
            int n = rows * layers[l].Size;
            var gradient = new SampleGradient
            {
                Local = _local[l].AsSpan(0, n),
                PathWise = _rest[l].AsSpan(0, n),
                LocalCurvature = price ? _hessian[l].AsSpan(0, n) : default,
                RowWeights = v,
            };
            Span<float> inputGradient = l >= 2 ? _rest[l - 1].AsSpan(0, rows * layers[l - 1].Size) : default;
            layer.BackwardThroughSample(gradient, states.Layer(l - 1, rows), rows, inputGradient,
                conditioning is null ? default : conditioning.RecognitionGradient(l, rows));
        }
    }
}
