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
}
