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

    /// <summary>The rows of <see cref="Of"/>, for a message about buffers of several values per row.</summary>
    public static string Describe(int batchCapacity, int samples, string rule)
        => $"{rule}: batchCapacity = {batchCapacity} examples × samples = K = {samples} samples per example";

    public const string Remedy = "use fewer samples per example or a smaller batch (TrainingOptions.BatchSize)";
}
