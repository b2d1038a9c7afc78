namespace Microsoft.ML.Helmholtz.Model;

/// <summary>
/// Per-row additions c to the pre-activations of every layer of both networks (see
/// <see cref="Layers.ConditionalLayer"/>), and the gradients ∂L/∂c that the learning rules add into
/// them: how another network (the temporal model's LSTM) sets the machine row by row and learns
/// from it. Generative layer l is p(X_l | X_{l+1}) (l = L: the prior), recognition layer l is
/// q(X_l | X_{l−1}) (l ≥ 1); each holds [rows × size of X_l]. Zero conditioning changes nothing.
/// Allocated once for a capacity; like <see cref="LayerStates"/>, used by one thread at a time.
/// </summary>
public sealed class LayerConditioning
{
    private readonly float[][] _generative, _recognition, _generativeGradient, _recognitionGradient;

    /// <summary>
    /// Zero conditioning and gradients for up to <paramref name="capacity"/> rows of <paramref name="architecture"/>;
    /// <paramref name="capacity"/> must be positive and small enough that each layer's rows fit one array.
    /// </summary>
    public LayerConditioning(HelmholtzArchitecture architecture, int capacity)
    {
        ArgumentNullException.ThrowIfNull(architecture);
        LayerStates.CheckCapacity(architecture, capacity);   // the same sizes as the states
        Architecture = architecture;
        Capacity = capacity;
        float[][] PerLayer(bool recognition) => architecture.Layers.Select((l, i) => recognition && i == 0 ? [] : new float[capacity * l.Size]).ToArray();
        _generative = PerLayer(false);
        _generativeGradient = PerLayer(false);
        _recognition = PerLayer(true);
        _recognitionGradient = PerLayer(true);
    }

    /// <summary>The architecture the buffers are laid out for; a machine of another architecture refuses them.</summary>
    public HelmholtzArchitecture Architecture { get; }
    /// <summary>The most rows the buffers hold.</summary>
    public int Capacity { get; }

    /// <summary>c of generative layer <paramref name="layer"/> (0…L), for the first <paramref name="rows"/> rows.</summary>
    public Span<float> Generative(int layer, int rows) => Slice(_generative, layer, rows, 0);

    /// <summary>c of recognition layer <paramref name="layer"/> (1…L).</summary>
    public Span<float> Recognition(int layer, int rows) => Slice(_recognition, layer, rows, 1);

    /// <summary>∂L/∂c of generative layer <paramref name="layer"/>, accumulated by the rules.</summary>
    public Span<float> GenerativeGradient(int layer, int rows) => Slice(_generativeGradient, layer, rows, 0);

    /// <summary>∂L/∂c of recognition layer <paramref name="layer"/>.</summary>
    public Span<float> RecognitionGradient(int layer, int rows) => Slice(_recognitionGradient, layer, rows, 1);

    /// <summary>Zeroes every gradient (before a batch whose gradients are to be read alone).</summary>
    public void ClearGradients()
    {
        foreach (float[] g in _generativeGradient) Array.Clear(g);
        foreach (float[] g in _recognitionGradient) Array.Clear(g);
    }

    internal void Check(HelmholtzArchitecture architecture, int rows)
    {
        if (!Architecture.SameAs(architecture))
            throw new ArgumentException($"The conditioning was built for architecture {Architecture}, but the machine is {architecture}.", "conditioning");
        if (rows <= 0 || rows > Capacity)
            throw new ArgumentOutOfRangeException("conditioning", $"{rows} rows: the conditioning holds 1 to {Capacity} rows.");
    }

    private Span<float> Slice(float[][] buffers, int layer, int rows, int first)
    {
        if (layer < first || layer >= buffers.Length)
            throw new ArgumentOutOfRangeException(nameof(layer), $"Layer {layer}: this network's layers are {first} to {buffers.Length - 1}.");
        if ((uint)rows > (uint)Capacity) throw new ArgumentOutOfRangeException(nameof(rows), $"{rows} rows exceed the capacity of {Capacity}.");
        return buffers[layer].AsSpan(0, rows * Architecture.Layers[layer].Size);
    }
}
