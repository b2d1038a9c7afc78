using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Microsoft.ML.Helmholtz.Numerics;

// Optimiser steps: Adam, heavy-ball momentum.
public static partial class Kernels
{
    /// <summary>
    /// One Adam step: m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², x ← x − η̂ m / (√v + ε̂); x before the step is
    /// copied to <paramref name="before"/> on the way when it is not empty (a trainer's undo copy, without a pass of its own).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static void AdamUpdate(Span<float> x, ReadOnlySpan<float> g, Span<float> m, Span<float> v,
        float beta1, float beta2, float stepSize, float epsilonHat, Span<float> before = default)
    {
        int n = x.Length, i = 0;
        bool keep = !before.IsEmpty;
        if (keep) before = before[..n];
        float a1 = 1f - beta1, a2 = 1f - beta2;
        if (Wide)
        {
            Vector512<float> b1 = Vector512.Create(beta1), b2 = Vector512.Create(beta2), c1 = Vector512.Create(a1), c2 = Vector512.Create(a2);
            Vector512<float> step = Vector512.Create(stepSize), eps = Vector512.Create(epsilonHat);
            for (; i <= n - W; i += W)
            {
                Vector512<float> gv = VectorMath.Load(g, i);
                Vector512<float> mv = b1 * VectorMath.Load(m, i) + c1 * gv;
                Vector512<float> vv = b2 * VectorMath.Load(v, i) + c2 * gv * gv;
                VectorMath.Store(mv, m, i);
                VectorMath.Store(vv, v, i);
                Vector512<float> xv = VectorMath.Load(x, i);
                if (keep) VectorMath.Store(xv, before, i);
                VectorMath.Store(xv - step * mv / (Vector512.Sqrt(vv) + eps), x, i);
            }
        }
        for (; i < n; i++)
        {
            if (keep) before[i] = x[i];
            m[i] = beta1 * m[i] + a1 * g[i];
            v[i] = beta2 * v[i] + a2 * g[i] * g[i];
            x[i] -= stepSize * m[i] / (MathF.Sqrt(v[i]) + epsilonHat);
        }
    }

    /// <summary>One heavy-ball step: v ← μ v − η g; x ← x + v; x before the step copied to <paramref name="before"/> when it is not empty.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static void MomentumUpdate(Span<float> x, ReadOnlySpan<float> g, Span<float> velocity, float momentum, float learningRate, Span<float> before = default)
    {
        int n = x.Length, i = 0;
        bool keep = !before.IsEmpty;
        if (keep) before = before[..n];
        if (Wide)
        {
            Vector512<float> mu = Vector512.Create(momentum), eta = Vector512.Create(learningRate);
            for (; i <= n - W; i += W)
            {
                Vector512<float> vv = mu * VectorMath.Load(velocity, i) - eta * VectorMath.Load(g, i);
                VectorMath.Store(vv, velocity, i);
                Vector512<float> xv = VectorMath.Load(x, i);
                if (keep) VectorMath.Store(xv, before, i);
                VectorMath.Store(xv + vv, x, i);
            }
        }
        for (; i < n; i++)
        {
            if (keep) before[i] = x[i];
            velocity[i] = momentum * velocity[i] - learningRate * g[i];
            x[i] += velocity[i];
        }
    }
}
