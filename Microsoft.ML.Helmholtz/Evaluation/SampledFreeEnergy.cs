using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Evaluation;

/// <summary>
/// The free energy F(x) = ⟨ln q(h | x) − ln p(x, h)⟩_q, one sample h ~ q per example: in expectation
/// an upper bound on −ln p(x), and the figure the trainer reports per epoch. Cheap (one pass), but
/// a bound, not an estimate of ln p: use <see cref="ImportanceSampledLogLikelihood"/> for that.
/// </summary>
public sealed class SampledFreeEnergy
{
    /// <summary>An estimator of the one-sample free energy; the machine is given to each call of <see cref="Estimate"/>.</summary>
    /// <param name="seed">Seed of the random stream each call draws its samples from (the same draws every call).</param>
    /// <param name="rowsPerBatch">Examples passed through the layers at once; positive.</param>
    public SampledFreeEnergy(ulong seed = 1, int rowsPerBatch = 1000)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rowsPerBatch);
        Seed = seed;
        RowsPerBatch = rowsPerBatch;
    }

    /// <summary>Seed of the random stream each call draws its samples from.</summary>
    public ulong Seed { get; }
    /// <summary>Examples passed through the layers at once, as given to the constructor.</summary>
    public int RowsPerBatch { get; }

    /// <summary>
    /// The mean over <paramref name="data"/> (nats per example). Safe to call from many threads on
    /// one machine, also while it trains: each call works on a private copy of the parameters.
    /// </summary>
    public double Estimate(HelmholtzMachine machine, DataMatrix data, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(machine);
        ArgumentNullException.ThrowIfNull(data);
        DataValidation.Validate(data.Values, data.Rows, data.Columns, machine.Architecture.Visible, "data");
        int batch = Math.Min(RowsPerBatch, data.Rows);
        machine.RequireRows(batch, "rowsPerBatch", $"Batches of {batch} rows (rowsPerBatch = {RowsPerBatch})", "use a smaller rowsPerBatch");
        HelmholtzMachine copy = machine.Clone();
        MachineFile.RequireFiniteToScore(copy.Parameters);
        return Mean(copy, data, new RandomStream(Seed), new LayerStates(copy.Architecture, batch), cancellationToken, scoring: true);
    }

    /// <summary>
    /// The mean one-sample free energy on <paramref name="machine"/> itself, in batches of the states' capacity (the trainer's validation).
    /// With <paramref name="scoring"/> a NaN no draw beyond float explains is refused; the trainer's divergence checks take it otherwise.
    /// </summary>
    internal static double Mean(HelmholtzMachine machine, DataMatrix data, RandomStream random, LayerStates states, CancellationToken cancellationToken, bool scoring = false)
    {
        int batch = states.Capacity;
        double[] fe = new double[batch], lj = new double[batch];
        double sum = 0;
        for (int start = 0; start < data.Rows; start += batch)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int rows = Math.Min(batch, data.Rows - start);
            data.Values.AsSpan(start * data.Columns, rows * data.Columns).CopyTo(states.Layer(0, rows));
            machine.SampleFreeEnergy(random, states, rows, fe, lj, null, scoring);
            for (int r = 0; r < rows; r++) sum += fe[r];
        }
        return sum / data.Rows;
    }
}
