using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Model;

namespace Microsoft.ML.Helmholtz.Temporal;

internal static class SequenceChecks
{
    /// <summary>
    /// Throws naming <paramref name="name"/> (the argument <paramref name="paramName"/>) unless the sequences are not empty and
    /// their frames fit <paramref name="model"/>'s visible layer.
    /// </summary>
    public static void Validate(this SequenceSet data, TemporalHelmholtzMachine model, string name, string paramName)
    {
        ArgumentNullException.ThrowIfNull(data, paramName);
        if (data.Count == 0) throw new ArgumentException($"{name} is empty: at least one sequence is needed.", paramName);
        if (data.ValuesPerFrame != model.FrameSize)
            throw new ArgumentException($"{name} has frames of {data.ValuesPerFrame} values ({data.Height}×{data.Width}), but the machine's visible layer has {model.FrameSize} units.", paramName);
        LayerDefinition visible = model.Machine.Architecture.Visible;
        // The common case, clean data, in one vectorised pass; the loop names a bad value's sequence, frame and place in the frame.
        if (visible.Units.ModelsAll(data.Values)) return;
        for (int i = 0; i < data.Values.Length; i++)
            if (DataValidation.Problem(visible, data.Values[i]) is { } problem)
            {
                int frame = i / data.ValuesPerFrame, within = i % data.ValuesPerFrame;
                throw new ArgumentException($"{name} sequence {frame / data.Frames}, frame {frame % data.Frames}, row {within / data.Width}, column {within % data.Width} is {problem}", paramName);
            }
    }
}
