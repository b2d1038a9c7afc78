using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Numerics;
using Microsoft.ML.Helmholtz.Tests.Support;

namespace Microsoft.ML.Helmholtz.Tests.Layers;

[TestClass]
public sealed class SharedForwardTests
{
    [TestMethod]
    [DataRow("9b-5b")]
    [DataRow("9b-5g")]
    public void SharedForwardGivesEachRowTheDistributionOfItsInput(string architecture)
    {
        var machine = TestModels.Random(architecture, 3);
        ConditionalLayer layer = machine.Recognition.Layer(1);
        var inputs = TestModels.RandomStates(machine.Architecture, 3, 4).Layer(0, 3).ToArray();
        int[] source = [0, 0, 0, 1, 2, 2, 2];
        float[] replicated = source.SelectMany(s => inputs.Skip(s * 9).Take(9)).ToArray();
        float[] y = new float[source.Length * 5];
        new RandomStream(5).FillUniform(y);
        for (int i = 0; i < y.Length; i++) y[i] = y[i] < 0.5f ? 0f : 1f;

        var expected = new double[source.Length];
        layer.Forward(replicated, source.Length);
        layer.AccumulateLogProb(y, source.Length, expected);
        var actual = new double[source.Length];
        layer.ForwardShared(inputs, 3, source, source.Length);
        layer.AccumulateLogProb(y, source.Length, actual);
        for (int r = 0; r < source.Length; r++) Assert.AreEqual(expected[r], actual[r], 1e-5 * Math.Abs(expected[r]) + 1e-6, $"row {r}");
    }

    // A conditioned standard-normal prior shifted per distinct row: after a shared forward each row has the shift of its source
    // row, in its mean, its draws and ln N(y; c, I), as after a forward over the repeated shifts; a plain forward drops it.
    [TestMethod]
    public void ASharedForwardGivesAConditionedPriorEachRowsShift()
    {
        const int units = 3;
        int[] source = [0, 0, 1, 1, 1, 2];
        int rows = source.Length;
        var prior = new StandardNormalPrior(units);
        float[] shifts = new float[3 * units], y = new float[rows * units];
        new RandomStream(7).FillNormal(shifts);
        new RandomStream(8).FillNormal(y);
        float[] repeated = source.SelectMany(s => shifts.Skip(s * units).Take(units)).ToArray();
        prior.ForwardShared(default, shifts, 3, source, rows);
        float[] mean = new float[rows * units];
        prior.Expectation(rows, mean);
        CollectionAssert.AreEqual(repeated, mean);
        var shared = new double[rows];
        prior.AccumulateLogProb(y, rows, shared);
        for (int r = 0; r < rows; r++)
        {
            double squares = 0;
            for (int i = 0; i < units; i++) squares += Math.Pow(y[r * units + i] - repeated[r * units + i], 2);
            // Float terms of a few units summed in double: well inside 1e-5.
            Assert.AreEqual(-0.5 * (squares + units * Math.Log(2 * Math.PI)), shared[r], 1e-5, $"row {r}");
        }
        // A draw is each row's shift plus the standard normal draw of the same stream.
        float[] draw = new float[rows * units], noise = new float[rows * units];
        prior.Sample(new RandomStream(9), rows, draw);
        new RandomStream(9).FillNormal(noise);
        for (int i = 0; i < draw.Length; i++) Assert.AreEqual(repeated[i] + noise[i], draw[i], $"draw {i}");
        // A forward without conditioning drops the shift: the mean is 0, written over what the buffer held (the shifts).
        prior.Forward(default, rows);
        prior.Expectation(rows, mean);
        CollectionAssert.AreEqual(new float[rows * units], mean);
    }

    [TestMethod]
    public void SharedForwardRejectsUngroupedRows()
    {
        var machine = TestModels.Random("9b-5b", 3);
        Assert.ThrowsExactly<ArgumentException>(() => machine.Recognition.Layer(1).ForwardShared(new float[18], 2, [0, 1, 0], 3));
        // A row may only read one of the distinct rows the forward computed.
        Assert.ThrowsExactly<ArgumentException>(() => machine.Recognition.Layer(1).ForwardShared(new float[18], 2, [0, 1, 2], 3));
        Assert.ThrowsExactly<ArgumentException>(() => machine.Recognition.Layer(1).ForwardShared(new float[18], 2, [-1, 0, 1], 3));
        // Nor a later distinct row than its own: the copy backwards would have overwritten that row before it is read.
        Assert.ThrowsExactly<ArgumentException>(() => machine.Recognition.Layer(1).ForwardShared(new float[27], 3, [1, 2, 2], 3));
        // No distinct rows, or more than the rows (one more, too), is a count that cannot be right: named, not computed.
        foreach (int distinct in new[] { 0, 4 })
            Assert.AreEqual("distinctRows", Assert.ThrowsExactly<ArgumentOutOfRangeException>(
                () => machine.Recognition.Layer(1).ForwardShared(new float[36], distinct, [0, 1, 2], 3)).ParamName, $"{distinct} distinct rows");
        // No rows at all is named as the rows, the parameter that holds it.
        Assert.AreEqual("rows", Assert.ThrowsExactly<ArgumentOutOfRangeException>(
            () => machine.Recognition.Layer(1).ForwardShared(new float[18], 0, [], 0)).ParamName, "0 rows");
    }

    /// <summary>
    /// A Gaussian layer, plain or behind a trunk, reads the statistics its rows share in place for the draw and
    /// its density, and copies them only when a member needs each row's own. The draw, ln q, the means and
    /// the gradients through the draw must be bit for bit those of the same layer made to copy first, and
    /// agree with a forward over the repeated inputs (within the products' rounding).
    /// </summary>
    [TestMethod]
    [DataRow("20b-18g")]      // 18 units: a vector and an overlapping last one per row
    [DataRow("20b-5g")]       // fewer units than a vector
    [DataRow("20b-6t-18g")]   // behind a deterministic trunk, whose rows the backward needs
    [DataRow("20b-18gr")]     // the rank-one posterior, which reads its statistics in place in the backward too
    [DataRow("20b-5gr")]
    [DataRow("20b-6t-18gr")]
    public void SharedGaussianStatisticsAreReadInPlaceWithTheBitsOfCopies(string architecture)
    {
        const int distinct = 3;
        int[] source = [0, 0, 0, 1, 2, 2, 2, 2];
        int rows = source.Length;
        var original = TestModels.Random(architecture + "-4g", 71);
        int units = original.Architecture.Layers[1].Size;
        var (inputs, replicated) = RepeatedInputs(original, distinct, source, 72);
        float[] pathWise = Enumerable.Range(0, rows * units).Select(i => MathF.Sin(i * 0.7f)).ToArray();
        float[] weights = Enumerable.Range(0, rows).Select(r => 1f + 0.25f * r).ToArray();

        (float[] Draw, double[] LogQ, float[] Means, float[] Gradients) Run(string how)
        {
            var machine = original.Clone();
            ConditionalLayer layer = machine.Recognition.Layer(1);
            if (how == "repeated") layer.Forward(replicated, rows);
            else layer.ForwardShared(inputs, distinct, source, rows);
            if (how == "copied first") layer.Expectation(rows, new float[rows * units]);
            var y = new float[rows * units];
            layer.Sample(new RandomStream(73), rows, y);
            var logQ = new double[rows];
            layer.AccumulateLogProbOfSample(y, rows, logQ);
            machine.ZeroGradients();
            ((IReparameterizedLayer)layer).BackwardThroughSample(new SampleGradient { PathWise = pathWise, RowWeights = weights }, replicated, rows, default);
            // ln q of the draw given as values (the score-function rules' form), after the backward (which the
            // rank-one layer also runs on the shared rows).
            var logQGiven = new double[rows];
            layer.AccumulateLogProb(y, rows, logQGiven);
            var means = new float[rows * units];
            layer.Expectation(rows, means);
            return (y, logQ.Concat(logQGiven).ToArray(), means, layer.Parameters.SelectMany(p => p.Gradient).ToArray());
        }

        var inPlace = Run("in place");
        var copied = Run("copied first");
        var repeated = Run("repeated");
        CollectionAssert.AreEqual(copied.Draw, inPlace.Draw, "the draw");
        CollectionAssert.AreEqual(copied.LogQ, inPlace.LogQ, "ln q of the draw");
        CollectionAssert.AreEqual(copied.Means, inPlace.Means, "the means, once every row needs its own");
        CollectionAssert.AreEqual(copied.Gradients, inPlace.Gradients, "the gradients through the draw");
        void Close(IReadOnlyList<double> expected, IReadOnlyList<double> actual, string what)
        {
            double scale = expected.Max(Math.Abs);
            for (int i = 0; i < expected.Count; i++) Assert.AreEqual(expected[i], actual[i], 1e-5 * scale + 1e-6, $"{what} {i}");
        }
        Close(repeated.Draw.Select(v => (double)v).ToList(), inPlace.Draw.Select(v => (double)v).ToList(), "draw");
        Close(repeated.LogQ, inPlace.LogQ, "ln q");
        Close(repeated.Means.Select(v => (double)v).ToList(), inPlace.Means.Select(v => (double)v).ToList(), "mean");
        Close(repeated.Gradients.Select(v => (double)v).ToList(), inPlace.Gradients.Select(v => (double)v).ToList(), "gradient");
    }

    /// <summary>
    /// After a shared forward a trunked layer carries only the distinct inputs back through its trunk (the
    /// rows' gradients at the trunk's output summed per input, since its activations are the same for every
    /// row of an input). Every parameter's gradient, the conditioning's and the output's must be those of a
    /// forward over the repeated inputs (within the products' rounding), for each kind of layer behind a
    /// trunk, by the score-function backward and, for the reparameterised ones, through the draw. Asked for the input's gradient,
    /// the layer gives every row its own copy of all the trunk's activations (the lower layers' too, which the backward reads).
    /// </summary>
    [TestMethod]
    [DataRow("20b-5b")]           // no trunk: a plain layer asked for the input's gradient still gives it
    [DataRow("20b-6t-5b")]
    [DataRow("20b-6t-4t-5b")]     // two deterministic layers: the gradient between them is per distinct row too
    [DataRow("20b-6t-4t-18g")]
    [DataRow("20b-6t-18g")]       // diagonal, tanh mean
    [DataRow("20b-6t-18gl")]      // diagonal, linear mean
    [DataRow("20b-6t-18gr")]      // rank one plus diagonal
    [DataRow("20b-6t-7grl")]
    public void TrunkedRowsThatShareTheirInputBackpropagateAsRowByRow(string architecture)
    {
        const int distinct = 3;
        int[] source = [0, 0, 0, 1, 2, 2, 2, 2];
        int rows = source.Length;
        var original = TestModels.Random(architecture + "-4g", 81);
        int units = original.Architecture.Layers[1].Size;
        var (inputs, replicated) = RepeatedInputs(original, distinct, source, 82);
        float[] distinctConditioning = Enumerable.Range(0, distinct * units).Select(i => 0.3f * MathF.Cos(i * 1.3f)).ToArray();
        float[] conditioning = source.SelectMany(s => distinctConditioning.Skip(s * units).Take(units)).ToArray();
        float[] pathWise = Enumerable.Range(0, rows * units).Select(i => MathF.Sin(i * 0.7f)).ToArray();
        float[] weights = Enumerable.Range(0, rows).Select(r => 1f - 0.2f * r).ToArray();
        bool reparameterized = !architecture.EndsWith('b');   // the Gaussian layers (a trunked layer takes the interface whatever it wraps)

        int visible = original.Architecture.Visible.Size;
        (float[] Parameters, float[] Conditioning, float[] Output, float[] Input) Run(bool shared, bool throughDraw, bool inputGradient)
        {
            var machine = original.Clone();
            ConditionalLayer layer = machine.Recognition.Layer(1);
            // A forward over other rows first, so that rows a shared forward leaves alone hold other values.
            layer.Forward(TestModels.RandomStates(original.Architecture, rows, 84).Layer(0, rows), rows);
            if (shared) layer.ForwardShared(inputs, distinctConditioning, distinct, source, rows);
            else layer.Forward(replicated, conditioning, rows);
            var y = new float[rows * units];
            layer.Sample(new RandomStream(83), rows, y);
            machine.ZeroGradients();
            var dc = new float[rows * units];
            var dy = new float[rows * units];
            var dx = inputGradient ? new float[rows * visible] : [];
            if (throughDraw)
                ((IReparameterizedLayer)layer).BackwardThroughSample(new SampleGradient { PathWise = pathWise, RowWeights = weights }, replicated, rows, dx, dc);
            else
                layer.AccumulateLogProbGradient(y, replicated, rows, weights, dx, dy, dc);
            return (layer.Parameters.SelectMany(p => p.Gradient).ToArray(), dc, dy, dx);
        }

        // Not asked for the input's gradient (the bottom recognition layer in training), the backward runs per distinct trunk row.
        foreach (bool inputGradient in new[] { true, false })
        foreach (bool throughDraw in reparameterized ? new[] { false, true } : [false])
        {
            var expected = Run(shared: false, throughDraw, inputGradient);
            var actual = Run(shared: true, throughDraw, inputGradient);
            string how = (throughDraw ? "through the draw" : "score function") + (inputGradient ? ", input gradient asked" : "");
            void Close(float[] e, float[] a, string what)
            {
                Assert.AreEqual(e.Length, a.Length, what);
                double scale = e.Max(v => Math.Abs((double)v));
                Assert.IsTrue(scale > 0, $"{what}: all zero, so the comparison would not test anything");
                for (int i = 0; i < e.Length; i++) Assert.AreEqual(e[i], a[i], 1e-5 * scale + 1e-7, $"{architecture}, {how}: {what} {i}");
            }
            Close(expected.Parameters, actual.Parameters, "parameter gradient");
            Close(expected.Conditioning, actual.Conditioning, "conditioning gradient");
            if (inputGradient) Close(expected.Input, actual.Input, "input gradient");
            if (!throughDraw) Close(expected.Output, actual.Output, "output gradient");
        }
    }

    /// <summary>
    /// A backward asked for the input's gradient gives every row its own trunk activations, so that the rows [0, distinct) no
    /// longer hold the distinct inputs' ones: a second backward over the same forward, not asked for it, must then go row by row
    /// and still give every parameter's gradient of a forward over the repeated inputs (within the products' rounding).
    /// </summary>
    [TestMethod]
    [DataRow("20b-6t-5b")]
    [DataRow("20b-6t-4t-5b")]
    public void ASecondBackwardAfterTheRowsTookTheirOwnTrunkActivationsGoesRowByRow(string architecture)
    {
        const int distinct = 3;
        int[] source = [0, 0, 0, 1, 2, 2, 2, 2];
        int rows = source.Length;
        var original = TestModels.Random(architecture + "-4g", 85);
        int units = original.Architecture.Layers[1].Size, visible = original.Architecture.Visible.Size;
        var (inputs, replicated) = RepeatedInputs(original, distinct, source, 86);
        float[] weights = Enumerable.Range(0, rows).Select(r => 1f - 0.1f * r).ToArray();

        float[] Run(bool shared)
        {
            var machine = original.Clone();
            ConditionalLayer layer = machine.Recognition.Layer(1);
            if (shared) layer.ForwardShared(inputs, distinct, source, rows);
            else layer.Forward(replicated, rows);
            var y = new float[rows * units];
            layer.Sample(new RandomStream(87), rows, y);
            layer.AccumulateLogProbGradient(y, replicated, rows, weights, new float[rows * visible], default);
            machine.ZeroGradients();
            layer.AccumulateLogProbGradient(y, replicated, rows, weights, default, default);
            return layer.Parameters.SelectMany(p => p.Gradient).ToArray();
        }

        float[] expected = Run(shared: false), actual = Run(shared: true);
        double scale = expected.Max(v => Math.Abs((double)v));
        Assert.IsTrue(scale > 0, "all zero, so the comparison would not test anything");
        for (int i = 0; i < expected.Length; i++) Assert.AreEqual(expected[i], actual[i], 1e-5 * scale + 1e-7, $"{architecture}: parameter gradient {i}");
    }

    /// <summary>
    /// What makes the shared backward worth having: behind a trunk, every product of the bottom layer's
    /// backward runs over the distinct inputs, so its multiply-adds are exactly distinct / rows of those
    /// of the same backward after a forward over the repeated inputs (each product is linear in the rows).
    /// A change that let the rows be copied first (and the trunk run over all of them) fails this.
    /// </summary>
    [TestMethod]
    [DataRow("20b-6t-4t-5b", false)]
    [DataRow("20b-6t-18gl", true)]
    [DataRow("20b-6t-7grl", true)]
    public void TrunkedBackwardAfterASharedForwardMultipliesOverTheDistinctInputsOnly(string architecture, bool throughDraw)
    {
        const int distinct = 3, k = 4, rows = distinct * k;
        int[] source = Enumerable.Range(0, rows).Select(r => r / k).ToArray();
        long multiplyAdds = 0;
        var counting = new ObservingEngine(MatrixEngine.Managed, (m, n, k) => Interlocked.Add(ref multiplyAdds, (long)m * n * k));
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse(architecture + "-4g"), 91, counting);
        int units = machine.Architecture.Layers[1].Size;
        var (inputs, replicated) = RepeatedInputs(machine, distinct, source, 92);
        float[] weights = Enumerable.Repeat(0.5f, rows).ToArray();
        float[] pathWise = Enumerable.Range(0, rows * units).Select(i => MathF.Cos(i * 0.3f)).ToArray();

        long BackwardWork(bool shared)
        {
            ConditionalLayer layer = machine.Recognition.Layer(1);
            if (shared) layer.ForwardShared(inputs, distinct, source, rows);
            else layer.Forward(replicated, rows);
            var y = new float[rows * units];
            layer.Sample(new RandomStream(93), rows, y);
            long before = Interlocked.Read(ref multiplyAdds);
            if (throughDraw)
                ((IReparameterizedLayer)layer).BackwardThroughSample(new SampleGradient { PathWise = pathWise, RowWeights = weights }, replicated, rows, default);
            else
                layer.AccumulateLogProbGradient(y, replicated, rows, weights, default, default);
            return Interlocked.Read(ref multiplyAdds) - before;
        }

        long rowByRow = BackwardWork(shared: false), perInput = BackwardWork(shared: true);
        Assert.IsTrue(rowByRow > 0, "the backward ran no products");
        Assert.AreEqual(rowByRow / k, perInput, $"{architecture}: multiply-adds of the backward after a shared forward, against {rowByRow} row by row");
    }

    /// <summary>Distinct visible rows of a random machine, and the rows that repeat them as <paramref name="source"/> says (K samples per example).</summary>
    private static (float[] Inputs, float[] Replicated) RepeatedInputs(HelmholtzMachine machine, int distinct, int[] source, ulong seed)
    {
        int visible = machine.Architecture.Visible.Size;
        float[] inputs = TestModels.RandomStates(machine.Architecture, distinct, seed).Layer(0, distinct).ToArray();
        return (inputs, source.SelectMany(s => inputs.Skip(s * visible).Take(visible)).ToArray());
    }

    /// <summary>
    /// Conditioned rows that share their input and its conditioning (the K samples of a frame under the
    /// temporal model): the shared path gives every row the free energy the row-by-row path gives, from the same draws.
    /// </summary>
    [TestMethod]
    [DataRow("9bs-5g-3g")]
    [DataRow("9b-5b-3b")]
    [DataRow("9gl-4t-5gr")]
    public void ConditionedRowsThatShareTheirInputScoreAsRowByRow(string architecture)
    {
        const int distinct = 3, k = 4, rows = distinct * k;
        var machine = Microsoft.ML.Helmholtz.Tests.Support.TestModels.Random(architecture, 61, scale: 0.5f);
        var arch = machine.Architecture;
        var source = Microsoft.ML.Helmholtz.Tests.Support.TestModels.RandomStates(arch, distinct, 62);
        float[] visible = source.Layer(0, distinct).ToArray();
        var conditioning = new LayerConditioning(arch, rows);
        var random = new Microsoft.ML.Helmholtz.Numerics.RandomStream(63);
        // One conditioning per distinct row, repeated over its K rows, in every layer of both networks.
        for (int l = 0; l < arch.Layers.Count; l++)
        {
            int size = arch.Layers[l].Size;
            float[] perDistinct = new float[distinct * size], perDistinctQ = new float[distinct * size];
            random.FillNormal(perDistinct);
            random.FillNormal(perDistinctQ);
            for (int r = 0; r < rows; r++)
            {
                perDistinct.AsSpan(r / k * size, size).CopyTo(conditioning.Generative(l, rows).Slice(r * size, size));
                if (l > 0) perDistinctQ.AsSpan(r / k * size, size).CopyTo(conditioning.Recognition(l, rows).Slice(r * size, size));
            }
        }
        int[] rowSource = Enumerable.Range(0, rows).Select(r => r / k).ToArray();
        var states = new LayerStates(arch, rows);
        int d = arch.Visible.Size;
        for (int r = 0; r < rows; r++) visible.AsSpan(r / k * d, d).CopyTo(states.Layer(0, rows).Slice(r * d, d));
        double[] rowByRow = new double[rows], shared = new double[rows], logJoint = new double[rows];
        machine.SampleFreeEnergy(new Microsoft.ML.Helmholtz.Numerics.RandomStream(64), states, rows, rowByRow, logJoint, conditioning);
        machine.SampleFreeEnergy(new Microsoft.ML.Helmholtz.Numerics.RandomStream(64), new LayerStates(arch, rows), rows, visible, distinct, rowSource, shared, logJoint, conditioning);
        for (int r = 0; r < rows; r++)
            Assert.AreEqual(rowByRow[r], shared[r], 1e-4 * Math.Max(1, Math.Abs(rowByRow[r])), $"{architecture}, row {r}");
    }

    // A plain forward after a shared one over as many rows forgets the sharing: its backward reads the rows it was given,
    // not the shared forward's distinct inputs or trunk rows, and gives the bits of the same layer that never shared.
    [TestMethod]
    [DataRow("20b-5b")]
    [DataRow("20b-18g")]
    [DataRow("20b-7gr")]
    [DataRow("20b-6t-4t-5b")]
    [DataRow("20b-6t-18g")]
    public void APlainForwardAfterASharedOneBackpropagatesItsOwnRows(string architecture)
    {
        const int distinct = 3;
        int[] source = [0, 0, 0, 1, 2, 2, 2, 2];
        int rows = source.Length;
        var original = TestModels.Random(architecture + "-4g", 101);
        var (inputs, _) = RepeatedInputs(original, distinct, source, 102);
        float[] fresh = TestModels.RandomStates(original.Architecture, rows, 103).Layer(0, rows).ToArray();
        float[] y = TestModels.RandomStates(original.Architecture, rows, 104).Layer(1, rows).ToArray();
        float[] weights = Enumerable.Range(0, rows).Select(r => 1f - 0.1f * r).ToArray();

        float[] Gradient(bool sharedFirst)
        {
            var machine = original.Clone();
            ConditionalLayer layer = machine.Recognition.Layer(1);
            if (sharedFirst) layer.ForwardShared(inputs, distinct, source, rows);
            layer.Forward(fresh, rows);
            machine.ZeroGradients();
            layer.AccumulateLogProbGradient(y, fresh, rows, weights, default, default);
            return layer.Parameters.SelectMany(p => p.Gradient).ToArray();
        }

        CollectionAssert.AreEqual(Gradient(sharedFirst: false), Gradient(sharedFirst: true), architecture);
    }

    // A Gaussian layer with a learned variance per unit (as the generative layers have) after a shared forward: the weight and
    // log-variance gradients, by the score function and through the draw, are those after a forward over the repeated inputs.
    [TestMethod]
    [DataRow(GaussianMean.Tanh)]
    [DataRow(GaussianMean.Linear)]
    public void APerUnitVarianceLayerThatSharesItsInputBackpropagatesAsRowByRow(GaussianMean mean)
    {
        var backward = SharedRowsBackward(new GaussianLayer("g", 6, 5, mean, VarianceSource.PerUnit, MatrixEngine.Default), 111, inputGradient: false);
        foreach (bool throughDraw in new[] { false, true })
        {
            float[] expected = backward(shared: false, throughDraw), actual = backward(shared: true, throughDraw);
            double scale = expected.Max(v => Math.Abs((double)v));
            // Sums of 8 float terms in another order (per distinct input first): a few roundings of the largest.
            for (int i = 0; i < expected.Length; i++)
                Assert.AreEqual(expected[i], actual[i], 1e-5 * scale, $"{mean}, {(throughDraw ? "through the draw" : "score function")}: gradient {i}");
        }
    }

    // A learned variance per unit is written into the rows of s only when a member reads them: a shared forward must write it
    // before the draw reads the distinct rows in place, else the draw takes the s those rows held from an earlier broadcast (here
    // the variances before a change, as after a training step). The shared draw equals the draw after a forward over the repeated inputs.
    [TestMethod]
    [DataRow(GaussianMean.Tanh)]
    [DataRow(GaussianMean.Linear)]
    public void ADrawAfterASharedForwardTakesTheCurrentPerUnitVariance(GaussianMean mean)
    {
        int[] source = [0, 0, 1, 1, 1, 2, 2, 2];
        int rows = source.Length, distinct = 3, inputs = 6, units = 5;
        var layer = new GaussianLayer("g", inputs, units, mean, VarianceSource.PerUnit, MatrixEngine.Managed);
        var random = new RandomStream(121);
        foreach (var p in layer.Parameters)
        {
            random.FillNormal(p.Value);
            for (int i = 0; i < p.Value.Length; i++) p.Value[i] *= 0.5f;
        }
        float[] x = new float[distinct * inputs];
        random.FillNormal(x);
        float[] replicated = source.SelectMany(s => x.Skip(s * inputs).Take(inputs)).ToArray();
        float[] Draw(bool shared)
        {
            if (shared) layer.ForwardShared(x, distinct, source, rows);
            else layer.Forward(replicated, rows);
            var y = new float[rows * units];
            layer.Sample(new RandomStream(122), rows, y);
            return y;
        }

        Draw(shared: false);   // the rows of s now hold the per-unit log-variance as it is
        float[] logVariance = layer.Parameters.Single(p => p.Name == "g.logvar").Value;
        for (int i = 0; i < units; i++) logVariance[i] += 1f;   // a step later: every σ e^{1/2} times what the rows held
        float[] actual = Draw(shared: true), expected = Draw(shared: false);
        // m from a product over 3 rows or over 8 (a rounding apart), σ and ε the same: a few roundings of |y|; σ off by e^{1/2} is 0.65 σ |ε|.
        for (int i = 0; i < expected.Length; i++)
            Assert.AreEqual(expected[i], actual[i], 1e-5f * (1 + Math.Abs(expected[i])), $"{mean}: draw {i}");
    }

    // Rows that share their input, with the input's gradient asked: that gradient is one per row, so the backward cannot sum the
    // rows per distinct input first; each row's is that after a forward over the repeated inputs (it was left at zero when the
    // layer took the per-distinct path regardless).
    [TestMethod]
    [DataRow(0)]   // diagonal, a tanh mean, a learned variance per unit
    [DataRow(1)]   // diagonal, a linear mean, the variance from the input
    [DataRow(2)]   // rank one plus diagonal
    public void RowsThatShareTheirInputGiveEachRowsInputGradientWhenAsked(int kind)
    {
        ConditionalLayer layer = kind switch
        {
            0 => new GaussianLayer("g", 6, 5, GaussianMean.Tanh, VarianceSource.PerUnit, MatrixEngine.Default),
            1 => new GaussianLayer("g", 6, 5, GaussianMean.Linear, VarianceSource.FromInput, MatrixEngine.Default),
            _ => new RankOneGaussianLayer("q", 6, 5, MatrixEngine.Default),
        };
        var backward = SharedRowsBackward(layer, 113, inputGradient: true);
        foreach (bool throughDraw in new[] { false, true })
        {
            float[] expected = backward(shared: false, throughDraw), actual = backward(shared: true, throughDraw);
            double scale = expected.Max(v => Math.Abs((double)v));
            Assert.IsGreaterThan(0.0, scale, "the input gradient is not zero");
            // The statistics of one input from a product over 3 rows or over 8: a rounding or two apart, a few in the gradient.
            for (int i = 0; i < expected.Length; i++)
                Assert.AreEqual(expected[i], actual[i], 1e-5 * scale, $"kind {kind}, {(throughDraw ? "through the draw" : "score function")}: input gradient {i}");
        }
    }

    /// <summary>
    /// A backward through <paramref name="layer"/> (its weights drawn from <paramref name="seed"/>, halved) over 8 rows of 3 distinct
    /// inputs (rows 0, 0, 1, 1, 1, 2, 2, 2), after a forward over the repeated inputs or a shared one (the first argument), by the score
    /// function or through the draw (the second): it returns the parameters' gradients in order, or the input's when <paramref name="inputGradient"/>.
    /// </summary>
    private delegate float[] SharedRowsGradient(bool shared, bool throughDraw);

    private static SharedRowsGradient SharedRowsBackward(ConditionalLayer layer, ulong seed, bool inputGradient)
    {
        int[] source = [0, 0, 1, 1, 1, 2, 2, 2];
        int rows = source.Length, distinct = 3, inputs = layer.InputSize, units = layer.OutputSize;
        var random = new RandomStream(seed);
        foreach (var p in layer.Parameters)
        {
            random.FillNormal(p.Value);
            for (int i = 0; i < p.Value.Length; i++) p.Value[i] *= 0.5f;
        }
        float[] x = new float[distinct * inputs], y = new float[rows * units], pathWise = new float[rows * units];
        random.FillNormal(x);
        random.FillNormal(y);
        random.FillNormal(pathWise);
        float[] replicated = source.SelectMany(s => x.Skip(s * inputs).Take(inputs)).ToArray();
        float[] weights = Enumerable.Range(0, rows).Select(r => 1f - 0.1f * r).ToArray();
        return (shared, throughDraw) =>
        {
            foreach (var p in layer.Parameters) Array.Clear(p.Gradient);
            if (shared) layer.ForwardShared(x, distinct, source, rows);
            else layer.Forward(replicated, rows);
            float[] input = inputGradient ? new float[rows * inputs] : [];
            if (throughDraw)
            {
                layer.Sample(new RandomStream(seed + 1), rows, new float[rows * units]);
                ((IReparameterizedLayer)layer).BackwardThroughSample(new SampleGradient { PathWise = pathWise, RowWeights = weights }, replicated, rows, input);
            }
            else layer.AccumulateLogProbGradient(y, replicated, rows, weights, input, default);
            return inputGradient ? input : layer.Parameters.SelectMany(p => p.Gradient).ToArray();
        };
    }
}
