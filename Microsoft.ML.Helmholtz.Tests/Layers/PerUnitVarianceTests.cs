using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Numerics;
using Microsoft.ML.Helmholtz.Tests.Support;

namespace Microsoft.ML.Helmholtz.Tests.Layers;

/// <summary>
/// A generative Gaussian layer's per-unit log-variance is written into its rows only when a member
/// reads them; ln p of given values reads it per unit, with e^{−s} once per unit.
/// </summary>
[TestClass]
public sealed class PerUnitVarianceTests
{
    [TestMethod]
    [DataRow("20b-18g-4g")]   // 18 units: a vector and an overlapping last one per row
    [DataRow("20b-5g-4g")]    // fewer units than a vector
    [DataRow("20b-18gl-4g")]  // a linear mean
    public void LogProbPerUnitHasTheBitsOfTheBroadcastRows(string architecture)
    {
        const int rows = 7;
        var machine = TestModels.Random(architecture, 81);
        var layer = (GaussianLayer)machine.Generative.Layers[1];
        Assert.AreEqual(VarianceSource.PerUnit, layer.Variance);
        float[] input = new float[rows * layer.InputSize], y = new float[rows * layer.OutputSize];
        var random = new RandomStream(82);
        random.FillNormal(input);
        random.FillNormal(y);

        var perUnit = new double[rows];
        layer.Forward(input, rows);
        layer.AccumulateLogProb(y, rows, perUnit);

        var broadcast = new double[rows];
        layer.Forward(input, rows);
        ReadOnlySpan<float> s = layer.LogVariances(rows);   // writes the rows
        for (int r = 0; r < rows; r++)
            CollectionAssert.AreEqual(layer.LogVarianceParameter!.Value, s.Slice(r * layer.OutputSize, layer.OutputSize).ToArray(), $"row {r} of s");
        layer.AccumulateLogProb(y, rows, broadcast);
        CollectionAssert.AreEqual(broadcast, perUnit);

        // Against the density written out in double.
        ReadOnlySpan<float> m = layer.Means(rows);
        for (int r = 0; r < rows; r++)
        {
            double expected = 0;
            for (int i = 0; i < layer.OutputSize; i++)
            {
                double si = layer.LogVarianceParameter!.Value[i], d = y[r * layer.OutputSize + i] - m[r * layer.OutputSize + i];
                expected += -0.5 * (d * d * Math.Exp(-si) + si + Kernels.LogTwoPi);
            }
            Assert.AreEqual(expected, perUnit[r], 1e-5 * Math.Abs(expected), $"row {r}");
        }
    }

    /// <summary>The output Hessian of −ln p is e^{−s} per unit right after a forward, before any member has written s into the rows.</summary>
    [TestMethod]
    public void TheOutputHessianAfterAForwardIsEachUnitsPrecision()
    {
        const int rows = 3;
        var machine = TestModels.Random("20b-5g-4g", 83);
        var layer = (GaussianLayer)machine.Generative.Layers[1];
        float[] s = layer.LogVarianceParameter!.Value;
        for (int i = 0; i < s.Length; i++) s[i] = 0.3f * (i + 1) - 0.8f;   // none 0: rows of s never written would give e^0 = 1
        float[] input = new float[rows * layer.InputSize], y = new float[rows * layer.OutputSize];
        new RandomStream(84).FillNormal(input);
        layer.Forward(input, rows);
        var hessian = new float[rows * layer.OutputSize];
        layer.AccumulateNegLogProbOutputHessianDiagonal(y, rows, hessian);
        for (int r = 0; r < rows; r++)
            for (int i = 0; i < layer.OutputSize; i++)
                Assert.AreEqual(MathF.Exp(-s[i]), hessian[r * layer.OutputSize + i], 1e-6f * MathF.Exp(-s[i]), $"row {r}, unit {i}");
    }
}
