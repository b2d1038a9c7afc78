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
}
