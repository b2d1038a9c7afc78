using Microsoft.ML.Helmholtz.Concurrency;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Evaluation;

/// <summary>Which hidden layers give the features.</summary>
public enum FeatureLayers
{
    /// <summary>The top hidden layer: the most abstract code, and the smallest.</summary>
    Top,

    /// <summary>Every hidden layer, bottom-up, concatenated.</summary>
    AllHidden,
}

/// <summary>
/// The features of a row: the recognition network's deterministic pass, each hidden layer's
/// probabilities (Bernoulli units) or means (Gaussian units) given the same of the layer below,
/// starting from the row. They are what the machine infers about the causes of the row, without
/// sampling, so a row's features are a function of the row alone.
/// </summary>
/// <remarks>
/// Built once from a copy of the machine taken then; immutable. Extract with one
/// <see cref="Extractor"/> per thread. The products run on the managed engine, which sums every
/// element of a product in the same order whatever the product's shape (a BLAS picks kernels by
/// shape and position, so a row could get other bits in another batch): a row's features are the
/// same bits alone, in any batch, in any order.
/// </remarks>
public sealed class RecognitionFeatures
{
    /// <summary>Rows per product unless given (a call's rows are taken in blocks of at most this many).</summary>
    public const int DefaultRowsPerBlock = 1024;

    /// <summary>
    /// Takes a copy of <paramref name="machine"/> (later changes to it are not seen). Throws <see cref="NotFiniteNumberException"/>
    /// when a parameter of the machine is not finite.
    /// </summary>
    /// <param name="machine">The machine whose recognition network gives the features.</param>
    /// <param name="layers">Which hidden layers give the features.</param>
    /// <param name="rowsPerBlock">
    /// Most rows an extractor computes at once; positive, and refused when a block of that many rows would not fit one array.
    /// Not given (null): <see cref="DefaultRowsPerBlock"/>, lowered, down to 1, for a machine so wide that such a block would not fit.
    /// </param>
    public RecognitionFeatures(HelmholtzMachine machine, FeatureLayers layers = FeatureLayers.Top, int? rowsPerBlock = null)
    {
        ArgumentNullException.ThrowIfNull(machine);
        if (rowsPerBlock is { } given) ArgumentOutOfRangeException.ThrowIfNegativeOrZero(given, nameof(rowsPerBlock));
        if (!Enum.IsDefined(layers)) throw new ArgumentOutOfRangeException(nameof(layers), layers, "Unknown feature layers.");
        // Each extractor holds RowsPerBlock rows of every layer. The default is held to what one array holds for the machine's widest
        // row (a very wide machine, whose exports and transformers take the default, is not refused for it); a block the caller asks
        // for that no array holds is refused here, naming the argument, not when an extractor is made.
        int rows = rowsPerBlock ?? (int)Math.Clamp(Array.MaxLength / machine.WidestRow, 1, DefaultRowsPerBlock);
        machine.RequireRows(rows, nameof(rowsPerBlock), $"An extractor's blocks of {rows} rows (rowsPerBlock)", "use a smaller rowsPerBlock");
        Machine = machine.Clone();
        MachineFile.RequireFiniteToScore(Machine.Parameters);
        Layers = layers;
        RowsPerBlock = rows;
        var hidden = Machine.Architecture.Layers.Skip(1);
        Size = layers == FeatureLayers.Top ? Machine.Architecture.Layers[^1].Size : hidden.Sum(l => l.Size);
    }

    internal HelmholtzMachine Machine { get; }
    /// <summary>Which hidden layers give the features.</summary>
    public FeatureLayers Layers { get; }
    /// <summary>Most rows an extractor computes at once: the constructor's argument, or less for the default on a very wide machine.</summary>
    public int RowsPerBlock { get; }

    /// <summary>Features per row.</summary>
    public int Size { get; }

    /// <summary>An extractor with buffers of its own, for one thread.</summary>
    public Extractor CreateExtractor() => new(this);

    /// <summary>
    /// Extracts on one thread at a time; make one per thread. A call while another thread's call runs is refused with an
    /// <see cref="InvalidOperationException"/> (the two would share its buffers and read each other's features).
    /// </summary>
    public sealed class Extractor
    {
        /// <summary>The guard each call holds (tests hold it from another thread).</summary>
        internal UsageGuard Guard { get; } = new("This RecognitionFeatures.Extractor", "Make one extractor per thread with RecognitionFeatures.CreateExtractor.");
        private readonly RecognitionFeatures _owner;
        private readonly HelmholtzMachine _machine;
        private LayerStates? _states;

        internal Extractor(RecognitionFeatures owner)
        {
            _owner = owner;
            // The copy only infers, so its weights are packed once as products' B, not at every call (one row at a time
            // paid for packing all of them each time); the same products otherwise, so the same bits.
            _machine = owner.Machine.InferenceCopy();
        }

        /// <summary>The engine of the extractor's copy of the machine.</summary>
        internal IMatrixEngine Engine => _machine.Engine;

        /// <summary>Rows the extractor's states hold now: they grow with the calls, up to <see cref="RowsPerBlock"/>.</summary>
        internal int Capacity => _states?.Capacity ?? 0;

        // A row at a time (a PredictionEngine) needs a row's states, not a block's: grow to the largest call, doubling.
        private LayerStates States(int rows)
        {
            if (_states is null || _states.Capacity < rows)
                _states = new LayerStates(_machine.Architecture, (int)Math.Min(_owner.RowsPerBlock, Math.Max(rows, 2L * (_states?.Capacity ?? 0))));
            return _states;
        }

        /// <summary>features[i × Size …] = the features of row i, for the <paramref name="count"/> rows (at least one) of <paramref name="rows"/>.</summary>
        public void Extract(ReadOnlySpan<float> rows, int count, Span<float> features)
        {
            using var use = Guard.Enter("Extractor.Extract");
            ArgumentOutOfRangeException.ThrowIfNegative(count);
            var architecture = _machine.Architecture;
            int columns = architecture.Visible.Size, size = _owner.Size, depth = architecture.Depth;
            DataValidation.Validate(rows, count, columns, architecture.Visible, "rows");
            if (features.Length < (long)count * size) throw new ArgumentException($"features holds {features.Length} values, fewer than {count} rows × {size}.", nameof(features));
            LayerStates states = States(Math.Min(_owner.RowsPerBlock, count));
            for (int first = 0; first < count; first += _owner.RowsPerBlock)
            {
                int n = Math.Min(_owner.RowsPerBlock, count - first);
                rows.Slice(first * columns, n * columns).CopyTo(states.Layer(0, n));
                _machine.Recognition.Infer(n, states);
                Span<float> destination = features.Slice(first * size, n * size);
                if (_owner.Layers == FeatureLayers.Top)
                {
                    states.Layer(depth, n).CopyTo(destination);
                    continue;
                }
                int offset = 0;
                for (int l = 1; l <= depth; l++)
                {
                    int units = architecture.Layers[l].Size;
                    ReadOnlySpan<float> layer = states.Layer(l, n);
                    for (int r = 0; r < n; r++) layer.Slice(r * units, units).CopyTo(destination.Slice(r * size + offset, units));
                    offset += units;
                }
            }
        }
    }
}
