namespace Microsoft.ML.Helmholtz;

/// <summary>
/// Argument checks written so that NaN fails them: a comparison with NaN is false, so each check
/// states the range a value must lie in (a test like "v &lt; 0 || v &gt;= 1" would let NaN through).
/// Values used in single precision are checked as floats too, so one that overflows or rounds to
/// zero there is named up front.
/// </summary>
internal static class Requires
{
    /// <summary>value in [0, 1).</summary>
    public static double InUnitIntervalOpenAbove(double value, string name)
        => value >= 0 && value < 1 ? value : throw new ArgumentOutOfRangeException(name, value, $"{name} must lie in [0, 1); got {value}.");

    /// <summary>value in (0, 1].</summary>
    public static double InUnitIntervalOpenBelow(double value, string name)
        => value > 0 && value <= 1 ? value : throw new ArgumentOutOfRangeException(name, value, $"{name} must lie in (0, 1]; got {value}.");

    /// <summary>value finite and &gt; 0, also when rounded to single precision (neither ∞ nor 0 there).</summary>
    public static double PositiveInSinglePrecision(double value, string name)
    {
        if (!(value > 0 && double.IsFinite(value)))
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be positive and finite; got {value}.");
        float single = (float)value;
        if (float.IsInfinity(single) || single == 0)
            throw new ArgumentOutOfRangeException(name, value,
                $"{name} = {value} is {(single == 0 ? "zero" : "infinite")} in single precision, in which it is used; it must lie between {float.Epsilon} and {float.MaxValue}.");
        return value;
    }

    /// <summary>value finite and ≥ 0.</summary>
    public static double NonNegativeFinite(double value, string name)
        => value >= 0 && double.IsFinite(value) ? value : throw new ArgumentOutOfRangeException(name, value, $"{name} must be finite and at least 0; got {value}.");
}
