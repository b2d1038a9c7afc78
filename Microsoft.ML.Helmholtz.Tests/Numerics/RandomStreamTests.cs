using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Tests.Numerics;

[TestClass]
public sealed class RandomStreamTests
{
    private const int N = 1_000_000;

    /// <summary>
    /// An independent transcription of the published algorithms, so the stream never drifts silently:
    /// eight xoshiro256** lanes seeded by consecutive SplitMix64 outputs, draws interleaved by lane.
    /// </summary>
    private static ulong[] Reference(ulong seed, int count)
    {
        ulong x = seed;
        var lanes = new ulong[8][];
        for (int j = 0; j < 8; j++)
        {
            lanes[j] = new ulong[4];
            for (int i = 0; i < 4; i++)
            {
                ulong z = x += 0x9E3779B97F4A7C15UL;
                z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
                z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
                lanes[j][i] = z ^ (z >> 31);
            }
        }
        var output = new ulong[count];
        for (int n = 0; n < count; n++)
        {
            ulong[] s = lanes[n % 8];
            output[n] = ulong.RotateLeft(s[1] * 5, 7) * 9;
            ulong t = s[1] << 17;
            s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = ulong.RotateLeft(s[3], 45);
        }
        return output;
    }

    [TestMethod]
    public void NextUInt64_MatchesEightInterleavedXoshiro256StarStarLanesSeededBySplitMix()
    {
        ulong[] expected = Reference(12345, 200);
        var rng = new RandomStream(12345);
        for (int i = 0; i < expected.Length; i++) Assert.AreEqual(expected[i], rng.NextUInt64(), $"draw {i}");
    }

    [TestMethod]
    [DoNotParallelize] // switches the process-wide choice of step
    public void BulkDrawsGiveTheSameSequenceOnEitherPathAndHoweverTheyAreSplit()
    {
        ulong[] expected = Reference(77, 1000);
        bool original = RandomStream.VectorSteps;
        try
        {
            foreach (bool vector in new[] { false, true })
            {
                RandomStream.VectorSteps = vector;
                var rng = new RandomStream(77);
                var got = new List<ulong>();
                int[] pieces = [1, 3, 8, 17, 64, 5, 0, 200, 7];
                int used = 0;
                for (int p = 0; used < expected.Length; p++)
                {
                    int count = Math.Min(pieces[p % pieces.Length], expected.Length - used);
                    if (p % 4 == 3 && count > 0) { got.Add(rng.NextUInt64()); used++; continue; }
                    var buffer = new ulong[count];
                    rng.NextUInt64s(buffer);
                    got.AddRange(buffer);
                    used += count;
                }
                CollectionAssert.AreEqual(expected, got, $"vector steps: {vector}");
            }
        }
        finally
        {
            RandomStream.VectorSteps = original;
        }
    }

    [TestMethod]
    public void SameSeed_GivesSameNumbers_DifferentSeed_Differs()
    {
        float[] Draw(ulong seed)
        {
            var r = new RandomStream(seed);
            var u = new float[1001]; var g = new float[777];
            r.FillUniform(u); r.FillNormal(g);
            return u.Concat(g).Concat(new[] { (float)r.NextDouble(), r.NextInt(1000) }).ToArray();
        }
        CollectionAssert.AreEqual(Draw(7), Draw(7));
        float[] a = Draw(7), b = Draw(8);
        Assert.IsTrue(a.Zip(b).Count(p => p.First == p.Second) < 10, "different seeds should give different numbers");
    }

    [TestMethod]
    public void FillUniform_IsInsideOpenInterval_WithRightMoments()
    {
        var rng = new RandomStream(1);
        var u = new float[N];
        rng.FillUniform(u);
        double sum = 0, sumSq = 0;
        foreach (float v in u)
        {
            if (!(v > 0f && v < 1f)) Assert.Fail($"uniform {v} outside (0, 1)");
            sum += v; sumSq += v * (double)v;
        }
        double mean = sum / N, variance = sumSq / N - mean * mean;
        Assert.AreEqual(0.5, mean, 5 * Math.Sqrt(1.0 / 12 / N), "mean");
        // Var of (u−1/2)² is 1/180, so the sample variance has standard error √(1/180/N).
        Assert.AreEqual(1.0 / 12, variance, 5 * Math.Sqrt(1.0 / 180 / N), "variance");
        // Odd lengths and tiny spans work and stay in range.
        foreach (int len in new[] { 1, 2, 3, 17 })
        {
            var small = new float[len];
            rng.FillUniform(small);
            Assert.IsTrue(small.All(v => v > 0f && v < 1f));
        }
    }

    [TestMethod]
    public void FillUniform_ExtremeBitPatternsStayInside()
    {
        // The library's mapping of 23 bits at its ends, in float arithmetic; and FillUniform (vector loop and scalar tail) is that
        // mapping of the stream's draws: bits 41… of each draw, then bits 9…31.
        Assert.AreEqual(1f / (1 << 24), RandomStream.UniformOf(0));
        Assert.IsTrue(RandomStream.UniformOf(0) > 0f);
        Assert.IsTrue(RandomStream.UniformOf((1 << 23) - 1) < 1f);
        var values = new float[37];
        new RandomStream(5).FillUniform(values);
        var draws = new ulong[19];
        new RandomStream(5).NextUInt64s(draws);
        for (int i = 0; i < values.Length; i++)
        {
            ulong x = draws[i / 2];
            Assert.AreEqual(RandomStream.UniformOf(i % 2 == 0 ? (int)(x >> 41) : (int)((x >> 9) & 0x7FFFFF)), values[i], $"value {i}");
        }
    }

    [TestMethod]
    public void FillNormal_HasRightMomentsAndCdf()
    {
        var rng = new RandomStream(2);
        var z = new float[N];
        rng.FillNormal(z);
        double sum = 0, sumSq = 0;
        foreach (float v in z)
        {
            if (!float.IsFinite(v)) Assert.Fail($"non-finite normal {v}");
            sum += v; sumSq += v * (double)v;
        }
        double mean = sum / N, variance = sumSq / N - mean * mean;
        Assert.AreEqual(0, mean, 5 / Math.Sqrt(N), "mean");
        Assert.AreEqual(1, variance, 5 * Math.Sqrt(2.0 / N), "variance");

        // Empirical CDF at a few points against Φ, each within 5 binomial standard errors.
        var sorted = (float[])z.Clone();
        Array.Sort(sorted);
        foreach (double x in new[] { -2.5, -1.5, -1, -0.3, 0, 0.5, 1, 2, 3 })
        {
            int below = LowerBound(sorted, (float)x);
            double empirical = (double)below / N, expected = Phi(x);
            double se = Math.Sqrt(expected * (1 - expected) / N);
            Assert.AreEqual(expected, empirical, 5 * se + 1e-6, $"CDF at {x}");
        }
    }

    [TestMethod]
    public void FillNormal_HalvesOfABatchAreUncorrelated()
    {
        // Cosines and sines of one Box–Muller pair land in different halves of a batch; they must not correlate.
        var rng = new RandomStream(3);
        var z = new float[512 * 2000];
        rng.FillNormal(z);
        double sxy = 0;
        int pairs = 0;
        for (int batch = 0; batch < z.Length; batch += 512)
            for (int i = 0; i < 256; i++, pairs++)
                sxy += z[batch + i] * (double)z[batch + 256 + i];
        Assert.AreEqual(0, sxy / pairs, 5 / Math.Sqrt(pairs));
    }

    /// <summary>
    /// A long fill shared out over a pool gives the numbers of 512-long fills made one after another
    /// on one thread, and leaves the stream where they leave it.
    /// </summary>
    [TestMethod]
    [DataRow(16383)]
    [DataRow(16384)]
    [DataRow(20000)]
    [DataRow(100003)]
    public void FillNormal_SplitOverThePoolGivesTheNumbersOfBatchByBatchFills(int length)
    {
        var byBatch = new RandomStream(9);
        var split = new RandomStream(9);
        byBatch.NextUInt64(); split.NextUInt64(); // start mid-way through a step of the lanes
        var expected = new float[length];
        var actual = new float[length];
        using (WorkerPool.InlineScope())
            for (int start = 0; start < length; start += 512)
                byBatch.FillNormal(expected.AsSpan(start, Math.Min(512, length - start)));
        using (var pool = new WorkerPool(3))
        using (WorkerPool.Use(pool))
            split.FillNormal(actual);
        CollectionAssert.AreEqual(expected, actual);
        Assert.AreEqual(byBatch.NextUInt64(), split.NextUInt64(), "the streams go on from the same place");
    }

    /// <summary>
    /// Each draw's radius and angle bits (bits 34–63 and 9–31) come out of the vector forms (16 lanes, or
    /// the 32-bit halves' permutes without AVX-512) as the scalar loop takes them, for every count of draws
    /// a normal batch can have up to a few vectors and a tail, with the bits at both ends of each field set.
    /// </summary>
    [TestMethod]
    public void TheDrawsSplitIntoRadiusAndAngleBitsAsTheScalarLoopSplitsThem()
    {
        var random = new RandomStream(21);
        for (int pairs = 0; pairs <= 41; pairs++)
        {
            var draws = new ulong[pairs];
            random.NextUInt64s(draws);
            if (pairs > 1) (draws[0], draws[1]) = (ulong.MaxValue, 1UL << 34 | 1UL << 9);
            if (pairs > 9) draws[9] = (1UL << 63) | (1UL << 31) | 0x1FF;   // the top bit of each field, and the bits below the angle's
            int[] rVector = new int[pairs], aVector = new int[pairs], rScalar = new int[pairs], aScalar = new int[pairs];
            RandomStream.SplitDraws(draws, rVector, aVector);
            RandomStream.SplitDraws(draws, rScalar, aScalar, vectors: false);
            CollectionAssert.AreEqual(rScalar, rVector, $"{pairs} draws: radius bits");
            CollectionAssert.AreEqual(aScalar, aVector, $"{pairs} draws: angle bits");
            for (int i = 0; i < pairs; i++)
            {
                Assert.AreEqual((int)(draws[i] >> 34), rScalar[i]);
                Assert.AreEqual((int)((draws[i] >> 9) & 0x7FFFFF), aScalar[i]);
            }
        }
    }

    [TestMethod]
    public void FillNormal_OddLengths()
    {
        var rng = new RandomStream(4);
        foreach (int len in new[] { 1, 2, 3, 255, 511, 513, 1025 })
        {
            var z = new float[len];
            rng.FillNormal(z);
            Assert.IsTrue(z.All(float.IsFinite), $"length {len}");
            Assert.IsTrue(len < 3 || z.Distinct().Count() == len, $"length {len}: repeated values");
        }
    }

    [TestMethod]
    public void Fork_GivesIndependentReproducibleStreams()
    {
        var parent1 = new RandomStream(9);
        var parent2 = new RandomStream(9);
        var a = parent1.Fork(1);
        var again = parent2.Fork(1);
        var b = new RandomStream(9).Fork(2);
        var c = parent1.Fork(1); // same id, later parent state: a different stream

        ulong[] Take(RandomStream r) => Enumerable.Range(0, 64).Select(_ => r.NextUInt64()).ToArray();
        ulong[] xa = Take(a), xAgain = Take(again), xb = Take(b), xc = Take(c);
        CollectionAssert.AreEqual(xa, xAgain, "the same parent state and id must give the same stream");
        Assert.AreEqual(0, xa.Intersect(xb).Count(), "streams with different ids must differ");
        Assert.AreEqual(0, xa.Intersect(xc).Count(), "successive forks must differ");

        // Uniforms from two forks are uncorrelated.
        var ua = new float[200_000]; var ub = new float[200_000];
        new RandomStream(10).Fork(1).FillUniform(ua);
        new RandomStream(10).Fork(2).FillUniform(ub);
        double cov = 0;
        for (int i = 0; i < ua.Length; i++) cov += (ua[i] - 0.5) * (ub[i] - 0.5);
        double corr = cov / ua.Length * 12;
        Assert.AreEqual(0, corr, 5 / Math.Sqrt(ua.Length));
    }

    [TestMethod]
    public void NextDouble_AndNextInt_StayInRange()
    {
        var rng = new RandomStream(11);
        var counts = new int[7];
        for (int i = 0; i < 70_000; i++)
        {
            double d = rng.NextDouble();
            Assert.IsTrue(d > 0 && d < 1);
            counts[rng.NextInt(7)]++;
        }
        foreach (int count in counts)
            Assert.AreEqual(10_000, count, 5 * Math.Sqrt(10_000 * 6.0 / 7));
    }

    [TestMethod]
    public void NextInt_RefusesAnEmptyRange()
    {
        // [0, n) is empty for n ≤ 0: NextInt(-5) once returned -2, -4, … and NextInt(0) returned 0.
        var rng = new RandomStream(12);
        foreach (int n in new[] { 0, -1, -5, int.MinValue })
        {
            var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => rng.NextInt(n));
            Assert.AreEqual("n", e.ParamName);
            StringAssert.Contains(e.Message, "at least 1");
        }
        Assert.AreEqual(0, rng.NextInt(1));
        // The shuffles never ask for an empty range: one row still shuffles.
        var one = new ShuffledMinibatches(new DataMatrix(1, 2, [0, 1]));
        one.BeginEpoch(rng);
        var row = new float[2];
        Assert.AreEqual(1, one.NextBatch(row, 1));
        CollectionAssert.AreEqual(new float[] { 0, 1 }, row);
    }

    private static int LowerBound(float[] sorted, float x)
    {
        int lo = 0, hi = sorted.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (sorted[mid] < x) lo = mid + 1; else hi = mid;
        }
        return lo;
    }

    /// <summary>Standard normal CDF via the Abramowitz–Stegun 7.1.26 erfc fit (error below 1.5e-7).</summary>
    private static double Phi(double x)
    {
        double t = Math.Abs(x) / Math.Sqrt(2);
        double k = 1 / (1 + 0.3275911 * t);
        double erfc = k * (0.254829592 + k * (-0.284496736 + k * (1.421413741 + k * (-1.453152027 + k * 1.061405429)))) * Math.Exp(-t * t);
        return x >= 0 ? 1 - erfc / 2 : erfc / 2;
    }

    /// <summary>
    /// FillNormal against Box–Muller from its draws in double: pair i's draw gives r = (2·(x ≫ 34) + 1)·2⁻³¹ (its odd numerator
    /// rounded to float, as the stream rounds it) and θ = (2·((x ≫ 9) &amp; 0x7FFFFF) + 1)·2π/2²⁴ − π, value i is √(−2 ln r)·cos θ and
    /// value pairs + i is √(−2 ln r)·sin θ. Lengths whose last batch ends in a tail past the 16-lane and 8-lane loops. Tolerance:
    /// θ in float is off by a few ulps of π (≲ 1e-6) and ln, √, sin and cos by a few float ulps, so 1e-5 · (1 + radius) is ample.
    /// </summary>
    [TestMethod]
    [DataRow(1)]      // one pair alone: no vector loop, only the tail
    [DataRow(34)]     // 17 pairs: 16 in vectors, a tail of one
    [DataRow(37)]
    [DataRow(1067)]   // two whole batches, then 43 values (22 pairs: 16 in vectors, a tail of 6)
    public void FillNormalIsBoxMullerOfItsDrawsToTheLastTail(int n)
    {
        var normals = new float[n];
        new RandomStream(31).FillNormal(normals);
        var drawsStream = new RandomStream(31);
        const int batch = 512;
        for (int start = 0; start < n; start += batch)
        {
            int len = Math.Min(batch, n - start), pairs = (len + 1) / 2;
            var draws = new ulong[pairs];
            drawsStream.NextUInt64s(draws);
            for (int i = 0; i < pairs; i++)
            {
                double r = (double)(float)(2 * (draws[i] >> 34) + 1) / (1UL << 31);
                double theta = (2 * ((draws[i] >> 9) & 0x7FFFFF) + 1) * (double)(2 * MathF.PI / (1 << 24)) - (double)MathF.PI;
                double radius = Math.Sqrt(-2 * Math.Log(r)), tolerance = 1e-5 * (1 + radius);
                Assert.AreEqual(radius * Math.Cos(theta), normals[start + i], tolerance, $"n {n}, value {start + i}");
                if (pairs + i < len)
                    Assert.AreEqual(radius * Math.Sin(theta), normals[start + pairs + i], tolerance, $"n {n}, value {start + pairs + i}");
            }
        }
    }

    // A state with all eight buffered draws handed out (a new stream's, or one after whole steps) is one a stream writes: it restores.
    [TestMethod]
    public void AStateWithEveryBufferedDrawHandedOutRestores()
    {
        foreach (int drawn in new[] { 0, 8, 16 })
        {
            var stream = new RandomStream(5);
            for (int i = 0; i < drawn; i++) stream.NextUInt64();
            ulong[] state = stream.SaveState();
            Assert.AreEqual(8UL, state[^1], $"{drawn} draws");
            var other = new RandomStream(6);
            other.RestoreState(state);
            Assert.AreEqual(stream.NextUInt64(), other.NextUInt64(), $"{drawn} draws");
        }
    }

    /// <summary>
    /// NextDouble stays inside (0, 1) for the draws at either end: the one whose top 53 bits are all ones (1 in 2^53), where
    /// (m + ½)·2⁻⁵³ rounded to 1, and the one of all zeros, which the half keeps above 0 (callers take its logarithm).
    /// The stream's state is set so that its next output is the draw.
    /// </summary>
    [TestMethod]
    [DataRow(ulong.MaxValue, 1 - 1.0 / (1UL << 53))]   // the largest double below 1
    [DataRow(0UL, 1.0 / (1UL << 54))]                  // ½ · 2⁻⁵³
    public void NextDoubleStaysInsideTheOpenIntervalForTheExtremeDraws(ulong draw, double expected)
    {
        var stream = new RandomStream(1);
        ulong[] state = stream.SaveState();
        state[4 * 8] = draw;                       // the first buffered output
        state[RandomStream.StateWords - 1] = 0;    // none handed out yet
        stream.RestoreState(state);
        double u = stream.NextDouble();
        Assert.IsTrue(u > 0 && u < 1, $"NextDouble gave {u:R}");
        Assert.AreEqual(expected, u);
    }

    // CheckState reads words from checkpoint files: every lane is checked for the all-zero state (the last one too), and the word
    // count must be exact (a longer array is another format, not this state with something after it).
    [TestMethod]
    public void AStateIsRefusedForAZeroLastLaneAndForAnyOtherWordCount()
    {
        ulong[] saved = new RandomStream(8).SaveState();
        ulong[] zeroLast = (ulong[])saved.Clone();
        for (int word = 0; word < 4; word++) zeroLast[8 * word + 7] = 0;
        var other = new RandomStream(9);
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => other.RestoreState(zeroLast)).Message, "lane 7 all zero");
        ulong[] longer = [.. saved, 1UL];
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => other.RestoreState(longer)).Message,
            $"{RandomStream.StateWords} words; got {RandomStream.StateWords + 1}");
        // Neither refusal moved the stream: it still draws a fresh stream 9's numbers.
        Assert.AreEqual(new RandomStream(9).NextUInt64(), other.NextUInt64());
    }

    /// <summary>
    /// Draws whose top 30 bits are all zero give the smallest radius number, (2·0 + 1)·2⁻³¹, so the largest normals, √(62 ln 2) ≈ 6.56,
    /// and never an infinite one (ln 0): in every lane of the vector form of b → (2b + 1)·2⁻³¹, not only in the scalar tail, whose
    /// draws the Box–Muller test above meets at random (a lane that dropped the + 1 is off there by far less than its tolerance).
    /// Eight buffered draws of zero (the state set as the NextDouble test sets it) are the whole fill of 16 values: 8 pairs, at least
    /// one whole vector of bits. Their angle bits are zero too: θ = 2π·2⁻²⁴ − π, so the cosines are about −6.56 and the sines about
    /// −2.5e-6. Tolerance as in the Box–Muller test: 1e-5 · (1 + radius).
    /// </summary>
    [TestMethod]
    public void DrawsOfAllZeroBitsGiveTheLargestFiniteNormalsInEveryLane()
    {
        var stream = new RandomStream(1);
        ulong[] state = stream.SaveState();
        for (int j = 0; j < 8; j++) state[4 * 8 + j] = 0;   // the eight buffered outputs
        state[RandomStream.StateWords - 1] = 0;            // none handed out yet
        stream.RestoreState(state);
        var z = new float[16];
        stream.FillNormal(z);
        double radius = Math.Sqrt(-2 * Math.Log(1.0 / (1UL << 31)));
        double theta = (double)(2 * MathF.PI / (1 << 24)) - (double)MathF.PI;
        double tolerance = 1e-5 * (1 + radius);
        for (int i = 0; i < 8; i++)
        {
            Assert.IsTrue(float.IsFinite(z[i]) && float.IsFinite(z[8 + i]), $"pair {i}: {z[i]}, {z[8 + i]}");
            Assert.AreEqual(radius * Math.Cos(theta), z[i], tolerance, $"cosine {i}");
            Assert.AreEqual(radius * Math.Sin(theta), z[8 + i], tolerance, $"sine {i}");
        }
    }
}
