using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Learning;
using Microsoft.ML.Helmholtz.Learning.Rules;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;
using Microsoft.ML.Helmholtz.Tests.Support;

namespace Microsoft.ML.Helmholtz.Tests.Data;

[TestClass]
public sealed class StreamingMinibatchesTests
{
    /// <summary>Each epoch hands out every row exactly once, in an order that changes from epoch to epoch.</summary>
    [TestMethod]
    [DataRow(1)]
    [DataRow(17)]
    [DataRow(1000)]
    public void EveryRowComesOnceAnEpoch(int bufferRows)
    {
        // Row i holds the value i, so the rows handed out say which they are.
        var data = new DataMatrix(300, 2, Enumerable.Range(0, 300).SelectMany(i => new[] { (float)i, -i }).ToArray());
        var stream = new MatrixStream(data, block: 7);
        var source = new StreamingMinibatches(stream, bufferRows);
        var random = new RandomStream(1);
        List<int>? previous = null;
        for (int epoch = 0; epoch < 3; epoch++)
        {
            source.BeginEpoch(random);
            var seen = new List<int>();
            float[] batch = new float[32 * 2];
            int got;
            while ((got = source.NextBatch(batch, 32)) > 0)
                for (int r = 0; r < got; r++)
                {
                    Assert.AreEqual(-batch[r * 2], batch[r * 2 + 1], "a row is copied whole");
                    seen.Add((int)batch[r * 2]);
                }
            CollectionAssert.AreEquivalent(Enumerable.Range(0, 300).ToArray(), seen.ToArray(), $"epoch {epoch}");
            if (bufferRows > 1 && previous is not null) CollectionAssert.AreNotEqual(previous, seen, "the order changes");
            if (bufferRows == 1) CollectionAssert.AreEqual(Enumerable.Range(0, 300).ToList(), seen, "a buffer of one keeps the stream's order");
            previous = seen;
        }
        Assert.AreEqual(3, stream.Restarts);
    }

    /// <summary>
    /// A buffer as large as the data is a full shuffle: each row's position is uniform. Over 2000
    /// epochs the mean position of each of 20 rows is 9.5 with standard error √((20²−1)/12/2000) ≈ 0.13.
    /// </summary>
    [TestMethod]
    public void AFullBufferShufflesUniformly()
    {
        var data = new DataMatrix(20, 1, Enumerable.Range(0, 20).Select(i => (float)i).ToArray());
        var source = new StreamingMinibatches(new MatrixStream(data, 3), 20);
        var random = new RandomStream(2);
        double[] position = new double[20];
        float[] batch = new float[20];
        const int epochs = 2000;
        for (int e = 0; e < epochs; e++)
        {
            source.BeginEpoch(random);
            Assert.AreEqual(20, source.NextBatch(batch, 20));
            for (int p = 0; p < 20; p++) position[(int)batch[p]] += p;
        }
        double se = Math.Sqrt((20.0 * 20 - 1) / 12 / epochs);
        for (int i = 0; i < 20; i++) Assert.AreEqual(9.5, position[i] / epochs, 5 * se, $"row {i}");
    }

    /// <summary>Trained from a stream through a buffer, a machine reaches the free energy of training from the matrix, within noise.</summary>
    [TestMethod]
    public void StreamingTrainsAsWellAsTheMatrix()
    {
        var teacher = TestModels.Random("12b-6b-3b", 3, scale: 3f);
        var states = new LayerStates(teacher.Architecture, 2000);
        teacher.Generative.Dream(new RandomStream(4), 2000, states);
        var data = new DataMatrix(2000, 12, states.Layer(0, 2000).ToArray());
        double Train(bool stream)
        {
            var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("12b-6b-3b"), 5);
            machine.InitializeVisibleBiasesFromData(data.Values, data.Rows);
            var trainer = new HelmholtzTrainer(new WakeSleep(), new TrainingOptions { Epochs = 15, BatchSize = 50, Seed = 6, LearningRate = new(3e-3) });
            if (stream) trainer.Train(machine, new StreamingMinibatches(new MatrixStream(data, 64), 500));
            else trainer.Train(machine, data);
            return Enumerable.Range(0, 5).Average(s => new Microsoft.ML.Helmholtz.Evaluation.SampledFreeEnergy((ulong)s + 10).Estimate(machine, data));
        }
        double fromMatrix = Train(false), fromStream = Train(true);
        // Over six training seeds from the matrix, this set-up's free energy spread by 0.0013 nats (sd,
        // measured); the 500-row buffer shuffles less than the matrix does, so allow 15 of those.
        Assert.AreEqual(fromMatrix, fromStream, 0.02, $"matrix {fromMatrix:F4}, stream {fromStream:F4} nats");
    }

    // An epoch left part-way (rows read from the stream but not yet handed out) does not leak into the next: it hands out every row once.
    [TestMethod]
    public void AnEpochLeftPartWayLeavesNothingToTheNext()
    {
        var data = new DataMatrix(100, 1, Enumerable.Range(0, 100).Select(i => (float)i).ToArray());
        // Blocks of 7 rows into a buffer of 10: the fill leaves rows 10 to 13 read ahead, and 3 picks take 10 to 12, leaving 13 read but not served.
        var source = new StreamingMinibatches(new MatrixStream(data, block: 7), bufferRows: 10);
        var random = new RandomStream(3);
        float[] batch = new float[100];
        source.BeginEpoch(random);
        Assert.AreEqual(3, source.NextBatch(batch, 3));
        source.BeginEpoch(random);
        var seen = new List<int>();
        int got;
        while ((got = source.NextBatch(batch, 32)) > 0)
            for (int r = 0; r < got; r++) seen.Add((int)batch[r]);
        CollectionAssert.AreEquivalent(Enumerable.Range(0, 100).ToArray(), seen.ToArray());
    }

    // The matrix's source shuffles uniformly: over 6000 epochs each of the 3! orders of 3 rows comes 1000 times, standard deviation √(6000 · 1/6 · 5/6) ≈ 28.9.
    [TestMethod]
    public void TheMatrixSourceDrawsEveryOrderAlike()
    {
        var source = new ShuffledMinibatches(new DataMatrix(3, 1, [0f, 1f, 2f]));
        var random = new RandomStream(5);
        var counts = new Dictionary<string, int>();
        float[] batch = new float[3];
        const int epochs = 6000;
        for (int e = 0; e < epochs; e++)
        {
            source.BeginEpoch(random);
            Assert.AreEqual(3, source.NextBatch(batch, 3));
            string order = string.Join(",", batch);
            counts[order] = counts.GetValueOrDefault(order) + 1;
        }
        Assert.HasCount(6, counts, string.Join("; ", counts));
        double sd = Math.Sqrt(epochs * (1.0 / 6) * (5.0 / 6));
        foreach ((string order, int count) in counts) Assert.AreEqual(epochs / 6.0, count, 5 * sd, order);
    }

    [TestMethod]
    public void RowsTooWideForABlockOf256RowsStillStream()
    {
        // 256 rows of 2²³ values are 2³¹, past an int: the read block once overflowed; it holds no more rows than the buffer now.
        const int columns = 1 << 23;
        var source = new StreamingMinibatches(new WideRows(columns, 2), bufferRows: 1);
        source.BeginEpoch(new RandomStream(1));
        float[] row = new float[columns];
        for (int r = 0; r < 2; r++)
        {
            Assert.AreEqual(1, source.NextBatch(row, 1));
            Assert.AreEqual((float)r, row[0]);
            Assert.AreEqual((float)r, row[^1]);
        }
        Assert.AreEqual(0, source.NextBatch(row, 1));
    }

    [TestMethod]
    [DataRow(257, DisplayName = "more rows than asked for")]
    [DataRow(-1, DisplayName = "a negative count")]
    public void AStreamThatBreaksReadsContractIsNamed(int answer)
    {
        // Once a bare ArgumentOutOfRangeException from slicing the read block.
        var source = new StreamingMinibatches(new Answering(answer), bufferRows: 1000);
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => source.BeginEpoch(new RandomStream(1)));
        StringAssert.Contains(e.Message, $"returned {answer} from Read when asked for up to 256 rows");
        StringAssert.Contains(e.Message, "IRowStream.Read must return between 0 and the rows asked for");
    }

    [TestMethod]
    public void MinibatchSourcesNameTheirArguments()
    {
        var data = new DataMatrix(10, 2, new float[20]);
        foreach (IMinibatchSource source in new IMinibatchSource[] { new ShuffledMinibatches(data), new StreamingMinibatches(new MatrixStream(data, 3), 4) })
        {
            string name = source.GetType().Name;
            // Before an epoch begins both refuse (the shuffled source returned 0, which says the epoch is over).
            StringAssert.Contains(Assert.ThrowsExactly<InvalidOperationException>(() => source.NextBatch(new float[20], 10), name).Message, "Call BeginEpoch first", name);
            // The state is checked before the arguments, in both alike.
            StringAssert.Contains(Assert.ThrowsExactly<InvalidOperationException>(() => source.NextBatch(new float[1], -1), name).Message, "Call BeginEpoch first", name);
            Assert.AreEqual("random", Assert.ThrowsExactly<ArgumentNullException>(() => source.BeginEpoch(null!), name).ParamName, name);
            source.BeginEpoch(new RandomStream(1));
            var small = Assert.ThrowsExactly<ArgumentException>(() => source.NextBatch(new float[5], 3), name);
            Assert.AreEqual("destination", small.ParamName, name);
            StringAssert.Contains(small.Message, "fewer than 3 rows × 2 columns", name);
            Assert.AreEqual("rows", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => source.NextBatch(new float[20], -1), name).ParamName, name);
            // Refused before any row was taken: the epoch still hands out all ten.
            float[] all = new float[20];
            Assert.AreEqual(10, source.NextBatch(all, 10), name);
        }
    }

    // A buffer of no rows would hand out nothing, and rows of no values nothing either: both are refused where they are given, naming the argument.
    [TestMethod]
    public void AnEmptyBufferOrRowsOfNoValuesAreRefused()
    {
        var data = new DataMatrix(5, 1, new float[5]);
        Assert.AreEqual("bufferRows", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new StreamingMinibatches(new MatrixStream(data, 3), 0)).ParamName);
        Assert.AreEqual("stream", Assert.ThrowsExactly<ArgumentException>(() => new StreamingMinibatches(new MatrixStream(new DataMatrix(5, 0, []), 3), 4)).ParamName);
        Assert.AreEqual(1, new StreamingMinibatches(new MatrixStream(data, 3), 1).BufferRows, "a buffer of one row is the least");
    }

    // Rows is the stream's count whenever an int holds it, int.MaxValue included; one more is unknown, not a wrapped negative.
    [TestMethod]
    public void RowsUpToIntMaxValueAreKnownAndMoreAreNot()
    {
        Assert.AreEqual(int.MaxValue, new StreamingMinibatches(new Claiming(int.MaxValue), 1).Rows);
        Assert.IsNull(new StreamingMinibatches(new Claiming(int.MaxValue + 1L), 1).Rows);
        Assert.IsNull(new StreamingMinibatches(new Claiming(null), 1).Rows);
    }

    // An epoch's order follows from the random stream it is given alone, not from the epochs before it (a resumed run draws its
    // epoch again from the saved stream, and a second run over one source draws from its own): after an epoch from stream 1, an epoch
    // from stream 2 is the order a fresh source draws from stream 2.
    [TestMethod]
    public void AnEpochsOrderFollowsFromItsRandomStreamAlone()
    {
        var data = new DataMatrix(10, 1, Enumerable.Range(0, 10).Select(i => (float)i).ToArray());
        float[] Order(IMinibatchSource source, RandomStream random)
        {
            source.BeginEpoch(random);
            float[] order = new float[10];
            Assert.AreEqual(10, source.NextBatch(order, 10));
            return order;
        }
        foreach (Func<IMinibatchSource> make in new Func<IMinibatchSource>[] { () => new ShuffledMinibatches(data), () => new StreamingMinibatches(new MatrixStream(data, 3), 10) })
        {
            IMinibatchSource used = make();
            float[] first = Order(used, new RandomStream(1));
            float[] fresh = Order(make(), new RandomStream(2));
            string name = used.GetType().Name;
            CollectionAssert.AreNotEqual(first, fresh, $"{name}: the two streams draw different orders, or the test proves nothing");
            CollectionAssert.AreEqual(fresh, Order(used, new RandomStream(2)), name);
        }
    }

    /// <summary>A stream of one column that claims <paramref name="rows"/> rows and holds none.</summary>
    private sealed class Claiming(long? rows) : IRowStream
    {
        public int Columns => 1;
        public long? Rows => rows;
        public void Restart() { }
        public int Read(Span<float> destination, int count) => 0;
    }

    /// <summary>A stream of 2 columns whose Read returns <paramref name="answer"/> whatever it is asked.</summary>
    private sealed class Answering(int answer) : IRowStream
    {
        public int Columns => 2;
        public long? Rows => null;
        public void Restart() { }
        public int Read(Span<float> destination, int rows) => answer;
    }

    /// <summary>Rows of one value each, row r holding r.</summary>
    private sealed class WideRows(int columns, int rows) : IRowStream
    {
        private int _next;
        public int Columns => columns;
        public long? Rows => rows;
        public void Restart() => _next = 0;

        public int Read(Span<float> destination, int count)
        {
            int n = Math.Min(count, rows - _next);
            for (int r = 0; r < n; r++) destination.Slice(r * columns, columns).Fill(_next + r);
            _next += n;
            return n;
        }
    }
}
