using Microsoft.ML.Data;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;
using Microsoft.ML.Helmholtz.Tests.Support;

namespace Microsoft.ML.Helmholtz.Tests.Transforms;

/// <summary>Rows of 20 binary pixels drawn from a small known machine, with an id and a two-class label (which of two teachers drew the row).</summary>
public sealed class PixelRow
{
    public const int Size = 20;

    [VectorType(Size)]
    public float[] Pixels { get; set; } = [];

    public int Id { get; set; }

    public float Label { get; set; }
}

/// <summary>What a transformer adds, read back as a class.</summary>
public sealed class ScoredRow
{
    public int Id { get; set; }

    [VectorType(8)]
    public float[] HelmholtzFeatures { get; set; } = [];

    public float LogLikelihood { get; set; }
}

internal static class TransformTestData
{
    /// <summary>The rows as a lazy sequence, so that ML.NET's LoadFromEnumerable cannot tell their count (GetRowCount gives null).</summary>
    public static IEnumerable<T> OfUnknownLength<T>(IEnumerable<T> rows) { foreach (T row in rows) yield return row; }

    /// <summary>The row's values cut to <paramref name="length"/>, or padded with ones.</summary>
    public static float[] Resized(float[] values, int length) => values.Take(length).Concat(Enumerable.Repeat(1f, Math.Max(0, length - values.Length))).ToArray();

    /// <summary>What <paramref name="action"/> threw, inside any exceptions ML.NET wraps it in (its "Splitter/consolidator" one, around a loaded pipeline's cursors).</summary>
    public static Exception Innermost(Action action)
    {
        Exception e = Assert.Throws<Exception>(action);
        while (e.InnerException is not null) e = e.InnerException;
        return e;
    }

    /// <summary>The transformers of a loaded chain, the chains inside it opened.</summary>
    public static IEnumerable<ITransformer> SavedParts(ITransformer transformer) =>
        transformer is IEnumerable<ITransformer> chain ? chain.SelectMany(SavedParts) : [transformer];

    /// <summary>The message a loaded pipeline gives for a row of <paramref name="length"/> values where the machine reads <paramref name="expected"/>.</summary>
    public static string SavedLengthMessage(string column, int length, int expected) =>
        $"A saved Helmholtz machine's input: column '{column}', a row holds {length} values, but the machine reads {expected}: give every row the column's size.";

    /// <summary>Rows from teacher A (label 0) and, for a share of <paramref name="fromB"/>, teacher B (label 1).</summary>
    public static PixelRow[] Rows(int count, ulong seed, double fromB = 0)
    {
        var a = TestModels.Random("20b-6b", 50, scale: 3f);
        var b = TestModels.Random("20b-6b", 51, scale: 3f);
        var states = new LayerStates(a.Architecture, count);
        var statesB = new LayerStates(b.Architecture, count);
        a.Generative.Dream(new RandomStream(seed), count, states);
        b.Generative.Dream(new RandomStream(seed + 1), count, statesB);
        var pick = new RandomStream(seed + 2);
        return Enumerable.Range(0, count).Select(i =>
        {
            bool fromTeacherB = pick.NextDouble() < fromB;
            var source = fromTeacherB ? statesB : states;
            return new PixelRow { Pixels = source.Layer(0, count).Slice(i * PixelRow.Size, PixelRow.Size).ToArray(), Id = i, Label = fromTeacherB ? 1 : 0 };
        }).ToArray();
    }

    /// <summary>A schema's columns in order as "name:type", hidden ones marked, for comparing a fresh transformer's output with a loaded pipeline's.</summary>
    public static string[] Columns(DataViewSchema schema) => schema.Select(c => $"{c.Name}{(c.IsHidden ? " (hidden)" : "")}: {c.Type}").ToArray();
}
