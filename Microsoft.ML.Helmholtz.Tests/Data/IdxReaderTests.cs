using System.Buffers.Binary;
using System.IO.Compression;
using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Tests.Support;

namespace Microsoft.ML.Helmholtz.Tests.Data;

[TestClass]
public sealed class IdxReaderTests : TempDirectoryTests
{
    private static byte[] Pixels(int n)
    {
        var p = new byte[n];
        for (int i = 0; i < n; i++)
            p[i] = (byte)(i * 37 + 11);
        return p;
    }

    private static byte[] Header(params int[] words)
    {
        var h = new byte[words.Length * 4];
        for (int i = 0; i < words.Length; i++)
            BinaryPrimitives.WriteInt32BigEndian(h.AsSpan(i * 4), words[i]);
        return h;
    }

    private static byte[] Gzip(byte[] raw)
    {
        using var ms = new MemoryStream();
        using (var z = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true))
            z.Write(raw);
        return ms.ToArray();
    }

    /// <summary>Writes raw IDX bytes, gzip-compressing them when asked.</summary>
    private string WriteFile(string name, byte[] raw, bool gzip)
    {
        string path = Temp.File(name + (gzip ? ".gz" : ""));
        File.WriteAllBytes(path, gzip ? Gzip(raw) : raw);
        return path;
    }

    private static void AssertInvalid(Action read, string path, string problem)
    {
        var e = Assert.ThrowsExactly<InvalidDataException>(read);
        StringAssert.Contains(e.Message, path, "message must name the file");
        StringAssert.Contains(e.Message, problem, "message must name the problem");
    }

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void ImagesRoundTrip(bool gzip)
    {
        byte[] pixels = Pixels(7 * 5 * 3);
        string path = Temp.File("images.idx" + (gzip ? ".gz" : ""));
        IdxWriter.WriteImages(path, 5, 3, pixels, gzip);

        byte[] onDisk = File.ReadAllBytes(path);
        Assert.AreEqual(gzip, onDisk[0] == 0x1f && onDisk[1] == 0x8b, "gzip flag must decide the encoding");

        IdxImages images = IdxReader.ReadImages(path);
        Assert.AreEqual(7, images.Count);
        Assert.AreEqual(5, images.Rows);
        Assert.AreEqual(3, images.Columns);
        Assert.AreEqual(15, images.PixelsPerImage);
        CollectionAssert.AreEqual(pixels, images.Pixels);
    }

    /// <summary>The writer streams the caller's pixels to the file: it does not copy them first (a large set would be held twice).</summary>
    [TestMethod]
    public void TheWriterDoesNotCopyThePixels()
    {
        byte[] pixels = Pixels(2000 * 28 * 28);
        string path = Temp.File("large.idx");
        IdxWriter.WriteImages(Temp.File("warm.idx"), 28, 28, pixels.AsSpan(0, 784), gzip: false); // the JIT's first call, outside the count
        long before = GC.GetAllocatedBytesForCurrentThread();
        IdxWriter.WriteImages(path, 28, 28, pixels, gzip: false);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.IsTrue(allocated < pixels.Length / 4, $"{allocated:N0} bytes allocated writing {pixels.Length:N0} bytes of pixels");
        CollectionAssert.AreEqual(pixels, IdxReader.ReadImages(path).Pixels);
    }

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void LabelsRoundTrip(bool gzip)
    {
        byte[] labels = [3, 1, 4, 1, 5, 9, 2, 6];
        string path = Temp.File("labels.idx" + (gzip ? ".gz" : ""));
        IdxWriter.WriteLabels(path, labels, gzip);
        CollectionAssert.AreEqual(labels, IdxReader.ReadLabels(path));
    }

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void EmptyFilesRoundTrip(bool gzip)
    {
        string images = Temp.File("empty-images");
        string labels = Temp.File("empty-labels");
        IdxWriter.WriteImages(images, 28, 28, [], gzip);
        IdxWriter.WriteLabels(labels, [], gzip);
        Assert.AreEqual(0, IdxReader.ReadImages(images).Count);
        Assert.AreEqual(0, IdxReader.ReadLabels(labels).Length);
    }

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void AWriteThatFailsPartWayLeavesTheEarlierFile(bool gzip)
    {
        string path = Temp.File("images.idx");
        byte[] pixels = Enumerable.Range(0, 4 * 28 * 28).Select(i => (byte)(i * 7)).ToArray();
        IdxWriter.WriteImages(path, 28, 28, pixels, gzip);
        byte[] before = File.ReadAllBytes(path);
        var noise = new byte[8 * 28 * 28];
        new Random(5).NextBytes(noise);   // incompressible: the gzip stream too passes the failure point
        var e = Assert.ThrowsExactly<IOException>(() => IdxWriter.WriteImages(path, 28, 28, noise, gzip,
            temporary => new FailingStream(AtomicFile.CreateTemporary(temporary), failAfter: 100)));
        StringAssert.Contains(e.Message, path);
        CollectionAssert.AreEqual(before, File.ReadAllBytes(path), "the earlier file is as it was");
        CollectionAssert.AreEqual(new[] { "images.idx" }, Directory.GetFileSystemEntries(Temp.Path).Select(Path.GetFileName).ToArray(), "no temporary file is left");
        CollectionAssert.AreEqual(pixels, IdxReader.ReadImages(path).Pixels);
    }

    [TestMethod]
    public void WriterRejectsPartialImage()
    {
        Assert.ThrowsExactly<ArgumentException>(
            () => IdxWriter.WriteImages(Temp.File("x"), 2, 2, new byte[5], gzip: false));
    }

    /// <summary>
    /// A gzip file is read whole into one array: one longer than an array holds is named as such (it was an
    /// OutOfMemoryException, or an OverflowException past int.MaxValue). The file is sparse: no gigabytes are written.
    /// </summary>
    [TestMethod]
    public void AGzipFileLargerThanAnArrayIsNamedAsSuch()
    {
        string path = Temp.File("huge.idx.gz");
        using (var file = File.Create(path))
        {
            file.Write([0x1f, 0x8b]);
            file.SetLength(Array.MaxLength + 1L);
        }
        AssertInvalid(() => IdxReader.ReadImages(path), path, $"a gzip file of {Array.MaxLength + 1L} bytes is larger than this reader takes into memory");
        AssertInvalid(() => SequenceFile.Read(path), path, "store it uncompressed");
    }

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void LabelFileReadAsImagesIsWrongMagic(bool gzip)
    {
        string path = WriteFile("labels", [.. Header(IdxReader.LabelMagic, 2, 0, 0), 1, 2], gzip);
        AssertInvalid(() => IdxReader.ReadImages(path), path, "wrong magic number 0x00000801");
    }

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void ImageFileReadAsLabelsIsWrongMagic(bool gzip)
    {
        string path = WriteFile("images", [.. Header(IdxReader.ImageMagic, 1, 1, 1), 7], gzip);
        AssertInvalid(() => IdxReader.ReadLabels(path), path, "wrong magic number 0x00000803");
    }

    [TestMethod]
    public void ArbitraryBytesAreWrongMagic()
    {
        string path = WriteFile("text", "this is not an IDX file at all"u8.ToArray(), gzip: false);
        AssertInvalid(() => IdxReader.ReadImages(path), path, "magic");
        AssertInvalid(() => IdxReader.ReadLabels(path), path, "magic");
    }

    // -1, the negative count nearest zero, is named as one too (not left to fail allocating the payload).
    [TestMethod]
    [DataRow(false, -5, int.MinValue)]
    [DataRow(true, -5, int.MinValue)]
    [DataRow(false, -1, -1)]
    [DataRow(true, -1, -1)]
    public void NegativeCountIsRejected(bool gzip, int imageCount, int labelCount)
    {
        string images = WriteFile("images", Header(IdxReader.ImageMagic, imageCount, 28, 28), gzip);
        AssertInvalid(() => IdxReader.ReadImages(images), images, $"negative count: header gives an image count of {imageCount}");
        string labels = WriteFile("labels", Header(IdxReader.LabelMagic, labelCount), gzip);
        AssertInvalid(() => IdxReader.ReadLabels(labels), labels, $"negative count: header gives a label count of {labelCount}");
    }

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void AbsurdCountIsRejected(bool gzip)
    {
        // int.MaxValue images of 28×28 cannot fit any array.
        string path = WriteFile("huge", Header(IdxReader.ImageMagic, int.MaxValue, 28, 28), gzip);
        AssertInvalid(() => IdxReader.ReadImages(path), path, "absurd count");
        // Images of 2^32 pixels cannot fit one array, whatever the count (none at all included): named as such, not as the count.
        foreach (int count in new[] { 1, 0 })
        {
            string wide = WriteFile($"wide{count}", Header(IdxReader.ImageMagic, count, 1 << 16, 1 << 16), gzip);
            AssertInvalid(() => IdxReader.ReadImages(wide), wide, "images of 65536×65536 have more pixels than one array can hold");
        }
    }

    /// <summary>IdxImages is a plain record: the writer checks one before it opens the file (a null Pixels was a NullReferenceException).</summary>
    [TestMethod]
    public void TheWriterRefusesAnInconsistentImagesRecordAndWritesNothing()
    {
        string path = Temp.File("record.idx");
        foreach (var (images, problem) in new (IdxImages, string)[]
                 {
                     (new IdxImages(1, 2, 2, null!), "images.Pixels is null"),
                     (new IdxImages(-1, 2, 2, []), "images holds -1 images of 2×2"),
                     (new IdxImages(1, 0, 2, []), "images holds 1 images of 0×2"),
                     (new IdxImages(2, 2, 2, new byte[4]), "images.Pixels holds 4 bytes, not Count = 2 images of Rows×Columns = 2×2"),
                     // Too many pixels too: written as they are, the file would hold 2 images where the record says 1.
                     (new IdxImages(1, 2, 2, new byte[8]), "images.Pixels holds 8 bytes, not Count = 1 images of Rows×Columns = 2×2"),
                 })
        {
            var e = Assert.ThrowsExactly<ArgumentException>(() => IdxWriter.WriteImages(path, images, gzip: false));
            Assert.AreEqual("images", e.ParamName);
            StringAssert.Contains(e.Message, problem);
            Assert.IsFalse(File.Exists(path));
        }
        IdxWriter.WriteImages(path, new IdxImages(2, 2, 2, Pixels(8)), gzip: false);
        CollectionAssert.AreEqual(Pixels(8), IdxReader.ReadImages(path).Pixels);
    }

    [TestMethod]
    public void NonPositiveDimensionsAreRejected()
    {
        string path = WriteFile("flat", Header(IdxReader.ImageMagic, 3, 0, 28), gzip: false);
        AssertInvalid(() => IdxReader.ReadImages(path), path, "invalid dimensions");
        string neg = WriteFile("neg", Header(IdxReader.ImageMagic, 3, 28, -28), gzip: false);
        AssertInvalid(() => IdxReader.ReadImages(neg), neg, "invalid dimensions");
    }

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void TruncatedImagesAreRejected(bool gzip)
    {
        string path = WriteFile("short", [.. Header(IdxReader.ImageMagic, 50000, 28, 28), .. Pixels(123)], gzip);
        AssertInvalid(() => IdxReader.ReadImages(path), path,
            "truncated: header promises 50000 images of 28×28 (39200000 bytes) but only 123 bytes follow");
    }

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void TruncatedLabelsAreRejected(bool gzip)
    {
        string path = WriteFile("short", [.. Header(IdxReader.LabelMagic, 10), 1, 2, 3], gzip);
        AssertInvalid(() => IdxReader.ReadLabels(path), path, "truncated: header promises 10 labels (10 bytes) but only 3 bytes follow");
    }

    // Six bytes of an image file's header: truncated as images; as labels the magic, read first, names the kind it is.
    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void TruncatedHeaderIsRejected(bool gzip)
    {
        string path = WriteFile("stub", [0, 0, 8, 3, 0, 0], gzip);
        AssertInvalid(() => IdxReader.ReadImages(path), path, "truncated: only 6 bytes, fewer than the 16-byte IDX image header");
        AssertInvalid(() => IdxReader.ReadLabels(path), path, "wrong magic number 0x00000803, expected 0x00000801 for an IDX label file (this is an IDX image file)");
        string empty = WriteFile("empty", [], gzip: false);
        AssertInvalid(() => IdxReader.ReadImages(empty), empty, "truncated");
    }

    [TestMethod]
    public void CutOffGzipStreamIsRejected()
    {
        // A download cut short: the compressed bytes themselves end early.
        byte[] zipped = Gzip([.. Header(IdxReader.ImageMagic, 100, 28, 28), .. Pixels(100 * 784)]);
        string path = Temp.File("cut.gz");
        File.WriteAllBytes(path, zipped[..(zipped.Length / 2)]);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => IdxReader.ReadImages(path));
        StringAssert.Contains(e.Message, path);
    }

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void TrailingGarbageIsRejected(bool gzip)
    {
        string images = WriteFile("images", [.. Header(IdxReader.ImageMagic, 2, 2, 2), .. Pixels(8 + 5)], gzip);
        AssertInvalid(() => IdxReader.ReadImages(images), images, "trailing garbage: 5 bytes");
        string labels = WriteFile("labels", [.. Header(IdxReader.LabelMagic, 2), 1, 2, 3], gzip);
        AssertInvalid(() => IdxReader.ReadLabels(labels), labels, "trailing garbage: 1 bytes");
        // Past 1 MiB the reader stops counting, and says the count is a floor.
        string longer = WriteFile("longer", [.. Header(IdxReader.LabelMagic, 2), 1, 2, .. new byte[2 << 20]], gzip);
        AssertInvalid(() => IdxReader.ReadLabels(longer), longer, "trailing garbage: at least 1048576 bytes follow");
    }

    [TestMethod]
    public void GarbageAfterGzipMemberIsRejected()
    {
        byte[] zipped = Gzip([.. Header(IdxReader.LabelMagic, 2), 1, 2]);
        string path = Temp.File("tail.gz");
        File.WriteAllBytes(path, [.. zipped, .. "junk appended to the archive"u8.ToArray()]);
        // The count is of the bytes after the 8-byte trailer, not of the trailer with them.
        AssertInvalid(() => IdxReader.ReadLabels(path), path, "trailing garbage after the gzip data: 28 bytes follow its trailer");
    }

    [TestMethod]
    public void CorruptGzipIsRejected()
    {
        byte[] zipped = Gzip([.. Header(IdxReader.ImageMagic, 10, 28, 28), .. Pixels(10 * 784)]);
        for (int i = 10; i < zipped.Length - 8; i++)
            zipped[i] ^= 0xA5; // scramble the deflate body, keep the gzip header
        string path = Temp.File("corrupt.gz");
        File.WriteAllBytes(path, zipped);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => IdxReader.ReadImages(path));
        StringAssert.Contains(e.Message, path);
    }

    [TestMethod]
    public void MissingFileNamesThePath()
    {
        string path = Temp.File("does-not-exist.gz");
        var e = Assert.ThrowsExactly<FileNotFoundException>(() => IdxReader.ReadImages(path));
        StringAssert.Contains(e.Message, path);
        Assert.AreEqual(path, e.FileName);
        Assert.ThrowsExactly<FileNotFoundException>(() => IdxReader.ReadLabels(path));
    }

    /// <summary>
    /// A gzip file that lost its 8-byte trailer (or part of it) decompresses completely, so only the
    /// trailer says it was cut: it is called truncated, never "trailing garbage".
    /// </summary>
    [TestMethod]
    [DataRow(8)]
    [DataRow(3)]
    [DataRow(1)]
    public void GzipMissingItsTrailerIsCalledTruncated(int cut)
    {
        byte[] zipped = Gzip([.. Header(IdxReader.LabelMagic, 3), 1, 2, 3]);
        string path = Temp.File("no-trailer.gz");
        File.WriteAllBytes(path, zipped[..^cut]);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => IdxReader.ReadLabels(path));
        StringAssert.Contains(e.Message, path);
        StringAssert.Contains(e.Message, "truncated or damaged gzip data");
        Assert.IsFalse(e.Message.Contains("trailing garbage"), e.Message);
    }

    [TestMethod]
    public void ADirectoryIsNotAFile()
    {
        string path = Temp.File("a-folder.gz");
        Directory.CreateDirectory(path);
        var e = Assert.ThrowsExactly<FileNotFoundException>(() => IdxReader.ReadImages(path));
        StringAssert.Contains(e.Message, path);
        StringAssert.Contains(e.Message, "is a directory, not a file");
        Assert.ThrowsExactly<FileNotFoundException>(() => IdxReader.ReadLabels(path));
    }
    /// <summary>
    /// A small gzip file whose header promises 200 MB (less than the deflate ratio allows from its size) is truncated
    /// having allocated about what it held: the promised buffer was allocated at once. A gzip file past the first
    /// buffer reads whole.
    /// </summary>
    [TestMethod]
    public void AGzipFileIsReadAsItsBytesArrive()
    {
        var noise = new byte[256 << 10];
        new Random(3).NextBytes(noise);
        string path = WriteFile("promise-labels", [.. Header(IdxReader.LabelMagic, 200_000_000), .. noise], gzip: true);
        long before = GC.GetAllocatedBytesForCurrentThread();
        AssertInvalid(() => IdxReader.ReadLabels(path), path, "truncated: header promises 200000000 labels");
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.IsTrue(allocated < 16 << 20, $"{allocated} bytes allocated for a file of {new FileInfo(path).Length}");

        byte[] labels = Pixels(3_000_000);
        string whole = WriteFile("many-labels", [.. Header(IdxReader.LabelMagic, labels.Length), .. labels], gzip: true);
        CollectionAssert.AreEqual(labels, IdxReader.ReadLabels(whole));
    }

    /// <summary>
    /// A file of two gzip members (concatenated, as bgzip writes them; gzip -t accepts it) is refused saying so: the message sent
    /// the user looking for a truncation ("it was probably cut short").
    /// </summary>
    [TestMethod]
    public void AFileOfSeveralGzipMembersIsRefusedSayingSo()
    {
        byte[] idx = [.. Header(IdxReader.ImageMagic, 2, 2, 3), .. Pixels(12)];
        static byte[] Gzip(ReadOnlySpan<byte> bytes)
        {
            var memory = new MemoryStream();
            using (var gzip = new GZipStream(memory, CompressionLevel.Optimal, leaveOpen: true)) gzip.Write(bytes);
            return memory.ToArray();
        }
        string path = Temp.File("two-members.idx.gz");
        File.WriteAllBytes(path, [.. Gzip(idx.AsSpan(0, 10)), .. Gzip(idx.AsSpan(10))]);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => IdxReader.ReadImages(path));
        StringAssert.Contains(e.Message, "or it holds several gzip members (concatenated files, bgzip), which are not read");
    }

    /// <summary>
    /// Input through a pipe (a FIFO, <c>&lt;(zcat …)</c>, <c>/dev/stdin</c>) reads as the file does, raw or gzip. The reader used to
    /// seek back after peeking at the gzip magic and ask the file's length: NotSupportedException, without the path.
    /// </summary>
    [TestMethod]
    [OSCondition(OperatingSystems.Linux)]
    [DataRow(false)]
    [DataRow(true)]
    public void InputThroughAPipeReadsAsTheFileDoes(bool gzip)
    {
        byte[] pixels = Pixels(300_000 * 7);
        byte[] images = [.. Header(IdxReader.ImageMagic, 300_000, 7, 1), .. pixels];
        IdxImages read = Fifo.Read(Temp.File("images.fifo"), gzip ? Gzip(images) : images, IdxReader.ReadImages);
        Assert.AreEqual(300_000, read.Count);
        Assert.AreEqual(7, read.Rows);
        CollectionAssert.AreEqual(pixels, read.Pixels);

        byte[] labels = Pixels(10);
        byte[] file = [.. Header(IdxReader.LabelMagic, 10), .. labels];
        CollectionAssert.AreEqual(labels, Fifo.Read(Temp.File("labels.fifo"), gzip ? Gzip(file) : file, IdxReader.ReadLabels));
    }

    // A gzip pipe of more compressed bytes than the first 1 MiB buffer is read whole: the buffer grows as the bytes arrive.
    [TestMethod]
    [OSCondition(OperatingSystems.Linux)]
    public void AGzipPipeLongerThanTheFirstBufferIsReadWhole()
    {
        // Pseudo-random pixels barely compress: 1.5 MB of them stay well over the 1 MiB first buffer once gzipped.
        byte[] pixels = new byte[1_500_000];
        new Random(7).NextBytes(pixels);
        byte[] gzip = Gzip([.. Header(IdxReader.ImageMagic, 1_500_000 / 100, 10, 10), .. pixels]);
        Assert.IsGreaterThan(IdxReader.FirstChunk, gzip.Length, "the compressed input spans more than one buffer");
        IdxImages read = Fifo.Read(Temp.File("long.fifo"), gzip, IdxReader.ReadImages);
        Assert.AreEqual(15_000, read.Count);
        CollectionAssert.AreEqual(pixels, read.Pixels);
    }

    /// <summary>
    /// A pipe cannot say its length, so a raw header promising more than arrives is found out as the bytes come (the buffer grows
    /// with them, not allocated at the promised size), and bytes past the promise are trailing garbage, each named with the path.
    /// </summary>
    [TestMethod]
    [OSCondition(OperatingSystems.Linux)]
    [DataRow(false)]
    [DataRow(true)]
    public void APipeThatBreaksItsHeadersPromiseIsRefusedNamingIt(bool gzip)
    {
        byte[] Input(byte[] raw) => gzip ? Gzip(raw) : raw;
        string shortPipe = Temp.File("short.fifo");
        long before = GC.GetAllocatedBytesForCurrentThread();
        AssertInvalid(() => Fifo.Read(shortPipe, Input([.. Header(IdxReader.LabelMagic, 200_000_000), .. Pixels(1000)]), IdxReader.ReadLabels),
            shortPipe, "truncated: header promises 200000000 labels (200000000 bytes) but only 1000 bytes follow");
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.IsTrue(allocated < 16 << 20, $"{allocated} bytes allocated for 1008 bytes of input");

        string longPipe = Temp.File("long.fifo");
        AssertInvalid(() => Fifo.Read(longPipe, Input([.. Header(IdxReader.ImageMagic, 2, 2, 2), .. Pixels(8 + 5)]), IdxReader.ReadImages),
            longPipe, "trailing garbage: 5 bytes follow the 2 images of 2×2 (8 bytes)");
    }

    /// <summary>A file compressed twice is named so (its magic, after one decompression, is gzip's), not only as a wrong magic number.</summary>
    [TestMethod]
    public void AFileCompressedTwiceIsNamedSo()
    {
        string path = WriteFile("twice.idx.gz", Gzip([.. Header(IdxReader.ImageMagic, 1, 2, 2), .. Pixels(4)]), gzip: true);
        AssertInvalid(() => IdxReader.ReadImages(path), path, "wrong magic number 0x1F8B0800, expected 0x00000803 for an IDX image file (gzip data inside the gzip file: it was compressed twice)");
    }

    // An IdxImages record of no images is written as WriteImages of no pixels is (a count of 0 is allowed, as the reader allows it).
    [TestMethod]
    public void ARecordOfNoImagesIsWritten()
    {
        string path = Temp.File("no-images");
        IdxWriter.WriteImages(path, new IdxImages(0, 3, 4, []), gzip: false);
        IdxImages read = IdxReader.ReadImages(path);
        Assert.AreEqual((0, 3, 4, 0), (read.Count, read.Rows, read.Columns, read.Pixels.Length));
    }

    // The boundary of the one-array check: an image of exactly Array.MaxLength pixels fits one array and is read (a file of
    // none of them is a valid file); one pixel more is refused.
    [TestMethod]
    public void AnImageOfExactlyTheLargestArraysPixelsIsNotRefused()
    {
        string widest = WriteFile("widest", Header(IdxReader.ImageMagic, 0, Array.MaxLength, 1), gzip: false);
        IdxImages read = IdxReader.ReadImages(widest);
        Assert.AreEqual((0, Array.MaxLength, 1, 0), (read.Count, read.Rows, read.Columns, read.Pixels.Length));
        string wider = WriteFile("wider", Header(IdxReader.ImageMagic, 0, Array.MaxLength + 1, 1), gzip: false);
        AssertInvalid(() => IdxReader.ReadImages(wider), wider, $"images of {Array.MaxLength + 1}×1 have more pixels than one array can hold");
    }

    /// <summary>
    /// A raw pipe of fewer bytes than the gzip magic's two gives back only the bytes it held once they were peeked at: its header
    /// is said to be that short (not 2 bytes long, with a zero the pipe never sent).
    /// </summary>
    [TestMethod]
    [OSCondition(OperatingSystems.Linux)]
    [DataRow(0)]
    [DataRow(1)]
    public void APipeShorterThanTheGzipMagicIsAHeaderOfTheBytesItHeld(int length)
    {
        string images = Temp.File($"tiny-images{length}.fifo");
        AssertInvalid(() => Fifo.Read(images, new byte[length], IdxReader.ReadImages), images,
            $"truncated: only {length} bytes, fewer than the 16-byte IDX image header");
        string labels = Temp.File($"tiny-labels{length}.fifo");
        AssertInvalid(() => Fifo.Read(labels, new byte[length], IdxReader.ReadLabels), labels,
            $"truncated: only {length} bytes, fewer than the 8-byte IDX label header");
    }

    // A side of 0 is refused naming that side, before the pixels are divided into images of no pixels (a DivideByZeroException).
    [TestMethod]
    [DataRow(0, 3, "rows")]
    [DataRow(3, 0, "cols")]
    public void TheWriterRefusesASideOfZeroNamingIt(int rows, int cols, string side)
    {
        string path = Temp.File($"flat{rows}x{cols}.idx");
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => IdxWriter.WriteImages(path, rows, cols, new byte[6], gzip: false));
        Assert.AreEqual(side, e.ParamName);
        Assert.IsFalse(File.Exists(path));
    }

    /// <summary>
    /// A header one byte short of its full length is truncated, named with the header's size: the last byte of the
    /// columns (or of the label count) is missing, so no size can be trusted.
    /// </summary>
    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void AHeaderOneByteShortIsTruncated(bool gzip)
    {
        byte[] images = Header(IdxReader.ImageMagic, 0, 1, 1);
        string imagePath = WriteFile("images15", images[..15], gzip);
        AssertInvalid(() => IdxReader.ReadImages(imagePath), imagePath, "truncated: only 15 bytes, fewer than the 16-byte IDX image header");
        byte[] labels = Header(IdxReader.LabelMagic, 0);
        string labelPath = WriteFile("labels7", labels[..7], gzip);
        AssertInvalid(() => IdxReader.ReadLabels(labelPath), labelPath, "truncated: only 7 bytes, fewer than the 8-byte IDX label header");
    }

    /// <summary>
    /// A wrong magic that is the other IDX kind's says which kind the file is, so the user sees the files were swapped:
    /// also for a label file shorter than an image header (two labels: 10 bytes), whose magic is read before its length is
    /// called short, and for one of 16 bytes or more.
    /// </summary>
    [TestMethod]
    public void TheOtherKindsMagicIsNamed()
    {
        string shortLabels = WriteFile("short-labels", [.. Header(IdxReader.LabelMagic, 2), 1, 2], gzip: false);
        AssertInvalid(() => IdxReader.ReadImages(shortLabels), shortLabels,
            "wrong magic number 0x00000801, expected 0x00000803 for an IDX image file (this is an IDX label file)");
        string labels = WriteFile("labels", [.. Header(IdxReader.LabelMagic, 8), 1, 2, 3, 4, 5, 6, 7, 8], gzip: false);
        AssertInvalid(() => IdxReader.ReadImages(labels), labels,
            "wrong magic number 0x00000801, expected 0x00000803 for an IDX image file (this is an IDX label file)");
        string images = WriteFile("images", [.. Header(IdxReader.ImageMagic, 1, 1, 1), 7], gzip: false);
        AssertInvalid(() => IdxReader.ReadLabels(images), images,
            "wrong magic number 0x00000803, expected 0x00000801 for an IDX label file (this is an IDX image file)");
    }
}
