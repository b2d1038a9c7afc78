using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Learning.Optimizers;

/// <summary>Adam (Kingma and Ba, 2015) with bias-corrected moment estimates.</summary>
public sealed class Adam : IOptimizer
{
    private readonly Dictionary<Parameter, (float[] M, float[] V)> _moments = new(ReferenceEqualityComparer.Instance);
    private long _step;

    public Adam(float beta1 = 0.9f, float beta2 = 0.999f, float epsilon = 1e-8f)
    {
        if (beta1 is < 0 or >= 1 || beta2 is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(beta1), "Adam's betas must lie in [0, 1).");
        if (!(epsilon > 0)) throw new ArgumentOutOfRangeException(nameof(epsilon), "Adam's epsilon must be positive.");
        Beta1 = beta1;
        Beta2 = beta2;
        Epsilon = epsilon;
    }

    public float Beta1 { get; }
    public float Beta2 { get; }
    public float Epsilon { get; }
    public string Name => "adam";

    public void Step(IReadOnlyList<Parameter> parameters, float learningRate)
    {
        _step++;
        float c1 = 1f - MathF.Pow(Beta1, _step), c2 = 1f - MathF.Pow(Beta2, _step);
        float stepSize = learningRate * MathF.Sqrt(c2) / c1;
        float epsilonHat = Epsilon * MathF.Sqrt(c2);
        for (int index = 0; index < parameters.Count; index++) // no enumerator allocation in the hot loop
        {
            Parameter p = parameters[index];
            if (!_moments.TryGetValue(p, out var state))
                _moments[p] = state = (new float[p.Length], new float[p.Length]);
            Kernels.AdamUpdate(p.Value, p.Gradient, state.M, state.V, Beta1, Beta2, stepSize, epsilonHat);
        }
    }
}
