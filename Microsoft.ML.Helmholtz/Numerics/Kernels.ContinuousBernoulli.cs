using System.Runtime.CompilerServices;

namespace Microsoft.ML.Helmholtz.Numerics;

// Continuous Bernoulli units (Loaiza-Ganem & Cunningham 2019): the density on [0, 1]
// p(x | η) = exp(η x − A(η)), A(η) = ln ∫₀¹ e^{ηx} dx = ln((e^η − 1)/η), an exponential family in the
// logit η. Its log-normaliser and the derivatives are computed in double: near η = 0 each closed form
// is a difference of nearly equal terms, so a short series takes over there.
public static unsafe partial class Kernels
{
    // Below this |η| the series are exact to double precision (the first term left out is under 1e-12).
    private const double ContinuousBernoulliSeriesLimit = 1e-2;

    /// <summary>A(η) = ln((e^η − 1)/η), with A(0) = 0.</summary>
    public static double ContinuousBernoulliLogNormalizer(double eta)
    {
        if (Math.Abs(eta) < ContinuousBernoulliSeriesLimit) return eta / 2 + eta * eta / 24 - eta * eta * eta * eta / 2880;
        // η > 0: η + ln(1 − e^−η) − ln η; η < 0: ln(1 − e^η) − ln(−η). Neither overflows.
        return eta > 0 ? eta + Math.Log(1 - Math.Exp(-eta)) - Math.Log(eta) : Math.Log(1 - Math.Exp(eta)) - Math.Log(-eta);
    }

    /// <summary>A'(η) = E[x] = 1/(1 − e^−η) − 1/η, with A'(0) = ½.</summary>
    public static double ContinuousBernoulliMean(double eta)
    {
        if (Math.Abs(eta) < ContinuousBernoulliSeriesLimit) return 0.5 + eta / 12 - eta * eta * eta / 720;
        return 1 / (1 - Math.Exp(-eta)) - 1 / eta;
    }

    /// <summary>A''(η) = Var[x] = 1/η² − 1/(4 sinh²(η/2)), with A''(0) = 1/12.</summary>
    public static double ContinuousBernoulliVariance(double eta)
    {
        if (Math.Abs(eta) < ContinuousBernoulliSeriesLimit) return 1.0 / 12 - eta * eta / 240;
        double s = Math.Sinh(eta / 2);   // ±∞ for large |η|: the second term is then 0
        return 1 / (eta * eta) - 1 / (4 * s * s);
    }

    /// <summary>The draw with CDF F(x) = (e^{ηx} − 1)/(e^η − 1) at the uniform u: its inverse, kept in [0, 1].</summary>
    public static double ContinuousBernoulliQuantile(double eta, double u)
    {
        double x;
        if (Math.Abs(eta) < 1e-6) x = u;
        // Written so that e^η is never formed for η > 0: x = 1 + ln(u + (1 − u) e^−η)/η.
        else if (eta > 0) x = 1 + Math.Log(u + (1 - u) * Math.Exp(-eta)) / eta;
        else x = Math.Log(1 + u * (Math.Exp(eta) - 1)) / eta;
        return Math.Clamp(x, 0, 1);
    }

    /// <summary>
    /// rowSums[r] += Σ_c ln p(x[r,c] | η = a[r,c]) = Σ_c (x a − A(a)), x row r of x, or row rowSource[r]
    /// of its <paramref name="xRows"/> rows when rowSource is not empty.
    /// </summary>
    public static void AccumulateContinuousBernoulliLogProb(ReadOnlySpan<float> logits, ReadOnlySpan<float> x, int xRows, ReadOnlySpan<int> rowSource, int rows, int columns, Span<double> rowSums)
    {
        CheckRowSource(rowSource, rows, xRows);
        RunContinuousBernoulli(ContinuousBernoulliOperation.LogProb, logits[..(rows * columns)], x[..(xRows * columns)], rowSource, default, default, rowSums[..rows], rows, columns);
    }

    /// <summary>dLogits[r,c] = w[r] · (x[r,c] − A'(a[r,c])): the weighted gradient of ln p(x | a).</summary>
    public static void ContinuousBernoulliLogProbGradient(ReadOnlySpan<float> logits, ReadOnlySpan<float> x, int rows, int columns, ReadOnlySpan<float> rowWeights, Span<float> gradient)
        => RunContinuousBernoulli(ContinuousBernoulliOperation.Gradient, logits[..(rows * columns)], x[..(rows * columns)], default, rowWeights[..rows], gradient[..(rows * columns)], default, rows, columns);

    /// <summary>y = the draw at each uniform u (inverse CDF): a differentiable function of a for fixed u.</summary>
    public static void SampleContinuousBernoulli(ReadOnlySpan<float> logits, ReadOnlySpan<float> uniforms, Span<float> y)
        => RunContinuousBernoulli(ContinuousBernoulliOperation.Sample, logits, uniforms[..logits.Length], default, default, y[..logits.Length], default, 1, logits.Length);

    /// <summary>mean = E[x | a] = A'(a).</summary>
    public static void ContinuousBernoulliMean(ReadOnlySpan<float> logits, Span<float> mean)
        => RunContinuousBernoulli(ContinuousBernoulliOperation.Mean, logits, default, default, default, mean[..logits.Length], default, 1, logits.Length);

    /// <summary>κ = ∂²(−ln p)/∂a² = A''(a), the variance (it does not depend on x).</summary>
    public static void ContinuousBernoulliCurvature(ReadOnlySpan<float> logits, Span<float> kappa)
        => RunContinuousBernoulli(ContinuousBernoulliOperation.Curvature, logits, default, default, default, kappa[..logits.Length], default, 1, logits.Length);

    private enum ContinuousBernoulliOperation { LogProb, Gradient, Sample, Mean, Curvature }

    private static void RunContinuousBernoulli(ContinuousBernoulliOperation operation, ReadOnlySpan<float> logits, ReadOnlySpan<float> x, ReadOnlySpan<int> rowSource,
        ReadOnlySpan<float> rowWeights, Span<float> output, Span<double> rowSums, int rows, int columns)
    {
        // Element-wise operations run as one row of all elements, split by elements; the row-wise ones by rows (one row too).
        int pieces = Pieces((long)rows * columns);
        int units = operation is ContinuousBernoulliOperation.LogProb or ContinuousBernoulliOperation.Gradient ? rows : rows * columns;
        if (pieces == 1)
        {
            ContinuousBernoulliRange(operation, logits, x, rowSource, rowWeights, output, rowSums, columns, 0, units);
            return;
        }
        fixed (float* a = logits, v = x, w = rowWeights, o = output)
        fixed (int* source = rowSource)
        fixed (double* sums = rowSums)
            WorkerPool.Current.Run(pieces, new ContinuousBernoulliWork
            {
                Operation = operation, Ranges = new(units, pieces), Logits = a, LogitCount = logits.Length, X = v, XCount = x.Length,
                RowSource = source, RowWeights = w, Output = o, RowSums = sums, Rows = rows, Columns = columns,
            });
    }

    private struct ContinuousBernoulliWork : IPieceWork
    {
        public ContinuousBernoulliOperation Operation;
        public PieceRanges Ranges;   // of rows, or of elements for the element-wise operations
        public float* Logits, X, RowWeights, Output;
        public int* RowSource;
        public double* RowSums;
        public int LogitCount, XCount, Rows, Columns;

        public readonly void Execute(int piece)
        {
            if (!Ranges.Get(piece, out int start, out int end)) return;
            ContinuousBernoulliRange(Operation, new ReadOnlySpan<float>(Logits, LogitCount), X == null ? default : new ReadOnlySpan<float>(X, XCount),
                SpanOrEmpty(RowSource, Rows), RowWeights == null ? default : new ReadOnlySpan<float>(RowWeights, Rows),
                Output == null ? default : new Span<float>(Output, LogitCount), RowSums == null ? default : new Span<double>(RowSums, Rows), Columns, start, end);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void ContinuousBernoulliRange(ContinuousBernoulliOperation operation, ReadOnlySpan<float> logits, ReadOnlySpan<float> x, ReadOnlySpan<int> rowSource,
        ReadOnlySpan<float> rowWeights, Span<float> output, Span<double> rowSums, int columns, int start, int end)
    {
        switch (operation)
        {
            case ContinuousBernoulliOperation.LogProb:
                for (int r = start; r < end; r++)
                {
                    ReadOnlySpan<float> a = logits.Slice(r * columns, columns);
                    ReadOnlySpan<float> v = x.Slice((rowSource.IsEmpty ? r : rowSource[r]) * columns, columns);
                    double sum = 0;
                    for (int c = 0; c < columns; c++) sum += (double)v[c] * a[c] - ContinuousBernoulliLogNormalizer(a[c]);
                    rowSums[r] += sum;
                }
                break;
            case ContinuousBernoulliOperation.Gradient:
                for (int r = start; r < end; r++)
                {
                    double w = rowWeights[r];
                    for (int i = r * columns, stop = i + columns; i < stop; i++)
                        output[i] = (float)(w * (x[i] - ContinuousBernoulliMean(logits[i])));
                }
                break;
            case ContinuousBernoulliOperation.Sample:
                for (int i = start; i < end; i++) output[i] = (float)ContinuousBernoulliQuantile(logits[i], x[i]);
                break;
            case ContinuousBernoulliOperation.Mean:
                for (int i = start; i < end; i++) output[i] = (float)ContinuousBernoulliMean(logits[i]);
                break;
            case ContinuousBernoulliOperation.Curvature:
                for (int i = start; i < end; i++) output[i] = (float)ContinuousBernoulliVariance(logits[i]);
                break;
        }
    }
}
