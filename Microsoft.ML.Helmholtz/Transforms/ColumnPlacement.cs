using Microsoft.ML.Data;

namespace Microsoft.ML.Helmholtz.Transforms;

/// <summary>
/// Where a transformer's added columns sit in its output schema, as ML.NET's own transformers place them (and so the
/// standard transformers of a saved pipeline, which must give the same schema): a column of a new name goes last, one that
/// shadows a column of the same name goes right after the last column of that name, which becomes hidden. It also says
/// which input columns a set of active output columns needs, for the views and row mappers of both transformers.
/// </summary>
internal sealed class ColumnPlacement
{
    private readonly int[] _inputOf, _outputOfInput, _outputOfAdded;
    private readonly DataViewSchema _input;

    /// <param name="input">The input schema.</param>
    /// <param name="added">The added columns, in the order <see cref="OutputOfAdded"/> numbers them.</param>
    /// <param name="source">The input column every added column is computed from.</param>
    public ColumnPlacement(DataViewSchema input, IReadOnlyList<DataViewSchema.DetachedColumn> added, int source)
    {
        _input = input;
        Source = source;
        // Entries ≥ 0 are input columns; ~a is added column a.
        var order = Enumerable.Range(0, input.Count).ToList();
        for (int a = 0; a < added.Count; a++)
        {
            string name = added[a].Name;
            int last = order.FindLastIndex(k => (k >= 0 ? input[k].Name : added[~k].Name) == name);
            if (last < 0) order.Add(~a);
            else order.Insert(last + 1, ~a);
        }
        var builder = new DataViewSchema.Builder();
        _inputOf = new int[order.Count];
        _outputOfInput = new int[input.Count];
        _outputOfAdded = new int[added.Count];
        for (int i = 0; i < order.Count; i++)
        {
            int k = order[i];
            if (k >= 0)
            {
                builder.AddColumn(input[k].Name, input[k].Type, input[k].Annotations);
                (_inputOf[i], _outputOfInput[k]) = (k, i);
            }
            else
            {
                builder.AddColumn(added[~k].Name, added[~k].Type, added[~k].Annotations);
                (_inputOf[i], _outputOfAdded[~k]) = (-1, i);
            }
        }
        Schema = builder.ToSchema();
    }

    /// <summary>The output schema: the input's columns and the added ones, placed as above.</summary>
    public DataViewSchema Schema { get; }

    /// <summary>The input column every added column is computed from.</summary>
    public int Source { get; }

    /// <summary>The input column that output column <paramref name="output"/> passes through, or −1 for an added one.</summary>
    public int InputOf(int output) => _inputOf[output];

    /// <summary>The output index of input column <paramref name="input"/>.</summary>
    public int OutputOfInput(int input) => _outputOfInput[input];

    /// <summary>The output index of added column <paramref name="added"/> (in the order given).</summary>
    public int OutputOfAdded(int added) => _outputOfAdded[added];

    /// <summary>Whether any added column is active.</summary>
    public bool AnyAdded(bool[] active)
    {
        foreach (int i in _outputOfAdded)
            if (active[i]) return true;
        return false;
    }

    /// <summary>The output columns among <paramref name="columns"/>, as flags by output index.</summary>
    public bool[] Active(IEnumerable<DataViewSchema.Column> columns)
    {
        var active = new bool[Schema.Count];
        foreach (DataViewSchema.Column c in columns) active[c.Index] = true;
        return active;
    }

    /// <summary>The input columns the active output columns need: those they pass through, and the source column for any added one.</summary>
    public IEnumerable<DataViewSchema.Column> Dependencies(bool[] active)
    {
        bool added = AnyAdded(active);
        return _input.Where(c => active[_outputOfInput[c.Index]] || (added && c.Index == Source));
    }
}
