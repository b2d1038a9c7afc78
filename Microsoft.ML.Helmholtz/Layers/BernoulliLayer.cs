using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Layers;

/// <summary>
/// Binary units: p(y | x) = Π_i Bernoulli(y_i | sigmoid(a_i)), a = W x + b. With no input it is the
/// factorised Bernoulli prior with learned biases. With soft targets (units "bs") it also scores values
/// y in [0, 1] by the same formula, y ln λ + (1 − y) ln(1 − λ): the cross-entropy of the data's
/// intensities taken as probabilities, the measure the literature uses for soft pixels (its draws stay binary).
/// </summary>
public sealed class BernoulliLayer : NaturalParameterLayer
{
    /// <summary>
    /// Binary units with the weights <c>name.W</c> [outputSize × inputSize] (none for a prior) and the biases <c>name.b</c>.
    /// </summary>
    /// <param name="name">What messages call the layer, and the start of its parameters' names.</param>
    /// <param name="inputSize">Inputs per row; 0 for the factorised prior.</param>
    /// <param name="outputSize">Units, at least 1.</param>
    /// <param name="engine">The engine that makes the layer's matrix products.</param>
    /// <param name="softTargets">Whether y may lie anywhere in [0, 1], scored by the cross-entropy (<see cref="SoftTargets"/>).</param>
    public BernoulliLayer(string name, int inputSize, int outputSize, IMatrixEngine engine, bool softTargets = false)
        : base(name, inputSize, outputSize, engine)
    {
        SoftTargets = softTargets;
    }

    /// <summary><see cref="UnitType.SoftBernoulli"/> with soft targets, else <see cref="UnitType.Bernoulli"/>.</summary>
    public override UnitType Units => SoftTargets ? UnitType.SoftBernoulli : UnitType.Bernoulli;

    /// <summary>Whether y may lie anywhere in [0, 1] (scored by the cross-entropy), not only at 0 and 1.</summary>
    public bool SoftTargets { get; }

    /// <summary>Sets the biases to the logits of the data's column means (clamped to [10⁻³, 1 − 10⁻³]); the weights are left alone.</summary>
    internal override void InitializeFromDataMeans(ReadOnlySpan<double> means)
    {
        RequireMeansInUnitInterval(means, "a binary column's mean lies in [0, 1]");
        float[] bias = Affine.Bias.Value;
        for (int c = 0; c < means.Length; c++)
        {
            double mean = Math.Clamp(means[c], 1e-3, 1 - 1e-3);
            bias[c] = (float)Math.Log(mean / (1 - mean));
        }
    }

    /// <inheritdoc/>
    protected override void SampleCore(RandomStream random, int batch, Span<float> output)
    {
        int n = batch * OutputSize;
        Span<float> u = Scratch(n);
        random.FillUniform(u);
        Kernels.SampleBernoulli(Logits(batch), u, output[..n]);
    }

    internal override void SampleWithNoise(ReadOnlySpan<float> noise, int batch, Span<float> output)
    {
        int n = batch * OutputSize;
        Kernels.SampleBernoulli(Logits(batch), noise[..n], output[..n]);
    }

    internal override bool NoiseIsNormal => false;

    /// <inheritdoc/>
    protected override void ExpectationCore(int batch, Span<float> output)
        => Kernels.Sigmoid(Logits(batch), output[..(batch * OutputSize)]);

    // In training, a log-probability is followed by its gradient over the same logits. The binary kernel
    // keeps the e^{−|a|} it forms, and the gradient reads them instead of taking an exp of its own (the
    // same bits either way). A layer that only scores stops keeping them after two log-probabilities
    // without a gradient (two, not one: Wake-Sleep's recognition layers score the wake phase's samples,
    // then the dreams, then take the dreams' gradient), and starts again after its next gradient.
    private float[] _expNegAbs = [];
    private int _keptRows;                // leading rows of _expNegAbs that belong to the logits now; 0: none
    private int _logProbsSinceGradient;   // binary log-probabilities since the last gradient (saturating)
    private const int KeepWithoutGradient = 2;

    private protected override void LogitsChanged() => _keptRows = 0;

    /// <summary>Rows of e^{−|a|} kept for the logits now, which the next gradient over at most that many rows reads (0: none).</summary>
    internal int KeptRows => _keptRows;

    /// <inheritdoc/>
    protected override void AccumulateLogProbCore(ReadOnlySpan<float> distinctY, int distinctRows, ReadOnlySpan<int> rowSource, int batch, Span<double> rowLogProb)
    {
        // The binary kernel's sign trick holds for 0 and 1 only.
        if (SoftTargets)
        {
            Kernels.AccumulateSoftBernoulliLogProb(LogitBuffer, distinctY, distinctRows, rowSource, batch, OutputSize, rowLogProb);
            return;
        }
        bool keeping = _logProbsSinceGradient < KeepWithoutGradient;
        if (keeping && _expNegAbs.Length < LogitBuffer.Length) _expNegAbs = new float[LogitBuffer.Length];
        _keptRows = 0;   // stale until the kernel has written them
        Kernels.AccumulateBernoulliLogProb(LogitBuffer, distinctY, distinctRows, rowSource, batch, OutputSize, rowLogProb,
            keeping ? _expNegAbs.AsSpan(0, batch * OutputSize) : default);
        if (keeping)
        {
            _keptRows = batch;
            _logProbsSinceGradient++;
        }
    }

    /// <summary>
    /// The weights and biases as they are now, laid out for <see cref="AccumulateLogProbOfProduct"/>; null where that path does
    /// not serve: soft targets, no input (a prior), or no AVX-512. Valid while the parameters do not change (an estimator's
    /// private copy of the machine).
    /// </summary>
    internal override BernoulliProductOperands? ProductOperands()
        => SoftTargets || Affine.Weight is null || !Vector512.IsHardwareAccelerated ? null
            : new BernoulliProductOperands(Affine.Weight.Value, Affine.Bias.Value, InputSize, OutputSize);

    /// <summary>
    /// rowLogProb[r] += ln p(y_r | x_r) with y_r row rowSource[r] of <paramref name="distinctY"/> and x_r row r of
    /// <paramref name="input"/>, in one kernel that never writes the logits (<see cref="Kernels.AccumulateBernoulliLogProbOfProduct"/>):
    /// what scoring needs of the visible layer, which is most of its time. The parameters are those <paramref name="operands"/>
    /// was made from. The layer is left with no forward, so a gradient or a statistic read after it is refused.
    /// </summary>
    internal override void AccumulateLogProbOfProduct(BernoulliProductOperands operands, ReadOnlySpan<float> input, ReadOnlySpan<float> distinctY, int distinctRows,
        ReadOnlySpan<int> rowSource, int batch, Span<double> rowLogProb)
    {
        RefuseWhileAnotherThreadComputes(nameof(AccumulateLogProbOfProduct));
        if (operands.Inputs != InputSize || operands.Outputs != OutputSize)
            throw new ArgumentException($"The operands are of a {operands.Outputs} × {operands.Inputs} layer, not of {Name}'s {OutputSize} × {InputSize}.", nameof(operands));
        ForwardRows = 0;
        LogitsChanged();
        operands.SetTargets(distinctY, distinctRows);
        Kernels.AccumulateBernoulliLogProbOfProduct(input, batch, operands, rowSource, rowLogProb);
    }

    /// <summary>w (y − sigmoid(a)).</summary>
    protected override void LogProbGradient(ReadOnlySpan<float> logits, ReadOnlySpan<float> y, int batch, ReadOnlySpan<float> rowWeights, Span<float> da)
    {
        // The base passes the layer's own logits; the kept values hold for them while _keptRows covers the batch.
        bool kept = batch <= _keptRows && Unsafe.AreSame(ref MemoryMarshal.GetReference(logits), ref MemoryMarshal.GetArrayDataReference(LogitBuffer));
        _logProbsSinceGradient = 0;
        Kernels.BernoulliLogProbGradient(logits, y, batch, OutputSize, rowWeights, da, kept ? _expNegAbs.AsSpan(0, batch * OutputSize) : default);
    }

    /// <summary>sigmoid(a) (1 − sigmoid(a)).</summary>
    protected override void Curvature(ReadOnlySpan<float> logits, Span<float> kappa) => Kernels.BernoulliCurvature(logits, kappa);
}
