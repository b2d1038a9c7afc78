namespace Helmholtz.Benchmarks;

internal static class Statistics
{
    /// <summary>The middle value (the upper one of the two middles for an even count).</summary>
    public static double Median(IEnumerable<double> values)
    {
        double[] sorted = values.Order().ToArray();
        return sorted[sorted.Length / 2];
    }
}
