namespace Microsoft.ML.Helmholtz.Evaluation;

/// <summary>
/// A log-likelihood estimate over a data set: the mean over examples of the per-example estimate of
/// ln p(x) (nats), and the standard error of that mean across examples.
/// </summary>
public sealed record LogLikelihoodEstimate(double Mean, double StandardError, int Examples, int SamplesPerExample)
{
    public static LogLikelihoodEstimate FromPerExample(ReadOnlySpan<double> perExample, int samples)
    {
        int n = perExample.Length;
        double mean = 0;
        foreach (double v in perExample) mean += v;
        mean /= n;
        double ss = 0;
        foreach (double v in perExample) ss += (v - mean) * (v - mean);
        double se = n > 1 ? Math.Sqrt(ss / (n - 1) / n) : double.NaN;
        return new LogLikelihoodEstimate(mean, se, n, samples);
    }

    public override string ToString() => $"{Mean:F2} ± {StandardError:F2} nats ({Examples} examples, K = {SamplesPerExample})";
}

/// <summary>A streaming ln Σ exp(v): one running maximum and one scaled sum.</summary>
internal struct LogSumExpAccumulator
{
    private double _max;
    private double _sum;

    public static LogSumExpAccumulator Empty => new() { _max = double.NegativeInfinity, _sum = 0 };

    public void Add(double v)
    {
        if (double.IsNaN(v)) { _max = double.NaN; return; }
        if (v <= _max) { _sum += Math.Exp(v - _max); return; }
        _sum = _sum * Math.Exp(_max - v) + 1;
        _max = v;
    }

    public readonly double Value => double.IsNegativeInfinity(_max) || double.IsNaN(_max) ? _max : _max + Math.Log(_sum);
}
