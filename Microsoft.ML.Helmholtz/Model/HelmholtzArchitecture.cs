using System.Globalization;
using Microsoft.ML.Helmholtz.Layers;

namespace Microsoft.ML.Helmholtz.Model;

/// <summary>
/// The shape of a Helmholtz machine: layer 0 is visible, layers 1…L hidden (L ≥ 1), the top one
/// carrying a factorised prior (learned Bernoulli biases, or a standard normal for Gaussian units).
/// </summary>
public sealed class HelmholtzArchitecture
{
    /// <summary>
    /// The most parameters a machine may have: 2²⁸ (268,435,456), one GiB of single-precision values.
    /// Training keeps three more arrays of that size (gradients and the optimiser's moments) and a
    /// copy to undo a failed step, so this is already a machine that needs several GiB; the bound
    /// turns a size typed wrongly into an error before anything is allocated.
    /// </summary>
    public const long MaxParameterCount = Parameter.MaxValues;

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
        ParameterCount = CountParameters(Layers);
    }

    /// <summary>Layers bottom-up: [0] visible, [1…L] hidden.</summary>
    public IReadOnlyList<LayerDefinition> Layers { get; }

    /// <summary>L, the number of hidden layers.</summary>
    public int Depth => Layers.Count - 1;

    public LayerDefinition Visible => Layers[0];

    /// <summary>How many parameters (generative and recognition) a machine of this shape has.</summary>
    public long ParameterCount { get; }

    public bool AllHiddenGaussian => Layers.Skip(1).All(l => l.Units == UnitType.Gaussian);

    public bool AllHiddenBernoulli => Layers.Skip(1).All(l => l.Units == UnitType.Bernoulli);

    /// <summary>Whether <paramref name="other"/> has the same layers (sizes, units and means).</summary>
    public bool SameAs(HelmholtzArchitecture? other)
        => ReferenceEquals(this, other) || other is not null && Layers.SequenceEqual(other.Layers);

    /// <summary>
    /// Parses "784b-200g-50g": visible first, layer sizes with their unit letters, joined by single
    /// dashes. Throws <see cref="FormatException"/> naming the layer that does not parse.
    /// </summary>
    public static HelmholtzArchitecture Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string[] parts = text.Split('-');
        var layers = new LayerDefinition[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (string.IsNullOrWhiteSpace(parts[i]))
                throw new FormatException($"Architecture '{text}': layer {i} is empty (a '-' at either end, or two in a row); " +
                    "write the layers bottom-up joined by single dashes, e.g. '784b-200g-50g'.");
            layers[i] = LayerDefinition.Parse(parts[i]);
        }
        if (layers.Length < 2)
            throw new FormatException($"Architecture '{text}': a Helmholtz machine needs a visible layer and at least one hidden layer, e.g. '784b-200b'.");
        return new HelmholtzArchitecture(layers);
    }

    public override string ToString() => string.Join("-", Layers);

    private static long CountParameters(IReadOnlyList<LayerDefinition> layers)
    {
        long total = 0;
        for (int l = 0; l + 1 < layers.Count; l++)
        {
            LayerDefinition below = layers[l], above = layers[l + 1];
            long weights = (long)below.Size * above.Size;   // < 2^62: no overflow
            if (weights > MaxParameterCount)
                throw TooLarge($"layers {l} ({below}) and {l + 1} ({above}) would be joined by {N(weights)} weights in each network");
            // Generative p(X_l | X_l+1) and recognition q(X_l+1 | X_l), as their unit kinds count them.
            total += below.Units.GenerativeParameterCount(above.Size, below.Size);
            total += above.Units.RecognitionParameterCount(below.Size, above.Size);
            if (total > MaxParameterCount)
                throw TooLarge($"layers 0 to {l + 1} alone need {N(total)} parameters");
        }
        total += layers[^1].Units.PriorParameterCount(layers[^1].Size);
        if (total > MaxParameterCount)
            throw TooLarge($"it needs {N(total)} parameters");
        return total;
    }

    private static ArgumentException TooLarge(string what) => new(
        $"The architecture is too large: {what}; a machine may have at most {N(MaxParameterCount)} parameters " +
        "(HelmholtzArchitecture.MaxParameterCount). Check the layer sizes.", "layers");

    private static string N(long value) => value.ToString("N0", CultureInfo.InvariantCulture);
}
