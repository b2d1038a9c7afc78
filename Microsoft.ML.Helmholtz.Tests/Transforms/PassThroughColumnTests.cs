using Microsoft.ML.Data;
using Microsoft.ML.Helmholtz.Transforms;

namespace Microsoft.ML.Helmholtz.Tests.Transforms;

/// <summary>
/// Columns of the input pass through the transformers. The frame transformer reads rows ahead in batches and copies the values
/// of the rows it holds, which it can do for ML.NET's primitive types and vectors of them: a column of another type (an image
/// column, here a registered type of the test's own) stays in the schema and can be left unread, and a cursor that asks for it
/// is refused naming it, as usage.md says. The temporal transformer scores a row at a time and passes such a column.
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
    public void AColumnOfANonPrimitiveTypeStaysInTheSchemaAndIsRefusedNamedWhenRead()
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

        // Left unread, it is no obstacle: the other columns, the machine's and the input's, are served.
        Scored[] read = ml.Data.CreateEnumerable<Scored>(scored, reuseRowObject: false).ToArray();
        CollectionAssert.AreEqual(rows.Select(r => r.Id).ToArray(), read.Select(r => r.Id).ToArray());
        Assert.IsTrue(read.All(r => float.IsFinite(r.LogLikelihood) && r.LogLikelihood < 0));

        // Asked for, it is refused naming the column and what to do.
        var refused = Assert.ThrowsExactly<NotSupportedException>(() => ml.Data.CreateEnumerable<ScoredWithThing>(scored, reuseRowObject: false).ToArray());
        StringAssert.Contains(refused.Message, "Column 'Thing' is Blob: the Helmholtz transform cannot pass it through beside its own columns");
        StringAssert.Contains(refused.Message, "drop it before");
        // Dropped before the transform, as the message says, the rest is read.
        IDataView dropped = machine.Transform(ml.Transforms.DropColumns("Thing").Fit(data).Transform(data));
        Assert.IsFalse(dropped.Schema.GetColumnOrNull("Thing").HasValue);
        Assert.AreEqual(rows.Length, ml.Data.CreateEnumerable<Scored>(dropped, reuseRowObject: false).Count());
    }
}
