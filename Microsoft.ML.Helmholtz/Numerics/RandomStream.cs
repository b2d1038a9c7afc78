using System.Runtime.Intrinsics;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Microsoft.ML.Helmholtz.Numerics;

/// <summary>
/// A seeded stream of pseudo-random numbers (xoshiro256**). The same seed gives the same numbers
/// on every machine; <see cref="Fork"/> derives independent streams for parallel work.
/// </summary>
public sealed class RandomStream
{
    // Normals are made in batches of this many Box–Muller pairs, so log/sqrt/sincos run vectorised.
    private const int NormalBatch = 256;

    private State _state;

    public RandomStream(ulong seed)
    {
        ulong x = seed;
        _state = new State(SplitMix(ref x), SplitMix(ref x), SplitMix(ref x), SplitMix(ref x));
    }

    private static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>The generator state as a small struct, so bulk fills can keep it in registers.</summary>
    private struct State(ulong s0, ulong s1, ulong s2, ulong s3)
    {
        private ulong _s0 = s0, _s1 = s1, _s2 = s2, _s3 = s3;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public ulong Next()
        {
            ulong result = BitOperations.RotateLeft(_s1 * 5, 7) * 9;
            ulong t = _s1 << 17;
            _s2 ^= _s0; _s3 ^= _s1; _s1 ^= _s2; _s0 ^= _s3;
            _s2 ^= t;
            _s3 = BitOperations.RotateLeft(_s3, 45);
            return result;
        }
    }

    public ulong NextUInt64() => _state.Next();

    /// <summary>A stream independent of this one, determined by this stream's state and <paramref name="streamId"/>.</summary>
    public RandomStream Fork(ulong streamId) => new RandomStream(NextUInt64() ^ (streamId * 0xD1B54A32D192ED03UL));

    /// <summary>Uniform in the open interval (0, 1).</summary>
    public double NextDouble() => ((NextUInt64() >> 11) + 0.5) * (1.0 / (1UL << 53));

    /// <summary>Uniform integer in [0, n).</summary>
    public int NextInt(int n) => (int)((NextUInt64() >> 33) * (ulong)n >> 31);

    /// <summary>
    /// Fills with uniforms in the open interval (0, 1): two 23-bit values per 64-bit draw, each mapped to
    /// (2b+1)·2⁻²⁴, which is exact in float and lies in [2⁻²⁴, 1−2⁻²⁴].
    /// </summary>
    public void FillUniform(Span<float> destination)
    {
        Span<int> bits = MemoryMarshal.Cast<float, int>(destination);
        State st = _state;
        int i = 0;
        for (; i + 1 < bits.Length; i += 2)
        {
            ulong x = st.Next();
            bits[i] = (int)(x >> 41);
            bits[i + 1] = (int)((x >> 9) & 0x7FFFFF);
        }
        if (i < bits.Length) bits[i] = (int)(st.Next() >> 41);
        _state = st;
        OddToUnit(bits, 1f / (1 << 24));
    }

    /// <summary>In place: b → (2b+1)·scale + offset, reading ints and writing floats.</summary>
    private static void OddToUnit(Span<int> bits, float scale, float offset = 0)
    {
        Span<float> dest = MemoryMarshal.Cast<int, float>(bits);
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var vs = new Vector<float>(scale);
            var vo = new Vector<float>(offset);
            for (; i + Vector<int>.Count <= bits.Length; i += Vector<int>.Count)
            {
                var v = new Vector<int>(bits.Slice(i));
                (Vector.ConvertToSingle(v + v + Vector<int>.One) * vs + vo).CopyTo(dest.Slice(i));
            }
        }
        for (; i < bits.Length; i++) dest[i] = (2 * bits[i] + 1) * scale + offset;
    }

    /// <summary>
    /// Fills with standard normal draws by Box–Muller over batches: each 64-bit draw gives a radius from
    /// 30 bits, (2b+1)·2⁻³¹ (so |z| reaches 6.5σ), and an angle from 23 bits; the pair's cosine goes to
    /// the first half of its batch, the sine to the second.
    /// </summary>
    public void FillNormal(Span<float> destination)
    {
        Span<float> scratch = stackalloc float[4 * NormalBatch];
        Span<float> radius = scratch.Slice(0, NormalBatch);
        Span<float> sin = scratch.Slice(NormalBatch, NormalBatch);
        Span<float> cos = scratch.Slice(2 * NormalBatch, NormalBatch);
        Span<float> angle = scratch.Slice(3 * NormalBatch, NormalBatch);
        while (!destination.IsEmpty)
        {
            int len = Math.Min(2 * NormalBatch, destination.Length);
            int pairs = (len + 1) / 2;
            Span<float> r = radius.Slice(0, pairs), s = sin.Slice(0, pairs), c = cos.Slice(0, pairs), t = angle.Slice(0, pairs);
            Span<int> rBits = MemoryMarshal.Cast<float, int>(r), aBits = MemoryMarshal.Cast<float, int>(t);
            State st = _state;
            for (int i = 0; i < pairs; i++)
            {
                ulong x = st.Next();
                rBits[i] = (int)(x >> 34);              // 30 bits, so 2b+1 fits in an int
                aBits[i] = (int)((x >> 9) & 0x7FFFFF);   // 23 bits
            }
            _state = st;
            OddToUnit(rBits, 1f / (1u << 31));  // (0, 1]: 1 only by rounding, which gives radius 0
            OddToUnit(aBits, 2 * MathF.PI / (1 << 24), -MathF.PI); // angle in (−π, π), where sin/cos are most accurate
            int done = 0;
            if (Vector512.IsHardwareAccelerated)
            {
                for (; done + 16 <= pairs; done += 16)
                {
                    var (vs, vc) = VectorMath.SinCos(VectorMath.Load(t, done));
                    VectorMath.Store(Vector512.Sqrt(Vector512.Create(-2f) * VectorMath.LogOfPositive(VectorMath.Load(r, done))), r, done);
                    VectorMath.Store(vs, s, done);
                    VectorMath.Store(vc, c, done);
                }
            }
            if (done < pairs)
            {
                Span<float> rt = r[done..], tt = t[done..];
                TensorPrimitives.Log(rt, rt);
                TensorPrimitives.Multiply(rt, -2f, rt);
                TensorPrimitives.Sqrt(rt, rt);
                // Separate Sin and Cos measured ~3× faster than SinCosPi in System.Numerics.Tensors 11.
                TensorPrimitives.Sin(tt, s[done..]);
                TensorPrimitives.Cos(tt, c[done..]);
            }
            TensorPrimitives.Multiply(r, c, destination.Slice(0, pairs));
            TensorPrimitives.Multiply(r.Slice(0, len - pairs), s.Slice(0, len - pairs), destination.Slice(pairs, len - pairs));
            destination = destination.Slice(len);
        }
    }
}
