using System.Diagnostics;
using Microsoft.ML.Helmholtz.Numerics;

namespace Helmholtz.Benchmarks;

/// <summary>
/// Median ns per element of each element-wise kernel, the scalar loop it replaced ("before", kept
/// here verbatim) against the Kernels method ("after"), in the same process, both on one thread
/// (the worker pool's splitting is measured by the model mode, not here).
/// </summary>
internal static class KernelBenchmark
{
    public static void Run(string[] args)
    {
        int repeats = (int)CommandLine.Count(args, "REPEATS", 31);
        CommandLine.OptionsRead();
        using var inline = WorkerPool.InlineScope();
        const int rows = 100, cols = 784, n = rows * cols;
        var rng = new Random(1);
        float[] F(double lo, double hi) => Enumerable.Range(0, n).Select(_ => (float)(lo + (hi - lo) * rng.NextDouble())).ToArray();
        float[] a = F(-8, 8), x = F(0, 1).Select(v => v < 0.5f ? 0f : 1f).ToArray(), u = F(0, 1), s = F(-3, 3), m = F(-1, 1), e = F(-2, 2);
        float[] w = F(-1, 1)[..rows], y = new float[n], y2 = new float[n], acc = new float[n], g = F(-1, 1), mm = new float[n], vv = new float[n];
        double[] sums = new double[rows];

        Console.WriteLine($"Vector512 accelerated: {System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated}");
        Console.WriteLine($"{"kernel",-28} {"before ns/el",12} {"after ns/el",12} {"speedup",8}   (n = {n}, median of {repeats})");
        void Row(string name, Action before, Action after)
        {
            double b = Median(before, repeats) / n, f = Median(after, repeats) / n;
            Console.WriteLine($"{name,-28} {b,12:F3} {f,12:F3} {b / f,7:F1}x");
        }

        Row("BernoulliLogProb", () => Scalar.BernoulliLogProb(a, x, rows, cols, sums), () => Kernels.AccumulateBernoulliLogProb(a, x, rows, cols, sums));
        // Soft targets (bouncing balls' "bs" units): "before" is the same scalar loop on values in [0, 1].
        float[] soft = F(0, 1);
        Row("SoftBernoulliLogProb", () => Scalar.BernoulliLogProb(a, soft, rows, cols, sums), () => Kernels.AccumulateSoftBernoulliLogProb(a, soft, rows, default, rows, cols, sums));
        Row("BernoulliLogProbGradient", () => Scalar.BernoulliGradient(a, x, rows, cols, w, y), () => Kernels.BernoulliLogProbGradient(a, x, rows, cols, w, y));
        // A binary layer in training: the log-probability keeps e^{−|a|} ("after", against not keeping it), and the
        // gradient over the same logits reads it ("after", against forming it).
        float[] kept = new float[n];
        Row("  keeping e^-|a|", () => Kernels.AccumulateBernoulliLogProb(a, x, rows, default, rows, cols, sums), () => Kernels.AccumulateBernoulliLogProb(a, x, rows, default, rows, cols, sums, kept));
        Row("  gradient reading it", () => Kernels.BernoulliLogProbGradient(a, x, rows, cols, w, y), () => Kernels.BernoulliLogProbGradient(a, x, rows, cols, w, y, kept));
        Row("SampleBernoulli", () => Scalar.SampleBernoulli(a, u, y), () => Kernels.SampleBernoulli(a, u, y));
        Row("Sigmoid (was TensorPrimitives)", () => System.Numerics.Tensors.TensorPrimitives.Sigmoid(a, y), () => Kernels.Sigmoid(a, y));
        Row("BernoulliCurvature", () => Scalar.BernoulliCurvature(a, y), () => Kernels.BernoulliCurvature(a, y));
        Row("AddRowScaled", () => Scalar.AddRowScaled(a, w, rows, cols, acc), () => Kernels.AddRowScaled(a, w, 1f, rows, cols, acc));
        Row("GaussianLogProb", () => Scalar.GaussianLogProb(e, m, s, rows, cols, sums), () => Kernels.AccumulateGaussianLogProb(e, m, s, rows, cols, sums));
        Row("GaussianLogProbGradient", () => Scalar.GaussianGradient(e, m, s, rows, cols, w, y, y2, acc), () => Kernels.GaussianLogProbGradient(e, m, s, rows, cols, w, y, y2, acc));
        Row("Reparameterize", () => Scalar.Reparameterize(m, s, e, y), () => Kernels.Reparameterize(m, s, e, y));
        // The K samples of one example: "before" reads per-row statistics, "after" one row's, by row source (scoring's bottom layer).
        float[] sigma = new float[cols];
        int[] sameRow = new int[rows];
        Row("  shared by all rows", () => Kernels.Reparameterize(m, s, e, y), () => Kernels.ReparameterizeShared(m, s, 1, sameRow, e, rows, cols, sigma, y));
        Row("GaussianCurvature (tanh)", () => Scalar.GaussianCurvature(e, m, s, y), () => Kernels.GaussianCurvature(e, m, s, true, y));
        Row("AddExpNegative", () => Scalar.AddExpNegative(s, acc), () => Kernels.AddExpNegative(s, acc));
        // In place, so y shrinks by 1 − m² each call: means near 0 keep it far from denormals (which
        // would be timed instead of the kernel); the cost does not depend on the values.
        float[] small = F(-1e-3, 1e-3), g2 = F(-1, 1);
        Row("MultiplyByTanhDerivative", () => Scalar.TanhDerivative(small, g2), () => Kernels.MultiplyByTanhDerivative(small, g2));
        Row("StandardNormalLogProb", () => Scalar.StandardNormalLogProb(e, rows, cols, sums), () => Kernels.AccumulateStandardNormalLogProb(e, rows, cols, sums));
        float[] equalWeights = Enumerable.Repeat(0.01f, rows).ToArray();
        Row("SBP statistics (path-wise)", () => Scalar.Sbp(a, e, u, m, s, 0.01f, y, y2), () => Kernels.ReparameterizedGaussianGradient(a, e, default, m, s, equalWeights, rows, cols, y, y2));
        Row("Adam", () => Scalar.Adam(acc, g, mm, vv, 0.9f, 0.999f, 1e-3f, 1e-8f), () => Kernels.AdamUpdate(acc, g, mm, vv, 0.9f, 0.999f, 1e-3f, 1e-8f));
        Row("SgdMomentum", () => Scalar.Momentum(acc, g, vv, 0.9f, 1e-3f), () => Kernels.MomentumUpdate(acc, g, vv, 0.9f, 1e-3f));
        Row("AllFinite (CheckFinite)", () => Scalar.AllFinite(g), () => Kernels.AllFinite(g));
        var stream = new RandomStream(3);
        float[] r1 = F(1e-6, 1), t1 = F(-Math.PI, Math.PI), half1 = new float[n / 2], half2 = new float[n / 2];
        // "before": the Box–Muller transcendentals through TensorPrimitives on pre-drawn uniforms
        // (what FillNormal did); "after": the whole FillNormal, bit generation included.
        Row("FillNormal (Box–Muller)", () =>
        {
            var r = r1.AsSpan(0, n / 2);
            System.Numerics.Tensors.TensorPrimitives.Log(r, half1);
            System.Numerics.Tensors.TensorPrimitives.Multiply(half1, -2f, half1);
            System.Numerics.Tensors.TensorPrimitives.Sqrt(half1, half1);
            System.Numerics.Tensors.TensorPrimitives.Sin(t1.AsSpan(0, n / 2), half2);
            System.Numerics.Tensors.TensorPrimitives.Cos(t1.AsSpan(0, n / 2), y.AsSpan(0, n / 2));
            System.Numerics.Tensors.TensorPrimitives.Multiply(half1, half2, y2.AsSpan(0, n / 2));
            System.Numerics.Tensors.TensorPrimitives.Multiply(half1, y.AsSpan(0, n / 2), y2.AsSpan(n / 2, n / 2));
        }, () => stream.FillNormal(y));
        Row("Tanh (was TensorPrimitives)", () => System.Numerics.Tensors.TensorPrimitives.Tanh(m, y), () => Kernels.Tanh(m, y));
    }

    private static double Median(Action f, int repeats)
    {
        JitWarmup.Run(f);
        var t = new double[repeats];
        for (int i = 0; i < repeats; i++)
        {
            long start = Stopwatch.GetTimestamp();
            f();
            t[i] = Stopwatch.GetElapsedTime(start).TotalNanoseconds;
        }
        return Statistics.Median(t);
    }

    /// <summary>The loops as they were before vectorisation.</summary>
    private static class Scalar
    {
        private static float Softplus(float x) => MathF.Max(x, 0f) + MathF.Log(1f + MathF.Exp(-MathF.Abs(x)));
        private static float Sigmoid(float x) => 1f / (1f + MathF.Exp(-x));

        public static void BernoulliLogProb(float[] logits, float[] x, int rows, int columns, double[] rowSums)
        {
            for (int r = 0; r < rows; r++)
            {
                double sum = 0;
                for (int c = r * columns; c < (r + 1) * columns; c++) sum += x[c] * logits[c] - Softplus(logits[c]);
                rowSums[r] += sum;
            }
        }

        public static void BernoulliGradient(float[] logits, float[] x, int rows, int columns, float[] w, float[] g)
        {
            for (int r = 0; r < rows; r++)
                for (int i = r * columns; i < (r + 1) * columns; i++) g[i] = w[r] * (x[i] - Sigmoid(logits[i]));
        }

        public static void SampleBernoulli(float[] logits, float[] u, float[] y)
        {
            for (int i = 0; i < y.Length; i++) y[i] = u[i] < Sigmoid(logits[i]) ? 1f : 0f;
        }

        public static void BernoulliCurvature(float[] logits, float[] k)
        {
            for (int i = 0; i < k.Length; i++) { float s = Sigmoid(logits[i]); k[i] = s * (1f - s); }
        }

        public static void AddRowScaled(float[] x, float[] w, int rows, int columns, float[] y)
        {
            for (int r = 0; r < rows; r++)
                for (int i = r * columns; i < (r + 1) * columns; i++) y[i] += w[r] * x[i];
        }

        public static void GaussianLogProb(float[] y, float[] mean, float[] s, int rows, int columns, double[] rowSums)
        {
            for (int r = 0; r < rows; r++)
            {
                double sum = 0;
                for (int i = r * columns; i < (r + 1) * columns; i++) { float d = y[i] - mean[i]; sum += d * d * MathF.Exp(-s[i]) + s[i]; }
                rowSums[r] += -0.5 * (sum + columns * Kernels.LogTwoPi);
            }
        }

        public static void GaussianGradient(float[] y, float[] mean, float[] s, int rows, int columns, float[] w, float[] dm, float[] ds, float[] og)
        {
            for (int r = 0; r < rows; r++)
                for (int i = r * columns; i < (r + 1) * columns; i++)
                {
                    float d = y[i] - mean[i], p = MathF.Exp(-s[i]);
                    dm[i] = w[r] * d * p;
                    ds[i] = w[r] * 0.5f * (d * d * p - 1f);
                    og[i] -= w[r] * d * p;
                }
        }

        public static void Reparameterize(float[] m, float[] s, float[] e, float[] y)
        {
            for (int i = 0; i < y.Length; i++) y[i] = m[i] + MathF.Exp(0.5f * s[i]) * e[i];
        }

        public static void GaussianCurvature(float[] y, float[] mean, float[] s, float[] k)
        {
            for (int i = 0; i < k.Length; i++)
            {
                float p = MathF.Exp(-s[i]), m = mean[i], dm = 1f - m * m;
                k[i] = (dm * dm + 2f * m * dm * (y[i] - m)) * p;
            }
        }

        public static void AddExpNegative(float[] s, float[] y)
        {
            for (int i = 0; i < y.Length; i++) y[i] += MathF.Exp(-s[i]);
        }

        public static void TanhDerivative(float[] m, float[] g)
        {
            for (int i = 0; i < g.Length; i++) g[i] *= 1f - m[i] * m[i];
        }

        public static void StandardNormalLogProb(float[] y, int rows, int columns, double[] rowSums)
        {
            for (int r = 0; r < rows; r++)
            {
                double sum = 0;
                foreach (float v in y.AsSpan(r * columns, columns)) sum += v * v;
                rowSums[r] += -0.5 * (sum + columns * Kernels.LogTwoPi);
            }
        }

        public static void Sbp(float[] local, float[] rest, float[] hessian, float[] eps, float[] s, float invRows, float[] dMean, float[] dLogVar)
        {
            for (int i = 0; i < dMean.Length; i++)
            {
                float g = local[i] + rest[i];
                float sigma = MathF.Exp(0.5f * s[i]);
                dMean[i] = g;
                dLogVar[i] = 0.5f * sigma * eps[i] * g - 0.5f * invRows;
            }
        }

        public static void Adam(float[] x, float[] g, float[] m, float[] v, float b1, float b2, float step, float eps)
        {
            for (int i = 0; i < x.Length; i++)
            {
                m[i] = b1 * m[i] + (1f - b1) * g[i];
                v[i] = b2 * v[i] + (1f - b2) * g[i] * g[i];
                x[i] -= step * m[i] / (MathF.Sqrt(v[i]) + eps);
            }
        }

        public static void Momentum(float[] x, float[] g, float[] v, float mu, float eta)
        {
            for (int i = 0; i < x.Length; i++) { v[i] = mu * v[i] - eta * g[i]; x[i] += v[i]; }
        }

        public static bool AllFinite(float[] g)
        {
            foreach (float v in g) if (!float.IsFinite(v)) return false;
            return true;
        }
    }
}
