using Microsoft.ML.Data;

namespace Microsoft.ML.Helmholtz.Transforms;

/// <summary>
/// What ML.NET keeps internal about schema shapes, done with its public API: a
/// <see cref="SchemaShape"/> made from a <see cref="DataViewSchema"/> (the column constructor and
/// <c>SchemaShape.Create</c> are internal; a loader that only knows a schema, appended to an empty
/// estimator chain, gives ML.NET's own conversion), and a column looked up by name.
/// </summary>
internal static class SchemaShapes
{
    public static SchemaShape FromSchema(DataViewSchema schema)
        => new SchemaOnlyLoader(schema).Append(new EstimatorChain<ITransformer>()).GetOutputSchema();

    /// <summary><paramref name="input"/> with <paramref name="added"/>; an added column replaces an input column of its name.</summary>
    public static SchemaShape Add(SchemaShape input, IEnumerable<DataViewSchema.DetachedColumn> added)
    {
        var builder = new DataViewSchema.Builder();
        builder.AddColumns(added);
        var columns = new Dictionary<string, SchemaShape.Column>();
        foreach (SchemaShape.Column c in input) columns[c.Name] = c;
        foreach (SchemaShape.Column c in FromSchema(builder.ToSchema())) columns[c.Name] = c;
        return new SchemaShape(columns.Values);
    }

    public static bool TryFind(this SchemaShape shape, string name, out SchemaShape.Column column)
    {
        column = shape.FirstOrDefault(c => c.Name == name);
        return column.Name is not null;   // default(Column) has no name
    }

    private sealed class SchemaOnlyLoader(DataViewSchema schema) : IDataLoader<int>
    {
        public DataViewSchema GetOutputSchema() => schema;
        public IDataView Load(int input) => new EmptyDataView(schema);
        void ICanSaveModel.Save(ModelSaveContext ctx) => throw new NotSupportedException("A schema-only loader is never saved.");
    }
}

/// <summary>A view with a schema and no rows (ML.NET's own is internal): what the saved chain is fitted on.</summary>
internal sealed class EmptyDataView(DataViewSchema schema) : IDataView
{
    public DataViewSchema Schema { get; } = schema;
    public bool CanShuffle => true;
    public long? GetRowCount() => 0;

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null) => new Cursor(Schema, columnsNeeded);

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) => [GetRowCursor(columnsNeeded, rand)];

    private sealed class Cursor(DataViewSchema schema, IEnumerable<DataViewSchema.Column> active) : DataViewRowCursor
    {
        private readonly HashSet<int> _active = active.Select(c => c.Index).ToHashSet();
        public override DataViewSchema Schema { get; } = schema;
        public override long Position => -1;
        public override long Batch => 0;
        public override bool MoveNext() => false;
        public override bool IsColumnActive(DataViewSchema.Column column) => _active.Contains(column.Index);
        public override ValueGetter<DataViewRowId> GetIdGetter() => (ref DataViewRowId _) => throw new InvalidOperationException("An empty view has no rows.");
        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column) => (ref TValue _) => throw new InvalidOperationException("An empty view has no rows.");
    }
}
