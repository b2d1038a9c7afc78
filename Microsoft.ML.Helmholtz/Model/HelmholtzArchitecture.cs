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

    /// <summary>
    /// The most layers a machine may have, stochastic and deterministic together: far past any machine that trains
    /// (the deepest in the literature have a few dozen), it turns a damaged or foreign architecture string of
    /// thousands of small layers into an error before the machine's per-layer objects are allocated (170,000 one-unit
    /// layers took 420 MB).
    /// </summary>
    public const int MaxLayers = 1024;

    /// <param name="layers">The stochastic layers bottom-up.</param>
    /// <param name="trunks">
    /// For each gap l between stochastic layers l and l + 1, the sizes of the deterministic tanh layers
    /// there, bottom-up (empty or null: none). The recognition layer q(X_{l+1} | X_l) runs them in this
    /// order, the generative layer p(X_l | X_{l+1}) in the reverse one.
    /// </param>
    public HelmholtzArchitecture(IEnumerable<LayerDefinition> layers, IEnumerable<IReadOnlyList<int>>? trunks = null)
    {
        ArgumentNullException.ThrowIfNull(layers);
        // Read-only wrappers: a caller that casts a list back to an array cannot change the architecture under a machine built from it.
        Layers = Array.AsReadOnly(layers.ToArray());
        if (Layers.Count < 2)
            throw new ArgumentException("A Helmholtz machine needs a visible layer and at least one hidden layer.", nameof(layers));
        for (int l = 0; l < Layers.Count; l++)
        {
            if (Layers[l] is null) throw new ArgumentException($"Layer {l} is null.", nameof(layers));
            if (Layers[l].Size <= 0) throw new ArgumentException($"Layer {l} has size {Layers[l].Size}; sizes must be positive.", nameof(layers));
            // Named here: a layer without units failed later with a NullReferenceException, and an undefined mean function was taken for one.
            if (Layers[l].Units is null)
                throw new ArgumentException($"Layer {l} (size {Layers[l].Size}) has no unit type: set Units, e.g. UnitType.Bernoulli.", nameof(layers));
            if (!Enum.IsDefined(Layers[l].Mean))
                throw new ArgumentException($"Layer {l} (size {Layers[l].Size}) has mean function {(int)Layers[l].Mean}, which is not a GaussianMean value.", nameof(layers));
        }
        if (Layers[0].Units.UnsupportedAsVisible is { } notVisible)
            throw new ArgumentException($"Layer 0, the visible layer ({Layers[0]}): {notVisible}.", nameof(layers));
        var gaps = (trunks ?? []).Select(t => (IReadOnlyList<int>)Array.AsReadOnly((t ?? []).ToArray())).ToList();
        if (gaps.Count > Layers.Count - 1)
            throw new ArgumentException($"{gaps.Count} trunks for the {Layers.Count - 1} gaps between {Layers.Count} stochastic layers.", nameof(trunks));
        while (gaps.Count < Layers.Count - 1) gaps.Add([]);
        long layerCount = Layers.Count + gaps.Sum(g => (long)g.Count);
        if (layerCount > MaxLayers)
            throw new ArgumentException($"The architecture has {N(layerCount)} layers (stochastic and deterministic); a machine may have at most {N(MaxLayers)} " +
                "(HelmholtzArchitecture.MaxLayers).", nameof(layers));
        for (int l = 0; l < gaps.Count; l++)
            if (gaps[l].Any(size => size <= 0))
                throw new ArgumentException($"The deterministic layers between layers {l} and {l + 1} must have positive sizes.", nameof(trunks));
        Trunks = gaps.AsReadOnly();
        ParameterCount = CountParameters(Layers, Trunks);
    }

    /// <summary>Layers bottom-up: [0] visible, [1…L] hidden.</summary>
    public IReadOnlyList<LayerDefinition> Layers { get; }

    /// <summary>
    /// Trunks[l]: the sizes of the deterministic tanh layers between stochastic layers l and l + 1,
    /// bottom-up (empty: none), as "100t" tokens write them: "784b-100t-100t-200b".
    /// </summary>
    public IReadOnlyList<IReadOnlyList<int>> Trunks { get; }

    /// <summary>Whether any conditional has deterministic layers.</summary>
    public bool HasTrunks => Trunks.Any(t => t.Count > 0);

    /// <summary>L, the number of hidden layers.</summary>
    public int Depth => Layers.Count - 1;

    /// <summary>The visible layer, <see cref="Layers"/>[0].</summary>
    public LayerDefinition Visible => Layers[0];

    /// <summary>How many parameters (generative and recognition) a machine of this shape has.</summary>
    public long ParameterCount { get; }

    /// <summary>Whether every hidden layer has <see cref="UnitType.Gaussian"/> units (other continuous kinds, such as <see cref="UnitType.GaussianRankOne"/>, do not count).</summary>
    public bool AllHiddenGaussian => Layers.Skip(1).All(l => l.Units == UnitType.Gaussian);

    /// <summary>Whether every hidden layer has <see cref="UnitType.Bernoulli"/> units.</summary>
    public bool AllHiddenBernoulli => Layers.Skip(1).All(l => l.Units == UnitType.Bernoulli);

    /// <summary>Whether <paramref name="other"/> has the same layers (sizes, units and means) and trunks.</summary>
    public bool SameAs(HelmholtzArchitecture? other)
        => ReferenceEquals(this, other) || other is not null && Layers.SequenceEqual(other.Layers)
            && Trunks.Count == other.Trunks.Count && Trunks.Zip(other.Trunks).All(pair => pair.First.SequenceEqual(pair.Second));

    /// <summary>
    /// Parses "784b-200g-50g": visible first, layer sizes with their unit letters, joined by single
    /// dashes; "100t" tokens between two stochastic layers are deterministic tanh layers
    /// ("784b-200t-200t-200b-200t-200t-200b": the nonlinear 200∼200 machine). Throws
    /// <see cref="FormatException"/> naming the layer that does not parse.
    /// </summary>
    public static HelmholtzArchitecture Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string[] parts = text.Split('-');
        if (parts.Length > MaxLayers)
            throw new FormatException($"Architecture '{Requires.Shortened(text)}': {N(parts.Length)} layers, more than the {N(MaxLayers)} a machine may have " +
                "(HelmholtzArchitecture.MaxLayers).");
        var layers = new List<LayerDefinition>();
        var trunks = new List<List<int>>();
        for (int i = 0; i < parts.Length; i++)
        {
            if (string.IsNullOrWhiteSpace(parts[i]))
                throw new FormatException($"Architecture '{text}': layer {i} is empty (a '-' at either end, or two in a row); " +
                    "write the layers bottom-up joined by single dashes, e.g. '784b-200g-50g'.");
            string token = parts[i].Trim().ToLowerInvariant();
            if (token.EndsWith('t') && token.Length > 1 && token[..^1].All(char.IsAsciiDigit))
            {
                if (layers.Count == 0)
                    throw new FormatException($"Architecture '{text}': the deterministic layer '{parts[i]}' comes before the visible layer; tanh layers sit between stochastic ones.");
                if (!int.TryParse(token[..^1], NumberStyles.None, CultureInfo.InvariantCulture, out int size) || size == 0)
                    throw new FormatException($"Architecture '{text}': the deterministic layer '{parts[i]}' needs a positive size that fits an int.");
                trunks[^1].Add(size);
                continue;
            }
            layers.Add(LayerDefinition.Parse(parts[i]));
            if (layers.Count == 1 && layers[0].Units.UnsupportedAsVisible is { } notVisible)
                throw new FormatException($"Architecture '{text}': the visible layer '{parts[i]}': {notVisible}.");
            trunks.Add([]);
        }
        if (layers.Count < 2)
            throw new FormatException($"Architecture '{text}': a Helmholtz machine needs a visible layer and at least one hidden layer, e.g. '784b-200b'.");
        if (trunks[^1].Count > 0)
            throw new FormatException($"Architecture '{text}': deterministic layers after the top layer condition nothing; they sit between stochastic layers.");
        return new HelmholtzArchitecture(layers, trunks.Take(layers.Count - 1).Select(t => (IReadOnlyList<int>)t));
    }

    /// <summary>The architecture string that <see cref="Parse"/> reads back, e.g. "784b-200t-200b".</summary>
    public override string ToString()
    {
        var parts = new List<string>();
        for (int l = 0; l < Layers.Count; l++)
        {
            parts.Add(Layers[l].ToString());
            if (l < Trunks.Count) parts.AddRange(Trunks[l].Select(size => size.ToString(CultureInfo.InvariantCulture) + "t"));
        }
        return string.Join("-", parts);
    }

    private static long CountParameters(IReadOnlyList<LayerDefinition> layers, IReadOnlyList<IReadOnlyList<int>> trunks)
    {
        long total = 0;
        for (int l = 0; l + 1 < layers.Count; l++)
        {
            LayerDefinition below = layers[l], above = layers[l + 1];
            // The chain below → trunk → above: each product of neighbouring sizes is one weight matrix in each network.
            long[] chain = [below.Size, .. trunks[l].Select(t => (long)t), above.Size];
            for (int j = 0; j + 1 < chain.Length; j++)
            {
                long weights = chain[j] * chain[j + 1];   // < 2^62: no overflow
                if (weights > MaxParameterCount)
                    throw TooLarge(trunks[l].Count == 0
                        ? $"layers {l} ({below}) and {l + 1} ({above}) would be joined by {N(weights)} weights in each network"
                        : $"between layers {l} ({below}) and {l + 1} ({above}), {chain[j]} and {chain[j + 1]} units would be joined by {N(weights)} weights");
            }
            // Each trunk's affine maps (weights and biases), in both networks.
            for (int j = 1; j + 1 < chain.Length; j++)
                total += chain[j - 1] * chain[j] + chain[j] + chain[j + 1] * chain[j] + chain[j];
            // Generative p(X_l | X_l+1) and recognition q(X_l+1 | X_l) after their trunks, as their unit kinds count them.
            total += below.Units.GenerativeParameterCount(chain[1], below.Size);
            total += above.Units.RecognitionParameterCount(chain[^2], above.Size);
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
