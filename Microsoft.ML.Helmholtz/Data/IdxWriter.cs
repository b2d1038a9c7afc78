using System.Buffers.Binary;
using System.IO.Compression;

namespace Microsoft.ML.Helmholtz.Data;

/// <summary>
/// Writes IDX image and label files, optionally gzip-compressed, readable by <see cref="IdxReader"/>.
/// Each file is written atomically (to a temporary file, then renamed): a failure part-way leaves any earlier file at the path as it was.
/// </summary>
public static class IdxWriter
{
    /// <summary>
    /// Writes images of <paramref name="rows"/>×<paramref name="cols"/> bytes; the image count is
    /// <c>pixels.Length / (rows * cols)</c>, which must divide exactly.
    /// </summary>
    public static void WriteImages(string path, int rows, int cols, ReadOnlySpan<byte> pixels, bool gzip)
        => WriteImages(path, rows, cols, pixels, gzip, null);

    internal static void WriteImages(string path, int rows, int cols, ReadOnlySpan<byte> pixels, bool gzip, Func<string, Stream>? createTemporary)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(cols);
        long perImage = (long)rows * cols;
        // What IdxReader refuses is not written: an image must fit one array.
        if (perImage > Array.MaxLength)
            throw new ArgumentException($"images of {rows}×{cols} have more pixels than one array can hold ({Array.MaxLength:N0}).", nameof(rows));
        if (pixels.Length % perImage != 0)
            throw new ArgumentException(
                $"pixels has {pixels.Length} bytes, not a whole number of {rows}×{cols} images.", nameof(pixels));

        Span<byte> header = stackalloc byte[16];
        BinaryPrimitives.WriteInt32BigEndian(header, IdxReader.ImageMagic);
        BinaryPrimitives.WriteInt32BigEndian(header[4..], (int)(pixels.Length / perImage));
        BinaryPrimitives.WriteInt32BigEndian(header[8..], rows);
        BinaryPrimitives.WriteInt32BigEndian(header[12..], cols);
        Write(path, "the IDX images", header, pixels, gzip, createTemporary);
    }

    /// <summary>Writes the images of <paramref name="images"/>.</summary>
    public static void WriteImages(string path, IdxImages images, bool gzip)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.Pixels is null) throw new ArgumentException("images.Pixels is null.", nameof(images));
        if (images.Count < 0 || images.Rows <= 0 || images.Columns <= 0)
            throw new ArgumentException($"images holds {images.Count} images of {images.Rows}×{images.Columns}: the count must be 0 or more, the sides positive.", nameof(images));
        if ((long)images.Rows * images.Columns > Array.MaxLength)
            throw new ArgumentException($"images holds images of {images.Rows}×{images.Columns}, more pixels than one array can hold ({Array.MaxLength:N0}).", nameof(images));
        if (images.Pixels.LongLength != (long)images.Count * images.Rows * images.Columns)
            throw new ArgumentException($"images.Pixels holds {images.Pixels.LongLength} bytes, not Count = {images.Count} images of Rows×Columns = {images.Rows}×{images.Columns}.", nameof(images));
        WriteImages(path, images.Rows, images.Columns, images.Pixels, gzip);
    }

    /// <summary>Writes one byte per label.</summary>
    public static void WriteLabels(string path, ReadOnlySpan<byte> labels, bool gzip)
    {
        ArgumentNullException.ThrowIfNull(path);
        Span<byte> header = stackalloc byte[8];
        BinaryPrimitives.WriteInt32BigEndian(header, IdxReader.LabelMagic);
        BinaryPrimitives.WriteInt32BigEndian(header[4..], labels.Length);
        Write(path, "the IDX labels", header, labels, gzip, null);
    }

    private static unsafe void Write(string path, string what, ReadOnlySpan<byte> header, ReadOnlySpan<byte> payload, bool gzip, Func<string, Stream>? createTemporary)
    {
        // A span cannot enter the writer's callback; its address can, pinned while the callback runs (no copy of the pixels).
        byte[] head = header.ToArray();
        fixed (byte* pinned = payload)
        {
            nint address = (nint)pinned;
            int length = payload.Length;
            AtomicFile.Write(path, what, file =>
            {
                var body = new ReadOnlySpan<byte>((void*)address, length);
                if (gzip)
                {
                    using var zip = new GZipStream(file, CompressionLevel.Optimal, leaveOpen: true);
                    zip.Write(head);
                    zip.Write(body);
                }
                else
                {
                    file.Write(head);
                    file.Write(body);
                }
            }, createTemporary);
        }
    }
}
