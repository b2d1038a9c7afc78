namespace Microsoft.ML.Helmholtz.Data;

/// <summary>
/// Writes a file so that a failure at any point leaves an earlier file intact and nothing partial
/// behind: the content goes to a temporary file of its own beside the target, is flushed to disk,
/// then renamed over the target. Errors name the target. A target that is a symbolic link is written
/// where the link leads (the link stays a link), and an earlier file's permissions are kept (Unix).
/// What is at the path is replaced by a regular file whatever it was (a device or a named pipe too:
/// .NET does not tell them from files).
/// </summary>
internal static class AtomicFile
{
    public static Stream CreateTemporary(string path) => new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None);

    /// <param name="path">The target.</param>
    /// <param name="what">What is written, for the messages ("the model", "the ONNX model").</param>
    /// <param name="write">Writes the content.</param>
    /// <param name="createTemporary">Opens the temporary file (fault injection in tests).</param>
    public static void Write(string path, string what, Action<Stream> write, Func<string, Stream>? createTemporary = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = Path.GetFullPath(path);
        // The rename would replace a link by a file and leave the file it led to as it was.
        // LinkTarget first: ResolveLinkTarget throws for a path where nothing is yet.
        try
        {
            var info = new FileInfo(full);
            if (info.LinkTarget is not null && info.ResolveLinkTarget(returnFinalTarget: true) is { } target) full = target.FullName;
        }
        catch (IOException e)
        {
            // A loop of links, or one chain too long to follow.
            throw new IOException($"Could not save {what} to {full}: the symbolic link there cannot be followed: {e.Message} Any earlier file there is unchanged.", e);
        }
        if (Directory.Exists(full))
            throw new IOException($"Cannot save {what} to {full}: it is a directory; give the path of a file.");
        string directory = Path.GetDirectoryName(full) ?? throw new IOException($"Cannot save {what} to {full}: it has no directory.");
        if (!Directory.Exists(directory))
            throw new DirectoryNotFoundException($"Cannot save {what} to {full}: the directory {directory} does not exist.");
        string temporary = Path.Combine(directory, $".{TemporaryPrefix(Path.GetFileName(full))}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (Stream stream = (createTemporary ?? CreateTemporary)(temporary))
            {
                write(stream);
                if (stream is FileStream { CanWrite: true } file) file.Flush(flushToDisk: true);   // a writer that closed it has flushed it
            }
            KeepPermissions(full, temporary);
            File.Move(temporary, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            string reason = $"Could not save {what} to {full}: {e.Message} Any earlier file there is unchanged.";
            throw e is UnauthorizedAccessException ? new UnauthorizedAccessException(reason, e) : new IOException(reason, e);
        }
        finally
        {
            TryDelete(temporary);
        }
    }

    /// <summary>
    /// The target's name, cut to 200 UTF-8 bytes: with the dot, the GUID and ".tmp" (38 bytes) the temporary name stays within
    /// the 255 bytes a file name may have wherever the target's own name does.
    /// </summary>
    internal static string TemporaryPrefix(string name)
    {
        const int maxBytes = 200;
        if (System.Text.Encoding.UTF8.GetByteCount(name) <= maxBytes) return name;
        int length = name.Length;
        while (length > 0 && System.Text.Encoding.UTF8.GetByteCount(name.AsSpan(0, length)) > maxBytes) length--;
        if (length > 0 && char.IsHighSurrogate(name[length - 1])) length--;   // not half a character
        return name[..length];
    }

    /// <summary>The earlier file's permissions onto the new one (a 0600 file stayed private); where they cannot be set (another owner's file), the default.</summary>
    private static void KeepPermissions(string earlier, string temporary)
    {
        if (OperatingSystem.IsWindows() || !File.Exists(earlier)) return;
        try
        {
            File.SetUnixFileMode(temporary, File.GetUnixFileMode(earlier));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The write goes on: the new file has the default permissions, as every file written before this was kept.
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);   // no error when it does not exist
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Nothing more to do: the write itself has already succeeded or reported its failure.
        }
    }
}
