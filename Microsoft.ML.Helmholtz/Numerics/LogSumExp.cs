namespace Microsoft.ML.Helmholtz.Numerics;

// The log-sum-exp of log-weights: at once (Kernels.LogSumExp) and streaming, with the Monte Carlo variance (LogSumExpAccumulator).
public static partial class Kernels
{
    /// <summary>ln Σ exp(x_i), stably: −∞ when every x_i is −∞ (or there are none), +∞ when one is +∞, NaN when one is NaN (as <see cref="LogSumExpAccumulator"/>).</summary>
    public static double LogSumExp(ReadOnlySpan<double> x)
    {
        double max = double.NegativeInfinity;
        foreach (double v in x)
        {
            if (double.IsNaN(v)) return double.NaN;   // never larger than the running maximum: it would be lost
            if (v > max) max = v;
        }
        if (double.IsInfinity(max)) return max;   // exp(∞ − ∞) would make +∞ a NaN
        double sum = 0;
        foreach (double v in x) sum += Math.Exp(v - max);
        return max + Math.Log(sum);
    }
}

/// <summary>
/// A streaming ln Σ exp(v) of the log-weights v of one example, with ln Σ exp(2v) beside it for the
/// Monte Carlo variance: one running maximum and two scaled sums. A weight of zero (v = −∞, e.g. a
/// sample the generative model cannot produce) adds nothing; one of +∞ makes the sum +∞; NaN makes it NaN.
/// </summary>
internal struct LogSumExpAccumulator
{
    private double _max;         // the largest finite v so far (−∞ before the first)
    private double _sum;         // Σ exp(v − max) over finite v
    private double _sumSquares;  // Σ exp(2(v − max)) over finite v
    private int _count;          // every v added, −∞ included
    private bool _nan, _infinite;

    public static LogSumExpAccumulator Empty => new() { _max = double.NegativeInfinity };

    public void Add(double v)
    {
        _count++;
        if (double.IsNaN(v)) { _nan = true; return; }
        if (double.IsInfinity(v))
        {
            if (v > 0) _infinite = true;
            return;   // −∞: a zero weight
        }
        if (v <= _max)
        {
            double e = Math.Exp(v - _max);
            _sum += e;
            _sumSquares += e * e;
            return;
        }
        double scale = Math.Exp(_max - v);   // 0 before the first finite value
        _sum = _sum * scale + 1;
        _sumSquares = _sumSquares * scale * scale + 1;
        _max = v;
    }

    /// <summary>ln Σ exp(v).</summary>
    public readonly double Value => _nan ? double.NaN : _infinite ? double.PositiveInfinity : _max + Math.Log(_sum);

    /// <summary>
    /// The delta-method variance of ln((1/K) Σ exp(v)) for K = the values added:
    /// (K Σw² / (Σw)² − 1) / (K − 1). NaN for fewer than two values or a sum that is not finite and positive.
    /// </summary>
    public readonly double LogMeanVariance
    {
        get
        {
            if (_count < 2 || _nan || _infinite || double.IsNegativeInfinity(_max)) return double.NaN;
            double ratio = _sumSquares / (_sum * _sum);   // Σw² / (Σw)², the max cancels
            return Math.Max(0, (_count * ratio - 1) / (_count - 1));
        }
    }
}
