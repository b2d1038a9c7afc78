using Microsoft.ML.Helmholtz.Data;

namespace Microsoft.ML.Helmholtz.Tests.Data;

/// <summary>The bounds ChecksummedFile (machine and training-state files) puts on the lengths a header gives.</summary>
[TestClass]
public sealed class ChecksummedFileTests
{
    // A header that gives a payload of 0 bytes is refused (a payload holds at least one byte), even with the right CRC-32 (that of nothing, 0).
    [TestMethod]
    public void AnEmptyPayloadIsRefused()
    {
        var stream = new MemoryStream([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => ChecksummedFile.ReadPayload(stream, 100, "parameters"));
        StringAssert.Contains(e.Message, "a payload of 0 bytes, outside 1 to 100");

        var one = new MemoryStream();
        ChecksummedFile.Write(one, "M"u8, 1, [42]);
        one.Position = 1 + 4;
        CollectionAssert.AreEqual(new byte[] { 42 }, ChecksummedFile.ReadPayload(one, 100, "parameters"), "one byte is read");
    }

    // A string of exactly maxBytes bytes is read; one byte more is refused.
    [TestMethod]
    public void AStringOfMoreThanTheMostBytesIsRefused()
    {
        static BinaryReader Reader(string text)
        {
            var stream = new MemoryStream();
            using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true)) writer.Write(text);
            stream.Position = 0;
            return new BinaryReader(stream);
        }
        Assert.AreEqual("abcd", ChecksummedFile.ReadString(Reader("abcd"), "the name", maxBytes: 4));
        var e = Assert.ThrowsExactly<InvalidDataException>(() => ChecksummedFile.ReadString(Reader("abcde"), "the name", maxBytes: 4));
        StringAssert.Contains(e.Message, "the name has a length of 5 bytes, outside 0 to 4");
    }

    // A payload of exactly the most bytes a file may hold is read; the bound is inclusive, as the message's "1 to N" says.
    [TestMethod]
    public void APayloadOfExactlyTheMostBytesIsRead()
    {
        var stream = new MemoryStream();
        ChecksummedFile.Write(stream, "M"u8, 1, [1, 2, 3]);
        stream.Position = 1 + 4;
        CollectionAssert.AreEqual(new byte[] { 1, 2, 3 }, ChecksummedFile.ReadPayload(stream, 3, "parameters"));
        stream.Position = 1 + 4;
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => ChecksummedFile.ReadPayload(stream, 2, "parameters")).Message,
            "a payload of 3 bytes, outside 1 to 2");
    }

    // A file cut inside its checksum is called truncated from the header's promise of payload and checksum, before the payload is read.
    [TestMethod]
    public void AFileCutInsideItsChecksumIsTruncatedBeforeItsPayloadIsRead()
    {
        var stream = new MemoryStream();
        ChecksummedFile.Write(stream, "M"u8, 1, [1, 2, 3]);
        stream.SetLength(stream.Length - 2);
        stream.Position = 1 + 4;
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => ChecksummedFile.ReadPayload(stream, 100, "parameters")).Message,
            "the file is truncated: the header promises 3 bytes of parameters and a 4-byte checksum, but only 5 bytes follow");
    }

    // A stream that ends inside a string is the end of the stream, not a shorter string.
    [TestMethod]
    public void AStringCutShortIsTheEndOfTheStream()
    {
        var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true)) writer.Write("abcdef");
        stream.SetLength(stream.Length - 2);
        stream.Position = 0;
        Assert.ThrowsExactly<EndOfStreamException>(() => ChecksummedFile.ReadString(new BinaryReader(stream), "the name"));
    }

    // A file shorter than the magic is called another kind of file when its bytes differ from the magic's, truncated when they match it.
    [TestMethod]
    public void AFileShorterThanTheMagicIsNamedByWhatItHolds()
    {
        var other = Assert.ThrowsExactly<InvalidDataException>(() => ChecksummedFile.ReadVersion(new MemoryStream("HX"u8.ToArray()), "HELM\n"u8, "Helmholtz machine"));
        StringAssert.Contains(other.Message, "not a Helmholtz machine file (wrong magic");
        var cut = Assert.ThrowsExactly<InvalidDataException>(() => ChecksummedFile.ReadVersion(new MemoryStream("HE"u8.ToArray()), "HELM\n"u8, "Helmholtz machine"));
        StringAssert.Contains(cut.Message, "the file is truncated: it ends after 2 bytes, inside the 5-byte magic");
        // One byte short of the magic is inside it too, not a file cut before its version.
        var oneShort = Assert.ThrowsExactly<InvalidDataException>(() => ChecksummedFile.ReadVersion(new MemoryStream("HELM"u8.ToArray()), "HELM\n"u8, "Helmholtz machine"));
        StringAssert.Contains(oneShort.Message, "the file is truncated: it ends after 4 bytes, inside the 5-byte magic");
    }
}
