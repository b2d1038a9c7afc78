using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Evaluation;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;
using Microsoft.ML.Helmholtz.Onnx;
using Microsoft.ML.Helmholtz.Temporal;
using Microsoft.ML.Helmholtz.Tests.Support;

namespace Microsoft.ML.Helmholtz.Tests.Evaluation;

/// <summary>
/// The estimators on machines that load (every parameter finite) but are extreme: log-variances of ±100, Bernoulli biases of
/// ±100, weights of 10³⁰. An estimate may be very negative or −∞ (a sample of density 0 in float), never NaN or +∞; where the
/// value can be known exactly it must be the one given.
/// </summary>
[TestClass]
public sealed class ExtremeMachineTests
{
    private static HelmholtzMachine Machine(string architecture, string parameter, float value)
    {
        var machine = TestModels.Random(architecture, 5);
        machine.Parameters.Single(p => p.Name == parameter).Value.AsSpan().Fill(value);
        return machine;
    }

    private static DataMatrix Data(HelmholtzArchitecture architecture, int rows, ulong seed)
    {
        var visible = architecture.Visible;
        var random = new RandomStream(seed);
        float[] values = new float[rows * visible.Size];
        for (int i = 0; i < values.Length; i++)
            values[i] = visible.Units == UnitType.Bernoulli ? (random.NextDouble() < 0.5 ? 1 : 0) : (float)(2 * random.NextDouble() - 1);
        return new DataMatrix(rows, visible.Size, values);
    }

    private static void AssertScoreable(IEnumerable<double> estimates, string what)
    {
        foreach (double e in estimates)
            Assert.IsTrue(!double.IsNaN(e) && !double.IsPositiveInfinity(e), $"{what}: {e}");
    }

    /// <summary>
    /// A log-variance of 100 draws states of 10²¹, from which the layer above draws past float (e^{s/2} = ∞): the generative
    /// layers read ±∞ as ∞ − ∞ (NaN before). The rank-one layer's a = u e^{−s/2} at s = −100 squared past float (ln q = −∞, an
    /// estimate of +∞ before). All but the diagonal s = −100 and the Bernoulli cases gave NaN or +∞ from some estimator before.
    /// </summary>
    [TestMethod]
    [DataRow("6b-3g-2g", "recognition.1.logvar.b", 100f)]
    [DataRow("6b-3g-2g", "recognition.1.logvar.b", -100f)]
    [DataRow("6b-3g-2g", "recognition.2.logvar.W", -100f)]
    [DataRow("6b-3g-2g", "recognition.1.logvar.W", 1e30f)]
    [DataRow("6b-3g-3g-2g", "recognition.1.logvar.b", 100f)]
    [DataRow("4gl-3g", "recognition.1.logvar.W", 1e30f)]
    [DataRow("6b-4t-3g", "recognition.1.logvar.W", 100f)]
    [DataRow("6b-3gr-2g", "recognition.1.logvar.b", -100f)]
    [DataRow("6b-3gr-2g", "recognition.1.logvar.b", 100f)]
    [DataRow("6b-3gr-2g", "recognition.1.factor.b", 1e30f)]
    [DataRow("6b-3b-2b", "recognition.1.b", 100f)]
    [DataRow("6b-3b-2b", "generative.0.b", -100f)]
    public void EveryEstimatorScoresAnExtremeMachine(string architecture, string parameter, float value)
    {
        var machine = Machine(architecture, parameter, value);
        var data = Data(machine.Architecture, 4, 3);
        string what = $"{architecture} with {parameter} = {value}";
        AssertScoreable(new ImportanceSampledLogLikelihood(20, seed: 1) { Parallelism = 1 }.EstimatePerExample(machine, data), $"importance sampling, {what}");
        AssertScoreable(new NaiveLogLikelihood(20).EstimatePerExample(machine, data), $"naive, {what}");
        double freeEnergy = new SampledFreeEnergy(seed: 1).Estimate(machine, data);
        Assert.IsTrue(!double.IsNaN(freeEnergy) && !double.IsNegativeInfinity(freeEnergy), $"free energy, {what}: {freeEnergy}");
        foreach (int k in new[] { 10, 70 })   // in slots, and one row at a time
        {
            double[] estimates = new double[data.Rows];
            new FixedNoiseLogLikelihood(machine, k).CreateScorer().Estimate(data.Values, data.Rows, estimates);
            AssertScoreable(estimates, $"fixed noise, K = {k}, {what}");
        }
    }

    [TestMethod]
    public void DrawsPastFloatHaveWeightZero()
    {
        // e^{s/2} = ∞ for every draw: ln p̂ = −∞ exactly (no draw the machine can give has a density), and F = +∞.
        var machine = Machine("6b-3g-2g", "recognition.1.logvar.b", 1e30f);
        var data = Data(machine.Architecture, 3, 4);
        foreach (double e in new ImportanceSampledLogLikelihood(10, seed: 2) { Parallelism = 1 }.EstimatePerExample(machine, data))
            Assert.AreEqual(double.NegativeInfinity, e);
        Assert.AreEqual(double.PositiveInfinity, new SampledFreeEnergy(seed: 2).Estimate(machine, data));
    }

    /// <summary>
    /// ln N(y; m, e^s) at y = m is −½(s + ln 2π): finite at s = −100, where e^{−s} passes float and (y − m)² e^{−s} was 0 · ∞ = NaN.
    /// With the visible mean 0 and q(h | x) = p(h) every weight is p(x | h) = p(x), so every estimate is ln p(x) exactly.
    /// </summary>
    [TestMethod]
    [DataRow(4, -100f)]
    [DataRow(20, -100f)]   // a vector and a tail of units
    [DataRow(20, -200f)]   // e^{−s/2} past float too
    public void AVisibleValueAtItsMeanHasItsDensityUnderAnExtremeVariance(int units, float logVariance)
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse($"{units}gl-3g"), 6);
        foreach (Parameter p in machine.Generative.Layers[0].Parameters)
            p.Value.AsSpan().Fill(p.Role == ParameterRole.LogVariance ? logVariance : 0);
        foreach (Parameter p in machine.Recognition.Layer(1).Parameters) p.Value.AsSpan().Clear();
        var data = new DataMatrix(3, units, new float[3 * units]);
        double exact = -0.5 * units * (logVariance + Kernels.LogTwoPi);
        double tolerance = 1e-6 * Math.Abs(exact);   // float terms, summed in double
        foreach (double e in new ImportanceSampledLogLikelihood(30, seed: 7) { Parallelism = 1 }.EstimatePerExample(machine, data))
            Assert.AreEqual(exact, e, tolerance, "importance sampling");
        Assert.AreEqual(-exact, new SampledFreeEnergy(seed: 7).Estimate(machine, data), tolerance, "free energy");
        double[] fixedNoise = new double[3];
        new FixedNoiseLogLikelihood(machine, 30).CreateScorer().Estimate(data.Values, 3, fixedNoise);
        foreach (double e in fixedNoise) Assert.AreEqual(exact, e, tolerance, "fixed noise");
    }

    /// <summary>
    /// A linear-Gaussian machine (2 visible units with linear means, 1 hidden unit) is exact in closed form: p(x) = N(b, w wᵀ + D)
    /// and the posterior N(μ, v). Its rank-one recognition layer has log-variance −100 and carries its variance in the factor,
    /// q = N(m, e^{−100} + u²) with m = μ + 0.3 and u² = 1.5 v: a sound proposal whose a = u e^{50} squares past float (ln q was
    /// −∞: estimates of +∞). The estimates must agree with the exact values within five of their standard deviations, which
    /// follow in closed form too.
    /// </summary>
    [TestMethod]
    public void ARankOnePosteriorWithAnExtremeDiagonalGivesTheExactLogLikelihood()
    {
        float[] w = [0.8f, -1.3f], b = [0.2f, -0.4f], logVariance = [MathF.Log(0.5f), MathF.Log(0.3f)];
        var machine = LinearGaussianMachine("2gl-1gr", 8, w, b, logVariance);
        Parameter Named(string name) => machine.Parameters.Single(p => p.Name == name);
        double[] variance = logVariance.Select(s => Math.Exp(s)).ToArray();
        double precision = 1 + w[0] * w[0] / variance[0] + w[1] * w[1] / variance[1], v = 1 / precision;
        // μ(x) = v Σ w_i (x_i − b_i) / σ_i²: the recognition mean map, shifted by 0.3.
        for (int i = 0; i < 2; i++) Named("recognition.1.mean.W").Value[i] = (float)(v * w[i] / variance[i]);
        Named("recognition.1.mean.b").Value[0] = (float)(0.3 - v * (w[0] * b[0] / variance[0] + w[1] * b[1] / variance[1]));
        Named("recognition.1.logvar.W").Value.AsSpan().Clear();
        Named("recognition.1.logvar.b").Value[0] = -100;
        Named("recognition.1.factor.W").Value.AsSpan().Clear();
        Named("recognition.1.factor.b").Value[0] = (float)Math.Sqrt(1.5 * v);
        float u = Named("recognition.1.factor.b").Value[0];
        double q = u * (double)u, shift = 0.3;   // q's variance (e^{−100} is below its rounding) and m − μ

        float[][] examples = [[0.5f, -1.0f], [-0.7f, 0.9f], [1.5f, 1.2f]];
        var data = new DataMatrix(3, 2, examples.SelectMany(x => x).ToArray());
        // Var w / E[w]² = ∫ post² / q − 1 for two normals.
        double relativeVariance = q / Math.Sqrt(v * (2 * q - v)) * Math.Exp(shift * shift / (2 * q - v)) - 1;
        const int k = 4000;
        double sd = Math.Sqrt(relativeVariance / k);
        double[] importance = new ImportanceSampledLogLikelihood(k, seed: 9) { Parallelism = 1 }.EstimatePerExample(machine, data);
        double[] fixedNoise = new double[3];
        new FixedNoiseLogLikelihood(machine, k, seed: 10).CreateScorer().Estimate(data.Values, 3, fixedNoise);
        for (int i = 0; i < examples.Length; i++)
        {
            double exact = LinearGaussianLogLikelihood(examples[i], w, b, variance);
            Assert.AreEqual(exact, importance[i], 5 * sd + 1e-4, $"importance sampling, example {i}");
            Assert.AreEqual(exact, fixedNoise[i], 5 * sd + 1e-4, $"fixed noise, example {i}");

            // F = KL(q ‖ post) − ln p(x); F̂ − const = c₂ z² + c₁ z for z ~ N(0, 1), so Var F̂ = 2c₂² + c₁².
            const int replicates = 20000;
            var copies = new DataMatrix(replicates, 2, Enumerable.Range(0, replicates).SelectMany(_ => examples[i]).ToArray());
            double kl = 0.5 * (q / v + shift * shift / v - 1 + Math.Log(v / q));
            double c2 = -0.5 + q / (2 * v), c1 = shift * Math.Sqrt(q) / v;
            double se = Math.Sqrt((2 * c2 * c2 + c1 * c1) / replicates);
            Assert.AreEqual(kl - exact, new SampledFreeEnergy(seed: 11 + (ulong)i).Estimate(machine, copies), 5 * se + 1e-4, $"free energy, example {i}");
        }
    }

    /// <summary>A machine of 2 visible units with linear means w h + b and log-variances <paramref name="logVariance"/> over 1 hidden unit under N(0, 1).</summary>
    internal static HelmholtzMachine LinearGaussianMachine(string architecture, ulong seed, float[] w, float[] b, float[] logVariance)
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse(architecture), seed);
        Parameter Named(string name) => machine.Parameters.Single(p => p.Name == name);
        w.CopyTo(Named("generative.0.mean.W").Value, 0);
        b.CopyTo(Named("generative.0.mean.b").Value, 0);
        logVariance.CopyTo(Named("generative.0.logvar").Value, 0);
        return machine;
    }

    /// <summary>ln N(x; b, w wᵀ + diag σ²) for two units.</summary>
    internal static double LinearGaussianLogLikelihood(float[] x, float[] w, float[] b, double[] variance)
    {
        double c00 = w[0] * w[0] + variance[0], c11 = w[1] * w[1] + variance[1], c01 = w[0] * (double)w[1];
        double det = c00 * c11 - c01 * c01, d0 = x[0] - b[0], d1 = x[1] - b[1];
        double quadratic = (c11 * d0 * d0 - 2 * c01 * d0 * d1 + c00 * d1 * d1) / det;
        return -0.5 * (quadratic + Math.Log(det) + 2 * Kernels.LogTwoPi);
    }

    /// <summary>
    /// Biases of ±100 on a machine small enough to enumerate: a top unit that the prior and q both hold on, and a visible pixel
    /// the data agrees with. The estimate agrees with the exact ln p(x) within five standard deviations of the weights.
    /// </summary>
    [TestMethod]
    public void ExtremeBernoulliBiasesGiveTheExactLogLikelihood()
    {
        var machine = TestModels.Random("10b-4b-3b", 71, scale: 0.8f);
        machine.Parameters.Single(p => p.Name == "generative.2.prior.b").Value[1] = 100;
        machine.Parameters.Single(p => p.Name == "recognition.2.b").Value[1] = 100;
        machine.Parameters.Single(p => p.Name == "generative.0.b").Value[4] = -100;
        float[][] examples = [[1, 0, 1, 1, 0, 0, 1, 0, 1, 1], [0, 0, 0, 1, 0, 0, 1, 1, 0, 0]];
        var data = new DataMatrix(2, 10, examples.SelectMany(x => x).ToArray());
        const int k = 20000;
        double[] estimate = new ImportanceSampledLogLikelihood(k, seed: 72) { Parallelism = 1 }.EstimatePerExample(machine, data);
        LogLikelihoodTests.AssertNearTheExactLogLikelihood(machine, examples, estimate, k);
    }

    /// <summary>
    /// Visible statistics too large for the naive estimator's float products x̃ · φ to resolve: it scores them with the layer's
    /// own kernel, and gives the exact ln p(x). W = 0 makes p(x | h) the same for every h, so ln p(x) is ln p(x | h); biases of
    /// between half the scale and the scale (10⁶…3·10³⁸) agreeing with the data row make it 0 (or nearly), and biases against a unit of the row make it −|b|. The float
    /// products gave −0.125, +3 (a probability of 20), −8, and +∞ or NaN at 3·10³⁸.
    /// </summary>
    [TestMethod]
    [DataRow(1e6f)]
    [DataRow(1e7f)]
    [DataRow(3e7f)]
    [DataRow(3e38f)]
    public void TheNaiveEstimatorGivesTheExactValueWhereFloatProductsCannotResolveIt(float scale)
    {
        var (machine, agreeing, bias) = BiasesAgreeingWithARow(scale);
        float[] oneAgainst = new float[16];
        agreeing.CopyTo(oneAgainst, 0);
        oneAgainst[5] = 1 - oneAgainst[5];
        var data = new DataMatrix(2, 16, [.. agreeing, .. oneAgainst]);
        double[] estimate = new NaiveLogLikelihood(50, seed: 75, samplesPerChunk: 20).EstimatePerExample(machine, data);
        for (int r = 0; r < 2; r++)
        {
            double exact = TestModels.ExactLogLikelihood(machine, data.Row(r));
            Assert.AreEqual(exact, estimate[r], 1e-6 * Math.Max(1, Math.Abs(exact)), $"row {r}: exact {exact}, naive {estimate[r]}");
        }
        Assert.AreEqual(0, estimate[0], 1e-6, "the row the biases agree with");
        Assert.AreEqual(-Math.Abs(bias[5]), estimate[1], 1e-6 * Math.Abs(bias[5]), "a unit against its bias costs the bias");
    }

    /// <summary>
    /// Weights of 3·10³⁸ send a continuous Bernoulli layer's logits past float (∞ − ∞) with every draw finite: no float computation
    /// gives its density, and the estimators refuse the machine, naming the layer and the parameter, instead of returning NaN.
    /// The training path leaves the NaN to the trainer's divergence checks (which undo a step).
    /// </summary>
    [TestMethod]
    public void AMachineWhoseStatisticsPassFloatIsRefusedNamingTheParameter()
    {
        var machine = Machine("6cb-3g", "generative.0.W", 3e38f);
        var random = new RandomStream(12);
        float[] values = new float[4 * 6];
        for (int i = 0; i < values.Length; i++) values[i] = (float)random.NextDouble();
        var data = new DataMatrix(4, 6, values);
        foreach (Action score in new Action[]
                 {
                     () => new ImportanceSampledLogLikelihood(10, seed: 1) { Parallelism = 1 }.EstimatePerExample(machine, data),
                     () => new ImportanceSampledLogLikelihood(10, seed: 1) { Parallelism = 2 }.EstimatePerExample(machine, data),
                     () => new SampledFreeEnergy(seed: 1).Estimate(machine, data),
                     () => new FixedNoiseLogLikelihood(machine, 10).CreateScorer().Estimate(values, 4, new double[4]),
                     () => new NaiveLogLikelihood(10).EstimatePerExample(machine, data),   // it returned NaN
                 })
        {
            var e = Assert.ThrowsExactly<NotFiniteNumberException>(score);
            StringAssert.Contains(e.Message, "generative layer 0");
            StringAssert.Contains(e.Message, "generative.0.W");
            StringAssert.Contains(e.Message, "3E+38");
        }
        var states = new LayerStates(machine.Architecture, 4);
        values.CopyTo(states.Layer(0, 4));
        double[] f = new double[4], l = new double[4];
        machine.SampleFreeEnergy(new RandomStream(1), states, 4, f, l);
        Assert.IsTrue(f.Any(double.IsNaN), "training's free energy keeps the NaN for the divergence checks");
    }

    /// <summary>
    /// With every draw finite, a factor of p that is 0 in float (ln p_l = −∞) beside a NaN one makes p(x, h) = 0 and F̂ = +∞, unless
    /// ln q is NaN itself: then q/p has no value and the NaN is kept (for the divergence checks; an estimator refuses it). Conditioning
    /// reaches both cases without a parameter past float: the prior held off by +∞ where q's −∞ draws every top unit 0, a NaN on
    /// the visible layer's logits, and a NaN on recognition layer 1's in row 0 only (its binary draws stay 0 or 1).
    /// </summary>
    [TestMethod]
    public void AZeroFactorOfPMakesTheFreeEnergyInfiniteUnlessLnQIsNaN()
    {
        var machine = TestModels.Random("3b-2b-2b", 5);
        var architecture = machine.Architecture;
        var conditioning = new LayerConditioning(architecture, 2);
        conditioning.Recognition(2, 2).Fill(float.NegativeInfinity);
        conditioning.Generative(2, 2).Fill(float.PositiveInfinity);
        conditioning.Generative(0, 2).Fill(float.NaN);
        conditioning.Recognition(1, 2)[..2].Fill(float.NaN);
        var states = new LayerStates(architecture, 2);
        states.Layer(0, 2).Fill(1f);
        double[] f = new double[2], l = new double[2];
        double[][] logQ = [[], new double[2], new double[2]], logP = [new double[2], new double[2], new double[2]];
        machine.SampleFreeEnergy(new RandomStream(3), states, 2, f, l, logQ, logP, conditioning);
        Assert.IsTrue(states.Layer(2, 2).ToArray().All(v => v == 0f) && states.Layer(1, 2).ToArray().All(v => v is 0f or 1f), "finite draws");
        Assert.IsTrue(double.IsNegativeInfinity(logP[2][0]) && double.IsNegativeInfinity(logP[2][1]), "the prior's factor is 0");
        Assert.IsTrue(double.IsNaN(logP[0][0]) && double.IsNaN(logP[0][1]), "the visible factor is NaN");
        Assert.IsTrue(double.IsNaN(logQ[1][0]) && double.IsFinite(logQ[1][1]), $"ln q of layer 1: {logQ[1][0]}, {logQ[1][1]}");
        Assert.IsTrue(double.IsNaN(f[0]), $"row 0 (ln q NaN): {f[0]}");
        Assert.IsTrue(double.IsPositiveInfinity(f[1]), $"row 1 (ln q finite): {f[1]}");
        // The overload without the layers' terms decides the same.
        double[] g = new double[2];
        machine.SampleFreeEnergy(new RandomStream(3), states, 2, g, l, conditioning);
        Assert.IsTrue(double.IsNaN(g[0]) && double.IsPositiveInfinity(g[1]), $"{g[0]}, {g[1]}");
    }

    /// <summary>
    /// A parameter set to NaN or ±∞ by hand (Load, Save and training never leave one) is refused by every estimator, feature
    /// extractor and export before any work, naming the parameter and the element. The importance-sampled estimators once
    /// returned a finite, wrong ln p for a NaN visible bias on AVX-512 (the fused visible kernel dropped the NaN: −270 against
    /// −4), and the naive one NaN; a NaN recognition weight of a Gaussian layer gave draws of weight 0, ln p = −∞.
    /// </summary>
    [TestMethod]
    [DataRow("generative.0.b", float.NaN)]
    [DataRow("generative.0.W", float.PositiveInfinity)]
    [DataRow("recognition.1.mean.b", float.NegativeInfinity)]
    [DataRow("recognition.1.mean.W", float.NaN)]
    [DataRow("recognition.1.logvar.b", float.PositiveInfinity)]
    public void AMachineWithAParameterThatIsNotFiniteIsRefusedNamingIt(string parameter, float value)
    {
        var machine = TestModels.Random("6b-3g", 5);
        machine.Parameters.Single(p => p.Name == parameter).Value[1] = value;
        DataMatrix data = Data(machine.Architecture, 4, 6);
        foreach (var (what, call) in new (string, Action)[]
                 {
                     ("importance sampling", () => new ImportanceSampledLogLikelihood(10, seed: 1) { Parallelism = 1 }.Estimate(machine, data)),
                     ("importance sampling on two pipelines", () => new ImportanceSampledLogLikelihood(10, seed: 1) { Parallelism = 2 }.Estimate(machine, data)),
                     ("fixed noise", () => new FixedNoiseLogLikelihood(machine, 10)),
                     ("the one-sample free energy", () => new SampledFreeEnergy(seed: 1).Estimate(machine, data)),
                     ("naive", () => new NaiveLogLikelihood(10).Estimate(machine, data)),
                     ("mean field", () => new MeanFieldLogLikelihood(10, steps: 2).Estimate(machine, data)),
                     ("features", () => new RecognitionFeatures(machine)),
                     ("ONNX export", () => machine.ExportRecognitionToOnnx(new MemoryStream())),
                     ("the mean frame", () => TemporalEvaluation.MeanFrame(machine, 10)),
                 })
        {
            var e = Assert.ThrowsExactly<NotFiniteNumberException>(call, what);
            StringAssert.Contains(e.Message, $"The machine's parameter {parameter} holds {value} (element 1)", what);
        }
    }

    /// <summary>The temporal estimators and generator refuse a model with a parameter that is not finite, its LSTM's included, naming it.</summary>
    [TestMethod]
    public void ATemporalModelWithAParameterThatIsNotFiniteIsRefusedNamingIt()
    {
        foreach (bool inTheLstm in new[] { false, true })
        {
            var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("6b-3g"), 3, 13);
            Parameter bad = inTheLstm ? model.TemporalParameters[0] : model.Machine.Parameters[0];
            bad.Value[2] = float.NaN;
            var data = new SequenceSet(2, 4, 2, 3, new float[2 * 4 * 6]);
            foreach (var (what, call) in new (string, Action)[]
                     {
                         ("per frame", () => TemporalEvaluation.LogLikelihoodPerFrame(model, data, 10)),
                         ("predictions", () => TemporalEvaluation.PredictFrames(model, data, 10)),
                         ("generation", () => TemporalEvaluation.Generate(model, 2, 3)),
                         ("fixed noise", () => new TemporalFixedNoiseLogLikelihood(model, 10)),
                     })
            {
                var e = Assert.ThrowsExactly<NotFiniteNumberException>(call, $"{what}, {bad.Name}");
                StringAssert.Contains(e.Message, $"The machine's parameter {bad.Name} holds NaN (element 2)", what);
            }
        }
    }

    /// <summary>The temporal estimators share the machine's free energy: the same extreme machine scores there too.</summary>
    [TestMethod]
    public void TheTemporalEstimatorsScoreAnExtremeMachine()
    {
        var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("6b-3g-2g"), 3, 13);
        model.Machine.Parameters.Single(p => p.Name == "recognition.1.logvar.b").Value.AsSpan().Fill(100);
        var random = new RandomStream(14);
        const int count = 2, frames = 5;
        float[] values = new float[count * frames * 6];
        for (int i = 0; i < values.Length; i++) values[i] = random.NextDouble() < 0.5 ? 1 : 0;
        var data = new SequenceSet(count, frames, 2, 3, values);
        AssertScoreable(TemporalEvaluation.LogLikelihoodPerFrame(model, data, 10, seed: 15), "per frame");
        double[] result = new double[frames];
        new TemporalFixedNoiseLogLikelihood(model, 10, seed: 16).Score(values.AsSpan(0, frames * 6), frames, result);
        AssertScoreable(result, "fixed noise per frame");
    }

    /// <summary>
    /// The naive estimator leaves float products for the layer's kernel when any data row is too large for them, not only the last
    /// nor only the first: a row of zeros (x̃ = 0, which float products resolve) after and before one they cannot (biases of
    /// 5·10⁶…10⁷, as above).
    /// </summary>
    [TestMethod]
    public void TheNaiveEstimatorScoresEveryRowExactlyWhenOnlyOneRowIsTooLargeForFloatProducts()
    {
        var (machine, agreeing, _) = BiasesAgreeingWithARow(1e7f);
        foreach (float[] values in new float[][] { [.. agreeing, .. new float[16]], [.. new float[16], .. agreeing] })
        {
            var data = new DataMatrix(2, 16, values);
            double[] estimate = new NaiveLogLikelihood(50, seed: 75, samplesPerChunk: 20).EstimatePerExample(machine, data);
            for (int r = 0; r < 2; r++)
            {
                double exact = TestModels.ExactLogLikelihood(machine, data.Row(r));
                Assert.AreEqual(exact, estimate[r], 1e-6 * Math.Max(1, Math.Abs(exact)), $"row {r} of [{string.Join(", ", values.Take(16))}, …]: exact {exact}, naive {estimate[r]}");
            }
        }
    }

    /// <summary>
    /// Likewise for the dreams: any dream of a chunk too large for float products sends the chunk to the layer's kernel, not only its
    /// first. Hidden unit 0, on in half the dreams, adds weights of 5·10⁶…10⁷ agreeing with the row to biases of 25…50 agreeing with it,
    /// so ln p(x | h) is 0 (within e⁻²⁵) under every dream, and so is ln p(x); float products of the large dreams were off by nats.
    /// </summary>
    [TestMethod]
    public void TheNaiveEstimatorScoresEveryDreamExactlyWhenOnlySomeAreTooLargeForFloatProducts()
    {
        var machine = TestModels.Random("16b-3b", 73);
        float[] weights = machine.Parameters.Single(p => p.Name == "generative.0.W").Value;   // [16 × 3]
        float[] bias = machine.Parameters.Single(p => p.Name == "generative.0.b").Value;
        machine.Parameters.Single(p => p.Name == "generative.1.prior.b").Value[0] = 0;
        Array.Clear(weights);
        var random = new RandomStream(76);
        float[] agreeing = new float[16];
        for (int i = 0; i < 16; i++)
        {
            agreeing[i] = random.NextDouble() < 0.5 ? 0 : 1;
            float sign = agreeing[i] == 1 ? 1 : -1;
            bias[i] = sign * 50f * (float)((1 + random.NextDouble()) / 2);
            weights[i * 3] = sign * 1e7f * (float)((1 + random.NextDouble()) / 2);
        }
        double exact = TestModels.ExactLogLikelihood(machine, agreeing);
        // Chunks of 10 dreams: with unit 0 on in half of them, some chunk's first dream has it off, for each seed.
        foreach (ulong seed in new ulong[] { 77, 78, 79 })
        {
            double estimate = new NaiveLogLikelihood(50, seed, samplesPerChunk: 10).EstimatePerExample(machine, new DataMatrix(1, 16, agreeing))[0];
            // The float products of the biases' dreams (x̃ · φ near 400) are within a few 10⁻⁵.
            Assert.AreEqual(exact, estimate, 1e-3, $"seed {seed}: exact {exact}, naive {estimate}");
        }
    }

    /// <summary>
    /// A 16b-3b machine whose generative weights are 0 and whose visible biases, of between half <paramref name="scale"/> and
    /// <paramref name="scale"/> in magnitude, agree with a random binary row (the same row and biases for every scale):
    /// p(x | h) is then the same for every h, so ln p(x) = ln p(x | h), and 0 (or nearly) for that row.
    /// </summary>
    private static (HelmholtzMachine Machine, float[] Agreeing, float[] Bias) BiasesAgreeingWithARow(float scale)
    {
        var machine = TestModels.Random("16b-3b", 73);
        machine.Parameters.Single(p => p.Name == "generative.0.W").Value.AsSpan().Clear();
        float[] bias = machine.Parameters.Single(p => p.Name == "generative.0.b").Value;
        var random = new RandomStream(74);
        float[] agreeing = new float[16];
        for (int i = 0; i < 16; i++)
        {
            agreeing[i] = random.NextDouble() < 0.5 ? 0 : 1;
            bias[i] = (agreeing[i] == 1 ? 1 : -1) * scale * (float)((1 + random.NextDouble()) / 2);
        }
        return (machine, agreeing, bias);
    }
}
