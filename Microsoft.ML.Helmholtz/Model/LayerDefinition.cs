using System.Globalization;
using Microsoft.ML.Helmholtz.Layers;

namespace Microsoft.ML.Helmholtz.Model;

/// <summary>One layer of units: its size, unit type and (for Gaussian generative layers) the mean's nonlinearity.</summary>
/// <param name="Size">Units in the layer; <see cref="HelmholtzArchitecture"/> refuses a size that is not positive.</param>
/// <param name="Units">The kind of unit, e.g. <see cref="UnitType.Bernoulli"/>.</param>
/// <param name="Mean">The mean's nonlinearity, for units that have a code for it; others keep their default (see <see cref="Mean"/>).</param>
public sealed record LayerDefinition(int Size, UnitType Units, GaussianMean Mean = GaussianMean.Tanh)
{
    private readonly GaussianMean _mean = Mean;

    /// <summary>
    /// The mean function. Units with no code for it (Bernoulli units have only "b") hold their default, the mean
    /// of their first code: what their string reads back as, so that a definition equals its parsed string and a
    /// machine equals itself once saved and loaded. An undefined value is kept for <see cref="HelmholtzArchitecture"/> to refuse.
    /// </summary>
    public GaussianMean Mean
    {
        // Normalised when read, not when set, so that "with { Units = …, Mean = … }" holds whatever order it sets them in.
        get => Held(Units, _mean);
        init => _mean = value;
    }

    private static GaussianMean Held(UnitType? units, GaussianMean mean)
    {
        if (units is null || units.Codes.Count == 0 || !Enum.IsDefined(mean)) return mean;
        foreach (var (_, codeMean) in units.Codes)
            if (codeMean == mean) return mean;
        return units.Codes[0].Mean;
    }

    // Compared by the mean held, not the one given: Bernoulli units built with a linear mean are Bernoulli units.
    /// <summary>Whether <paramref name="other"/> has the same size, unit type and <see cref="Mean"/> as held (so Bernoulli units given different means are equal).</summary>
    public bool Equals(LayerDefinition? other)
        => other is not null && Size == other.Size && Equals(Units, other.Units) && Mean == other.Mean;

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Size, Units, Mean);

    // A definition without units (refused by HelmholtzArchitecture) still prints, for the messages and the debugger that show it.
    /// <summary>The layer's code that <see cref="Parse"/> reads back: its size and unit code, e.g. "200g"; without units, e.g. "200 (no unit type)".</summary>
    public override string ToString() => Units is null ? $"{Size} (no unit type)" : $"{Size}{Units.Code(Mean)}";

    /// <summary>Parses a size followed by a registered unit code: "784b", "200g" (Gaussian, tanh mean), "784gl" (Gaussian, linear mean).</summary>
    public static LayerDefinition Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string t = text.Trim().ToLowerInvariant();
        if (t.Any(char.IsWhiteSpace))
            throw new FormatException($"Layer '{text}': a layer is its size and unit code with nothing between, e.g. '200g', and layers are joined by '-', e.g. '784b-200g-50g'.");
        int split = t.Length;
        while (split > 0 && !char.IsAsciiDigit(t[split - 1])) split--;
        string digits = t[..split], code = t[split..];
        if (!UnitType.TryParseCode(code, out UnitType units, out GaussianMean mean))
            throw new FormatException($"Layer '{text}': expected a size followed by one of the unit codes {UnitType.KnownCodes}, e.g. '200g'.");
        if (digits.Length == 0 || !digits.All(char.IsAsciiDigit))
            throw new FormatException($"Layer '{text}': the size must be a positive whole number written in digits, e.g. '200g'.");
        if (!int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out int size))
            throw new FormatException($"Layer '{text}': the size {digits} is too large (at most {int.MaxValue:N0} units, and far fewer fit a machine's parameter limit).");
        if (size == 0)
            throw new FormatException($"Layer '{text}': the size must be positive.");
        return new LayerDefinition(size, units, mean);
    }
}
