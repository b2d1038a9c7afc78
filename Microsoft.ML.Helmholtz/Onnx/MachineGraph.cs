using Microsoft.ML.Helmholtz.Evaluation;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Onnx.Proto;

namespace Microsoft.ML.Helmholtz.Onnx;

/// <summary>
/// ONNX graphs of a machine (opset 18): the recognition features (the deterministic pass, as
/// <see cref="RecognitionFeatures"/>) and the log-likelihood with common random numbers (as
/// <see cref="FixedNoiseLogLikelihood"/>, its noise held in the graph), for a batch of rows
/// [N × visible units] with N symbolic. Samples are an axis of their own: [N, K, units].
/// </summary>
internal static class MachineGraph
{
    /// <summary>
    /// The float t_f with s &gt; t_f exactly when s &gt; <paramref name="threshold"/> for every float score s (the largest float not
    /// above it), so that the graph's labels are the managed scorer's on the same score; rounding to nearest could flip one at the boundary.
    /// </summary>
    internal static float ThresholdAsFloat(double threshold)
    {
        float t = (float)threshold;
        return t > threshold ? MathF.BitDecrement(t) : t;
    }

    public const string InputName = "input";
    public const string FeaturesName = "features";
    public const string LogLikelihoodName = "log_likelihood";
    private const string Batch = "N";

    /// <summary>
    /// A model with the outputs asked for (at least one): "features" [N, F] and "log_likelihood" [N],
    /// the input "input" [N, visible units].
    /// </summary>
    public static byte[] Build(RecognitionFeatures? features, FixedNoiseLogLikelihood? logLikelihood, IDictionary<string, string>? metadata = null)
        => Build(features, logLikelihood, new GraphColumns(), metadata);

    /// <summary>A model with the given names and layout (see <see cref="GraphColumns"/>); refused past <paramref name="constantByteLimit"/> bytes of constants.</summary>
    public static byte[] Build(RecognitionFeatures? features, FixedNoiseLogLikelihood? logLikelihood, GraphColumns columns, IDictionary<string, string>? metadata = null,
        long constantByteLimit = OnnxGraphBuilder.MaxConstantBytes)
    {
        bool wantsLogLikelihood = columns.LogLikelihood is not null || columns.Score is not null || columns.PredictedLabel is not null;
        if ((features is null) != (columns.Features is null) || (logLikelihood is null) == wantsLogLikelihood)
            throw new ArgumentException("The graph's outputs must match the scorers given.");
        if (features is null && logLikelihood is null) throw new ArgumentException("Ask for the features, the log-likelihood or both.");
        HelmholtzMachine machine = features?.Machine ?? logLikelihood!.Machine;
        int visible = machine.Architecture.Visible.Size;
        var g = new OnnxGraphBuilder("helmholtz_machine", constantByteLimit) { ModelDomain = "microsoft.ml.helmholtz" };
        string x;
        if (columns.SingleRow)
        {
            // One row [D] (as ML.NET's OnnxTransformer hands it), computed as a batch of one. Of any size, it is declared
            // [1, values]: OnnxTransformer fills in one unknown dimension, but takes a leading one for a batch of 1.
            if (columns.RowOfAnySize) x = g.Input(columns.Input, 1, "values");
            else
            {
                string row = g.Input(columns.Input, visible);
                x = g.Node("Unsqueeze", [row, g.Int64Initializer("axis_0", [0], 1)]);
            }
        }
        else x = g.Input(columns.Input, Batch, visible);

        if (features is not null)
        {
            Output(g, columns, AddFeatures(g, features, x, columns), columns.Features!, features.Size);
        }
        if (logLikelihood is not null)
        {
            // [N] (a batch), or [1] for one row: ML.NET's OnnxTransformer gives vectors, never scalars.
            string ll = AddLogLikelihood(g, logLikelihood, x);
            string score = g.Node("Neg", [ll]);
            if (columns.LogLikelihood is not null) Declare(g, columns, g.Node("Identity", [ll], columns.LogLikelihood));
            if (columns.Score is not null) Declare(g, columns, g.Node("Identity", [score], columns.Score));
            if (columns.PredictedLabel is not null)
            {
                g.Node("Greater", [score, g.Scalar("threshold", ThresholdAsFloat(columns.Threshold))], columns.PredictedLabel);
                if (columns.SingleRow) g.Output(columns.PredictedLabel, TensorProto.Types.DataType.Bool, 1);
                else g.Output(columns.PredictedLabel, TensorProto.Types.DataType.Bool, Batch);
            }
        }
        var meta = new Dictionary<string, string>(metadata ?? new Dictionary<string, string>()) { ["architecture"] = machine.Architecture.ToString() };
        return g.ToBytes("Microsoft.ML.Helmholtz", typeof(MachineGraph).Assembly.GetName().Version?.ToString() ?? "0", meta);
    }

    /// <summary>A vector per row as an output of its own, [N, units] (or [units] for one row): the features, a hidden layer's statistic.</summary>
    private static void Output(OnnxGraphBuilder g, GraphColumns columns, string value, string name, int units)
    {
        if (columns.SingleRow) g.Node("Reshape", [value, g.Int64Initializer($"{name}_shape", [units], 1)], name);
        else g.Node("Identity", [value], name);
        Declare(g, columns, name, units);
    }

    /// <summary>Declares a float output: [N, size] or [N] for a batch, [size] or [1] for one row.</summary>
    private static void Declare(OnnxGraphBuilder g, GraphColumns columns, string name, int? size = null)
    {
        if (columns.SingleRow) g.Output(name, size ?? 1);
        else if (size is { } s) g.Output(name, Batch, s);
        else g.Output(name, Batch);
    }

    private static string AddFeatures(OnnxGraphBuilder g, RecognitionFeatures features, string x, GraphColumns columns)
    {
        RecognitionNetwork rec = features.Machine.Recognition;
        var layers = new List<string>();
        string h = x;
        for (int l = 1; l <= rec.Depth; l++)
        {
            // The deterministic pass: probabilities for Bernoulli units, means for Gaussian and continuous Bernoulli ones (after any tanh layers).
            var (layer, trunk) = Unwrap(rec.Layer(l));
            string input = trunk is null ? h : Trunk(g, h, trunk, $"features_rec{l}", threeD: false);
            h = layer switch
            {
                BernoulliLayer b => g.Node("Sigmoid", [Gemm(g, input, b.Affine, $"features_rec{l}")]),
                ContinuousBernoulliLayer cb => ContinuousBernoulliMean(g, Gemm(g, input, cb.Affine, $"features_rec{l}")),
                GaussianLayer gl => Gemm(g, input, gl.MeanMap, $"features_rec{l}_mean"),
                RankOneGaussianLayer ro => Gemm(g, input, ro.MeanMap, $"features_rec{l}_mean"),
                var other => throw new NotSupportedException($"{other.GetType().Name} has no ONNX form."),
            };
            layers.Add(h);
            if (!columns.LayerStatistics) continue;
            int units = layer.OutputSize;
            switch (layer)
            {
                case GaussianLayer gaussian:
                    Output(g, columns, h, $"hidden_{l}_mean", units);
                    Output(g, columns, Gemm(g, input, gaussian.LogVarianceMap!, $"features_rec{l}_logvar"), $"hidden_{l}_log_variance", units);
                    break;
                case RankOneGaussianLayer rankOne:
                    Output(g, columns, h, $"hidden_{l}_mean", units);
                    Output(g, columns, Gemm(g, input, rankOne.LogVarianceMap, $"features_rec{l}_logvar"), $"hidden_{l}_log_variance", units);
                    Output(g, columns, Gemm(g, input, rankOne.FactorMap, $"features_rec{l}_factor"), $"hidden_{l}_factor", units);
                    break;
                case ContinuousBernoulliLayer:
                    Output(g, columns, h, $"hidden_{l}_mean", units);
                    break;
                default:
                    Output(g, columns, h, $"hidden_{l}_probability", units);
                    break;
            }
        }
        return features.Layers == FeatureLayers.Top ? layers[^1] : g.Node("Concat", layers.ToArray(), null, ("axis", 1L));
    }

    private static string AddLogLikelihood(OnnxGraphBuilder g, FixedNoiseLogLikelihood estimator, string x)
        => AddLogLikelihood(g, estimator.Machine, estimator.Samples, l => estimator.Noise(l).ToArray(), x);

    /// <summary>
    /// ln p̂ [N] of the rows x [N, D] with the noise of hidden layer l given by <paramref name="noise"/> ([K × noise per row]);
    /// <paramref name="conditioning"/>, when given, names for (recognition?, layer) a tensor [N, units] added to that layer's
    /// pre-activations (logits, or a Gaussian's mean argument; a standard-normal prior's mean), as <see cref="LayerConditioning"/> does.
    /// </summary>
    internal static string AddLogLikelihood(OnnxGraphBuilder g, HelmholtzMachine machine, int k, Func<int, float[]> noise, string x,
        Func<bool, int, string?>? conditioning = null)
    {
        var arch = machine.Architecture;
        int depth = arch.Depth;
        // Made on first use: a graph that needs none of them holds none (ONNX Runtime warns of unused initializers).
        var constants = new Constants(g);
        string axis1 = g.Int64Initializer("axis_1", [1], 1);

        // Recognition, bottom-up: h_l [N, K, units] from the fixed noise, and Σ_l ln q(h_l | h_l−1) [N, K].
        var h = new string[depth + 1];
        string logQ = "";
        for (int l = 1; l <= depth; l++)
        {
            var (layer, trunk) = Unwrap(machine.Recognition.Layer(l));
            int units = arch.Layers[l].Size;
            string Noise() => g.Initializer($"noise_{l}", noise(l), k, units);
            // Layer 1 reads the row [N, D]: its statistics once, then [N, 1, units] against the K noise rows.
            string input = trunk is null ? (l == 1 ? x : h[l - 1]) : Trunk(g, l == 1 ? x : h[l - 1], trunk, $"rec{l}", threeD: l > 1);
            string Statistics(AffineMap map, string name) => l == 1
                ? g.Node("Unsqueeze", [Gemm(g, input, map, name), axis1])
                : Affine3(g, input, map, name);
            string term;
            switch (layer)
            {
                case BernoulliLayer b:
                {
                    string a = Conditioned(g, Statistics(b.Affine, $"rec{l}"), conditioning?.Invoke(true, l), axis1);
                    // Unit on when u < sigmoid(a), as the managed sampler draws it.
                    h[l] = g.Node("Cast", [g.Node("Less", [Noise(), g.Node("Sigmoid", [a])])], null, ("to", (long)TensorProto.Types.DataType.Float));
                    term = BernoulliLogProb(g, a, h[l], constants.One, constants.MinusTwo);
                    break;
                }
                case ContinuousBernoulliLayer cb:
                {
                    string a = Conditioned(g, Statistics(cb.Affine, $"rec{l}"), conditioning?.Invoke(true, l), axis1);
                    h[l] = ContinuousBernoulliQuantile(g, a, Noise());
                    term = ContinuousBernoulliLogProb(g, a, h[l]);
                    break;
                }
                case GaussianLayer gl:
                {
                    string m = Conditioned(g, Statistics(gl.MeanMap, $"rec{l}_mean"), conditioning?.Invoke(true, l), axis1), s = Statistics(gl.LogVarianceMap!, $"rec{l}_logvar");
                    h[l] = g.Node("Add", [m, g.Node("Mul", [g.Node("Exp", [g.Node("Mul", [s, constants.Half])]), Noise()])]);
                    // ln N(h; m, e^s) of its own draw = −½ Σ (ε² + s + ln 2π): the ε part is a constant per sample.
                    float[] noiseTerm = new float[k];
                    ReadOnlySpan<float> eps = noise(l);
                    for (int j = 0; j < k; j++)
                    {
                        double sum = 0;
                        for (int u = 0; u < units; u++) sum += eps[j * units + u] * eps[j * units + u];
                        noiseTerm[j] = (float)(-0.5 * (sum + units * Numerics.Kernels.LogTwoPi));
                    }
                    term = g.Node("Add", [g.Initializer($"rec{l}_noise_term", noiseTerm, k), g.Node("Mul", [g.Reduce("ReduceSum", s, [2], keepDims: false), constants.MinusHalf])]);
                    break;
                }
                case RankOneGaussianLayer ro:
                {
                    string m = Conditioned(g, Statistics(ro.MeanMap, $"rec{l}_mean"), conditioning?.Invoke(true, l), axis1), s = Statistics(ro.LogVarianceMap, $"rec{l}_logvar"), u = Statistics(ro.FactorMap, $"rec{l}_factor");
                    // The noise row of a sample is ε (units values) then η: initializers [K, units], and η as [K, 1] and [K].
                    ReadOnlySpan<float> all = noise(l);
                    float[] eps = new float[k * units], eta = new float[k];
                    for (int j = 0; j < k; j++)
                    {
                        all.Slice(j * (units + 1), units).CopyTo(eps.AsSpan(j * units, units));
                        eta[j] = all[j * (units + 1) + units];
                    }
                    string epsilon = g.Initializer($"noise_{l}_eps", eps, k, units), eta1 = g.Initializer($"noise_{l}_eta", eta, k, 1);
                    string halfS = g.Node("Mul", [s, constants.Half]), sigma = g.Node("Exp", [halfS]);
                    h[l] = g.Node("Add", [m, g.Node("Add", [g.Node("Mul", [sigma, epsilon]), g.Node("Mul", [u, eta1])])]);
                    // ln q of the draw from its noise, as the managed layer has it (exact however large u is against σ), in its
                    // scaled form (RankOneGaussianLayer.LogDensityOfSampleScaled) so that no sum passes float however small σ is:
                    // a' = u e^{−s/2 − c}, c = max(0, max_i ln|u_i| − s_i/2), A' = Σ a'², B' = Σ a' ε;
                    // −½ (Σ ε² + η² − (B' − η e^{−c})² / (e^{−2c} + A') + Σ s + 2c + ln(e^{−2c} + A') + n ln 2π). With c = 0 it is
                    // the plain form with a = u / σ.
                    string logAbsA = g.Node("Sub", [g.Node("Log", [g.Node("Abs", [u])]), halfS]);   // −∞ where u = 0
                    string cKept = g.Node("Max", [g.Reduce("ReduceMax", logAbsA, [2], keepDims: true), g.Constant(0f)]);
                    string c = g.Node("Max", [g.Reduce("ReduceMax", logAbsA, [2], keepDims: false), g.Constant(0f)]);
                    string a = g.Node("Mul", [g.Node("Sign", [u]), g.Node("Exp", [g.Node("Sub", [logAbsA, cKept])])]);
                    string scale = g.Node("Exp", [g.Node("Neg", [c])]);
                    string floorPlusA = g.Node("Add", [g.Reduce("ReduceSum", g.Node("Mul", [a, a]), [2], keepDims: false), g.Node("Mul", [scale, scale])]);
                    string bMinusEta = g.Node("Sub", [g.Reduce("ReduceSum", g.Node("Mul", [a, epsilon]), [2], keepDims: false),
                        g.Node("Mul", [g.Initializer($"noise_{l}_eta_k", eta, k), scale])]);
                    float[] noiseTerm = new float[k];
                    for (int j = 0; j < k; j++)
                    {
                        double sum = (double)eta[j] * eta[j];
                        for (int i = 0; i < units; i++) sum += (double)eps[j * units + i] * eps[j * units + i];
                        noiseTerm[j] = (float)(sum + units * Numerics.Kernels.LogTwoPi);
                    }
                    string total = g.Node("Add", [
                        g.Node("Sub", [g.Initializer($"rec{l}_noise_term", noiseTerm, k), g.Node("Div", [g.Node("Mul", [bMinusEta, bMinusEta]), floorPlusA])]),
                        g.Node("Add", [g.Node("Add", [g.Reduce("ReduceSum", s, [2], keepDims: false), g.Node("Add", [c, c])]), g.Node("Log", [floorPlusA])])]);
                    term = g.Node("Mul", [total, constants.MinusHalf]);
                    break;
                }
                default: throw new NotSupportedException($"{layer.GetType().Name} has no ONNX form.");
            }
            logQ = l == 1 ? term : g.Node("Add", [logQ, term]);
        }

        // Generative, top-down: ln p(h_L) + Σ_l ln p(h_l | h_l+1), the visible row as h_0 ([N, 1, D] against the K samples).
        string? priorConditioning = conditioning?.Invoke(false, depth) is { } pc ? g.Node("Unsqueeze", [pc, axis1]) : null;
        string logP = Prior(g, machine.Generative.Prior, h[depth], constants, priorConditioning);
        string visible = g.Node("Unsqueeze", [x, axis1]);
        for (int l = depth - 1; l >= 0; l--)
        {
            string target = l == 0 ? visible : h[l];
            var (layer, trunk) = Unwrap(machine.Generative.Layers[l]);
            string input = trunk is null ? h[l + 1] : Trunk(g, h[l + 1], trunk, $"gen{l}", threeD: true);
            string? c = conditioning?.Invoke(false, l);
            string term = layer switch
            {
                BernoulliLayer { SoftTargets: true } b => SoftBernoulliLogProb(g, Conditioned(g, Affine3(g, input, b.Affine, $"gen{l}"), c, axis1), target),
                BernoulliLayer b => BernoulliLogProb(g, Conditioned(g, Affine3(g, input, b.Affine, $"gen{l}"), c, axis1), target, constants.One, constants.MinusTwo),
                ContinuousBernoulliLayer cb => ContinuousBernoulliLogProb(g, Conditioned(g, Affine3(g, input, cb.Affine, $"gen{l}"), c, axis1), target),
                GaussianLayer gl => GaussianLogProb(g, gl, Conditioned(g, Affine3(g, input, gl.MeanMap, $"gen{l}_mean"), c, axis1), target, constants.MinusHalf, $"gen{l}"),
                var other => throw new NotSupportedException($"{other.GetType().Name} has no ONNX form."),
            };
            logP = g.Node("Add", [logP, term]);
        }

        // ln p̂(x) = ln (1/K) Σ_k exp(ln p − ln q). A NaN weight (∞ − ∞ of a draw past float, or of a zero factor of p beside
        // a NaN one) is a weight of 0, as the managed scorer decides it (HelmholtzMachine.SubtractLogJoint); where the managed
        // scorer refuses the row instead (a layer's statistics past float), a graph cannot throw and drops the sample too.
        string rawWeights = g.Node("Sub", [logP, logQ]);
        string weights = g.Node("Where", [g.Node("IsNaN", [rawWeights]), g.Constant(float.NegativeInfinity), rawWeights]);
        // ln Σ_k e^{w_k} = m + ln Σ_k e^{w_k − m}, m the largest weight (0 where that is infinite: all −∞, or one +∞), formed here
        // rather than by ReduceLogSumExp: ONNX Runtime's CPU kernel takes its first element for the maximum and 0 when that one
        // is −∞, so a row whose first sample had weight 0 and whose others lay below −88 came out −∞ (or off) where the managed
        // scorer is finite.
        string largest = g.Reduce("ReduceMax", weights, [1], keepDims: true);
        // |m| > float.MaxValue rather than IsInf: elementwise ops every execution provider has (m is never NaN here).
        string infinite = g.Node("Greater", [g.Node("Abs", [largest]), g.Constant(float.MaxValue)]);
        string shift = g.Node("Where", [infinite, g.Constant(0f), largest]);
        string shiftedSum = g.Reduce("ReduceSum", g.Node("Exp", [g.Node("Sub", [weights, shift])]), [1], keepDims: true);
        string logSum = g.Node("Squeeze", [g.Node("Add", [g.Node("Log", [shiftedSum]), shift]), axis1]);
        return g.Node("Sub", [logSum, g.Scalar("log_k", (float)Math.Log(k))]);
    }

    /// <summary>The distribution of a layer and the deterministic layers before it (null: none).</summary>
    private static (ConditionalLayer Layer, DeterministicTrunk? Trunk) Unwrap(ConditionalLayer layer)
        => layer is TrunkedLayer trunked ? (trunked.Inner, trunked.Trunk) : (layer, null);

    /// <summary>tanh(W_j h + b_j) through every deterministic layer, for h [N, in] or [N, K, in].</summary>
    private static string Trunk(OnnxGraphBuilder g, string h, DeterministicTrunk trunk, string name, bool threeD)
    {
        for (int j = 0; j < trunk.Maps.Count; j++)
            h = g.Node("Tanh", [threeD ? Affine3(g, h, trunk.Maps[j], $"{name}_trunk{j}") : Gemm(g, h, trunk.Maps[j], $"{name}_trunk{j}")]);
        return h;
    }

    /// <summary>x Wᵀ + b for x [N, in].</summary>
    private static string Gemm(OnnxGraphBuilder g, string x, AffineMap map, string name)
        => g.Node("Gemm", [x, g.Initializer($"{name}_W", map.Weight!.Value, map.Outputs, map.Inputs), g.Initializer($"{name}_b", map.Bias.Value, map.Outputs)],
            null, ("transB", 1L));

    /// <summary>h Wᵀ + b for h [N, K, in] (Gemm takes two dimensions only, so MatMul with Wᵀ stored).</summary>
    private static string Affine3(OnnxGraphBuilder g, string h, AffineMap map, string name)
        => g.Node("Add", [g.Node("MatMul", [h, TransposedWeights(g, map, name)]), g.Initializer($"{name}_b", map.Bias.Value, map.Outputs)]);

    private static string TransposedWeights(OnnxGraphBuilder g, AffineMap map, string name)
    {
        float[] w = map.Weight!.Value, t = new float[w.Length];
        for (int o = 0; o < map.Outputs; o++)
            for (int i = 0; i < map.Inputs; i++) t[i * map.Outputs + o] = w[o * map.Inputs + i];
        return g.Initializer($"{name}_Wt", t, map.Inputs, map.Outputs);
    }

    /// <summary>Σ_units ln Bernoulli(y | sigmoid(a)) = Σ −softplus((1 − 2y) a), over the last axis.</summary>
    private static string BernoulliLogProb(OnnxGraphBuilder g, string a, string y, string one, string minusTwo)
    {
        string sign = g.Node("Add", [g.Node("Mul", [y, minusTwo]), one]);
        return g.Node("Neg", [g.Reduce("ReduceSum", g.Node("Softplus", [g.Node("Mul", [a, sign])]), [2], keepDims: false)]);
    }

    /// <summary>Σ_units y a − softplus(a): the cross-entropy of targets y in [0, 1].</summary>
    private static string SoftBernoulliLogProb(OnnxGraphBuilder g, string a, string y)
        => g.Reduce("ReduceSum", g.Node("Sub", [g.Node("Mul", [y, a]), g.Node("Softplus", [a])]), [2], keepDims: false);

    /// <summary>Σ_units ln N(y; f(u), e^s) with f = tanh or identity and s per unit: −½ (Σ (y − m)² e^{−s} + Σ s + n ln 2π).</summary>
    private static string GaussianLogProb(OnnxGraphBuilder g, GaussianLayer layer, string u, string y, string minusHalf, string name)
    {
        string m = layer.MeanFunction == GaussianMean.Tanh ? g.Node("Tanh", [u]) : u;
        float[] s = layer.LogVarianceParameter!.Value;
        // ((y − m) e^{−s/2})², as the managed kernel squares it (Kernels.InverseScale, e^{−s/2} held at float.MaxValue):
        // (y − m)² e^{−s} made e^{−s} ∞ below s = −88.7, so y = m gave 0 · ∞ = NaN (the sample dropped) and a tiny y − m
        // squared to 0 in float where the managed term is finite.
        string inverseScale = g.Initializer($"{name}_inverse_scale", s.Select(v => MathF.Min(MathF.Exp(-0.5f * v), float.MaxValue)).ToArray(), s.Length);
        string t = g.Node("Mul", [g.Node("Sub", [y, m]), inverseScale]);
        string squares = g.Reduce("ReduceSum", g.Node("Mul", [t, t]), [2], keepDims: false);
        double constant = s.Sum(v => (double)v) + s.Length * Numerics.Kernels.LogTwoPi;
        return g.Node("Mul", [g.Node("Add", [squares, g.Scalar($"{name}_constant", (float)constant)]), minusHalf]);
    }

    /// <summary>The scalar initializers the log-likelihood graph shares, each added when first asked for.</summary>
    private sealed class Constants(OnnxGraphBuilder g)
    {
        public string One => g.Constant(1f);
        public string MinusTwo => g.Constant(-2f);
        public string MinusHalf => g.Constant(-0.5f);
        public string Half => g.Constant(0.5f);
    }

    // Continuous Bernoulli units, as Numerics/Kernels.ContinuousBernoulli.cs computes them in double. In float the
    // closed forms lose about 1e-7 / |a| (the mean 1e-7 / a²) to the cancellation in 1 − e^−|a| near a = 0, so
    // below this |a| the kernel's series take over (the quantile's to a⁴): both sides are within 1e-6 there.
    private const float ContinuousBernoulliSeriesLimit = 0.25f;

    /// <summary>(|a|, |a| kept ≥ the series limit, e^−that): the closed forms' arguments, finite where the series are used instead.</summary>
    private static (string Abs, string Clamped, string Exp) ContinuousBernoulliArguments(OnnxGraphBuilder g, string a)
    {
        string abs = g.Node("Abs", [a]);
        string clamped = g.Node("Max", [abs, g.Constant(ContinuousBernoulliSeriesLimit)]);
        return (abs, clamped, g.Node("Exp", [g.Node("Neg", [clamped])]));
    }

    /// <summary>Where |a| is below the series limit, <paramref name="series"/>, else <paramref name="closed"/>.</summary>
    private static string NearZero(OnnxGraphBuilder g, string abs, string series, string closed)
        => g.Node("Where", [g.Node("Less", [abs, g.Constant(ContinuousBernoulliSeriesLimit)]), series, closed]);

    /// <summary>Σ_units ln CB(y | a) = Σ y a − A(a) over the last axis, A(a) = ln((e^a − 1)/a) = max(a, 0) + ln(1 − e^−|a|) − ln|a| (a/2 + a²/24 − a⁴/2880 near 0).</summary>
    private static string ContinuousBernoulliLogProb(OnnxGraphBuilder g, string a, string y)
    {
        var (abs, clamped, exp) = ContinuousBernoulliArguments(g, a);
        string closed = g.Node("Sub", [g.Node("Add", [g.Node("Relu", [a]), g.Node("Log", [g.Node("Sub", [g.Constant(1f), exp])])]), g.Node("Log", [clamped])]);
        string a2 = g.Node("Mul", [a, a]);
        string series = g.Node("Add", [g.Node("Mul", [a, g.Constant(0.5f)]),
            g.Node("Mul", [a2, g.Node("Add", [g.Constant(1f / 24), g.Node("Mul", [a2, g.Constant(-1f / 2880)])])])]);
        string logNormalizer = NearZero(g, abs, series, closed);
        return g.Reduce("ReduceSum", g.Node("Sub", [g.Node("Mul", [y, a]), logNormalizer]), [2], keepDims: false);
    }

    /// <summary>The mean A'(a) = 1/(1 − e^−a) − 1/a, from m = A'(|a|) as A'(−a) = 1 − A'(a) (½ + a/12 − a³/720 near 0).</summary>
    private static string ContinuousBernoulliMean(OnnxGraphBuilder g, string a)
    {
        var (abs, clamped, exp) = ContinuousBernoulliArguments(g, a);
        string m = g.Node("Sub", [g.Node("Reciprocal", [g.Node("Sub", [g.Constant(1f), exp])]), g.Node("Reciprocal", [clamped])]);
        string closed = g.Node("Where", [g.Node("Less", [a, g.Constant(0f)]), g.Node("Sub", [g.Constant(1f), m]), m]);
        string series = g.Node("Add", [g.Constant(0.5f),
            g.Node("Mul", [a, g.Node("Add", [g.Constant(1f / 12), g.Node("Mul", [g.Node("Mul", [a, a]), g.Constant(-1f / 720)])])])]);
        return NearZero(g, abs, series, closed);
    }

    /// <summary>
    /// The draw at the uniforms u (the inverse CDF, in [0, 1]) as the managed sampler has it: a &gt; 0: 1 + ln(u + (1 − u) e^−a)/a;
    /// a &lt; 0: ln(1 − u (1 − e^a))/a. Near 0 its series u + w a/2 + w (1 − 2u) a²/6 + w (1 − 6w) a³/24 + w (1 − 2u)(1 − 12w) a⁴/120, w = u (1 − u).
    /// </summary>
    private static string ContinuousBernoulliQuantile(OnnxGraphBuilder g, string a, string u)
    {
        var (abs, clamped, exp) = ContinuousBernoulliArguments(g, a);
        string one = g.Constant(1f);
        string positive = g.Node("Add", [one, g.Node("Div", [g.Node("Log", [g.Node("Add", [u, g.Node("Mul", [g.Node("Sub", [one, u]), exp])])]), clamped])]);
        string negative = g.Node("Div", [g.Node("Log", [g.Node("Sub", [one, g.Node("Mul", [u, g.Node("Sub", [one, exp])])])]), g.Node("Neg", [clamped])]);
        string closed = g.Node("Where", [g.Node("Less", [a, g.Constant(0f)]), negative, positive]);
        // The coefficients depend on the fixed noise alone: ONNX Runtime folds them once.
        string w = g.Node("Mul", [u, g.Node("Sub", [one, u])]), skew = g.Node("Sub", [one, g.Node("Mul", [u, g.Constant(2f)])]);
        string c1 = g.Node("Mul", [w, g.Constant(0.5f)]);
        string c2 = g.Node("Mul", [g.Node("Mul", [w, skew]), g.Constant(1f / 6)]);
        string c3 = g.Node("Mul", [g.Node("Mul", [w, g.Node("Sub", [one, g.Node("Mul", [w, g.Constant(6f)])])]), g.Constant(1f / 24)]);
        string c4 = g.Node("Mul", [g.Node("Mul", [g.Node("Mul", [w, skew]), g.Node("Sub", [one, g.Node("Mul", [w, g.Constant(12f)])])]), g.Constant(1f / 120)]);
        string horner = c4;
        foreach (string c in new[] { c3, c2, c1 }) horner = g.Node("Add", [c, g.Node("Mul", [a, horner])]);
        string series = g.Node("Add", [u, g.Node("Mul", [a, horner])]);
        return g.Node("Clip", [NearZero(g, abs, series, closed), g.Constant(0f), one]);
    }

    /// <summary>value [N, K or 1, units] plus the conditioning [N, units] when there is one.</summary>
    private static string Conditioned(OnnxGraphBuilder g, string value, string? conditioning, string axis1)
        => conditioning is null ? value : g.Node("Add", [value, g.Node("Unsqueeze", [conditioning, axis1])]);

    /// <summary>ln p(h_L); <paramref name="conditioning"/> [N, 1, units], when given, adds to the Bernoulli logits or is the standard normal's mean.</summary>
    private static string Prior(OnnxGraphBuilder g, ConditionalLayer prior, string h, Constants constants, string? conditioning = null)
    {
        switch (prior)
        {
            case BernoulliLayer b:
                string logits = g.Initializer("prior_b", b.Affine.Bias.Value, b.OutputSize);
                return BernoulliLogProb(g, conditioning is null ? logits : g.Node("Add", [logits, conditioning]), h, constants.One, constants.MinusTwo);
            case ContinuousBernoulliLayer cb:
                string natural = g.Initializer("prior_b", cb.Affine.Bias.Value, cb.OutputSize);
                return ContinuousBernoulliLogProb(g, conditioning is null ? natural : g.Node("Add", [natural, conditioning]), h);
            case StandardNormalPrior:
                if (conditioning is not null) h = g.Node("Sub", [h, conditioning]);
                string squares = g.Reduce("ReduceSum", g.Node("Mul", [h, h]), [2], keepDims: false);
                return g.Node("Mul", [g.Node("Add", [squares, g.Scalar("prior_constant", (float)(prior.OutputSize * Numerics.Kernels.LogTwoPi))]), constants.MinusHalf]);
            default:
                throw new NotSupportedException($"{prior.GetType().Name} has no ONNX form.");
        }
    }
}

/// <summary>
/// The names and layout of a machine graph's input and outputs. A null output is left out; Score is
/// −ln p̂ and PredictedLabel is Score &gt; <see cref="Threshold"/> (Boolean). <see cref="SingleRow"/>: the
/// input is one row [D] and the outputs [F] and [1] (what ML.NET's OnnxTransformer feeds and reads),
/// else a batch [N, D] with outputs [N, F] and [N]; <see cref="RowOfAnySize"/> declares the single row [1, values],
/// its length symbolic (it is D whenever the graph runs), so that OnnxTransformer takes a vector column of unknown size,
/// as a saved pipeline's checked input is (<see cref="Transforms.SavedInput"/>). <see cref="LayerStatistics"/> adds every hidden
/// layer's "hidden_l_probability" (binary units), "hidden_l_mean" (continuous Bernoulli units) or
/// "hidden_l_mean" and "hidden_l_log_variance" (Gaussian units; and "hidden_l_factor", the u of
/// D + u uᵀ, for a rank-one posterior) of the recognition network's deterministic pass. The names
/// may be any distinct strings outside the graph's own namespace (<see cref="OnnxGraphBuilder.InternalPrefix"/>, refused by the exports' checks).
/// </summary>
internal sealed record GraphColumns(
    string Input = MachineGraph.InputName,
    string? Features = MachineGraph.FeaturesName,
    string? LogLikelihood = MachineGraph.LogLikelihoodName,
    string? Score = null,
    string? PredictedLabel = null,
    bool SingleRow = false,
    double Threshold = 0,
    bool LayerStatistics = false,
    bool RowOfAnySize = false);
