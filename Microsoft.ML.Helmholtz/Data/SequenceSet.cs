namespace Microsoft.ML.Helmholtz.Data;

/// <summary>
/// Equal-length sequences of equal-sized float frames (videos), stored row-major in one array:
/// value <c>((s · Frames + t) · Height + i) · Width + j</c> is row i, column j of frame t of sequence s.
/// </summary>
public sealed class SequenceSet
{
    /// <summary>Wraps <paramref name="values"/> (not copied) as <paramref name="count"/> sequences of <paramref name="frames"/> frames of <paramref name="height"/>×<paramref name="width"/>.</summary>
    public SequenceSet(int count, int frames, int height, int width, float[] values)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(frames);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentNullException.ThrowIfNull(values);
        // Checked one factor at a time, so that no product can overflow a long.
        long perSequence = (long)height * width;
        if (perSequence > Array.MaxLength || (perSequence *= frames) > Array.MaxLength)
            throw new ArgumentException(
                $"A sequence of {frames} frames of {height}×{width} has more values than one array can hold.", nameof(frames));
        if (values.LongLength != count * perSequence)
            throw new ArgumentException(
                $"values has {values.LongLength} elements, but {count} sequences of {frames} frames of {height}×{width} need {count * perSequence}.", nameof(values));
        Count = count;
        Frames = frames;
        Height = height;
        Width = width;
        Values = values;
    }

    /// <summary>The number of sequences.</summary>
    public int Count { get; }

    /// <summary>Frames per sequence.</summary>
    public int Frames { get; }

    /// <summary>Rows of pixels per frame.</summary>
    public int Height { get; }

    /// <summary>Columns of pixels per frame.</summary>
    public int Width { get; }

    /// <summary>All values, sequence by sequence, frame by frame, row by row.</summary>
    public float[] Values { get; }

    /// <summary>Height × Width.</summary>
    public int ValuesPerFrame => Height * Width;

    /// <summary>Frames × Height × Width.</summary>
    public int ValuesPerSequence => Frames * Height * Width;

    /// <summary>The values of sequence <paramref name="sequence"/>, frame after frame.</summary>
    public Span<float> Sequence(int sequence)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sequence);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(sequence, Count);
        return Values.AsSpan(sequence * ValuesPerSequence, ValuesPerSequence);
    }

    /// <summary>The pixels of frame <paramref name="frame"/> of sequence <paramref name="sequence"/>, row after row.</summary>
    public Span<float> Frame(int sequence, int frame)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(frame);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(frame, Frames);
        return Sequence(sequence).Slice(frame * ValuesPerFrame, ValuesPerFrame);
    }
}
