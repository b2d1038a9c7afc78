using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Learning.Optimizers;

/// <summary>
/// Stochastic gradient descent with (heavy-ball) momentum: v ← μ v − η g; x ← x + v. Gradients under
/// 10⁻¹⁶ in magnitude count as 0 and velocities under 10⁻³⁰ are stored as 0, which keeps subnormal
/// numbers (slow on x86) out of the step (<see cref="Kernels.MomentumUpdate"/>).
/// One run or thread at a time: a trainer holds it for its run and names a second run given it; its own
/// <c>Step</c> called directly from two threads at once is not detected.
/// </summary>
public sealed unsafe class SgdMomentum : IOptimizer, IKeepsValuesBeforeStep, IResumable
{
    private readonly Dictionary<Parameter, float[]> _velocity = new(ReferenceEqualityComparer.Instance);
    private ParameterBlocks? _blocks;
    private StepUndo? _blocksBefore;   // where the blocks keep the values from before a step (null: nowhere)

    /// <summary>SGD with momentum μ = <paramref name="momentum"/>, in [0, 1) (else <see cref="ArgumentOutOfRangeException"/>); 0 is plain SGD.</summary>
    public SgdMomentum(float momentum = 0.9f)
    {
        Requires.InUnitIntervalOpenAbove(momentum, nameof(momentum));
        Momentum = momentum;
    }

    /// <summary>μ, the share of the velocity carried into the next step: v ← μ v − η g.</summary>
    public float Momentum { get; }
    /// <summary>"sgd".</summary>
    public string Name => "sgd";
    /// <summary>The momentum, as it reads back exactly: e.g. "momentum 0.9".</summary>
    public string Settings => FormattableString.Invariant($"momentum {Momentum:R}");
    /// <summary>True: the step clears each gradient in the pass that reads it.</summary>
    public bool ClearsGradients => true;

    /// <inheritdoc/>
    public void Step(IReadOnlyList<Parameter> parameters, float learningRate) => Step(parameters, learningRate, null);

    void IKeepsValuesBeforeStep.Step(IReadOnlyList<Parameter> parameters, float learningRate, StepUndo before) => Step(parameters, learningRate, before);

    private void Step(IReadOnlyList<Parameter> parameters, float learningRate, StepUndo? before)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        Requires.NonNegativeFinite(learningRate, nameof(learningRate));   // a NaN or ∞ rate would write NaN into every parameter
        if (_blocks is null || !_blocks.Covers(parameters) || !ReferenceEquals(before, _blocksBefore))
        {
            _blocks = new ParameterBlocks(parameters, p => (_velocity.TryGetValue(p, out float[]? v) ? v
                : _velocity[p] = ParameterBlocks.AllocateState(p.Length), null), before is null ? null : before.SavedOf);
            _blocksBefore = before;
        }
        _blocks.Run(new Work { Blocks = _blocks.Table, Momentum = Momentum, LearningRate = learningRate });
    }

    /// <summary>
    /// Each parameter's velocity, named by its place and name (none before the first step). After a step, a parameter the
    /// steps were not given throws <see cref="ArgumentException"/> naming it, before anything is written.
    /// </summary>
    public void SaveState(StateSection section, IReadOnlyList<Parameter> parameters)
    {
        ArgumentNullException.ThrowIfNull(section);
        ArgumentNullException.ThrowIfNull(parameters);
        if (_velocity.Count > 0) ParameterBlocks.RequireStepped(parameters, _velocity, Name);
        for (int i = 0; i < parameters.Count && _velocity.Count > 0; i++)
            section.Write($"velocity{i} {parameters[i].Name}", _velocity[parameters[i]]);
    }

    /// <inheritdoc/>
    public void RestoreState(StateSection section, IReadOnlyList<Parameter> parameters)
    {
        ArgumentNullException.ThrowIfNull(section);
        ArgumentNullException.ThrowIfNull(parameters);
        if (section.Names.Count != 0 && section.Names.Count != parameters.Count)
            throw new InvalidDataException($"The training state of {section.Owner} holds {section.Names.Count} velocities, but this run has {parameters.Count} parameters: it is from another machine or rule.");
        var velocity = new Dictionary<Parameter, float[]>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < parameters.Count && section.Names.Count > 0; i++)
        {
            float[] v = ParameterBlocks.AllocateState(parameters[i].Length);
            section.ReadFloats($"velocity{i} {parameters[i].Name}", v.Length).CopyTo(v);
            if (!Kernels.AllFinite(v))
                throw new InvalidDataException($"The training state of {section.Owner} holds a velocity of {parameters[i].Name} that is not finite.");
            velocity[parameters[i]] = v;
        }
        _velocity.Clear();
        foreach (var (p, v) in velocity) _velocity[p] = v;
        _blocks = null;
    }

    private struct Work : IPieceWork
    {
        public ParameterBlocks.Block* Blocks;
        public float Momentum, LearningRate;

        public readonly void Execute(int piece)
        {
            ParameterBlocks.Block b = Blocks[piece];
            var gradient = new Span<float>(b.Gradient, b.Length);
            Kernels.MomentumUpdate(new Span<float>(b.Value, b.Length), gradient, new Span<float>(b.State0, b.Length), Momentum, LearningRate,
                b.Before is null ? default : new Span<float>(b.Before, b.Length));
            gradient.Clear(); // the block was just read: clearing it here costs less than another pass
        }
    }
}
