using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

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

    // Each kernel below runs a 16-lane loop where AVX-512 is there (VectorMath) and finishes, or runs
    // entirely elsewhere, with the scalar loop that states its meaning.
    private static bool Wide => Vector512.IsHardwareAccelerated;
    private const int W = 16;

    /// <summary>rowSums[r] += Σ_c x[r,c] · a[r,c] − softplus(a[r,c]): ln Bernoulli(x | sigmoid(a)).</summary>
    public static void AccumulateBernoulliLogProb(ReadOnlySpan<float> logits, ReadOnlySpan<float> x, int rows, int columns, Span<double> rowSums)
    {
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<float> a = logits.Slice(r * columns, columns);
            ReadOnlySpan<float> v = x.Slice(r * columns, columns);
            int c = 0;
            double sum = 0;
            if (Wide && columns >= W)
            {
                // Each float term is added in double, as the scalar loop does: rows mix terms of ±1e4 and ~1e-3.
                Vector512<double> lo = Vector512<double>.Zero, hi = Vector512<double>.Zero;
                for (; c <= columns - W; c += W)
                {
                    Vector512<float> av = VectorMath.Load(a, c);
                    Vector512<float> term = VectorMath.Load(v, c) * av - VectorMath.Softplus(av);
                    lo += Vector512.WidenLower(term);
                    hi += Vector512.WidenUpper(term);
                }
                sum = Vector512.Sum(lo + hi);
            }
            for (; c < columns; c++)
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
            int o = r * columns, end = o + columns, i = o;
            if (Wide)
            {
                var wv = Vector512.Create(w);
                for (; i <= end - W; i += W)
                    VectorMath.Store(wv * (VectorMath.Load(x, i) - VectorMath.Sigmoid(VectorMath.Load(logits, i))), gradient, i);
            }
            for (; i < end; i++)
                gradient[i] = w * (x[i] - Sigmoid(logits[i]));
        }
    }

    /// <summary>y = 1 where u &lt; sigmoid(a), else 0.</summary>
    public static void SampleBernoulli(ReadOnlySpan<float> logits, ReadOnlySpan<float> uniforms, Span<float> y)
    {
        int n = y.Length, i = 0;
        if (Wide)
        {
            for (; i <= n - W; i += W)
            {
                Vector512<float> hit = Vector512.LessThan(VectorMath.Load(uniforms, i), VectorMath.Sigmoid(VectorMath.Load(logits, i)));
                VectorMath.Store(hit & Vector512<float>.One, y, i);
            }
        }
        for (; i < n; i++)
            y[i] = uniforms[i] < Sigmoid(logits[i]) ? 1f : 0f;
    }

    /// <summary>y = sigmoid(x).</summary>
    public static void Sigmoid(ReadOnlySpan<float> x, Span<float> y)
    {
        int n = x.Length, i = 0;
        if (Wide)
            for (; i <= n - W; i += W)
                VectorMath.Store(VectorMath.Sigmoid(VectorMath.Load(x, i)), y, i);
        for (; i < n; i++) y[i] = Sigmoid(x[i]);
    }

    /// <summary>κ = sigmoid(a) (1 − sigmoid(a)): the curvature of −ln Bernoulli(y | sigmoid(a)) in a.</summary>
    public static void BernoulliCurvature(ReadOnlySpan<float> logits, Span<float> kappa)
    {
        int n = kappa.Length, i = 0;
        if (Wide)
        {
            for (; i <= n - W; i += W)
            {
                Vector512<float> s = VectorMath.Sigmoid(VectorMath.Load(logits, i));
                VectorMath.Store(s * (Vector512<float>.One - s), kappa, i);
            }
        }
        for (; i < n; i++)
        {
            float s = Sigmoid(logits[i]);
            kappa[i] = s * (1f - s);
        }
    }

    /// <summary>y[r,c] += sign · w[r] · x[r,c].</summary>
    public static void AddRowScaled(ReadOnlySpan<float> x, ReadOnlySpan<float> rowWeights, float sign, int rows, int columns, Span<float> y)
    {
        for (int r = 0; r < rows; r++)
        {
            float w = sign * rowWeights[r];
            int o = r * columns, end = o + columns, i = o;
            if (Wide)
            {
                var wv = Vector512.Create(w);
                for (; i <= end - W; i += W)
                    VectorMath.Store(VectorMath.Load(y, i) + wv * VectorMath.Load(x, i), y, i);
            }
            for (; i < end; i++) y[i] += w * x[i];
        }
    }

    /// <summary>rowSums[r] += −½ (Σ_c (y − m)² e^{−s} + s + ln 2π): ln N(y; m, e^s) per row.</summary>
    public static void AccumulateGaussianLogProb(ReadOnlySpan<float> y, ReadOnlySpan<float> mean, ReadOnlySpan<float> logVar, int rows, int columns, Span<double> rowSums)
    {
        for (int r = 0; r < rows; r++)
        {
            int o = r * columns, end = o + columns, i = o;
            double sum = 0;
            if (Wide && columns >= W)
            {
                Vector512<double> lo = Vector512<double>.Zero, hi = Vector512<double>.Zero;
                for (; i <= end - W; i += W)
                {
                    Vector512<float> d = VectorMath.Load(y, i) - VectorMath.Load(mean, i);
                    Vector512<float> s = VectorMath.Load(logVar, i);
                    Vector512<float> term = d * d * VectorMath.Exp(-s) + s;
                    lo += Vector512.WidenLower(term);
                    hi += Vector512.WidenUpper(term);
                }
                sum = Vector512.Sum(lo + hi);
            }
            for (; i < end; i++)
            {
                float d = y[i] - mean[i];
                float s = logVar[i];
                sum += d * d * MathF.Exp(-s) + s;
            }
            rowSums[r] += -0.5 * (sum + columns * LogTwoPi);
        }
    }

    /// <summary>
    /// With d = y − m and precision p = e^{−s}: dMean = w d p, dLogVar = w ½ (d² p − 1), and, when
    /// <paramref name="outputGradient"/> is not empty, outputGradient −= w d p.
    /// </summary>
    public static void GaussianLogProbGradient(ReadOnlySpan<float> y, ReadOnlySpan<float> mean, ReadOnlySpan<float> logVar, int rows, int columns,
        ReadOnlySpan<float> rowWeights, Span<float> dMean, Span<float> dLogVar, Span<float> outputGradient)
    {
        bool output = !outputGradient.IsEmpty;
        for (int r = 0; r < rows; r++)
        {
            float w = rowWeights[r];
            int o = r * columns, end = o + columns, i = o;
            if (Wide)
            {
                var wv = Vector512.Create(w);
                var half = Vector512.Create(0.5f);
                for (; i <= end - W; i += W)
                {
                    Vector512<float> d = VectorMath.Load(y, i) - VectorMath.Load(mean, i);
                    Vector512<float> precision = VectorMath.Exp(-VectorMath.Load(logVar, i));
                    Vector512<float> gm = wv * d * precision;
                    VectorMath.Store(gm, dMean, i);
                    VectorMath.Store(wv * half * (d * d * precision - Vector512<float>.One), dLogVar, i);
                    if (output) VectorMath.Store(VectorMath.Load(outputGradient, i) - gm, outputGradient, i);
                }
            }
            for (; i < end; i++)
            {
                float d = y[i] - mean[i];
                float precision = MathF.Exp(-logVar[i]);
                dMean[i] = w * d * precision;
                dLogVar[i] = w * 0.5f * (d * d * precision - 1f);
                if (output) outputGradient[i] -= w * d * precision;
            }
        }
    }

    /// <summary>y = m + e^{s/2} ε.</summary>
    public static void Reparameterize(ReadOnlySpan<float> mean, ReadOnlySpan<float> logVar, ReadOnlySpan<float> noise, Span<float> y)
    {
        int n = y.Length, i = 0;
        if (Wide)
        {
            var half = Vector512.Create(0.5f);
            for (; i <= n - W; i += W)
                VectorMath.Store(VectorMath.Load(mean, i) + VectorMath.Exp(half * VectorMath.Load(logVar, i)) * VectorMath.Load(noise, i), y, i);
        }
        for (; i < n; i++)
            y[i] = mean[i] + MathF.Exp(0.5f * logVar[i]) * noise[i];
    }

    /// <summary>g ·= 1 − m²: through m = tanh(u), given m.</summary>
    public static void MultiplyByTanhDerivative(ReadOnlySpan<float> m, Span<float> g)
    {
        int n = g.Length, i = 0;
        if (Wide)
        {
            for (; i <= n - W; i += W)
            {
                Vector512<float> mv = VectorMath.Load(m, i);
                VectorMath.Store(VectorMath.Load(g, i) * (Vector512<float>.One - mv * mv), g, i);
            }
        }
        for (; i < n; i++) g[i] *= 1f - m[i] * m[i];
    }

    /// <summary>
    /// The curvature of −ln N(y; f(u), e^s) in u: e^{−s} for the identity, and for m = tanh(u)
    /// [m'² + 2 m m' (y − m)] e^{−s} with m' = 1 − m².
    /// </summary>
    public static void GaussianCurvature(ReadOnlySpan<float> y, ReadOnlySpan<float> mean, ReadOnlySpan<float> logVar, bool tanh, Span<float> kappa)
    {
        int n = kappa.Length, i = 0;
        if (Wide)
        {
            for (; i <= n - W; i += W)
            {
                Vector512<float> precision = VectorMath.Exp(-VectorMath.Load(logVar, i));
                if (tanh)
                {
                    Vector512<float> m = VectorMath.Load(mean, i);
                    Vector512<float> dm = Vector512<float>.One - m * m;
                    precision *= dm * dm + Vector512.Create(2f) * m * dm * (VectorMath.Load(y, i) - m);
                }
                VectorMath.Store(precision, kappa, i);
            }
        }
        for (; i < n; i++)
        {
            float precision = MathF.Exp(-logVar[i]);
            if (tanh)
            {
                float m = mean[i], dm = 1f - m * m;
                kappa[i] = (dm * dm + 2f * m * dm * (y[i] - m)) * precision;
            }
            else
            {
                kappa[i] = precision;
            }
        }
    }

    /// <summary>y += e^{−s}.</summary>
    public static void AddExpNegative(ReadOnlySpan<float> logVar, Span<float> y)
    {
        int n = y.Length, i = 0;
        if (Wide)
            for (; i <= n - W; i += W)
                VectorMath.Store(VectorMath.Load(y, i) + VectorMath.Exp(-VectorMath.Load(logVar, i)), y, i);
        for (; i < n; i++) y[i] += MathF.Exp(-logVar[i]);
    }

    /// <summary>rowSums[r] += −½ (Σ_c y[r,c]² + columns · ln 2π): ln N(y; 0, I) per row.</summary>
    public static void AccumulateStandardNormalLogProb(ReadOnlySpan<float> y, int rows, int columns, Span<double> rowSums)
    {
        for (int r = 0; r < rows; r++)
        {
            int o = r * columns, end = o + columns, i = o;
            double sum = 0;
            if (Wide && columns >= W)
            {
                Vector512<double> lo = Vector512<double>.Zero, hi = Vector512<double>.Zero;
                for (; i <= end - W; i += W)
                {
                    Vector512<float> v = VectorMath.Load(y, i);
                    Vector512<float> sq = v * v;
                    lo += Vector512.WidenLower(sq);
                    hi += Vector512.WidenUpper(sq);
                }
                sum = Vector512.Sum(lo + hi);
            }
            for (; i < end; i++) sum += y[i] * y[i];
            rowSums[r] += -0.5 * (sum + columns * LogTwoPi);
        }
    }

    /// <summary>
    /// Stochastic back-propagation through h = μ + σ ε, σ = e^{s/2}, for one Gaussian layer: with
    /// g = local + rest, dMean = g and dLogVar = ½ σ ε g' − ½ / B, g' = g (path-wise) or rest (Price,
    /// which adds ½ σ² hessian / B).
    /// </summary>
    public static void StochasticBackpropagationStatistics(ReadOnlySpan<float> local, ReadOnlySpan<float> rest, ReadOnlySpan<float> hessian,
        ReadOnlySpan<float> noise, ReadOnlySpan<float> logVar, float invRows, bool price, Span<float> dMean, Span<float> dLogVar)
    {
        int n = dMean.Length, i = 0;
        if (Wide)
        {
            var half = Vector512.Create(0.5f);
            var entropy = Vector512.Create(0.5f * invRows);
            var priceScale = Vector512.Create(invRows);
            for (; i <= n - W; i += W)
            {
                Vector512<float> rv = VectorMath.Load(rest, i);
                Vector512<float> g = VectorMath.Load(local, i) + rv;
                Vector512<float> sigma = VectorMath.Exp(half * VectorMath.Load(logVar, i));
                VectorMath.Store(g, dMean, i);
                Vector512<float> dl = half * sigma * VectorMath.Load(noise, i) * (price ? rv : g) - entropy;
                if (price) dl += half * sigma * sigma * VectorMath.Load(hessian, i) * priceScale;
                VectorMath.Store(dl, dLogVar, i);
            }
        }
        for (; i < n; i++)
        {
            float g = local[i] + rest[i];
            float sigma = MathF.Exp(0.5f * logVar[i]);
            dMean[i] = g;
            dLogVar[i] = 0.5f * sigma * noise[i] * (price ? rest[i] : g) - 0.5f * invRows;
            if (price) dLogVar[i] += 0.5f * sigma * sigma * hessian[i] * invRows;
        }
    }

    /// <summary>One Adam step: m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², x ← x − η̂ m / (√v + ε̂).</summary>
    public static void AdamUpdate(Span<float> x, ReadOnlySpan<float> g, Span<float> m, Span<float> v,
        float beta1, float beta2, float stepSize, float epsilonHat)
    {
        int n = x.Length, i = 0;
        float a1 = 1f - beta1, a2 = 1f - beta2;
        if (Wide)
        {
            Vector512<float> b1 = Vector512.Create(beta1), b2 = Vector512.Create(beta2), c1 = Vector512.Create(a1), c2 = Vector512.Create(a2);
            Vector512<float> step = Vector512.Create(stepSize), eps = Vector512.Create(epsilonHat);
            for (; i <= n - W; i += W)
            {
                Vector512<float> gv = VectorMath.Load(g, i);
                Vector512<float> mv = b1 * VectorMath.Load(m, i) + c1 * gv;
                Vector512<float> vv = b2 * VectorMath.Load(v, i) + c2 * gv * gv;
                VectorMath.Store(mv, m, i);
                VectorMath.Store(vv, v, i);
                VectorMath.Store(VectorMath.Load(x, i) - step * mv / (Vector512.Sqrt(vv) + eps), x, i);
            }
        }
        for (; i < n; i++)
        {
            m[i] = beta1 * m[i] + a1 * g[i];
            v[i] = beta2 * v[i] + a2 * g[i] * g[i];
            x[i] -= stepSize * m[i] / (MathF.Sqrt(v[i]) + epsilonHat);
        }
    }

    /// <summary>One heavy-ball step: v ← μ v − η g; x ← x + v.</summary>
    public static void MomentumUpdate(Span<float> x, ReadOnlySpan<float> g, Span<float> velocity, float momentum, float learningRate)
    {
        int n = x.Length, i = 0;
        if (Wide)
        {
            Vector512<float> mu = Vector512.Create(momentum), eta = Vector512.Create(learningRate);
            for (; i <= n - W; i += W)
            {
                Vector512<float> vv = mu * VectorMath.Load(velocity, i) - eta * VectorMath.Load(g, i);
                VectorMath.Store(vv, velocity, i);
                VectorMath.Store(VectorMath.Load(x, i) + vv, x, i);
            }
        }
        for (; i < n; i++)
        {
            velocity[i] = momentum * velocity[i] - learningRate * g[i];
            x[i] += velocity[i];
        }
    }

    /// <summary>Whether every element is finite (neither NaN nor ±∞).</summary>
    public static bool AllFinite(ReadOnlySpan<float> x)
    {
        int n = x.Length, i = 0;
        if (Wide)
        {
            // v · 0 is 0 for finite v and NaN for NaN or ±∞, and NaN survives the sum.
            Vector512<float> acc = Vector512<float>.Zero;
            for (; i <= n - W; i += W) acc += VectorMath.Load(x, i) * Vector512<float>.Zero;
            if (!Vector512.EqualsAll(acc, Vector512<float>.Zero)) return false;
        }
        for (; i < n; i++)
            if (!float.IsFinite(x[i])) return false;
        return true;
    }

    /// <summary>True when every value is exactly 0 or 1 (NaN is neither).</summary>
    public static bool AllBinary(ReadOnlySpan<float> x)
    {
        int n = x.Length, i = 0;
        if (Wide)
        {
            for (; i <= n - W; i += W)
            {
                Vector512<float> v = VectorMath.Load(x, i);
                if (!Vector512.EqualsAll(Vector512.Equals(v, Vector512<float>.Zero) | Vector512.Equals(v, Vector512<float>.One), Vector512<float>.AllBitsSet))
                    return false;
            }
        }
        for (; i < n; i++)
            if (x[i] != 0f && x[i] != 1f) return false;
        return true;
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
