using Microsoft.ML.Helmholtz.Model;

namespace Microsoft.ML.Helmholtz.Learning.Rules;

/// <summary>The rows of a rule that draws K samples per example, sized before its buffers are allocated.</summary>
internal static class SampleRows
{
    /// <summary>
    /// <paramref name="batchCapacity"/> × <paramref name="samples"/>, the rows a multi-sample rule's buffers hold;
    /// <see cref="ArgumentOutOfRangeException"/> for batchCapacity, naming the rule's samples too, when one array
    /// cannot hold them (it was a bare <see cref="OverflowException"/>).
    /// </summary>
    public static int Of(int batchCapacity, int samples, string rule)
        => Requires.ArrayLength(nameof(batchCapacity), Describe(batchCapacity, samples, rule), Remedy, batchCapacity, samples);

    /// <summary>
    /// <see cref="Of(int, int, string)"/>, and those rows must also fit every per-row buffer of <paramref name="machine"/>
    /// (<see cref="HelmholtzMachine.RequireRows"/>): the training batch holds that many rows of each layer. Checked
    /// before the rule allocates its own buffers, which a huge K once filled with gigabytes before the batch was refused.
    /// </summary>
    public static int Of(HelmholtzMachine machine, int batchCapacity, int samples, string rule)
    {
        int rows = Of(batchCapacity, samples, rule);
        FitMachine(machine, rows, batchCapacity, samples, rule);
        return rows;
    }

    /// <summary>The machine's half of <see cref="Of(HelmholtzMachine, int, int, string)"/>, for <paramref name="rows"/> already counted.</summary>
    public static void FitMachine(HelmholtzMachine machine, int rows, int batchCapacity, int samples, string rule)
        => machine.RequireRows(rows, nameof(batchCapacity), Describe(batchCapacity, samples, rule), Remedy);

    /// <summary>The rows of <see cref="Of(int, int, string)"/>, for a message about buffers of several values per row.</summary>
    public static string Describe(int batchCapacity, int samples, string rule)
        => $"{rule}: batchCapacity = {batchCapacity} examples × samples = K = {samples} samples per example";

    public const string Remedy = "use fewer samples per example or a smaller batch (TrainingOptions.BatchSize)";
}
