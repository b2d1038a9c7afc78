using System.Globalization;

namespace Microsoft.ML.Helmholtz.Evaluation;

/// <summary>
/// A log-likelihood estimate over a data set (nats): the mean over examples of the per-example
/// estimate of ln p(x), with two different errors.
/// </summary>
/// <param name="Mean">The mean over examples of the per-example estimates.</param>
/// <param name="StandardErrorOverExamples">
/// The spread of the per-example estimates divided by √N: how much the mean would move for another
/// data set of N examples drawn like this one. It is mostly the variety of the examples, not the
/// estimator's error, and does not shrink as K grows.
/// </param>
/// <param name="MonteCarloStandardError">
/// The estimator's own error: how much the mean would move for other random samples on the same
/// examples, from the spread of the importance weights by the delta method (Var ln p̂ ≈ Var w /
/// (K E[w]²) per example). Samples drawn per example are independent across examples, so the
/// per-example variances add; samples shared by all examples (the naive estimator's dreams) may
/// be correlated across them, so there it is the mean of the per-example errors, which bounds the
/// error of the mean from above. It omits the bias of ln (1/K) Σ w, which lies below ln p(x) in
/// expectation and shrinks as K grows. NaN for K = 1.
/// </param>
/// <param name="Examples">How many examples were scored.</param>
/// <param name="SamplesPerExample">K, the samples per example.</param>
public sealed record LogLikelihoodEstimate(double Mean, double StandardErrorOverExamples, double MonteCarloStandardError, int Examples, int SamplesPerExample)
{
    /// <summary>The summary of per-example estimates and their Monte Carlo variances (NaN where unknown).</summary>
    /// <param name="perExample">The estimate of ln p(x) for each example.</param>
    /// <param name="monteCarloVariance">The Monte Carlo variance of each estimate.</param>
    /// <param name="samples">K, the samples per example.</param>
    /// <param name="samplesShared">Whether all examples used the same samples (errors then are not independent).</param>
    public static LogLikelihoodEstimate FromPerExample(ReadOnlySpan<double> perExample, ReadOnlySpan<double> monteCarloVariance, int samples, bool samplesShared = false)
    {
        int n = perExample.Length;
        if (n == 0) throw new ArgumentException("At least one example is needed.", nameof(perExample));
        if (monteCarloVariance.Length != n) throw new ArgumentException($"{monteCarloVariance.Length} variances for {n} examples.", nameof(monteCarloVariance));
        // K is reported beside the estimate: an estimate of no samples (or of fewer) is none.
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(samples);
        // −∞ is an estimate (a density of 0 in float) and a variance of NaN one of a single sample; NaN, +∞ and a negative variance are none.
        for (int i = 0; i < n; i++)
        {
            if (double.IsNaN(perExample[i]) || double.IsPositiveInfinity(perExample[i]))
                throw new ArgumentException($"perExample[{i}] is {perExample[i]}: a log-likelihood is finite or −∞.", nameof(perExample));
            if (monteCarloVariance[i] < 0)
                throw new ArgumentException($"monteCarloVariance[{i}] is {monteCarloVariance[i]}: a variance is 0 or more (NaN where it cannot be estimated).", nameof(monteCarloVariance));
        }
        var (mean, se) = MeanAndStandardError(perExample);
        double monteCarlo = 0;
        foreach (double v in monteCarloVariance) monteCarlo += samplesShared ? Math.Sqrt(v) : v;
        monteCarlo = samplesShared ? monteCarlo / n : Math.Sqrt(monteCarlo) / n;
        return new LogLikelihoodEstimate(mean, se, monteCarlo, n, samples);
    }

    /// <summary>The mean of <paramref name="values"/> (at least one) and its standard error, the sample spread over √N (NaN for one value).</summary>
    internal static (double Mean, double StandardError) MeanAndStandardError(ReadOnlySpan<double> values)
    {
        int n = values.Length;
        double mean = 0;
        foreach (double v in values) mean += v;
        mean /= n;
        double ss = 0;
        foreach (double v in values) ss += (v - mean) * (v - mean);
        return (mean, n > 1 ? Math.Sqrt(ss / (n - 1) / n) : double.NaN);
    }

    /// <summary>The mean in nats with <see cref="Examples"/>, K and both standard errors, in the invariant culture.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Mean:F2} nats ({Examples} examples, K = {SamplesPerExample}; standard error over examples {StandardErrorOverExamples:F2}, Monte Carlo standard error {MonteCarloStandardError:F3})");
}
