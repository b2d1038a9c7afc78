using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Microsoft.ML.Helmholtz.Data;

namespace Microsoft.ML.Helmholtz.Tests.Data;

[TestClass]
public sealed class PngWriterTests
{
    // A 3×2 image: values below 0 and above 1 are clamped, the rest rounded to the nearest of 255 levels.
    private static readonly float[] Pixels = [0f, 0.5f, 1f, -1f, 2f, 0.25f];
    private static readonly byte[] Grey = [0, 128, 255, 0, 255, 64];

    private static byte[] Encode(float[] pixels, int width, int height)
    {
        using var stream = new MemoryStream();
        PngWriter.WriteGreyscale(stream, pixels, width, height);
        return stream.ToArray();
    }

    private sealed record Chunk(string Type, byte[] Data, uint StoredCrc, uint ComputedCrc);

    /// <summary>The chunks after the signature, their CRCs computed by System.IO.Hashing (not the writer's own code).</summary>
    private static List<Chunk> Chunks(byte[] png)
    {
        var chunks = new List<Chunk>();
        for (int at = 8; at < png.Length;)
        {
            int length = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(at));
            ReadOnlySpan<byte> typeAndData = png.AsSpan(at + 4, 4 + length);
            uint stored = BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(at + 8 + length));
            chunks.Add(new Chunk(Encoding.ASCII.GetString(typeAndData[..4]), typeAndData[4..].ToArray(), stored, System.IO.Hashing.Crc32.HashToUInt32(typeAndData)));
            at += 12 + length;
        }
        return chunks;
    }

    private static byte[] Inflate(byte[] zlib)
    {
        using var input = new ZLibStream(new MemoryStream(zlib), CompressionMode.Decompress);
        using var output = new MemoryStream();
        input.CopyTo(output);
        return output.ToArray();
    }

    [TestMethod]
    public void TheFileStartsWithThePngSignature()
    {
        byte[] png = Encode(Pixels, 3, 2);
        CollectionAssert.AreEqual(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, png[..8]);
    }

    [TestMethod]
    public void TheChunksAreHeaderDataEnd()
    {
        CollectionAssert.AreEqual(new[] { "IHDR", "IDAT", "IEND" }, Chunks(Encode(Pixels, 3, 2)).Select(c => c.Type).ToArray());
    }

    [TestMethod]
    public void EveryChunksCrcVerifies()
    {
        foreach (Chunk chunk in Chunks(Encode(Pixels, 3, 2)))
            Assert.AreEqual(chunk.ComputedCrc, chunk.StoredCrc, chunk.Type);
    }

    [TestMethod]
    public void TheHeaderSaysEightBitGreyscale()
    {
        byte[] header = Chunks(Encode(Pixels, 3, 2))[0].Data;
        // Width 3, height 2, bit depth 8, colour type 0, deflate, filter method 0, no interlace.
        CollectionAssert.AreEqual(new byte[] { 0, 0, 0, 3, 0, 0, 0, 2, 8, 0, 0, 0, 0 }, header);
    }

    [TestMethod]
    public void TheImageDataInflatesToFilteredRows()
    {
        byte[] rows = Inflate(Chunks(Encode(Pixels, 3, 2))[1].Data);
        // Each row: filter type 0, then its grey levels.
        CollectionAssert.AreEqual(new byte[] { 0, Grey[0], Grey[1], Grey[2], 0, Grey[3], Grey[4], Grey[5] }, rows);
    }

    /// <summary>
    /// The image data is one zlib stream and nothing after it: it ends with the Adler-32 of the filtered rows (big-endian), computed
    /// here by its definition. A chunk that held the compressor's whole buffer (the stream followed by unused zeros) would
    /// end in those zeros, which a decoder reads as more data.
    /// </summary>
    [TestMethod]
    public void TheImageDataEndsWithTheAdlerChecksumOfItsRows()
    {
        byte[] data = Chunks(Encode(Pixels, 3, 2))[1].Data;
        byte[] rows = Inflate(data);
        uint a = 1, b = 0;
        foreach (byte value in rows)
        {
            a = (a + value) % 65521;
            b = (b + a) % 65521;
        }
        Assert.AreEqual(b << 16 | a, BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(data.Length - 4)), "the last four bytes of the chunk");
        Assert.AreEqual(0x78, data[0], "a zlib header (deflate, 32 KiB window) starts the chunk");
    }

    [TestMethod]
    public void TheEndChunkIsEmptyAndLast()
    {
        byte[] png = Encode(Pixels, 3, 2);
        CollectionAssert.AreEqual(new byte[] { 0, 0, 0, 0, (byte)'I', (byte)'E', (byte)'N', (byte)'D', 0xAE, 0x42, 0x60, 0x82 }, png[^12..]);
    }

    [TestMethod]
    public void TheCrcHasTheStandardCheckValue()
    {
        // CRC-32 of the ASCII digits 1…9 is 0xCBF43926 (the catalogue's check value).
        uint crc = PngWriter.Crc32.Finish(PngWriter.Crc32.Update(PngWriter.Crc32.Start, "123456789"u8));
        Assert.AreEqual(0xCBF43926u, crc);
    }

    [TestMethod]
    public void TheFileHoldsWhatTheStreamGets()
    {
        using var temp = new TempDirectory();
        string path = temp.File("image.png");
        PngWriter.WriteGreyscale(path, Pixels, 3, 2);
        CollectionAssert.AreEqual(Encode(Pixels, 3, 2), File.ReadAllBytes(path));
    }

    [TestMethod]
    public void AWrongPixelCountIsRejected()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => Encode(Pixels, 2, 2));
        Assert.AreEqual("pixels", e.ParamName);
    }

    [TestMethod]
    public void ANaNPixelIsRejected()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => Encode([0f, float.NaN], 2, 1));
        StringAssert.Contains(e.Message, "pixels[1] (row 0, column 1) is NaN");
    }

    /// <summary>Six 2×3 frames (2 wide, 3 high) whose pixel p of frame k is 10k + p.</summary>
    private static float[] Frames(int count)
    {
        float[] frames = new float[count * 6];
        for (int i = 0; i < frames.Length; i++)
            frames[i] = 10 * (i / 6) + i % 6;
        return frames;
    }

    [TestMethod]
    public void TheTiledSizeCountsGaps()
    {
        // 3 columns of width 2 with 2 gaps of 1; 2 rows of height 3 with 1 gap.
        Assert.AreEqual((8, 7), PngWriter.TiledSize(frameWidth: 2, frameHeight: 3, rows: 2, columns: 3, gap: 1));
    }

    [TestMethod]
    public void EachFrameIsTiledAtItsOffset()
    {
        float[] image = PngWriter.Tile(Frames(6), frameWidth: 2, frameHeight: 3, rows: 2, columns: 3, gap: 1, gapValue: -1);
        const int width = 8;
        for (int k = 0; k < 6; k++)
        {
            int top = k / 3 * 4, left = k % 3 * 3;
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 2; j++)
                    Assert.AreEqual(10 * k + 2 * i + j, image[(top + i) * width + left + j], $"frame {k}, row {i}, column {j}");
        }
    }

    [TestMethod]
    public void GapsHoldTheGapValue()
    {
        float[] image = PngWriter.Tile(Frames(6), frameWidth: 2, frameHeight: 3, rows: 2, columns: 3, gap: 1, gapValue: -1);
        // Frame values are ≥ 0, so the −1s are exactly the gaps: column 2 and 5 (7 high), row 3 (6 more).
        Assert.AreEqual(7 + 7 + 6, image.Count(v => v == -1));
    }

    [TestMethod]
    public void CellsAfterTheLastFrameHoldTheGapValue()
    {
        float[] image = PngWriter.Tile(Frames(4), frameWidth: 2, frameHeight: 3, rows: 2, columns: 3, gap: 0, gapValue: -1);
        // Frame 3 is in the second row, first cell; the second row's other two cells are empty.
        Assert.AreEqual(2 * 2 * 3, image.Count(v => v == -1));
    }

    [TestMethod]
    public void MoreFramesThanCellsAreRejected()
    {
        Assert.ThrowsExactly<ArgumentException>(() => PngWriter.Tile(Frames(7), 2, 3, rows: 2, columns: 3, gap: 0, gapValue: 0));
    }

    [TestMethod]
    public void APartialFrameIsRejected()
    {
        Assert.ThrowsExactly<ArgumentException>(() => PngWriter.Tile(new float[7], 2, 3, rows: 2, columns: 3, gap: 0, gapValue: 0));
    }
}
