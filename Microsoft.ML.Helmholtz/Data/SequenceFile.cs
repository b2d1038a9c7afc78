using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Data;

/// <summary>
/// Writes and reads a <see cref="SequenceSet"/> as an IDX file of big-endian float32 values
/// (type byte 0x0D) with four dimensions: sequences, frames, height, width. As with
/// <see cref="IdxWriter"/>, the writer compresses with gzip when asked and the reader recognises
/// gzip by its magic bytes, whatever the file is called. Writes are atomic: a failed write leaves
/// any earlier file unchanged and nothing partial. Every defect of a file read (wrong magic, type
/// or dimension count, absurd sizes, truncation, trailing bytes, corrupt gzip, values that are NaN
/// or infinite) throws an <see cref="InvalidDataException"/> whose message starts with the path.
/// </summary>
public static class SequenceFile
{
    /// <summary>The IDX type byte of big-endian IEEE 754 float32 values.</summary>
    public const byte FloatType = 0x0D;

    /// <summary>The dimension count: sequences, frames, height, width.</summary>
    public const int DimensionCount = 4;

    /// <summary>The first four bytes, read as a big-endian int: 0, 0, type, dimension count.</summary>
    public const int Magic = FloatType << 8 | DimensionCount;

    private const int HeaderBytes = 4 + 4 * DimensionCount;

    // Values converted to big-endian per write call: 256 KiB of buffer.
    private const int WriteChunk = 1 << 16;

    // Values read per call: a byte span of one chunk stays under int.MaxValue bytes.
    private const int ReadChunk = 1 << 28;

    /// <summary>Writes <paramref name="sequences"/> to <paramref name="path"/>, gzip-compressed when <paramref name="gzip"/> is set.</summary>
    /// <exception cref="ArgumentException">A value is NaN or infinite (the reader would reject the file).</exception>
    public static void Write(string path, SequenceSet sequences, bool gzip) => Write(path, sequences, gzip, createTemporary: null);

    /// <summary><see cref="Write(string, SequenceSet, bool)"/> with the temporary file opened by <paramref name="createTemporary"/> (fault injection in tests).</summary>
    internal static void Write(string path, SequenceSet sequences, bool gzip, Func<string, Stream>? createTemporary)
    {
        using AtomicFile.StagedFile staged = Stage(path, sequences, gzip, createTemporary);
        staged.Commit();
    }

    /// <summary>The file written beside <paramref name="path"/>, put in its place by <see cref="AtomicFile.StagedFile.Commit"/>.</summary>
    internal static AtomicFile.StagedFile Stage(string path, SequenceSet sequences, bool gzip, Func<string, Stream>? createTemporary)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(sequences);
        long bad = FirstNonFinite(sequences.Values);
        if (bad >= 0)
            throw new ArgumentException(
                $"sequences holds {Show(sequences.Values[bad])} at {Where(sequences, bad)}; a sequence file holds finite values only.", nameof(sequences));

        byte[] header = new byte[HeaderBytes];
        BinaryPrimitives.WriteInt32BigEndian(header, Magic);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), sequences.Count);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(8), sequences.Frames);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(12), sequences.Height);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(16), sequences.Width);
        return AtomicFile.Stage(path, "the sequence file", stream =>
        {
            if (!gzip)
            {
                WritePayload(stream, header, sequences.Values);
                return;
            }
            // Fastest: on bouncing-balls videos within 10% of the smallest size, at a third of Optimal's time.
            using var zip = new GZipStream(stream, CompressionLevel.Fastest, leaveOpen: true);
            WritePayload(zip, header, sequences.Values);
        }, createTemporary);
    }

    private static void WritePayload(Stream stream, byte[] header, float[] values)
    {
        stream.Write(header);
        int[] buffer = new int[Math.Min(WriteChunk, values.Length)];
        for (int start = 0; start < values.Length; start += buffer.Length)
        {
            int length = Math.Min(buffer.Length, values.Length - start);
            ReadOnlySpan<int> bits = MemoryMarshal.Cast<float, int>(values.AsSpan(start, length));
            if (BitConverter.IsLittleEndian)
                BinaryPrimitives.ReverseEndianness(bits, buffer.AsSpan(0, length));
            else
                bits.CopyTo(buffer);
            stream.Write(MemoryMarshal.AsBytes(buffer.AsSpan(0, length)));
        }
    }

    /// <summary>Reads a file written by <see cref="Write(string, SequenceSet, bool)"/> (or any 4-dimensional float32 IDX file), gzip-compressed or not.</summary>
    /// <exception cref="FileNotFoundException">There is no file at <paramref name="path"/>.</exception>
    /// <exception cref="InvalidDataException">The file is not a valid sequence file; the message says why.</exception>
    public static SequenceSet Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using Stream stream = IdxReader.Open(path, out long maxSize, out byte[]? compressed);

        Span<byte> header = stackalloc byte[HeaderBytes];
        int got = IdxReader.Read(stream, path, header);
        // The magic first: a file of another kind is better called that than truncated.
        if (got >= 4)
            CheckMagic(path, BinaryPrimitives.ReadInt32BigEndian(header));
        if (got < HeaderBytes)
            throw IdxReader.Bad(path, $"truncated: only {got} bytes, fewer than the {HeaderBytes}-byte sequence file header");
        int count = BinaryPrimitives.ReadInt32BigEndian(header[4..]);
        int frames = BinaryPrimitives.ReadInt32BigEndian(header[8..]);
        int height = BinaryPrimitives.ReadInt32BigEndian(header[12..]);
        int width = BinaryPrimitives.ReadInt32BigEndian(header[16..]);
        string shape = $"{count} sequences of {frames} frames of {height}×{width}";
        if (count < 0)
            throw IdxReader.Bad(path, $"negative count: header gives {shape}");
        if (frames <= 0 || height <= 0 || width <= 0)
            throw IdxReader.Bad(path, $"invalid dimensions: header gives {shape}; frames, height and width must be positive");
        // One factor at a time, stopping past the array limit, so no product overflows a long.
        long values = (long)height * width;
        if (values > Array.MaxLength || (values *= frames) > Array.MaxLength || (values *= count) > Array.MaxLength)
            throw IdxReader.Bad(path, $"absurd size: header promises {shape}, more float32 values than one array can hold");
        string what = $"{shape} float32 values ({4 * values} bytes)";
        if (4 * values > maxSize - HeaderBytes)
        {
            // Cannot possibly be there; count what is, for the message, without allocating.
            throw Truncated(path, what, IdxReader.CountRemaining(stream, path, long.MaxValue));
        }

        // A raw file holds what its size says; a gzip stream or a pipe only bounds what it yields, so its buffer grows
        // as the values arrive, and a small input promising gigabytes is called truncated having allocated about what it held.
        float[] data = new float[stream.CanSeek ? values : Math.Min(values, IdxReader.FirstChunk / sizeof(float))];
        Crc32? crc = null;
        if (compressed is not null)
        {
            crc = new Crc32();
            crc.Append(header);
        }
        for (int start = 0; start < values;)
        {
            if (start == data.Length)
                Array.Resize(ref data, (int)Math.Min(2L * data.Length, values));
            Span<byte> bytes = MemoryMarshal.AsBytes(data.AsSpan(start, Math.Min(ReadChunk, data.Length - start)));
            int read = IdxReader.Read(stream, path, bytes);
            if (read < bytes.Length)
                throw Truncated(path, what, 4L * start + read);
            crc?.Append(bytes);
            start += bytes.Length / sizeof(float);
        }
        long extra = IdxReader.CountRemaining(stream, path, IdxReader.TrailingCountCap);
        if (extra > 0)
            throw IdxReader.Bad(path, $"trailing garbage: {(extra >= IdxReader.TrailingCountCap ? "at least " : "")}{extra} bytes follow the {what} the header promises");
        if (compressed is not null)
            IdxReader.CheckGzipTrailer(path, compressed, crc!.GetCurrentHashAsUInt32(), HeaderBytes + 4 * values);

        if (BitConverter.IsLittleEndian)
        {
            Span<int> bits = MemoryMarshal.Cast<float, int>(data.AsSpan());
            BinaryPrimitives.ReverseEndianness(bits, bits);
        }
        var result = new SequenceSet(count, frames, height, width, data);
        long bad = FirstNonFinite(data);
        if (bad >= 0)
            throw IdxReader.Bad(path, $"invalid value: {Show(data[bad])} at {Where(result, bad)}; a sequence file holds finite values only");
        return result;
    }

    private static void CheckMagic(string path, int magic)
    {
        if (magic == Magic)
            return;
        if (IdxReader.IsGzipMagic(magic))
            throw IdxReader.Bad(path, $"wrong magic number 0x{magic:X8}, expected 0x{Magic:X8}: gzip data inside the gzip file (it was compressed twice)");
        if ((magic & unchecked((int)0xFFFF0000)) != 0)
            throw IdxReader.Bad(path, $"wrong magic number 0x{magic:X8}, expected 0x{Magic:X8} (an IDX file starts with two zero bytes)");
        int type = (magic >> 8) & 0xFF, dimensions = magic & 0xFF;
        if (type != FloatType)
            throw IdxReader.Bad(path, $"wrong type 0x{type:X2} ({TypeName(type)}), expected 0x{FloatType:X2} (float32) in magic number 0x{magic:X8}");
        throw IdxReader.Bad(path, $"wrong dimension count {dimensions}, expected {DimensionCount} (sequences, frames, height, width) in magic number 0x{magic:X8}");
    }

    private static string TypeName(int type) => type switch
    {
        0x08 => "unsigned byte",
        0x09 => "signed byte",
        0x0B => "int16",
        0x0C => "int32",
        0x0D => "float32",
        0x0E => "float64",
        _ => "not an IDX type",
    };

    private static InvalidDataException Truncated(string path, string what, long present) =>
        IdxReader.Bad(path, $"truncated: header promises {what} but only {present} bytes follow");

    /// <summary>The index of the first NaN or infinite value, or −1 when all are finite.</summary>
    private static long FirstNonFinite(float[] values)
    {
        // The vector check over big pieces; the scalar search only in a piece that fails it.
        const int piece = 1 << 16;
        for (int start = 0; start < values.Length; start += piece)
        {
            var span = values.AsSpan(start, Math.Min(piece, values.Length - start));
            if (Kernels.AllFinite(span))
                continue;
            for (int i = 0; i < span.Length; i++)
                if (!float.IsFinite(span[i]))
                    return start + i;
        }
        return -1;
    }

    private static string Show(float value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static string Where(SequenceSet set, long index)
    {
        long inSequence = index % set.ValuesPerSequence, inFrame = inSequence % set.ValuesPerFrame;
        return $"sequence {index / set.ValuesPerSequence}, frame {inSequence / set.ValuesPerFrame}, row {inFrame / set.Width}, column {inFrame % set.Width} (value {index})";
    }
}
