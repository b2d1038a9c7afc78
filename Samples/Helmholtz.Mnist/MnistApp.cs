using System.Diagnostics;
using System.Globalization;
using CsvHelper;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Evaluation;
using Microsoft.ML.Helmholtz.Learning;
using Microsoft.ML.Helmholtz.Learning.Optimizers;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;
using Helmholtz.Samples;

/// <summary>
/// The MNIST sample as a function of its arguments and output streams. Every user error (options,
/// architecture, data, model file, output folder) is one line "error: …" on the error stream and a
/// non-zero exit code, found before the slow work starts where it can be.
/// </summary>
/// <remarks>Exit codes: 0 done; 2 a user error; 3 training diverged; 130 cancelled (cancelled in training: the model as it stands is saved and scored; in scoring: the trained model is saved, the scoring stops); 1 an internal error.</remarks>
public static class MnistApp
{
    public const int Success = 0, Internal = 1, UserError = 2, Diverged = 3, Cancelled = 130;

    public static int Run(string[] args, TextWriter output, TextWriter error, CancellationToken cancellation = default)
    {
        MnistOptions options;
        try
        {
            options = MnistOptions.Parse(args);
        }
        catch (ArgumentException e)
        {
            error.WriteLine($"error: {e.Message}");
            error.WriteLine(MnistOptions.Usage);
            return UserError;
        }
        if (options.Help)
        {
            output.WriteLine(MnistOptions.Usage);
            return Success;
        }
        try
        {
            return Train(options, output, error, cancellation);
        }
        catch (Exception e) when (IsUserError(e))
        {
            // As the other samples: the library's errors name their options in the text, without .NET's parameter suffixes.
            error.WriteLine($"error: {OneLine(SampleConsole.WithoutParameter(e))}");
            return UserError;
        }
        catch (NotFiniteNumberException e)
        {
            // The estimators' refusal of a machine whose numbers pass single precision: as a diverged run, not an internal error.
            error.WriteLine($"error: {SampleConsole.CannotBeScored(e)}");
            return Diverged;
        }
        catch (Exception e)
        {
            return SampleConsole.InternalError(error, e, Internal);
        }
    }

    /// <summary>
    /// Whether a model named <paramref name="resumedName"/> is of the run <paramref name="runName"/>: RUN, or RUN-… (RUN-best, a
    /// copy such as RUN-epoch500), but not another rule's run whose name begins with RUN's (reinforce-plain beside reinforce,
    /// sbp-price beside sbp).
    /// </summary>
    public static bool OfThisRun(string resumedName, string runName)
        => resumedName == runName || resumedName.StartsWith(runName + "-", StringComparison.Ordinal)
            && !LearningRules.Names.Any(other => other.StartsWith(runName + "-", StringComparison.Ordinal)
                && (resumedName == other || resumedName.StartsWith(other + "-", StringComparison.Ordinal)));

    /// <summary>Where the training state of the model at <paramref name="modelPath"/> is kept: RUN.state beside RUN.hm.</summary>
    internal static string StatePath(string modelPath) => Path.ChangeExtension(modelPath, ".state");

    /// <summary>A rule or optimiser of a training state, with its settings where it has them: "vimco (K = 5)".</summary>
    private static string Run(string name, string? settings) => settings is { Length: > 0 } ? $"{name} ({settings})" : name;

    /// <summary>Where the model that scored best on the validation rows is kept (--valid-k).</summary>
    private static string BestPath(MnistOptions options, string runName) => Path.Combine(options.OutputDirectory, $"{runName}-best.hm");

    private static bool IsUserError(Exception e) => e is ArgumentException or FormatException or InvalidDataException or IOException
        or UnauthorizedAccessException or NotSupportedException;

    private static string OneLine(string message) => SampleConsole.OneLine(message);

    private static int Train(MnistOptions options, TextWriter output, TextWriter error, CancellationToken cancellation)
    {
        var clock = Stopwatch.StartNew();

        // Everything that can be checked without the data comes first: it takes a moment, the data many seconds.
        // A run that only scores a model trains nothing and writes nothing but the scores.
        bool scoreOnly = options.Resume is not null && options.Epochs == 0;
        HelmholtzMachine machine;
        HelmholtzArchitecture architecture = SampleConsole.ParseArchitecture(options.Architecture);
        if (options.Resume is not null)
        {
            machine = HelmholtzMachine.Load(options.Resume);
            if (options.ArchitectureGiven && !machine.Architecture.SameAs(architecture))
                throw new ArgumentException($"--architecture {options.Architecture} does not match the model in {options.Resume}, which is {machine.Architecture}.");
        }
        else
        {
            machine = HelmholtzMachine.Create(architecture, options.Seed);
        }
        if (machine.Architecture.Visible.Size != BinarizedMnist.PixelCount || machine.Architecture.Visible.Units != UnitType.Bernoulli)
            throw new ArgumentException($"the visible layer is {machine.Architecture.Visible}, but binarized MNIST has {BinarizedMnist.PixelCount} binary pixels: it must be {BinarizedMnist.PixelCount}b.");
        ILearningRule rule = LearningRules.Create(options.Rule, options.TrainingSamples);
        // A rule that does not fit the machine, or a minibatch (--batch × --train-samples rows) its buffers cannot hold, is refused
        // here (the trainer prepares the rule again for its batches); one that takes no step need not fit (the default sbp does
        // not fit binary hidden layers).
        if (!scoreOnly) PrepareRule(rule, machine, options);
        if (options.MeanFieldSteps > 0 && machine.Architecture.Layers.Skip(1).FirstOrDefault(l => !l.Units.HasReparameterizedSamples) is { } discrete)
            throw new ArgumentException($"--mean-field needs Gaussian hidden layers, but {machine.Architecture} has the {discrete.Units.Name} layer {discrete}.");
        var trainingOptions = new TrainingOptions
        {
            Epochs = options.Epochs,
            BatchSize = options.BatchSize,
            Seed = options.Seed,
            LearningRate = new LearningRateSchedule(options.LearningRate, options.Decay, options.MinimumLearningRate),
            Optimizer = options.Optimizer == "sgd" ? () => new SgdMomentum(0.9f) : () => NewAdam(options),
            TimeLimit = options.TimeLimit,
            CenterInputs = options.CenterInputs,
        };
        // The optimiser's moments, the rule's baselines and the random streams go on from the state saved beside the model, when it is this rule's and optimiser's.
        var state = new TrainingState();
        TrainingState? saved = null;   // the state beside the model resumed from, whatever its rule and optimiser
        string stateNote = "";
        long resumedSteps = machine.StepsTrained;
        if (options.Resume is not null && !scoreOnly)
        {
            string resumeState = StatePath(options.Resume);
            if (!File.Exists(resumeState))
                stateNote = ", no training state beside it (the optimiser starts afresh)";
            else
            {
                saved = TrainingState.Load(resumeState);
                if (saved.StepsTrained != machine.StepsTrained)
                    throw new InvalidDataException($"{resumeState} is the training state after {saved.StepsTrained} steps, but the model in {options.Resume} has trained " +
                                                   $"{machine.StepsTrained}: they are not from the same checkpoint (remove the state to start the optimiser afresh).");
                if (!saved.Matches(machine))
                    throw new InvalidDataException($"{resumeState} was recorded on another machine than the model in {options.Resume}, at the same step count " +
                                                   $"({machine.StepsTrained}): they are not from the same checkpoint (remove the state to start the optimiser afresh).");
                bool same = saved.IsFrom(rule, trainingOptions.Optimizer());
                state = same ? saved : state;
                stateNote = same ? $", with its training state ({resumeState})"
                    : $", its training state left aside (a run of {Run(saved.Rule!, saved.RuleSettings)} with {Run(saved.Optimizer!, saved.OptimizerSettings)}: the optimiser starts afresh)";
            }
        }
        // A model scored only is named after its file (RUN-best.hm's scores must not replace RUN.hm's, nor a wake-sleep model's be called sbp's).
        string runName = scoreOnly ? Path.GetFileNameWithoutExtension(options.Resume!)
            : LearningRules.IsMultiSample(options.Rule) ? $"{rule.Name}-{rule.SamplesPerExample}" : rule.Name;
        string curvePath = Path.Combine(options.OutputDirectory, $"{runName}-curve.csv");
        string modelPath = Path.Combine(options.OutputDirectory, $"{runName}.hm");
        string scoresPath = Path.Combine(options.OutputDirectory, $"{runName}-{options.ScoreSplit}-log-likelihood.csv");
        ImageScores? compareWith = options.Compare is null ? null : ImageScores.Read(options.Compare);
        // A run resumed in the folder that holds its curve goes on with it (read here so that a file that is not one is named before the data loads).
        // Only for a model of this run's (RUN.hm, RUN-best.hm or another RUN-….hm there): another rule's model beside it has another curve.
        string resumedName = options.Resume is null ? "" : Path.GetFileNameWithoutExtension(options.Resume);
        List<(int Epoch, string[] Fields)> earlierCurve = options.Resume is not null && !scoreOnly && File.Exists(curvePath)
            && SameFile(Path.GetDirectoryName(Path.GetFullPath(options.Resume))!, options.OutputDirectory)
            && OfThisRun(resumedName, runName) ? ReadCurve(curvePath) : [];
        // A folder where a file of the run goes is refused now, not after the training it would lose (the scores alone when only scoring).
        var written = new List<string> { scoresPath };
        if (!scoreOnly) written.AddRange([modelPath, StatePath(modelPath), curvePath]);
        if (!scoreOnly && options.ValidationSamples > 0) written.AddRange([BestPath(options, runName), StatePath(BestPath(options, runName))]);
        SampleConsole.PrepareOutputDirectory(options.OutputDirectory, "the model and the learning curve", "--out", [.. written.Select(path => Path.GetFileName(path))]);

        MnistSplits data = BinarizedMnist.Load(options.DataDirectory);
        // The binarized splits are ordered by digit, so a part of a split is taken evenly spaced, never as a prefix.
        DataMatrix train = EvenlySpaced(data.Train, options.TrainLimit);
        DataMatrix scoredSplit = options.ScoreSplit switch { "valid" => data.Valid, "train" => data.Train, _ => data.Test };
        int[] testRows = EvenlySpacedRows(scoredSplit.Rows, options.TestLimit);
        DataMatrix test = Rows(scoredSplit, testRows);
        DataMatrix valid = EvenlySpaced(data.Valid, options.ValidationRows);
        compareWith?.CheckSameImages(options.ScoreSplit, testRows);
        // The epochs the model has trained, as this run counts them: its steps over this run's minibatches per epoch. The schedule goes
        // on from there with --continue-schedule, and the curve numbers this run's epochs on from there. (Not the training state's
        // schedule epoch: it counts from where its run's schedule started, 0 unless that run continued it, and a model may have no state.)
        long perEpoch = Math.Max(1, train.Rows / options.BatchSize);
        // A state that stopped within an epoch (even after its last minibatch, before the epoch's end) resumes that epoch: count the epochs before it.
        long stepsBeforeEpoch = machine.StepsTrained - (state.IsEmpty ? 0 : state.MinibatchesIntoEpoch);
        int resumedEpochs = (int)Math.Min(int.MaxValue, stepsBeforeEpoch / perEpoch);
        if (options.ContinueSchedule) trainingOptions.FirstScheduleEpoch = resumedEpochs;
        // The continued schedule's rate reaching 0 (the options' own schedule was checked before the data loaded), named by the options.
        if (options.ContinueSchedule && options.TimeLimitMinutes <= 0 && options.Epochs > 0
            && (float)trainingOptions.LearningRate.At(resumedEpochs + options.Epochs - 1) == 0)
            throw new ArgumentException($"--decay {options.Decay} takes --lr {options.LearningRate} to 0 in single precision by epoch {(long)resumedEpochs + options.Epochs} " +
                $"of the continued schedule (the model has trained {resumedEpochs} epochs): set --min-lr, decay more slowly, give fewer --epochs, or a --time-limit.");
        // The earlier curve's epochs past the model's are of a leg it does not hold (one that diverged after its last checkpoint, or
        // went on past the model resumed from): this run's epochs replace them.
        earlierCurve.RemoveAll(row => row.Epoch > resumedEpochs);
        if (scoreOnly)
            output.WriteLine($"scoring {options.Resume} (trained {machine.StepsTrained} steps), architecture {machine.Architecture}, engine {machine.Engine.Name}, " +
                             $"{options.ScoreSplit} {test.Rows} images, seed {options.Seed}");
        else
            output.WriteLine($"rule {runName} (minimises the {rule.Objective}), architecture {machine.Architecture}, engine {machine.Engine.Name}, " +
                             $"train {train.Rows}, valid {valid.Rows}, test {test.Rows}, epochs {options.Epochs}, batch {options.BatchSize}, " +
                             $"{options.Optimizer} lr {options.LearningRate} × {options.Decay}/epoch" +
                             (options.AdamBeta2 is { } b2 ? $" (β2 {b2})" : "") +
                             (options.WeightDecay > 0 ? $", weight decay {options.WeightDecay}" : "") + $", seed {options.Seed}" +
                             (options.CenterInputs ? ", centred inputs" : "") +
                             (options.Resume is null ? "" : $", resumed from {options.Resume} after {machine.StepsTrained} steps{stateNote}") +
                             (options.ContinueSchedule ? $", the schedule continuing at its epoch {trainingOptions.FirstScheduleEpoch + 1} (lr {trainingOptions.LearningRate.At(trainingOptions.FirstScheduleEpoch):G3})" : ""));

        var curve = new List<CurveRow>();   // this run's epochs
        // The validation estimate keeps one seed for the whole run (common random numbers), so that two
        // checkpoints' estimates differ by their models more than by the sampling.
        // A model is saved with the training state of the same point (the trainer records it after each epoch and where it was
        // cancelled), so that a run resumed from it goes on as this one would have; a state that is not the model's is removed.
        // Until this run's first step the model's state is the one it was resumed with, whatever its optimiser, and the file
        // resumed from is left as it is. A new run stopped before its first step saves nothing: its model is the untrained one, which
        // must not replace what an earlier run left in the folder.
        bool Trained() => machine.StepsTrained != resumedSteps;
        int? checkpointEpoch = null;   // the epoch of the last checkpoint this run wrote to modelPath
        void SaveCheckpoint(string path)
        {
            if (!Trained() && options.Resume is not null && SameFile(path, options.Resume)) return;
            machine.Save(path);
            if (path == modelPath) checkpointEpoch = curve.Count > 0 ? curve[^1].Epoch : null;
            TrainingState? pointState = !state.IsEmpty && state.StepsTrained == machine.StepsTrained ? state
                : saved is not null && saved.StepsTrained == machine.StepsTrained ? saved : null;
            if (pointState is not null) pointState.Save(StatePath(path));
            else File.Delete(StatePath(path));
        }
        // A resumed run that reports no epoch leaves the curve as it was (a new model's is written, if only its header).
        void SaveCurve()
        {
            if (options.Resume is null || curve.Count > 0) WriteCurve(curvePath, earlierCurve, curve);
        }

        var validationEstimator = options.ValidationSamples > 0 ? new ImportanceSampledLogLikelihood(options.ValidationSamples, seed: options.Seed + 5) : null;
        string bestPath = BestPath(options, runName);
        double bestValidation = double.NegativeInfinity;
        double EstimateValidation(string which)
        {
            LogLikelihoodEstimate estimate = validationEstimator!.Estimate(machine, valid, cancellationToken: cancellation);
            bool best = estimate.Mean > bestValidation;
            if (best)
            {
                bestValidation = estimate.Mean;
                SaveCheckpoint(bestPath);
            }
            output.WriteLine($"  validation log-likelihood of {which} (K = {options.ValidationSamples}, {valid.Rows} images): {estimate.Mean:F2} nats " +
                             $"(standard error over images {estimate.StandardErrorOverExamples:F2}){(best ? $", the best so far: saved to {bestPath}" : $"; the best is {bestValidation:F2}")}");
            return estimate.Mean;
        }

        var progress = new SynchronousProgress<EpochReport>(report =>
        {
            // A resumed run's epochs are numbered on from the model's, on the console as in the curve.
            curve.Add(new CurveRow((int)Math.Min(int.MaxValue, (long)resumedEpochs + report.Epoch), report.TrainFreeEnergy, report.ValidationFreeEnergy ?? double.NaN, report.LearningRate, report.Elapsed.TotalSeconds, report.TrainObjective));
            // The objective is shown when it is not the free energy itself (the K-sample bounds).
            string objective = report.TrainObjective == report.TrainFreeEnergy ? "" : $"  train objective {report.TrainObjective,8:F2}";
            output.WriteLine($"epoch {curve[^1].Epoch,4}  train F {report.TrainFreeEnergy,8:F2}{objective}  valid F {report.ValidationFreeEnergy,8:F2}  lr {report.LearningRate:G3}  {report.Elapsed.TotalSeconds,7:F0} s");
            // Reported epochs have passed the trainer's divergence check, so a checkpoint never holds a diverged model.
            // Counted by the epochs the curve numbers, so that a resumed run checkpoints (and estimates) where an unbroken one does.
            if (options.CheckpointEvery > 0 && curve[^1].Epoch % options.CheckpointEvery == 0)
            {
                SaveCheckpoint(modelPath);
                if (validationEstimator is not null)
                    curve[^1] = curve[^1] with { ValidationLogLikelihood = EstimateValidation($"epoch {curve[^1].Epoch}") };
                SaveCurve();
            }
        });

        int exitCode = Success;
        try
        {
            if (options.Epochs > 0)
            {
                // What a resumed run must beat to be kept as the best: the model it starts from, and a best
                // model of the same architecture already in the output folder (a run resumed in its own folder
                // must not replace an earlier leg's better model).
                if (validationEstimator is not null && options.Resume is not null)
                {
                    if (File.Exists(bestPath) && Path.GetFullPath(bestPath) != Path.GetFullPath(options.Resume)
                        && HelmholtzMachine.Load(bestPath) is var earlier && earlier.Architecture.SameAs(machine.Architecture))
                    {
                        bestValidation = validationEstimator.Estimate(earlier, valid, cancellationToken: cancellation).Mean;
                        output.WriteLine($"  validation log-likelihood of the best model already in {bestPath} (K = {options.ValidationSamples}, {valid.Rows} images): " +
                                         $"{bestValidation:F2} nats, kept unless a model of this run beats it");
                    }
                    EstimateValidation($"the model resumed from {options.Resume}");
                }
                var reports = new HelmholtzTrainer(rule, trainingOptions).Train(machine, train, valid, progress, cancellation, state);
                if (reports.Count < options.Epochs)
                    output.WriteLine(SampleConsole.StoppedEarly(trainingOptions.LearningRate, trainingOptions.FirstScheduleEpoch, reports.Count));
            }
        }
        catch (OperationCanceledException)
        {
            if (!Trained() && options.Resume is null)
            {
                error.WriteLine($"training cancelled before its first step: nothing is saved or scored (the files in {options.OutputDirectory} are as they were).");
                return Cancelled;
            }
            error.WriteLine(Trained() ? "training cancelled; the model as it stands is saved and scored."
                : $"training cancelled before its first step; the model resumed from is scored.");
            exitCode = Cancelled;
        }
        catch (TrainingDivergedException e)
        {
            // The failed step is undone, but the run went wrong: the last checkpoint is kept as it is. A run that finished no epoch
            // leaves the curve as it was (an earlier run's, whose model the folder may hold).
            if (curve.Count > 0) SaveCurve();
            string kept = checkpointEpoch is { } epoch ? $"{modelPath} holds this run's last checkpoint, of epoch {epoch}"
                : options.Resume is not null ? $"this run wrote no checkpoint; {options.Resume} is as it was"
                : $"this run wrote no checkpoint (the files in {options.OutputDirectory} are as they were)";
            error.WriteLine($"error: training diverged: {OneLine(e.Message)} The model is not saved; {kept}.");
            return Diverged;
        }
        double trainSeconds = clock.Elapsed.TotalSeconds;
        if (Trained())
        {
            SaveCheckpoint(modelPath);
            SaveCurve();
            output.WriteLine($"model saved to {modelPath}; learning curve in {curvePath}");
        }
        else if (options.Resume is null)
        {
            output.WriteLine($"no step trained: nothing is saved or scored (the files in {options.OutputDirectory} are as they were)");
            return exitCode;
        }
        else if (!scoreOnly) output.WriteLine($"no step trained: {options.Resume} is left as it was");

        // A run whose training was cancelled is still scored, as promised; one that trained to its end
        // can be cancelled while it scores (the model is already saved).
        CancellationToken scoringCancellation = exitCode == Cancelled ? CancellationToken.None : cancellation;
        try
        {
            var scores = Score(options, machine, test, output, scoringCancellation, scoreOnly ? null : trainSeconds);
            new ImageScores(options.ScoreSplit, testRows, scores).Write(scoresPath);
            output.WriteLine($"the estimate for each image in {scoresPath}");
            if (compareWith is not null)
                output.WriteLine($"paired difference, this model − {options.Compare}: {PairedDifference.Of(scores, compareWith.LogLikelihoods)}");
        }
        catch (OperationCanceledException)
        {
            error.WriteLine(Trained() ? $"scoring cancelled; the model is saved in {modelPath}." : $"scoring cancelled; the model is {options.Resume}, as it was.");
            return Cancelled;
        }
        return exitCode;
    }

    /// <summary>
    /// Prepares <paramref name="rule"/> for the trainer's minibatches, before the data loads: --batch images, or the whole training
    /// split (--train-limit's part of its 50,000) when it is smaller, as the trainer takes them. A minibatch whose rows (K per image
    /// for the K-sample rules) do not fit the machine's buffers is refused naming --batch, and --train-samples for a K-sample rule.
    /// </summary>
    private static void PrepareRule(ILearningRule rule, HelmholtzMachine machine, MnistOptions options)
    {
        int trainRows = options.TrainLimit is > 0 and < BinarizedMnist.TrainCount ? options.TrainLimit : BinarizedMnist.TrainCount;
        int batch = Math.Min(options.BatchSize, trainRows);
        try
        {
            rule.Prepare(machine, batch);
        }
        catch (ArgumentOutOfRangeException e) when (e.ParamName == "batchCapacity")
        {
            static string N(long value) => value.ToString("N0", CultureInfo.InvariantCulture);
            int k = options.TrainingSamples;
            string buffers = $"do not fit the buffers of {machine.Architecture} (one array each, of at most {N(Array.MaxLength)} values)";
            throw new ArgumentException(LearningRules.IsMultiSample(options.Rule)
                ? $"--batch {options.BatchSize} with --train-samples {k}: {rule.Name}'s minibatches of {N(batch)} images × {N(k)} samples = {N((long)batch * k)} rows " +
                  $"{buffers}; give a smaller --batch or fewer --train-samples."
                : $"--batch {options.BatchSize}: {rule.Name}'s minibatches of {N(batch)} rows {buffers}; give a smaller --batch.", e);
        }
        // Its buffers for the batch are let go, so that they are not held twice while the trainer prepares it again.
        rule.Prepare(machine, 1);
    }

    /// <summary>Scores the model on <paramref name="test"/> and returns the importance-sampled estimate for each image.</summary>
    private static double[] Score(MnistOptions options, HelmholtzMachine machine, DataMatrix test, TextWriter output, CancellationToken cancellation, double? trainSeconds)
    {
        var scoringClock = Stopwatch.StartNew();
        double bound = new SampledFreeEnergy(options.Seed + 3).Estimate(machine, test, cancellation);
        output.WriteLine($"{options.ScoreSplit} free energy (one sample per image, an upper bound on −ln p in expectation): {bound:F2} nats");
        var estimator = new ImportanceSampledLogLikelihood(options.Samples, seed: options.Seed + 1);
        int reportedTenths = 0;
        var scoringProgress = new SynchronousProgress<double>(fraction =>
        {
            int tenths = (int)(fraction * 10);
            if (tenths > Interlocked.Exchange(ref reportedTenths, Math.Max(tenths, reportedTenths)) && tenths < 10)
                output.WriteLine($"  scoring {tenths * 10}% ({scoringClock.Elapsed.TotalSeconds:F0} s)");
        });
        LogLikelihoodEstimate estimate = estimator.Estimate(machine, test, out double[] perImage, scoringProgress, cancellation);
        output.WriteLine($"{options.ScoreSplit} log-likelihood (importance sampling, K = {options.Samples}): {estimate.Mean:F2} nats over {estimate.Examples} images " +
                         $"(standard error over images {estimate.StandardErrorOverExamples:F2}, Monte Carlo standard error {estimate.MonteCarloStandardError:F3}; " +
                         (trainSeconds is { } seconds ? $"training {seconds:F0} s, " : "") + $"scoring {scoringClock.Elapsed.TotalSeconds:F0} s)");
        if (options.NaiveSamples > 0)
        {
            var naive = new NaiveLogLikelihood(options.NaiveSamples, seed: options.Seed + 2).Estimate(machine, test, cancellation);
            output.WriteLine($"{options.ScoreSplit} log-likelihood (naive, K = {options.NaiveSamples} prior samples): {naive.Mean:F2} nats " +
                             $"(standard error over images {naive.StandardErrorOverExamples:F2}, Monte Carlo standard error at most {naive.MonteCarloStandardError:F3})");
        }
        if (options.MeanFieldSteps > 0)
        {
            var meanFieldClock = Stopwatch.StartNew();
            bool fromRecognition = options.MeanFieldStart == "recognition";
            var meanField = new MeanFieldLogLikelihood(options.Samples, options.MeanFieldSteps, startFromRecognition: fromRecognition, seed: options.Seed + 4).Estimate(machine, test, cancellationToken: cancellation);
            output.WriteLine($"{options.ScoreSplit} log-likelihood (mean-field q per image, {options.MeanFieldSteps} Adam steps from " +
                             $"{(fromRecognition ? "the recognition network's marginals" : "N(0, I)")}, K = {options.Samples}): {meanField.Mean:F2} nats " +
                             $"(standard error over images {meanField.StandardErrorOverExamples:F2}, Monte Carlo standard error {meanField.MonteCarloStandardError:F3}; {meanFieldClock.Elapsed.TotalSeconds:F0} s)");
        }
        return perImage;
    }


    /// <summary>Adam with the run's β2 (its own default when --adam-beta2 was not given) and weight decay.</summary>
    private static Adam NewAdam(MnistOptions options) => options.AdamBeta2 is { } beta2
        ? new Adam(beta2: (float)beta2, weightDecay: (float)options.WeightDecay)
        : new Adam(weightDecay: (float)options.WeightDecay);

    private static DataMatrix EvenlySpaced(DataMatrix data, int count) => Rows(data, EvenlySpacedRows(data.Rows, count));

    /// <summary>The given rows of <paramref name="data"/>, increasing (so all of them are the data itself).</summary>
    private static DataMatrix Rows(DataMatrix data, int[] rows)
    {
        if (rows.Length == data.Rows) return data;
        var values = new float[rows.Length * data.Columns];
        for (int i = 0; i < rows.Length; i++)
            data.Row(rows[i]).CopyTo(values.AsSpan(i * data.Columns, data.Columns));
        return new DataMatrix(rows.Length, data.Columns, values);
    }

    /// <summary>The rows of a split of <paramref name="rows"/> that <see cref="EvenlySpaced"/> takes for <paramref name="count"/> (0: all).</summary>
    private static int[] EvenlySpacedRows(int rows, int count)
    {
        if (count <= 0 || count >= rows) count = rows;
        var result = new int[count];
        for (int i = 0; i < count; i++) result[i] = (int)((long)i * rows / count);
        return result;
    }

    private static readonly string[] CurveHeader =
        ["epoch", "train_free_energy", "validation_free_energy", "learning_rate", "seconds", "train_objective", "validation_log_likelihood"];

    /// <summary>Whether two paths name the same file or folder (as written: links are not followed).</summary>
    private static bool SameFile(string a, string b)
        => string.Equals(Path.TrimEndingDirectorySeparator(Path.GetFullPath(a)), Path.TrimEndingDirectorySeparator(Path.GetFullPath(b)),
            OperatingSystem.IsLinux() ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase);

    /// <summary>The rows of a learning curve that <see cref="WriteCurve"/> wrote, as written, with their epochs; anything else is an <see cref="InvalidDataException"/> naming the file.</summary>
    private static List<(int Epoch, string[] Fields)> ReadCurve(string path)
    {
        var rows = new List<(int Epoch, string[] Fields)>();
        try
        {
            using var reader = new StreamReader(path);
            using var csv = CsvReader.Create(reader);
            if (!csv.Headers.SequenceEqual(CurveHeader))
                throw new InvalidDataException($"its header is '{string.Join(",", csv.Headers)}', not '{string.Join(",", CurveHeader)}'");
            while (csv.Read())
            {
                if (csv.FieldCount != CurveHeader.Length) throw new InvalidDataException($"record {rows.Count + 1} has {csv.FieldCount} fields");
                int epoch = csv.Parse<int>(0);
                rows.Add((epoch, [.. Enumerable.Range(0, csv.FieldCount).Select(csv.GetString)]));
            }
        }
        catch (Exception e) when (e is FormatException or OverflowException or IndexOutOfRangeException or CsvFormatException or InvalidDataException)
        {
            throw new InvalidDataException($"{path} is not a learning curve written by this sample ({e.Message}); a run resumed in its folder goes on " +
                                           "with its curve: move it away, or give another --out.", e);
        }
        return rows;
    }

    /// <summary>Writes the earlier curve's rows as they were, then this run's.</summary>
    private static void WriteCurve(string path, List<(int Epoch, string[] Fields)> earlier, List<CurveRow> rows)
        => CsvFiles.WriteAtomically(path, "the learning curve", CurveHeader, earlier.Select(r => r.Fields).Concat(
            rows.Select(r => new[]
            {
                r.Epoch.ToString(CultureInfo.InvariantCulture), r.TrainFreeEnergy.ToString("R", CultureInfo.InvariantCulture),
                r.ValidationFreeEnergy.ToString("R", CultureInfo.InvariantCulture), r.LearningRate.ToString("R", CultureInfo.InvariantCulture),
                r.Seconds.ToString("F1", CultureInfo.InvariantCulture), r.TrainObjective.ToString("R", CultureInfo.InvariantCulture),
                double.IsNaN(r.ValidationLogLikelihood) ? "" : r.ValidationLogLikelihood.ToString("R", CultureInfo.InvariantCulture),
            })));

    /// <summary>One epoch of the learning curve; the validation log-likelihood is NaN (an empty cell) where it was not estimated.</summary>
    private sealed record CurveRow(int Epoch, double TrainFreeEnergy, double ValidationFreeEnergy, double LearningRate, double Seconds, double TrainObjective,
        double ValidationLogLikelihood = double.NaN);

    /// <summary>Calls back on the reporting thread (Progress&lt;T&gt; would post to the thread pool and run out of order).</summary>
    private sealed class SynchronousProgress<T>(Action<T> action) : IProgress<T>
    {
        public void Report(T value) => action(value);
    }
}
