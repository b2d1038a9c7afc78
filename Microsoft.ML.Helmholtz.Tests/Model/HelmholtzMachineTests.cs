using System.Runtime.Intrinsics;
using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Learning;
using Microsoft.ML.Helmholtz.Learning.Rules;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;
using Microsoft.ML.Helmholtz.Tests.Support;

namespace Microsoft.ML.Helmholtz.Tests.Model;

[TestClass]
public sealed class HelmholtzMachineTests
{
    private static HelmholtzTrainer Trainer() => new(new WakeSleep(), new TrainingOptions { Epochs = 1 });

    private static HelmholtzMachine Machine() => HelmholtzMachine.Create(HelmholtzArchitecture.Parse("4b-3b"), 1);

    [TestMethod]
    public void ListsTheModelHandsOutCannotBeChangedByCastingThemBack()
    {
        var architecture = HelmholtzArchitecture.Parse("6b-4t-3g-2g");
        var machine = HelmholtzMachine.Create(architecture, seed: 1);
        // Before, these were the model's own arrays and lists: a cast gave write access, e.g. a 6b-4t-3g-2g
        // architecture turned into another under the machine built from it.
        object[] lists =
        [
            architecture.Layers, architecture.Trunks, architecture.Trunks[0], machine.Parameters, machine.Generative.Parameters,
            machine.Recognition.Parameters, machine.Recognition.Layer(1).Parameters, machine.Generative.Layers, machine.Generative.Layers[0].Parameters, UnitType.Registered,
            new Microsoft.ML.Helmholtz.Temporal.Lstm("lstm", 3, 4, MatrixEngine.Default).Parameters,
        ];
        foreach (object list in lists)
        {
            Assert.IsNotInstanceOfType<Array>(list, list.GetType().Name);
            Assert.IsTrue(list is not System.Collections.IList writable || writable.IsReadOnly, $"{list.GetType().Name} is writable");
        }
        Assert.AreEqual("6b-4t-3g-2g", architecture.ToString());
    }

    /// <summary>
    /// A fresh machine's weights are N(0, 1/fan-in), each matrix drawn for its own columns (trunks, rank-one factors' maps, a
    /// per-unit variance layer alike); biases and log-variances start at 0 and a covariance factor's weights at 0. The
    /// training tests saw only the weights' effect.
    /// </summary>
    [TestMethod]
    public void CreateDrawsEachWeightMatrixWithVarianceOneOverItsFanInAndTheRestZero()
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("300b-150t-80gr-40g-20b"), seed: 7);
        var fanIns = new SortedSet<int>();
        int weights = 0;
        foreach (Parameter p in machine.Parameters)
        {
            if (p.Role != ParameterRole.Weight)
            {
                Assert.IsTrue(p.Value.All(v => v == 0), $"{p.Name} ({p.Role}) starts at 0");
                continue;
            }
            weights++;
            fanIns.Add(p.Columns);
            double mean = p.Value.Average(v => (double)v), variance = p.Value.Average(v => (double)v * v) - mean * mean;
            // The sample variance of n normal draws has a relative standard error of √(2/n): 5 of them. The mean's is 1/√(fan-in · n).
            Assert.AreEqual(1.0 / p.Columns, variance, 5 * Math.Sqrt(2.0 / p.Length) / p.Columns, $"{p.Name} ({p.Rows} × {p.Columns}): variance");
            Assert.AreEqual(0.0, mean, 5 / Math.Sqrt((double)p.Columns * p.Length), $"{p.Name}: mean");
        }
        Assert.IsGreaterThanOrEqualTo(8, weights, "the premise: maps of every kind");
        Assert.IsGreaterThanOrEqualTo(4, fanIns.Count, "the premise: matrices of several fan-ins");
        // Another seed, other weights; the same seed, the same bits.
        float[] First(HelmholtzMachine m) => m.Parameters.First(p => p.Role == ParameterRole.Weight).Value.ToArray();
        CollectionAssert.AreEqual(First(machine), First(HelmholtzMachine.Create(machine.Architecture, seed: 7)));
        CollectionAssert.AreNotEqual(First(machine), First(HelmholtzMachine.Create(machine.Architecture, seed: 8)));
        // The documented order, θg then θr, layer by layer: the order the weights are drawn in, so it fixes what a seed gives.
        CollectionAssert.AreEqual(machine.Generative.Parameters.Concat(machine.Recognition.Parameters).ToArray(), machine.Parameters.ToArray());
        CollectionAssert.AreEqual(machine.Generative.Layers.SelectMany(l => l.Parameters).ToArray(), machine.Generative.Parameters.ToArray());
        CollectionAssert.AreEqual(Enumerable.Range(1, machine.Recognition.Depth).SelectMany(l => machine.Recognition.Layer(l).Parameters).ToArray(),
            machine.Recognition.Parameters.ToArray());
    }

    [TestMethod]
    public void WrongVectorLengthIsAClearError()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => Trainer().Train(Machine(), new DataMatrix(2, 5, new float[10])));
        StringAssert.Contains(e.Message, "training data");
        StringAssert.Contains(e.Message, "length 5");
        StringAssert.Contains(e.Message, "4 units");
    }

    [TestMethod]
    public void NaNIsAClearErrorNamingTheRowAndColumn()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => Trainer().Train(Machine(), new DataMatrix(2, 4, [0, 1, 0, 1, 1, 0, float.NaN, 0])));
        StringAssert.Contains(e.Message, "row 1, column 2 is NaN");
    }

    // An infinity is refused as not finite (not as a value the units do not model), under the trainer's parameter name.
    [TestMethod]
    public void AnInfinityIsAClearErrorNamingTheParameter()
    {
        foreach (float bad in new[] { float.PositiveInfinity, float.NegativeInfinity })
        {
            var e = Assert.ThrowsExactly<ArgumentException>(() => Trainer().Train(Machine(), new DataMatrix(2, 4, [0, 1, 0, 1, 1, 0, 0, bad])));
            StringAssert.Contains(e.Message, "training data row 1, column 3 is");
            StringAssert.Contains(e.Message, "values must be finite");
            Assert.AreEqual("training", e.ParamName);
        }
    }

    [TestMethod]
    public void NonBinaryValueForABernoulliVisibleLayerIsAClearError()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => Trainer().Train(Machine(), new DataMatrix(1, 4, [0, 1, 0.25f, 1])));
        StringAssert.Contains(e.Message, "0.25");
        StringAssert.Contains(e.Message, "Bernoulli visible layer models only 0 and 1");
    }

    [TestMethod]
    public void GaussianVisibleLayerAcceptsRealValues()
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("4gl-3g"), 1);
        var reports = new HelmholtzTrainer(new StochasticBackpropagation(), new TrainingOptions { Epochs = 1 }).Train(machine, new DataMatrix(2, 4, [0.3f, -2, 5, 1, 0, 0.5f, 1.5f, -1]));
        Assert.IsTrue(double.IsFinite(reports[0].TrainFreeEnergy));
    }

    [TestMethod]
    public void EmptyDataIsAClearError()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => Trainer().Train(Machine(), new DataMatrix(0, 4, [])));
        StringAssert.Contains(e.Message, "empty");
    }

    [TestMethod]
    public void BadValidationDataIsNamedAsSuch()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => Trainer().Train(Machine(), new DataMatrix(1, 4, [0, 1, 0, 1]), new DataMatrix(1, 3, [0, 1, 0])));
        StringAssert.Contains(e.Message, "validation data");
    }

    // Tokens are read as layers read them, trimmed and in either case, deterministic ones too, and printed in the canonical form.
    [TestMethod]
    [DataRow("784b-200g-50g", 3)]
    [DataRow("10gl-4b", 2)]
    [DataRow("784B-100T-10b", 2, "784b-100t-10b")]
    [DataRow("6b - 5t - 3b", 2, "6b-5t-3b")]
    public void ArchitectureParsesAndPrintsBack(string text, int layers, string? printed = null)
    {
        var architecture = HelmholtzArchitecture.Parse(text);
        Assert.AreEqual(layers, architecture.Layers.Count);
        Assert.AreEqual(printed ?? text, architecture.ToString());
    }

    [TestMethod]
    public void UnitsWithoutAMeanFunctionHoldTheDefaultOneAndSurviveSaving()
    {
        // A Bernoulli layer given a linear mean printed as "10b", so the loaded machine's architecture differed from
        // the original's and refused states built for it ("built for architecture 10b-5b, but the machine is 10b-5b").
        var architecture = new HelmholtzArchitecture([new LayerDefinition(10, UnitType.Bernoulli, GaussianMean.Linear), new LayerDefinition(5, UnitType.Bernoulli)]);
        Assert.AreEqual(GaussianMean.Tanh, architecture.Visible.Mean);
        Assert.AreEqual(new LayerDefinition(10, UnitType.Bernoulli), architecture.Visible);
        Assert.AreEqual(new LayerDefinition(10, UnitType.Bernoulli).GetHashCode(), architecture.Visible.GetHashCode());
        Assert.IsTrue(architecture.SameAs(HelmholtzArchitecture.Parse("10b-5b")));

        var machine = HelmholtzMachine.Create(architecture, 1);
        using var file = new MemoryStream();
        machine.Save(file);
        file.Position = 0;
        var loaded = HelmholtzMachine.Load(file);
        Assert.IsTrue(architecture.SameAs(loaded.Architecture));
        var states = new LayerStates(architecture, 4);
        loaded.SampleFreeEnergy(new RandomStream(1), states, 4, new double[4], new double[4]);

        // Units with a choice keep theirs, however a "with" sets them.
        var gaussian = new LayerDefinition(10, UnitType.Gaussian, GaussianMean.Linear);
        Assert.AreEqual("10gl", gaussian.ToString());
        Assert.AreEqual(GaussianMean.Linear, (gaussian with { Units = UnitType.Bernoulli } with { Units = UnitType.Gaussian }).Mean);
        Assert.AreEqual(GaussianMean.Linear, (new LayerDefinition(10, UnitType.Bernoulli) with { Mean = GaussianMean.Linear, Units = UnitType.GaussianRankOne }).Mean);
    }

    [TestMethod]
    [DataRow("784b")]
    [DataRow("784x-200g")]
    [DataRow("0b-3b")]
    public void MalformedArchitecturesAreRejected(string text)
    {
        Exception e = Assert.Throws<Exception>(() => HelmholtzArchitecture.Parse(text));
        Assert.IsTrue(e is FormatException or ArgumentException, e.GetType().Name);
    }

    /// <summary>
    /// The free energies of rows that share visible vectors (read by index, never copied) are those
    /// of the same rows written out in full, for the same noise: Bernoulli and Gaussian visible layers.
    /// </summary>
    [TestMethod]
    [DataRow("6b-4g-3g")]
    [DataRow("5gl-4b-3b")]
    [DataRow("5g-4g")]
    public void SharedVisibleRowsGiveTheFreeEnergiesOfTheRowsWrittenOut(string architecture)
    {
        var machine = TestModels.Random(architecture, 8);
        int visible = machine.Architecture.Visible.Size;
        var distinct = TestModels.RandomStates(machine.Architecture, 3, 9);
        float[] distinctRows = distinct.Layer(0, 3).ToArray();
        int[] rowSource = [0, 0, 0, 1, 2, 2, 2, 2];
        int rows = rowSource.Length;
        var written = new LayerStates(machine.Architecture, rows);
        for (int r = 0; r < rows; r++) distinctRows.AsSpan(rowSource[r] * visible, visible).CopyTo(written.Layer(0, rows).Slice(r * visible, visible));
        var shared = new LayerStates(machine.Architecture, rows);
        shared.Layer(0, rows).Fill(float.NaN); // must not be read
        double[] fa = new double[rows], la = new double[rows], fb = new double[rows], lb = new double[rows];
        machine.SampleFreeEnergy(new RandomStream(10), written, rows, fa, la);
        machine.SampleFreeEnergy(new RandomStream(10), shared, rows, distinctRows, 3, rowSource, fb, lb);
        for (int r = 0; r < rows; r++)
        {
            Assert.AreEqual(fa[r], fb[r], 1e-5 * (1 + Math.Abs(fa[r])), $"free energy of row {r}");
            Assert.AreEqual(la[r], lb[r], 1e-5 * (1 + Math.Abs(la[r])), $"log joint of row {r}");
        }
    }

    [TestMethod]
    [DataRow("6b-4b-3b")]
    [DataRow("6b-5g-3g")]
    [DataRow("6b-5gr-3gr")]
    [DataRow("6b-4t-5gl-3t-2g")]
    [DataRow("6g-4b")]
    public void TheFreeEnergyByLayerHasTheBitsOfTheWholeAndItsTermsAreEachLayers(string architecture)
    {
        var machine = TestModels.Random(architecture, 11);
        int rows = 7, depth = machine.Architecture.Depth;
        var whole = TestModels.RandomStates(machine.Architecture, rows, 12);
        var byLayer = TestModels.RandomStates(machine.Architecture, rows, 12);
        // What the outputs held before is overwritten, not added to: each starts as NaN.
        double[] fa = new double[rows], la = new double[rows], fb = new double[rows], lb = new double[rows];
        foreach (double[] output in new[] { fa, la, fb, lb }) output.AsSpan().Fill(double.NaN);
        double[][] logQ = Enumerable.Range(0, depth + 1).Select(_ => Enumerable.Repeat(double.NaN, rows + 2).ToArray()).ToArray();
        double[][] logP = Enumerable.Range(0, depth + 1).Select(_ => Enumerable.Repeat(double.NaN, rows + 2).ToArray()).ToArray();
        machine.SampleFreeEnergy(new RandomStream(13), whole, rows, fa, la);
        machine.SampleFreeEnergy(new RandomStream(13), byLayer, rows, fb, lb, logQ, logP);
        CollectionAssert.AreEqual(fa, fb, "free energy");
        CollectionAssert.AreEqual(la, lb, "log joint");
        // Each term is the layer's own, read again from the forwards the sample left.
        for (int l = 0; l <= depth; l++)
        {
            var p = new double[rows];
            machine.Generative.Layers[l].AccumulateLogProb(byLayer.Layer(l, rows), rows, p);
            CollectionAssert.AreEqual(p, logP[l].Take(rows).ToArray(), $"ln p of layer {l}");
            Assert.IsTrue(double.IsNaN(logP[l][rows]), "nothing past the rows is written");
            if (l == 0) continue;
            var q = new double[rows];
            machine.Recognition.Layer(l).AccumulateLogProbOfSample(byLayer.Layer(l, rows), rows, q);
            CollectionAssert.AreEqual(q, logQ[l].Take(rows).ToArray(), $"ln q of layer {l}");
        }
        for (int r = 0; r < rows; r++)
            Assert.AreEqual(Enumerable.Range(1, depth).Sum(l => logQ[l][r]) - Enumerable.Range(0, depth + 1).Sum(l => logP[l][r]), fb[r], 1e-9 * (1 + Math.Abs(fb[r])), $"row {r}");
    }

    [TestMethod]
    public void SaveAndLoadRoundTripEveryParameterAndTheDistribution()
    {
        var machine = TestModels.Random("6b-4g-3g", 5);
        using var temp = new Tests.Data.TempDirectory();
        string path = temp.File("hm.bin");
        machine.Save(path);
        var loaded = HelmholtzMachine.Load(path);
        Assert.AreEqual(machine.Architecture.ToString(), loaded.Architecture.ToString());
        TestModels.AssertParameters(machine.Parameters, loaded.Parameters);
        var states = TestModels.RandomStates(machine.Architecture, 3, 6);
        double[] fa = new double[3], fb = new double[3], la = new double[3], lb = new double[3];
        machine.SampleFreeEnergy(new RandomStream(7), states, 3, fa, la);
        loaded.SampleFreeEnergy(new RandomStream(7), states, 3, fb, lb);
        CollectionAssert.AreEqual(fa, fb);
        CollectionAssert.AreEqual(new[] { path }, Directory.GetFiles(temp.Path), "no temporary file is left behind");
    }

    /// <summary>
    /// The lists of terms by layer are checked before anything is written, each array as the others: a list of another length than
    /// the layers (one too few, one too many), and a missing or short array of the first layer each list is used from (1 for ln q,
    /// 0 for ln p), of a middle one and of the top one, each refused naming the list, the array and its length. Entry 0 of the
    /// recognition terms is not used, so it may be missing.
    /// </summary>
    [TestMethod]
    public void TheFreeEnergyByLayerRefusesListsThatDoNotFitTheLayers()
    {
        var machine = TestModels.Random("6b-4b-3b", 1);
        var states = TestModels.RandomStates(machine.Architecture, 4, 2);
        double[] f = [7, 7, 7, 7], j = [7, 7, 7, 7];
        double[][] three = [new double[4], new double[4], new double[4]];
        foreach (var (logQ, logP, parameter, message) in new (double[][], double[][], string, string)[]
        {
            (three.Take(2).ToArray(), three, "layerLogQ", "layerLogQ holds 2 arrays"),
            (three, [.. three, new double[4]], "layerLogP", "layerLogP holds 4 arrays"),
            ([null!, new double[2], new double[4]], three, "layerLogQ", "layerLogQ[1] must hold a value for each of the 4 rows (it holds 2)"),
            ([null!, new double[4], new double[3]], three, "layerLogQ", "layerLogQ[2] must hold a value for each of the 4 rows (it holds 3)"),
            (three, [null!, new double[4], new double[4]], "layerLogP", "layerLogP[0] must hold a value for each of the 4 rows (it holds 0)"),
            (three, [new double[4], new double[3], new double[4]], "layerLogP", "layerLogP[1] must hold a value for each of the 4 rows (it holds 3)"),
            (three, [new double[4], new double[4], new double[1]], "layerLogP", "layerLogP[2] must hold a value for each of the 4 rows (it holds 1)"),
        })
        {
            var e = Assert.ThrowsExactly<ArgumentException>(() => machine.SampleFreeEnergy(new RandomStream(1), states, 4, f, j, logQ, logP), message);
            Assert.AreEqual(parameter, e.ParamName, message);
            StringAssert.Contains(e.Message, message);
            Assert.IsTrue(f.Concat(j).All(v => v == 7), $"{message}: the outputs are untouched");
        }
        machine.SampleFreeEnergy(new RandomStream(1), states, 4, f, j, [null!, new double[4], new double[4]], three);
    }

    // A Gaussian layer's mean function is part of the layer: "3g" (tanh) and "3gl" (linear) differ, and so do machines built of them.
    [TestMethod]
    public void GaussianLayersWithDifferentMeansAreDifferentLayers()
    {
        LayerDefinition tanh = LayerDefinition.Parse("3g"), linear = LayerDefinition.Parse("3gl");
        Assert.AreEqual(GaussianMean.Tanh, tanh.Mean);
        Assert.AreEqual(GaussianMean.Linear, linear.Mean);
        Assert.AreNotEqual(tanh, linear);
        Assert.AreEqual(tanh, LayerDefinition.Parse("3g"));
        Assert.IsFalse(HelmholtzArchitecture.Parse("4b-3g").SameAs(HelmholtzArchitecture.Parse("4b-3gl")));
        var states = new LayerStates(HelmholtzArchitecture.Parse("4b-3gl"), 2);
        var e = Assert.ThrowsExactly<ArgumentException>(() => TestModels.Random("4b-3g", 1).Generative.Dream(new RandomStream(1), 2, states));
        StringAssert.Contains(e.Message, "built for architecture 4b-3gl");
    }

    // The conditioning is checked as the states are: built for another machine of the same layer sizes (other units), or for fewer rows than the
    // call, it is refused naming 'conditioning' by every call that takes it, before any layer reads it.
    [TestMethod]
    public void ConditioningForAnotherMachineOrFewerRowsIsRefusedNamingIt()
    {
        var machine = TestModels.Random("6b-4b", 3);
        var states = new LayerStates(machine.Architecture, 4);
        var otherUnits = new LayerConditioning(HelmholtzArchitecture.Parse("6b-4g"), 4);
        var twoRows = new LayerConditioning(machine.Architecture, 2);
        double[] freeEnergy = new double[4], logJoint = new double[4];
        Action<LayerConditioning, int>[] calls =
        [
            (c, rows) => machine.SampleFreeEnergy(new RandomStream(1), states, rows, freeEnergy, logJoint, c),
            (c, rows) => machine.Generative.Dream(new RandomStream(1), rows, states, c),
            (c, rows) => machine.Recognition.Sample(new RandomStream(1), rows, states, c),
            (c, rows) => machine.Generative.AccumulateLogJoint(states, rows, logJoint, c),
        ];
        foreach (var call in calls)
        {
            var e = Assert.ThrowsExactly<ArgumentException>(() => call(otherUnits, 4));
            Assert.AreEqual("conditioning", e.ParamName);
            StringAssert.Contains(e.Message, "built for architecture 6b-4g, but the machine is 6b-4b");
            // 3 rows: one more than the conditioning holds (the states hold 4).
            Assert.AreEqual("conditioning", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => call(twoRows, 3)).ParamName);
            call(twoRows, 2);
        }
    }

    // The data's means are one per visible unit: one too many is refused as one too few is, naming 'means', and the biases are left as they were.
    // The data's rows must number at least one: 0 or fewer is refused naming 'rows' (not called empty or short data), and so is data of another length.
    [TestMethod]
    public void VisibleMeansOrDataOfTheWrongShapeAreRefused()
    {
        var machine = Machine();
        float[] before = machine.Generative.Layers[0].Parameters.SelectMany(p => p.Value).ToArray();
        foreach (int length in new[] { 3, 5 })
        {
            var e = Assert.ThrowsExactly<ArgumentException>(() => machine.InitializeVisibleBiasesFromMeans(Enumerable.Repeat(0.25, length).ToArray()));
            Assert.AreEqual("means", e.ParamName);
            StringAssert.Contains(e.Message, $"{length} means for 4 visible units");
        }
        foreach (int rows in new[] { 0, -1 })
        {
            var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => machine.InitializeVisibleBiasesFromData([], rows));
            Assert.AreEqual("rows", e.ParamName, $"{rows} rows");
        }
        var shortData = Assert.ThrowsExactly<ArgumentException>(() => machine.InitializeVisibleBiasesFromData(new float[7], 2));
        Assert.AreEqual("data", shortData.ParamName);
        StringAssert.Contains(shortData.Message, "data holds 7 values, not 2 rows × 4 visible units");
        CollectionAssert.AreEqual(before, machine.Generative.Layers[0].Parameters.SelectMany(p => p.Value).ToArray());
        machine.InitializeVisibleBiasesFromMeans([0.25, 0.25, 0.25, 0.25]);
    }

    // Means given by hand (data read as a stream) must lie in [0, 1], as any column of binary or unit-interval values does: a mean
    // below 0, above 1 or NaN is refused naming 'means', the column and the value, before any bias changes (a NaN mean would
    // otherwise give a NaN bias, or a continuous Bernoulli bias at the search's edge).
    [TestMethod]
    [DataRow("4b-3b"), DataRow("4cb-3b")]
    public void VisibleMeansOutsideTheUnitIntervalAreRefusedBeforeTheBiasesChange(string architecture)
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse(architecture), 1);
        float[] before = machine.Generative.Layers[0].Parameters.SelectMany(p => p.Value).ToArray();
        foreach (double bad in new[] { -0.1, 1.5, double.NaN })
        {
            var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => machine.InitializeVisibleBiasesFromMeans([0.25, 0.5, bad, 0.75]), $"mean {bad}");
            Assert.AreEqual("means", e.ParamName);
            StringAssert.Contains(e.Message, $"The mean of column 2 is {bad}");
            CollectionAssert.AreEqual(before, machine.Generative.Layers[0].Parameters.SelectMany(p => p.Value).ToArray(), $"biases after the mean {bad}");
        }
        machine.InitializeVisibleBiasesFromMeans([0, 0.5, 1, 0.75]);
        Assert.IsTrue(machine.Generative.Layers[0].Parameters.SelectMany(p => p.Value).All(float.IsFinite), "biases from means at the interval's ends");
    }

    /// <summary>
    /// Data the visible units do not model are refused by the data initialisation itself, not only by the trainer: a caller that
    /// starts the biases by hand from non-binary or NaN values would otherwise get biases from means that look valid (rows 2 and −1
    /// average 0.5) or NaN biases. Named as the argument, the bad value's row and column given, the biases left as they were.
    /// </summary>
    [TestMethod]
    public void DataTheVisibleUnitsDoNotModelAreRefusedBeforeTheBiasesChange()
    {
        var machine = Machine();
        float[] before = machine.Generative.Layers[0].Parameters.SelectMany(p => p.Value).ToArray();
        foreach (var (bad, problem) in new[] { (2f, "2: a Bernoulli visible layer models only 0 and 1"), (float.NaN, "NaN: values must be finite") })
        {
            float[] data = [0, 1, 0, 1, 1, 0, bad, 0];
            if (bad == 2f) data[2] = -1f;   // with row 1's 2, column 2 averages 0.5
            var e = Assert.ThrowsExactly<ArgumentException>(() => machine.InitializeVisibleBiasesFromData(data, 2));
            Assert.AreEqual("data", e.ParamName);
            StringAssert.Contains(e.Message, bad == 2f ? "row 0, column 2 is -1" : "row 1, column 2 is " + problem);
            CollectionAssert.AreEqual(before, machine.Generative.Layers[0].Parameters.SelectMany(p => p.Value).ToArray(), $"{bad}: the biases as they were");
        }
    }

    /// <summary>
    /// Scoring's one-kernel visible term (AVX-512, a binary visible layer) cannot add a conditioning, as it never writes the
    /// logits: with conditioning given the forward path is taken, so the free energy is that of the public call, conditioned.
    /// Off AVX-512 the fused path is not there and both calls take the forward path.
    /// </summary>
    [TestMethod]
    public void ScoringWithTheVisibleProductStillConditionsTheVisibleLayer()
    {
        var machine = TestModels.Random("20b-8b-4b", 3);
        BernoulliProductOperands? product = machine.VisibleProductOperands();
        Assert.AreEqual(Vector512.IsHardwareAccelerated, product is not null, "the premise: the fused path serves this machine where AVX-512 runs");
        var architecture = machine.Architecture;
        float[] distinct = TestModels.RandomStates(architecture, 2, 4).Layer(0, 2).ToArray();
        int[] rowSource = [0, 0, 1, 1];
        int rows = rowSource.Length;
        var conditioning = new LayerConditioning(architecture, rows);
        new RandomStream(5).FillNormal(conditioning.Generative(0, rows));
        double[] fa = new double[rows], la = new double[rows], fb = new double[rows], lb = new double[rows], fc = new double[rows], lc = new double[rows];
        machine.SampleFreeEnergy(new RandomStream(6), new LayerStates(architecture, rows), rows, distinct, 2, rowSource, fa, la, conditioning, scoring: true, product);
        machine.SampleFreeEnergy(new RandomStream(6), new LayerStates(architecture, rows), rows, distinct, 2, rowSource, fb, lb, conditioning);
        machine.SampleFreeEnergy(new RandomStream(6), new LayerStates(architecture, rows), rows, distinct, 2, rowSource, fc, lc);
        for (int r = 0; r < rows; r++)
        {
            // The same path for the same draws: the same bits.
            Assert.AreEqual(lb[r], la[r], $"log joint of row {r}");
            Assert.AreEqual(fb[r], fa[r], $"free energy of row {r}");
            // The premise: the visible layer's conditioning (N(0, 1) on each of 20 logits) moves ln p, so a path that dropped it would differ.
            Assert.IsGreaterThan(0.1, Math.Abs(lc[r] - lb[r]), $"row {r}: the conditioning changes ln p");
        }
    }
}
