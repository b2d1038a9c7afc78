using System.Globalization;

namespace Microsoft.ML.Helmholtz;

/// <summary>
/// Argument checks written so that NaN fails them: a comparison with NaN is false, so each check
/// states the range a value must lie in (a test like "v &lt; 0 || v &gt;= 1" would let NaN through).
/// Values used in single precision are checked as floats too, so one that overflows or rounds to
/// zero there is named up front.
/// </summary>
internal static class Requires
{
    /// <summary>
    /// An argument error's own words, for a message of ours that names the option: without the " (Parameter '…')" and,
    /// for an out-of-range value, the "Actual value was …" line that .NET appends to them.
    /// </summary>
    public static string Reason(ArgumentException e)
    {
        string text = e.Message;
        int at = e.ParamName is { Length: > 0 } name ? text.IndexOf($" (Parameter '{name}')", StringComparison.Ordinal) : -1;
        if (at < 0 && e is ArgumentOutOfRangeException { ActualValue: not null }) at = text.LastIndexOf(Environment.NewLine, StringComparison.Ordinal);
        return at >= 0 ? text[..at] : text;
    }

    /// <summary>
    /// Text of any length (an architecture from a damaged file, a message quoting it) as a message quotes it: its first
    /// <paramref name="most"/> characters, the last three of them "..." when it was cut.
    /// </summary>
    public static string Shortened(string text, int most = 80) => text.Length <= most ? text : text[..(most - 3)] + "...";

    /// <summary>value in [0, 1).</summary>
    public static double InUnitIntervalOpenAbove(double value, string name)
        => value >= 0 && value < 1 ? value : throw new ArgumentOutOfRangeException(name, value, $"{name} must lie in [0, 1); got {value}.");

    /// <summary>value in (0, 1].</summary>
    /// <remarks>Here and below, <paramref name="name"/> is the parameter's name and <paramref name="what"/> (by default the name) how the message says it.</remarks>
    public static double InUnitIntervalOpenBelow(double value, string name, string? what = null)
        => value > 0 && value <= 1 ? value : throw new ArgumentOutOfRangeException(name, value, $"{what ?? name} must lie in (0, 1]; got {value}.");

    /// <summary>value finite and &gt; 0, also when rounded to single precision (neither ∞ nor 0 there).</summary>
    public static double PositiveInSinglePrecision(double value, string name, string? what = null)
    {
        if (!(value > 0 && double.IsFinite(value)))
            throw new ArgumentOutOfRangeException(name, value, $"{what ?? name} must be positive and finite; got {value}.");
        float single = (float)value;
        if (float.IsInfinity(single) || single == 0)
            throw new ArgumentOutOfRangeException(name, value,
                $"{what ?? name} = {value} is {(single == 0 ? "zero" : "infinite")} in single precision, in which it is used; it must lie between {float.Epsilon} and {float.MaxValue}.");
        return value;
    }

    /// <summary>value 0, or finite and &gt; 0 also in single precision (<see cref="PositiveInSinglePrecision"/>): a positive value that rounds to 0 there is refused.</summary>
    public static double ZeroOrPositiveInSinglePrecision(double value, string name, string? what = null)
        => NonNegativeFinite(value, name, what) == 0 ? 0 : PositiveInSinglePrecision(value, name, what);

    /// <summary>value finite and ≥ 0.</summary>
    public static double NonNegativeFinite(double value, string name, string? what = null)
        => value >= 0 && double.IsFinite(value) ? value : throw new ArgumentOutOfRangeException(name, value, $"{what ?? name} must be finite and at least 0; got {value}.");

    /// <summary>
    /// Throws <see cref="ArgumentOutOfRangeException"/> for the argument <paramref name="name"/> when <paramref name="bytes"/>,
    /// a lower bound of what a call is about to allocate, exceeds all the memory this process may use (the GC's
    /// <see cref="GCMemoryInfo.TotalAvailableMemoryBytes"/>: the machine's, or a container's or heap limit). Such a call
    /// cannot succeed; refused up front it is named, where its allocations would end in an <see cref="OutOfMemoryException"/>
    /// or the system's out-of-memory killer part way through.
    /// </summary>
    public static void Memory(string name, string what, string remedy, Int128 bytes)
    {
        long available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        if (available <= 0 || bytes <= available) return;
        throw new ArgumentOutOfRangeException(name, string.Create(CultureInfo.InvariantCulture,
            $"{what} would need at least {Gibibytes(bytes)} of memory, more than the {Gibibytes(available)} this process can use; {remedy}."));
    }

    private static string Gibibytes(Int128 bytes) => string.Create(CultureInfo.InvariantCulture, $"{(double)bytes / (1L << 30):N1} GiB");

    /// <summary>
    /// The product of <paramref name="factors"/> (each ≥ 0, at most four of int size), the length of a
    /// buffer about to be allocated, when one array can hold it (<see cref="Array.MaxLength"/>, the bound
    /// <c>LayerStates</c> uses); otherwise an <see cref="ArgumentOutOfRangeException"/> for the argument
    /// <paramref name="name"/>. Multiplied in 128 bits, so that a product of ints never wraps into a
    /// wrong size or a bare <see cref="OverflowException"/>; call it before anything is allocated.
    /// </summary>
    /// <param name="name">The caller's argument that sets the size (the exception's parameter name).</param>
    /// <param name="what">What needs the values, naming the arguments behind the factors.</param>
    /// <param name="remedy">What the caller can change.</param>
    /// <param name="factors">The sizes whose product is the buffer's length.</param>
    public static int ArrayLength(string name, string what, string remedy, params ReadOnlySpan<long> factors)
    {
        System.Diagnostics.Debug.Assert(factors.Length <= 4, "four factors of int size at most: the product of more could pass 128 bits");
        Int128 values = 1;
        foreach (long factor in factors) values *= factor;
        if (values <= Array.MaxLength) return (int)values;
        // Only on the way to the exception: the factors are formatted here, not at every call.
        var product = new System.Text.StringBuilder();
        foreach (long factor in factors)
            product.Append(product.Length == 0 ? "" : " × ").Append(factor.ToString("N0", CultureInfo.InvariantCulture));
        throw new ArgumentOutOfRangeException(name, string.Create(CultureInfo.InvariantCulture,
            $"{what} would need {values:N0} values ({product}), more than one array holds ({Array.MaxLength:N0}); {remedy}."));
    }
}
