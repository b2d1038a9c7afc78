using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;
using Microsoft.ML.Helmholtz.Tests.Support;

namespace Microsoft.ML.Helmholtz.Tests.Layers;

/// <summary>
/// A backward reads the statistics of the layer's last forward. After a forward over 10 rows and one over 4, the buffers still
/// hold the first forward's rows 4…9: a gradient over 10 rows read them silently. It is refused, naming the layer and both
/// counts, before it accumulates anything; a forward over the rows first (plain or shared) makes it work.
/// </summary>
[TestClass]
public sealed class StaleForwardTests
{
    private const int Many = 10, Few = 4;

    private static ConditionalLayer Layer(HelmholtzMachine machine, string network, int layer)
        => network == "generative" ? machine.Generative.Layers[layer] : machine.Recognition.Layer(layer);

    /// <summary>Inputs and outputs the layer can take, [rows × its sizes] (binary for Bernoulli units, in [0, 1] for continuous ones).</summary>
    private static (float[] Input, float[] Output) Rows(ConditionalLayer layer, int rows, ulong seed)
    {
        var random = new RandomStream(seed);
        float[] input = new float[rows * layer.InputSize], output = new float[rows * layer.OutputSize];
        random.FillNormal(input);
        random.FillUniform(output);
        if (layer.Units == UnitType.Bernoulli)
            for (int i = 0; i < output.Length; i++) output[i] = output[i] < 0.5f ? 0 : 1;
        else if (layer.Units != UnitType.ContinuousBernoulli) random.FillNormal(output);
        return (input, output);
    }

    private static void AssertNamesBothCounts(InvalidOperationException e, ConditionalLayer layer, string operation)
    {
        StringAssert.Contains(e.Message, $"{operation} over {Many} rows");
        StringAssert.Contains(e.Message, $"computed {Few} rows");
        StringAssert.Contains(e.Message, layer.Name);
        StringAssert.Contains(e.Message, "call Forward over those rows first");
    }

    /// <summary>
    /// A forward whose input is too short for its rows is refused before it begins, naming the input: the last forward's
    /// statistics stay, and a gradient after it is the gradient of that forward. (The product found the short input once the
    /// layer had begun writing its statistics, with the matrix routine's names for it; the layer then held no rows.)
    /// </summary>
    [TestMethod]
    [DataRow("9b-5b", "recognition", 1)]
    [DataRow("9cb-5g", "recognition", 1)]
    [DataRow("9b-5gr", "recognition", 1)]
    [DataRow("9b-4t-5g", "generative", 0)]
    public void AForwardRefusedForItsInputLeavesTheLastForward(string architecture, string network, int index)
    {
        var (layer, x, Gradients) = LayerAfterAForward(architecture, network, index);
        float[] expected = Gradients();
        var e = Assert.ThrowsExactly<ArgumentException>(() => layer.Forward(x.AsSpan(0, x.Length - 1), Many), "an input one value short");
        Assert.AreEqual("input", e.ParamName);
        StringAssert.Contains(e.Message, $"input holds {x.Length - 1} values, fewer than the {x.Length} of {Many} rows × {layer.InputSize} inputs");
        CollectionAssert.AreEqual(expected, Gradients(), "the last forward's statistics are as they were");
    }

    /// <summary>
    /// A shared forward refused for its arguments (a row source out of order, distinct inputs one value short, a conditioning one
    /// value short) leaves the last forward as a refused forward does: its statistics stay, and a gradient after it is the
    /// gradient of that forward. (The shared forward cleared the layer's count before it checked its row sources, so the
    /// gradient after a refusal was refused as stale.)
    /// </summary>
    [TestMethod]
    [DataRow("9b-5b", "recognition", 1)]
    [DataRow("9cb-5g", "recognition", 1)]
    [DataRow("9b-5gr", "recognition", 1)]
    [DataRow("9b-4t-5g", "generative", 0)]
    public void ASharedForwardRefusedForItsArgumentsLeavesTheLastForward(string architecture, string network, int index)
    {
        var (layer, x, Gradients) = LayerAfterAForward(architecture, network, index);
        const int distinct = Many / 2;
        int[] source = [.. Enumerable.Range(0, Many).Select(r => r / 2)], disordered = [.. source];
        (disordered[1], disordered[2]) = (disordered[2], disordered[1]);   // 0, 1, 0, …: back to an earlier input
        float[] distinctInputs = x[..(distinct * layer.InputSize)], conditioning = new float[distinct * layer.OutputSize];
        float[] expected = Gradients();
        foreach (var (what, parameter, call) in new (string, string, Action)[]
                 {
                     ("a row source out of order", "rowSource", () => layer.ForwardShared(distinctInputs, distinct, disordered, Many)),
                     ("distinct inputs one value short", "distinctInputs", () => layer.ForwardShared(distinctInputs.AsSpan(0, distinctInputs.Length - 1), distinct, source, Many)),
                     ("a conditioning one value short", "conditioning", () => layer.ForwardShared(distinctInputs, conditioning.AsSpan(0, conditioning.Length - 1), distinct, source, Many)),
                 })
        {
            Assert.AreEqual(parameter, Assert.ThrowsExactly<ArgumentException>(call, what).ParamName, what);
            CollectionAssert.AreEqual(expected, Gradients(), $"after {what}, the last forward's statistics are as they were");
        }
        layer.ForwardShared(distinctInputs, conditioning, distinct, source, Many);   // the premise: these arguments, whole, are taken
    }

    [TestMethod]
    [DataRow("9b-5b", "recognition", 1)]
    [DataRow("9b-5b", "generative", 0)]
    [DataRow("9b-5b", "generative", 1)]     // a Bernoulli prior
    [DataRow("9cb-5g", "generative", 0)]    // continuous Bernoulli
    [DataRow("9cb-5g", "recognition", 1)]   // Gaussian, its variance from the input
    [DataRow("9cb-5g", "generative", 1)]    // the standard normal prior
    [DataRow("9b-5g-3g", "generative", 1)]  // Gaussian, per-unit variance
    [DataRow("9b-5gr", "recognition", 1)]   // rank-one posterior
    [DataRow("9b-4t-5g", "recognition", 1)] // behind a deterministic trunk
    [DataRow("9b-4t-5g", "generative", 0)]
    public void AGradientOverMoreRowsThanTheLastForwardIsRefused(string architecture, string network, int index)
    {
        var machine = TestModels.Random(architecture, 31);
        ConditionalLayer layer = Layer(machine, network, index);
        var (x, y) = Rows(layer, Many, 32);
        float[] w = Enumerable.Repeat(0.5f, Many).ToArray();
        var noise = new RandomStream(33);

        layer.Forward(x, Many);
        layer.Forward(x, Few);
        machine.ZeroGradients();
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => layer.AccumulateLogProbGradient(y, x, Many, w, default, default));
        AssertNamesBothCounts(e, layer, "AccumulateLogProbGradient");
        // One row more than the forward computed reads a stale row just the same.
        Assert.ThrowsExactly<InvalidOperationException>(() => layer.AccumulateLogProbGradient(y, x, Few + 1, w, default, default), "one row more");
        if (layer is IReparameterizedLayer reparameterized && layer.Units.HasReparameterizedSamples)
        {
            layer.Sample(noise, Few, new float[Many * layer.OutputSize]);
            e = Assert.ThrowsExactly<InvalidOperationException>(() =>
                reparameterized.BackwardThroughSample(new SampleGradient { PathWise = new float[Many * layer.OutputSize], RowWeights = w }, x, Many, default));
            AssertNamesBothCounts(e, layer, "BackwardThroughSample");
        }
        Assert.IsTrue(machine.Parameters.All(p => p.Gradient.All(g => g == 0)), "a refused backward accumulates nothing");

        // The legitimate sequences: a forward over the rows (or more) before the backward.
        layer.Forward(x, Many);
        layer.AccumulateLogProbGradient(y, x, Many, w, default, default);
        layer.AccumulateLogProbGradient(y, x, Few, w, default, default);
        if (layer is IReparameterizedLayer r && layer.Units.HasReparameterizedSamples)
        {
            layer.Sample(noise, Many, new float[Many * layer.OutputSize]);
            r.BackwardThroughSample(new SampleGradient { PathWise = y, RowWeights = w }, x, Many, default);
        }
        Assert.IsTrue(layer.Parameters.Count == 0 || layer.Parameters.Any(p => p.Gradient.Any(g => g != 0)), "the backward after its forward ran");
    }

    /// <summary>A shared forward computes all its rows, however few distinct inputs: a backward over them all is not refused (a trunk's inner layer included).</summary>
    [TestMethod]
    [DataRow("9b-5g")]
    [DataRow("9b-5gr")]
    [DataRow("9b-4t-5g")]
    [DataRow("9b-4t-5b")]
    public void ASharedForwardCoversItsRows(string architecture)
    {
        var machine = TestModels.Random(architecture, 34);
        ConditionalLayer layer = machine.Recognition.Layer(1);
        int[] source = [0, 0, 0, 1, 1, 2, 2, 2, 2, 2];
        var (distinct, _) = Rows(layer, 3, 35);
        float[] repeated = source.SelectMany(s => distinct.Skip(s * layer.InputSize).Take(layer.InputSize)).ToArray();
        var (_, y) = Rows(layer, Many, 36);
        float[] w = Enumerable.Repeat(0.5f, Many).ToArray();
        layer.Forward(repeated, Few);
        layer.ForwardShared(distinct, 3, source, Many);
        machine.ZeroGradients();
        layer.AccumulateLogProbGradient(y, repeated, Many, w, default, default);
        Assert.IsTrue(layer.Parameters.Any(p => p.Gradient.Any(g => g != 0)));
    }

    /// <summary>
    /// A read over 0 rows is a count of rows like any other ("0 or more"): it needs no forward and changes nothing, where a
    /// negative count is refused, naming the batch.
    /// </summary>
    [TestMethod]
    [DataRow("9b-5b")]
    [DataRow("9cb-5b")]
    public void AReadOverNoRowsNeedsNoForward(string architecture)
    {
        var machine = TestModels.Random(architecture, 37);
        ConditionalLayer layer = machine.Generative.Layers[0];
        double[] logProb = [7];
        layer.Expectation(0, []);
        layer.AccumulateLogProb([], 0, logProb);
        layer.AccumulateLogProbOfSample([], 0, logProb);
        layer.Sample(new RandomStream(1), 0, []);
        Assert.AreEqual(0, ((NaturalParameterLayer)layer).Logits(0).Length);
        ((IBilinearLogProb)layer).InputFeatures(0, [], logProb);
        Assert.AreEqual(7.0, logProb[0], "nothing added, nothing cleared");
        Assert.AreEqual("batch", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => layer.Expectation(-1, [])).ParamName);
    }

    /// <summary>
    /// A Gaussian layer's read over 0 rows needs no forward and changes nothing, before any forward and after one, plain or shared:
    /// no row shares statistics then, so the reads take each row's own (they read the last shared row's source, and a layer whose
    /// variance comes from its input took the absent per-unit variance). The rows of the forward read the same after it.
    /// </summary>
    [TestMethod]
    [DataRow("9b-5g", "recognition", 1)]      // variance from the input
    [DataRow("9b-5g-3g", "generative", 1)]    // a per-unit variance
    [DataRow("9b-5gr", "recognition", 1)]     // the rank-one posterior
    public void AGaussianLayersReadOverNoRowsNeedsNoForward(string architecture, string network, int index)
    {
        var machine = TestModels.Random(architecture, 41);
        ConditionalLayer layer = Layer(machine, network, index);
        double[] logProb = [7];
        void ReadNoRows()
        {
            layer.Expectation(0, []);
            layer.Sample(new RandomStream(1), 0, []);
            layer.AccumulateLogProb([], 0, logProb);
            layer.AccumulateLogProbOfSample([], 0, logProb);
            Assert.AreEqual(7.0, logProb[0], "nothing added, nothing cleared");
        }
        ReadNoRows();
        var (x, _) = Rows(layer, Few, 42);
        int[] rowSource = [0, 0, 1, 1];
        foreach (bool shared in new[] { false, true })
        {
            if (shared) layer.ForwardShared(x, 2, rowSource, Few);
            else layer.Forward(x, Few);
            var y = new float[Few * layer.OutputSize];
            layer.Sample(new RandomStream(43), Few, y);
            double[] Read()
            {
                var lp = new double[2 * Few];
                layer.AccumulateLogProb(y, Few, lp.AsSpan(0, Few));
                layer.AccumulateLogProbOfSample(y, Few, lp.AsSpan(Few));
                return lp;
            }
            double[] before = Read();
            ReadNoRows();
            CollectionAssert.AreEqual(before, Read(), shared ? "after a shared forward" : "after a forward");
        }
    }

    /// <summary>A Gaussian layer's expectation computes the means alone, into the caller's buffer: no statistics for a backward.</summary>
    [TestMethod]
    public void AnExpectationLeavesNoForwardForABackward()
    {
        var machine = TestModels.Random("9b-5g", 37);
        ConditionalLayer layer = machine.Recognition.Layer(1);
        var (x, y) = Rows(layer, Few, 38);
        layer.ExpectationOf(x, Few, new float[Few * layer.OutputSize]);
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => layer.AccumulateLogProbGradient(y, x, Few, new float[Few], default, default));
        StringAssert.Contains(e.Message, "which computed none");
    }

    /// <summary>Buffers grown by EnsureCapacity hold no statistics: a backward over the rows of the forward before it is refused, not run on the new, empty buffers.</summary>
    [TestMethod]
    public void GrowingTheBuffersLeavesNoForwardForABackward()
    {
        var machine = TestModels.Random("9b-5b", 37);
        ConditionalLayer layer = machine.Recognition.Layer(1);
        var (x, y) = Rows(layer, Few, 38);
        layer.Forward(x, Few);
        layer.EnsureCapacity(layer.Capacity + 1);
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => layer.AccumulateLogProbGradient(y, x, Few, new float[Few], default, default));
        StringAssert.Contains(e.Message, "which computed none");
    }

    /// <summary>
    /// Asking for no more rows than the buffers hold keeps them and the last forward: a backward after it is the gradient of that
    /// forward, not refused as if the buffers had been made anew (they are made anew, and the forward forgotten, only to grow).
    /// </summary>
    [TestMethod]
    [DataRow("9b-5b", "recognition", 1)]
    [DataRow("9b-5gr", "recognition", 1)]
    [DataRow("9b-4t-5g", "generative", 0)]
    public void EnsuringTheCapacityAlreadyHeldKeepsTheLastForward(string architecture, string network, int index)
    {
        var (layer, _, Gradients) = LayerAfterAForward(architecture, network, index);
        float[] expected = Gradients();
        int capacity = layer.Capacity;
        layer.EnsureCapacity(capacity);
        layer.EnsureCapacity(Few);
        Assert.AreEqual(capacity, layer.Capacity, "the buffers never shrink");
        CollectionAssert.AreEqual(expected, Gradients(), "the last forward's statistics, and its count, are as they were");
    }

    /// <summary>The networks' check before any layer accumulates is the same one: a free energy over 10 rows, then over 4, then the gradients over 10.</summary>
    [TestMethod]
    public void TheNetworksRefuseAGradientOverMoreRowsThanTheirLastForward()
    {
        var machine = TestModels.Random("9b-5b-3b", 39);
        var states = new LayerStates(machine.Architecture, Many);
        TestModels.RandomStates(machine.Architecture, Many, 40).Layer(0, Many).CopyTo(states.Layer(0, Many));
        double[] f = new double[Many], l = new double[Many];
        float[] w = Enumerable.Repeat(0.1f, Many).ToArray();
        machine.SampleFreeEnergy(new RandomStream(41), states, Many, f, l);
        machine.SampleFreeEnergy(new RandomStream(42), states, Few, f, l);
        machine.ZeroGradients();
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => machine.Generative.AccumulateLogJointGradient(states, Many, w));
        StringAssert.Contains(e.Message, $"over {Many} rows");
        StringAssert.Contains(e.Message, $"computed {Few} rows");
        StringAssert.Contains(e.Message, "generative.0");
        StringAssert.Contains(e.Message, "call AccumulateLogJoint");
        e = Assert.ThrowsExactly<InvalidOperationException>(() => machine.Recognition.AccumulateLogProbGradient(states, Many, w));
        StringAssert.Contains(e.Message, $"computed {Few} rows");
        StringAssert.Contains(e.Message, "recognition.1");
        StringAssert.Contains(e.Message, "call Sample");
        Assert.IsTrue(machine.Parameters.All(p => p.Gradient.All(g => g == 0)), "refused before any layer accumulates");
        // The prior is checked with the layers below it: its own forward over fewer rows is refused before layer 0 accumulates.
        machine.SampleFreeEnergy(new RandomStream(44), states, Many, f, l);
        machine.Generative.Prior.Forward(default, Few);
        e = Assert.ThrowsExactly<InvalidOperationException>(() => machine.Generative.AccumulateLogJointGradient(states, Many, w));
        StringAssert.Contains(e.Message, "GenerativeNetwork.AccumulateLogJointGradient");
        StringAssert.Contains(e.Message, "generative.2.prior");
        Assert.IsTrue(machine.Parameters.All(p => p.Gradient.All(g => g == 0)), "the prior refused before any layer accumulates");

        machine.SampleFreeEnergy(new RandomStream(43), states, Many, f, l);
        machine.Generative.AccumulateLogJointGradient(states, Many, w);
        machine.Recognition.AccumulateLogProbGradient(states, Many, w);
        Assert.IsTrue(machine.Parameters.All(p => p.Gradient.Any(g => g != 0)));
    }

    /// <summary>
    /// The calls that read the last forward's statistics (draws, expectations, densities, the statistics themselves) are
    /// refused over more rows than it computed, as the gradients are: they read an earlier, larger forward's rows silently.
    /// </summary>
    [TestMethod]
    [DataRow("9b-5b", "recognition", 1)]
    [DataRow("9cb-5g", "generative", 0)]
    [DataRow("9cb-5g", "recognition", 1)]
    [DataRow("9b-5g-3g", "generative", 1)]
    [DataRow("9b-5gr", "recognition", 1)]
    [DataRow("9b-4t-5g", "recognition", 1)]
    public void ReadsOverMoreRowsThanTheLastForwardAreRefused(string architecture, string network, int index)
    {
        var machine = TestModels.Random(architecture, 44);
        ConditionalLayer layer = Layer(machine, network, index);
        var (x, y) = Rows(layer, Many, 45);
        float[] output = new float[Many * layer.OutputSize];
        double[] logProb = new double[Many];
        layer.Forward(x, Many);
        layer.Forward(x, Few);
        var reads = new List<(string Name, Action Read)>
        {
            ("Sample", () => layer.Sample(new RandomStream(46), Many, output)),
            ("Expectation", () => layer.Expectation(Many, output)),
            ("AccumulateLogProb", () => layer.AccumulateLogProb(y, Many, logProb)),
            ("AccumulateLogProbOfSample", () => layer.AccumulateLogProbOfSample(y, Many, logProb)),
        };
        ConditionalLayer inner = layer is TrunkedLayer trunked ? trunked.Inner : layer;
        if (inner is not RankOneGaussianLayer) reads.Add(("AccumulateLogProb", () => layer.AccumulateLogProb(y, Many, [], Many, logProb)));   // outputs by row index
        if (inner is NaturalParameterLayer natural) reads.Add(("Logits", () => natural.Logits(Many)));
        // Price's curvature reads the logits too (a trunked layer refuses it whatever its forward).
        if (layer is NaturalParameterLayer plain)
            reads.Add(("AccumulateNegLogProbInputHessianDiagonal", () => plain.AccumulateNegLogProbInputHessianDiagonal(y, Many, new float[Many * layer.InputSize])));
        if (inner is GaussianLayer gaussian)
        {
            reads.Add(("Means", () => gaussian.Means(Many)));
            reads.Add(("LogVariances", () => gaussian.LogVariances(Many)));
            reads.Add(("Noise", () => gaussian.Noise(Many)));
            reads.Add(("Reparameterize", () => gaussian.Reparameterize(Many, output)));
        }
        if (inner is RankOneGaussianLayer rankOne) reads.Add(("Factors", () => rankOne.Factors(Many)));
        if (layer is IBilinearLogProb { IsBilinear: true } bilinear) reads.Add(("InputFeatures", () => bilinear.InputFeatures(Many, output, logProb)));
        foreach (var (name, read) in reads)
            AssertNamesBothCounts(Assert.ThrowsExactly<InvalidOperationException>(read, name), inner, name);
        Assert.IsTrue(logProb.All(v => v == 0), "a refused read accumulates nothing");
        layer.Forward(x, Many);
        foreach (var (name, read) in reads) read();
    }

    /// <summary>
    /// A layer of a random machine after a forward over <see cref="Many"/> rows of <c>x</c>, and a function that gives (parameters'
    /// gradients cleared first) the gradient of that forward's log-probability: what a refused call must leave as it was.
    /// </summary>
    private static (ConditionalLayer Layer, float[] X, Func<float[]> Gradients) LayerAfterAForward(string architecture, string network, int index)
    {
        var machine = TestModels.Random(architecture, 34);
        ConditionalLayer layer = Layer(machine, network, index);
        var (x, y) = Rows(layer, Many, 35);
        float[] w = Enumerable.Repeat(0.5f, Many).ToArray();
        layer.Forward(x, Many);
        return (layer, x, () =>
        {
            foreach (var p in layer.Parameters) Array.Clear(p.Gradient);
            layer.AccumulateLogProbGradient(y, x, Many, w, default, default);
            return [.. layer.Parameters.SelectMany(p => p.Gradient)];
        });
    }
}
