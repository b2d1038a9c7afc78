using System.Runtime.Intrinsics;
using System.Numerics.Tensors;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Layers;

/// <summary>
/// A recognition layer with a correlated Gaussian posterior: q(y | x) = N(y; m, D + u uᵀ), where
/// m = W_m x + b_m, D = diag exp(s) with s = W_s x + b_s, and the rank-one factor u = W_u x + b_u, all
/// computed from the input (Rezende, Mohamed and Wierstra 2014 use this family; the seed closes by
/// asking for less constrained covariances). A sample is y = m + σ ⊙ ε + u η with ε ~ N(0, I) and
/// η ~ N(0, 1), whose covariance is D + u uᵀ: the noise of a row is OutputSize + 1 normals, kept
/// for the path-wise gradient. The density uses the matrix determinant lemma and Sherman–Morrison:
/// with d = y − m, p = e^{−s}, γ = 1 + Σ u² p and t = Σ d p u, ln det = Σ s + ln γ and
/// dᵀ(D + u uᵀ)⁻¹d = Σ d² p − t² / γ; r = (D + u uᵀ)⁻¹ d = p (d − t u / γ) carries every gradient.
/// For its own draws the layer computes these from the noise instead, in a form that stays exact when
/// the factor outweighs the diagonal (|u| ≫ σ), where the one in d loses every digit to
/// cancellation; for outputs given from outside (the score-function rules' samples are its draws
/// too, but they pass y) it uses d, in double. O(units) per row. The conditioning, if any, shifts m.
/// </summary>
public sealed class RankOneGaussianLayer : ConditionalLayer, IReparameterizedLayer
{
    private readonly AffineMap _meanMap, _logVarMap, _factorMap;
    private float[] _mean = [], _s = [], _u = [], _noise = [], _dMean = [], _dLogVar = [], _dFactor = [];
    private float[] _sharedMean = [], _sharedLogVar = [], _sharedFactor = [];   // the gradients summed per distinct input
    private float[] _sigma = [], _a = [];   // σ = e^{s/2} and a = u / σ of the last forward: the draw's terms, formed once a forward
    private readonly float[] _centred, _residual;   // one row's d and r (outputs given, not drawn)
    // After a shared forward, row r reads the statistics (m, s, u, σ, a) of row _shared.Source[r]
    // until a member needs each row's own; the draw, its density and the backward through it read them in place.
    private readonly SharedRows _shared;
    // The last draw's sums per row, kept by AccumulateLogProbOfSample for the backward through the
    // same draw (a new forward or draw drops them).
    private DrawStatistics[] _draws = [];
    private int _drawRows;   // rows of _draws that hold the last draw's sums; 0: none

    /// <summary>
    /// A correlated Gaussian posterior over <paramref name="inputSize"/> inputs, with three affine maps: the mean (<c>name.mean</c>),
    /// the log-variance (<c>name.logvar</c>) and the rank-one factor (<c>name.factor</c>, whose weights start at 0 in a fresh machine).
    /// </summary>
    /// <param name="name">What messages call the layer, and the start of its parameters' names.</param>
    /// <param name="inputSize">Inputs per row, at least 1 (else <see cref="ArgumentOutOfRangeException"/>).</param>
    /// <param name="outputSize">Units, at least 1.</param>
    /// <param name="engine">The engine that makes the layer's matrix products.</param>
    public RankOneGaussianLayer(string name, int inputSize, int outputSize, IMatrixEngine engine)
        : base(inputSize, outputSize, name)
    {
        if (inputSize <= 0) throw new ArgumentOutOfRangeException(nameof(inputSize), "A recognition layer needs an input.");
        _meanMap = new AffineMap(name + ".mean", inputSize, outputSize, engine);
        _logVarMap = new AffineMap(name + ".logvar", inputSize, outputSize, engine);
        _factorMap = new AffineMap(name + ".factor", inputSize, outputSize, engine, ParameterRole.Factor);
        Parameters = [.. _meanMap.Parameters, .. _logVarMap.Parameters, .. _factorMap.Parameters];
        _centred = new float[outputSize];
        _residual = new float[outputSize];
        _shared = new SharedRows(CopyStatistics);
    }

    /// <inheritdoc/>
    public override UnitType Units => UnitType.GaussianRankOne;
    /// <summary>The weights and biases of the mean map, then of the log-variance map, then of the factor map.</summary>
    public override IReadOnlyList<Parameter> Parameters { get; }
    internal override int NoisePerRow => OutputSize + 1;
    internal AffineMap MeanMap => _meanMap;
    internal AffineMap LogVarianceMap => _logVarMap;
    internal AffineMap FactorMap => _factorMap;
    internal override IEnumerable<AffineMap> InputMaps => [_meanMap, _logVarMap, _factorMap];

    /// <summary>The means m of the last forward, [batch × OutputSize].</summary>
    public ReadOnlySpan<float> Means(int batch)
    {
        RequireRows(batch, nameof(Means));
        OwnStatistics();
        return _mean.AsSpan(0, batch * OutputSize);
    }

    /// <summary>The log-variances s of the diagonal part, [batch × OutputSize].</summary>
    public ReadOnlySpan<float> LogVariances(int batch)
    {
        RequireRows(batch, nameof(LogVariances));
        OwnStatistics();
        return _s.AsSpan(0, batch * OutputSize);
    }

    /// <summary>The rank-one factors u, [batch × OutputSize].</summary>
    public ReadOnlySpan<float> Factors(int batch)
    {
        RequireRows(batch, nameof(Factors));
        OwnStatistics();
        return _u.AsSpan(0, batch * OutputSize);
    }

    /// <inheritdoc/>
    protected override void Allocate(int rows)
    {
        int n = rows * OutputSize;
        _mean = new float[n];
        _s = new float[n];
        _u = new float[n];
        _sigma = new float[n];
        _a = new float[n];
        _noise = new float[rows * NoisePerRow];
        _dMean = new float[n];
        _dLogVar = new float[n];
        _dFactor = new float[n];
        _sharedMean = new float[n];
        _sharedLogVar = new float[n];
        _sharedFactor = new float[n];
        _shared.Allocate(rows);
        _draws = new DrawStatistics[rows];
    }

    /// <inheritdoc/>
    protected override void ForwardCore(ReadOnlySpan<float> input, ReadOnlySpan<float> conditioning, int batch)
    {
        CheckBatch(batch, conditioning);
        _shared.Reset();
        _drawRows = 0;
        int n = batch * OutputSize;
        AffineMap.Forward(_meanMap, _mean.AsSpan(0, n), _logVarMap, _s.AsSpan(0, n), input, batch, conditioning);
        _factorMap.Forward(input, batch, _u.AsSpan(0, n));
        Span<float> sigma = _sigma.AsSpan(0, n);
        TensorPrimitives.Multiply(_s.AsSpan(0, n), 0.5f, sigma);
        TensorPrimitives.Exp(sigma, sigma);
        TensorPrimitives.Divide(_u.AsSpan(0, n), sigma, _a.AsSpan(0, n));
    }

    /// <inheritdoc/>
    protected override void SampleCore(RandomStream random, int batch, Span<float> output)
    {
        _drawRows = 0;
        random.FillNormal(_noise.AsSpan(0, batch * NoisePerRow));
        Reparameterize(batch, output);
    }

    internal override void SampleWithNoise(ReadOnlySpan<float> noise, int batch, Span<float> output)
    {
        _drawRows = 0;
        noise[..(batch * NoisePerRow)].CopyTo(_noise);
        Reparameterize(batch, output);
    }

    /// <summary>y = m + σ ⊙ ε + u η with the stored noise (ε the first OutputSize values of a row, η the last).</summary>
    private void Reparameterize(int batch, Span<float> output)
    {
        int n = OutputSize;
        bool shared = SharesStatistics(batch);
        for (int r = 0; r < batch; r++)
        {
            int o = r * n, e = r * NoisePerRow, so = _shared.Row(r, shared) * n;
            Span<float> y = output.Slice(o, n);
            TensorPrimitives.FusedMultiplyAdd(_sigma.AsSpan(so, n), _noise.AsSpan(e, n), _mean.AsSpan(so, n), y);
            TensorPrimitives.FusedMultiplyAdd(_u.AsSpan(so, n), _noise[e + n], y, y);
        }
    }

    /// <summary>Whether rows read shared statistics through _shared.Source for a call over <paramref name="batch"/> rows; else every row holds its own.</summary>
    private bool SharesStatistics(int batch)
    {
        if (_shared.Covers(batch)) return true;
        OwnStatistics();
        return false;
    }

    /// <inheritdoc/>
    protected override void ShareStatistics(ReadOnlySpan<int> rowSource, int rows) => _shared.Share(rowSource, rows);

    /// <summary>Gives every row its own copy of its statistics.</summary>
    private void OwnStatistics() => _shared.Own();

    /// <inheritdoc/>
    protected override void ExpectationCore(int batch, Span<float> output) => Means(batch).CopyTo(output);

    /// <summary>The marginal variances are the diagonal of D + u uᵀ: e^s + u².</summary>
    internal override bool TryGaussianMarginals(int batch, Span<float> mean, Span<float> logVariance)
    {
        int n = batch * OutputSize;
        Means(batch).CopyTo(mean);   // (rows of their own from here)
        for (int i = 0; i < n; i++) logVariance[i] = (float)Math.Log(Math.Exp(_s[i]) + (double)_u[i] * _u[i]);
        return true;
    }

    /// <inheritdoc/>
    protected override void AccumulateLogProbCore(ReadOnlySpan<float> y, int batch, Span<double> rowLogProb)
    {
        bool shared = SharesStatistics(batch);
        for (int r = 0; r < batch; r++)
            rowLogProb[r] += Row(_shared.Row(r, shared), y.Slice(r * OutputSize, OutputSize), default).LogDensity;
    }

    /// <summary>
    /// ln q of the last draw from its noise. With a = u / σ, A = |a|² and B = a · ε, the quadratic form
    /// is |ε|² + η² − (B − η)² / (1 + A): no difference of large terms however much the factor
    /// outweighs the diagonal (computed from d = y − m it would lose every digit when |u| ≫ σ).
    /// </summary>
    protected override void AccumulateLogProbOfSampleCore(ReadOnlySpan<float> y, int batch, Span<double> rowLogProb)
    {
        bool shared = SharesStatistics(batch);
        _drawRows = 0;
        for (int row = 0; row < batch; row++)
        {
            int source = _shared.Row(row, shared);
            var noise = _draws[row] = NoiseStatistics(row, source);
            // a or its float sums past float (s ≪ 0: a = u e^{−s/2} ≈ 5·10²¹ u at s = −100) gave ln(1 + A) = ∞ and ln q = −∞.
            rowLogProb[row] += double.IsFinite(noise.A) && double.IsFinite(noise.B)
                ? -0.5 * (noise.EpsilonSquares + noise.Eta * noise.Eta - (noise.B - noise.Eta) * (noise.B - noise.Eta) / (1 + noise.A)
                    + noise.LogVarianceSum + Math.Log(1 + noise.A) + OutputSize * Kernels.LogTwoPi)
                : LogDensityOfSampleScaled(row, source);
        }
        _drawRows = batch;
    }

    /// <summary>
    /// The ln q of <see cref="ConditionalLayer.AccumulateLogProbOfSample"/> for a row whose a = u e^{−s/2} or its sums pass a float: in double from
    /// u and s, with a scaled by e^{−c}, c = max(0, max ln|a_i|), so that A' = A e^{−2c} and B' = B e^{−c} stay in range:
    /// (B − η)² / (1 + A) = (B' − η e^{−c})² / (e^{−2c} + A') and ln(1 + A) = 2c + ln(e^{−2c} + A'). Finite for any finite s and u.
    /// </summary>
    private double LogDensityOfSampleScaled(int row, int statisticsRow)
    {
        int n = OutputSize, o = statisticsRow * n, e = row * NoisePerRow;
        double c = 0;
        for (int i = 0; i < n; i++)
            if (_u[o + i] != 0) c = Math.Max(c, Math.Log(Math.Abs((double)_u[o + i])) - 0.5 * _s[o + i]);
        double a2 = 0, b = 0, epsilonSquares = 0, logVarianceSum = 0, eta = _noise[e + n];
        for (int i = 0; i < n; i++)
        {
            double u = _u[o + i], s = _s[o + i], epsilon = _noise[e + i];
            double a = u == 0 ? 0 : Math.CopySign(Math.Exp(Math.Log(Math.Abs(u)) - 0.5 * s - c), u);
            a2 += a * a;
            b += a * epsilon;
            epsilonSquares += epsilon * epsilon;
            logVarianceSum += s;
        }
        double scale = Math.Exp(-c), floor = scale * scale, centred = b - eta * scale;
        return -0.5 * (epsilonSquares + eta * eta - centred * centred / (floor + a2) + logVarianceSum + 2 * c + Math.Log(floor + a2) + n * Kernels.LogTwoPi);
    }

    private readonly record struct DrawStatistics(double A, double B, double Eta, double EpsilonSquares, double LogVarianceSum);

    /// <summary>
    /// A = Σ a², B = Σ a ε (a = u e^{−s/2}), η, Σ ε² and Σ s of row <paramref name="row"/>'s last draw
    /// (its statistics in row <paramref name="statisticsRow"/>): float sums, each off by a rounding of the
    /// scale at which the density uses it (A, √A |ε|, Σ |s|).
    /// </summary>
    private DrawStatistics NoiseStatistics(int row, int statisticsRow)
        => NoiseStatistics(_a, _s, _noise, OutputSize, row, statisticsRow);

    private static DrawStatistics NoiseStatistics(ReadOnlySpan<float> aAll, ReadOnlySpan<float> sAll, ReadOnlySpan<float> noise, int units, int row, int statisticsRow)
    {
        int o = statisticsRow * units, e = row * (units + 1);
        ReadOnlySpan<float> a = aAll.Slice(o, units), epsilon = noise.Slice(e, units);
        double sumA = TensorPrimitives.SumOfSquares(a), sumB = TensorPrimitives.Dot(a, epsilon);
        if (!double.IsFinite(sumA) || !double.IsFinite(sumB))
        {
            // The float sums passed float (|a| beyond 10¹⁹): in double, where a² stays finite for any finite a.
            sumA = 0; sumB = 0;
            for (int i = 0; i < units; i++) { sumA += (double)a[i] * a[i]; sumB += (double)a[i] * epsilon[i]; }
        }
        return new DrawStatistics(sumA, sumB, noise[e + units], TensorPrimitives.SumOfSquares(epsilon), TensorPrimitives.Sum(sAll.Slice(o, units)));
    }

    /// <inheritdoc/>
    public override void AccumulateLogProbGradient(ReadOnlySpan<float> y, ReadOnlySpan<float> input, int batch,
        ReadOnlySpan<float> rowWeights, Span<float> inputGradient, Span<float> outputGradient, Span<float> conditioningGradient = default)
    {
        RequireForward(batch, nameof(AccumulateLogProbGradient));
        CheckGradientSpans(y, input, batch, rowWeights, inputGradient, outputGradient, conditioningGradient);
        LogProbStatisticsGradient(y, batch, rowWeights, outputGradient);
        BackwardStatistics(input, batch, inputGradient, conditioningGradient);
    }

    internal override bool TryAccumulateLogProbGradientPerDistinctInput(ReadOnlySpan<float> y, int batch, ReadOnlySpan<float> rowWeights, in DistinctInputs inputs,
        Span<float> distinctInputGradient, Span<float> outputGradient, Span<float> conditioningGradient)
    {
        LogProbStatisticsGradient(y, batch, rowWeights, outputGradient);
        AddConditioningGradient(_dMean, batch, conditioningGradient);
        BackwardPerDistinctInput(batch, inputs, distinctInputGradient);
        return true;
    }

    /// <summary>_dMean, _dLogVar and _dFactor of Σ_r w_r ln q(y_r), and −w_r r_r into <paramref name="outputGradient"/> when given.</summary>
    private void LogProbStatisticsGradient(ReadOnlySpan<float> y, int batch, ReadOnlySpan<float> rowWeights, Span<float> outputGradient)
    {
        int n = OutputSize;
        float[] residual = _residual;
        bool shared = SharesStatistics(batch);
        for (int row = 0; row < batch; row++)
        {
            int o = row * n, source = _shared.Row(row, shared), so = source * n;
            var stats = Row(source, y.Slice(o, n), residual);
            float w = rowWeights[row];
            for (int i = 0; i < n; i++)
            {
                double p = Math.Exp(-_s[so + i]), ri = residual[i], ui = _u[so + i];
                _dMean[o + i] = (float)(w * ri);
                _dLogVar[o + i] = (float)(w * 0.5 * (ri * ri / p - 1 + ui * ui * p / stats.Gamma));
                _dFactor[o + i] = (float)(w * (stats.T * ri - ui * p) / stats.Gamma);
                if (!outputGradient.IsEmpty) outputGradient[o + i] -= (float)(w * ri);
            }
        }
    }

    /// <summary>
    /// Through y = m + σ ⊙ ε + u η with the last draw's noise. The loss holds the path-wise terms
    /// (gradient g in y) and w_r ln q(y_r) of the draw's own density, whose total derivative with the
    /// noise fixed is ∂ ln q/∂y · ∂y/∂θ + ∂ ln q/∂θ = −r · ∂y/∂θ + ∂ ln q/∂θ: zero in m; in s_i,
    /// −r_i ½σ_i ε_i + ½(σ_i² r_i² − 1 + a_i²/γ); in u_i, −r_i η + (t r_i − a_i/σ_i)/γ. Price's theorem
    /// (a curvature) is not available for this layer: its variance is not diagonal.
    /// </summary>
    public void BackwardThroughSample(in SampleGradient gradient, ReadOnlySpan<float> input, int batch, Span<float> inputGradient, Span<float> conditioningGradient = default)
    {
        RequireForward(batch, nameof(BackwardThroughSample));
        SampleStatisticsGradient(gradient, batch);
        BackwardStatistics(input, batch, inputGradient, conditioningGradient);
    }

    internal override bool TryBackwardThroughSamplePerDistinctInput(in SampleGradient gradient, int batch, in DistinctInputs inputs,
        Span<float> distinctInputGradient, Span<float> conditioningGradient)
    {
        SampleStatisticsGradient(gradient, batch);
        AddConditioningGradient(_dMean, batch, conditioningGradient);
        BackwardPerDistinctInput(batch, inputs, distinctInputGradient);
        return true;
    }

    /// <summary>_dMean, _dLogVar and _dFactor of the loss through the last draw.</summary>
    private void SampleStatisticsGradient(in SampleGradient gradient, int batch)
    {
        if (!gradient.LocalCurvature.IsEmpty)
            throw new NotSupportedException("The rank-one Gaussian posterior has no diagonal Price gradient; use the path-wise gradient (e.g. the sbp rule, not sbp-price).");
        if (gradient.RowWeights.Length < batch)
            throw new ArgumentException($"The sample gradient's row weights hold {gradient.RowWeights.Length} values, fewer than the {batch} rows.", nameof(gradient));
        int n = batch * OutputSize;
        ReadOnlySpan<float> pathWise = gradient.PathWise[..n], local = gradient.Local.IsEmpty ? default : gradient.Local[..n];
        ReadOnlySpan<int> source = SharesStatistics(batch) ? _shared.Source : default;
        // Rows are independent and each writes its own: they run on the pool in pieces of rows (the same bits however cut).
        int pieces = Math.Min(Kernels.Pieces(n), batch);
        unsafe
        {
            fixed (float* g = pathWise, l = local, w = gradient.RowWeights, sigma = _sigma, noise = _noise, a = _a, s = _s)
            fixed (float* dMean = _dMean, dLogVar = _dLogVar, dFactor = _dFactor)
            fixed (DrawStatistics* draws = _draws)
            fixed (int* rowSource = source)
            {
                var work = new DrawBackwardWork
                {
                    PathWise = g, Local = l, RowWeights = w, Sigma = sigma, Noise = noise, A = a, S = s,
                    DMean = dMean, DLogVar = dLogVar, DFactor = dFactor, Draws = _drawRows == batch ? draws : null, Source = rowSource,
                    Rows = batch, Units = OutputSize, StatisticsLength = _a.Length, Pieces = pieces,
                };
                if (pieces <= 1) work.Execute(0);
                else WorkerPool.Current.Run(pieces, work);
            }
        }
    }

    /// <summary>Rows of <see cref="SampleStatisticsGradient"/>: piece p takes rows [p·rows/pieces, (p+1)·rows/pieces).</summary>
    private unsafe struct DrawBackwardWork : IPieceWork
    {
        public float* PathWise, Local, RowWeights, Sigma, Noise, A, S, DMean, DLogVar, DFactor;
        public DrawStatistics* Draws;   // the last draw's sums per row, or null: formed from the noise
        public int* Source;             // the row whose statistics row r reads, or null: its own
        public int Rows, Units, StatisticsLength, Pieces;

        public readonly void Execute(int piece)
        {
            int n = Units, r0 = (int)((long)Rows * piece / Pieces), r1 = (int)((long)Rows * (piece + 1) / Pieces);
            var a = new ReadOnlySpan<float>(A, StatisticsLength);
            var s = new ReadOnlySpan<float>(S, StatisticsLength);
            var noise = new ReadOnlySpan<float>(Noise, Rows * (n + 1));
            for (int row = r0; row < r1; row++)
            {
                int o = row * n, e = row * (n + 1), source = Source == null ? row : Source[row], so = source * n;
                // In the noise's terms (stable, as in AccumulateLogProbOfSample): with a = u / σ, γ = 1 + A,
                // σ r = ε + a (η − B) / γ for r = (D + u uᵀ)⁻¹ d, and t = uᵀ D⁻¹ d = B + A η.
                var draw = Draws != null ? Draws[row] : NoiseStatistics(a, s, noise, n, row, source);
                var terms = new DrawTerms(draw.Eta, draw.B, 1 / (1 + draw.A), RowWeights[row]);
                BackwardThroughDraw(terms, new ReadOnlySpan<float>(PathWise + o, n), Local == null ? default : new ReadOnlySpan<float>(Local + o, n),
                    new ReadOnlySpan<float>(Sigma + so, n), noise.Slice(e, n), a.Slice(so, n),
                    new Span<float>(DMean + o, n), new Span<float>(DLogVar + o, n), new Span<float>(DFactor + o, n));
            }
        }
    }

    /// <summary>A row's scalars in the gradient through its draw: η, B, 1/γ and the row's weight w (t = B + A η enters through them).</summary>
    internal readonly record struct DrawTerms(double Eta, double B, double InverseGamma, double Weight);

    /// <summary>
    /// One row of <see cref="BackwardThroughSample"/>: with g the gradient in y and ρ = σ r = ε + a (η − B)/γ,
    /// dm = g; ds = g ½σε + w ½(ρ² − 1 + a²/γ − ρε); du = g η + w (−ρη + (tρ − a)/γ)/σ. In double: when
    /// |u| ≫ σ, −ρη and tρ/γ nearly cancel before the division by σ. Sixteen units a step where AVX-512 runs,
    /// eight where only AVX2 does (the scalar loop took 7.5% of the main thread's time in a rank-one IWAE epoch
    /// there), one without <paramref name="vectors"/>: the three forms take the same operations in the same
    /// order, so they give the same bits.
    /// </summary>
    internal static void BackwardThroughDraw(in DrawTerms terms, ReadOnlySpan<float> pathWise, ReadOnlySpan<float> local, ReadOnlySpan<float> sigma,
        ReadOnlySpan<float> epsilon, ReadOnlySpan<float> a, Span<float> dMean, Span<float> dLogVar, Span<float> dFactor, bool vectors = true)
    {
        int n = pathWise.Length, i = 0;
        if (vectors && Vector512.IsHardwareAccelerated)
        {
            for (; i + 16 <= n; i += 16)
            {
                Vector512<float> g = Vector512.Create(pathWise.Slice(i, 16));
                if (!local.IsEmpty) g += Vector512.Create(local.Slice(i, 16));
                Vector512<float> s = Vector512.Create(sigma.Slice(i, 16)), eps = Vector512.Create(epsilon.Slice(i, 16)), av = Vector512.Create(a.Slice(i, 16));
                var (logVarLow, factorLow) = DrawGradients(terms, Vector512.WidenLower(g), Vector512.WidenLower(s), Vector512.WidenLower(eps), Vector512.WidenLower(av));
                var (logVarHigh, factorHigh) = DrawGradients(terms, Vector512.WidenUpper(g), Vector512.WidenUpper(s), Vector512.WidenUpper(eps), Vector512.WidenUpper(av));
                g.CopyTo(dMean.Slice(i, 16));
                Vector512.Narrow(logVarLow, logVarHigh).CopyTo(dLogVar.Slice(i, 16));
                Vector512.Narrow(factorLow, factorHigh).CopyTo(dFactor.Slice(i, 16));
            }
        }
        else if (vectors && Vector256.IsHardwareAccelerated)
        {
            for (; i + 8 <= n; i += 8)
            {
                Vector256<float> g = Vector256.Create(pathWise.Slice(i, 8));
                if (!local.IsEmpty) g += Vector256.Create(local.Slice(i, 8));
                Vector256<float> s = Vector256.Create(sigma.Slice(i, 8)), eps = Vector256.Create(epsilon.Slice(i, 8)), av = Vector256.Create(a.Slice(i, 8));
                var (logVarLow, factorLow) = DrawGradients(terms, Vector256.WidenLower(g), Vector256.WidenLower(s), Vector256.WidenLower(eps), Vector256.WidenLower(av));
                var (logVarHigh, factorHigh) = DrawGradients(terms, Vector256.WidenUpper(g), Vector256.WidenUpper(s), Vector256.WidenUpper(eps), Vector256.WidenUpper(av));
                g.CopyTo(dMean.Slice(i, 8));
                Vector256.Narrow(logVarLow, logVarHigh).CopyTo(dLogVar.Slice(i, 8));
                Vector256.Narrow(factorLow, factorHigh).CopyTo(dFactor.Slice(i, 8));
            }
        }
        for (; i < n; i++)
        {
            double g = local.IsEmpty ? pathWise[i] : pathWise[i] + local[i];   // summed in float, as the vectors sum it
            double s = sigma[i], eps = epsilon[i], ai = a[i];
            double rho = eps + ai * ((terms.Eta - terms.B) * terms.InverseGamma);
            double ownS = 0.5 * (rho * rho - 1 + ai * ai * terms.InverseGamma - rho * eps);
            double ownU = (rho * (terms.B - terms.Eta) - ai) * terms.InverseGamma / s;   // = (−ρη + (tρ − a)/γ)/σ without the cancellation
            dMean[i] = (float)g;
            dLogVar[i] = (float)(g * 0.5 * s * eps + terms.Weight * ownS);
            dFactor[i] = (float)(g * terms.Eta + terms.Weight * ownU);
        }
    }

    /// <summary>The scalar loop's ds and du for eight units.</summary>
    private static (Vector512<double> LogVariance, Vector512<double> Factor) DrawGradients(in DrawTerms terms, Vector512<double> g, Vector512<double> sigma,
        Vector512<double> eps, Vector512<double> a)
    {
        Vector512<double> eta = Vector512.Create(terms.Eta), inverseGamma = Vector512.Create(terms.InverseGamma), w = Vector512.Create(terms.Weight);
        Vector512<double> half = Vector512.Create(0.5);
        Vector512<double> rho = eps + a * Vector512.Create((terms.Eta - terms.B) * terms.InverseGamma);
        Vector512<double> ownS = half * (rho * rho - Vector512<double>.One + a * a * inverseGamma - rho * eps);
        Vector512<double> ownU = (rho * Vector512.Create(terms.B - terms.Eta) - a) * inverseGamma / sigma;
        return (g * half * sigma * eps + w * ownS, g * eta + w * ownU);
    }

    /// <summary>The scalar loop's ds and du for four units.</summary>
    private static (Vector256<double> LogVariance, Vector256<double> Factor) DrawGradients(in DrawTerms terms, Vector256<double> g, Vector256<double> sigma,
        Vector256<double> eps, Vector256<double> a)
    {
        Vector256<double> eta = Vector256.Create(terms.Eta), inverseGamma = Vector256.Create(terms.InverseGamma), w = Vector256.Create(terms.Weight);
        Vector256<double> half = Vector256.Create(0.5);
        Vector256<double> rho = eps + a * Vector256.Create((terms.Eta - terms.B) * terms.InverseGamma);
        Vector256<double> ownS = half * (rho * rho - Vector256<double>.One + a * a * inverseGamma - rho * eps);
        Vector256<double> ownU = (rho * Vector256.Create(terms.B - terms.Eta) - a) * inverseGamma / sigma;
        return (g * half * sigma * eps + w * ownS, g * eta + w * ownU);
    }

    /// <summary>The three maps' backward from _dMean, _dLogVar and _dFactor; the mean is linear, so its gradient is the conditioning's.</summary>
    private void BackwardStatistics(ReadOnlySpan<float> input, int batch, Span<float> inputGradient, Span<float> conditioningGradient)
    {
        int n = batch * OutputSize;
        AddConditioningGradient(_dMean, batch, conditioningGradient);
        if (inputGradient.IsEmpty && TryDistinctInputs(batch, out var distinct))
            // Rows that share their input (K samples of one example) form the weight gradients per distinct input.
            BackwardPerDistinctInput(batch, distinct, default);
        else
        {
            AffineMap.Backward(_meanMap, _dMean.AsSpan(0, n), _logVarMap, _dLogVar.AsSpan(0, n), input, batch, inputGradient);
            _factorMap.Backward(_dFactor.AsSpan(0, n), input, batch, inputGradient);
        }
    }

    /// <summary>The three maps' backward from their gradients summed per distinct input: the weight gradients and, when asked, ∂/∂x per distinct input.</summary>
    private void BackwardPerDistinctInput(int batch, in DistinctInputs inputs, Span<float> distinctInputGradient)
    {
        int m = inputs.Rows * OutputSize;
        Span<float> mean = _sharedMean.AsSpan(0, m), logVariance = _sharedLogVar.AsSpan(0, m), factor = _sharedFactor.AsSpan(0, m);
        SumPerDistinctInput(_dMean, batch, OutputSize, inputs, mean);
        SumPerDistinctInput(_dLogVar, batch, OutputSize, inputs, logVariance);
        SumPerDistinctInput(_dFactor, batch, OutputSize, inputs, factor);
        AffineMap.Backward(_meanMap, mean, _logVarMap, logVariance, inputs.Values, inputs.Rows, distinctInputGradient);
        _factorMap.Backward(factor, inputs.Values, inputs.Rows, distinctInputGradient);
    }

    private readonly record struct RowStatistics(double Gamma, double T, double LogDensity);

    /// <summary>The statistics held in row <paramref name="statisticsRow"/> at y (d = y − m); fills r = (D + u uᵀ)⁻¹ d when a buffer is given.</summary>
    private RowStatistics Row(int statisticsRow, ReadOnlySpan<float> y, Span<float> residual)
    {
        int o = statisticsRow * OutputSize;
        float[] d = _centred;
        for (int i = 0; i < OutputSize; i++) d[i] = y[i] - _mean[o + i];
        return Statistics(o, d, residual);
    }

    private RowStatistics Statistics(int offset, ReadOnlySpan<float> d, Span<float> residual)
    {
        double gamma = 1, t = 0, quadratic = 0, logDet = 0;
        for (int i = 0; i < OutputSize; i++)
        {
            double s = _s[offset + i], p = Math.Exp(-s), u = _u[offset + i];
            gamma += u * u * p;
            t += d[i] * p * u;
            quadratic += d[i] * d[i] * p;
            logDet += s;
        }
        if (!residual.IsEmpty)
            for (int i = 0; i < OutputSize; i++)
                residual[i] = (float)(Math.Exp(-_s[offset + i]) * (d[i] - t * _u[offset + i] / gamma));
        double logDensity = -0.5 * (quadratic - t * t / gamma + logDet + Math.Log(gamma) + OutputSize * Kernels.LogTwoPi);
        return new RowStatistics(gamma, t, logDensity);
    }

    /// <inheritdoc/>
    protected override void CopyStatistics(int from, int to)
    {
        _mean.AsSpan(from * OutputSize, OutputSize).CopyTo(_mean.AsSpan(to * OutputSize, OutputSize));
        _s.AsSpan(from * OutputSize, OutputSize).CopyTo(_s.AsSpan(to * OutputSize, OutputSize));
        _u.AsSpan(from * OutputSize, OutputSize).CopyTo(_u.AsSpan(to * OutputSize, OutputSize));
        _sigma.AsSpan(from * OutputSize, OutputSize).CopyTo(_sigma.AsSpan(to * OutputSize, OutputSize));
        _a.AsSpan(from * OutputSize, OutputSize).CopyTo(_a.AsSpan(to * OutputSize, OutputSize));
    }
}
