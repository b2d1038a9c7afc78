using Microsoft.ML.Data;
using Microsoft.ML.Helmholtz.Onnx;
using Microsoft.ML.Transforms;

namespace Microsoft.ML.Helmholtz.Transforms;

/// <summary>
/// What a <see cref="HelmholtzMachineTransformer"/> is saved as, with ML.NET's public means only:
/// <list type="number">
/// <item>The input column's check (<see cref="SavedInput"/>): a loaded pipeline refuses a row of another length than the
/// machine reads, or a value it cannot model, naming the column.</item>
/// <item>ML.NET's OnnxTransformer over an ONNX model of the same computation (the machine's
/// parameters and the scoring noise are in the model, which ML.NET stores in the zip). It reads one
/// row [D] and gives the features [F] and, for the scalar columns, one-value vectors.</item>
/// <item>When there are scalar columns: <see cref="ScalarColumnsFactory"/>, a stateless custom
/// mapping that turns the one-value vectors into Single and Boolean columns (ML.NET has no standard
/// transform for that), then copies to the options' names and drops the intermediate columns.</item>
/// </list>
/// Loading needs ONNX Runtime's native library (an application package such as
/// Microsoft.ML.OnnxRuntime) and this assembly (ML.NET finds the mapping's factory by the assembly
/// name it stores).
/// </summary>
internal static class SavedChain
{
    public static TransformerChain<ITransformer> Build(HelmholtzMachineTransformer transformer, SavedInputCheck check = SavedInputCheck.LengthAndValues)
    {
        HelmholtzMachineOptions o = transformer.Options;
        bool scalars = transformer.LogLikelihood is not null;
        var columns = new GraphColumns(
            Input: SavedInput.CheckedColumn,
            Features: o.FeatureColumnName,
            LogLikelihood: scalars ? ScalarColumns.LogLikelihoodVector : null,
            Score: scalars ? ScalarColumns.ScoreVector : null,
            PredictedLabel: scalars ? ScalarColumns.PredictedLabelVector : null,
            SingleRow: true,
            RowOfAnySize: true,
            Threshold: transformer.Threshold);
        byte[] model = MachineGraph.Build(transformer.Features, transformer.LogLikelihood, columns);
        string[] outputs = new[] { columns.Features, columns.LogLikelihood, columns.Score, columns.PredictedLabel }.OfType<string>().ToArray();

        var ml = new MLContext();   // builds the chain; the chain keeps no randomness
        IEstimator<ITransformer> onnx = OnnxRuntimeNative.ApplyOnnxModel(ml, outputs, [SavedInput.CheckedColumn], model, "Saving a pipeline with a Helmholtz machine");
        var chain = new EstimatorChain<ITransformer>().AppendCheck(ml, transformer.Input, transformer.Input.Size, check).Append(onnx);
        if (scalars)
        {
            chain = chain.Append((IEstimator<ITransformer>)ml.Transforms.CustomMapping(new ScalarColumnsFactory().GetMapping(), ScalarColumnsFactory.ContractName));
            foreach (var (name, scalar) in new[] { (o.LogLikelihoodColumnName, ScalarColumns.LogLikelihood), (o.ScoreColumnName, ScalarColumns.Score),
                (o.PredictedLabelColumnName, ScalarColumns.PredictedLabel) })
                if (name is not null) chain = chain.Append((IEstimator<ITransformer>)ml.Transforms.CopyColumns(name, scalar));
            chain = chain.Append((IEstimator<ITransformer>)ml.Transforms.DropColumns(
                ScalarColumns.LogLikelihoodVector, ScalarColumns.ScoreVector, ScalarColumns.PredictedLabelVector,
                ScalarColumns.LogLikelihood, ScalarColumns.Score, ScalarColumns.PredictedLabel));
        }
        chain = chain.Append((IEstimator<ITransformer>)ml.Transforms.DropColumns(SavedInput.Intermediates(check)));
        // The estimators read no data: a view with the input column and no rows is all they need.
        var schema = new DataViewSchema.Builder();
        schema.AddColumn(o.InputColumnName, new VectorDataViewType(NumberDataViewType.Single, transformer.Input.Size));
        return chain.Fit(new EmptyDataView(schema.ToSchema()));
    }
}

/// <summary>The intermediate columns of a saved Helmholtz machine (names unlikely to meet a user's).</summary>
internal static class ScalarColumns
{
    public const string LogLikelihoodVector = "__helmholtz_log_likelihood_vector";
    public const string ScoreVector = "__helmholtz_score_vector";
    public const string PredictedLabelVector = "__helmholtz_predicted_label_vector";
    public const string LogLikelihood = "__helmholtz_log_likelihood";
    public const string Score = "__helmholtz_score";
    public const string PredictedLabel = "__helmholtz_predicted_label";

    /// <summary>The mapping's input row: the ONNX model's one-value vectors.</summary>
    public sealed class Vectors
    {
        [ColumnName(LogLikelihoodVector), VectorType(1)] public float[] LogLikelihoodValues = [];
        [ColumnName(ScoreVector), VectorType(1)] public float[] ScoreValues = [];
        [ColumnName(PredictedLabelVector), VectorType(1)] public bool[] PredictedLabelValues = [];
    }

    /// <summary>The mapping's output row: the same values as scalars.</summary>
    public sealed class Scalars
    {
        [ColumnName(LogLikelihood)] public float LogLikelihoodValue;
        [ColumnName(Score)] public float ScoreValue;
        [ColumnName(PredictedLabel)] public bool PredictedLabelValue;
    }
}

/// <summary>
/// Turns a saved Helmholtz machine's one-value vectors into scalars. It holds no state, so ML.NET
/// can create it by its contract name when it loads a model (the learned values are in the ONNX model).
/// </summary>
[CustomMappingFactoryAttribute(ContractName)]
internal sealed class ScalarColumnsFactory : CustomMappingFactory<ScalarColumns.Vectors, ScalarColumns.Scalars>
{
    public const string ContractName = "Microsoft.ML.Helmholtz.ScalarColumns";

    public override Action<ScalarColumns.Vectors, ScalarColumns.Scalars> GetMapping() => (vectors, scalars) =>
    {
        scalars.LogLikelihoodValue = vectors.LogLikelihoodValues[0];
        scalars.ScoreValue = vectors.ScoreValues[0];
        scalars.PredictedLabelValue = vectors.PredictedLabelValues[0];
    };
}
