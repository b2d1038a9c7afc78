using Microsoft.ML.Data;
using Microsoft.ML.Helmholtz.Concurrency;

namespace Microsoft.ML.Helmholtz.Transforms;

/// <summary>
/// The transformer one row at a time, for PredictionEngine: the same computation as the batched
/// view for a batch of one row, recomputed when the input row's position changes (ML.NET's convention).
/// </summary>
internal sealed class RowMapper(IRowScoring transformer, DataViewSchema inputSchema) : IRowToRowMapper
{
    private readonly OutputColumns _columns = new(transformer, inputSchema);

    public DataViewSchema InputSchema => _columns.InputSchema;
    public DataViewSchema OutputSchema => _columns.OutputSchema;

    public IEnumerable<DataViewSchema.Column> GetDependencies(IEnumerable<DataViewSchema.Column> dependingColumns)
        => _columns.Dependencies(_columns.Active(dependingColumns));

    public DataViewRow GetRow(DataViewRow input, IEnumerable<DataViewSchema.Column> activeColumns)
    {
        if (input.Schema.Count != InputSchema.Count)
            throw new ArgumentException($"The row has {input.Schema.Count} columns; this mapper was made for a schema of {InputSchema.Count}.", nameof(input));
        return new Row(transformer, _columns, input, _columns.Active(activeColumns));
    }

    private sealed class Row : DataViewRow, ICurrentRow
    {
        private readonly OutputColumns _columns;
        private readonly DataViewRow _input;
        private readonly bool[] _active;
        private readonly IRowComputation _compute;
        private readonly InputColumn _inputColumn;
        private readonly bool _features, _logLikelihood;
        private readonly ValueGetter<VBuffer<float>>? _values;
        private readonly float[] _x, _featureValues, _logLikelihoodValue = new float[1];
        private VBuffer<float> _buffer;
        private long _computedFor = -1;
        private readonly UsageGuard _use = PredictionRows.Guard();

        public Row(IRowScoring transformer, OutputColumns columns, DataViewRow input, bool[] active)
        {
            _columns = columns;
            _input = input;
            _active = active;
            _compute = transformer.CreateComputation();
            _inputColumn = transformer.Input;
            _features = columns.NeedsFeatures(active);
            _logLikelihood = columns.NeedsLogLikelihood(active);
            if (columns.AnyAdded(active)) _values = input.GetGetter<VBuffer<float>>(input.Schema[columns.InputIndex]);
            _x = new float[transformer.Input.Size];
            _featureValues = new float[transformer.FeatureSize];
        }

        public override DataViewSchema Schema => _columns.OutputSchema;
        public override long Position => _input.Position;
        public override long Batch => _input.Batch;
        public override ValueGetter<DataViewRowId> GetIdGetter() => _input.GetIdGetter();
        public override bool IsColumnActive(DataViewSchema.Column column) => _active[column.Index];

        private void Compute()
        {
            using var use = _use.Enter(PredictionRows.Predict);
            long position = _input.Position;
            if (position == _computedFor) return;
            _values!(ref _buffer);
            _inputColumn.Read(_buffer, _x, new RowName(position), "Prediction");
            if (_features) _compute.Features(_x, 1, _featureValues);
            if (_logLikelihood) _compute.LogLikelihood(_x, 1, _logLikelihoodValue);
            _computedFor = position;
        }

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            int i = column.Index;
            if (!_active[i]) throw new InvalidOperationException($"Column '{column.Name}' is not active in this row.");
            int passed = _columns.Placement.InputOf(i);
            return passed >= 0 ? _input.GetGetter<TValue>(_input.Schema[passed]) : _columns.AddedGetter<TValue>(column, this);
        }

        void ICurrentRow.Ready() => Compute();
        ReadOnlySpan<float> ICurrentRow.Features => _featureValues;
        float ICurrentRow.LogLikelihood => _logLikelihoodValue[0];

        protected override void Dispose(bool disposing)
        {
            if (disposing) _input.Dispose();
            base.Dispose(disposing);
        }
    }
}

/// <summary>
/// The guards of a row that a PredictionEngine or a cursor computes in (its buffers and its scorer's copy of the machine belong to
/// it): an engine or cursor shared by threads is named as such, not as the machine deep inside it.
/// </summary>
internal static class PredictionRows
{
    /// <summary>What the engine's row enters its guard as.</summary>
    public const string Predict = "Predict";

    public static UsageGuard Guard() => new("This Helmholtz machine's PredictionEngine row",
        "A PredictionEngine is for one thread at a time, as ML.NET's own are: create one engine per thread (or take them from a pool, " +
        "e.g. Microsoft.Extensions.ML's PredictionEnginePool); the transformer itself may be shared.");

    public static UsageGuard CursorGuard() => new("This Helmholtz machine's cursor",
        "A cursor is for one thread at a time, as ML.NET's are: give each thread a cursor of its own (GetRowCursor, or GetRowCursorSet " +
        "to read in parallel); the transformer itself may be shared.");
}
