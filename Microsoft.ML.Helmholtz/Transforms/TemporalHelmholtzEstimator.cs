using Microsoft.ML.Data;
using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Learning;
using Microsoft.ML.Helmholtz.Learning.Rules;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Temporal;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Helmholtz.Transforms;

/// <summary>
/// Trains a <see cref="TemporalHelmholtzMachine"/> on the sequences of an IDataView (one row per
/// sequence, see <see cref="TemporalHelmholtzOptions"/>) and gives a <see cref="TemporalHelmholtzTransformer"/>
/// that adds each sequence's log-likelihood, its frames' log-likelihoods and, when asked, its one-step predictions.
/// Safe from several threads: each <c>Fit</c> trains a model of its own.
/// </summary>
public sealed class TemporalHelmholtzEstimator : IEstimator<TemporalHelmholtzTransformer>
{
    private readonly IHost? _host;
    private readonly TemporalHelmholtzOptions _options;

    /// <summary>
    /// An estimator whose messages go to <paramref name="mlContext"/>'s log and whose default seed comes from it, as
    /// <c>ml.Transforms.TemporalHelmholtzMachine(options)</c> makes it.
    /// </summary>
    public TemporalHelmholtzEstimator(MLContext mlContext, TemporalHelmholtzOptions options)
        : this((IHostEnvironment)(mlContext ?? throw new ArgumentNullException(nameof(mlContext))), options)
    {
    }

    internal TemporalHelmholtzEstimator(IHostEnvironment? environment, TemporalHelmholtzOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _host = environment?.Register("TemporalHelmholtzMachine");
        // A private copy, checked once: what the caller does to its object later cannot reach Fit unchecked.
        _options = Check(options.Copy());
    }

    /// <summary>A copy of the options this estimator trains with: a new one at each read, so changing it changes nothing here.</summary>
    public TemporalHelmholtzOptions Options => _options.Copy();

    private static ArgumentException Bad(string option, string problem) => new($"TemporalHelmholtzOptions.{option}: {problem}", "options");

    private static ArgumentOutOfRangeException OutOfRange(string option, object value, string problem)
        => new("options", value, $"TemporalHelmholtzOptions.{option}: {problem}");

    /// <summary>Checks every option, naming it in the error, so that a bad one fails here rather than after the data is read.</summary>
    private static TemporalHelmholtzOptions Check(TemporalHelmholtzOptions o)
    {
        CheckScoring(o);
        if (o.RecurrentUnits <= 0) throw OutOfRange(nameof(o.RecurrentUnits), o.RecurrentUnits, "must be positive.");
        if (o.Epochs < 0) throw OutOfRange(nameof(o.Epochs), o.Epochs, "must be 0 or more.");
        if (o.BatchSequences <= 0) throw OutOfRange(nameof(o.BatchSequences), o.BatchSequences, "must be positive.");
        if (o.TruncationSteps < 0) throw OutOfRange(nameof(o.TruncationSteps), o.TruncationSteps, "must be 0 or more (0: whole sequences).");
        if (o.TimeLimit is { } limit && limit <= TimeSpan.Zero) throw OutOfRange(nameof(o.TimeLimit), limit, "must be positive (null: none).");
        if (o.ValidationSamples < 0) throw OutOfRange(nameof(o.ValidationSamples), o.ValidationSamples, "must be 0 or more (0: no validation estimate).");
        if (o.ValidationSamples > 0 && o.ValidationData is null) throw Bad(nameof(o.ValidationSamples), "estimates ln p of the validation data, and ValidationData is null.");
        if (o.ValidationSamples == 0 && o.ValidationData is not null)
            throw Bad(nameof(o.ValidationData), "is read only to estimate ln p after each epoch: set ValidationSamples (K), or leave ValidationData null.");
        // As the frame estimator's: these options are checked by the same code and refused with the same exceptions.
        OptimizerSettings.Of(o).Check(o.Epochs, o.TimeLimit, Bad);
        // The rules' own options, checked by the rules they make, as the frame estimator checks them.
        foreach ((string option, object? given, Action make) in new (string, object?, Action)[]
        {
            (nameof(o.Reinforce), o.Reinforce, () => _ = new Reinforce(o.Reinforce)),
            (nameof(o.Nvil), o.Nvil, () => _ = new Nvil(o.Nvil)),
        })
        {
            if (given is null) throw Bad(option, "must be set (the default options, or your own).");
            try
            {
                make();
            }
            catch (ArgumentException e)
            {
                throw Bad(option, Requires.Reason(e));
            }
        }
        if (!(o.DivergenceFactor > 0)) throw OutOfRange(nameof(o.DivergenceFactor), o.DivergenceFactor, "must be positive (+∞ to keep only the finiteness checks).");
        if (!Enum.IsDefined(o.LearningRule)) throw Bad(nameof(o.LearningRule), $"unknown rule {o.LearningRule}.");
        int minimumTrainingSamples = o.LearningRule == HelmholtzLearningRule.Vimco ? 2 : 1;
        if (o.TrainingSamples < minimumTrainingSamples)
            throw OutOfRange(nameof(o.TrainingSamples), o.TrainingSamples, $"K must be at least {minimumTrainingSamples} for {o.LearningRule}.");
        HelmholtzArchitecture architecture;
        try
        {
            architecture = Architecture(o);
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            throw Bad(nameof(o.Architecture), e is ArgumentException a ? Requires.Reason(a) : e.Message);
        }
        if (architecture.Visible.Size != o.FrameSize)
            throw Bad(nameof(o.Architecture), $"'{o.Architecture}' has {architecture.Visible.Size} visible units, but FrameSize is {o.FrameSize}: the visible layer holds one frame.");
        // The LSTM's and the conditioning map's weights, whose shapes the options alone decide: refused here, naming the option, not when Fit
        // allocates them (after the frame machine) naming a parameter.
        if (TemporalHelmholtzMachine.FirstOversizedParameter(architecture, o.RecurrentUnits) is { } oversized)
            throw OutOfRange(nameof(o.RecurrentUnits), o.RecurrentUnits, $"the parameter {oversized.Name} would hold {oversized.Values:N0} values, " +
                $"more than the {Parameter.MaxValues:N0} a parameter may hold (architecture {architecture}): use fewer recurrent units.");
        // A fit of no epochs takes no step, so it needs no rule that suits the machine (it may wrap one trained otherwise), as for the frame estimator.
        if (o.Epochs > 0 && HelmholtzMachineEstimator.CreateRule(o.LearningRule, samples: o.TrainingSamples).Unsupported(architecture) is { } reason)
            throw o.Architecture is null
                ? Bad(nameof(o.LearningRule), $"{o.LearningRule} cannot train the default architecture '{architecture}' (TemporalHelmholtzOptions.Architecture is null): {reason}")
                : Bad(nameof(o.Architecture), $"'{o.Architecture}' does not suit the learning rule {o.LearningRule}: {reason}");
        return o;
    }

    /// <summary>
    /// The checks of what a transformer scores with (the columns, <see cref="TemporalHelmholtzOptions.FrameSize"/>
    /// and the samples): the estimator's, and <see cref="TemporalHelmholtzTransformer.Create"/>'s, which trains nothing.
    /// </summary>
    internal static void CheckScoring(TemporalHelmholtzOptions o)
    {
        if (string.IsNullOrWhiteSpace(o.InputColumnName)) throw Bad(nameof(o.InputColumnName), "must name the column of frames.");
        if (o.FrameSize <= 0) throw OutOfRange(nameof(o.FrameSize), o.FrameSize, "must give the values per frame (a positive number).");
        if (o.Samples <= 0) throw OutOfRange(nameof(o.Samples), o.Samples, "K must be at least 1.");
        if (o.PredictionSamples <= 0) throw OutOfRange(nameof(o.PredictionSamples), o.PredictionSamples, "must be at least 1.");
        OutputColumnNames.Check("TemporalHelmholtzOptions", o.InputColumnName,
            [(o.LogLikelihoodColumnName, nameof(o.LogLikelihoodColumnName)), (o.FrameLogLikelihoodColumnName, nameof(o.FrameLogLikelihoodColumnName)),
             (o.PredictedFramesColumnName, nameof(o.PredictedFramesColumnName))],
            "the log-likelihood, frame log-likelihood and predicted-frames columns", "could not be saved with the pipeline");
    }

    internal static HelmholtzArchitecture Architecture(TemporalHelmholtzOptions o) => HelmholtzArchitecture.Parse(o.Architecture ?? $"{o.FrameSize}bs-200g");

    /// <summary>Refuses scoring samples whose buffers would not fit <paramref name="model"/>, naming the option.</summary>
    internal static void CheckSamples(TemporalHelmholtzOptions o, TemporalHelmholtzMachine model)
    {
        // The log-likelihood columns and the saved pipeline's graph score with K = Samples draws.
        if (TemporalFixedNoiseLogLikelihood.TooManySamples(model.Machine, o.Samples) is { } problem)
            throw OutOfRange(nameof(o.Samples), o.Samples, problem + " Use a smaller K.");
        if (o.PredictedFramesColumnName is not null && TemporalEvaluation.TooManySamples(model.Machine, o.PredictionSamples) is { } prediction)
            throw OutOfRange(nameof(o.PredictionSamples), o.PredictionSamples, prediction + " Use fewer draws.");
        if (o.ValidationSamples > 0 && TemporalFixedNoiseLogLikelihood.TooManySamples(model.Machine, o.ValidationSamples) is { } validation)
            throw OutOfRange(nameof(o.ValidationSamples), o.ValidationSamples, validation + " Use a smaller K.");
    }

    /// <summary>The input's frames per row: the column's size over the frame size, checked.</summary>
    internal static int Frames(TemporalHelmholtzOptions o, int vectorSize)
    {
        if (vectorSize % o.FrameSize != 0)
            throw new ArgumentOutOfRangeException("inputSchema", $"Schema mismatch for input column '{o.InputColumnName}': it is a vector of {vectorSize} values, not a whole number of frames of {o.FrameSize} (TemporalHelmholtzOptions.FrameSize).");
        return vectorSize / o.FrameSize;
    }

    /// <inheritdoc/>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        InputColumn.Check(inputSchema, _options.InputColumnName);
        // A shape records that a vector's size is known, not the size: any size gives the same shape.
        return SchemaShapes.Add(inputSchema, TemporalColumns.Added(_options, 1));
    }

    /// <summary>
    /// Trains a new model (its weights drawn from the fit's seed) on the sequences of <paramref name="input"/>, which must hold at
    /// least one row, and returns the transformer that scores with it.
    /// </summary>
    public TemporalHelmholtzTransformer Fit(IDataView input) => FitFrom(input, initial: null, initialName: null);

    /// <summary>
    /// Trains on from <paramref name="initialModel"/>'s machine instead of a new one: on more sequences, or for more epochs. The
    /// model given is not changed (its machine is copied); the options' architecture and recurrent units must be its. Its visible
    /// biases are not set from the data; the learning-rate schedule starts again at <see cref="TemporalHelmholtzOptions.LearningRate"/>
    /// and the optimiser's state (Adam's moments) starts from zero, as neither is part of a fitted model, unless
    /// <see cref="TemporalHelmholtzOptions.TrainingState"/> holds the state that the model's fit recorded: then both go on from it, as
    /// one longer fit would have.
    /// </summary>
    public TemporalHelmholtzTransformer Fit(IDataView input, TemporalHelmholtzTransformer initialModel)
    {
        ArgumentNullException.ThrowIfNull(initialModel);
        return FitFrom(input, initialModel.GetModel(), nameof(initialModel));
    }

    /// <summary>
    /// <see cref="Fit(IDataView, TemporalHelmholtzTransformer)"/> from a machine of the core library (e.g. one loaded with
    /// <see cref="TemporalHelmholtzMachine.Load(string, Numerics.IMatrixEngine?)"/>); the machine given is not changed.
    /// </summary>
    public TemporalHelmholtzTransformer Fit(IDataView input, TemporalHelmholtzMachine initialModel)
    {
        ArgumentNullException.ThrowIfNull(initialModel);
        var copy = new MemoryStream();
        initialModel.Save(copy);
        copy.Position = 0;
        return FitFrom(input, TemporalHelmholtzMachine.Load(copy, initialModel.Machine.Engine), nameof(initialModel));
    }

    /// <summary>Fits a new machine (<paramref name="initial"/> null) or <paramref name="initial"/>, a copy the caller made; <paramref name="initialName"/> is the caller's parameter that gave it.</summary>
    private TemporalHelmholtzTransformer FitFrom(IDataView input, TemporalHelmholtzMachine? initial, string? initialName)
    {
        ArgumentNullException.ThrowIfNull(input);
        TemporalHelmholtzOptions o = _options;
        DataViewSchema.Column column = InputColumn.Check(input.Schema, o.InputColumnName);
        int size = ((VectorDataViewType)column.Type).Size, frames = Frames(o, size);
        HelmholtzArchitecture architecture = Architecture(o);
        if (initial is not null && (!initial.Machine.Architecture.SameAs(architecture) || initial.RecurrentUnits != o.RecurrentUnits))
            throw new ArgumentException($"TemporalHelmholtzOptions.Architecture and RecurrentUnits: the initial model is a machine {initial.Machine.Architecture} with " +
                $"{initial.RecurrentUnits} recurrent units, and these options train {architecture} with {o.RecurrentUnits}: set them to the model's.", initialName);
        int seed = o.Seed ?? HelmholtzMachineEstimator.NextSeed(_host);
        // The machine depends on the options alone: its scoring samples are checked before a row is read (reading the data
        // can take long), and before training (the machine would be lost with a transformer that cannot score).
        var model = initial ?? TemporalHelmholtzMachine.Create(architecture, o.RecurrentUnits, (ulong)seed);
        CheckSamples(o, model);
        var rule = HelmholtzMachineEstimator.CreateRule(o.LearningRule, o.Reinforce, o.TrainingSamples, nvil: o.Nvil);
        // A resumed fit goes on along the schedule from the state's epoch: a rate that reaches 0 there is refused naming these options, before the data is read.
        if (o.Epochs > 0 && o.TimeLimit is null && o.TrainingState is { IsEmpty: false } resumed &&
            OptimizerSettings.Of(o).Schedule().FirstZeroInSinglePrecision(resumed.ScheduleEpoch, TrainingOptions.ScheduleEpoch(resumed.ScheduleEpoch, o.Epochs - 1)) is { } zero)
            throw Bad(nameof(o.LearningRateDecay), $"{o.LearningRateDecay} takes the learning rate {o.LearningRate} to 0 in single precision by the schedule's epoch {zero}, " +
                $"which this fit, resumed from TrainingState at epoch {resumed.ScheduleEpoch}, would reach in its epoch {(long)zero - resumed.ScheduleEpoch + 1}: " +
                "set MinimumLearningRate, decay more slowly, train fewer Epochs, or set a TimeLimit.");
        // The training step's buffers, sized from the options and the sequences in a minibatch: refused naming these options, before the
        // data is read when it gives its row count (the trainer would refuse them after, naming its own).
        void RequireStepFits(long sequences)
        {
            if (o.Epochs == 0) return;
            int inBatch = (int)Math.Min(o.BatchSequences, sequences), segment = o.TruncationSteps == 0 ? frames : Math.Min(o.TruncationSteps, frames);
            TemporalStep.RequireFits(model, rule.SamplesPerExample, inBatch, segment, "options",
                $"TemporalHelmholtzOptions.BatchSequences = {o.BatchSequences}{(inBatch < o.BatchSequences ? $" ({inBatch} sequences in the data)" : "")}, " +
                $"TruncationSteps = {o.TruncationSteps} (segments of {segment} frames)" + (rule.SamplesPerExample > 1 ? $" and TrainingSamples = {o.TrainingSamples}" : ""),
                "use a smaller BatchSequences or TruncationSteps" + (rule.SamplesPerExample > 1 ? ", or fewer TrainingSamples" : ""));
        }
        if (input.GetRowCount() is { } known and > 0) RequireStepFits(known);
        var inputColumn = new InputColumn(o.InputColumnName, architecture.Visible);
        // The validation sequences first: a column that does not fit is refused before the training data is read.
        DataViewSchema.Column? validationColumn = null;
        if (o.ValidationData is { } validationData)
        {
            try
            {
                validationColumn = InputColumn.Check(validationData.Schema, o.InputColumnName);
            }
            catch (ArgumentOutOfRangeException e)
            {
                throw new ArgumentException($"TemporalHelmholtzOptions.ValidationData: {Requires.Reason(e)}", "options");
            }
            int validationSize = ((VectorDataViewType)validationColumn.Value.Type).Size;
            if (validationSize != size)
                throw new ArgumentException($"TemporalHelmholtzOptions.ValidationData: column '{o.InputColumnName}' holds sequences of {validationSize} values " +
                    $"({validationSize / (double)o.FrameSize:G4} frames of {o.FrameSize}), but the training data's hold {size} ({frames} frames): " +
                    "the validation sequences must have the training sequences' length.", "options");
        }
        (float[] values, int sequences) = Read(input, column, inputColumn, size, "training data", nameof(input), o.CancellationToken);
        if (sequences == 0) throw new ArgumentException($"The input column '{o.InputColumnName}' has no rows: at least one sequence is needed to train.", nameof(input));
        // Fewer sequences than a minibatch: one minibatch of them all, as the frame machine's trainer shrinks its minibatch to the rows.
        int batch = Math.Min(o.BatchSequences, sequences);
        RequireStepFits(sequences);
        var data = new SequenceSet(sequences, frames, 1, o.FrameSize, values);
        BestValidatedModel? best = null;
        if (validationColumn is { } vc)
        {
            (float[] validationValues, int validationSequences) = Read(o.ValidationData!, vc, inputColumn, size, "validation data", "options", o.CancellationToken);
            if (validationSequences == 0)
                throw new ArgumentException($"TemporalHelmholtzOptions.ValidationData: column '{o.InputColumnName}' has no rows to estimate ln p on.", "options");
            best = new BestValidatedModel(model, validationValues, validationSequences, frames, o.ValidationSamples, (ulong)seed + 4);
        }
        using IChannel? channel = _host?.Start("Training");
        if (batch < o.BatchSequences)
            channel?.Info(MessageSensitivity.None, "{0} sequences, fewer than BatchSequences ({1}): each step takes them all", sequences, o.BatchSequences);
        // What the epochs must beat: a fit from a given model never returns a machine worse on validation than the one given.
        if (best is not null && initial is not null)
        {
            double initialEstimate = best.Estimate(0, o.CancellationToken);   // made whether or not there is a log to write it to
            channel?.Info(MessageSensitivity.None, "the initial model's validation ln p: {0:F3} nats per frame (K = {1})", initialEstimate, o.ValidationSamples);
        }
        // The run records into a copy, kept in the user's state only when the fit succeeds: a failed fit's machine is lost with it, and
        // the state must still be the one of the model the user holds. The user's state is held meanwhile.
        using var stateUse = o.TrainingState?.EnterRun("TemporalHelmholtzEstimator.Fit") ?? default;
        TrainingState? recording = o.TrainingState?.Copy();
        var trainingOptions = new TemporalTrainingOptions
        {
            Epochs = o.Epochs, BatchSequences = batch, TruncationSteps = o.TruncationSteps, Seed = (ulong)seed + 1,
            LearningRate = OptimizerSettings.Of(o).Schedule(), Optimizer = OptimizerSettings.Of(o).Optimizers(),
            TimeLimit = o.TimeLimit, DivergenceFactor = o.DivergenceFactor, DivergenceFactorName = "TemporalHelmholtzOptions.DivergenceFactor",
            // A machine given to train on keeps its visible biases, even one that has taken no steps.
            InitializeVisibleBiases = initial is null,
        };
        try
        {
            // No epochs: the machine as it is (the rule need not suit it), the state checked and left as it was.
            new TemporalTrainer(rule, trainingOptions).Train(model, data, new EpochLog(r =>
            {
                if (best is not null) r = r with { ValidationLogLikelihood = best.Estimate(r.Epoch, o.CancellationToken) };
                channel?.Info(MessageSensitivity.None, "epoch {0}: {1} {2:F3} nats per frame, learning rate {3:G3}{4}", r.Epoch, r.Objective, r.TrainObjective, r.LearningRate,
                    r.ValidationLogLikelihood is { } v ? $", validation ln p {v:F3} nats per frame" : "");
                o.Progress?.Report(r);
            }), o.CancellationToken, recording);
        }
        catch (ArgumentException e) when (e.ParamName == "state")
        {
            throw new ArgumentException($"TemporalHelmholtzOptions.TrainingState: {Requires.Reason(e)}" +
                (initial is null ? " A fit without an initial model starts a new machine: give the model whose fit recorded the state (Fit(data, model))."
                    : " If the model's fit kept an earlier epoch's machine (ValidationSamples), the state is that fit's last epoch's: fit from the model without " +
                      "the state (the optimiser and the schedule start again), or fit without ValidationSamples to keep the last epoch and go on from its state."),
                nameof(input), e);
        }
        bool keptInitial = false;
        if (best?.Model is { } bestModel && best.Epoch != best.LastEpoch)
        {
            // The initial model kept: the caller's state is still its state, so it is left as it was.
            keptInitial = best.Epoch == 0;
            channel?.Info(MessageSensitivity.None, "kept the {0}: its validation ln p, {1:F3} nats per frame (K = {2}), was the best{3}",
                keptInitial ? "initial model's machine" : $"machine of epoch {best.Epoch} of {best.LastEpoch}", best.LogLikelihood, o.ValidationSamples,
                o.TrainingState is null ? "" : keptInitial ? "; the training state is left as it was, the initial model's"
                    : "; the training state is the last epoch's, so a fit from this model cannot go on from it");
            model = bestModel;
        }
        if (recording is not null && !keptInitial) o.TrainingState!.CopyFrom(recording);
        // The seed drawn (when Seed was null) goes into the options the transformer keeps, so that Create(GetModel(), Options, Frames) scores as this one.
        TemporalHelmholtzOptions kept = o.Copy();
        kept.Seed = seed;
        return new TemporalHelmholtzTransformer(model, kept, frames);
    }

    /// <summary>
    /// Reads a column of sequences into one array, each row checked where the row, frame and slot are known (the core would
    /// name only its flat index); <paramref name="what"/> names the data set in errors, <paramref name="parameter"/> the argument.
    /// </summary>
    private static (float[] Values, int Sequences) Read(IDataView data, DataViewSchema.Column column, InputColumn inputColumn, int size, string what,
        string parameter, CancellationToken cancellation)
    {
        var values = new List<float>();
        int sequences = 0;
        using DataViewRowCursor cursor = data.GetRowCursor([column]);
        ValueGetter<VBuffer<float>> getter = cursor.GetGetter<VBuffer<float>>(column);
        VBuffer<float> row = default;
        var dense = new float[size];
        while (cursor.MoveNext())
        {
            cancellation.ThrowIfCancellationRequested();
            getter(ref row);
            inputColumn.Read(row, dense, new RowName(sequences), what, frames: true);
            if ((long)values.Count + size > Array.MaxLength)
                throw new ArgumentException($"The {what}: column '{inputColumn.Name}' holds more than {Array.MaxLength:N0} values by row {sequences} " +
                    $"({size} per sequence), more than one array holds: use fewer sequences.", parameter);
            values.AddRange(dense);
            sequences++;
        }
        return (values.ToArray(), sequences);
    }

    /// <summary>
    /// Estimates the validation sequences' mean ln p per frame after each epoch, with the same noise every time (one seed), and
    /// keeps a copy of the model of the epoch that scored best. Called on the training thread between epochs, while no step runs.
    /// </summary>
    private sealed class BestValidatedModel(TemporalHelmholtzMachine model, float[] sequences, int count, int frames, int samples, ulong seed)
    {
        private readonly double[] _perFrame = new double[frames];

        /// <summary>A copy of the best epoch's model; null before the first estimate.</summary>
        public TemporalHelmholtzMachine? Model { get; private set; }

        public int Epoch { get; private set; }

        public int LastEpoch { get; private set; }

        public double LogLikelihood { get; private set; } = double.NegativeInfinity;

        public double Estimate(int epoch, CancellationToken cancellation)
        {
            // The scorer takes a copy of the model as it stands; the same seed gives it the same noise at every epoch.
            var scorer = new TemporalFixedNoiseLogLikelihood(model, samples, seed);
            double total = 0;
            int d = model.FrameSize;
            for (int s = 0; s < count; s++)
            {
                cancellation.ThrowIfCancellationRequested();
                scorer.Score(sequences.AsSpan(s * frames * d, frames * d), frames, _perFrame);
                foreach (double v in _perFrame) total += v;
            }
            double mean = total / ((double)count * frames);
            LastEpoch = epoch;
            if (mean > LogLikelihood)
            {
                LogLikelihood = mean;
                Epoch = epoch;
                Model = scorer.Model;   // the scorer's own copy: nothing changes it after this estimate
            }
            return mean;
        }
    }

    /// <summary>Logs each epoch on the training thread, in order and before Fit returns (Progress&lt;T&gt; would post it to the thread pool, possibly after the channel is closed).</summary>
    private sealed class EpochLog(Action<TemporalEpochReport> log) : IProgress<TemporalEpochReport>
    {
        public void Report(TemporalEpochReport value) => log(value);
    }
}
