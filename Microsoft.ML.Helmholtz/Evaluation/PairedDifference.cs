using System.Globalization;

namespace Microsoft.ML.Helmholtz.Evaluation;

/// <summary>
/// Two models' per-example log-likelihood estimates on the same examples, compared example by
/// example: the mean of the differences and its standard error over examples. Two models find the
/// same examples hard, so this error is far smaller than either mean's own standard error over
/// examples, and it is the one that says whether one model is better on data like these.
/// </summary>
/// <param name="Mean">The mean over examples of first − second (nats).</param>
/// <param name="StandardError">The spread of the differences divided by √N; NaN for one example.</param>
/// <param name="Examples">How many examples were compared.</param>
public sealed record PairedDifference(double Mean, double StandardError, int Examples)
{
    /// <summary>The difference <paramref name="first"/> − <paramref name="second"/>, example by example.</summary>
    public static PairedDifference Of(ReadOnlySpan<double> first, ReadOnlySpan<double> second)
    {
        int n = first.Length;
        if (n == 0) throw new ArgumentException("At least one example is needed.", nameof(first));
        if (second.Length != n) throw new ArgumentException($"{n} estimates against {second.Length}: the two must score the same examples.", nameof(second));
        var differences = new double[n];
        for (int i = 0; i < n; i++)
        {
            if (!double.IsFinite(first[i])) throw new ArgumentException($"Estimate {i} is {first[i]}: the estimates must be finite.", nameof(first));
            if (!double.IsFinite(second[i])) throw new ArgumentException($"Estimate {i} is {second[i]}: the estimates must be finite.", nameof(second));
            differences[i] = first[i] - second[i];
        }
        var (mean, standardError) = LogLikelihoodEstimate.MeanAndStandardError(differences);
        return new PairedDifference(mean, standardError, n);
    }

    /// <summary>The mean difference ± its standard error in nats, and the number of examples, in the invariant culture.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Mean:F2} ± {StandardError:F2} nats ({Examples} examples; standard error of the paired differences)");
}
