using Microsoft.ML.Helmholtz.Concurrency;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Layers;

/// <summary>
/// One conditional distribution p(y | x) over a batch of rows, y with <see cref="OutputSize"/> units
/// and x with <see cref="InputSize"/> (0 for a prior). Generative and recognition networks are
/// stacks of these. Call <see cref="Forward(ReadOnlySpan{float}, int)"/> with the batch's inputs first; every other member
/// then refers to the distribution that call computed, until the next forward. (A Gaussian layer's per-unit log-variance, a
/// parameter that no input changes, is read from the parameter where it is used: after changing parameters, forward again.)
/// Gradients are accumulated (+=) into the <see cref="Parameters"/>' gradient buffers and into
/// the spans passed in, so several terms can share one backward pass.
/// <para>
/// Conditioning: a forward may take a per-row addition c [batch × OutputSize] to the units'
/// pre-activations (the logits of Bernoulli units, the argument of a Gaussian's mean function, the
/// mean of a standard-normal prior), so that another network (an LSTM's state through an affine map)
/// can set the distribution row by row. The backward calls then add ∂/∂c of their term into a
/// conditioning gradient when one is passed: what that network needs to learn.
/// </para>
/// </summary>
public abstract class ConditionalLayer
{
    /// <param name="inputSize">Inputs per row, 0 for a prior.</param>
    /// <param name="outputSize">Units.</param>
    /// <param name="name">What messages call the layer ("recognition.1"); the type's name when not given.</param>
    protected ConditionalLayer(int inputSize, int outputSize, string? name = null)
    {
        // 0 inputs is a prior (the top layer); fewer, or no units, would build a layer that fails only in use.
        ArgumentOutOfRangeException.ThrowIfNegative(inputSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outputSize);
        InputSize = inputSize;
        OutputSize = outputSize;
        Name = name ?? GetType().Name;
        _copyStatistics = CopyStatistics;
    }

    private readonly Action<int, int> _copyStatistics;   // made once: ShareStatistics runs for every shared forward

    /// <summary>What messages call the layer: its place in a network ("generative.0"), or its type.</summary>
    internal string Name { get; }

    /// <summary>
    /// Rows the last forward computed (a shared forward: its rows, not its distinct inputs); 0 before the first, and after an
    /// <see cref="ExpectationOf"/> that leaves the statistics as they were. A call that reads the statistics over more rows
    /// would read an earlier forward's: <see cref="RequireForward"/> refuses it.
    /// </summary>
    internal int ForwardRows { get; private protected set; }

    /// <summary>
    /// Refuses <paramref name="operation"/> over <paramref name="rows"/> rows where the last forward computed fewer (the buffers
    /// hold an earlier, larger forward's statistics beyond them, or none), naming <paramref name="forward"/>, the call to make
    /// first. One comparison: the backward calls and, before any layer accumulates, the networks' call it.
    /// </summary>
    internal void RequireForward(int rows, string operation, string forward = "Forward")
    {
        RefuseWhileAnotherThreadComputes(operation);
        if (rows <= ForwardRows) return;
        string computed = ForwardRows == 0 ? "none" : $"{ForwardRows} rows";
        throw new InvalidOperationException($"{operation} over {rows} rows reads the statistics of the last forward of {Name} ({GetType().Name}), " +
            $"which computed {computed}: call {forward} over those rows first.");
    }

    /// <summary>Inputs per row: the width of x, 0 for a prior.</summary>
    public int InputSize { get; }
    /// <summary>Units per row: the width of y.</summary>
    public int OutputSize { get; }
    /// <summary>The kind of stochastic unit the layer holds.</summary>
    public abstract UnitType Units { get; }
    /// <summary>The layer's learned parameters, whose gradient buffers the backward calls accumulate into; empty for a layer without any.</summary>
    public abstract IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>Rows the buffers can hold; grows on demand, never shrinks.</summary>
    public int Capacity { get; private set; }

    /// <summary>Allocates the per-row buffers for <paramref name="rows"/> rows once, ahead of the hot loop.</summary>
    public void EnsureCapacity(int rows)
    {
        RefuseWhileAnotherThreadComputes(nameof(EnsureCapacity));   // new buffers under a running step would lose its statistics
        if (rows <= Capacity) return;
        // Every per-row buffer of the layer (a trunk's too) is checked before any is allocated.
        Requires.ArrayLength(nameof(rows), $"{rows} rows of a layer with {InputSize} inputs and {OutputSize} outputs (per-row buffers up to {WidestRow} values wide)",
            "use fewer rows", rows, WidestRow);
        Allocate(rows);
        Capacity = rows;
        ForwardRows = 0;   // new buffers: no statistics
    }

    /// <summary>
    /// The most values one row takes in any of the layer's per-row buffers: its inputs, its outputs, its
    /// noise (<see cref="NoisePerRow"/>) and, for a <see cref="TrunkedLayer"/>, its deterministic layers.
    /// </summary>
    internal virtual int WidestRow => Math.Max(Math.Max(InputSize, OutputSize), NoisePerRow);

    /// <summary>
    /// Allocates the per-row buffers for <paramref name="rows"/> rows. <see cref="EnsureCapacity"/> calls it only to grow them,
    /// and treats the statistics they held as gone.
    /// </summary>
    protected abstract void Allocate(int rows);

    /// <summary>
    /// Starts the parameters of a visible layer from the data's column means, where the layer has a
    /// good start to take from them (a Bernoulli layer's biases); nothing otherwise.
    /// </summary>
    internal virtual void InitializeFromDataMeans(ReadOnlySpan<double> means) { }

    /// <summary>The affine maps that read this layer's input itself (not a trunk's activations); none for a prior.</summary>
    internal virtual IEnumerable<AffineMap> InputMaps => [];

    /// <summary>Computes the distribution's statistics for each input row (input[batch × InputSize]).</summary>
    public void Forward(ReadOnlySpan<float> input, int batch) => Forward(input, default, batch);

    /// <summary>
    /// <see cref="Forward(ReadOnlySpan{float}, int)"/> with <paramref name="conditioning"/> (when not
    /// empty, [batch × OutputSize]) added to each row's pre-activations.
    /// </summary>
    public void Forward(ReadOnlySpan<float> input, ReadOnlySpan<float> conditioning, int batch) => Forward(input, conditioning, batch, nameof(input));

    private void Forward(ReadOnlySpan<float> input, ReadOnlySpan<float> conditioning, int batch, string inputName)
    {
        RequireLength(input.Length, batch, InputSize, inputName, "inputs");
        ForwardCore(input, conditioning, batch);
        ForwardRows = batch;   // only once it has computed them: a refused or failed forward leaves none
    }

    /// <summary><see cref="Forward(ReadOnlySpan{float}, ReadOnlySpan{float}, int)"/>: the layer's own computation, which starts with <see cref="CheckBatch(int)"/>.</summary>
    protected abstract void ForwardCore(ReadOnlySpan<float> input, ReadOnlySpan<float> conditioning, int batch);

    /// <summary>
    /// The parameters as they are now, laid out for <see cref="AccumulateLogProbOfProduct"/>, where this layer's
    /// log-probability can be scored in one fused kernel (binary units, <see cref="BernoulliLayer"/>, alone or under a trunk);
    /// null elsewhere, and where AVX-512 does not run.
    /// </summary>
    internal virtual BernoulliProductOperands? ProductOperands() => null;

    /// <summary>
    /// rowLogProb[r] += ln p(y_r | x_r), y_r row rowSource[r] of <paramref name="distinctY"/>, through the fused kernel of
    /// <paramref name="operands"/> (from <see cref="ProductOperands"/> of these parameters): scoring only. The layer is left
    /// with no forward, so a gradient or a statistic read after it is refused.
    /// </summary>
    internal virtual void AccumulateLogProbOfProduct(BernoulliProductOperands operands, ReadOnlySpan<float> input, ReadOnlySpan<float> distinctY, int distinctRows,
        ReadOnlySpan<int> rowSource, int batch, Span<double> rowLogProb)
        => throw new NotSupportedException($"{Name} ({GetType().Name}) has no fused log-probability.");

    /// <summary>
    /// The forward for a batch whose inputs repeat: computes the distribution once for each of the
    /// <paramref name="distinctRows"/> inputs, then gives row r the distribution of input
    /// rowSource[r]. rowSource must be non-decreasing with rowSource[r] ≤ r (rows grouped by input),
    /// as when K samples are drawn per example.
    /// </summary>
    /// <remarks>
    /// The layer keeps the distinct inputs and the row sources until its next forward, so that a
    /// backward over the same rows can form its weight gradients per distinct input (K times fewer
    /// multiply-adds for K samples per example): the backward's <c>input</c> must then be the
    /// repeated rows of these inputs, as a training batch's states hold them.
    /// </remarks>
    public void ForwardShared(ReadOnlySpan<float> distinctInputs, int distinctRows, ReadOnlySpan<int> rowSource, int rows)
        => ForwardShared(distinctInputs, default, distinctRows, rowSource, rows);

    /// <summary>
    /// <see cref="ForwardShared(ReadOnlySpan{float}, int, ReadOnlySpan{int}, int)"/> with a conditioning per
    /// distinct input ([distinctRows × OutputSize], empty for none): rows that share an input share its conditioning too.
    /// </summary>
    public void ForwardShared(ReadOnlySpan<float> distinctInputs, ReadOnlySpan<float> distinctConditioning, int distinctRows, ReadOnlySpan<int> rowSource, int rows)
    {
        // Every argument is checked before CheckBatch clears the count: a refused shared forward leaves the last forward, as a refused forward does.
        RequirePositiveBatch(rows, nameof(rows));
        CheckRowSource(distinctRows, rowSource, rows);
        RequireLength(distinctInputs.Length, distinctRows, InputSize, nameof(distinctInputs), "inputs");
        RequireConditioning(distinctConditioning, distinctRows);
        CheckBatch(rows);
        Forward(distinctInputs, distinctConditioning, distinctRows, nameof(distinctInputs));
        if (distinctRows < rows) ShareStatistics(rowSource[..rows], rows);
        ForwardRows = rows;
        int inputs = distinctRows * InputSize;
        if (_sharedInputs.Length < inputs) _sharedInputs = new float[inputs];
        if (_sharedSource.Length < rows) _sharedSource = new int[rows];
        distinctInputs[..inputs].CopyTo(_sharedInputs);
        rowSource[..rows].CopyTo(_sharedSource);
        _sharedDistinct = distinctRows;
        _sharedRows = rows;
    }

    /// <summary>The checks of a shared forward's row sources: grouped by input, rowSource[r] ≤ r, each below <paramref name="distinctRows"/>.</summary>
    internal static void CheckRowSource(int distinctRows, ReadOnlySpan<int> rowSource, int rows)
    {
        if (distinctRows <= 0 || distinctRows > rows)
            throw new ArgumentOutOfRangeException(nameof(distinctRows), distinctRows, $"distinctRows must be between 1 and the {rows} rows.");
        if (rowSource.Length < rows) throw new ArgumentException($"rowSource holds {rowSource.Length} entries, fewer than the {rows} rows.", nameof(rowSource));
        for (int r = 0; r < rows; r++)
        {
            int source = rowSource[r];
            if (source < 0 || source > r || source >= distinctRows || (r > 0 && source < rowSource[r - 1]))
                throw new ArgumentException($"rowSource must be non-decreasing with 0 ≤ rowSource[r] ≤ r and below the {distinctRows} distinct rows.", nameof(rowSource));
        }
    }

    private float[] _sharedInputs = [];
    private int[] _sharedSource = [];
    private int _sharedDistinct, _sharedRows;   // _sharedRows = 0: the last forward was not shared

    /// <summary>When the last forward was a shared one over <paramref name="batch"/> rows: its distinct inputs and each row's source.</summary>
    private protected bool TryDistinctInputs(int batch, out DistinctInputs inputs)
    {
        inputs = default;
        if (_sharedRows == 0 || batch != _sharedRows || _sharedDistinct >= batch) return false;
        inputs = new DistinctInputs(_sharedInputs.AsSpan(0, _sharedDistinct * InputSize), _sharedDistinct, _sharedSource.AsSpan(0, batch));
        return true;
    }

    /// <summary>
    /// reduced[d] = Σ over the rows r that read input d of rowGradient[r] ([batch × columns] into [inputs.Rows × columns]):
    /// a weight gradient over those rows is then one over the distinct inputs, Σ_r g_r x_{s(r)}ᵀ = Σ_d (Σ_{s(r)=d} g_r) x_dᵀ.
    /// </summary>
    private protected static void SumPerDistinctInput(ReadOnlySpan<float> rowGradient, int batch, int columns, in DistinctInputs inputs, Span<float> reduced)
    {
        reduced[..(inputs.Rows * columns)].Clear();
        for (int r = 0; r < batch; r++)
        {
            Span<float> target = reduced.Slice(inputs.Source[r] * columns, columns);
            System.Numerics.Tensors.TensorPrimitives.Add(target, rowGradient.Slice(r * columns, columns), target);
        }
    }

    /// <summary>
    /// <see cref="AccumulateLogProbGradient"/> for rows whose inputs repeat, as a layer that wraps this one
    /// (a deterministic trunk) hands them over after a shared forward: the weight gradients are formed per
    /// distinct input, and ∂/∂x is summed per distinct input into <paramref name="distinctInputGradient"/>
    /// ([inputs.Rows × InputSize], +=), so that the wrapper carries K times fewer rows back. The rows'
    /// statistics are this layer's own (the wrapper's forward gave them). False, having done nothing,
    /// for a layer without this form; the wrapper then takes the row-by-row backward.
    /// </summary>
    internal virtual bool TryAccumulateLogProbGradientPerDistinctInput(ReadOnlySpan<float> y, int batch, ReadOnlySpan<float> rowWeights, in DistinctInputs inputs,
        Span<float> distinctInputGradient, Span<float> outputGradient, Span<float> conditioningGradient) => false;

    /// <summary>
    /// <see cref="IReparameterizedLayer.BackwardThroughSample"/> with ∂/∂x summed per distinct input, as
    /// <see cref="TryAccumulateLogProbGradientPerDistinctInput"/>. False, having done nothing, where the layer has no such form.
    /// </summary>
    internal virtual bool TryBackwardThroughSamplePerDistinctInput(in SampleGradient gradient, int batch, in DistinctInputs inputs,
        Span<float> distinctInputGradient, Span<float> conditioningGradient) => false;

    /// <summary>Copies the statistics of row <paramref name="from"/> of the last forward to row <paramref name="to"/>.</summary>
    protected abstract void CopyStatistics(int from, int to);

    /// <summary>
    /// After a forward over the distinct inputs (rows [0, distinct) of the statistics), gives row r those
    /// of row rowSource[r] (checked: grouped, rowSource[r] ≤ r). This copies them; a layer may instead
    /// read them through rowSource where it can (a draw and its density, all that scoring asks) and
    /// copy them when a member first needs each row's own (<see cref="SharedRows"/>).
    /// </summary>
    protected virtual void ShareStatistics(ReadOnlySpan<int> rowSource, int rows) => SharedRows.CopyBackwards(rowSource, rows, _copyStatistics);

    /// <summary>
    /// The mean and the log of the marginal variances of each row of the last forward, for a layer
    /// with Gaussian outputs (a mean-field q starts from them); false for other layers.
    /// </summary>
    internal virtual bool TryGaussianMarginals(int batch, Span<float> mean, Span<float> logVariance) => false;

    /// <summary><see cref="CopyStatistics"/> for a layer that wraps this one.</summary>
    internal void CopyStatisticsOf(int from, int to) => CopyStatistics(from, to);

    /// <summary><see cref="ShareStatistics"/> for a layer that wraps this one: this layer's forward then covers the rows too.</summary>
    internal void ShareStatisticsOf(ReadOnlySpan<int> rowSource, int rows)
    {
        ShareStatistics(rowSource, rows);
        ForwardRows = rows;
    }

    /// <summary>Draws y for each row of the last forward.</summary>
    public void Sample(RandomStream random, int batch, Span<float> output)
    {
        ArgumentNullException.ThrowIfNull(random);
        RequireRows(batch, nameof(Sample));
        RequireLength(output.Length, batch, OutputSize, nameof(output), "units");
        SampleCore(random, batch, output);
    }

    /// <summary><see cref="Sample"/>, once the call is known to be this machine's only one.</summary>
    protected abstract void SampleCore(RandomStream random, int batch, Span<float> output);

    /// <summary>
    /// Draws y for each row of the last forward from the given noise instead of a random stream:
    /// uniforms in (0, 1) for Bernoulli units, standard normals for Gaussian ones
    /// (<see cref="NoiseIsNormal"/>), [batch × <see cref="NoisePerRow"/>]. The same noise gives the same draw, which
    /// is what scoring with common random numbers needs.
    /// </summary>
    internal virtual void SampleWithNoise(ReadOnlySpan<float> noise, int batch, Span<float> output)
        => throw new NotSupportedException($"{GetType().Name} does not sample from given noise.");

    /// <summary>Whether <see cref="SampleWithNoise"/> takes standard normals (else uniforms).</summary>
    internal virtual bool NoiseIsNormal => true;

    /// <summary>Noise values a draw takes per row (<see cref="OutputSize"/> unless the layer draws more, as a rank-one factor does).</summary>
    internal virtual int NoisePerRow => OutputSize;

    /// <summary>
    /// E[y | x] for each row of <paramref name="input"/>, computing only what the expectation needs
    /// (a Gaussian layer skips its variances). It leaves no forward current for the other members.
    /// </summary>
    internal virtual void ExpectationOf(ReadOnlySpan<float> input, int batch, Span<float> output)
    {
        Forward(input, batch);
        Expectation(batch, output);
    }

    /// <summary>E[y | x] for each row: probabilities for Bernoulli units, means for Gaussian ones.</summary>
    public void Expectation(int batch, Span<float> output)
    {
        RequireRows(batch, nameof(Expectation));
        RequireLength(output.Length, batch, OutputSize, nameof(output), "units");
        ExpectationCore(batch, output);
    }

    /// <summary><see cref="Expectation"/>, once the call is known to be this machine's only one.</summary>
    protected abstract void ExpectationCore(int batch, Span<float> output);

    /// <summary>rowLogProb[r] += ln p(y_r | x_r).</summary>
    public void AccumulateLogProb(ReadOnlySpan<float> y, int batch, Span<double> rowLogProb)
    {
        RequireRows(batch, nameof(AccumulateLogProb));
        RequireLength(y.Length, batch, OutputSize, nameof(y), "units");
        RequireLength(rowLogProb.Length, batch, 1, nameof(rowLogProb), "values");
        AccumulateLogProbCore(y, batch, rowLogProb);
    }

    /// <summary><see cref="AccumulateLogProb(ReadOnlySpan{float}, int, Span{double})"/>, once the call is known to be this machine's only one.</summary>
    protected abstract void AccumulateLogProbCore(ReadOnlySpan<float> y, int batch, Span<double> rowLogProb);

    /// <summary>
    /// rowLogProb[r] += ln p(y_r | x_r) for y = the output of the last <see cref="Sample"/>; layers
    /// that keep their draw's noise compute it from that more cheaply.
    /// </summary>
    public void AccumulateLogProbOfSample(ReadOnlySpan<float> y, int batch, Span<double> rowLogProb)
    {
        RequireRows(batch, nameof(AccumulateLogProbOfSample));
        RequireLength(y.Length, batch, OutputSize, nameof(y), "units");
        RequireLength(rowLogProb.Length, batch, 1, nameof(rowLogProb), "values");
        AccumulateLogProbOfSampleCore(y, batch, rowLogProb);
    }

    /// <summary><see cref="AccumulateLogProbOfSample"/>, once the call is known to be this machine's only one.</summary>
    protected virtual void AccumulateLogProbOfSampleCore(ReadOnlySpan<float> y, int batch, Span<double> rowLogProb)
        => AccumulateLogProbCore(y, batch, rowLogProb);

    /// <summary>
    /// rowLogProb[r] += ln p(y_r | x_r) with y_r row rowSource[r] of the <paramref name="distinctRows"/>
    /// rows of <paramref name="distinctY"/>: for outputs that repeat (the data row under K samples),
    /// without copying them out. An empty <paramref name="rowSource"/> gives row r output r.
    /// </summary>
    public void AccumulateLogProb(ReadOnlySpan<float> distinctY, int distinctRows, ReadOnlySpan<int> rowSource, int batch, Span<double> rowLogProb)
    {
        RequireRows(batch, nameof(AccumulateLogProb));
        ArgumentOutOfRangeException.ThrowIfNegative(distinctRows);
        RequireLength(distinctY.Length, distinctRows, OutputSize, nameof(distinctY), "units");
        RequireLength(rowLogProb.Length, batch, 1, nameof(rowLogProb), "values");
        if (rowSource.IsEmpty)
        {
            // Row r reads output r.
            if (distinctRows < batch)
                throw new ArgumentException($"With no rowSource row r reads output r, but only {distinctRows} of the {batch} rows' outputs are given.", nameof(distinctRows));
        }
        else
        {
            RequireLength(rowSource.Length, batch, 1, nameof(rowSource), "entries");
            foreach (int source in rowSource[..batch])
                if ((uint)source >= (uint)distinctRows)
                    throw new ArgumentException($"rowSource holds {source}, not a row of the {distinctRows} distinct outputs.", nameof(rowSource));
        }
        AccumulateLogProbCore(distinctY, distinctRows, rowSource, batch, rowLogProb);
    }

    /// <summary>The by-row-index <see cref="AccumulateLogProb(ReadOnlySpan{float}, int, ReadOnlySpan{int}, int, Span{double})"/>, once the call is known to be this machine's only one.</summary>
    protected virtual void AccumulateLogProbCore(ReadOnlySpan<float> distinctY, int distinctRows, ReadOnlySpan<int> rowSource, int batch, Span<double> rowLogProb)
        => throw new NotSupportedException($"{GetType().Name} does not take outputs by row index.");

    /// <summary>
    /// Accumulates Σ_r w_r ∇ ln p(y_r | x_r) into the parameter gradients and, when the spans are
    /// not empty, into inputGradient (∂/∂x), outputGradient (∂/∂y) and conditioningGradient (∂/∂c,
    /// the per-row addition to the pre-activations). <paramref name="input"/> must be the input of
    /// the last forward.
    /// </summary>
    public abstract void AccumulateLogProbGradient(ReadOnlySpan<float> y, ReadOnlySpan<float> input, int batch,
        ReadOnlySpan<float> rowWeights, Span<float> inputGradient, Span<float> outputGradient, Span<float> conditioningGradient = default);

    /// <summary>destination[r, j] += ∂²(−ln p(y_r | x_r)) / ∂x_j² (the diagonal of the Hessian in the input).</summary>
    public virtual void AccumulateNegLogProbInputHessianDiagonal(ReadOnlySpan<float> y, int batch, Span<float> destination)
        => throw new NotSupportedException($"{GetType().Name} has no input Hessian.");

    /// <summary>destination[r, i] += ∂²(−ln p(y_r | x_r)) / ∂y_i² (the diagonal of the Hessian in the output).</summary>
    public virtual void AccumulateNegLogProbOutputHessianDiagonal(ReadOnlySpan<float> y, int batch, Span<float> destination)
        => throw new NotSupportedException($"{GetType().Name} has discrete outputs: no Hessian in the output.");

    /// <summary>
    /// The checks of a call that reads the last forward's statistics over <paramref name="batch"/> rows: a count of 0 or more,
    /// no other thread computing with the machine, and a forward over at least those rows (<see cref="RequireForward"/>).
    /// </summary>
    private protected void RequireRows(int batch, string operation)
    {
        if (batch < 0) throw new ArgumentOutOfRangeException(nameof(batch), batch, $"{operation} needs a count of rows, 0 or more.");
        RequireForward(batch, operation);
    }

    /// <summary>Refuses a span of <paramref name="length"/> values that cannot hold <paramref name="rows"/> rows of <paramref name="perRow"/> values each, naming it.</summary>
    private protected static void RequireLength(int length, int rows, int perRow, string name, string what)
    {
        long needed = (long)Math.Max(rows, 0) * perRow;
        if (length < needed)
            throw new ArgumentException($"{name} holds {length} values, fewer than the {needed} of {rows} rows × {perRow} {what}.", name);
    }

    /// <summary>The argument checks of <see cref="IBilinearLogProb.OutputTerms"/>: y and transformed hold the rows' units, constant a value per row.</summary>
    private protected void CheckOutputTerms(ReadOnlySpan<float> y, int rows, ReadOnlySpan<float> transformed, ReadOnlySpan<double> constant)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        RequireLength(y.Length, rows, OutputSize, nameof(y), "units");
        RequireLength(transformed.Length, rows, OutputSize, nameof(transformed), "units");
        RequireLength(constant.Length, rows, 1, nameof(constant), "values");
    }

    /// <summary>
    /// The span checks of <see cref="AccumulateLogProbGradient"/>, all made before any gradient is accumulated, so that a
    /// refused call leaves the gradients as they were: y, input and rowWeights hold the batch's rows, and each gradient asked
    /// for (not empty) holds them too.
    /// </summary>
    private protected void CheckGradientSpans(ReadOnlySpan<float> y, ReadOnlySpan<float> input, int batch, ReadOnlySpan<float> rowWeights,
        ReadOnlySpan<float> inputGradient, ReadOnlySpan<float> outputGradient, ReadOnlySpan<float> conditioningGradient)
    {
        RequireLength(y.Length, batch, OutputSize, nameof(y), "units");
        RequireLength(input.Length, batch, InputSize, nameof(input), "inputs");
        RequireLength(rowWeights.Length, batch, 1, nameof(rowWeights), "weights");
        if (!inputGradient.IsEmpty) RequireLength(inputGradient.Length, batch, InputSize, nameof(inputGradient), "inputs");
        if (!outputGradient.IsEmpty) RequireLength(outputGradient.Length, batch, OutputSize, nameof(outputGradient), "units");
        if (!conditioningGradient.IsEmpty) RequireLength(conditioningGradient.Length, batch, OutputSize, nameof(conditioningGradient), "units");
    }

    /// <summary>
    /// The guard of the machine whose buffers this layer holds (null for a layer on its own): a
    /// forward while another thread computes with that machine is named instead of corrupting it.
    /// </summary>
    internal UsageGuard? ComputeGuard { get; set; }

    /// <summary>
    /// Refuses a call while another thread computes with the machine whose buffers this layer holds (its training, say),
    /// naming what holds it: the layer's calls read and write those buffers. One read of the guard's owner otherwise.
    /// </summary>
    private protected void RefuseWhileAnotherThreadComputes(string operation)
    {
        UsageGuard.RefuseWhileHeldByAnotherThread(ComputeGuard, this, operation);
    }

    /// <summary><see cref="CheckBatch(int)"/>, and that a conditioning, if given, holds a value per unit and row.</summary>
    protected void CheckBatch(int batch, ReadOnlySpan<float> conditioning)
    {
        // Checked first: a forward refused here leaves the last one's statistics and count (CheckBatch clears the count).
        RequireConditioning(conditioning, batch);
        CheckBatch(batch);
    }

    private void RequireConditioning(ReadOnlySpan<float> conditioning, int batch)
    {
        if (!conditioning.IsEmpty && batch > 0 && conditioning.Length < (long)batch * OutputSize)
            throw new ArgumentException($"The conditioning holds {conditioning.Length} values, fewer than {batch} rows × {OutputSize} units.", nameof(conditioning));
    }

    private static void RequirePositiveBatch(int batch, string name = "batch")
    {
        if (batch <= 0) throw new ArgumentOutOfRangeException(name, "The batch must hold at least one row.");
    }

    /// <summary>conditioningGradient += the gradient of the pre-activations (nothing when it is empty).</summary>
    protected void AddConditioningGradient(ReadOnlySpan<float> preActivationGradient, int batch, Span<float> conditioningGradient)
    {
        if (conditioningGradient.IsEmpty) return;
        int n = batch * OutputSize;
        System.Numerics.Tensors.TensorPrimitives.Add(conditioningGradient[..n], preActivationGradient[..n], conditioningGradient[..n]);
    }

    /// <summary>
    /// The start of a forward over <paramref name="batch"/> rows: throws <see cref="ArgumentOutOfRangeException"/> for fewer than one row
    /// and <see cref="InvalidOperationException"/> while another thread computes with the machine, grows the buffers
    /// (<see cref="EnsureCapacity"/>) and marks the statistics as not yet computed, so that a forward that fails leaves none.
    /// </summary>
    protected void CheckBatch(int batch)
    {
        RequirePositiveBatch(batch);
        // Refused first: a refused call must not touch what the running computation relies on.
        RefuseWhileAnotherThreadComputes(nameof(Forward));
        _sharedRows = 0;   // a new forward: no longer shared (ForwardShared sets it after its own)
        EnsureCapacity(batch);
        ForwardRows = 0;   // the statistics are being overwritten; Forward counts them once computed
    }
}

/// <summary>
/// The inputs of rows that repeat them (K samples per example): <see cref="Rows"/> distinct inputs
/// ([Rows × the layer's inputs]) and the distinct input each row reads (grouped, Source[r] ≤ r).
/// </summary>
internal readonly ref struct DistinctInputs(ReadOnlySpan<float> values, int rows, ReadOnlySpan<int> source)
{
    public ReadOnlySpan<float> Values { get; } = values;
    public int Rows { get; } = rows;
    public ReadOnlySpan<int> Source { get; } = source;
}
