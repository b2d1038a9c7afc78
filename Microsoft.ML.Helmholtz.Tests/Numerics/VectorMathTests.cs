using System.Runtime.Intrinsics;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Tests.Numerics;

/// <summary>The vector log and sin/cos behind the normal draws, against double precision.</summary>
[TestClass]
public sealed class VectorMathTests
{
    private static void RequireVector512()
    {
        if (!Vector512.IsHardwareAccelerated)
            Assert.Inconclusive("Vector512 is not accelerated on this processor; the scalar path is used instead and tested through RandomStream.");
    }

    [TestMethod]
    public void LogOfPositiveMatchesDoublePrecision()
    {
        RequireVector512();
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
        RequireVector512();
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
