using Microsoft.ML.Helmholtz.Concurrency;
using Microsoft.ML.Helmholtz.Evaluation;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Temporal;

/// <summary>
/// ln p̂(v_t | v_&lt;t) of every frame of one sequence with common random numbers: the K draws of every
/// hidden layer's noise are made once from the seed and used for every frame of every sequence, so a
/// sequence's estimates are a function of the sequence alone (what the ML.NET transformer and its ONNX
/// graph compute; <see cref="TemporalEvaluation.LogLikelihoodPerFrame"/> draws fresh noise instead).
/// Each frame's estimate has the error of K independent draws; across frames the errors are correlated.
/// </summary>
/// <remarks>
/// Holds a copy of the model taken when built; one <see cref="Score"/> at a time (it computes in the copy's buffers), so not
/// for sharing between threads, unlike <see cref="FixedNoiseLogLikelihood"/>: make one per thread. A call while another
/// thread's call runs is refused with an <see cref="InvalidOperationException"/>.
/// </remarks>
public sealed class TemporalFixedNoiseLogLikelihood
{
    /// <summary>The guard each <see cref="Score"/> holds (tests hold it from another thread).</summary>
    internal UsageGuard Guard { get; } = new("This TemporalFixedNoiseLogLikelihood", "Make one estimator per thread (it computes in its own copy of the model's buffers).");
    private const int FramesPerChunk = 16;
    private readonly float[][] _noise, _chunkNoise;
    private readonly LayerStates _states;
    private readonly LayerConditioning _conditioning;
    private readonly double[] _freeEnergy, _logJoint;
    private readonly int[] _rowSource;
    private float[] _c = [], _input = [];

    /// <summary>
    /// Null when K = <paramref name="samples"/> fits <paramref name="machine"/>: the fixed noise within the size limit, and chunks of
    /// 16 frames × K rows (their noise too) in one array per buffer; else why not (checked before work that would need it).
    /// </summary>
    internal static string? TooManySamples(HelmholtzMachine machine, int samples)
    {
        if (FixedNoiseLogLikelihood.TooManySamples(machine, samples) is { } problem) return problem;
        int widest = Math.Max(machine.WidestRow, Enumerable.Range(1, machine.Architecture.Depth).Max(l => machine.Recognition.Layer(l).NoisePerRow));
        Int128 values = (Int128)FramesPerChunk * samples * widest;
        return values <= Array.MaxLength ? null
            : $"K = {samples} samples a frame, scored {FramesPerChunk} frames at a time through rows of up to {widest} values ({machine.Architecture}), " +
              $"would need {values:N0} values in one array, more than it holds ({Array.MaxLength:N0}).";
    }

    /// <summary>Scores a copy of <paramref name="model"/> with K draws of noise made once, from <paramref name="seed"/>.</summary>
    /// <param name="model">The model to score, copied now: later changes to it do not reach this estimator. Every parameter must be finite (else <see cref="NotFiniteNumberException"/>).</param>
    /// <param name="samples">K, the draws per frame: at least 1, and few enough that the noise fits the size limits (else <see cref="ArgumentOutOfRangeException"/>).</param>
    /// <param name="seed">Seeds the fixed noise.</param>
    public TemporalFixedNoiseLogLikelihood(TemporalHelmholtzMachine model, int samples, ulong seed = 1)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(samples);
        if (TooManySamples(model.Machine, samples) is { } problem) throw new ArgumentOutOfRangeException(nameof(samples), samples, problem);
        MachineFile.RequireFiniteToScore(model.Parameters);   // Save's own refusal would speak of files
        var bytes = new MemoryStream();
        model.Save(bytes);
        Model = TemporalHelmholtzMachine.Load(new MemoryStream(bytes.ToArray()), model.Machine.Engine);
        Samples = samples;
        var machine = Model.Machine;
        int depth = machine.Architecture.Depth, rows = FramesPerChunk * samples;
        var random = new RandomStream(seed);
        _noise = new float[depth][];
        _chunkNoise = new float[depth][];
        for (int l = 1; l <= depth; l++)
        {
            var layer = machine.Recognition.Layer(l);
            _noise[l - 1] = new float[samples * layer.NoisePerRow];
            if (layer.NoiseIsNormal) random.FillNormal(_noise[l - 1]);
            else random.FillUniform(_noise[l - 1]);
            // Every frame of a chunk draws with noise rows 0…K−1.
            _chunkNoise[l - 1] = new float[rows * layer.NoisePerRow];
            for (int f = 0; f < FramesPerChunk; f++) _noise[l - 1].CopyTo(_chunkNoise[l - 1], f * _noise[l - 1].Length);
        }
        _states = new LayerStates(machine.Architecture, rows);
        _conditioning = new LayerConditioning(machine.Architecture, rows);
        _freeEnergy = new double[rows];
        _logJoint = new double[rows];
        _rowSource = new int[rows];
        for (int r = 0; r < rows; r++) _rowSource[r] = r / samples;
    }

    /// <summary>The copy of the model this scores.</summary>
    public TemporalHelmholtzMachine Model { get; }

    /// <summary>K, the draws of every hidden layer's noise, used for each frame.</summary>
    public int Samples { get; }

    /// <summary>The fixed noise of hidden layer <paramref name="layer"/> (1…L), [K × the layer's noise per row]: uniforms for Bernoulli units, normals for Gaussian ones.</summary>
    public ReadOnlySpan<float> Noise(int layer)
    {
        if (layer < 1 || layer > _noise.Length)
            throw new ArgumentOutOfRangeException(nameof(layer), layer, $"Layer {layer}: the hidden layers that draw noise are 1 to {_noise.Length}.");
        return _noise[layer - 1];
    }

    /// <summary>result[t] = ln p̂(v_t | v_&lt;t) for the <paramref name="frames"/> frames of <paramref name="sequence"/> (frame after frame).</summary>
    public void Score(ReadOnlySpan<float> sequence, int frames, Span<double> result)
    {
        using var use = Guard.Enter("Score");
        int d = Model.FrameSize, width = Model.ConditioningWidth, k = Samples;
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(frames);
        if (sequence.Length != (long)frames * d) throw new ArgumentException($"The sequence holds {sequence.Length} values, not {frames} frames of {d}.", nameof(sequence));
        if (result.Length < frames) throw new ArgumentException($"result holds {result.Length} values, fewer than the {frames} frames.", nameof(result));
        var machine = Model.Machine;
        DataValidation.Validate(sequence, frames, d, machine.Architecture.Visible, "sequence");
        // The LSTM over the frames before each frame (zeros before the first), then every frame's c_t.
        if (_input.Length < frames * d) _input = new float[frames * d];
        _input.AsSpan(0, d).Clear();
        sequence[..((frames - 1) * d)].CopyTo(_input.AsSpan(d));
        Model.Recurrence.EnsureCapacity(frames, 1);
        Model.Recurrence.Forward(_input.AsSpan(0, frames * d), frames, 1);
        if (_c.Length < frames * width) _c = new float[frames * width];
        Model.ConditioningMap.Forward(Model.Recurrence.Hidden(frames, 1), frames, _c.AsSpan(0, frames * width));
        for (int t0 = 0; t0 < frames; t0 += FramesPerChunk)
        {
            int n = Math.Min(FramesPerChunk, frames - t0), rows = n * k;
            // A frame's K rows share the frame and c_t: the bottom recognition layer runs once per frame.
            Model.Scatter(_c.AsSpan(t0 * width), _rowSource, rows, _conditioning);
            machine.FreeEnergyWithNoise(_chunkNoise, _states, rows, sequence.Slice(t0 * d, n * d), n, _rowSource, _freeEnergy, _logJoint, _conditioning);
            for (int f = 0; f < n; f++)
            {
                var sum = LogSumExpAccumulator.Empty;
                for (int j = 0; j < k; j++) sum.Add(-_freeEnergy[f * k + j]);
                result[t0 + f] = sum.Value - Math.Log(k);
            }
        }
    }
}
