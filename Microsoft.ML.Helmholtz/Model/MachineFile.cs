using System.Text;
using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Model;

/// <summary>
/// The model file. Version 2 (written now):
/// <code>
/// magic "HELMHOLTZ-MACHINE\n" (18 bytes) · int32 version = 2 · int64 payload length N
/// payload (N bytes): architecture (length-prefixed UTF-8) · int64 steps trained · int32 parameter count
///                    · per parameter: name · int32 rows · int32 columns · rows × columns float32
/// uint32 CRC-32 (IEEE) of the payload · end of file
/// </code>
/// Version 1 (still read) has no payload length, no steps and no checksum. Reading is strict: every
/// defect is an <see cref="InvalidDataException"/> that says what is wrong: a file that ends early
/// (even inside the magic), a checksum that does not match, bytes after the end, a parameter that
/// does not fit the architecture, a weight that is NaN or infinite, an architecture too large.
/// Numbers are little-endian on any host (BinaryWriter's, and <see cref="LittleEndian"/> for the arrays).
/// </summary>
internal static class MachineFile
{
    /// <summary>Load refuses a value that is not finite: a machine holding one is refused before any file is written.</summary>
    public static void RequireFinite(IEnumerable<Parameter> parameters)
    {
        if (FirstNotFinite(parameters) is var (p, _))
            throw new InvalidOperationException($"{p.Name} holds a value that is not finite, which a model file cannot hold (Load would refuse it): nothing was written.");
    }

    /// <summary>
    /// What the estimators, feature extractors and exports check on their copy before any work: a parameter that is NaN or ±∞
    /// (set by hand; Load, Save and training never leave one) would give NaN or a finite wrong value, not a refusal.
    /// </summary>
    public static void RequireFiniteToScore(IEnumerable<Parameter> parameters)
    {
        if (FirstNotFinite(parameters) is var (p, i))
            throw new NotFiniteNumberException($"The machine's parameter {p.Name} holds {p.Value[i]} (element {i}), " +
                "and the estimators, feature extractors, exports and generators need every parameter finite, as Load and Save do.", p.Value[i]);
    }

    /// <summary>The first parameter holding a value that is not finite, and that value's element; null when all are finite.</summary>
    private static (Parameter Parameter, int Element)? FirstNotFinite(IEnumerable<Parameter> parameters)
    {
        foreach (Parameter p in parameters)
            if (!Kernels.AllFinite(p.Value)) return (p, Array.FindIndex(p.Value, v => !float.IsFinite(v)));
        return null;
    }

    public const int CurrentVersion = 2;
    private static readonly byte[] Magic = "HELMHOLTZ-MACHINE\n"u8.ToArray();

    // The most a payload can hold: every parameter, plus names and shapes (well under 1 MiB for any architecture string).
    private const long MaxPayload = HelmholtzArchitecture.MaxParameterCount * sizeof(float) + (1 << 20);

    /// <summary>The payload of <paramref name="machine"/>'s current parameters (the caller holds them for reading).</summary>
    public static byte[] Payload(HelmholtzMachine machine)
    {
        long length = 0;
        foreach (Parameter p in machine.Parameters) length += (long)p.Length * sizeof(float) + p.Name.Length * 3L + 16;
        var buffer = new MemoryStream((int)Math.Min(length + 1024, Array.MaxLength));
        using (var writer = new BinaryWriter(buffer, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(machine.Architecture.ToString());
            writer.Write(machine.StepsTrained);
            writer.Write(machine.Parameters.Count);
            foreach (Parameter p in machine.Parameters)
            {
                writer.Write(p.Name);
                writer.Write(p.Rows);
                writer.Write(p.Columns);
                LittleEndian.Write<float>(writer, p.Value);
            }
        }
        return buffer.ToArray();
    }

    /// <summary>Writes the version-2 file around <paramref name="payload"/>.</summary>
    public static void Write(Stream stream, ReadOnlySpan<byte> payload) => ChecksummedFile.Write(stream, Magic, CurrentVersion, payload);

    public static HelmholtzMachine Read(Stream stream, IMatrixEngine engine)
    {
        int version = ChecksummedFile.ReadVersion(stream, Magic, "Helmholtz machine");
        HelmholtzMachine machine = version switch
        {
            1 => ReadVersion1(stream, engine),
            2 => ReadVersion2(stream, engine),
            _ => throw new InvalidDataException($"format version {version} is not supported (this library reads versions 1 and {CurrentVersion})."),
        };
        ChecksummedFile.EnsureEnd(stream, "the model");
        return machine;
    }

    private static HelmholtzMachine ReadVersion2(Stream stream, IMatrixEngine engine)
    {
        byte[] payload = ChecksummedFile.ReadPayload(stream, MaxPayload, "parameters");
        using var reader = new BinaryReader(new MemoryStream(payload, writable: false), Encoding.UTF8);
        try
        {
            HelmholtzArchitecture architecture = ReadArchitecture(reader);
            long steps = reader.ReadInt64();
            if (steps < 0) throw new InvalidDataException($"the step count {steps} is negative.");
            HelmholtzMachine machine = ReadParameters(reader, architecture, engine, "the payload is too short (its checksum matches, so it was written wrongly)");
            machine.StepsTrained = steps;
            if (reader.BaseStream.Position != payload.Length)
                throw new InvalidDataException($"the payload holds {payload.Length - reader.BaseStream.Position} bytes after the last parameter.");
            return machine;
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException("the payload ends inside a parameter (its checksum matches, so it was written wrongly).", e);
        }
    }

    private static HelmholtzMachine ReadVersion1(Stream stream, IMatrixEngine engine)
    {
        using var reader = new BinaryReader(stream, Encoding.UTF8, leaveOpen: true);
        try
        {
            HelmholtzArchitecture architecture = ReadArchitecture(reader);
            if (stream.CanSeek) return ReadParameters(reader, architecture, engine, "the file is truncated");
            // A stream that cannot say its length (a gzip or zip entry) is read to its end first, as the bytes arrive, so that a
            // header declaring a large machine in a short stream allocates no machine: the rest is then checked as a file's is.
            using var rest = new MemoryStream();
            long limit = architecture.ParameterCount * sizeof(float) + Version1Overhead;
            byte[] chunk = new byte[81920];
            for (int read; (read = stream.Read(chunk, 0, (int)Math.Min(chunk.Length, limit + 1 - rest.Length))) > 0;)
            {
                rest.Write(chunk, 0, read);
                if (rest.Length > limit)
                    throw new InvalidDataException($"more than {limit:N0} bytes follow the architecture {Requires.Shortened(architecture.ToString())}, which has " +
                        $"{architecture.ParameterCount:N0} parameter values: the file was damaged or written by something else.");
            }
            rest.Position = 0;
            using var restReader = new BinaryReader(rest, Encoding.UTF8, leaveOpen: true);
            HelmholtzMachine machine = ReadParameters(restReader, architecture, engine, "the file is truncated");
            ChecksummedFile.EnsureEnd(rest, "the model");
            return machine;
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException("the file is truncated.", e);
        }
    }

    /// <summary>A bound on a version-1 file's bytes besides the values: the parameter count, and each parameter's name and shape.</summary>
    private const long Version1Overhead = 1 << 20;

    private static HelmholtzArchitecture ReadArchitecture(BinaryReader reader)
    {
        string text = ChecksummedFile.ReadString(reader, "the architecture");
        try
        {
            return HelmholtzArchitecture.Parse(VisibleRankOneAsGaussian(text));
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            throw new InvalidDataException($"the architecture '{Requires.Shortened(text)}' is invalid: {Requires.Shortened(e.Message, 300)}", e);
        }
    }

    /// <summary>
    /// A file written before a rank-one posterior on the visible layer was refused ("16gr-8g") is read with a Gaussian visible
    /// layer ("16g-8g"): the visible layer has no recognition layer, and its generative one is the same, parameters and all.
    /// </summary>
    internal static string VisibleRankOneAsGaussian(string text)
    {
        int dash = text.IndexOf('-');
        if (dash <= 0) return text;
        LayerDefinition visible;
        try { visible = LayerDefinition.Parse(text[..dash]); }
        catch (FormatException) { return text; }   // the whole text's parse names it
        return visible.Units == UnitType.GaussianRankOne ? (visible with { Units = UnitType.Gaussian }) + text[dash..] : text;
    }

    /// <summary>The parameters after the architecture; <paramref name="truncated"/> begins the message for a stream too short for them.</summary>
    private static HelmholtzMachine ReadParameters(BinaryReader reader, HelmholtzArchitecture architecture, IMatrixEngine engine, string truncated)
    {
        int count = reader.ReadInt32();
        // Too few bytes for the architecture's values is refused before a machine that size is allocated.
        Stream input = reader.BaseStream;
        if (input.CanSeek && architecture.ParameterCount * sizeof(float) > input.Length - input.Position)
            throw new InvalidDataException($"{truncated}: architecture {Requires.Shortened(architecture.ToString())} has {architecture.ParameterCount} parameter values " +
                $"({architecture.ParameterCount * sizeof(float)} bytes), but only {input.Length - input.Position} bytes follow.");
        var machine = HelmholtzMachine.Uninitialized(architecture, engine);
        if (count != machine.Parameters.Count)
            throw new InvalidDataException($"holds {count} parameters; architecture {Requires.Shortened(architecture.ToString())} has {machine.Parameters.Count}.");
        foreach (Parameter p in machine.Parameters)
        {
            string name = ChecksummedFile.ReadString(reader, $"the name of parameter {p.Name}");
            int rows = reader.ReadInt32(), columns = reader.ReadInt32();
            if (name != p.Name || rows != p.Rows || columns != p.Columns)
                throw new InvalidDataException($"expected parameter {p.Name} [{p.Rows}×{p.Columns}], found {Requires.Shortened(name)} [{rows}×{columns}].");
            Span<byte> bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(p.Value.AsSpan());
            if (reader.BaseStream.ReadAtLeast(bytes, bytes.Length, throwOnEndOfStream: false) < bytes.Length)
                throw new EndOfStreamException();
            LittleEndian.ToHostOrder<float>(p.Value);
            if (!Kernels.AllFinite(p.Value))
            {
                int at = Array.FindIndex(p.Value, v => !float.IsFinite(v));
                throw new InvalidDataException($"parameter {p.Name} holds {p.Value[at].ToString(System.Globalization.CultureInfo.InvariantCulture)} at index {at}: a model's parameters must be finite.");
            }
        }
        return machine;
    }
}
