using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;

namespace Microsoft.ML.Helmholtz.Data;

/// <summary>
/// The framing the library's own binary files share (the model file, the training state):
/// <code>
/// magic · int32 version · int64 payload length N · payload (N bytes) · uint32 CRC-32 (IEEE) of the payload · end of file
/// </code>
/// Reading is strict: a file that ends early (even inside the magic), a length out of range, a checksum
/// that does not match and bytes after the end are each an <see cref="InvalidDataException"/> that says so.
/// Numbers are little-endian.
/// </summary>
internal static class ChecksummedFile
{
    public static void Write(Stream stream, ReadOnlySpan<byte> magic, int version, ReadOnlySpan<byte> payload)
    {
        Span<byte> header = stackalloc byte[magic.Length + 4 + 8];
        magic.CopyTo(header);
        BinaryPrimitives.WriteInt32LittleEndian(header[magic.Length..], version);
        BinaryPrimitives.WriteInt64LittleEndian(header[(magic.Length + 4)..], payload.Length);
        stream.Write(header);
        stream.Write(payload);
        Span<byte> checksum = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(checksum, Crc32.HashToUInt32(payload));
        stream.Write(checksum);
    }

    /// <summary>Reads the magic (<paramref name="kind"/> names the file for the message when it differs) and returns the version after it.</summary>
    public static int ReadVersion(Stream stream, ReadOnlySpan<byte> magic, string kind)
    {
        Span<byte> got = stackalloc byte[magic.Length];
        int count = stream.ReadAtLeast(got, magic.Length, throwOnEndOfStream: false);
        if (!got[..count].SequenceEqual(magic[..count]))
            throw new InvalidDataException($"not a {kind} file (wrong magic: it does not start with \"{System.Text.Encoding.UTF8.GetString(magic).TrimEnd('\n')}\").");
        if (count < magic.Length)
            throw new InvalidDataException($"the file is truncated: it ends after {count} bytes, inside the {magic.Length}-byte magic.");
        return BinaryPrimitives.ReadInt32LittleEndian(ReadExactly(stream, 4, "the format version"));
    }

    /// <summary>Reads the payload after the version, checks its checksum and that nothing follows; <paramref name="what"/> names its content for the messages.</summary>
    public static byte[] ReadPayload(Stream stream, long maxPayload, string what)
    {
        long length = BinaryPrimitives.ReadInt64LittleEndian(ReadExactly(stream, 8, "the payload length"));
        if (length <= 0 || length > Math.Min(maxPayload, Array.MaxLength))
            throw new InvalidDataException($"the header gives a payload of {length} bytes, outside 1 to {Math.Min(maxPayload, Array.MaxLength)} (the most {what} a file may hold).");
        if (stream.CanSeek && stream.Length - stream.Position < length + 4)
            throw new InvalidDataException($"the file is truncated: the header promises {length} bytes of {what} and a 4-byte checksum, but only {stream.Length - stream.Position} bytes follow.");
        byte[] payload = ReadExactly(stream, (int)length, "the " + what);
        uint stored = BinaryPrimitives.ReadUInt32LittleEndian(ReadExactly(stream, 4, "the checksum"));
        uint computed = Crc32.HashToUInt32(payload);
        if (stored != computed)
            throw new InvalidDataException($"the checksum does not match (stored CRC-32 0x{stored:X8}, computed 0x{computed:X8}): the file is damaged.");
        return payload;
    }

    /// <summary>Throws when bytes follow what was read (the file was damaged or written by something else).</summary>
    public static void EnsureEnd(Stream stream, string what)
    {
        long trailing = CountRemaining(stream);
        if (trailing > 0)
            throw new InvalidDataException($"{(!stream.CanSeek && trailing >= IdxReader.TrailingCountCap ? "at least " : "")}{trailing} unexpected byte{(trailing == 1 ? " follows" : "s follow")} the end of {what} (the file was damaged or written by something else).");
    }

    /// <summary>
    /// Reads <paramref name="count"/> bytes. A stream that can say what it holds and holds them is read at once;
    /// any other grows its buffer as the bytes arrive (from 1 MiB, doubling), so a short stream that declares
    /// gigabytes is called truncated having allocated about what it held.
    /// </summary>
    public static byte[] ReadExactly(Stream stream, int count, string what)
    {
        bool present = stream.CanSeek && count <= stream.Length - stream.Position;
        byte[] buffer = new byte[present ? count : Math.Min(count, FirstChunk)];
        int got = 0;
        while (true)
        {
            got += stream.ReadAtLeast(buffer.AsSpan(got), buffer.Length - got, throwOnEndOfStream: false);
            if (got < buffer.Length)
                throw new InvalidDataException($"the file is truncated: it ends {(got == 0 ? "before" : "inside")} {what} ({got} of {count} bytes).");
            if (got == count) return buffer;
            Array.Resize(ref buffer, (int)Math.Min(2L * buffer.Length, count));
        }
    }

    private const int FirstChunk = 1 << 20;

    /// <summary>
    /// A string as <see cref="BinaryWriter.Write(string)"/> writes it (7-bit encoded length, UTF-8), of at most
    /// <paramref name="maxBytes"/> bytes. A length that is malformed, negative or too long is an
    /// <see cref="InvalidDataException"/> naming <paramref name="what"/> (<see cref="BinaryReader.ReadString"/> throws
    /// <see cref="FormatException"/> or <see cref="IOException"/> for those); the end of the stream is an <see cref="EndOfStreamException"/>.
    /// </summary>
    public static string ReadString(BinaryReader reader, string what, int maxBytes = 1 << 20)
    {
        int length;
        try
        {
            length = reader.Read7BitEncodedInt();
        }
        catch (FormatException)
        {
            throw new InvalidDataException($"the length of {what} is malformed (a 7-bit encoded integer longer than 5 bytes).");
        }
        if (length < 0 || length > maxBytes)
            throw new InvalidDataException($"{what} has a length of {length} bytes, outside 0 to {maxBytes}.");
        byte[] bytes = reader.ReadBytes(length);
        if (bytes.Length < length) throw new EndOfStreamException();
        return Encoding.UTF8.GetString(bytes);
    }

    /// <summary>The bytes left; a stream that cannot say is counted only up to <see cref="IdxReader.TrailingCountCap"/> (as the data files' trailing bytes are), so one that never ends is refused, not read forever.</summary>
    private static long CountRemaining(Stream stream)
    {
        if (stream.CanSeek) return Math.Max(0, stream.Length - stream.Position);
        Span<byte> scratch = stackalloc byte[4096];
        long total = 0;
        int got;
        while (total < IdxReader.TrailingCountCap && (got = stream.Read(scratch)) > 0) total += got;
        return Math.Min(total, IdxReader.TrailingCountCap);
    }
}
