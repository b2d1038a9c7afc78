using System.Reflection;
using System.Runtime.ExceptionServices;
using Microsoft.ML.Data;
using Microsoft.ML.Helmholtz.Concurrency;

namespace Microsoft.ML.Helmholtz.Transforms;

/// <summary>
/// What <see cref="HelmholtzMachineTransformer.Transform"/> returns: the input's columns passed
/// through and the machine's columns computed lazily, in batches of rows (a cursor reads ahead,
/// computes the batch with matrix products, then serves its rows). Cursor sets give each cursor
/// buffers of its own; the transformer is shared and immutable.
/// </summary>
internal sealed class BatchedDataView : IDataView
{
    private readonly IRowScoring _transformer;
    private readonly IDataView _input;
    private readonly OutputColumns _columns;

    public BatchedDataView(IRowScoring transformer, IDataView input)
    {
        _transformer = transformer;
        _input = input;
        _columns = new OutputColumns(transformer, input.Schema);   // checks the input column first
    }

    public DataViewSchema Schema => _columns.OutputSchema;
    public bool CanShuffle => _input.CanShuffle;
    public long? GetRowCount() => _input.GetRowCount();

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        bool[] active = _columns.Active(columnsNeeded);
        return Wrap(_input.GetRowCursor(_columns.Dependencies(active), rand), active, RowName.ById(1, rand));
    }

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null)
    {
        bool[] active = _columns.Active(columnsNeeded);
        DataViewRowCursor[] cursors = _input.GetRowCursorSet(_columns.Dependencies(active), n, rand);
        return cursors.Select(c => Wrap(c, active, RowName.ById(cursors.Length, rand))).ToArray();
    }

    /// <summary>A cursor of ours over <paramref name="input"/>; <paramref name="byId"/>: its errors name the input's row ID (<see cref="RowName.ById"/>).</summary>
    private DataViewRowCursor Wrap(DataViewRowCursor input, bool[] active, bool byId)
        => _columns.AnyAdded(active) ? new BatchCursor(_transformer, _columns, input, active, byId) : new PassThroughCursor(_columns, input, active);

    /// <summary>Nothing of ours is asked for: the input cursor as it is.</summary>
    private sealed class PassThroughCursor(OutputColumns columns, DataViewRowCursor input, bool[] active) : DataViewRowCursor
    {
        public override DataViewSchema Schema => columns.OutputSchema;
        public override long Position => input.Position;
        public override long Batch => input.Batch;
        public override bool MoveNext() => input.MoveNext();
        public override ValueGetter<DataViewRowId> GetIdGetter() => input.GetIdGetter();
        public override bool IsColumnActive(DataViewSchema.Column column) => active[column.Index];

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (!active[column.Index]) throw new InvalidOperationException($"Column '{column.Name}' is not active in this cursor.");
            return input.GetGetter<TValue>(input.Schema[columns.Placement.InputOf(column.Index)]);
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) input.Dispose();
            base.Dispose(disposing);
        }
    }

    /// <summary>
    /// Reads up to the transformer's batch of rows ahead, keeps copies of the active pass-through
    /// columns (the input cursor has moved on when a row is served), computes the active outputs for
    /// the batch, then serves its rows. An active pass-through column of a type whose values cannot be
    /// copied (an image) makes the batches one row each: the input cursor stays on the row served, and
    /// every pass-through column is read from it. Position counts this cursor's rows; Batch and Id are the
    /// input cursor's at the time the row was read. Errors name a row by the input's position, or, for a cursor
    /// of a parallel set or one that shuffles (whose position is not the row's index), by the input's row ID.
    /// </summary>
    private sealed class BatchCursor : DataViewRowCursor, ICurrentRow
    {
        /// <summary>
        /// Rows of a cursor's first batch. The batches grow from it to the transformer's, so that the first rows of a view
        /// (Preview, a reader that stops early) do not wait for a whole batch of 1,024; a row's values do not depend on its batch.
        /// </summary>
        internal const int FirstBatchRows = 16;

        private readonly OutputColumns _columns;
        private readonly DataViewRowCursor _input;
        private readonly bool[] _active;
        private readonly IRowComputation _compute;
        private readonly InputColumn _inputColumn;
        private readonly bool _features, _logLikelihood;
        private readonly int _size, _featureSize;
        private readonly ColumnBuffer?[] _passThrough;
        private readonly bool _rowAtATime;   // a batch is one row, and the pass-through columns are the input's own getters
        private readonly ValueGetter<VBuffer<float>> _values;
        private readonly ValueGetter<DataViewRowId> _inputId;
        private readonly bool _byId;
        private float[] _x = [], _featureValues = [], _logLikelihoodValues = [];
        private long[] _batches = [];
        private DataViewRowId[] _ids = [];
        private VBuffer<float> _buffer;
        private readonly int _batchRows;   // 1 when a row at a time
        private int _fillRows;   // rows the next batch reads: from FirstBatchRows, four times more each batch, up to _batchRows
        private int _count, _current = -1;
        private long _position = -1;
        private bool _done;
        private ExceptionDispatchInfo? _unreadable;   // the row after the batch's last, which could not be read: thrown when reached, and after
        // A cursor is for one thread, as ML.NET's are; two threads moving it at once would compute into the same batch buffers.
        private readonly UsageGuard _use = PredictionRows.CursorGuard();

        public BatchCursor(IRowScoring transformer, OutputColumns columns, DataViewRowCursor input, bool[] active, bool byId)
        {
            _byId = byId;
            _columns = columns;
            _input = input;
            _active = active;
            _compute = transformer.CreateComputation();
            _batchRows = transformer.BatchRows;
            _fillRows = Math.Min(FirstBatchRows, _batchRows);
            _inputColumn = transformer.Input;
            _size = transformer.Input.Size;
            _featureSize = transformer.FeatureSize;
            _features = columns.NeedsFeatures(active);
            _logLikelihood = columns.NeedsLogLikelihood(active);
            _passThrough = new ColumnBuffer?[columns.InputSchema.Count];
            _rowAtATime = Enumerable.Range(0, columns.InputSchema.Count)
                .Any(i => active[columns.Placement.OutputOfInput(i)] && !ColumnBuffer.CanCopy(input.Schema[i].Type));
            if (_rowAtATime) _batchRows = _fillRows = 1;
            else
                for (int i = 0; i < columns.InputSchema.Count; i++)
                    if (active[columns.Placement.OutputOfInput(i)]) _passThrough[i] = ColumnBuffer.Create(input, input.Schema[i], Row);
            _values = input.GetGetter<VBuffer<float>>(input.Schema[columns.InputIndex]);
            _inputId = input.GetIdGetter();
            Allocate(_fillRows);
        }

        private int _capacity;

        /// <summary>
        /// The batch buffers for <paramref name="rows"/> rows. They grow with the batches (16 rows, then four times more each), not
        /// at once to the transformer's batchRows: a cursor over a few rows of a transformer of millions of rows a batch held
        /// gigabytes. What a buffer held is not kept: a batch is made only when the one before has been served.
        /// </summary>
        private void Allocate(int rows)
        {
            _x = new float[rows * _size];
            _featureValues = _features ? new float[rows * _featureSize] : [];
            _logLikelihoodValues = _logLikelihood ? new float[rows] : [];
            _batches = new long[rows];
            _ids = new DataViewRowId[rows];
            foreach (ColumnBuffer? column in _passThrough) column?.Allocate(rows);
            _capacity = rows;
        }

        public override DataViewSchema Schema => _columns.OutputSchema;
        public override long Position => _position;
        public override long Batch => _current >= 0 ? _batches[_current] : 0;

        public override bool MoveNext()
        {
            using var use = _use.Enter("MoveNext");
            if (_done) return false;
            if (_current + 1 < _count)
            {
                _current++;
                _position++;
                return true;
            }
            // Off the batch served until the next is: a getter after a MoveNext that throws refuses, not reading a row served before.
            _current = -1;
            _count = 0;
            // The row read ahead that could not be read is reached: its error now, not while the rows before it were served.
            _unreadable?.Throw();
            if (!Fill())
            {
                _done = true;
                _position = -1;
                return false;
            }
            _current = 0;
            _position++;
            return true;
        }

        /// <summary>
        /// Reads up to a batch of rows ahead and computes them. A row that cannot be read (a value the machine cannot model, a
        /// getter of the input that fails, an input cursor whose MoveNext fails) ends the batch before it: the rows before it are
        /// served, and its error is thrown when the cursor reaches it, so reading the first rows of a view (Preview, TakeRows)
        /// fails only for a row it asks for. A computation that fails serves none of the batch's rows: its error is thrown now
        /// and by every later MoveNext.
        /// </summary>
        private bool Fill()
        {
            if (_capacity < _fillRows) Allocate(_fillRows);
            int n = 0;
            while (n < _fillRows)
            {
                try
                {
                    if (!_input.MoveNext()) break;
                    _batches[n] = _input.Batch;
                    _inputId(ref _ids[n]);
                    _values(ref _buffer);
                    _inputColumn.Read(_buffer, _x.AsSpan(n * _size, _size), new RowName(_input, _byId ? _inputId : null), "Transform");
                    foreach (ColumnBuffer? column in _passThrough) column?.Fill(n);
                }
                catch (Exception e)
                {
                    // Kept, so that every later MoveNext throws it too rather than going on past the row.
                    _unreadable = ExceptionDispatchInfo.Capture(e);
                    if (n == 0) throw;
                    break;
                }
                n++;
            }
            _fillRows = (int)Math.Min(_batchRows, 4L * _fillRows);
            if (n == 0) return false;
            try
            {
                if (_features) _compute.Features(_x.AsSpan(0, n * _size), n, _featureValues.AsSpan(0, n * _featureSize));
                if (_logLikelihood) _compute.LogLikelihood(_x.AsSpan(0, n * _size), n, _logLikelihoodValues.AsSpan(0, n));
            }
            catch (Exception e)
            {
                // Not served with the values of no computation (zeros, or the batch before's): every later MoveNext throws it.
                _unreadable = ExceptionDispatchInfo.Capture(e);
                throw;
            }
            _count = n;
            return true;
        }

        /// <summary>The batch slot of the row the cursor is on; throws when it is on none (before the first, after the last, after a MoveNext that threw).</summary>
        private int Row() => _current >= 0 ? _current : throw new InvalidOperationException("The cursor is not on a row.");

        public override ValueGetter<DataViewRowId> GetIdGetter() => (ref DataViewRowId id) => id = _ids[Row()];

        public override bool IsColumnActive(DataViewSchema.Column column) => _active[column.Index];

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            int i = column.Index;
            if (!_active[i]) throw new InvalidOperationException($"Column '{column.Name}' is not active in this cursor.");
            if (_columns.Placement.InputOf(i) is >= 0 and int passed)
            {
                if (!_rowAtATime)
                    return _passThrough[passed]!.Getter as ValueGetter<TValue>
                        ?? throw new InvalidOperationException($"Column '{column.Name}' is {column.Type}: its getter does not give {typeof(TValue).Name}.");
                // The input cursor is on the row served (a batch is that row alone).
                ValueGetter<TValue> source = _input.GetGetter<TValue>(_input.Schema[passed]);
                return (ref TValue value) =>
                {
                    _ = Row();
                    source(ref value);
                };
            }
            return _columns.AddedGetter<TValue>(column, this);
        }

        void ICurrentRow.Ready() => _ = Row();
        ReadOnlySpan<float> ICurrentRow.Features => _featureValues.AsSpan(_current * _featureSize, _featureSize);
        float ICurrentRow.LogLikelihood => _logLikelihoodValues[_current];

        protected override void Dispose(bool disposing)
        {
            if (disposing) _input.Dispose();
            base.Dispose(disposing);
        }
    }
}

/// <summary>
/// Copies of one pass-through column for the rows of a batch, deep (a getter may reuse its buffers).
/// ML.NET's primitive types and vectors of them are supported; others cannot be copied safely.
/// </summary>
internal abstract class ColumnBuffer
{
    public abstract void Fill(int slot);
    public abstract Delegate Getter { get; }

    /// <summary>Room for <paramref name="rows"/> rows; what the buffer held is dropped.</summary>
    public abstract void Allocate(int rows);

    /// <summary>Whether values of <paramref name="type"/> can be copied: ML.NET's primitive types and vectors of them.</summary>
    public static bool CanCopy(DataViewType type) => (type is VectorDataViewType vector ? vector.ItemType : type) is PrimitiveDataViewType;

    /// <summary>The buffer of <paramref name="column"/>, whose getter serves the slot <paramref name="current"/> gives (which throws when the cursor is on no row).</summary>
    public static ColumnBuffer Create(DataViewRow input, DataViewSchema.Column column, Func<int> current)
    {
        DataViewType type = column.Type;
        DataViewType item = type is VectorDataViewType vector ? vector.ItemType : type;
        if (!CanCopy(type))
            throw new NotSupportedException($"Column '{column.Name}' is {type}: its values cannot be copied for a batch.");
        string factory = type is VectorDataViewType ? nameof(CreateVector) : nameof(CreateScalar);
        MethodInfo method = typeof(ColumnBuffer).GetMethod(factory, BindingFlags.NonPublic | BindingFlags.Static)!.MakeGenericMethod(item.RawType);
        return (ColumnBuffer)method.Invoke(null, [input, column, current])!;
    }

    private static ColumnBuffer CreateScalar<T>(DataViewRow input, DataViewSchema.Column column, Func<int> current)
        => new Scalar<T>(input.GetGetter<T>(column), current);

    private static ColumnBuffer CreateVector<T>(DataViewRow input, DataViewSchema.Column column, Func<int> current)
        => new Vector<T>(input.GetGetter<VBuffer<T>>(column), current);

    private sealed class Scalar<T> : ColumnBuffer
    {
        private readonly ValueGetter<T> _source;
        private T[] _values = [];   // sized by Allocate

        public Scalar(ValueGetter<T> source, Func<int> current)
        {
            _source = source;
            Getter = (ValueGetter<T>)((ref T value) => value = _values[current()]);
        }

        public override void Fill(int slot) => _source(ref _values[slot]);   // values and immutable text
        public override void Allocate(int rows) => _values = new T[rows];
        public override Delegate Getter { get; }
    }

    private sealed class Vector<T> : ColumnBuffer
    {
        private readonly ValueGetter<VBuffer<T>> _source;
        private VBuffer<T>[] _values = [];   // sized by Allocate
        private VBuffer<T> _incoming;

        public Vector(ValueGetter<VBuffer<T>> source, Func<int> current)
        {
            _source = source;
            Getter = (ValueGetter<VBuffer<T>>)((ref VBuffer<T> value) => _values[current()].CopyTo(ref value));
        }

        public override void Fill(int slot)
        {
            _source(ref _incoming);
            _incoming.CopyTo(ref _values[slot]);
        }

        // The rows' buffers kept where there are: a VBuffer reuses its arrays from row to row.
        public override void Allocate(int rows) => Array.Resize(ref _values, rows);

        public override Delegate Getter { get; }
    }
}
