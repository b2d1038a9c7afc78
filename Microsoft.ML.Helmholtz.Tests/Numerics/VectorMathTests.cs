using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Tests.Numerics;

/// <summary>The vector exp's scaling, and the vector log and sin/cos behind the normal draws, against double precision.</summary>
[TestClass]
public sealed class VectorMathTests
{
    /// <summary>
    /// Without AVX-512, exp applies 2^n as two powers of two; p · 2^n must come out rounded once, as
    /// VSCALEFPS rounds it: checked against the exact value in double (which holds p · 2^n exactly)
    /// rounded to float, for every n exp can form and p over e^r's range, overflow and denormals included.
    /// </summary>
    [TestMethod]
    public void ScalingByTwoPowersRoundsOnceLikeVScaleF()
    {
        var random = new RandomStream(5);
        var p = new float[16];
        int compared = 0;
        for (int n = -151; n <= 129; n++)
        {
            for (int trial = 0; trial < 8; trial++)
            {
                random.FillUniform(p);
                for (int j = 0; j < 16; j++) p[j] = 0.70710677f + p[j] * (1.4142135f - 0.70710677f);
                p[0] = 0.70710677f; p[1] = 1.4142135f; p[2] = 1f; p[3] = BitConverter.Int32BitsToSingle(0x3F7FFFFF);
                Vector512<float> got = VectorMath.ScaleByPowerOfTwo(Vector512.Create(p), Vector512.Create((float)n));
                for (int j = 0; j < 16; j++)
                {
                    float expected = (float)Math.ScaleB(p[j], n); // exact in double, then one rounding to float
                    Assert.AreEqual(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(got.GetElement(j)),
                        $"p = {p[j]:R}, n = {n}: {got.GetElement(j):R} instead of {expected:R}");
                    compared++;
                }
                if (Avx512F.IsSupported)
                    Assert.AreEqual(Avx512F.Scale(Vector512.Create(p), Vector512.Create((float)n)), got, $"n = {n}: VSCALEFPS differs");
            }
        }
        Assert.AreEqual(281 * 8 * 16, compared);
    }

    /// <summary>
    /// <see cref="VectorMath.Select"/> (a blend per half without AVX-512) takes each lane as
    /// Vector512.ConditionalSelect does for a comparison's mask, in both halves, with NaN, −0 and ±∞
    /// among the values; and exp, tanh and the sigmoid, which select through it, keep NaN in exactly
    /// the lanes that hold it while the lanes beside them keep their own results.
    /// </summary>
    [TestMethod]
    public void SelectTakesEachLaneAsItsComparisonSays()
    {
        var random = new Random(11);
        float[] special = [float.NaN, -0f, 0f, float.PositiveInfinity, float.NegativeInfinity, 1e-40f];
        float Value() => random.Next(4) == 0 ? special[random.Next(special.Length)] : (float)(random.NextDouble() * 20 - 10);
        for (int trial = 0; trial < 500; trial++)
        {
            var a = new float[16];
            var b = new float[16];
            var c = new float[16];
            for (int j = 0; j < 16; j++) (a[j], b[j], c[j]) = (Value(), Value(), Value());
            Vector512<float> va = Vector512.Create(a), vb = Vector512.Create(b), vc = Vector512.Create(c);
            foreach (Vector512<float> mask in new[] { Vector512.GreaterThan(va, vb), Vector512.Equals(va, va), Vector512.LessThanOrEqual(vb, vc) })
            {
                Vector512<float> expected = Vector512.ConditionalSelect(mask, vb, vc), got = VectorMath.Select(mask, vb, vc);
                for (int j = 0; j < 16; j++)
                    Assert.AreEqual(BitConverter.SingleToInt32Bits(expected.GetElement(j)), BitConverter.SingleToInt32Bits(got.GetElement(j)), $"trial {trial}, lane {j}");
            }
            Vector512<float> exp = VectorMath.Exp(va), tanh = VectorMath.Tanh(va), sigmoid = VectorMath.Sigmoid(va);
            for (int j = 0; j < 16; j++)
            {
                // Each lane as the same lane computed alone: no lane's NaN or infinity reaches another.
                Vector512<float> alone = Vector512.Create(a[j]);
                Assert.AreEqual(BitConverter.SingleToInt32Bits(VectorMath.Exp(alone).GetElement(0)), BitConverter.SingleToInt32Bits(exp.GetElement(j)), $"exp({a[j]:R}), lane {j}");
                Assert.AreEqual(BitConverter.SingleToInt32Bits(VectorMath.Tanh(alone).GetElement(0)), BitConverter.SingleToInt32Bits(tanh.GetElement(j)), $"tanh({a[j]:R}), lane {j}");
                Assert.AreEqual(BitConverter.SingleToInt32Bits(VectorMath.Sigmoid(alone).GetElement(0)), BitConverter.SingleToInt32Bits(sigmoid.GetElement(j)), $"sigmoid({a[j]:R}), lane {j}");
                Assert.AreEqual(float.IsNaN(a[j]), float.IsNaN(exp.GetElement(j)), $"exp({a[j]:R}) is NaN exactly where its argument is");
                Assert.AreEqual(float.IsNaN(a[j]), float.IsNaN(tanh.GetElement(j)), $"tanh({a[j]:R}) is NaN exactly where its argument is");
            }
        }
    }

    /// <summary>
    /// The kernels' double sums per lane: four 256-bit halves (the path without AVX-512) must give the
    /// bits of two 512-bit vectors and of Vector512's own reduction, so that a kernel's result does
    /// not depend on which one it was compiled with; checked against an independent sum per lane too.
    /// </summary>
    [TestMethod]
    public void LaneSumsInHalvesHaveTheBitsOfWideOnes()
    {
        var random = new RandomStream(8);
        var values = new float[16];
        var exponents = new float[16];
        for (int trial = 0; trial < 50; trial++)
        {
            WideSums wide = WideSums.Zero;
            HalfSums half = HalfSums.Zero;
            Vector512<double> low = Vector512<double>.Zero, high = Vector512<double>.Zero;
            var perLane = new double[16];
            for (int step = 0; step < 40; step++)
            {
                random.FillNormal(values);
                random.FillUniform(exponents);
                for (int j = 0; j < 16; j++) { values[j] *= MathF.Pow(10, j % 7 - 3); exponents[j] = MathF.Floor(exponents[j] * 120); }
                Vector512<float> v = Vector512.Create(values), e = Vector512.Create(exponents);
                if (step % 3 == 2)
                {
                    wide.AddScaled(e, Math.Log(2), v);
                    half.AddScaled(e, Math.Log(2), v);
                    low += Vector512.FusedMultiplyAdd(Vector512.WidenLower(e), Vector512.Create(Math.Log(2)), Vector512.WidenLower(v));
                    high += Vector512.FusedMultiplyAdd(Vector512.WidenUpper(e), Vector512.Create(Math.Log(2)), Vector512.WidenUpper(v));
                    for (int j = 0; j < 16; j++) perLane[j] += Math.FusedMultiplyAdd(exponents[j], Math.Log(2), values[j]);
                }
                else
                {
                    wide.Add(v);
                    half.Add(v);
                    low += Vector512.WidenLower(v);
                    high += Vector512.WidenUpper(v);
                    for (int j = 0; j < 16; j++) perLane[j] += values[j];
                }
            }
            double expected = Vector512.Sum(low + high);
            Assert.AreEqual(BitConverter.DoubleToInt64Bits(expected), BitConverter.DoubleToInt64Bits(wide.Sum()), $"trial {trial}: wide sums");
            Assert.AreEqual(BitConverter.DoubleToInt64Bits(expected), BitConverter.DoubleToInt64Bits(half.Sum()), $"trial {trial}: half sums");
            Assert.AreEqual(perLane.Sum(), half.Sum(), 1e-12 * perLane.Sum(Math.Abs), $"trial {trial}: against the lanes summed one by one");
        }
    }

    /// <summary>
    /// The vector tanh to the accuracy its summary claims, tighter than the kernels' 1e-6: a sweep of
    /// both branches, 16 lanes a call, against double. Cephes' polynomial gives ≲ 1.3e-7 relative on
    /// |x| ≤ 0.625; above, exp's 2e-7 enters scaled by 2E/(E + 1)² ≤ 0.35 (E = e^{2|x|}) and 1 − q
    /// carries half an ulp of 1 over tanh ≥ 0.55, about 1.1e-7 more: 2.5e-7 bounds both. A polynomial
    /// coefficient off in its sixth digit already costs 4e-7 at |x| = 0.625.
    /// </summary>
    [TestMethod]
    public void TanhIsAccurateToAFewUlpsOnBothBranches()
    {
        var x = new float[16 * 2560];
        for (int i = 0; i < x.Length; i++) x[i] = (i - x.Length / 2) * 1e-4f + 5e-5f;   // (−2.05, 2.05), never 0
        double worst = 0;
        float worstAt = 0;
        for (int i = 0; i < x.Length; i += 16)
        {
            Vector512<float> y = VectorMath.Tanh(Vector512.Create(x.AsSpan(i, 16)));
            for (int j = 0; j < 16; j++)
            {
                double expected = Math.Tanh(x[i + j]), error = Math.Abs(y[j] - expected) / Math.Abs(expected);
                if (error > worst) (worst, worstAt) = (error, x[i + j]);
            }
        }
        Assert.IsTrue(worst <= 2.5e-7, $"tanh relative error {worst:G3} at {worstAt:R}");
    }

    /// <summary>
    /// <see cref="VectorMath.Min"/> and <see cref="VectorMath.Max"/> (taken in 256-bit halves without
    /// AVX-512) give each lane the minimum and maximum of its own two operands, in both halves, when
    /// neither operand is a broadcast: exp only passes broadcast bounds, which would hide a half taken from
    /// the wrong operand. No NaN or zeros, where the instructions may pick either operand.
    /// </summary>
    [TestMethod]
    public void MinAndMaxTakeEachLaneFromItsOwnOperands()
    {
        var random = new Random(17);
        for (int trial = 0; trial < 200; trial++)
        {
            float[] a = new float[16], b = new float[16];
            for (int j = 0; j < 16; j++) (a[j], b[j]) = ((float)(random.NextDouble() * 20 - 10), (float)(random.NextDouble() * 20 - 10));
            Vector512<float> min = VectorMath.Min(Vector512.Create(a), Vector512.Create(b)), max = VectorMath.Max(Vector512.Create(a), Vector512.Create(b));
            for (int j = 0; j < 16; j++)
            {
                Assert.AreEqual(MathF.Min(a[j], b[j]), min.GetElement(j), $"trial {trial}: min({a[j]:R}, {b[j]:R}), lane {j}");
                Assert.AreEqual(MathF.Max(a[j], b[j]), max.GetElement(j), $"trial {trial}: max({a[j]:R}, {b[j]:R}), lane {j}");
            }
        }
    }

    [TestMethod]
    public void LogOfPositiveMatchesDoublePrecision()
    {
        var random = new RandomStream(1);
        var x = new float[4096];
        random.FillUniform(x);
        // Cover the uniforms' whole range, down to the smallest one FillNormal can draw (2^-31), and values near 1.
        x[0] = 1f; x[1] = MathF.Pow(2, -31); x[2] = 1f - 1e-7f; x[3] = 0.5f; x[4] = 1.41421356f; x[5] = 0.70710678f;
        for (int i = 0; i < x.Length; i += 16)
        {
            var y = VectorMath.LogOfPositive(Vector512.Create(x.AsSpan(i, 16)));
            for (int j = 0; j < 16; j++)
            {
                double expected = Math.Log(x[i + j]);
                // A few float ulps of the result, or of 1 near x = 1 where ln x → 0.
                Assert.AreEqual(expected, y[j], 3e-7 * Math.Max(Math.Abs(expected), 1e-1) + 1e-8, $"ln {x[i + j]:R}");
            }
        }
    }

    [TestMethod]
    public void SinCosMatchDoublePrecisionOnMinusPiToPi()
    {
        var theta = new float[4096];
        for (int i = 0; i < theta.Length; i++) theta[i] = (float)(-Math.PI + 2 * Math.PI * i / (theta.Length - 1));
        for (int i = 0; i < theta.Length; i += 16)
        {
            var (s, c) = VectorMath.SinCos(Vector512.Create(theta.AsSpan(i, 16)));
            for (int j = 0; j < 16; j++)
            {
                // Absolute error: the normals are r·sin θ with |sin θ| ≤ 1, so a few 1e-7 is a few float ulps of r.
                Assert.AreEqual(Math.Sin(theta[i + j]), s[j], 3e-7, $"sin {theta[i + j]:R}");
                Assert.AreEqual(Math.Cos(theta[i + j]), c[j], 3e-7, $"cos {theta[i + j]:R}");
            }
        }
    }
}
