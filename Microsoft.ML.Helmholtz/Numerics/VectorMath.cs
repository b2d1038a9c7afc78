using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Microsoft.ML.Helmholtz.Numerics;

/// <summary>
/// Float exp, softplus, sigmoid and tanh on 16 lanes, for the element-wise kernels. They stay in
/// float (TensorPrimitives widens to double for some of these, which costs ~1 ns an element) and
/// are accurate to a few float ulps (relative error ≲ 2e-7), which is what the scalar MathF code
/// gave. Callers check <see cref="IsAccelerated"/>.
/// </summary>
internal static class VectorMath
{
    /// <summary>
    /// Whether 16-lane code runs in vector hardware: AVX-512, or AVX2 with FMA, where .NET runs each
    /// Vector512 operation as two 256-bit ones (measured as fast as code written for 8 lanes, and
    /// 5× faster than scalar loops). Elsewhere (no AVX2; Arm) the kernels run their scalar loops.
    /// </summary>
    public static bool IsAccelerated => Vector512.IsHardwareAccelerated || (Vector256.IsHardwareAccelerated && Fma.IsSupported);

    private const float Log2E = 1.44269504f;
    // ln 2 split so that n · Ln2Hi is exact for |n| < 256 (Ln2Hi has 16 significant bits).
    private const float Ln2Hi = 0.693145751953125f;
    private const float Ln2Lo = 1.42860682030941723e-6f;
    // e^x overflows float above 88.72 and rounds to 0 below ExpMin; clamping there keeps n small.
    private const float ExpClamp = 89f;
    private const float ExpMin = -104f;

    /// <summary>
    /// e^x = 2^n · e^r with n = round(x / ln 2) and |r| ≤ ln2 / 2, e^r by its Taylor series to r⁷
    /// (truncation error 0.35⁸/8! ≈ 6e-9, so rounding dominates), and 2^n applied by one VSCALEFPS,
    /// which rounds overflow to +∞ and underflow to denormals or 0 (a third faster here than forming
    /// 2^n from its bits). Without AVX-512, 2^n is applied as two exact powers of two, 2^⌊n/2⌋ then
    /// 2^(n−⌊n/2⌋): the first product is exact, so the result is rounded once, as VSCALEFPS rounds it.
    /// x above ln(float.MaxValue) gives +∞, −∞ gives 0, NaN stays NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp(Vector512<float> x)
    {
        // Clamped to [−104, 89]: beyond, e^x is 0 or ∞ in float, which VSCALEFPS produces itself.
        Vector512<float> xc = Min(Max(x, Vector512.Create(ExpMin)), Vector512.Create(ExpClamp));
        Vector512<float> n = Round(xc * Vector512.Create(Log2E));
        Vector512<float> result = Avx512F.IsSupported ? Avx512F.Scale(ExpOfReduced(xc, n), n) : ScaleByPowerOfTwo(ExpOfReduced(xc, n), n);
        return KeepNaN(x, result);
    }

    /// <summary><paramref name="result"/>, with x in the lanes where x is NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> KeepNaN(Vector512<float> x, Vector512<float> result) => Select(Vector512.Equals(x, x), result, x);

    /// <summary>
    /// <paramref name="ifTrue"/> in the lanes where <paramref name="mask"/> is all ones, <paramref name="ifFalse"/> where it is
    /// all zeros: for the masks comparisons give. Without AVX-512 a blend per half; Vector512.ConditionalSelect there
    /// came out as four bitwise operations a half, its mask no longer known to be a comparison's.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Select(Vector512<float> mask, Vector512<float> ifTrue, Vector512<float> ifFalse)
        => Vector512.IsHardwareAccelerated || !Avx.IsSupported ? Vector512.ConditionalSelect(mask, ifTrue, ifFalse)
            : Vector512.Create(Avx.BlendVariable(ifFalse.GetLower(), ifTrue.GetLower(), mask.GetLower()),
                Avx.BlendVariable(ifFalse.GetUpper(), ifTrue.GetUpper(), mask.GetUpper()));

    /// <summary>p · 2^n for integral n in [−151, 129] and p in [½, 2]: two factors, each a normal float.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> ScaleByPowerOfTwo(Vector512<float> p, Vector512<float> n)
    {
        // n is integral and in range, so the instruction's conversion needs none of the saturating one's fix-ups.
        Vector512<int> ni = Vector512.IsHardwareAccelerated ? Vector512.ConvertToInt32Native(n)
            : Vector512.Create(Vector256.ConvertToInt32Native(n.GetLower()), Vector256.ConvertToInt32Native(n.GetUpper()));
        Vector512<int> half = ni >> 1;
        Vector512<float> first = Vector512.ShiftLeft(half + Vector512.Create(127), 23).AsSingle();
        Vector512<float> second = Vector512.ShiftLeft(ni - half + Vector512.Create(127), 23).AsSingle();
        return p * first * second;
    }

    /// <summary>e^r for r = x − n ln 2 (|r| ≤ ln2 / 2), by its Taylor series to r⁷.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> ExpOfReduced(Vector512<float> x, Vector512<float> n)
    {
        Vector512<float> r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-Ln2Hi), x);
        r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-Ln2Lo), r);
        Vector512<float> p = Vector512.Create(1f / 5040);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f / 720));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f / 120));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f / 24));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f / 6));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(0.5f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512<float>.One);
        return Vector512.FusedMultiplyAdd(p, r, Vector512<float>.One);
    }

    /// <summary>
    /// ln(1 + e^a) = max(a, 0) + ln(1 + t), t = e^{−|a|} ∈ [0, 1]. ln(1 + t) = 2 atanh(s) with
    /// s = t / (2 + t) ∈ [0, 1/3], summed to s¹⁵ (truncation ≤ (1/3)¹⁶/17 ≈ 1.4e-9 relative), so it stays
    /// accurate for tiny t where forming 1 + t would round. softplus(−∞) = 0, softplus(+∞) = +∞.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Softplus(Vector512<float> a)
    {
        Vector512<float> t = Exp(-Vector512.Abs(a));
        Vector512<float> s = t / (Vector512.Create(2f) + t);
        Vector512<float> z = s * s;
        Vector512<float> q = Vector512.Create(1f / 15);
        q = Vector512.FusedMultiplyAdd(q, z, Vector512.Create(1f / 13));
        q = Vector512.FusedMultiplyAdd(q, z, Vector512.Create(1f / 11));
        q = Vector512.FusedMultiplyAdd(q, z, Vector512.Create(1f / 9));
        q = Vector512.FusedMultiplyAdd(q, z, Vector512.Create(1f / 7));
        q = Vector512.FusedMultiplyAdd(q, z, Vector512.Create(1f / 5));
        q = Vector512.FusedMultiplyAdd(q, z, Vector512.Create(1f / 3));
        q = Vector512.FusedMultiplyAdd(q, z, Vector512<float>.One);
        Vector512<float> log1p = (s + s) * q;
        return Max(a, Vector512<float>.Zero) + log1p;
    }

    /// <summary>
    /// ln x for positive, normal, finite x: x = m · 2^e with m ∈ [√½, √2), ln m = 2 atanh(s) with
    /// s = (m − 1)/(m + 1) ∈ [−0.172, 0.172], summed to s⁹ (truncation ≤ 0.172¹¹/11 ≈ 3e-10).
    /// Used on uniforms in (0, 1], so zero, denormals, infinities and NaN are not handled.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> LogOfPositive(Vector512<float> x)
    {
        Vector512<float> logMantissa = LogOfPositiveParts(x, out Vector512<float> ef);
        return Vector512.FusedMultiplyAdd(ef, Vector512.Create(Ln2Hi), Vector512.FusedMultiplyAdd(ef, Vector512.Create(Ln2Lo), logMantissa));
    }

    /// <summary>
    /// <see cref="LogOfPositive"/> in its two parts, ln x = e ln 2 + ln m: returns ln m ∈ [−0.35, 0.35] and
    /// gives the integer e, so that a caller summing in double adds e ln 2 without float's rounding of a large ln.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> LogOfPositiveParts(Vector512<float> x, out Vector512<float> exponent)
    {
        Vector512<int> bits = x.AsInt32();
        Vector512<int> e = Vector512.ShiftRightLogical(bits, 23) - Vector512.Create(127);
        Vector512<float> m = ((bits & Vector512.Create(0x7FFFFF)) | Vector512.Create(0x3F800000)).AsSingle();
        Vector512<float> big = Vector512.GreaterThan(m, Vector512.Create(1.41421356f));
        m = Select(big, m * Vector512.Create(0.5f), m);
        e += big.AsInt32() & Vector512<int>.One;
        Vector512<float> s = (m - Vector512<float>.One) / (m + Vector512<float>.One);
        Vector512<float> z = s * s;
        Vector512<float> q = Vector512.Create(1f / 9);
        q = Vector512.FusedMultiplyAdd(q, z, Vector512.Create(1f / 7));
        q = Vector512.FusedMultiplyAdd(q, z, Vector512.Create(1f / 5));
        q = Vector512.FusedMultiplyAdd(q, z, Vector512.Create(1f / 3));
        q = Vector512.FusedMultiplyAdd(q, z, Vector512<float>.One);
        exponent = Vector512.ConvertToSingle(e);
        return (s + s) * q;
    }

    /// <summary>
    /// sin θ and cos θ for θ ∈ [−π, π]: the Taylor series of the half angle φ = θ/2 ∈ [−π/2, π/2]
    /// (sin to φ¹³, cos to φ¹⁴; truncation ≤ 7e-10), then sin θ = 2 sin φ cos φ, cos θ = cos²φ − sin²φ.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (Vector512<float> Sin, Vector512<float> Cos) SinCos(Vector512<float> theta)
    {
        Vector512<float> x = theta * Vector512.Create(0.5f);
        Vector512<float> z = x * x;
        Vector512<float> sp = Vector512.Create(1f / 6227020800f);                    // 1/13!
        sp = Vector512.FusedMultiplyAdd(sp, z, Vector512.Create(-1f / 39916800f));    // −1/11!
        sp = Vector512.FusedMultiplyAdd(sp, z, Vector512.Create(1f / 362880f));       // 1/9!
        sp = Vector512.FusedMultiplyAdd(sp, z, Vector512.Create(-1f / 5040f));
        sp = Vector512.FusedMultiplyAdd(sp, z, Vector512.Create(1f / 120f));
        sp = Vector512.FusedMultiplyAdd(sp, z, Vector512.Create(-1f / 6f));
        Vector512<float> sinHalf = Vector512.FusedMultiplyAdd(sp * z, x, x);
        Vector512<float> cp = Vector512.Create(1f / 87178291200f);                   // 1/14!
        cp = Vector512.FusedMultiplyAdd(cp, z, Vector512.Create(-1f / 479001600f));  // −1/12!
        cp = Vector512.FusedMultiplyAdd(cp, z, Vector512.Create(1f / 3628800f));
        cp = Vector512.FusedMultiplyAdd(cp, z, Vector512.Create(-1f / 40320f));
        cp = Vector512.FusedMultiplyAdd(cp, z, Vector512.Create(1f / 720f));
        cp = Vector512.FusedMultiplyAdd(cp, z, Vector512.Create(-1f / 24f));
        cp = Vector512.FusedMultiplyAdd(cp, z, Vector512.Create(0.5f));
        Vector512<float> cosHalf = Vector512.FusedMultiplyAdd(-cp, z, Vector512<float>.One);
        Vector512<float> sin = Vector512.Create(2f) * sinHalf * cosHalf;
        Vector512<float> cos = (cosHalf - sinHalf) * (cosHalf + sinHalf);
        return (sin, cos);
    }

    /// <summary>
    /// tanh x as Cephes' tanhf computes it: for |x| ≤ 0.625, x + x³ P(x²) with its degree-4
    /// minimax polynomial (relative error ≲ 1.3e-7); above, 1 − 2 / (e^{2|x|} + 1), where the
    /// subtraction loses nothing since tanh ≥ 0.55 there; the sign of x. ±∞ give ±1, NaN stays NaN.
    /// (TensorPrimitives.Tanh 11.0.0's vector path uses the second form everywhere, which loses the
    /// relative accuracy of small values: it gives −6e-8 for tanh(1e-10) and is 3e-5 off at 1e-3.)
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Tanh(Vector512<float> x)
    {
        Vector512<float> a = Vector512.Abs(x);
        Vector512<float> z = x * x;
        Vector512<float> p = Vector512.Create(-5.70498872745e-3f);
        p = Vector512.FusedMultiplyAdd(p, z, Vector512.Create(2.06390887954e-2f));
        p = Vector512.FusedMultiplyAdd(p, z, Vector512.Create(-5.37397155531e-2f));
        p = Vector512.FusedMultiplyAdd(p, z, Vector512.Create(1.33314422036e-1f));
        p = Vector512.FusedMultiplyAdd(p, z, Vector512.Create(-3.33332819422e-1f));
        Vector512<float> small = Vector512.FusedMultiplyAdd(p * z, x, x);
        Vector512<float> large = Vector512<float>.One - Vector512.Create(2f) / (Exp(a + a) + Vector512<float>.One);
        // tanh is odd: the sign of x, which also keeps −0 (the polynomial branch would round it to +0).
        return Vector512.CopySign(Select(Vector512.GreaterThan(a, Vector512.Create(0.625f)), large, small), x);
    }

    /// <summary>1 / (1 + e^{−x}): 0 at −∞ (e^{+∞} = ∞), 1 at +∞.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Sigmoid(Vector512<float> x)
        => Vector512<float>.One / (Vector512<float>.One + Exp(-x));

    // Without AVX-512, .NET runs most Vector512 operations as two 256-bit ones, but min, max and
    // rounding as slow element loops (10–12 ns an element in the kernels): these take the halves themselves.

    /// <summary>The lane-wise minimum (either operand where one is NaN, as the instruction gives).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Min(Vector512<float> a, Vector512<float> b) => Vector512.IsHardwareAccelerated ? Vector512.MinNative(a, b)
        : Vector512.Create(Vector256.MinNative(a.GetLower(), b.GetLower()), Vector256.MinNative(a.GetUpper(), b.GetUpper()));

    /// <summary>The lane-wise maximum (either operand where one is NaN, as the instruction gives).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Max(Vector512<float> a, Vector512<float> b) => Vector512.IsHardwareAccelerated ? Vector512.MaxNative(a, b)
        : Vector512.Create(Vector256.MaxNative(a.GetLower(), b.GetLower()), Vector256.MaxNative(a.GetUpper(), b.GetUpper()));

    /// <summary>Rounds to the nearest integer, ties to even.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Round(Vector512<float> x) => Vector512.IsHardwareAccelerated ? Vector512.Round(x)
        : Vector512.Create(Vector256.Round(x.GetLower()), Vector256.Round(x.GetUpper()));

    /// <summary>Loads 16 floats at <paramref name="i"/> (the caller keeps i + 16 ≤ length).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load(ReadOnlySpan<float> x, int i) => Vector512.Create(x.Slice(i, Vector512<float>.Count));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector512<float> v, Span<float> x, int i) => v.CopyTo(x.Slice(i, Vector512<float>.Count));
}
