using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Layers;

/// <summary>The nonlinearity of a generative Gaussian layer's mean.</summary>
public enum GaussianMean
{
    /// <summary>mean = tanh(W x + b): the smooth unit of the seed.</summary>
    Tanh,

    /// <summary>mean = W x + b: for real-valued visible data outside (−1, 1).</summary>
    Linear,
}

/// <summary>
/// The kind of stochastic unit a layer holds, and everything that depends on it: its code in
/// architecture strings, the layers that model it in each network, their parameter counts, which
/// visible values it can model, and whether its samples can be differentiated. The networks, the
/// architecture parser and the learning rules ask the kind instead of switching over a closed list,
/// so a new kind is one new subclass, <see cref="Register"/>ed once.
/// </summary>
public abstract class UnitType
{
    private static readonly object s_lock = new();
    private static UnitType[] s_registered = [];

    /// <summary>Binary units: Bernoulli(sigmoid(W x + b)). Code "b".</summary>
    public static UnitType Bernoulli { get; } = Register(new BernoulliUnits());

    /// <summary>Smooth units: Gaussian around tanh(W x + b) (code "g") or W x + b ("gl"), with a learned diagonal variance.</summary>
    public static UnitType Gaussian { get; } = Register(new GaussianUnits());

    /// <summary>
    /// Smooth units whose recognition layer has a correlated posterior, N(m, D + u uᵀ) (code "gr";
    /// <see cref="RankOneGaussianLayer"/>); generatively the same as <see cref="Gaussian"/>, with a tanh
    /// mean ("gr") or a linear one ("grl", as "gl").
    /// </summary>
    public static UnitType GaussianRankOne { get; } = Register(new GaussianRankOneUnits());

    /// <summary>
    /// Units on [0, 1] with the continuous Bernoulli density (code "cb"; <see cref="ContinuousBernoulliLayer"/>):
    /// a visible layer for values such as soft, anti-aliased pixels, which a Bernoulli layer cannot model.
    /// </summary>
    public static UnitType ContinuousBernoulli { get; } = Register(new ContinuousBernoulliUnits());

    /// <summary>
    /// Bernoulli units scored on values in [0, 1] by the cross-entropy y ln λ + (1 − y) ln(1 − λ) (code "bs"): the
    /// visible layer the literature uses for soft pixels; for binary data it is <see cref="Bernoulli"/>. Unlike a
    /// density on [0, 1] (<see cref="ContinuousBernoulli"/>) it stays bounded (≤ 0) on values at exactly 0 or 1.
    /// </summary>
    public static UnitType SoftBernoulli { get; } = Register(new SoftBernoulliUnits());

    /// <summary>Every registered kind, in the order registered.</summary>
    public static IReadOnlyList<UnitType> Registered => Array.AsReadOnly(Volatile.Read(ref s_registered));

    /// <summary>
    /// Adds a kind to those <see cref="KnownCodes"/> parse. Its codes must be new, and readable after a layer's size in an
    /// architecture string: lower-case ASCII letters, not "t" (a deterministic tanh layer there). A machine of any other code
    /// would save but not load.
    /// </summary>
    public static T Register<T>(T units) where T : UnitType
    {
        ArgumentNullException.ThrowIfNull(units);
        if (units.Codes is not { Count: > 0 } codes)
            throw new ArgumentException($"{units.Name} has no unit code: give at least one (e.g. \"b\").", nameof(units));
        foreach (var (code, _) in codes)
        {
            if (string.IsNullOrEmpty(code) || !code.All(char.IsAsciiLetterLower))
                throw new ArgumentException($"The unit code '{code}' of {units.Name} is not lower-case ASCII letters: an architecture string " +
                    "reads a layer as its size in digits followed by such a code (\"200g\"), lower-casing what it is given.", nameof(units));
            if (code == "t")
                throw new ArgumentException($"The unit code 't' of {units.Name} is taken by the architecture string's deterministic tanh layers (\"200t\").", nameof(units));
            if (codes.Count(c => c.Code == code) > 1)
                throw new ArgumentException($"The unit code '{code}' appears twice among {units.Name}'s codes.", nameof(units));
        }
        lock (s_lock)
        {
            foreach (UnitType known in s_registered)
                foreach (var (code, _) in units.Codes)
                    if (known.Codes.Any(c => c.Code == code))
                        throw new ArgumentException($"The unit code '{code}' of {units.Name} is already used by {known.Name}.", nameof(units));
            s_registered = [.. s_registered, units];
        }
        return units;
    }

    /// <summary>The kind written as <paramref name="code"/> (e.g. "b", "g", "gl") and the mean function it implies; false if none is.</summary>
    public static bool TryParseCode(string code, out UnitType units, out GaussianMean mean)
    {
        foreach (UnitType kind in Registered)
            foreach (var (c, m) in kind.Codes)
                if (c == code) { units = kind; mean = m; return true; }
        units = null!;
        mean = GaussianMean.Tanh;
        return false;
    }

    /// <summary>Every code of every registered kind, for error messages.</summary>
    public static string KnownCodes => string.Join(", ", Registered.SelectMany(k => k.Codes.Select(c => $"'{c.Code}' ({k.Describe(c.Mean)})")));

    /// <summary>The kind's name in messages, e.g. "Bernoulli" or "Gaussian".</summary>
    public abstract string Name { get; }

    /// <summary>The codes of this kind in architecture strings, each with the mean function it stands for.</summary>
    public abstract IReadOnlyList<(string Code, GaussianMean Mean)> Codes { get; }

    /// <summary>The code for a layer of this kind with <paramref name="mean"/>.</summary>
    public virtual string Code(GaussianMean mean) => Codes[0].Code;

    /// <summary>A few words for a layer of this kind, e.g. "Gaussian, tanh mean".</summary>
    public virtual string Describe(GaussianMean mean) => Name;

    /// <summary>Whether a sample is a differentiable function of the layer's statistics and independent noise (<see cref="IReparameterizedLayer"/>).</summary>
    public abstract bool HasReparameterizedSamples { get; }

    /// <summary>Whether Price's theorem applies: a diagonal posterior variance whose gradient comes from the diagonal curvature (<see cref="SampleGradient.LocalCurvature"/>).</summary>
    public virtual bool SupportsPriceGradient => false;

    /// <summary>
    /// Where a hidden layer's draws are centred when the optimiser steps in centred coordinates
    /// (<see cref="Learning.TrainingOptions.CenterInputs"/>): the middle of a bounded range, or null for
    /// draws centred at 0 already.
    /// </summary>
    public virtual float? HiddenCentre => null;

    /// <summary>p(X_l | X_{l+1}) in the generative network.</summary>
    public abstract ConditionalLayer CreateGenerative(string name, int inputs, int outputs, GaussianMean mean, IMatrixEngine engine);

    /// <summary>The factorised prior p(X_L) of a top layer of this kind.</summary>
    public abstract ConditionalLayer CreatePrior(string name, int outputs, IMatrixEngine engine);

    /// <summary>q(X_l | X_{l−1}) in the recognition network.</summary>
    public abstract ConditionalLayer CreateRecognition(string name, int inputs, int outputs, IMatrixEngine engine);

    /// <summary>Parameters of <see cref="CreateGenerative"/>, counted without allocating (64-bit: inputs × outputs &lt; 2⁶²).</summary>
    public abstract long GenerativeParameterCount(long inputs, long outputs);

    /// <summary>Parameters of <see cref="CreateRecognition"/>.</summary>
    public abstract long RecognitionParameterCount(long inputs, long outputs);

    /// <summary>Parameters of <see cref="CreatePrior"/>.</summary>
    public abstract long PriorParameterCount(long outputs);

    /// <summary>Whether a visible layer of this kind can model the value <paramref name="value"/>.</summary>
    public abstract bool Models(float value);

    /// <summary><see cref="Models(float)"/> for every value, in one vectorised pass (the common, clean case).</summary>
    public abstract bool ModelsAll(ReadOnlySpan<float> values);

    /// <summary>What a visible layer of this kind models, for errors naming a value it cannot: e.g. "only 0 and 1". Never NaN or ±∞.</summary>
    public abstract string ModelledValues { get; }

    /// <summary>What to do about data this kind cannot model, e.g. "scale the data into [0, 1] or use a Gaussian visible layer ('gl')".</summary>
    public abstract string ValueHint { get; }

    /// <summary>Null when a visible layer may have these units; else why not and what to write instead.</summary>
    public virtual string? UnsupportedAsVisible => null;

    /// <summary>The kind's <see cref="Name"/>.</summary>
    public override string ToString() => Name;

    /// <summary>Units of one affine map in each network (logits or a natural parameter), the prior with learned biases: the three creations and counts from one factory.</summary>
    private abstract class OneAffineMapUnits : UnitType
    {
        public override bool HasReparameterizedSamples => false;

        /// <summary>The layer of this kind over <paramref name="inputs"/> (0: the prior).</summary>
        protected abstract ConditionalLayer Create(string name, int inputs, int outputs, IMatrixEngine engine);

        public override ConditionalLayer CreateGenerative(string name, int inputs, int outputs, GaussianMean mean, IMatrixEngine engine) => Create(name, inputs, outputs, engine);
        public override ConditionalLayer CreatePrior(string name, int outputs, IMatrixEngine engine) => Create(name, 0, outputs, engine);
        public override ConditionalLayer CreateRecognition(string name, int inputs, int outputs, IMatrixEngine engine) => Create(name, inputs, outputs, engine);

        public override long GenerativeParameterCount(long inputs, long outputs) => inputs * outputs + outputs;
        public override long RecognitionParameterCount(long inputs, long outputs) => inputs * outputs + outputs;
        public override long PriorParameterCount(long outputs) => outputs;
    }

    /// <summary><see cref="OneAffineMapUnits"/> whose visible layer models values in [0, 1].</summary>
    private abstract class UnitIntervalUnits : OneAffineMapUnits
    {
        public override float? HiddenCentre => 0.5f;
        public override bool Models(float value) => value is >= 0f and <= 1f;
        public override bool ModelsAll(ReadOnlySpan<float> values) => Kernels.AllInUnitInterval(values);
        public override string ModelledValues => "values in [0, 1]";
        public override string ValueHint => "scale the data into [0, 1] or use a Gaussian visible layer ('gl')";
    }

    private sealed class BernoulliUnits : OneAffineMapUnits
    {
        public override string Name => "Bernoulli";
        public override IReadOnlyList<(string Code, GaussianMean Mean)> Codes { get; } = [("b", GaussianMean.Tanh)];
        protected override ConditionalLayer Create(string name, int inputs, int outputs, IMatrixEngine engine) => new BernoulliLayer(name, inputs, outputs, engine);

        public override float? HiddenCentre => 0.5f;
        public override bool Models(float value) => value is 0f or 1f;
        public override bool ModelsAll(ReadOnlySpan<float> values) => Kernels.AllBinary(values);
        public override string ModelledValues => "only 0 and 1";
        public override string ValueHint => "binarize the data, or for grey values in [0, 1] use a soft-target Bernoulli ('bs') or continuous Bernoulli ('cb') visible layer, or a Gaussian one ('gl') for any values";
    }

    private sealed class SoftBernoulliUnits : UnitIntervalUnits
    {
        public override string Name => "Bernoulli (soft targets)";
        public override IReadOnlyList<(string Code, GaussianMean Mean)> Codes { get; } = [("bs", GaussianMean.Tanh)];
        public override string Describe(GaussianMean mean) => "Bernoulli, values in [0, 1] scored by cross-entropy";
        protected override ConditionalLayer Create(string name, int inputs, int outputs, IMatrixEngine engine) => new BernoulliLayer(name, inputs, outputs, engine, softTargets: true);
    }

    private sealed class ContinuousBernoulliUnits : UnitIntervalUnits
    {
        public override string Name => "continuous Bernoulli";
        public override IReadOnlyList<(string Code, GaussianMean Mean)> Codes { get; } = [("cb", GaussianMean.Tanh)];
        public override string Describe(GaussianMean mean) => "continuous Bernoulli, values in [0, 1]";
        // Its inverse-CDF draw is differentiable, but no layer exposes it as a reparameterised sample yet.
        protected override ConditionalLayer Create(string name, int inputs, int outputs, IMatrixEngine engine) => new ContinuousBernoulliLayer(name, inputs, outputs, engine);
    }

    private sealed class GaussianRankOneUnits : UnitType
    {
        public override string Name => "Gaussian (rank-one posterior)";
        // Only a recognition layer has the correlated posterior, and no recognition layer models the visible one.
        public override string? UnsupportedAsVisible => "a rank-one posterior belongs to a hidden layer's recognition layer, and the visible layer has none: use 'g' (or 'gl' for a linear mean)";
        public override IReadOnlyList<(string Code, GaussianMean Mean)> Codes { get; } = [("gr", GaussianMean.Tanh), ("grl", GaussianMean.Linear)];
        public override string Code(GaussianMean mean) => mean == GaussianMean.Tanh ? "gr" : "grl";
        public override string Describe(GaussianMean mean)
            => $"Gaussian, {(mean == GaussianMean.Tanh ? "tanh" : "linear")} mean, recognition covariance diagonal plus rank one";
        public override bool HasReparameterizedSamples => true;

        public override ConditionalLayer CreateGenerative(string name, int inputs, int outputs, GaussianMean mean, IMatrixEngine engine)
            => new GaussianLayer(name, inputs, outputs, mean, VarianceSource.PerUnit, engine);
        public override ConditionalLayer CreatePrior(string name, int outputs, IMatrixEngine engine) => new StandardNormalPrior(outputs, name);
        public override ConditionalLayer CreateRecognition(string name, int inputs, int outputs, IMatrixEngine engine)
            => new RankOneGaussianLayer(name, inputs, outputs, engine);

        public override long GenerativeParameterCount(long inputs, long outputs) => inputs * outputs + 2 * outputs;
        // Three affine maps: mean, log-variance and the rank-one factor.
        public override long RecognitionParameterCount(long inputs, long outputs) => 3 * (inputs * outputs + outputs);
        public override long PriorParameterCount(long outputs) => 0;

        public override bool Models(float value) => float.IsFinite(value);
        public override bool ModelsAll(ReadOnlySpan<float> values) => Kernels.AllFinite(values);
        public override string ModelledValues => "finite values";
        public override string ValueHint => "remove or impute the missing and infinite values";
    }

    private sealed class GaussianUnits : UnitType
    {
        public override string Name => "Gaussian";
        public override IReadOnlyList<(string Code, GaussianMean Mean)> Codes { get; } = [("g", GaussianMean.Tanh), ("gl", GaussianMean.Linear)];
        public override string Code(GaussianMean mean) => mean == GaussianMean.Tanh ? "g" : "gl";
        public override string Describe(GaussianMean mean) => mean == GaussianMean.Tanh ? "Gaussian, tanh mean" : "Gaussian, linear mean";
        public override bool HasReparameterizedSamples => true;
        public override bool SupportsPriceGradient => true;

        public override ConditionalLayer CreateGenerative(string name, int inputs, int outputs, GaussianMean mean, IMatrixEngine engine)
            => new GaussianLayer(name, inputs, outputs, mean, VarianceSource.PerUnit, engine);
        public override ConditionalLayer CreatePrior(string name, int outputs, IMatrixEngine engine) => new StandardNormalPrior(outputs, name);
        public override ConditionalLayer CreateRecognition(string name, int inputs, int outputs, IMatrixEngine engine)
            => new GaussianLayer(name, inputs, outputs, GaussianMean.Linear, VarianceSource.FromInput, engine);

        // Generative: weights, biases and a log-variance per unit; recognition: two affine maps (mean and log-variance).
        public override long GenerativeParameterCount(long inputs, long outputs) => inputs * outputs + 2 * outputs;
        public override long RecognitionParameterCount(long inputs, long outputs) => 2 * (inputs * outputs + outputs);
        public override long PriorParameterCount(long outputs) => 0;

        public override bool Models(float value) => float.IsFinite(value);
        public override bool ModelsAll(ReadOnlySpan<float> values) => Kernels.AllFinite(values);
        public override string ModelledValues => "finite values";
        public override string ValueHint => "remove or impute the missing and infinite values";
    }
}
