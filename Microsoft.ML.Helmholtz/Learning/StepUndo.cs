using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Learning;

/// <summary>
/// A copy of the parameters from before the last step, so that a step found to have failed can be
/// undone exactly. Saving is one parallel copy over the parameter blocks (pinned, allocated once).
/// </summary>
internal sealed unsafe class StepUndo
{
    private readonly ParameterBlocks _blocks;
    private readonly float[][] _saved;   // the blocks point into these: held here so they live as long
    private readonly Dictionary<Parameter, int> _index = new(ReferenceEqualityComparer.Instance);

    public StepUndo(IReadOnlyList<Parameter> parameters)
    {
        _saved = parameters.Select(p => ParameterBlocks.AllocateState(p.Length)).ToArray();
        for (int i = 0; i < parameters.Count; i++) _index.Add(parameters[i], i);
        _blocks = new ParameterBlocks(parameters, p => (_saved[_index[p]], null));
    }

    /// <summary>
    /// The pinned array that holds <paramref name="parameter"/>'s saved values: an optimiser that keeps the
    /// values from before its step (<see cref="Optimizers.IKeepsValuesBeforeStep"/>) writes them here, which saves as <see cref="Save"/> does.
    /// </summary>
    public float[] SavedOf(Parameter parameter) => _saved[_index[parameter]];

    /// <summary>Copies the current values: what <see cref="Restore"/> goes back to.</summary>
    public void Save() => _blocks.Run(new Copy { Blocks = _blocks.Table, ToSaved = true });

    /// <summary>Puts the saved values back.</summary>
    public void Restore() => _blocks.Run(new Copy { Blocks = _blocks.Table, ToSaved = false });

    private struct Copy : IPieceWork
    {
        public ParameterBlocks.Block* Blocks;
        public bool ToSaved;

        public readonly void Execute(int piece)
        {
            ParameterBlocks.Block b = Blocks[piece];
            var value = new Span<float>(b.Value, b.Length);
            var saved = new Span<float>(b.State0, b.Length);
            if (ToSaved) value.CopyTo(saved);
            else saved.CopyTo(value);
        }
    }
}
