using Microsoft.ML.Data;
using Microsoft.ML.Helmholtz.Concurrency;
using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Temporal;

namespace Microsoft.ML.Helmholtz.Transforms;

/// <summary>The columns a temporal transformer adds, in this order, those named.</summary>
internal static class TemporalColumns
{
    public static IEnumerable<DataViewSchema.DetachedColumn> Added(TemporalHelmholtzOptions o, int frames)
    {
        if (o.LogLikelihoodColumnName is { } total) yield return new(total, NumberDataViewType.Single);
        if (o.FrameLogLikelihoodColumnName is { } perFrame) yield return new(perFrame, new VectorDataViewType(NumberDataViewType.Single, frames));
        if (o.PredictedFramesColumnName is { } predicted) yield return new(predicted, new VectorDataViewType(NumberDataViewType.Single, frames * o.FrameSize));
    }
}

/// <summary>
/// A trained <see cref="TemporalHelmholtzMachine"/> in a pipeline: adds to each row (one sequence)
/// ln p̂ of the sequence, of each frame given the frames before it, and, when named, the one-step
/// predictions. Each row is computed alone, with the same noise, so a row's values depend on the row
/// only, not on its position or on the other rows. Cursors compute in parallel, each on its own copy
/// of the machine.
/// </summary>
/// <remarks>
/// The log-likelihoods use common random numbers (<see cref="TemporalFixedNoiseLogLikelihood"/>). Saved
/// with the pipeline (<c>MLContext.Model.Save</c>) as standard ML.NET transformers: OnnxTransformer
/// over the ONNX graph of the same computation (ONNX's LSTM, the
/// conditioning, the frame machine with its fixed noise), a stateless mapping of the one-value total
/// to a scalar, and column copies; loading needs ONNX Runtime's native library. The one-step
/// predictions have no ONNX form: a transformer that adds them is refused by Save, naming the option.
/// Safe to share between threads: each cursor and PredictionEngine row scores on a private copy of the model (a cursor or
/// an engine itself is for one thread, and a second thread's call is refused).
/// </remarks>
public sealed class TemporalHelmholtzTransformer : ITransformer
{
    private readonly byte[] _modelBytes;
    private readonly TemporalHelmholtzOptions _options;

    /// <summary>
    /// Over a copy of <paramref name="model"/> for sequences of <paramref name="frames"/> frames, with checked options, of which
    /// it keeps a copy; their seed (null: 0) + 2 seeds its scoring noise, and the predictions' draws take the next.
    /// </summary>
    internal TemporalHelmholtzTransformer(TemporalHelmholtzMachine model, TemporalHelmholtzOptions options, int frames)
    {
        _options = options.Copy();
        Seed = (ulong)(_options.Seed ?? 0) + 2;
        Frames = frames;
        Input = new InputColumn(options.InputColumnName, model.Machine.Architecture.Visible);
        var bytes = new MemoryStream();
        model.Save(bytes);
        _modelBytes = bytes.ToArray();
    }

    /// <summary>
    /// A transformer over a trained (e.g. loaded) model, for sequences of <paramref name="frames"/> frames; the options name
    /// the columns and the samples, and are checked as the estimator checks them. Those of training are not used, and an
    /// <see cref="TemporalHelmholtzOptions.Architecture"/> that is not the model's is refused: the options kept name the model's
    /// architecture and recurrent units.
    /// </summary>
    public static TemporalHelmholtzTransformer Create(TemporalHelmholtzMachine model, TemporalHelmholtzOptions options, int frames)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(frames);
        // Checked on a copy, the one kept: the caller's object may change after the check.
        TemporalHelmholtzOptions o = options.Copy();
        TemporalHelmholtzEstimator.CheckScoring(o);
        if (o.FrameSize != model.FrameSize)
            throw new ArgumentException($"TemporalHelmholtzOptions.FrameSize is {o.FrameSize}, but the model's frames have {model.FrameSize} values.", nameof(options));
        // The input column holds frames × FrameSize values: a count whose product no vector holds (it once wrapped to a small size) is refused here.
        Requires.ArrayLength(nameof(frames), $"Sequences of {frames} frames of {model.FrameSize} values", "give fewer frames", frames, model.FrameSize);
        if (o.Architecture is { } named && !SameArchitecture(named, model.Machine.Architecture))
            throw new ArgumentException($"TemporalHelmholtzOptions.Architecture is '{named}', but the model's frame machine is {model.Machine.Architecture}: " +
                "leave it null or name the model's.", nameof(options));
        // The options kept describe the model scored, so that they serve a later Fit(data, transformer) as they are.
        (o.Architecture, o.RecurrentUnits) = (model.Machine.Architecture.ToString(), model.RecurrentUnits);
        TemporalHelmholtzEstimator.CheckSamples(o, model);
        return new TemporalHelmholtzTransformer(model, o, frames);
    }

    private static bool SameArchitecture(string text, HelmholtzArchitecture architecture)
    {
        try
        {
            return HelmholtzArchitecture.Parse(text).SameAs(architecture);
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            return false;
        }
    }

    /// <summary>A copy of the machine this transformer scores (changing it changes nothing here).</summary>
    public TemporalHelmholtzMachine GetModel() => TemporalHelmholtzMachine.Load(new MemoryStream(_modelBytes));

    /// <summary>
    /// The seed of the log-likelihoods' fixed noise; the one-step predictions draw from the next. It is the fit's seed + 2, where the
    /// fit's seed is <see cref="TemporalHelmholtzOptions.Seed"/> or, when that is null, a draw from the MLContext's random source
    /// (0 for <see cref="Create"/>).
    /// </summary>
    public ulong Seed { get; }

    /// <summary>A copy of the options this transformer scores with: a new one at each read, so changing it changes nothing here.</summary>
    public TemporalHelmholtzOptions Options => _options.Copy();

    /// <summary>The options this transformer scores with, for its own reading: not a copy, and never changed.</summary>
    internal TemporalHelmholtzOptions Settings => _options;

    /// <summary>The input column, whose rows are checked against the frame machine's visible layer.</summary>
    internal InputColumn Input { get; }

    /// <summary>Frames per sequence: the input vector's size over the frame size.</summary>
    public int Frames { get; }

    /// <summary>True: a PredictionEngine scores one sequence at a time, as Transform scores each row.</summary>
    public bool IsRowToRowMapper => true;

    /// <inheritdoc/>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        return new TemporalDataView(this, new EmptyDataView(inputSchema)).Schema;
    }

    /// <inheritdoc/>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        return new TemporalDataView(this, new EmptyDataView(inputSchema)).Mapper();
    }

    /// <summary>The input with the model's columns added, computed row by row as the rows are read.</summary>
    public IDataView Transform(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return new TemporalDataView(this, input);
    }

    void ICanSaveModel.Save(ModelSaveContext ctx) => ((ICanSaveModel)TemporalSavedChain.Build(this)).Save(ctx);

    /// <summary>A scorer of its own for one cursor (a private copy of the machine, the same noise as every other).</summary>
    internal TemporalFixedNoiseLogLikelihood CreateScorer() => new(GetModel(), _options.Samples, Seed);

    /// <summary>The added columns of one row, computed with <paramref name="scorer"/>.</summary>
    internal void Compute(TemporalFixedNoiseLogLikelihood scorer, float[] sequence, double[] logLikelihood, out float total, float[] perFrame, float[]? predicted)
    {
        scorer.Score(sequence, Frames, logLikelihood);
        double sum = 0;
        for (int t = 0; t < Frames; t++)
        {
            perFrame[t] = (float)logLikelihood[t];
            sum += logLikelihood[t];
        }
        total = (float)sum;
        if (predicted is not null)
            TemporalEvaluation.PredictFrames(scorer.Model, new SequenceSet(1, Frames, 1, _options.FrameSize, sequence), _options.PredictionSamples, Seed + 1).CopyTo(predicted, 0);
    }
}

/// <summary>The input's columns, and the temporal machine's added (placed as ML.NET places them: <see cref="ColumnPlacement"/>), computed row by row when read.</summary>
internal sealed class TemporalDataView : IDataView
{
    private readonly TemporalHelmholtzTransformer _transformer;
    private readonly IDataView _input;
    private readonly int _total, _perFrame, _predicted;
    private readonly ColumnPlacement _placement;

    public TemporalDataView(TemporalHelmholtzTransformer transformer, IDataView input)
    {
        _transformer = transformer;
        _input = input;
        TemporalHelmholtzOptions o = transformer.Settings;
        DataViewSchema.Column column = InputColumn.Check(input.Schema, o.InputColumnName);
        int size = ((VectorDataViewType)column.Type).Size;
        if (size != transformer.Frames * o.FrameSize)
            throw new ArgumentOutOfRangeException("inputSchema", $"Schema mismatch for input column '{o.InputColumnName}': it is a vector of {size} values, but the transformer was trained on sequences of {transformer.Frames} frames of {o.FrameSize}.");
        _placement = new ColumnPlacement(input.Schema, TemporalColumns.Added(o, transformer.Frames).ToArray(), column.Index);
        Schema = _placement.Schema;
        int next = 0;
        _total = o.LogLikelihoodColumnName is null ? -1 : _placement.OutputOfAdded(next++);
        _perFrame = o.FrameLogLikelihoodColumnName is null ? -1 : _placement.OutputOfAdded(next++);
        _predicted = o.PredictedFramesColumnName is null ? -1 : _placement.OutputOfAdded(next++);
    }

    public DataViewSchema Schema { get; }
    public bool CanShuffle => _input.CanShuffle;
    public long? GetRowCount() => _input.GetRowCount();

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        bool[] active = Active(columnsNeeded);
        return new Cursor(this, _input.GetRowCursor(Dependencies(active), rand), active, RowName.ById(1, rand));
    }

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null)
    {
        bool[] active = Active(columnsNeeded);
        DataViewRowCursor[] cursors = _input.GetRowCursorSet(Dependencies(active), n, rand);
        return cursors.Select(c => (DataViewRowCursor)new Cursor(this, c, active, RowName.ById(cursors.Length, rand))).ToArray();
    }

    private bool[] Active(IEnumerable<DataViewSchema.Column> columns) => _placement.Active(columns);

    private IEnumerable<DataViewSchema.Column> Dependencies(bool[] active) => _placement.Dependencies(active);

    /// <summary>The view one row at a time, for PredictionEngine: each row computed when its position changes (ML.NET's convention).</summary>
    internal IRowToRowMapper Mapper() => new RowMapper(this);

    private sealed class RowMapper(TemporalDataView view) : IRowToRowMapper
    {
        public DataViewSchema InputSchema => view._input.Schema;
        public DataViewSchema OutputSchema => view.Schema;

        public IEnumerable<DataViewSchema.Column> GetDependencies(IEnumerable<DataViewSchema.Column> dependingColumns)
            => view.Dependencies(view.Active(dependingColumns));

        public DataViewRow GetRow(DataViewRow input, IEnumerable<DataViewSchema.Column> activeColumns)
        {
            ArgumentNullException.ThrowIfNull(input);
            if (input.Schema.Count != InputSchema.Count)
                throw new ArgumentException($"The row has {input.Schema.Count} columns; this mapper was made for a schema of {InputSchema.Count}.", nameof(input));
            return new Row(view, input, view.Active(activeColumns));
        }
    }

    private sealed class Row(TemporalDataView view, DataViewRow input, bool[] active) : DataViewRow
    {
        private readonly RowValues _values = new(view, input, active, byId: false, "Prediction");

        public override DataViewSchema Schema => view.Schema;
        public override long Position => input.Position;
        public override long Batch => input.Batch;
        public override ValueGetter<DataViewRowId> GetIdGetter() => input.GetIdGetter();
        public override bool IsColumnActive(DataViewSchema.Column column) => active[column.Index];
        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column) => _values.Getter<TValue>(column);

        protected override void Dispose(bool disposing)
        {
            if (disposing) input.Dispose();
            base.Dispose(disposing);
        }
    }

    private sealed class Cursor(TemporalDataView view, DataViewRowCursor input, bool[] active, bool byId) : DataViewRowCursor
    {
        private readonly RowValues _values = new(view, input, active, byId, "Transform");

        public override DataViewSchema Schema => view.Schema;
        public override long Position => input.Position;
        public override long Batch => input.Batch;
        public override bool MoveNext() => input.MoveNext();
        public override ValueGetter<DataViewRowId> GetIdGetter() => input.GetIdGetter();
        public override bool IsColumnActive(DataViewSchema.Column column) => active[column.Index];
        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column) => _values.Getter<TValue>(column);

        protected override void Dispose(bool disposing)
        {
            if (disposing) input.Dispose();
            base.Dispose(disposing);
        }
    }

    /// <summary>
    /// The values of a row of the view (a cursor's current row, or a mapper's row): the input's columns passed through, the added
    /// ones computed once per row position whichever getters ask, with a scorer (a private copy of the machine) of its own.
    /// </summary>
    private sealed class RowValues
    {
        private readonly TemporalDataView _view;
        private readonly DataViewRow _input;
        private readonly bool[] _active;
        private readonly string _context;
        private readonly ValueGetter<VBuffer<float>>? _frames;
        private readonly ValueGetter<DataViewRowId>? _id;   // a cursor of a parallel set or one that shuffles: errors name the row by its ID
        private TemporalFixedNoiseLogLikelihood? _scorer;
        private double[] _logLikelihood = [];
        private VBuffer<float> _row;
        private readonly float[] _sequence, _perFrame;
        private readonly float[]? _predicted;
        private float _total;
        private long _computed = -1;
        private readonly UsageGuard _use;

        public RowValues(TemporalDataView view, DataViewRow input, bool[] active, bool byId, string context)
        {
            _view = view;
            _input = input;
            _active = active;
            _context = context;
            _use = context == "Prediction" ? PredictionRows.Guard() : PredictionRows.CursorGuard();
            _id = byId ? input.GetIdGetter() : null;
            var t = view._transformer;
            _sequence = new float[t.Frames * t.Settings.FrameSize];
            _perFrame = new float[t.Frames];
            _predicted = view._predicted >= 0 && active[view._predicted] ? new float[_sequence.Length] : null;
            if (view._placement.AnyAdded(active)) _frames = input.GetGetter<VBuffer<float>>(input.Schema[view._placement.Source]);
        }

        public ValueGetter<TValue> Getter<TValue>(DataViewSchema.Column column)
        {
            if (!_active[column.Index]) throw new InvalidOperationException($"Column '{column.Name}' is not active in this {(_context == "Transform" ? "cursor" : "row")}.");
            if (_view._placement.InputOf(column.Index) is >= 0 and int passed) return _input.GetGetter<TValue>(_input.Schema[passed]);
            Delegate getter;
            if (column.Index == _view._total)
                getter = (ValueGetter<float>)((ref float value) => { Compute(); value = _total; });
            else
            {
                float[] source = column.Index == _view._perFrame ? _perFrame : _predicted!;
                getter = (ValueGetter<VBuffer<float>>)((ref VBuffer<float> value) =>
                {
                    Compute();
                    var editor = VBufferEditor.Create(ref value, source.Length);
                    source.CopyTo(editor.Values);
                    value = editor.Commit();
                });
            }
            return getter as ValueGetter<TValue>
                ?? throw new InvalidOperationException($"Column '{column.Name}' is {column.Type}, not {typeof(TValue).Name}.");
        }

        /// <summary>The row's added values, once per row whichever getters ask.</summary>
        private void Compute()
        {
            using var use = _use.Enter(_context == "Prediction" ? PredictionRows.Predict : _context);
            // Before the first row and after the last, Position is −1, which is also "nothing computed": refused, as the frame transformer's cursor refuses it.
            if (_context == "Transform" && _input.Position < 0) throw new InvalidOperationException("The cursor is not on a row.");
            if (_computed == _input.Position) return;
            _frames!(ref _row);
            var transformer = _view._transformer;
            // Checked here, where the row, frame and slot are known: the core would name only the frame's flat index.
            transformer.Input.Read(_row, _sequence, new RowName(_input, _id), _context, frames: true);
            _scorer ??= transformer.CreateScorer();
            if (_logLikelihood.Length < transformer.Frames) _logLikelihood = new double[transformer.Frames];
            transformer.Compute(_scorer, _sequence, _logLikelihood, out _total, _perFrame, _predicted);
            _computed = _input.Position;
        }
    }
}
