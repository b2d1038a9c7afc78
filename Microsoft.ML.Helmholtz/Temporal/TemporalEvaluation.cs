using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Temporal;

/// <summary>
/// Scoring, prediction and generation with a <see cref="TemporalHelmholtzMachine"/>. Each runs the
/// LSTM over the true frames (or, generating, over the frames it made), so that frame t is scored or
/// predicted given z_t, the state after frames 1…t−1. They compute in the model's buffers: one thread at a time.
/// </summary>
public static class TemporalEvaluation
{
    private const int RowsPerChunk = 4096;

    /// <summary>
    /// The importance-sampled estimate of ln p(v_t | v_1…v_{t−1}) for every frame, [sequences × frames]:
    /// ln (1/K) Σ_k p(v_t, h_k | z_t) / q(h_k | v_t, z_t) with K independent draws h_k ~ q(· | v_t, z_t) per
    /// frame, each frame's draws independent of the others'. Since z_t is a deterministic function of
    /// the frames before t, ln p(v_1…v_T) = Σ_t ln p(v_t | z_t) exactly, and the sum of these
    /// per-frame estimates is a stochastic lower bound on it (each term is one, by Jensen) that tends
    /// to it as K grows.
    /// </summary>
    public static double[] LogLikelihoodPerFrame(TemporalHelmholtzMachine model, SequenceSet data, int samples, ulong seed = 1,
        int batchSequences = 20, IProgress<double>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(samples);
        data.Validate(model, "sequences", nameof(data));
        int chunk = ChunkRows(model, data, samples, batchSequences);
        var machine = model.Machine;
        using var use = machine.Access.Compute.Enter("temporal scoring");
        MachineFile.RequireFiniteToScore(model.Parameters);
        var result = new double[data.Count * data.Frames];
        var random = new RandomStream(seed);
        var states = new LayerStates(machine.Architecture, chunk);
        var conditioning = new LayerConditioning(machine.Architecture, chunk);
        double[] freeEnergy = new double[chunk], logJoint = new double[chunk];
        int[] rowSource = new int[chunk];
        int d = model.FrameSize;
        float[] frames = new float[chunk / samples * d];
        foreach (var (first, count, e0, n, rows, last) in ChunksOfFrames(model, data, batchSequences, samples, chunk, rowSource, conditioning, cancellationToken))
        {
            // Each frame once: its K rows share the frame and c_t, so the bottom recognition layer runs once per frame.
            for (int i = 0; i < n; i++)
            {
                int e = e0 + i;
                data.Frame(first + e % count, e / count).CopyTo(frames.AsSpan(i * d, d));
            }
            machine.SampleFreeEnergy(random, states, rows, frames.AsSpan(0, n * d), n, rowSource, freeEnergy, logJoint, conditioning, scoring: true);
            for (int i = 0; i < n; i++)
            {
                var sum = LogSumExpAccumulator.Empty;
                for (int k = 0; k < samples; k++) sum.Add(-freeEnergy[i * samples + k]);
                int e = e0 + i;
                result[(first + e % count) * data.Frames + e / count] = sum.Value - Math.Log(samples);
            }
            if (last) progress?.Report((double)(first + count) / data.Count);
        }
        return result;
    }

    /// <summary>
    /// The expected frame under the model given the true past, E[v_t | v_1…v_{t−1}] = E_{h ~ p(h | z_t)} E[v | h, z_t],
    /// for every frame, [sequences × frames × frame size]: the mean over <paramref name="samples"/>
    /// ancestral draws of h of the visible layer's expectation (not of a visible draw, whose noise averages out anyway).
    /// </summary>
    public static float[] PredictFrames(TemporalHelmholtzMachine model, SequenceSet data, int samples, ulong seed = 1, int batchSequences = 20,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(samples);
        data.Validate(model, "sequences", nameof(data));
        int chunk = ChunkRows(model, data, samples, batchSequences);
        var machine = model.Machine;
        using var use = machine.Access.Compute.Enter("temporal prediction");
        MachineFile.RequireFiniteToScore(model.Parameters);
        int d = model.FrameSize;
        var predicted = new float[data.Values.Length];
        var random = new RandomStream(seed);
        var states = new LayerStates(machine.Architecture, chunk);
        var conditioning = new LayerConditioning(machine.Architecture, chunk);
        float[] expectation = new float[chunk * d];
        int[] rowSource = new int[chunk];
        foreach (var (first, count, e0, n, rows, _) in ChunksOfFrames(model, data, batchSequences, samples, chunk, rowSource, conditioning, cancellationToken))
        {
            MeanOfDreams(machine, random, states, conditioning, rows, samples, expectation);
            for (int i = 0; i < n; i++)
            {
                int e = e0 + i;
                expectation.AsSpan(i * d, d).CopyTo(predicted.AsSpan(((first + e % count) * data.Frames + e / count) * d, d));
            }
        }
        return predicted;
    }

    /// <summary>Rows computed together: whole frames of K rows each, about <see cref="RowsPerChunk"/> of them.</summary>
    private static int ChunkRows(int samples) => Math.Max(samples, RowsPerChunk / samples * samples);

    /// <summary>
    /// Throws <see cref="ArgumentOutOfRangeException"/> (parameter "samples") when <see cref="LogLikelihoodPerFrame"/> and
    /// <see cref="PredictFrames"/> would refuse K = <paramref name="samples"/> draws a frame for <paramref name="model"/>: not
    /// positive, or chunks of K rows a frame past the largest array. The limit depends on the model's layers only, not on
    /// its parameters nor on the data, so a program that scores after training can check its K before the training.
    /// </summary>
    public static void ThrowIfTooManySamples(TemporalHelmholtzMachine model, int samples)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(samples);
        if (TooManySamples(model.Machine, samples) is { } problem) throw new ArgumentOutOfRangeException(nameof(samples), samples, problem + " Use fewer samples.");
    }

    /// <summary>Null when chunks of K = <paramref name="samples"/> rows a frame (<see cref="PredictFrames"/>, <see cref="LogLikelihoodPerFrame"/>) fit <paramref name="machine"/>'s buffers; else why not.</summary>
    internal static string? TooManySamples(HelmholtzMachine machine, int samples)
    {
        Int128 values = (Int128)ChunkRows(samples) * machine.WidestRow;
        return values <= Array.MaxLength ? null
            : $"K = {samples} draws a frame, in chunks of {ChunkRows(samples)} rows through rows of up to {machine.WidestRow} values ({machine.Architecture}), " +
              $"would need {values:N0} values in one array, more than it holds ({Array.MaxLength:N0}).";
    }

    /// <summary>
    /// The rows of a chunk of frames, K per frame (at least one frame's), after checking, before anything is
    /// allocated, that a chunk fits the machine's buffers and that groups of <paramref name="batchSequences"/>
    /// sequences fit the LSTM's and the conditioning's (<see cref="ConditioningOfTrueFrames"/>).
    /// </summary>
    private static int ChunkRows(TemporalHelmholtzMachine model, SequenceSet data, int samples, int batchSequences)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSequences);
        ThrowIfTooManySamples(model, samples);
        int chunk = ChunkRows(samples);
        int batch = Math.Min(batchSequences, data.Count);
        Requires.ArrayLength(nameof(batchSequences), $"{batch} sequences of {data.Frames} frames run through the LSTM together (batchSequences = {batchSequences}), " +
            $"each frame with up to {model.WidestFrameRow} values (the conditioning of every layer, the LSTM's gates)", "use a smaller batchSequences",
            batch, data.Frames, model.WidestFrameRow);
        return chunk;
    }

    /// <summary>
    /// The frames of every sequence in chunks of K rows per frame: for each group of sequences
    /// (<see cref="ConditioningOfTrueFrames"/>), the time-major examples e0 … e0 + n − 1 (example e is frame
    /// e / count of sequence first + e % count), with rowSource (row r reads example r / K of the chunk) and
    /// each row's conditioning set; <c>Last</c> marks a group's last chunk.
    /// </summary>
    private static IEnumerable<(int First, int Count, int E0, int N, int Rows, bool Last)> ChunksOfFrames(TemporalHelmholtzMachine model, SequenceSet data,
        int batchSequences, int samples, int chunk, int[] rowSource, LayerConditioning conditioning, CancellationToken cancellationToken)
    {
        foreach (var (first, count, c) in ConditioningOfTrueFrames(model, data, batchSequences))
        {
            int examples = count * data.Frames, perChunk = chunk / samples;
            for (int e0 = 0; e0 < examples; e0 += perChunk)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int n = Math.Min(perChunk, examples - e0), rows = n * samples;
                for (int r = 0; r < rows; r++) rowSource[r] = r / samples;
                model.Scatter(c.AsSpan(e0 * model.ConditioningWidth), rowSource, rows, conditioning);
                yield return (first, count, e0, n, rows, e0 + perChunk >= examples);
            }
        }
    }

    /// <summary>
    /// The one-step prediction error of the literature: the mean over sequences of
    /// Σ_{t ≥ <paramref name="fromFrame"/>} Σ_pixels (v_t − v̂_t)², divided by the frames counted
    /// (frames are 0-based here: fromFrame = 1 counts t = 2…T of the 1-based convention).
    /// </summary>
    public static double PredictionError(SequenceSet data, ReadOnlySpan<float> predicted, int fromFrame = 1)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.Count == 0) throw new ArgumentException("data is empty: the mean error of no sequences is undefined.", nameof(data));
        if (predicted.Length != data.Values.Length) throw new ArgumentException($"predicted holds {predicted.Length} values, not the {data.Values.Length} of the sequences.", nameof(predicted));
        if (fromFrame < 0 || fromFrame >= data.Frames) throw new ArgumentOutOfRangeException(nameof(fromFrame), $"fromFrame must lie in 0…{data.Frames - 1}.");
        double total = 0;
        for (int s = 0; s < data.Count; s++)
            for (int t = fromFrame; t < data.Frames; t++)
            {
                int offset = (s * data.Frames + t) * data.ValuesPerFrame;
                double sum = 0;
                for (int i = 0; i < data.ValuesPerFrame; i++)
                {
                    double e = data.Values[offset + i] - predicted[offset + i];
                    sum += e * e;
                }
                total += sum;
            }
        return total / ((double)data.Count * (data.Frames - fromFrame));
    }

    /// <summary>
    /// Sequences rolled out by the model: the first <paramref name="prefixFrames"/> frames are those of
    /// <paramref name="prefix"/> (which may be null when prefixFrames is 0), then each frame is the
    /// visible layer's expectation given an ancestral draw of h under z_t, and is what the LSTM reads
    /// next. The expectation rather than a visible draw is fed back: a draw adds independent noise to
    /// every pixel, which the model never saw as input in training. Frames are <paramref name="frameWidth"/>
    /// wide (0: one row of the frame size; with a prefix, the prefix's shape, which a nonzero frameWidth must match). A prefix
    /// given with prefixFrames = 0 sets only that shape; any prefix must have the model's frame size (an <see cref="ArgumentException"/> otherwise).
    /// </summary>
    public static SequenceSet Generate(TemporalHelmholtzMachine model, int sequences, int frames, ulong seed = 1, SequenceSet? prefix = null, int prefixFrames = 0, int frameWidth = 0)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(sequences);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(frames);
        if (frameWidth < 0 || (frameWidth > 0 && model.FrameSize % frameWidth != 0))
            throw new ArgumentOutOfRangeException(nameof(frameWidth), $"frameWidth must divide the frame size {model.FrameSize}.");
        if (prefixFrames < 0 || prefixFrames > frames) throw new ArgumentOutOfRangeException(nameof(prefixFrames), $"prefixFrames must lie in 0…{frames}.");
        if (prefixFrames > 0)
        {
            ArgumentNullException.ThrowIfNull(prefix);
            prefix.Validate(model, nameof(prefix), nameof(prefix));
            if (prefix.Count < sequences || prefix.Frames < prefixFrames)
                throw new ArgumentException($"prefix holds {prefix.Count} sequences of {prefix.Frames} frames; {sequences} of at least {prefixFrames} are needed.", nameof(prefix));
        }
        else if (prefix is not null && prefix.ValuesPerFrame != model.FrameSize)
        {
            // No frame of it is read, but the generated frames take its shape: one that is not the model's is refused, not used.
            throw new ArgumentException(
                $"prefix has frames of {prefix.ValuesPerFrame} values ({prefix.Height}×{prefix.Width}), but the machine's visible layer has {model.FrameSize} units; " +
                "the generated frames would take that shape.", nameof(prefix));
        }
        if (prefix is not null && frameWidth > 0 && frameWidth != prefix.Width)
            throw new ArgumentException($"frameWidth is {frameWidth}, but the prefix's frames are {prefix.Width} wide ({prefix.Height}×{prefix.Width}), the shape the generated " +
                "frames take: give one of them, or the same width.", nameof(frameWidth));
        int d = model.FrameSize, h = model.RecurrentUnits, width = model.ConditioningWidth;
        // Sizes before anything is allocated: the frames made, and the sequences' rows through the machine and the LSTM.
        Requires.ArrayLength(nameof(frames), $"{sequences} sequences of {frames} frames of {d} values", "generate fewer sequences or frames", sequences, frames, d);
        model.Machine.RequireRows(sequences, nameof(sequences), $"{sequences} sequences generated side by side", "generate fewer sequences per call");
        Requires.ArrayLength(nameof(sequences), $"{sequences} sequences generated side by side, each frame with up to {model.WidestFrameRow} values " +
            "(the conditioning of every layer, the LSTM's gates)", "generate fewer sequences per call", sequences, model.WidestFrameRow);
        var machine = model.Machine;
        using var use = machine.Access.Compute.Enter("temporal generation");
        MachineFile.RequireFiniteToScore(model.Parameters);
        var values = new float[sequences * frames * d];
        var random = new RandomStream(seed);
        var states = new LayerStates(machine.Architecture, sequences);
        var conditioning = new LayerConditioning(machine.Architecture, sequences);
        float[] input = new float[sequences * d], c = new float[sequences * width], frame = new float[sequences * d];
        float[] hidden = new float[sequences * h], cell = new float[sequences * h];
        int[] rowSource = Enumerable.Range(0, sequences).ToArray();
        model.Recurrence.EnsureCapacity(1, sequences);
        for (int t = 0; t < frames; t++)
        {
            model.Recurrence.Forward(input, 1, sequences, t == 0 ? default : hidden, t == 0 ? default : cell);
            model.Recurrence.FinalHidden(sequences).CopyTo(hidden);
            model.Recurrence.FinalCell(sequences).CopyTo(cell);
            if (t < prefixFrames)
            {
                for (int s = 0; s < sequences; s++) prefix!.Frame(s, t).CopyTo(frame.AsSpan(s * d, d));
            }
            else
            {
                model.ConditioningMap.Forward(hidden, sequences, c);
                model.Scatter(c, rowSource, sequences, conditioning);
                machine.Generative.Dream(random, sequences, states, conditioning);
                machine.Generative.Layers[0].Expectation(sequences, frame);
            }
            for (int s = 0; s < sequences; s++) frame.AsSpan(s * d, d).CopyTo(values.AsSpan((s * frames + t) * d, d));
            frame.CopyTo(input, 0);
        }
        int columns = prefix is not null ? prefix.Width : frameWidth == 0 ? d : frameWidth;
        return new SequenceSet(sequences, frames, d / columns, columns, values);
    }

    /// <summary>The mean frame of an unconditioned machine, E[v] = E_{h ~ p(h)} E[v | h], from <paramref name="samples"/> draws: its prediction of every frame.</summary>
    public static float[] MeanFrame(HelmholtzMachine machine, int samples, ulong seed = 1)
    {
        ArgumentNullException.ThrowIfNull(machine);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(samples);
        using var use = machine.Access.Compute.Enter("the mean frame");   // the dream and the visible expectation read one forward
        MachineFile.RequireFiniteToScore(machine.Parameters);
        var states = new LayerStates(machine.Architecture, samples);
        var expectation = new float[samples * machine.Architecture.Visible.Size];
        MeanOfDreams(machine, new RandomStream(seed), states, null, samples, samples, expectation);
        return expectation.AsSpan(0, machine.Architecture.Visible.Size).ToArray();
    }

    /// <summary>
    /// Dreams <paramref name="rows"/> rows (groups of <paramref name="samples"/> consecutive rows per
    /// example) and writes each group's mean visible expectation into its example's row of <paramref name="output"/>.
    /// </summary>
    private static void MeanOfDreams(HelmholtzMachine machine, RandomStream random, LayerStates states, LayerConditioning? conditioning, int rows, int samples, float[] output)
    {
        int d = machine.Architecture.Visible.Size;
        machine.Generative.Dream(random, rows, states, conditioning);
        // The visible layer's forward is current from the dream: its expectation overwrites the visible draw.
        Span<float> expected = states.Layer(0, rows);
        machine.Generative.Layers[0].Expectation(rows, expected);
        float scale = 1f / samples;
        for (int i = 0; i < rows / samples; i++)
        {
            Span<float> target = output.AsSpan(i * d, d);
            target.Clear();
            for (int k = 0; k < samples; k++) System.Numerics.Tensors.TensorPrimitives.Add(target, expected.Slice((i * samples + k) * d, d), target);
            System.Numerics.Tensors.TensorPrimitives.Multiply(target, scale, target);
        }
    }

    /// <summary>
    /// For each group of up to <paramref name="batchSequences"/> sequences: the LSTM over their true
    /// frames (input v_{t−1}, v_0 = 0) and the conditioning c_t of every frame, time-major
    /// ([frames × count × width], example e = t · count + b).
    /// </summary>
    private static IEnumerable<(int First, int Count, float[] Conditioning)> ConditioningOfTrueFrames(TemporalHelmholtzMachine model, SequenceSet data, int batchSequences)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSequences);
        int d = model.FrameSize, frames = data.Frames, width = model.ConditioningWidth;
        int batch = Math.Min(batchSequences, data.Count);
        model.Recurrence.EnsureCapacity(frames, batch);
        float[] input = new float[frames * batch * d], c = new float[frames * batch * width];
        for (int first = 0; first < data.Count; first += batch)
        {
            int count = Math.Min(batch, data.Count - first);
            for (int t = 0; t < frames; t++)
                for (int b = 0; b < count; b++)
                {
                    Span<float> row = input.AsSpan((t * count + b) * d, d);
                    if (t == 0) row.Clear();
                    else data.Frame(first + b, t - 1).CopyTo(row);
                }
            model.Recurrence.Forward(input.AsSpan(0, frames * count * d), frames, count);
            model.ConditioningMap.Forward(model.Recurrence.Hidden(frames, count), frames * count, c.AsSpan(0, frames * count * width));
            yield return (first, count, c);
        }
    }
}
