using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Evaluation;

/// <summary>
/// ln p(x) ≈ ln (1/K) Σ_k exp(−F̂(x, ξ_k)): importance sampling from q with the noise ξ_1 … ξ_K of
/// every hidden layer drawn once from the seed and used for every row (common random numbers).
/// Each row's estimate is then a function of the row alone, the same whatever is scored with it,
/// in whatever order, in whatever batches, on however many threads; for one row its error is that
/// of <see cref="ImportanceSampledLogLikelihood"/>. Across rows the errors are correlated (the same
/// draws), so a mean over many rows is better estimated by that estimator.
/// </summary>
/// <remarks>
/// Built once from a copy of the machine taken then; it is immutable and safe to share. Score with
/// one <see cref="Scorer"/> per thread (<see cref="CreateScorer"/>): a scorer holds the buffers.
/// </remarks>
public sealed class FixedNoiseLogLikelihood
{
    private readonly float[][] _noise;

    public FixedNoiseLogLikelihood(HelmholtzMachine machine, int samples, ulong seed = 1, int rowsPerChunk = ImportanceSampledLogLikelihood.DefaultRowsPerChunk)
    {
        ArgumentNullException.ThrowIfNull(machine);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(samples);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rowsPerChunk);
        var layers = machine.Architecture.Layers;
        long noiseValues = layers.Skip(1).Sum(l => (long)l.Size) * samples;
        if (noiseValues > HelmholtzArchitecture.MaxParameterCount)
            throw new ArgumentOutOfRangeException(nameof(samples), samples,
                $"K = {samples} samples of {layers.Skip(1).Sum(l => l.Size)} hidden units need {noiseValues:N0} noise values, more than the limit of {HelmholtzArchitecture.MaxParameterCount:N0}.");
        Machine = machine.Clone();
        Samples = samples;
        Seed = seed;
        RowsPerChunk = rowsPerChunk;
        var random = new RandomStream(seed);
        _noise = new float[Machine.Architecture.Depth][];
        for (int l = 1; l <= Machine.Architecture.Depth; l++)
        {
            _noise[l - 1] = new float[samples * layers[l].Size];
            if (Machine.Recognition.Layer(l).NoiseIsNormal) random.FillNormal(_noise[l - 1]);
            else random.FillUniform(_noise[l - 1]);
        }
    }

    /// <summary>The copy of the machine this scores (do not change it).</summary>
    internal HelmholtzMachine Machine { get; }

    public int Samples { get; }
    public ulong Seed { get; }
    public int RowsPerChunk { get; }

    /// <summary>
    /// The fixed noise of hidden layer <paramref name="layer"/> (1…L), [K × units]: uniforms in (0, 1)
    /// for Bernoulli units (unit on when u &lt; sigmoid(a)), standard normals for Gaussian ones
    /// (h = μ + exp(s/2) ε). Sample k of every row uses row k. An export of this estimator (an ONNX
    /// graph) holds these values to give the same numbers.
    /// </summary>
    public ReadOnlySpan<float> Noise(int layer) => _noise[layer - 1];

    /// <summary>A scorer with buffers of its own, for one thread.</summary>
    public Scorer CreateScorer() => new(this);

    /// <summary>Scores rows on one thread at a time; make one per thread.</summary>
    public sealed class Scorer
    {
        private readonly FixedNoiseLogLikelihood _owner;
        private readonly HelmholtzMachine _machine;
        private readonly float[][] _chunkNoise;
        private readonly LayerStates _states;
        private readonly double[] _freeEnergy, _logJoint;
        private readonly int[] _rowSource;

        internal Scorer(FixedNoiseLogLikelihood owner)
        {
            _owner = owner;
            _machine = owner.Machine.Clone();
            int chunk = Math.Min(owner.RowsPerChunk, owner.Samples);
            _states = new LayerStates(_machine.Architecture, chunk);
            _chunkNoise = _machine.Architecture.Layers.Skip(1).Select(l => new float[chunk * l.Size]).ToArray();
            _freeEnergy = new double[chunk];
            _logJoint = new double[chunk];
            _rowSource = new int[chunk];   // all 0: every sample of a chunk is of one row
        }

        /// <summary>
        /// result[i] = the estimate of ln p(x_i) for the <paramref name="count"/> rows of
        /// <paramref name="rows"/>, and, when <paramref name="monteCarloVariance"/> is not empty, the
        /// delta-method variance of each estimate from its weights.
        /// </summary>
        /// <remarks>
        /// Each row is computed on its own, its K samples in chunks of the same shapes whatever the
        /// call: products give the same bits for the same shapes, so a row's estimate does not
        /// depend on the rows beside it (for a given engine and core count).
        /// </remarks>
        public void Estimate(ReadOnlySpan<float> rows, int count, Span<double> result, Span<double> monteCarloVariance = default)
        {
            var visible = _machine.Architecture.Visible;
            DataValidation.Validate(rows, count, visible.Size, visible, "rows");
            if (result.Length < count) throw new ArgumentException($"result holds {result.Length} values, fewer than the {count} rows.", nameof(result));
            if (!monteCarloVariance.IsEmpty && monteCarloVariance.Length < count)
                throw new ArgumentException($"monteCarloVariance holds {monteCarloVariance.Length} values, fewer than the {count} rows.", nameof(monteCarloVariance));
            int k = _owner.Samples, columns = visible.Size, capacity = _states.Capacity;
            double logK = Math.Log(k);
            for (int i = 0; i < count; i++)
            {
                ReadOnlySpan<float> row = rows.Slice(i * columns, columns);
                var sum = LogSumExpAccumulator.Empty;
                for (int first = 0; first < k; first += capacity)
                {
                    int chunkRows = Math.Min(capacity, k - first);
                    for (int l = 0; l < _chunkNoise.Length; l++)
                    {
                        int units = _machine.Architecture.Layers[l + 1].Size;
                        _owner._noise[l].AsSpan(first * units, chunkRows * units).CopyTo(_chunkNoise[l]);
                    }
                    _machine.FreeEnergyWithNoise(_chunkNoise, _states, chunkRows, row, 1, _rowSource, _freeEnergy, _logJoint);
                    for (int r = 0; r < chunkRows; r++) sum.Add(-_freeEnergy[r]);
                }
                result[i] = sum.Value - logK;
                if (!monteCarloVariance.IsEmpty) monteCarloVariance[i] = sum.LogMeanVariance;
            }
        }
    }
}
