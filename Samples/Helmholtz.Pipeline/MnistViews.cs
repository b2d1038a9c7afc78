using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Helmholtz.Data;

/// <summary>An MNIST image as a pipeline row: 784 pixels (0 or 1), the digit when known, and whether it is an anomaly (Single, as ml.AnomalyDetection.Evaluate reads labels).</summary>
public sealed class DigitRow
{
    [VectorType(BinarizedMnist.PixelCount)]
    public float[] Pixels { get; set; } = [];

    public uint Digit { get; set; }

    public float Anomaly { get; set; }
}

/// <summary>The shipped data as ML.NET views.</summary>
internal static class MnistViews
{
    /// <summary>Binarized images without labels (the binarized splits have none).</summary>
    public static IDataView Unlabelled(MLContext ml, DataMatrix images, int limit = 0)
    {
        int rows = limit > 0 ? Math.Min(limit, images.Rows) : images.Rows;
        // Evenly spaced: the binarized splits are ordered by digit, so a prefix would hold few of them.
        return ml.Data.LoadFromEnumerable(Enumerable.Range(0, rows).Select(i => new DigitRow { Pixels = images.Row((int)((long)i * images.Rows / rows)).ToArray() }).ToArray());
    }

    /// <summary>The grey test images with their labels, binarized at 0.5 (the labelled images the sample has).</summary>
    public static DigitRow[] Labelled(string? directory)
    {
        var (images, labels) = BinarizedMnist.LoadGreyTest(directory);
        return Enumerable.Range(0, images.Rows).Select(i => new DigitRow
        {
            Pixels = images.Row(i).ToArray().Select(v => v >= 0.5f ? 1f : 0f).ToArray(),
            Digit = labels[i],
        }).ToArray();
    }

    /// <summary>
    /// <paramref name="perDigit"/> images of each digit for training (the first of each, in file order), the rest for
    /// evaluation: a labelled set spread evenly over the digits.
    /// </summary>
    public static (DigitRow[] Train, DigitRow[] Others) EvenSplit(DigitRow[] rows, int perDigit)
    {
        var taken = new int[10];
        var train = new List<DigitRow>();
        var rest = new List<DigitRow>();
        foreach (DigitRow row in rows)
        {
            if (taken[row.Digit] < perDigit) { taken[row.Digit]++; train.Add(row); }
            else rest.Add(row);
        }
        return (train.ToArray(), rest.ToArray());
    }
}
