using System.Numerics.Tensors;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Model;

/// <summary>
/// The bottom-up model q(X_{l&gt;0} | X_0) = Π_{l≥1} q(X_l | X_{l-1}). <see cref="Layer"/>(l) is
/// q(X_l | X_{l-1}) for l = 1…L: Bernoulli(sigmoid(·)) for binary layers, and for smooth ones a
/// Gaussian whose mean and log-variance are affine in X_{l-1}.
/// One thread at a time, as its machine (<see cref="HelmholtzMachine"/>'s remarks): a second thread is refused.
/// </summary>
public sealed class RecognitionNetwork
{
    private readonly ConditionalLayer[] _layers;
    private readonly HelmholtzArchitecture _architecture;
    private readonly MachineAccess _access;

    internal RecognitionNetwork(HelmholtzArchitecture architecture, IMatrixEngine engine, MachineAccess access)
    {
        _architecture = architecture;
        _access = access;
        var ls = architecture.Layers;
        _layers = new ConditionalLayer[architecture.Depth];
        for (int l = 1; l <= architecture.Depth; l++)
        {
            IReadOnlyList<int> trunk = architecture.Trunks[l - 1];
            string name = $"recognition.{l}";
            ConditionalLayer inner = ls[l].Units.CreateRecognition(name, trunk.Count > 0 ? trunk[^1] : ls[l - 1].Size, ls[l].Size, engine);
            _layers[l - 1] = trunk.Count == 0 ? inner : new TrunkedLayer(new DeterministicTrunk(name, ls[l - 1].Size, trunk, engine), inner);
        }
        foreach (ConditionalLayer layer in _layers) layer.ComputeGuard = access.Compute;
        Parameters = Array.AsReadOnly(_layers.SelectMany(l => l.Parameters).ToArray());
    }

    /// <summary>L, the number of hidden layers (and of recognition layers).</summary>
    public int Depth => _layers.Length;
    /// <summary>Every parameter of the layers, layer 1's first.</summary>
    public IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>q(X_l | X_{l-1}), for l = 1…L.</summary>
    public ConditionalLayer Layer(int l)
    {
        // Counted from 1, unlike GenerativeNetwork.Layers: a loop from 0 is named, not an IndexOutOfRangeException from inside.
        if ((uint)(l - 1) >= (uint)_layers.Length)
            throw new ArgumentOutOfRangeException(nameof(l), l, $"Recognition layer {l}: the recognition network's layers are 1 to {Depth} (layer 0 is the visible one, which it does not model).");
        return _layers[l - 1];
    }

    /// <summary>
    /// Draws X_1…X_L from q given X_0 = states[0] (each layer conditioned by
    /// <paramref name="conditioning"/> when it is given); leaves each layer's forward current.
    /// </summary>
    public void Sample(RandomStream random, int rows, LayerStates states, LayerConditioning? conditioning = null)
    {
        using var use = _access.EnterCompute("RecognitionNetwork.Sample", states, _architecture, rows, conditioning);
        ArgumentNullException.ThrowIfNull(random);
        for (int l = 1; l <= Depth; l++)
        {
            _layers[l - 1].Forward(states.Layer(l - 1, rows), Conditioning(conditioning, l, rows), rows);
            _layers[l - 1].Sample(random, rows, states.Layer(l, rows));
        }
    }

    /// <summary>
    /// <see cref="Sample(RandomStream, int, LayerStates, LayerConditioning?)"/> for a batch whose visible rows repeat (K samples per example): the first
    /// layer's distribution is computed once per distinct input (see <see cref="ConditionalLayer.ForwardShared(ReadOnlySpan{float}, int, ReadOnlySpan{int}, int)"/>).
    /// states[0] must still hold every row's visible values.
    /// </summary>
    public void Sample(RandomStream random, int rows, LayerStates states, ReadOnlySpan<float> distinctVisible, int distinctRows, ReadOnlySpan<int> rowSource,
        LayerConditioning? conditioning = null)
    {
        using var use = _access.EnterCompute("RecognitionNetwork.Sample", states, _architecture, rows, conditioning);
        ArgumentNullException.ThrowIfNull(random);
        _layers[0].ForwardShared(distinctVisible, DistinctConditioning(conditioning, distinctRows, rowSource, rows), distinctRows, rowSource, rows);
        _layers[0].Sample(random, rows, states.Layer(1, rows));
        for (int l = 2; l <= Depth; l++)
        {
            _layers[l - 1].Forward(states.Layer(l - 1, rows), Conditioning(conditioning, l, rows), rows);
            _layers[l - 1].Sample(random, rows, states.Layer(l, rows));
        }
    }

    private float[] _distinctConditioning = [];

    /// <summary>
    /// Layer 1's conditioning for each distinct input: that of the first row reading it (rows that share an
    /// input must share its conditioning, as the K samples of a conditioned frame do); empty without conditioning.
    /// </summary>
    private ReadOnlySpan<float> DistinctConditioning(LayerConditioning? conditioning, int distinctRows, ReadOnlySpan<int> rowSource, int rows)
    {
        if (conditioning is null) return default;
        ConditionalLayer.CheckRowSource(distinctRows, rowSource, rows);   // before it is read: the shared forward checks it only after
        int size = _architecture.Layers[1].Size;
        if (_distinctConditioning.Length < distinctRows * size) _distinctConditioning = new float[distinctRows * size];
        ReadOnlySpan<float> c = conditioning.Recognition(1, rows);
        for (int r = rows - 1; r >= 0; r--)
            c.Slice(r * size, size).CopyTo(_distinctConditioning.AsSpan(rowSource[r] * size, size));
        return _distinctConditioning.AsSpan(0, distinctRows * size);
    }

    /// <summary>
    /// <see cref="Sample(RandomStream, int, LayerStates, ReadOnlySpan{float}, int, ReadOnlySpan{int}, LayerConditioning)"/>
    /// with each layer's draw made from <paramref name="noise"/>[l − 1] ([rows × units] of layer l)
    /// instead of a random stream.
    /// </summary>
    internal void SampleWithNoise(IReadOnlyList<float[]> noise, int rows, LayerStates states, ReadOnlySpan<float> distinctVisible, int distinctRows, ReadOnlySpan<int> rowSource,
        LayerConditioning? conditioning = null)
    {
        using var use = _access.EnterCompute("RecognitionNetwork.SampleWithNoise", states, _architecture, rows, conditioning);
        _layers[0].ForwardShared(distinctVisible, DistinctConditioning(conditioning, distinctRows, rowSource, rows), distinctRows, rowSource, rows);
        _layers[0].SampleWithNoise(noise[0], rows, states.Layer(1, rows));
        for (int l = 2; l <= Depth; l++)
        {
            _layers[l - 1].Forward(states.Layer(l - 1, rows), Conditioning(conditioning, l, rows), rows);
            _layers[l - 1].SampleWithNoise(noise[l - 1], rows, states.Layer(l, rows));
        }
    }

    /// <summary>rowLogProb[r] += ln q(X_{&gt;0} | X_0); re-runs each layer's forward on the given states.</summary>
    public void AccumulateLogProb(LayerStates states, int rows, Span<double> rowLogProb, LayerConditioning? conditioning = null)
    {
        using var use = _access.EnterCompute("RecognitionNetwork.AccumulateLogProb", states, _architecture, rows, conditioning);
        CheckRowLogProb(rowLogProb, rows);
        for (int l = 1; l <= Depth; l++)
        {
            _layers[l - 1].Forward(states.Layer(l - 1, rows), Conditioning(conditioning, l, rows), rows);
            _layers[l - 1].AccumulateLogProb(states.Layer(l, rows), rows, rowLogProb);
        }
    }

    /// <summary>rowLogProb[r] += ln q(X_{&gt;0} | X_0) using the forwards left by <see cref="Sample(RandomStream, int, LayerStates, LayerConditioning?)"/>.</summary>
    public void AccumulateLogProbOfSample(LayerStates states, int rows, Span<double> rowLogProb)
        => AccumulateLogProbOfSample(states, rows, rowLogProb, null);

    /// <summary>The same, with each layer's ln q(X_l | X_{l−1}) also written to layerLogProb[l] (checked by the caller).</summary>
    internal void AccumulateLogProbOfSample(LayerStates states, int rows, Span<double> rowLogProb, IReadOnlyList<double[]>? layerLogProb)
    {
        using var use = _access.EnterCompute("RecognitionNetwork.AccumulateLogProbOfSample", states, _architecture, rows);
        CheckRowLogProb(rowLogProb, rows);
        CheckForwards(rows, "RecognitionNetwork.AccumulateLogProbOfSample", "Sample");
        for (int l = 1; l <= Depth; l++)
        {
            Span<double> sums = layerLogProb is null ? rowLogProb : layerLogProb[l].AsSpan(0, rows);
            if (layerLogProb is not null) sums.Clear();
            _layers[l - 1].AccumulateLogProbOfSample(states.Layer(l, rows), rows, sums);
            if (layerLogProb is not null) TensorPrimitives.Add(rowLogProb[..rows], sums, rowLogProb[..rows]);   // the same bits (see GenerativeNetwork)
        }
    }

    /// <summary>
    /// Accumulates Σ_r w_r ∇θr ln q(X_{&gt;0,r} | X_{0,r}), and into the conditioning's recognition
    /// gradients when it is given; the forwards must be current (with the same conditioning).
    /// </summary>
    public void AccumulateLogProbGradient(LayerStates states, int rows, ReadOnlySpan<float> rowWeights, LayerConditioning? conditioning = null)
    {
        using var use = _access.EnterCompute("RecognitionNetwork.AccumulateLogProbGradient", states, _architecture, rows, conditioning);
        if (rowWeights.Length < rows) throw new ArgumentException($"rowWeights holds {rowWeights.Length} values, fewer than the {rows} rows.", nameof(rowWeights));
        CheckForwards(rows, "RecognitionNetwork.AccumulateLogProbGradient", "Sample (or AccumulateLogProb)");
        for (int l = 1; l <= Depth; l++)
        {
            Span<float> dc = conditioning is null ? default : conditioning.RecognitionGradient(l, rows);
            _layers[l - 1].AccumulateLogProbGradient(states.Layer(l, rows), states.Layer(l - 1, rows), rows, rowWeights, default, default, dc);
        }
    }

    private static void CheckRowLogProb(Span<double> rowLogProb, int rows)
    {
        if (rowLogProb.Length < rows) throw new ArgumentException($"rowLogProb holds {rowLogProb.Length} values, fewer than the {rows} rows.", nameof(rowLogProb));
    }

    /// <summary>
    /// Refuses a call that reads the layers' last forwards where a layer's last forward computed fewer than <paramref name="rows"/>
    /// rows (none on a fresh machine; an earlier, larger forward's statistics beyond them): named, before any layer accumulates,
    /// instead of failing on a buffer inside or reading stale rows. One comparison per layer.
    /// </summary>
    private void CheckForwards(int rows, string operation, string forward)
    {
        foreach (ConditionalLayer layer in _layers) layer.RequireForward(rows, operation, forward);
    }

    private static ReadOnlySpan<float> Conditioning(LayerConditioning? conditioning, int layer, int rows)
        => conditioning is null ? default : conditioning.Recognition(layer, rows);

    /// <summary>
    /// The deterministic recognition pass: each layer's expectation (probabilities or means) given
    /// the expectation of the layer below, into states[1…L]. Gaussian layers compute their means
    /// only, so no layer's forward is left current.
    /// </summary>
    public void Infer(int rows, LayerStates states)
    {
        using var use = _access.EnterCompute("RecognitionNetwork.Infer", states, _architecture, rows);
        for (int l = 1; l <= Depth; l++)
            _layers[l - 1].ExpectationOf(states.Layer(l - 1, rows), rows, states.Layer(l, rows));
    }
}
