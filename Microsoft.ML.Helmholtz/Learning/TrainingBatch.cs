using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Learning;

/// <summary>
/// One minibatch as a learning rule sees it: the examples, the K sample rows of each in the states
/// (rows grouped by example: example e's samples are rows eK … eK + K − 1, each holding the example in
/// states[0]), optional conditioning of every layer per row, and the random stream. Allocated once
/// for a capacity and reused; one thread at a time.
/// </summary>
public sealed class TrainingBatch
{
    private readonly float[]? _examples;   // K > 1: one row per example (K = 1: states[0] is the examples)
    private readonly int[] _rowSource;

    /// <summary>A batch of up to <paramref name="capacity"/> examples with <paramref name="samplesPerExample"/> rows each.</summary>
    public TrainingBatch(HelmholtzArchitecture architecture, int capacity, int samplesPerExample, RandomStream random, bool conditioned = false)
    {
        ArgumentNullException.ThrowIfNull(architecture);
        ArgumentNullException.ThrowIfNull(random);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(samplesPerExample);
        long rows = (long)capacity * samplesPerExample;
        if (rows > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(samplesPerExample), $"{capacity} examples × {samplesPerExample} samples is too many rows for one batch.");
        Capacity = capacity;
        SamplesPerExample = samplesPerExample;
        States = new LayerStates(architecture, (int)rows);
        _examples = samplesPerExample > 1 ? new float[(long)capacity * architecture.Visible.Size] : null;
        _rowSource = new int[rows];
        for (int r = 0; r < rows; r++) _rowSource[r] = r / samplesPerExample;
        Conditioning = conditioned ? new LayerConditioning(architecture, (int)rows) : null;
        Random = random;
    }

    /// <summary>
    /// A batch of one sample per example over existing states whose first <paramref name="examples"/> rows hold the examples,
    /// checked as <see cref="Load"/> checks them (a later write to the states is the caller's to check).
    /// </summary>
    public TrainingBatch(LayerStates states, int examples, RandomStream random, LayerConditioning? conditioning = null)
    {
        ArgumentNullException.ThrowIfNull(states);
        ArgumentNullException.ThrowIfNull(random);
        states.Check(states.Architecture, examples, nameof(examples));
        conditioning?.Check(states.Architecture, examples);
        LayerDefinition visible = states.Architecture.Visible;
        DataValidation.Validate(states.Layer(0, examples), examples, visible.Size, visible, "the states' visible rows (layer 0)", nameof(states));
        Capacity = states.Capacity;
        SamplesPerExample = 1;
        States = states;
        _rowSource = Enumerable.Range(0, states.Capacity).ToArray();
        Conditioning = conditioning;
        Random = random;
        Examples = examples;
    }

    /// <summary>The most examples the batch holds: <see cref="Load"/> takes 1 to Capacity.</summary>
    public int Capacity { get; }
    /// <summary>K, the sample rows of each example; a rule whose <see cref="ILearningRule.SamplesPerExample"/> differs refuses the batch.</summary>
    public int SamplesPerExample { get; }

    /// <summary>The examples loaded by <see cref="Load"/>.</summary>
    public int Examples { get; private set; }

    /// <summary>
    /// The sample rows: <see cref="Examples"/> × <see cref="SamplesPerExample"/>. Every rule reads it first, so a batch
    /// that was never loaded is named here (a rule would otherwise size its buffers for 0 rows and refuse those).
    /// </summary>
    /// <exception cref="InvalidOperationException">The batch holds no examples: <see cref="Load"/> was not called.</exception>
    public int Rows => Examples > 0 ? Examples * SamplesPerExample
        : throw new InvalidOperationException("The training batch holds no examples: write them to ExampleRows and call TrainingBatch.Load before a rule's AccumulateGradients.");

    /// <summary>The workspace: states[0] the examples' visible values per sample row, the hidden layers what the rule draws.</summary>
    public LayerStates States { get; }

    /// <summary>Per-row conditioning of every layer, and its gradients; null when the batch is not conditioned.</summary>
    public LayerConditioning? Conditioning { get; }

    /// <summary>
    /// Whether the caller gives the K rows of an example the same conditioning (as the temporal trainer
    /// does: they are the draws of one frame under one c_t). Then, as without conditioning, the bottom
    /// recognition layer runs once per example. Rows of one example with different conditioning would be
    /// given the first row's in that layer: leave it false for those.
    /// </summary>
    public bool ConditioningSharedByExample { get; init; }

    /// <summary>The random stream a rule draws the batch's samples from.</summary>
    public RandomStream Random { get; }

    /// <summary>The first <paramref name="examples"/> example rows, to be written before <see cref="Load"/>.</summary>
    public Span<float> ExampleRows(int examples)
    {
        if ((uint)examples > (uint)Capacity) throw new ArgumentOutOfRangeException(nameof(examples), $"{examples} examples: the batch holds 0 to {Capacity}.");
        return _examples is null ? States.Layer(0, examples) : _examples.AsSpan(0, examples * States.Architecture.Visible.Size);
    }

    /// <summary>The loaded examples, one row each.</summary>
    public ReadOnlySpan<float> Visible => ExampleRows(Examples);

    /// <summary>Row r's example: r / K.</summary>
    public ReadOnlySpan<int> RowSource => _rowSource.AsSpan(0, Rows);

    /// <summary>
    /// One free-energy sample per row (<see cref="HelmholtzMachine.SampleFreeEnergy(RandomStream, LayerStates, int, Span{double}, Span{double}, LayerConditioning?)"/>)
    /// with this batch's random stream and conditioning. With K &gt; 1 samples per example and no
    /// conditioning (or conditioning shared by an example's rows, <see cref="ConditioningSharedByExample"/>),
    /// the bottom recognition layer runs once per example (its K rows share the input) rather than once
    /// per row; the states' visible rows are still every row's, for the backward.
    /// </summary>
    public void SampleFreeEnergy(HelmholtzMachine machine, Span<double> freeEnergy, Span<double> logJoint)
    {
        ArgumentNullException.ThrowIfNull(machine);
        if (SamplesPerExample > 1 && (Conditioning is null || ConditioningSharedByExample))
            machine.SampleFreeEnergy(Random, States, Rows, Visible, Examples, RowSource, freeEnergy, logJoint, Conditioning);
        else
            machine.SampleFreeEnergy(Random, States, Rows, freeEnergy, logJoint, Conditioning);
    }

    /// <summary>Throws unless the batch holds <paramref name="samples"/> rows per example, the K of the rule given it.</summary>
    internal void RequireSamplesPerExample(int samples)
    {
        if (SamplesPerExample != samples)
            throw new ArgumentException($"The batch holds {SamplesPerExample} samples per example; this rule draws {samples}.", "batch");
    }

    /// <summary>
    /// Takes the first <paramref name="examples"/> rows written to <see cref="ExampleRows"/> as the batch, giving each its K rows in states[0].
    /// The rows are checked first (one vectorised pass): a rule given NaN or a value the visible units do not model would
    /// otherwise step the machine's parameters to NaN or to gradients of a density that is not there.
    /// </summary>
    /// <exception cref="ArgumentException">
    /// A row holds NaN, an infinity, or a value the visible layer does not model; the message names its row and column. The
    /// batch is then left without examples (with one sample per example the rows are written in place), so that a rule given
    /// it refuses it until a <see cref="Load"/> succeeds.
    /// </exception>
    public void Load(int examples)
    {
        CheckCount(examples);
        int columns = States.Architecture.Visible.Size;
        try
        {
            DataValidation.Validate(ExampleRows(examples), examples, columns, States.Architecture.Visible, "the batch's example rows (TrainingBatch.ExampleRows)", nameof(examples));
        }
        catch (ArgumentException)
        {
            Examples = 0;
            throw;
        }
        LoadValidated(examples);
    }

    /// <summary><see cref="Load"/> for rows the caller has checked (the trainers check their data once, up front or per streamed minibatch).</summary>
    internal void LoadValidated(int examples)
    {
        CheckCount(examples);
        Examples = examples;
        if (_examples is null) return;
        Kernels.GatherRows(_examples.AsSpan(0, examples * States.Architecture.Visible.Size), States.Architecture.Visible.Size, RowSource, States.Layer(0, Rows));
    }

    private void CheckCount(int examples)
    {
        if (examples <= 0 || examples > Capacity) throw new ArgumentOutOfRangeException(nameof(examples), $"{examples} examples: the batch holds 1 to {Capacity}.");
    }
}
