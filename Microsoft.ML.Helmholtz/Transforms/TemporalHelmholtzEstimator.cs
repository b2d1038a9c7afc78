using Microsoft.ML.Data;
using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Temporal;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Helmholtz.Transforms;

/// <summary>
/// Trains a <see cref="TemporalHelmholtzMachine"/> on the sequences of an IDataView (one row per
/// sequence, see <see cref="TemporalHelmholtzOptions"/>) and gives a <see cref="TemporalHelmholtzTransformer"/>
/// that adds each sequence's log-likelihood, its frames' log-likelihoods and, when asked, its one-step predictions.
/// </summary>
public sealed class TemporalHelmholtzEstimator : IEstimator<TemporalHelmholtzTransformer>
{
    private readonly IHostEnvironment? _environment;

    internal TemporalHelmholtzEstimator(IHostEnvironment? environment, TemporalHelmholtzOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _environment = environment;
        Options = options.Copy();
        Check(Options);
    }

    public TemporalHelmholtzOptions Options { get; }

    private static void Check(TemporalHelmholtzOptions o)
    {
        if (string.IsNullOrEmpty(o.InputColumnName)) throw new ArgumentException("TemporalHelmholtzOptions.InputColumnName must name the column of frames.", nameof(o));
        if (o.FrameSize <= 0) throw new ArgumentOutOfRangeException(nameof(o), o.FrameSize, "TemporalHelmholtzOptions.FrameSize must give the values per frame (a positive number).");
        if (o.RecurrentUnits <= 0) throw new ArgumentOutOfRangeException(nameof(o), o.RecurrentUnits, "TemporalHelmholtzOptions.RecurrentUnits must be positive.");
        if (o.Epochs < 0 || o.BatchSequences <= 0 || o.TruncationSteps < 0 || o.Samples <= 0 || o.PredictionSamples <= 0 || o.TrainingSamples <= 0)
            throw new ArgumentOutOfRangeException(nameof(o), "TemporalHelmholtzOptions: Epochs and TruncationSteps must be 0 or more; BatchSequences, Samples, PredictionSamples and TrainingSamples positive.");
        if (!(o.LearningRate > 0) || !float.IsFinite(o.LearningRate)) throw new ArgumentOutOfRangeException(nameof(o), o.LearningRate, "TemporalHelmholtzOptions.LearningRate must be positive and finite.");
        HelmholtzArchitecture architecture = Architecture(o);
        if (architecture.Visible.Size != o.FrameSize)
            throw new ArgumentException($"TemporalHelmholtzOptions: the architecture {architecture} has {architecture.Visible.Size} visible units, but FrameSize is {o.FrameSize}.", nameof(o));
        if (HelmholtzMachineEstimator.CreateRule(o.LearningRule, samples: o.TrainingSamples).Unsupported(architecture) is { } reason)
            throw new NotSupportedException($"TemporalHelmholtzOptions.LearningRule {o.LearningRule}: {reason}");
    }

    internal static HelmholtzArchitecture Architecture(TemporalHelmholtzOptions o) => HelmholtzArchitecture.Parse(o.Architecture ?? $"{o.FrameSize}bs-200g");

    /// <summary>The input's frames per row: the column's size over the frame size, checked.</summary>
    internal static int Frames(TemporalHelmholtzOptions o, int vectorSize)
    {
        if (vectorSize % o.FrameSize != 0)
            throw new ArgumentOutOfRangeException("inputSchema", $"Schema mismatch for input column '{o.InputColumnName}': it is a vector of {vectorSize} values, not a whole number of frames of {o.FrameSize} (TemporalHelmholtzOptions.FrameSize).");
        return vectorSize / o.FrameSize;
    }

    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        InputColumn.Check(inputSchema, Options.InputColumnName);
        // A shape records that a vector's size is known, not the size: any size gives the same shape.
        return SchemaShapes.Add(inputSchema, TemporalColumns.Added(Options, 1));
    }

    public TemporalHelmholtzTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        TemporalHelmholtzOptions o = Options;
        DataViewSchema.Column column = InputColumn.Check(input.Schema, o.InputColumnName);
        int size = ((VectorDataViewType)column.Type).Size, frames = Frames(o, size);
        var values = new List<float>();
        int sequences = 0;
        using (DataViewRowCursor cursor = input.GetRowCursor([column]))
        {
            ValueGetter<VBuffer<float>> getter = cursor.GetGetter<VBuffer<float>>(column);
            VBuffer<float> row = default;
            var dense = new float[size];
            while (cursor.MoveNext())
            {
                getter(ref row);
                row.CopyTo(dense);
                values.AddRange(dense);
                sequences++;
            }
        }
        if (sequences == 0) throw new ArgumentException($"The input column '{o.InputColumnName}' has no rows: at least {o.BatchSequences} sequences are needed to train.", nameof(input));
        var data = new SequenceSet(sequences, frames, 1, o.FrameSize, values.ToArray());
        var model = TemporalHelmholtzMachine.Create(Architecture(o), o.RecurrentUnits, o.Seed);
        using IChannel? channel = _environment?.Register("TemporalHelmholtzMachine").Start("Training");
        new TemporalTrainer(HelmholtzMachineEstimator.CreateRule(o.LearningRule, samples: o.TrainingSamples), new TemporalTrainingOptions
        {
            Epochs = o.Epochs, BatchSequences = o.BatchSequences, TruncationSteps = o.TruncationSteps, LearningRate = o.LearningRate, Seed = o.Seed,
        }).Train(model, data, new Progress<TemporalEpochReport>(r =>
            channel?.Info(MessageSensitivity.None, "epoch {0}: {1} {2:F3} nats per frame", r.Epoch, r.Objective, r.TrainObjective)));
        return new TemporalHelmholtzTransformer(model, o, frames);
    }
}
