using Microsoft.ML.Data;
using Microsoft.ML.Helmholtz.Onnx;
using Microsoft.ML.Helmholtz.Temporal;
using Microsoft.ML.Transforms;

namespace Microsoft.ML.Helmholtz.Transforms;

/// <summary>
/// What a <see cref="TemporalHelmholtzTransformer"/> is saved as, with ML.NET's public means only
/// (as <see cref="SavedChain"/> does for the frame machine): the input's check (<see cref="SavedInput"/>), OnnxTransformer over
/// <see cref="TemporalGraph"/> (the per-frame vector and the one-value total), a stateless mapping of
/// the total to a scalar, copies to the options' names, and the intermediate columns dropped.
/// </summary>
internal static class TemporalSavedChain
{
    public const string PerFrameVector = "__temporal_frame_log_likelihoods";
    public const string TotalVector = "__temporal_log_likelihood_vector";
    public const string Total = "__temporal_log_likelihood";

    public static TransformerChain<ITransformer> Build(TemporalHelmholtzTransformer transformer, SavedInputCheck check = SavedInputCheck.LengthAndValues)
    {
        TemporalHelmholtzOptions o = transformer.Settings;
        if (o.PredictedFramesColumnName is not null)
            throw new NotSupportedException(
                $"MLContext.Model.Save cannot save the one-step predictions (column '{o.PredictedFramesColumnName}'): they sample the generative model, which has no ONNX form here. " +
                "Save a transformer without them, made from the same model: TemporalHelmholtzTransformer.Create(transformer.GetModel(), options, transformer.Frames) " +
                "with options whose PredictedFramesColumnName is null; predict with the fitted transformer or TemporalEvaluation.PredictFrames. " +
                "MLContext.Model.Save had already started the file: a file given to it is left a broken zip (save to a stream or a temporary file first).");
        // From the transformer's own copy of the machine, as its cursors score.
        byte[] model = TemporalGraph.Build(transformer.CreateScorer(), transformer.Frames, SavedInput.CheckedColumn, PerFrameVector, TotalVector, rowOfAnySize: true);
        var ml = new MLContext();
        IEstimator<ITransformer> onnx = OnnxRuntimeNative.ApplyOnnxModel(ml, [PerFrameVector, TotalVector], [SavedInput.CheckedColumn], model,
            "Saving a pipeline with a temporal Helmholtz machine");
        var chain = new EstimatorChain<ITransformer>().AppendCheck(ml, transformer.Input, transformer.Frames * o.FrameSize, check).Append(onnx)
            .Append((IEstimator<ITransformer>)ml.Transforms.CustomMapping(new TemporalTotalFactory().GetMapping(), TemporalTotalFactory.ContractName));
        if (o.LogLikelihoodColumnName is { } total) chain = chain.Append((IEstimator<ITransformer>)ml.Transforms.CopyColumns(total, Total));
        if (o.FrameLogLikelihoodColumnName is { } perFrame) chain = chain.Append((IEstimator<ITransformer>)ml.Transforms.CopyColumns(perFrame, PerFrameVector));
        chain = chain.Append((IEstimator<ITransformer>)ml.Transforms.DropColumns([PerFrameVector, TotalVector, Total, .. SavedInput.Intermediates(check)]));
        var schema = new DataViewSchema.Builder();
        schema.AddColumn(o.InputColumnName, new VectorDataViewType(NumberDataViewType.Single, transformer.Frames * o.FrameSize));
        return chain.Fit(new EmptyDataView(schema.ToSchema()));
    }
}

/// <summary>Turns a saved temporal machine's one-value total into a scalar; stateless, so ML.NET creates it by its contract name on load.</summary>
[CustomMappingFactoryAttribute(ContractName)]
internal sealed class TemporalTotalFactory : CustomMappingFactory<TemporalTotalFactory.TotalVectorRow, TemporalTotalFactory.TotalRow>
{
    public const string ContractName = "Microsoft.ML.Helmholtz.TemporalTotal";

    public override Action<TotalVectorRow, TotalRow> GetMapping() => (vector, scalar) => scalar.Value = vector.Values[0];

    /// <summary>The mapping's input row: the graph's one-value total.</summary>
    public sealed class TotalVectorRow
    {
        [ColumnName(TemporalSavedChain.TotalVector), VectorType(1)] public float[] Values = [];
    }

    /// <summary>The mapping's output row: the total as a scalar.</summary>
    public sealed class TotalRow
    {
        [ColumnName(TemporalSavedChain.Total)] public float Value;
    }
}
