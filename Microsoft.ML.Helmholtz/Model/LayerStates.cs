namespace Microsoft.ML.Helmholtz.Model;

/// <summary>
/// The values of every layer for a batch of rows: [0] visible, [1…L] hidden, each row-major
/// [rows × size]. Allocated once for a capacity and reused.
/// Not thread-safe and not checked: one thread at a time, also when two copies of a machine compute in one.
/// </summary>
public sealed class LayerStates
{
    private readonly float[][] _values;

    /// <summary>
    /// Zeroed states for up to <paramref name="capacity"/> rows of <paramref name="architecture"/>;
    /// <paramref name="capacity"/> must be positive and small enough that each layer's rows fit one array.
    /// </summary>
    public LayerStates(HelmholtzArchitecture architecture, int capacity)
    {
        ArgumentNullException.ThrowIfNull(architecture);
        CheckCapacity(architecture, capacity);
        Architecture = architecture;
        Capacity = capacity;
        _values = architecture.Layers.Select(l => new float[capacity * l.Size]).ToArray();
    }

    /// <summary>Refuses a capacity whose rows of some layer no array holds (buffers of a value per unit and row, as these and <see cref="LayerConditioning"/> are).</summary>
    internal static void CheckCapacity(HelmholtzArchitecture architecture, int capacity)
    {
        if (capacity <= 0) throw new ArgumentOutOfRangeException(nameof(capacity), "Capacity must be positive.");
        for (int l = 0; l < architecture.Layers.Count; l++)
        {
            long values = (long)capacity * architecture.Layers[l].Size;
            if (values > Array.MaxLength)
                throw new ArgumentOutOfRangeException(nameof(capacity),
                    $"{capacity} rows of layer {l} ({architecture.Layers[l]}) would need {values:N0} values, more than one array holds; use fewer rows.");
        }
    }

    /// <summary>The architecture the states are laid out for; a machine of another architecture refuses them.</summary>
    public HelmholtzArchitecture Architecture { get; }
    /// <summary>The most rows the states hold.</summary>
    public int Capacity { get; }
    /// <summary>Layers held, visible included: L + 1.</summary>
    public int LayerCount => _values.Length;

    /// <summary>
    /// Layer <paramref name="layer"/>'s values for the first <paramref name="rows"/> rows; an
    /// <see cref="ArgumentOutOfRangeException"/> names a layer or a row count out of range.
    /// </summary>
    public Span<float> Layer(int layer, int rows)
    {
        CheckLayer(layer);
        if ((uint)rows > (uint)Capacity) throw new ArgumentOutOfRangeException(nameof(rows), $"{rows} rows exceed the capacity of {Capacity}.");
        return _values[layer].AsSpan(0, rows * Architecture.Layers[layer].Size);
    }

    /// <summary>
    /// Throws <see cref="ArgumentException"/> unless these states have the layers of
    /// <paramref name="architecture"/> and room for <paramref name="rows"/> rows.
    /// </summary>
    internal void Check(HelmholtzArchitecture architecture, int rows, string parameterName = "states")
    {
        if (!Architecture.SameAs(architecture))
            throw new ArgumentException($"The states were built for architecture {Architecture}, but the machine is {architecture}.", parameterName);
        if (rows <= 0)
            throw new ArgumentOutOfRangeException("rows", rows, "A call needs at least one row.");
        if (rows > Capacity)
            throw new ArgumentOutOfRangeException(parameterName, $"{rows} rows: the states hold 1 to {Capacity} rows.");
    }

    /// <summary>The whole buffer of a layer (all <see cref="Capacity"/> rows).</summary>
    public float[] Buffer(int layer)
    {
        CheckLayer(layer);
        return _values[layer];
    }

    // A layer out of range is the caller's argument, named, not an IndexOutOfRangeException from inside.
    private void CheckLayer(int layer)
    {
        if ((uint)layer >= (uint)_values.Length)
            throw new ArgumentOutOfRangeException(nameof(layer), layer, $"Layer {layer}: the states hold layers 0 (visible) to {_values.Length - 1}.");
    }
}
