using Microsoft.ML.Helmholtz.Concurrency;
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

    /// <summary>Null when K = <paramref name="samples"/> draws' noise fits the size limit for <paramref name="machine"/>; else why not (checked before work that would need it).</summary>
    internal static string? TooManySamples(HelmholtzMachine machine, int samples)
    {
        long perSample = Enumerable.Range(1, machine.Architecture.Depth).Sum(l => (long)machine.Recognition.Layer(l).NoisePerRow);
        long noiseValues = perSample * samples;
        return noiseValues <= HelmholtzArchitecture.MaxParameterCount ? null
            : $"K = {samples} samples of {perSample} noise values each (the hidden units' draws) need {noiseValues:N0} noise values, more than the limit of {HelmholtzArchitecture.MaxParameterCount:N0}.";
    }

    /// <summary>
    /// Takes a copy of <paramref name="machine"/> (later changes to it are not seen) and draws the noise of
    /// <paramref name="samples"/> samples from <paramref name="seed"/>. Throws <see cref="NotFiniteNumberException"/>
    /// when a parameter of the machine is not finite.
    /// </summary>
    /// <param name="machine">The machine to score.</param>
    /// <param name="samples">K, the importance samples per row; positive.</param>
    /// <param name="seed">Seed of the random stream the fixed noise is drawn from.</param>
    /// <param name="rowsPerChunk">About how many sample rows (rows × K) a scorer passes through the layers at once, which sizes each scorer's buffers; positive.</param>
    public FixedNoiseLogLikelihood(HelmholtzMachine machine, int samples, ulong seed = 1, int rowsPerChunk = ImportanceSampledLogLikelihood.DefaultRowsPerChunk)
    {
        ArgumentNullException.ThrowIfNull(machine);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(samples);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rowsPerChunk);
        if (TooManySamples(machine, samples) is { } problem) throw new ArgumentOutOfRangeException(nameof(samples), samples, problem);
        // A scorer's chunk passes through every layer's buffers: refused here, naming the argument, not when a scorer is made.
        long chunk = Scorer.ChunkRows(samples, rowsPerChunk);
        machine.RequireRows(chunk, nameof(rowsPerChunk), $"A scorer's chunks of {chunk} rows (rowsPerChunk = {rowsPerChunk}, K = {samples})", "use a smaller rowsPerChunk");
        Machine = machine.Clone();
        MachineFile.RequireFiniteToScore(Machine.Parameters);
        Samples = samples;
        Seed = seed;
        RowsPerChunk = rowsPerChunk;
        var random = new RandomStream(seed);
        _noise = new float[Machine.Architecture.Depth][];
        for (int l = 1; l <= Machine.Architecture.Depth; l++)
        {
            _noise[l - 1] = new float[samples * Machine.Recognition.Layer(l).NoisePerRow];
            if (Machine.Recognition.Layer(l).NoiseIsNormal) random.FillNormal(_noise[l - 1]);
            else random.FillUniform(_noise[l - 1]);
        }
    }

    /// <summary>The copy of the machine this scores (do not change it).</summary>
    internal HelmholtzMachine Machine { get; }

    /// <summary>K, the importance samples per row.</summary>
    public int Samples { get; }
    /// <summary>Seed the fixed noise was drawn from.</summary>
    public ulong Seed { get; }
    /// <summary>The constructor's <c>rowsPerChunk</c>: about how many sample rows a scorer passes through the layers at once.</summary>
    public int RowsPerChunk { get; }

    /// <summary>
    /// The fixed noise of hidden layer <paramref name="layer"/> (1…L), [K × the layer's noise per row, its units or one more for a rank-one factor]: uniforms in (0, 1)
    /// for Bernoulli units (unit on when u &lt; sigmoid(a)), standard normals for Gaussian ones
    /// (h = μ + exp(s/2) ε). Sample k of every row uses row k. An export of this estimator (an ONNX
    /// graph) holds these values to give the same numbers.
    /// </summary>
    public ReadOnlySpan<float> Noise(int layer)
    {
        if (layer < 1 || layer > _noise.Length)
            throw new ArgumentOutOfRangeException(nameof(layer), layer, $"Layer {layer}: the hidden layers that draw noise are 1 to {_noise.Length}.");
        return _noise[layer - 1];
    }

    /// <summary>A scorer with buffers of its own, for one thread.</summary>
    public Scorer CreateScorer() => new(this);

    /// <summary>
    /// Scores rows on one thread at a time; make one per thread. A call while another thread's call runs is refused with an
    /// <see cref="InvalidOperationException"/> (the two would share its buffers and read each other's estimates).
    /// </summary>
    public sealed class Scorer
    {
        /// <summary>The guard each call holds (tests hold it from another thread).</summary>
        internal UsageGuard Guard { get; } = new("This FixedNoiseLogLikelihood.Scorer", "Make one scorer per thread with FixedNoiseLogLikelihood.CreateScorer.");
        private readonly FixedNoiseLogLikelihood _owner;
        private readonly HelmholtzMachine _machine;
        private readonly float[][] _chunkNoise;
        private readonly LayerStates _states;
        private readonly double[] _freeEnergy, _logJoint;
        private readonly int[] _rowSource;
        private readonly float[] _visible;
        private readonly int _slots, _distinct;

        internal Scorer(FixedNoiseLogLikelihood owner)
        {
            _owner = owner;
            int k = owner.Samples;
            // From K = 64 on, each row alone (its K samples fill products well enough: K = 100 runs at
            // about 90% of 1000-row chunks), so one row costs no more than its share. Below, whole rows
            // per chunk in fixed slots: G = ⌊chunk / K⌋ rows of K samples each, products padded to
            // whole blocks of rows (the chunk to 64, the distinct rows to 16), so that a product never
            // ends in a part-filled block, whose rows a BLAS may compute by another kernel.
            _slots = Slots(k, owner.RowsPerChunk);
            // Alone, a row's products have the same shapes and places in every call, on any engine. In
            // slots, a row's place changes: the managed engine sums every element in the same order
            // wherever it sits (a BLAS may not: it picks kernels by shape and position).
            // (On the managed engine, the copy's weights are packed once: it only infers.)
            _machine = _slots > 1 ? owner.Machine.InferenceCopy() : owner.Machine.Clone();
            int chunk = (int)ChunkRows(k, owner.RowsPerChunk);   // checked to fit when the estimator was made
            _distinct = _slots == 1 ? 1 : RoundUp(_slots, 16);
            _states = new LayerStates(_machine.Architecture, chunk);
            _chunkNoise = new float[_machine.Architecture.Depth][];
            for (int l = 1; l <= _machine.Architecture.Depth; l++)
            {
                // Every slot draws with noise rows 0…K−1: the noise laid out once for the whole chunk.
                int units = _machine.Recognition.Layer(l).NoisePerRow;
                _chunkNoise[l - 1] = new float[chunk * units];
                if (_slots > 1)
                    for (int slot = 0; slot < _slots; slot++) owner._noise[l - 1].CopyTo(_chunkNoise[l - 1], slot * k * units);
            }
            _freeEnergy = new double[chunk];
            _logJoint = new double[chunk];
            _rowSource = new int[chunk];
            // Padding rows read the padding rows of the distinct rows (the order must not decrease).
            for (int r = 0; r < chunk; r++) _rowSource[r] = _slots == 1 ? 0 : Math.Min(r / k, _distinct - 1);
            _visible = new float[_distinct * _machine.Architecture.Visible.Size];
            // The copy is the scorer's own and never changes: its visible layer can be laid out once for one fused kernel,
            // which gives a row the same bits wherever it sits in a chunk.
            _visibleProduct = _machine.VisibleProductOperands();
        }

        private readonly BernoulliProductOperands? _visibleProduct;

        /// <summary>Rows computed together in one chunk: 1 from K = 64 on, else the slots of a chunk (fewer rows still cost a whole chunk).</summary>
        internal int RowsTogether => _slots;

        /// <summary>K from which each row is scored alone.</summary>
        private const int SlotsBelow = 64;

        /// <summary>The rows scored together: one alone from K = <see cref="SlotsBelow"/> on, else as many as a chunk holds.</summary>
        private static int Slots(int k, int rowsPerChunk) => k >= SlotsBelow ? 1 : Math.Max(1, rowsPerChunk / k);

        /// <summary>The rows of a scorer's chunk, in long: rounded up to whole blocks, it can pass an int.</summary>
        internal static long ChunkRows(int k, int rowsPerChunk)
        {
            int slots = Slots(k, rowsPerChunk);
            return slots == 1 ? Math.Min(rowsPerChunk, k) : ((long)slots * k + 63) / 64 * 64;
        }

        private static int RoundUp(int value, int multiple) => (value + multiple - 1) / multiple * multiple;

        /// <summary>
        /// result[i] = the estimate of ln p(x_i) for the <paramref name="count"/> rows of
        /// <paramref name="rows"/>, and, when <paramref name="monteCarloVariance"/> is not empty, the
        /// delta-method variance of each estimate from its weights.
        /// </summary>
        /// <remarks>
        /// A row's estimate does not depend on the rows beside it: from K = 64 each row is computed
        /// alone in products of the same shapes every time (for a given engine and core count), below
        /// it in fixed slots of chunks of one shape on the managed engine, which gives a row the same
        /// bits in any slot (tested on both engines and every instruction set CI runs).
        /// </remarks>
        public void Estimate(ReadOnlySpan<float> rows, int count, Span<double> result, Span<double> monteCarloVariance = default)
        {
            using var use = Guard.Enter("Scorer.Estimate");
            ArgumentOutOfRangeException.ThrowIfNegative(count);   // named as the count, before the rows are measured by it
            var visible = _machine.Architecture.Visible;
            DataValidation.Validate(rows, count, visible.Size, visible, "rows");
            if (result.Length < count) throw new ArgumentException($"result holds {result.Length} values, fewer than the {count} rows.", nameof(result));
            if (!monteCarloVariance.IsEmpty && monteCarloVariance.Length < count)
                throw new ArgumentException($"monteCarloVariance holds {monteCarloVariance.Length} values, fewer than the {count} rows.", nameof(monteCarloVariance));
            if (_slots == 1) EstimateOneAtATime(rows, count, result, monteCarloVariance);
            else EstimateInSlots(rows, count, result, monteCarloVariance);
        }

        /// <summary>K ≥ 64 (or over half a chunk): each row alone, its samples in chunks at fixed offsets.</summary>
        private void EstimateOneAtATime(ReadOnlySpan<float> rows, int count, Span<double> result, Span<double> monteCarloVariance)
        {
            int k = _owner.Samples, columns = _machine.Architecture.Visible.Size, capacity = _states.Capacity;
            for (int i = 0; i < count; i++)
            {
                ReadOnlySpan<float> row = rows.Slice(i * columns, columns);
                var sum = LogSumExpAccumulator.Empty;
                for (int first = 0; first < k; first += capacity)
                {
                    int chunkRows = Math.Min(capacity, k - first);
                    for (int l = 0; l < _chunkNoise.Length; l++)
                    {
                        int units = _machine.Recognition.Layer(l + 1).NoisePerRow;
                        _owner._noise[l].AsSpan(first * units, chunkRows * units).CopyTo(_chunkNoise[l]);
                    }
                    _machine.FreeEnergyWithNoise(_chunkNoise, _states, chunkRows, row, 1, _rowSource, _freeEnergy, _logJoint, null, _visibleProduct);
                    for (int r = 0; r < chunkRows; r++) sum.Add(-_freeEnergy[r]);
                }
                Finish(sum, i, result, monteCarloVariance);
            }
        }

        /// <summary>K below 64: G rows a chunk, row j of the chunk in slot j (samples jK … jK + K − 1).</summary>
        private void EstimateInSlots(ReadOnlySpan<float> rows, int count, Span<double> result, Span<double> monteCarloVariance)
        {
            int k = _owner.Samples, columns = _machine.Architecture.Visible.Size, chunk = _states.Capacity;
            for (int first = 0; first < count; first += _slots)
            {
                int used = Math.Min(_slots, count - first);
                rows.Slice(first * columns, used * columns).CopyTo(_visible);
                for (int slot = used; slot < _distinct; slot++) rows.Slice(first * columns, columns).CopyTo(_visible.AsSpan(slot * columns));
                _machine.FreeEnergyWithNoise(_chunkNoise, _states, chunk, _visible, _distinct, _rowSource, _freeEnergy, _logJoint, null, _visibleProduct);
                for (int slot = 0; slot < used; slot++)
                {
                    var sum = LogSumExpAccumulator.Empty;
                    for (int r = slot * k; r < (slot + 1) * k; r++) sum.Add(-_freeEnergy[r]);
                    Finish(sum, first + slot, result, monteCarloVariance);
                }
            }
        }

        private void Finish(in LogSumExpAccumulator sum, int row, Span<double> result, Span<double> monteCarloVariance)
        {
            result[row] = sum.Value - Math.Log(_owner.Samples);
            if (!monteCarloVariance.IsEmpty) monteCarloVariance[row] = sum.LogMeanVariance;
        }
    }
}
