using System.Numerics.Tensors;
using System.Runtime.ExceptionServices;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Data;

/// <summary>The settings of the bouncing-balls videos; the defaults are those of Sutskever, Hinton and Taylor (2008).</summary>
public sealed record BouncingBallsOptions
{
    /// <summary>Balls per video.</summary>
    public int Balls { get; init; } = 3;

    /// <summary>The radius of every ball, in box units.</summary>
    public double Radius { get; init; } = 1.2;

    /// <summary>The side of the square box [0, Box]² the balls move in.</summary>
    public double Box { get; init; } = 10;

    /// <summary>Pixels per side of a frame.</summary>
    public int Resolution { get; init; } = 30;

    /// <summary>Frames per video (T).</summary>
    public int Frames { get; init; } = 100;

    /// <summary>The Frobenius norm of the Balls×2 velocity matrix, in box units per frame; collisions keep it.</summary>
    public double Speed { get; init; } = 0.5;

    /// <summary>Sub-steps of the simulation per frame, each advancing time by 1/SubSteps of a frame.</summary>
    public int SubSteps { get; init; } = 2;

    /// <summary>Resolution².</summary>
    public int PixelsPerFrame => Resolution * Resolution;

    /// <summary>Frames × Resolution²: the values of one video.</summary>
    public int ValuesPerSequence => Frames * PixelsPerFrame;

    /// <summary>Throws <see cref="ArgumentException"/> naming <paramref name="argument"/> and the setting that is wrong.</summary>
    internal void Validate(string argument)
    {
        string? problem =
            Balls < 1 ? $"Balls is {Balls}; it must be at least 1." :
            !(double.IsFinite(Radius) && Radius > 0) ? $"Radius is {Radius}; it must be positive and finite." :
            !(double.IsFinite(Box) && Box > 2 * Radius) ? $"Box is {Box}; it must be finite and larger than 2 × Radius = {2 * Radius}, so that a ball fits." :
            Balls > Array.MaxLength / 2 ? $"Balls is {Balls:N0}; the simulation holds two coordinates a ball in one array, so at most {Array.MaxLength / 2:N0}." :
            // Discs cannot cover more than π/(2√3) of a plane: more would run the placement's 100,000 tries (minutes for many balls) to fail.
            Balls * Math.PI * Radius * Radius > Math.PI / (2 * Math.Sqrt(3)) * Box * Box
                ? $"Balls is {Balls:N0}: discs of radius {Radius} cover {Balls * Math.PI * Radius * Radius:G4}, more than the {Math.PI / (2 * Math.Sqrt(3)) * Box * Box:G4} " +
                  $"that any packing covers of a {Box}×{Box} box; use fewer or smaller balls, or a larger box." :
            Resolution < 1 ? $"Resolution is {Resolution}; it must be at least 1." :
            Frames < 1 ? $"Frames is {Frames}; it must be at least 1." :
            !(double.IsFinite(Speed) && Speed >= 0) ? $"Speed is {Speed}; it must be finite and not negative." :
            SubSteps < 1 ? $"SubSteps is {SubSteps}; it must be at least 1." :
            // One factor at a time, so that no product passes a long: the renderer's work space holds two values a pixel of a frame.
            2L * Resolution * Resolution > Array.MaxLength ? $"2 × Resolution² = {2L * Resolution * Resolution:N0} (the renderer's work space) is more than one array can hold." :
            (long)Resolution * Resolution * Frames > Array.MaxLength ? $"Frames × Resolution² = {(long)Resolution * Resolution * Frames:N0} is more than one array can hold." :
            null;
        if (problem is not null)
            throw new ArgumentException($"Invalid bouncing-balls options: {problem}", argument);
    }
}

/// <summary>A training and a test set of bouncing-balls videos.</summary>
/// <param name="Train">The training videos (<see cref="BouncingBalls.TrainFile"/>).</param>
/// <param name="Test">The test videos (<see cref="BouncingBalls.TestFile"/>), none of them among the training ones when generated with one seed.</param>
public sealed record BouncingBallsDataset(SequenceSet Train, SequenceSet Test);

/// <summary>
/// The bouncing-balls videos of Sutskever, Hinton and Taylor (2008, "The recurrent temporal
/// restricted Boltzmann machine"): balls of equal mass and radius move in a square box and bounce
/// elastically off its walls and each other; each frame is a soft-edged greyscale rendering.
/// </summary>
/// <remarks>
/// <para>One video: starting positions uniform in [r, Box − r]², redrawn until no two balls overlap;
/// velocities standard normal, the whole Balls×2 matrix then scaled to Frobenius norm Speed. Frame 0
/// shows the starting positions; every later frame shows the state after SubSteps more sub-steps of
/// 1/SubSteps each (as in the original code, which records the state, then simulates one frame's time).
/// A sub-step moves every ball by v·dt, then bounces balls off the walls (the velocity component
/// reflected, a ball past a wall mirrored back inside), then bounces pairs of balls closer than 2r
/// that approach each other (the velocity components along the line of centres exchanged, which is
/// the elastic collision of equal masses and keeps the total kinetic energy).</para>
/// <para>Pixel (i, j) of a frame has its centre at ((j + ½)·Box/Resolution, (i + ½)·Box/Resolution):
/// column j is the x coordinate, row i the y coordinate. Its value is min(1, Σ exp(−(d²/r²)⁴)) over
/// the balls, d the distance from the pixel centre to the ball centre; terms under float's smallest
/// normal value (2⁻¹²⁶, where (d²/r²)⁴ &gt; 87) are left out, so each ball touches only the pixels near it.</para>
/// <para>Video s of a seed depends only on (seed, s): it is drawn from <c>new RandomStream(seed).Fork(s)</c>,
/// so the first 10 of 4000 videos are the 10 videos of a request for 10. The same seed gives the same
/// values on every run on one machine (the rendering uses the runtime's vectorised exp, so a machine with
/// other vector instructions may differ in the last bit).</para>
/// </remarks>
public static class BouncingBalls
{
    /// <summary>The seed of the data set that <see cref="LoadOrCreate"/> makes unless told otherwise.</summary>
    public const ulong DefaultSeed = 2008;

    /// <summary>The training set's file name in a data set directory.</summary>
    public const string TrainFile = "bouncing-balls-train.idx.gz";

    /// <summary>The test set's file name in a data set directory.</summary>
    public const string TestFile = "bouncing-balls-test.idx.gz";

    /// <summary>Test video k is video TestSequenceOffset + k of the seed: never one of the (at most 2³¹) training videos.</summary>
    internal const ulong TestSequenceOffset = 1UL << 32;

    // Starting placements tried before the options are declared impossible; a feasible setting
    // that fails this often is so crowded that rejection sampling is the wrong tool anyway.
    internal const int MaxPlacementTries = 100_000;

    // exp(−87) ≈ 1.6·10⁻³⁸ < 2⁻¹²⁶: a term with (d²/r²)⁴ past this is below float's smallest normal.
    private const double NegligibleExponent = 87;

    /// <summary>
    /// Videos 0…<paramref name="sequences"/>−1 of <paramref name="seed"/>: <paramref name="sequences"/> × Frames × Resolution²
    /// values in [0, 1], video by video, frame by frame, row by row.
    /// </summary>
    public static float[] Generate(BouncingBallsOptions options, int sequences, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate(nameof(options));
        ArgumentOutOfRangeException.ThrowIfNegative(sequences);
        long length = (long)sequences * options.ValuesPerSequence;
        if (length > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(sequences),
                $"{sequences} videos of {options.ValuesPerSequence} values are {length} values, more than one array can hold.");
        float[] values = new float[length];
        GenerateCore(options, seed, 0, values);
        return values;
    }

    /// <summary>
    /// Fills <paramref name="destination"/> with videos 0, 1, … of <paramref name="seed"/>; its length
    /// must be a whole number of videos (Frames × Resolution² values each).
    /// </summary>
    public static void Generate(BouncingBallsOptions options, ulong seed, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate(nameof(options));
        if (destination.Length % options.ValuesPerSequence != 0)
            throw new ArgumentException(
                $"destination has {destination.Length} values, not a whole number of videos of {options.Frames} frames of {options.Resolution}×{options.Resolution} ({options.ValuesPerSequence} values each).",
                nameof(destination));
        GenerateCore(options, seed, 0, destination);
    }

    /// <summary>Videos firstSequence, firstSequence + 1, … of <paramref name="seed"/>, as many as fit <paramref name="destination"/>, in parallel.</summary>
    internal static unsafe void GenerateCore(BouncingBallsOptions options, ulong seed, ulong firstSequence, Span<float> destination)
    {
        int perSequence = options.ValuesPerSequence, sequences = destination.Length / perSequence;
        if (sequences == 0)
            return;
        fixed (float* start = destination)
        {
            // An address, not a span, crosses into the parallel loop; each video writes only its own values.
            nint address = (nint)start;
            try
            {
                Parallel.For(0, sequences, () => new Simulation(options), (s, _, simulation) =>
                {
                    var video = new Span<float>((float*)address + (long)s * perSequence, perSequence);
                    simulation.Start(SequenceStream(seed, firstSequence + (ulong)s));
                    for (int t = 0; t < options.Frames; t++)
                    {
                        if (t > 0)
                            simulation.AdvanceFrame();
                        simulation.Render(video.Slice(t * options.PixelsPerFrame, options.PixelsPerFrame));
                    }
                    return simulation;
                }, _ => { });
            }
            catch (AggregateException e) when (e.InnerExceptions.Count > 0)
            {
                // Every video fails alike (impossible placements): report the first, not a wrapper.
                ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
            }
        }
    }

    /// <summary>The random stream of video <paramref name="sequence"/> of <paramref name="seed"/>.</summary>
    private static RandomStream SequenceStream(ulong seed, ulong sequence) => new RandomStream(seed).Fork(sequence);

    /// <summary>
    /// The ball states of video <paramref name="sequence"/> of <paramref name="seed"/> at each frame (the
    /// states <see cref="Generate(BouncingBallsOptions, int, ulong)"/> renders), with the collisions on the way.
    /// </summary>
    internal static BallTrajectory Trajectory(BouncingBallsOptions options, ulong seed, ulong sequence)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate(nameof(options));
        var simulation = new Simulation(options);
        simulation.Start(SequenceStream(seed, sequence));
        int perFrame = 2 * options.Balls;
        double[] positions = new double[options.Frames * perFrame], velocities = new double[options.Frames * perFrame];
        for (int t = 0; t < options.Frames; t++)
        {
            if (t > 0)
                simulation.AdvanceFrame();
            simulation.Positions.CopyTo(positions.AsSpan(t * perFrame));
            simulation.Velocities.CopyTo(velocities.AsSpan(t * perFrame));
        }
        return new BallTrajectory(positions, velocities, simulation.WallCollisions, simulation.BallCollisions);
    }

    /// <summary>
    /// Renders balls at <paramref name="positions"/> (x, y of each ball) into one frame of Resolution² pixels.
    /// </summary>
    internal static void RenderFrame(BouncingBallsOptions options, ReadOnlySpan<double> positions, Span<float> frame)
    {
        if (positions.Length != 2 * options.Balls)
            throw new ArgumentException($"positions has {positions.Length} values; {options.Balls} balls need {2 * options.Balls}.", nameof(positions));
        if (frame.Length != options.PixelsPerFrame)
            throw new ArgumentException($"frame has {frame.Length} values; a frame of {options.Resolution}×{options.Resolution} needs {options.PixelsPerFrame}.", nameof(frame));
        RenderFrame(options, positions, frame, new float[ScratchLength(options)]);
    }

    /// <summary>Reach, r · 87^⅛: past this distance from its centre a ball's terms are negligible ((d²/r²)⁴ &gt; 87).</summary>
    private static double Reach(BouncingBallsOptions options) => options.Radius * Math.Pow(NegligibleExponent, 0.125);

    /// <summary>Work space for <see cref="RenderFrame(BouncingBallsOptions, ReadOnlySpan{double}, Span{float}, Span{float})"/>: two values per pixel of one ball's square.</summary>
    private static int ScratchLength(BouncingBallsOptions options)
    {
        // At most ⌊2 · reach / cell⌋ + 1 pixel centres fit in an interval of 2 · reach.
        double side = Math.Min(options.Resolution, Math.Floor(2 * Reach(options) * options.Resolution / options.Box) + 1);
        return 2 * (int)side * (int)side;
    }

    /// <summary><see cref="RenderFrame(BouncingBallsOptions, ReadOnlySpan{double}, Span{float})"/> with work space of at least <see cref="ScratchLength"/> values in <paramref name="scratch"/>.</summary>
    private static void RenderFrame(BouncingBallsOptions options, ReadOnlySpan<double> positions, Span<float> frame, Span<float> scratch)
    {
        frame.Clear();
        int resolution = options.Resolution;
        double r = options.Radius, cell = options.Box / resolution, inverseRadiusSquared = 1 / (r * r);
        double reach = Reach(options);
        for (int b = 0; b < options.Balls; b++)
        {
            double x = positions[2 * b], y = positions[2 * b + 1];
            // Pixel j's centre is (j + ½)·cell: the pixels within reach of x are those with |(j + ½)·cell − x| ≤ reach.
            int j0 = Math.Max(0, (int)Math.Ceiling((x - reach) / cell - 0.5)), j1 = Math.Min(resolution - 1, (int)Math.Floor((x + reach) / cell - 0.5));
            int i0 = Math.Max(0, (int)Math.Ceiling((y - reach) / cell - 0.5)), i1 = Math.Min(resolution - 1, (int)Math.Floor((y + reach) / cell - 0.5));
            if (j1 < j0 || i1 < i0)
                continue;
            // The exponents −(d²/r²)⁴ of the ball's square of pixels first, then all their exps in one vector call.
            int columns = j1 - j0 + 1, count = (i1 - i0 + 1) * columns;
            Span<float> exponents = scratch[..count], terms = scratch.Slice(count, count);
            for (int i = i0, k = 0; i <= i1; i++)
            {
                double dy = (i + 0.5) * cell - y;
                for (int j = j0; j <= j1; j++, k++)
                {
                    double dx = (j + 0.5) * cell - x;
                    double u = (dx * dx + dy * dy) * inverseRadiusSquared, u2 = u * u;
                    exponents[k] = (float)-Math.Min(u2 * u2, 2 * NegligibleExponent);
                }
            }
            TensorPrimitives.Exp(exponents, terms);
            for (int i = i0, k = 0; i <= i1; i++)
            {
                Span<float> row = frame.Slice(i * resolution + j0, columns);
                for (int j = 0; j < columns; j++, k++)
                    if (exponents[k] > -NegligibleExponent)
                        row[j] += terms[k];
            }
        }
        TensorPrimitives.Min(frame, 1f, frame);
    }

    /// <summary>
    /// Writes <paramref name="trainSequences"/> videos of <paramref name="seed"/> to <see cref="TrainFile"/> and
    /// <paramref name="testSequences"/> others (from a part of the seed's videos the training set never reaches)
    /// to <see cref="TestFile"/> in <paramref name="directory"/>, which is created if missing. Both files are written in full
    /// beside their places before either replaces an earlier one, so that a failed write leaves an earlier pair as it was (not
    /// a new training file beside an old test file); only the second of the two renames failing after the first could part them.
    /// </summary>
    public static BouncingBallsDataset WriteDataset(string directory, BouncingBallsOptions? options = null,
        int trainSequences = 4000, int testSequences = 200, ulong seed = DefaultSeed)
        => WriteDataset(directory, options, trainSequences, testSequences, seed, createTemporary: null);

    /// <summary><see cref="WriteDataset(string, BouncingBallsOptions?, int, int, ulong)"/> with the temporary files opened by <paramref name="createTemporary"/> (fault injection in tests).</summary>
    internal static BouncingBallsDataset WriteDataset(string directory, BouncingBallsOptions? options,
        int trainSequences, int testSequences, ulong seed, Func<string, Stream>? createTemporary)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        options ??= new BouncingBallsOptions();
        options.Validate(nameof(options));
        ArgumentOutOfRangeException.ThrowIfNegative(trainSequences);
        ArgumentOutOfRangeException.ThrowIfNegative(testSequences);
        Directory.CreateDirectory(directory);
        var dataset = new BouncingBallsDataset(
            Make(options, seed, 0, trainSequences, nameof(trainSequences)),
            Make(options, seed, TestSequenceOffset, testSequences, nameof(testSequences)));
        using AtomicFile.StagedFile train = SequenceFile.Stage(Path.Combine(directory, TrainFile), dataset.Train, gzip: true, createTemporary);
        using AtomicFile.StagedFile test = SequenceFile.Stage(Path.Combine(directory, TestFile), dataset.Test, gzip: true, createTemporary);
        train.Commit();
        test.Commit();
        return dataset;
    }

    private static SequenceSet Make(BouncingBallsOptions options, ulong seed, ulong firstSequence, int count, string argument)
    {
        long length = (long)count * options.ValuesPerSequence;
        if (length > Array.MaxLength)
            throw new ArgumentOutOfRangeException(argument,
                $"{count} videos of {options.ValuesPerSequence} values are {length} values, more than one array can hold.");
        float[] values = new float[length];
        GenerateCore(options, seed, firstSequence, values);
        return new SequenceSet(count, options.Frames, options.Resolution, options.Resolution, values);
    }

    /// <summary>
    /// Reads <see cref="TrainFile"/> and <see cref="TestFile"/> from <paramref name="directory"/>; throws
    /// <see cref="InvalidDataException"/> when either is damaged.
    /// </summary>
    public static BouncingBallsDataset ReadDataset(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        return new BouncingBallsDataset(
            SequenceFile.Read(Path.Combine(directory, TrainFile)),
            SequenceFile.Read(Path.Combine(directory, TestFile)));
    }

    /// <summary>
    /// The data set in <paramref name="directory"/>: read when both files are there, else generated with these
    /// settings and written (<see cref="WriteDataset(string, BouncingBallsOptions?, int, int, ulong)"/>), so that a fresh machine needs no download. Files that
    /// are there are taken as they are, but must have the asked-for shape: otherwise an
    /// <see cref="InvalidDataException"/> names the file (delete it to make a new one). So does one file without the other
    /// (it was overwritten, whatever its shape, when both were made anew). The seed is not recorded in the files, so files
    /// made with another seed are not noticed.
    /// </summary>
    public static BouncingBallsDataset LoadOrCreate(string directory, BouncingBallsOptions? options = null,
        int trainSequences = 4000, int testSequences = 200, ulong seed = DefaultSeed)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        options ??= new BouncingBallsOptions();
        options.Validate(nameof(options));
        // Checked whatever is on disk: a negative count was blamed on the files ("delete it to have it made anew").
        ArgumentOutOfRangeException.ThrowIfNegative(trainSequences);
        ArgumentOutOfRangeException.ThrowIfNegative(testSequences);
        string train = Path.Combine(directory, TrainFile), test = Path.Combine(directory, TestFile);
        bool hasTrain = File.Exists(train), hasTest = File.Exists(test);
        if (!hasTrain && !hasTest) return WriteDataset(directory, options, trainSequences, testSequences, seed);
        if (hasTrain != hasTest)
        {
            (string there, string missing) = hasTrain ? (train, test) : (test, train);
            throw new InvalidDataException($"{there}: the data set's other file, {Path.GetFileName(missing)}, is not beside it; restore it, or delete this one to have both made anew.");
        }
        var dataset = ReadDataset(directory);
        CheckShape(train, dataset.Train, options, trainSequences);
        CheckShape(test, dataset.Test, options, testSequences);
        return dataset;
    }

    private static void CheckShape(string path, SequenceSet set, BouncingBallsOptions options, int count)
    {
        if (set.Count == count && set.Frames == options.Frames && set.Height == options.Resolution && set.Width == options.Resolution)
            return;
        throw new InvalidDataException(
            $"{path}: holds {set.Count} videos of {set.Frames} frames of {set.Height}×{set.Width}, but {count} of {options.Frames} frames of {options.Resolution}×{options.Resolution} were asked for; delete it to have it made anew.");
    }

    /// <summary>The state of one video's balls, stepped one sub-step at a time; nothing is allocated after construction.</summary>
    private sealed class Simulation
    {
        private readonly BouncingBallsOptions _options;
        private readonly double[] _x, _v;
        private readonly float[] _scratch;
        private readonly double _radius, _low, _high, _dt;

        public Simulation(BouncingBallsOptions options)
        {
            _options = options;
            _x = new double[2 * options.Balls];
            _v = new double[2 * options.Balls];
            _scratch = new float[ScratchLength(options)];
            _radius = options.Radius;
            _low = options.Radius;
            _high = options.Box - options.Radius;
            _dt = 1.0 / options.SubSteps;
        }

        /// <summary>x, y of each ball.</summary>
        public ReadOnlySpan<double> Positions => _x;

        /// <summary>vx, vy of each ball.</summary>
        public ReadOnlySpan<double> Velocities => _v;

        public int WallCollisions { get; private set; }

        public int BallCollisions { get; private set; }

        /// <summary>Draws the starting state of a video from <paramref name="random"/>.</summary>
        public void Start(RandomStream random)
        {
            WallCollisions = BallCollisions = 0;
            double norm;
            do
            {
                double sumOfSquares = 0;
                for (int k = 0; k < _v.Length; k++)
                {
                    _v[k] = StandardNormal(random);
                    sumOfSquares += _v[k] * _v[k];
                }
                norm = Math.Sqrt(sumOfSquares);
            }
            while (norm == 0); // a direction is needed to scale; all-zero draws are all but impossible
            double scale = _options.Speed / norm;
            for (int k = 0; k < _v.Length; k++)
                _v[k] *= scale;

            for (int attempt = 0; attempt < MaxPlacementTries; attempt++)
            {
                for (int k = 0; k < _x.Length; k++)
                    _x[k] = _low + (_high - _low) * random.NextDouble();
                if (!AnyOverlap())
                    return;
            }
            throw new ArgumentException(
                $"Invalid bouncing-balls options: {MaxPlacementTries} random placements of {_options.Balls} balls of radius {_radius} in a {_options.Box}×{_options.Box} box all had two balls overlapping; use fewer or smaller balls or a larger box.",
                "options");
        }

        private bool AnyOverlap()
        {
            double minimum = 4 * _radius * _radius;
            for (int a = 0; a < _options.Balls; a++)
                for (int b = 0; b < a; b++)
                {
                    double dx = _x[2 * a] - _x[2 * b], dy = _x[2 * a + 1] - _x[2 * b + 1];
                    if (dx * dx + dy * dy < minimum)
                        return true;
                }
            return false;
        }

        /// <summary>Box–Muller in double from two uniforms of the open interval (0, 1).</summary>
        private static double StandardNormal(RandomStream random) =>
            Math.Sqrt(-2 * Math.Log(random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

        /// <summary>One frame's time: SubSteps sub-steps.</summary>
        public void AdvanceFrame()
        {
            for (int k = 0; k < _options.SubSteps; k++)
                SubStep();
        }

        private void SubStep()
        {
            for (int k = 0; k < _x.Length; k++)
                _x[k] += _v[k] * _dt;

            for (int k = 0; k < _x.Length; k++)
            {
                if (_x[k] < _low)
                {
                    _x[k] = 2 * _low - _x[k];
                    _v[k] = Math.Abs(_v[k]);
                    WallCollisions++;
                }
                else if (_x[k] > _high)
                {
                    _x[k] = 2 * _high - _x[k];
                    _v[k] = -Math.Abs(_v[k]);
                    WallCollisions++;
                }
                // A step longer than the box is wide can mirror past the opposite wall: clamp it.
                _x[k] = Math.Clamp(_x[k], _low, _high);
            }

            double contact = 4 * _radius * _radius;
            for (int a = 0; a < _options.Balls; a++)
                for (int b = 0; b < a; b++)
                {
                    double dx = _x[2 * a] - _x[2 * b], dy = _x[2 * a + 1] - _x[2 * b + 1];
                    double distanceSquared = dx * dx + dy * dy;
                    if (distanceSquared >= contact || distanceSquared == 0)
                        continue;
                    double dvx = _v[2 * a] - _v[2 * b], dvy = _v[2 * a + 1] - _v[2 * b + 1];
                    // Only balls moving towards each other bounce; ones already parting are left to part.
                    if (dx * dvx + dy * dvy >= 0)
                        continue;
                    double distance = Math.Sqrt(distanceSquared), wx = dx / distance, wy = dy / distance;
                    // Equal masses: the velocity components along the line of centres are exchanged.
                    double exchange = (_v[2 * b] - _v[2 * a]) * wx + (_v[2 * b + 1] - _v[2 * a + 1]) * wy;
                    _v[2 * a] += exchange * wx;
                    _v[2 * a + 1] += exchange * wy;
                    _v[2 * b] -= exchange * wx;
                    _v[2 * b + 1] -= exchange * wy;
                    BallCollisions++;
                }
        }

        /// <summary>Renders the current positions into one frame.</summary>
        public void Render(Span<float> frame) => RenderFrame(_options, _x, frame, _scratch);
    }
}

/// <summary>
/// The balls of one video at each frame: Positions and Velocities hold Frames × Balls × 2 values
/// (x, y of each ball per frame); the collision counts are over the whole video.
/// </summary>
internal sealed record BallTrajectory(double[] Positions, double[] Velocities, int WallCollisions, int BallCollisions);
