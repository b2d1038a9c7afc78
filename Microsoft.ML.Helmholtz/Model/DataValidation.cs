using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Model;

/// <summary>Checks data against a visible layer before any work starts, with errors that name the problem.</summary>
public static class DataValidation
{
    /// <summary>
    /// Throws <see cref="ArgumentException"/> naming <paramref name="dataName"/> when the data are
    /// empty, have the wrong row length, hold NaN or infinities, or hold values the visible units do not
    /// model (<see cref="Layers.UnitType.ModelsAll"/>: other than 0 and 1 for Bernoulli units, outside [0, 1] for soft-target and
    /// continuous Bernoulli units). The exception's <see cref="ArgumentException.ParamName"/> is
    /// <paramref name="paramName"/>, the caller's parameter that holds the data (<paramref name="dataName"/> when not given).
    /// </summary>
    public static void Validate(ReadOnlySpan<float> values, int rows, int columns, LayerDefinition visible, string dataName, string? paramName = null)
    {
        ArgumentNullException.ThrowIfNull(visible);
        string name = paramName ?? dataName;
        if (rows <= 0)
            throw new ArgumentException($"{dataName} is empty: at least one example is needed.", name);
        if (columns != visible.Size)
            throw new ArgumentException($"{dataName} has vectors of length {columns}, but the visible layer has {visible.Size} units.", name);
        if (values.Length != (long)rows * columns)
            throw new ArgumentException($"{dataName} holds {values.Length} values, not {rows} rows × {columns}.", name);
        // The common case, clean data, in one vectorised pass; the loop below finds and names a bad value.
        if (visible.Units.ModelsAll(values)) return;
        for (int i = 0; i < values.Length; i++)
            if (Problem(visible, values[i]) is { } problem)
                throw new ArgumentException($"{dataName} row {i / columns}, column {i % columns} is {problem}", name);
    }

    /// <summary>
    /// The value and why <paramref name="visible"/> cannot take it ("NaN: values must be finite."), for a message that
    /// names where it is; null when the layer can take it.
    /// </summary>
    internal static string? Problem(LayerDefinition visible, float value)
    {
        if (!float.IsFinite(value)) return $"{value}: values must be finite.";
        if (!visible.Units.Models(value))
            return $"{value}: a {visible.Units.Name} visible layer models {visible.Units.ModelledValues} ({visible.Units.ValueHint}).";
        return null;
    }
}
