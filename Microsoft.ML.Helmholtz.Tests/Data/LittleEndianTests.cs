using System.Buffers.Binary;
using Microsoft.ML.Helmholtz.Data;

namespace Microsoft.ML.Helmholtz.Tests.Data;

/// <summary>
/// Model and training-state files hold their arrays little-endian on any host. This machine is little-endian,
/// so the big-endian branch is taken by asking for it: what a big-endian host would write is the values'
/// little-endian bytes, and what it reads back are the values.
/// </summary>
[TestClass]
public sealed class LittleEndianTests
{
    [TestMethod]
    public void ABigEndianHostWritesAndReadsTheLittleEndianBytes()
    {
        float[] floats = [1.5f, -2.25e-7f, float.MaxValue, 0f];
        double[] doubles = [Math.PI, -1e-300];
        ulong[] words = [0x0123456789ABCDEFUL, 42];
        foreach (bool littleEndianHost in new[] { true, false })
        {
            // The values as a big-endian host holds them: their bytes reversed from this machine's.
            float[] hostFloats = littleEndianHost ? floats : floats.Select(f => BitConverter.Int32BitsToSingle(BinaryPrimitives.ReverseEndianness(BitConverter.SingleToInt32Bits(f)))).ToArray();
            double[] hostDoubles = littleEndianHost ? doubles : doubles.Select(d => BitConverter.Int64BitsToDouble(BinaryPrimitives.ReverseEndianness(BitConverter.DoubleToInt64Bits(d)))).ToArray();
            ulong[] hostWords = littleEndianHost ? words : words.Select(BinaryPrimitives.ReverseEndianness).ToArray();
            float[] before = hostFloats.ToArray();
            var stream = new MemoryStream();
            using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true))
            {
                LittleEndian.Write<float>(writer, hostFloats, littleEndianHost);
                LittleEndian.Write<double>(writer, hostDoubles, littleEndianHost);
                LittleEndian.Write<ulong>(writer, hostWords, littleEndianHost);
            }
            byte[] bytes = stream.ToArray();
            for (int i = 0; i < floats.Length; i++) Assert.AreEqual(floats[i], BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(4 * i)), $"float {i}, little-endian host {littleEndianHost}");
            int at = 4 * floats.Length;
            for (int i = 0; i < doubles.Length; i++) Assert.AreEqual(doubles[i], BinaryPrimitives.ReadDoubleLittleEndian(bytes.AsSpan(at + 8 * i)), $"double {i}");
            at += 8 * doubles.Length;
            for (int i = 0; i < words.Length; i++) Assert.AreEqual(words[i], BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(at + 8 * i)), $"word {i}");
            CollectionAssert.AreEqual(before, hostFloats, "the caller's values are left as they were");

            // Read back: the file's bytes, turned into the host's order.
            float[] readFloats = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(bytes.AsSpan(0, 4 * floats.Length)).ToArray();
            LittleEndian.ToHostOrder<float>(readFloats, littleEndianHost);
            CollectionAssert.AreEqual(hostFloats, readFloats);
            ulong[] readWords = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ulong>(bytes.AsSpan(at, 8 * words.Length)).ToArray();
            LittleEndian.ToHostOrder<ulong>(readWords, littleEndianHost);
            CollectionAssert.AreEqual(hostWords, readWords);
        }
    }

    // The other 4- and 8-byte types ToHostOrder names, int and long, are reversed on a big-endian host too, and left on a little-endian one.
    [TestMethod]
    public void IntsAndLongsAreTurnedIntoABigEndianHostsOrderToo()
    {
        int[] ints = [0x01020304, -2];
        long[] longs = [0x0102030405060708L, -3];
        foreach (bool littleEndianHost in new[] { true, false })
        {
            int[] hostInts = ints.ToArray();
            long[] hostLongs = longs.ToArray();
            LittleEndian.ToHostOrder<int>(hostInts, littleEndianHost);
            LittleEndian.ToHostOrder<long>(hostLongs, littleEndianHost);
            CollectionAssert.AreEqual(littleEndianHost ? ints : ints.Select(v => BinaryPrimitives.ReverseEndianness(v)).ToArray(), hostInts, $"little-endian host {littleEndianHost}");
            CollectionAssert.AreEqual(littleEndianHost ? longs : longs.Select(v => BinaryPrimitives.ReverseEndianness(v)).ToArray(), hostLongs, $"little-endian host {littleEndianHost}");
        }
    }
}
