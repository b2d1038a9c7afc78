using Microsoft.ML.Data;

namespace Microsoft.ML.Helmholtz.Tests.Support;

/// <summary>Reads a view through a parallel cursor set, as ML.NET's trainers ask for it.</summary>
internal static class ParallelCursors
{
    /// <summary>
    /// Reads <paramref name="column"/> (a float) of every row through <paramref name="view"/>'s cursor set of up to
    /// <paramref name="cursors"/>, and returns the messages of the <see cref="InvalidOperationException"/>s its cursors threw.
    /// Asserts the premise: the view gives more than one cursor.
    /// </summary>
    public static List<string> ErrorsReadingAll(IDataView view, string column, int cursors = 4)
    {
        DataViewRowCursor[] set = view.GetRowCursorSet(view.Schema, cursors);
        Assert.IsTrue(set.Length > 1, $"the premise: the view gives a parallel set ({set.Length} cursors)");
        var errors = new List<string>();
        foreach (DataViewRowCursor cursor in set)
        {
            using (cursor)
            {
                ValueGetter<float> getter = cursor.GetGetter<float>(view.Schema[column]);
                float value = 0;
                try
                {
                    while (cursor.MoveNext()) getter(ref value);
                }
                catch (InvalidOperationException x)
                {
                    errors.Add(x.Message);
                }
            }
        }
        return errors;
    }

    /// <summary>The error of reading every row of <paramref name="column"/> through one cursor that shuffles the rows (as ML.NET's online trainers ask for them).</summary>
    public static string ErrorReadingShuffled(IDataView view, string column)
    {
        Assert.IsTrue(view.CanShuffle, "the premise: the view can shuffle");
        using DataViewRowCursor cursor = view.GetRowCursor(view.Schema, new Random(3));
        ValueGetter<float> getter = cursor.GetGetter<float>(view.Schema[column]);
        float value = 0;
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => { while (cursor.MoveNext()) getter(ref value); });
        return e.Message;
    }
}
