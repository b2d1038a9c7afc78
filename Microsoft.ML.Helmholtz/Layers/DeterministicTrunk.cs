using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Layers;

/// <summary>
/// Deterministic tanh layers h_j = tanh(W_j h_{j−1} + b_j) between a layer's input and its
/// distribution: the multilayer perceptron inside each conditional of the literature's nonlinear
/// machines (Mnih and Gregor 2014: two layers of 100 tanh units between stochastic layers). Forward
/// and backward side by side; each unit's activations are kept per row for the backward, in buffers
/// allocated once per capacity.
/// </summary>
internal sealed class DeterministicTrunk
{
    private readonly AffineMap[] _maps;
    private float[][] _activations = [], _gradients = [];
    private int _capacity;

    public DeterministicTrunk(string name, int inputs, IReadOnlyList<int> sizes, IMatrixEngine engine)
    {
        _maps = new AffineMap[sizes.Count];
        for (int j = 0; j < sizes.Count; j++)
            _maps[j] = new AffineMap($"{name}.trunk{j}", j == 0 ? inputs : sizes[j - 1], sizes[j], engine);
        Inputs = inputs;
        Sizes = Array.AsReadOnly(sizes.ToArray());
        Widest = Sizes.DefaultIfEmpty().Max();
        Parameters = Array.AsReadOnly(_maps.SelectMany(m => m.Parameters).ToArray());
    }

    public int Inputs { get; }
    public IReadOnlyList<int> Sizes { get; }
    public int Outputs => Sizes[^1];

    /// <summary>The largest of <see cref="Sizes"/>: the widest row of the activations kept for the backward.</summary>
    public int Widest { get; }
    public IReadOnlyList<Parameter> Parameters { get; }
    internal IReadOnlyList<AffineMap> Maps => _maps;

    public void EnsureCapacity(int rows)
    {
        if (rows > _capacity) Allocate(rows);
    }

    // Apart from EnsureCapacity: a lambda there would capture rows, and the compiler allocates the
    // closure when the method is entered, on every call (the allocation tests caught 24 bytes a forward).
    private void Allocate(int rows)
    {
        // The trunked layer checks this first, naming its layer; here so that no caller gets a size that wrapped.
        Requires.ArrayLength(nameof(rows), $"{rows} rows of deterministic layers of up to {Widest} units", "use fewer rows", rows, Widest);
        _activations = Sizes.Select(s => new float[rows * s]).ToArray();
        _gradients = Sizes.Select(s => new float[rows * s]).ToArray();
        _capacity = rows;
    }

    /// <summary>The last unit layer's activations for the batch: the wrapped distribution's input.</summary>
    public ReadOnlySpan<float> Forward(ReadOnlySpan<float> input, int batch)
    {
        EnsureCapacity(batch);
        ReadOnlySpan<float> h = input;
        for (int j = 0; j < _maps.Length; j++)
        {
            Span<float> a = _activations[j].AsSpan(0, batch * Sizes[j]);
            _maps[j].Forward(h, batch, a);
            Kernels.Tanh(a, a);
            h = a;
        }
        return h;
    }

    /// <summary>The output of the last <see cref="Forward"/>.</summary>
    public ReadOnlySpan<float> Output(int batch) => _activations[^1].AsSpan(0, batch * Outputs);

    /// <summary>The buffer the wrapped layer adds ∂L/∂(trunk output) into (cleared here).</summary>
    public Span<float> ClearedOutputGradient(int batch)
    {
        Span<float> g = _gradients[^1].AsSpan(0, batch * Outputs);
        g.Clear();
        return g;
    }

    /// <summary>
    /// From ∂L/∂(trunk output) in <see cref="ClearedOutputGradient"/>: accumulates the maps'
    /// parameter gradients and, when <paramref name="inputGradient"/> is not empty, ∂L/∂x.
    /// </summary>
    public void Backward(ReadOnlySpan<float> input, int batch, Span<float> inputGradient)
    {
        for (int j = _maps.Length - 1; j >= 0; j--)
        {
            Span<float> g = _gradients[j].AsSpan(0, batch * Sizes[j]);
            Kernels.MultiplyByTanhDerivative(_activations[j].AsSpan(0, batch * Sizes[j]), g);
            ReadOnlySpan<float> below = j == 0 ? input : _activations[j - 1].AsSpan(0, batch * Sizes[j - 1]);
            Span<float> belowGradient = j == 0 ? inputGradient : _gradients[j - 1].AsSpan(0, batch * Sizes[j - 1]);
            if (j > 0) belowGradient.Clear();
            _maps[j].Backward(g, below, batch, belowGradient);
        }
    }

    /// <summary>Row <paramref name="from"/>'s activations to row <paramref name="to"/> (a shared forward).</summary>
    public void CopyRow(int from, int to)
    {
        for (int j = 0; j < _maps.Length; j++)
            _activations[j].AsSpan(from * Sizes[j], Sizes[j]).CopyTo(_activations[j].AsSpan(to * Sizes[j], Sizes[j]));
    }
}
