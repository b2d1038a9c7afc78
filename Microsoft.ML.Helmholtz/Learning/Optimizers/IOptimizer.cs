using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Model;

namespace Microsoft.ML.Helmholtz.Learning.Optimizers;

/// <summary>
/// Applies one descent step to parameters from their accumulated (loss) gradients. An optimiser keeps
/// state per parameter: one training run at a time (a trainer holds it for its run and names a second).
/// </summary>
public interface IOptimizer
{
    string Name { get; }

    void Step(IReadOnlyList<Parameter> parameters, float learningRate);

    /// <summary>
    /// Whether <see cref="Step"/> leaves every gradient it used at zero, so that the trainer need not
    /// clear them before the next minibatch (clearing in the same pass saves one over all parameters).
    /// </summary>
    bool ClearsGradients => false;
}
