using System.Numerics.Tensors;

namespace Microsoft.ML.Helmholtz.Numerics;

/// <summary>
/// Element-wise kernels and reductions over row-major batches. Each one is a plain loop or a
/// TensorPrimitives call; none allocates.
/// </summary>
public static class Kernels
{
    public const double LogTwoPi = 1.8378770664093453;

    /// <summary>Copies <paramref name="row"/> into each of the <paramref name="rows"/> rows of <paramref name="destination"/>.</summary>
    public static void BroadcastRows(ReadOnlySpan<float> row, Span<float> destination, int rows, int columns)
    {
        for (int r = 0; r < rows; r++)
            row[..columns].CopyTo(destination.Slice(r * columns, columns));
    }

    /// <summary>accumulator[c] += Σ_r m[r, c].</summary>
    public static void AddColumnSums(ReadOnlySpan<float> m, int rows, int columns, Span<float> accumulator)
    {
        Span<float> acc = accumulator[..columns];
        for (int r = 0; r < rows; r++)
            TensorPrimitives.Add(acc, m.Slice(r * columns, columns), acc);
    }

    public static void Square(ReadOnlySpan<float> x, Span<float> y) => TensorPrimitives.Multiply(x, x, y);

    /// <summary>ln(1 + e^x) without overflow.</summary>
    public static float Softplus(float x) => MathF.Max(x, 0f) + MathF.Log(1f + MathF.Exp(-MathF.Abs(x)));

    public static float Sigmoid(float x) => 1f / (1f + MathF.Exp(-x));

    /// <summary>rowSums[r] += Σ_c x[r,c] · a[r,c] − softplus(a[r,c]): ln Bernoulli(x | sigmoid(a)).</summary>
    public static void AccumulateBernoulliLogProb(ReadOnlySpan<float> logits, ReadOnlySpan<float> x, int rows, int columns, Span<double> rowSums)
    {
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<float> a = logits.Slice(r * columns, columns);
            ReadOnlySpan<float> v = x.Slice(r * columns, columns);
            double sum = 0;
            for (int c = 0; c < columns; c++)
                sum += v[c] * a[c] - Softplus(a[c]);
            rowSums[r] += sum;
        }
    }

    /// <summary>dLogits[r,c] = w[r] · (x[r,c] − sigmoid(a[r,c])): the weighted gradient of ln Bernoulli(x | sigmoid(a)).</summary>
    public static void BernoulliLogProbGradient(ReadOnlySpan<float> logits, ReadOnlySpan<float> x, int rows, int columns, ReadOnlySpan<float> rowWeights, Span<float> gradient)
    {
        for (int r = 0; r < rows; r++)
        {
            float w = rowWeights[r];
            int o = r * columns;
            for (int c = 0; c < columns; c++)
                gradient[o + c] = w * (x[o + c] - Sigmoid(logits[o + c]));
        }
    }

    /// <summary>y = 1 where u &lt; sigmoid(a), else 0.</summary>
    public static void SampleBernoulli(ReadOnlySpan<float> logits, ReadOnlySpan<float> uniforms, Span<float> y)
    {
        for (int i = 0; i < y.Length; i++)
            y[i] = uniforms[i] < Sigmoid(logits[i]) ? 1f : 0f;
    }

    /// <summary>ln Σ exp(x_i), stably.</summary>
    public static double LogSumExp(ReadOnlySpan<double> x)
    {
        double max = double.NegativeInfinity;
        foreach (double v in x) if (v > max) max = v;
        if (double.IsNegativeInfinity(max) || double.IsNaN(max)) return max;
        double sum = 0;
        foreach (double v in x) sum += Math.Exp(v - max);
        return max + Math.Log(sum);
    }
}
