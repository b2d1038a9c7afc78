using System.Numerics.Tensors;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Layers;

/// <summary>Where a Gaussian layer's log-variance comes from.</summary>
public enum VarianceSource
{
    /// <summary>A learned log-variance per unit, the same for every input (generative layers: Σ^g).</summary>
    PerUnit,

    /// <summary>s = W_s x + b_s, computed from the input (recognition layers).</summary>
    FromInput,
}

/// <summary>
/// Smooth units: p(y | x) = Π_i N(y_i; m_i, exp(s_i)) with m = f(W x + b), f = tanh or identity, and
/// the log-variance s per unit or computed from x. A sample is y = m + exp(s/2) ε with ε ~ N(0, I);
/// the noise of the last draw is kept for the path-wise gradient.
/// </summary>
public sealed class GaussianLayer : ConditionalLayer, IReparameterizedLayer, IBilinearLogProb
{
    private readonly AffineMap _meanMap;
    private readonly AffineMap? _logVarMap;
    private readonly Parameter? _logVar;
    private float[] _mean = [];
    private float[] _s = [];
    private float[] _noise = [];
    private float[] _dMean = [];
    private float[] _dLogVar = [];
    private float[] _sharedMean = [], _sharedLogVar = [];   // gradients summed per distinct input
    // After ForwardShared, rows [0, distinct) hold the statistics and row r reads those of row
    // _shared.Source[r] until a member needs each row's own (OwnStatistics copies them then): a
    // draw and its density, all that scoring asks, read them in place. _sigma: e^{s/2} of the distinct rows.
    private readonly SharedRows _shared;
    private float[] _sigma = [];
    // A per-unit log-variance is written into the rows of s only when a member reads them
    // (BroadcastLogVariances): ln p of given values, all that scoring asks of a generative layer, reads it per unit.
    private int _logVarRowsToBroadcast;
    private float[] _unitInverseScale = [];

    /// <summary>
    /// Gaussian units over <paramref name="inputSize"/> inputs: the mean map <c>name.mean.W</c>, <c>name.mean.b</c> and the
    /// log-variance from <paramref name="variance"/>. A prior takes <see cref="StandardNormalPrior"/> instead.
    /// </summary>
    /// <param name="name">What messages call the layer, and the start of its parameters' names.</param>
    /// <param name="inputSize">Inputs per row, at least 1 (else <see cref="ArgumentOutOfRangeException"/>).</param>
    /// <param name="outputSize">Units, at least 1.</param>
    /// <param name="mean">The mean function f in m = f(W x + b).</param>
    /// <param name="variance">A learned log-variance per unit (<c>name.logvar</c>), or one computed from the input by a second map (<c>name.logvar.W</c>, <c>name.logvar.b</c>).</param>
    /// <param name="engine">The engine that makes the layer's matrix products.</param>
    public GaussianLayer(string name, int inputSize, int outputSize, GaussianMean mean, VarianceSource variance, IMatrixEngine engine)
        : base(inputSize, outputSize, name)
    {
        if (inputSize <= 0) throw new ArgumentOutOfRangeException(nameof(inputSize), "A Gaussian layer needs an input; use StandardNormalPrior for the top layer.");
        if (!Enum.IsDefined(mean)) throw new ArgumentOutOfRangeException(nameof(mean), mean, "Not a GaussianMean.");
        if (!Enum.IsDefined(variance)) throw new ArgumentOutOfRangeException(nameof(variance), variance, "Not a VarianceSource.");
        _shared = new SharedRows(CopyRow);
        MeanFunction = mean;
        Variance = variance;
        _meanMap = new AffineMap(name + ".mean", inputSize, outputSize, engine);
        var ps = new List<Parameter>(_meanMap.Parameters);
        if (variance == VarianceSource.FromInput)
        {
            _logVarMap = new AffineMap(name + ".logvar", inputSize, outputSize, engine);
            ps.AddRange(_logVarMap.Parameters);
        }
        else
        {
            _logVar = new Parameter(name + ".logvar", 1, outputSize, ParameterRole.LogVariance);
            ps.Add(_logVar);
        }
        Parameters = ps.AsReadOnly();
    }

    /// <summary>The mean function f in m = f(W x + b).</summary>
    public GaussianMean MeanFunction { get; }
    /// <summary>Where the log-variance s comes from: a learned value per unit, or an affine map of the input.</summary>
    public VarianceSource Variance { get; }
    /// <inheritdoc/>
    public override UnitType Units => UnitType.Gaussian;
    /// <summary>
    /// The mean map's weights and biases, then the log-variance's: the map's weights and biases (<see cref="VarianceSource.FromInput"/>)
    /// or one value per unit [1 × OutputSize] (<see cref="VarianceSource.PerUnit"/>).
    /// </summary>
    public override IReadOnlyList<Parameter> Parameters { get; }
    internal AffineMap MeanMap => _meanMap;
    internal AffineMap? LogVarianceMap => _logVarMap;
    internal override IEnumerable<AffineMap> InputMaps => _logVarMap is null ? [_meanMap] : [_meanMap, _logVarMap];
    internal Parameter? LogVarianceParameter => _logVar;

    /// <summary>The means m of the last forward, [batch × OutputSize].</summary>
    public ReadOnlySpan<float> Means(int batch)
    {
        RequireRows(batch, nameof(Means));
        OwnStatistics();
        return _mean.AsSpan(0, batch * OutputSize);
    }

    /// <summary>The log-variances s of the last forward, [batch × OutputSize].</summary>
    public ReadOnlySpan<float> LogVariances(int batch)
    {
        RequireRows(batch, nameof(LogVariances));
        OwnStatistics();
        return _s.AsSpan(0, batch * OutputSize);
    }

    /// <summary>The standard-normal noise ε of the last <see cref="ConditionalLayer.Sample"/>, [batch × OutputSize].</summary>
    public ReadOnlySpan<float> Noise(int batch)
    {
        RequireRows(batch, nameof(Noise));
        return _noise.AsSpan(0, batch * OutputSize);
    }

    /// <inheritdoc/>
    protected override void Allocate(int rows)
    {
        int n = rows * OutputSize;
        _mean = new float[n];
        _s = new float[n];
        _noise = new float[n];
        _dMean = new float[n];
        _dLogVar = new float[n];
        _sharedMean = new float[n];
        _sharedLogVar = new float[n];
        _shared.Allocate(rows);
        _sigma = new float[n];
        _unitInverseScale = new float[OutputSize];
    }

    /// <summary>The conditioning, if any, is added to the mean's pre-activation (before the mean function); the log-variance does not see it.</summary>
    protected override void ForwardCore(ReadOnlySpan<float> input, ReadOnlySpan<float> conditioning, int batch)
    {
        CheckBatch(batch, conditioning);
        _shared.Reset();
        int n = batch * OutputSize;
        Span<float> m = _mean.AsSpan(0, n);
        if (_logVarMap is not null) AffineMap.Forward(_meanMap, m, _logVarMap, _s.AsSpan(0, n), input, batch, conditioning);
        else
        {
            _meanMap.Forward(input, batch, m, conditioning);
            _logVarRowsToBroadcast = batch;
        }
        if (MeanFunction == GaussianMean.Tanh) Kernels.Tanh(m, m);
    }

    /// <inheritdoc/>
    protected override void SampleCore(RandomStream random, int batch, Span<float> output)
    {
        int n = batch * OutputSize;
        Span<float> eps = _noise.AsSpan(0, n);
        random.FillNormal(eps);
        Draw(batch, output);
    }

    internal override void SampleWithNoise(ReadOnlySpan<float> noise, int batch, Span<float> output)
    {
        int n = batch * OutputSize;
        noise[..n].CopyTo(_noise);   // kept, as Sample keeps its own: ln q of the draw comes from it
        Draw(batch, output);
    }

    /// <summary>y = m + exp(s/2) ε with the stored noise ε (set by <see cref="ConditionalLayer.Sample"/>).</summary>
    public void Reparameterize(int batch, Span<float> output)
    {
        RequireRows(batch, nameof(Reparameterize));
        RequireLength(output.Length, batch, OutputSize, nameof(output), "units");
        OwnStatistics();
        int n = batch * OutputSize;
        Kernels.Reparameterize(_mean.AsSpan(0, n), _s.AsSpan(0, n), _noise.AsSpan(0, n), output[..n]);
    }

    /// <summary><see cref="Reparameterize"/>, reading shared statistics in place.</summary>
    private void Draw(int batch, Span<float> output)
    {
        if (!SharesStatistics(batch))
        {
            Reparameterize(batch, output);
            return;
        }
        ReadOnlySpan<int> source = _shared.Source;
        Kernels.ReparameterizeShared(_mean, _s, source[batch - 1] + 1, source, _noise, batch, OutputSize, _sigma, output);
    }

    /// <summary>Whether rows read shared statistics through _shared.Source for a call over <paramref name="batch"/> rows; else every row holds its own.</summary>
    private bool SharesStatistics(int batch)
    {
        if (_shared.Covers(batch)) return true;
        OwnStatistics();
        return false;
    }

    /// <inheritdoc/>
    protected override void ShareStatistics(ReadOnlySpan<int> rowSource, int rows)
    {
        BroadcastLogVariances();   // the shared draw reads the distinct rows' s
        _shared.Share(rowSource, rows);
    }

    /// <summary>Gives every row its own copy of its statistics: the per-unit log-variance written into the rows, shared statistics copied.</summary>
    private void OwnStatistics()
    {
        BroadcastLogVariances();
        _shared.Own();
    }

    /// <inheritdoc/>
    protected override void ExpectationCore(int batch, Span<float> output) => Means(batch).CopyTo(output);

    internal override bool TryGaussianMarginals(int batch, Span<float> mean, Span<float> logVariance)
    {
        Means(batch).CopyTo(mean);
        LogVariances(batch).CopyTo(logVariance);
        return true;
    }

    internal override void ExpectationOf(ReadOnlySpan<float> input, int batch, Span<float> output)
    {
        CheckBatch(batch);
        ForwardRows = 0;   // the statistics are left as they were, not this forward's
        Span<float> m = output[..(batch * OutputSize)];
        _meanMap.Forward(input, batch, m);   // the mean map only: the features need no variances
        if (MeanFunction == GaussianMean.Tanh) Kernels.Tanh(m, m);
    }

    /// <inheritdoc/>
    protected override void AccumulateLogProbCore(ReadOnlySpan<float> y, int batch, Span<double> rowLogProb)
    {
        if (batch > 0 && _logVarRowsToBroadcast == batch && !_shared.Active)   // 0 rows to broadcast is also a layer without a per-unit variance
        {
            Kernels.AccumulateGaussianLogProbPerUnitVariance(y, _mean, _logVar!.Value, _unitInverseScale, batch, OutputSize, rowLogProb);
            return;
        }
        OwnStatistics();
        Kernels.AccumulateGaussianLogProb(y, _mean, _s, batch, OutputSize, rowLogProb);
    }

    /// <summary>ln N(m + σε; m, σ²) = −½ Σ (ε² + s + ln 2π): from the draw's noise, without an exp per unit.</summary>
    protected override void AccumulateLogProbOfSampleCore(ReadOnlySpan<float> y, int batch, Span<double> rowLogProb)
    {
        if (SharesStatistics(batch))
            Kernels.AccumulateGaussianLogProbOfNoise(_noise, _s, _shared.Source[batch - 1] + 1, _shared.Source, batch, OutputSize, rowLogProb);
        else
            Kernels.AccumulateGaussianLogProbOfNoise(_noise, _s, batch, OutputSize, rowLogProb);
    }

    /// <inheritdoc/>
    protected override void AccumulateLogProbCore(ReadOnlySpan<float> distinctY, int distinctRows, ReadOnlySpan<int> rowSource, int batch, Span<double> rowLogProb)
    {
        OwnStatistics();
        Kernels.AccumulateGaussianLogProb(distinctY, distinctRows, rowSource, _mean, _s, batch, OutputSize, rowLogProb);
    }

    /// <inheritdoc/>
    public override void AccumulateLogProbGradient(ReadOnlySpan<float> y, ReadOnlySpan<float> input, int batch,
        ReadOnlySpan<float> rowWeights, Span<float> inputGradient, Span<float> outputGradient, Span<float> conditioningGradient = default)
    {
        RequireForward(batch, nameof(AccumulateLogProbGradient));
        CheckGradientSpans(y, input, batch, rowWeights, inputGradient, outputGradient, conditioningGradient);
        LogProbStatisticsGradient(y, batch, rowWeights, outputGradient);
        BackwardStatistics(StatisticsGradient(_dMean, batch), StatisticsGradient(_dLogVar, batch), input, batch, inputGradient, conditioningGradient);
    }

    internal override bool TryAccumulateLogProbGradientPerDistinctInput(ReadOnlySpan<float> y, int batch, ReadOnlySpan<float> rowWeights, in DistinctInputs inputs,
        Span<float> distinctInputGradient, Span<float> outputGradient, Span<float> conditioningGradient)
    {
        LogProbStatisticsGradient(y, batch, rowWeights, outputGradient);
        MeanFunctionBackward(StatisticsGradient(_dMean, batch), batch, conditioningGradient);
        BackwardPerDistinctInput(StatisticsGradient(_dMean, batch), StatisticsGradient(_dLogVar, batch), batch, inputs, distinctInputGradient);
        return true;
    }

    /// <summary>_dMean and _dLogVar of Σ_r w_r ln p(y_r), and its ∂/∂y into <paramref name="outputGradient"/> when given.</summary>
    private void LogProbStatisticsGradient(ReadOnlySpan<float> y, int batch, ReadOnlySpan<float> rowWeights, Span<float> outputGradient)
    {
        OwnStatistics();
        int n = batch * OutputSize;
        Kernels.GaussianLogProbGradient(y, _mean, _s, batch, OutputSize, rowWeights, _dMean.AsSpan(0, n), _dLogVar.AsSpan(0, n), outputGradient.IsEmpty ? default : outputGradient[..n]);
    }

    private Span<float> StatisticsGradient(float[] buffer, int batch) => buffer.AsSpan(0, batch * OutputSize);

    /// <summary>
    /// Through y = m + σ ε with the noise of the last draw: the statistics' gradients from
    /// <see cref="Kernels.ReparameterizedGaussianGradient"/>, then <see cref="BackwardStatistics"/>.
    /// </summary>
    public void BackwardThroughSample(in SampleGradient gradient, ReadOnlySpan<float> input, int batch, Span<float> inputGradient, Span<float> conditioningGradient = default)
    {
        RequireForward(batch, nameof(BackwardThroughSample));
        SampleStatisticsGradient(gradient, batch);
        BackwardStatistics(StatisticsGradient(_dMean, batch), StatisticsGradient(_dLogVar, batch), input, batch, inputGradient, conditioningGradient);
    }

    internal override bool TryBackwardThroughSamplePerDistinctInput(in SampleGradient gradient, int batch, in DistinctInputs inputs,
        Span<float> distinctInputGradient, Span<float> conditioningGradient)
    {
        SampleStatisticsGradient(gradient, batch);
        MeanFunctionBackward(StatisticsGradient(_dMean, batch), batch, conditioningGradient);
        BackwardPerDistinctInput(StatisticsGradient(_dMean, batch), StatisticsGradient(_dLogVar, batch), batch, inputs, distinctInputGradient);
        return true;
    }

    /// <summary>_dMean and _dLogVar of the loss through the last draw.</summary>
    private void SampleStatisticsGradient(in SampleGradient gradient, int batch)
    {
        OwnStatistics();
        int n = batch * OutputSize;
        if (gradient.RowWeights.Length < batch)
            throw new ArgumentException($"The sample gradient's row weights hold {gradient.RowWeights.Length} values, fewer than the {batch} rows.", nameof(gradient));
        Kernels.ReparameterizedGaussianGradient(gradient.Local, gradient.PathWise, gradient.LocalCurvature, _noise, _s, gradient.RowWeights, batch, OutputSize,
            _dMean.AsSpan(0, n), _dLogVar.AsSpan(0, n));
    }

    /// <summary>
    /// Back-propagates gradients with respect to the statistics (the means m, after the mean
    /// function, and the log-variances s) into the parameters and, when given, the input and the
    /// conditioning. Overwrites <paramref name="meanGradient"/> with the gradient before the mean function.
    /// </summary>
    public void BackwardStatistics(Span<float> meanGradient, ReadOnlySpan<float> logVarianceGradient, ReadOnlySpan<float> input, int batch, Span<float> inputGradient,
        Span<float> conditioningGradient = default)
    {
        RequireForward(batch, nameof(BackwardStatistics));
        OwnStatistics();
        int n = batch * OutputSize;
        MeanFunctionBackward(meanGradient, batch, conditioningGradient);
        if (inputGradient.IsEmpty && TryDistinctInputs(batch, out var distinct))
            // Rows that share their input (K samples of one example) form the weight gradients per distinct input.
            BackwardPerDistinctInput(meanGradient, logVarianceGradient, batch, distinct, default);
        else if (_logVarMap is null)
        {
            _meanMap.Backward(meanGradient[..n], input, batch, inputGradient);
            Kernels.AddColumnSums(logVarianceGradient, batch, OutputSize, _logVar!.Gradient);
        }
        else
            AffineMap.Backward(_meanMap, meanGradient[..n], _logVarMap, logVarianceGradient[..n], input, batch, inputGradient);
    }

    /// <summary>The mean's gradient taken back through the mean function (in place), and added to the conditioning's.</summary>
    private void MeanFunctionBackward(Span<float> meanGradient, int batch, Span<float> conditioningGradient)
    {
        if (MeanFunction == GaussianMean.Tanh)
            Kernels.MultiplyByTanhDerivative(_mean.AsSpan(0, batch * OutputSize), meanGradient[..(batch * OutputSize)]);
        AddConditioningGradient(meanGradient, batch, conditioningGradient);
    }

    /// <summary>
    /// The maps' backward from the statistics' gradients (the mean's before the mean function) summed per
    /// distinct input: the weight gradients and, when asked, ∂/∂x per distinct input.
    /// </summary>
    private void BackwardPerDistinctInput(ReadOnlySpan<float> meanGradient, ReadOnlySpan<float> logVarianceGradient, int batch, in DistinctInputs inputs,
        Span<float> distinctInputGradient)
    {
        int m = inputs.Rows * OutputSize;
        Span<float> mean = _sharedMean.AsSpan(0, m);
        SumPerDistinctInput(meanGradient, batch, OutputSize, inputs, mean);
        if (_logVarMap is null)
        {
            _meanMap.Backward(mean, inputs.Values, inputs.Rows, distinctInputGradient);
            Kernels.AddColumnSums(logVarianceGradient, batch, OutputSize, _logVar!.Gradient);
            return;
        }
        Span<float> logVariance = _sharedLogVar.AsSpan(0, m);
        SumPerDistinctInput(logVarianceGradient, batch, OutputSize, inputs, logVariance);
        AffineMap.Backward(_meanMap, mean, _logVarMap, logVariance, inputs.Values, inputs.Rows, distinctInputGradient);
    }

    /// <inheritdoc/>
    /// <exception cref="NotSupportedException">The variance is computed from the input (<see cref="VarianceSource.FromInput"/>): the Hessian is defined for per-unit variances only.</exception>
    public override void AccumulateNegLogProbInputHessianDiagonal(ReadOnlySpan<float> y, int batch, Span<float> destination)
    {
        if (_logVarMap is not null)
            throw new NotSupportedException("The input Hessian is defined here for per-unit variances only.");
        RequireForward(batch, nameof(AccumulateNegLogProbInputHessianDiagonal));
        OwnStatistics();
        int n = batch * OutputSize;
        Span<float> kappa = _dMean.AsSpan(0, n);
        // −ln p = ½ (y − tanh u)² e^{−s} + …; d²/du² = [m'² + 2 m m' (y − m)] e^{−s}, m' = 1 − m².
        Kernels.GaussianCurvature(y, _mean, _s, MeanFunction == GaussianMean.Tanh, kappa);
        _meanMap.AccumulateInputHessianDiagonal(kappa, batch, destination);
    }

    /// <inheritdoc/>
    public override void AccumulateNegLogProbOutputHessianDiagonal(ReadOnlySpan<float> y, int batch, Span<float> destination)
    {
        RequireForward(batch, nameof(AccumulateNegLogProbOutputHessianDiagonal));
        OwnStatistics();
        int n = batch * OutputSize;
        Kernels.AddExpNegative(_s.AsSpan(0, n), destination[..n]);
    }

    /// <summary>With per-unit variances v: ln p(y | x) = −½ Σ_i [(y_i − m_i)² / v_i + ln v_i + ln 2π] is bilinear in y / v and m.</summary>
    public bool IsBilinear => _logVarMap is null;

    /// <summary>φ = m, c(φ) = −½ Σ m² / v.</summary>
    public void InputFeatures(int batch, Span<float> features, Span<double> constant)
    {
        RequireBilinear();
        RequireRows(batch, nameof(InputFeatures));
        RequireLength(features.Length, batch, OutputSize, nameof(features), "units");
        RequireLength(constant.Length, batch, 1, nameof(constant), "values");
        ReadOnlySpan<float> m = Means(batch);
        m.CopyTo(features);
        float[] s = _logVar!.Value;
        for (int r = 0; r < batch; r++)
        {
            double c = 0;
            for (int i = 0; i < OutputSize; i++) c += m[r * OutputSize + i] * m[r * OutputSize + i] * MathF.Exp(-s[i]);
            constant[r] = -0.5 * c;
        }
    }

    /// <summary>ỹ = y / v, c(y) = −½ Σ (y² / v + ln v + ln 2π).</summary>
    public void OutputTerms(ReadOnlySpan<float> y, int rows, Span<float> transformed, Span<double> constant)
    {
        RequireBilinear();
        CheckOutputTerms(y, rows, transformed, constant);
        float[] s = _logVar!.Value;
        for (int r = 0; r < rows; r++)
        {
            double c = 0;
            for (int i = 0; i < OutputSize; i++)
            {
                float precision = MathF.Exp(-s[i]), x = y[r * OutputSize + i];
                transformed[r * OutputSize + i] = x * precision;
                c += x * x * precision + s[i] + Kernels.LogTwoPi;
            }
            constant[r] = -0.5 * c;
        }
    }

    private void RequireBilinear()
    {
        if (!IsBilinear) throw new NotSupportedException("A Gaussian layer whose variance depends on its input has no bilinear log-probability.");
    }

    /// <inheritdoc/>
    protected override void CopyStatistics(int from, int to)
    {
        OwnStatistics();
        CopyRow(from, to);
    }

    private void BroadcastLogVariances()
    {
        if (_logVarRowsToBroadcast == 0) return;
        Kernels.BroadcastRows(_logVar!.Value, _s, _logVarRowsToBroadcast, OutputSize);
        _logVarRowsToBroadcast = 0;
    }

    private void CopyRow(int from, int to)
    {
        _mean.AsSpan(from * OutputSize, OutputSize).CopyTo(_mean.AsSpan(to * OutputSize, OutputSize));
        _s.AsSpan(from * OutputSize, OutputSize).CopyTo(_s.AsSpan(to * OutputSize, OutputSize));
    }
}
