namespace Microsoft.ML.Helmholtz.Layers;

/// <summary>What a parameter is to its layer: it decides how a fresh machine initialises it.</summary>
public enum ParameterRole
{
    /// <summary>A weight matrix [outputs × inputs]: drawn N(0, 1/inputs) in a fresh machine.</summary>
    Weight,

    /// <summary>A bias vector: 0 in a fresh machine (a Bernoulli visible layer's may start from the data).</summary>
    Bias,

    /// <summary>A log-variance vector: 0 (unit variance) in a fresh machine.</summary>
    LogVariance,

    /// <summary>The weights of a covariance factor: 0 in a fresh machine, so that a posterior starts diagonal.</summary>
    Factor,
}

/// <summary>
/// A learned tensor (row-major, <see cref="Rows"/> × <see cref="Columns"/>) with the gradient buffer
/// that learning rules accumulate into. The gradient is always that of a loss to be minimised.
/// Both arrays live on the pinned heap: they never move, so the parallel loops over parameters
/// (optimiser steps, gradient checks) hand raw pointers to their threads without pinning each step.
/// Its arrays are not synchronised: read while the machine trains they can hold a step half applied
/// (take <see cref="Model.HelmholtzMachine.Clone"/> for a consistent copy).
/// </summary>
public sealed class Parameter
{
    /// <summary>
    /// The most values one parameter (and a whole machine: <c>HelmholtzArchitecture.MaxParameterCount</c>)
    /// may hold: 2²⁸, one GiB of single-precision values.
    /// </summary>
    public const long MaxValues = 1L << 28;

    /// <summary>A parameter of <paramref name="rows"/> × <paramref name="columns"/> values, and its gradient, all 0.</summary>
    /// <param name="name">What messages, model files and training states call it (e.g. "generative.0.W"); loading a model checks it.</param>
    /// <param name="rows">Rows, at least 1.</param>
    /// <param name="columns">Columns, at least 1; rows × columns may not exceed <see cref="MaxValues"/> (else <see cref="ArgumentOutOfRangeException"/>).</param>
    /// <param name="role">What it is to its layer, which decides how a fresh machine initialises it.</param>
    public Parameter(string name, int rows, int columns, ParameterRole role = ParameterRole.Bias)
    {
        if (rows <= 0 || columns <= 0)
            throw new ArgumentOutOfRangeException(rows <= 0 ? nameof(rows) : nameof(columns), $"Parameter '{name}' needs a positive shape, got {rows}×{columns}.");
        if ((long)rows * columns > MaxValues)
            throw new ArgumentOutOfRangeException(nameof(rows),
                $"Parameter '{name}' of {rows}×{columns} = {(long)rows * columns:N0} values exceeds the limit of {MaxValues:N0}.");
        Name = name;
        Rows = rows;
        Columns = columns;
        Role = role;
        Value = GC.AllocateArray<float>(rows * columns, pinned: true);
        Gradient = GC.AllocateArray<float>(rows * columns, pinned: true);
    }

    /// <summary>What messages, model files and training states call the parameter, e.g. "generative.0.W".</summary>
    public string Name { get; }
    /// <summary>Rows of the tensor (1 for a vector).</summary>
    public int Rows { get; }
    /// <summary>Columns of the tensor.</summary>
    public int Columns { get; }
    /// <summary>What the parameter is to its layer, which decides how a fresh machine initialises it.</summary>
    public ParameterRole Role { get; }
    /// <summary>The values, <see cref="Rows"/> × <see cref="Columns"/> row-major.</summary>
    public float[] Value { get; }
    /// <summary>The gradient of the loss to be minimised, laid out as <see cref="Value"/>; learning rules add into it.</summary>
    public float[] Gradient { get; }
    /// <summary>Values held: <see cref="Rows"/> × <see cref="Columns"/>.</summary>
    public int Length => Value.Length;

    /// <summary>Sets every element of <see cref="Gradient"/> to 0.</summary>
    public void ZeroGradient() => Array.Clear(Gradient);
}
