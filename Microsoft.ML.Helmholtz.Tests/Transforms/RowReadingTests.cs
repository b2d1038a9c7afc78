using Microsoft.ML.Data;
using Microsoft.ML.Helmholtz.Learning;
using Microsoft.ML.Helmholtz.Tests.Support;
using Microsoft.ML.Helmholtz.Transforms;

namespace Microsoft.ML.Helmholtz.Tests.Transforms;

/// <summary>
/// How the rows of an IDataView are read: each row alone (one of another length than the column declares is an
/// error naming it, never padded with the row before's values), the row named rightly under parallel cursors,
/// and validation data of any row count.
/// </summary>
[TestClass]
public sealed class RowReadingTests
{
    /// <summary>A row whose vector's size only a schema definition declares.</summary>
    private sealed class UndeclaredRow
    {
        public float[] Pixels { get; set; } = [];
        public int Id { get; set; }
    }

    private static HelmholtzMachineOptions Options(Action<HelmholtzMachineOptions>? change = null)
    {
        var o = new HelmholtzMachineOptions { InputColumnName = "Pixels", Architecture = "20b-10g-8g", Epochs = 1, BatchSize = 10, Samples = 5, Seed = 1 };
        change?.Invoke(o);
        return o;
    }

    private static ScoredRow[] Scored(MLContext ml, IDataView view) => ml.Data.CreateEnumerable<ScoredRow>(view, reuseRowObject: false).ToArray();

    /// <summary>Reads the view's rows until the error it must end with, counting the rows served before it.</summary>
    private static (TException Error, int Served) ReadUntilError<TException>(MLContext ml, IDataView view, string name) where TException : Exception
    {
        int served = 0;
        var e = Assert.ThrowsExactly<TException>(() =>
        {
            foreach (ScoredRow _ in ml.Data.CreateEnumerable<ScoredRow>(view, reuseRowObject: true)) served++;
        }, name);
        return (e, served);
    }

    private static void AssertLength(Action action, string data, string row, int length)
    {
        var e = Assert.ThrowsExactly<InvalidOperationException>(action);
        StringAssert.Contains(e.Message, $"{data}: column 'Pixels', {row} holds {length} values, but the column is declared a vector of 20: give every row the column's size.");
    }

    /// <summary>
    /// Streamed data that gives other rows on a later pass than on the pass that counted them is an error that says so: fewer
    /// rows once blamed BatchSize ("no whole minibatch"), or ran short epochs, and more ran longer ones, each without a word. The
    /// threshold's pass is checked too. Data that gives the same rows every pass trains as before.
    /// </summary>
    [TestMethod]
    [DataRow(3, 0, "gave 0 rows")]
    [DataRow(3, 35, "gave 35 rows")]
    [DataRow(3, 90, "gave more rows")]
    [DataRow(4, 35, "gave 35 rows")]   // the epochs' passes agree; the anomaly threshold's pass is the one that changes
    public void StreamedDataThatChangesBetweenPassesIsAnErrorSayingSo(int passesAlike, int laterRows, string gave)
    {
        var ml = new MLContext(1);
        PixelRow[] rows = TransformTestData.Rows(60, 3);
        int passes = 0;
        // Pass 1 tries to read it into memory (over a budget of 0 it gives up), pass 2 counts it, then one pass per epoch (2) and the threshold's.
        IEnumerable<PixelRow> Changing()
        {
            int n = ++passes <= passesAlike ? rows.Length : laterRows;
            for (int i = 0; i < n; i++) yield return rows[i % rows.Length];
        }
        IDataView data = ml.Data.LoadFromEnumerable(Changing());
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => ml.AnomalyDetection.Trainers.HelmholtzMachine(Options(o =>
        {
            o.MemoryBudgetBytes = 0; o.Epochs = 2;
        })).Fit(data));
        StringAssert.Contains(e.Message, $"The training data {gave} on a later pass, but 60 when they were counted: streamed data must give the same rows on every pass");
        Assert.AreEqual(passesAlike + 1, passes, "the first pass that changed is the one refused");

        passes = 0;
        laterRows = rows.Length;
        ml.AnomalyDetection.Trainers.HelmholtzMachine(Options(o => { o.MemoryBudgetBytes = 0; o.Epochs = 2; })).Fit(data);
        Assert.AreEqual(5, passes, "the passes: the memory budget's, the count's, two epochs', the threshold's");
    }

    /// <summary>A view that claims a row count of its own, passing everything else to the view it wraps.</summary>
    private sealed class ClaimedCount(IDataView inner, long claimed) : IDataView
    {
        public DataViewSchema Schema => inner.Schema;
        public bool CanShuffle => inner.CanShuffle;
        public long? GetRowCount() => claimed;
        public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null) => inner.GetRowCursor(columnsNeeded, rand);
        public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) => inner.GetRowCursorSet(columnsNeeded, n, rand);
    }

    // Data read into memory that gives fewer rows than its GetRowCount said is an error, not trained on with rows of zeros in their place.
    [TestMethod]
    public void DataThatGivesFewerRowsThanItsCountSaidIsAnError()
    {
        var ml = new MLContext(1);
        IDataView data = new ClaimedCount(ml.Data.LoadFromEnumerable(TransformTestData.Rows(50, 1)), 60);
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => ml.Transforms.HelmholtzMachine(Options()).Fit(data));
        StringAssert.Contains(e.Message, "training data said it has 60 rows but gave 50");
    }

    [TestMethod]
    [DataRow(19)]
    [DataRow(21)]
    [DataRow(0)]
    public void ARowOfAnotherLengthThanTheColumnDeclaresIsAnErrorNamingTheRow(int length)
    {
        var ml = new MLContext(1);
        IDataView good = ml.Data.LoadFromEnumerable(TransformTestData.Rows(50, 1));
        var model = ml.Transforms.HelmholtzMachine(Options()).Fit(good);
        PixelRow[] rows = TransformTestData.Rows(10, 2);
        rows[5].Pixels = TransformTestData.Resized(rows[5].Pixels, length);
        var definition = SchemaDefinition.Create(typeof(UndeclaredRow));
        definition["Pixels"].ColumnType = new VectorDataViewType(NumberDataViewType.Single, PixelRow.Size);
        IDataView attributed = ml.Data.LoadFromEnumerable(rows);
        IDataView defined = ml.Data.LoadFromEnumerable(rows.Select(r => new UndeclaredRow { Pixels = r.Pixels, Id = r.Id }), definition);
        using var onnx = model.ToOnnxRuntime(ml, batchRows: 4);
        foreach (IDataView data in new[] { attributed, defined })
        {
            Assert.AreEqual(new VectorDataViewType(NumberDataViewType.Single, 20), data.Schema["Pixels"].Type, "the premise: the schema declares 20 values");
            AssertLength(() => Scored(ml, model.Transform(data)), "Transform", "row 5", length);
            AssertLength(() => Scored(ml, onnx.Transform(data)), "Transform", "row 5", length);
            AssertLength(() => ml.Transforms.HelmholtzMachine(Options()).Fit(data), "training data", "row 5", length);                                // read into memory
            AssertLength(() => ml.Transforms.HelmholtzMachine(Options(o => o.MemoryBudgetBytes = 0)).Fit(data), "training data", "row 5", length);   // streamed
            AssertLength(() => ml.Transforms.HelmholtzMachine(Options(o => o.ValidationData = data)).Fit(good), "validation data", "row 5", length);
        }
        // A PredictionEngine after a row of ones: a short row took its missing slots from it.
        foreach (ITransformer scorer in new ITransformer[] { model, onnx })
        {
            var engine = ml.Model.CreatePredictionEngine<PixelRow, ScoredRow>(scorer);
            engine.Predict(new PixelRow { Pixels = Enumerable.Repeat(1f, 20).ToArray() });
            AssertLength(() => engine.Predict(rows[5]), "Prediction", "row 1", length);
            Assert.AreEqual(Scored(ml, model.Transform(ml.Data.LoadFromEnumerable(rows[..5])))[4].LogLikelihood, engine.Predict(rows[4]).LogLikelihood, 1e-5f,
                "the engine goes on scoring rows of the column's size");
        }
    }

    [TestMethod]
    public void ABadValueReadThroughAParallelCursorSetIsNamedByTheRowsId()
    {
        var ml = new MLContext(1);
        var model = ml.Transforms.HelmholtzMachine(Options()).Fit(ml.Data.LoadFromEnumerable(TransformTestData.Rows(50, 1)));
        PixelRow[] rows = TransformTestData.Rows(3000, 2);
        rows[2345].Pixels[5] = float.NaN;
        IDataView scored = model.Transform(ml.Data.Cache(ml.Data.LoadFromEnumerable(rows)));
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => Scored(ml, scored));
        StringAssert.Contains(e.Message, "Transform: column 'Pixels', row 2345, slot 5 is NaN");
        // Four cursors, each dealt some of the rows (as ML.NET's trainers ask for them): the one that meets the row
        // names it by its ID, which a cache gives as the row's index.
        List<string> errors = ParallelCursors.ErrorsReadingAll(scored, "LogLikelihood");
        Assert.HasCount(1, errors, "one cursor meets the row");
        StringAssert.Contains(errors[0], "Transform: column 'Pixels', the row with ID 2345, slot 5 is NaN");
        // One cursor over the rows shuffled: its position is not the row's index (it once named "row 190" here).
        StringAssert.Contains(ParallelCursors.ErrorReadingShuffled(scored, "LogLikelihood"), "Transform: column 'Pixels', the row with ID 2345, slot 5 is NaN");
    }

    /// <summary>
    /// A row that cannot be read ends the batch read ahead before it: the rows before it are served (Preview, the first rows
    /// of a view, a reader that stops early) with the values they have without it, and its error comes when the cursor
    /// reaches it, naming it. It once failed the first MoveNext for a row a thousand rows on, in the managed and the ONNX
    /// Runtime transformers alike. A bad row that starts a batch fails when it is reached, as before.
    /// </summary>
    [TestMethod]
    [DataRow(25)]
    [DataRow(16)]   // the first row of a cursor's second batch (batches grow from 16 rows)
    [DataRow(35)]
    [DataRow(0)]
    public void ARowThatCannotBeReadFailsOnlyWhenTheCursorReachesIt(int bad)
    {
        var ml = new MLContext(1);
        var model = ml.Transforms.HelmholtzMachine(Options()).Fit(ml.Data.LoadFromEnumerable(TransformTestData.Rows(50, 1)));
        PixelRow[] rows = TransformTestData.Rows(40, 2);
        rows[bad].Pixels[3] = 2;
        IDataView data = ml.Data.LoadFromEnumerable(rows);
        using var onnx = model.ToOnnxRuntime(ml, batchRows: 32);
        foreach (ITransformer scorer in new ITransformer[] { model, onnx })
        {
            string name = scorer == model ? "managed" : "ONNX Runtime";
            IDataView scored = scorer.Transform(data);
            ScoredRow[] before = ml.Data.CreateEnumerable<ScoredRow>(scored, reuseRowObject: false).Take(bad).ToArray();
            ScoredRow[] alone = bad == 0 ? [] : Scored(ml, scorer.Transform(ml.Data.LoadFromEnumerable(rows[..bad])));
            Assert.HasCount(bad, before, name);
            for (int r = 0; r < bad; r++)
            {
                Assert.AreEqual(alone[r].Id, before[r].Id, $"{name}, row {r}");
                Assert.AreEqual(alone[r].LogLikelihood, before[r].LogLikelihood, 1e-6f * Math.Abs(alone[r].LogLikelihood), $"{name}, row {r}");
            }
            var (e, served) = ReadUntilError<InvalidOperationException>(ml, scored, name);
            Assert.AreEqual(bad, served, $"{name}: the rows before the bad one are served");
            StringAssert.Contains(e.Message, $"Transform: column 'Pixels', row {bad}, slot 3 is 2", name);
            // The cursor does not go on past the row: every later MoveNext throws the same (a bad row that started a batch was
            // once skipped by the next MoveNext, which served the row after it under its position).
            using DataViewRowCursor cursor = scored.GetRowCursor(scored.Schema);
            for (int r = 0; r < bad; r++) Assert.IsTrue(cursor.MoveNext());
            for (int again = 0; again < 2; again++)
            {
                StringAssert.Contains(Assert.ThrowsExactly<InvalidOperationException>(() => cursor.MoveNext()).Message, $"row {bad}, slot 3 is 2", $"{name}, call {again}");
                AssertNotOnARow(cursor, $"{name}, call {again}");
            }
        }
    }

    /// <summary>
    /// After a MoveNext that threw, the cursor is on no row: each getter says so, where the added columns' getters read the row
    /// served before (or an index of -1) and the row ID's the batch's new slot.
    /// </summary>
    private static void AssertNotOnARow(DataViewRowCursor cursor, string name)
    {
        var logLikelihood = cursor.GetGetter<float>(cursor.Schema["LogLikelihood"]);
        var features = cursor.GetGetter<VBuffer<float>>(cursor.Schema["HelmholtzFeatures"]);
        var pixels = cursor.GetGetter<VBuffer<float>>(cursor.Schema["Pixels"]);
        var rowNumber = cursor.GetGetter<int>(cursor.Schema["Id"]);
        var rowId = cursor.GetIdGetter();
        float value = 0;
        int number = 0;
        VBuffer<float> vector = default;
        DataViewRowId id = default;
        foreach (var (column, read) in new (string, Action)[]
        {
            ("LogLikelihood", () => logLikelihood(ref value)), ("HelmholtzFeatures", () => features(ref vector)),
            ("Pixels", () => pixels(ref vector)), ("Id", () => rowNumber(ref number)), ("the row ID", () => rowId(ref id)),
        })
            Assert.AreEqual("The cursor is not on a row.", Assert.ThrowsExactly<InvalidOperationException>(read, $"{name}: {column}").Message, $"{name}: {column}");
        Assert.AreEqual(0, cursor.Batch, name);
    }

    /// <summary>
    /// A source whose own cursor fails at a row (a lazy enumerable, a reader meeting bad bytes) is served up to that row, as a
    /// row whose value cannot be read is: the rows read ahead before it were dropped with the batch, so the first rows of a view
    /// failed for a row no one asked for, and a full read lost up to a batch of rows before the error.
    /// </summary>
    [TestMethod]
    [DataRow(6)]
    [DataRow(30)]
    public void ASourceThatFailsAtARowIsServedUpToIt(int bad)
    {
        var ml = new MLContext(1);
        var model = ml.Transforms.HelmholtzMachine(Options()).Fit(ml.Data.LoadFromEnumerable(TransformTestData.Rows(50, 1)));
        PixelRow[] rows = TransformTestData.Rows(60, 2);
        IEnumerable<PixelRow> FailingAt()
        {
            for (int i = 0; i < rows.Length; i++)
            {
                if (i == bad) throw new InvalidDataException($"source row {i} is bad");
                yield return rows[i];
            }
        }
        IDataView data = ml.Data.LoadFromEnumerable(FailingAt());
        using var onnx = model.ToOnnxRuntime(ml, batchRows: 32);
        foreach (ITransformer scorer in new ITransformer[] { model, onnx })
        {
            string name = scorer == model ? "managed" : "ONNX Runtime";
            IDataView scored = scorer.Transform(data);
            Assert.HasCount(3, Scored(ml, ml.Data.TakeRows(scored, 3)), $"{name}: the first rows of the view");
            var (e, served) = ReadUntilError<InvalidDataException>(ml, scored, name);
            Assert.AreEqual(bad, served, $"{name}: the rows before the failing one are served");
            Assert.AreEqual($"source row {bad} is bad", e.Message, name);
        }
    }

    /// <summary>
    /// A batch whose computation fails (here: the ONNX Runtime transformer disposed under an open cursor) is not served: every
    /// later MoveNext throws the failure. The next MoveNext served the batch's rows with the values of no computation (zeros, or
    /// the batch before's), as if they had been scored.
    /// </summary>
    [TestMethod]
    [DataRow(0)]
    [DataRow(16)]   // the failure in the cursor's second batch
    public void ABatchWhoseComputationFailedIsNotServed(int readFirst)
    {
        var ml = new MLContext(1);
        var model = ml.Transforms.HelmholtzMachine(Options()).Fit(ml.Data.LoadFromEnumerable(TransformTestData.Rows(50, 1)));
        var onnx = model.ToOnnxRuntime(ml);
        IDataView scored = onnx.Transform(ml.Data.LoadFromEnumerable(TransformTestData.Rows(40, 3)));
        using DataViewRowCursor cursor = scored.GetRowCursor(scored.Schema);
        var logLikelihood = cursor.GetGetter<float>(scored.Schema["LogLikelihood"]);
        for (int r = 0; r < readFirst; r++) Assert.IsTrue(cursor.MoveNext());
        onnx.Dispose();
        for (int again = 0; again < 3; again++)
        {
            Assert.ThrowsExactly<ObjectDisposedException>(() => cursor.MoveNext(), $"call {again}");
            AssertNotOnARow(cursor, $"call {again}");
        }
    }

    /// <summary>
    /// A cursor's buffers grow with its batches: a cursor over a few rows of a transformer that batches two million rows holds
    /// about those rows (it allocated every buffer for the two million at once: 344 MB here, as this test measured it before the fix; gigabytes a cursor at 20 million).
    /// </summary>
    [TestMethod]
    public void ACursorsBuffersGrowWithItsBatches()
    {
        var ml = new MLContext(1);
        var model = ml.Transforms.HelmholtzMachine(Options()).Fit(ml.Data.LoadFromEnumerable(TransformTestData.Rows(50, 1)));
        using var onnx = model.ToOnnxRuntime(ml, batchRows: 2_000_000);
        IDataView scored = onnx.Transform(ml.Data.LoadFromEnumerable(TransformTestData.Rows(40, 4)));
        long before = GC.GetAllocatedBytesForCurrentThread();
        int rows = 0;
        using (DataViewRowCursor cursor = scored.GetRowCursor(scored.Schema))
        {
            var logLikelihood = cursor.GetGetter<float>(scored.Schema["LogLikelihood"]);
            float value = 0;
            while (cursor.MoveNext()) { logLikelihood(ref value); rows++; }
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.AreEqual(40, rows);
        Assert.IsLessThan(16L << 20, allocated, $"{allocated:N0} bytes allocated by a cursor over 40 rows");
    }

    /// <summary>
    /// A cursor's first batch is 16 rows and its batches grow to the transformer's 1,024: the first row of a view is served
    /// after 16 rows are read and scored, not a whole batch (Preview, a reader that stops early), and every row, on either
    /// side of the batches' edges, has the bits a PredictionEngine gives it alone.
    /// </summary>
    [TestMethod]
    public void TheFirstRowsAreServedWithoutAWholeBatch()
    {
        var ml = new MLContext(1);
        var model = ml.Transforms.HelmholtzMachine(Options()).Fit(ml.Data.LoadFromEnumerable(TransformTestData.Rows(50, 1)));
        PixelRow[] rows = TransformTestData.Rows(3000, 2);
        int read = 0;
        IEnumerable<PixelRow> Counted()
        {
            foreach (PixelRow row in rows)
            {
                read++;
                yield return row;
            }
        }
        int RowsReadToServeTheFirst(ITransformer transformer)
        {
            read = 0;
            IDataView scored = transformer.Transform(ml.Data.LoadFromEnumerable(Counted()));
            using DataViewRowCursor cursor = scored.GetRowCursor(scored.Schema);
            var logLikelihood = cursor.GetGetter<float>(scored.Schema["LogLikelihood"]);
            Assert.IsTrue(cursor.MoveNext());
            float value = 0;
            logLikelihood(ref value);
            return read;
        }
        Assert.AreEqual(16, RowsReadToServeTheFirst(model), "rows read (and scored) to serve the first");
        // A transformer that batches fewer rows than a first batch's 16 reads no more than it batches, from the first batch on.
        using (var onnx = model.ToOnnxRuntime(ml, batchRows: 4))
            Assert.AreEqual(4, RowsReadToServeTheFirst(onnx), "rows read (and scored) to serve the first, batching 4 rows");
        ScoredRow[] all = Scored(ml, model.Transform(ml.Data.LoadFromEnumerable(rows)));
        var engine = ml.Model.CreatePredictionEngine<PixelRow, ScoredRow>(model);
        foreach (int r in new[] { 0, 15, 16, 79, 80, 335, 336, 1359, 1360, 2383, 2384, 2999 })   // batches of 16, 64, 256, 1024, 1024, …
        {
            ScoredRow alone = engine.Predict(rows[r]);
            Assert.AreEqual(alone.LogLikelihood, all[r].LogLikelihood, $"row {r}");
            CollectionAssert.AreEqual(alone.HelmholtzFeatures, all[r].HelmholtzFeatures, $"row {r}");
        }
    }

    [TestMethod]
    public void ValidationDataOfUnknownRowCountIsReadAsItComes()
    {
        var ml = new MLContext(1);
        IDataView train = ml.Data.LoadFromEnumerable(TransformTestData.Rows(200, 1));
        IDataView test = ml.Data.TrainTestSplit(ml.Data.LoadFromEnumerable(TransformTestData.Rows(6000, 2)), 0.5, seed: 1).TestSet;
        Assert.IsNull(test.GetRowCount(), "the premise: a split's test set does not know its row count");
        IDataView listed = ml.Data.LoadFromEnumerable(ml.Data.CreateEnumerable<PixelRow>(test, false).ToList());
        Assert.IsTrue(listed.GetRowCount() > 2048, $"more rows ({listed.GetRowCount()}) than the growing array's first sizes");
        EpochReport[] Fit(IDataView validation)
        {
            var reports = new List<EpochReport>();
            ml.Transforms.HelmholtzMachine(Options(o =>
            {
                o.Epochs = 2; o.ValidationData = validation; o.ValidationSamples = 5; o.Progress = new SynchronousProgress<EpochReport>(reports.Add);
            })).Fit(train);
            return reports.ToArray();
        }
        EpochReport[] expected = Fit(listed);
        foreach ((string how, IDataView validation) in new[] { ("the test set", test), ("its cache, unread", ml.Data.Cache(test)) })
        {
            EpochReport[] reports = Fit(validation);
            Assert.HasCount(2, reports, how);
            Assert.IsTrue(reports.All(r => r.ValidationFreeEnergy is not null && r.ValidationLogLikelihood is not null), $"{how}: each epoch has its validation figures");
            CollectionAssert.AreEqual(expected.Select(r => r.ValidationFreeEnergy).ToArray(), reports.Select(r => r.ValidationFreeEnergy).ToArray(), $"{how}: the same rows as the list of them");
            CollectionAssert.AreEqual(expected.Select(r => r.ValidationLogLikelihood).ToArray(), reports.Select(r => r.ValidationLogLikelihood).ToArray(), how);
        }
    }

    /// <summary>
    /// The view it wraps, whose cursor gives each row a Batch (Position / 5 + 3) and an ID (7 · Position + 11) of its own, and
    /// which counts its cursors not yet disposed.
    /// </summary>
    private sealed class NumberedView(IDataView inner) : IDataView
    {
        private int _open;
        public int OpenCursors => Volatile.Read(ref _open);
        public bool CanShuffle => false;
        public DataViewSchema Schema => inner.Schema;
        public long? GetRowCount() => inner.GetRowCount();
        public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
        {
            Interlocked.Increment(ref _open);
            return new Cursor(inner.GetRowCursor(columnsNeeded), this);
        }

        public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) => [GetRowCursor(columnsNeeded)];

        private sealed class Cursor(DataViewRowCursor inner, NumberedView view) : DataViewRowCursor
        {
            public override DataViewSchema Schema => inner.Schema;
            public override long Position => inner.Position;
            public override long Batch => inner.Position / 5 + 3;
            public override bool MoveNext() => inner.MoveNext();
            public override ValueGetter<DataViewRowId> GetIdGetter() => (ref DataViewRowId id) => id = new DataViewRowId((ulong)(7 * inner.Position + 11), 0);
            public override bool IsColumnActive(DataViewSchema.Column column) => inner.IsColumnActive(column);
            public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column) => inner.GetGetter<TValue>(column);

            protected override void Dispose(bool disposing)
            {
                if (disposing)
                {
                    inner.Dispose();
                    Interlocked.Decrement(ref view._open);
                }
                base.Dispose(disposing);
            }
        }
    }

    // The batched cursor reads rows ahead, yet serves each row with the input's Batch and row ID for that row (over
    // batches of 16, 64 and the rest), and its own Position: -1 again once past the last row. Disposing the cursor disposes
    // the input's, whether it scores rows or only passes the input's columns through.
    [TestMethod]
    public void EachRowKeepsTheInputsBatchAndId()
    {
        var ml = new MLContext(1);
        IDataView data = ml.Data.LoadFromEnumerable(TransformTestData.Rows(100, 1));
        var numbered = new NumberedView(data);
        IDataView scored = ml.Transforms.HelmholtzMachine(Options()).Fit(data).Transform(numbered);
        DataViewRowCursor cursor = scored.GetRowCursor([scored.Schema["LogLikelihood"]]);
        ValueGetter<DataViewRowId> getId = cursor.GetIdGetter();
        DataViewRowId id = default;
        int i = 0;
        for (; cursor.MoveNext(); i++)
        {
            Assert.AreEqual(i, cursor.Position);
            Assert.AreEqual(i / 5 + 3, cursor.Batch, $"row {i}'s batch");
            getId(ref id);
            Assert.AreEqual(new DataViewRowId((ulong)(7 * i + 11), 0), id, $"row {i}'s ID");
        }
        Assert.AreEqual(100, i);
        Assert.AreEqual(100L, scored.GetRowCount(), "the input's row count");
        Assert.AreEqual(-1, cursor.Position, "past the last row");
        cursor.Dispose();
        Assert.AreEqual(0, numbered.OpenCursors, "the scoring cursor disposed the input's");
        using (DataViewRowCursor passing = scored.GetRowCursor([scored.Schema["Id"]]))
        {
            Assert.IsTrue(passing.MoveNext());
            // A column it was not asked for is refused naming it, as the scoring cursor refuses one.
            StringAssert.Contains(Assert.ThrowsExactly<InvalidOperationException>(() => passing.GetGetter<float>(scored.Schema["LogLikelihood"])).Message,
                "Column 'LogLikelihood' is not active in this cursor.");
        }
        Assert.AreEqual(0, numbered.OpenCursors, "the pass-through cursor disposed the input's");
    }

    /// <summary>
    /// A row mapper's row (what a PredictionEngine computes in) whose input cannot be read fails again when its getter is called
    /// again at the same position: a failed read leaves no values claimed for the row, so the second call cannot serve the row
    /// before's log-likelihood as this row's.
    /// </summary>
    [TestMethod]
    public void AMappedRowThatFailedToReadFailsAgainAtTheSamePosition()
    {
        var ml = new MLContext(1);
        var model = ml.Transforms.HelmholtzMachine(Options()).Fit(ml.Data.LoadFromEnumerable(TransformTestData.Rows(50, 1)));
        PixelRow[] rows = TransformTestData.Rows(2, 2);
        rows[1].Pixels[3] = 2;
        IDataView data = ml.Data.LoadFromEnumerable(rows);
        IRowToRowMapper mapper = model.GetRowToRowMapper(data.Schema);
        DataViewRowCursor cursor = data.GetRowCursor(data.Schema);
        using DataViewRow row = mapper.GetRow(cursor, mapper.OutputSchema);   // disposes the cursor with it
        ValueGetter<float> logLikelihood = row.GetGetter<float>(mapper.OutputSchema["LogLikelihood"]);
        float value = float.NaN;
        Assert.IsTrue(cursor.MoveNext());
        logLikelihood(ref value);
        Assert.IsTrue(float.IsFinite(value), $"the premise: the good row scores ({value})");
        Assert.IsTrue(cursor.MoveNext());
        for (int again = 0; again < 2; again++)
            StringAssert.Contains(Assert.ThrowsExactly<InvalidOperationException>(() => logLikelihood(ref value)).Message, "row 1, slot 3 is 2", $"call {again}");
    }
}
