using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Model;

namespace Microsoft.ML.Helmholtz.Temporal;

internal static class SequenceChecks
{
    /// <summary>Throws naming <paramref name="name"/> unless the sequences are not empty and their frames fit <paramref name="model"/>'s visible layer.</summary>
    public static void Validate(this SequenceSet data, TemporalHelmholtzMachine model, string name)
    {
        ArgumentNullException.ThrowIfNull(data, name);
        if (data.Count == 0) throw new ArgumentException($"{name} is empty: at least one sequence is needed.", name);
        if (data.ValuesPerFrame != model.FrameSize)
            throw new ArgumentException($"{name} has frames of {data.ValuesPerFrame} values ({data.Height}×{data.Width}), but the machine's visible layer has {model.FrameSize} units.", name);
        DataValidation.Validate(data.Values, data.Count * data.Frames, data.ValuesPerFrame, model.Machine.Architecture.Visible, name);
    }
}
