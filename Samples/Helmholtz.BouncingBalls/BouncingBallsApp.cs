using System.Diagnostics;
using System.Globalization;
using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Evaluation;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Learning;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Temporal;
using Helmholtz.Samples;

/// <summary>
/// The bouncing-balls experiment: generates (or reads) the data set, trains the temporal Helmholtz
/// machine and the same frame machine without the LSTM, and reports on the test sequences the
/// one-step prediction error, the per-frame log-likelihood, and a PNG strip of true, predicted and
/// generated frames. Every user error is one line "error: …" and exit code 2, found before the data set is made where it can be.
/// </summary>
/// <remarks>Exit codes: 0 done; 2 a user error; 3 training diverged (the temporal machine's: the model as it stood before the refused
/// step and the curve of the epochs finished are saved, nothing is scored); 130 cancelled (in training: the model as it stands is saved
/// and scored; in scoring: the trained model is saved, the scoring stops; while the data set is made: once it is written, nothing
/// trained); 1 an internal error.</remarks>
public static class BouncingBallsApp
{
    public const int Success = 0, Internal = 1, UserError = 2, Diverged = 3, Cancelled = 130;

    /// <summary>The files a run writes to --out, each whole or not at all.</summary>
    public const string ModelFile = "temporal.htm", CurveFile = "curve.csv", StripFile = "strip.png", ReportFile = "report.csv";

    public const string Usage = """
        usage: Helmholtz.BouncingBalls [options]
          --data DIR              where the data set is read from, or generated into when missing (runs/bouncing-balls-data)
          --out DIR               where the model (temporal.htm), the learning curve, the strip and the report go (runs/bouncing-balls)
          --architecture A        the frame machine (900bs-200g: "bs" scores the soft pixels in [0, 1] by cross-entropy)
          --rule R                sbp, wake-sleep, reinforce, nvil, … (sbp)
          --recurrent-units N     LSTM units (100)
          --epochs N (10)  --batch-sequences N (20)  --truncation STEPS (0: whole sequences)
          --time-limit MINUTES    stop at the end of the first epoch past this much training time (0: no limit)
          --learning-rate X (0.001)  --decay X per epoch, in (0, 1] (1)  --min-lr X, at most the rate (0)  --seed N (1)
          --train-sequences N (4000)  --test-sequences N (200)  --frames T, at least 2 (100)
          --k N                   importance samples per frame for the log-likelihood (100)
          --predict-samples N     draws of h per frame for the expected next frame (20)
          --no-baseline           skip the machine without the LSTM
        exit codes: 0 done, 2 a user error, 3 training diverged (the model as it stood before the refused step and the
        curve are saved, nothing is scored), 130 cancelled (Ctrl+C or SIGTERM: in training, the model as it stands is
        saved and scored), 1 an internal error
        """;

    /// <summary>
    /// Reads and checks <paramref name="args"/> as <see cref="Run"/> does, then stops before any data is read: an
    /// <see cref="ArgumentException"/> names the first refused option (the docs' commands are checked with it).
    /// </summary>
    public static void CheckArguments(string[] args) => _ = Options.Parse(args);

    public static int Run(string[] args, TextWriter output, TextWriter error, CancellationToken cancellation = default)
    {
        Options options;
        try
        {
            options = Options.Parse(args);
        }
        catch (ArgumentException e)
        {
            error.WriteLine($"error: {e.Message}");
            error.WriteLine(Usage);
            return UserError;
        }
        if (options.Help)
        {
            output.WriteLine(Usage);
            return Success;
        }
        try
        {
            return Experiment(options, output, error, cancellation);
        }
        catch (OperationCanceledException)
        {
            error.WriteLine("cancelled before training: the data set is written, nothing trained.");
            return Cancelled;
        }
        catch (NotFiniteNumberException e)
        {
            error.WriteLine($"error: {SampleConsole.CannotBeScored(e)}");
            return Diverged;
        }
        catch (TrainingDivergedException e)
        {
            error.WriteLine($"error: training diverged: {OneLine(e.Message)}");
            return Diverged;
        }
        catch (Exception e) when (e is ArgumentException or FormatException or InvalidDataException or IOException or UnauthorizedAccessException or NotSupportedException)
        {
            error.WriteLine($"error: {OneLine(SampleConsole.WithoutParameter(e))}");
            return UserError;
        }
        catch (Exception e)
        {
            return SampleConsole.InternalError(error, e, Internal);
        }
    }

    private static string OneLine(string message) => SampleConsole.OneLine(message);

    /// <summary>The library's refusal of its argument <paramref name="parameter"/> (a size its buffers cannot hold), named by the option that set it.</summary>
    private static T AsOption<T>(string option, int value, string parameter, Func<T> call)
    {
        try
        {
            return call();
        }
        catch (ArgumentOutOfRangeException e) when (e.ParamName == parameter)
        {
            throw new ArgumentException($"{option} {value}: {SampleConsole.WithoutParameter(e)}", e);
        }
    }

    private static int Experiment(Options o, TextWriter output, TextWriter error, CancellationToken cancellation)
    {
        var clock = Stopwatch.StartNew();
        // Everything that can be checked without the data comes first: making the data set takes minutes.
        HelmholtzArchitecture architecture = SampleConsole.ParseArchitecture(o.Architecture);
        var ballOptions = new BouncingBallsOptions { Frames = o.Frames };
        if (architecture.Visible.Size != ballOptions.PixelsPerFrame)
            throw new ArgumentException($"--architecture: the visible layer has {architecture.Visible.Size} units, but a frame has {ballOptions.PixelsPerFrame} pixels.");
        // The frames are drawn with soft edges (values between 0 and 1), which binary units cannot model: refused before the data set is made.
        if (architecture.Visible.Units == UnitType.Bernoulli)
            throw new ArgumentException($"--architecture: the visible layer {architecture.Visible} is binary, but the frames' pixels lie between 0 and 1 (soft edges): " +
                $"use soft-target units ({architecture.Visible.Size}bs) or continuous Bernoulli ones ({architecture.Visible.Size}cb).");
        ILearningRule rule = LearningRules.Create(o.Rule);
        if ((rule.Unsupported(architecture) ?? rule.UnsupportedConditioning) is { } reason) throw new NotSupportedException($"--rule {o.Rule}: {reason}");
        // The model before the output folder and the data, which takes minutes to make: too many recurrent units are named now.
        TemporalHelmholtzMachine model = AsOption("--recurrent-units", o.RecurrentUnits, "recurrentUnits",
            () => TemporalHelmholtzMachine.Create(architecture, o.RecurrentUnits, o.Seed));
        // The scoring's sample counts are refused now, not after the training (their limit depends on the layers alone).
        AsOption("--k", o.K, "samples", () => { TemporalEvaluation.ThrowIfTooManySamples(model, o.K); return 0; });
        AsOption("--predict-samples", o.PredictSamples, "samples", () => { TemporalEvaluation.ThrowIfTooManySamples(model, o.PredictSamples); return 0; });
        PrepareOutputDirectory(o.Output);
        // A data set still to be made is written there: a folder that cannot take it is named before the minutes it takes.
        if (File.Exists(o.Data) || !File.Exists(Path.Combine(o.Data, BouncingBalls.TrainFile)) || !File.Exists(Path.Combine(o.Data, BouncingBalls.TestFile)))
            SampleConsole.PrepareOutputDirectory(o.Data, "the bouncing-balls data set", "--data");

        BouncingBallsDataset data = BouncingBalls.LoadOrCreate(o.Data, ballOptions, o.TrainSequences, o.TestSequences);
        output.WriteLine($"bouncing balls: {data.Train.Count} training and {data.Test.Count} test sequences of {data.Train.Frames} frames of {data.Train.Height}×{data.Train.Width} in {o.Data} ({clock.Elapsed.TotalSeconds:F1} s)");
        // The generator takes no cancellation token: a signal during it is acted on here, before training starts.
        cancellation.ThrowIfCancellationRequested();

        output.WriteLine($"training the temporal machine {architecture} + LSTM({o.RecurrentUnits}) with {rule.Name}: {o.Epochs} epochs of minibatches of {o.BatchSequences} sequences{(o.Truncation > 0 ? $", BPTT truncated to {o.Truncation} steps" : "")}");
        // The epochs are collected as they are reported, so that a cancelled run still has the ones it finished.
        var reports = new List<TemporalEpochReport>();
        var trainingClock = Stopwatch.StartNew();
        bool cancelled = false;
        TrainingDivergedException? diverged = null;
        try
        {
            new TemporalTrainer(rule, new TemporalTrainingOptions
            {
                Epochs = o.Epochs, BatchSequences = o.BatchSequences, TruncationSteps = o.Truncation, LearningRate = o.Schedule, Seed = o.Seed, TimeLimit = o.TimeLimit,
            }).Train(model, data.Train, new Progress(output, reports), cancellation);
        }
        catch (OperationCanceledException)
        {
            cancelled = true;
        }
        catch (TrainingDivergedException e)
        {
            // The trainer has undone the refused step: the model holds the parameters it had before it, which are saved below
            // with the curve of the epochs finished; nothing is scored.
            diverged = e;
        }
        TimeSpan temporalTime = trainingClock.Elapsed;
        // A run that kept no step holds the untrained model, which must not replace what an earlier run left in the folder.
        if (model.Machine.StepsTrained == 0)
        {
            const string Nothing = "nothing is saved or scored";
            string folder = $"the files in {o.Output} are as they were";
            if (diverged is not null)
            {
                error.WriteLine($"error: training diverged: {OneLine(diverged.Message)} No step was kept: {Nothing} ({folder}).");
                return Diverged;
            }
            if (cancelled)
            {
                error.WriteLine($"training cancelled before its first step: {Nothing} ({folder}).");
                return Cancelled;
            }
            output.WriteLine($"no step trained: {Nothing} ({folder})");
            return Success;
        }
        if (cancelled) error.WriteLine("training cancelled; the model as it stands is saved and scored (the machine without the LSTM is skipped).");
        if (!cancelled && diverged is null && reports.Count < o.Epochs)
            output.WriteLine(SampleConsole.StoppedEarly(o.Schedule, 0, reports.Count));

        // The model and its curve are saved before anything else is computed, so that a failure later (the
        // baseline, the scoring, the strip, the report) does not lose the training; each file whole or not at all.
        string modelPath = Path.Combine(o.Output, ModelFile), curvePath = Path.Combine(o.Output, CurveFile);
        void WriteCurve() => WriteAtomically(curvePath, "the learning curve", "epoch,train_free_energy_per_frame,train_objective_per_frame,seconds\n" +
            string.Concat(reports.Select(r => string.Create(CultureInfo.InvariantCulture, $"{r.Epoch},{r.TrainFreeEnergy:R},{r.TrainObjective:R},{r.Elapsed.TotalSeconds:F1}\n"))));
        if (diverged is not null)
        {
            WriteCurve();   // first: kept even if the model cannot be
            string epochs = reports.Count == 1 ? "the 1 epoch" : $"the {reports.Count} epochs";
            try
            {
                model.Save(modelPath);
            }
            catch (InvalidOperationException e)
            {
                // Not expected (the model before the refused step passed the checks), but a value that is not finite cannot be saved.
                error.WriteLine($"error: training diverged: {OneLine(diverged.Message)} The model could not be saved ({OneLine(e.Message)}); the learning curve of {epochs} finished is in {curvePath}.");
                return Diverged;
            }
            error.WriteLine($"error: training diverged: {OneLine(diverged.Message)} The model as it stood before the refused step is saved to {modelPath} " +
                            $"({model.Machine.StepsTrained} steps), the learning curve of {epochs} finished to {curvePath}; nothing is scored.");
            return Diverged;
        }
        model.Save(modelPath);
        WriteCurve();
        output.WriteLine($"model saved to {modelPath} after {model.Machine.StepsTrained} steps; learning curve in {curvePath}");

        HelmholtzMachine? plain = null;
        TimeSpan plainTime = default;
        var frames = new DataMatrix(data.Train.Count * data.Train.Frames, data.Train.ValuesPerFrame, data.Train.Values);
        if (o.Baseline && !cancelled)
        {
            output.WriteLine($"training the same machine without the LSTM on the {frames.Rows:N0} frames alone: {reports.Count} epochs of minibatches of 100 frames");
            plain = HelmholtzMachine.Create(architecture, o.Seed);
            try
            {
                var plainReports = new HelmholtzTrainer(LearningRules.Create(o.Rule), new TrainingOptions { Epochs = reports.Count, BatchSize = 100, LearningRate = o.Schedule, Seed = o.Seed })
                    .Train(plain, frames, progress: new SynchronousProgress<EpochReport>(r => output.WriteLine($"  epoch {r.Epoch}: free energy {r.TrainFreeEnergy:F2} nats per frame, {r.Elapsed.TotalSeconds:F0} s")), cancellationToken: cancellation);
                plainTime = plainReports[^1].Elapsed;
            }
            catch (OperationCanceledException)
            {
                cancelled = true;
                plain = null;
                error.WriteLine("training of the machine without the LSTM cancelled; it is left out, and the temporal machine is scored.");
            }
        }

        // A run whose training was cancelled is still scored, as MNIST's is; one that trained to its end can be
        // cancelled while it scores (the model is already saved).
        CancellationToken scoringCancellation = cancelled ? CancellationToken.None : cancellation;
        SequenceSet test = data.Test;
        double temporalLogLikelihood, temporalError, copyError;
        double? plainLogLikelihood = null, plainError = null;
        float[] predicted;
        try
        {
            var scoring = Stopwatch.StartNew();
            double[] perFrame = AsOption("--k", o.K, "samples", () => TemporalEvaluation.LogLikelihoodPerFrame(model, test, o.K, seed: o.Seed + 1, cancellationToken: scoringCancellation));
            temporalLogLikelihood = perFrame.Average();
            predicted = AsOption("--predict-samples", o.PredictSamples, "samples",
                () => TemporalEvaluation.PredictFrames(model, test, o.PredictSamples, seed: o.Seed + 2, cancellationToken: scoringCancellation));
            temporalError = TemporalEvaluation.PredictionError(test, predicted);
            float[] previous = new float[test.Values.Length];
            for (int s = 0; s < test.Count; s++)
                for (int t = 1; t < test.Frames; t++) test.Frame(s, t - 1).CopyTo(previous.AsSpan((s * test.Frames + t) * test.ValuesPerFrame));
            copyError = TemporalEvaluation.PredictionError(test, previous);
            output.WriteLine($"scored in {scoring.Elapsed.TotalSeconds:F0} s");

            output.WriteLine($"test sequences ({test.Count}), per frame:");
            output.WriteLine($"  temporal machine:          ln p(v_t | v_<t) {temporalLogLikelihood:F2} nats (K = {o.K}), one-step prediction error {temporalError:F3} (trained {reports.Count} epochs, {temporalTime.TotalMinutes:F1} min)");
            if (plain is not null)
            {
                var testFrames = new DataMatrix(test.Count * test.Frames, test.ValuesPerFrame, test.Values);
                plainLogLikelihood = new ImportanceSampledLogLikelihood(o.K, seed: o.Seed + 1).EstimatePerExample(plain, testFrames, cancellationToken: scoringCancellation).Average();
                float[] mean = TemporalEvaluation.MeanFrame(plain, 2000, seed: o.Seed + 2);
                float[] constant = new float[test.Values.Length];
                for (int i = 0; i < constant.Length; i++) constant[i] = mean[i % mean.Length];
                plainError = TemporalEvaluation.PredictionError(test, constant);
                output.WriteLine($"  without the LSTM:          ln p(v_t)         {plainLogLikelihood:F2} nats (K = {o.K}), one-step prediction error {plainError:F3} (its mean frame; trained {reports.Count} epochs, {plainTime.TotalMinutes:F1} min)");
            }
            output.WriteLine($"  copying the previous frame:                            one-step prediction error {copyError:F3}");
        }
        catch (OperationCanceledException)
        {
            error.WriteLine($"scoring cancelled; the model is saved in {modelPath}.");
            return Cancelled;
        }

        // The strip: the first 20 frames of test sequence 0, its one-step predictions, a roll-out after its first
        // 10 frames, and a sequence generated from nothing.
        int shown = Math.Min(20, test.Frames), side = test.Width, d = test.ValuesPerFrame;
        SequenceSet continued = TemporalEvaluation.Generate(model, 1, shown, seed: o.Seed + 3, prefix: test, prefixFrames: Math.Min(10, shown));
        SequenceSet free = TemporalEvaluation.Generate(model, 1, shown, seed: o.Seed + 4, frameWidth: side);
        var strip = new float[4 * shown * d];
        for (int t = 0; t < shown; t++)
        {
            test.Frame(0, t).CopyTo(strip.AsSpan(t * d, d));
            predicted.AsSpan(t * d, d).CopyTo(strip.AsSpan((shown + t) * d, d));
            continued.Frame(0, t).CopyTo(strip.AsSpan((2 * shown + t) * d, d));
            free.Frame(0, t).CopyTo(strip.AsSpan((3 * shown + t) * d, d));
        }
        float[] image = PngWriter.Tile(strip, side, test.Height, 4, shown, 2, 0.5f);
        var (width, height) = PngWriter.TiledSize(side, test.Height, 4, shown, 2);
        string png = Path.Combine(o.Output, StripFile);
        PngWriter.WriteGreyscale(png, image, width, height);   // atomic
        output.WriteLine($"wrote {png}: rows are the true frames 1–{shown} of test sequence 1, its one-step predictions, the model's roll-out after its first {Math.Min(10, shown)} frames, and a sequence generated from nothing");

        string report = Path.Combine(o.Output, ReportFile);
        WriteAtomically(report, "the report", string.Join('\n', new[]
        {
            "model,epochs,train_minutes,test_log_likelihood_per_frame,prediction_error",
            Row("temporal", reports.Count, temporalTime, temporalLogLikelihood, temporalError),
            plain is null ? "" : Row("without_lstm", reports.Count, plainTime, plainLogLikelihood!.Value, plainError!.Value),
            Row("copy_previous_frame", 0, TimeSpan.Zero, double.NaN, copyError),
        }.Where(line => line.Length > 0)) + "\n");
        output.WriteLine($"wrote {report}; {clock.Elapsed.TotalMinutes:F1} min in all");
        return cancelled ? Cancelled : Success;
    }

    /// <summary>
    /// Creates the folder, proves it writable and refuses a folder where an output file goes, so that a bad
    /// --out fails before the data set is made and the machine trained rather than at the first save.
    /// </summary>
    private static void PrepareOutputDirectory(string directory)
    {
        SampleConsole.PrepareOutputDirectory(directory, "the model, the curve, the strip and the report", "--out", ModelFile, CurveFile, StripFile, ReportFile);
    }

    /// <summary>Writes <paramref name="text"/> (UTF-8) as the library writes its own files (<c>AtomicFile</c>, compiled in): a reader never sees half a file.</summary>
    private static void WriteAtomically(string path, string what, string text)
        => AtomicFile.Write(path, what, stream => stream.Write(System.Text.Encoding.UTF8.GetBytes(text)));

    private static string Row(string model, int epochs, TimeSpan time, double logLikelihood, double error)
        => string.Create(CultureInfo.InvariantCulture, $"{model},{epochs},{time.TotalMinutes:F2},{logLikelihood:F4},{error:F4}");

    private sealed class Progress(TextWriter output, List<TemporalEpochReport> reports) : IProgress<TemporalEpochReport>
    {
        public void Report(TemporalEpochReport r)
        {
            reports.Add(r);
            output.WriteLine($"  epoch {r.Epoch}: {r.Objective} {r.TrainObjective:F2} nats per frame (F̂ {r.TrainFreeEnergy:F2}), lr {r.LearningRate:G3}, {r.Elapsed.TotalSeconds:F0} s");
        }
    }

    /// <summary>Calls back on the reporting thread (Progress&lt;T&gt; would post to the thread pool and print the epochs out of order).</summary>
    private sealed class SynchronousProgress<T>(Action<T> action) : IProgress<T>
    {
        public void Report(T value) => action(value);
    }

    private sealed class Options
    {
        public string Data = Path.Combine("runs", "bouncing-balls-data"), Output = Path.Combine("runs", "bouncing-balls");
        public string Architecture = "900bs-200g", Rule = "sbp";
        public int RecurrentUnits = 100, Epochs = 10, BatchSequences = 20, Truncation, TrainSequences = 4000, TestSequences = 200, Frames = 100, K = 100, PredictSamples = 20;
        /// <summary>Null: no limit (--time-limit 0, as in the MNIST sample).</summary>
        public TimeSpan? TimeLimit;
        public float LearningRate = 1e-3f;
        public double Decay = 1, MinimumLearningRate;
        /// <summary>The rate of each epoch, from --learning-rate, --decay and --min-lr (checked by Parse).</summary>
        public LearningRateSchedule Schedule = new(1e-3);
        public ulong Seed = 1;
        public bool Baseline = true, Help;

        /// <summary>Every option's value is checked here, naming the option, before any data is made or read.</summary>
        public static Options Parse(string[] args)
        {
            var o = new Options();
            for (int i = 0; i < args.Length; i++)
            {
                string name = args[i];
                string Next() => SampleConsole.NextValue(args, ref i, name);
                string Folder()
                {
                    string text = Next();
                    return !string.IsNullOrWhiteSpace(text) ? text : throw new ArgumentException($"{name} needs a folder; got an empty value.");
                }
                double Number()
                {
                    string text = Next();
                    return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v
                        : throw new ArgumentException($"{name} needs a number; got '{text}'.");
                }
                int Whole(int min)
                {
                    string text = Next();
                    return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v >= min ? v
                        : throw new ArgumentException($"{name} needs a whole number from {min} to {int.MaxValue}; got '{text}'.");
                }
                switch (name)
                {
                    case "--data": o.Data = Folder(); break;
                    case "--out": o.Output = Folder(); break;
                    case "--architecture": o.Architecture = Next(); break;
                    case "--rule": o.Rule = Next(); break;
                    case "--recurrent-units": o.RecurrentUnits = Whole(1); break;
                    case "--epochs": o.Epochs = Whole(1); break;
                    case "--time-limit": o.TimeLimit = TimeLimitOf(name, Next()); break;
                    case "--batch-sequences": o.BatchSequences = Whole(1); break;
                    case "--truncation": o.Truncation = Whole(0); break;
                    case "--learning-rate":
                        string rate = Next();
                        o.LearningRate = float.TryParse(rate, NumberStyles.Float, CultureInfo.InvariantCulture, out float r) && r > 0 && float.IsFinite(r) ? r
                            : throw new ArgumentException($"{name} needs a positive number (in single precision); got '{rate}'.");
                        break;
                    case "--decay": o.Decay = Number(); break;
                    case "--min-lr": o.MinimumLearningRate = Number(); break;
                    case "--seed":
                        string seed = Next();
                        o.Seed = ulong.TryParse(seed, NumberStyles.Integer, CultureInfo.InvariantCulture, out ulong s) ? s
                            : throw new ArgumentException($"{name} needs a whole number from 0 to {ulong.MaxValue}; got '{seed}'.");
                        break;
                    case "--train-sequences": o.TrainSequences = Whole(1); break;
                    case "--test-sequences": o.TestSequences = Whole(1); break;
                    case "--frames": o.Frames = Whole(2); break;   // the one-step predictions need a frame before the one predicted
                    case "--k": o.K = Whole(1); break;
                    case "--predict-samples": o.PredictSamples = Whole(1); break;
                    case "--no-baseline": o.Baseline = false; break;
                    case "--help" or "-h": o.Help = true; break;
                    default: throw new ArgumentException($"unknown option {name}.");
                }
            }
            if (!LearningRules.Names.Contains(o.Rule)) throw new ArgumentException($"--rule must be one of {string.Join(", ", LearningRules.Names)}; got '{o.Rule}'.");
            // Each setting checked with those before it, so that the error names the option that is wrong, without .NET's parameter suffix.
            string rateText = o.LearningRate.ToString("R", CultureInfo.InvariantCulture);
            LearningRateSchedule Checked(string option, string value, Func<LearningRateSchedule> make)
            {
                try
                {
                    return make();
                }
                catch (ArgumentException e)
                {
                    string reason = SampleConsole.WithoutParameter(e).Split('\n')[0].Trim();   // not ArgumentOutOfRangeException's "Actual value was" line
                    throw new ArgumentException($"{option} {value}: {reason.Replace(((double)o.LearningRate).ToString(CultureInfo.InvariantCulture), rateText, StringComparison.Ordinal)}");
                }
            }
            Checked("--decay", o.Decay.ToString(CultureInfo.InvariantCulture), () => new LearningRateSchedule(o.LearningRate, o.Decay));
            o.Schedule = Checked("--min-lr", o.MinimumLearningRate.ToString(CultureInfo.InvariantCulture), () => new LearningRateSchedule(o.LearningRate, o.Decay, o.MinimumLearningRate));
            // The rates never rise, so the last epoch's says whether the schedule reaches 0 in single precision, where the steps use it.
            if (o.TimeLimit is null && (float)o.Schedule.At(o.Epochs - 1) == 0)
                throw new ArgumentException($"--decay {o.Decay.ToString(CultureInfo.InvariantCulture)} takes the learning rate to 0 in single precision by epoch {o.Epochs}: " +
                    "set --min-lr, decay more slowly, train fewer --epochs, or set a --time-limit.");
            // Each set is one array of sequences × frames × pixels: one it cannot hold is named before the data is made.
            long perSequence = (long)o.Frames * new BouncingBallsOptions { Frames = o.Frames }.PixelsPerFrame;
            foreach (var (option, count) in new[] { ("--train-sequences", o.TrainSequences), ("--test-sequences", o.TestSequences) })
                if (count * perSequence > Array.MaxLength)
                    throw new ArgumentException($"{option} {count}: {count:N0} sequences of {o.Frames:N0} frames of {perSequence / o.Frames:N0} pixels are " +
                        $"{count * perSequence:N0} values, more than one array holds ({Array.MaxLength:N0}): give fewer sequences or --frames.");
            if (o.BatchSequences > o.TrainSequences)
                throw new ArgumentException($"--batch-sequences {o.BatchSequences} is more than the {o.TrainSequences} training sequences (--train-sequences): no minibatch would be made.");
            return o;
        }

        /// <summary>MINUTES as a time limit: 0 is none; a value TimeSpan cannot hold is refused rather than overflowing.</summary>
        private static TimeSpan? TimeLimitOf(string name, string text)
        {
            if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double minutes) || !(minutes >= 0) || double.IsInfinity(minutes))
                throw new ArgumentException($"{name} needs a number of minutes, 0 or more (0: no limit); got '{text}'.");
            if (minutes > MaximumMinutes)
                throw new ArgumentException($"{name} {text} is more minutes than a time limit holds (at most {MaximumMinutes:G6}; 0 is no limit).");
            // A positive limit shorter than a tick is one tick, not the zero the trainer refuses.
            return minutes == 0 ? null : TimeSpan.FromTicks(Math.Max(1, (long)(minutes * TimeSpan.TicksPerMinute)));
        }

        private static readonly double MaximumMinutes = Math.Floor(TimeSpan.MaxValue.TotalMinutes) - 1;
    }
}
