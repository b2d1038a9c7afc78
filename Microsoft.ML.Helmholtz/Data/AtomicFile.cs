using System.Runtime.InteropServices;

namespace Microsoft.ML.Helmholtz.Data;

/// <summary>
/// Writes a file so that a failure at any point leaves an earlier file intact and nothing partial
/// behind: the content goes to a temporary file of its own beside the target, is flushed to disk,
/// then renamed over the target. Errors name the target. A target that is a symbolic link is written
/// where the link leads (the link stays a link), and an earlier file's permissions are kept (Unix).
/// A device or a named pipe at the path (Linux) is written into as a shell's <c>&gt;</c> writes it, not
/// replaced by a file: no temporary file, no atomicity (a FIFO waits for its reader).
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
        using StagedFile staged = Stage(path, what, write, createTemporary);
        staged.Commit();
    }

    /// <summary>
    /// The first half of <see cref="Write"/>: the content written in full to a temporary file beside the target and flushed,
    /// the target untouched until <see cref="StagedFile.Commit"/>. Files that belong together are all staged before any is
    /// committed, so that a failure while writing any of them leaves every earlier file as it was.
    /// </summary>
    public static StagedFile Stage(string path, string what, Action<Stream> write, Func<string, Stream>? createTemporary = null)
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
        if (IsSpecialFile(full))
        {
            WriteInto(full, what, write);
            return new StagedFile(full, what, temporary: null);
        }
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
            return new StagedFile(full, what, temporary);
        }
        catch (Exception e)
        {
            TryDelete(temporary);
            if (e is IOException or UnauthorizedAccessException) throw Failure(full, what, e);
            throw;
        }
    }

    private static Exception Failure(string full, string what, Exception e)
    {
        string reason = $"Could not save {what} to {full}: {e.Message} Any earlier file there is unchanged.";
        return e is UnauthorizedAccessException ? new UnauthorizedAccessException(reason, e) : new IOException(reason, e);
    }

    /// <summary>
    /// A file written beside its target and not yet in its place: <see cref="Commit"/> renames it over the target; disposed
    /// uncommitted (or after a failed commit), the temporary file is deleted and the target stays as it was. Not for use from
    /// several threads.
    /// </summary>
    public sealed class StagedFile : IDisposable
    {
        private readonly string _target, _what;
        private string? _temporary;   // null once committed or deleted, or for a device written into

        internal StagedFile(string target, string what, string? temporary) => (_target, _what, _temporary) = (target, what, temporary);

        /// <summary>Puts the file in its place (a rename within its directory); a second call does nothing.</summary>
        public void Commit()
        {
            if (_temporary is not { } temporary) return;
            try
            {
                KeepPermissions(_target, temporary);
                File.Move(temporary, _target, overwrite: true);
                _temporary = null;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw Failure(_target, _what, e);
            }
        }

        public void Dispose()
        {
            if (_temporary is not { } temporary) return;
            _temporary = null;
            TryDelete(temporary);
        }
    }

    /// <summary>A device or FIFO written straight into: the rename would replace it with a file (/dev/null, as root, was).</summary>
    private static void WriteInto(string path, string what, Action<Stream> write)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, bufferSize: 0);
            write(stream);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            string reason = $"Could not save {what} to {path} (a device or a named pipe, written into): {e.Message}";
            throw e is UnauthorizedAccessException ? new UnauthorizedAccessException(reason, e) : new IOException(reason, e);
        }
    }

    /// <summary>
    /// Whether what is at <paramref name="path"/> (links followed) is neither a regular file nor a directory: a character or
    /// block device, a FIFO, a socket. .NET's file APIs do not tell these from files; Linux's statx does (its stx_mode, at the
    /// same offset on every architecture). False where nothing is there, off Linux, or where statx cannot be called.
    /// </summary>
    internal static bool IsSpecialFile(string path)
    {
        if (!OperatingSystem.IsLinux()) return false;
        const int currentDirectory = -100;   // AT_FDCWD
        const uint typeWanted = 0x1;          // STATX_TYPE
        byte[] buffer = new byte[256];        // struct statx
        try
        {
            if (Native.statx(currentDirectory, path, 0, typeWanted, buffer) != 0) return false;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;   // a C library without statx (glibc before 2.28): the rename, as before
        }
        if ((BitConverter.ToUInt32(buffer, 0) & typeWanted) == 0) return false;   // stx_mask
        int type = BitConverter.ToUInt16(buffer, 28) & 0xF000;                   // stx_mode & S_IFMT
        return type is not (0x8000 or 0x4000);        // S_IFREG, S_IFDIR
    }

    private static class Native
    {
        [DllImport("libc", SetLastError = true)]
        public static extern int statx(int directory, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, [Out] byte[] buffer);
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
