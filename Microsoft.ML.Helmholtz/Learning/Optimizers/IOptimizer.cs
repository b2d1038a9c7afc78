using Microsoft.ML.Helmholtz.Model;

namespace Microsoft.ML.Helmholtz.Learning.Optimizers;

/// <summary>Applies one descent step to parameters from their accumulated (loss) gradients.</summary>
public interface IOptimizer
{
    string Name { get; }

    void Step(IReadOnlyList<Parameter> parameters, float learningRate);
}
