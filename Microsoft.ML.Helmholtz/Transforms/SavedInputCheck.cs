using Microsoft.ML.Data;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Transforms;

namespace Microsoft.ML.Helmholtz.Transforms;

/// <summary>
/// The input check of a saved Helmholtz machine: the first steps of the chain that <see cref="SavedChain"/> and
/// <see cref="TemporalSavedChain"/> build. The input column is copied to <see cref="CopiedColumn"/>, a stateless mapping
/// checks each row against the visible layer's units and passes it on as <see cref="CheckedColumn"/>, and the ONNX graph
/// reads that column; so a loaded pipeline refuses a value the machine cannot model (2 for binary units, NaN for
/// any), as the fitted transformer does, instead of scoring it. The mapping is created by ML.NET from its contract
/// name alone, so each kind of check is a factory of its own; the message names the slot and the value, but not
/// the row or the user's column, which a stateless mapping does not know.
/// </summary>
public static class SavedInput
{
    public const string CopiedColumn = "__helmholtz_input";
    public const string CheckedColumn = "__helmholtz_checked_input";

    /// <summary>The mapping's input row: the copied input, of whatever size.</summary>
    public sealed class Row
    {
        [ColumnName(CopiedColumn), VectorType] public float[] Values = [];
    }

    /// <summary>The mapping's output row: the same values, checked.</summary>
    public sealed class CheckedRow
    {
        [ColumnName(CheckedColumn), VectorType] public float[] Values = [];
    }

    /// <summary>Appends the copy and the check of <paramref name="inputColumn"/> for a visible layer of <paramref name="units"/>: the graph then reads <see cref="CheckedColumn"/>.</summary>
    internal static EstimatorChain<ITransformer> AppendCheck(this EstimatorChain<ITransformer> chain, MLContext ml, string inputColumn, UnitType units)
    {
        (Action<Row, CheckedRow> mapping, string contract) = units == UnitType.Bernoulli ? (new BinaryInputCheckFactory().GetMapping(), BinaryInputCheckFactory.ContractName)
            : units == UnitType.SoftBernoulli ? (new SoftBinaryInputCheckFactory().GetMapping(), SoftBinaryInputCheckFactory.ContractName)
            : units == UnitType.ContinuousBernoulli ? (new ContinuousBernoulliInputCheckFactory().GetMapping(), ContinuousBernoulliInputCheckFactory.ContractName)
            : (new FiniteInputCheckFactory().GetMapping(), FiniteInputCheckFactory.ContractName);   // Gaussian kinds, and any other: finite values
        return chain.Append((IEstimator<ITransformer>)ml.Transforms.CopyColumns(CopiedColumn, inputColumn))
            .Append((IEstimator<ITransformer>)ml.Transforms.CustomMapping(mapping, contract));
    }

    /// <summary>Passes the row on, or throws naming the first slot whose value <paramref name="units"/> cannot model.</summary>
    internal static Action<Row, CheckedRow> Mapping(UnitType? units) => (row, checkedRow) =>
    {
        float[] values = row.Values;
        if (units?.ModelsAll(values) ?? System.Numerics.Tensors.TensorPrimitives.IsFiniteAll<float>(values)) { checkedRow.Values = values; return; }
        for (int j = 0; j < values.Length; j++)
            if (InputColumn.ValueProblem(units, values[j]) is { } problem)
                throw new InvalidOperationException($"A saved Helmholtz machine's input: slot {j} is {problem}");
        checkedRow.Values = values;
    };
}

/// <summary>A check of a saved machine's input against <paramref name="units"/> (null: finite values only); ML.NET makes each kind by its contract name.</summary>
public abstract class SavedInputCheckFactory(UnitType? units) : CustomMappingFactory<SavedInput.Row, SavedInput.CheckedRow>
{
    public override Action<SavedInput.Row, SavedInput.CheckedRow> GetMapping() => SavedInput.Mapping(units);
}

/// <summary>Checks a saved machine's input for a Bernoulli visible layer (0 and 1 only).</summary>
[CustomMappingFactoryAttribute(ContractName)]
public sealed class BinaryInputCheckFactory() : SavedInputCheckFactory(UnitType.Bernoulli)
{
    public const string ContractName = "Microsoft.ML.Helmholtz.CheckBinaryInput";
}

/// <summary>Checks a saved machine's input for a soft-target Bernoulli visible layer (values in [0, 1]).</summary>
[CustomMappingFactoryAttribute(ContractName)]
public sealed class SoftBinaryInputCheckFactory() : SavedInputCheckFactory(UnitType.SoftBernoulli)
{
    public const string ContractName = "Microsoft.ML.Helmholtz.CheckSoftBinaryInput";
}

/// <summary>Checks a saved machine's input for a continuous-Bernoulli visible layer (values in [0, 1]).</summary>
[CustomMappingFactoryAttribute(ContractName)]
public sealed class ContinuousBernoulliInputCheckFactory() : SavedInputCheckFactory(UnitType.ContinuousBernoulli)
{
    public const string ContractName = "Microsoft.ML.Helmholtz.CheckContinuousBernoulliInput";
}

/// <summary>Checks a saved machine's input for finite values (Gaussian visible layers, and any kind registered by an application).</summary>
[CustomMappingFactoryAttribute(ContractName)]
public sealed class FiniteInputCheckFactory() : SavedInputCheckFactory(null)
{
    public const string ContractName = "Microsoft.ML.Helmholtz.CheckFiniteInput";
}
