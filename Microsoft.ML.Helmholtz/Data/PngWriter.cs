using System.Buffers.Binary;
using System.IO.Compression;

namespace Microsoft.ML.Helmholtz.Data;

/// <summary>
/// A minimal PNG encoder for 8-bit greyscale images (colour type 0, no interlace, filter 0 on every
/// row), for looking at frames and samples; and <see cref="Tile"/>, which lays frames out in a grid.
/// </summary>
public static class PngWriter
{
    /// <summary>The eight bytes every PNG file starts with.</summary>
    public static ReadOnlySpan<byte> Signature => [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>
    /// Writes a <paramref name="width"/>×<paramref name="height"/> greyscale PNG to <paramref name="path"/>,
    /// atomically. Pixel (i, j) is <c>pixels[i · width + j]</c>; a value v becomes the grey level
    /// round(255 · clamp(v, 0, 1)), so 0 is black and 1 white.
    /// </summary>
    /// <exception cref="ArgumentException">The sizes do not match, or a pixel is NaN.</exception>
    public static void WriteGreyscale(string path, ReadOnlySpan<float> pixels, int width, int height)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        byte[] grey = ToGrey(pixels, width, height);
        AtomicFile.Write(path, "the PNG image", stream => Encode(stream, grey, width, height));
    }

    /// <summary>Writes the PNG of <see cref="WriteGreyscale(string, ReadOnlySpan{float}, int, int)"/> to <paramref name="stream"/>, left open.</summary>
    public static void WriteGreyscale(Stream stream, ReadOnlySpan<float> pixels, int width, int height)
    {
        ArgumentNullException.ThrowIfNull(stream);
        Encode(stream, ToGrey(pixels, width, height), width, height);
    }

    private static byte[] ToGrey(ReadOnlySpan<float> pixels, int width, int height)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        if (pixels.Length != (long)width * height)
            throw new ArgumentException($"pixels has {pixels.Length} values; a {width}×{height} image needs {(long)width * height}.", nameof(pixels));
        byte[] grey = new byte[pixels.Length];
        for (int k = 0; k < pixels.Length; k++)
        {
            float v = pixels[k];
            if (float.IsNaN(v))
                throw new ArgumentException($"pixels[{k}] (row {k / width}, column {k % width}) is NaN; a grey level needs a number.", nameof(pixels));
            grey[k] = (byte)(Math.Clamp(v, 0f, 1f) * 255f + 0.5f);
        }
        return grey;
    }

    private static void Encode(Stream stream, byte[] grey, int width, int height)
    {
        stream.Write(Signature);

        Span<byte> header = stackalloc byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, width);
        BinaryPrimitives.WriteInt32BigEndian(header[4..], height);
        header[8] = 8;   // bit depth
        header[9] = 0;   // colour type: greyscale
        header[10] = 0;  // compression: deflate
        header[11] = 0;  // filter method: adaptive, with filter type 0 (none) on every row
        header[12] = 0;  // no interlace
        WriteChunk(stream, "IHDR"u8, header);

        // Each row is a filter-type byte (0: none) and then its pixels, all zlib-compressed together.
        using var compressed = new MemoryStream();
        using (var zlib = new ZLibStream(compressed, CompressionLevel.Optimal, leaveOpen: true))
        {
            byte[] row = new byte[1 + width];
            for (int i = 0; i < height; i++)
            {
                grey.AsSpan(i * width, width).CopyTo(row.AsSpan(1));
                zlib.Write(row);
            }
        }
        WriteChunk(stream, "IDAT"u8, compressed.GetBuffer().AsSpan(0, (int)compressed.Length));
        WriteChunk(stream, "IEND"u8, []);
    }

    /// <summary>A chunk: data length (big-endian), type, data, and the CRC-32 of type and data.</summary>
    private static void WriteChunk(Stream stream, ReadOnlySpan<byte> type, ReadOnlySpan<byte> data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        stream.Write(word);
        stream.Write(type);
        stream.Write(data);
        BinaryPrimitives.WriteUInt32BigEndian(word, Crc32.Finish(Crc32.Update(Crc32.Update(Crc32.Start, type), data)));
        stream.Write(word);
    }

    /// <summary>
    /// Lays out frames of <paramref name="frameWidth"/>×<paramref name="frameHeight"/> in a grid of
    /// <paramref name="rows"/>×<paramref name="columns"/>, <paramref name="gap"/> pixels of <paramref name="gapValue"/>
    /// between neighbours: frame k goes to grid row k / columns, column k % columns. The result is an
    /// image of <see cref="TiledSize"/>, row by row; cells beyond the last frame are <paramref name="gapValue"/>.
    /// </summary>
    public static float[] Tile(ReadOnlySpan<float> frames, int frameWidth, int frameHeight, int rows, int columns, int gap, float gapValue)
    {
        var (width, height) = TiledSize(frameWidth, frameHeight, rows, columns, gap);
        int perFrame = frameWidth * frameHeight;
        if (frames.Length % perFrame != 0)
            throw new ArgumentException($"frames has {frames.Length} values, not a whole number of {frameWidth}×{frameHeight} frames.", nameof(frames));
        int count = frames.Length / perFrame;
        if (count > rows * columns)
            throw new ArgumentException($"frames holds {count} frames, more than the {rows}×{columns} grid has room for.", nameof(frames));

        float[] image = new float[(long)width * height];
        image.AsSpan().Fill(gapValue);
        for (int k = 0; k < count; k++)
        {
            int top = k / columns * (frameHeight + gap), left = k % columns * (frameWidth + gap);
            for (int i = 0; i < frameHeight; i++)
                frames.Slice(k * perFrame + i * frameWidth, frameWidth).CopyTo(image.AsSpan((top + i) * width + left, frameWidth));
        }
        return image;
    }

    /// <summary>The width and height of the image <see cref="Tile"/> makes.</summary>
    public static (int Width, int Height) TiledSize(int frameWidth, int frameHeight, int rows, int columns, int gap)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(frameWidth);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(frameHeight);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(columns);
        ArgumentOutOfRangeException.ThrowIfNegative(gap);
        long width = (long)columns * frameWidth + (long)(columns - 1) * gap, height = (long)rows * frameHeight + (long)(rows - 1) * gap;
        // Each side first: two sides past int multiply past long (2³² × 2³² wrapped to 0).
        if (width > Array.MaxLength || height > Array.MaxLength || width * height > Array.MaxLength)
            throw new ArgumentException($"A grid of {rows}×{columns} frames of {frameWidth}×{frameHeight} with gaps of {gap} is {width}×{height} pixels, more than one array can hold.", nameof(rows));
        return ((int)width, (int)height);
    }

    /// <summary>The CRC-32 of PNG (and zlib, gzip): polynomial 0xEDB88320 reflected, register preset to all ones and inverted at the end.</summary>
    internal static class Crc32
    {
        public const uint Start = 0xFFFFFFFF;

        // Byte-at-a-time table, computed once: entry n is the register after shifting n through 8 bits.
        private static readonly uint[] Table = MakeTable();

        private static uint[] MakeTable()
        {
            var table = new uint[256];
            for (uint n = 0; n < 256; n++)
            {
                uint c = n;
                for (int k = 0; k < 8; k++)
                    c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
                table[n] = c;
            }
            return table;
        }

        public static uint Update(uint register, ReadOnlySpan<byte> data)
        {
            foreach (byte b in data)
                register = Table[(register ^ b) & 0xFF] ^ (register >> 8);
            return register;
        }

        public static uint Finish(uint register) => register ^ 0xFFFFFFFF;
    }
}
