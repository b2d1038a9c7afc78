using System.Numerics.Tensors;
using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Model;

/// <summary>
/// A Helmholtz machine: a generative network p(X) and a recognition network q(X_{&gt;0} | X_0) over
/// one <see cref="HelmholtzArchitecture"/>. It holds the parameters; learning rules, estimators and
/// the ML.NET face all work through it.
/// </summary>
/// <remarks>
/// Thread safety: copying the parameters out (<see cref="Clone"/>, <see cref="Save(string)"/>, and
/// the estimators, which each score a private copy) is safe from any number of threads, also while
/// the machine trains: a copy always holds the parameters between two optimiser steps. The machine's
/// layers compute in buffers of their own, so training and the sampling and log-probability calls
/// (<see cref="SampleFreeEnergy(RandomStream, LayerStates, int, Span{double}, Span{double}, LayerConditioning?)"/>, the
/// networks' methods) run on one thread at a time; a second thread gets an
/// <see cref="InvalidOperationException"/> naming what holds the machine. Writing to
/// <see cref="Parameter.Value"/> directly is not guarded.
/// </remarks>
public sealed class HelmholtzMachine
{
    private HelmholtzMachine(HelmholtzArchitecture architecture, IMatrixEngine engine)
    {
        Architecture = architecture;
        Engine = engine;
        Access = new MachineAccess();
        Generative = new GenerativeNetwork(architecture, engine, Access);
        Recognition = new RecognitionNetwork(architecture, engine, Access);
        Parameters = Array.AsReadOnly(Generative.Parameters.Concat(Recognition.Parameters).ToArray());
        WidestRow = Generative.Layers.Concat(Enumerable.Range(1, Recognition.Depth).Select(Recognition.Layer)).Max(l => l.WidestRow);
    }

    /// <summary>
    /// The most values one row takes in any per-row buffer of the machine's layers (their states, noise and
    /// deterministic layers included): what a batch of rows is checked against before anything is allocated.
    /// </summary>
    internal int WidestRow { get; }

    /// <summary>
    /// Throws <see cref="ArgumentOutOfRangeException"/> for the caller's argument <paramref name="name"/> unless
    /// <paramref name="rows"/> rows fit every per-row buffer of the machine (<see cref="WidestRow"/>) in one array,
    /// and their values of every layer (<see cref="LayerStates"/>, which each caller allocates for them) fit the memory
    /// this process may use (<see cref="Requires.Memory"/>).
    /// </summary>
    /// <param name="rows">The rows of one batch, chunk or segment.</param>
    /// <param name="name">The caller's argument that sets them (the exception's parameter name).</param>
    /// <param name="what">The rows and the arguments they come from.</param>
    /// <param name="remedy">What the caller can change.</param>
    internal void RequireRows(long rows, string name, string what, string remedy)
    {
        Requires.ArrayLength(name, $"{what}, through layers of up to {WidestRow} values per row ({Architecture})", remedy, rows, WidestRow);
        Requires.Memory(name, $"{what}, holding {StateValuesPerRow:N0} values per row in the layers' states alone ({Architecture})", remedy,
            (Int128)rows * StateValuesPerRow * sizeof(float));
    }

    /// <summary>The values a row of <see cref="LayerStates"/> holds: every layer's units.</summary>
    private long StateValuesPerRow => Architecture.Layers.Sum(l => (long)l.Size);

    /// <summary>The layers' sizes and kinds the machine was built for.</summary>
    public HelmholtzArchitecture Architecture { get; }
    /// <summary>The engine that computes the layers' matrix products, chosen when the machine was created, loaded or cloned.</summary>
    public IMatrixEngine Engine { get; }
    /// <summary>The top-down model p(X).</summary>
    public GenerativeNetwork Generative { get; }
    /// <summary>The bottom-up model q(X_{&gt;0} | X_0).</summary>
    public RecognitionNetwork Recognition { get; }

    /// <summary>Every parameter: the generative ones (θg) first, then the recognition ones (θr).</summary>
    public IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>
    /// Optimiser steps taken on this machine (saved with it). 0 for a fresh machine: training
    /// initialises the visible biases from the data only then.
    /// </summary>
    public long StepsTrained { get; internal set; }

    internal MachineAccess Access { get; }

    /// <summary>
    /// A machine with random weights N(0, 1/fan-in), zero biases and unit variances, drawn from
    /// <paramref name="seed"/>. Every seeded part of the library starts its stream at the seed itself, so
    /// give the machine, its training (<see cref="Learning.TrainingOptions.Seed"/>) and each estimate seeds
    /// of their own: with the same seed, an estimator's first draws would be those that made the weights.
    /// </summary>
    public static HelmholtzMachine Create(HelmholtzArchitecture architecture, ulong seed, IMatrixEngine? engine = null)
    {
        ArgumentNullException.ThrowIfNull(architecture);
        var machine = new HelmholtzMachine(architecture, engine ?? MatrixEngine.Default);
        var random = new RandomStream(seed);
        foreach (Parameter p in machine.Parameters)
        {
            if (p.Role != ParameterRole.Weight) continue;
            random.FillNormal(p.Value);
            float scale = 1f / MathF.Sqrt(p.Columns);
            for (int i = 0; i < p.Length; i++) p.Value[i] *= scale;
        }
        return machine;
    }

    /// <summary>A machine with every parameter zero, to be filled (the file reader).</summary>
    internal static HelmholtzMachine Uninitialized(HelmholtzArchitecture architecture, IMatrixEngine engine) => new(architecture, engine);

    /// <summary>
    /// Starts the visible layer's generative biases from the data:
    /// a Bernoulli layer's to the data's logit marginals, a common start that saves the first epochs
    /// learning the mean image. Does nothing for a Gaussian visible layer.
    /// </summary>
    public void InitializeVisibleBiasesFromData(ReadOnlySpan<float> data, int rows)
    {
        int n = Architecture.Visible.Size;
        if (rows <= 0) throw new ArgumentOutOfRangeException(nameof(rows), "At least one row is needed.");
        if (data.Length != (long)rows * n)
            throw new ArgumentException($"data holds {data.Length} values, not {rows} rows × {n} visible units.", nameof(data));
        DataValidation.Validate(data, rows, n, Architecture.Visible, "data");
        InitializeVisibleBiasesFromMeans(DataMatrix.ColumnMeans(data, rows, n));
    }

    /// <summary>
    /// <see cref="InitializeVisibleBiasesFromData"/> from the data's column means (each in [0, 1]),
    /// for data read as a stream. Does nothing for a Gaussian visible layer.
    /// </summary>
    public void InitializeVisibleBiasesFromMeans(ReadOnlySpan<double> means)
    {
        int n = Architecture.Visible.Size;
        if (means.Length != n) throw new ArgumentException($"{means.Length} means for {n} visible units.", nameof(means));
        using var use = Access.Compute.Enter(nameof(InitializeVisibleBiasesFromMeans));   // refused while another thread trains (the trainer's own call re-enters)
        using var write = Access.EnterWrite();
        Generative.Layers[0].InitializeFromDataMeans(means);
    }

    /// <summary>Zeroes every parameter's gradient.</summary>
    public void ZeroGradients()
    {
        using var use = Access.Compute.Enter(nameof(ZeroGradients));
        foreach (Parameter p in Parameters) p.ZeroGradient();
    }

    /// <summary>
    /// One sample of the free energy per row: draws X_{&gt;0} ~ q(· | X_0 = states[0]) into
    /// <paramref name="states"/> and sets freeEnergy[r] = ln q(X_{&gt;0} | X_0) − ln p(X), both
    /// networks conditioned by <paramref name="conditioning"/> when it is given. Leaves every
    /// layer's forward current for the gradient calls that follow.
    /// </summary>
    public void SampleFreeEnergy(RandomStream random, LayerStates states, int rows, Span<double> freeEnergy, Span<double> logJoint, LayerConditioning? conditioning = null)
        => SampleFreeEnergy(random, states, rows, freeEnergy, logJoint, conditioning, scoring: false);

    /// <summary>The same; with <paramref name="scoring"/> (an estimator's), a NaN that no draw beyond float explains is refused (<see cref="SubtractLogJoint"/>).</summary>
    internal void SampleFreeEnergy(RandomStream random, LayerStates states, int rows, Span<double> freeEnergy, Span<double> logJoint, LayerConditioning? conditioning, bool scoring)
    {
        ArgumentNullException.ThrowIfNull(random);
        using var use = Access.EnterCompute(nameof(SampleFreeEnergy), states, Architecture, rows, conditioning);
        CheckOutputs(rows, freeEnergy, logJoint);
        Recognition.Sample(random, rows, states, conditioning);
        FreeEnergyOfSample(states, rows, freeEnergy, logJoint, default, 0, default, conditioning, scoring);
    }

    /// <summary>
    /// <see cref="SampleFreeEnergy(RandomStream, LayerStates, int, Span{double}, Span{double}, LayerConditioning?)"/> that also keeps
    /// each layer's term of it: layerLogQ[l][r] = ln q(X_l | X_{l−1}) for l = 1…L (entry 0 is not
    /// used) and layerLogP[l][r] = ln p(X_l | X_{l+1}) for l = 0…L, each array holding at least
    /// <paramref name="rows"/> values. The free energy and the log joint are the sums of those terms in
    /// layer order, so they have the bits the other overload gives; a rule that needs the terms one by
    /// one (NVIL's local signals) reads them here instead of computing them again.
    /// </summary>
    public void SampleFreeEnergy(RandomStream random, LayerStates states, int rows, Span<double> freeEnergy, Span<double> logJoint,
        IReadOnlyList<double[]> layerLogQ, IReadOnlyList<double[]> layerLogP, LayerConditioning? conditioning = null)
    {
        ArgumentNullException.ThrowIfNull(random);
        ArgumentNullException.ThrowIfNull(layerLogQ);
        ArgumentNullException.ThrowIfNull(layerLogP);
        using var use = Access.EnterCompute(nameof(SampleFreeEnergy), states, Architecture, rows, conditioning);
        CheckOutputs(rows, freeEnergy, logJoint);
        CheckLayerTerms(rows, layerLogQ, 1, nameof(layerLogQ));
        CheckLayerTerms(rows, layerLogP, 0, nameof(layerLogP));
        Recognition.Sample(random, rows, states, conditioning);
        freeEnergy[..rows].Clear();
        logJoint[..rows].Clear();
        Recognition.AccumulateLogProbOfSample(states, rows, freeEnergy, layerLogQ);
        Generative.AccumulateLogJoint(states, rows, logJoint, default, 0, default, conditioning, layerLogP);
        SubtractLogJoint(states, rows, freeEnergy, logJoint, default, 0, default, conditioning, scoring: false, layerLogP);
    }

    private void CheckLayerTerms(int rows, IReadOnlyList<double[]> terms, int firstLayer, string name)
    {
        if (terms.Count != Architecture.Depth + 1)
            throw new ArgumentException($"{name} holds {terms.Count} arrays, not one for each of the {Architecture.Depth + 1} layers (0…{Architecture.Depth}).", name);
        for (int l = firstLayer; l <= Architecture.Depth; l++)
            if (terms[l] is null || terms[l].Length < rows)
                throw new ArgumentException($"{name}[{l}] must hold a value for each of the {rows} rows (it holds {terms[l]?.Length ?? 0}).", name);
    }

    /// <summary>
    /// <see cref="SampleFreeEnergy(RandomStream, LayerStates, int, Span{double}, Span{double}, LayerConditioning?)"/> for rows that repeat
    /// distinct visible vectors (row r is distinctVisible[rowSource[r]]; states[0] is not read): the
    /// bottom recognition layer runs once per distinct vector, and the visible rows are never copied out.
    /// </summary>
    public void SampleFreeEnergy(RandomStream random, LayerStates states, int rows, ReadOnlySpan<float> distinctVisible, int distinctRows, ReadOnlySpan<int> rowSource,
        Span<double> freeEnergy, Span<double> logJoint, LayerConditioning? conditioning = null)
        => SampleFreeEnergy(random, states, rows, distinctVisible, distinctRows, rowSource, freeEnergy, logJoint, conditioning, scoring: false);

    /// <summary>
    /// The same; with <paramref name="scoring"/> (an estimator's), a NaN that no draw beyond float explains is refused (<see cref="SubtractLogJoint"/>).
    /// With <paramref name="visibleProduct"/> (<see cref="VisibleProductOperands"/> of this machine's parameters as they are), the
    /// visible layer's term is computed in one kernel that never writes its logits, and that layer is left with no forward.
    /// </summary>
    internal void SampleFreeEnergy(RandomStream random, LayerStates states, int rows, ReadOnlySpan<float> distinctVisible, int distinctRows, ReadOnlySpan<int> rowSource,
        Span<double> freeEnergy, Span<double> logJoint, LayerConditioning? conditioning, bool scoring, BernoulliProductOperands? visibleProduct = null)
    {
        ArgumentNullException.ThrowIfNull(random);
        using var use = Access.EnterCompute(nameof(SampleFreeEnergy), states, Architecture, rows, conditioning);
        CheckOutputs(rows, freeEnergy, logJoint);
        if (distinctRows <= 0 || distinctVisible.Length != (long)distinctRows * Architecture.Visible.Size)
            throw new ArgumentException($"distinctVisible holds {distinctVisible.Length} values, not {distinctRows} rows × {Architecture.Visible.Size} visible units.", nameof(distinctVisible));
        if (rowSource.Length < rows) throw new ArgumentException($"rowSource holds {rowSource.Length} entries, fewer than the {rows} rows.", nameof(rowSource));
        Recognition.Sample(random, rows, states, distinctVisible, distinctRows, rowSource, conditioning);
        FreeEnergyOfSample(states, rows, freeEnergy, logJoint, distinctVisible, distinctRows, rowSource, conditioning, scoring, visibleProduct);
    }

    /// <summary>
    /// The free energy of rows that repeat distinct visible vectors, with each hidden layer's draw
    /// made from the given noise (<see cref="RecognitionNetwork.SampleWithNoise(IReadOnlyList{float[]}, int, LayerStates, ReadOnlySpan{float}, int, ReadOnlySpan{int}, LayerConditioning)"/>): a deterministic
    /// function of the rows and the noise. Only the estimators call it: a NaN that no draw beyond float explains is refused.
    /// </summary>
    internal void FreeEnergyWithNoise(IReadOnlyList<float[]> noise, LayerStates states, int rows, ReadOnlySpan<float> distinctVisible, int distinctRows,
        ReadOnlySpan<int> rowSource, Span<double> freeEnergy, Span<double> logJoint, LayerConditioning? conditioning = null,
        BernoulliProductOperands? visibleProduct = null)
    {
        using var use = Access.EnterCompute(nameof(FreeEnergyWithNoise), states, Architecture, rows, conditioning);
        CheckOutputs(rows, freeEnergy, logJoint);
        Recognition.SampleWithNoise(noise, rows, states, distinctVisible, distinctRows, rowSource, conditioning);
        FreeEnergyOfSample(states, rows, freeEnergy, logJoint, distinctVisible, distinctRows, rowSource, conditioning, scoring: true, visibleProduct);
    }

    /// <summary>
    /// The visible layer's parameters as they are now, laid out for scoring it in one kernel (<see cref="BernoulliLayer.ProductOperands"/>);
    /// null where that path does not serve: a visible layer that is not binary (soft targets, other units), no AVX-512, or an engine that is to be given
    /// every product (<see cref="IMatrixEngine.AllowsFusedProducts"/>). Only for a copy whose parameters stay as they are while it scores: an estimator's private one.
    /// </summary>
    internal BernoulliProductOperands? VisibleProductOperands()
        => Engine.AllowsFusedProducts ? Generative.Layers[0].ProductOperands() : null;

    private static void CheckOutputs(int rows, Span<double> freeEnergy, Span<double> logJoint)
    {
        if (freeEnergy.Length < rows || logJoint.Length < rows)
            throw new ArgumentException($"freeEnergy and logJoint must hold a value for each of the {rows} rows (they hold {freeEnergy.Length} and {logJoint.Length}).",
                freeEnergy.Length < rows ? nameof(freeEnergy) : nameof(logJoint));
    }

    private void FreeEnergyOfSample(LayerStates states, int rows, Span<double> freeEnergy, Span<double> logJoint,
        ReadOnlySpan<float> distinctVisible, int distinctRows, ReadOnlySpan<int> rowSource, LayerConditioning? conditioning, bool scoring,
        BernoulliProductOperands? visibleProduct = null)
    {
        freeEnergy[..rows].Clear();
        logJoint[..rows].Clear();
        Recognition.AccumulateLogProbOfSample(states, rows, freeEnergy);
        Generative.AccumulateLogJoint(states, rows, logJoint, distinctVisible, distinctRows, rowSource, conditioning, null, visibleProduct);
        SubtractLogJoint(states, rows, freeEnergy, logJoint, distinctVisible, distinctRows, rowSource, conditioning, scoring);
    }

    /// <summary>
    /// freeEnergy[r] −= logJoint[r], with what float cannot give decided where F̂ comes out NaN (a comparison per row otherwise):
    /// <list type="bullet">
    /// <item>A draw left the float range: e^{s/2} ε past float.MaxValue (s ≳ 170, as a layer computes when it reads a state of 10²¹
    /// that a log-variance of 100 below it drew) is a state ±∞, which the layers above read as ∞ − ∞ or ∞ · 0. The generative
    /// densities fall as e^{−h²/2} out there while q's rise at most as e^{−s/2}: the weight p/q is 0, F̂ = +∞.</item>
    /// <item>The draws are finite but a factor of p is 0 in float (−∞: a Gaussian term past float, as of a state of 10²⁰) while
    /// another is NaN (its pre-activations past float): every factor of p is a bounded density for finite parameters, so
    /// p(x, h) = 0 and F̂ = +∞, unless ln q is −∞ or NaN itself.</item>
    /// </list>
    /// Any other NaN means a layer's statistics pass float: refused when <paramref name="scoring"/> (an estimator would return
    /// NaN), left for the trainer's divergence checks otherwise.
    /// </summary>
    private void SubtractLogJoint(LayerStates states, int rows, Span<double> freeEnergy, ReadOnlySpan<double> logJoint,
        ReadOnlySpan<float> distinctVisible, int distinctRows, ReadOnlySpan<int> rowSource, LayerConditioning? conditioning, bool scoring,
        IReadOnlyList<double[]>? layerLogP = null)
    {
        for (int r = 0; r < rows; r++)
        {
            double logQ = freeEnergy[r];
            freeEnergy[r] = logQ - logJoint[r];
            if (!double.IsNaN(freeEnergy[r])) continue;
            if (DrawBeyondFloat(states, rows, r)) freeEnergy[r] = double.PositiveInfinity;
            else if (logQ > double.NegativeInfinity && HasZeroFactor(layerLogP ??= GenerativeTerms(states, rows, distinctVisible, distinctRows, rowSource, conditioning), r))
                freeEnergy[r] = double.PositiveInfinity;
            else if (scoring) throw NotScoreable(states, rows, r, distinctVisible, distinctRows, rowSource, conditioning);
        }
    }

    private double[][] _generativeTerms = [];
    private double[] _generativeSum = [];

    /// <summary>ln p(X_l | X_{l+1}) of every row and layer, again (the same forwards), into buffers kept for it: only for a NaN.</summary>
    private double[][] GenerativeTerms(LayerStates states, int rows, ReadOnlySpan<float> distinctVisible, int distinctRows, ReadOnlySpan<int> rowSource,
        LayerConditioning? conditioning)
    {
        if (_generativeSum.Length < rows)
        {
            _generativeSum = new double[rows];
            _generativeTerms = Enumerable.Range(0, Architecture.Depth + 1).Select(_ => new double[rows]).ToArray();
        }
        _generativeSum.AsSpan(0, rows).Clear();
        Generative.AccumulateLogJoint(states, rows, _generativeSum, distinctVisible, distinctRows, rowSource, conditioning, _generativeTerms);
        return _generativeTerms;
    }

    private static bool HasZeroFactor(IReadOnlyList<double[]> layerLogP, int row)
    {
        foreach (double[] term in layerLogP)
            if (double.IsNegativeInfinity(term[row])) return true;
        return false;
    }

    private bool DrawBeyondFloat(LayerStates states, int rows, int row)
    {
        for (int l = 1; l <= Architecture.Depth; l++)
        {
            int size = Architecture.Layers[l].Size;
            if (!Kernels.AllFinite(states.Layer(l, rows).Slice(row * size, size))) return true;
        }
        return false;
    }

    /// <summary>
    /// The refusal of a row whose F̂ is NaN with every draw finite: names the first layer whose term is NaN (else infinite: ∞ − ∞)
    /// and that layer's parameter of the largest magnitude, which is what passes float (weights near 10³⁸ overflow the products).
    /// </summary>
    private NotFiniteNumberException NotScoreable(LayerStates states, int rows, int row,
        ReadOnlySpan<float> distinctVisible, int distinctRows, ReadOnlySpan<int> rowSource, LayerConditioning? conditioning)
    {
        int depth = Architecture.Depth;
        double[][] logQ = new double[depth + 1][], logP = new double[depth + 1][];
        for (int l = 0; l <= depth; l++) (logQ[l], logP[l]) = (new double[rows], new double[rows]);
        Recognition.AccumulateLogProbOfSample(states, rows, new double[rows], logQ);
        Generative.AccumulateLogJoint(states, rows, new double[rows], distinctVisible, distinctRows, rowSource, conditioning, logP);
        (ConditionalLayer Layer, string Term, double Value)? found = null;
        foreach (Func<double, bool> bad in new Func<double, bool>[] { double.IsNaN, double.IsInfinity })
        {
            for (int l = 1; l <= depth && found is null; l++)
                if (bad(logQ[l][row])) found = (Recognition.Layer(l), $"ln q(X_{l} | X_{l - 1}), recognition layer {l}'s term,", logQ[l][row]);
            for (int l = 0; l <= depth && found is null; l++)
                if (bad(logP[l][row])) found = (Generative.Layers[l], $"ln p(X_{l}{(l < depth ? $" | X_{l + 1}" : "")}), generative layer {l}'s term,", logP[l][row]);
        }
        string where = "a layer's statistics pass what single precision holds";
        if (found is { } f)
            where = $"{f.Term} is {f.Value}: its statistics pass what single precision holds{LargestParameter(f.Layer)}";
        return new NotFiniteNumberException($"A sample's free energy is NaN with every draw finite: {where}. The estimators compute in float and cannot score this machine.", double.NaN);
    }

    /// <summary>
    /// " (its parameter of the largest magnitude, NAME, holds VALUE)" for <paramref name="layer"/>, or "" for a layer without
    /// parameters: what passes float when a layer's statistics do, named in the refusals of a machine the estimators cannot score.
    /// </summary>
    internal static string LargestParameter(ConditionalLayer layer)
    {
        Parameter? largest = layer.Parameters.MaxBy(p => MathF.Abs(TensorPrimitives.MaxMagnitude<float>(p.Value)));
        return largest is null ? "" : $" (its parameter of the largest magnitude, {largest.Name}, holds {TensorPrimitives.MaxMagnitude<float>(largest.Value):G3})";
    }

    /// <summary>
    /// A copy on a managed engine of its own that packs each weight once, the first time it is a product's B, not at
    /// every product: for a copy that only infers and never changes (a scorer's, an extractor's). The same bits as a
    /// copy on <see cref="MatrixEngine.Managed"/>.
    /// </summary>
    internal HelmholtzMachine InferenceCopy()
    {
        var engine = new ManagedMatrixEngine();
        HelmholtzMachine copy = Clone(engine);
        engine.Freeze(copy.Parameters.Select(p => p.Value));
        return copy;
    }

    /// <summary>
    /// An independent copy (parameters, steps trained, and buffers of its own) that computes with
    /// <paramref name="engine"/>. Safe to call from any thread, also while this machine trains: the
    /// copy holds the parameters between two steps.
    /// </summary>
    public HelmholtzMachine Clone(IMatrixEngine? engine = null)
    {
        var copy = new HelmholtzMachine(Architecture, engine ?? Engine);
        using var read = Access.EnterRead();
        for (int i = 0; i < Parameters.Count; i++) Parameters[i].Value.CopyTo(copy.Parameters[i].Value, 0);
        copy.StepsTrained = StepsTrained;
        return copy;
    }

    /// <summary>
    /// Saves to <paramref name="path"/> atomically: the model is written to a temporary file of its
    /// own beside the target, flushed to disk, then renamed over it, so a failure at any point leaves
    /// an earlier file intact and no partial file behind. Safe to call while the machine trains.
    /// </summary>
    public void Save(string path) => Save(path, AtomicFile.CreateTemporary);

    /// <summary><see cref="Save(string)"/> with the temporary file opened by <paramref name="createTemporary"/> (fault injection in tests).</summary>
    internal void Save(string path, Func<string, Stream> createTemporary)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        byte[] payload = Payload();
        AtomicFile.Write(path, "the model", stream => MachineFile.Write(stream, payload), createTemporary);
    }

    /// <summary>Writes the machine in the library's current file format (docs/design.md describes it) to <paramref name="stream"/>.</summary>
    public void Save(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        MachineFile.Write(stream, Payload());
    }

    /// <summary>The file's payload, read between two steps.</summary>
    private byte[] Payload()
    {
        using var read = Access.EnterRead();
        MachineFile.RequireFinite(Parameters);
        return MachineFile.Payload(this);
    }

    /// <summary>
    /// Loads a model file (format version 1 or 2). Every defect of the file is an
    /// <see cref="InvalidDataException"/> whose message starts with the path and says what is wrong.
    /// </summary>
    public static HelmholtzMachine Load(string path, IMatrixEngine? engine = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (Directory.Exists(path)) throw new FileNotFoundException($"{path}: is a directory, not a model file.", path);
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: model file not found.", path);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        try
        {
            return MachineFile.Read(stream, engine ?? MatrixEngine.Default);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
    }

    /// <summary>Reads a model from <paramref name="stream"/>, which must end where the model ends.</summary>
    public static HelmholtzMachine Load(Stream stream, IMatrixEngine? engine = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        return MachineFile.Read(stream, engine ?? MatrixEngine.Default);
    }
}
