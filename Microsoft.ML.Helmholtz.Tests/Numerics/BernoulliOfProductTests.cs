using System.Runtime.Intrinsics;
using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Evaluation;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;
using Microsoft.ML.Helmholtz.Tests.Support;

namespace Microsoft.ML.Helmholtz.Tests.Numerics;

/// <summary>
/// Scoring's visible layer in one kernel (logits formed in registers, never written) against a double-precision transcription of
/// ln Bernoulli(x | sigmoid(b + h·Wᵀ)), and the machine's scoring path through it against the forward path. Tolerance per row:
/// each logit is a float sum of k products and a bias, off by at most (k + 1)·2⁻²⁴ of its magnitudes' sum, and a term moves by
/// at most its logit's error (|∂ softplus/∂a| ≤ 1); the terms themselves carry KernelTests' 10⁻⁶ of their sizes.
/// </summary>
[TestClass]
public sealed class BernoulliOfProductTests
{
    private const double Epsilon = 1.0 / (1 << 24);

    private static float[] Normal(int n, ulong seed, float scale)
    {
        var values = new float[n];
        new RandomStream(seed).FillNormal(values);
        for (int i = 0; i < n; i++) values[i] *= scale;
        return values;
    }

    /// <summary>
    /// Shapes with short tiles (rows not a multiple of 8), outputs padded to 16 and to a half panel, one input, targets of several
    /// rows, a fold of the lanes' products mid-row (2100 outputs: more than 63 two-vector panels), and rows cut into pieces on a pool.
    /// </summary>
    [TestMethod]
    [DataRow(1, 1, 1, 1)]
    [DataRow(7, 3, 5, 2)]
    [DataRow(8, 200, 784, 1)]
    [DataRow(13, 17, 33, 3)]
    [DataRow(37, 5, 48, 5)]
    [DataRow(9, 3, 2100, 2)]
    [DataRow(12, 5, 40, 3)]   // a tile of 4 rows after a whole one
    [DataRow(30, 4, 20, 2)]   // tiles of 8, 8, 8 and 6 rows
    [DataRow(1000, 200, 784, 1)]
    public void TheVisibleTermsInOneKernelMatchDouble(int rows, int inputs, int outputs, int targetRows)
    {
        float[] h = Normal(rows * inputs, 1, 1f), w = Normal(outputs * inputs, 2, 0.4f), b = Normal(outputs, 3, 1.5f);
        float[] x = Normal(targetRows * outputs, 4, 1f).Select(v => v > 0.3f ? 1f : 0f).ToArray();
        int[] source = Enumerable.Range(0, rows).Select(r => (r * 7 + 3) % targetRows).ToArray();
        var operands = new BernoulliProductOperands(w, b, inputs, outputs);
        double[] sums = Enumerable.Range(0, rows).Select(r => 0.5 * r).ToArray();
        if (!Vector512.IsHardwareAccelerated)
        {
            // The path is AVX-512's only: the machine does not offer it, and the kernel refuses.
            operands.SetTargets(x, targetRows);
            Assert.ThrowsExactly<PlatformNotSupportedException>(() => Kernels.AccumulateBernoulliLogProbOfProduct(h, rows, operands, source, sums));
            return;
        }
        using var pool = new WorkerPool(3);
        using (WorkerPool.Use(pool))
        {
            operands.SetTargets(x, targetRows);
            Kernels.AccumulateBernoulliLogProbOfProduct(h, rows, operands, source, sums);
        }
        for (int r = 0; r < rows; r++)
        {
            double expected = 0.5 * r, tolerance = 0;
            for (int c = 0; c < outputs; c++)
            {
                double a = b[c], magnitude = Math.Abs(b[c]);
                for (int i = 0; i < inputs; i++)
                {
                    a += (double)h[r * inputs + i] * w[c * inputs + i];
                    magnitude += Math.Abs((double)h[r * inputs + i] * w[c * inputs + i]);
                }
                double softplus = Math.Max(a, 0) + Math.Log(1 + Math.Exp(-Math.Abs(a)));
                double target = x[source[r] * outputs + c];
                expected += target * a - softplus;
                tolerance += (inputs + 1) * Epsilon * magnitude + 1e-6 * (Math.Abs(target * a) + softplus);
            }
            Assert.AreEqual(expected, sums[r], tolerance + 1e-9, $"row {r} (its targets row {source[r]})");
        }
    }

    /// <summary>
    /// Logits of 0 make every factor 1 + e^{−|a|} exactly 2: a lane of 2100 outputs takes 132 of them, past float's 2¹²⁸, so
    /// the row's ln 2 terms come out right only if the products are folded into the double lanes on the way.
    /// </summary>
    [TestMethod]
    public void ALongRowOfEvenOddsFoldsItsProductsOnTheWay()
    {
        if (!Vector512.IsHardwareAccelerated)
        {
            Assert.IsNull(HelmholtzMachine.Create(HelmholtzArchitecture.Parse("20b-8g-4b"), 1).VisibleProductOperands());
            return;
        }
        const int rows = 3, inputs = 2, outputs = 2100;
        var operands = new BernoulliProductOperands(new float[outputs * inputs], new float[outputs], inputs, outputs);
        operands.SetTargets(Normal(outputs, 5, 1f).Select(v => v > 0 ? 1f : 0f).ToArray(), 1);
        double[] sums = new double[rows];
        Kernels.AccumulateBernoulliLogProbOfProduct(Normal(rows * inputs, 6, 1f), rows, operands, new int[rows], sums);
        foreach (double sum in sums) Assert.AreEqual(-outputs * Math.Log(2), sum, 1e-6 * outputs);
    }

    /// <summary>
    /// A NaN logit (a NaN input, or an input of ∞ times a weight of 0) makes its row's sum NaN, which the estimators refuse. The lanes' products were folded by a ln that read a NaN product as a finite number, and such a row came out finite
    /// and wrong (a machine with a NaN visible bias scored −270 nats against −4).
    /// </summary>
    [TestMethod]
    public void ANaNLogitMakesItsRowNaN()
    {
        const int rows = 10, inputs = 2, outputs = 40;
        float[] w = Normal(outputs * inputs, 7, 1f), h = Normal(rows * inputs, 8, 1f);
        w[2 * 5] = 0;                    // column 5: 0 · h₀
        h[2 * 3] = float.NaN;            // row 3: every logit NaN
        h[2 * 6] = float.PositiveInfinity;   // row 6: column 5's logit 0 · ∞, the others ±∞
        var operands = new BernoulliProductOperands(w, Normal(outputs, 9, 1f), inputs, outputs);
        operands.SetTargets(Normal(outputs, 10, 1f).Select(v => v > 0 ? 1f : 0f).ToArray(), 1);
        double[] sums = new double[rows];
        if (!Vector512.IsHardwareAccelerated)
        {
            Assert.ThrowsExactly<PlatformNotSupportedException>(() => Kernels.AccumulateBernoulliLogProbOfProduct(h, rows, operands, new int[rows], sums));
            return;
        }
        Kernels.AccumulateBernoulliLogProbOfProduct(h, rows, operands, new int[rows], sums);
        for (int r = 0; r < rows; r++)
            Assert.AreEqual(r is 3 or 6, double.IsNaN(sums[r]), $"row {r}: {sums[r]}");
        Assert.IsTrue(sums.Where((_, r) => r is not (3 or 6)).All(double.IsFinite));
    }

    [TestMethod]
    public void TargetsThatAreNotBinaryAreRefused()
    {
        var operands = new BernoulliProductOperands(new float[6], new float[3], 2, 3);
        var refusal = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => operands.SetTargets([0f, 1f, 0f, 1f, 0.5f, 0f], 2));
        StringAssert.Contains(refusal.Message, "Row 1, column 1");
    }

    [TestMethod]
    public void ARowSourcePastTheTargetsIsRefused()
    {
        // The kernel reads the targets through a pointer: a row source past them would read memory beyond the flips, not throw.
        var operands = new BernoulliProductOperands(new float[6], new float[3], 2, 3);
        operands.SetTargets([0f, 1f, 0f, 1f, 1f, 0f], 2);
        double[] sums = new double[2];
        if (!Vector512.IsHardwareAccelerated)
        {
            // The path is AVX-512's only: the kernel refuses before it reads the row source.
            Assert.ThrowsExactly<PlatformNotSupportedException>(() => Kernels.AccumulateBernoulliLogProbOfProduct(new float[4], 2, operands, [0, 2], sums));
            return;
        }
        var refusal = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Kernels.AccumulateBernoulliLogProbOfProduct(new float[4], 2, operands, [0, 2], sums));
        Assert.AreEqual("rowSource", refusal.ParamName);
        Assert.ThrowsExactly<ArgumentException>(() => Kernels.AccumulateBernoulliLogProbOfProduct(new float[4], 2, operands, [0], sums));
    }

    /// <summary>
    /// Operands made for a layer of another shape are refused, naming them, when either dimension differs (same inputs and more
    /// outputs, or fewer inputs and the same outputs), and before the layer's forward is cleared: its logits are still read.
    /// The check comes before the kernel, so it holds with or without AVX-512.
    /// </summary>
    [TestMethod]
    [DataRow(8, 6)]
    [DataRow(7, 5)]
    public void OperandsOfALayerOfAnotherShapeAreRefusedAndLeaveTheForward(int inputs, int outputs)
    {
        const int rows = 2;
        var layer = new BernoulliLayer("b", 8, 5, MatrixEngine.Managed);
        float[] input = Normal(rows * 8, 12, 1f);
        layer.Forward(input, rows);
        float[] logits = layer.Logits(rows).ToArray();
        var operands = new BernoulliProductOperands(new float[outputs * inputs], new float[outputs], inputs, outputs);
        float[] targets = new float[rows * 5];
        var refusal = Assert.ThrowsExactly<ArgumentException>(() => layer.AccumulateLogProbOfProduct(operands, input, targets, rows, [0, 1], rows, new double[rows]));
        Assert.AreEqual("operands", refusal.ParamName);
        CollectionAssert.AreEqual(logits, layer.Logits(rows).ToArray(), "the refused call left the forward");
    }

    /// <summary>
    /// The path serves a binary visible layer (alone or under deterministic layers) under a built-in engine where AVX-512 runs,
    /// and nothing else: soft targets and an engine of the user's (given every product unless it allows fused ones) keep the
    /// forward path.
    /// </summary>
    [TestMethod]
    public void OnlyABinaryVisibleLayerUnderABuiltInEngineIsScoredInOneKernel()
    {
        bool wide = Vector512.IsHardwareAccelerated;
        Assert.AreEqual(wide, HelmholtzMachine.Create(HelmholtzArchitecture.Parse("20b-8g-4b"), 1).VisibleProductOperands() is not null);
        Assert.AreEqual(wide, HelmholtzMachine.Create(HelmholtzArchitecture.Parse("20b-8g-4b"), 1, MatrixEngine.Managed).VisibleProductOperands() is not null);
        Assert.IsNull(HelmholtzMachine.Create(HelmholtzArchitecture.Parse("20bs-8g-4b"), 1).VisibleProductOperands());
        Assert.AreEqual(wide, HelmholtzMachine.Create(HelmholtzArchitecture.Parse("20b-10t-8b"), 1).VisibleProductOperands() is not null);
        Assert.IsNull(HelmholtzMachine.Create(HelmholtzArchitecture.Parse("20cb-8g-4b"), 1).VisibleProductOperands());
        Assert.IsNull(HelmholtzMachine.Create(HelmholtzArchitecture.Parse("20b-8g-4b"), 1, new ObservingEngine(MatrixEngine.Managed, allowsFusedProducts: false)).VisibleProductOperands());
        Assert.AreEqual(wide, HelmholtzMachine.Create(HelmholtzArchitecture.Parse("20b-8g-4b"), 1, new ObservingEngine(MatrixEngine.Managed, allowsFusedProducts: true)).VisibleProductOperands() is not null);
    }

    /// <summary>
    /// The estimators take the fused path where it serves: under an engine that allows fused products and records each
    /// product's shape, the visible layer's product (60 outputs from 24 inputs) never reaches the engine where AVX-512 runs,
    /// and reaches it where it does not; the other products reach it either way.
    /// </summary>
    [TestMethod]
    public void TheEstimatorsScoreTheVisibleLayerOutsideTheEngineWhereTheKernelServes()
    {
        var shapes = new HashSet<(int N, int K)>();   // each product's (outputs n, inputs k)
        var recorder = new ObservingEngine(MatrixEngine.Managed, (_, n, k) => { lock (shapes) shapes.Add((n, k)); }, allowsFusedProducts: true);
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("60b-24g-8b"), 3, recorder);
        float[] rows = Normal(4 * 60, 9, 1f).Select(v => v > 0 ? 1f : 0f).ToArray();
        bool wide = Vector512.IsHardwareAccelerated;

        new ImportanceSampledLogLikelihood(30) { Parallelism = 1 }.Estimate(machine, new DataMatrix(4, 60, rows));
        Assert.AreEqual(!wide, shapes.Contains((60, 24)), "importance sampling: the visible product given to the engine");
        Assert.IsTrue(shapes.Contains((24, 60)), "importance sampling: the bottom recognition product given to the engine");

        shapes.Clear();
        new FixedNoiseLogLikelihood(machine, 100, 5).CreateScorer().Estimate(rows, 4, new double[4]);
        Assert.AreEqual(!wide, shapes.Contains((60, 24)), "fixed noise: the visible product given to the engine");
        Assert.IsTrue(shapes.Contains((24, 60)), "fixed noise: the bottom recognition product given to the engine");
    }

    /// <summary>
    /// The machine's scoring call with the visible layer in one kernel gives each row's F̂ of the forward path's draws (the same
    /// seed) within the visible logits' bound, and leaves that layer with no forward: a gradient after it is refused.
    /// </summary>
    [TestMethod]
    [DataRow("60b-24g-8b")]
    [DataRow("60b-12t-24b-16t-8g")]
    public void TheMachinesScoringPathAgreesWithTheForwardPathAndLeavesNoForward(string architecture)
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse(architecture), 3);
        BernoulliProductOperands? operands = machine.VisibleProductOperands();
        if (operands is null)
        {
            Assert.IsFalse(Vector512.IsHardwareAccelerated, "A plain binary visible layer under the default engine is scored in one kernel where AVX-512 runs.");
            return;
        }
        const int rows = 45, distinct = 3;
        float[] visible = Normal(distinct * 60, 8, 1f).Select(v => v > 0 ? 1f : 0f).ToArray();
        int[] source = Enumerable.Range(0, rows).Select(r => r / 15).ToArray();
        var states = new LayerStates(machine.Architecture, rows);
        double[] plain = new double[rows], fused = new double[rows], logJoint = new double[rows];
        machine.SampleFreeEnergy(new RandomStream(11), states, rows, visible, distinct, source, plain, logJoint);
        float[] hidden = states.Layer(1, rows).ToArray();
        // The visible head's inputs: the hidden layer's states, or the trunk's last activations above them.
        ConditionalLayer layer = machine.Generative.Layers[0];
        ConditionalLayer head = layer is TrunkedLayer trunked ? trunked.Inner : layer;
        float[] headInput = layer is TrunkedLayer t ? t.Trunk.Output(rows).ToArray() : hidden;
        machine.SampleFreeEnergy(new RandomStream(11), states, rows, visible, distinct, source, fused, logJoint, null, scoring: true, operands);
        CollectionAssert.AreEqual(hidden, states.Layer(1, rows).ToArray(), "the same draws");
        int k = head.InputSize;
        float[] w = head.Parameters[0].Value, b = head.Parameters[1].Value;
        for (int r = 0; r < rows; r++)
        {
            double tolerance = 0;
            for (int c = 0; c < 60; c++)
            {
                double magnitude = Math.Abs(b[c]);
                for (int i = 0; i < k; i++) magnitude += Math.Abs((double)headInput[r * k + i] * w[c * k + i]);
                tolerance += 2 * (k + 1) * Epsilon * magnitude;
            }
            Assert.AreEqual(plain[r], fused[r], tolerance + 2e-6 * (1 + Math.Abs(plain[r])), $"row {r}");
        }
        Assert.ThrowsExactly<InvalidOperationException>(() => machine.Generative.AccumulateLogJointGradient(states, rows, Enumerable.Repeat(1f, rows).ToArray()));
    }
}
