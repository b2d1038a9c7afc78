using System.Runtime.Intrinsics;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Tests.Numerics;

/// <summary>
/// Each vectorised kernel against a plain double-precision transcription of its formula, on odd
/// lengths (vector body plus scalar tail) and inputs that include 0, ±30 and ±1e4.
/// Tolerances: the kernels work in float, so each output carries a few float roundings (2^-24 ≈
/// 6e-8 each) of the magnitudes that went into it, plus ≲ 2e-7 relative from the vector exp. We allow
/// 1e-6 × that magnitude for element-wise results, and for row sums 1e-6 × Σ|terms| (each float term
/// is rounded before it is added in double).
/// </summary>
[TestClass]
public sealed class KernelTests
{
    private const double Rel = 1e-6;

    private static float[] Inputs(int n, int seed, double spread = 5)
    {
        var rng = new Random(seed);
        float[] special = [0f, 30f, -30f, 1e4f, -1e4f, 1e-3f, -1e-3f];
        var x = new float[n];
        for (int i = 0; i < n; i++)
            x[i] = rng.Next(8) == 0 ? special[rng.Next(special.Length)] : (float)(spread * (2 * rng.NextDouble() - 1));
        return x;
    }

    private static float[] Binary(int n, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => rng.Next(2) == 0 ? 0f : 1f).ToArray();
    }

    private static float[] Uniform(int n, int seed, double lo, double hi)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(lo + (hi - lo) * rng.NextDouble())).ToArray();
    }

    private static double Softplus(double a) => Math.Max(a, 0) + Log1p(Math.Exp(-Math.Abs(a)));

    // ln(1 + t) for t ∈ [0, 1]; below 1e-4 the series (error < t⁴/4) since 1 + t would round in double too.
    private static double Log1p(double t) => t < 1e-4 ? t - t * t / 2 + t * t * t / 3 : Math.Log(1 + t);
    private static double Sigmoid(double a) => 1 / (1 + Math.Exp(-a));

    private static void Near(double expected, double actual, double scale, string what)
    {
        double tol = Rel * Math.Max(scale, 1e-30);
        Assert.IsTrue(Math.Abs(expected - actual) <= tol, $"{what}: expected {expected:R}, got {actual:R} (tolerance {tol:G3})");
    }

    // rows × columns shapes whose columns cover 1, 7, 33, 100, 257, 784 and 4100 (past the 2016 values a
    // lane-wise product of softplus factors holds before its ln is taken); the large ones
    // enough to be split over the worker pool (the tests give them a pool of their own).
    public static IEnumerable<object[]> Shapes =>
    [
        [1, 1], [3, 7], [2, 33], [4, 100], [2, 257], [3, 784], [100, 200], [37, 784], [2, 4100],
    ];

    /// <summary>A pool of three threads for this test alone, so that large kernels really split.</summary>
    private sealed class PrivatePool : IDisposable
    {
        private readonly WorkerPool _pool = new(3);
        private readonly WorkerPool.CurrentRegion _region;

        public PrivatePool() => _region = WorkerPool.Use(_pool);

        public void Dispose()
        {
            _region.Dispose();
            _pool.Dispose();
        }
    }

    [TestMethod]
    [DynamicData(nameof(Shapes))]
    public void AccumulateBernoulliLogProb_MatchesDouble(int rows, int columns)
    {
        using var pool = new PrivatePool();
        float[] a = Inputs(rows * columns, columns), x = Binary(rows * columns, columns + 1);
        double[] sums = Enumerable.Range(0, rows).Select(r => (double)r).ToArray();
        Kernels.AccumulateBernoulliLogProb(a, x, rows, columns, sums);
        for (int r = 0; r < rows; r++)
        {
            double expected = r, scale = 0;
            for (int c = r * columns; c < (r + 1) * columns; c++)
            {
                expected += x[c] * a[c] - Softplus(a[c]);
                scale += Math.Abs(x[c] * a[c]) + Softplus(a[c]);
            }
            Near(expected, sums[r], scale + 1, $"row {r}");
        }
    }

    /// <summary>
    /// The element-wise maps give a value the same bits wherever it sits in the range: the last
    /// values that do not fill a vector go through the vector code too (a row scored alone and in a
    /// batch must agree). Every prefix of 48 values against the whole.
    /// </summary>
    [TestMethod]
    public void ElementWiseMapsGiveAValueTheSameBitsAtAnyPlace()
    {
        var random = new RandomStream(5);
        float[] x = new float[48], u = new float[48], e = new float[48];
        random.FillNormal(x);
        random.FillUniform(u);
        random.FillNormal(e);
        for (int i = 0; i < 48; i++) x[i] *= 4;
        float[] Whole(Action<ReadOnlySpan<float>, Span<float>, int> map)
        {
            var y = new float[48];
            map(x, y, 48);
            return y;
        }
        var maps = new (string Name, Action<ReadOnlySpan<float>, Span<float>, int> Map)[]
        {
            ("Sigmoid", (a, y, n) => Kernels.Sigmoid(a[..n], y[..n])),
            ("Tanh", (a, y, n) => Kernels.Tanh(a[..n], y[..n])),
            ("Reparameterize", (a, y, n) => Kernels.Reparameterize(a[..n], a[..n], e.AsSpan(0, n), y[..n])),
            ("SampleBernoulli", (a, y, n) => Kernels.SampleBernoulli(a[..n], u.AsSpan(0, n), y[..n])),
        };
        foreach (var (name, map) in maps)
        {
            float[] whole = Whole(map);
            for (int n = 1; n < 48; n++)
            {
                var part = new float[48];
                map(x, part, n);
                CollectionAssert.AreEqual(whole[..n], part[..n], $"{name}: the first {n} values alone");
            }
        }
    }

    /// <summary>AllBinary on the vector path (rows of 784) and the scalar one: true for 0/1 only, wherever another value sits.</summary>
    [TestMethod]
    [DataRow(784)]
    [DataRow(10)]
    public void AllBinary_AcceptsZerosAndOnesOnly(int n)
    {
        float[] x = Enumerable.Range(0, n).Select(i => (float)(i % 3 == 0 ? 1 : 0)).ToArray();
        Assert.IsTrue(Kernels.AllBinary(x), "zeros and ones");
        foreach (int at in new[] { 0, n / 2, n - 1 })
            foreach (float bad in new[] { 0.5f, -0f + 2f, float.NaN, -1f })
            {
                float saved = x[at];
                x[at] = bad;
                Assert.IsFalse(Kernels.AllBinary(x), $"{bad} at {at}");
                x[at] = saved;
            }
    }

    // AllInUnitInterval (the data check of soft and continuous Bernoulli units) on the vector path (784) and the scalar one (10):
    // the closed interval, 0 and 1 included wherever they sit, and nothing just outside it or NaN.
    [TestMethod]
    [DataRow(784)]
    [DataRow(10)]
    public void AllInUnitInterval_AcceptsTheClosedIntervalOnly(int n)
    {
        float[] x = Enumerable.Range(0, n).Select(i => i % 3 == 0 ? 1f : i % 3 == 1 ? 0f : 0.5f).ToArray();
        x[n - 2] = -0f;
        Assert.IsTrue(Kernels.AllInUnitInterval(x), "0, 1, ½ and −0");
        foreach (int at in new[] { 0, n / 2, n - 1 })
            foreach (float bad in new[] { MathF.BitIncrement(1f), -float.Epsilon, float.NaN, float.PositiveInfinity })
            {
                float saved = x[at];
                x[at] = bad;
                Assert.IsFalse(Kernels.AllInUnitInterval(x), $"{bad} at {at}");
                x[at] = saved;
            }
    }

    /// <summary>
    /// Saturated logits: ln p(x | a = +∞) is 0 for x = 1 and −∞ for x = 0 (and the mirror for −∞),
    /// never NaN, on the 16-lane path (rows of 20) and the scalar one (rows of 3).
    /// </summary>
    [TestMethod]
    [DataRow(20)]
    [DataRow(3)]
    public void AccumulateBernoulliLogProb_HoldsAtInfiniteLogits(int columns)
    {
        float inf = float.PositiveInfinity;
        // Row 0: every unit certain and right (log-probability 0); row 1: one certain and wrong (−∞).
        float[] a = new float[2 * columns], x = new float[2 * columns];
        for (int c = 0; c < columns; c++)
        {
            bool on = c % 2 == 0;
            a[c] = on ? inf : -inf;
            x[c] = on ? 1 : 0;
            a[columns + c] = a[c];
            x[columns + c] = x[c];
        }
        x[columns + columns - 1] = 1 - x[columns + columns - 1];
        double[] sums = new double[2];
        Kernels.AccumulateBernoulliLogProb(a, x, 2, columns, sums);
        Assert.AreEqual(0.0, sums[0]);
        Assert.AreEqual(double.NegativeInfinity, sums[1]);
    }

    /// <summary>
    /// A column block of rows taken by index, and its sum back, against plain loops: on the pool (large
    /// cases split), with groups of rows that share a target running across the pieces' boundaries.
    /// </summary>
    [TestMethod]
    [DataRow(7, 3, 1)]
    [DataRow(3000, 1000, 3)]
    [DataRow(3000, 3, 1000)]
    [DataRow(3000, 1, 3000)]
    public void ColumnBlocksGatherAndScatterAddByRowIndex(int rows, int distinct, int perGroup)
    {
        using var pool = new PrivatePool();
        const int width = 29, offset = 5, size = 17;
        int[] rowSource = Enumerable.Range(0, rows).Select(r => Math.Min(distinct - 1, r / perGroup)).ToArray();
        float[] wide = Inputs(distinct * width, 41), block = new float[rows * size];
        Kernels.GatherColumnBlock(wide, width, offset, rowSource, rows, block, size);
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < size; j++)
                Assert.AreEqual(wide[rowSource[r] * width + offset + j], block[r * size + j], $"row {r}, column {j}");

        float[] gradient = Inputs(rows * size, 42, 1), summed = Inputs(distinct * width, 43, 1), expected = (float[])summed.Clone();
        Kernels.ScatterAddColumnBlock(gradient, size, rowSource, rows, summed, width, offset);
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < size; j++) expected[rowSource[r] * width + offset + j] += gradient[r * size + j];
        for (int i = 0; i < expected.Length; i++)
            Assert.AreEqual(expected[i], summed[i], 1e-4 * (1 + Math.Abs(expected[i])), $"entry {i} (columns outside the block are untouched)");

        if (rows > 1)
        {
            (rowSource[0], rowSource[^1]) = (rowSource[^1], rowSource[0]);
            if (rowSource[0] != rowSource[^1])
                Assert.ThrowsExactly<ArgumentException>(() => Kernels.ScatterAddColumnBlock(gradient, size, rowSource, rows, summed, width, offset));
        }
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Kernels.GatherColumnBlock(wide, width, 20, rowSource, rows, block, size));
    }

    [TestMethod]
    [DynamicData(nameof(Shapes))]
    public void BernoulliLogProbGradient_MatchesDouble(int rows, int columns)
    {
        using var pool = new PrivatePool();
        float[] a = Inputs(rows * columns, columns), x = Binary(rows * columns, columns + 1), w = Inputs(rows, 3, 2);
        var g = new float[rows * columns];
        Kernels.BernoulliLogProbGradient(a, x, rows, columns, w, g);
        for (int i = 0; i < g.Length; i++)
            Near(w[i / columns] * (x[i] - Sigmoid(a[i])), g[i], Math.Abs(w[i / columns]), $"element {i}");
    }

    [TestMethod]
    [DynamicData(nameof(Shapes))]
    public void BernoulliLogProbKeepsTheExpItsGradientReadsForTheSameBits(int rows, int columns)
    {
        using var pool = new PrivatePool();
        int n = rows * columns;
        float[] a = Inputs(n, columns + 5), x = Binary(n, columns + 6), w = Inputs(rows, 7, 2);
        a[0] = float.PositiveInfinity;
        if (n > 1) a[n - 1] = float.NegativeInfinity;
        double[] plain = new double[rows], keeping = new double[rows];
        float[] kept = new float[n];
        Kernels.AccumulateBernoulliLogProb(a, x, rows, default, rows, columns, plain);
        Kernels.AccumulateBernoulliLogProb(a, x, rows, default, rows, columns, keeping, kept);
        CollectionAssert.AreEqual(plain, keeping, "keeping e^{−|a|} changes no sum");
        for (int i = 0; i < n; i++) Near(Math.Exp(-Math.Abs((double)a[i])), kept[i], Math.Exp(-Math.Abs((double)a[i])), $"e^(-|a|) at {i}");

        float[] formed = new float[n], read = new float[n];
        Kernels.BernoulliLogProbGradient(a, x, rows, columns, w, formed);
        Kernels.BernoulliLogProbGradient(a, x, rows, columns, w, read, kept);
        for (int i = 0; i < n; i++)
        {
            Assert.AreEqual(BitConverter.SingleToInt32Bits(formed[i]), BitConverter.SingleToInt32Bits(read[i]), $"element {i}: {formed[i]:R} against {read[i]:R}");
            Near(w[i / columns] * (x[i] - Sigmoid(a[i])), read[i], Math.Abs(w[i / columns]), $"element {i}");
        }
    }

    [TestMethod]
    [DataRow(1), DataRow(7), DataRow(33), DataRow(100), DataRow(257), DataRow(784)]
    public void SigmoidAndCurvature_MatchDouble(int n)
    {
        float[] a = Inputs(n, n);
        float[] s = new float[n], k = new float[n];
        Kernels.Sigmoid(a, s);
        Kernels.BernoulliCurvature(a, k);
        for (int i = 0; i < n; i++)
        {
            double e = Sigmoid(a[i]);
            Near(e, s[i], e, $"sigmoid {i}");                 // relative: σ is a quotient, no cancellation
            Near(e * (1 - e), k[i], e, $"curvature {i}"); // 1 − σ in float carries an ulp of 1, whatever its size
        }
    }

    [TestMethod]
    [DataRow(1), DataRow(7), DataRow(33), DataRow(100), DataRow(257), DataRow(784)]
    public void SampleBernoulli_MatchesThreshold(int n)
    {
        using var pool = new PrivatePool();
        float[] a = Inputs(n, n), u = Uniform(n, n + 7, 0, 1);
        var y = new float[n];
        Kernels.SampleBernoulli(a, u, y);
        for (int i = 0; i < n; i++)
        {
            double p = Sigmoid(a[i]);
            if (Math.Abs(u[i] - p) < 1e-6) continue; // a float sigmoid may round either way this close
            Assert.AreEqual(u[i] < p ? 1f : 0f, y[i], $"element {i}");
        }
    }

    [TestMethod]
    public void VectorExpAndSoftplus_AccurateAndSafeAtExtremes()
    {
        // exp over the whole normal range: relative error ≤ 2e-7 (range reduction is exact to ~1e-10,
        // the series to 6e-9, and the rest is a handful of float roundings).
        double worst = 0;
        for (float x = -87f; x < 88.7f; x += 0.0137f)
        {
            float got = VectorMath.Exp(Vector512.Create(x)).GetElement(0);
            worst = Math.Max(worst, Math.Abs(got - Math.Exp(x)) / Math.Exp(x));
        }
        Assert.IsTrue(worst <= 2e-7, $"exp relative error {worst:G3}");
        Assert.AreEqual(float.PositiveInfinity, VectorMath.Exp(Vector512.Create(89f)).GetElement(0));
        Assert.AreEqual(float.PositiveInfinity, VectorMath.Exp(Vector512.Create(float.PositiveInfinity)).GetElement(0));
        Assert.AreEqual(0f, VectorMath.Exp(Vector512.Create(float.NegativeInfinity)).GetElement(0));
        Assert.IsTrue(float.IsNaN(VectorMath.Exp(Vector512.Create(float.NaN)).GetElement(0)));

        worst = 0;
        for (float a = -100f; a < 100f; a += 0.0173f)
        {
            double e = Softplus(a);
            float got = VectorMath.Softplus(Vector512.Create(a)).GetElement(0);
            // Relative, even where softplus ≈ e^a is tiny, down to where s = t/2 would reach float's denormals.
            if (e > 1e-30) worst = Math.Max(worst, Math.Abs(got - e) / e);
        }
        Assert.IsTrue(worst <= 3e-7, $"softplus relative error {worst:G3}");
        Assert.AreEqual(1e4f, VectorMath.Softplus(Vector512.Create(1e4f)).GetElement(0));
        Assert.AreEqual(0f, VectorMath.Softplus(Vector512.Create(-1e4f)).GetElement(0));
        Assert.AreEqual(float.PositiveInfinity, VectorMath.Softplus(Vector512.Create(float.PositiveInfinity)).GetElement(0));
        Assert.AreEqual(0f, VectorMath.Softplus(Vector512.Create(float.NegativeInfinity)).GetElement(0));
        Assert.AreEqual(0f, VectorMath.Sigmoid(Vector512.Create(float.NegativeInfinity)).GetElement(0));
        Assert.AreEqual(1f, VectorMath.Sigmoid(Vector512.Create(float.PositiveInfinity)).GetElement(0));
    }

    [TestMethod]
    public void VectorTanh_AccurateAndSafeAtExtremes()
    {
        // A fine sweep over both branches and their boundary at |x| = 0.625, plus tiny arguments
        // (where TensorPrimitives.Tanh's vector path is off by 6e-8 absolute), to 1e-6 relative.
        var xs = new List<float>();
        for (int i = -40000; i <= 40000; i++) xs.Add(i * 5e-4f);
        for (int e = -38; e < 0; e++) xs.AddRange([MathF.Pow(10, e), -3 * MathF.Pow(10, e)]);
        xs.AddRange([0.625f, -0.625f, 0.62500006f, 0.6249999f, 1e-40f, 44f, -44f, 88f, 1e4f, -1e4f]);
        float[] x = xs.ToArray(), y = new float[x.Length];
        Kernels.Tanh(x, y);
        for (int i = 0; i < x.Length; i++) Near(Math.Tanh(x[i]), y[i], Math.Abs(Math.Tanh(x[i])), $"tanh({x[i]:R})");
        // 16 values, so that the vector path (where there is one) takes them.
        float[] special = [float.PositiveInfinity, float.NegativeInfinity, float.NaN, 0f, -0f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        Kernels.Tanh(special, special);
        Assert.AreEqual(1f, special[0]);
        Assert.AreEqual(-1f, special[1]);
        Assert.IsTrue(float.IsNaN(special[2]));
        Assert.AreEqual(0f, special[3]);
        Assert.IsTrue(float.IsNegative(special[4]), "tanh(−0) = −0");
    }

    [TestMethod]
    [DynamicData(nameof(Shapes))]
    public void GaussianLogProbAndGradient_MatchDouble(int rows, int columns)
    {
        using var pool = new PrivatePool();
        int n = rows * columns;
        // Inputs with the extreme values, then moderate ones: a row holding ±1e4 has a tolerance far above its Σ s, so only
        // the moderate rows see a wrong sign of s.
        foreach (bool moderate in new[] { false, true })
            CheckGaussianLogProbAndGradient(rows, columns,
                moderate ? Uniform(n, columns, -2, 2) : Inputs(n, columns), moderate ? Uniform(n, columns + 1, -2, 2) : Inputs(n, columns + 1));
    }

    private static void CheckGaussianLogProbAndGradient(int rows, int columns, float[] y, float[] m)
    {
        int n = rows * columns;
        float[] s = Uniform(n, columns + 2, -6, 6), w = Inputs(rows, 5, 2);
        double[] sums = new double[rows];
        Kernels.AccumulateGaussianLogProb(y, m, s, rows, columns, sums);
        float[] dm = new float[n], ds = new float[n], og = Inputs(n, 9);
        float[] og0 = (float[])og.Clone();
        Kernels.GaussianLogProbGradient(y, m, s, rows, columns, w, dm, ds, og);
        for (int r = 0; r < rows; r++)
        {
            double expected = 0, scale = 0;
            for (int i = r * columns; i < (r + 1) * columns; i++)
            {
                double d = (double)y[i] - m[i], p = Math.Exp(-s[i]), wr = w[r];
                expected += d * d * p + s[i];
                scale += d * d * p + Math.Abs(s[i]);
                // d = y − m is rounded once in float, so errors scale with (|y| + |m|).
                double dScale = Math.Abs(y[i]) + Math.Abs(m[i]);
                Near(wr * d * p, dm[i], Math.Abs(wr) * dScale * p, $"dMean {i}");
                Near(wr * 0.5 * (d * d * p - 1), ds[i], Math.Abs(wr) * (dScale * dScale * p + 1), $"dLogVar {i}");
                Near(og0[i] - wr * d * p, og[i], Math.Abs(og0[i]) + Math.Abs(wr) * dScale * p, $"output gradient {i}");
            }
            Near(-0.5 * (expected + columns * Kernels.LogTwoPi), sums[r], scale + columns, $"row {r}");
        }
    }

    /// <summary>
    /// ln N(y; m, e^s) at y = m for s = −200, where e^{−s/2} passes float: the scale is held at float.MaxValue, so that
    /// (y − m) e^{−s/2} is 0 there and not 0 · ∞ = NaN, by the per-row kernel and by the per-unit one alike.
    /// </summary>
    [TestMethod]
    [DataRow(3)]    // the scalar loop
    [DataRow(16)]   // one vector
    [DataRow(19)]   // a vector and an overlapping tail
    public void GaussianLogProbAtTheMeanIsFiniteWhereTheInverseScalePassesFloat(int columns)
    {
        const int rows = 2;
        const float logVar = -200f;
        float[] y = Uniform(rows * columns, columns, -1, 1), s = Enumerable.Repeat(logVar, rows * columns).ToArray();
        double expected = -0.5 * columns * (logVar + Kernels.LogTwoPi);
        double[] perRow = new double[rows], perUnit = new double[rows];
        Kernels.AccumulateGaussianLogProb(y, y, s, rows, columns, perRow);
        Kernels.AccumulateGaussianLogProbPerUnitVariance(y, y, s.AsSpan(0, columns), new float[columns], rows, columns, perUnit);
        for (int r = 0; r < rows; r++)
        {
            // Every term is s exactly (−200 · 19 is exact in float): only the double sum of ln 2π rounds.
            Assert.AreEqual(expected, perRow[r], 1e-9 * Math.Abs(expected), $"per-row kernel, row {r}");
            Assert.AreEqual(expected, perUnit[r], 1e-9 * Math.Abs(expected), $"per-unit kernel, row {r}");
        }
    }

    [TestMethod]
    [DataRow(1), DataRow(7), DataRow(33), DataRow(100), DataRow(257), DataRow(784), DataRow(50001)]
    public void GaussianElementwise_MatchDouble(int n)
    {
        using var pool = new PrivatePool();
        float[] y = Inputs(n, n), m = Uniform(n, n + 1, -1, 1), s = Uniform(n, n + 2, -8, 8), eps = Inputs(n, n + 3, 3);
        float[] sample = new float[n], kappaTanh = new float[n], kappa = new float[n], acc = Inputs(n, n + 4), g = Inputs(n, n + 5);
        float[] acc0 = (float[])acc.Clone(), g0 = (float[])g.Clone();
        Kernels.Reparameterize(m, s, eps, sample);
        Kernels.GaussianCurvature(y, m, s, tanh: true, kappaTanh);
        Kernels.GaussianCurvature(y, m, s, tanh: false, kappa);
        Kernels.AddExpNegative(s, acc);
        Kernels.MultiplyByTanhDerivative(m, g);
        for (int i = 0; i < n; i++)
        {
            double sigma = Math.Exp(0.5 * s[i]), p = Math.Exp(-s[i]), mi = m[i], dm = 1 - mi * mi;
            Near(mi + sigma * eps[i], sample[i], Math.Abs(mi) + sigma * Math.Abs(eps[i]), $"sample {i}");
            // m' = 1 − m² in float carries an absolute error of an ulp of 1 (≈ 0.1 Rel), which the sum scales by 2|m||y − m|.
            Near((dm * dm + 2 * mi * dm * (y[i] - mi)) * p, kappaTanh[i], (dm * dm + 2 * Math.Abs(mi) * (Math.Abs(y[i]) + 1) * (dm + 0.1)) * p, $"tanh curvature {i}");
            Near(p, kappa[i], p, $"curvature {i}");
            Near(acc0[i] + p, acc[i], Math.Abs(acc0[i]) + p, $"exp(−s) sum {i}");
            Near(g0[i] * dm, g[i], Math.Abs(g0[i]), $"tanh derivative {i}");
        }
    }

    [TestMethod]
    [DynamicData(nameof(Shapes))]
    public void StandardNormalAndRowScaled_MatchDouble(int rows, int columns)
    {
        int n = rows * columns;
        float[] y = Inputs(n, columns), w = Inputs(rows, 11, 2), acc = Inputs(n, 12), acc0 = (float[])acc.Clone();
        double[] sums = new double[rows];
        Kernels.AccumulateStandardNormalLogProb(y, rows, columns, sums);
        Kernels.AddRowScaled(y, w, -1f, rows, columns, acc);
        for (int r = 0; r < rows; r++)
        {
            double sq = 0;
            for (int i = r * columns; i < (r + 1) * columns; i++)
            {
                sq += (double)y[i] * y[i];
                Near(acc0[i] - (double)w[r] * y[i], acc[i], Math.Abs(acc0[i]) + Math.Abs(w[r] * y[i]), $"row-scaled {i}");
            }
            Near(-0.5 * (sq + columns * Kernels.LogTwoPi), sums[r], sq + columns, $"row {r}");
        }
    }

    [TestMethod]
    [DataRow(1, 1, false), DataRow(1, 7, true), DataRow(3, 11, false), DataRow(4, 25, true), DataRow(1, 257, false), DataRow(2, 392, true), DataRow(100, 301, true), DataRow(100, 301, false)]
    public void ReparameterizedGaussianGradient_MatchDouble(int rows, int columns, bool price)
    {
        using var pool = new PrivatePool();
        int n = rows * columns;
        float[] local = Inputs(n, n), rest = Inputs(n, n + 1), hess = Uniform(n, n + 2, 0, 5), eps = Inputs(n, n + 3, 3), s = Uniform(n, n + 4, -8, 4);
        float[] weights = Uniform(rows, n + 5, 0, 0.1);   // per-row weights: rows that differ, vectors that span two rows
        float[] dMean = new float[n], dLogVar = new float[n];
        Kernels.ReparameterizedGaussianGradient(local, rest, price ? hess : default, eps, s, weights, rows, columns, dMean, dLogVar);
        for (int i = 0; i < n; i++)
        {
            double w = weights[i / columns];
            double g = (double)local[i] + rest[i], sigma = Math.Exp(0.5 * s[i]), pw = price ? rest[i] : g;
            double e = 0.5 * sigma * eps[i] * pw - 0.5 * w + (price ? 0.5 * sigma * sigma * hess[i] * w : 0);
            double gScale = price ? Math.Abs(rest[i]) : Math.Abs(local[i]) + Math.Abs(rest[i]);
            Near(g, dMean[i], Math.Abs(local[i]) + Math.Abs(rest[i]), $"dMean {i}");
            Near(e, dLogVar[i], 0.5 * sigma * Math.Abs(eps[i]) * gScale + w + sigma * sigma * hess[i] * w, $"dLogVar {i}");
        }
        // No local terms: the same as local terms of zero.
        float[] dMean0 = new float[n], dLogVar0 = new float[n];
        Kernels.ReparameterizedGaussianGradient(new float[n], rest, default, eps, s, weights, rows, columns, dMean, dLogVar);
        Kernels.ReparameterizedGaussianGradient(default, rest, default, eps, s, weights, rows, columns, dMean0, dLogVar0);
        CollectionAssert.AreEqual(dMean, dMean0);
        CollectionAssert.AreEqual(dLogVar, dLogVar0);
    }

    [TestMethod]
    [DataRow(1), DataRow(7), DataRow(33), DataRow(100), DataRow(257), DataRow(784)]
    public void Optimizers_MatchDouble(int n)
    {
        float[] x = Inputs(n, n), g = Inputs(n, n + 1), m = Inputs(n, n + 2, 1), v = Uniform(n, n + 3, 0, 10);
        float[] x0 = (float[])x.Clone(), m0 = (float[])m.Clone(), v0 = (float[])v.Clone();
        const float b1 = 0.9f, b2 = 0.999f, step = 1e-3f, eh = 1e-8f;
        Kernels.AdamUpdate(x, g, m, v, b1, b2, step, eh);
        for (int i = 0; i < n; i++)
        {
            double em = b1 * (double)m0[i] + (1 - (double)b1) * g[i];
            double ev = b2 * (double)v0[i] + (1 - (double)b2) * g[i] * g[i];
            Near(em, m[i], Math.Abs(m0[i]) + Math.Abs(g[i]), $"m {i}");
            Near(ev, v[i], v0[i] + g[i] * g[i], $"v {i}");
            // The update step / (√v + ε̂) · m is bounded by step · |m| / √v, relative error a few ulps.
            Near(x0[i] - step * em / (Math.Sqrt(ev) + eh), x[i], Math.Abs(x0[i]) + step * Math.Abs(em) / (Math.Sqrt(ev) + eh), $"x {i}");
        }

        float[] vel = Inputs(n, n + 4, 1), vel0 = (float[])vel.Clone();
        x = (float[])x0.Clone();
        Kernels.MomentumUpdate(x, g, vel, 0.9f, 0.01f);
        for (int i = 0; i < n; i++)
        {
            double ev = 0.9f * (double)vel0[i] - 0.01f * (double)g[i];
            Near(ev, vel[i], Math.Abs(vel0[i]) + 0.01 * Math.Abs(g[i]), $"velocity {i}");
            Near(x0[i] + ev, x[i], Math.Abs(x0[i]) + Math.Abs(vel0[i]) + 0.01 * Math.Abs(g[i]), $"x {i}");
        }

        // Weight decay: x ← shrink · x − step · m / (√v + ε̂); a shrink of 1 gives the bits of none.
        float[] xDecay = (float[])x0.Clone(), mDecay = (float[])m0.Clone(), vDecay = (float[])v0.Clone();
        float[] xOne = (float[])x0.Clone(), mOne = (float[])m0.Clone(), vOne = (float[])v0.Clone();
        float[] xNone = (float[])x0.Clone(), mNone = (float[])m0.Clone(), vNone = (float[])v0.Clone();
        Kernels.AdamUpdate(xDecay, g, mDecay, vDecay, b1, b2, step, eh, default, 0.75f);
        Kernels.AdamUpdate(xOne, g, mOne, vOne, b1, b2, step, eh, default, 1f);
        Kernels.AdamUpdate(xNone, g, mNone, vNone, b1, b2, step, eh);
        CollectionAssert.AreEqual(xNone, xOne);
        for (int i = 0; i < n; i++)
        {
            double em = b1 * (double)m0[i] + (1 - (double)b1) * g[i];
            double ev = b2 * (double)v0[i] + (1 - (double)b2) * g[i] * g[i];
            Near(0.75 * x0[i] - step * em / (Math.Sqrt(ev) + eh), xDecay[i], Math.Abs(x0[i]) + step * Math.Abs(em) / (Math.Sqrt(ev) + eh), $"decayed x {i}");
        }

        // Keeping the values from before the step (the trainer's undo copy) changes nothing else, bit for bit.
        float[] xAdam = (float[])x0.Clone(), mAdam = (float[])m0.Clone(), vAdam = (float[])v0.Clone(), before = new float[n];
        float[] xKept = (float[])x0.Clone(), mKept = (float[])m0.Clone(), vKept = (float[])v0.Clone();
        Kernels.AdamUpdate(xAdam, g, mAdam, vAdam, b1, b2, step, eh);
        Kernels.AdamUpdate(xKept, g, mKept, vKept, b1, b2, step, eh, before);
        CollectionAssert.AreEqual(x0, before, "Adam kept the values from before its step");
        CollectionAssert.AreEqual(xAdam, xKept);
        CollectionAssert.AreEqual(mAdam, mKept);
        CollectionAssert.AreEqual(vAdam, vKept);

        // Every lane (16, 8 or the scalar tail, whichever this machine runs) gives the bits of the float formula.
        for (int i = 0; i < n; i++)
        {
            float gi = MathF.Abs(g[i]) < 1e-16f ? 0f : g[i];
            float mi = b1 * m0[i] + (1f - b1) * gi, vi = b2 * v0[i] + (1f - b2) * gi * gi;
            if (MathF.Abs(mi) < 1e-30f) mi = 0f;
            if (MathF.Abs(vi) < 1e-30f) vi = 0f;
            Assert.AreEqual(mi, mAdam[i], $"m {i} bit for bit");
            Assert.AreEqual(vi, vAdam[i], $"v {i} bit for bit");
            Assert.AreEqual(x0[i] * 1f - step * mi / (MathF.Sqrt(vi) + eh), xAdam[i], $"x {i} bit for bit");
        }

        float[] xSgd = (float[])x0.Clone(), velSgd = (float[])vel0.Clone(), velKept = (float[])vel0.Clone();
        xKept = (float[])x0.Clone();
        Array.Clear(before);
        Kernels.MomentumUpdate(xSgd, g, velSgd, 0.9f, 0.01f);
        Kernels.MomentumUpdate(xKept, g, velKept, 0.9f, 0.01f, before);
        CollectionAssert.AreEqual(x0, before, "momentum kept the values from before its step");
        CollectionAssert.AreEqual(xSgd, xKept);
        CollectionAssert.AreEqual(velSgd, velKept);
    }

    // The 16-lane loop stores Adam's undo copy past the caches, which takes addresses on a 64-byte boundary: the elements
    // before the first such one take the scalar step (the 8-lane loop stores it as the other arrays). At every start within a
    // boundary, and shorter than the way to it, the copy is the values before the step, nothing around it is written, and the step's bits are those without a copy.
    [TestMethod]
    [DataRow(5), DataRow(100), DataRow(1000)]
    public unsafe void AdamsUndoCopyIsWholeAtEveryAlignment(int n)
    {
        float[] x0 = Inputs(n, 11), g = Inputs(n, 12), m0 = Inputs(n, 13, 1), v0 = Uniform(n, 14, 0, 10);
        float[] xAlone = (float[])x0.Clone(), mAlone = (float[])m0.Clone(), vAlone = (float[])v0.Clone();
        Kernels.AdamUpdate(xAlone, g, mAlone, vAlone, 0.9f, 0.999f, 1e-3f, 1e-8f, default, 0.75f);
        float[] buffer = new float[n + 32];
        for (int offset = 0; offset <= 16; offset++)
        {
            float[] x = (float[])x0.Clone(), m = (float[])m0.Clone(), v = (float[])v0.Clone();
            Array.Fill(buffer, -7f);
            Kernels.AdamUpdate(x, g, m, v, 0.9f, 0.999f, 1e-3f, 1e-8f, buffer.AsSpan(offset, n), 0.75f);
            CollectionAssert.AreEqual(x0, buffer[offset..(offset + n)], $"the undo copy from element {offset}");
            Assert.IsTrue(buffer[..offset].All(b => b == -7f) && buffer[(offset + n)..].All(b => b == -7f), $"written outside the copy from element {offset}");
            CollectionAssert.AreEqual(xAlone, x, $"x with the copy from element {offset}");
            CollectionAssert.AreEqual(mAlone, m, $"m with the copy from element {offset}");
            CollectionAssert.AreEqual(vAlone, v, $"v with the copy from element {offset}");
        }

        // A copy off a float's 4-byte boundary (a span over raw memory) can never reach an aligned address: it is stored as any other.
        byte* raw = (byte*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)(4 * n + 64), 64);
        try
        {
            for (int shift = 1; shift < 4; shift++)
            {
                var copy = new Span<float>(raw + shift, n);
                float[] x = (float[])x0.Clone(), m = (float[])m0.Clone(), v = (float[])v0.Clone();
                Kernels.AdamUpdate(x, g, m, v, 0.9f, 0.999f, 1e-3f, 1e-8f, copy, 0.75f);
                CollectionAssert.AreEqual(x0, copy.ToArray(), $"the undo copy {shift} bytes off a float's boundary");
                CollectionAssert.AreEqual(xAlone, x, $"x with the copy {shift} bytes off");
            }
        }
        finally
        {
            System.Runtime.InteropServices.NativeMemory.AlignedFree(raw);
        }
    }

    // A gradient under the floor but far from subnormal (10⁻¹⁷: η·g = 10⁻¹⁹ would be a velocity well above the state floor)
    // steps as a zero one, in every lane (16, 8 or the scalar tail): the state stays 0 and x does not move.
    [TestMethod]
    [DataRow(7), DataRow(37)]
    public void Optimizers_TreatAGradientUnderTheFloorAsZero(int n)
    {
        float[] g = Enumerable.Repeat(1e-17f, n).ToArray(), x = Inputs(n, n), x0 = (float[])x.Clone();
        float[] velocity = new float[n], m = new float[n], v = new float[n];
        Kernels.MomentumUpdate(x, g, velocity, 0.9f, 0.01f);
        CollectionAssert.AreEqual(new float[n], velocity, "velocity");
        Kernels.AdamUpdate(x, g, m, v, 0.9f, 0.999f, 1e-3f, 1e-8f);
        CollectionAssert.AreEqual(new float[n], m, "m");
        CollectionAssert.AreEqual(new float[n], v, "v");
        CollectionAssert.AreEqual(x0, x, "x");
    }

    // A gradient at the floor itself (10⁻¹⁶, not under it) is not cleared, in every lane (16, 8 or the scalar tail) alike:
    // η·g and (1 − β₁)·g lie far above the state floor, so the velocity and Adam's first moment take them exactly.
    [TestMethod]
    [DataRow(7), DataRow(37)]
    public void Optimizers_StepAGradientAtTheFloor(int n)
    {
        float floor = Kernels.OptimizerGradientFloor, beta1 = 0.9f;
        float[] g = Enumerable.Repeat(floor, n).ToArray(), x = Inputs(n, n);
        float[] velocity = new float[n], m = new float[n], v = new float[n];
        Kernels.MomentumUpdate(x, g, velocity, 0.9f, 0.01f);
        CollectionAssert.AreEqual(Enumerable.Repeat(-(0.01f * floor), n).ToArray(), velocity, "velocity");
        Kernels.AdamUpdate(x, g, m, v, beta1, 0.999f, 1e-3f, 1e-8f);
        CollectionAssert.AreEqual(Enumerable.Repeat((1f - beta1) * floor, n).ToArray(), m, "m");
    }

    // A state between the state floor (10⁻³⁰) and the gradient floor (10⁻¹⁶) is kept, in every lane (16, 8 or the scalar
    // tail): under a zero gradient the velocity and Adam's first moment become exactly 0.9f · 10⁻²⁰f, not 0.
    [TestMethod]
    [DataRow(7), DataRow(37)]
    public void Optimizers_KeepAStateAboveTheStateFloor(int n)
    {
        float[] x = Inputs(n, n), zero = new float[n];
        float[] velocity = Enumerable.Repeat(1e-20f, n).ToArray(), m = Enumerable.Repeat(-1e-20f, n).ToArray(), v = new float[n];
        Kernels.MomentumUpdate(x, zero, velocity, 0.9f, 0.01f);
        Kernels.AdamUpdate(x, zero, m, v, 0.9f, 0.999f, 1e-3f, 1e-8f);
        float kept = 0.9f * 1e-20f;
        Assert.IsTrue(kept > 1e-30f && kept < 1e-16f);
        CollectionAssert.AreEqual(Enumerable.Repeat(kept, n).ToArray(), velocity, "velocity");
        CollectionAssert.AreEqual(Enumerable.Repeat(-kept, n).ToArray(), m, "m");
    }

    [TestMethod]
    [DataRow(7), DataRow(37)]
    public void Optimizers_KeepSubnormalsOutOfTheirState(int n)
    {
        // Under zero gradients Adam's moments and the velocity decay geometrically; none may pass
        // through the subnormal range (each operation on one is a microcode assist on x86).
        float[] x = Inputs(n, n), zero = new float[n];
        float[] m = Enumerable.Repeat(1e-3f, n).ToArray(), v = Enumerable.Repeat(2e-30f, n).ToArray(), velocity = Enumerable.Repeat(1e-3f, n).ToArray();
        for (int step = 0; step < 1000; step++)
        {
            Kernels.AdamUpdate(x, zero, m, v, 0.9f, 0.999f, 1e-3f, 1e-8f);
            Kernels.MomentumUpdate(x, zero, velocity, 0.9f, 0.01f);
            foreach (float[] state in new[] { m, v, velocity })
                foreach (float value in state)
                    Assert.IsTrue(value == 0 || Math.Abs(value) >= Kernels.OptimizerStateFloor, $"step {step}: a state of {value:E3}");
        }
        CollectionAssert.AreEqual(zero, m, "m decayed to 0 (0.9¹⁰⁰⁰ · 10⁻³ is under any float)");
        CollectionAssert.AreEqual(zero, v, "v decayed to 0 past the floor");
        CollectionAssert.AreEqual(zero, velocity);

        // A subnormal gradient steps as a zero one, bit for bit; one above the floor is used.
        float[] tiny = Enumerable.Repeat(1e-40f, n).ToArray(), small = Enumerable.Repeat(1e-12f, n).ToArray();
        float[] mStart = Inputs(n, n + 1, 1), vStart = Uniform(n, n + 2, 0, 1), xStart = Inputs(n, n + 3);
        (float[] X, float[] M, float[] V, float[] Velocity) Step(float[] g)
        {
            float[] xa = (float[])xStart.Clone(), ma = (float[])mStart.Clone(), va = (float[])vStart.Clone(), vel = (float[])mStart.Clone();
            Kernels.AdamUpdate(xa, g, ma, va, 0.9f, 0.999f, 1e-3f, 1e-8f);
            Kernels.MomentumUpdate(xa, g, vel, 0.9f, 0.01f);
            return (xa, ma, va, vel);
        }
        var withZero = Step(zero);
        var withTiny = Step(tiny);
        CollectionAssert.AreEqual(withZero.X, withTiny.X);
        CollectionAssert.AreEqual(withZero.M, withTiny.M);
        CollectionAssert.AreEqual(withZero.V, withTiny.V);
        CollectionAssert.AreEqual(withZero.Velocity, withTiny.Velocity);
        // The floors clear small values only: a NaN gradient still reaches the values, as it did without them.
        float[] nan = Enumerable.Repeat(float.NaN, n).ToArray();
        var withNaN = Step(nan);
        Assert.IsTrue(withNaN.X.All(float.IsNaN) && withNaN.M.All(float.IsNaN) && withNaN.Velocity.All(float.IsNaN), "a NaN gradient shows in x, m and the velocity");

        float[] mSmall = new float[n], vSmall = new float[n], xSmall = (float[])xStart.Clone();
        Kernels.AdamUpdate(xSmall, small, mSmall, vSmall, 0.9f, 0.999f, 1e-3f, 1e-8f);
        for (int i = 0; i < n; i++)
        {
            Assert.AreEqual(1e-13, mSmall[i], 1e-17, $"m {i}: a gradient of 10⁻¹² is used");
            Assert.AreEqual(1e-27, vSmall[i], 1e-31, $"v {i}: its square too");
        }
    }

    /// <summary>
    /// Logits of exactly 0 (a layer whose weights and biases start at zero) give every factor 1 + e^{−|a|} its largest value, 2:
    /// a lane's product of 126 of them is 2^126, inside float, and the kernels fold it into the row's sum before more come; a
    /// product of 256 would overflow. Rows of 4100 zeros (256 full vectors, twice past the fold) score 4100 · ln ½, binary and
    /// soft targets alike. Tolerance: each term is ln 2 to within 1e-6 of itself (the vector path's ln of the product is exact
    /// here, the scalar one a float ln 2 per term).
    /// </summary>
    [TestMethod]
    public void ZeroLogitsScoreLnHalfEachPastTheFactorsOneProductHolds()
    {
        const int rows = 2, columns = 4100;
        float[] a = new float[rows * columns], x = Binary(rows * columns, 91), soft = Uniform(rows * columns, 92, 0, 1);
        double expected = -columns * Math.Log(2), tolerance = columns * Math.Log(2) * Rel;
        double[] binary = new double[rows], softSums = new double[rows];
        Kernels.AccumulateBernoulliLogProb(a, x, rows, columns, binary);
        Kernels.AccumulateSoftBernoulliLogProb(a, soft, rows, default, rows, columns, softSums);
        for (int r = 0; r < rows; r++)
        {
            Assert.AreEqual(expected, binary[r], tolerance, $"binary row {r}");
            Assert.AreEqual(expected, softSums[r], tolerance, $"soft row {r}");
        }
    }

    [TestMethod]
    [DataRow(1), DataRow(7), DataRow(33), DataRow(100), DataRow(257), DataRow(784)]
    public void AllFinite_FindsEveryNonFinite(int n)
    {
        float[] x = Inputs(n, n);
        Assert.IsTrue(Kernels.AllFinite(x));
        foreach (float bad in new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity })
        {
            foreach (int at in new[] { 0, n / 2, n - 1 })
            {
                float keep = x[at];
                x[at] = bad;
                Assert.IsFalse(Kernels.AllFinite(x), $"{bad} at {at}");
                x[at] = keep;
            }
        }
        x[n - 1] = float.MaxValue;
        Assert.IsTrue(Kernels.AllFinite(x));
    }

    [TestMethod]
    [DataRow(100, 784)]
    [DataRow(37, 200)]
    [DataRow(3, 20000)]
    public void ColumnSumsAndTanh_MatchDouble(int rows, int columns)
    {
        using var pool = new PrivatePool();
        int n = rows * columns;
        float[] m = Inputs(n, 21), acc = Inputs(columns, 22), acc0 = (float[])acc.Clone(), t = new float[n];
        Kernels.AddColumnSums(m, rows, columns, acc);
        Kernels.Tanh(m, t);
        for (int c = 0; c < columns; c++)
        {
            double sum = acc0[c], scale = Math.Abs(acc0[c]);
            for (int r = 0; r < rows; r++)
            {
                sum += m[r * columns + c];
                scale += Math.Abs(m[r * columns + c]);
            }
            // rows float additions in sequence: each rounds by up to 2^-24 of the running magnitude.
            Assert.AreEqual(sum, acc[c], rows * 6e-8 * scale + 1e-30, $"column {c}");
        }
        for (int i = 0; i < n; i++) Near(Math.Tanh(m[i]), t[i], Math.Abs(Math.Tanh(m[i])), $"tanh {i}");
    }

    [TestMethod]
    [DataRow(1, 1)]
    [DataRow(7, 33)]
    [DataRow(100, 784)] // split over the pool
    [DataRow(257, 100)]
    public void GatherRows_CopiesTheNamedRows(int rows, int columns)
    {
        using var pool = new PrivatePool();
        int sourceRows = 2 * rows + 3;
        float[] source = Inputs(sourceRows * columns, 63), destination = Inputs(rows * columns + 5, 64), tail = destination[^5..];
        var rng = new Random(rows);
        int[] order = Enumerable.Range(0, rows).Select(_ => rng.Next(sourceRows)).ToArray();
        order[0] = sourceRows - 1;
        Kernels.GatherRows(source, columns, order, destination);
        for (int r = 0; r < rows; r++)
            CollectionAssert.AreEqual(source[(order[r] * columns)..((order[r] + 1) * columns)], destination[(r * columns)..((r + 1) * columns)], $"row {r}");
        CollectionAssert.AreEqual(tail, destination[^5..], "past the rows");
        order[rows - 1] = sourceRows;
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Kernels.GatherRows(source, columns, order, destination));
        Assert.AreEqual("rows", e.ParamName, "the refusal names the row indices, not a slice deep inside");
        StringAssert.Contains(e.Message, $"Row {sourceRows} is outside");
    }

    [TestMethod]
    [DataRow(1, 1)]
    [DataRow(7, 33)]
    [DataRow(100, 784)] // split over the pool
    [DataRow(3, 20000)]
    public void BroadcastRows_CopiesTheRowIntoEveryRow(int rows, int columns)
    {
        using var pool = new PrivatePool();
        float[] row = Inputs(columns, 61), destination = Inputs(rows * columns + 5, 62), tail = destination[^5..];
        Kernels.BroadcastRows(row, destination, rows, columns);
        for (int r = 0; r < rows; r++)
            CollectionAssert.AreEqual(row, destination[(r * columns)..((r + 1) * columns)], $"row {r}");
        CollectionAssert.AreEqual(tail, destination[^5..], "past the rows");
    }

    /// <summary>
    /// The bias and a conditioning in one pass (a conditioned layer's start) give the bits of the copy followed by the
    /// addition that it replaced, on one thread and split over the pool, and leave what lies past the rows alone.
    /// </summary>
    [TestMethod]
    [DataRow(1, 1)]
    [DataRow(7, 33)]
    [DataRow(100, 784)] // split over the pool
    [DataRow(3, 20000)]
    public void BroadcastRowsWithAnAddedRowGivesTheCopyThenTheSum(int rows, int columns)
    {
        float[] row = Inputs(columns, 63), added = Inputs(rows * columns + 3, 64), expected = Inputs(rows * columns + 5, 65);
        float[] tail = expected[^5..];
        Kernels.BroadcastRows(row, expected, rows, columns);
        for (int i = 0; i < rows * columns; i++) expected[i] += added[i];
        foreach (bool split in new[] { false, true })
        {
            float[] destination = Inputs(rows * columns + 5, 65);
            using (split ? new PrivatePool() : (IDisposable)WorkerPool.InlineScope())
                Kernels.BroadcastRows(row, added, destination, rows, columns);
            CollectionAssert.AreEqual(expected, destination, split ? "split over a pool" : "one thread");
            CollectionAssert.AreEqual(tail, destination[^5..], "past the rows");
        }
        if (rows * columns > 1)   // a short conditioning is refused (an empty one means none)
            Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Kernels.BroadcastRows(row, added.AsSpan(0, rows * columns - 1), new float[rows * columns], rows, columns));
    }

    /// <summary>
    /// Every kernel that splits over the worker pool gives the same bits split (a pool of three) as
    /// on one thread, on shapes that cut rows, columns and vector blocks unevenly.
    /// </summary>
    [TestMethod]
    [DataRow(100, 784)]
    [DataRow(53, 333)]
    [DataRow(1000, 17)]
    public void SplitKernelsGiveTheSameBitsAsOneThread(int rows, int columns)
    {
        int n = rows * columns;
        float[] a = Inputs(n, 31), x = Binary(n, 32), y = Inputs(n, 33), mean = Inputs(n, 34), s = Uniform(n, 35, -6, 6);
        float[] w = Inputs(rows, 36, 2), u = Uniform(n, 37, 0, 1), hess = Uniform(n, 38, 0, 5), bias = Inputs(columns, 42);
        (double[][] Sums, float[][] Values) Run()
        {
            double[] bernoulliSums = new double[rows], gaussianSums = new double[rows];
            float[] grad = new float[n], sample = new float[n], dm = new float[n], ds = new float[n], og = Inputs(n, 39);
            float[] rep = new float[n], sm = new float[n], sl = new float[n], th = new float[n], cols = Inputs(columns, 40);
            float[] broadcast = new float[n], tanhGrad = Inputs(n, 41);
            double[] noiseSums = new double[rows], normalSums = new double[rows];
            Kernels.AccumulateBernoulliLogProb(a, x, rows, columns, bernoulliSums);
            Kernels.BernoulliLogProbGradient(a, x, rows, columns, w, grad);
            Kernels.SampleBernoulli(a, u, sample);
            Kernels.AccumulateGaussianLogProb(y, mean, s, rows, columns, gaussianSums);
            Kernels.GaussianLogProbGradient(y, mean, s, rows, columns, w, dm, ds, og);
            Kernels.Reparameterize(mean, s, y, rep);
            Kernels.ReparameterizedGaussianGradient(a, y, hess, mean, s, w, rows, columns, sm, sl);
            Kernels.Tanh(y, th);
            Kernels.AddColumnSums(y, rows, columns, cols);
            Kernels.BroadcastRows(bias, broadcast, rows, columns);
            Kernels.MultiplyByTanhDerivative(th, tanhGrad);
            Kernels.AccumulateGaussianLogProbOfNoise(y, s, rows, columns, noiseSums);
            Kernels.AccumulateStandardNormalLogProb(y, rows, columns, normalSums);
            return ([bernoulliSums, gaussianSums, noiseSums, normalSums], [grad, sample, dm, ds, og, rep, sm, sl, th, cols, broadcast, tanhGrad]);
        }
        (double[][] Sums, float[][] Values) single, split;
        using (WorkerPool.InlineScope()) single = Run();
        using (new PrivatePool()) split = Run();
        for (int i = 0; i < single.Sums.Length; i++)
            CollectionAssert.AreEqual(single.Sums[i], split.Sums[i], $"row sums {i}");
        for (int i = 0; i < single.Values.Length; i++)
            CollectionAssert.AreEqual(single.Values[i], split.Values[i], $"output {i}");
    }

    /// <summary>Log-probabilities of rows given by index into a smaller operand equal those of the rows written out, bit for bit (soft targets too).</summary>
    [TestMethod]
    [DataRow(7, 33)]
    [DataRow(100, 784)] // split over the pool
    public void LogProbsOfIndexedRowsMatchTheRowsWrittenOut(int rows, int columns)
    {
        using var pool = new PrivatePool();
        const int distinct = 5;
        int[] rowSource = Enumerable.Range(0, rows).Select(r => r * distinct / rows).ToArray();
        float[] x = Binary(distinct * columns, 41), y = Inputs(distinct * columns, 42), a = Inputs(rows * columns, 43), m = Inputs(rows * columns, 44), s = Uniform(rows * columns, 45, -4, 4);
        float[] soft = Uniform(distinct * columns, 46, 0, 1);
        float[] xFull = new float[rows * columns], yFull = new float[rows * columns], softFull = new float[rows * columns];
        for (int r = 0; r < rows; r++)
        {
            x.AsSpan(rowSource[r] * columns, columns).CopyTo(xFull.AsSpan(r * columns));
            y.AsSpan(rowSource[r] * columns, columns).CopyTo(yFull.AsSpan(r * columns));
            soft.AsSpan(rowSource[r] * columns, columns).CopyTo(softFull.AsSpan(r * columns));
        }
        double[] b1 = new double[rows], b2 = new double[rows], g1 = new double[rows], g2 = new double[rows], s1 = new double[rows], s2 = new double[rows];
        Kernels.AccumulateBernoulliLogProb(a, xFull, rows, columns, b1);
        Kernels.AccumulateBernoulliLogProb(a, x, distinct, rowSource, rows, columns, b2);
        Kernels.AccumulateGaussianLogProb(yFull, m, s, rows, columns, g1);
        Kernels.AccumulateGaussianLogProb(y, distinct, rowSource, m, s, rows, columns, g2);
        CollectionAssert.AreEqual(b1, b2, "Bernoulli");
        CollectionAssert.AreEqual(g1, g2, "Gaussian");
        Kernels.AccumulateSoftBernoulliLogProb(a, softFull, rows, default, rows, columns, s1);
        Kernels.AccumulateSoftBernoulliLogProb(a, soft, distinct, rowSource, rows, columns, s2);
        CollectionAssert.AreEqual(s1, s2, "soft Bernoulli");
        rowSource[rows / 2] = distinct;
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Kernels.AccumulateBernoulliLogProb(a, x, distinct, rowSource, rows, columns, b2));
    }

    [TestMethod]
    [DynamicData(nameof(Shapes))]
    public void GaussianLogProbOfNoise_MatchesTheDensityAtTheDraw(int rows, int columns)
    {
        int n = rows * columns;
        float[] eps = Inputs(n, 51, 3), s = Uniform(n, 52, -6, 6);
        double[] sums = Enumerable.Range(0, rows).Select(r => (double)r).ToArray();
        Kernels.AccumulateGaussianLogProbOfNoise(eps, s, rows, columns, sums);
        for (int r = 0; r < rows; r++)
        {
            // ln N(m + σε; m, σ²) in double from the same ε and s, whatever m is.
            double expected = r, scale = 0;
            for (int i = r * columns; i < (r + 1) * columns; i++)
            {
                double sigma = Math.Exp(0.5 * s[i]), d = sigma * eps[i];
                expected += -0.5 * (d * d / (sigma * sigma) + s[i] + Kernels.LogTwoPi);
                scale += (double)eps[i] * eps[i] + Math.Abs(s[i]) + 1;
            }
            Near(expected, sums[r], scale + r, $"row {r}");
        }
    }

    /// <summary>
    /// The kernels that may write over an input give, in place, the bits they give into another buffer: rows of 17 and 20 values
    /// end in a vector that overlaps the one before, whose overlapped lanes were recomputed from inputs already overwritten (the
    /// output written over the logits, the noise, or y).
    /// </summary>
    [TestMethod]
    [DataRow(17)]
    [DataRow(20)]
    [DataRow(32)]
    public void KernelsWrittenInPlaceGiveTheBitsTheyGiveIntoAnotherBuffer(int columns)
    {
        const int rows = 4, distinct = 2;
        var random = new Random(5);
        float[] Values(int n, double scale, double shift) => Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * scale + shift)).ToArray();
        int n = rows * columns;
        float[] logits = Values(n, 8, -4), x = Enumerable.Range(0, n).Select(_ => random.Next(2) * 1f).ToArray();
        float[] w = [1f, 0.5f, 2f, 1.5f];
        float[] expected = new float[n];
        Kernels.BernoulliLogProbGradient(logits, x, rows, columns, w, expected);
        float[] inPlace = (float[])logits.Clone();
        Kernels.BernoulliLogProbGradient(inPlace, x, rows, columns, w, inPlace);
        CollectionAssert.AreEqual(expected, inPlace, "BernoulliLogProbGradient over its logits");

        float[] mean = Values(distinct * columns, 1, 0), logVar = Values(distinct * columns, 1, -0.5), noise = Values(n, 2, -1);
        int[] source = [0, 0, 1, 1];
        float[] sigma = new float[distinct * columns];
        Kernels.ReparameterizeShared(mean, logVar, distinct, source, noise, rows, columns, sigma, expected);
        inPlace = (float[])noise.Clone();
        Kernels.ReparameterizeShared(mean, logVar, distinct, source, inPlace, rows, columns, sigma, inPlace);
        CollectionAssert.AreEqual(expected, inPlace, "ReparameterizeShared over its noise");

        float[] y = Values(n, 4, -2), means = Values(n, 2, -1), logVars = Values(n, 2, -1);
        float[] dLogVar = new float[n], expectedLogVar = new float[n];
        Kernels.GaussianLogProbGradient(y, means, logVars, rows, columns, w, expected, expectedLogVar, []);
        inPlace = (float[])y.Clone();
        float[] logVarsInPlace = (float[])logVars.Clone();
        Kernels.GaussianLogProbGradient(inPlace, means, logVarsInPlace, rows, columns, w, inPlace, logVarsInPlace, []);
        CollectionAssert.AreEqual(expected, inPlace, "GaussianLogProbGradient's dMean over y");
        CollectionAssert.AreEqual(expectedLogVar, logVarsInPlace, "GaussianLogProbGradient's dLogVar over logVar");
    }

    /// <summary>
    /// ReparameterizeShared against Reparameterize over the rows it stands for (each distinct row copied to the rows that
    /// share it): the same bits, as its summary says. Rows of 5 take the scalar loop, 16 one vector, 19 a vector and an
    /// overlapping tail; the distinct rows differ, so a row that read another's σ shows.
    /// </summary>
    [TestMethod]
    [DataRow(5)]
    [DataRow(16)]
    [DataRow(19)]
    public void ReparameterizeSharedGivesTheBitsOfReparameterizeOverTheSharedRows(int columns)
    {
        const int rows = 5, distinct = 3;
        int[] source = [0, 1, 1, 2, 2];
        int n = rows * columns;
        float[] mean = Uniform(distinct * columns, 61, -1, 1), logVar = Uniform(distinct * columns, 62, -3, 3), noise = Inputs(n, 63, 2);
        float[] meanRows = new float[n], logVarRows = new float[n];
        for (int r = 0; r < rows; r++)
        {
            mean.AsSpan(source[r] * columns, columns).CopyTo(meanRows.AsSpan(r * columns));
            logVar.AsSpan(source[r] * columns, columns).CopyTo(logVarRows.AsSpan(r * columns));
        }
        float[] expected = new float[n], shared = new float[n], sigma = new float[distinct * columns];
        Kernels.Reparameterize(meanRows, logVarRows, noise, expected);
        Kernels.ReparameterizeShared(mean, logVar, distinct, source, noise, rows, columns, sigma, shared);
        CollectionAssert.AreEqual(expected, shared);
    }

    /// <summary>
    /// A rowSource shorter than the rows, or with an entry that is not a row of the wide operand, is refused, naming rowSource,
    /// before a row is read or added into: the kernels run on pointers, so a missing entry would otherwise be read from past
    /// the array's end, and an entry past the rows threw from its span after the rows before it had been added.
    /// </summary>
    [TestMethod]
    public void ColumnBlocksRefuseARowSourceShortOrOutsideTheRows()
    {
        const int rows = 4, width = 9, offset = 2, size = 5;
        float[] wide = Inputs(2 * width, 44), block = Inputs(rows * size, 45);
        foreach (int[] rowSource in new int[][] { [0, 1, 1], [0, 1, 1, 2], [-1, 0, 1, 1] })   // one entry short; past the 2 rows; negative
        {
            string because = string.Join(", ", rowSource);
            var gather = Assert.Throws<ArgumentException>(() => Kernels.GatherColumnBlock(wide, width, offset, rowSource, rows, new float[rows * size], size), because);
            Assert.AreEqual("rowSource", gather.ParamName, because);
            var scatter = Assert.Throws<ArgumentException>(() => Kernels.ScatterAddColumnBlock(block, size, rowSource, rows, wide, width, offset), because);
            Assert.AreEqual("rowSource", scatter.ParamName, because);
            CollectionAssert.AreEqual(Inputs(2 * width, 44), wide, $"{because}: nothing added before the refusal");
        }
        Kernels.ScatterAddColumnBlock(block, size, [0, 1, 1, 1], rows, wide, width, offset);   // the premise: rows inside are added
        CollectionAssert.AreNotEqual(Inputs(2 * width, 44), wide);
    }
}
