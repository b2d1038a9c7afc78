using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Microsoft.ML.Helmholtz.Numerics;

/// <summary>
/// Sixteen double sums, one for each lane of a 16-float vector: the kernels that add float terms in
/// double (log-probabilities of rows that mix terms of 1e4 and 1e-3) keep them here. Where AVX-512
/// runs they are two Vector512&lt;double&gt;; without it, .NET emulates those as pairs of 256-bit
/// halves through helper calls that a large kernel leaves uninlined (widenings, additions and
/// Set/GetLower/Upper were 3% of an AVX2 scoring profile as calls), so <see cref="HalfSums"/> keeps four
/// Vector256&lt;double&gt; instead. Both add the same values in the same order per lane and
/// reduce alike, so a kernel gives the same bits with either.
/// </summary>
internal interface ILaneSums<TSelf> where TSelf : struct, ILaneSums<TSelf>
{
    static abstract TSelf Zero { get; }

    /// <summary>Each lane += its value of v, widened.</summary>
    void Add(Vector512<float> v);

    /// <summary>Each lane += e·scale + m, e and m widened (one fused multiply-add in double).</summary>
    void AddScaled(Vector512<float> e, double scale, Vector512<float> m);

    /// <summary>Σ over the lanes, reduced as Vector512.Sum reduces the two halves' sum (lanes 0–7 + lanes 8–15).</summary>
    double Sum();
}

/// <summary>The sums as two Vector512&lt;double&gt; (lanes 0–7 and 8–15), where AVX-512 runs.</summary>
internal struct WideSums : ILaneSums<WideSums>
{
    private Vector512<double> _low, _high;

    public static WideSums Zero => default;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Add(Vector512<float> v)
    {
        _low += Vector512.WidenLower(v);
        _high += Vector512.WidenUpper(v);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void AddScaled(Vector512<float> e, double scale, Vector512<float> m)
    {
        Vector512<double> s = Vector512.Create(scale);
        _low += Vector512.FusedMultiplyAdd(Vector512.WidenLower(e), s, Vector512.WidenLower(m));
        _high += Vector512.FusedMultiplyAdd(Vector512.WidenUpper(e), s, Vector512.WidenUpper(m));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly double Sum() => Vector512.Sum(_low + _high);
}

/// <summary>The sums as four Vector256&lt;double&gt; (lanes 0–3, 4–7, 8–11, 12–15), without AVX-512.</summary>
internal struct HalfSums : ILaneSums<HalfSums>
{
    private Vector256<double> _a, _b, _c, _d;

    public static HalfSums Zero => default;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Add(Vector512<float> v)
    {
        Vector256<float> low = v.GetLower(), high = v.GetUpper();
        _a += Vector256.WidenLower(low);
        _b += Vector256.WidenUpper(low);
        _c += Vector256.WidenLower(high);
        _d += Vector256.WidenUpper(high);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void AddScaled(Vector512<float> e, double scale, Vector512<float> m)
    {
        Vector256<double> s = Vector256.Create(scale);
        Vector256<float> el = e.GetLower(), eh = e.GetUpper(), ml = m.GetLower(), mh = m.GetUpper();
        _a += Vector256.FusedMultiplyAdd(Vector256.WidenLower(el), s, Vector256.WidenLower(ml));
        _b += Vector256.FusedMultiplyAdd(Vector256.WidenUpper(el), s, Vector256.WidenUpper(ml));
        _c += Vector256.FusedMultiplyAdd(Vector256.WidenLower(eh), s, Vector256.WidenLower(mh));
        _d += Vector256.FusedMultiplyAdd(Vector256.WidenUpper(eh), s, Vector256.WidenUpper(mh));
    }

    // Lanes 0–7 are (_a, _b) and 8–15 (_c, _d), so their sum is (_a + _c, _b + _d); the emulated
    // Vector512.Sum adds its lower half's sum and then its upper half's, as here.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly double Sum() => Vector256.Sum(_a + _c) + Vector256.Sum(_b + _d);
}
