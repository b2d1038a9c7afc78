using Microsoft.ML.Data;
using Microsoft.ML.Helmholtz.Numerics;
using Microsoft.ML.Helmholtz.Transforms;

namespace Microsoft.ML.Helmholtz.Tests.Transforms;

[TestClass]
/// <summary>The temporal transformer's rows under threads: an engine shared by threads is named as the engine; legitimate uses are not refused.</summary>
public sealed class TemporalThreadGuardTests
{
    private const int FrameCount = 12, FrameSize = 8;

    public sealed class Sequence { [VectorType(FrameCount * FrameSize)] public float[] Frames { get; set; } = []; }

    public sealed class Scored
    {
        public float LogLikelihood { get; set; }
        [VectorType(FrameCount)] public float[] FrameLogLikelihoods { get; set; } = [];
    }

    private static Sequence[] MovingDot(int count, ulong seed)
    {
        var random = new RandomStream(seed);
        return Enumerable.Range(0, count).Select(_ =>
        {
            int start = random.NextInt(FrameSize);
            var values = new float[FrameCount * FrameSize];
            for (int t = 0; t < FrameCount; t++) values[t * FrameSize + (start + t) % FrameSize] = 1f;
            return new Sequence { Frames = values };
        }).ToArray();
    }

    private static (MLContext, TemporalHelmholtzTransformer) Fit(int samples)
    {
        var ml = new MLContext(seed: 1);
        var o = new TemporalHelmholtzOptions
        {
            InputColumnName = "Frames", FrameSize = FrameSize, Architecture = "8b-6g", RecurrentUnits = 16, Epochs = 1, BatchSequences = 8,
            LearningRate = 0.01, Seed = 3, Samples = samples,
        };
        return (ml, ml.Transforms.TemporalHelmholtzMachine(o).Fit(ml.Data.LoadFromEnumerable(MovingDot(16, 1))));
    }

    /// <summary>An engine shared by two threads is named as the docs' threads table quotes it, for the temporal transformer as for the frame one.</summary>
    [TestMethod]
    public void ATemporalPredictionEngineSharedByThreadsIsNamedAsTheDocsSay()
    {
        var (ml, transformer) = Fit(samples: 2000);
        var engine = ml.Model.CreatePredictionEngine<Sequence, Scored>(transformer);
        Sequence[] rows = MovingDot(8, 2);
        var failures = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Parallel.For(0, 2, new ParallelOptions { MaxDegreeOfParallelism = 2 }, t =>
        {
            for (int i = 0; failures.IsEmpty && clock.Elapsed < TimeSpan.FromSeconds(30); i++)
            {
                try { engine.Predict(rows[(2 * i + t) % rows.Length]); }
                catch (Exception e) { failures.Enqueue(e); }
            }
        });
        Assert.IsFalse(failures.IsEmpty, "never met");
        foreach (Exception e in failures)
        {
            Exception inner = e;
            while (inner.InnerException is not null && !inner.Message.Contains("PredictionEngine", StringComparison.Ordinal)) inner = inner.InnerException;
            StringAssert.Contains(inner.Message, "This Helmholtz machine's PredictionEngine row is in use by Predict on another thread", e.ToString());
            StringAssert.Contains(inner.Message, "create one engine per thread");
        }
    }

    /// <summary>Legitimate single-threaded uses: a cursor set read on two threads, and one cursor handed between threads in turn.</summary>
    [TestMethod]
    public void CursorSetsAndACursorHandedBetweenThreadsAreNotRefused()
    {
        var (ml, transformer) = Fit(samples: 50);
        IDataView output = transformer.Transform(ml.Data.LoadFromEnumerable(MovingDot(40, 2)));
        var column = output.Schema["LogLikelihood"];
        var values = new System.Collections.Concurrent.ConcurrentBag<float>();
        DataViewRowCursor[] set = output.GetRowCursorSet([column], 4);
        Parallel.ForEach(set, new ParallelOptions { MaxDegreeOfParallelism = 4 }, cursor =>
        {
            using (cursor)
            {
                var getter = cursor.GetGetter<float>(column);
                float v = 0;
                while (cursor.MoveNext()) { getter(ref v); values.Add(v); }
            }
        });
        Assert.AreEqual(40, values.Count);

        using DataViewRowCursor one = output.GetRowCursor([column]);
        var g = one.GetGetter<float>(column);
        for (int i = 0; i < 40; i++)
        {
            Task.Run(() => { Assert.IsTrue(one.MoveNext()); float v = 0; g(ref v); g(ref v); }).Wait();
        }
        var engine = ml.Model.CreatePredictionEngine<Sequence, Scored>(transformer);
        foreach (var row in MovingDot(4, 3)) Task.Run(() => engine.Predict(row)).Wait();
    }
}
