using System.Numerics;

namespace Microsoft.ML.Helmholtz.Numerics;

/// <summary>
/// A seeded stream of pseudo-random numbers (xoshiro256**). The same seed gives the same numbers
/// on every machine; <see cref="Fork"/> derives independent streams for parallel work.
/// </summary>
public sealed class RandomStream
{
    private ulong _s0, _s1, _s2, _s3;

    public RandomStream(ulong seed)
    {
        ulong x = seed;
        _s0 = SplitMix(ref x); _s1 = SplitMix(ref x); _s2 = SplitMix(ref x); _s3 = SplitMix(ref x);
    }

    private static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public ulong NextUInt64()
    {
        ulong result = BitOperations.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0; _s3 ^= _s1; _s1 ^= _s2; _s0 ^= _s3;
        _s2 ^= t;
        _s3 = BitOperations.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>A stream independent of this one, determined by this stream's state and <paramref name="streamId"/>.</summary>
    public RandomStream Fork(ulong streamId) => new RandomStream(NextUInt64() ^ (streamId * 0xD1B54A32D192ED03UL));

    /// <summary>Uniform in the open interval (0, 1).</summary>
    public double NextDouble() => ((NextUInt64() >> 11) + 0.5) * (1.0 / (1UL << 53));

    /// <summary>Uniform integer in [0, n).</summary>
    public int NextInt(int n) => (int)((NextUInt64() >> 33) * (ulong)n >> 31);

    /// <summary>Fills with uniforms in the open interval (0, 1).</summary>
    public void FillUniform(Span<float> destination)
    {
        for (int i = 0; i < destination.Length; i++)
            destination[i] = ((uint)(NextUInt64() >> 40) + 0.5f) * (1.0f / (1 << 24));
    }

    /// <summary>Fills with standard normal draws.</summary>
    public void FillNormal(Span<float> destination)
    {
        for (int i = 0; i < destination.Length; i += 2)
        {
            double u1 = NextDouble(), u2 = NextDouble();
            double r = Math.Sqrt(-2.0 * Math.Log(u1));
            destination[i] = (float)(r * Math.Cos(2 * Math.PI * u2));
            if (i + 1 < destination.Length)
                destination[i + 1] = (float)(r * Math.Sin(2 * Math.PI * u2));
        }
    }
}
