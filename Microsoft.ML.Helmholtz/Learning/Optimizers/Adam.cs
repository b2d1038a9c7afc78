using System.Numerics.Tensors;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Learning.Optimizers;

/// <summary>
/// Adam (Kingma and Ba, 2015) with bias-corrected moment estimates. Gradients under 10⁻¹⁶ in magnitude
/// count as 0 and moment estimates under 10⁻³⁰ are stored as 0: a moment that decays through a run of
/// zero gradients would otherwise sit among the subnormal numbers, which are slow on x86
/// (<see cref="Kernels.AdamUpdate"/>). With the default ε, what that drops from a step is about 10⁻⁸ of the learning rate at most.
/// With a weight decay λ &gt; 0, each step also shrinks the weight matrices (<see cref="ParameterRole.Weight"/>;
/// not biases, variances or covariance factors) by the factor 1 − ηλ, decoupled from the gradient's moments
/// (AdamW, Loshchilov and Hutter 2019).
/// One run or thread at a time: a trainer holds it for its run and names a second run given it; its own
/// <c>Step</c> called directly from two threads at once is not detected.
/// </summary>
public sealed unsafe class Adam : IOptimizer, IKeepsValuesBeforeStep, IResumable
{
    private readonly Dictionary<Parameter, (float[] M, float[] V)> _moments = new(ReferenceEqualityComparer.Instance);
    private ParameterBlocks? _blocks;
    private StepUndo? _blocksBefore;   // where the blocks keep the values from before a step (null: nowhere)
    private long _step;

    /// <summary>An Adam optimiser; an argument outside its range throws <see cref="ArgumentOutOfRangeException"/>.</summary>
    /// <param name="beta1">β1, the decay of the gradients' running mean (the first moment), in [0, 1).</param>
    /// <param name="beta2">β2, the decay of the squared gradients' running mean (the second moment), in [0, 1).</param>
    /// <param name="epsilon">ε in the step η m̂ / (√v̂ + ε): positive and finite.</param>
    /// <param name="weightDecay">λ, the decoupled weight decay (<see cref="WeightDecay"/>): finite and ≥ 0; 0 for none.</param>
    public Adam(float beta1 = 0.9f, float beta2 = 0.999f, float epsilon = 1e-8f, float weightDecay = 0f)
    {
        Requires.InUnitIntervalOpenAbove(beta1, nameof(beta1));
        Requires.InUnitIntervalOpenAbove(beta2, nameof(beta2));
        Requires.PositiveInSinglePrecision(epsilon, nameof(epsilon));
        if (!(weightDecay >= 0 && float.IsFinite(weightDecay)))
            throw new ArgumentOutOfRangeException(nameof(weightDecay), weightDecay, "The weight decay must be a finite number ≥ 0.");
        Beta1 = beta1;
        Beta2 = beta2;
        Epsilon = epsilon;
        WeightDecay = weightDecay;
    }

    /// <summary>β1, the decay of the gradients' running mean (the first moment).</summary>
    public float Beta1 { get; }
    /// <summary>β2, the decay of the squared gradients' running mean (the second moment).</summary>
    public float Beta2 { get; }
    /// <summary>ε, added to √v̂ in the step's denominator: η m̂ / (√v̂ + ε).</summary>
    public float Epsilon { get; }

    /// <summary>λ: each step multiplies the weight matrices by 1 − ηλ (η the step's learning rate) before the moment step; 0 (the default) for none.</summary>
    public float WeightDecay { get; }

    /// <summary>Whether a step at <paramref name="learningRate"/> keeps the weights' shrink 1 − ηλ above 0, computed in single precision as the step does, so that a check made up front agrees with the step's.</summary>
    public static bool KeepsWeightsPositive(float learningRate, float weightDecay) => 1f - learningRate * weightDecay > 0;

    /// <summary>
    /// Refuses a run whose first rate <paramref name="firstRate"/> the step of <paramref name="optimizer"/> (when it is an Adam with a
    /// weight decay) would refuse. A schedule's rates never rise, so the first is the largest: refused as the run starts, naming
    /// <paramref name="schedule"/> (<paramref name="paramName"/> the exception's parameter), instead of at its first step.
    /// </summary>
    internal static void RequireFirstRateFits(IOptimizer optimizer, float firstRate, string schedule, string paramName)
    {
        if (optimizer is Adam { WeightDecay: > 0 } adam && !KeepsWeightsPositive(firstRate, adam.WeightDecay))
            throw new ArgumentOutOfRangeException(paramName, firstRate,
                $"{schedule} starts at {firstRate}, at which Adam's weight decay {adam.WeightDecay} would shrink the weights by 1 − ηλ = {1f - firstRate * adam.WeightDecay} " +
                "at each step (it must stay above 0): lower the rate or the weight decay.");
    }

    /// <summary>"adam".</summary>
    public string Name => "adam";
    /// <summary>β1, β2, ε and the weight decay, each as it reads back exactly: e.g. "β1 0.9, β2 0.999, ε 1E-08, weight decay 0".</summary>
    public string Settings => FormattableString.Invariant($"β1 {Beta1:R}, β2 {Beta2:R}, ε {Epsilon:R}, weight decay {WeightDecay:R}");
    /// <summary>True: the step clears each gradient in the pass that reads it.</summary>
    public bool ClearsGradients => true;

    /// <inheritdoc/>
    /// <remarks>With a <see cref="WeightDecay"/> λ &gt; 0, a rate η for which 1 − ηλ ≤ 0 throws <see cref="ArgumentOutOfRangeException"/> (<see cref="KeepsWeightsPositive"/>); both trainers refuse a run whose first rate is one before it starts.</remarks>
    public void Step(IReadOnlyList<Parameter> parameters, float learningRate) => Step(parameters, learningRate, null);

    void IKeepsValuesBeforeStep.Step(IReadOnlyList<Parameter> parameters, float learningRate, StepUndo before) => Step(parameters, learningRate, before);

    private void Step(IReadOnlyList<Parameter> parameters, float learningRate, StepUndo? before)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        Requires.NonNegativeFinite(learningRate, nameof(learningRate));   // a NaN or ∞ rate would write NaN into every parameter
        if (_blocks is null || !_blocks.Covers(parameters) || !ReferenceEquals(before, _blocksBefore))
        {
            _blocks = new ParameterBlocks(parameters, p => _moments.TryGetValue(p, out var s) ? s
                : _moments[p] = (ParameterBlocks.AllocateState(p.Length), ParameterBlocks.AllocateState(p.Length)), before is null ? null : before.SavedOf);
            _blocksBefore = before;
        }
        float shrink = 1f - learningRate * WeightDecay;
        if (!KeepsWeightsPositive(learningRate, WeightDecay))
            throw new ArgumentOutOfRangeException(nameof(learningRate), learningRate,
                $"With weight decay {WeightDecay}, a learning rate of {learningRate} would shrink the weights by 1 − ηλ = {shrink} (it must stay above 0).");
        _step++;
        float c1 = 1f - MathF.Pow(Beta1, _step), c2 = 1f - MathF.Pow(Beta2, _step);
        _blocks.Run(new Work
        {
            Blocks = _blocks.Table, Beta1 = Beta1, Beta2 = Beta2,
            StepSize = learningRate * MathF.Sqrt(c2) / c1,
            EpsilonHat = Epsilon * MathF.Sqrt(c2),
            Shrink = shrink,
        });
    }

    /// <summary>
    /// The step count (for the bias correction) and each parameter's two moments, named by its place and name. After a step,
    /// a parameter the steps were not given throws <see cref="ArgumentException"/> naming it, before anything is written.
    /// </summary>
    public void SaveState(StateSection section, IReadOnlyList<Parameter> parameters)
    {
        ArgumentNullException.ThrowIfNull(section);
        ArgumentNullException.ThrowIfNull(parameters);
        if (_step > 0) ParameterBlocks.RequireStepped(parameters, _moments, Name);
        section.Write("step", _step);
        for (int i = 0; i < parameters.Count && _step > 0; i++)
        {
            var (m, v) = _moments[parameters[i]];
            section.Write($"m{i} {parameters[i].Name}", m);
            section.Write($"v{i} {parameters[i].Name}", v);
        }
    }

    /// <inheritdoc/>
    public void RestoreState(StateSection section, IReadOnlyList<Parameter> parameters)
    {
        ArgumentNullException.ThrowIfNull(section);
        ArgumentNullException.ThrowIfNull(parameters);
        double step = section.ReadDouble("step");
        if (!(step >= 0 && step == Math.Floor(step) && step < 1L << 53))
            throw new InvalidDataException($"The training state of {section.Owner} has the step count {step}: it must be a whole number ≥ 0.");
        int expected = step == 0 ? 1 : 1 + 2 * parameters.Count;
        if (section.Names.Count != expected)
            throw new InvalidDataException($"The training state of {section.Owner} holds {section.Names.Count} entries, but Adam's state for these {parameters.Count} parameters has {expected}: it is from another machine or rule.");
        var moments = new Dictionary<Parameter, (float[] M, float[] V)>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < parameters.Count && step > 0; i++)
        {
            Parameter p = parameters[i];
            float[] m = ParameterBlocks.AllocateState(p.Length), v = ParameterBlocks.AllocateState(p.Length);
            section.ReadFloats($"m{i} {p.Name}", p.Length).CopyTo(m);
            section.ReadFloats($"v{i} {p.Name}", p.Length).CopyTo(v);
            if (!Kernels.AllFinite(m) || !Kernels.AllFinite(v) || TensorPrimitives.Min<float>(v) < 0)
                throw new InvalidDataException($"The training state of {section.Owner} holds moments of {p.Name} that are not finite, or a negative second moment.");
            moments[p] = (m, v);
        }
        _moments.Clear();
        foreach (var (p, state) in moments) _moments[p] = state;
        _step = (long)step;
        _blocks = null;
    }

    private struct Work : IPieceWork
    {
        public ParameterBlocks.Block* Blocks;
        public float Beta1, Beta2, StepSize, EpsilonHat, Shrink;

        public readonly void Execute(int piece)
        {
            ParameterBlocks.Block b = Blocks[piece];
            var gradient = new Span<float>(b.Gradient, b.Length);
            Kernels.AdamUpdate(new Span<float>(b.Value, b.Length), gradient,
                new Span<float>(b.State0, b.Length), new Span<float>(b.State1, b.Length), Beta1, Beta2, StepSize, EpsilonHat,
                b.Before is null ? default : new Span<float>(b.Before, b.Length), b.IsWeight ? Shrink : 1f);
            gradient.Clear(); // the block was just read: clearing it here costs less than another pass
        }
    }
}
