using Microsoft.ML.Data;

namespace Microsoft.ML.Helmholtz.Transforms;

/// <summary>
/// Which columns a transformer adds and where they sit in an output schema (<see cref="ColumnPlacement"/>:
/// as ML.NET places them, so that a saved and loaded pipeline gives the same schema). Shared by the
/// batched view and the row mapper.
/// </summary>
internal sealed class OutputColumns
{
    public OutputColumns(IRowScoring scoring, DataViewSchema input)
    {
        InputSchema = input;
        int inputIndex = InputColumn.Check(input, scoring.Input.Name, scoring.Input.Size, scoring.Architecture).Index;
        Placement = new ColumnPlacement(input, scoring.Columns.Added(scoring.FeatureSize).ToArray(), inputIndex);
        OutputSchema = Placement.Schema;
        int next = 0;
        ScoringColumns names = scoring.Columns;
        Features = names.Features is null ? -1 : Placement.OutputOfAdded(next++);
        LogLikelihood = names.LogLikelihood is null ? -1 : Placement.OutputOfAdded(next++);
        Score = names.Score is null ? -1 : Placement.OutputOfAdded(next++);
        PredictedLabel = names.PredictedLabel is null ? -1 : Placement.OutputOfAdded(next++);
        Threshold = scoring.Threshold;
    }

    /// <summary>The anomaly threshold on the score.</summary>
    public double Threshold { get; }

    public DataViewSchema InputSchema { get; }
    public DataViewSchema OutputSchema { get; }
    public ColumnPlacement Placement { get; }
    /// <summary>The input column the added columns are computed from.</summary>
    public int InputIndex => Placement.Source;
    public int Features { get; }
    public int LogLikelihood { get; }
    public int Score { get; }
    public int PredictedLabel { get; }

    public bool[] Active(IEnumerable<DataViewSchema.Column> columns) => Placement.Active(columns);

    public bool AnyAdded(bool[] active) => Placement.AnyAdded(active);

    public bool NeedsFeatures(bool[] active) => Features >= 0 && active[Features];

    /// <summary>The log-likelihood is needed for its own column and for the anomaly columns.</summary>
    public bool NeedsLogLikelihood(bool[] active)
        => (LogLikelihood >= 0 && active[LogLikelihood]) || (Score >= 0 && active[Score]) || (PredictedLabel >= 0 && active[PredictedLabel]);

    /// <summary>The input columns the active output columns need: themselves, and the input column for any added one.</summary>
    public IEnumerable<DataViewSchema.Column> Dependencies(bool[] active) => Placement.Dependencies(active);

    /// <summary>
    /// The getter of an added <paramref name="column"/> over <paramref name="row"/>: the features,
    /// the log-likelihood, the score (−ln p̂) or the predicted label (score above the threshold).
    /// </summary>
    public ValueGetter<TValue> AddedGetter<TValue>(DataViewSchema.Column column, ICurrentRow row)
    {
        int i = column.Index;
        Delegate getter;
        if (i == Features)
            getter = (ValueGetter<VBuffer<float>>)((ref VBuffer<float> value) =>
            {
                row.Ready();
                ReadOnlySpan<float> features = row.Features;
                var editor = VBufferEditor.Create(ref value, features.Length);
                features.CopyTo(editor.Values);
                value = editor.Commit();
            });
        else if (i == LogLikelihood) getter = (ValueGetter<float>)((ref float value) => { row.Ready(); value = row.LogLikelihood; });
        else if (i == Score) getter = (ValueGetter<float>)((ref float value) => { row.Ready(); value = -row.LogLikelihood; });
        else if (i == PredictedLabel) getter = (ValueGetter<bool>)((ref bool value) => { row.Ready(); value = -row.LogLikelihood > Threshold; });
        else throw new ArgumentOutOfRangeException(nameof(column), $"Column '{column.Name}' is not one this transformer adds.");
        return getter as ValueGetter<TValue>
            ?? throw new InvalidOperationException($"Column '{column.Name}' is {column.Type}: its getter does not give {typeof(TValue).Name}.");
    }
}

/// <summary>Where a cursor or a row keeps the current row's computed values.</summary>
internal interface ICurrentRow
{
    /// <summary>Makes the current row's values ready (or throws when there is no current row).</summary>
    void Ready();

    ReadOnlySpan<float> Features { get; }
    float LogLikelihood { get; }
}
