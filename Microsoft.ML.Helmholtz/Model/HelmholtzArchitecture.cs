namespace Microsoft.ML.Helmholtz.Model;

/// <summary>
/// The shape of a Helmholtz machine: layer 0 is visible, layers 1…L hidden (L ≥ 1), the top one
/// carrying a factorised prior (learned Bernoulli biases, or a standard normal for Gaussian units).
/// </summary>
public sealed class HelmholtzArchitecture
{
    public HelmholtzArchitecture(IEnumerable<LayerDefinition> layers)
    {
        ArgumentNullException.ThrowIfNull(layers);
        Layers = layers.ToArray();
        if (Layers.Count < 2)
            throw new ArgumentException("A Helmholtz machine needs a visible layer and at least one hidden layer.", nameof(layers));
        for (int l = 0; l < Layers.Count; l++)
        {
            if (Layers[l] is null) throw new ArgumentException($"Layer {l} is null.", nameof(layers));
            if (Layers[l].Size <= 0) throw new ArgumentException($"Layer {l} has size {Layers[l].Size}; sizes must be positive.", nameof(layers));
        }
    }

    /// <summary>Layers bottom-up: [0] visible, [1…L] hidden.</summary>
    public IReadOnlyList<LayerDefinition> Layers { get; }

    /// <summary>L, the number of hidden layers.</summary>
    public int Depth => Layers.Count - 1;

    public LayerDefinition Visible => Layers[0];

    public bool AllHiddenGaussian => Layers.Skip(1).All(l => l.Units == UnitType.Gaussian);

    public bool AllHiddenBernoulli => Layers.Skip(1).All(l => l.Units == UnitType.Bernoulli);

    /// <summary>Parses "784b-200g-50g": visible first, layer sizes with their unit letters.</summary>
    public static HelmholtzArchitecture Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return new HelmholtzArchitecture(text.Split('-', StringSplitOptions.RemoveEmptyEntries).Select(LayerDefinition.Parse));
    }

    public override string ToString() => string.Join("-", Layers);
}
