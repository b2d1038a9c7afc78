using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Evaluation;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Learning;
using Microsoft.ML.Helmholtz.Learning.Rules;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;
using Microsoft.ML.Helmholtz.Temporal;
using Microsoft.ML.Helmholtz.Tests.Support;

namespace Microsoft.ML.Helmholtz.Tests.Model;

/// <summary>Sizes are bounded before anything is allocated, and shapes that do not fit are named.</summary>
[TestClass]
public sealed class LimitsAndShapesTests
{
    /// <summary>A layer built directly with a negative input size or no units is refused when it is made, naming the size.</summary>
    [TestMethod]
    public void ALayerOfImpossibleSizesIsRefusedWhenMade()
    {
        var engine = Microsoft.ML.Helmholtz.Numerics.MatrixEngine.Default;
        Assert.AreEqual("inputSize", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new BernoulliLayer("b", -5, 3, engine)).ParamName);
        Assert.AreEqual("outputSize", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new BernoulliLayer("b", 4, 0, engine)).ParamName);
        Assert.AreEqual("outputSize", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new ContinuousBernoulliLayer("c", 4, -1, engine)).ParamName);
        Assert.AreEqual(0, new BernoulliLayer("prior", 0, 3, engine).InputSize, "no inputs: a prior");
    }

    /// <summary>An input-dependent baseline too large for a parameter is named by its option, before its weights are made.</summary>
    [TestMethod]
    public void AnInputBaselineTooLargeIsNamedByItsOption()
    {
        var machine = TestModels.Random("784b-10b", 7);
        // 784 × 2²⁰ weights: more than a parameter's 2²⁸ values.
        var rule = new Microsoft.ML.Helmholtz.Learning.Rules.Reinforce(new Microsoft.ML.Helmholtz.Learning.Rules.ReinforceOptions { InputBaselineHiddenUnits = 1 << 20 });
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => rule.Prepare(machine, 10));
        StringAssert.Contains(e.Message, "ReinforceOptions.InputBaselineHiddenUnits = 1048576");
        var nvil = new Microsoft.ML.Helmholtz.Learning.Rules.Nvil(new Microsoft.ML.Helmholtz.Learning.Rules.NvilOptions { InputBaselineHiddenUnits = 1 << 20 });
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => nvil.Prepare(machine, 10)).Message, "NvilOptions.InputBaselineHiddenUnits = 1048576");
    }

    [TestMethod]
    [DataRow("100000b-100000b", "10,000,000,000 weights")]      // fits a long, far past the limit
    [DataRow("46341b-46341b", "2,147,488,281 weights")]         // overflows int: once a silent wrong size
    [DataRow("16384b-16385b", "268,451,840 weights")]           // just past the limit
    [DataRow("784b-200000g-200000g", "layers 0 to 1 alone need 470,800,784 parameters")]
    public void AnArchitectureTooLargeIsAClearErrorBeforeAnyAllocation(string text, string count)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.ThrowsExactly<ArgumentException>(() => HelmholtzMachine.Create(HelmholtzArchitecture.Parse(text), 1));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        StringAssert.Contains(e.Message, count);
        StringAssert.Contains(e.Message, "268,435,456");
        StringAssert.Contains(e.Message, "layers");
        Assert.AreEqual("layers", e.ParamName, "the constructor's argument that holds the sizes, trunks or not");
        Assert.IsTrue(allocated < 1 << 20, $"{allocated} bytes allocated before the refusal");
    }

    /// <summary>
    /// The layers are bounded, stochastic and deterministic together (HelmholtzArchitecture.MaxLayers = 1024): a string
    /// of more is a FormatException before its layers are parsed, quoting only its start; the constructor refuses as many
    /// layers given as objects; 1024 is accepted.
    /// </summary>
    [TestMethod]
    public void TheNumberOfLayersIsBounded()
    {
        string Layers(int count, string token) => string.Join("-", Enumerable.Repeat(token, count));
        var e = Assert.ThrowsExactly<FormatException>(() => HelmholtzArchitecture.Parse(Layers(170_000, "1b")));
        StringAssert.Contains(e.Message, "170,000 layers, more than the 1,024 a machine may have (HelmholtzArchitecture.MaxLayers)");
        Assert.IsLessThan(300, e.Message.Length, "the string is quoted by its start");
        StringAssert.Contains(Assert.ThrowsExactly<FormatException>(() => HelmholtzArchitecture.Parse("2b-" + Layers(1023, "1t") + "-1b")).Message,
            "1,025 layers", "tanh layers count");
        Assert.AreEqual(1024, HelmholtzArchitecture.Parse(Layers(1024, "1b")).Layers.Count);
        Assert.AreEqual(1024, HelmholtzArchitecture.Parse("2b-" + Layers(1022, "1t") + "-1b").Trunks[0].Count + 2);

        var one = LayerDefinition.Parse("1b");
        var refused = Assert.ThrowsExactly<ArgumentException>(() => new HelmholtzArchitecture(Enumerable.Repeat(one, 1000), [Enumerable.Repeat(1, 25).ToArray()]));
        StringAssert.Contains(refused.Message, "1,025 layers (stochastic and deterministic); a machine may have at most 1,024");
        Assert.AreEqual("layers", refused.ParamName);
    }

    [TestMethod]
    public void TheTotalIsBoundedToo()
    {
        // Each pair alone is under the limit; the four maps together are not.
        var e = Assert.ThrowsExactly<ArgumentException>(() => HelmholtzArchitecture.Parse("10000g-10000g-10000g"));
        StringAssert.Contains(e.Message, "parameters");
        Assert.AreEqual(HelmholtzArchitecture.Parse("784b-200g-50g").ParameterCount,
            HelmholtzMachine.Create(HelmholtzArchitecture.Parse("784b-200g-50g"), 1).Parameters.Sum(p => (long)p.Length),
            "ParameterCount counts what a machine allocates");
        // The boundary, counted without allocating: "Nb-Mb" has 2NM + N + 2M parameters. Exactly MaxParameterCount is accepted,
        // one more (the prior's, after layers 0 to 1 fit) is refused.
        Assert.AreEqual(HelmholtzArchitecture.MaxParameterCount, HelmholtzArchitecture.Parse("15790320b-8b").ParameterCount);
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => HelmholtzArchitecture.Parse("89478485b-1b")).Message,
            "it needs 268,435,457 parameters");
    }

    [TestMethod]
    public void ParametersAndBatchBuffersRefuseSizesThatOverflow()
    {
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Parameter("huge", 70000, 70000));
        var arch = HelmholtzArchitecture.Parse("100000b-10b");
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new LayerStates(arch, 30000));
        StringAssert.Contains(e.Message, "layer 0");
        var layer = new BernoulliLayer("big", 10, 100000, MatrixEngine.Managed);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => layer.EnsureCapacity(30000));
    }

    [TestMethod]
    [DataRow("784b--10b", "empty")]
    [DataRow("784b-", "empty")]
    [DataRow("-5b", "empty")]
    [DataRow("784b-200b-", "empty")]
    [DataRow("784b", "at least one hidden layer")]
    [DataRow("784b-0b", "positive")]
    [DataRow("784b-+5b", "digits")]
    [DataRow("784b-5.5b", "digits")]
    [DataRow("784b-99999999999b", "too large")]
    [DataRow("784b-200x", "expected a size followed by")]
    [DataRow("784b-200x", "'gl' (Gaussian, linear mean)")]   // the codes it lists say what each is
    [DataRow("16b-8 g", "Layer '8 g': a layer is its size and unit code with nothing between")]
    [DataRow("16b-8g 4g", "layers are joined by '-'")]
    [DataRow("16gr-8g", "the visible layer '16gr': a rank-one posterior belongs to a hidden layer's recognition layer")]
    [DataRow("16grl-8gr", "use 'g' (or 'gl' for a linear mean)")]
    public void MalformedArchitectureStringsAreNamed(string text, string problem)
    {
        var e = Assert.ThrowsExactly<FormatException>(() => HelmholtzArchitecture.Parse(text));
        StringAssert.Contains(e.Message, problem);
    }

    /// <summary>
    /// The rank-one posterior is a recognition layer's, which the visible layer has not: "16gr-8g" was taken and trained as
    /// "16g-8g" (the same parameters and estimates under another name). Refused when built too; hidden layers take it.
    /// </summary>
    [TestMethod]
    public void ARankOnePosteriorOnTheVisibleLayerIsRefused()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => new HelmholtzArchitecture(
            [new LayerDefinition(16, UnitType.GaussianRankOne), new LayerDefinition(8, UnitType.Gaussian)]));
        Assert.AreEqual("layers", e.ParamName);
        StringAssert.Contains(e.Message, "Layer 0, the visible layer (16gr): a rank-one posterior belongs to a hidden layer's recognition layer");
        Assert.AreEqual("16g-8gr-4grl", HelmholtzArchitecture.Parse("16g-8gr-4grl").ToString());
    }

    // Values that are not exactly rows × columns, more as well as fewer, are refused: a count that disagrees with its data is the caller's mistake.
    [TestMethod]
    public void DataLongerOrShorterThanItsRowsIsRefused()
    {
        var visible = new LayerDefinition(3, UnitType.Bernoulli);
        foreach (int length in new[] { 5, 7, 9 })
        {
            var e = Assert.ThrowsExactly<ArgumentException>(() => DataValidation.Validate(new float[length], 2, 3, visible, "rows"));
            StringAssert.Contains(e.Message, $"rows holds {length} values, not 2 rows × 3");
            Assert.AreEqual("rows", e.ParamName);
        }
        DataValidation.Validate(new float[6], 2, 3, visible, "rows");
    }

    // No rows at all are called empty, under the caller's parameter name when one is given (the data's description otherwise).
    [TestMethod]
    public void DataOfNoRowsIsCalledEmptyUnderTheCallersName()
    {
        var visible = new LayerDefinition(3, UnitType.Bernoulli);
        var e = Assert.ThrowsExactly<ArgumentException>(() => DataValidation.Validate([], 0, 3, visible, "training data"));
        StringAssert.Contains(e.Message, "training data is empty");
        Assert.AreEqual("training data", e.ParamName);
        var named = Assert.ThrowsExactly<ArgumentException>(() => DataValidation.Validate([], 0, 3, visible, "the batch's rows", "examples"));
        StringAssert.Contains(named.Message, "the batch's rows is empty");
        Assert.AreEqual("examples", named.ParamName);
    }

    [TestMethod]
    public void DataWithNoColumnsIsNotCalledEmpty()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() =>
            DataValidation.Validate([], 5, 0, new LayerDefinition(4, UnitType.Bernoulli), "training data"));
        StringAssert.Contains(e.Message, "length 0");
        Assert.IsFalse(e.Message.Contains("empty"), e.Message);
    }

    [TestMethod]
    public void StatesOfAnotherArchitectureAreNamed()
    {
        var machine = TestModels.Random("6b-4b-3b", 1);
        var other = new LayerStates(HelmholtzArchitecture.Parse("6b-5b-3b"), 4);
        double[] f = new double[4], l = new double[4];
        var e = Assert.ThrowsExactly<ArgumentException>(() => machine.SampleFreeEnergy(new RandomStream(1), other, 4, f, l));
        StringAssert.Contains(e.Message, "6b-5b-3b");
        StringAssert.Contains(e.Message, "6b-4b-3b");
        Assert.ThrowsExactly<ArgumentException>(() => machine.Recognition.Infer(4, other));
        Assert.ThrowsExactly<ArgumentException>(() => machine.Generative.Dream(new RandomStream(1), 4, other));
        var mine = new LayerStates(machine.Architecture, 4);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => machine.Recognition.Infer(5, mine));
        Assert.ThrowsExactly<ArgumentException>(() => machine.SampleFreeEnergy(new RandomStream(1), mine, 4, new double[3], l));

        // None of these refusals keeps the machine held: another thread computes with it next (the guard lets its own thread back in).
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try { machine.SampleFreeEnergy(new RandomStream(1), mine, 4, f, l); }
            catch (Exception e) { failure = e; }
        });
        thread.Start();
        thread.Join();
        Assert.IsNull(failure, failure?.Message);
        Assert.IsTrue(f.All(double.IsFinite));
    }

    /// <summary>
    /// The exception of a size that one array cannot hold: an ArgumentOutOfRangeException for the caller's argument
    /// <paramref name="name"/>, named in the text too, thrown before anything large is allocated.
    /// </summary>
    private static ArgumentOutOfRangeException RefusedBeforeAllocating(Action call, string name)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(call);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.AreEqual(name, e.ParamName);
        string text = e.Message.Split(" (Parameter '")[0];
        StringAssert.Contains(text, name, StringComparison.OrdinalIgnoreCase);   // "options" as TemporalTrainingOptions
        StringAssert.Contains(text, "more than one array holds (2,147,483,591)");
        Assert.IsTrue(allocated < 1 << 20, $"{allocated:N0} bytes allocated before the refusal");
        return e;
    }

    /// <summary>
    /// A rank-one posterior draws one value per row more than it has units (its factor's), so its widest per-row buffer is its
    /// noise: rows whose noise no array holds, though their units would fit one, are refused naming the rows before any buffer
    /// is made, where the noise buffer's length would otherwise pass the limit once the other buffers (gigabytes) were allocated.
    /// </summary>
    [TestMethod]
    public void ARankOneLayersRowsAreLimitedByItsNoiseRow()
    {
        const int units = 46_000;
        var layer = new RankOneGaussianLayer("q", 1, units, Microsoft.ML.Helmholtz.Numerics.MatrixEngine.Managed);
        Assert.AreEqual(units + 1, layer.WidestRow, "the noise row, one wider than the units");
        int rows = Array.MaxLength / (units + 1) + 1;
        Assert.IsTrue((long)rows * units <= Array.MaxLength, "the premise: the units of these rows fit one array");
        var e = RefusedBeforeAllocating(() => layer.EnsureCapacity(rows), "rows");
        StringAssert.Contains(e.Message, $"up to {units + 1} values wide");
        Assert.AreEqual(0, layer.Capacity, "no buffers made");
    }

    [TestMethod]
    public void ATrunkTooWideForTheRowsIsRefusedBeforeItsBuffers()
    {
        // 20,000 rows of a 150,000-unit tanh layer: 3·10⁹ values, which once wrapped an int.
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("1b-150000t-1b"), 1);
        var e = RefusedBeforeAllocating(() => machine.Recognition.Layer(1).EnsureCapacity(20_000), "rows");
        StringAssert.Contains(e.Message, "3,000,000,000 values (20,000 × 150,000)");
        RefusedBeforeAllocating(() => machine.Generative.Layers[0].EnsureCapacity(20_000), "rows");
    }

    /// <summary>
    /// Rows that each array holds but whose states no memory does: a machine of 1000 one-unit layers, chunks of 2·10⁹ rows
    /// (2·10¹² values, 8 TB) or training batches of 10⁹. Refused up front naming the argument and the memory, where the
    /// allocations would have ended in an OutOfMemoryException or the system's out-of-memory killer part way through.
    /// </summary>
    [TestMethod]
    public void RowsWhoseStatesNoMemoryHoldsAreRefusedBeforeAllocating()
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse(string.Join("-", Enumerable.Repeat("1b", 1000))), 1);
        double available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (double)(1L << 30);
        void Refused(Action call, string name, string what)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(call, what);
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.AreEqual(name, e.ParamName, what);
            StringAssert.Contains(e.Message, "holding 1,000 values per row in the layers' states alone", what);
            StringAssert.Contains(e.Message, "of memory, more than the ", what);
            StringAssert.Contains(e.Message, string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{available:N1} GiB this process can use"), what);
            Assert.IsTrue(allocated < 1 << 20, $"{what}: {allocated:N0} bytes allocated before the refusal");
        }
        var data = TestModels.BinaryData(1000, 1, 2);
        var estimator = new ImportanceSampledLogLikelihood(2_000_000, rowsPerChunk: 2_000_000_000) { Parallelism = 1 };
        Refused(() => estimator.EstimatePerExample(machine, data), "rowsPerChunk", "importance sampling");
        ILearningRule vimco = LearningRules.Create("vimco", samples: 1_000_000);
        Refused(() => vimco.Prepare(machine, 1000), "batchCapacity", "VIMCO's batch");
        // Rows that fit pass: 10⁴ rows of 1000 values, 40 MB.
        Assert.IsTrue(double.IsFinite(new ImportanceSampledLogLikelihood(10, rowsPerChunk: 10_000) { Parallelism = 1 }
            .EstimatePerExample(machine, TestModels.BinaryData(3, 1, 2))[0]));
    }

    [TestMethod]
    public void ImportanceSamplingRefusesAChunkTooLargeForTheMachineNamingRowsPerChunk()
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("1b-150000t-1b"), 1);
        var data = TestModels.BinaryData(200, 1, 2);
        var estimator = new ImportanceSampledLogLikelihood(100, rowsPerChunk: 20_000) { Parallelism = 1 };
        var e = RefusedBeforeAllocating(() => estimator.EstimatePerExample(machine, data), "rowsPerChunk");
        StringAssert.Contains(e.Message, "3,000,000,000 values (20,000 × 150,000)");
        // Split over pipelines, the largest range's chunk is the one checked: 3 examples over 2 pipelines give one of 2
        // examples, 20,000 sample rows where a chunk may hold all of them (a range rounded down, 1 example, would pass the check).
        var split = new ImportanceSampledLogLikelihood(10_000, rowsPerChunk: int.MaxValue) { Parallelism = 2 };
        e = RefusedBeforeAllocating(() => split.EstimatePerExample(machine, TestModels.BinaryData(3, 1, 2)), "rowsPerChunk");
        StringAssert.Contains(e.Message, "3,000,000,000 values (20,000 × 150,000)");
    }

    [TestMethod]
    public void TheNaiveEstimatorRefusesProductsTooLargeNamingSamplesPerChunk()
    {
        var machine = TestModels.Random("4b-2b", 3);
        var data = TestModels.BinaryData(10_000, 4, 4);
        var e = RefusedBeforeAllocating(() => new NaiveLogLikelihood(1_000_000, samplesPerChunk: 300_000).EstimatePerExample(machine, data), "samplesPerChunk");
        StringAssert.Contains(e.Message, "3,000,000,000 values (10,000 × 300,000)");
    }

    [TestMethod]
    public void TheSampledFreeEnergyRefusesABatchTooLargeNamingRowsPerBatch()
    {
        // It let the layers' buffers refuse it, naming "capacity", which its caller never passed (a review's finding).
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("1b-150000t-1b"), 1);
        var data = TestModels.BinaryData(20_000, 1, 2);
        var e = RefusedBeforeAllocating(() => new SampledFreeEnergy(rowsPerBatch: 20_000).Estimate(machine, data), "rowsPerBatch");
        StringAssert.Contains(e.Message, "3,000,000,000 values (20,000 × 150,000)");
    }

    [TestMethod]
    public void TheMeanFieldBaselineRefusesABatchTooLargeNamingExamplesPerBatch()
    {
        // 20,000 examples a batch through a 150,000-unit layer: named as examplesPerBatch, before the machine is copied.
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("1b-150000g"), 1);
        var data = TestModels.BinaryData(20_000, 1, 2);
        RefusedBeforeAllocating(() => new MeanFieldLogLikelihood(1, examplesPerBatch: 20_000).Estimate(machine, data), "examplesPerBatch");
    }

    [TestMethod]
    public void FixedNoiseScoringRefusesAChunkTooLargeNamingRowsPerChunk()
    {
        var machine = TestModels.Random("4b-3b", 5);
        // K = 1 puts ⌊rowsPerChunk / K⌋ rows in a chunk, rounded up to 64: past an int.
        RefusedBeforeAllocating(() => new FixedNoiseLogLikelihood(machine, 1, rowsPerChunk: int.MaxValue), "rowsPerChunk");
        Assert.AreEqual(100, new FixedNoiseLogLikelihood(machine, 100, rowsPerChunk: int.MaxValue).Samples, "K ≥ 64 rows alone: chunks of K rows");
    }

    [TestMethod]
    public void MultiSampleRulesNameTheirSamplesWhenTheRowsOverflow()
    {
        var bernoulli = TestModels.Random("4b-3b", 6);
        var gaussian = TestModels.Random("4b-3g", 6);
        foreach (var (rule, machine) in new (ILearningRule, HelmholtzMachine)[]
                 { (new Vimco(100_000), bernoulli), (new ReweightedWakeSleep(100_000), bernoulli), (new ImportanceWeightedBound(100_000), gaussian) })
        {
            // 100,000 examples × K = 100,000: 10¹⁰ rows, once a bare OverflowException.
            var e = RefusedBeforeAllocating(() => rule.Prepare(machine, 100_000), "batchCapacity");
            StringAssert.Contains(e.Message, "samples = K = 100000", rule.Name);
            StringAssert.Contains(e.Message, "10,000,000,000 values", rule.Name);
        }
    }

    [TestMethod]
    public void MultiSampleRulesRefuseRowsTooManyForTheMachineBeforeTheirBuffers()
    {
        // 1 example × K = 20,000 rows fit the rule's own arrays, but not 20,000 rows of the 150,000-unit trunk that the
        // training batch holds: once refused only by that batch, after the rule had allocated (gigabytes for a K of 5·10⁷).
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("1b-150000t-1b"), 9);
        foreach (ILearningRule rule in new ILearningRule[] { new Vimco(20_000), new ReweightedWakeSleep(20_000), new ReweightedWakeSleep(20_000, RecognitionUpdate.WakeAndSleep) })
        {
            var e = RefusedBeforeAllocating(() => rule.Prepare(machine, 1), "batchCapacity");
            StringAssert.Contains(e.Message, "batchCapacity = 1 examples × samples = K = 20000", rule.Name);
            StringAssert.Contains(e.Message, "3,000,000,000 values (20,000 × 150,000)", rule.Name);
        }
        // Through the trainer, which checks its own minibatches before it prepares the rule: the options' batch is named.
        var trainer = new HelmholtzTrainer(new Vimco(10_000), new TrainingOptions { Epochs = 1, BatchSize = 2 });
        var refused = RefusedBeforeAllocating(() => trainer.Train(machine, TestModels.BinaryData(2, 1, 10)), "BatchSize");
        StringAssert.Contains(refused.Message, "Minibatches of 2 examples × 10,000 samples");
        StringAssert.Contains(refused.Message, "TrainingOptions.BatchSize = 2");
        StringAssert.Contains(refused.Message, "or fewer samples per example");
        // A one-sample rule whose own buffers hold the batch (Wake-Sleep's dreams have no trunk), where the training batch
        // once refused it naming its internal "capacity".
        var wakeSleep = new HelmholtzTrainer(new WakeSleep(), new TrainingOptions { Epochs = 1, BatchSize = 20_000 });
        var batch = RefusedBeforeAllocating(() => wakeSleep.Train(machine, TestModels.BinaryData(20_000, 1, 10)), "BatchSize");
        StringAssert.Contains(batch.Message, "Minibatches of 20,000 examples × 1 samples");
        StringAssert.Contains(batch.Message, "use a smaller TrainingOptions.BatchSize.");
        // A run of no epochs takes no step: its minibatches need not fit (the ML.NET estimator wraps machines so).
        Assert.IsEmpty(new HelmholtzTrainer(new Vimco(100_000_000), new TrainingOptions { Epochs = 0, BatchSize = 20 }).Train(machine, TestModels.BinaryData(50, 1, 10)));
    }

    [TestMethod]
    public void RecognitionFeaturesRefuseBlocksTooLargeForTheMachineNamingRowsPerBlock()
    {
        // Once accepted here and refused (int.MaxValue) or allocated (1.4 GB for 2·10⁷ rows) by each CreateExtractor.
        var wide = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("1b-150000t-1b"), 11);
        var e = RefusedBeforeAllocating(() => new RecognitionFeatures(wide, rowsPerBlock: 20_000), "rowsPerBlock");
        StringAssert.Contains(e.Message, "3,000,000,000 values (20,000 × 150,000)");
        RefusedBeforeAllocating(() => new RecognitionFeatures(TestModels.Random("4b-3b", 12), rowsPerBlock: int.MaxValue), "rowsPerBlock");
    }

    [TestMethod]
    public void TheDefaultBlockIsLoweredForAVeryWideMachineButAnExplicitOneIsRefused()
    {
        // 2,500,000 values a row: 1024 rows would be 2.56·10⁹ values, past one array; 858 rows fit.
        var wide = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("1b-2500000t-1b"), 11);
        Assert.AreEqual(Array.MaxLength / 2_500_000, new RecognitionFeatures(wide).RowsPerBlock);
        // The default's value given explicitly is the caller's choice, refused like any other that does not fit.
        var e = RefusedBeforeAllocating(() => new RecognitionFeatures(wide, rowsPerBlock: RecognitionFeatures.DefaultRowsPerBlock), "rowsPerBlock");
        StringAssert.Contains(e.Message, "(1,024 × 2,500,000)");
        Assert.AreEqual(RecognitionFeatures.DefaultRowsPerBlock, new RecognitionFeatures(TestModels.Random("4b-3b", 12)).RowsPerBlock);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new RecognitionFeatures(wide, rowsPerBlock: 0));
    }

    /// <summary>
    /// An extractor holds the states of the rows it is asked for, up to a block: one row at a time (a
    /// PredictionEngine) costs a row's states, not 1024 rows'. The features are the same whatever the growth.
    /// </summary>
    [TestMethod]
    public void AnExtractorHoldsTheRowsItIsAskedForNotAWholeBlock()
    {
        // 2002 values a row: a block of 1024 rows is 8 MB, against 32 KB of parameters.
        var machine = TestModels.Random("2000b-2b", 13);
        var features = new RecognitionFeatures(machine, FeatureLayers.AllHidden);
        float[] rows = TestModels.BinaryData(1500, 2000, 14).Values;
        float[] byOne = new float[1500 * 2], inBlocks = new float[1500 * 2];

        features.CreateExtractor().Extract(rows.AsSpan(0, 2000), 1, byOne); // the JIT's first calls, outside the count
        long before = GC.GetAllocatedBytesForCurrentThread();
        var extractor = features.CreateExtractor();
        for (int r = 0; r < 1500; r++) extractor.Extract(rows.AsSpan(r * 2000, 2000), 1, byOne.AsSpan(r * 2));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.AreEqual(1, extractor.Capacity);
        Assert.IsTrue(allocated < 1_000_000, $"{allocated:N0} bytes allocated making an extractor and extracting 1500 rows one at a time");

        var blocks = features.CreateExtractor();
        blocks.Extract(rows.AsSpan(0, 3 * 2000), 3, inBlocks);
        Assert.AreEqual(3, blocks.Capacity);
        blocks.Extract(rows.AsSpan(0, 5 * 2000), 5, inBlocks);
        Assert.AreEqual(6, blocks.Capacity, "grows by doubling");
        blocks.Extract(rows, 1500, inBlocks);
        Assert.AreEqual(RecognitionFeatures.DefaultRowsPerBlock, blocks.Capacity, "held to a block");
        CollectionAssert.AreEqual(byOne, inBlocks);
    }

    [TestMethod]
    public void PathwiseRulesRefuseRowsTooManyForTheirWidestLayer()
    {
        // 1,000 × K = 30 rows fit, but not 30,000 rows of the 100,000-unit layer's gradients.
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("4b-100000g"), 7);
        var e = RefusedBeforeAllocating(() => new ImportanceWeightedBound(30).Prepare(machine, 1_000), "batchCapacity");
        StringAssert.Contains(e.Message, "samples = K = 30");
        StringAssert.Contains(e.Message, "3,000,000,000 values (30,000 × 100,000)");
        RefusedBeforeAllocating(() => new StochasticBackpropagation().Prepare(machine, 30_000), "batchCapacity");
    }

    [TestMethod]
    public void GeneratingMoreValuesThanAnArrayHoldsNamesTheFrames()
    {
        var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("900b-2b"), 2, 8);
        // 100 sequences of 30,000 frames of 30×30: 2.7·10⁹ values, once wrapped into an OverflowException.
        var e = RefusedBeforeAllocating(() => TemporalEvaluation.Generate(model, 100, 30_000), "frames");
        StringAssert.Contains(e.Message, "2,700,000,000 values (100 × 30,000 × 900)");
    }

    [TestMethod]
    public void TemporalTrainingRefusesSegmentsTooLargeNamingTheOptions()
    {
        // 100 sequences × 200 frames = 20,000 rows; each conditions 400,001 pre-activations and passes a 200,000-unit layer.
        var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("1b-200000b"), 1, 9);
        var training = new SequenceSet(100, 200, 1, 1, TestModels.BinaryData(20_000, 1, 10).Values);
        var trainer = new TemporalTrainer(new WakeSleep(), new TemporalTrainingOptions { Epochs = 1, BatchSequences = 100 });
        var e = RefusedBeforeAllocating(() => trainer.Train(model, training), "options");
        StringAssert.Contains(e.Message, "TemporalTrainingOptions.BatchSequences = 100");
        Assert.AreEqual(0, model.Machine.StepsTrained, "refused before anything changed");
        RefusedBeforeAllocating(() => new TemporalStep(model, new WakeSleep(), 100, 200, new RandomStream(1)), "batch");
    }

    [TestMethod]
    public void LayerStatesNameALayerRowsOrCapacityOutOfRange()
    {
        var states = new LayerStates(HelmholtzArchitecture.Parse("6b-4b-3b"), 4);
        foreach (int layer in new[] { 9, 3, -1 })
        {
            var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => states.Layer(layer, 1));
            Assert.AreEqual("layer", e.ParamName);
            StringAssert.Contains(e.Message, "0 (visible) to 2");
            Assert.AreEqual("layer", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => states.Buffer(layer)).ParamName);
        }
        Assert.AreEqual(3 * 4, states.Layer(2, 4).Length);
        // A row count past the capacity or negative is the caller's argument too, not a span's error from inside (which names none).
        foreach (int rows in new[] { 5, -1 })
            Assert.AreEqual("rows", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => states.Layer(2, rows)).ParamName);
        Assert.AreEqual("capacity", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new LayerStates(states.Architecture, 0)).ParamName);
    }

    /// <summary>
    /// The rows a machine is checked for are bounded by its widest per-row buffer, the top recognition layer's included: there a
    /// rank-one posterior draws one noise value more per row than it has units, wider than any generative layer of "2b-3b-5gr".
    /// </summary>
    [TestMethod]
    public void TheWidestRowCountsTheTopRecognitionLayer()
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("2b-3b-5gr"), 1);
        Assert.AreEqual(6, machine.Recognition.Layer(2).WidestRow, "the premise: five units and their shared noise value");
        Assert.IsTrue(machine.Generative.Layers.All(l => l.WidestRow < 6), "the premise: no generative layer is as wide");
        Assert.AreEqual(6, machine.WidestRow);
        // The bound that follows: one row more than an array holds at six values each is refused, naming the caller's argument.
        int rows = Array.MaxLength / 6 + 1;
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => machine.RequireRows(rows, "rowsPerBatch", $"{rows} rows", "use fewer rows"));
        Assert.AreEqual("rowsPerBatch", e.ParamName);
        StringAssert.Contains(e.Message, "up to 6 values per row");
    }

    [TestMethod]
    public void RecognitionLayersNameALayerOutOfRange()
    {
        // Counted from 1 (Generative.Layers from 0): a loop from 0 once met an IndexOutOfRangeException.
        var machine = TestModels.Random("6b-4b-3b", 1);
        foreach (int l in new[] { 0, 3, -1 })
        {
            var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => machine.Recognition.Layer(l));
            Assert.AreEqual("l", e.ParamName);
            StringAssert.Contains(e.Message, "1 to 2");
        }
        Assert.AreEqual(3, machine.Recognition.Layer(2).OutputSize);
        Assert.AreEqual("index", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => machine.Generative.Layers[3]).ParamName);
    }

    [TestMethod]
    public void ShortRowBuffersAndMissingForwardsAreNamed()
    {
        var machine = TestModels.Random("6b-4b-3b", 1);
        var states = new LayerStates(machine.Architecture, 4);
        double[] f = new double[4], l = new double[4];

        // A fresh machine: no forward has computed anything for the gradients to read.
        var fresh = HelmholtzMachine.Create(machine.Architecture, 2);
        var missing = Assert.ThrowsExactly<InvalidOperationException>(() => fresh.Generative.AccumulateLogJointGradient(states, 4, new float[4]));
        StringAssert.Contains(missing.Message, "call AccumulateLogJoint");
        missing = Assert.ThrowsExactly<InvalidOperationException>(() => fresh.Recognition.AccumulateLogProbGradient(states, 4, new float[4]));
        StringAssert.Contains(missing.Message, "call Sample");
        missing = Assert.ThrowsExactly<InvalidOperationException>(() => fresh.Recognition.AccumulateLogProbOfSample(states, 4, new double[4]));
        StringAssert.Contains(missing.Message, "RecognitionNetwork.AccumulateLogProbOfSample over 4 rows");   // the network's check, before any layer adds its term
        StringAssert.Contains(missing.Message, "call Sample");

        machine.SampleFreeEnergy(new RandomStream(1), states, 4, f, l);
        machine.ZeroGradients();
        foreach (Action call in new Action[]
                 {
                     () => machine.Generative.AccumulateLogJointGradient(states, 4, new float[1]),
                     () => machine.Recognition.AccumulateLogProbGradient(states, 4, new float[1]),
                 })
        {
            var e = Assert.ThrowsExactly<ArgumentException>(call);
            Assert.AreEqual("rowWeights", e.ParamName);
            StringAssert.Contains(e.Message, "1 values, fewer than the 4 rows");
        }
        Assert.IsTrue(machine.Parameters.All(p => p.Gradient.All(g => g == 0)), "a refused call accumulates nothing");
        foreach (Action call in new Action[]
                 {
                     () => machine.Recognition.AccumulateLogProb(states, 4, new double[1]),
                     () => machine.Recognition.AccumulateLogProbOfSample(states, 4, new double[3]),
                     () => machine.Generative.AccumulateLogJoint(states, 4, new double[1]),
                 })
        {
            var e = Assert.ThrowsExactly<ArgumentException>(call);
            Assert.AreEqual("rowLogProb", e.ParamName);
            StringAssert.Contains(e.Message, "fewer than the 4 rows");
        }
        // The free energy's two outputs: the one that is short is named.
        foreach (var (free, joint, name) in new[] { (3, 4, "freeEnergy"), (4, 3, "logJoint") })
        {
            var e = Assert.ThrowsExactly<ArgumentException>(() => machine.SampleFreeEnergy(new RandomStream(1), states, 4, new double[free], new double[joint]));
            Assert.AreEqual(name, e.ParamName);
            StringAssert.Contains(e.Message, $"they hold {free} and {joint}");
        }
        machine.Recognition.AccumulateLogProbGradient(states, 4, new float[4]);   // the checks refuse only what is short
    }

    [TestMethod]
    public void ALayerWithoutUnitsOrWithAnUnknownMeanIsNamed()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => new HelmholtzArchitecture([new LayerDefinition(4, null!), new LayerDefinition(3, UnitType.Bernoulli)]));
        Assert.AreEqual("layers", e.ParamName);
        StringAssert.Contains(e.Message, "Layer 0");
        StringAssert.Contains(e.Message, "no unit type");
        Assert.AreEqual("4 (no unit type)", new LayerDefinition(4, null!).ToString());   // it threw NullReferenceException
        e = Assert.ThrowsExactly<ArgumentException>(() =>
            new HelmholtzArchitecture([new LayerDefinition(4, UnitType.Gaussian, GaussianMean.Linear), new LayerDefinition(3, UnitType.Gaussian, (GaussianMean)7)]));
        StringAssert.Contains(e.Message, "Layer 1");
        StringAssert.Contains(e.Message, "GaussianMean");
    }
}

/// <summary>A unit kind of the application's: Bernoulli units under codes of its choosing.</summary>
internal sealed class CodedBernoulliUnits(params string[] codes) : UnitType
{
    public override string Name => $"Bernoulli as '{string.Join("', '", codes)}'";
    public override IReadOnlyList<(string Code, GaussianMean Mean)> Codes { get; } = [.. codes.Select(c => (c, GaussianMean.Tanh))];
    public override bool HasReparameterizedSamples => false;
    public override ConditionalLayer CreateGenerative(string name, int inputs, int outputs, GaussianMean mean, IMatrixEngine engine) => new BernoulliLayer(name, inputs, outputs, engine);
    public override ConditionalLayer CreatePrior(string name, int outputs, IMatrixEngine engine) => new BernoulliLayer(name, 0, outputs, engine);
    public override ConditionalLayer CreateRecognition(string name, int inputs, int outputs, IMatrixEngine engine) => new BernoulliLayer(name, inputs, outputs, engine);
    public override long GenerativeParameterCount(long inputs, long outputs) => inputs * outputs + outputs;
    public override long RecognitionParameterCount(long inputs, long outputs) => inputs * outputs + outputs;
    public override long PriorParameterCount(long outputs) => outputs;
    public override bool Models(float value) => value is 0f or 1f;
    public override bool ModelsAll(ReadOnlySpan<float> values) => UnitType.Bernoulli.ModelsAll(values);
    public override string ModelledValues => "only 0 and 1";
    public override string ValueHint => "binarize the data";
}

[TestClass]
public sealed class UnitRegistrationTests
{
    /// <summary>
    /// A code an architecture string cannot read back (upper case, a dash or digit, "t", empty) is refused when registered: a
    /// machine of it saved and then failed to load. A code it can read registers, and its machine saves and loads.
    /// </summary>
    [TestMethod]
    public void OnlyCodesAnArchitectureStringReadsBackAreRegistered()
    {
        foreach (var (code, problem) in new[] { ("Q", "not lower-case ASCII letters"), ("q-r", "not lower-case ASCII letters"), ("q1", "not lower-case ASCII letters"),
                     ("", "not lower-case ASCII letters"), ("t", "deterministic tanh layers"), ("b", "already used by Bernoulli"),
                     ("gl", "already used by Gaussian") })
        {
            var e = Assert.ThrowsExactly<ArgumentException>(() => UnitType.Register(new CodedBernoulliUnits(code)), code);
            StringAssert.Contains(e.Message, problem, code);
        }
        // A kind's own codes must differ too, and each of them is checked against every code of a registered kind ("gl" is Gaussian's second).
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => UnitType.Register(new CodedBernoulliUnits("zr", "zr"))).Message, "appears twice");
        // A kind with no code at all could never be written in an architecture string (Code would throw).
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => UnitType.Register(new CodedBernoulliUnits())).Message, "has no unit code");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => UnitType.Register(new CodedBernoulliUnits("zr", "gl"))).Message, "already used by Gaussian");
        var units = UnitType.Register(new CodedBernoulliUnits("zq"));
        var architecture = new HelmholtzArchitecture([new LayerDefinition(6, UnitType.Bernoulli), new LayerDefinition(4, units)]);
        Assert.AreEqual("6b-4zq", architecture.ToString());
        var machine = HelmholtzMachine.Create(architecture, 1);
        using var bytes = new MemoryStream();
        machine.Save(bytes);
        bytes.Position = 0;
        Assert.IsTrue(architecture.SameAs(HelmholtzMachine.Load(bytes).Architecture), "the machine loads with its units");
    }

    /// <summary>
    /// TryParseCode reads a code exactly as registered: each code gives its kind and mean, and an upper-case spelling, a
    /// prefix or a code with a space is none (lower-casing is the architecture parser's job, not the registry's).
    /// </summary>
    [TestMethod]
    public void TryParseCodeReadsOnlyTheExactRegisteredCodes()
    {
        foreach (var (code, units, mean) in new[] { ("b", UnitType.Bernoulli, GaussianMean.Tanh), ("g", UnitType.Gaussian, GaussianMean.Tanh),
                     ("gl", UnitType.Gaussian, GaussianMean.Linear), ("grl", UnitType.GaussianRankOne, GaussianMean.Linear),
                     ("cb", UnitType.ContinuousBernoulli, GaussianMean.Tanh), ("bs", UnitType.SoftBernoulli, GaussianMean.Tanh) })
        {
            Assert.IsTrue(UnitType.TryParseCode(code, out UnitType parsed, out GaussianMean parsedMean), code);
            Assert.AreSame(units, parsed, code);
            Assert.AreEqual(mean, parsedMean, code);
        }
        foreach (string code in new[] { "B", "GL", "Cb", "c", "gr ", "" })
            Assert.IsFalse(UnitType.TryParseCode(code, out _, out _), $"'{code}'");
    }

    /// <summary>
    /// Each built-in kind's Models (the one value a message names, and the public check) agrees with its vectorised ModelsAll
    /// (the check data goes through) on every value, bounded or not: a value one accepts the other must too.
    /// </summary>
    [TestMethod]
    public void AKindsModelsAgreesWithItsModelsAllOnEveryValue()
    {
        float[] values = [0f, 1f, 0.5f, -0.25f, 1.5f, -3e38f, float.Epsilon, float.NaN, float.PositiveInfinity, float.NegativeInfinity];
        foreach (UnitType units in new[] { UnitType.Bernoulli, UnitType.Gaussian, UnitType.GaussianRankOne, UnitType.ContinuousBernoulli, UnitType.SoftBernoulli })
            foreach (float v in values)
                Assert.AreEqual(units.ModelsAll([v]), units.Models(v), $"{units.Name} on {v}");
    }

    // The constructor refuses what Parse cannot write: a trunk more than the gaps between stochastic layers, or a trunk layer of size 0.
    [TestMethod]
    public void TheArchitectureConstructorRefusesATrunkTooManyOrOfSizeZero()
    {
        LayerDefinition[] layers = [new(4, UnitType.Bernoulli), new(2, UnitType.Bernoulli)];
        var e = Assert.ThrowsExactly<ArgumentException>(() => new HelmholtzArchitecture(layers, [[3], [5]]));
        Assert.AreEqual("trunks", e.ParamName);
        StringAssert.Contains(e.Message, "2 trunks for the 1 gaps");
        e = Assert.ThrowsExactly<ArgumentException>(() => new HelmholtzArchitecture(layers, [[3, 0]]));
        Assert.AreEqual("trunks", e.ParamName);
        StringAssert.Contains(e.Message, "must have positive sizes");
        Assert.AreEqual("4b-3t-2b", new HelmholtzArchitecture(layers, [[3]]).ToString());
    }

    // A layer of no units is refused by the constructor as Parse refuses "0b", naming the layer and its size: the constructor
    // is the only check of definitions built as objects.
    [TestMethod]
    public void TheArchitectureConstructorRefusesALayerOfSizeZero()
    {
        foreach (int layer in new[] { 0, 2 })
        {
            LayerDefinition[] layers = [new(4, UnitType.Bernoulli), new(3, UnitType.Bernoulli), new(2, UnitType.Bernoulli)];
            layers[layer] = layers[layer] with { Size = 0 };
            var e = Assert.ThrowsExactly<ArgumentException>(() => new HelmholtzArchitecture(layers), $"layer {layer}");
            Assert.AreEqual("layers", e.ParamName);
            StringAssert.Contains(e.Message, $"Layer {layer} has size 0; sizes must be positive");
        }
    }

    [TestMethod]
    public void TheArchitectureConstructorRefusesAMachineWithoutAHiddenLayer()
    {
        // Parse refuses "4b" itself; the constructor must too, or a machine with no hidden layer would be built.
        var e = Assert.ThrowsExactly<ArgumentException>(() => new HelmholtzArchitecture([new LayerDefinition(4, UnitType.Bernoulli)]));
        Assert.AreEqual("layers", e.ParamName);
        StringAssert.Contains(e.Message, "at least one hidden layer");
    }

    [TestMethod]
    public void ConditioningNamesALayerOutOfRange()
    {
        // The recognition network has no layer 0 (the visible one): its conditioning is named out of range, as layer 3 is.
        var conditioning = new LayerConditioning(HelmholtzArchitecture.Parse("6b-4b-3b"), 2);
        foreach (int layer in new[] { 0, 3, -1 })
        {
            var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => conditioning.Recognition(layer, 1));
            Assert.AreEqual("layer", e.ParamName);
            StringAssert.Contains(e.Message, "1 to 2");
            Assert.AreEqual("layer", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => conditioning.RecognitionGradient(layer, 1)).ParamName);
        }
        Assert.AreEqual("layer", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => conditioning.Generative(-1, 1)).ParamName);
        Assert.AreEqual(6, conditioning.Generative(0, 1).Length);
        Assert.AreEqual(4 * 2, conditioning.Recognition(1, 2).Length);
        // Rows are checked against the capacity, not against the buffer's length: one row more than it holds is named 'rows'.
        foreach (int rows in new[] { 3, -1 })
        {
            Assert.AreEqual("rows", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => conditioning.Generative(0, rows)).ParamName, $"{rows} rows");
            Assert.AreEqual("rows", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => conditioning.RecognitionGradient(2, rows)).ParamName, $"{rows} rows");
        }
    }
}
