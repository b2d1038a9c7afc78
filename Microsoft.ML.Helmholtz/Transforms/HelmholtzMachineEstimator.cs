using System.Diagnostics;
using System.Globalization;
using Microsoft.ML.Data;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Evaluation;
using Microsoft.ML.Helmholtz.Learning;
using Microsoft.ML.Helmholtz.Learning.Optimizers;
using Microsoft.ML.Helmholtz.Learning.Rules;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Helmholtz.Transforms;

/// <summary>
/// Trains a Helmholtz machine on a vector column, without labels, and gives a
/// <see cref="HelmholtzMachineTransformer"/> that adds its features, the log-likelihood of each row
/// and, when asked, anomaly columns. Progress goes to the MLContext's log (and to
/// <see cref="HelmholtzMachineOptions.Progress"/>); cancellation through
/// <see cref="HelmholtzMachineOptions.CancellationToken"/>; a run that diverges throws and returns nothing.
/// Safe from several threads: each <c>Fit</c> trains a machine of its own (fits given the same training state must not overlap: a second while one runs is refused).
/// </summary>
public sealed class HelmholtzMachineEstimator : IEstimator<HelmholtzMachineTransformer>
{
    private readonly IHost? _host;
    private readonly HelmholtzMachineOptions _options;

    /// <summary>An estimator whose messages go to <paramref name="mlContext"/>'s log and whose default seed comes from it.</summary>
    public HelmholtzMachineEstimator(MLContext mlContext, HelmholtzMachineOptions options)
        : this((IHostEnvironment)(mlContext ?? throw new ArgumentNullException(nameof(mlContext))), options)
    {
    }

    internal HelmholtzMachineEstimator(IHostEnvironment? environment, HelmholtzMachineOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = Validate(options.Copy());
        _host = environment?.Register("HelmholtzMachine");
    }

    /// <summary>A copy of the options this estimator trains with: a new one at each read, so changing it changes nothing here.</summary>
    public HelmholtzMachineOptions Options => _options.Copy();

    /// <summary>
    /// The input schema with the machine's columns added. The input column must be a known-size vector
    /// of Single; its size is checked at <see cref="Fit(IDataView)"/> (a schema shape carries no sizes).
    /// </summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        InputColumn.Check(inputSchema, _options.InputColumnName);
        return SchemaShapes.Add(inputSchema, ScoringColumns.Of(_options).Added(FeatureSize(_options)));
    }

    /// <summary>
    /// Trains a new machine (its weights drawn from the fit's seed) on the input column of <paramref name="input"/>, which must hold at
    /// least one row, and returns the transformer that scores with it.
    /// </summary>
    public HelmholtzMachineTransformer Fit(IDataView input) => FitFrom(input, initial: null, initialName: null);

    /// <summary>
    /// Trains on from <paramref name="initialModel"/>'s machine instead of a new one, as ML.NET's trainers
    /// re-train from given model parameters: on more data, or for more epochs. The model given is not
    /// changed (its machine is copied). The options' architecture, or the default one when it is null,
    /// must be the model's; the model's visible biases are not set from the data (InitializeVisibleBiases starts new machines only); the learning-rate
    /// schedule starts again at <see cref="HelmholtzMachineOptions.LearningRate"/>, and the optimiser's
    /// state (Adam's moments) starts from zero, as neither is part of a fitted model, unless
    /// <see cref="HelmholtzMachineOptions.TrainingState"/> holds the state that the model's fit recorded:
    /// then both go on from it.
    /// </summary>
    public HelmholtzMachineTransformer Fit(IDataView input, HelmholtzMachineTransformer initialModel)
    {
        ArgumentNullException.ThrowIfNull(initialModel);
        return FitFrom(input, initialModel.Machine, nameof(initialModel));
    }

    /// <summary>
    /// <see cref="Fit(IDataView, HelmholtzMachineTransformer)"/> from a machine of the core library: one trained outside a
    /// pipeline, e.g. loaded with <see cref="HelmholtzMachine.Load(string, Numerics.IMatrixEngine?)"/> from a file the MNIST sample saved. With
    /// <see cref="HelmholtzMachineOptions.Epochs"/> = 0 the transformer scores that machine as it is (a copy: the machine
    /// given is not changed, its visible biases included); the data is read and checked as for any fit, and serves only the
    /// anomaly threshold's quantile, when the options ask for one. The options' scoring seed, samples and columns apply as
    /// after any fit, so the same options, with <see cref="HelmholtzMachineOptions.Seed"/> set, give the same outputs as a
    /// transformer fitted to that machine.
    /// </summary>
    public HelmholtzMachineTransformer Fit(IDataView input, HelmholtzMachine initialMachine)
    {
        ArgumentNullException.ThrowIfNull(initialMachine);
        return FitFrom(input, initialMachine, nameof(initialMachine));
    }

    /// <summary>Fits a new machine (<paramref name="initial"/> null) or a copy of <paramref name="initial"/>; <paramref name="initialName"/> is the caller's parameter that gave it, named by its refusals.</summary>
    private HelmholtzMachineTransformer FitFrom(IDataView input, HelmholtzMachine? initial, string? initialName)
    {
        ArgumentNullException.ThrowIfNull(input);
        HelmholtzMachineOptions o = _options;
        DataViewSchema.Column column = InputColumn.Check(input.Schema, o.InputColumnName);
        int size = ((VectorDataViewType)column.Type).Size;
        if (initial is not null && initial.Architecture.Visible.Size != size)
            throw new ArgumentOutOfRangeException(nameof(input), $"Schema mismatch for input column '{o.InputColumnName}': it is a vector of {size} values, " +
                $"but the initial model is a machine {initial.Architecture}, whose visible layer has {initial.Architecture.Visible.Size} units.");
        HelmholtzArchitecture architecture = ArchitectureFor(o, size);   // its visible layer has the column's size
        if (initial is not null && !initial.Architecture.SameAs(architecture))
            throw new ArgumentException($"HelmholtzMachineOptions.Architecture: the initial model is a machine {initial.Architecture}, and these options train " +
                $"{architecture}{(o.Architecture is null ? " (the default for a column of " + size + " values)" : "")}: set Architecture to \"{initial.Architecture}\".", initialName);
        if (o.ValidationData is { } validationView)
        {
            try
            {
                InputColumn.Check(validationView.Schema, o.InputColumnName, size, architecture.ToString());
            }
            catch (ArgumentOutOfRangeException e)
            {
                throw new ArgumentOutOfRangeException("options", $"HelmholtzMachineOptions.ValidationData: {Requires.Reason(e)}");
            }
        }
        var inputColumn = new InputColumn(o.InputColumnName, architecture.Visible);
        int seed = o.Seed ?? NextSeed(_host);
        CancellationToken cancellation = o.CancellationToken;
        using IChannel? channel = _host?.Start("Training");
        var clock = Stopwatch.StartNew();

        var machine = initial?.Clone() ?? HelmholtzMachine.Create(architecture, (ulong)seed);
        ILearningRule rule = CreateRule(o);
        // A minibatch (K rows per example for the K-sample rules) that no buffer holds is refused naming the options: before the
        // data is read when the data says its row count, else once the rows are counted (fewer rows than BatchSize make the minibatch).
        void RequireMinibatch(long dataRows)
        {
            if (o.Epochs == 0) return;
            long batchRows = Math.Min(o.BatchSize, dataRows) * (long)rule.SamplesPerExample;
            machine.RequireRows(batchRows, "options", rule.SamplesPerExample > 1
                ? $"HelmholtzMachineOptions.BatchSize = {o.BatchSize} with TrainingSamples = {o.TrainingSamples}: {rule.Name}'s minibatches of {batchRows:N0} rows"
                : $"HelmholtzMachineOptions.BatchSize = {o.BatchSize}: {rule.Name}'s minibatches of {batchRows:N0} rows",
                rule.SamplesPerExample > 1 ? "use a smaller BatchSize or fewer TrainingSamples" : "use a smaller BatchSize");
        }
        if (input.GetRowCount() is { } knownRows) RequireMinibatch(knownRows);

        // The data: read once into memory when it fits the budget, else streamed each epoch through a shuffle buffer. Data
        // that does not say its row count (LoadFromEnumerable over a lazy sequence, a filter) is read to find out: a stream
        // would take a pass for the column means anyway, and a shuffle buffer mixes only rows close in the data.
        DataMatrix? matrix = inputColumn.TryReadAll(input, o.MemoryBudgetBytes, "training data", cancellation, unknownCount: true);
        InputColumn.RowStream? stream = null;
        double[]? means = null;
        try
        {
            long rows;
            if (matrix is not null) rows = matrix.Rows;
            else
            {
                // Over the memory budget: streamed through the shuffle buffer, which must fit one array (named before the pass).
                if ((long)o.ShuffleBufferRows * size > Array.MaxLength)
                    throw new ArgumentOutOfRangeException("options", o.ShuffleBufferRows, $"HelmholtzMachineOptions.ShuffleBufferRows: the training data, over " +
                        $"MemoryBudgetBytes, is streamed through a shuffle buffer of {o.ShuffleBufferRows:N0} rows of {size} values, more than one array holds " +
                        $"({Array.MaxLength:N0}); use fewer ShuffleBufferRows.");
                stream = inputColumn.Stream(input, "training data");
                (rows, means) = ColumnMeans(stream, cancellation);
                stream.ExpectRows(rows);   // the epochs' and the threshold's passes must find them all again
            }
            if (rows == 0) throw new ArgumentException($"The training data is empty: column '{o.InputColumnName}' has no rows.", nameof(input));
            RequireMinibatch(rows);
            // Read into memory whatever its row count says (TrainTestSplit's test set, for one, does not know it).
            DataMatrix? validation = o.ValidationData is null ? null
                : inputColumn.TryReadAll(o.ValidationData, long.MaxValue, "validation data", cancellation, unknownCount: true)
                  ?? throw new ArgumentException($"HelmholtzMachineOptions.ValidationData: its rows do not fit in one array of {Array.MaxLength:N0} values " +
                      $"(more than {Array.MaxLength / size:N0} rows of {size}): give fewer rows, e.g. ml.Data.TakeRows(validation, {Array.MaxLength / size}).", "options");
            if (validation is { Rows: 0 })
                throw new ArgumentException($"HelmholtzMachineOptions.ValidationData: the validation data is empty: column '{o.InputColumnName}' has no rows.", "options");

            // The transformer's common random numbers are made after training: a K they cannot hold must fail first.
            if (HelmholtzMachineTransformer.NeedsLogLikelihood(o) && FixedNoiseLogLikelihood.TooManySamples(machine, o.Samples) is { } tooMany)
                throw new ArgumentOutOfRangeException("options", o.Samples, $"HelmholtzMachineOptions.Samples: {tooMany}");
            if (o.Epochs == 0)
                Log(channel, $"No epochs: the transformer scores the Helmholtz machine {architecture} ({machine.Parameters.Sum(p => (long)p.Length):N0} parameters" +
                    (initial is null ? ", new" : $", the initial model's, trained {initial.StepsTrained:N0} steps") + ") as it is.");
            else Log(channel, $"Training a Helmholtz machine {architecture} ({machine.Parameters.Sum(p => (long)p.Length):N0} parameters" +
                (initial is null ? "" : $", from the initial model's, trained {initial.StepsTrained:N0} steps") + $") with {rule.Name} " +
                $"on {rows:N0} rows of column '{o.InputColumnName}' " +
                (matrix is not null ? "held in memory" : $"streamed through a shuffle buffer of {o.ShuffleBufferRows:N0} rows") +
                $"; {o.Epochs} epochs of minibatches of {o.BatchSize}, {o.Optimizer} at {o.LearningRate.ToString(CultureInfo.InvariantCulture)}, seed {seed}.");

            // Fewer rows than a minibatch make one minibatch of them all, streamed or held (the trainer caps what it holds alike).
            if (o.Epochs > 0 && rows < o.BatchSize)
                Log(channel, $"The training data has {rows:N0} rows, fewer than BatchSize = {o.BatchSize}: each step takes them all.");
            var trainingOptions = new TrainingOptions
            {
                Epochs = o.Epochs,
                BatchSize = (int)Math.Min(o.BatchSize, rows),
                Seed = (ulong)seed + 1,
                LearningRate = OptimizerSettings.Of(o).Schedule(),
                Optimizer = OptimizerSettings.Of(o).Optimizers(),
                TimeLimit = o.TimeLimit,
                // A machine given to train on keeps its visible biases, even one whose file says it has taken no steps (a version-1
                // file, a machine set by hand); the trainer also leaves any machine that has taken steps as it is.
                InitializeVisibleBiases = o.InitializeVisibleBiases && initial is null,
                DivergenceFactor = o.DivergenceFactor,
                DivergenceFactorName = "HelmholtzMachineOptions.DivergenceFactor",
                CenterInputs = o.CenterInputs,
            };
            BestValidatedMachine? best = o.ValidationSamples > 0 ? new BestValidatedMachine(machine, validation!, o.ValidationSamples, (ulong)seed + 3) : null;
            if (best is not null && initial is not null)   // what the epochs must beat: a re-training never returns a machine worse on validation than the one given
                Log(channel, $"The initial model's validation ln p: {best.Estimate(0, cancellation):F2} nats (K = {o.ValidationSamples}).");
            var progress = new EpochProgress(report =>
            {
                if (best is not null) report = report with { ValidationLogLikelihood = best.Estimate(report.Epoch, cancellation) };
                Log(channel, $"Epoch {report.Epoch}/{o.Epochs}: training free energy {report.TrainFreeEnergy:F2} nats" +
                    (report.ValidationFreeEnergy is { } v ? $", validation {v:F2}" : "") +
                    (report.ValidationLogLikelihood is { } ll ? $", validation ln p {ll:F2} (K = {o.ValidationSamples})" : "") +
                    $", learning rate {report.LearningRate:G3}, {report.Elapsed.TotalSeconds:F1} s.");
                o.Progress?.Report(report);
            });
            if (matrix is null) trainingOptions.VisibleMeans = means;   // from the pass a stream had anyway
            // The run records into a copy, kept in the user's state only when the fit succeeds: a failed fit's machine is lost
            // with it, and the state must still be the one of the model the user holds. The user's state is held meanwhile.
            using var stateUse = o.TrainingState?.EnterRun("HelmholtzMachineEstimator.Fit") ?? default;
            TrainingState? recording = o.TrainingState?.Copy();
            if (recording is { IsEmpty: false }) trainingOptions.FirstScheduleEpoch = recording.ScheduleEpoch;
            var trainer = new HelmholtzTrainer(rule, trainingOptions);
            int epochsTrained;
            try
            {
                if (matrix is not null) epochsTrained = trainer.Train(machine, matrix, validation, progress, cancellation, recording).Count;
                else epochsTrained = trainer.Train(machine, new StreamingMinibatches(stream!, o.ShuffleBufferRows), validation, progress, cancellation, recording).Count;
            }
            catch (ArgumentException e) when (e.ParamName == "state")
            {
                throw new ArgumentException($"HelmholtzMachineOptions.TrainingState: {Requires.Reason(e)}" +
                    (initial is null ? " A fit without an initial model starts a new machine: give the model whose fit recorded the state (Fit(data, model))."
                    : recording!.StepsTrained > initial.StepsTrained && recording.IsFrom(rule, trainingOptions.Optimizer())
                        ? " If the model's fit kept an earlier epoch's machine (ValidationSamples), the state is that fit's last epoch's: fit from the model " +
                          "without the state (the optimiser and the schedule start again), or fit without ValidationSamples to keep the last epoch and go on from its state."
                    // Data of unknown count was streamed before this version holds it when it fits: such a state goes on within its epoch only streamed.
                    : recording!.TrainingRows < 0 && recording.MinibatchesIntoEpoch > 0 && matrix is not null
                        ? " Its run streamed data that did not say its row count, which is now held in memory when it fits the budget: " +
                          "set MemoryBudgetBytes = 0 to stream it as that run did."
                        : ""), nameof(input), e);
            }

            bool keptInitial = false;
            if (best?.Machine is { } kept && best.Epoch != epochsTrained)
            {
                // The initial model kept: the caller's state is still its state, so it is left as it was.
                keptInitial = best.Epoch == 0;
                Log(channel, (keptInitial ? "Kept the initial model's machine" : $"Kept the machine of epoch {best.Epoch} of {epochsTrained}") +
                    $": its validation ln p, {best.LogLikelihood:F2} nats (K = {o.ValidationSamples}), was the best." +
                    (o.TrainingState is null ? "" : keptInitial ? " The training state is left as it was, the initial model's."
                        : " The training state is the last epoch's, so a fit from this model cannot go on from it."));
                machine = kept;
            }
            var transformer = new HelmholtzMachineTransformer(machine, o, (ulong)seed + 2, o.AnomalyThreshold ?? double.PositiveInfinity);
            if (o.AnomalyThreshold is null && (o.ScoreColumnName is not null || o.PredictedLabelColumnName is not null))
            {
                double threshold = QuantileThreshold(transformer, matrix, stream, rows, cancellation);
                transformer = transformer.WithThreshold(threshold);
                Log(channel, $"Anomaly threshold: {threshold:F2} nats, the {o.Quantile.ToString(CultureInfo.InvariantCulture)} quantile of the training rows' scores.");
            }
            if (recording is not null && !keptInitial) o.TrainingState!.CopyFrom(recording);
            Log(channel, o.Epochs == 0 ? $"Ready in {clock.Elapsed.TotalSeconds:F1} s (no step taken)."
                : $"Trained in {clock.Elapsed.TotalSeconds:F1} s ({machine.StepsTrained:N0} steps).");
            return transformer;
        }
        finally
        {
            stream?.Dispose();
        }
    }

    /// <summary>
    /// Rows i·rows/n (i &lt; n) of one pass of the stream, into <paramref name="sample"/>: all n, since the stream has been told
    /// the <paramref name="rows"/> to expect (<see cref="InputColumn.RowStream.ExpectRows"/>) and throws on a pass that gives fewer.
    /// </summary>
    private static void EvenlySpacedRows(InputColumn.RowStream stream, long rows, int n, float[] sample, CancellationToken cancellation)
    {
        int columns = stream.Columns, taken = 0;
        int blockRows = BlockRows(columns);
        var block = new float[blockRows * columns];
        long first = 0;   // the stream's row at the block's start
        stream.Restart();
        int got;
        while (taken < n && (got = stream.Read(block, blockRows)) > 0)
        {
            cancellation.ThrowIfCancellationRequested();
            for (long wanted; taken < n && (wanted = (long)taken * rows / n) < first + got; taken++)
                block.AsSpan((int)(wanted - first) * columns, columns).CopyTo(sample.AsSpan(taken * columns, columns));
            first += got;
        }
    }

    /// <summary>Rows read at a time in a pass over a stream: 256, fewer for rows so wide that 256 would not fit one array.</summary>
    private static int BlockRows(int columns) => (int)Math.Clamp(Array.MaxLength / Math.Max(1, columns), 1, 256);

    /// <summary>The column means over one pass of the stream (for the visible biases) and the row count.</summary>
    private static (long Rows, double[] Means) ColumnMeans(InputColumn.RowStream stream, CancellationToken cancellation)
    {
        int columns = stream.Columns;
        var sums = new double[columns];
        int blockRows = BlockRows(columns);
        var block = new float[blockRows * columns];
        long rows = 0;
        stream.Restart();
        int got;
        while ((got = stream.Read(block, blockRows)) > 0)
        {
            cancellation.ThrowIfCancellationRequested();
            for (int r = 0; r < got; r++)
                for (int c = 0; c < columns; c++) sums[c] += block[r * columns + c];
            rows += got;
        }
        if (rows > 0) for (int c = 0; c < columns; c++) sums[c] /= rows;
        return (rows, sums);
    }

    /// <summary>
    /// The options' quantile of the scores (−ln p̂) of up to AnomalyQuantileRows training rows, evenly spaced: from
    /// the matrix, or, for streamed data, picked in one more pass of the stream (the data need not fit in memory).
    /// </summary>
    private double QuantileThreshold(HelmholtzMachineTransformer transformer, DataMatrix? matrix, InputColumn.RowStream? stream, long trainingRows,
        CancellationToken cancellation)
    {
        HelmholtzMachineOptions o = _options;
        int columns = transformer.Input.Size;
        int n = (int)Math.Min(o.AnomalyQuantileRows, trainingRows);
        var sample = new float[(long)n * columns];
        if (matrix is not null)
            for (int i = 0; i < n; i++) matrix.Row((int)((long)i * matrix.Rows / n)).CopyTo(sample.AsSpan(i * columns, columns));
        else
            EvenlySpacedRows(stream!, trainingRows, n, sample, cancellation);
        var scores = new double[n];
        const int chunk = 64;
        try
        {
            Parallel.For(0, (n + chunk - 1) / chunk, new ParallelOptions { CancellationToken = cancellation }, () => transformer.LogLikelihood!.CreateScorer(), (c, _, scorer) =>
            {
                int first = c * chunk, count = Math.Min(chunk, n - first);
                scorer.Estimate(sample.AsSpan(first * columns, count * columns), count, scores.AsSpan(first, count));
                return scorer;
            }, _ => { });
        }
        catch (AggregateException e) when (e.InnerExceptions is [NotFiniteNumberException refusal, ..])
        {
            // A machine the scorer cannot score is refused by every chunk alike: the refusal, not a wrapper (as the estimators do).
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(refusal).Throw();
        }
        // The scores as the transformer's float columns show them: the row that sets the threshold is then not above it.
        for (int i = 0; i < n; i++) scores[i] = -(double)(float)scores[i];
        Array.Sort(scores);
        int k = Math.Clamp((int)Math.Ceiling(o.Quantile * n) - 1, 0, n - 1), above = k + 1;
        while (above < n && scores[above] == scores[k]) above++;
        // Halfway to the next score up, a float between the two: the saved pipeline and ONNX Runtime score in the last digits
        // otherwise (about 10⁻⁶ of a score), and a row at the threshold itself could change its label there.
        if (above == n) return scores[k];
        float between = (float)((scores[k] + scores[above]) / 2);
        return between > scores[k] && between < scores[above] ? between : scores[k];
    }

    /// <summary>A seed from the host's generator, which is a plain System.Random: fits on several threads take turns.</summary>
    internal static int NextSeed(IHost? host)
    {
        if (host is null) return 0;
        lock (host) return host.Rand.Next();
    }

    private static void Log(IChannel? channel, string message) => channel?.Info(MessageSensitivity.None, message);

    private static ILearningRule CreateRule(HelmholtzMachineOptions o) => CreateRule(o.LearningRule, o.Reinforce, o.TrainingSamples, o.RecognitionUpdate, o.Nvil);

    /// <summary>The rule with its default options: what it can train does not depend on them.</summary>
    internal static ILearningRule CreateRule(HelmholtzLearningRule rule, ReinforceOptions? reinforce = null, int samples = 5,
        RecognitionUpdate update = RecognitionUpdate.Wake, NvilOptions? nvil = null) => rule switch
    {
        HelmholtzLearningRule.ImportanceWeighted => new ImportanceWeightedBound(samples),
        HelmholtzLearningRule.Vimco => new Vimco(samples),
        HelmholtzLearningRule.ReweightedWakeSleep => new ReweightedWakeSleep(samples, update),
        HelmholtzLearningRule.Nvil => new Nvil(nvil),
        HelmholtzLearningRule.WakeSleep => new WakeSleep(),
        HelmholtzLearningRule.Reinforce => new Reinforce(reinforce),
        HelmholtzLearningRule.StochasticBackpropagation => new StochasticBackpropagation(VarianceGradient.PathWise),
        HelmholtzLearningRule.StochasticBackpropagationPrice => new StochasticBackpropagation(VarianceGradient.Price),
        _ => throw new ArgumentOutOfRangeException(nameof(rule), rule, "Unknown learning rule."),
    };

    /// <summary>Whether the options' rule refuses binary hidden layers (it differentiates through the samples).</summary>
    private static bool NeedsGaussianHidden(HelmholtzMachineOptions o)
        => CreateRule(o.LearningRule).Unsupported(HelmholtzArchitecture.Parse("1b-1b")) is not null;

    /// <summary>The options' architecture, or the default for the input's size: binary visible units, then 200 and 50 hidden.</summary>
    internal static HelmholtzArchitecture ArchitectureFor(HelmholtzMachineOptions o, int inputSize)
    {
        if (o.Architecture is not null)
        {
            var given = HelmholtzArchitecture.Parse(o.Architecture);
            return given.Visible.Size == inputSize ? given
                : throw new ArgumentOutOfRangeException("inputSchema", $"Schema mismatch for input column '{o.InputColumnName}': it is a vector of {inputSize} values, " +
                    $"but HelmholtzMachineOptions.Architecture '{o.Architecture}' has a visible layer of {given.Visible.Size} units.");
        }
        string hidden = NeedsGaussianHidden(o) ? "g" : "b";
        return HelmholtzArchitecture.Parse($"{inputSize}b-200{hidden}-50{hidden}");
    }

    /// <summary>The feature column's size, known from the options alone (the hidden layers do not depend on the input).</summary>
    internal static int FeatureSize(HelmholtzMachineOptions o)
    {
        if (o.FeatureColumnName is null) return 0;
        int[] hidden = o.Architecture is null ? [200, 50] : HelmholtzArchitecture.Parse(o.Architecture).Layers.Skip(1).Select(l => l.Size).ToArray();
        return o.FeatureLayers == FeatureLayers.Top ? hidden[^1] : hidden.Sum();
    }

    /// <summary>Checks every option, naming it in the error, so that a bad one fails here rather than after the data is read.</summary>
    private static HelmholtzMachineOptions Validate(HelmholtzMachineOptions o)
    {
        static ArgumentException Bad(string option, string problem) => new($"HelmholtzMachineOptions.{option}: {problem}", "options");
        if (string.IsNullOrWhiteSpace(o.InputColumnName)) throw Bad(nameof(o.InputColumnName), "the input column must be named.");
        OutputColumnNames.Check("HelmholtzMachineOptions", o.InputColumnName,
            [(o.FeatureColumnName, nameof(o.FeatureColumnName)), (o.LogLikelihoodColumnName, nameof(o.LogLikelihoodColumnName)),
             (o.ScoreColumnName, nameof(o.ScoreColumnName)), (o.PredictedLabelColumnName, nameof(o.PredictedLabelColumnName))],
            "the features, log-likelihood, score and predicted-label columns", "could not be saved with the pipeline or exported to ONNX");
        if (!Enum.IsDefined(o.LearningRule)) throw Bad(nameof(o.LearningRule), $"unknown rule {o.LearningRule}.");
        if (!Enum.IsDefined(o.Optimizer)) throw Bad(nameof(o.Optimizer), $"unknown optimiser {o.Optimizer}.");
        if (!Enum.IsDefined(o.FeatureLayers)) throw Bad(nameof(o.FeatureLayers), $"unknown value {o.FeatureLayers}.");
        if (o.Architecture is not null)
        {
            HelmholtzArchitecture architecture;
            try
            {
                architecture = HelmholtzArchitecture.Parse(o.Architecture);
            }
            catch (Exception e) when (e is FormatException or ArgumentException)
            {
                throw Bad(nameof(o.Architecture), e is ArgumentException a ? Requires.Reason(a) : e.Message);
            }
            // A fit of no epochs takes no step, so it needs no rule that suits the machine (it may wrap one trained otherwise).
            if (o.Epochs > 0 && CreateRule(o.LearningRule).Unsupported(architecture) is { } reason)
                throw Bad(nameof(o.Architecture), $"'{o.Architecture}' does not suit the learning rule {o.LearningRule}: {reason}");
        }
        if (o.Samples < 1) throw Bad(nameof(o.Samples), $"K must be at least 1 (got {o.Samples}).");
        int minimumTrainingSamples = o.LearningRule == HelmholtzLearningRule.Vimco ? 2 : 1;
        if (o.TrainingSamples < minimumTrainingSamples)
            throw Bad(nameof(o.TrainingSamples), $"K must be at least {minimumTrainingSamples} for {o.LearningRule} (got {o.TrainingSamples}).");
        if (o.Epochs < 0) throw Bad(nameof(o.Epochs), $"must be at least 0 (got {o.Epochs}).");
        if (o.BatchSize < 1) throw Bad(nameof(o.BatchSize), $"must be at least 1 (got {o.BatchSize}).");
        // Each setting is checked by the object it makes, alone or after those it depends on, so that the error names it.
        static T Made<T>(string option, Func<T> make)
        {
            try
            {
                return make();
            }
            catch (ArgumentException e)
            {
                throw Bad(option, Requires.Reason(e));
            }
        }
        OptimizerSettings.Of(o).Check(o.Epochs, o.TimeLimit, (option, problem) => Bad(option, problem));
        if (o.Reinforce is null) throw Bad(nameof(o.Reinforce), "must be set (the default options, or your own).");
        Made(nameof(o.Reinforce), () => new Reinforce(o.Reinforce));
        if (o.Nvil is null) throw Bad(nameof(o.Nvil), "must be set (the default options, or your own).");
        Made(nameof(o.Nvil), () => new Nvil(o.Nvil));
        if (!Enum.IsDefined(o.RecognitionUpdate)) throw Bad(nameof(o.RecognitionUpdate), $"unknown value {o.RecognitionUpdate}.");
        if (o.RecognitionUpdate != RecognitionUpdate.Wake && o.LearningRule != HelmholtzLearningRule.ReweightedWakeSleep)
            throw Bad(nameof(o.RecognitionUpdate), $"{o.RecognitionUpdate} is how {nameof(HelmholtzLearningRule.ReweightedWakeSleep)} updates the recognition network; it has no meaning with {o.LearningRule}.");
        if (o.AnomalyQuantile is { } quantile)
        {
            if (!(quantile > 0 && quantile < 1)) throw Bad(nameof(o.AnomalyQuantile), $"must lie in (0, 1) (got {quantile}).");
            if (o.AnomalyThreshold is not null)
                throw Bad(nameof(o.AnomalyQuantile), $"sets the anomaly threshold from the training scores; it has no meaning with an AnomalyThreshold ({o.AnomalyThreshold}): set one or the other.");
            if (o.ScoreColumnName is null && o.PredictedLabelColumnName is null)
                throw Bad(nameof(o.AnomalyQuantile), "sets the threshold of the score and predicted-label columns; it has no meaning when neither is named (ScoreColumnName, PredictedLabelColumnName).");
        }
        if (o.AnomalyThreshold is { } t && !double.IsFinite(t)) throw Bad(nameof(o.AnomalyThreshold), $"must be finite (got {t}).");
        // As for the quantile: a threshold that no column uses would be ignored without a word.
        if (o.AnomalyThreshold is not null && o.ScoreColumnName is null && o.PredictedLabelColumnName is null)
            throw Bad(nameof(o.AnomalyThreshold), "is the threshold of the score and predicted-label columns; it has no meaning when neither is named (ScoreColumnName, PredictedLabelColumnName).");
        if (o.AnomalyQuantileRows < 1) throw Bad(nameof(o.AnomalyQuantileRows), $"must be at least 1 (got {o.AnomalyQuantileRows}).");
        if (o.ShuffleBufferRows < 1) throw Bad(nameof(o.ShuffleBufferRows), $"must be at least 1 (got {o.ShuffleBufferRows}).");
        if (o.MemoryBudgetBytes < 0) throw Bad(nameof(o.MemoryBudgetBytes), $"must be at least 0 (got {o.MemoryBudgetBytes}).");
        if (!(o.DivergenceFactor > 0)) throw Bad(nameof(o.DivergenceFactor), $"must be positive (got {o.DivergenceFactor}).");
        if (o.ValidationSamples < 0) throw Bad(nameof(o.ValidationSamples), $"must be at least 0 (got {o.ValidationSamples}).");
        if (o.ValidationSamples > 0 && o.ValidationData is null) throw Bad(nameof(o.ValidationSamples), "estimates ln p of the validation data, and ValidationData is null.");
        if (o.TimeLimit is { } limit && limit <= TimeSpan.Zero) throw Bad(nameof(o.TimeLimit), $"must be positive (got {limit}).");
        return o;
    }

    /// <summary>Reports on the training thread, as the epoch ends.</summary>
    private sealed class EpochProgress(Action<EpochReport> report) : IProgress<EpochReport>
    {
        public void Report(EpochReport value) => report(value);
    }
}
