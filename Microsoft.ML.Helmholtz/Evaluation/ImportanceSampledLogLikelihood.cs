using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Evaluation;

/// <summary>
/// ln p(x) ≈ ln (1/K) Σ_k exp(−F̂_k) with F̂_k = ln q(h_k | x) − ln p(x, h_k), h_k ~ q(· | x): an
/// estimate whose expectation lies below ln p(x) (Jensen) and which converges to it as K grows.
/// Samples of all examples are packed into chunks of rows and reduced with a streaming log-sum-exp,
/// so any K runs in bounded memory.
/// </summary>
public sealed class ImportanceSampledLogLikelihood
{
    public ImportanceSampledLogLikelihood(int samples, ulong seed = 1, int rowsPerChunk = 2000)
    {
        if (samples <= 0) throw new ArgumentOutOfRangeException(nameof(samples), "K, the number of samples per example, must be positive.");
        if (rowsPerChunk <= 0) throw new ArgumentOutOfRangeException(nameof(rowsPerChunk), "rowsPerChunk must be positive.");
        Samples = samples;
        Seed = seed;
        RowsPerChunk = rowsPerChunk;
    }

    public int Samples { get; }
    public ulong Seed { get; }
    public int RowsPerChunk { get; }

    public LogLikelihoodEstimate Estimate(HelmholtzMachine machine, DataMatrix data, IProgress<double>? progress = null, CancellationToken cancellationToken = default)
        => LogLikelihoodEstimate.FromPerExample(EstimatePerExample(machine, data, progress, cancellationToken), Samples);

    /// <summary>The estimate of ln p(x) for each row of <paramref name="data"/>.</summary>
    public double[] EstimatePerExample(HelmholtzMachine machine, DataMatrix data, IProgress<double>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(machine);
        ArgumentNullException.ThrowIfNull(data);
        DataValidation.Validate(data.Values, data.Rows, data.Columns, machine.Architecture.Visible, "data");
        long total = (long)data.Rows * Samples;
        int chunk = (int)Math.Min(RowsPerChunk, total);
        var states = new LayerStates(machine.Architecture, chunk);
        var random = new RandomStream(Seed);
        double[] freeEnergy = new double[chunk], logJoint = new double[chunk];
        int[] rowSource = new int[chunk];
        var sums = new LogSumExpAccumulator[data.Rows];
        Array.Fill(sums, LogSumExpAccumulator.Empty);
        int columns = data.Columns;

        for (long first = 0; first < total; first += chunk)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int rows = (int)Math.Min(chunk, total - first);
            Span<float> x0 = states.Layer(0, rows);
            int firstExample = (int)(first / Samples), lastExample = (int)((first + rows - 1) / Samples);
            for (int r = 0; r < rows; r++)
            {
                int example = (int)((first + r) / Samples);
                rowSource[r] = example - firstExample;
                data.Values.AsSpan(example * columns, columns).CopyTo(x0.Slice(r * columns, columns));
            }
            // The K samples of one example share the bottom recognition layer's distribution.
            int distinct = lastExample - firstExample + 1;
            machine.SampleFreeEnergy(random, states, rows, data.Values.AsSpan(firstExample * columns, distinct * columns), distinct, rowSource,
                freeEnergy, logJoint);
            for (int r = 0; r < rows; r++)
                sums[(int)((first + r) / Samples)].Add(-freeEnergy[r]);
            progress?.Report((double)(first + rows) / total);
        }

        double logK = Math.Log(Samples);
        var result = new double[data.Rows];
        for (int i = 0; i < result.Length; i++) result[i] = sums[i].Value - logK;
        return result;
    }
}
