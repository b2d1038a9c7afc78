using System.Globalization;

namespace Microsoft.ML.Helmholtz.Model;

/// <summary>One layer of units: its size, unit type and (for Gaussian generative layers) the mean's nonlinearity.</summary>
public sealed record LayerDefinition(int Size, UnitType Units, GaussianMean Mean = GaussianMean.Tanh)
{
    public override string ToString() => Units == UnitType.Bernoulli
        ? $"{Size}b"
        : Mean == GaussianMean.Tanh ? $"{Size}g" : $"{Size}gl";

    /// <summary>Parses "784b", "200g" (Gaussian, tanh mean) or "784gl" (Gaussian, linear mean).</summary>
    public static LayerDefinition Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string t = text.Trim().ToLowerInvariant();
        (string digits, UnitType units, GaussianMean mean) = t switch
        {
            _ when t.EndsWith("gl", StringComparison.Ordinal) => (t[..^2], UnitType.Gaussian, GaussianMean.Linear),
            _ when t.EndsWith('g') => (t[..^1], UnitType.Gaussian, GaussianMean.Tanh),
            _ when t.EndsWith('b') => (t[..^1], UnitType.Bernoulli, GaussianMean.Tanh),
            _ => throw new FormatException($"Layer '{text}': expected a size followed by 'b' (Bernoulli), 'g' (Gaussian, tanh mean) or 'gl' (Gaussian, linear mean), e.g. '200g'."),
        };
        if (digits.Length == 0 || !digits.All(char.IsAsciiDigit))
            throw new FormatException($"Layer '{text}': the size must be a positive whole number written in digits, e.g. '200g'.");
        if (!int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out int size))
            throw new FormatException($"Layer '{text}': the size {digits} is too large (at most {int.MaxValue:N0} units, and far fewer fit a machine's parameter limit).");
        if (size == 0)
            throw new FormatException($"Layer '{text}': the size must be positive.");
        return new LayerDefinition(size, units, mean);
    }
}
