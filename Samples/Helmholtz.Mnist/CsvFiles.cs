using Microsoft.ML.Helmholtz.Data;
using CsvHelper;

/// <summary>CSV output of the sample, written whole or not at all.</summary>
internal static class CsvFiles
{
    /// <summary>
    /// Writes the header and the records as the library writes its own files (<c>AtomicFile</c>, compiled in): a reader never sees
    /// half a file, a link at the path is written where it leads, and a failure names <paramref name="what"/> and the path.
    /// </summary>
    public static void WriteAtomically(string path, string what, string[] header, IEnumerable<string[]> records)
        => AtomicFile.Write(path, what, stream =>
        {
            using var writer = new StreamWriter(stream, encoding: null, leaveOpen: true);
            using var csv = CsvWriter.Create(writer);
            csv.WriteHeader(header);
            foreach (string[] record in records) csv.WriteRecord(record);
        });
}
