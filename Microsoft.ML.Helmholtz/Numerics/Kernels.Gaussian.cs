using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Microsoft.ML.Helmholtz.Numerics;

// Gaussian units: log-probabilities, their gradient, reparameterised samples, curvature and the
// stochastic back-propagation statistics.
public static unsafe partial class Kernels
{
    /// <summary>
    /// rowSums[r] += −½ (Σ_c (y − m)² e^{−s} + s + ln 2π): ln N(y; m, e^s) per row, with (y − m)² e^{−s} taken as
    /// ((y − m) e^{−s/2})² (<see cref="InverseScale(float)"/>): e^{−s} passes float below s = −88, where y = m gave 0 · ∞ = NaN.
    /// </summary>
    public static void AccumulateGaussianLogProb(ReadOnlySpan<float> y, ReadOnlySpan<float> mean, ReadOnlySpan<float> logVar, int rows, int columns, Span<double> rowSums)
        => AccumulateGaussianLogProb(y, rows, default, mean, logVar, rows, columns, rowSums);

    /// <summary>The same with y row r taken from row rowSource[r] of the <paramref name="yRows"/> rows of <paramref name="y"/> (empty: row r).</summary>
    public static void AccumulateGaussianLogProb(ReadOnlySpan<float> y, int yRows, ReadOnlySpan<int> rowSource, ReadOnlySpan<float> mean, ReadOnlySpan<float> logVar,
        int rows, int columns, Span<double> rowSums)
    {
        int n = rows * columns;
        y = y[..(yRows * columns)]; mean = mean[..n]; logVar = logVar[..n]; rowSums = rowSums[..rows];
        CheckRowSource(rowSource, rows, yRows);
        int pieces = Pieces(n);
        if (pieces == 1)
        {
            GaussianLogProbRows(y, rowSource, mean, logVar, columns, rowSums, 0, rows);
            return;
        }
        fixed (float* py = y, m = mean, s = logVar)
        fixed (int* source = rowSource)
        fixed (double* sums = rowSums)
            WorkerPool.Current.Run(pieces, new GaussianLogProbWork
            {
                Ranges = new(rows, pieces), Y = py, Mean = m, LogVar = s, RowSource = source, RowSums = sums,
                YRows = yRows, Rows = rows, Columns = columns,
            });
    }

    private struct GaussianLogProbWork : IPieceWork
    {
        public PieceRanges Ranges;   // of rows
        public float* Y, Mean, LogVar;
        public int* RowSource;       // null: row r of Y
        public double* RowSums;
        public int YRows, Rows, Columns;

        public readonly void Execute(int piece)
        {
            if (!Ranges.Get(piece, out int r0, out int r1)) return;
            int n = Rows * Columns;
            GaussianLogProbRows(new ReadOnlySpan<float>(Y, YRows * Columns), SpanOrEmpty(RowSource, Rows), new ReadOnlySpan<float>(Mean, n),
                new ReadOnlySpan<float>(LogVar, n), Columns, new Span<double>(RowSums, Rows), r0, r1);
        }
    }

    private static void GaussianLogProbRows(ReadOnlySpan<float> y, ReadOnlySpan<int> rowSource, ReadOnlySpan<float> mean, ReadOnlySpan<float> logVar, int columns, Span<double> rowSums, int r0, int r1)
    {
        if (Vector512.IsHardwareAccelerated) GaussianLogProbRows<WideSums>(y, rowSource, mean, logVar, columns, rowSums, r0, r1);
        else GaussianLogProbRows<HalfSums>(y, rowSource, mean, logVar, columns, rowSums, r0, r1);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void GaussianLogProbRows<TSums>(ReadOnlySpan<float> y, ReadOnlySpan<int> rowSource, ReadOnlySpan<float> mean, ReadOnlySpan<float> logVar, int columns, Span<double> rowSums, int r0, int r1)
        where TSums : struct, ILaneSums<TSums>
    {
        for (int r = r0; r < r1; r++)
        {
            int o = r * columns, yo = (rowSource.IsEmpty ? r : rowSource[r]) * columns - o, end = o + columns, i = o;
            double sum = 0;
            if (Wide && columns >= W)
            {
                TSums sums = TSums.Zero;
                for (; i <= end - W; i += W)
                {
                    Vector512<float> term = GaussianTerm(y, yo, mean, logVar, i);
                    sums.Add(term);
                }
                if (i < end)
                {
                    Vector512<float> term = GaussianTerm(y, yo, mean, logVar, end - W) & LastLanes(end - i);
                    sums.Add(term);
                    i = end;
                }
                sum = sums.Sum();
            }
            for (; i < end; i++)
            {
                float t = (y[yo + i] - mean[i]) * InverseScale(logVar[i]);
                sum += t * t + logVar[i];
            }
            rowSums[r] += -0.5 * (sum + columns * LogTwoPi);
        }
    }

    /// <summary>((y − m) e^{−s/2})² + s on 16 lanes from i (y read at yOffset + i).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> GaussianTerm(ReadOnlySpan<float> y, int yOffset, ReadOnlySpan<float> mean, ReadOnlySpan<float> logVar, int i)
    {
        Vector512<float> s = VectorMath.Load(logVar, i);
        Vector512<float> t = (VectorMath.Load(y, yOffset + i) - VectorMath.Load(mean, i)) * InverseScale(s);
        return t * t + s;
    }

    /// <summary>
    /// e^{−s/2}, held at float.MaxValue where it passes float (s below −177): one min, so that y = m still gives 0 there, not 0 · ∞.
    /// The per-unit kernel forms it once per unit by the same exps (<see cref="ExpScaled"/> of −½ s), for the same bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> InverseScale(Vector512<float> logVar) => Vector512.Min(VectorMath.Exp(Vector512.Create(-0.5f) * logVar), Vector512.Create(float.MaxValue));

    /// <summary>The scalar <see cref="InverseScale(Vector512{float})"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float InverseScale(float logVar) => MathF.Min(MathF.Exp(-0.5f * logVar), float.MaxValue);

    /// <summary>
    /// <see cref="AccumulateGaussianLogProb(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, int, int, Span{double})"/>
    /// with one log-variance per unit for every row (<paramref name="unitLogVar"/>, [columns]): e^{−s/2} once per
    /// unit into <paramref name="unitInverseScale"/> instead of once per element, and no row of s to broadcast.
    /// The same bits as the per-row kernel given the broadcast rows.
    /// </summary>
    public static void AccumulateGaussianLogProbPerUnitVariance(ReadOnlySpan<float> y, ReadOnlySpan<float> mean, ReadOnlySpan<float> unitLogVar,
        Span<float> unitInverseScale, int rows, int columns, Span<double> rowSums)
    {
        int n = rows * columns;
        y = y[..n]; mean = mean[..n]; unitLogVar = unitLogVar[..columns]; unitInverseScale = unitInverseScale[..columns]; rowSums = rowSums[..rows];
        // InverseScale by the exp GaussianLogProbRows takes for a row of this many columns: vector, or scalar below one vector.
        ExpScaled(unitLogVar, -0.5f, unitInverseScale, vector: columns >= W);
        TensorPrimitives.Min(unitInverseScale, float.MaxValue, unitInverseScale);
        int pieces = Math.Min(Pieces(n), rows);
        if (pieces <= 1)
        {
            GaussianLogProbPerUnitRows(y, mean, unitLogVar, unitInverseScale, columns, rowSums, 0, rows);
            return;
        }
        fixed (float* py = y, m = mean, s = unitLogVar, p = unitInverseScale)
        fixed (double* sums = rowSums)
            WorkerPool.Current.Run(pieces, new GaussianLogProbPerUnitWork
            {
                Ranges = new(rows, pieces), Y = py, Mean = m, LogVar = s, InverseScale = p, RowSums = sums, Rows = rows, Columns = columns,
            });
    }

    private struct GaussianLogProbPerUnitWork : IPieceWork
    {
        public PieceRanges Ranges;   // of rows
        public float* Y, Mean, LogVar, InverseScale;   // LogVar and InverseScale: [Columns]
        public double* RowSums;
        public int Rows, Columns;

        public readonly void Execute(int piece)
        {
            if (!Ranges.Get(piece, out int r0, out int r1)) return;
            int n = Rows * Columns;
            GaussianLogProbPerUnitRows(new ReadOnlySpan<float>(Y, n), new ReadOnlySpan<float>(Mean, n), new ReadOnlySpan<float>(LogVar, Columns),
                new ReadOnlySpan<float>(InverseScale, Columns), Columns, new Span<double>(RowSums, Rows), r0, r1);
        }
    }

    private static void GaussianLogProbPerUnitRows(ReadOnlySpan<float> y, ReadOnlySpan<float> mean, ReadOnlySpan<float> logVar, ReadOnlySpan<float> inverseScale,
        int columns, Span<double> rowSums, int r0, int r1)
    {
        if (Vector512.IsHardwareAccelerated) GaussianLogProbPerUnitRows<WideSums>(y, mean, logVar, inverseScale, columns, rowSums, r0, r1);
        else GaussianLogProbPerUnitRows<HalfSums>(y, mean, logVar, inverseScale, columns, rowSums, r0, r1);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void GaussianLogProbPerUnitRows<TSums>(ReadOnlySpan<float> y, ReadOnlySpan<float> mean, ReadOnlySpan<float> logVar, ReadOnlySpan<float> inverseScale,
        int columns, Span<double> rowSums, int r0, int r1)
        where TSums : struct, ILaneSums<TSums>
    {
        for (int r = r0; r < r1; r++)
        {
            int o = r * columns, c = 0;
            double sum = 0;
            if (Wide && columns >= W)
            {
                TSums sums = TSums.Zero;
                for (; c <= columns - W; c += W)
                {
                    Vector512<float> term = GaussianTermPerUnit(y, mean, o, logVar, inverseScale, c);
                    sums.Add(term);
                }
                if (c < columns)
                {
                    Vector512<float> term = GaussianTermPerUnit(y, mean, o, logVar, inverseScale, columns - W) & LastLanes(columns - c);
                    sums.Add(term);
                    c = columns;
                }
                sum = sums.Sum();
            }
            for (; c < columns; c++)
            {
                float t = (y[o + c] - mean[o + c]) * inverseScale[c];
                sum += t * t + logVar[c];
            }
            rowSums[r] += -0.5 * (sum + columns * LogTwoPi);
        }
    }

    /// <summary><see cref="GaussianTerm"/> with the unit's e^{−s/2} given (<paramref name="inverseScale"/>): ((y − m) e^{−s/2})² + s on 16 lanes from column c of the row at o.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> GaussianTermPerUnit(ReadOnlySpan<float> y, ReadOnlySpan<float> mean, int o, ReadOnlySpan<float> logVar, ReadOnlySpan<float> inverseScale, int c)
    {
        Vector512<float> t = (VectorMath.Load(y, o + c) - VectorMath.Load(mean, o + c)) * VectorMath.Load(inverseScale, c);
        return t * t + VectorMath.Load(logVar, c);
    }

    /// <summary>rowSums[r] += −½ (Σ_c ε² + s + ln 2π): ln N(m + e^{s/2} ε; m, e^s) per row, from the noise ε.</summary>
    public static void AccumulateGaussianLogProbOfNoise(ReadOnlySpan<float> noise, ReadOnlySpan<float> logVar, int rows, int columns, Span<double> rowSums)
        => AccumulateHalfNegativeSquares(noise, logVar[..(rows * columns)], rows, default, rows, columns, rowSums);

    /// <summary>
    /// The same with row r's log-variances taken from row logVarSource[r] of the <paramref name="logVarRows"/>
    /// rows of <paramref name="logVar"/> (empty: row r): for rows that share a distinct input's statistics.
    /// </summary>
    public static void AccumulateGaussianLogProbOfNoise(ReadOnlySpan<float> noise, ReadOnlySpan<float> logVar, int logVarRows, ReadOnlySpan<int> logVarSource,
        int rows, int columns, Span<double> rowSums)
    {
        CheckRowSource(logVarSource, rows, logVarRows);
        AccumulateHalfNegativeSquares(noise, logVar[..(logVarRows * columns)], logVarRows, logVarSource, rows, columns, rowSums);
    }

    /// <summary>rowSums[r] += −½ (Σ_c y[r,c]² + columns · ln 2π): ln N(y; 0, I) per row.</summary>
    public static void AccumulateStandardNormalLogProb(ReadOnlySpan<float> y, int rows, int columns, Span<double> rowSums)
        => AccumulateHalfNegativeSquares(y, default, 0, default, rows, columns, rowSums);

    /// <summary>
    /// rowSums[r] += −½ (Σ_c x² + s + ln 2π), with s = 0 where <paramref name="logVar"/> is empty:
    /// the log-density of standard normal x (scaled by e^{s/2}). Row r's s is row logVarSource[r] of
    /// the <paramref name="logVarRows"/> rows of logVar (row r where logVarSource is empty).
    /// </summary>
    private static void AccumulateHalfNegativeSquares(ReadOnlySpan<float> x, ReadOnlySpan<float> logVar, int logVarRows, ReadOnlySpan<int> logVarSource,
        int rows, int columns, Span<double> rowSums)
    {
        int n = rows * columns;
        x = x[..n]; rowSums = rowSums[..rows];
        int pieces = Math.Min(Pieces(n), rows);
        if (pieces <= 1)
        {
            HalfNegativeSquaresRange(x, logVar, logVarSource, columns, rowSums, 0, rows);
            return;
        }
        fixed (float* px = x, ps = logVar)
        fixed (int* source = logVarSource)
        fixed (double* sums = rowSums)
            WorkerPool.Current.Run(pieces, new HalfNegativeSquaresWork
            {
                Ranges = new(rows, pieces), X = px, LogVar = ps, LogVarSource = source, RowSums = sums, LogVarRows = logVarRows, Rows = rows, Columns = columns,
            });
    }

    private struct HalfNegativeSquaresWork : IPieceWork
    {
        public PieceRanges Ranges;   // of rows
        public float* X, LogVar;     // LogVar null: s = 0
        public int* LogVarSource;    // null: row r of LogVar
        public double* RowSums;
        public int LogVarRows, Rows, Columns;

        public readonly void Execute(int piece)
        {
            if (!Ranges.Get(piece, out int r0, out int r1)) return;
            HalfNegativeSquaresRange(new ReadOnlySpan<float>(X, Rows * Columns), SpanOrEmpty(LogVar, LogVarRows * Columns), SpanOrEmpty(LogVarSource, Rows),
                Columns, new Span<double>(RowSums, Rows), r0, r1);
        }
    }

    private static void HalfNegativeSquaresRange(ReadOnlySpan<float> x, ReadOnlySpan<float> logVar, ReadOnlySpan<int> logVarSource, int columns, Span<double> rowSums, int r0, int r1)
    {
        if (Vector512.IsHardwareAccelerated) HalfNegativeSquaresRange<WideSums>(x, logVar, logVarSource, columns, rowSums, r0, r1);
        else HalfNegativeSquaresRange<HalfSums>(x, logVar, logVarSource, columns, rowSums, r0, r1);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void HalfNegativeSquaresRange<TSums>(ReadOnlySpan<float> x, ReadOnlySpan<float> logVar, ReadOnlySpan<int> logVarSource, int columns, Span<double> rowSums, int r0, int r1)
        where TSums : struct, ILaneSums<TSums>
    {
        bool shift = !logVar.IsEmpty;
        for (int r = r0; r < r1; r++)
        {
            int o = r * columns, end = o + columns, i = o;
            // logVar read at i + shiftOffset: its row for row r.
            int shiftOffset = logVarSource.IsEmpty ? 0 : (logVarSource[r] - r) * columns;
            double sum = 0;
            if (Wide && columns >= W)
            {
                TSums sums = TSums.Zero;
                for (; i <= end - W; i += W)
                {
                    Vector512<float> term = SquarePlus(x, logVar, shift, i, shiftOffset);
                    sums.Add(term);
                }
                if (i < end)
                {
                    Vector512<float> term = SquarePlus(x, logVar, shift, end - W, shiftOffset) & LastLanes(end - i);
                    sums.Add(term);
                    i = end;
                }
                sum = sums.Sum();
            }
            for (; i < end; i++) sum += x[i] * x[i] + (shift ? logVar[i + shiftOffset] : 0f);
            rowSums[r] += -0.5 * (sum + columns * LogTwoPi);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> SquarePlus(ReadOnlySpan<float> x, ReadOnlySpan<float> logVar, bool shift, int i, int shiftOffset)
    {
        Vector512<float> v = VectorMath.Load(x, i);
        return shift ? Vector512.FusedMultiplyAdd(v, v, VectorMath.Load(logVar, i + shiftOffset)) : v * v;
    }

    /// <summary>
    /// With d = y − m and precision p = e^{−s}: dMean = w d p, dLogVar = w ½ (d² p − 1), and, when
    /// <paramref name="outputGradient"/> is not empty, outputGradient −= w d p.
    /// </summary>
    public static void GaussianLogProbGradient(ReadOnlySpan<float> y, ReadOnlySpan<float> mean, ReadOnlySpan<float> logVar, int rows, int columns,
        ReadOnlySpan<float> rowWeights, Span<float> dMean, Span<float> dLogVar, Span<float> outputGradient)
    {
        int n = rows * columns;
        y = y[..n]; mean = mean[..n]; logVar = logVar[..n]; rowWeights = rowWeights[..rows]; dMean = dMean[..n]; dLogVar = dLogVar[..n];
        if (!outputGradient.IsEmpty) outputGradient = outputGradient[..n];
        int pieces = Pieces(n);
        if (pieces == 1)
        {
            GaussianLogProbGradientRows(y, mean, logVar, columns, rowWeights, dMean, dLogVar, outputGradient, 0, rows);
            return;
        }
        fixed (float* py = y, m = mean, s = logVar, w = rowWeights, dm = dMean, ds = dLogVar, o = outputGradient)
            WorkerPool.Current.Run(pieces, new GaussianLogProbGradientWork
            {
                Ranges = new(rows, pieces), Y = py, Mean = m, LogVar = s, RowWeights = w,
                DMean = dm, DLogVar = ds, OutputGradient = o, Rows = rows, Columns = columns,
            });
    }

    private struct GaussianLogProbGradientWork : IPieceWork
    {
        public PieceRanges Ranges;   // of rows
        public float* Y, Mean, LogVar, RowWeights, DMean, DLogVar;
        public float* OutputGradient; // null: none
        public int Rows, Columns;

        public readonly void Execute(int piece)
        {
            if (!Ranges.Get(piece, out int r0, out int r1)) return;
            int n = Rows * Columns;
            GaussianLogProbGradientRows(new ReadOnlySpan<float>(Y, n), new ReadOnlySpan<float>(Mean, n), new ReadOnlySpan<float>(LogVar, n), Columns,
                new ReadOnlySpan<float>(RowWeights, Rows), new Span<float>(DMean, n), new Span<float>(DLogVar, n), SpanOrEmpty(OutputGradient, n),
                r0, r1);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void GaussianLogProbGradientRows(ReadOnlySpan<float> y, ReadOnlySpan<float> mean, ReadOnlySpan<float> logVar, int columns,
        ReadOnlySpan<float> rowWeights, Span<float> dMean, Span<float> dLogVar, Span<float> outputGradient, int r0, int r1)
    {
        bool output = !outputGradient.IsEmpty;
        for (int r = r0; r < r1; r++)
        {
            float w = rowWeights[r];
            int o = r * columns, end = o + columns, i = o;
            if (Wide && columns >= W)
            {
                var wv = Vector512.Create(w);
                var half = Vector512.Create(0.5f);
                // The last pass overlaps the one before when the row is not whole vectors: every output gets only
                // its new lanes there (dMean or dLogVar may share a buffer with y, mean or logVar).
                Vector512<float> fresh = Vector512<float>.AllBitsSet;
                for (bool tail = false; ; )
                {
                    Vector512<float> d = VectorMath.Load(y, i) - VectorMath.Load(mean, i);
                    // Through t = (y − m) e^{−s/2}, as the log-probability takes it: d·e^{−s} was 0 · ∞ = NaN at y = m below s = −88.7;
                    // this holds to s = −177, where e^{−s/2} passes float (not held at float.MaxValue as in the log-probability: that
                    // min measured 8% of this kernel, for variances no training reaches).
                    Vector512<float> scale = VectorMath.Exp(Vector512.Create(-0.5f) * VectorMath.Load(logVar, i)), t = d * scale;
                    Vector512<float> gm = wv * t * scale;
                    Vector512<float> gs = wv * half * (t * t - Vector512<float>.One);
                    if (tail)
                    {
                        gm = VectorMath.Select(fresh, gm, VectorMath.Load(dMean, i));
                        gs = VectorMath.Select(fresh, gs, VectorMath.Load(dLogVar, i));
                    }
                    VectorMath.Store(gm, dMean, i);
                    VectorMath.Store(gs, dLogVar, i);
                    if (output) VectorMath.Store(VectorMath.Load(outputGradient, i) - (gm & fresh), outputGradient, i);
                    i += W;
                    if (tail || i == end) break;
                    if (i > end - W)
                    {
                        fresh = LastLanes(end - i);
                        i = end - W;
                        tail = true;
                    }
                }
                i = end;
            }
            for (; i < end; i++)
            {
                float d = y[i] - mean[i];
                float scale = MathF.Exp(-0.5f * logVar[i]), t = d * scale;   // as the vector path
                float gm = w * t * scale, gs = w * 0.5f * (t * t - 1f);
                dMean[i] = gm;
                dLogVar[i] = gs;
                if (output) outputGradient[i] -= gm;
            }
        }
    }

    /// <summary>y = m + e^{s/2} ε.</summary>
    public static void Reparameterize(ReadOnlySpan<float> mean, ReadOnlySpan<float> logVar, ReadOnlySpan<float> noise, Span<float> y)
    {
        int n = y.Length;
        mean = mean[..n]; logVar = logVar[..n]; noise = noise[..n];
        int pieces = Pieces(n);
        if (pieces == 1)
        {
            ReparameterizeRange(mean, logVar, noise, y, 0, n);
            return;
        }
        fixed (float* m = mean, s = logVar, e = noise, py = y)
            WorkerPool.Current.Run(pieces, new ReparameterizeWork { Ranges = new(n, pieces, W), Mean = m, LogVar = s, Noise = e, Y = py, Length = n });
    }

    private struct ReparameterizeWork : IPieceWork
    {
        public PieceRanges Ranges;   // of elements
        public float* Mean, LogVar, Noise, Y;
        public int Length;

        public readonly void Execute(int piece)
        {
            if (Ranges.Get(piece, out int start, out int end))
                ReparameterizeRange(new ReadOnlySpan<float>(Mean, Length), new ReadOnlySpan<float>(LogVar, Length), new ReadOnlySpan<float>(Noise, Length),
                    new Span<float>(Y, Length), start, end);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void ReparameterizeRange(ReadOnlySpan<float> mean, ReadOnlySpan<float> logVar, ReadOnlySpan<float> noise, Span<float> y, int start, int end)
    {
        int i = start;
        if (Wide)
        {
            var half = Vector512.Create(0.5f);
            for (; i <= end - W; i += W)
                VectorMath.Store(VectorMath.Load(mean, i) + VectorMath.Exp(half * VectorMath.Load(logVar, i)) * VectorMath.Load(noise, i), y, i);
            if (i < end)
            {
                Tail m = new(mean, i, end);
                m.Store(m.Vector + VectorMath.Exp(half * m.Of(logVar)) * m.Of(noise), y);
            }
            return;
        }
        for (; i < end; i++)
            y[i] = mean[i] + MathF.Exp(0.5f * logVar[i]) * noise[i];
    }

    /// <summary>
    /// y[r] = m[rowSource[r]] + e^{s[rowSource[r]]/2} ε[r]: <see cref="Reparameterize"/> for rows that share
    /// the statistics of the <paramref name="distinctRows"/> rows of <paramref name="mean"/> and
    /// <paramref name="logVar"/>, each e^{s/2} computed once into <paramref name="sigma"/> (the same bits as
    /// Reparameterize's, which computes it per row).
    /// </summary>
    public static void ReparameterizeShared(ReadOnlySpan<float> mean, ReadOnlySpan<float> logVar, int distinctRows, ReadOnlySpan<int> rowSource,
        ReadOnlySpan<float> noise, int rows, int columns, Span<float> sigma, Span<float> y)
    {
        int d = distinctRows * columns, n = rows * columns;
        mean = mean[..d]; logVar = logVar[..d]; sigma = sigma[..d]; noise = noise[..n]; y = y[..n];
        CheckRowSource(rowSource, rows, distinctRows);
        ExpScaled(logVar, 0.5f, sigma, vector: true);   // as ReparameterizeRange, which runs over elements, not rows
        int pieces = Math.Min(Pieces(n), rows);
        if (pieces <= 1)
        {
            SharedReparameterizeRows(mean, sigma, rowSource, noise, columns, y, 0, rows);
            return;
        }
        fixed (float* m = mean, s = sigma, e = noise, py = y)
        fixed (int* source = rowSource)
            WorkerPool.Current.Run(pieces, new SharedReparameterizeWork
            {
                Ranges = new(rows, pieces), Mean = m, Sigma = s, RowSource = source, Noise = e, Y = py, DistinctRows = distinctRows, Rows = rows, Columns = columns,
            });
    }

    private struct SharedReparameterizeWork : IPieceWork
    {
        public PieceRanges Ranges;   // of rows
        public float* Mean, Sigma, Noise, Y;
        public int* RowSource;
        public int DistinctRows, Rows, Columns;

        public readonly void Execute(int piece)
        {
            if (!Ranges.Get(piece, out int r0, out int r1)) return;
            int d = DistinctRows * Columns, n = Rows * Columns;
            SharedReparameterizeRows(new ReadOnlySpan<float>(Mean, d), new ReadOnlySpan<float>(Sigma, d), new ReadOnlySpan<int>(RowSource, Rows),
                new ReadOnlySpan<float>(Noise, n), Columns, new Span<float>(Y, n), r0, r1);
        }
    }

    /// <summary>
    /// y = e^{scale · x}, by the vector exp where <paramref name="vector"/> is true and vectors are fast, else
    /// by the scalar one: a caller that stands in for a kernel's per-element exp picks the one that kernel
    /// uses, so that the values keep its bits (scale −1 and ½ are exact, as the kernels' −s and ½s are).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void ExpScaled(ReadOnlySpan<float> x, float scale, Span<float> y, bool vector)
    {
        int n = y.Length, i = 0;
        if (vector && Wide)
        {
            var k = Vector512.Create(scale);
            for (; i <= n - W; i += W) VectorMath.Store(VectorMath.Exp(k * VectorMath.Load(x, i)), y, i);
            if (i < n)
            {
                Tail t = new(x, i, n);
                t.Store(VectorMath.Exp(k * t.Vector), y);
            }
            return;
        }
        for (; i < n; i++) y[i] = MathF.Exp(scale * x[i]);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void SharedReparameterizeRows(ReadOnlySpan<float> mean, ReadOnlySpan<float> sigma, ReadOnlySpan<int> rowSource, ReadOnlySpan<float> noise,
        int columns, Span<float> y, int r0, int r1)
    {
        for (int r = r0; r < r1; r++)
        {
            int o = r * columns, so = rowSource[r] * columns, c = 0;
            if (Wide && columns >= W)
            {
                // A row not a multiple of 16 long ends with a vector that overlaps the one before: y is not an input, so the overlap recomputes the same values.
                for (; c <= columns - W; c += W)
                    VectorMath.Store(VectorMath.Load(mean, so + c) + VectorMath.Load(sigma, so + c) * VectorMath.Load(noise, o + c), y, o + c);
                if (c < columns)
                {
                    Vector512<float> fresh = LastLanes(columns - c);
                    c = columns - W;   // only the new lanes are written: y may be the noise's buffer
                    Vector512<float> value = VectorMath.Load(mean, so + c) + VectorMath.Load(sigma, so + c) * VectorMath.Load(noise, o + c);
                    VectorMath.Store(VectorMath.Select(fresh, value, VectorMath.Load(y, o + c)), y, o + c);
                    c = columns;
                }
            }
            for (; c < columns; c++) y[o + c] = mean[so + c] + sigma[so + c] * noise[o + c];
        }
    }

    /// <summary>
    /// The curvature of −ln N(y; f(u), e^s) in u: e^{−s} for the identity, and for m = tanh(u)
    /// [m'² + 2 m m' (y − m)] e^{−s} with m' = 1 − m².
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static void GaussianCurvature(ReadOnlySpan<float> y, ReadOnlySpan<float> mean, ReadOnlySpan<float> logVar, bool tanh, Span<float> kappa)
    {
        int n = kappa.Length, i = 0;
        if (Wide)
        {
            for (; i <= n - W; i += W)
            {
                Vector512<float> precision = VectorMath.Exp(-VectorMath.Load(logVar, i));
                if (tanh)
                {
                    Vector512<float> m = VectorMath.Load(mean, i);
                    Vector512<float> dm = Vector512<float>.One - m * m;
                    precision *= dm * dm + Vector512.Create(2f) * m * dm * (VectorMath.Load(y, i) - m);
                }
                VectorMath.Store(precision, kappa, i);
            }
        }
        for (; i < n; i++)
        {
            float precision = MathF.Exp(-logVar[i]);
            if (tanh)
            {
                float m = mean[i], dm = 1f - m * m;
                kappa[i] = (dm * dm + 2f * m * dm * (y[i] - m)) * precision;
            }
            else
            {
                kappa[i] = precision;
            }
        }
    }

    /// <summary>y += e^{−s}.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static void AddExpNegative(ReadOnlySpan<float> logVar, Span<float> y)
    {
        int n = y.Length, i = 0;
        if (Wide)
            for (; i <= n - W; i += W)
                VectorMath.Store(VectorMath.Load(y, i) + VectorMath.Exp(-VectorMath.Load(logVar, i)), y, i);
        for (; i < n; i++) y[i] += MathF.Exp(-logVar[i]);
    }

    /// <summary>
    /// The gradient of a loss through a Gaussian sample y = m + σ ε, σ = e^{s/2}, into the sample's
    /// statistics, [rows × columns]. With g = local + pathWise (already weighted; an empty local is
    /// zero): dMean = g; dLogVar = ½ σ ε g' + ½ σ² κ w_r − ½ w_r, where g' = g and κ = 0 when
    /// <paramref name="curvature"/> is empty (all path-wise), else g' = pathWise and κ the curvature of
    /// the local terms (Price's theorem for them); −½ w_r is the loss's w_r ln q(y_r) of the sample's
    /// own density, whose path-wise derivative in s is −½ (in m, 0).
    /// </summary>
    public static void ReparameterizedGaussianGradient(ReadOnlySpan<float> local, ReadOnlySpan<float> pathWise, ReadOnlySpan<float> curvature,
        ReadOnlySpan<float> noise, ReadOnlySpan<float> logVar, ReadOnlySpan<float> rowWeights, int rows, int columns, Span<float> dMean, Span<float> dLogVar)
    {
        int n = rows * columns;
        bool price = !curvature.IsEmpty, hasLocal = !local.IsEmpty;
        if (hasLocal) local = local[..n];
        if (price) curvature = curvature[..n];
        pathWise = pathWise[..n]; noise = noise[..n]; logVar = logVar[..n]; dMean = dMean[..n]; dLogVar = dLogVar[..n];
        rowWeights = rowWeights[..rows];
        int pieces = Pieces(n);
        if (pieces == 1)
        {
            ReparameterizedGaussianRange(local, hasLocal, pathWise, curvature, noise, logVar, rowWeights, columns, price, dMean, dLogVar, 0, n);
            return;
        }
        fixed (float* pl = local, pp = pathWise, pc = curvature, e = noise, s = logVar, w = rowWeights, dm = dMean, ds = dLogVar)
            WorkerPool.Current.Run(pieces, new ReparameterizedGaussianWork
            {
                Ranges = new(n, pieces, W), Local = pl, PathWise = pp, Curvature = pc, Noise = e, LogVar = s, RowWeights = w, DMean = dm, DLogVar = ds,
                HasLocal = hasLocal, Price = price, Rows = rows, Columns = columns,
            });
    }

    private struct ReparameterizedGaussianWork : IPieceWork
    {
        public PieceRanges Ranges;   // of elements
        public float* Local, PathWise, Curvature, Noise, LogVar, RowWeights, DMean, DLogVar;   // Local and Curvature may be null
        public bool HasLocal, Price;
        public int Rows, Columns;

        public readonly void Execute(int piece)
        {
            if (!Ranges.Get(piece, out int start, out int end)) return;
            int n = Rows * Columns;
            ReparameterizedGaussianRange(SpanOrEmpty(Local, HasLocal ? n : 0), HasLocal, new ReadOnlySpan<float>(PathWise, n), SpanOrEmpty(Curvature, Price ? n : 0),
                new ReadOnlySpan<float>(Noise, n), new ReadOnlySpan<float>(LogVar, n), new ReadOnlySpan<float>(RowWeights, Rows), Columns, Price,
                new Span<float>(DMean, n), new Span<float>(DLogVar, n), start, end);
        }
    }

    // Over elements, not rows, so that a value takes the vector or the scalar path by its place in the
    // whole range (the same bits as the element-wise kernel this replaced, for equal weights); a vector
    // that spans two rows takes its weights lane by lane.
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
