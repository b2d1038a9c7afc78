using Microsoft.ML.Helmholtz.Model;

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
/// <remarks>Built once from a copy of the machine taken then; immutable. Extract with one <see cref="Extractor"/> per thread.</remarks>
public sealed class RecognitionFeatures
{
    /// <summary>
    /// Rows per product unless given: every product has this many rows (the last block of a call is
    /// padded), because a row's result can differ in the last bits between products of different
    /// shapes; 64 rows run at about 90% of the speed of 1000-row blocks (MNIST, 784b-200g-50g).
    /// </summary>
    public const int DefaultRowsPerBlock = 64;

    public RecognitionFeatures(HelmholtzMachine machine, FeatureLayers layers = FeatureLayers.Top, int rowsPerBlock = DefaultRowsPerBlock)
    {
        ArgumentNullException.ThrowIfNull(machine);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rowsPerBlock);
        if (!Enum.IsDefined(layers)) throw new ArgumentOutOfRangeException(nameof(layers), layers, "Unknown feature layers.");
        Machine = machine.Clone();
        Layers = layers;
        RowsPerBlock = rowsPerBlock;
        var hidden = Machine.Architecture.Layers.Skip(1);
        Size = layers == FeatureLayers.Top ? Machine.Architecture.Layers[^1].Size : hidden.Sum(l => l.Size);
    }

    internal HelmholtzMachine Machine { get; }
    public FeatureLayers Layers { get; }
    public int RowsPerBlock { get; }

    /// <summary>Features per row.</summary>
    public int Size { get; }

    public Extractor CreateExtractor() => new(this);

    /// <summary>Extracts on one thread at a time; make one per thread.</summary>
    public sealed class Extractor
    {
        private readonly RecognitionFeatures _owner;
        private readonly HelmholtzMachine _machine;
        private readonly LayerStates _states;

        internal Extractor(RecognitionFeatures owner)
        {
            _owner = owner;
            _machine = owner.Machine.Clone();
            _states = new LayerStates(_machine.Architecture, owner.RowsPerBlock);
        }

        /// <summary>
        /// features[i × Size …] = the features of row i, for the <paramref name="count"/> rows of
        /// <paramref name="rows"/>. Every block of rows has the same shape (the last is padded with
        /// zeros), so a row's features do not depend on the rows beside it (for a given engine and core count).
        /// </summary>
        public void Extract(ReadOnlySpan<float> rows, int count, Span<float> features)
        {
            var architecture = _machine.Architecture;
            int columns = architecture.Visible.Size, size = _owner.Size, depth = architecture.Depth;
            DataValidation.Validate(rows, count, columns, architecture.Visible, "rows");
            if (features.Length < (long)count * size) throw new ArgumentException($"features holds {features.Length} values, fewer than {count} rows × {size}.", nameof(features));
            int block = _states.Capacity;
            for (int first = 0; first < count; first += block)
            {
                int n = Math.Min(block, count - first);
                Span<float> input = _states.Layer(0, block);
                rows.Slice(first * columns, n * columns).CopyTo(input);
                input[(n * columns)..].Clear();
                _machine.Recognition.Infer(block, _states);
                Span<float> destination = features.Slice(first * size, n * size);
                if (_owner.Layers == FeatureLayers.Top)
                {
                    _states.Layer(depth, n).CopyTo(destination);
                    continue;
                }
                int offset = 0;
                for (int l = 1; l <= depth; l++)
                {
                    int units = architecture.Layers[l].Size;
                    ReadOnlySpan<float> layer = _states.Layer(l, n);
                    for (int r = 0; r < n; r++) layer.Slice(r * units, units).CopyTo(destination.Slice(r * size + offset, units));
                    offset += units;
                }
            }
        }
    }
}
