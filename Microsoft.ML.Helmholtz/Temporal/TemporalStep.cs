using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Learning;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Temporal;

/// <summary>
/// The gradient of one segment of a minibatch of sequences (the seed's algorithm 2, the frames
/// batched): the LSTM forward from the carried state, every frame's conditioning, the learning rule's
/// gradients with ε_t = ∂loss/∂c_t, and the backward through the map and the LSTM. Buffers are
/// allocated once for segments of up to <c>segment</c> steps of <c>batch</c> sequences.
/// </summary>
internal sealed class TemporalStep
{
    private readonly TemporalHelmholtzMachine _model;
    private readonly ILearningRule _rule;
    private readonly TrainingBatch _batch;
    private readonly int _sequences;
    private readonly float[] _input, _c, _dc, _dz, _hidden, _cell;

    public TemporalStep(TemporalHelmholtzMachine model, ILearningRule rule, int batch, int segment, RandomStream random)
    {
        RequireFits(model, rule.SamplesPerExample, batch, segment, nameof(batch), "A temporal step", "use fewer sequences per batch or shorter segments");
        _model = model;
        _rule = rule;
        _sequences = batch;
        int examples = segment * batch;
        // A frame's K rows take its c_t (Scatter by the batch's row sources): they can share the bottom recognition layer.
        _batch = new TrainingBatch(model.Machine.Architecture, examples, rule.SamplesPerExample, random, conditioned: true) { ConditioningSharedByExample = true };
        model.Recurrence.EnsureCapacity(segment, batch);
        _input = new float[examples * model.FrameSize];
        _c = new float[examples * model.ConditioningWidth];
        _dc = new float[examples * model.ConditioningWidth];
        _dz = new float[examples * model.RecurrentUnits];
        _hidden = new float[batch * model.RecurrentUnits];
        _cell = new float[batch * model.RecurrentUnits];
    }

    /// <summary>
    /// Throws <see cref="ArgumentOutOfRangeException"/> for the caller's argument <paramref name="name"/> unless a step's
    /// buffers for segments of <paramref name="segment"/> frames of <paramref name="batch"/> sequences fit one array each:
    /// the batch's rows (<paramref name="samplesPerExample"/> per frame) through the frame machine, and each frame's
    /// conditioning and LSTM values. <paramref name="what"/> names the arguments that set batch and segment,
    /// <paramref name="remedy"/> what the caller can change.
    /// </summary>
    internal static void RequireFits(TemporalHelmholtzMachine model, int samplesPerExample, int batch, int segment, string name, string what, string remedy)
    {
        Requires.ArrayLength(name, $"{what}: {segment} frames × {batch} sequences × K = {samplesPerExample} samples per frame, " +
            $"through layers of up to {model.Machine.WidestRow} values per row ({model.Machine.Architecture})", remedy, segment, batch, samplesPerExample, model.Machine.WidestRow);
        Requires.ArrayLength(name, $"{what}: {segment} frames × {batch} sequences, each frame with up to {model.WidestFrameRow} values " +
            "(the conditioning of every layer, the LSTM's gates)", remedy, segment, batch, model.WidestFrameRow);
    }

    /// <summary>
    /// Accumulates the gradients of frames t0 … t0 + steps − 1 of <paramref name="sequences"/> (indices into
    /// <paramref name="data"/>); the LSTM starts from zeros at t0 = 0, else from the state the previous
    /// segment of these sequences left (carried, not differentiated across: truncated BPTT).
    /// </summary>
    public BatchLoss AccumulateGradients(SequenceSet data, ReadOnlySpan<int> sequences, int t0, int steps)
    {
        int rows = steps * _sequences, width = _model.ConditioningWidth, h = _model.RecurrentUnits;
        ReadOnlySpan<float> z = Forward(data, sequences, t0, steps);
        var conditioning = _batch.Conditioning!;
        conditioning.ClearGradients();
        BatchLoss loss = _rule.AccumulateGradients(_model.Machine, _batch);

        Lstm lstm = _model.Recurrence;
        _model.Gather(conditioning, _batch.RowSource, _batch.Rows, rows, _dc);
        _dz.AsSpan(0, rows * h).Clear();
        _model.ConditioningMap.Backward(_dc.AsSpan(0, rows * width), z, rows, _dz.AsSpan(0, rows * h));
        lstm.Backward(_dz.AsSpan(0, rows * h), steps, _sequences);
        lstm.FinalHidden(_sequences).CopyTo(_hidden);
        lstm.FinalCell(_sequences).CopyTo(_cell);
        return loss;
    }

    /// <summary>
    /// The mean sampled free energy of the first frames of <paramref name="sequences"/> (as many as a segment
    /// holds, the LSTM from zeros), drawn from <paramref name="random"/> rather than the batch's stream, with
    /// no gradient: a measure that leaves training as it was. The carried state is not changed.
    /// </summary>
    public double SampleFreeEnergy(SequenceSet data, ReadOnlySpan<int> sequences, RandomStream random, Span<double> freeEnergy, Span<double> logJoint)
    {
        int steps = Math.Min(_batch.Capacity / _sequences, data.Frames);
        Forward(data, sequences, 0, steps);
        _model.Machine.SampleFreeEnergy(random, _batch.States, _batch.Rows, freeEnergy, logJoint, _batch.Conditioning);
        double sum = 0;
        for (int r = 0; r < _batch.Rows; r++) sum += freeEnergy[r];
        return sum / _batch.Rows;
    }

    /// <summary>
    /// Loads frames t0 … t0 + steps − 1 of <paramref name="sequences"/> into the batch, with their conditioning
    /// from the LSTM run over the frames before them; returns the LSTM's hidden states, z.
    /// </summary>
    private ReadOnlySpan<float> Forward(SequenceSet data, ReadOnlySpan<int> sequences, int t0, int steps)
    {
        int batch = _sequences, rows = steps * batch, d = _model.FrameSize, width = _model.ConditioningWidth;
        if (sequences.Length != batch) throw new ArgumentException($"{sequences.Length} sequences for a step of {batch}.", nameof(sequences));
        // Time-major: row s·B + b is frame t0 + s of sequence b; its LSTM input is the frame before (zeros before the first).
        Span<float> examples = _batch.ExampleRows(rows);
        for (int s = 0; s < steps; s++)
            for (int b = 0; b < batch; b++)
            {
                int t = t0 + s, row = s * batch + b;
                if (t == 0) _input.AsSpan(row * d, d).Clear();
                else data.Frame(sequences[b], t - 1).CopyTo(_input.AsSpan(row * d, d));
                data.Frame(sequences[b], t).CopyTo(examples.Slice(row * d, d));
            }

        Lstm lstm = _model.Recurrence;
        bool carry = t0 > 0;
        lstm.Forward(_input.AsSpan(0, rows * d), steps, batch, carry ? _hidden : default, carry ? _cell : default);
        ReadOnlySpan<float> z = lstm.Hidden(steps, batch);
        _model.ConditioningMap.Forward(z, rows, _c.AsSpan(0, rows * width));

        _batch.LoadValidated(rows);
        _model.Scatter(_c, _batch.RowSource, _batch.Rows, _batch.Conditioning!);
        return z;
    }

    /// <summary>The LSTM state the last segment left, which the next one of the same sequences starts from.</summary>
    internal (float[] Hidden, float[] Cell) CarriedState => (_hidden, _cell);
}
