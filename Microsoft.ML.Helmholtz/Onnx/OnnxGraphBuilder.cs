using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Google.Protobuf;
using Microsoft.ML.Helmholtz.Onnx.Proto;

namespace Microsoft.ML.Helmholtz.Onnx;

/// <summary>
/// One dimension of a declared graph input/output: a fixed size or a symbolic name (e.g. "N").
/// Implicit conversions allow <c>Input("x", "N", 5)</c>.
/// </summary>
internal readonly record struct OnnxDim(long? Value, string? Symbol)
{
    public static implicit operator OnnxDim(long value) =>
        value >= 0 ? new(value, null) : throw new ArgumentOutOfRangeException(nameof(value), "Fixed dimensions must be >= 0.");

    public static implicit operator OnnxDim(string symbol) =>
        string.IsNullOrEmpty(symbol) ? throw new ArgumentException("Symbolic dimension needs a name.", nameof(symbol)) : new(null, symbol);

    public override string ToString() => Symbol ?? Value!.Value.ToString();
}

/// <summary>
/// Minimal builder for single-graph ONNX models: opset 18 of the default domain, IR version 8 (the
/// one released with it; ONNX Runtime 1.31 reads up to 13). Values are referred to by name; every
/// method returns the name of the value it declares. Nodes must be added in topological order
/// (inputs declared before use). The caller names the graph's inputs and outputs, often after a
/// user's columns; the builder names everything else (initializers, unnamed node outputs) with
/// <see cref="InternalPrefix"/> in front, so that a user's name never meets one of them.
/// </summary>
internal sealed class OnnxGraphBuilder
{
    public const int Opset = 18;
    public const long IrVersion = 8;

    /// <summary>What every internal value's name starts with: a graph's inputs and outputs ("one", "axis_0" …) never clash with its constants.</summary>
    public const string InternalPrefix = "helmholtz/";

    private readonly GraphProto _graph;
    private readonly HashSet<string> _values = new(StringComparer.Ordinal); // all value names declared so far
    private readonly Dictionary<float, string> _constants = [];
    private readonly long _constantByteLimit;
    private long _constantBytes;
    private int _nextId;

    /// <summary>
    /// The most bytes of constants one model may hold: a protobuf message, and so an ONNX file without
    /// external data, is at most 2 GiB − 1 bytes; 1 MiB of it is left to the nodes and names.
    /// </summary>
    public const long MaxConstantBytes = int.MaxValue - (1L << 20);

    /// <param name="graphName">GraphProto.name.</param>
    /// <param name="constantByteLimit">The most bytes of initializers the model may hold (<see cref="MaxConstantBytes"/>; less in tests).</param>
    public OnnxGraphBuilder(string graphName, long constantByteLimit = MaxConstantBytes)
    {
        ArgumentException.ThrowIfNullOrEmpty(graphName);
        ArgumentOutOfRangeException.ThrowIfNegative(constantByteLimit);
        _graph = new GraphProto { Name = graphName };
        _constantByteLimit = Math.Min(constantByteLimit, MaxConstantBytes);
    }

    /// <summary>ModelProto.domain, reverse-DNS style (e.g. "org.example.helmholtz"); optional.</summary>
    public string ModelDomain { get; set; } = "";

    // ---------------------------------------------------------------- graph inputs / outputs

    /// <summary>Declares a float graph input, e.g. <c>Input("x", "N", 5)</c>.</summary>
    public string Input(string name, params OnnxDim[] dims) => Input(name, TensorProto.Types.DataType.Float, dims);

    public string Input(string name, TensorProto.Types.DataType elemType, params OnnxDim[] dims)
    {
        Declare(name);
        _graph.Input.Add(ValueInfo(name, elemType, dims));
        return name;
    }

    /// <summary>Declares an existing value as a float graph output, e.g. <c>Output("y", "N", 3)</c>.</summary>
    public string Output(string name, params OnnxDim[] dims) => Output(name, TensorProto.Types.DataType.Float, dims);

    public string Output(string name, TensorProto.Types.DataType elemType, params OnnxDim[] dims)
    {
        RequireDeclared(name);
        if (_graph.Output.Any(o => o.Name == name)) throw new ArgumentException($"'{name}' is already an output.", nameof(name));
        _graph.Output.Add(ValueInfo(name, elemType, dims));
        return name;
    }

    // ---------------------------------------------------------------- initializers (constants)

    /// <summary>Float constant with row-major <paramref name="values"/> and shape <paramref name="dims"/> (none = scalar), stored in raw_data, named <see cref="InternalPrefix"/> + <paramref name="name"/>.</summary>
    public string Initializer(string name, float[] values, params long[] dims)
    {
        var t = NewTensor(InternalPrefix + name, TensorProto.Types.DataType.Float, values.Length, dims, sizeof(float));
        t.RawData = ByteString.CopyFrom(ToLittleEndian(values));
        return AddInitializer(t);
    }

    /// <summary>Float scalar constant (shape []), handy for broadcasting arithmetic.</summary>
    public string Scalar(string name, float value) => Initializer(name, [value]);

    /// <summary>A float scalar shared by every node that uses the same value (made on first use).</summary>
    public string Constant(float value)
    {
        if (!_constants.TryGetValue(value, out string? name))
            _constants[value] = name = Scalar($"constant_{value.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}", value);
        return name;
    }

    /// <summary>Int64 constant (shapes, axes, pads...), stored in packed int64_data, named <see cref="InternalPrefix"/> + <paramref name="name"/>.</summary>
    public string Int64Initializer(string name, long[] values, params long[] dims) => Int64Tensor(InternalPrefix + name, values, dims);

    private string Int64Tensor(string fullName, long[] values, long[] dims)
    {
        var t = NewTensor(fullName, TensorProto.Types.DataType.Int64, values.Length, dims, sizeof(long));
        t.Int64Data.Add(values);
        return AddInitializer(t);
    }

    // ---------------------------------------------------------------- nodes

    /// <summary>
    /// Adds a default-domain node with a single output and returns the output name
    /// (auto-generated when <paramref name="output"/> is null). Use "" for an omitted optional input.
    /// Attribute values: float → FLOAT, long → INT.
    /// </summary>
    public string Node(string opType, string[] inputs, string? output = null, params (string Name, object Value)[] attributes)
    {
        ArgumentException.ThrowIfNullOrEmpty(opType);
        foreach (var i in inputs)
            if (i.Length > 0) RequireDeclared(i);

        output ??= UniqueName(opType);
        Declare(output);

        var node = new NodeProto { OpType = opType, Name = $"n{_graph.Node.Count}_{opType}" };
        node.Input.Add(inputs);
        node.Output.Add(output);
        foreach (var (name, value) in attributes)
            node.Attribute.Add(Attribute(name, value));
        _graph.Node.Add(node);
        return output;
    }

    /// <summary>Reduce* node over <paramref name="axes"/> (an int64 input since opset 18).</summary>
    public string Reduce(string opType, string input, long[] axes, bool keepDims, string? output = null)
    {
        string axesName = Int64Tensor(UniqueName(opType + "_axes"), axes, [axes.Length]);
        return Node(opType, [input, axesName], output, ("keepdims", keepDims ? 1L : 0L));
    }

    // ---------------------------------------------------------------- serialization

    /// <summary>Serialized ONNX model bytes (write to a .onnx file or pass to InferenceSession).</summary>
    public byte[] ToBytes(string producer, string version, IDictionary<string, string>? metadata = null)
    {
        if (_graph.Output.Count == 0) throw new InvalidOperationException("The graph has no outputs.");
        var model = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = producer,
            ProducerVersion = version,
            Domain = ModelDomain,
            Graph = _graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        if (metadata != null)
            foreach (var (k, v) in metadata)
                model.MetadataProps.Add(new StringStringEntryProto { Key = k, Value = v });
        return model.ToByteArray();
    }

    // ---------------------------------------------------------------- helpers

    private static ValueInfoProto ValueInfo(string name, TensorProto.Types.DataType elemType, OnnxDim[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
            shape.Dim.Add(d.Symbol != null
                ? new TensorShapeProto.Types.Dimension { DimParam = d.Symbol }
                : new TensorShapeProto.Types.Dimension { DimValue = d.Value!.Value });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)elemType, Shape = shape } },
        };
    }

    private TensorProto NewTensor(string name, TensorProto.Types.DataType type, int count, long[] dims, int bytesPerValue)
    {
        long expected = 1;
        foreach (var d in dims)
        {
            if (d < 0) throw new ArgumentOutOfRangeException(nameof(dims), "Initializer dims must be >= 0.");
            expected *= d;
        }
        if (expected != count)
            throw new ArgumentException($"Initializer '{name}': {count} values do not match shape [{string.Join(",", dims)}].");
        // Counted before the values are copied, so that a graph past the limit costs no second copy of them.
        long bytes = _constantBytes + (long)count * bytesPerValue;
        if (bytes > _constantByteLimit)
        {
            var invariant = System.Globalization.CultureInfo.InvariantCulture;
            throw new NotSupportedException(
                $"The ONNX graph '{_graph.Name}' would hold more than {_constantByteLimit.ToString("N0", invariant)} bytes of constants " +
                $"(at '{name}', {((long)count * bytesPerValue).ToString("N0", invariant)} bytes): one ONNX model, a protobuf message, holds at most 2 GiB. " +
                "Its constants are the machine's weights and the fixed noise of the log-likelihood's K samples (K × the hidden units): " +
                "use fewer samples, or a smaller machine.");
        }
        Declare(name);   // a name refused as taken counts no bytes
        _constantBytes = bytes;
        var t = new TensorProto { Name = name, DataType = (int)type };
        t.Dims.Add(dims);
        return t;
    }

    private string AddInitializer(TensorProto t)
    {
        _graph.Initializer.Add(t);
        return t.Name;
    }

    /// <summary>ONNX raw_data is always little-endian IEEE 754, whatever the host.</summary>
    private static byte[] ToLittleEndian(float[] values)
    {
        var bytes = MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
        Data.LittleEndian.ToHostOrder(MemoryMarshal.Cast<byte, float>(bytes.AsSpan()));   // reversing on a big-endian host is its own inverse
        return bytes;
    }

    private static AttributeProto Attribute(string name, object value)
    {
        var a = new AttributeProto { Name = name };
        switch (value)
        {
            case float f: a.Type = AttributeProto.Types.AttributeType.Float; a.F = f; break;
            case long l: a.Type = AttributeProto.Types.AttributeType.Int; a.I = l; break;
            default: throw new ArgumentException($"Unsupported attribute type {value?.GetType().Name ?? "null"} for '{name}'.");
        }
        return a;
    }

    private string UniqueName(string prefix)
    {
        string name;
        do name = $"{InternalPrefix}{prefix}_{_nextId++}"; while (_values.Contains(name));
        return name;
    }

    private void Declare(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (_values.Add(name)) return;
        // Internal names cannot meet the caller's: a clash of unprefixed names is two of the graph's inputs and outputs.
        if (name.StartsWith(InternalPrefix, StringComparison.Ordinal)) throw new ArgumentException($"Value name '{name}' is already used.", nameof(name));
        throw new ArgumentException($"'{name}' names two of the graph's inputs and outputs: give each its own name.", nameof(name));
    }

    private void RequireDeclared(string name)
    {
        if (!_values.Contains(name)) throw new ArgumentException($"Unknown value '{name}' (declare inputs/initializers/nodes first).");
    }
}
