using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;
using Microsoft.ML.Helmholtz.Tests.Support;

namespace Microsoft.ML.Helmholtz.Tests.Layers;

/// <summary>
/// The recognition Gaussian with covariance D + u uᵀ: its density against a dense computation, its
/// samples' mean and covariance, and its gradients against finite differences (the path-wise ones
/// through whole machines in the rule tests).
/// </summary>
[TestClass]
public sealed class RankOneGaussianTests
{
    private const int Inputs = 4, Units = 3, Rows = 2;

    private static (RankOneGaussianLayer Layer, float[] X) Layer(ulong seed)
    {
        var layer = new RankOneGaussianLayer("q", Inputs, Units, MatrixEngine.Managed);
        var random = new RandomStream(seed);
        foreach (Parameter p in layer.Parameters)
        {
            random.FillNormal(p.Value);
            for (int i = 0; i < p.Length; i++) p.Value[i] *= 0.6f;
        }
        var x = new float[Rows * Inputs];
        random.FillNormal(x);
        return (layer, x);
    }

    /// <summary>
    /// ln N(y; m, Σ) by an LU factorisation with partial pivoting, in double: backward stable, so it
    /// stays accurate for the near-singular Σ of a factor that outweighs the diagonal (a cofactor
    /// determinant would cancel to nothing there).
    /// </summary>
    private static double DenseLogDensity(double[] y, double[] m, double[,] c)
    {
        int n = y.Length;
        var lu = (double[,])c.Clone();
        var r = new double[n];
        for (int i = 0; i < n; i++) r[i] = y[i] - m[i];
        double[] d = (double[])r.Clone();
        double logDet = 0;
        for (int k = 0; k < n; k++)
        {
            int pivot = k;
            for (int i = k + 1; i < n; i++) if (Math.Abs(lu[i, k]) > Math.Abs(lu[pivot, k])) pivot = i;
            if (pivot != k)
            {
                for (int j = 0; j < n; j++) (lu[k, j], lu[pivot, j]) = (lu[pivot, j], lu[k, j]);
                (r[k], r[pivot]) = (r[pivot], r[k]);
            }
            logDet += Math.Log(Math.Abs(lu[k, k]));
            for (int i = k + 1; i < n; i++)
            {
                double f = lu[i, k] / lu[k, k];
                for (int j = k; j < n; j++) lu[i, j] -= f * lu[k, j];
                r[i] -= f * r[k];
            }
        }
        for (int i = n - 1; i >= 0; i--)
        {
            for (int j = i + 1; j < n; j++) r[i] -= lu[i, j] * r[j];
            r[i] /= lu[i, i];
        }
        double q = 0;
        for (int i = 0; i < n; i++) q += d[i] * r[i];
        return -0.5 * (q + logDet + n * Math.Log(2 * Math.PI));
    }

    private static double[,] Covariance(RankOneGaussianLayer layer, int row)
    {
        var c = new double[Units, Units];
        ReadOnlySpan<float> s = layer.LogVariances(Rows), u = layer.Factors(Rows);
        for (int i = 0; i < Units; i++)
            for (int j = 0; j < Units; j++)
                c[i, j] = (i == j ? Math.Exp(s[row * Units + i]) : 0) + (double)u[row * Units + i] * u[row * Units + j];
        return c;
    }

    [TestMethod]
    public void TheDensityIsTheDenseGaussiansWithCovarianceDiagonalPlusRankOne()
    {
        var (layer, x) = Layer(1);
        layer.Forward(x, Rows);
        var y = new float[Rows * Units];
        new RandomStream(2).FillNormal(y);
        var logQ = new double[Rows];
        layer.AccumulateLogProb(y, Rows, logQ);
        for (int r = 0; r < Rows; r++)
        {
            double[] yr = y.Skip(r * Units).Take(Units).Select(v => (double)v).ToArray();
            double[] mr = layer.Means(Rows).Slice(r * Units, Units).ToArray().Select(v => (double)v).ToArray();
            Assert.AreEqual(DenseLogDensity(yr, mr, Covariance(layer, r)), logQ[r], 1e-5, $"row {r}");
        }
        Assert.IsTrue(layer.Factors(Rows).ToArray().Any(v => Math.Abs(v) > 0.1f), "the factor must matter for the test to mean anything");
    }

    [TestMethod]
    public void SamplesHaveTheMeanAndTheCovarianceDiagonalPlusRankOne()
    {
        var (layer, x) = Layer(3);
        const int n = 200_000;
        // One input row repeated: every sample shares m, D and u.
        var repeated = new float[n * Inputs];
        for (int r = 0; r < n; r++) x.AsSpan(0, Inputs).CopyTo(repeated.AsSpan(r * Inputs));
        layer.Forward(repeated, n);
        var y = new float[n * Units];
        layer.Sample(new RandomStream(4), n, y);
        double[] m = layer.Means(1).ToArray().Select(v => (double)v).ToArray();
        var c = new double[Units, Units];
        layer.Forward(x, Rows);
        double[,] expected = Covariance(layer, 0);
        var mean = new double[Units];
        for (int r = 0; r < n; r++) for (int i = 0; i < Units; i++) mean[i] += y[r * Units + i] / (double)n;
        for (int r = 0; r < n; r++)
            for (int i = 0; i < Units; i++)
                for (int j = 0; j < Units; j++) c[i, j] += (y[r * Units + i] - mean[i]) * (y[r * Units + j] - mean[j]) / (n - 1);
        for (int i = 0; i < Units; i++)
        {
            // Standard errors: of a mean √(Σii/n); of a covariance √((ΣiiΣjj + Σij²)/n).
            Assert.AreEqual(m[i], mean[i], 5 * Math.Sqrt(expected[i, i] / n), $"mean {i}");
            for (int j = 0; j < Units; j++)
                Assert.AreEqual(expected[i, j], c[i, j], 5 * Math.Sqrt((expected[i, i] * expected[j, j] + expected[i, j] * expected[i, j]) / n), $"covariance [{i}, {j}]");
        }
        Assert.IsTrue(Math.Abs(expected[0, 1]) > 0.05, "the posterior must be correlated for the test to mean anything");
    }

    [TestMethod]
    public void TheLogDensityGradientMatchesFiniteDifferences()
    {
        var (layer, x) = Layer(5);
        var y = new float[Rows * Units];
        new RandomStream(6).FillNormal(y);
        float[] w = [0.7f, -1.3f];
        var conditioning = new float[Rows * Units];
        new RandomStream(7).FillNormal(conditioning);
        double Loss()
        {
            layer.Forward(x, conditioning, Rows);
            var lq = new double[Rows];
            layer.AccumulateLogProb(y, Rows, lq);
            return w[0] * lq[0] + w[1] * lq[1];
        }
        foreach (Parameter p in layer.Parameters) p.ZeroGradient();
        var dx = new float[Rows * Inputs];
        var dy = new float[Rows * Units];
        var dc = new float[Rows * Units];
        Loss();
        layer.AccumulateLogProbGradient(y, x, Rows, w, dx, dy, dc);
        TestModels.AssertGradientsMatch(layer.Parameters, Loss, epsilon: 1e-3, context: "parameters");
        // Inputs, outputs and conditioning as parameters of their own.
        foreach (var (name, values, analytic) in new[] { ("input", x, dx), ("output", y, dy), ("conditioning", conditioning, dc) })
        {
            var holder = new Parameter(name, 1, values.Length);
            values.CopyTo(holder.Value, 0);
            analytic.CopyTo(holder.Gradient, 0);
            double HeldLoss() { holder.Value.CopyTo(values, 0); return Loss(); }
            TestModels.AssertGradientsMatch([holder], HeldLoss, epsilon: 1e-3, context: name);
            holder.Value.CopyTo(values, 0);
        }
    }

    // The marginals a mean-field q starts from: the means, and ln Σii = ln(e^{s_i} + u_i²), the diagonal of D + u uᵀ (not of D alone).
    [TestMethod]
    public void TheGaussianMarginalsAreTheDiagonalOfTheFullCovariance()
    {
        var (layer, x) = Layer(12);
        layer.Forward(x, Rows);
        float[] mean = new float[Rows * Units], logVariance = new float[Rows * Units];
        Assert.IsTrue(layer.TryGaussianMarginals(Rows, mean, logVariance));
        CollectionAssert.AreEqual(layer.Means(Rows).ToArray(), mean);
        for (int r = 0; r < Rows; r++)
        {
            double[,] c = Covariance(layer, r);
            // One float rounding of ln Σii (|ln Σii| < 3 here): well inside 1e-6.
            for (int i = 0; i < Units; i++) Assert.AreEqual(Math.Log(c[i, i]), logVariance[r * Units + i], 1e-6, $"row {r}, unit {i}");
        }
        Assert.IsTrue(layer.Factors(Rows).ToArray().Any(v => v * v > 0.05f), "the factor must matter for the test to mean anything");
    }

    // s = −200: a = u e^{−s/2} passes float, and ln q of the draw is formed on a scale of e^c (c = max ln|u_i| − s_i/2), which must
    // come back out as 2c. The exact value, in double (where a² ≈ 1e86 still fits): ln q = −½ [ε² + η² − (B − η)²/(1 + A) + Σs
    // + ln(1 + A) + n ln 2π], A = Σ a², B = a·ε, from y − m = D^{1/2} ε + u η, Sherman–Morrison and |D + u uᵀ| = |D| (1 + A).
    [TestMethod]
    public void TheDensityOfAnOwnDrawHoldsWhereTheFactorOverTheScalePassesFloat()
    {
        var (layer, logQ, noise) = DensityOfOwnDraw(13, -200f, 14);
        for (int r = 0; r < Rows; r++)
        {
            double a2 = 0, b = 0, epsilonSquares = 0, eta = noise[r * (Units + 1) + Units];
            for (int i = 0; i < Units; i++)
            {
                double a = layer.Factors(Rows)[r * Units + i] * Math.Exp(100.0), epsilon = noise[r * (Units + 1) + i];
                a2 += a * a;
                b += a * epsilon;
                epsilonSquares += epsilon * epsilon;
            }
            double exact = -0.5 * (epsilonSquares + eta * eta - (b - eta) * (b - eta) / (1 + a2) + Units * -200.0 + Math.Log(1 + a2) + Units * Math.Log(2 * Math.PI));
            Assert.IsTrue(double.IsFinite(logQ[r]), $"row {r}: ln q is {logQ[r]}");
            Assert.AreEqual(exact, logQ[r], 1e-9 * Math.Abs(exact), $"row {r}: ln q of the draw");
        }
    }

    /// <summary>
    /// A unit without a factor (u = 0) whose scale is below float (s = −250: σ = e^{−125} is 0 in float) makes a = u / σ = 0 / 0,
    /// and ln q of the draw is formed on the scale e^c of the other units, c = max ln|u_i| − s_i/2 = ln 0.8 + 2 ≈ 1.78 here: the
    /// 1 of 1 + A is then e^{−2c} on that scale. The exact value, in double, as in the test above; the unit adds ε² and s, nothing to A or B.
    /// </summary>
    [TestMethod]
    public void TheDensityOfAnOwnDrawHoldsWhereAUnitWithoutAFactorHasAScaleBelowFloat()
    {
        var (layer, x) = Layer(15);
        float[] logVariance = [-250f, -4f, -3f], factor = [0f, 0.8f, -0.5f];
        Array.Clear(layer.Parameters.Single(p => p.Name == "q.logvar.W").Value);
        Array.Clear(layer.Parameters.Single(p => p.Name == "q.factor.W").Value);
        logVariance.CopyTo(layer.Parameters.Single(p => p.Name == "q.logvar.b").Value, 0);
        factor.CopyTo(layer.Parameters.Single(p => p.Name == "q.factor.b").Value, 0);
        layer.Forward(x, Rows);
        var y = new float[Rows * Units];
        layer.Sample(new RandomStream(16), Rows, y);
        var logQ = new double[Rows];
        layer.AccumulateLogProbOfSample(y, Rows, logQ);
        var noise = new float[Rows * (Units + 1)];
        new RandomStream(16).FillNormal(noise);
        for (int r = 0; r < Rows; r++)
        {
            double a2 = 0, b = 0, epsilonSquares = 0, logVarianceSum = 0, eta = noise[r * (Units + 1) + Units];
            for (int i = 0; i < Units; i++)
            {
                double a = factor[i] * Math.Exp(-0.5 * logVariance[i]), epsilon = noise[r * (Units + 1) + i];
                a2 += a * a;
                b += a * epsilon;
                epsilonSquares += epsilon * epsilon;
                logVarianceSum += logVariance[i];
            }
            double exact = -0.5 * (epsilonSquares + eta * eta - (b - eta) * (b - eta) / (1 + a2) + logVarianceSum + Math.Log(1 + a2) + Units * Math.Log(2 * Math.PI));
            // Sums of three double terms from the same floats: roundings of 1e-16 of |ln q| ≈ 130.
            Assert.AreEqual(exact, logQ[r], 1e-9 * Math.Abs(exact), $"row {r}: ln q of the draw");
        }
    }

    [TestMethod]
    public void TheDensityOfAnOwnDrawStaysExactWhenTheFactorOutweighsTheDiagonal()
    {
        // σ ≈ 5e-5 against |u| ≈ 1: from d = y − m in float, dᵀΣ⁻¹d would lose every digit to cancellation.
        var (layer, logQ, noise) = DensityOfOwnDraw(8, -20f, 9);
        // The same draw in double: y − m = σ ε + u η, with ε and η those of the layer's draw.
        for (int r = 0; r < Rows; r++)
        {
            double sigma = Math.Exp(-10.0);
            double[] d = new double[Units], m = new double[Units];
            double[,] c = Covariance(layer, r);
            for (int i = 0; i < Units; i++) d[i] = sigma * noise[r * (Units + 1) + i] + layer.Factors(Rows)[r * Units + i] * (double)noise[r * (Units + 1) + Units];
            double exact = DenseLogDensity(d, m, c);
            Assert.AreEqual(exact, logQ[r], 1e-6 * Math.Abs(exact), $"row {r}: ln q of the draw");
        }
    }

    /// <summary>
    /// A layer of the given seed with every log-variance s_i set to <paramref name="logVariance"/> (weights cleared), ln q of its own
    /// draw of seed <paramref name="drawSeed"/>, and that draw's noise (ε of each unit, then η, per row) recovered from the same seed.
    /// </summary>
    private static (RankOneGaussianLayer Layer, double[] LogQ, float[] Noise) DensityOfOwnDraw(ulong layerSeed, float logVariance, ulong drawSeed)
    {
        var (layer, x) = Layer(layerSeed);
        Array.Fill(layer.Parameters.Single(p => p.Name == "q.logvar.b").Value, logVariance);
        Array.Clear(layer.Parameters.Single(p => p.Name == "q.logvar.W").Value);
        layer.Forward(x, Rows);
        var y = new float[Rows * Units];
        layer.Sample(new RandomStream(drawSeed), Rows, y);
        var logQ = new double[Rows];
        layer.AccumulateLogProbOfSample(y, Rows, logQ);
        var noise = new float[Rows * (Units + 1)];
        new RandomStream(drawSeed).FillNormal(noise);
        return (layer, logQ, noise);
    }

    /// <summary>
    /// ln q of a draw keeps the draw's sums for the backward through it. A new draw (or forward) must
    /// drop them: the gradient through the second of two draws, with ln q taken of the first only, is
    /// the gradient through that draw alone, bit for bit.
    /// </summary>
    [TestMethod]
    public void TheBackwardUsesTheLastDrawsSumsNotAnEarlierDraws()
    {
        float[] pathWise = [0.3f, -0.2f, 0.5f, 0.1f, -0.4f, 0.25f];
        float[] weights = [1f, 0.5f];
        float[] Gradients(bool logQOfAnEarlierDraw, bool forwardAgain)
        {
            var (layer, x) = Layer(9);
            layer.Forward(x, Rows);
            var y = new float[Rows * Units];
            if (logQOfAnEarlierDraw)
            {
                layer.Sample(new RandomStream(1), Rows, y);
                layer.AccumulateLogProbOfSample(y, Rows, new double[Rows]);
                if (forwardAgain)
                {
                    layer.Forward(x, Rows);
                    layer.SampleWithNoise(new float[Rows * layer.NoisePerRow], Rows, y);   // all-zero noise: another draw
                    layer.AccumulateLogProbOfSample(y, Rows, new double[Rows]);
                    layer.Forward(x, Rows);
                }
            }
            layer.Sample(new RandomStream(2), Rows, y);
            foreach (Parameter p in layer.Parameters) p.ZeroGradient();
            layer.BackwardThroughSample(new SampleGradient { PathWise = pathWise, RowWeights = weights }, x, Rows, default);
            return layer.Parameters.SelectMany(p => p.Gradient).ToArray();
        }

        float[] alone = Gradients(false, false);
        CollectionAssert.AreEqual(alone, Gradients(true, false), "after ln q of an earlier draw");
        CollectionAssert.AreEqual(alone, Gradients(true, true), "after another forward and draw");
        Assert.IsTrue(alone.Any(g => g != 0), "the gradient is not trivially zero");
    }

    [TestMethod]
    public void AForwardDropsTheSumsOfTheDrawBeforeIt()
    {
        // ln q of a draw keeps its sums for the backward through it; a new forward (another input) changes a = u / σ,
        // so the backward through the same noise after it is formed from the new statistics, bit for bit as without the kept sums.
        // So does a draw from given noise (the fixed-noise scorers' draw) after the same forward: B and η are the new noise's.
        float[] pathWise = [0.3f, -0.2f, 0.5f, 0.1f, -0.4f, 0.25f];
        float[] weights = [1f, 0.5f];
        float[] Gradients(bool logQBeforeTheForward, bool drawFromGivenNoise = false)
        {
            var (layer, x) = Layer(9);
            float[] other = x.Select(v => 0.5f - v).ToArray();
            layer.Forward(x, Rows);
            var y = new float[Rows * Units];
            layer.Sample(new RandomStream(2), Rows, y);
            if (logQBeforeTheForward) layer.AccumulateLogProbOfSample(y, Rows, new double[Rows]);
            if (drawFromGivenNoise)
            {
                var noise = new float[Rows * (Units + 1)];
                new RandomStream(3).FillNormal(noise);
                layer.SampleWithNoise(noise, Rows, y);
                other = x;
            }
            else layer.Forward(other, Rows);
            foreach (Parameter p in layer.Parameters) p.ZeroGradient();
            layer.BackwardThroughSample(new SampleGradient { PathWise = pathWise, RowWeights = weights }, other, Rows, default);
            return layer.Parameters.SelectMany(p => p.Gradient).ToArray();
        }

        float[] formed = Gradients(false);
        CollectionAssert.AreEqual(formed, Gradients(true));
        Assert.IsTrue(formed.Any(g => g != 0), "the gradient is not trivially zero");
        CollectionAssert.AreEqual(Gradients(false, drawFromGivenNoise: true), Gradients(true, drawFromGivenNoise: true), "after a draw from given noise");
    }

    /// <summary>
    /// After a shared forward the rows read their source row's statistics in place; each accessor gives every row its own, as a
    /// forward over the repeated inputs does (the factors are read first: the other accessors copy the rows for it). So do the
    /// marginals (the start of a mean-field estimate), ln(e^s + u²) included, read first after another shared forward.
    /// </summary>
    [TestMethod]
    public void ASharedForwardGivesEachRowTheStatisticsOfItsInput()
    {
        var (layer, x) = Layer(11);
        int[] source = [0, 0, 1, 1, 1];
        int rows = source.Length;
        float[] repeated = source.SelectMany(r => x.Skip(r * Inputs).Take(Inputs)).ToArray();
        layer.Forward(repeated, rows);
        float[] m = layer.Means(rows).ToArray(), s = layer.LogVariances(rows).ToArray(), u = layer.Factors(rows).ToArray();
        float[] marginals = Marginals();
        void ForwardShared()
        {
            layer.Forward(new float[rows * Inputs], rows);   // other statistics in every row, so that a row left unwritten shows
            layer.ForwardShared(x, Rows, source, rows);
        }
        float[] Marginals()
        {
            float[] mean = new float[rows * Units], logVariance = new float[rows * Units];
            Assert.IsTrue(layer.TryGaussianMarginals(rows, mean, logVariance));
            return [.. mean, .. logVariance];
        }
        void AssertClose(float[] expected, ReadOnlySpan<float> actual, string what)
        {
            for (int i = 0; i < expected.Length; i++) Assert.AreEqual(expected[i], actual[i], 1e-6f * (1 + Math.Abs(expected[i])), $"{what} {i}");
        }
        ForwardShared();
        AssertClose(u, layer.Factors(rows), "factor");
        AssertClose(m, layer.Means(rows), "mean");
        AssertClose(s, layer.LogVariances(rows), "log-variance");
        ForwardShared();
        AssertClose(marginals, Marginals(), "marginal");
        Assert.IsTrue(u.Any(v => v * v > 0.05f), "the factor must matter for the marginals to mean anything");
    }

    [TestMethod]
    public void ABackwardWithALocalCurvatureIsRefusedNotIgnored()
    {
        // The rank-one posterior has no diagonal Price gradient: the curvature of an sbp-price rule would be dropped without a word.
        var (layer, x) = Layer(4);
        layer.Forward(x, Rows);
        layer.Sample(new RandomStream(2), Rows, new float[Rows * Units]);
        var e = Assert.ThrowsExactly<NotSupportedException>(() => layer.BackwardThroughSample(
            new SampleGradient { PathWise = new float[Rows * Units], LocalCurvature = new float[Rows * Units], RowWeights = [1f, 1f] }, x, Rows, default));
        StringAssert.Contains(e.Message, "Price");
    }

    /// <summary>
    /// The backward through a draw in vectors of 16 (AVX-512) or 8 units (AVX2) gives the scalar loop's bits,
    /// for widths with and without a tail, with and without a local gradient, and at extreme |u|/σ. The scalar
    /// loop is what the finite-difference checks above (3 units) and the rule tests' small machines run.
    /// </summary>
    [TestMethod]
    [DataRow(3)]
    [DataRow(8)]
    [DataRow(16)]
    [DataRow(21)]
    [DataRow(37)]
    [DataRow(200)]
    public void TheVectorBackwardThroughADrawGivesTheScalarBits(int units)
    {
        var random = new RandomStream((ulong)units);
        float[] Normal(float scale)
        {
            var v = new float[units];
            random.FillNormal(v);
            for (int i = 0; i < units; i++) v[i] *= scale;
            return v;
        }
        float[] pathWise = Normal(1), local = Normal(0.3f), epsilon = Normal(1), a = Normal(2);
        float[] sigma = Normal(1).Select(z => MathF.Exp(0.7f * z)).ToArray();
        a[0] = 1e4f;   // a factor far past the diagonal: γ large, −ρη and tρ/γ nearly cancel
        foreach (var terms in new[]
        {
            new RankOneGaussianLayer.DrawTerms(0.8, -1.3, 1 / (1 + 4.2), 0.5),
            new RankOneGaussianLayer.DrawTerms(-0.2, 3.1, 1 / (1 + 1e8), 2),
        })
            foreach (bool withLocal in new[] { false, true })
            {
                float[][] Run(bool vectors)
                {
                    float[] dm = new float[units], ds = new float[units], du = new float[units];
                    RankOneGaussianLayer.BackwardThroughDraw(terms, pathWise, withLocal ? local : default, sigma, epsilon, a, dm, ds, du, vectors);
                    return [dm, ds, du];
                }
                float[][] scalar = Run(false), vector = Run(true);
                for (int k = 0; k < 3; k++)
                {
                    CollectionAssert.AreEqual(scalar[k], vector[k], $"output {k}, {units} units, local {withLocal}, 1/γ {terms.InverseGamma}");
                    Assert.IsTrue(scalar[k].All(float.IsFinite) && scalar[k].Any(v => v != 0), $"output {k} is finite and not all zero");
                }
            }
    }

    /// <summary>
    /// Enough rows that the backward through the draw runs in pieces on a pool: the gradients equal, bit for bit,
    /// those of the same calls run on one thread, with the draw's kept sums and with sums formed from the noise.
    /// </summary>
    [TestMethod]
    public void TheBackwardThroughADrawGivesTheSameBitsOnAPoolAsOnOneThread()
    {
        const int inputs = 5, units = 24, rows = 700;   // 16,800 elements: two pieces on a pool of two
        float[] Gradients(WorkerPool pool, bool keptSums)
        {
            using var use = WorkerPool.Use(pool);
            var layer = new RankOneGaussianLayer("q", inputs, units, MatrixEngine.Managed);
            var random = new RandomStream(4);
            foreach (Parameter p in layer.Parameters)
            {
                random.FillNormal(p.Value);
                for (int i = 0; i < p.Length; i++) p.Value[i] *= 0.4f;
            }
            var x = new float[rows * inputs];
            random.FillNormal(x);
            var pathWise = new float[rows * units];
            random.FillNormal(pathWise);
            var weights = new float[rows];
            for (int r = 0; r < rows; r++) weights[r] = 1f / (1 + r % 7);
            layer.Forward(x, rows);
            var y = new float[rows * units];
            layer.Sample(new RandomStream(5), rows, y);
            if (keptSums) layer.AccumulateLogProbOfSample(y, rows, new double[rows]);
            foreach (Parameter p in layer.Parameters) p.ZeroGradient();
            var inputGradient = new float[rows * inputs];
            layer.BackwardThroughSample(new SampleGradient { PathWise = pathWise, RowWeights = weights }, x, rows, inputGradient);
            return [.. layer.Parameters.SelectMany(p => p.Gradient), .. inputGradient];
        }

        using var two = new WorkerPool(2);
        foreach (bool kept in new[] { false, true })
        {
            float[] alone = Gradients(WorkerPool.Inline, kept), pooled = Gradients(two, kept);
            CollectionAssert.AreEqual(alone, pooled, $"kept sums: {kept}");
            Assert.IsTrue(alone.All(float.IsFinite) && alone.Count(g => g != 0) > alone.Length / 2, "the gradients are finite and mostly non-zero");
        }
    }

    [TestMethod]
    public void AFreshMachineStartsDiagonalAndTheCodeParses()
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("6b-4gr-3gr"), 1);
        Assert.AreEqual("6b-4gr-3gr", machine.Architecture.ToString());
        Assert.IsInstanceOfType<RankOneGaussianLayer>(machine.Recognition.Layer(1));
        Assert.IsInstanceOfType<GaussianLayer>(machine.Generative.Layers[1]);   // p(X_1 | X_2): generatively an ordinary Gaussian
        Assert.IsTrue(machine.Parameters.Where(p => p.Role == ParameterRole.Factor).All(p => p.Value.All(v => v == 0)), "factor weights start at 0");
        Assert.AreEqual(machine.Architecture.ParameterCount, machine.Parameters.Sum(p => (long)p.Length));
    }

    [TestMethod]
    public void TheLinearMeanCodeMakesALinearGenerativeMeanAndSurvivesAFile()
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("6b-4grl-3gr"), 1);
        Assert.AreEqual("6b-4grl-3gr", machine.Architecture.ToString());
        Assert.IsInstanceOfType<RankOneGaussianLayer>(machine.Recognition.Layer(1));
        var generative = (GaussianLayer)machine.Generative.Layers[1];   // p(X_1 | X_2)
        Assert.AreEqual(GaussianMean.Linear, generative.MeanFunction);
        StringAssert.Contains(UnitType.KnownCodes, "'grl' (Gaussian, linear mean, recognition covariance diagonal plus rank one)");

        using var stream = new MemoryStream();
        machine.Save(stream);
        stream.Position = 0;
        var loaded = HelmholtzMachine.Load(stream);
        Assert.AreEqual("6b-4grl-3gr", loaded.Architecture.ToString());
        Assert.AreEqual(GaussianMean.Linear, ((GaussianLayer)loaded.Generative.Layers[1]).MeanFunction);
    }
}
