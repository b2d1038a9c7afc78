using System.Globalization;
using System.Text;
using Microsoft.ML.Data;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Transforms;

namespace Microsoft.ML.Helmholtz.Transforms;

/// <summary>
/// The input check of a saved Helmholtz machine: the first steps of the chain that <see cref="SavedChain"/> and
/// <see cref="TemporalSavedChain"/> build, so that a loaded pipeline refuses what the fitted transformer refuses (a row
/// of another length than the machine reads; a value it cannot model, 2 for binary units, NaN for any) instead of
/// failing inside ONNX Runtime or scoring it. The input column is copied to <see cref="CopiedColumn"/>; a stateless
/// mapping gives the row's length (<see cref="LengthColumn"/>); ML.NET's Expression transform, whose expressions the zip
/// stores, turns that into two constants, the length the machine reads (<see cref="ExpectedLengthColumn"/>) and the
/// input column's name (<see cref="ColumnNameColumn"/>); a stateless mapping checks the row against them and passes it on
/// as <see cref="CheckedColumn"/>, which the ONNX graph reads. ML.NET creates a mapping from its contract name alone, so
/// what it must know of the machine comes as those columns, and the kind of visible units as the contract name (a
/// factory for each kind). Zips saved before the length check hold the copy and a check of the values alone
/// (<see cref="SavedInputCheck.ValuesOnly"/>, the first four factories below); they load and check as they did.
/// </summary>
internal static class SavedInput
{
    public const string CopiedColumn = "__helmholtz_input";
    public const string LengthColumn = "__helmholtz_input_length";
    public const string ExpectedLengthColumn = "__helmholtz_expected_input_length";
    public const string ColumnNameColumn = "__helmholtz_input_column_name";
    public const string CheckedColumn = "__helmholtz_checked_input";

    /// <summary>What the check's messages start with.</summary>
    private const string Data = "A saved Helmholtz machine's input";

    /// <summary>A mapping's input row: the copied input, of whatever size.</summary>
    public sealed class Row
    {
        [ColumnName(CopiedColumn), VectorType] public float[] Values = [];
    }

    /// <summary>The length mapping's input row: the copied input as ML.NET holds it (its length is all the mapping reads, so not copied into an array).</summary>
    public sealed class VectorRow
    {
        [ColumnName(CopiedColumn), VectorType] public VBuffer<float> Values;
    }

    /// <summary>The length mapping's output: the row's length.</summary>
    public sealed class LengthRow
    {
        [ColumnName(LengthColumn)] public int Length;
    }

    /// <summary>The check's input row: the copied input, the length the machine reads and the name of the column it reads.</summary>
    public sealed class SizedRow
    {
        [ColumnName(CopiedColumn), VectorType] public float[] Values = [];
        [ColumnName(ExpectedLengthColumn)] public int ExpectedLength;
        [ColumnName(ColumnNameColumn)] public ReadOnlyMemory<char> Column;
    }

    /// <summary>The check's output row: the same values, checked.</summary>
    public sealed class CheckedRow
    {
        [ColumnName(CheckedColumn), VectorType] public float[] Values = [];
    }

    /// <summary>
    /// Appends the copy and the check of <paramref name="input"/>, whose rows the machine reads as <paramref name="length"/>
    /// values: the graph then reads <see cref="CheckedColumn"/>; drop <see cref="Intermediates"/> after it.
    /// </summary>
    internal static EstimatorChain<ITransformer> AppendCheck(this EstimatorChain<ITransformer> chain, MLContext ml, InputColumn input, int length,
        SavedInputCheck check)
    {
        UnitType units = input.Visible.Units;
        chain = chain.Append((IEstimator<ITransformer>)ml.Transforms.CopyColumns(CopiedColumn, input.Name));
        if (check == SavedInputCheck.ValuesOnly)
        {
            (Action<Row, CheckedRow> mapping, string contract) = units == UnitType.Bernoulli ? (new BinaryInputCheckFactory().GetMapping(), BinaryInputCheckFactory.ContractName)
                : units == UnitType.SoftBernoulli ? (new SoftBinaryInputCheckFactory().GetMapping(), SoftBinaryInputCheckFactory.ContractName)
                : units == UnitType.ContinuousBernoulli ? (new ContinuousBernoulliInputCheckFactory().GetMapping(), ContinuousBernoulliInputCheckFactory.ContractName)
                : (new FiniteInputCheckFactory().GetMapping(), FiniteInputCheckFactory.ContractName);
            return chain.Append((IEstimator<ITransformer>)ml.Transforms.CustomMapping(mapping, contract));
        }
        (Action<SizedRow, CheckedRow> sizedMapping, string sizedContract) = units == UnitType.Bernoulli ? (new SizedBinaryInputCheckFactory().GetMapping(), SizedBinaryInputCheckFactory.ContractName)
            : units == UnitType.SoftBernoulli ? (new SizedSoftBinaryInputCheckFactory().GetMapping(), SizedSoftBinaryInputCheckFactory.ContractName)
            : units == UnitType.ContinuousBernoulli ? (new SizedContinuousBernoulliInputCheckFactory().GetMapping(), SizedContinuousBernoulliInputCheckFactory.ContractName)
            : (new SizedFiniteInputCheckFactory().GetMapping(), SizedFiniteInputCheckFactory.ContractName);   // Gaussian kinds, and any other: finite values
        // An expression needs an input column, and over a vector it gives a vector as long as the row: the row's length is
        // the scalar the constants are computed from (their expressions ignore it).
        return chain.Append((IEstimator<ITransformer>)ml.Transforms.CustomMapping(new InputLengthFactory().GetMapping(), InputLengthFactory.ContractName))
            .Append((IEstimator<ITransformer>)ml.Transforms.Expression(ExpectedLengthColumn, $"length : {length.ToString(CultureInfo.InvariantCulture)}", LengthColumn))
            .Append((IEstimator<ITransformer>)ml.Transforms.Expression(ColumnNameColumn, $"length : {Literal(input.Name)}", LengthColumn))
            .Append((IEstimator<ITransformer>)ml.Transforms.CustomMapping(sizedMapping, sizedContract));
    }

    /// <summary>The columns that <see cref="AppendCheck"/> adds, to be dropped once the graph has read the checked one.</summary>
    internal static string[] Intermediates(SavedInputCheck check) => check == SavedInputCheck.ValuesOnly ? [CopiedColumn, CheckedColumn]
        : [CopiedColumn, LengthColumn, ExpectedLengthColumn, ColumnNameColumn, CheckedColumn];

    /// <summary><paramref name="text"/> as a string literal of ML.NET's expression language: letters and digits as they are, any other UTF-16 unit escaped.</summary>
    internal static string Literal(string text)
    {
        var literal = new StringBuilder("\"");
        foreach (char c in text)
            if (char.IsAsciiLetterOrDigit(c)) literal.Append(c);
            else literal.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:X4}");
        return literal.Append('"').ToString();
    }

    /// <summary>Passes the row on, or throws naming the first slot whose value <paramref name="units"/> cannot model (null: finite values only); the check of zips saved before the length check.</summary>
    internal static Action<Row, CheckedRow> Mapping(UnitType? units) => (row, checkedRow) =>
    {
        CheckValues(row.Values, units, column: null);
        checkedRow.Values = row.Values;
    };

    /// <summary>Passes the row on, or throws naming the column and the row's and the machine's lengths, or the column and the first slot whose value <paramref name="units"/> cannot model.</summary>
    internal static Action<SizedRow, CheckedRow> SizedMapping(UnitType? units) => (row, checkedRow) =>
    {
        float[] values = row.Values;
        if (values.Length != row.ExpectedLength)
            throw new InvalidOperationException($"{Data}: column '{row.Column}', a row holds {values.Length} values, but the machine reads {row.ExpectedLength}: " +
                "give every row the column's size.");
        CheckValues(values, units, row.Column);
        checkedRow.Values = values;
    };

    private static void CheckValues(float[] values, UnitType? units, ReadOnlyMemory<char>? column)
    {
        if (units?.ModelsAll(values) ?? System.Numerics.Tensors.TensorPrimitives.IsFiniteAll<float>(values)) return;
        for (int j = 0; j < values.Length; j++)
            if (InputColumn.ValueProblem(units, values[j]) is { } problem)
                throw new InvalidOperationException(column is { } name ? $"{Data}: column '{name}', slot {j} is {problem}" : $"{Data}: slot {j} is {problem}");
    }
}

/// <summary>Which check a saved chain starts with.</summary>
internal enum SavedInputCheck
{
    /// <summary>The row's length and values, against the length and column name stored in the zip: what is saved now.</summary>
    LengthAndValues,

    /// <summary>The values alone: what zips saved before the length check hold (built now only to test that they still load).</summary>
    ValuesOnly,
}

/// <summary>A check of a saved machine's values against <paramref name="units"/> (null: finite values only), as zips saved before the length check hold it; ML.NET makes each kind by its contract name.</summary>
internal abstract class SavedInputCheckFactory(UnitType? units) : CustomMappingFactory<SavedInput.Row, SavedInput.CheckedRow>
{
    public override Action<SavedInput.Row, SavedInput.CheckedRow> GetMapping() => SavedInput.Mapping(units);
}

/// <summary>Checks a saved machine's input for a Bernoulli visible layer (0 and 1 only).</summary>
[CustomMappingFactoryAttribute(ContractName)]
internal sealed class BinaryInputCheckFactory() : SavedInputCheckFactory(UnitType.Bernoulli)
{
    public const string ContractName = "Microsoft.ML.Helmholtz.CheckBinaryInput";
}

/// <summary>Checks a saved machine's input for a soft-target Bernoulli visible layer (values in [0, 1]).</summary>
[CustomMappingFactoryAttribute(ContractName)]
internal sealed class SoftBinaryInputCheckFactory() : SavedInputCheckFactory(UnitType.SoftBernoulli)
{
    public const string ContractName = "Microsoft.ML.Helmholtz.CheckSoftBinaryInput";
}

/// <summary>Checks a saved machine's input for a continuous-Bernoulli visible layer (values in [0, 1]).</summary>
[CustomMappingFactoryAttribute(ContractName)]
internal sealed class ContinuousBernoulliInputCheckFactory() : SavedInputCheckFactory(UnitType.ContinuousBernoulli)
{
    public const string ContractName = "Microsoft.ML.Helmholtz.CheckContinuousBernoulliInput";
}

/// <summary>Checks a saved machine's input for finite values (Gaussian visible layers, and any kind registered by an application).</summary>
[CustomMappingFactoryAttribute(ContractName)]
internal sealed class FiniteInputCheckFactory() : SavedInputCheckFactory(null)
{
    public const string ContractName = "Microsoft.ML.Helmholtz.CheckFiniteInput";
}

/// <summary>Gives the length of a saved machine's input row, the scalar that the stored constants are computed from.</summary>
[CustomMappingFactoryAttribute(ContractName)]
internal sealed class InputLengthFactory : CustomMappingFactory<SavedInput.VectorRow, SavedInput.LengthRow>
{
    public const string ContractName = "Microsoft.ML.Helmholtz.InputLength";

    public override Action<SavedInput.VectorRow, SavedInput.LengthRow> GetMapping() => (row, length) => length.Length = row.Values.Length;
}

/// <summary>A check of a saved machine's row, its length and its values against <paramref name="units"/> (null: finite values only), naming the column; ML.NET makes each kind by its contract name.</summary>
internal abstract class SizedInputCheckFactory(UnitType? units) : CustomMappingFactory<SavedInput.SizedRow, SavedInput.CheckedRow>
{
    public override Action<SavedInput.SizedRow, SavedInput.CheckedRow> GetMapping() => SavedInput.SizedMapping(units);
}

/// <summary>Checks a saved machine's row for a Bernoulli visible layer: its length, and 0 and 1 only.</summary>
[CustomMappingFactoryAttribute(ContractName)]
internal sealed class SizedBinaryInputCheckFactory() : SizedInputCheckFactory(UnitType.Bernoulli)
{
    public const string ContractName = "Microsoft.ML.Helmholtz.CheckSizedBinaryInput";
}

/// <summary>Checks a saved machine's row for a soft-target Bernoulli visible layer: its length, and values in [0, 1].</summary>
[CustomMappingFactoryAttribute(ContractName)]
internal sealed class SizedSoftBinaryInputCheckFactory() : SizedInputCheckFactory(UnitType.SoftBernoulli)
{
    public const string ContractName = "Microsoft.ML.Helmholtz.CheckSizedSoftBinaryInput";
}

/// <summary>Checks a saved machine's row for a continuous-Bernoulli visible layer: its length, and values in [0, 1].</summary>
[CustomMappingFactoryAttribute(ContractName)]
internal sealed class SizedContinuousBernoulliInputCheckFactory() : SizedInputCheckFactory(UnitType.ContinuousBernoulli)
{
    public const string ContractName = "Microsoft.ML.Helmholtz.CheckSizedContinuousBernoulliInput";
}

/// <summary>Checks a saved machine's row for finite values of its length (Gaussian visible layers, and any kind registered by an application).</summary>
[CustomMappingFactoryAttribute(ContractName)]
internal sealed class SizedFiniteInputCheckFactory() : SizedInputCheckFactory(null)
{
    public const string ContractName = "Microsoft.ML.Helmholtz.CheckSizedFiniteInput";
}
