using System.Buffers.Binary;
using System.IO.Compression;
using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Tests.Support;

namespace Microsoft.ML.Helmholtz.Tests.Data;

[TestClass]
public sealed class SequenceFileTests : TempDirectoryTests
{
    /// <summary>3 sequences of 2 frames of 2×3, with values float handles with care: −0, a subnormal, the extremes.</summary>
    private static SequenceSet Sample()
    {
        float[] values = new float[3 * 2 * 2 * 3];
        for (int i = 0; i < values.Length; i++)
            values[i] = (i - 17) * 0.37f;
        values[0] = -0f;
        values[1] = float.Epsilon;
        values[2] = float.MaxValue;
        values[3] = float.MinValue;
        return new SequenceSet(3, 2, 2, 3, values);
    }

    /// <summary>An IDX header of big-endian words.</summary>
    private static byte[] Header(params int[] words)
    {
        var h = new byte[words.Length * 4];
        for (int i = 0; i < words.Length; i++)
            BinaryPrimitives.WriteInt32BigEndian(h.AsSpan(i * 4), words[i]);
        return h;
    }

    private static byte[] BigEndian(params float[] values)
    {
        var bytes = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++)
            BinaryPrimitives.WriteSingleBigEndian(bytes.AsSpan(i * 4), values[i]);
        return bytes;
    }

    private static byte[] Gzip(byte[] raw)
    {
        using var ms = new MemoryStream();
        using (var z = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true))
            z.Write(raw);
        return ms.ToArray();
    }

    private string WriteFile(string name, byte[] raw, bool gzip)
    {
        string path = Temp.File(name + (gzip ? ".idx.gz" : ".idx"));
        File.WriteAllBytes(path, gzip ? Gzip(raw) : raw);
        return path;
    }

    private static void AssertInvalid(string path, string problem)
    {
        var e = Assert.ThrowsExactly<InvalidDataException>(() => SequenceFile.Read(path));
        StringAssert.StartsWith(e.Message, path + ":", "the message starts with the file");
        StringAssert.Contains(e.Message, problem, "the message names the problem");
    }

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void ValuesRoundTripBitForBit(bool gzip)
    {
        SequenceSet written = Sample();
        string path = Temp.File("round-trip.idx" + (gzip ? ".gz" : ""));
        SequenceFile.Write(path, written, gzip);
        SequenceSet read = SequenceFile.Read(path);
        Assert.AreEqual((3, 2, 2, 3), (read.Count, read.Frames, read.Height, read.Width), "shape");
        CollectionAssert.AreEqual(
            written.Values.Select(BitConverter.SingleToInt32Bits).ToArray(),
            read.Values.Select(BitConverter.SingleToInt32Bits).ToArray());
    }

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void TheGzipFlagDecidesTheEncoding(bool gzip)
    {
        string path = Temp.File("flag");
        SequenceFile.Write(path, Sample(), gzip);
        byte[] onDisk = File.ReadAllBytes(path);
        Assert.AreEqual(gzip, onDisk[0] == 0x1f && onDisk[1] == 0x8b);
    }

    [TestMethod]
    public void ThePlainFileIsBigEndianIdx()
    {
        string path = Temp.File("plain.idx");
        SequenceSet set = Sample();
        SequenceFile.Write(path, set, gzip: false);
        byte[] expected = [.. Header(0x00000D04, 3, 2, 2, 3), .. BigEndian(set.Values)];
        CollectionAssert.AreEqual(expected, File.ReadAllBytes(path));
    }

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void NoSequencesRoundTrip(bool gzip)
    {
        string path = Temp.File("empty");
        SequenceFile.Write(path, new SequenceSet(0, 100, 30, 30, []), gzip);
        SequenceSet read = SequenceFile.Read(path);
        Assert.AreEqual((0, 100, 30, 30), (read.Count, read.Frames, read.Height, read.Width));
    }

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void ATruncatedFileIsRejected(bool gzip)
    {
        string full = Temp.File("full");
        SequenceFile.Write(full, Sample(), gzip: false);
        byte[] raw = File.ReadAllBytes(full);
        string path = WriteFile("cut", raw[..^10], gzip);
        AssertInvalid(path, "truncated: header promises 3 sequences of 2 frames of 2×3 float32 values (144 bytes) but only 134 bytes follow");
    }

    [TestMethod]
    public void AGzipFileCutShortIsRejected()
    {
        string path = Temp.File("cut.idx.gz");
        SequenceFile.Write(path, Sample(), gzip: true);
        byte[] zipped = File.ReadAllBytes(path);
        File.WriteAllBytes(path, zipped[..^4]);
        AssertInvalid(path, "truncated");
    }

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void AShortHeaderIsRejected(bool gzip)
    {
        string path = WriteFile("stub", Header(0x00000D04, 3, 2), gzip);
        AssertInvalid(path, "truncated: only 12 bytes");
    }

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void WrongMagicIsRejected(bool gzip)
    {
        string path = WriteFile("text", "not an IDX file, just words"u8.ToArray(), gzip);
        AssertInvalid(path, "wrong magic number 0x6E6F7420");
    }

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void AnImageFileIsTheWrongType(bool gzip)
    {
        // An MNIST image file: unsigned bytes in 3 dimensions.
        string path = WriteFile("images", [.. Header(IdxReader.ImageMagic, 1, 1, 1), 7], gzip);
        AssertInvalid(path, "wrong type 0x08 (unsigned byte), expected 0x0D (float32)");
    }

    [TestMethod]
    public void ADoubleFileIsTheWrongType()
    {
        string path = WriteFile("doubles", [.. Header(0x00000E04, 1, 1, 1, 1), .. new byte[8]], gzip: false);
        AssertInvalid(path, "wrong type 0x0E (float64)");
    }

    [TestMethod]
    public void ThreeDimensionsAreTheWrongCount()
    {
        string path = WriteFile("three", [.. Header(0x00000D03, 1, 1, 1), .. BigEndian(0.5f)], gzip: false);
        AssertInvalid(path, "wrong dimension count 3, expected 4");
    }

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void ANaNValueIsRejected(bool gzip)
    {
        SequenceSet set = Sample();
        float[] values = [.. set.Values];
        int at = ((1 * 2 + 1) * 2 + 1) * 3 + 2; // sequence 1, frame 1, row 1, column 2
        values[at] = float.NaN;
        string path = WriteFile("nan", [.. Header(0x00000D04, 3, 2, 2, 3), .. BigEndian(values)], gzip);
        AssertInvalid(path, $"invalid value: NaN at sequence 1, frame 1, row 1, column 2 (value {at})");
    }

    [TestMethod]
    public void AnInfiniteValueIsRejected()
    {
        string path = WriteFile("infinite", [.. Header(0x00000D04, 1, 1, 1, 2), .. BigEndian(0.5f, float.PositiveInfinity)], gzip: false);
        AssertInvalid(path, "invalid value: Infinity at sequence 0, frame 0, row 0, column 1");
    }

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void SizesPastAnArrayAreRejected(bool gzip)
    {
        // 2¹⁶ · 2¹⁶ · 2¹⁶ values overflow an int, and 2³¹ − 1 sequences of 4×4×4 an array.
        string cube = WriteFile("cube", Header(0x00000D04, 1, 1 << 16, 1 << 16, 1 << 16), gzip);
        AssertInvalid(cube, "absurd size");
        string many = WriteFile("many", Header(0x00000D04, int.MaxValue, 4, 4, 4), gzip);
        AssertInvalid(many, "absurd size");
    }

    [TestMethod]
    public void AHugeButPossibleHeaderIsTruncatedWithoutAllocating()
    {
        // 2²⁹ values (2 GiB) promised by a 20-byte file: called truncated before any buffer is made.
        string path = WriteFile("promise", Header(0x00000D04, 1 << 9, 1 << 10, 1 << 5, 1 << 5), gzip: false);
        AssertInvalid(path, "but only 0 bytes follow");
    }

    [TestMethod]
    public void NegativeAndZeroSizesAreRejected()
    {
        string negative = WriteFile("negative", Header(0x00000D04, -1, 2, 2, 2), gzip: false);
        AssertInvalid(negative, "negative count");
        string flat = WriteFile("flat", Header(0x00000D04, 1, 2, 0, 2), gzip: false);
        AssertInvalid(flat, "invalid dimensions");
    }

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void TrailingBytesAreRejected(bool gzip)
    {
        string path = WriteFile("long", [.. Header(0x00000D04, 1, 1, 1, 1), .. BigEndian(0.25f), 1, 2, 3], gzip);
        AssertInvalid(path, "trailing garbage: 3 bytes");
    }

    [TestMethod]
    public void AMissingFileIsNotFound()
    {
        string path = Temp.File("absent.idx.gz");
        var e = Assert.ThrowsExactly<FileNotFoundException>(() => SequenceFile.Read(path));
        StringAssert.Contains(e.Message, path);
    }

    // A value that is not finite is refused where it lies, the very first one as the others.
    [TestMethod]
    [DataRow(5, float.NaN, "NaN at sequence 0, frame 0, row 1, column 2")]
    [DataRow(0, float.PositiveInfinity, "at sequence 0, frame 0, row 0, column 0 (value 0)")]
    public void TheWriterRefusesANonFiniteValue(int index, float value, string message)
    {
        SequenceSet set = Sample();
        set.Values[index] = value;
        string path = Temp.File($"refused-{index}.idx");
        var e = Assert.ThrowsExactly<ArgumentException>(() => SequenceFile.Write(path, set, gzip: false));
        StringAssert.Contains(e.Message, message);
        Assert.IsFalse(File.Exists(path), "nothing may be written");
    }

    // A value past the first 65,536 (the piece the vector check scans at once) is named where it lies, not within its piece.
    [TestMethod]
    public void ANonFiniteValuePastTheFirstPieceIsNamedWhereItLies()
    {
        var set = new SequenceSet(3, 1, 256, 256, new float[3 * 256 * 256]);
        set.Values[2 * 65536 + 256 + 7] = float.NaN;
        var e = Assert.ThrowsExactly<ArgumentException>(() => SequenceFile.Write(Temp.File("far.idx"), set, gzip: false));
        StringAssert.Contains(e.Message, $"NaN at sequence 2, frame 0, row 1, column 7 (value {2 * 65536 + 256 + 7})");
    }

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void AFailedWriteLeavesNoPartialFile(bool gzip)
    {
        string path = Temp.File("failed.idx");
        var e = Assert.ThrowsExactly<IOException>(() => SequenceFile.Write(path, Sample(), gzip,
            temporary => new FailingStream(AtomicFile.CreateTemporary(temporary), failAfter: 30)));
        StringAssert.Contains(e.Message, path);
        CollectionAssert.AreEqual(Array.Empty<string>(), Directory.GetFileSystemEntries(Temp.Path), "no file, temporary or final");
    }

    [TestMethod]
    public void AFailedWriteKeepsTheEarlierFile()
    {
        string path = Temp.File("kept.idx");
        SequenceFile.Write(path, new SequenceSet(1, 1, 1, 1, [0.5f]), gzip: false);
        byte[] before = File.ReadAllBytes(path);
        Assert.ThrowsExactly<IOException>(() => SequenceFile.Write(path, Sample(), gzip: false,
            temporary => new FailingStream(AtomicFile.CreateTemporary(temporary), failAfter: 30)));
        CollectionAssert.AreEqual(before, File.ReadAllBytes(path));
    }
    /// <summary>
    /// A small gzip file whose header promises 200 MB of values is truncated having allocated about what it held (the
    /// promised values were allocated at once); a gzip file past the first buffer reads whole.
    /// </summary>
    [TestMethod]
    public void AGzipFileIsReadAsItsValuesArrive()
    {
        var noise = new byte[256 << 10];
        new Random(4).NextBytes(noise);
        string path = WriteFile("promise", [.. Header(SequenceFile.Magic, 50, 1000, 1000, 1), .. noise], gzip: true);
        long before = GC.GetAllocatedBytesForCurrentThread();
        AssertInvalid(path, "truncated");
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.IsTrue(allocated < 16 << 20, $"{allocated} bytes allocated for a file of {new FileInfo(path).Length}");

        var values = new float[3 * 25 * 100 * 100];   // 750,000 values: 3 MB, past the first buffer and the doubled one
        for (int i = 0; i < values.Length; i++) values[i] = i % 251 / 250f;
        var written = new SequenceSet(3, 25, 100, 100, values);
        string whole = Temp.File("whole.idx.gz");
        SequenceFile.Write(whole, written, gzip: true);
        CollectionAssert.AreEqual(values, SequenceFile.Read(whole).Values);
    }

    /// <summary>A sequence file through a pipe (a FIFO, <c>&lt;(zcat …)</c>) reads as the file does, and one cut short is named truncated.</summary>
    [TestMethod]
    [OSCondition(OperatingSystems.Linux)]
    [DataRow(false)]
    [DataRow(true)]
    public void InputThroughAPipeReadsAsTheFileDoes(bool gzip)
    {
        SequenceSet sample = Sample();
        string file = Temp.File("sample" + (gzip ? ".idx.gz" : ".idx"));
        SequenceFile.Write(file, sample, gzip);
        SequenceSet read = Fifo.Read(Temp.File("sample.fifo"), File.ReadAllBytes(file), SequenceFile.Read);
        Assert.AreEqual(sample.Count, read.Count);
        Assert.AreEqual(sample.Frames, read.Frames);
        CollectionAssert.AreEqual(sample.Values.Select(BitConverter.SingleToInt32Bits).ToArray(), read.Values.Select(BitConverter.SingleToInt32Bits).ToArray());

        byte[] raw = [.. Header(SequenceFile.Magic, 1000, 100, 30, 30), .. BigEndian(1f, 2f)];
        string cut = Temp.File("cut.fifo");
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.ThrowsExactly<InvalidDataException>(() => Fifo.Read(cut, gzip ? Gzip(raw) : raw, SequenceFile.Read));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        StringAssert.StartsWith(e.Message, cut + ": truncated: header promises 1000 sequences of 100 frames of 30×30 float32 values (360000000 bytes) but only 8 bytes follow");
        Assert.IsTrue(allocated < 16 << 20, $"{allocated} bytes allocated for 28 bytes of input");
    }

    /// <summary>A sequence file compressed twice is named so, not called a file of another kind.</summary>
    [TestMethod]
    public void AFileCompressedTwiceIsNamedSo()
    {
        string once = Temp.File("once.idx.gz");
        SequenceFile.Write(once, Sample(), gzip: true);
        string twice = WriteFile("twice", File.ReadAllBytes(once), gzip: true);
        AssertInvalid(twice, "gzip data inside the gzip file (it was compressed twice)");
    }

    // Zero frames are refused as zero rows or columns are (the check of each dimension, not only of the product's).
    [TestMethod]
    public void ZeroFramesAreRejected()
    {
        string path = WriteFile("no-frames", Header(0x00000D04, 1, 0, 2, 2), gzip: false);
        AssertInvalid(path, "invalid dimensions");
    }

    // A single byte past the values is trailing garbage too.
    [TestMethod]
    public void OneTrailingByteIsRejected()
    {
        string path = WriteFile("one-more", [.. Header(0x00000D04, 1, 1, 1, 1), .. BigEndian(0.25f), 9], gzip: false);
        AssertInvalid(path, "trailing garbage: 1 bytes");
    }

    // Frame(s, t) is values ((s·Frames + t)·Height + i)·Width + j for frames of several rows too (the temporal transformer's are of
    // one row, where Width is the frame's size); a frame or sequence one past the last, sequences of no frames and frames of no
    // rows or columns are refused by name.
    [TestMethod]
    public void ASequenceSetsFramesOfSeveralRowsAreEachTheirOwnValues()
    {
        const int count = 2, frames = 3, height = 2, width = 3, perFrame = height * width;
        float[] values = Enumerable.Range(0, count * frames * perFrame).Select(i => (float)i).ToArray();
        var set = new SequenceSet(count, frames, height, width, values);
        for (int s = 0; s < count; s++)
        {
            CollectionAssert.AreEqual(values[(s * frames * perFrame)..((s + 1) * frames * perFrame)], set.Sequence(s).ToArray(), $"sequence {s}");
            for (int t = 0; t < frames; t++)
                CollectionAssert.AreEqual(values[((s * frames + t) * perFrame)..((s * frames + t + 1) * perFrame)], set.Frame(s, t).ToArray(), $"sequence {s}, frame {t}");
        }
        Assert.AreEqual("frame", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => set.Frame(0, frames)).ParamName);
        Assert.AreEqual("sequence", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => set.Sequence(count)).ParamName);
        Assert.AreEqual("frames", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new SequenceSet(1, 0, height, width, [])).ParamName);
        Assert.AreEqual("height", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new SequenceSet(1, frames, 0, width, [])).ParamName);
        Assert.AreEqual("width", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new SequenceSet(1, frames, height, 0, [])).ParamName);
    }

    /// <summary>A file of another kind is named by its magic even when the magic is all there is (4 bytes), not called a truncated sequence file.</summary>
    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void AMagicAloneIsNamedByIt(bool gzip)
    {
        string path = WriteFile("magic", Header(IdxReader.ImageMagic), gzip);
        AssertInvalid(path, "wrong type 0x08 (unsigned byte), expected 0x0D (float32)");
    }

    /// <summary>Values of another length than the shape's are refused, more as well as fewer (more were wrapped, the rest never read).</summary>
    [TestMethod]
    public void ValuesOfAnotherLengthThanTheShapeAreRefused()
    {
        Assert.AreEqual("values", Assert.ThrowsExactly<ArgumentException>(() => new SequenceSet(2, 3, 1, 2, new float[13])).ParamName, "one more");
        Assert.AreEqual("values", Assert.ThrowsExactly<ArgumentException>(() => new SequenceSet(2, 3, 1, 2, new float[11])).ParamName, "one fewer");
        Assert.AreEqual(12, new SequenceSet(2, 3, 1, 2, new float[12]).Values.Length);
    }

    /// <summary>A header of 16 to 19 bytes (the width cut off) is truncated: every byte of the 20-byte header is needed.</summary>
    [TestMethod]
    [DataRow(16)]
    [DataRow(19)]
    public void AHeaderCutInItsLastWordIsTruncated(int length)
    {
        string path = WriteFile("cut" + length, Header(SequenceFile.Magic, 0, 1, 1, 1)[..length], gzip: false);
        AssertInvalid(path, $"truncated: only {length} bytes, fewer than the 20-byte sequence file header");
    }

    /// <summary>An IDX magic starts with two zero bytes: a nonzero second byte is refused as such, whatever type and dimensions follow.</summary>
    [TestMethod]
    public void ANonzeroSecondByteOfTheMagicIsRefused()
    {
        string path = WriteFile("second", [.. Header(0x00010D04, 0, 1, 1, 1)], gzip: false);
        AssertInvalid(path, "wrong magic number 0x00010D04, expected 0x00000D04 (an IDX file starts with two zero bytes)");
    }

    /// <summary>
    /// A gzip file cut short past its first buffer (of 2¹⁸ values) counts what it held in bytes, the values of every
    /// buffer filled before the cut included: 2¹⁸ values (1,048,576 bytes) and 4,000 bytes more.
    /// </summary>
    [TestMethod]
    public void AGzipFileCutPastItsFirstBufferCountsEveryByteItHeld()
    {
        var noise = new byte[(1 << 20) + 4000];
        new Random(5).NextBytes(noise);
        string path = WriteFile("past", [.. Header(SequenceFile.Magic, 1, 1, 1, 300_000), .. noise], gzip: true);
        AssertInvalid(path, "truncated: header promises 1 sequences of 1 frames of 1×300000 float32 values (1200000 bytes) but only 1052576 bytes follow");
    }
}
