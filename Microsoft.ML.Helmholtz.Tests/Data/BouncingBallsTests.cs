using Microsoft.ML.Helmholtz.Tests.Support;
using System.Runtime.InteropServices;
using Microsoft.ML.Helmholtz.Data;

namespace Microsoft.ML.Helmholtz.Tests.Data;

[TestClass]
public sealed class BouncingBallsTests
{
    private static readonly BouncingBallsOptions Defaults = new();

    // Short videos keep the tests quick; the physics and rendering are those of 100-frame videos.
    private static readonly BouncingBallsOptions Short = new() { Frames = 20 };

    // Everything else changed, so nothing can lean on a default.
    private static readonly BouncingBallsOptions Unusual = new()
    {
        Balls = 5, Radius = 0.8, Box = 12, Resolution = 17, Frames = 60, Speed = 1.3, SubSteps = 4,
    };

    private const ulong Seed = 20080101;

    private static IEnumerable<object[]> OptionSets =>
    [
        [Defaults, "defaults"],
        [Unusual, "unusual"],
    ];

    /// <summary>The trajectories of videos 0…count−1 of <see cref="Seed"/>.</summary>
    private static BallTrajectory[] Trajectories(BouncingBallsOptions options, int count) =>
        [.. Enumerable.Range(0, count).Select(s => BouncingBalls.Trajectory(options, Seed, (ulong)s))];

    [TestMethod]
    [DynamicData(nameof(OptionSets))]
    public void EveryValueIsInTheUnitInterval(BouncingBallsOptions options, string name)
    {
        float[] videos = BouncingBalls.Generate(options, 20, Seed);
        Assert.AreEqual(20L * options.Frames * options.Resolution * options.Resolution, videos.LongLength, name);
        Assert.IsTrue(videos.All(v => v >= 0f && v <= 1f), $"{name}: a value outside [0, 1]");
    }

    [TestMethod]
    [DynamicData(nameof(OptionSets))]
    public void BallsStayInsideTheBox(BouncingBallsOptions options, string name)
    {
        // Walls mirror a ball back inside, so centres are in [r, Box − r] up to rounding.
        const double tolerance = 1e-9;
        double low = options.Radius - tolerance, high = options.Box - options.Radius + tolerance;
        double[] all = [.. Trajectories(options, 200).SelectMany(t => t.Positions)];
        Assert.IsTrue(all.All(x => x >= low && x <= high),
            $"{name}: centres range over [{all.Min()}, {all.Max()}], outside [{low}, {high}]");
    }

    [TestMethod]
    [DynamicData(nameof(OptionSets))]
    public void CollisionsKeepTheSpeed(BouncingBallsOptions options, string name)
    {
        BallTrajectory[] trajectories = Trajectories(options, 200);
        // Both kinds of bounce must be in the data, or the check below would prove nothing.
        Assert.IsGreaterThan(0, trajectories.Sum(t => t.WallCollisions), $"{name}: no wall collisions");
        Assert.IsGreaterThan(0, trajectories.Sum(t => t.BallCollisions), $"{name}: no ball collisions");

        int perFrame = 2 * options.Balls;
        double worst = 0;
        foreach (BallTrajectory t in trajectories)
            for (int f = 0; f < options.Frames; f++)
            {
                double sumOfSquares = 0;
                foreach (double v in t.Velocities.AsSpan(f * perFrame, perFrame))
                    sumOfSquares += v * v;
                worst = Math.Max(worst, Math.Abs(Math.Sqrt(sumOfSquares) - options.Speed) / options.Speed);
            }
        Assert.IsLessThan(1e-6, worst, $"{name}: the Frobenius norm of the velocities strays from Speed by {worst:E2} (relative)");
    }

    /// <summary>
    /// Collisions are found after each sub-step, so a pair can overlap by what it closes in one sub-step
    /// before it bounces: at most √2·Speed·dt, as |vₐ − v_b|² ≤ 2(|vₐ|² + |v_b|²) ≤ 2·Speed². A wall or a
    /// third ball can turn a ball back into a partner it has not yet left (seen in these data: a ball
    /// pressed against a wall), for about one more such step; so the bound is 2·√2·Speed·dt
    /// (0.71 box units by default, against a worst of 0.38 found in 2000 default videos of one seed).
    /// </summary>
    [TestMethod]
    [DynamicData(nameof(OptionSets))]
    public void BallsOverlapByNoMoreThanTwoSubStepsOfApproach(BouncingBallsOptions options, string name)
    {
        double tolerance = 2 * Math.Sqrt(2) * options.Speed / options.SubSteps;
        double closest = double.PositiveInfinity;
        foreach (BallTrajectory t in Trajectories(options, 200))
            for (int f = 0; f < options.Frames; f++)
            {
                ReadOnlySpan<double> p = t.Positions.AsSpan(f * 2 * options.Balls, 2 * options.Balls);
                for (int a = 0; a < options.Balls; a++)
                    for (int b = 0; b < a; b++)
                        closest = Math.Min(closest, Math.Sqrt(Math.Pow(p[2 * a] - p[2 * b], 2) + Math.Pow(p[2 * a + 1] - p[2 * b + 1], 2)));
            }
        Assert.IsGreaterThanOrEqualTo(2 * options.Radius - tolerance, closest, $"{name}: centres came within {closest} of each other");
    }

    [TestMethod]
    public void StartingBallsDoNotOverlap()
    {
        double closest = double.PositiveInfinity;
        foreach (BallTrajectory t in Trajectories(Unusual, 500))
            for (int a = 0; a < Unusual.Balls; a++)
                for (int b = 0; b < a; b++)
                    closest = Math.Min(closest, Math.Sqrt(Math.Pow(t.Positions[2 * a] - t.Positions[2 * b], 2) + Math.Pow(t.Positions[2 * a + 1] - t.Positions[2 * b + 1], 2)));
        Assert.IsGreaterThanOrEqualTo(2 * Unusual.Radius, closest);
    }

    [TestMethod]
    public void TheSameSeedGivesTheSameBytes()
    {
        float[] first = BouncingBalls.Generate(Short, 8, Seed), second = BouncingBalls.Generate(Short, 8, Seed);
        Assert.IsTrue(MemoryMarshal.AsBytes(first.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(second.AsSpan())));
    }

    [TestMethod]
    public void AnotherSeedGivesOtherVideos()
    {
        float[] first = BouncingBalls.Generate(Short, 8, Seed), other = BouncingBalls.Generate(Short, 8, Seed + 1);
        Assert.IsFalse(first.AsSpan().SequenceEqual(other));
    }

    [TestMethod]
    public void VideosOfAShortRequestAreTheFirstOfALongerOne()
    {
        float[] few = BouncingBalls.Generate(Short, 3, Seed), many = BouncingBalls.Generate(Short, 40, Seed);
        CollectionAssert.AreEqual(few, many[..few.Length]);
    }

    [TestMethod]
    public void TheSpanOverloadFillsWhatTheArrayOverloadReturns()
    {
        float[] expected = BouncingBalls.Generate(Short, 4, Seed);
        float[] filled = new float[expected.Length];
        BouncingBalls.Generate(Short, Seed, filled);
        CollectionAssert.AreEqual(expected, filled);
    }

    [TestMethod]
    public void TheSpanOverloadRejectsAPartialVideo()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => BouncingBalls.Generate(Short, Seed, new float[Short.ValuesPerSequence + 1]));
        Assert.AreEqual("destination", e.ParamName);
    }

    [TestMethod]
    public void TheRenderedFramesAreTheTrajectory()
    {
        float[] video = BouncingBalls.Generate(Short, 1, Seed);
        BallTrajectory t = BouncingBalls.Trajectory(Short, Seed, 0);
        float[] frame = new float[Short.PixelsPerFrame];
        BouncingBalls.RenderFrame(Short, t.Positions.AsSpan(7 * 2 * Short.Balls, 2 * Short.Balls), frame);
        CollectionAssert.AreEqual(frame, video.AsSpan(7 * Short.PixelsPerFrame, Short.PixelsPerFrame).ToArray());
    }

    /// <summary>
    /// One ball of radius 1.2 at (5.1, 2.9) in a 30-pixel frame of the 10-unit box (a pixel is ⅓ unit):
    /// the nearest pixel centre is column 15, row 8, at (15.5/3, 8.5/3) = (5.1667, 2.8333). Pixel (8, 18)
    /// has its centre at (6.1667, 2.8333): d² = 1.06667² + 0.06667² = 1.142222, d²/r² = 0.793210,
    /// (d²/r²)⁴ = 0.395870, so its value is exp(−0.395870) = 0.673094.
    /// </summary>
    [TestMethod]
    public void OneBallIsRenderedWhereItIs()
    {
        var options = Defaults with { Balls = 1 };
        float[] frame = new float[options.PixelsPerFrame];
        BouncingBalls.RenderFrame(options, [5.1, 2.9], frame);

        int brightest = Array.IndexOf(frame, frame.Max());
        Assert.AreEqual((8, 15), (brightest / 30, brightest % 30), "brightest pixel (row, column)");
        Assert.AreEqual(0.673094, frame[8 * 30 + 18], 1e-6, "pixel (8, 18)");
    }

    [TestMethod]
    public void FarFromEveryBallAPixelIsZero()
    {
        var options = Defaults with { Balls = 1 };
        float[] frame = new float[options.PixelsPerFrame];
        BouncingBalls.RenderFrame(options, [2, 2], frame);
        // Pixel (29, 29) is 7.8 units away: exp(−(d²/r²)⁴) underflows long before.
        Assert.AreEqual(0f, frame[^1]);
    }

    [TestMethod]
    public void OverlappingBallsAreClampedToOne()
    {
        var options = Defaults with { Balls = 2 };
        float[] frame = new float[options.PixelsPerFrame];
        BouncingBalls.RenderFrame(options, [5, 5, 5.2, 5], frame);
        Assert.AreEqual(1f, frame.Max());
    }

    /// <summary>
    /// One ball's total brightness is ∫ exp(−(ρ²/r²)⁴) dA = π r² Γ(5/4) = 0.906 π r² = 4.100 units², so
    /// three balls in the 100-unit² box give a mean pixel of 0.1230. Less is lost at the walls (under 0.7%
    /// of a ball touching one, 0.02% on average over positions) and where overlapping balls are clamped to 1;
    /// sampling at pixel centres adds a little noise. Hence [0.95, 1.01] × 0.1230.
    /// </summary>
    [TestMethod]
    public void TheMeanPixelIsThatOfThreeBalls()
    {
        double expected = 3 * 0.906402477 * Math.PI * 1.2 * 1.2 / 100;
        double mean = BouncingBalls.Generate(Defaults, 40, Seed).Average(v => (double)v);
        Assert.IsTrue(mean >= 0.95 * expected && mean <= 1.01 * expected, $"mean pixel {mean}, expected about {expected}");
    }

    [TestMethod]
    public void ImpossibleOptionsAreRejected()
    {
        // Twenty balls of radius 1.1 cover 76 units² of the 100-unit² box: below what a packing may cover (90.7), above what
        // placing them one at a time at random reaches; the placement gives up.
        var crowded = Defaults with { Balls = 20, Radius = 1.1 };
        var e = Assert.ThrowsExactly<ArgumentException>(() => BouncingBalls.Generate(crowded, 2, Seed));
        StringAssert.Contains(e.Message, "overlapping");
        // Thirty balls of radius 2 cover 377 units², more than any packing covers of the box: refused as options, before the
        // placement's tries (minutes for many balls); and a count whose coordinates no array holds (an OverflowException).
        foreach (var (options, problem) in new[]
        {
            (Defaults with { Balls = 30, Radius = 2 }, "Balls is 30: discs of radius 2 cover 377, more than the 90.69 that any packing covers of a 10×10 box"),
            (Defaults with { Balls = 1 << 30, Box = 1e9 }, "the simulation holds two coordinates a ball in one array"),
        })
        {
            var refused = Assert.ThrowsExactly<ArgumentException>(() => BouncingBalls.Generate(options, 1, Seed), problem);
            Assert.AreEqual("options", refused.ParamName);
            StringAssert.Contains(refused.Message, problem);
        }
    }

    /// <summary>
    /// Speed is the velocities' norm, "finite and not negative": at 0 the balls rest where they were placed, so every frame is
    /// the first; a negative or non-finite speed is refused, naming it.
    /// </summary>
    [TestMethod]
    public void AtSpeedZeroEveryFrameIsTheFirstAndANegativeSpeedIsRefused()
    {
        float[] still = BouncingBalls.Generate(Short with { Speed = 0 }, 1, Seed);
        int pixels = Short.PixelsPerFrame;
        Assert.IsGreaterThan(0f, still.Take(pixels).Max(), "the first frame shows the balls");
        for (int f = 1; f < Short.Frames; f++)
            CollectionAssert.AreEqual(still[..pixels], still[(f * pixels)..((f + 1) * pixels)], $"frame {f}");
        foreach (double speed in new[] { -0.5, double.NaN, double.PositiveInfinity })
        {
            var e = Assert.ThrowsExactly<ArgumentException>(() => BouncingBalls.Generate(Short with { Speed = speed }, 1, Seed), $"{speed}");
            Assert.AreEqual("options", e.ParamName);
            StringAssert.Contains(e.Message, $"Speed is {speed}; it must be finite and not negative.");
        }
    }

    [TestMethod]
    public void InvalidOptionsNameTheSetting()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => BouncingBalls.Generate(Defaults with { Radius = 6 }, 1, Seed));
        Assert.AreEqual("options", e.ParamName);
        StringAssert.Contains(e.Message, "Box is 10");
        // Sizes whose products pass a long (Resolution² × Frames) or an int (the renderer's work space) are refused as options,
        // not by an OverflowException from inside the renderer.
        foreach (var (resolution, frames, problem) in new[] { (int.MaxValue, 3, "the renderer's work space"), (400_000_000, 100, "the renderer's work space"), (30_000, 3, "Frames × Resolution²") })
        {
            var big = Assert.ThrowsExactly<ArgumentException>(() => BouncingBalls.Generate(Defaults with { Resolution = resolution, Frames = frames }, 1, Seed), $"{resolution}, {frames}");
            StringAssert.Contains(big.Message, problem, $"{resolution}, {frames}");
            StringAssert.Contains(big.Message, "more than one array can hold");
        }
    }

    [TestMethod]
    public void ADatasetRoundTrips()
    {
        using var temp = new TempDirectory();
        string directory = Path.Combine(temp.Path, "new-folder");
        BouncingBallsDataset written = BouncingBalls.WriteDataset(directory, Short, trainSequences: 6, testSequences: 3, seed: Seed);
        BouncingBallsDataset read = BouncingBalls.ReadDataset(directory);
        CollectionAssert.AreEqual(written.Train.Values, read.Train.Values, "train");
        CollectionAssert.AreEqual(written.Test.Values, read.Test.Values, "test");
    }

    /// <summary>
    /// Rewriting a data set whose test file fails to write keeps the earlier pair: the new training file was written beside
    /// its place, not put there (LoadOrCreate would have taken a new training file beside the old test file, their shapes alike).
    /// </summary>
    [TestMethod]
    public void AFailedTestFileLeavesTheEarlierPairAsItWas()
    {
        using var temp = new TempDirectory();
        BouncingBalls.WriteDataset(temp.Path, Short, trainSequences: 6, testSequences: 3, seed: Seed);
        string train = temp.File(BouncingBalls.TrainFile), test = temp.File(BouncingBalls.TestFile);
        byte[] trainBefore = File.ReadAllBytes(train), testBefore = File.ReadAllBytes(test);
        var e = Assert.ThrowsExactly<IOException>(() => BouncingBalls.WriteDataset(temp.Path, Short, 6, 3, Seed + 1,
            temporary => Path.GetFileName(temporary).Contains(BouncingBalls.TestFile)
                ? new FailingStream(AtomicFile.CreateTemporary(temporary), failAfter: 30)
                : AtomicFile.CreateTemporary(temporary)));
        StringAssert.Contains(e.Message, test);
        CollectionAssert.AreEqual(trainBefore, File.ReadAllBytes(train), "the training file");
        CollectionAssert.AreEqual(testBefore, File.ReadAllBytes(test), "the test file");
        CollectionAssert.AreEquivalent(new[] { train, test }, Directory.GetFileSystemEntries(temp.Path), "no temporary file left");
        // The same call without the fault replaces both.
        BouncingBalls.WriteDataset(temp.Path, Short, 6, 3, Seed + 1);
        CollectionAssert.AreNotEqual(trainBefore, File.ReadAllBytes(train), "the training file rewritten");
    }

    [TestMethod]
    public void TheTrainingSetIsTheSeedsFirstVideos()
    {
        using var temp = new TempDirectory();
        BouncingBallsDataset dataset = BouncingBalls.WriteDataset(temp.Path, Short, trainSequences: 6, testSequences: 3, seed: Seed);
        CollectionAssert.AreEqual(BouncingBalls.Generate(Short, 6, Seed), dataset.Train.Values);
    }

    [TestMethod]
    public void TestVideosAreNotTrainingVideos()
    {
        using var temp = new TempDirectory();
        BouncingBallsDataset dataset = BouncingBalls.WriteDataset(temp.Path, Short, trainSequences: 6, testSequences: 3, seed: Seed);
        for (int k = 0; k < dataset.Test.Count; k++)
            for (int s = 0; s < dataset.Train.Count; s++)
                Assert.IsFalse(dataset.Test.Sequence(k).SequenceEqual(dataset.Train.Sequence(s)), $"test video {k} is training video {s}");
    }

    [TestMethod]
    public void LoadOrCreateMakesTheFilesOnceThenReadsThem()
    {
        using var temp = new TempDirectory();
        BouncingBallsDataset made = BouncingBalls.LoadOrCreate(temp.Path, Short, trainSequences: 5, testSequences: 2, seed: Seed);
        string train = temp.File(BouncingBalls.TrainFile);
        // A time long past, which any write (in place, or a new file renamed over it) replaces, however coarse the clock.
        var writtenAt = new DateTime(2001, 2, 3, 4, 5, 6, DateTimeKind.Utc);
        File.SetLastWriteTimeUtc(train, writtenAt);

        BouncingBallsDataset loaded = BouncingBalls.LoadOrCreate(temp.Path, Short, trainSequences: 5, testSequences: 2, seed: Seed);
        Assert.AreEqual(writtenAt, File.GetLastWriteTimeUtc(train), "the second call must read, not write");
        CollectionAssert.AreEqual(made.Train.Values, loaded.Train.Values);
    }

    [TestMethod]
    public void LoadOrCreateRejectsFilesOfAnotherShape()
    {
        using var temp = new TempDirectory();
        BouncingBalls.WriteDataset(temp.Path, Short, trainSequences: 5, testSequences: 2, seed: Seed);
        string train = temp.File(BouncingBalls.TrainFile);
        var e = Assert.ThrowsExactly<InvalidDataException>(
            () => BouncingBalls.LoadOrCreate(temp.Path, Short, trainSequences: 7, testSequences: 2, seed: Seed));
        StringAssert.StartsWith(e.Message, train + ":");
        // The test file is checked as the training file is.
        e = Assert.ThrowsExactly<InvalidDataException>(
            () => BouncingBalls.LoadOrCreate(temp.Path, Short, trainSequences: 5, testSequences: 3, seed: Seed));
        StringAssert.StartsWith(e.Message, temp.File(BouncingBalls.TestFile) + ":");
        StringAssert.Contains(e.Message, $"holds 2 videos of {Short.Frames} frames");

        // The frame count, the height and the width are each checked: videos one frame longer, or of frames one row taller or one
        // column wider, are not the data set asked for.
        int side = Short.Resolution;
        foreach ((int frames, int height, int width) in new[] { (Short.Frames + 1, side, side), (Short.Frames, side + 1, side), (Short.Frames, side, side + 1) })
        {
            SequenceFile.Write(train, new SequenceSet(5, frames, height, width, new float[5 * frames * height * width]), gzip: true);
            e = Assert.ThrowsExactly<InvalidDataException>(
                () => BouncingBalls.LoadOrCreate(temp.Path, Short, trainSequences: 5, testSequences: 2, seed: Seed));
            StringAssert.StartsWith(e.Message, train + ":");
            StringAssert.Contains(e.Message, $"holds 5 videos of {frames} frames of {height}×{width}");
        }
    }

    /// <summary>
    /// One file of a data set without the other is refused, naming both, and left as it was: both were made anew, so a
    /// training file of another size was overwritten without a word (found by a review of the samples).
    /// </summary>
    [TestMethod]
    [DataRow(true)]
    [DataRow(false)]
    public void LoadOrCreateRefusesOneFileWithoutTheOther(bool keepTrain)
    {
        using var temp = new TempDirectory();
        BouncingBalls.WriteDataset(temp.Path, Short, trainSequences: 5, testSequences: 2, seed: Seed);
        string kept = temp.File(keepTrain ? BouncingBalls.TrainFile : BouncingBalls.TestFile);
        File.Delete(temp.File(keepTrain ? BouncingBalls.TestFile : BouncingBalls.TrainFile));
        byte[] before = File.ReadAllBytes(kept);
        var e = Assert.ThrowsExactly<InvalidDataException>(
            () => BouncingBalls.LoadOrCreate(temp.Path, Short, trainSequences: 3, testSequences: 2, seed: Seed));
        StringAssert.StartsWith(e.Message, kept + ": the data set's other file, " + (keepTrain ? BouncingBalls.TestFile : BouncingBalls.TrainFile));
        CollectionAssert.AreEqual(before, File.ReadAllBytes(kept), "the file there is left as it was");
        Assert.AreEqual(1, Directory.GetFiles(temp.Path).Length, "nothing made");
    }

    // Video s of a call is sequence s of the seed for every s, not only the first: its frames are its own trajectory's.
    [TestMethod]
    public void EachVideoOfACallIsItsOwnSequence()
    {
        const int count = 6, f = 5;
        float[] videos = BouncingBalls.Generate(Short, count, Seed);
        float[] frame = new float[Short.PixelsPerFrame];
        for (int s = 0; s < count; s++)
        {
            BallTrajectory t = BouncingBalls.Trajectory(Short, Seed, (ulong)s);
            BouncingBalls.RenderFrame(Short, t.Positions.AsSpan(f * 2 * Short.Balls, 2 * Short.Balls), frame);
            CollectionAssert.AreEqual(frame, videos.AsSpan(s * Short.ValuesPerSequence + f * Short.PixelsPerFrame, Short.PixelsPerFrame).ToArray(), $"video {s}");
        }
    }

    /// <summary>
    /// With one sub-step a frame, a centre moves by its velocity, a wall mirrors what passed it, and a step that the mirror
    /// leaves outside (longer than the box is wide) is clamped: x_t = clamp(mirror(x_{t−1} + v_{t−1})). Ball collisions change
    /// only velocities, so this holds exactly (the same double operations) for every coordinate of every frame.
    /// </summary>
    [TestMethod]
    [DataRow(0.5, false)]
    [DataRow(40.0, true)]
    public void ACentreMovesByItsVelocityAndWallsMirrorIt(double speed, bool clamps)
    {
        var options = Defaults with { Speed = speed, SubSteps = 1, Frames = 30 };
        double low = options.Radius, high = options.Box - options.Radius;
        int perFrame = 2 * options.Balls, mirroredLow = 0, mirroredHigh = 0, clamped = 0;
        for (int s = 0; s < 40; s++)
        {
            BallTrajectory t = BouncingBalls.Trajectory(options, Seed, (ulong)s);
            for (int f = 1; f < options.Frames; f++)
                for (int k = 0; k < perFrame; k++)
                {
                    double x = t.Positions[(f - 1) * perFrame + k] + t.Velocities[(f - 1) * perFrame + k] * 1.0;
                    double expected = x < low ? 2 * low - x : x > high ? 2 * high - x : x;
                    mirroredLow += x < low ? 1 : 0;
                    mirroredHigh += x > high ? 1 : 0;
                    if (expected < low || expected > high) clamped++;
                    Assert.AreEqual(Math.Clamp(expected, low, high), t.Positions[f * perFrame + k], 0.0, $"video {s}, frame {f}, coordinate {k}");
                }
        }
        // The premises: both walls were hit, and (only) the fast balls stepped past the opposite wall.
        Assert.IsGreaterThan(0, mirroredLow);
        Assert.IsGreaterThan(0, mirroredHigh);
        Assert.AreEqual(clamps, clamped > 0, $"{clamped} clamped steps");
    }

    /// <summary>
    /// Each video is drawn from its own stream of (seed, video), not from seed + video: neighbouring seeds share no video (with
    /// seed + video, video s of a seed would be video s − 1 of the next, and data sets of seeds 2008 and 2009 nearly the same).
    /// </summary>
    [TestMethod]
    public void NeighbouringSeedsShareNoVideo()
    {
        float[] first = BouncingBalls.Generate(Short, 8, Seed), next = BouncingBalls.Generate(Short, 8, Seed + 1);
        int per = Short.ValuesPerSequence;
        for (int a = 0; a < 8; a++)
            for (int b = 0; b < 8; b++)
                Assert.IsFalse(first.AsSpan(a * per, per).SequenceEqual(next.AsSpan(b * per, per)), $"video {a} of the seed is video {b} of the next");
    }

    /// <summary>
    /// Test video k is video 2³² + k of the seed, past every training set one could ask for: none of them is among the training
    /// videos of a larger request with the same seed (a test split that started right after its own training set would be).
    /// </summary>
    [TestMethod]
    public void TestVideosAreNoneOfALargerTrainingSetsVideos()
    {
        using var temp = new TempDirectory();
        BouncingBallsDataset dataset = BouncingBalls.WriteDataset(temp.Path, Short, trainSequences: 6, testSequences: 3, seed: Seed);
        float[] larger = BouncingBalls.Generate(Short, 12, Seed);
        int per = Short.ValuesPerSequence;
        for (int k = 0; k < dataset.Test.Count; k++)
            for (int s = 0; s < 12; s++)
                Assert.IsFalse(dataset.Test.Sequence(k).SequenceEqual(larger.AsSpan(s * per, per)), $"test video {k} is video {s} of the seed");
    }

    /// <summary>
    /// A radius of 0 (the renderer divides by r², and no ball would show) and no sub-steps a frame (the balls would never move)
    /// are refused as options, naming the setting.
    /// </summary>
    [TestMethod]
    public void AZeroRadiusOrNoSubStepsAreRefused()
    {
        foreach (var (options, problem) in new[]
        {
            (Defaults with { Radius = 0 }, "Radius is 0; it must be positive and finite."),
            (Defaults with { SubSteps = 0 }, "SubSteps is 0; it must be at least 1."),
        })
        {
            var e = Assert.ThrowsExactly<ArgumentException>(() => BouncingBalls.Generate(options, 1, Seed), problem);
            Assert.AreEqual("options", e.ParamName);
            StringAssert.Contains(e.Message, problem);
        }
    }

    /// <summary>
    /// A ball touching a corner lights the corner pixel: the first row and column, and the last, are rendered as the others.
    /// With the defaults (a pixel is ⅓ unit) a ball at (r, r) = (1.2, 1.2) is d² = 2 · (1.2 − 1/6)² from pixel (0, 0)'s centre,
    /// so that pixel is exp(−(d²/r²)⁴) ≈ 0.0079, as is pixel (29, 29) for the ball at (Box − r, Box − r). The exponent is rounded
    /// to float (relative error 6·10⁻⁸ of about 4.8) and the exp is within a few ulps: 10⁻⁶ is ample.
    /// </summary>
    [TestMethod]
    [DataRow(1.2, 1.2, 0, 0)]
    [DataRow(8.8, 8.8, 29, 29)]
    [DataRow(1.2, 8.8, 29, 0)]
    [DataRow(8.8, 1.2, 0, 29)]
    public void ABallInACornerLightsTheCornerPixel(double x, double y, int row, int column)
    {
        var options = Defaults with { Balls = 1 };
        float[] frame = new float[options.PixelsPerFrame];
        BouncingBalls.RenderFrame(options, [x, y], frame);
        double cell = options.Box / options.Resolution, dx = (column + 0.5) * cell - x, dy = (row + 0.5) * cell - y;
        double u = (dx * dx + dy * dy) / (options.Radius * options.Radius);
        double expected = Math.Exp(-(u * u * u * u));
        Assert.IsGreaterThan(0.005, expected, "the premise: the corner pixel is well lit");
        Assert.AreEqual(expected, frame[row * options.Resolution + column], 1e-6, $"pixel ({row}, {column})");
    }

    /// <summary>
    /// A wall turns the velocity component that hit it back into the box. One ball has no partner to bounce off, so with one
    /// sub-step a frame each component of its velocity is |v| after a centre mirrored at the low wall, −|v| after one mirrored
    /// at the high wall, and unchanged otherwise (the same double operations: exact).
    /// </summary>
    [TestMethod]
    public void AWallTurnsTheVelocityComponentThatHitItBackIntoTheBox()
    {
        var options = Defaults with { Balls = 1, Speed = 0.8, SubSteps = 1, Frames = 60 };
        double low = options.Radius, high = options.Box - options.Radius;
        int atLow = 0, atHigh = 0;
        for (int s = 0; s < 20; s++)
        {
            BallTrajectory t = BouncingBalls.Trajectory(options, Seed, (ulong)s);
            for (int f = 1; f < options.Frames; f++)
                for (int k = 0; k < 2; k++)
                {
                    double v = t.Velocities[(f - 1) * 2 + k], x = t.Positions[(f - 1) * 2 + k] + v;
                    double expected = x < low ? Math.Abs(v) : x > high ? -Math.Abs(v) : v;
                    atLow += x < low ? 1 : 0;
                    atHigh += x > high ? 1 : 0;
                    Assert.AreEqual(expected, t.Velocities[f * 2 + k], 0.0, $"video {s}, frame {f}, component {k}");
                }
        }
        // The premises: both walls were hit.
        Assert.IsGreaterThan(0, atLow);
        Assert.IsGreaterThan(0, atHigh);
    }
}
