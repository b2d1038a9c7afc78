using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Microsoft.ML.Helmholtz.Numerics;

public static partial class Kernels
{
    /// <summary>
    /// The gradient of a loss through a Gaussian sample y = m + σ ε, σ = e^{s/2}, into the sample's
    /// statistics. With g = local + pathWise (each [rows × columns], already weighted; an empty local is zero):
    /// dMean = g; dLogVar = ½ σ ε g' + ½ σ² κ w_r − ½ w_r, where g' = g and κ = 0 when
    /// <paramref name="curvature"/> is empty (all path-wise), else g' = pathWise and κ the curvature of
    /// the local terms (Price's theorem for them); −½ w_r is the loss's w_r ln q(y_r) of the sample's
    /// own density, whose path-wise derivative in s is −½ (in m, 0).
    /// </summary>
    public static void ReparameterizedGaussianGradient(ReadOnlySpan<float> local, ReadOnlySpan<float> pathWise, ReadOnlySpan<float> curvature,
        ReadOnlySpan<float> noise, ReadOnlySpan<float> logVar, ReadOnlySpan<float> rowWeights, int rows, int columns, Span<float> dMean, Span<float> dLogVar)
    {
        int n = rows * columns;
        bool price = !curvature.IsEmpty;
        bool hasLocal = !local.IsEmpty;
        if (hasLocal) local = local[..n];
        pathWise = pathWise[..n]; noise = noise[..n]; logVar = logVar[..n]; dMean = dMean[..n]; dLogVar = dLogVar[..n];
        rowWeights = rowWeights[..rows];
        if (price) curvature = curvature[..n];
        ReparameterizedGaussianRange(local, hasLocal, pathWise, curvature, noise, logVar, rowWeights, columns, price, dMean, dLogVar, 0, n);
    }

    // Over elements, not rows, so that a row's values take the vector or the scalar path by their
    // place in the whole range (as the kernel this replaced did); a vector spanning two rows takes
    // its weights lane by lane.
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void ReparameterizedGaussianRange(ReadOnlySpan<float> local, bool hasLocal, ReadOnlySpan<float> pathWise, ReadOnlySpan<float> curvature,
        ReadOnlySpan<float> noise, ReadOnlySpan<float> logVar, ReadOnlySpan<float> rowWeights, int columns, bool price, Span<float> dMean, Span<float> dLogVar, int start, int end)
    {
        int i = start;
        if (Wide)
        {
            var half = Vector512.Create(0.5f);
            Span<float> lanes = stackalloc float[W];
            for (; i <= end - W; i += W)
            {
                int r0 = i / columns, r1 = (i + W - 1) / columns;
                Vector512<float> w;
                if (r0 == r1) w = Vector512.Create(rowWeights[r0]);
                else
                {
                    for (int k = 0; k < W; k++) lanes[k] = rowWeights[(i + k) / columns];
                    w = Vector512.Create<float>(lanes);
                }
                Vector512<float> pv = VectorMath.Load(pathWise, i);
                Vector512<float> g = hasLocal ? VectorMath.Load(local, i) + pv : pv;
                Vector512<float> sigma = VectorMath.Exp(half * VectorMath.Load(logVar, i));
                VectorMath.Store(g, dMean, i);
                Vector512<float> dl = half * sigma * VectorMath.Load(noise, i) * (price ? pv : g) - half * w;
                if (price) dl += half * sigma * sigma * VectorMath.Load(curvature, i) * w;
                VectorMath.Store(dl, dLogVar, i);
            }
        }
        for (; i < end; i++)
        {
            float w = rowWeights[i / columns];
            float g = hasLocal ? local[i] + pathWise[i] : pathWise[i];
            float sigma = MathF.Exp(0.5f * logVar[i]);
            dMean[i] = g;
            dLogVar[i] = 0.5f * sigma * noise[i] * (price ? pathWise[i] : g) - 0.5f * w;
            if (price) dLogVar[i] += 0.5f * sigma * sigma * curvature[i] * w;
        }
    }
}
