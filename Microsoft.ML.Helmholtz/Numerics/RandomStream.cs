using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Numerics;
using System.Numerics.Tensors;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Microsoft.ML.Helmholtz.Numerics;

/// <summary>
/// A seeded stream of pseudo-random numbers: eight xoshiro256** generators ("lanes") stepped together,
/// their outputs interleaved (draw 8t + j is lane j's t-th output). Lane j starts from SplitMix64
/// outputs 4j…4j+3 of the seed, so lane 0 is the plain xoshiro256** stream of that seed. Eight
/// independent lanes let a step run as one 512-bit vector operation, or as eight independent scalar
/// chains where vectors are not available; both give the same draws, so the same seed gives the
/// same uniform numbers on every machine, and the same normal numbers on every machine with AVX2 or
/// AVX-512 (without AVX2, <see cref="FillNormal"/> takes .NET's scalar logarithm and sine, which differ from
/// the vector paths' in the last bits: a few units in the last place). <see cref="Fork"/> derives independent streams for parallel work.
/// A stream is not thread-safe: it belongs to one thread (fork one per thread); two fills of one
/// stream at once throw <see cref="InvalidOperationException"/> instead of interleaving its state
/// (single draws, <see cref="NextUInt64"/> and the like, are not checked).
/// </summary>
public sealed unsafe class RandomStream
{
    // Normals are made in batches of this many Box–Muller pairs, so log/sqrt/sincos run vectorised.
    private const int NormalBatch = 256;
    private const int Lanes = 8;

    // State word w of lane j is _state[8w + j]: each word of all lanes is one vector.
    private readonly ulong[] _state = new ulong[4 * Lanes];
    // The last step's outputs; the ones from _next on have not been handed out yet.
    private readonly ulong[] _buffered = new ulong[Lanes];
    private int _next = Lanes;

    /// <summary>Whether bulk draws step all lanes as one vector (tests compare both paths).</summary>
    internal static bool VectorSteps { get; set; } = VectorMath.IsAccelerated;

    /// <summary>A stream started from <paramref name="seed"/>: the same seed gives the same draws.</summary>
    public RandomStream(ulong seed)
    {
        ulong x = seed;
        for (int lane = 0; lane < Lanes; lane++)
            for (int word = 0; word < 4; word++)
                _state[word * Lanes + lane] = SplitMix(ref x);
    }

    private static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>The next 64 random bits of the stream.</summary>
    public ulong NextUInt64()
    {
        if (_next == Lanes)
        {
            Steps(_buffered);
            _next = 0;
        }
        return _buffered[_next++];
    }

    /// <summary>The next draws of the stream, in order, into <paramref name="destination"/>.</summary>
    internal void NextUInt64s(Span<ulong> destination)
    {
        int i = 0;
        while (_next < Lanes && i < destination.Length) destination[i++] = _buffered[_next++];
        int whole = (destination.Length - i) / Lanes * Lanes;
        if (whole > 0)
        {
            Steps(destination.Slice(i, whole));
            i += whole;
        }
        while (i < destination.Length) destination[i++] = NextUInt64();
    }

    /// <summary>Steps every lane destination.Length / 8 times, writing each step's eight outputs in lane order.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private void Steps(Span<ulong> destination)
    {
        int steps = destination.Length / Lanes;
        Span<ulong> st = _state;
        if (VectorSteps)
        {
            fixed (ulong* state = st, output = destination)
            {
                Vector512<ulong> s0 = Vector512.Load(state), s1 = Vector512.Load(state + 8), s2 = Vector512.Load(state + 16), s3 = Vector512.Load(state + 24);
                for (int t = 0; t < steps; t++)
                {
                    // result = rotl(s1 · 5, 7) · 9, with the products as shifts and adds.
                    Vector512<ulong> x = (s1 << 2) + s1;
                    x = (x << 7) | (x >>> 57);
                    Vector512.Store((x << 3) + x, output + t * Lanes);
                    Vector512<ulong> u = s1 << 17;
                    s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3;
                    s2 ^= u;
                    s3 = (s3 << 45) | (s3 >>> 19);
                }
                Vector512.Store(s0, state); Vector512.Store(s1, state + 8); Vector512.Store(s2, state + 16); Vector512.Store(s3, state + 24);
            }
            return;
        }
        for (int t = 0; t < steps; t++)
        {
            // Eight independent chains per step: the processor overlaps them.
            for (int j = 0; j < Lanes; j++)
            {
                ulong s0 = st[j], s1 = st[8 + j], s2 = st[16 + j], s3 = st[24 + j];
                destination[t * Lanes + j] = BitOperations.RotateLeft(s1 * 5, 7) * 9;
                ulong u = s1 << 17;
                s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3;
                s2 ^= u;
                st[j] = s0; st[8 + j] = s1; st[16 + j] = s2; st[24 + j] = BitOperations.RotateLeft(s3, 45);
            }
        }
    }

    /// <summary>The words of <see cref="SaveState()"/>: each lane's four state words, the last step's eight outputs, and how many of them were handed out.</summary>
    internal const int StateWords = 4 * Lanes + Lanes + 1;

    /// <summary>Where the stream stands, so that <see cref="RestoreState"/> can carry it on from there (a training run's checkpoint).</summary>
    internal ulong[] SaveState()
    {
        var words = new ulong[StateWords];
        SaveState(words);
        return words;
    }

    /// <summary><see cref="SaveState()"/> into <paramref name="words"/> (<see cref="StateWords"/> long).</summary>
    internal void SaveState(Span<ulong> words)
    {
        _state.CopyTo(words);
        _buffered.CopyTo(words[(4 * Lanes)..]);
        words[StateWords - 1] = (ulong)_next;
    }

    /// <summary>Puts the stream where <see cref="SaveState()"/> found it: the draws that follow are the ones that followed then.</summary>
    internal void RestoreState(ReadOnlySpan<ulong> words)
    {
        CheckState(words);
        words[..(4 * Lanes)].CopyTo(_state);
        words.Slice(4 * Lanes, Lanes).CopyTo(_buffered);
        _next = (int)words[^1];
    }

    /// <summary>Refuses words that <see cref="SaveState()"/> cannot have written (<see cref="InvalidDataException"/>: they come from files).</summary>
    internal static void CheckState(ReadOnlySpan<ulong> words)
    {
        if (words.Length != StateWords)
            throw new InvalidDataException($"a random stream's state is {StateWords} words; got {words.Length}.");
        if (words[^1] > Lanes)
            throw new InvalidDataException($"a random stream's state ends in a count of at most {Lanes} buffered draws; got {words[^1]}.");
        // xoshiro256** never leaves a state of four zero words: such a lane would draw the same value for ever.
        for (int lane = 0; lane < Lanes; lane++)
            if ((words[lane] | words[Lanes + lane] | words[2 * Lanes + lane] | words[3 * Lanes + lane]) == 0)
                throw new InvalidDataException($"a random stream's state has lane {lane} all zero, which xoshiro256** never reaches: the state was damaged or written by something else.");
    }

    /// <summary>A stream independent of this one, determined by this stream's state and <paramref name="streamId"/>.</summary>
    public RandomStream Fork(ulong streamId) => new RandomStream(NextUInt64() ^ (streamId * 0xD1B54A32D192ED03UL));

    /// <summary>Uniform in the open interval (0, 1).</summary>
    public double NextDouble()
    {
        // (m + ½)·2⁻⁵³ rounds to 1 for m = 2⁵³ − 1 (the half is a tie above 2⁵², rounded to even): keep that one draw below 1.
        double u = ((NextUInt64() >> 11) + 0.5) * (1.0 / (1UL << 53));
        return u < 1 ? u : 1 - 1.0 / (1UL << 53);
    }

    /// <summary>Uniform integer in [0, n), for n ≥ 1.</summary>
    public int NextInt(int n)
    {
        // [0, n) is empty for n ≤ 0: the multiply would return values outside it (n < 0) or 0 (n = 0) without a word.
        if (n <= 0) ThrowNonPositiveBound(n);
        return (int)((NextUInt64() >> 33) * (ulong)n >> 31);
    }

    [DoesNotReturn]
    private static void ThrowNonPositiveBound(int n)
        => throw new ArgumentOutOfRangeException(nameof(n), n, $"NextInt(n) draws from [0, n), which is empty for n = {n}: n must be at least 1.");

    /// <summary>
    /// Fills with uniforms in the open interval (0, 1): two 23-bit values per 64-bit draw, each mapped to
    /// (2b+1)·2⁻²⁴, which is exact in float and lies in [2⁻²⁴, 1−2⁻²⁴].
    /// </summary>
    public void FillUniform(Span<float> destination)
    {
        using (EnterBulk(nameof(FillUniform))) FillUniformCore(destination);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private void FillUniformCore(Span<float> destination)
    {
        const float scale = 1f / (1 << 24);
        Span<ulong> draws = stackalloc ulong[NormalBatch];
        while (!destination.IsEmpty)
        {
            int len = Math.Min(2 * NormalBatch, destination.Length);
            Span<ulong> d = draws[..((len + 1) / 2)];
            NextUInt64s(d);
            int i = 0;
            if (VectorMath.IsAccelerated)
            {
                // Eight draws give sixteen values: bits 41… of each in the low half of its lane, bits
                // 9…31 in the high half, which read as ints are the scalar loop's order.
                Vector512<ulong> mask = Vector512.Create(0x7FFFFFUL);
                for (; i + 16 <= len; i += 16)
                {
                    Vector512<ulong> x = Vector512.Create<ulong>(d.Slice(i >> 1, 8));
                    Vector512<int> b = ((x >>> 41) | (((x >>> 9) & mask) << 32)).AsInt32();
                    Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(b), Vector512.Create(2 * scale), Vector512.Create(scale)).CopyTo(destination.Slice(i, 16));
                }
            }
            for (; i < len; i++)
            {
                ulong x = d[i >> 1];
                destination[i] = UniformOf((i & 1) == 0 ? (int)(x >> 41) : (int)((x >> 9) & 0x7FFFFF));
            }
            destination = destination[len..];
        }
    }

    /// <summary>The uniform of 23 random bits: (2b + 1)·2⁻²⁴, strictly inside (0, 1) for every b (the vector loop computes the same).</summary>
    internal static float UniformOf(int bits) => (2 * bits + 1) * (1f / (1 << 24));

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
    /// the first half of its batch, the sine to the second. Long fills take all their draws first, in
    /// order, and share the batches out over the worker pool: the same numbers either way.
    /// </summary>
    public void FillNormal(Span<float> destination)
    {
        using (EnterBulk(nameof(FillNormal))) FillNormalCore(destination);
    }

    private void FillNormalCore(Span<float> destination)
    {
        int n = destination.Length, batches = (n + 2 * NormalBatch - 1) / (2 * NormalBatch);
        int pieces = Kernels.Pieces(n);
        if (pieces <= 1)
        {
            Span<ulong> draws = stackalloc ulong[NormalBatch];
            for (int start = 0; start < n; start += 2 * NormalBatch)
            {
                int len = Math.Min(2 * NormalBatch, n - start);
                Span<ulong> d = draws[..((len + 1) / 2)];
                NextUInt64s(d);
                NormalsFromDraws(d, destination.Slice(start, len));
            }
            return;
        }
        // Every batch but the last is whole, so batch b's draws start at b · NormalBatch.
        int lastLength = n - (batches - 1) * 2 * NormalBatch;
        int total = (batches - 1) * NormalBatch + (lastLength + 1) / 2;
        if (_normalDraws.Length < total) _normalDraws = new ulong[total];
        NextUInt64s(_normalDraws.AsSpan(0, total));
        fixed (ulong* pd = _normalDraws)
        fixed (float* pz = destination)
            WorkerPool.Current.Run(pieces, new NormalBatches { Draws = pd, Destination = pz, Length = n, Batches = batches, Pieces = pieces });
    }

    private ulong[] _normalDraws = [];

    // 1 while a fill runs: a stream belongs to one thread, and two fills at once would interleave its state.
    private int _bulk;

    private BulkScope EnterBulk(string operation)
    {
        if (Interlocked.Exchange(ref _bulk, 1) != 0)
            throw new InvalidOperationException(
                $"RandomStream.{operation} was called while another fill of the same stream runs on another thread: a RandomStream belongs to one thread. Give each thread its own stream (Fork).");
        return new BulkScope(this);
    }

    private readonly struct BulkScope(RandomStream owner) : IDisposable
    {
        public void Dispose() => Volatile.Write(ref owner._bulk, 0);
    }

    /// <summary>Batches [b0, b1) of a fill whose draws are all taken: piece p gets the p-th share of the batches.</summary>
    private struct NormalBatches : IPieceWork
    {
        public ulong* Draws;
        public float* Destination;
        public int Length, Batches, Pieces;

        public readonly void Execute(int piece)
        {
            int b0 = (int)((long)Batches * piece / Pieces), b1 = (int)((long)Batches * (piece + 1) / Pieces);
            for (int b = b0; b < b1; b++)
            {
                int start = b * 2 * NormalBatch, len = Math.Min(2 * NormalBatch, Length - start);
                NormalsFromDraws(new ReadOnlySpan<ulong>(Draws + (nint)b * NormalBatch, (len + 1) / 2), new Span<float>(Destination + start, len));
            }
        }
    }

    /// <summary>
    /// The radius and angle bits of each draw: bits 34–63 (30 bits, so that 2b + 1 fits in an int) and bits 9–31 (23 bits).
    /// The vector forms give the scalar loop's bits (<paramref name="vectors"/> false: that loop alone, for the tests).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void SplitDraws(ReadOnlySpan<ulong> draws, Span<int> rBits, Span<int> aBits, bool vectors = true)
    {
        int pairs = draws.Length, i = 0;
        rBits = rBits[..pairs]; aBits = aBits[..pairs];
        if (vectors && Vector512.IsHardwareAccelerated)
        {
            Vector512<ulong> mask = Vector512.Create(0x7FFFFFUL);
            for (; i + 8 <= pairs; i += 8)
            {
                Vector512<ulong> x = Vector512.Create<ulong>(draws.Slice(i, 8));
                Vector512.Narrow((x >>> 34).AsInt64(), Vector512<long>.Zero).GetLower().CopyTo(rBits.Slice(i, 8));
                Vector512.Narrow(((x >>> 9) & mask).AsInt64(), Vector512<long>.Zero).GetLower().CopyTo(aBits.Slice(i, 8));
            }
        }
        else if (vectors && VectorMath.IsAccelerated && Avx2.IsSupported)
        {
            // Without AVX-512 the 64-to-32-bit narrowing above runs as element loops through memory. The same bits
            // from the draws' 32-bit halves: x >> 34 is the high half >> 2, (x >> 9) & 0x7FFFFF comes from the low half.
            Vector256<uint> halves = Vector256.Create(0u, 2, 4, 6, 1, 3, 5, 7);   // low halves to the lower 128 bits, high to the upper
            Vector256<uint> mask = Vector256.Create(0x7FFFFFu);
            ReadOnlySpan<uint> words = MemoryMarshal.Cast<ulong, uint>(draws);
            for (; i + 8 <= pairs; i += 8)
            {
                Vector256<uint> first = Avx2.PermuteVar8x32(Vector256.Create(words.Slice(2 * i, 8)), halves);
                Vector256<uint> second = Avx2.PermuteVar8x32(Vector256.Create(words.Slice(2 * i + 8, 8)), halves);
                Vector256<uint> low = Avx2.Permute2x128(first, second, 0x20), high = Avx2.Permute2x128(first, second, 0x31);
                (high >>> 2).AsInt32().CopyTo(rBits.Slice(i, 8));
                ((low >>> 9) & mask).AsInt32().CopyTo(aBits.Slice(i, 8));
            }
        }
        for (; i < pairs; i++)
        {
            ulong x = draws[i];
            rBits[i] = (int)(x >> 34);              // 30 bits, so 2b+1 fits in an int
            aBits[i] = (int)((x >> 9) & 0x7FFFFF);   // 23 bits
        }
    }

    /// <summary>One batch: (len + 1) / 2 draws give len normals, cosines first, then sines.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    [SkipLocalsInit] // the scratch is written before it is read
    private static void NormalsFromDraws(ReadOnlySpan<ulong> draws, Span<float> destination)
    {
        int len = destination.Length, pairs = draws.Length;
        Span<float> scratch = stackalloc float[4 * NormalBatch];
        Span<float> r = scratch.Slice(0, pairs), s = scratch.Slice(NormalBatch, pairs);
        Span<float> c = scratch.Slice(2 * NormalBatch, pairs), t = scratch.Slice(3 * NormalBatch, pairs);
        Span<int> rBits = MemoryMarshal.Cast<float, int>(r), aBits = MemoryMarshal.Cast<float, int>(t);
        SplitDraws(draws, rBits, aBits);
        OddToUnit(rBits, 1f / (1u << 31));  // (0, 1]: 1 only by rounding, which gives radius 0
        OddToUnit(aBits, 2 * MathF.PI / (1 << 24), -MathF.PI); // angle in (−π, π), where sin/cos are most accurate
        int done = 0;
        if (VectorMath.IsAccelerated)
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
    }
}
