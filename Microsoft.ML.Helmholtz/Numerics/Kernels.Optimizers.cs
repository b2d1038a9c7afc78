using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Microsoft.ML.Helmholtz.Numerics;

// Optimiser steps: Adam, heavy-ball momentum.
//
// Both keep subnormal numbers out of their arithmetic. A moment or velocity that decays under a run of
// zero or vanishing gradients (the weights of a pixel that is never on, a unit driven far into
// saturation) would otherwise spend many steps as a subnormal, and each vector operation on one takes a
// microcode assist on x86: in a Wake-Sleep run, Adam took 0.35–0.38 ms a step instead of 0.17–0.19
// (docs/performance.md). So a gradient under OptimizerGradientFloor in magnitude enters as 0, and a
// state under OptimizerStateFloor is stored as 0. What that drops from a step is far below a float's
// resolution of the weights: with Adam and its default ε, about 10⁻⁸ of the learning rate at most
// (a first moment under 10⁻¹⁶ over a denominator of at least ε̂).
public static partial class Kernels
{
    /// <summary>Gradients smaller than this in magnitude enter an optimiser step as 0 (their squares would be subnormal).</summary>
    internal const float OptimizerGradientFloor = 1e-16f;

    /// <summary>Moment estimates and velocities smaller than this in magnitude are stored as 0, so their decay never reaches subnormal numbers.</summary>
    internal const float OptimizerStateFloor = 1e-30f;

    /// <summary>
    /// One Adam step: m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², x ← x − η̂ m / (√v + ε̂); x before the step is
    /// copied to <paramref name="before"/> on the way when it is not empty (a trainer's undo copy, without a pass of its own).
    /// A gradient under <see cref="OptimizerGradientFloor"/> counts as 0 and m or v under <see cref="OptimizerStateFloor"/> is stored as 0.
    /// With <paramref name="shrink"/> (1 − ηλ, decoupled weight decay) x ← shrink · x − η̂ m / (√v + ε̂); at 1 the bits are those without it.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static unsafe void AdamUpdate(Span<float> x, ReadOnlySpan<float> g, Span<float> m, Span<float> v,
        float beta1, float beta2, float stepSize, float epsilonHat, Span<float> before = default, float shrink = 1f)
    {
        int n = x.Length, i = 0;
        bool keep = !before.IsEmpty;
        if (keep) before = before[..n];
        float a1 = 1f - beta1, a2 = 1f - beta2;
        // The undo copy is read only when a step is undone, so the 16-lane loop stores it past the caches (non-temporal):
        // no read for ownership of its lines, and nothing the next step needs is evicted for it. On a Zen 5 machine the kernel
        // with the undo copy ran 5–22% faster so, and an epoch of BP-SBP about 2%. The 8-lane loop (AVX2 without AVX-512)
        // stores it as the other arrays: on a Zen 3 machine streaming made Adam's step 1.3–1.6 times as slow and a BP-SBP epoch
        // 3–8% slower, where the arrays fit the third-level cache (docs/performance.md).
        // Those stores need aligned addresses: the elements before the first aligned one take the scalar step, whose bits are the same.
        fixed (float* kept = before)
        {
            bool lanes16 = Vector512.IsHardwareAccelerated;
            bool streamed = Wide && keep && lanes16 && Avx512F.IsSupported && FloatAligned(kept);
            if (streamed) i = AdamUpdateScalar(x, g, m, v, beta1, beta2, stepSize, epsilonHat, before, shrink, 0, Math.Min(n, ElementsBeforeAligned(kept, 64)));
            if (Wide && !lanes16)
                i = AdamUpdate8(x, g, m, v, beta1, beta2, stepSize, epsilonHat, keep ? kept : null, shrink);
            else if (Wide)
            {
                Vector512<float> b1 = Vector512.Create(beta1), b2 = Vector512.Create(beta2), c1 = Vector512.Create(a1), c2 = Vector512.Create(a2);
                Vector512<float> step = Vector512.Create(stepSize), eps = Vector512.Create(epsilonHat), keepOf = Vector512.Create(shrink);
                Vector512<float> gradientFloor = Vector512.Create(OptimizerGradientFloor), stateFloor = Vector512.Create(OptimizerStateFloor);
                for (; i <= n - W; i += W)
                {
                    // Comparisons and masks take no assist on a subnormal; the arithmetic after them sees none.
                    // Only lanes under the floor are cleared: a NaN or ±∞ goes on into the step, as without the floors.
                    Vector512<float> gv = VectorMath.Load(g, i);
                    gv = Vector512.AndNot(gv, Vector512.LessThan(Vector512.Abs(gv), gradientFloor));
                    Vector512<float> mv = b1 * VectorMath.Load(m, i) + c1 * gv;
                    Vector512<float> vv = b2 * VectorMath.Load(v, i) + c2 * gv * gv;
                    mv = Vector512.AndNot(mv, Vector512.LessThan(Vector512.Abs(mv), stateFloor));
                    vv = Vector512.AndNot(vv, Vector512.LessThan(vv, stateFloor));
                    VectorMath.Store(mv, m, i);
                    VectorMath.Store(vv, v, i);
                    Vector512<float> xv = VectorMath.Load(x, i);
                    if (streamed) Avx512F.StoreAlignedNonTemporal(kept + i, xv);
                    else if (keep) VectorMath.Store(xv, before, i);
                    VectorMath.Store(xv * keepOf - step * mv / (Vector512.Sqrt(vv) + eps), x, i);
                }
            }
            // Non-temporal stores are ordered only by a fence: the copy is then whole before anyone can read it.
            if (streamed) Sse.StoreFence();
        }
        AdamUpdateScalar(x, g, m, v, beta1, beta2, stepSize, epsilonHat, before, shrink, i, n);
    }

    /// <summary>Whether <paramref name="address"/> lies on a float's 4-byte boundary (a span over raw memory need not), so that a whole number of floats reaches any wider one.</summary>
    private static unsafe bool FloatAligned(float* address) => ((nuint)address & 3) == 0;

    /// <summary>How many floats from <paramref name="address"/> (4-byte aligned) to the first address aligned to <paramref name="alignment"/> bytes.</summary>
    private static unsafe int ElementsBeforeAligned(float* address, int alignment)
        => (int)((uint)(alignment - (int)((nuint)address & (nuint)(alignment - 1))) & (uint)(alignment - 1)) / sizeof(float);

    /// <summary><see cref="AdamUpdate"/> one element at a time over [<paramref name="from"/>, <paramref name="to"/>); returns <paramref name="to"/>.</summary>
    private static int AdamUpdateScalar(Span<float> x, ReadOnlySpan<float> g, Span<float> m, Span<float> v,
        float beta1, float beta2, float stepSize, float epsilonHat, Span<float> before, float shrink, int from, int to)
    {
        bool keep = !before.IsEmpty;
        float a1 = 1f - beta1, a2 = 1f - beta2;
        for (int i = from; i < to; i++)
        {
            if (keep) before[i] = x[i];
            float gi = AboveFloor(g[i], OptimizerGradientFloor);
            m[i] = AboveFloor(beta1 * m[i] + a1 * gi, OptimizerStateFloor);
            v[i] = AboveFloor(beta2 * v[i] + a2 * gi * gi, OptimizerStateFloor);
            x[i] = x[i] * shrink - stepSize * m[i] / (MathF.Sqrt(v[i]) + epsilonHat);
        }
        return to;
    }

    /// <summary>
    /// <see cref="AdamUpdate"/>'s vector loop on 8 lanes, for AVX2 without AVX-512; returns where the scalar tail starts.
    /// The 16-lane loop, run there as two halves, holds its seven constants in fourteen of the sixteen registers and
    /// spills: this one measured 3–5% faster on Zen 1 (docs/performance.md). The lanes' arithmetic is the same, so are the bits.
    /// <paramref name="before"/> is null for no undo copy.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static unsafe int AdamUpdate8(Span<float> x, ReadOnlySpan<float> g, Span<float> m, Span<float> v,
        float beta1, float beta2, float stepSize, float epsilonHat, float* before, float shrink)
    {
        int n = x.Length, i = 0;
        Vector256<float> b1 = Vector256.Create(beta1), b2 = Vector256.Create(beta2), c1 = Vector256.Create(1f - beta1), c2 = Vector256.Create(1f - beta2);
        Vector256<float> step = Vector256.Create(stepSize), eps = Vector256.Create(epsilonHat), keepOf = Vector256.Create(shrink);
        Vector256<float> gradientFloor = Vector256.Create(OptimizerGradientFloor), stateFloor = Vector256.Create(OptimizerStateFloor);
        for (; i <= n - 8; i += 8)
        {
            Vector256<float> gv = Vector256.Create(g.Slice(i, 8));
            gv = Vector256.AndNot(gv, Vector256.LessThan(Vector256.Abs(gv), gradientFloor));
            Vector256<float> mv = b1 * Vector256.Create(m.Slice(i, 8)) + c1 * gv;
            Vector256<float> vv = b2 * Vector256.Create(v.Slice(i, 8)) + c2 * gv * gv;
            mv = Vector256.AndNot(mv, Vector256.LessThan(Vector256.Abs(mv), stateFloor));
            vv = Vector256.AndNot(vv, Vector256.LessThan(vv, stateFloor));
            mv.CopyTo(m.Slice(i, 8));
            vv.CopyTo(v.Slice(i, 8));
            Vector256<float> xv = Vector256.Create(x.Slice(i, 8));
            if (before is not null) xv.Store(before + i);
            (xv * keepOf - step * mv / (Vector256.Sqrt(vv) + eps)).CopyTo(x.Slice(i, 8));
        }
        return i;
    }

    /// <summary>0 for a value under the floor in magnitude; the value itself otherwise (NaN and ±∞ included, so they still show).</summary>
    private static float AboveFloor(float value, float floor) => MathF.Abs(value) < floor ? 0f : value;

    /// <summary>
    /// One heavy-ball step: v ← μ v − η g; x ← x + v; x before the step copied to <paramref name="before"/> when it is not empty.
    /// A gradient under <see cref="OptimizerGradientFloor"/> counts as 0 and a velocity under <see cref="OptimizerStateFloor"/> is stored as 0.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static void MomentumUpdate(Span<float> x, ReadOnlySpan<float> g, Span<float> velocity, float momentum, float learningRate, Span<float> before = default)
    {
        int n = x.Length, i = 0;
        bool keep = !before.IsEmpty;
        if (keep) before = before[..n];
        if (Wide)
        {
            Vector512<float> mu = Vector512.Create(momentum), eta = Vector512.Create(learningRate);
            Vector512<float> gradientFloor = Vector512.Create(OptimizerGradientFloor), stateFloor = Vector512.Create(OptimizerStateFloor);
            for (; i <= n - W; i += W)
            {
                Vector512<float> gv = VectorMath.Load(g, i);
                gv = Vector512.AndNot(gv, Vector512.LessThan(Vector512.Abs(gv), gradientFloor));
                Vector512<float> vv = mu * VectorMath.Load(velocity, i) - eta * gv;
                vv = Vector512.AndNot(vv, Vector512.LessThan(Vector512.Abs(vv), stateFloor));
                VectorMath.Store(vv, velocity, i);
                Vector512<float> xv = VectorMath.Load(x, i);
                if (keep) VectorMath.Store(xv, before, i);
                VectorMath.Store(xv + vv, x, i);
            }
        }
        for (; i < n; i++)
        {
            if (keep) before[i] = x[i];
            velocity[i] = AboveFloor(momentum * velocity[i] - learningRate * AboveFloor(g[i], OptimizerGradientFloor), OptimizerStateFloor);
            x[i] += velocity[i];
        }
    }
}
