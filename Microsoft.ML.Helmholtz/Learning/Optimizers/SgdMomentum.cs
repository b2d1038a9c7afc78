using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Learning.Optimizers;

/// <summary>Stochastic gradient descent with (heavy-ball) momentum: v ← μ v − η g; x ← x + v.</summary>
public sealed class SgdMomentum : IOptimizer
{
    private readonly Dictionary<Parameter, float[]> _velocity = new(ReferenceEqualityComparer.Instance);

    public SgdMomentum(float momentum = 0.9f)
    {
        if (momentum is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(momentum), "Momentum must lie in [0, 1).");
        Momentum = momentum;
    }

    public float Momentum { get; }
    public string Name => "sgd";

    public void Step(IReadOnlyList<Parameter> parameters, float learningRate)
    {
        for (int index = 0; index < parameters.Count; index++) // no enumerator allocation in the hot loop
        {
            Parameter p = parameters[index];
            if (!_velocity.TryGetValue(p, out float[]? v)) _velocity[p] = v = new float[p.Length];
            Kernels.MomentumUpdate(p.Value, p.Gradient, v, Momentum, learningRate);
        }
    }
}
