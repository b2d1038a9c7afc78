using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Microsoft.ML.Helmholtz.Numerics;

// Checks over values: all finite, all binary, all in [0, 1].
public static partial class Kernels
{
    /// <summary>Whether every element is finite (neither NaN nor ±∞).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static bool AllFinite(ReadOnlySpan<float> x)
    {
        int n = x.Length, i = 0;
        if (Wide)
        {
            // v · 0 is 0 for finite v and NaN for NaN or ±∞, and NaN survives the sum.
            Vector512<float> acc = Vector512<float>.Zero;
            for (; i <= n - W; i += W) acc += VectorMath.Load(x, i) * Vector512<float>.Zero;
            if (!Vector512.EqualsAll(acc, Vector512<float>.Zero)) return false;
        }
        for (; i < n; i++)
            if (!float.IsFinite(x[i])) return false;
        return true;
    }

    /// <summary>True when every value is exactly 0 or 1 (NaN is neither).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static bool AllBinary(ReadOnlySpan<float> x)
    {
        int n = x.Length, i = 0;
        if (Wide)
        {
            for (; i <= n - W; i += W)
            {
                Vector512<float> v = VectorMath.Load(x, i);
                // Compared as integers: the all-ones mask read as a float is NaN, which equals nothing.
                Vector512<int> binary = (Vector512.Equals(v, Vector512<float>.Zero) | Vector512.Equals(v, Vector512<float>.One)).AsInt32();
                if (!Vector512.EqualsAll(binary, Vector512<int>.AllBitsSet))
                    return false;
            }
        }
        for (; i < n; i++)
            if (x[i] != 0f && x[i] != 1f) return false;
        return true;
    }

    /// <summary>True when every value lies in [0, 1] (NaN does not).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static bool AllInUnitInterval(ReadOnlySpan<float> x)
    {
        int n = x.Length, i = 0;
        if (Wide)
        {
            for (; i <= n - W; i += W)
            {
                Vector512<float> v = VectorMath.Load(x, i);
                // Both comparisons are false for NaN.
                Vector512<int> inside = (Vector512.GreaterThanOrEqual(v, Vector512<float>.Zero) & Vector512.LessThanOrEqual(v, Vector512<float>.One)).AsInt32();
                if (!Vector512.EqualsAll(inside, Vector512<int>.AllBitsSet))
                    return false;
            }
        }
        for (; i < n; i++)
            if (!(x[i] >= 0f && x[i] <= 1f)) return false;
        return true;
    }
}
