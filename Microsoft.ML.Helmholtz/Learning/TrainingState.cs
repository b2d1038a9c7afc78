using System.Runtime.InteropServices;
using System.Text;
using Microsoft.ML.Helmholtz.Concurrency;
using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Learning.Optimizers;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Learning;

/// <summary>
/// What a training run knows beyond the machine's parameters: the optimiser's moments, the rule's
/// learned state (running baselines, a baseline network), where its random streams stand and where
/// it is in the schedule and the epoch. Pass one to <see cref="HelmholtzTrainer"/>'s Train: the run
/// records itself into it after every epoch and when it is cancelled; a later run given it (and the
/// machine saved at the same point) goes on from there as the uninterrupted run would have, bit for
/// bit, with the same options, engine and thread count, data in memory and
/// <see cref="TrainingOptions.FirstScheduleEpoch"/> set to <see cref="ScheduleEpoch"/>. A state records the
/// machine's <see cref="StepsTrained"/> and a fingerprint of its parameters (a 64-bit hash of their names, shapes and
/// values), and a run refuses a state that does not match its machine: one trained to another step, or another machine
/// (or one changed since) at the same step. A state of format version 1 or 2 has no fingerprint: its machine is known by
/// its step count alone. A run also refuses a state of another rule or optimiser, or of the same with other settings
/// (<see cref="ILearningRule.Settings"/>, <see cref="IOptimizer.Settings"/>: K, a decay, Adam's β2); a state of format version 1 to 3
/// recorded no settings, and is known by the names alone.
/// Thread safety: one run at a time uses a state (a second at once is refused); the run writes it
/// between steps, and <see cref="Save(string)"/> from another thread sees one consistent point (the
/// properties are read one at a time: several read while the run goes on can be of two points). File
/// format: see <see cref="Save(Stream)"/>.
/// </summary>
public sealed class TrainingState
{
    private readonly object _gate = new();
    private (string Name, ulong[] Words)[] _streams = [];

    /// <summary>An empty state: the run starts from its seed, and records itself here.</summary>
    public TrainingState() { }

    /// <summary>Whether no run has recorded itself here yet.</summary>
    public bool IsEmpty => Rule is null;

    /// <summary>The rule's <see cref="ILearningRule.Name"/>; a run with another rule refuses the state.</summary>
    public string? Rule { get; private set; }

    /// <summary>The optimiser's <see cref="Optimizers.IOptimizer.Name"/>; a run with another optimiser refuses the state.</summary>
    public string? Optimizer { get; private set; }

    /// <summary>
    /// The rule's <see cref="ILearningRule.Settings"/> (e.g. "K = 5"); a run whose rule has other settings refuses the state. Null for a
    /// state of format version 1 to 3, which recorded none: its rule is known by its name alone.
    /// </summary>
    public string? RuleSettings { get; private set; }

    /// <summary>
    /// The optimiser's <see cref="Optimizers.IOptimizer.Settings"/>; a run whose optimiser has other settings refuses the state. Null for a
    /// state of format version 1 to 3, which recorded none.
    /// </summary>
    public string? OptimizerSettings { get; private set; }

    /// <summary>
    /// Whether a run of <paramref name="rule"/> with <paramref name="optimizer"/> is the kind of run that recorded this state: the same
    /// names, and the same settings where the state has them. A run of another kind refuses the state; this asks before the run
    /// (to leave a state aside and start the optimiser afresh, say). False for an empty state.
    /// </summary>
    public bool IsFrom(ILearningRule rule, IOptimizer optimizer)
    {
        ArgumentNullException.ThrowIfNull(rule);
        ArgumentNullException.ThrowIfNull(optimizer);
        lock (_gate) return !IsEmpty && OtherRun(rule, optimizer) is null;
    }

    /// <summary>How a run of <paramref name="rule"/> with <paramref name="optimizer"/> differs from the one recorded (null: it does not); under the lock.</summary>
    private string? OtherRun(ILearningRule rule, IOptimizer optimizer)
    {
        string ruleSettings = SettingsOf(rule), optimizerSettings = SettingsOf(optimizer);
        return Rule != rule.Name ? $"The training state is from a run of the rule '{Rule}', but this run's rule is '{rule.Name}'."
            : RuleSettings is { } recordedRule && recordedRule != ruleSettings
                ? $"The training state is from a run of the rule '{Rule}' with {Described(recordedRule)}, but this run's has {Described(ruleSettings)}: " +
                  "a run with other settings would not go on as the recorded one."
            : Optimizer != optimizer.Name ? $"The training state is from a run with the optimiser '{Optimizer}', but this run's is '{optimizer.Name}'."
            : OptimizerSettings is { } recordedOptimizer && recordedOptimizer != optimizerSettings
                ? $"The training state is from a run with the optimiser '{Optimizer}' of {Described(recordedOptimizer)}, but this run's has {Described(optimizerSettings)}: " +
                  "a run with other settings would not go on as the recorded one."
            : null;
    }

    // An application's rule or optimiser that answers null is taken as having no settings.
    private static string SettingsOf(ILearningRule rule) => rule.Settings ?? "";
    private static string SettingsOf(IOptimizer optimizer) => optimizer.Settings ?? "";

    private static string Described(string settings) => settings.Length == 0 ? "no settings" : $"'{settings}'";

    /// <summary>The machine's <see cref="Model.HelmholtzMachine.StepsTrained"/> at this point.</summary>
    public long StepsTrained { get; private set; }

    /// <summary>
    /// The fingerprint of the machine's parameters at this point (see <see cref="Fingerprint"/>); null for a state of
    /// format version 1 or 2, which recorded none.
    /// </summary>
    internal ulong? MachineFingerprint { get; private set; }

    /// <summary>The schedule's epoch (from 0) that the next step belongs to: pass it as <see cref="TrainingOptions.FirstScheduleEpoch"/> to continue the schedule.</summary>
    public int ScheduleEpoch { get; private set; }

    /// <summary>The minibatches of that epoch already trained (0: the state is between epochs).</summary>
    public int MinibatchesIntoEpoch { get; private set; }

    /// <summary>The minibatch size of the run; a run resumed within an epoch needs the same.</summary>
    public int BatchSize { get; private set; }

    /// <summary>The training examples of the run (−1 for a stream of unknown length); a run resumed within an epoch needs the same.</summary>
    public long TrainingRows { get; private set; } = -1;

    internal double PartialFreeEnergy { get; private set; }
    internal double PartialObjective { get; private set; }

    /// <summary>
    /// F₀, the free energy the trainer's divergence limit is built from (<see cref="TrainingOptions.DivergenceFactor"/>): the first
    /// run's first minibatch's, carried so that a resumed run has the unbroken run's limit. A temporal run's is its first segment's, in nats a
    /// frame. NaN when none was recorded (a state of format version 1, or of a temporal run from before the temporal trainer kept
    /// one): the resumed run then takes its own first minibatch's.
    /// </summary>
    internal double DivergenceReference
    {
        get { lock (_gate) return _divergenceReference; }
        set { lock (_gate) _divergenceReference = value; }
    }

    private double _divergenceReference = double.NaN;
    internal StateSection OptimizerState { get; } = new("the optimiser");
    internal StateSection RuleState { get; } = new("the learning rule");

    /// <summary>The random stream the run recorded as <paramref name="name"/>.</summary>
    internal ReadOnlySpan<ulong> Stream(string name)
    {
        var streams = Volatile.Read(ref _streams);
        foreach (var (n, words) in streams)
            if (n == name) return words;
        throw new InvalidDataException($"The training state has no random stream '{name}' (it has {string.Join(", ", streams.Select(s => $"'{s.Name}'"))}): it is from another kind of run.");
    }

    /// <summary>Holds the state for one run until disposed: a second run given it at the same time is refused, naming <paramref name="operation"/>.</summary>
    internal UsageGuard.Scope EnterRun(string operation)
        => ExclusiveUse.Enter(this, "The training state", "Give each training run that runs at the same time a state of its own.", operation);

    /// <summary>
    /// Whether this state was recorded at <paramref name="machine"/>'s point, so that a run given both can go on from it: the same
    /// <see cref="Model.HelmholtzMachine.StepsTrained"/> and, where the state has a fingerprint (format version 3), the same
    /// parameters, bit for bit. For pairing files before a run; a run checks this (and the rule and optimiser) itself.
    /// </summary>
    public bool Matches(Model.HelmholtzMachine machine)
    {
        ArgumentNullException.ThrowIfNull(machine);
        using var read = machine.Access.EnterRead();
        return Matches(machine.StepsTrained, machine.Parameters);
    }

    /// <summary>As <see cref="Matches(Model.HelmholtzMachine)"/>, for a temporal model (its recurrence and map included).</summary>
    public bool Matches(Temporal.TemporalHelmholtzMachine model)
    {
        ArgumentNullException.ThrowIfNull(model);
        using var read = model.Machine.Access.EnterRead();
        return Matches(model.Machine.StepsTrained, model.Parameters);
    }

    private bool Matches(long steps, IReadOnlyList<Parameter> parameters)
    {
        ulong? recorded;
        lock (_gate)
        {
            if (IsEmpty || StepsTrained != steps) return false;
            recorded = MachineFingerprint;
        }
        return recorded is not { } fingerprint || fingerprint == Fingerprint(parameters);
    }

    /// <summary>
    /// The fingerprint of a machine: a 64-bit hash (XXH3) of its parameters' names, shapes and values as little-endian
    /// float32, in order. Two machines that differ in any bit of any parameter differ in it but for a chance of 2⁻⁶⁴.
    /// </summary>
    internal static ulong Fingerprint(IReadOnlyList<Parameter> parameters)
    {
        var hash = new System.IO.Hashing.XxHash3();
        Span<byte> shape = stackalloc byte[2 * sizeof(int)];
        float[]? swapped = null;
        foreach (Parameter p in parameters)
        {
            hash.Append(Encoding.UTF8.GetBytes(p.Name));
            System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(shape, p.Rows);
            System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(shape[sizeof(int)..], p.Columns);
            hash.Append(shape);
            ReadOnlySpan<float> values = p.Value;
            if (!BitConverter.IsLittleEndian)
            {
                // The files are little-endian: so is the fingerprint, so that a state moves between hosts with its machine.
                if (swapped is null || swapped.Length < values.Length) swapped = new float[values.Length];
                values.CopyTo(swapped);
                LittleEndian.ToHostOrder<float>(swapped.AsSpan(0, values.Length));
                values = swapped.AsSpan(0, values.Length);
            }
            hash.Append(MemoryMarshal.AsBytes(values));
        }
        return hash.GetCurrentHashAsUInt64();
    }

    /// <summary>
    /// Throws <see cref="ArgumentException"/> (parameter "state") when a run of <paramref name="rule"/> and
    /// <paramref name="optimizer"/> (their names and settings) on a machine at <paramref name="steps"/> steps whose
    /// <see cref="Fingerprint"/> is <paramref name="machineFingerprint"/> cannot go on from this state.
    /// </summary>
    internal void CheckFits(ILearningRule rule, IOptimizer optimizer, long steps, ulong machineFingerprint, int batchSize, long trainingRows)
    {
        string? problem;
        lock (_gate)
        {
            problem = OtherRun(rule, optimizer) is { } other ? other
                : StepsTrained != steps
                    ? $"The training state was recorded when the machine had trained {StepsTrained} steps, but the machine given has trained {steps}: " +
                      "give the machine saved at the same point as the state."
                : MachineFingerprint is { } recorded && recorded != machineFingerprint
                    ? $"The training state was recorded on a machine whose parameters differ from those of the machine given (both at {steps} steps trained; " +
                      $"fingerprints {recorded:x16} and {machineFingerprint:x16}): it is another machine, or one changed since. Give the machine saved at the same point as the state."
                : MinibatchesIntoEpoch > 0 && (BatchSize != batchSize || TrainingRows != trainingRows)
                    ? $"The training state stopped {MinibatchesIntoEpoch} minibatches into an epoch of {Examples(TrainingRows)} in minibatches of {BatchSize}; " +
                      $"to go on within that epoch the run needs the same, but it has {Examples(trainingRows)} in minibatches of {batchSize}."
                : null;
        }
        if (problem is not null) throw new ArgumentException(problem, "state");
    }

    /// <summary>A run's training rows for messages: −1 is data streamed without a count.</summary>
    private static string Examples(long rows) => rows < 0 ? "examples streamed without a count" : $"{rows} examples";

    /// <summary>
    /// Gives the optimiser and the rule back what <see cref="Record"/> took from them, before the run's first
    /// step; a section that does not fit <paramref name="parameters"/> throws <see cref="InvalidDataException"/>.
    /// Returns the rule's state from before (null for a rule that keeps none), for a run that fails before its
    /// first step to give back (the optimiser is the run's own).
    /// </summary>
    internal StateSection? RestoreInto(IOptimizer optimizer, ILearningRule rule, IReadOnlyList<Parameter> parameters)
    {
        StateSection? before = null;
        if (rule is IResumable resumable)
        {
            before = new StateSection("the learning rule before the resumed run");
            resumable.SaveState(before, parameters);
        }
        lock (_gate)
        {
            (optimizer as IResumable)?.RestoreState(OptimizerState, parameters);
            try
            {
                (rule as IResumable)?.RestoreState(RuleState, parameters);
            }
            catch (Exception failure) when (before is not null)
            {
                // A rule of the application's may fail part-way (the built-in ones check before they change anything).
                GiveBack(rule, before, parameters, failure);
                throw;
            }
        }
        return before;
    }

    /// <summary>
    /// The key under which a run's exception holds, in its <see cref="Exception.Data"/>, the exception of a learning rule
    /// that could not take back what it knew before a resume that failed (an application's <see cref="IResumable"/>
    /// whose RestoreState threw): the run's own failure stays the one thrown.
    /// </summary>
    public const string RuleNotGivenBackKey = "Microsoft.ML.Helmholtz.RuleNotGivenBack";

    /// <summary>
    /// After <paramref name="failure"/>, gives <paramref name="rule"/> back <paramref name="before"/> (null: nothing to give);
    /// a failure of the rule's own RestoreState is recorded on <paramref name="failure"/>, which the caller rethrows.
    /// </summary>
    internal static void GiveBack(ILearningRule rule, StateSection? before, IReadOnlyList<Parameter> parameters, Exception failure)
    {
        if (before is null) return;
        try
        {
            ((IResumable)rule).RestoreState(before, parameters);
        }
        catch (Exception e)
        {
            failure.Data[RuleNotGivenBackKey] = e;
        }
    }

    /// <summary>
    /// Records the run at a point between steps (the trainer's side); <paramref name="machineFingerprint"/> is the
    /// <see cref="Fingerprint"/> of the machine as the run leaves it at this point.
    /// </summary>
    internal void Record(ILearningRule rule, IOptimizer optimizer, IReadOnlyList<Parameter> parameters, long steps, ulong machineFingerprint,
        int scheduleEpoch, int minibatchesIntoEpoch, int batchSize, long trainingRows, double partialFreeEnergy, double partialObjective,
        double divergenceReference, params (string Name, ulong[] Words)[] streams)
    {
        lock (_gate)
        {
            string ruleSettings = SettingsOf(rule), optimizerSettings = SettingsOf(optimizer);
            if (Optimizer != optimizer.Name || OptimizerSettings != optimizerSettings) OptimizerState.Clear();
            if (Rule != rule.Name || RuleSettings != ruleSettings) RuleState.Clear();
            (Rule, Optimizer, RuleSettings, OptimizerSettings, StepsTrained, MachineFingerprint, ScheduleEpoch, MinibatchesIntoEpoch, BatchSize, TrainingRows) =
                (rule.Name, optimizer.Name, ruleSettings, optimizerSettings, steps, machineFingerprint, scheduleEpoch, minibatchesIntoEpoch, batchSize, trainingRows);
            (PartialFreeEnergy, PartialObjective) = (partialFreeEnergy, partialObjective);
            _divergenceReference = divergenceReference;   // under the lock with the rest: a Save from another thread sees one point
            _streams = streams;
            (optimizer as IResumable)?.SaveState(OptimizerState, parameters);
            (rule as IResumable)?.SaveState(RuleState, parameters);
        }
    }

    /// <summary>A copy that shares nothing with this state.</summary>
    internal TrainingState Copy()
    {
        var copy = new TrainingState();
        copy.CopyFrom(this);
        return copy;
    }

    /// <summary>
    /// Becomes what <paramref name="source"/> holds: the ML.NET estimator trains on a copy of the user's state and
    /// keeps what the fit recorded only when the fit succeeds (a failed fit's machine is not the user's to resume).
    /// </summary>
    internal void CopyFrom(TrainingState source)
    {
        var optimizerState = new StateSection(OptimizerState.Owner);
        var ruleState = new StateSection(RuleState.Owner);
        // Taken under the source's lock, then given under this one: never both held, so two copies the other way round cannot deadlock.
        (string?, string?, string?, string?, long, ulong?, int, int, int, long, double, double, (string, ulong[])[]) values;
        double reference;
        lock (source._gate)
        {
            optimizerState.CopyFrom(source.OptimizerState);
            ruleState.CopyFrom(source.RuleState);
            values = (source.Rule, source.Optimizer, source.RuleSettings, source.OptimizerSettings, source.StepsTrained, source.MachineFingerprint, source.ScheduleEpoch, source.MinibatchesIntoEpoch, source.BatchSize,
                source.TrainingRows, source.PartialFreeEnergy, source.PartialObjective, source._streams.Select(s => (s.Name, (ulong[])s.Words.Clone())).ToArray());
            reference = source._divergenceReference;
        }
        lock (_gate)
        {
            (Rule, Optimizer, RuleSettings, OptimizerSettings, StepsTrained, MachineFingerprint, ScheduleEpoch, MinibatchesIntoEpoch, BatchSize, TrainingRows,
                PartialFreeEnergy, PartialObjective, _streams) = values;
            _divergenceReference = reference;
            OptimizerState.CopyFrom(optimizerState);
            RuleState.CopyFrom(ruleState);
        }
    }

    /// <summary>Saves atomically to <paramref name="path"/> (a temporary file renamed over it): a failure leaves any earlier file there intact.</summary>
    public void Save(string path) => AtomicFile.Write(path, "the training state", Save);

    /// <summary>
    /// Writes the state:
    /// <code>
    /// magic "HELMHOLTZ-TRAINING-STATE\n" · int32 version = 4 · int64 payload length N
    /// payload: rule · optimiser (length-prefixed UTF-8) · byte 1, rule settings and optimiser settings, or byte 0 for none (a state read from
    ///          versions 1 to 3; not in versions 1 to 3) · int64 steps · int32 schedule epoch · int32 minibatches into the epoch
    ///          · int32 batch size · int64 training rows · float64 × 2 partial sums · float64 divergence reference F₀ (NaN: none; not in version 1)
    ///          · byte 1 and uint64 machine fingerprint, or byte 0 for none (a state read from version 1 or 2; not in versions 1 and 2)
    ///          · int32 random streams · per stream: name · 41 uint64
    ///          · 2 sections (optimiser, rule): int32 entries · per entry: name · byte kind (0 float32, 1 float64) · int32 length · values
    /// uint32 CRC-32 (IEEE) of the payload
    /// </code>
    /// </summary>
    public void Save(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        byte[] payload;
        lock (_gate)
        {
            if (IsEmpty) throw new InvalidOperationException("The training state is empty: no run has recorded itself into it yet.");
            var buffer = new MemoryStream();
            using (var w = new BinaryWriter(buffer, Encoding.UTF8, leaveOpen: true))
            {
                w.Write(Rule!);
                w.Write(Optimizer!);
                // A state read from versions 1 to 3 recorded no settings: written as none, not as empty ones it may not have had.
                w.Write(RuleSettings is not null);
                if (RuleSettings is not null) { w.Write(RuleSettings); w.Write(OptimizerSettings!); }
                w.Write(StepsTrained);
                w.Write(ScheduleEpoch);
                w.Write(MinibatchesIntoEpoch);
                w.Write(BatchSize);
                w.Write(TrainingRows);
                w.Write(PartialFreeEnergy);
                w.Write(PartialObjective);
                w.Write(_divergenceReference);
                w.Write(MachineFingerprint.HasValue);
                if (MachineFingerprint is { } fingerprint) w.Write(fingerprint);
                w.Write(_streams.Length);
                foreach (var (name, words) in _streams)
                {
                    w.Write(name);
                    LittleEndian.Write<ulong>(w, words);
                }
                foreach (StateSection section in new[] { OptimizerState, RuleState })
                {
                    w.Write(section.Names.Count);
                    foreach (var (name, values) in section.Entries)
                    {
                        w.Write(name);
                        w.Write((byte)(values is float[] ? 0 : 1));
                        w.Write(values.Length);
                        if (values is float[] f) LittleEndian.Write<float>(w, f);
                        else LittleEndian.Write<double>(w, (double[])values);
                    }
                }
            }
            payload = buffer.ToArray();
        }
        ChecksummedFile.Write(stream, Magic, Version, payload);
    }

    /// <summary>
    /// Loads a state saved by <see cref="Save(string)"/>; every defect is an <see cref="InvalidDataException"/> naming the file and what is wrong,
    /// a directory or a missing file a <see cref="FileNotFoundException"/> that says which.
    /// </summary>
    public static TrainingState Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        // As HelmholtzMachine.Load says it: a directory is not a raw UnauthorizedAccessException.
        if (Directory.Exists(path)) throw new FileNotFoundException($"{path}: is a directory, not a training state file.", path);
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: training state file not found.", path);
        using var stream = File.OpenRead(path);
        try
        {
            return Load(stream);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
    }

    /// <summary>Reads what <see cref="Save(Stream)"/> wrote, to the end of the stream.</summary>
    public static TrainingState Load(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        int version = ChecksummedFile.ReadVersion(stream, Magic, "training state");
        if (version is not (1 or 2 or 3 or Version)) throw new InvalidDataException($"training state format version {version} is not supported (this library reads versions 1 to {Version}).");
        // No cap tighter than one array's: Adam's two moments of a machine at its parameter limit
        // (2 × 2²⁸ float32 values) already fill one, before the rule's state.
        byte[] payload = ChecksummedFile.ReadPayload(stream, Array.MaxLength, "training state");
        ChecksummedFile.EnsureEnd(stream, "the training state");

        var state = new TrainingState();
        try
        {
            using var r = new BinaryReader(new MemoryStream(payload), Encoding.UTF8);
            state.Rule = ChecksummedFile.ReadString(r, "the rule's name");
            state.Optimizer = ChecksummedFile.ReadString(r, "the optimiser's name");
            if (version >= 4)
            {
                byte present = r.ReadByte();
                if (present > 1) throw new InvalidDataException($"the settings' flag is {present}, neither 0 (none) nor 1.");
                if (present == 1)
                {
                    state.RuleSettings = ChecksummedFile.ReadString(r, "the rule's settings");
                    state.OptimizerSettings = ChecksummedFile.ReadString(r, "the optimiser's settings");
                }
            }
            state.StepsTrained = NonNegative(r.ReadInt64(), "the steps trained");
            state.ScheduleEpoch = (int)NonNegative(r.ReadInt32(), "the schedule epoch");
            state.MinibatchesIntoEpoch = (int)NonNegative(r.ReadInt32(), "the minibatches into the epoch");
            state.BatchSize = r.ReadInt32();
            if (state.BatchSize <= 0) throw new InvalidDataException($"the batch size {state.BatchSize} is not positive.");
            state.TrainingRows = r.ReadInt64();
            if (state.TrainingRows < -1)
                throw new InvalidDataException($"the training rows are {state.TrainingRows}: a run records a count ≥ 0, or −1 for a stream of unknown length.");
            if (state.TrainingRows >= 0 && state.MinibatchesIntoEpoch > state.TrainingRows / state.BatchSize)
                throw new InvalidDataException($"the state stopped {state.MinibatchesIntoEpoch} minibatches into an epoch of {state.TrainingRows} examples in " +
                    $"minibatches of {state.BatchSize}, which has {state.TrainingRows / state.BatchSize}.");
            // A run adds only finite free energies (it refuses a step whose free energy is not finite).
            state.PartialFreeEnergy = Finite(r.ReadDouble(), "the epoch's partial free-energy sum");
            // Not checked: a rule's objective is reported, not relied on, and a rule of the application's may report one that is not finite.
            state.PartialObjective = r.ReadDouble();
            if (version >= 2)
            {
                double reference = r.ReadDouble();
                if (double.IsInfinity(reference)) throw new InvalidDataException($"the divergence reference is {reference}: a run records a finite free energy, or NaN for none.");
                state._divergenceReference = reference;
            }
            if (version >= 3)
            {
                byte present = r.ReadByte();
                state.MachineFingerprint = present switch
                {
                    0 => null,
                    1 => r.ReadUInt64(),
                    _ => throw new InvalidDataException($"the machine fingerprint's flag is {present}, neither 0 (none) nor 1."),
                };
            }
            ulong[] Words()
            {
                var words = MemoryMarshal.Cast<byte, ulong>(r.ReadBytes(RandomStream.StateWords * sizeof(ulong))).ToArray();
                if (words.Length != RandomStream.StateWords) throw new EndOfStreamException();
                LittleEndian.ToHostOrder<ulong>(words);
                RandomStream.CheckState(words);
                return words;
            }
            int streams = (int)NonNegative(r.ReadInt32(), "the count of random streams");
            if (streams > 64) throw new InvalidDataException($"the state has {streams} random streams, more than any run records.");
            state._streams = new (string, ulong[])[streams];
            for (int i = 0; i < streams; i++) state._streams[i] = (ChecksummedFile.ReadString(r, $"the name of random stream {i}"), Words());
            foreach (StateSection section in new[] { state.OptimizerState, state.RuleState })
            {
                int count = (int)NonNegative(r.ReadInt32(), "an entry count");
                for (int i = 0; i < count; i++)
                {
                    string name = ChecksummedFile.ReadString(r, $"the name of entry {i} of {section.Owner}");
                    byte kind = r.ReadByte();
                    int n = (int)NonNegative(r.ReadInt32(), $"the length of '{name}'");
                    if (kind > 1) throw new InvalidDataException($"the entry '{name}' has the unknown kind {kind}.");
                    int size = kind == 0 ? sizeof(float) : sizeof(double);
                    if ((long)n * size > r.BaseStream.Length - r.BaseStream.Position) throw new EndOfStreamException();
                    byte[] bytes = r.ReadBytes(n * size);
                    if (kind == 0)
                    {
                        float[] floats = MemoryMarshal.Cast<byte, float>(bytes).ToArray();
                        LittleEndian.ToHostOrder<float>(floats);
                        section.Set(name, floats);
                    }
                    else
                    {
                        double[] doubles = MemoryMarshal.Cast<byte, double>(bytes).ToArray();
                        LittleEndian.ToHostOrder<double>(doubles);
                        section.Set(name, doubles);
                    }
                }
            }
            if (r.BaseStream.Position != payload.Length) throw new InvalidDataException("the payload has bytes after its last section.");
        }
        catch (EndOfStreamException)
        {
            throw new InvalidDataException("the payload ends early.");
        }
        return state;
    }

    private const int Version = 4;   // 2 added the divergence reference, 3 the machine's fingerprint, 4 the rule's and optimiser's settings; 1 to 3 are still read
    private static readonly byte[] Magic = "HELMHOLTZ-TRAINING-STATE\n"u8.ToArray();

    private static long NonNegative(long value, string what) => value >= 0 ? value : throw new InvalidDataException($"{what} is negative ({value}).");

    private static double Finite(double value, string what)
        => double.IsFinite(value) ? value : throw new InvalidDataException($"{what} is {value.ToString(System.Globalization.CultureInfo.InvariantCulture)}: a run records only finite sums.");
}
