using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Microsoft.ML.Helmholtz.Data;

/// <summary>
/// The model and training-state files hold their arrays little-endian, as BinaryWriter holds every other
/// number: on a little-endian host these are the values' own bytes, and on a big-endian one they are
/// reversed on the way in and out, so that a file means the same on any host.
/// </summary>
internal static class LittleEndian
{
    /// <summary>Writes <paramref name="values"/> as little-endian bytes.</summary>
    public static void Write<T>(BinaryWriter writer, ReadOnlySpan<T> values) where T : unmanaged
        => Write(writer, values, BitConverter.IsLittleEndian);

    /// <summary><see cref="Write{T}(BinaryWriter, ReadOnlySpan{T})"/> as a host of the given order would (tests take the other branch).</summary>
    internal static void Write<T>(BinaryWriter writer, ReadOnlySpan<T> values, bool littleEndianHost) where T : unmanaged
    {
        if (littleEndianHost)
        {
            writer.Write(MemoryMarshal.AsBytes(values));
            return;
        }
        T[] copy = values.ToArray();
        ToHostOrder<T>(copy, littleEndianHost);   // reversing is its own inverse
        writer.Write(MemoryMarshal.AsBytes(copy.AsSpan()));
    }

    /// <summary>Turns values read as little-endian bytes into the host's order, in place.</summary>
    public static void ToHostOrder<T>(Span<T> values) where T : unmanaged => ToHostOrder(values, BitConverter.IsLittleEndian);

    /// <summary><see cref="ToHostOrder{T}(Span{T})"/> as a host of the given order would.</summary>
    internal static void ToHostOrder<T>(Span<T> values, bool littleEndianHost) where T : unmanaged
    {
        if (littleEndianHost) return;
        if (typeof(T) == typeof(float) || typeof(T) == typeof(int))
        {
            Span<int> words = MemoryMarshal.Cast<T, int>(values);
            BinaryPrimitives.ReverseEndianness(words, words);
        }
        else if (typeof(T) == typeof(double) || typeof(T) == typeof(ulong) || typeof(T) == typeof(long))
        {
            Span<long> words = MemoryMarshal.Cast<T, long>(values);
            BinaryPrimitives.ReverseEndianness(words, words);
        }
        else throw new NotSupportedException($"No byte order for {typeof(T).Name}.");
    }
}
