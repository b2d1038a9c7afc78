using System.Buffers.Binary;
using System.IO.Compression;

namespace Microsoft.ML.Helmholtz.Data;

/// <summary>Writes IDX image and label files, optionally gzip-compressed, readable by <see cref="IdxReader"/>.</summary>
public static class IdxWriter
{
    /// <summary>
    /// Writes images of <paramref name="rows"/>×<paramref name="cols"/> bytes; the image count is
    /// <c>pixels.Length / (rows * cols)</c>, which must divide exactly.
    /// </summary>
    public static void WriteImages(string path, int rows, int cols, ReadOnlySpan<byte> pixels, bool gzip)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(cols);
        long perImage = (long)rows * cols;
        if (pixels.Length % perImage != 0)
            throw new ArgumentException(
                $"pixels has {pixels.Length} bytes, not a whole number of {rows}×{cols} images.", nameof(pixels));

        Span<byte> header = stackalloc byte[16];
        BinaryPrimitives.WriteInt32BigEndian(header, IdxReader.ImageMagic);
        BinaryPrimitives.WriteInt32BigEndian(header[4..], (int)(pixels.Length / perImage));
        BinaryPrimitives.WriteInt32BigEndian(header[8..], rows);
        BinaryPrimitives.WriteInt32BigEndian(header[12..], cols);
        Write(path, header, pixels, gzip);
    }

    /// <summary>Writes the images of <paramref name="images"/>.</summary>
    public static void WriteImages(string path, IdxImages images, bool gzip)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.Pixels.LongLength != (long)images.Count * images.Rows * images.Columns)
            throw new ArgumentException("Pixels does not hold Count images of Rows×Columns.", nameof(images));
        WriteImages(path, images.Rows, images.Columns, images.Pixels, gzip);
    }

    /// <summary>Writes one byte per label.</summary>
    public static void WriteLabels(string path, ReadOnlySpan<byte> labels, bool gzip)
    {
        ArgumentNullException.ThrowIfNull(path);
        Span<byte> header = stackalloc byte[8];
        BinaryPrimitives.WriteInt32BigEndian(header, IdxReader.LabelMagic);
        BinaryPrimitives.WriteInt32BigEndian(header[4..], labels.Length);
        Write(path, header, labels, gzip);
    }

    private static void Write(string path, ReadOnlySpan<byte> header, ReadOnlySpan<byte> payload, bool gzip)
    {
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 1 << 16);
        if (gzip)
        {
            using var zip = new GZipStream(file, CompressionLevel.Optimal, leaveOpen: true);
            zip.Write(header);
            zip.Write(payload);
        }
        else
        {
            file.Write(header);
            file.Write(payload);
        }
    }
}
