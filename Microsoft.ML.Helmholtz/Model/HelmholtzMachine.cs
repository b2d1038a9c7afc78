using System.Text;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Model;

/// <summary>
/// A Helmholtz machine: a generative network p(X) and a recognition network q(X_{&gt;0} | X_0) over
/// one <see cref="HelmholtzArchitecture"/>. It holds the parameters; learning rules, estimators and
/// the ML.NET face all work through it.
/// </summary>
public sealed class HelmholtzMachine
{
    private static readonly byte[] Magic = "HELMHOLTZ-MACHINE\n"u8.ToArray();
    private const int FormatVersion = 1;

    private HelmholtzMachine(HelmholtzArchitecture architecture, IMatrixEngine engine)
    {
        Architecture = architecture;
        Engine = engine;
        Generative = new GenerativeNetwork(architecture, engine);
        Recognition = new RecognitionNetwork(architecture, engine);
        Parameters = Generative.Parameters.Concat(Recognition.Parameters).ToArray();
    }

    public HelmholtzArchitecture Architecture { get; }
    public IMatrixEngine Engine { get; }
    public GenerativeNetwork Generative { get; }
    public RecognitionNetwork Recognition { get; }

    /// <summary>Every parameter: the generative ones (θg) first, then the recognition ones (θr).</summary>
    public IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>
    /// A machine with random weights N(0, 1/fan-in), zero biases and unit variances, drawn from
    /// <paramref name="seed"/>.
    /// </summary>
    public static HelmholtzMachine Create(HelmholtzArchitecture architecture, ulong seed, IMatrixEngine? engine = null)
    {
        ArgumentNullException.ThrowIfNull(architecture);
        var machine = new HelmholtzMachine(architecture, engine ?? MatrixEngine.Default);
        var random = new RandomStream(seed);
        foreach (Parameter p in machine.Parameters)
        {
            if (!p.Name.EndsWith(".W", StringComparison.Ordinal)) continue;
            random.FillNormal(p.Value);
            float scale = 1f / MathF.Sqrt(p.Columns);
            for (int i = 0; i < p.Length; i++) p.Value[i] *= scale;
        }
        return machine;
    }

    /// <summary>
    /// Sets a Bernoulli visible layer's generative biases to the data's logit marginals, a common
    /// start that saves the first epochs learning the mean image.
    /// </summary>
    public void InitializeVisibleBiasesFromData(ReadOnlySpan<float> data, int rows)
    {
        if (Architecture.Visible.Units != UnitType.Bernoulli || rows <= 0) return;
        int n = Architecture.Visible.Size;
        float[] bias = Generative.Layers[0].Parameters.Single(p => p.Name.EndsWith(".b", StringComparison.Ordinal)).Value;
        var sums = new double[n];
        for (int r = 0; r < rows; r++)   // row by row: one sequential pass over the data
        {
            ReadOnlySpan<float> row = data.Slice(r * n, n);
            for (int c = 0; c < n; c++) sums[c] += row[c];
        }
        for (int c = 0; c < n; c++)
        {
            double mean = Math.Clamp(sums[c] / rows, 1e-3, 1 - 1e-3);
            bias[c] = (float)Math.Log(mean / (1 - mean));
        }
    }

    /// <summary>Zeroes every parameter's gradient.</summary>
    public void ZeroGradients()
    {
        foreach (Parameter p in Parameters) p.ZeroGradient();
    }

    /// <summary>
    /// One sample of the free energy per row: draws X_{&gt;0} ~ q(· | X_0 = states[0]) into
    /// <paramref name="states"/> and sets freeEnergy[r] = ln q(X_{&gt;0} | X_0) − ln p(X). Leaves
    /// every layer's forward current for the gradient calls that follow.
    /// </summary>
    public void SampleFreeEnergy(RandomStream random, LayerStates states, int rows, Span<double> freeEnergy, Span<double> logJoint)
    {
        Recognition.Sample(random, rows, states);
        FreeEnergyOfSample(states, rows, freeEnergy, logJoint);
    }

    /// <summary>
    /// <see cref="SampleFreeEnergy(RandomStream, LayerStates, int, Span{double}, Span{double})"/> for rows that repeat
    /// distinct visible vectors (row r is distinctVisible[rowSource[r]]; states[0] is not read): the
    /// bottom recognition layer runs once per distinct vector, and the visible rows are never copied out.
    /// </summary>
    public void SampleFreeEnergy(RandomStream random, LayerStates states, int rows, ReadOnlySpan<float> distinctVisible, int distinctRows, ReadOnlySpan<int> rowSource,
        Span<double> freeEnergy, Span<double> logJoint)
    {
        Recognition.Sample(random, rows, states, distinctVisible, distinctRows, rowSource);
        FreeEnergyOfSample(states, rows, freeEnergy, logJoint, distinctVisible, distinctRows, rowSource);
    }

    private void FreeEnergyOfSample(LayerStates states, int rows, Span<double> freeEnergy, Span<double> logJoint,
        ReadOnlySpan<float> distinctVisible = default, int distinctRows = 0, ReadOnlySpan<int> rowSource = default)
    {
        freeEnergy[..rows].Clear();
        logJoint[..rows].Clear();
        Recognition.AccumulateLogProbOfSample(states, rows, freeEnergy);
        Generative.AccumulateLogJoint(states, rows, logJoint, distinctVisible, distinctRows, rowSource);
        for (int r = 0; r < rows; r++) freeEnergy[r] -= logJoint[r];
    }

    /// <summary>An independent copy (parameters and buffers) that computes with <paramref name="engine"/>.</summary>
    public HelmholtzMachine Clone(IMatrixEngine? engine = null)
    {
        var copy = new HelmholtzMachine(Architecture, engine ?? Engine);
        for (int i = 0; i < Parameters.Count; i++) Parameters[i].Value.CopyTo(copy.Parameters[i].Value, 0);
        return copy;
    }

    /// <summary>Saves to <paramref name="path"/> atomically: a failure leaves any earlier file intact.</summary>
    public void Save(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = Path.GetFullPath(path);
        string temporary = full + ".tmp-" + Environment.ProcessId;
        try
        {
            using (var stream = File.Create(temporary)) Save(stream);
            File.Move(temporary, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temporary)) File.Delete(temporary);
        }
    }

    /// <summary>Writes the versioned binary format: magic, version, architecture, then each parameter by name and shape.</summary>
    public void Save(Stream stream)
    {
        using var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        writer.Write(Magic);
        writer.Write(FormatVersion);
        writer.Write(Architecture.ToString());
        writer.Write(Parameters.Count);
        foreach (Parameter p in Parameters)
        {
            writer.Write(p.Name);
            writer.Write(p.Rows);
            writer.Write(p.Columns);
            foreach (float v in p.Value) writer.Write(v);
        }
    }

    public static HelmholtzMachine Load(string path, IMatrixEngine? engine = null)
    {
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

    public static HelmholtzMachine Load(Stream stream, IMatrixEngine? engine = null)
    {
        using var reader = new BinaryReader(stream, Encoding.UTF8, leaveOpen: true);
        try
        {
            if (!reader.ReadBytes(Magic.Length).AsSpan().SequenceEqual(Magic)) throw new InvalidDataException("not a Helmholtz machine file (wrong magic).");
            int version = reader.ReadInt32();
            if (version != FormatVersion) throw new InvalidDataException($"format version {version} is not supported (this library reads version {FormatVersion}).");
            var architecture = HelmholtzArchitecture.Parse(reader.ReadString());
            var machine = new HelmholtzMachine(architecture, engine ?? MatrixEngine.Default);
            int count = reader.ReadInt32();
            if (count != machine.Parameters.Count) throw new InvalidDataException($"holds {count} parameters; architecture {architecture} has {machine.Parameters.Count}.");
            foreach (Parameter p in machine.Parameters)
            {
                string name = reader.ReadString();
                int rows = reader.ReadInt32(), columns = reader.ReadInt32();
                if (name != p.Name || rows != p.Rows || columns != p.Columns)
                    throw new InvalidDataException($"expected parameter {p.Name} [{p.Rows}×{p.Columns}], found {name} [{rows}×{columns}].");
                for (int i = 0; i < p.Length; i++) p.Value[i] = reader.ReadSingle();
            }
            return machine;
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException("the file is truncated.", e);
        }
        catch (FormatException e)
        {
            throw new InvalidDataException($"the architecture is malformed: {e.Message}", e);
        }
    }
}
