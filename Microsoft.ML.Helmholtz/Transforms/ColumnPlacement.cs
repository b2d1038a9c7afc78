using Microsoft.ML.Data;

namespace Microsoft.ML.Helmholtz.Transforms;

/// <summary>
/// Where a transformer's added columns sit in its output schema, as ML.NET's own transformers place them (and so the
/// standard transformers of a saved pipeline, which must give the same schema): a column of a new name goes last, one that
/// shadows a column of the same name goes right after the last column of that name, which becomes hidden.
/// </summary>
internal sealed class ColumnPlacement
{
    private readonly int[] _inputOf, _outputOfInput, _outputOfAdded;

    public ColumnPlacement(DataViewSchema input, IReadOnlyList<DataViewSchema.DetachedColumn> added)
    {
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
}
