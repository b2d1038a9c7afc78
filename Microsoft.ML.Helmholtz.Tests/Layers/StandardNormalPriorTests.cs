using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Tests.Layers;

/// <summary>The standard-normal prior of a smooth top layer: the curvature its Newton-like steps read.</summary>
[TestClass]
public sealed class StandardNormalPriorTests
{
    /// <summary>
    /// −ln N(y; c, I) = ½|y − c|² + const has second derivative 1 in each unit, whatever y and the shift: the diagonal gets
    /// exactly 1 added to what it held (0.25 + 1 is exact in float).
    /// </summary>
    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void TheOutputHessianAddsOnePerUnit(bool conditioned)
    {
        const int units = 3, rows = 2;
        var prior = new StandardNormalPrior(units);
        float[] y = new float[rows * units], shift = new float[rows * units];
        new RandomStream(31).FillNormal(y);
        new RandomStream(32).FillNormal(shift);
        prior.Forward(default, conditioned ? shift : default, rows);
        float[] hessian = Enumerable.Repeat(0.25f, rows * units).ToArray();
        prior.AccumulateNegLogProbOutputHessianDiagonal(y, rows, hessian);
        CollectionAssert.AreEqual(Enumerable.Repeat(1.25f, rows * units).ToArray(), hessian);
    }
}
