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

    public StepUndo(IReadOnlyList<Parameter> parameters)
    {
        _saved = parameters.Select(p => ParameterBlocks.AllocateState(p.Length)).ToArray();
        var index = new Dictionary<Parameter, int>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < parameters.Count; i++) index.Add(parameters[i], i);
        _blocks = new ParameterBlocks(parameters, p => (_saved[index[p]], null));
    }

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
