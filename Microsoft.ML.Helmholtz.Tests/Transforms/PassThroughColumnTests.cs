using Microsoft.ML.Data;
using Microsoft.ML.Helmholtz.Transforms;

namespace Microsoft.ML.Helmholtz.Tests.Transforms;

/// <summary>
/// Columns of the input pass through the transformers. The frame transformer reads rows ahead in batches and copies the values
/// of the rows it holds, which it can do for ML.NET's primitive types and vectors of them: a cursor that asks for a column of
/// another type (an image column, here a registered type of the test's own) is served a row at a time, as usage.md says, with
/// the same values. The temporal transformer scores a row at a time and passes such a column.
/// </summary>
[TestClass]
public sealed class PassThroughColumnTests
{
    /// <summary>A value of a type ML.NET knows only through its registration (as images are).</summary>
    public sealed class Blob
    {
        public int Value { get; set; }
    }

    private sealed class BlobType : StructuredDataViewType
    {
        public BlobType() : base(typeof(Blob)) { }
        public override bool Equals(DataViewType? other) => other is BlobType;
        public override int GetHashCode() => typeof(BlobType).GetHashCode();
        public override string ToString() => "Blob";
    }

    [AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
    private sealed class BlobTypeAttribute : DataViewTypeAttribute
    {
        public override void Register() => DataViewTypeManager.Register(new BlobType(), typeof(Blob), this);
        public override bool Equals(DataViewTypeAttribute other) => other is BlobTypeAttribute;
        public override int GetHashCode() => typeof(BlobTypeAttribute).GetHashCode();
    }

    private sealed class Row
    {
        [VectorType(20)] public float[] Pixels { get; set; } = [];
        [BlobType] public Blob Thing { get; set; } = new();
        public int Id { get; set; }
    }

    private sealed class Scored
    {
        public float LogLikelihood { get; set; }
        public int Id { get; set; }
    }

    private sealed class ScoredWithThing
    {
        public float LogLikelihood { get; set; }
        [BlobType] public Blob Thing { get; set; } = new();
        public int Id { get; set; }
        [ColumnName("HelmholtzFeatures")] public float[] Features { get; set; } = [];
    }

    private sealed class ScoredWithFeatures
    {
        public float LogLikelihood { get; set; }
        public int Id { get; set; }
        [ColumnName("HelmholtzFeatures")] public float[] Features { get; set; } = [];
    }

    private sealed class ScoredWithPixels
    {
        [VectorType(20)] public float[] Pixels { get; set; } = [];
        public float LogLikelihood { get; set; }
        public int Id { get; set; }
    }

    private sealed class SequenceRow
    {
        [VectorType(24)] public float[] Frames { get; set; } = [];   // 6 frames of 4 values
        [BlobType] public Blob Thing { get; set; } = new();
    }

    private sealed class ScoredSequence
    {
        public float LogLikelihood { get; set; }
        [BlobType] public Blob Thing { get; set; } = new();
    }

    [TestMethod]
    public void TheTemporalTransformerPassesAColumnOfANonPrimitiveType()
    {
        var ml = new MLContext(seed: 1);
        var random = new Random(6);
        SequenceRow[] rows = Enumerable.Range(0, 12).Select(i => new SequenceRow
        {
            Frames = Enumerable.Range(0, 24).Select(_ => (float)random.Next(2)).ToArray(), Thing = new Blob { Value = 100 + i },
        }).ToArray();
        IDataView data = ml.Data.LoadFromEnumerable(rows);
        var model = ml.Transforms.TemporalHelmholtzMachine(new TemporalHelmholtzOptions
            { InputColumnName = "Frames", FrameSize = 4, Architecture = "4b-3g", RecurrentUnits = 4, Epochs = 1, BatchSequences = 4, Samples = 5, Seed = 1 }).Fit(data);
        ScoredSequence[] read = ml.Data.CreateEnumerable<ScoredSequence>(model.Transform(data), reuseRowObject: false).ToArray();
        CollectionAssert.AreEqual(rows.Select(r => r.Thing.Value).ToArray(), read.Select(r => r.Thing.Value).ToArray());
        Assert.IsTrue(read.All(r => float.IsFinite(r.LogLikelihood)));
    }

    [TestMethod]
    public void AColumnOfANonPrimitiveTypeIsServedARowAtATimeWithTheSameValues()
    {
        var ml = new MLContext(seed: 1);
        var random = new Random(5);
        Row[] rows = Enumerable.Range(0, 40).Select(i => new Row
        {
            Pixels = Enumerable.Range(0, 20).Select(_ => (float)random.Next(2)).ToArray(), Thing = new Blob { Value = i }, Id = i,
        }).ToArray();
        IDataView data = ml.Data.LoadFromEnumerable(rows);
        Assert.IsInstanceOfType<BlobType>(data.Schema["Thing"].Type);
        HelmholtzMachineTransformer machine = ml.Transforms.HelmholtzMachine(new HelmholtzMachineOptions
            { InputColumnName = "Pixels", Architecture = "20b-10g-8g", Epochs = 1, BatchSize = 10, Samples = 5, Seed = 1 }).Fit(data);
        IDataView scored = machine.Transform(data);
        Assert.IsInstanceOfType<BlobType>(scored.Schema["Thing"].Type, "the column stays in the schema");

        // Left unread, the rows are computed in batches; asked for, a row at a time: each row's values are the same bits
        // (a row's values do not depend on its batch), and each row's Blob is its own.
        ScoredWithFeatures[] batched = ml.Data.CreateEnumerable<ScoredWithFeatures>(scored, reuseRowObject: false).ToArray();
        ScoredWithThing[] alone = ml.Data.CreateEnumerable<ScoredWithThing>(scored, reuseRowObject: false).ToArray();
        CollectionAssert.AreEqual(rows.Select(r => r.Id).ToArray(), batched.Select(r => r.Id).ToArray());
        CollectionAssert.AreEqual(rows.Select(r => r.Id).ToArray(), alone.Select(r => r.Id).ToArray());
        CollectionAssert.AreEqual(rows.Select(r => r.Thing.Value).ToArray(), alone.Select(r => r.Thing.Value).ToArray());
        Assert.IsTrue(batched.All(r => float.IsFinite(r.LogLikelihood) && r.LogLikelihood < 0));
        for (int i = 0; i < rows.Length; i++)
        {
            Assert.AreEqual(batched[i].LogLikelihood, alone[i].LogLikelihood, 0f, $"row {i}");
            CollectionAssert.AreEqual(batched[i].Features, alone[i].Features, $"row {i}");
        }

        // A PredictionEngine passes on the input's first column (index 0) as it does the others: each row's own pixels and Id.
        Assert.AreEqual(0, data.Schema["Pixels"].Index, "the premise: the pixels are the input's first column");
        var engine = ml.Model.CreatePredictionEngine<Row, ScoredWithPixels>(machine);
        for (int i = 0; i < 3; i++)
        {
            ScoredWithPixels predicted = engine.Predict(rows[i]);
            CollectionAssert.AreEqual(rows[i].Pixels, predicted.Pixels, $"row {i}");
            Assert.AreEqual(i, predicted.Id, $"row {i}");
            Assert.AreEqual(batched[i].LogLikelihood, predicted.LogLikelihood, 0f, $"row {i}: the engine's value is the batch's");
        }
        // The engine's mapper is made for one schema: a row of another (the pixels alone) is refused by name, not read at the wrong columns.
        IRowToRowMapper mapper = machine.GetRowToRowMapper(data.Schema);
        IDataView pixelsOnly = ml.Transforms.SelectColumns("Pixels").Fit(data).Transform(data);
        using (DataViewRowCursor other = pixelsOnly.GetRowCursor(pixelsOnly.Schema))
            Assert.AreEqual("input", Assert.ThrowsExactly<ArgumentException>(() => mapper.GetRow(other, mapper.OutputSchema)).ParamName);
        // A row of one column more is another schema too (its columns would pass through at the wrong places).
        IDataView oneMore = ml.Transforms.CopyColumns("Extra", "Id").Fit(data).Transform(data);
        using (DataViewRowCursor other = oneMore.GetRowCursor(oneMore.Schema))
            Assert.AreEqual("input", Assert.ThrowsExactly<ArgumentException>(() => mapper.GetRow(other, mapper.OutputSchema)).ParamName);
        // A mapper's row with the log-likelihood alone active computes it (the features, not needed, are not), and refuses the
        // getter of a column it was not asked for, as ML.NET's rows do.
        using (DataViewRowCursor input = data.GetRowCursor(data.Schema))
        using (DataViewRow row = mapper.GetRow(input, [mapper.OutputSchema["LogLikelihood"]]))
        {
            Assert.IsTrue(input.MoveNext());
            float logLikelihood = 0;
            row.GetGetter<float>(mapper.OutputSchema["LogLikelihood"])(ref logLikelihood);
            Assert.AreEqual(batched[0].LogLikelihood, logLikelihood, 0f, "row 0 alone, as in the batch");
            Assert.IsFalse(row.IsColumnActive(mapper.OutputSchema["HelmholtzFeatures"]));
            Assert.ThrowsExactly<InvalidOperationException>(() => row.GetGetter<VBuffer<float>>(mapper.OutputSchema["HelmholtzFeatures"]));
        }

        // A cursor that asks for it reads the input's row under it, and refuses off a row as for the other columns.
        DataViewSchema.Column thing = scored.Schema["Thing"];
        using (DataViewRowCursor cursor = scored.GetRowCursor([thing, scored.Schema["LogLikelihood"]]))
        {
            ValueGetter<Blob> getThing = cursor.GetGetter<Blob>(thing);
            Blob value = new();
            Assert.ThrowsExactly<InvalidOperationException>(() => getThing(ref value), "before the first row");
            for (int i = 0; i < rows.Length; i++)
            {
                Assert.IsTrue(cursor.MoveNext());
                Assert.AreEqual(i, cursor.Position);
                getThing(ref value);
                Assert.AreEqual(i, value.Value);
            }
            Assert.IsFalse(cursor.MoveNext());
            StringAssert.Contains(Assert.ThrowsExactly<InvalidOperationException>(() => getThing(ref value)).Message, "not on a row");
        }

        // Dropped before the transform, the rest is read as before.
        IDataView dropped = machine.Transform(ml.Transforms.DropColumns("Thing").Fit(data).Transform(data));
        Assert.IsFalse(dropped.Schema.GetColumnOrNull("Thing").HasValue);
        Assert.AreEqual(rows.Length, ml.Data.CreateEnumerable<Scored>(dropped, reuseRowObject: false).Count());
    }
}
