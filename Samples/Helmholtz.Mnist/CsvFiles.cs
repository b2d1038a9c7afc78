using CsvHelper;

/// <summary>CSV output of the sample, written whole or not at all.</summary>
internal static class CsvFiles
{
    /// <summary>Writes the header and the records to a temporary file beside <paramref name="path"/>, then moves it over the path: a reader never sees half a file.</summary>
    public static void WriteAtomically(string path, string[] header, IEnumerable<string[]> records)
    {
        string temporary = $"{path}.{Guid.NewGuid():N}.tmp";
        try
        {
            using (var writer = new StreamWriter(temporary))
            using (var csv = CsvWriter.Create(writer))
            {
                csv.WriteHeader(header);
                foreach (string[] record in records) csv.WriteRecord(record);
            }
            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }
}
