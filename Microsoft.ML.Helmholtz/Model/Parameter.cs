namespace Microsoft.ML.Helmholtz.Model;

/// <summary>
/// A learned tensor (row-major, <see cref="Rows"/> × <see cref="Columns"/>) with the gradient buffer
/// that learning rules accumulate into. The gradient is always that of a loss to be minimised.
/// Both arrays live on the pinned heap: they never move, so the parallel loops over parameters
/// (optimiser steps, gradient checks) hand raw pointers to their threads without pinning each step.
/// </summary>
public sealed class Parameter
{
    public Parameter(string name, int rows, int columns)
    {
        if (rows <= 0 || columns <= 0) throw new ArgumentOutOfRangeException(nameof(rows), $"Parameter '{name}' needs a positive shape, got {rows}×{columns}.");
        if ((long)rows * columns > HelmholtzArchitecture.MaxParameterCount)
            throw new ArgumentOutOfRangeException(nameof(rows),
                $"Parameter '{name}' of {rows}×{columns} = {(long)rows * columns:N0} values exceeds the limit of {HelmholtzArchitecture.MaxParameterCount:N0}.");
        Name = name;
        Rows = rows;
        Columns = columns;
        Value = GC.AllocateArray<float>(rows * columns, pinned: true);
        Gradient = GC.AllocateArray<float>(rows * columns, pinned: true);
    }

    public string Name { get; }
    public int Rows { get; }
    public int Columns { get; }
    public float[] Value { get; }
    public float[] Gradient { get; }
    public int Length => Value.Length;

    public void ZeroGradient() => Array.Clear(Gradient);
}
