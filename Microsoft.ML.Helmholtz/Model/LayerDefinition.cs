using System.Globalization;
using Microsoft.ML.Helmholtz.Layers;

namespace Microsoft.ML.Helmholtz.Model;

/// <summary>One layer of units: its size, unit type and (for Gaussian generative layers) the mean's nonlinearity.</summary>
public sealed record LayerDefinition(int Size, UnitType Units, GaussianMean Mean = GaussianMean.Tanh)
{
    public override string ToString() => $"{Size}{Units.Code(Mean)}";

    /// <summary>Parses a size followed by a registered unit code: "784b", "200g" (Gaussian, tanh mean), "784gl" (Gaussian, linear mean).</summary>
    public static LayerDefinition Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string t = text.Trim().ToLowerInvariant();
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
