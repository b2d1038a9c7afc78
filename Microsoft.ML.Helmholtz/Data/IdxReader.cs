using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;

namespace Microsoft.ML.Helmholtz.Data;

/// <summary>
/// Reads IDX files (the MNIST distribution format), gzip-compressed or raw. Every defect of the
/// file (wrong magic, nonsense header, truncation, trailing bytes, corrupt gzip) throws an
/// <see cref="InvalidDataException"/> whose message starts with the file path and names the problem.
/// </summary>
public static class IdxReader
{
    /// <summary>Magic number of an IDX image file (unsigned bytes, three dimensions).</summary>
    public const int ImageMagic = 0x00000803;
    /// <summary>Magic number of an IDX label file (unsigned bytes, one dimension).</summary>
    public const int LabelMagic = 0x00000801;

    // Deflate expands at most ~1032:1. A header promising more than that from the compressed size
    // is certainly truncated, so we report it without allocating the promised buffer.
    private const long MaxDeflateRatio = 1032;

    // The first buffer for a stream that cannot say its length; it doubles as the bytes arrive.
    internal const int FirstChunk = 1 << 20;

    // How many trailing bytes we bother to count before saying "at least".
    internal const long TrailingCountCap = 1 << 20;

    /// <summary>Reads an IDX image file (magic 0x00000803: count, rows, columns, then pixels).</summary>
    public static IdxImages ReadImages(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using Stream stream = Open(path, out long maxSize, out byte[]? compressed);

        Span<byte> header = stackalloc byte[16];
        ReadHeader(stream, path, header, ImageMagic, "an IDX image file", "IDX image");
        int count = BinaryPrimitives.ReadInt32BigEndian(header[4..]);
        int rows = BinaryPrimitives.ReadInt32BigEndian(header[8..]);
        int cols = BinaryPrimitives.ReadInt32BigEndian(header[12..]);
        if (count < 0)
            throw Bad(path, $"negative count: header gives an image count of {count}");
        if (rows <= 0 || cols <= 0)
            throw Bad(path, $"invalid dimensions: header gives images of {rows}×{cols}");

        // rows*cols < 2^62 and count < 2^31 keep these products inside a long.
        long perImage = (long)rows * cols;
        if (perImage > Array.MaxLength)
            throw Bad(path, $"images of {rows}×{cols} have more pixels than one array can hold ({Array.MaxLength:N0})");
        long promised = count * perImage;
        string what = $"{count} images of {rows}×{cols} ({promised} bytes)";
        byte[] pixels = ReadPayload(stream, path, promised, maxSize - header.Length, what);
        CheckGzipTrailer(path, compressed, header, pixels);
        return new IdxImages(count, rows, cols, pixels);
    }

    /// <summary>Reads an IDX label file (magic 0x00000801: count, then one byte per label).</summary>
    public static byte[] ReadLabels(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using Stream stream = Open(path, out long maxSize, out byte[]? compressed);

        Span<byte> header = stackalloc byte[8];
        ReadHeader(stream, path, header, LabelMagic, "an IDX label file", "IDX label");
        int count = BinaryPrimitives.ReadInt32BigEndian(header[4..]);
        if (count < 0)
            throw Bad(path, $"negative count: header gives a label count of {count}");
        byte[] labels = ReadPayload(stream, path, count, maxSize - header.Length, $"{count} labels ({count} bytes)");
        CheckGzipTrailer(path, compressed, header, labels);
        return labels;
    }

    /// <summary>
    /// Opens the file as a stream of IDX bytes, decompressing when it starts with the gzip magic.
    /// <paramref name="maxSize"/> bounds how many IDX bytes the stream can possibly yield.
    /// </summary>
    internal static Stream Open(string path, out long maxSize, out byte[]? compressed)
    {
        if (Directory.Exists(path))
            throw new FileNotFoundException($"{path}: is a directory, not a file.", path);
        if (!File.Exists(path))
            throw new FileNotFoundException($"{path}: file not found.", path);

        // Unbuffered: the payload is fetched by one large read straight into the result array.
        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0,
            FileOptions.SequentialScan);
        try
        {
            if (!file.CanSeek)
                return OpenUnseekable(file, path, out maxSize, out compressed);
            Span<byte> magic = stackalloc byte[2];
            int got = file.ReadAtLeast(magic, 2, throwOnEndOfStream: false);
            file.Position = 0;
            if (got == 2 && magic[0] == 0x1f && magic[1] == 0x8b)
            {
                // Compressed files are small: slurp them in one read and inflate from memory. One array holds
                // the file, so a larger one is named here rather than failing as an overflow or out of memory.
                if (file.Length > Array.MaxLength)
                    throw Bad(path, $"a gzip file of {file.Length} bytes is larger than this reader takes into memory ({Array.MaxLength} bytes); store it uncompressed: a raw file is read without that copy");
                compressed = new byte[file.Length];
                file.ReadExactly(compressed);
                file.Dispose();
                maxSize = compressed.LongLength * MaxDeflateRatio + 1024;
                return new GZipStream(new MemoryStream(compressed, writable: false), CompressionMode.Decompress);
            }
            maxSize = file.Length;
            compressed = null;
            return file;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A pipe, a FIFO or a character device (<c>&lt;(zcat …)</c>, <c>/dev/stdin</c>) can neither go back after the
    /// gzip magic is peeked at nor say its length. Compressed input is read whole, as a file's is, growing its
    /// buffer as the bytes arrive; raw input is read as a stream that first gives back the peeked bytes, with no
    /// bound on its size, so the payload's buffer grows as it arrives too.
    /// </summary>
    private static Stream OpenUnseekable(FileStream file, string path, out long maxSize, out byte[]? compressed)
    {
        byte[] start = new byte[2];
        int got = file.ReadAtLeast(start, 2, throwOnEndOfStream: false);
        if (got == 2 && start[0] == 0x1f && start[1] == 0x8b)
        {
            byte[] all = new byte[FirstChunk];
            start.CopyTo(all, 0);
            int length = 2;
            while (true)
            {
                length += file.ReadAtLeast(all.AsSpan(length), all.Length - length, throwOnEndOfStream: false);
                if (length < all.Length)
                    break;
                if (all.Length == Array.MaxLength)
                    throw Bad(path, $"the gzip input is larger than this reader takes into memory ({Array.MaxLength} bytes); store it uncompressed: raw input is read without that copy");
                Array.Resize(ref all, (int)Math.Min(2L * all.Length, Array.MaxLength));
            }
            file.Dispose();
            Array.Resize(ref all, length);
            compressed = all;
            maxSize = compressed.LongLength * MaxDeflateRatio + 1024;
            return new GZipStream(new MemoryStream(compressed, writable: false), CompressionMode.Decompress);
        }
        maxSize = long.MaxValue;
        compressed = null;
        return new PeekedStream(start.AsMemory(0, got), file);
    }

    /// <summary>A forward-only stream that gives back bytes already read from its source before reading on.</summary>
    private sealed class PeekedStream(ReadOnlyMemory<byte> peeked, Stream source) : Stream
    {
        private ReadOnlyMemory<byte> _peeked = peeked;

        public override int Read(Span<byte> buffer)
        {
            if (_peeked.IsEmpty)
                return source.Read(buffer);
            int n = Math.Min(buffer.Length, _peeked.Length);
            _peeked.Span[..n].CopyTo(buffer);
            _peeked = _peeked[n..];
            return n;
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
                source.Dispose();
            base.Dispose(disposing);
        }
    }

    /// <summary>
    /// A gzip member ends with an 8-byte trailer: the CRC-32 and the size (mod 2³²) of its
    /// decompressed bytes. GZipStream neither requires it nor reports bytes after it, so both are
    /// checked here: the trailer of exactly these bytes must end the file. Found earlier, what
    /// follows it is trailing garbage; not found, the file was cut short or damaged. (A multi-member
    /// gzip also fails this check; such files are rejected rather than risk garbage.)
    /// </summary>
    private static void CheckGzipTrailer(string path, byte[]? compressed, ReadOnlySpan<byte> header, ReadOnlySpan<byte> payload)
    {
        if (compressed is null)
            return;
        var crc = new Crc32();
        crc.Append(header);
        crc.Append(payload);
        CheckGzipTrailer(path, compressed, crc.GetCurrentHashAsUInt32(), header.Length + (long)payload.Length);
    }

    /// <summary>
    /// The trailer check for a reader that hashed the decompressed bytes itself as it read them:
    /// <paramref name="crc"/> is their CRC-32 and <paramref name="size"/> their count.
    /// </summary>
    internal static void CheckGzipTrailer(string path, byte[] compressed, uint crc, long size)
    {
        Span<byte> trailer = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(trailer, crc);
        BinaryPrimitives.WriteUInt32LittleEndian(trailer[4..], (uint)size);
        if (compressed.AsSpan().EndsWith(trailer))
            return;
        int at = compressed.AsSpan().LastIndexOf(trailer);
        if (at >= 0)
            throw Bad(path, $"trailing garbage after the gzip data: {compressed.Length - at - trailer.Length} bytes follow its trailer (multi-member gzip is not supported)");
        throw Bad(path, $"truncated or damaged gzip data: the file does not end with the gzip trailer of its {size} decompressed bytes (CRC-32 and size): it was cut short, " +
            "or it holds several gzip members (concatenated files, bgzip), which are not read: decompress it and compress it again with gzip");
    }

    /// <summary>Reads the header, its magic checked first: a file of the other kind, or no IDX file, shorter than this header is called that, not truncated.</summary>
    private static void ReadHeader(Stream stream, string path, Span<byte> header, int magic, string fileKind, string kind)
    {
        int got = Read(stream, path, header);
        if (got >= 4)
            CheckMagic(path, header, magic, fileKind);
        if (got < header.Length)
            throw Bad(path, $"truncated: only {got} bytes, fewer than the {header.Length}-byte {kind} header");
    }

    private static void CheckMagic(string path, ReadOnlySpan<byte> header, int expected, string kind)
    {
        int magic = BinaryPrimitives.ReadInt32BigEndian(header);
        if (magic == expected)
            return;
        string hint = magic switch
        {
            ImageMagic => " (this is an IDX image file)",
            LabelMagic => " (this is an IDX label file)",
            _ when IsGzipMagic(magic) => " (gzip data inside the gzip file: it was compressed twice)",
            _ => "",
        };
        throw Bad(path, $"wrong magic number 0x{magic:X8}, expected 0x{expected:X8} for {kind}{hint}");
    }

    /// <summary>Whether the first four bytes, read as a big-endian int, start with the gzip magic: what a file compressed twice holds.</summary>
    internal static bool IsGzipMagic(int magic) => (magic >>> 16) == 0x1F8B;

    /// <summary>
    /// Reads exactly <paramref name="promised"/> bytes and checks that nothing follows them.
    /// </summary>
    private static byte[] ReadPayload(Stream stream, string path, long promised, long maxAvailable, string what)
    {
        if (promised > Array.MaxLength)
            throw Bad(path, $"absurd count: header promises {what}, more than one array can hold");
        if (promised > maxAvailable)
        {
            // Cannot possibly be there; count what is, for the message, without allocating.
            long present = CountRemaining(stream, path, long.MaxValue);
            throw Truncated(path, what, present);
        }

        // A raw file holds what its size says, so the payload is read at once. A gzip stream can only bound what it
        // yields (by the deflate ratio), so its buffer grows as the bytes arrive: a small file whose header promises
        // gigabytes is called truncated having allocated about what it held.
        byte[] data = new byte[stream.CanSeek ? promised : Math.Min(promised, FirstChunk)];
        int got = 0;
        while (true)
        {
            got += Read(stream, path, data.AsSpan(got));
            if (got < data.Length)
                throw Truncated(path, what, got);
            if (got == promised)
                break;
            Array.Resize(ref data, (int)Math.Min(2L * data.Length, promised));
        }

        long extra = CountRemaining(stream, path, TrailingCountCap);
        if (extra > 0)
            throw Bad(path, $"trailing garbage: {(extra >= TrailingCountCap ? "at least " : "")}{extra} bytes follow the {what} the header promises");
        return data;
    }

    private static InvalidDataException Truncated(string path, string what, long present) =>
        Bad(path, $"truncated: header promises {what} but only {present} bytes follow");

    /// <summary>Reads until <paramref name="buffer"/> is full or the stream ends.</summary>
    internal static int Read(Stream stream, string path, Span<byte> buffer)
    {
        try
        {
            return stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        }
        catch (InvalidDataException e)
        {
            throw Bad(path, $"corrupt gzip data: {e.Message}", e);
        }
    }

    /// <summary>Counts the bytes left in the stream, stopping at <paramref name="cap"/>.</summary>
    internal static long CountRemaining(Stream stream, string path, long cap)
    {
        byte[] scratch = new byte[64 * 1024];
        long total = 0;
        while (total < cap)
        {
            int got = Read(stream, path, scratch);
            total += got;
            if (got < scratch.Length)
                break;
        }
        return Math.Min(total, cap);
    }

    internal static InvalidDataException Bad(string path, string problem, Exception? inner = null) =>
        new($"{path}: {problem}.", inner);
}
