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
