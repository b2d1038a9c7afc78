using System.Buffers.Binary;
using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Temporal;

/// <summary>
/// The temporal Helmholtz machine of the seed's "Extending the model over time": a Helmholtz
/// machine over one frame, conditioned at each step t on the state z_t of an LSTM that has read the
/// frames before t (z_t = LSTM(z_{t−1}, v_{t−1}), v_0 = 0). The conditioning is one affine map of z_t,
/// c_t = U z_t + a, split into a per-row addition to the pre-activations of every layer of both
/// networks (<see cref="LayerConditioning"/>): the generative layers' logits or means, the prior's
/// mean included, and the recognition layers', so that both p(v_t, h_t | z_t) and
/// q(h_t | v_t, z_t) know the past. Because z_t is a deterministic function of v_{&lt;t},
/// p(v_1…v_T) = Π_t p(v_t | z_t) exactly, and the free energy of a sequence is Σ_t F_t.
/// </summary>
/// <remarks>
/// U starts at zero, so a fresh temporal machine is its frame machine unconditioned (a = 0); the
/// first gradient steps move U off zero, and the LSTM learns through it. Like
/// <see cref="HelmholtzMachine"/>, its computations run on one thread at a time (its layers, the LSTM
/// and the map compute in buffers of their own); a second thread is refused by the frame machine's guard,
/// and so is a direct call on <see cref="Recurrence"/> while another thread computes with the model. Two
/// threads that both call the LSTM directly are not told apart.
/// </remarks>
public sealed class TemporalHelmholtzMachine
{
    private readonly int[] _generativeOffset, _recognitionOffset;

    private TemporalHelmholtzMachine(HelmholtzMachine machine, Lstm recurrence, AffineMap map)
    {
        Machine = machine;
        Recurrence = recurrence;
        recurrence.ComputeGuard = machine.Access.Compute;
        // The frame machine's advice (score from the estimators' private copies, or Clone it) does not fit the model, which has no Clone.
        machine.Access.Compute.Rename("This TemporalHelmholtzMachine",
            "Its frame machine and LSTM compute in buffers of their own: train or evaluate it on one thread; score it from other threads " +
            "with a TemporalFixedNoiseLogLikelihood each (each works on a private copy), or give each thread its own copy (Save and Load).");
        ConditioningMap = map;
        var layers = machine.Architecture.Layers;
        _generativeOffset = new int[layers.Count];
        _recognitionOffset = new int[layers.Count];
        int offset = 0;
        for (int l = 0; l < layers.Count; l++) { _generativeOffset[l] = offset; offset += layers[l].Size; }
        for (int l = 1; l < layers.Count; l++) { _recognitionOffset[l] = offset; offset += layers[l].Size; }
        ConditioningWidth = offset;
        TemporalParameters = Array.AsReadOnly(recurrence.Parameters.Concat(map.Parameters).ToArray());
        Parameters = Array.AsReadOnly(machine.Parameters.Concat(TemporalParameters).ToArray());
    }

    /// <summary>The frame model p(v_t, h_t | z_t), q(h_t | v_t, z_t).</summary>
    public HelmholtzMachine Machine { get; }

    /// <summary>The LSTM over the frames: input v_{t−1}, state z_t.</summary>
    public Lstm Recurrence { get; }

    internal AffineMap ConditioningMap { get; }

    /// <summary>Values per frame: the visible layer's size.</summary>
    public int FrameSize => Machine.Architecture.Visible.Size;

    /// <summary>The LSTM's hidden units.</summary>
    public int RecurrentUnits => Recurrence.HiddenSize;

    /// <summary>The pre-activations conditioned per row: every generative layer, then every recognition layer.</summary>
    public int ConditioningWidth { get; }

    /// <summary>
    /// The most values one frame takes in the buffers of the temporal parts: its conditioning (every layer's),
    /// the LSTM's input and its four gates. Frames are checked against it (and the frame machine's rows against
    /// <see cref="HelmholtzMachine.WidestRow"/>) before those buffers are allocated.
    /// </summary>
    internal long WidestFrameRow => Math.Max(Math.Max(ConditioningWidth, FrameSize), 4L * RecurrentUnits);

    /// <summary>The LSTM's and the conditioning map's parameters.</summary>
    public IReadOnlyList<Parameter> TemporalParameters { get; }

    /// <summary>Every parameter: the frame machine's, then <see cref="TemporalParameters"/>.</summary>
    public IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>
    /// A temporal machine over frames of <paramref name="architecture"/> with an LSTM of
    /// <paramref name="recurrentUnits"/> units: the frame machine as <see cref="HelmholtzMachine.Create"/>
    /// makes it, the LSTM as <see cref="Lstm.Initialize"/> does, the conditioning map at zero; all from <paramref name="seed"/>.
    /// </summary>
    public static TemporalHelmholtzMachine Create(HelmholtzArchitecture architecture, int recurrentUnits, ulong seed, IMatrixEngine? engine = null)
    {
        ArgumentNullException.ThrowIfNull(architecture);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(recurrentUnits);
        // Named as the units, before the frame machine is allocated (the LSTM refused it naming its weights' rows).
        if (FirstOversizedParameter(architecture, recurrentUnits) is { } oversized)
            throw new ArgumentOutOfRangeException(nameof(recurrentUnits), recurrentUnits, $"{recurrentUnits:N0} recurrent units make the parameter {oversized.Name} of " +
                $"{oversized.Values:N0} values, more than the {Parameter.MaxValues:N0} a parameter may hold (architecture {architecture}): use fewer recurrent units.");
        engine ??= MatrixEngine.Default;
        var machine = HelmholtzMachine.Create(architecture, seed, engine);
        var lstm = new Lstm(LstmName, architecture.Visible.Size, recurrentUnits, engine);
        lstm.Initialize(new RandomStream(seed).Fork(1));
        var map = new AffineMap(MapName, recurrentUnits, (int)ConditioningWidthOf(architecture), engine);
        return new TemporalHelmholtzMachine(machine, lstm, map);
    }

    /// <summary>The first column of layer <paramref name="layer"/>'s conditioning in c (generative layers 0…L, recognition 1…L).</summary>
    internal int ConditioningOffset(bool recognition, int layer) => recognition ? _recognitionOffset[layer] : _generativeOffset[layer];

    /// <summary>
    /// Sets the conditioning of the first <paramref name="rows"/> rows of <paramref name="conditioning"/>:
    /// row r takes row rowSource[r] of <paramref name="c"/> ([distinct rows × <see cref="ConditioningWidth"/>]), cut into its layers.
    /// </summary>
    internal void Scatter(ReadOnlySpan<float> c, ReadOnlySpan<int> rowSource, int rows, LayerConditioning conditioning)
    {
        var layers = Machine.Architecture.Layers;
        for (int l = 0; l < layers.Count; l++)
        {
            int size = layers[l].Size;
            Kernels.GatherColumnBlock(c, ConditioningWidth, _generativeOffset[l], rowSource, rows, conditioning.Generative(l, rows), size);
            if (l > 0) Kernels.GatherColumnBlock(c, ConditioningWidth, _recognitionOffset[l], rowSource, rows, conditioning.Recognition(l, rows), size);
        }
    }

    /// <summary>
    /// dc[d] = Σ over rows r with rowSource[r] = d of the conditioning gradients of row r, for the
    /// <paramref name="distinct"/> rows of <paramref name="dc"/> ([distinct × <see cref="ConditioningWidth"/>]; overwritten).
    /// </summary>
    internal void Gather(LayerConditioning conditioning, ReadOnlySpan<int> rowSource, int rows, int distinct, Span<float> dc)
    {
        dc[..(distinct * ConditioningWidth)].Clear();
        var layers = Machine.Architecture.Layers;
        for (int l = 0; l < layers.Count; l++)
        {
            int size = layers[l].Size;
            Kernels.ScatterAddColumnBlock(conditioning.GenerativeGradient(l, rows), size, rowSource, rows, dc, ConditioningWidth, _generativeOffset[l]);
            if (l > 0) Kernels.ScatterAddColumnBlock(conditioning.RecognitionGradient(l, rows), size, rowSource, rows, dc, ConditioningWidth, _recognitionOffset[l]);
        }
    }

    /// <summary>Zeroes every parameter's gradient.</summary>
    public void ZeroGradients()
    {
        using var use = Machine.Access.Compute.Enter(nameof(ZeroGradients));   // refused while another thread trains
        foreach (Parameter p in Parameters) p.ZeroGradient();
    }

    // "HTMP": a temporal machine file. Then the version, the LSTM's units, the frame machine's own file
    // (length-prefixed: its reader wants a stream that ends where it ends; it has its own CRC), each temporal
    // parameter's count and values, and a CRC-32 of those counts and values.
    private const uint FileMagic = 0x484D5450;
    private const int FileVersion = 1;

    /// <summary>
    /// Saves to <paramref name="path"/> atomically (a temporary file beside it, flushed, then renamed
    /// over it): a failure leaves an earlier file intact and nothing partial behind.
    /// </summary>
    public void Save(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        byte[] payload = Payload();
        AtomicFile.Write(path, "the temporal model", stream => stream.Write(payload));
    }

    /// <summary>Writes the model to <paramref name="stream"/>.</summary>
    public void Save(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        stream.Write(Payload());
    }

    private byte[] Payload()
    {
        // The frame machine's parameters and the temporal ones are read between two training steps.
        using var read = Machine.Access.EnterRead();
        MachineFile.RequireFinite(TemporalParameters);   // the frame machine's own Save checks its parameters
        var frameMachine = new MemoryStream();
        Machine.Save(frameMachine);
        var output = new MemoryStream();
        var writer = new BinaryWriter(output);
        writer.Write(FileMagic);
        writer.Write(FileVersion);
        writer.Write(RecurrentUnits);
        writer.Write(frameMachine.Length);
        writer.Write(frameMachine.GetBuffer(), 0, (int)frameMachine.Length);
        var crc = new System.IO.Hashing.Crc32();
        foreach (Parameter p in TemporalParameters)
        {
            byte[] bytes = new byte[sizeof(int) + p.Length * sizeof(float)];
            BinaryPrimitives.WriteInt32LittleEndian(bytes, p.Length);
            for (int i = 0; i < p.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(sizeof(int) + i * sizeof(float)), p.Value[i]);
            crc.Append(bytes);
            writer.Write(bytes);
        }
        writer.Write(crc.GetCurrentHashAsUInt32());
        writer.Flush();
        return output.ToArray();
    }

    /// <summary>Loads a file written by <see cref="Save(string)"/>; a defect is an <see cref="InvalidDataException"/> naming the path and what is wrong.</summary>
    public static TemporalHelmholtzMachine Load(string path, IMatrixEngine? engine = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        // As HelmholtzMachine.Load says it: a directory is not a missing file.
        if (Directory.Exists(path)) throw new FileNotFoundException($"{path}: is a directory, not a temporal model file.", path);
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: temporal model file not found.", path);
        using var stream = File.OpenRead(path);
        try
        {
            return Load(stream, engine);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
    }

    private const string LstmName = "temporal.lstm", MapName = "temporal.conditioning";

    /// <summary>
    /// The temporal parameters' names and value counts, in their order, as <see cref="Lstm"/> (Wx [4H × D], Wh [4H × H], b [4H])
    /// and <see cref="AffineMap"/> (W [width × H], b [width]) shape them: counted before anything is allocated.
    /// </summary>
    private static (string Name, long Values)[] TemporalShapes(int frameSize, int units, long width) =>
    [
        (LstmName + ".Wx", 4L * units * frameSize), (LstmName + ".Wh", 4L * units * units), (LstmName + ".b", 4L * units),
        (MapName + ".W", width * units), (MapName + ".b", width),
    ];

    /// <summary>The conditioning map's outputs for <paramref name="architecture"/>: every generative layer's units, then every recognition layer's.</summary>
    internal static long ConditioningWidthOf(HelmholtzArchitecture architecture)
        => architecture.Layers.Sum(l => (long)l.Size) + architecture.Layers.Skip(1).Sum(l => (long)l.Size);

    /// <summary>The first temporal parameter of a model of <paramref name="architecture"/> with <paramref name="units"/> LSTM units that would pass <see cref="Parameter.MaxValues"/>, or null.</summary>
    internal static (string Name, long Values)? FirstOversizedParameter(HelmholtzArchitecture architecture, int units)
    {
        foreach (var shape in TemporalShapes(architecture.Visible.Size, units, ConditioningWidthOf(architecture)))
            if (shape.Values > Parameter.MaxValues) return shape;
        return null;
    }

    /// <summary>Reads a model written by <see cref="Save(Stream)"/> from <paramref name="stream"/>.</summary>
    public static TemporalHelmholtzMachine Load(Stream stream, IMatrixEngine? engine = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var reader = new BinaryReader(stream);
        try
        {
            if (reader.ReadUInt32() != FileMagic) throw new InvalidDataException("not a temporal Helmholtz machine file (wrong magic number).");
            int version = reader.ReadInt32();
            if (version != FileVersion) throw new InvalidDataException($"file format version {version}; this library reads version {FileVersion}.");
            int units = reader.ReadInt32();
            if (units <= 0) throw new InvalidDataException($"the LSTM has {units} units.");
            long length = reader.ReadInt64();
            if (length <= 0 || length > Array.MaxLength) throw new InvalidDataException($"the frame machine's length {length} is impossible.");
            // A length past the file's end is refused before it is allocated (a stream that cannot tell is read in growing chunks).
            if (stream.CanSeek && length > stream.Length - stream.Position)
                throw new InvalidDataException($"the file is truncated: the header gives the frame machine {length} bytes, but only {stream.Length - stream.Position} follow.");
            byte[] frameBytes = ChecksummedFile.ReadExactly(stream, (int)length, "the frame machine");
            HelmholtzMachine machine = HelmholtzMachine.Load(new MemoryStream(frameBytes), engine);
            engine = machine.Engine;

            // The units are checked against the parameter limit and the bytes left, and every value read, before the LSTM is built:
            // a damaged units field would otherwise allocate gigabytes first.
            long width = ConditioningWidthOf(machine.Architecture);
            var shapes = TemporalShapes(machine.Architecture.Visible.Size, units, width);
            foreach (var (name, values) in shapes)
                if (values > Parameter.MaxValues)
                    throw new InvalidDataException($"an LSTM of {units} units would make {name} {values} values, more than a parameter may hold ({Parameter.MaxValues}): the units are damaged.");
            long needed = shapes.Sum(s => sizeof(int) + s.Values * sizeof(float)) + sizeof(uint);
            if (stream.CanSeek && needed > stream.Length - stream.Position)
                throw new InvalidDataException($"the file is truncated: an LSTM of {units} units and its conditioning map need {needed} bytes, but only {stream.Length - stream.Position} follow.");
            var crc = new System.IO.Hashing.Crc32();
            // The values as the file holds them, little-endian, decoded on any host (a copy of the bytes would be the host's order).
            var blocks = new float[shapes.Length][];
            for (int j = 0; j < shapes.Length; j++)
            {
                var (name, values) = shapes[j];
                byte[] countBytes = ChecksummedFile.ReadExactly(stream, sizeof(int), $"the length of {name}");
                int count = BinaryPrimitives.ReadInt32LittleEndian(countBytes);
                if (count != values) throw new InvalidDataException($"{name} holds {count} values in the file; this architecture needs {values}.");
                crc.Append(countBytes);
                byte[] bytes = ChecksummedFile.ReadExactly(stream, count * sizeof(float), name);
                crc.Append(bytes);
                blocks[j] = new float[count];
                for (int i = 0; i < count; i++)
                {
                    float v = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(i * sizeof(float)));
                    if (!float.IsFinite(v)) throw new InvalidDataException($"{name}[{i}] is {v}.");
                    blocks[j][i] = v;
                }
            }
            if (reader.ReadUInt32() != crc.GetCurrentHashAsUInt32())
                throw new InvalidDataException("the checksum of the LSTM's and the conditioning map's values does not match: the file is damaged.");
            if (stream.ReadByte() != -1) throw new InvalidDataException("there are bytes after the model.");

            TemporalHelmholtzMachine model;
            try
            {
                var lstm = new Lstm(LstmName, machine.Architecture.Visible.Size, units, engine);
                model = new TemporalHelmholtzMachine(machine, lstm, new AffineMap(MapName, units, (int)width, engine));
            }
            catch (ArgumentException e)
            {
                throw new InvalidDataException($"an LSTM of {units} units cannot be built: {e.Message}", e);
            }
            for (int j = 0; j < shapes.Length; j++)
                blocks[j].CopyTo(model.TemporalParameters[j].Value);
            return model;
        }
        catch (EndOfStreamException)
        {
            throw new InvalidDataException("the file ends before the model does.");
        }
    }
}
