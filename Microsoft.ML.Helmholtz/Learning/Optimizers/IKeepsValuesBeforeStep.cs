using Microsoft.ML.Helmholtz.Layers;

namespace Microsoft.ML.Helmholtz.Learning.Optimizers;

/// <summary>
/// An optimiser whose step also copies each parameter's value from before it into the trainer's undo
/// copy, in the same pass over the parameters: the copy then costs no pass of its own (out of cache,
/// that pass was about 4% of a training step). The step must not fail part-way through its pass (the
/// built-in optimisers allocate before it), since the undo copy is then half old, half new.
/// </summary>
internal interface IKeepsValuesBeforeStep
{
    /// <summary><see cref="IOptimizer.Step"/>, with each value from before the step left in <paramref name="before"/>.</summary>
    void Step(IReadOnlyList<Parameter> parameters, float learningRate, StepUndo before);
}
