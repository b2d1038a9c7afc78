using Microsoft.ML.Helmholtz.Layers;
using System.Globalization;
using Microsoft.ML.Data;
using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Model;

namespace Microsoft.ML.Helmholtz.Transforms;

/// <summary>
/// The input column: its checks against a schema (each error names the column, what it is and what
/// to do), its rows read into the core's matrix or as a stream, and the check of every value.
/// </summary>
internal sealed class InputColumn
{
    public InputColumn(string name, LayerDefinition visible)
    {
        Name = name;
        Visible = visible;
    }

    public string Name { get; }
    public LayerDefinition Visible { get; }
    public int Size => Visible.Size;

    /// <summary>The checks that a schema shape allows (no sizes): the column exists and is a known-size vector of Single.</summary>
    public static void Check(SchemaShape shape, string name)
    {
        if (!shape.TryFind(name, out SchemaShape.Column column))
            throw Mismatch(name, $"there is no such column (the input has {Names(shape.Select(c => c.Name))})");
        string type = column.Kind switch
        {
            SchemaShape.Column.VectorKind.Scalar => $"a scalar {column.ItemType}",
            SchemaShape.Column.VectorKind.VariableVector => $"a variable-size vector of {column.ItemType}",
            _ => $"a vector of {column.ItemType}",
        };
        string? problem = Problem(name, column.IsKey, column.ItemType, column.Kind == SchemaShape.Column.VectorKind.Scalar,
            column.Kind == SchemaShape.Column.VectorKind.VariableVector, type);
        if (problem is not null) throw Mismatch(name, problem);
    }

    /// <summary>The column in <paramref name="schema"/>, checked; its size must be <paramref name="size"/> when given.</summary>
    public static DataViewSchema.Column Check(DataViewSchema schema, string name, int? size = null, string? architecture = null)
    {
        DataViewSchema.Column column = schema.GetColumnOrNull(name)
            ?? throw Mismatch(name, $"there is no such column (the input has {Names(schema.Where(c => !c.IsHidden).Select(c => c.Name))})");
        DataViewType type = column.Type;
        var vector = type as VectorDataViewType;
        DataViewType item = vector?.ItemType ?? type;
        string? problem = Problem(name, item is KeyDataViewType, item, vector is null, vector is { IsKnownSize: false }, type.ToString() ?? "");
        if (problem is not null) throw Mismatch(name, problem);
        if (size is { } expected && vector!.Size != expected)
            throw Mismatch(name, $"it is a vector of {vector.Size} values, but the machine's visible layer has {expected} units" +
                (architecture is null ? "" : $" (architecture {architecture})"));
        return column;
    }

    private static string? Problem(string name, bool isKey, DataViewType item, bool scalar, bool variable, string type)
    {
        if (isKey)
            return $"it is {type} of keys; map keys back to their values (ml.Transforms.Conversion.MapKeyToValue) or convert them to Single";
        if (item is TextDataViewType)
            return $"it is {type} (text); load the values as numbers (e.g. a TextLoader column of DataKind.Single with a range of source columns)";
        if (item is not NumberDataViewType && item is not BooleanDataViewType)
            return $"it is {type}; the Helmholtz machine reads a known-size vector of Single";
        if (scalar)
            return $"it is {type}, one value per row; put the values of a row into one vector column, e.g. ml.Transforms.Concatenate(\"{name}\", \"a\", \"b\", ...)";
        if (!item.Equals(NumberDataViewType.Single))
            return $"it is {type}; convert it with ml.Transforms.Conversion.ConvertType(\"{name}\", outputKind: DataKind.Single)";
        if (variable)
            return $"it is {type} whose size is not known from the schema; load it with a fixed size (e.g. [VectorType(n)] on the class, or a TextLoader range)";
        return null;
    }

    private static ArgumentOutOfRangeException Mismatch(string name, string problem)
        => new("inputSchema", $"Schema mismatch for input column '{name}': {problem}.");

    private static string Names(IEnumerable<string> names)
    {
        var list = names.Take(12).Select(n => $"'{n}'").ToList();
        return list.Count == 0 ? "no columns" : "columns " + string.Join(", ", list) + (names.Count() > 12 ? ", ..." : "");
    }

    /// <summary>
    /// Copies a row's values (dense or sparse) into <paramref name="destination"/>, which has the column's declared
    /// size, and checks them (<see cref="CheckRow"/>, or <see cref="CheckFrames"/> for a row of <paramref name="frames"/>);
    /// throws naming the column and the row when the row holds another number of values (a getter gives what the row
    /// holds, whatever the schema declares).
    /// </summary>
    public void Read(in VBuffer<float> values, Span<float> destination, RowName row, string data, bool frames = false)
    {
        CheckLength(values.Length, destination.Length, row, data);
        values.CopyTo(destination);
        if (frames) CheckFrames(destination, row, data);
        else CheckRow(destination, row, data);
    }

    private void CheckLength(int length, int declared, RowName row, string data)
    {
        if (length != declared)
            throw new InvalidOperationException($"{data}: column '{Name}', {row} holds {length} values, but the column is declared a vector of {declared}: " +
                "give every row the column's size.");
    }

    /// <summary>
    /// Throws naming the column, the row and the slot when a row holds a value the visible layer
    /// cannot model: NaN or ±∞ anywhere, anything but 0 and 1 for a binary layer.
    /// </summary>
    public void CheckRow(ReadOnlySpan<float> values, RowName row, string data)
    {
        if (Visible.Units.ModelsAll(values)) return;
        for (int j = 0; j < values.Length; j++)
            if (ValueProblem(Visible.Units, values[j]) is { } problem)
                throw new InvalidOperationException($"{data}: column '{Name}', {row}, slot {j} is {problem}");
    }

    /// <summary>
    /// <see cref="CheckRow"/> for a row of frames (a sequence, frame after frame, each of the visible
    /// layer's size): names the column, the row, the frame and the slot within the frame.
    /// </summary>
    public void CheckFrames(ReadOnlySpan<float> values, RowName row, string data)
    {
        if (Visible.Units.ModelsAll(values)) return;
        for (int j = 0; j < values.Length; j++)
            if (ValueProblem(Visible.Units, values[j]) is { } problem)
                throw new InvalidOperationException($"{data}: column '{Name}', {row}, frame {j / Size}, slot {j % Size} is {problem}");
    }

    /// <summary>The value and why a visible layer of <paramref name="units"/> cannot take it (null units: finite values only); null when it can.</summary>
    internal static string? ValueProblem(UnitType? units, float v)
    {
        if (!float.IsFinite(v)) return $"{v.ToString(CultureInfo.InvariantCulture)}: the values must be finite.";
        if (units is not null && !units.Models(v))
            return $"{v.ToString(CultureInfo.InvariantCulture)}: a {units.Name} visible layer models {units.ModelledValues}; {units.ValueHint}.";
        return null;
    }

    /// <summary>
    /// Reads the column's rows into a matrix, checking each; null when they would exceed <paramref name="budgetBytes"/>
    /// or one array, or when the count is unknown and <paramref name="unknownCount"/> is false. Rows of unknown count
    /// are read in chunks as they come, then copied into one array: both are held at the peak, so they are read while
    /// twice their size fits the budget, and given up (null) past it.
    /// </summary>
    public DataMatrix? TryReadAll(IDataView data, long budgetBytes, string dataName, CancellationToken cancellationToken, bool unknownCount = false)
    {
        long? known = data.GetRowCount();
        long maxRows = Math.Min((known is null ? budgetBytes / 2 : budgetBytes) / ((long)Size * sizeof(float)), Array.MaxLength / Size);
        if (known is { } count ? count > maxRows : !unknownCount) return null;
        using var stream = new RowStream(this, data, dataName);
        if (known is { } expected)
        {
            var values = new float[expected * Size];
            long read = 0;
            while (read < expected)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int got = stream.Read(values.AsSpan((int)(read * Size)), (int)Math.Min(ChunkRows, expected - read));
                if (got == 0) break;
                read += got;
            }
            if (read != expected) throw new InvalidOperationException($"{dataName} said it has {expected} rows but gave {read}.");
            return new DataMatrix((int)read, Size, values);
        }
        // Of unknown count: chunks as the rows come, copied once into one array (the data and that copy at the peak). A chunk
        // holds at most ChunkBytes and one row past the budget, so wide rows neither pass an int nor allocate beyond the budget
        // before it is found passed.
        int chunkRows = (int)Math.Max(1, Math.Min(Math.Min(ChunkRows, ChunkBytes / ((long)Size * sizeof(float))), maxRows + 1));
        var chunks = new List<float[]>();
        long rows = 0;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var chunk = new float[(long)chunkRows * Size];
            int got = stream.Read(chunk, chunkRows);
            if (got == 0) break;
            if (rows + got > maxRows) return null;
            chunks.Add(got == chunkRows ? chunk : chunk[..(got * Size)]);
            rows += got;
        }
        var all = new float[rows * Size];
        long at = 0;
        foreach (float[] chunk in chunks)
        {
            chunk.CopyTo(all, at);
            at += chunk.Length;
        }
        return new DataMatrix((int)rows, Size, all);
    }

    private const int ChunkRows = 4096;
    private const long ChunkBytes = 16L << 20;

    /// <summary>The column's rows as a stream of passes, each row checked as it is read.</summary>
    public RowStream Stream(IDataView data, string dataName) => new(this, data, dataName);

    /// <summary>Reads the column's rows in order, a pass at a time (a new cursor for each).</summary>
    internal sealed class RowStream : IRowStream, IDisposable
    {
        private readonly InputColumn _column;
        private readonly IDataView _data;
        private readonly string _dataName;
        private DataViewRowCursor? _cursor;
        private ValueGetter<VBuffer<float>>? _getter;
        private VBuffer<float> _buffer;
        private long _row;
        private long? _expected;

        public RowStream(InputColumn column, IDataView data, string dataName)
        {
            _column = column;
            _data = data;
            _dataName = dataName;
            Check(data.Schema, column.Name, column.Size);
        }

        public int Columns => _column.Size;
        public long? Rows => _data.GetRowCount();

        public void Restart()
        {
            _cursor?.Dispose();
            DataViewSchema.Column column = _data.Schema[_column.Name];
            _cursor = _data.GetRowCursor([column]);
            _getter = _cursor.GetGetter<VBuffer<float>>(column);
            _row = 0;
        }

        /// <summary>
        /// From here on, every pass must give <paramref name="rows"/> rows, as the pass that counted them did: a pass that gives
        /// fewer or more throws, naming the data (streamed training would have run short epochs, or blamed the minibatch size).
        /// </summary>
        public void ExpectRows(long rows) => _expected = rows;

        public int Read(Span<float> destination, int rows)
        {
            if (_cursor is null) Restart();
            int size = _column.Size, n = 0;
            while (n < rows)
            {
                if (!_cursor!.MoveNext())
                {
                    if (_expected is { } fewer && _row != fewer) throw Changed(fewer, $"gave {_row:N0}");
                    break;
                }
                if (_expected is { } more && _row == more) throw Changed(more, "gave more");
                _getter!(ref _buffer);
                _column.Read(_buffer, destination.Slice(n * size, size), new RowName(_row), _dataName);
                _row++;
                n++;
            }
            return n;
        }

        private InvalidOperationException Changed(long counted, string gave)
            => new($"The {_dataName} {gave} rows on a later pass, but {counted:N0} when they were counted: streamed data must give the same rows on every " +
                   "pass (a lazy sequence given to LoadFromEnumerable is enumerated again for each); cache it first (ml.Data.Cache) or give a fixed collection.");

        public void Dispose() => _cursor?.Dispose();
    }
}

/// <summary>
/// How an error names a row: by its index in the data (a serial cursor's position), or, for a cursor of a
/// parallel set, whose position counts only the rows it was dealt, by the input's row ID, read only when an
/// error is made. ML.NET gives the rows of LoadFromEnumerable, of a cache and of a binary file their index as ID.
/// </summary>
internal readonly struct RowName
{
    private readonly long _index;
    private readonly ValueGetter<DataViewRowId>? _id;

    public RowName(long index) => _index = index;

    /// <summary>
    /// Whether a cursor of a set of <paramref name="cursors"/> made with <paramref name="rand"/> names rows by ID: its position is
    /// not the row's index in the data when it is one of a parallel set (it counts only the rows dealt to it) or when it shuffles.
    /// </summary>
    public static bool ById(int cursors, Random? rand) => cursors > 1 || rand is not null;

    /// <summary>The row <paramref name="cursor"/> is on: its ID when the cursor is one of a parallel set (<paramref name="id"/> its getter), else its position.</summary>
    public RowName(DataViewRow cursor, ValueGetter<DataViewRowId>? id)
    {
        _index = cursor.Position;
        _id = id;
    }

    public override string ToString()
    {
        if (_id is null) return $"row {_index}";
        DataViewRowId id = default;
        _id(ref id);
        return id.High == 0 ? $"the row with ID {id.Low}" : $"the row with ID 0x{id}";
    }
}
