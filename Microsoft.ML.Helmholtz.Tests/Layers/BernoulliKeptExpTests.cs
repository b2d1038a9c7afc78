using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Tests.Layers;

/// <summary>
/// A binary layer keeps the e^{−|a|} its log-probability forms, and the gradient over the same logits reads
/// them: every gradient must carry the bits of the same layer's gradient without them, and none may read
/// values kept for logits that have changed since (a new forward, rows shared by a shared forward).
/// </summary>
[TestClass]
public sealed class BernoulliKeptExpTests
{
    private const int Inputs = 9, Rows = 6;

    private static BernoulliLayer Layer(int units)
    {
        var layer = new BernoulliLayer("b", Inputs, units, MatrixEngine.Managed);
        var random = new Random(units);
        foreach (Parameter p in layer.Parameters)
            for (int i = 0; i < p.Length; i++) p.Value[i] = (float)(3 * (2 * random.NextDouble() - 1));
        return layer;
    }

    private static float[] Values(int n, int seed, bool binary)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => binary ? (random.Next(2) == 0 ? 0f : 1f) : (float)(2 * random.NextDouble() - 1)).ToArray();
    }

    /// <summary>Every gradient of one call: the parameters', the input's and the output's, in one array.</summary>
    private static float[] Gradient(BernoulliLayer layer, float[] y, float[] input)
    {
        foreach (Parameter p in layer.Parameters) p.ZeroGradient();
        float[] weights = Values(Rows, 11, binary: false), inputGradient = new float[Rows * Inputs], outputGradient = new float[Rows * layer.OutputSize];
        layer.AccumulateLogProbGradient(y, input, Rows, weights, inputGradient, outputGradient);
        return [.. layer.Parameters.SelectMany(p => p.Gradient), .. inputGradient, .. outputGradient];
    }

    private static void SameBits(float[] expected, float[] actual, string what)
    {
        Assert.AreEqual(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.AreEqual(BitConverter.SingleToInt32Bits(expected[i]), BitConverter.SingleToInt32Bits(actual[i]), $"{what}, entry {i}: {expected[i]:R} against {actual[i]:R}");
    }

    [TestMethod]
    [DataRow(37)]   // vectors and an overlapping last one per row
    [DataRow(5)]    // fewer units than a vector: the scalar loops
    public void AGradientReadsWhatItsLogProbabilityKeptAndHasTheBitsOfOneWithout(int units)
    {
        float[] x1 = Values(Rows * Inputs, 1, binary: false), x2 = Values(Rows * Inputs, 2, binary: false), y = Values(Rows * units, 3, binary: true);
        var reference = Layer(units);
        reference.Forward(x1, Rows);
        float[] alone = Gradient(reference, y, x1);
        Assert.AreEqual(0, reference.KeptRows);

        var layer = Layer(units);
        layer.Forward(x1, Rows);
        layer.AccumulateLogProb(y, Rows, new double[Rows]);
        Assert.AreEqual(Rows, layer.KeptRows, "the log-probability keeps its e^{−|a|}");
        SameBits(alone, Gradient(layer, y, x1), "after its log-probability");

        // Kept for other logits: a new forward, or rows copied by a shared forward, must not be read.
        layer.AccumulateLogProb(y, Rows, new double[Rows]);
        layer.Forward(x2, Rows);
        Assert.AreEqual(0, layer.KeptRows);
        reference.Forward(x2, Rows);
        float[] atX2 = Gradient(reference, y, x2);
        SameBits(atX2, Gradient(layer, y, x2), "after a new forward");

        int[] source = [0, 0, 1, 1, 1, 2];
        float[] distinct = x2[..(3 * Inputs)], repeated = source.SelectMany(s => distinct.Skip(s * Inputs).Take(Inputs)).ToArray();
        layer.Forward(x1, Rows);
        layer.AccumulateLogProb(y, Rows, new double[Rows]);
        layer.ForwardShared(distinct, 3, source, Rows);
        Assert.AreEqual(0, layer.KeptRows);
        reference.ForwardShared(distinct, 3, source, Rows);
        SameBits(Gradient(reference, y, repeated), Gradient(layer, y, repeated), "after a shared forward");
    }

    /// <summary>
    /// A log-probability over the first rows keeps those rows only: a gradient over more rows reads none of them (rows past
    /// them would be what an earlier forward kept), whether it asks for many more or for one more.
    /// </summary>
    [TestMethod]
    [DataRow(37, 3)]
    [DataRow(5, 3)]
    [DataRow(37, Rows - 1)]
    [DataRow(5, Rows - 1)]
    public void AGradientOverMoreRowsThanItsLogProbabilityKeptReadsNone(int units, int keptRows)
    {
        float[] x1 = Values(Rows * Inputs, 1, binary: false), x2 = Values(Rows * Inputs, 2, binary: false), y = Values(Rows * units, 3, binary: true);
        var reference = Layer(units);
        reference.Forward(x2, Rows);
        float[] expected = Gradient(reference, y, x2);

        var layer = Layer(units);
        layer.Forward(x1, Rows);
        layer.AccumulateLogProb(y, Rows, new double[Rows]);
        layer.Forward(x2, Rows);
        layer.AccumulateLogProb(y.AsSpan(0, keptRows * units), keptRows, new double[keptRows]);
        Assert.AreEqual(keptRows, layer.KeptRows);
        SameBits(expected, Gradient(layer, y, x2), $"a gradient over all {Rows} rows after a log-probability over {keptRows}");
    }

    [TestMethod]
    public void ALayerThatOnlyScoresStopsKeepingAndStartsAgainAfterAGradient()
    {
        var layer = Layer(37);
        float[] x = Values(Rows * Inputs, 1, binary: false), y = Values(Rows * 37, 3, binary: true);
        int LogProbability()
        {
            layer.Forward(x, Rows);
            layer.AccumulateLogProb(y, Rows, new double[Rows]);
            return layer.KeptRows;
        }
        Assert.AreEqual(Rows, LogProbability());
        Assert.AreEqual(Rows, LogProbability(), "a second log-probability before the gradient (Wake-Sleep's sleep phase) still keeps them");
        Assert.AreEqual(0, LogProbability(), "two without a gradient: this layer is scoring");
        Assert.AreEqual(0, LogProbability());
        Gradient(layer, y, x);   // finds none kept
        Assert.AreEqual(Rows, LogProbability(), "after a gradient: keep them again");

        var soft = new BernoulliLayer("s", Inputs, 37, MatrixEngine.Managed, softTargets: true);
        soft.Forward(x, Rows);
        soft.AccumulateLogProb(Values(Rows * 37, 4, binary: false), Rows, new double[Rows]);
        Assert.AreEqual(0, soft.KeptRows, "the soft-target kernel keeps nothing");
    }
}
