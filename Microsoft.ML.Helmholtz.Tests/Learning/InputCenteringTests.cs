using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Learning;
using Microsoft.ML.Helmholtz.Learning.Optimizers;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;
using Microsoft.ML.Helmholtz.Tests.Support;

namespace Microsoft.ML.Helmholtz.Tests.Learning;

/// <summary>
/// Steps in centred coordinates (TrainingOptions.CenterInputs): which maps are centred, what one step
/// does to weights and biases (Adam's own step on W and b̃ = b + W c, checked against Adam run on
/// those coordinates by hand), and that a step not taken leaves the biases exactly as they were.
/// </summary>
[TestClass]
public sealed class InputCenteringTests
{
    /// <summary>
    /// The maps that read the visible layer or a binary layer directly: a trunk's first map, a Gaussian
    /// recognition layer's mean and log-variance maps; none that read a Gaussian layer or a trunk's tanh units.
    /// </summary>
    [TestMethod]
    [DataRow("6b-4b-3b", 4)]            // recognition 1, 2; generative 0, 1
    [DataRow("6b-4g-3g", 2)]            // recognition 1 (mean, log-variance) only
    [DataRow("6b-5t-4b-3g", 4)]         // recognition 1 (trunk), 2 (mean, log-variance); generative 0 (trunk)
    [DataRow("6b-4gr-3b", 4)]           // recognition 1 (mean, log-variance, factor); generative 1 (its mean; its variance is per unit)
    [DataRow("6b-4bs-3b", 4)]           // soft-target Bernoulli units draw 0 or 1 as binary ones do
    [DataRow("6b-4cb-3cb", 4)]          // continuous Bernoulli draws lie in [0, 1]
    public void TheMapsThatReadTheVisibleOrABinaryLayerAreCentred(string architecture, int expected)
    {
        var machine = TestModels.Random(architecture, 1);
        var centering = InputCentering.For(machine, new double[6]);
        Assert.AreEqual(expected, centering.Count, architecture);
    }

    /// <summary>A visible centre of another length than the visible layer is refused by name (its maps would read past their rows).</summary>
    [TestMethod]
    [DataRow(5)]
    [DataRow(7)]
    public void AVisibleCentreOfTheWrongLengthIsRefused(int length)
    {
        var machine = TestModels.Random("6b-4b-3b", 1);
        var e = Assert.ThrowsExactly<ArgumentException>(() => InputCentering.For(machine, new double[length]));
        Assert.AreEqual("visibleCentre", e.ParamName);
        StringAssert.Contains(e.Message, $"{length} centres for 6 visible units");
    }

    /// <summary>
    /// Of a trunk of several tanh layers only the first map reads the centred input (the maps above it read tanh units, centred
    /// at 0 already): ToCentred moves exactly the biases of the two trunks' first maps, each by W c, and no other parameter.
    /// (Widths 6-6 so that a wrong map would still fit its centre.)
    /// </summary>
    [TestMethod]
    public void OnlyATrunksFirstMapIsCentred()
    {
        var machine = TestModels.Random("6b-6t-6t-4b", 7);
        double[] visibleCentre = [0.1, 0.25, 0.4, 0.55, 0.7, 0.85];
        var firstMaps = new (AffineMap Map, double[] Centre)[]
        {
            (((TrunkedLayer)machine.Recognition.Layer(1)).Trunk.Maps[0], visibleCentre),        // reads X0
            (((TrunkedLayer)machine.Generative.Layers[0]).Trunk.Maps[0], new double[] { 0.5, 0.5, 0.5, 0.5 }), // reads X1 (binary)
        };
        float[][] before = TestModels.Snapshot(machine.Parameters);
        var parameters = machine.Parameters.ToList();
        var centering = InputCentering.For(machine, visibleCentre);
        Assert.AreEqual(2, centering.Count);
        centering.ToCentred();
        for (int k = 0; k < parameters.Count; k++)
        {
            var (map, centre) = firstMaps.FirstOrDefault(m => ReferenceEquals(m.Map.Bias, parameters[k]));
            if (map is null)
            {
                CollectionAssert.AreEqual(before[k], parameters[k].Value, $"{parameters[k].Name} reads no centred input");
                continue;
            }
            int w = parameters.IndexOf(map.Weight!);
            Assert.AreEqual(centre.Length, map.Inputs, parameters[k].Name);
            for (int o = 0; o < map.Outputs; o++)
            {
                double product = 0;
                for (int i = 0; i < map.Inputs; i++) product += (double)before[w][o * map.Inputs + i] * (float)centre[i];
                Assert.AreEqual(before[k][o] + product, map.Bias.Value[o], 1e-5, $"b̃[{o}] of {parameters[k].Name}");
            }
        }
        centering.Abandon();
    }

    /// <summary>
    /// One step: W moves by Adam's step on dW − db cᵀ, and b̃ = b + W c by Adam's step on db, so that the
    /// new b is b̃' − W' c. The expected values come from a fresh Adam run on copies of (W, b̃) with those
    /// gradients; the other parameters take Adam's plain step.
    /// </summary>
    [TestMethod]
    public void AStepIsAdamsStepOnTheWeightsAndTheCentredBiases()
    {
        var machine = TestModels.Random("6b-4b-3g", 2);
        var random = new RandomStream(3);
        float[] visibleCentre = Enumerable.Range(0, 6).Select(_ => (float)random.NextDouble()).ToArray();
        foreach (Parameter p in machine.Parameters)
            for (int i = 0; i < p.Length; i++) p.Gradient[i] = (float)(random.NextDouble() - 0.5);

        // By hand: the centred maps as parameters of their own, in (W, b̃) with the centred gradients.
        var recognition1 = ((NaturalParameterLayer)machine.Recognition.Layer(1)).Affine;   // reads X0
        var generative0 = ((NaturalParameterLayer)machine.Generative.Layers[0]).Affine;     // reads X1 (binary)
        var gaussian2 = (GaussianLayer)machine.Recognition.Layer(2);                        // reads X1 (binary)
        var centred = new (AffineMap Map, float[] Centre)[]
        {
            (recognition1, visibleCentre),
            (generative0, Enumerable.Repeat(0.5f, 4).ToArray()),
            (gaussian2.MeanMap, Enumerable.Repeat(0.5f, 4).ToArray()),
            (gaussian2.LogVarianceMap!, Enumerable.Repeat(0.5f, 4).ToArray()),
        };
        static Parameter Copy(Parameter p)
        {
            var copy = new Parameter(p.Name, p.Rows, p.Columns, p.Role);
            p.Value.CopyTo(copy.Value, 0);
            p.Gradient.CopyTo(copy.Gradient, 0);
            return copy;
        }
        var copies = machine.Parameters.ToDictionary<Parameter, Parameter, Parameter>(p => p, Copy, ReferenceEqualityComparer.Instance);
        foreach (var (map, c) in centred)
        {
            Parameter w = copies[map.Weight!], b = copies[map.Bias];
            for (int o = 0; o < map.Outputs; o++)
                for (int i = 0; i < map.Inputs; i++)
                {
                    b.Value[o] += w.Value[o * map.Inputs + i] * c[i];
                    w.Gradient[o * map.Inputs + i] -= b.Gradient[o] * c[i];
                }
        }
        const float rate = 0.01f;
        new Adam().Step(copies.Values.ToArray(), rate);
        Parameter[] plain = machine.Parameters.Select(Copy).ToArray();
        new Adam().Step(plain, rate);
        foreach (var (map, c) in centred)
        {
            Parameter w = copies[map.Weight!], b = copies[map.Bias];
            for (int o = 0; o < map.Outputs; o++)
                for (int i = 0; i < map.Inputs; i++) b.Value[o] -= w.Value[o * map.Inputs + i] * c[i];
        }

        var centering = InputCentering.For(machine, visibleCentre.Select(c => (double)c).ToArray());
        Assert.AreEqual(4, centering.Count, "recognition 1, 2 (mean, log-variance) and generative 0");
        centering.ToCentred();
        new Adam().Step(machine.Parameters, rate);
        centering.FromCentred(null);

        double apartFromPlain = 0;
        for (int k = 0; k < machine.Parameters.Count; k++)
        {
            Parameter p = machine.Parameters[k];
            for (int i = 0; i < p.Length; i++)
            {
                Assert.AreEqual(copies[p].Value[i], p.Value[i], 1e-5, $"{p.Name}[{i}]");
                apartFromPlain = Math.Max(apartFromPlain, Math.Abs(p.Value[i] - plain[k].Value[i]));
            }
        }
        // Adam's first step moves each value by about the rate: a centred bias moves by that less W's move times c.
        Assert.IsTrue(apartFromPlain > rate / 2, $"the centred step should differ from the plain one; it differs by at most {apartFromPlain}");
    }

    /// <summary>
    /// The passes over the weights run in pieces of rows on the worker pool: maps of several pieces
    /// (700 × 60 weights, about three each) give the same bits on three threads as on one, and their
    /// biases go back exactly when the step is abandoned.
    /// </summary>
    [TestMethod]
    public void ACentredStepHasTheSameBitsOnOneThreadAndOnSeveral()
    {
        Parameter[] Step(bool pooled, bool abandon)
        {
            var machine = TestModels.Random("700b-60b-20b", 5);
            var random = new RandomStream(6);
            foreach (Parameter p in machine.Parameters)
                for (int i = 0; i < p.Length; i++) p.Gradient[i] = (float)(random.NextDouble() - 0.5);
            double[] visibleCentre = Enumerable.Range(0, 700).Select(_ => random.NextDouble()).ToArray();
            float[][] valuesBefore = TestModels.Snapshot(machine.Parameters);
            using var pool = new WorkerPool(3);
            using (pooled ? WorkerPool.Use(pool) : WorkerPool.InlineScope())
            {
                var centering = InputCentering.For(machine, visibleCentre);
                Assert.AreEqual(4, centering.Count);
                float[][] gradientsBefore = machine.Parameters.Select(p => (float[])p.Gradient.Clone()).ToArray();
                centering.ToCentred();
                // Every row of the first recognition map, in every piece: b̃ = b + W c and dW − db cᵀ.
                AffineMap map = ((NaturalParameterLayer)machine.Recognition.Layer(1)).Affine;
                int w = machine.Parameters.ToList().IndexOf(map.Weight!), b = machine.Parameters.ToList().IndexOf(map.Bias);
                for (int o = 0; o < map.Outputs; o++)
                {
                    double product = 0;
                    for (int i = 0; i < map.Inputs; i++)
                    {
                        int at = o * map.Inputs + i;
                        product += (double)valuesBefore[w][at] * (float)visibleCentre[i];
                        Assert.AreEqual(gradientsBefore[w][at] - gradientsBefore[b][o] * (float)visibleCentre[i], map.Weight!.Gradient[at], 1e-6, $"dW[{o}, {i}]");
                    }
                    Assert.AreEqual(valuesBefore[b][o] + product, map.Bias.Value[o], 1e-4, $"b̃[{o}]");
                }
                if (abandon)
                {
                    centering.Abandon();
                    for (int k = 0; k < machine.Parameters.Count; k++)
                        CollectionAssert.AreEqual(valuesBefore[k], machine.Parameters[k].Value, machine.Parameters[k].Name);
                    return [];
                }
                new Adam().Step(machine.Parameters, 0.01f);
                centering.FromCentred(null);
                centering.ToCentred();   // the second step reads the products the first one left
                new Adam().Step(machine.Parameters, 0.01f);
                centering.FromCentred(null);
            }
            return machine.Parameters.ToArray();
        }

        Parameter[] one = Step(pooled: false, abandon: false), several = Step(pooled: true, abandon: false);
        for (int k = 0; k < one.Length; k++)
        {
            CollectionAssert.AreEqual(one[k].Value, several[k].Value, one[k].Name);
            CollectionAssert.AreEqual(one[k].Gradient, several[k].Gradient, one[k].Name + " gradient");
        }
        Step(pooled: true, abandon: true);
    }

    /// <summary>
    /// A run from a stream, with no pass over the data for its means, centres the visible layer at 0.5 (TrainingOptions.CenterInputs
    /// promises so): bit for bit the run given 0.5 as every column's mean, and not the plain run's steps. The data are 30% ones, so a
    /// centre at 0 or at the data's means would be other steps.
    /// </summary>
    [TestMethod]
    public void AStreamedRunCentresTheVisibleLayerAtOneHalf()
    {
        DataMatrix data = TestModels.BinaryData(60, 10, 71);
        Parameter[] Run(bool center, double[]? means)
        {
            var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 72);
            // The biases' data-based start is off, so that the means given are used for centring alone.
            var options = new TrainingOptions { Epochs = 2, BatchSize = 20, Seed = 73, InitializeVisibleBiases = false, CenterInputs = center, VisibleMeans = means };
            new HelmholtzTrainer(LearningRules.Create("nvil"), options).Train(machine, new ShuffledMinibatches(data));
            return machine.Parameters.ToArray();
        }

        Parameter[] streamed = Run(true, null), atOneHalf = Run(true, Enumerable.Repeat(0.5, 10).ToArray()), plain = Run(false, null);
        TestModels.AssertParameters(atOneHalf, streamed, "centred at 0.5");
        Assert.IsFalse(streamed.Zip(plain).All(p => p.First.Value.AsSpan().SequenceEqual(p.Second.Value)), "the premise: centring changes the steps");
    }
}
