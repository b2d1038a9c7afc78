using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Learning;

namespace Microsoft.ML.Helmholtz.Tests.Support;

/// <summary>A training state's file taken apart and put together again: as an earlier version saved it, or with a field changed.</summary>
internal static class StateFileBytes
{
    private static readonly byte[] Magic = "HELMHOLTZ-TRAINING-STATE\n"u8.ToArray();

    /// <summary>The payload of <paramref name="state"/>'s file (format version 4).</summary>
    public static byte[] Payload(TrainingState state)
    {
        var file = new MemoryStream();
        state.Save(file);
        byte[] bytes = file.ToArray();
        Assert.AreEqual(4, BitConverter.ToInt32(bytes, Magic.Length), "the premise: the library writes version 4");
        return bytes[(Magic.Length + sizeof(int) + sizeof(long))..^sizeof(uint)];
    }

    /// <summary>Where the settings' flag byte lies in a payload of version 4: after the two names.</summary>
    public static int SettingsAt(byte[] payload)
    {
        var reader = new BinaryReader(new MemoryStream(payload));
        reader.ReadString();
        reader.ReadString();
        return (int)reader.BaseStream.Position;
    }

    /// <summary>A payload of version 4 without its settings field (the flag and the two strings): as versions 1 to 3 lay it out.</summary>
    public static byte[] WithoutSettings(byte[] payload)
    {
        int at = SettingsAt(payload);
        var reader = new BinaryReader(new MemoryStream(payload)) { BaseStream = { Position = at } };
        if (reader.ReadBoolean())
        {
            reader.ReadString();
            reader.ReadString();
        }
        return [.. payload[..at], .. payload[(int)reader.BaseStream.Position..]];
    }

    /// <summary>
    /// Where the fingerprint's flag byte lies in <paramref name="payload"/> (of version 4, or of version 3 when
    /// <paramref name="withSettings"/> is false): after the two names, the settings, and eight fixed fields (steps, schedule epoch,
    /// minibatches, batch size, training rows, two partial sums, the divergence reference).
    /// </summary>
    public static int FingerprintAt(byte[] payload, bool withSettings = true)
    {
        byte[] laidOut = withSettings ? WithoutSettings(payload) : payload;
        int removed = payload.Length - laidOut.Length;
        return SettingsAt(laidOut) + removed + 8 + 4 + 4 + 4 + 8 + 8 + 8 + 8;
    }

    /// <summary>The state file of <paramref name="payload"/> as format <paramref name="version"/>, its checksum matching.</summary>
    public static MemoryStream Framed(byte[] payload, int version)
    {
        var framed = new MemoryStream();
        ChecksummedFile.Write(framed, Magic, version, payload);
        framed.Position = 0;
        return framed;
    }

    /// <summary><paramref name="state"/> written as format version 3 (the version 4 file without its settings) and loaded back: a state whose rule and optimiser are known by their names alone.</summary>
    public static TrainingState AsVersion3(TrainingState state) => TrainingState.Load(Framed(WithoutSettings(Payload(state)), 3));

    /// <summary>
    /// <paramref name="state"/> written as format version 2 (the version 4 file without its settings and its fingerprint field) and
    /// loaded back: a state whose machine is known by its step count alone.
    /// </summary>
    public static TrainingState AsVersion2(TrainingState state)
    {
        byte[] payload = WithoutSettings(Payload(state));
        int at = FingerprintAt(payload, withSettings: false);
        Assert.AreEqual(1, payload[at], "the premise: the state has a fingerprint");
        return TrainingState.Load(Framed([.. payload[..at], .. payload[(at + 1 + sizeof(ulong))..]], 2));
    }
}
