using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Tests.Layers;

/// <summary>
/// The Gaussian layers' gradients where the variance is tiny (log-variances down to −100, past float's e^{88}), where their
/// log-densities are finite: the diagonal kernel's e^{−s} overflowed (NaN at y = m), and the rank-one backward's ∂/∂u
/// cancelled two terms (10% off at s = −70, garbage at −80) and its sum A = Σ(u/σ)² passed float (NaN at −100). A review's
/// findings; the rank-one reference is in double from the same noise.
/// </summary>
[TestClass]
public sealed class TinyVarianceGradientTests
{
    /// <summary>
    /// A per-unit log-variance of −90 (e^{−s} passes float) at y = m: ln p is finite (the kernel takes
    /// ((y − m) e^{−s/2})² for exactly this case), and so is its gradient: ∂/∂m = 0, ∂/∂s = −½ w.
    /// </summary>
    [TestMethod]
    [DataRow(3)]    // the scalar loop
    [DataRow(16)]   // the vector loop
    public void TheDiagonalGaussianGradientIsFiniteWhereItsLogProbIs(int units)
    {
        const int inputs = 2, rows = 2;
        var layer = new GaussianLayer("p", inputs, units, GaussianMean.Linear, VarianceSource.PerUnit, MatrixEngine.Managed);
        Array.Fill(layer.LogVarianceParameter!.Value, -90f);   // weights and biases of the mean 0: m = 0
        var x = new float[rows * inputs];
        var y = new float[rows * units];                       // y = m
        layer.Forward(x, rows);
        var logP = new double[rows];
        layer.AccumulateLogProb(y, rows, logP);
        double expected = -0.5 * units * (-90 + Kernels.LogTwoPi);
        Assert.AreEqual(expected, logP[0], 1e-3, "ln p at y = m is finite");

        foreach (Parameter p in layer.Parameters) p.ZeroGradient();
        var dy = new float[rows * units];
        layer.AccumulateLogProbGradient(y, x, rows, [1f, 1f], default, dy);
        float[] dLogVar = layer.LogVarianceParameter!.Gradient, dBias = layer.Parameters.Single(p => p.Name == "p.mean.b").Gradient;
        for (int i = 0; i < units; i++)
        {
            Assert.AreEqual(-1.0, dLogVar[i], 1e-6, $"∂ ln p/∂s[{i}] over two rows (got {dLogVar[i]})");
            Assert.AreEqual(0.0, dBias[i], 1e-6, $"∂ ln p/∂b[{i}] (got {dBias[i]})");
        }
        Assert.IsTrue(dy.All(float.IsFinite), $"∂ ln p/∂y is finite (got {string.Join(", ", dy.Take(3))})");
    }

    /// <summary>
    /// The rank-one posterior with σ = e^{−50} (s = −100) and |u| ≈ 1: A = |u/σ|² passes float. ln q of the
    /// draw falls back to a scaled form in double and stays finite; the backward through the same draw must too.
    /// Reference: the same gradients in double, with ∂/∂u_i's own term written as (ρ_i (B − η) − a_i) / (γ σ_i).
    /// </summary>
    [TestMethod]
    [DataRow(false, -100f)]
    [DataRow(true, -100f)]
    [DataRow(false, -80f)]   // A = 5·10³⁴ still a float
    [DataRow(false, -70f)]
    [DataRow(false, -60f)]
    [DataRow(false, -20f)]   // the reference agrees with the layer where A stays in float
    public void TheRankOneBackwardThroughADrawIsFiniteWhereItsLogDensityIs(bool logQFirst, float logVariance)
    {
        const int inputs = 2, units = 3, rows = 2;
        var layer = new RankOneGaussianLayer("q", inputs, units, MatrixEngine.Managed);
        Array.Fill(layer.Parameters.Single(p => p.Name == "q.logvar.b").Value, logVariance);
        float[] factor = layer.Parameters.Single(p => p.Name == "q.factor.b").Value;
        factor[0] = 1f; factor[1] = -0.7f; factor[2] = 0.4f;
        var x = new float[rows * inputs];
        layer.Forward(x, rows);
        var y = new float[rows * units];
        layer.Sample(new RandomStream(3), rows, y);
        var logQ = new double[rows];
        if (logQFirst)
        {
            layer.AccumulateLogProbOfSample(y, rows, logQ);
            Assert.IsTrue(logQ.All(double.IsFinite), "ln q of the draw is finite (the documented fallback)");
        }
        float[] pathWise = [0.3f, -0.2f, 0.5f, 0.1f, -0.4f, 0.25f], weights = [1f, 0.5f];
        foreach (Parameter p in layer.Parameters) p.ZeroGradient();
        layer.BackwardThroughSample(new SampleGradient { PathWise = pathWise, RowWeights = weights }, x, rows, default);

        // The double reference from the same noise.
        var noise = new float[rows * (units + 1)];
        new RandomStream(3).FillNormal(noise);
        double[] du = new double[units], ds = new double[units];
        for (int r = 0; r < rows; r++)
        {
            double sigma = Math.Exp(logVariance / 2.0), eta = noise[r * (units + 1) + units], A = 0, B = 0;
            for (int i = 0; i < units; i++) { double a = factor[i] / sigma; A += a * a; B += a * noise[r * (units + 1) + i]; }
            double gamma = 1 + A;
            for (int i = 0; i < units; i++)
            {
                double a = factor[i] / sigma, eps = noise[r * (units + 1) + i], g = pathWise[r * units + i], w = weights[r];
                double rho = eps + a * (eta - B) / gamma;
                ds[i] += g * 0.5 * sigma * eps + w * 0.5 * (rho * rho - 1 + a * a / gamma - rho * eps);
                du[i] += g * eta + w * (rho * (B - eta) - a) / (gamma * sigma);
            }
        }
        float[] gotU = layer.Parameters.Single(p => p.Name == "q.factor.b").Gradient, gotS = layer.Parameters.Single(p => p.Name == "q.logvar.b").Gradient;
        for (int i = 0; i < units; i++)
        {
            Assert.AreEqual(ds[i], gotS[i], 1e-4 * (1 + Math.Abs(ds[i])), $"∂/∂s[{i}]");
            Assert.AreEqual(du[i], gotU[i], 1e-4 * (1 + Math.Abs(du[i])), $"∂/∂u[{i}]");
        }
    }
}
