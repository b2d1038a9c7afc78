using System.Numerics.Tensors;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Temporal;

/// <summary>
/// A long short-term memory layer with a forget gate, run over a time-major sequence of minibatches
/// and back-propagated through time. For each step t = 1 … T and each row of the batch:
/// <code>
///   a_t = Wx x_t + Wh z_{t−1} + b                     (4H pre-activations, gates in the order i, f, g, o)
///   i = σ(a_i)   f = σ(a_f)   g = tanh(a_g)   o = σ(a_o)
///   c_t = f ⊙ c_{t−1} + i ⊙ g
///   z_t = o ⊙ tanh(c_t)
/// </code>
/// In the manner of llm.c's kernels, <see cref="Forward"/> and <see cref="Backward"/> are written to be
/// read side by side: the forward keeps every gate value, cell and hidden state of the sequence, and
/// the backward runs the same equations in reverse over them. The input products of all steps are one
/// matrix product before the time loop (and their gradients one each after it); only the recurrent
/// product runs per step. Buffers for a sequence are allocated by <see cref="EnsureCapacity"/>; once they
/// are, neither pass allocates.
/// Rows are time-major: row t·batch + b of an input, hidden or gradient block is step t (from 0) of
/// sequence b. An instance is not thread-safe: one caller at a time. The LSTM of a
/// <see cref="TemporalHelmholtzMachine"/> refuses a call while another thread computes with that
/// machine (trains it, say), naming what holds it.
/// </summary>
public sealed class Lstm
{
    private readonly IMatrixEngine _engine;
    private readonly Parameter[] _parameters;

    // What Forward keeps for Backward, for the capacity of steps · batch rows (see EnsureCapacity).
    private float[] _inputs = [];        // x_t, [rows × D]: a copy, since the input-weight gradient needs it after the caller's buffer may be gone
    private float[] _gates = [];         // [rows × 4H]: a_t, then in place the gate values i, f, g, o
    private float[] _cells = [];         // [(rows + batch) × H]: c_0 (the initial cell), then c_1 … c_T
    private float[] _cellTanh = [];      // [rows × H]: tanh(c_t)
    private float[] _hidden = [];        // [(rows + batch) × H]: z_0 (the initial hidden state), then z_1 … z_T
    // Backward's working space.
    private float[] _gateGradients = []; // [rows × 4H]: ∂L/∂a_t for every step, for the products after the time loop
    private float[] _hiddenCarry = [];   // [batch × H]: ∂L/∂z_{t−1} through the recurrence, Wh ᵀ ∂L/∂a_t
    private float[] _cellCarry = [];     // [batch × H]: ∂L/∂c_{t−1} through the cell, f ⊙ ∂L/∂c_t

    // The shape of the last Forward, which Backward and the state accessors read; 0 before any.
    private int _steps, _batch;

    /// <summary>The guard of the temporal machine this LSTM belongs to (null on its own): its buffers are that machine's.</summary>
    internal Concurrency.UsageGuard? ComputeGuard { get; set; }

    private void RefuseWhileAnotherThreadComputes(string operation)
    {
        Concurrency.UsageGuard.RefuseWhileHeldByAnotherThread(ComputeGuard, this, operation);
    }

    /// <summary>
    /// An LSTM whose parameters are 0 until <see cref="Initialize"/>. A size that is not positive, or that gives a parameter
    /// more than <see cref="Parameter.MaxValues"/> values, throws <see cref="ArgumentOutOfRangeException"/>.
    /// </summary>
    /// <param name="name">The prefix of its parameters' names: name.Wx, name.Wh and name.b.</param>
    /// <param name="inputSize">D, the size of one input x_t.</param>
    /// <param name="hiddenSize">H, the size of the hidden state z_t and of the cell c_t.</param>
    /// <param name="engine">The matrix engine that computes its matrix products.</param>
    public Lstm(string name, int inputSize, int hiddenSize, IMatrixEngine engine)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(engine);
        if (inputSize <= 0) throw new ArgumentOutOfRangeException(nameof(inputSize), inputSize, $"LSTM '{name}' needs a positive input size; got {inputSize}.");
        if (hiddenSize <= 0) throw new ArgumentOutOfRangeException(nameof(hiddenSize), hiddenSize, $"LSTM '{name}' needs a positive hidden size; got {hiddenSize}.");
        if (4L * hiddenSize > int.MaxValue / 4) throw new ArgumentOutOfRangeException(nameof(hiddenSize), hiddenSize, $"LSTM '{name}': hidden size {hiddenSize} is too large.");
        Name = name;
        InputSize = inputSize;
        HiddenSize = hiddenSize;
        _engine = engine;
        InputWeights = new Parameter(name + ".Wx", 4 * hiddenSize, inputSize, ParameterRole.Weight);
        RecurrentWeights = new Parameter(name + ".Wh", 4 * hiddenSize, hiddenSize, ParameterRole.Weight);
        Bias = new Parameter(name + ".b", 1, 4 * hiddenSize, ParameterRole.Bias);
        _parameters = [InputWeights, RecurrentWeights, Bias];
    }

    /// <summary>The name given at construction, which prefixes its parameters' names.</summary>
    public string Name { get; }

    /// <summary>D, the size of one input x_t.</summary>
    public int InputSize { get; }

    /// <summary>H, the size of the hidden state z_t and of the cell c_t.</summary>
    public int HiddenSize { get; }

    /// <summary>Wx [4H × D]: the gates' weights on the input, row blocks i, f, g, o.</summary>
    public Parameter InputWeights { get; }

    /// <summary>Wh [4H × H]: the gates' weights on the previous hidden state, row blocks i, f, g, o.</summary>
    public Parameter RecurrentWeights { get; }

    /// <summary>b [4H]: the gates' biases, blocks i, f, g, o.</summary>
    public Parameter Bias { get; }

    /// <summary>Wx, Wh and b, in that order.</summary>
    public IReadOnlyList<Parameter> Parameters => Array.AsReadOnly(_parameters);

    /// <summary>
    /// Weights N(0, 1/fan-in) (fan-in D for Wx, H for Wh), as <c>HelmholtzMachine.Create</c> draws its
    /// own; biases 0 except the forget gate's, 1.
    /// </summary>
    public void Initialize(RandomStream random)
    {
        ArgumentNullException.ThrowIfNull(random);
        RefuseWhileAnotherThreadComputes(nameof(Initialize));
        foreach (Parameter w in (ReadOnlySpan<Parameter>)[InputWeights, RecurrentWeights])
        {
            random.FillNormal(w.Value);
            TensorPrimitives.Multiply(w.Value, 1f / MathF.Sqrt(w.Columns), w.Value);
        }
        // With a zero bias the forget gate starts at σ(0) = ½, so the cell, and the gradient flowing
        // back along it (∂c_t/∂c_{t−1} = f), halve at every step and nothing is remembered for more
        // than a few steps before learning starts. A bias of 1 starts it at σ(1) ≈ 0.73, keeping the
        // memory and its gradient over several times as many steps (Gers, Schmidhuber & Cummins 2000;
        // Jozefowicz, Zaremba & Sutskever 2015).
        Array.Clear(Bias.Value);
        Bias.Value.AsSpan(HiddenSize, HiddenSize).Fill(1f);
    }

    /// <summary>
    /// Makes room for sequences of <paramref name="steps"/> steps of <paramref name="batch"/> rows (and
    /// any with no more rows, steps · batch, and no larger batch). Buffers only grow; the state of the
    /// last <see cref="Forward"/> is lost when they do.
    /// </summary>
    public void EnsureCapacity(int steps, int batch)
    {
        RefuseWhileAnotherThreadComputes(nameof(EnsureCapacity));
        CheckShape(steps, batch);
        int d = InputSize, h = HiddenSize;
        long rows = (long)steps * batch;
        long largest = Math.Max((rows + batch) * h, rows * Math.Max(d, 4 * h));
        if (largest > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(steps), $"LSTM '{Name}': {steps} steps of {batch} rows need buffers of {largest:N0} values, more than an array holds.");
        bool grew = false;
        Grow(ref _inputs, rows * d, ref grew);
        Grow(ref _gates, rows * 4 * h, ref grew);
        Grow(ref _gateGradients, rows * 4 * h, ref grew);
        Grow(ref _cellTanh, rows * h, ref grew);
        Grow(ref _cells, (rows + batch) * h, ref grew);
        Grow(ref _hidden, (rows + batch) * h, ref grew);
        Grow(ref _hiddenCarry, (long)batch * h, ref grew);
        Grow(ref _cellCarry, (long)batch * h, ref grew);
        if (grew) _steps = _batch = 0;

        static void Grow(ref float[] buffer, long length, ref bool grew)
        {
            if (buffer.Length >= length) return;
            buffer = GC.AllocateUninitializedArray<float>((int)length, pinned: true);
            grew = true;
        }
    }

    /// <summary>
    /// Runs the sequence: <paramref name="inputs"/> are x_1 … x_T, time-major [steps × batch × D]; the
    /// initial state z_0, c_0 [batch × H] is zero where its span is empty. Keeps what
    /// <see cref="Backward"/> needs; read the states with <see cref="Hidden"/>, <see cref="FinalHidden"/>
    /// and <see cref="FinalCell"/>. The initial state may be the last call's final state (one step at a
    /// time, as generation runs): it is copied before anything is written.
    /// </summary>
    public void Forward(ReadOnlySpan<float> inputs, int steps, int batch, ReadOnlySpan<float> initialHidden = default, ReadOnlySpan<float> initialCell = default)
    {
        RefuseWhileAnotherThreadComputes(nameof(Forward));
        CheckShape(steps, batch);
        CheckCapacity(steps, batch); // which bounds every product of sizes below
        int d = InputSize, h = HiddenSize, g4 = 4 * h, rows = steps * batch, bh = batch * h;
        CheckLength(inputs.Length, (long)rows * d, nameof(inputs), "steps × batch × InputSize");
        if (!initialHidden.IsEmpty) CheckLength(initialHidden.Length, bh, nameof(initialHidden), "batch × HiddenSize");
        if (!initialCell.IsEmpty) CheckLength(initialCell.Length, bh, nameof(initialCell), "batch × HiddenSize");
        _steps = _batch = 0; // until this pass completes

        // z_0 and c_0 first: they may be the last call's final state, which this pass overwrites.
        if (initialHidden.IsEmpty) _hidden.AsSpan(0, bh).Clear();
        else initialHidden[..bh].CopyTo(_hidden);
        if (initialCell.IsEmpty) _cells.AsSpan(0, bh).Clear();
        else initialCell[..bh].CopyTo(_cells);
        inputs[..(rows * d)].CopyTo(_inputs);

        // a_t = b + Wx x_t for every step: one product over all steps · batch rows.
        Span<float> gates = _gates.AsSpan(0, rows * g4);
        Kernels.BroadcastRows(Bias.Value, gates, rows, g4);
        _engine.Gemm(false, true, rows, g4, d, 1f, _inputs, d, InputWeights.Value, d, 1f, gates, g4);

        for (int t = 0; t < steps; t++)
        {
            Span<float> stepGates = gates.Slice(t * batch * g4, batch * g4);
            ReadOnlySpan<float> previousHidden = _hidden.AsSpan(t * bh, bh);
            // a_t += Wh z_{t−1} (nothing to add from a zero initial state).
            if (t > 0 || !initialHidden.IsEmpty)
                _engine.Gemm(false, true, batch, g4, h, 1f, previousHidden, h, RecurrentWeights.Value, h, 1f, stepGates, g4);
            CellForward(stepGates, _cells.AsSpan(t * bh, bh), _cells.AsSpan((t + 1) * bh, bh), _cellTanh.AsSpan(t * bh, bh),
                _hidden.AsSpan((t + 1) * bh, bh), batch, h);
        }
        _steps = steps;
        _batch = batch;
    }

    /// <summary>
    /// One step of every row, given a_t: the gate values in place of the pre-activations, then the cell
    /// c_t = f ⊙ c_{t−1} + i ⊙ g, tanh(c_t), and z_t = o ⊙ tanh(c_t).
    /// </summary>
    private static void CellForward(Span<float> gates, ReadOnlySpan<float> previousCell, Span<float> cell, Span<float> cellTanh, Span<float> hidden, int batch, int h)
    {
        int g4 = 4 * h;
        for (int r = 0; r < batch; r++)
        {
            Span<float> a = gates.Slice(r * g4, g4);
            Kernels.Sigmoid(a[..(2 * h)], a[..(2 * h)]);        // i, f
            Kernels.Tanh(a.Slice(2 * h, h), a.Slice(2 * h, h)); // g
            Kernels.Sigmoid(a[(3 * h)..], a[(3 * h)..]);        // o
            ReadOnlySpan<float> i = a[..h], f = a.Slice(h, h), g = a.Slice(2 * h, h);
            ReadOnlySpan<float> cPrev = previousCell.Slice(r * h, h);
            Span<float> c = cell.Slice(r * h, h);
            for (int j = 0; j < h; j++) c[j] = f[j] * cPrev[j] + i[j] * g[j];
        }
        Kernels.Tanh(cell, cellTanh);
        for (int r = 0; r < batch; r++)
            TensorPrimitives.Multiply(gates.Slice(r * g4 + 3 * h, h), cellTanh.Slice(r * h, h), hidden.Slice(r * h, h)); // z = o ⊙ tanh(c)
    }

    /// <summary>
    /// Back-propagation through time over the last <see cref="Forward"/> (same steps and batch), from
    /// t = T down to 1. <paramref name="hiddenGradient"/> is ∂L/∂z_t from outside, [steps × batch × H]
    /// (the part of the loss the recurrence does not carry). Adds into the parameters' gradients, into
    /// <paramref name="inputGradient"/> (∂L/∂x_t, [steps × batch × D]) when it is not empty, and into
    /// <paramref name="initialHiddenGradient"/> and <paramref name="initialCellGradient"/> (∂L/∂z_0,
    /// ∂L/∂c_0, [batch × H]) when they are not. It may be called again over the same forward pass.
    /// </summary>
    public void Backward(ReadOnlySpan<float> hiddenGradient, int steps, int batch, Span<float> inputGradient = default,
        Span<float> initialHiddenGradient = default, Span<float> initialCellGradient = default)
    {
        RefuseWhileAnotherThreadComputes(nameof(Backward));
        CheckShape(steps, batch);
        if (_steps == 0)
            throw new InvalidOperationException($"LSTM '{Name}': Backward needs a Forward over the same sequence first (none was kept).");
        if (steps != _steps || batch != _batch)
            throw new ArgumentException($"LSTM '{Name}': Backward was given {steps} steps of batch {batch}, but the last Forward ran {_steps} steps of batch {_batch}.", nameof(steps));
        int d = InputSize, h = HiddenSize, g4 = 4 * h, rows = steps * batch, bh = batch * h;
        CheckLength(hiddenGradient.Length, (long)rows * h, nameof(hiddenGradient), "steps × batch × HiddenSize");
        if (!inputGradient.IsEmpty) CheckLength(inputGradient.Length, (long)rows * d, nameof(inputGradient), "steps × batch × InputSize");
        if (!initialHiddenGradient.IsEmpty) CheckLength(initialHiddenGradient.Length, bh, nameof(initialHiddenGradient), "batch × HiddenSize");
        if (!initialCellGradient.IsEmpty) CheckLength(initialCellGradient.Length, bh, nameof(initialCellGradient), "batch × HiddenSize");

        Span<float> gateGradients = _gateGradients.AsSpan(0, rows * g4);
        Span<float> hiddenCarry = _hiddenCarry.AsSpan(0, bh), cellCarry = _cellCarry.AsSpan(0, bh);
        hiddenCarry.Clear(); // nothing comes back from after step T
        cellCarry.Clear();
        for (int t = steps - 1; t >= 0; t--)
        {
            Span<float> stepGateGradients = gateGradients.Slice(t * batch * g4, batch * g4);
            CellBackward(_gates.AsSpan(t * batch * g4, batch * g4), _cells.AsSpan(t * bh, bh), _cellTanh.AsSpan(t * bh, bh),
                hiddenGradient.Slice(t * bh, bh), hiddenCarry, cellCarry, stepGateGradients, batch, h);
            // ∂L/∂z_{t−1} through the recurrence = ∂L/∂a_t Wh (at t = 1 only the initial state wants it).
            if (t > 0 || !initialHiddenGradient.IsEmpty)
                _engine.Gemm(false, false, batch, h, g4, 1f, stepGateGradients, g4, RecurrentWeights.Value, h, 0f, hiddenCarry, h);
        }
        if (!initialHiddenGradient.IsEmpty) TensorPrimitives.Add(initialHiddenGradient[..bh], hiddenCarry, initialHiddenGradient[..bh]);
        if (!initialCellGradient.IsEmpty) TensorPrimitives.Add(initialCellGradient[..bh], cellCarry, initialCellGradient[..bh]);

        // The parameters' gradients over all steps at once: db += Σ ∂L/∂a_t, dWx += Σ ∂L/∂a_tᵀ x_t,
        // dWh += Σ ∂L/∂a_tᵀ z_{t−1} (z_0 … z_{T−1} are the first rows of _hidden), dx_t += ∂L/∂a_t Wx.
        Kernels.AddColumnSums(gateGradients, rows, g4, Bias.Gradient);
        var inputWeightGradient = new GemmCall(true, false, g4, d, rows, 1f, gateGradients, g4, _inputs, d, 1f, InputWeights.Gradient, d);
        var recurrentWeightGradient = new GemmCall(true, false, g4, h, rows, 1f, gateGradients, g4, _hidden, h, 1f, RecurrentWeights.Gradient, h);
        if (inputGradient.IsEmpty) _engine.GemmPair(inputWeightGradient, recurrentWeightGradient);
        else
        {
            // The two products of D columns are the same size: a pair; the smaller recurrent one alone.
            _engine.GemmPair(inputWeightGradient, new GemmCall(false, false, rows, d, g4, 1f, gateGradients, g4, InputWeights.Value, d, 1f, inputGradient, d));
            recurrentWeightGradient.RunOn(_engine);
        }
    }

    /// <summary>
    /// One step of every row backwards: given ∂L/∂z_t (from outside plus the recurrence) and ∂L/∂c_t
    /// from step t + 1 (<paramref name="cellCarry"/>), writes ∂L/∂a_t and replaces the cell carry by ∂L/∂c_{t−1}.
    /// </summary>
    private static void CellBackward(ReadOnlySpan<float> gates, ReadOnlySpan<float> previousCell, ReadOnlySpan<float> cellTanh,
        ReadOnlySpan<float> hiddenGradient, ReadOnlySpan<float> hiddenCarry, Span<float> cellCarry, Span<float> gateGradients, int batch, int h)
    {
        int g4 = 4 * h;
        for (int r = 0; r < batch; r++)
        {
            ReadOnlySpan<float> a = gates.Slice(r * g4, g4);
            ReadOnlySpan<float> i = a[..h], f = a.Slice(h, h), g = a.Slice(2 * h, h), o = a.Slice(3 * h, h);
            ReadOnlySpan<float> cPrev = previousCell.Slice(r * h, h), tc = cellTanh.Slice(r * h, h);
            ReadOnlySpan<float> dzOutside = hiddenGradient.Slice(r * h, h), dzRecurrent = hiddenCarry.Slice(r * h, h);
            Span<float> dc = cellCarry.Slice(r * h, h), da = gateGradients.Slice(r * g4, g4);
            Span<float> dai = da[..h], daf = da.Slice(h, h), dag = da.Slice(2 * h, h), dao = da.Slice(3 * h, h);
            for (int j = 0; j < h; j++)
            {
                float dz = dzOutside[j] + dzRecurrent[j];
                float dcj = dc[j] + dz * o[j] * (1f - tc[j] * tc[j]); // z = o ⊙ tanh(c)
                dai[j] = dcj * g[j] * (i[j] * (1f - i[j]));          // c = f ⊙ c_{t−1} + i ⊙ g
                daf[j] = dcj * cPrev[j] * (f[j] * (1f - f[j]));
                dag[j] = dcj * i[j] * (1f - g[j] * g[j]);
                dao[j] = dz * tc[j] * (o[j] * (1f - o[j]));
                dc[j] = dcj * f[j];                                  // ∂L/∂c_{t−1}
            }
        }
    }

    /// <summary>
    /// z_1 … z_steps of the last <see cref="Forward"/> (the state after reading each input), time-major
    /// [steps × batch × H]; <paramref name="steps"/> may be fewer than it ran. Valid until the next Forward.
    /// </summary>
    public ReadOnlySpan<float> Hidden(int steps, int batch)
    {
        RefuseWhileAnotherThreadComputes(nameof(Hidden));
        CheckForwardShape(batch);
        if (steps <= 0 || steps > _steps)
            throw new ArgumentOutOfRangeException(nameof(steps), steps, $"LSTM '{Name}': the last Forward ran {_steps} steps; asked for {steps}.");
        int bh = batch * HiddenSize;
        return _hidden.AsSpan(bh, steps * bh);
    }

    /// <summary>z_T of the last <see cref="Forward"/>, [batch × H]: the initial hidden state of the next segment.</summary>
    public ReadOnlySpan<float> FinalHidden(int batch)
    {
        RefuseWhileAnotherThreadComputes(nameof(FinalHidden));
        CheckForwardShape(batch);
        int bh = batch * HiddenSize;
        return _hidden.AsSpan(_steps * bh, bh);
    }

    /// <summary>c_T of the last <see cref="Forward"/>, [batch × H]: the initial cell of the next segment.</summary>
    public ReadOnlySpan<float> FinalCell(int batch)
    {
        RefuseWhileAnotherThreadComputes(nameof(FinalCell));
        CheckForwardShape(batch);
        int bh = batch * HiddenSize;
        return _cells.AsSpan(_steps * bh, bh);
    }

    private void CheckShape(int steps, int batch)
    {
        if (steps <= 0) throw new ArgumentOutOfRangeException(nameof(steps), steps, $"LSTM '{Name}': steps must be positive; got {steps}.");
        if (batch <= 0) throw new ArgumentOutOfRangeException(nameof(batch), batch, $"LSTM '{Name}': batch must be positive; got {batch}.");
    }

    private void CheckLength(int length, long needed, string name, string shape)
    {
        if (length < needed)
            throw new ArgumentException($"LSTM '{Name}': {name} has {length} values; {shape} = {needed} are needed.", name);
    }

    private void CheckCapacity(int steps, int batch)
    {
        long rows = (long)steps * batch;
        int h = HiddenSize;
        if (_gates.Length < rows * 4 * h || _inputs.Length < rows * InputSize || _hidden.Length < (rows + batch) * h || _hiddenCarry.Length < (long)batch * h)
            throw new InvalidOperationException($"LSTM '{Name}' has no room for {steps} steps of batch {batch}: call EnsureCapacity({steps}, {batch}) first.");
    }

    private void CheckForwardShape(int batch)
    {
        if (_steps == 0) throw new InvalidOperationException($"LSTM '{Name}': no Forward has run since the buffers were last allocated.");
        if (batch != _batch) throw new ArgumentException($"LSTM '{Name}': the last Forward ran batch {_batch}; asked for batch {batch}.", nameof(batch));
    }
}
