using CsvHelper;
using Helmholtz.Samples;

/// <summary>CSV output of the sample, written whole or not at all.</summary>
internal static class CsvFiles
{
    /// <summary>Writes the header and the records through <see cref="SampleConsole.WriteAtomically"/>: a reader never sees half a file.</summary>
    public static void WriteAtomically(string path, string what, string[] header, IEnumerable<string[]> records)
        => SampleConsole.WriteAtomically(path, what, stream =>
        {
            using var writer = new StreamWriter(stream, encoding: null, leaveOpen: true);
            using var csv = CsvWriter.Create(writer);
            csv.WriteHeader(header);
            foreach (string[] record in records) csv.WriteRecord(record);
        });
}
