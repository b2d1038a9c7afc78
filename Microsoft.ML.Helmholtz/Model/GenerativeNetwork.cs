using System.Numerics.Tensors;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Model;

/// <summary>
/// The top-down model p(X) = p(X_L) Π_{l&lt;L} p(X_l | X_{l+1}). <see cref="Layers"/>[l] is
/// p(X_l | X_{l+1}) for l &lt; L and the prior p(X_L) for l = L.
/// One thread at a time, as its machine (<see cref="HelmholtzMachine"/>'s remarks): a second thread is refused.
/// </summary>
public sealed class GenerativeNetwork
{
    private readonly HelmholtzArchitecture _architecture;
    private readonly MachineAccess _access;

    internal GenerativeNetwork(HelmholtzArchitecture architecture, IMatrixEngine engine, MachineAccess access)
    {
        _architecture = architecture;
        _access = access;
        var ls = architecture.Layers;
        int depth = architecture.Depth;
        var layers = new ConditionalLayer[depth + 1];
        for (int l = 0; l < depth; l++)
        {
            // Down from X_l+1 the trunk runs top to bottom: the reverse of its bottom-up sizes.
            IReadOnlyList<int> trunk = architecture.Trunks[l];
            string name = $"generative.{l}";
            ConditionalLayer inner = ls[l].Units.CreateGenerative(name, trunk.Count > 0 ? trunk[0] : ls[l + 1].Size, ls[l].Size, ls[l].Mean, engine);
            layers[l] = trunk.Count == 0 ? inner : new TrunkedLayer(new DeterministicTrunk(name, ls[l + 1].Size, trunk.Reverse().ToArray(), engine), inner);
        }
        layers[depth] = ls[depth].Units.CreatePrior($"generative.{depth}.prior", ls[depth].Size, engine);
        foreach (ConditionalLayer layer in layers) layer.ComputeGuard = access.Compute;
        Layers = Array.AsReadOnly(layers);
        Parameters = Array.AsReadOnly(layers.SelectMany(l => l.Parameters).ToArray());
    }

    /// <summary>The L + 1 layers: [l] is p(X_l | X_{l+1}) for l = 0…L−1, [L] the prior p(X_L).</summary>
    public IReadOnlyList<ConditionalLayer> Layers { get; }
    /// <summary>The prior p(X_L), the last of <see cref="Layers"/>.</summary>
    public ConditionalLayer Prior => Layers[^1];
    /// <summary>Every parameter of the layers, in the order of <see cref="Layers"/> (the prior's last).</summary>
    public IReadOnlyList<Parameter> Parameters { get; }
    /// <summary>L, the number of hidden layers.</summary>
    public int Depth => Layers.Count - 1;

    /// <summary>
    /// Ancestral sampling (a "dream"): X_L from the prior, then each layer below, into states[L…0];
    /// each layer conditioned by <paramref name="conditioning"/> when it is given.
    /// </summary>
    public void Dream(RandomStream random, int rows, LayerStates states, LayerConditioning? conditioning = null)
    {
        ArgumentNullException.ThrowIfNull(random);
        using var use = _access.EnterCompute("GenerativeNetwork.Dream", states, _architecture, rows, conditioning);
        for (int l = Depth; l >= 0; l--)
        {
            ReadOnlySpan<float> input = l == Depth ? default : states.Layer(l + 1, rows);
            Layers[l].Forward(input, Conditioning(conditioning, l, rows), rows);
            Layers[l].Sample(random, rows, states.Layer(l, rows));
        }
    }

    /// <summary>
    /// rowLogProb[r] += ln p(X_0 … X_L) for the values in <paramref name="states"/> (under
    /// <paramref name="conditioning"/> when it is given); leaves every layer's forward current.
    /// </summary>
    public void AccumulateLogJoint(LayerStates states, int rows, Span<double> rowLogProb, LayerConditioning? conditioning = null)
        => AccumulateLogJoint(states, rows, rowLogProb, default, 0, default, conditioning);

    /// <summary>
    /// The same with X_0 row r taken from row rowSource[r] of the <paramref name="distinctRows"/> rows
    /// of <paramref name="distinctVisible"/> instead of states[0] (when rowSource is not empty).
    /// </summary>
    public void AccumulateLogJoint(LayerStates states, int rows, Span<double> rowLogProb, ReadOnlySpan<float> distinctVisible, int distinctRows, ReadOnlySpan<int> rowSource,
        LayerConditioning? conditioning = null)
        => AccumulateLogJoint(states, rows, rowLogProb, distinctVisible, distinctRows, rowSource, conditioning, null);

    /// <summary>
    /// The same, with each layer's ln p(X_l | X_{l+1}) also written to layerLogProb[l] (checked by the
    /// caller) and added to rowLogProb from there, layer by layer, as the layers would add it.
    /// </summary>
    internal void AccumulateLogJoint(LayerStates states, int rows, Span<double> rowLogProb, ReadOnlySpan<float> distinctVisible, int distinctRows, ReadOnlySpan<int> rowSource,
        LayerConditioning? conditioning, IReadOnlyList<double[]>? layerLogProb, BernoulliProductOperands? visibleProduct = null)
    {
        using var use = _access.EnterCompute("GenerativeNetwork.AccumulateLogJoint", states, _architecture, rows, conditioning);
        if (rowLogProb.Length < rows) throw new ArgumentException($"rowLogProb holds {rowLogProb.Length} values, fewer than the {rows} rows.", nameof(rowLogProb));
        for (int l = 0; l <= Depth; l++)
        {
            ReadOnlySpan<float> input = l == Depth ? default : states.Layer(l + 1, rows);
            Span<double> sums = layerLogProb is null ? rowLogProb : layerLogProb[l].AsSpan(0, rows);
            if (layerLogProb is not null) sums.Clear();
            // Scoring's visible layer in one kernel, its logits never written (the layer is left with no forward).
            if (l == 0 && visibleProduct is not null && !rowSource.IsEmpty && Conditioning(conditioning, 0, rows).IsEmpty)
                Layers[0].AccumulateLogProbOfProduct(visibleProduct, input, distinctVisible, distinctRows, rowSource, rows, sums);
            else
            {
                Layers[l].Forward(input, Conditioning(conditioning, l, rows), rows);
                if (l == 0 && !rowSource.IsEmpty) Layers[0].AccumulateLogProb(distinctVisible, distinctRows, rowSource, rows, sums);
                else Layers[l].AccumulateLogProb(states.Layer(l, rows), rows, sums);
            }
            // Layers add each row's term once (one double per row), so adding a layer's terms afterwards gives the same bits.
            if (layerLogProb is not null) TensorPrimitives.Add(rowLogProb[..rows], sums, rowLogProb[..rows]);
        }
    }

    /// <summary>
    /// Accumulates Σ_r w_r ∇θg ln p(X_r) into the generative gradients, and into the conditioning's
    /// generative gradients when it is given (the layers' forwards must be current, e.g. after
    /// <see cref="AccumulateLogJoint(LayerStates, int, Span{double}, LayerConditioning?)"/> with the same conditioning).
    /// </summary>
    public void AccumulateLogJointGradient(LayerStates states, int rows, ReadOnlySpan<float> rowWeights, LayerConditioning? conditioning = null)
    {
        using var use = _access.EnterCompute("GenerativeNetwork.AccumulateLogJointGradient", states, _architecture, rows, conditioning);
        if (rowWeights.Length < rows) throw new ArgumentException($"rowWeights holds {rowWeights.Length} values, fewer than the {rows} rows.", nameof(rowWeights));
        // A layer whose last forward computed fewer rows (none on a fresh machine): named before any layer accumulates.
        for (int l = 0; l <= Depth; l++)
            Layers[l].RequireForward(rows, "GenerativeNetwork.AccumulateLogJointGradient", "AccumulateLogJoint (or HelmholtzMachine.SampleFreeEnergy)");
        for (int l = 0; l <= Depth; l++)
        {
            ReadOnlySpan<float> input = l == Depth ? default : states.Layer(l + 1, rows);
            Span<float> dc = conditioning is null ? default : conditioning.GenerativeGradient(l, rows);
            Layers[l].AccumulateLogProbGradient(states.Layer(l, rows), input, rows, rowWeights, default, default, dc);
        }
    }

    private static ReadOnlySpan<float> Conditioning(LayerConditioning? conditioning, int layer, int rows)
        => conditioning is null ? default : conditioning.Generative(layer, rows);
}
