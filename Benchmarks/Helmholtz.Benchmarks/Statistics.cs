namespace Helmholtz.Benchmarks;

internal static class Statistics
{
    /// <summary>
    /// The median: the middle value, or the mean of the two middles for an even count (until 2026-12-04 it took the upper
    /// middle, which a review found put medians of 12 paired rounds 0.6–0.8% high; figures in performance.md before then
    /// were made so).
    /// </summary>
    public static double Median(IEnumerable<double> values)
    {
        double[] sorted = values.Order().ToArray();
        if (sorted.Length == 0) throw new ArgumentException("No values to take the median of.", nameof(values));
        int n = sorted.Length;
        return n % 2 == 1 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
    }
}
