using System.Runtime.InteropServices;

namespace Microsoft.ML.Helmholtz.Tests.Support;

/// <summary>
/// A named pipe (FIFO) that a background writer feeds with given bytes, for readers that must take input they cannot
/// seek in or ask the length of, as <c>&lt;(zcat file)</c> or <c>/dev/stdin</c> give them. Linux only.
/// </summary>
internal static class Fifo
{
    [DllImport("libc", EntryPoint = "mkfifo", SetLastError = true)]
    private static extern int MakeFifo(string path, uint mode);

    /// <summary>Makes a FIFO at <paramref name="path"/> (mode 0600).</summary>
    public static void Make(string path)
    {
        if (MakeFifo(path, 0b110_000_000) != 0)
            throw new IOException($"mkfifo {path}: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>Runs <paramref name="read"/> on a FIFO made at <paramref name="path"/> through which <paramref name="bytes"/> arrive.</summary>
    public static T Read<T>(string path, byte[] bytes, Func<string, T> read)
    {
        Make(path);
        var writer = Task.Run(() =>
        {
            using var pipe = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, bufferSize: 0);
            try
            {
                pipe.Write(bytes);
            }
            catch (IOException)
            {
                // The reader stopped before the end (trailing bytes past the ones it counts): a broken pipe.
            }
        });
        try
        {
            return read(path);
        }
        finally
        {
            // A reader that failed before it opened the FIFO leaves the writer waiting for one: open it here.
            if (!writer.Wait(TimeSpan.FromMilliseconds(200)))
            {
                using (var drain = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 0))
                    drain.CopyTo(Stream.Null);
                writer.Wait();
            }
        }
    }
}
