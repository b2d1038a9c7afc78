using System.Globalization;
using CsvHelper;

/// <summary>
/// A run's estimate of ln p for each image it scored, kept beside its model so that two runs can be
/// compared image by image (--compare): which split, which rows of it, and the estimates.
/// </summary>
internal sealed class ImageScores(string split, int[] rows, double[] logLikelihoods, string? source = null)
{
    private static readonly string[] Header = ["split", "row", "log_likelihood"];

    public string Split { get; } = split;
    public int[] Rows { get; } = rows;
    public double[] LogLikelihoods { get; } = logLikelihoods;

    /// <summary>The file these were read from, for errors.</summary>
    public string? Source { get; } = source;

    public void Write(string path) => CsvFiles.WriteAtomically(path, "the scores", Header, Rows.Select((row, i) => new[]
    {
        Split, row.ToString(CultureInfo.InvariantCulture), LogLikelihoods[i].ToString("R", CultureInfo.InvariantCulture),
    }));

    /// <summary>Reads a file that <see cref="Write"/> wrote; anything else is an <see cref="InvalidDataException"/> naming the file and the record.</summary>
    public static ImageScores Read(string path)
    {
        var rows = new List<int>();
        var values = new List<double>();
        string? split = null;
        if (!File.Exists(path)) throw new FileNotFoundException($"--compare {path}: no such file.", path);
        using var reader = new StreamReader(path);
        using var csv = CsvReader.Create(reader);
        try
        {
            if (!csv.Headers.SequenceEqual(Header))
                throw new InvalidDataException($"its header is '{string.Join(",", csv.Headers)}', not '{string.Join(",", Header)}'");
            while (csv.Read())
            {
                string line = $"record {rows.Count + 1}";
                string recordSplit = csv.GetString(0);
                if (split is not null && recordSplit != split) throw new InvalidDataException($"{line} is of the split '{recordSplit}', the records before of '{split}'");
                split = recordSplit;
                int row = csv.Parse<int>(1);
                double value = csv.Parse<double>(2);
                if (row < 0 || (rows.Count > 0 && row <= rows[^1])) throw new InvalidDataException($"{line} has the row {row}: the rows must rise from 0");
                if (!double.IsFinite(value)) throw new InvalidDataException($"{line} has the estimate {value}");
                rows.Add(row);
                values.Add(value);
            }
        }
        catch (Exception e) when (e is FormatException or OverflowException or IndexOutOfRangeException or CsvFormatException or InvalidDataException)
        {
            throw new InvalidDataException($"--compare {path} is not a file of image estimates written by this sample: {e.Message}.", e);
        }
        if (split is null) throw new InvalidDataException($"--compare {path} holds no image estimates.");
        return new ImageScores(split, [.. rows], [.. values], path);
    }

    /// <summary>Throws unless these are estimates for exactly <paramref name="rows"/> of <paramref name="split"/>.</summary>
    public void CheckSameImages(string split, int[] rows)
    {
        if (split != Split || !rows.AsSpan().SequenceEqual(Rows))
            throw new ArgumentException($"--compare {Source} holds the estimates of {Rows.Length} images of the {Split} split, but this run scores " +
                                        $"{rows.Length} images of the {split} split{(split == Split && rows.Length == Rows.Length ? " at other rows" : "")}: " +
                                        "give it the --score and --test-limit of the run that wrote the file.");
    }
}
