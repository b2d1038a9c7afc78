using System.Diagnostics;
using System.Globalization;
using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Evaluation;
using Microsoft.ML.Helmholtz.Learning;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Temporal;

/// <summary>
/// The bouncing-balls experiment: generates (or reads) the data set, trains the temporal Helmholtz
/// machine and the same frame machine without the LSTM, and reports on the test sequences the
/// one-step prediction error, the per-frame log-likelihood, and a PNG strip of true, predicted and
/// generated frames.
/// </summary>
public static class BouncingBallsApp
{
    public const int Success = 0, Internal = 1, UserError = 2, Diverged = 3, Cancelled = 130;

    public const string Usage = """
        usage: Helmholtz.BouncingBalls [options]
          --data DIR              where the data set is read from, or generated into when missing (runs/bouncing-balls-data)
          --out DIR               where the strip and the report go (runs/bouncing-balls)
          --architecture A        the frame machine (900bs-200g: "bs" scores the soft pixels in [0, 1] by cross-entropy)
          --rule R                sbp, wake-sleep, reinforce, nvil, … (sbp)
          --recurrent-units N     LSTM units (100)
          --epochs N (10)  --time-limit MINUTES  --batch-sequences N (20)  --truncation STEPS (0: whole sequences)
          --learning-rate X (0.001)  --seed N (1)
          --train-sequences N (4000)  --test-sequences N (200)  --frames T (100)
          --k N                   importance samples per frame for the log-likelihood (100)
          --predict-samples N     draws of h per frame for the expected next frame (20)
          --no-baseline           skip the machine without the LSTM
        """;

    public static int Run(string[] args, TextWriter output, TextWriter error, CancellationToken cancellation = default)
    {
        Options options;
        try
        {
            options = Options.Parse(args);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
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
            return Experiment(options, output, cancellation);
        }
        catch (OperationCanceledException)
        {
            error.WriteLine("cancelled.");
            return Cancelled;
        }
        catch (TrainingDivergedException e)
        {
            error.WriteLine($"error: training diverged: {e.Message}");
            return Diverged;
        }
        catch (Exception e) when (e is ArgumentException or InvalidDataException or IOException or UnauthorizedAccessException or NotSupportedException)
        {
            error.WriteLine($"error: {e.Message.ReplaceLineEndings(" ")}");
            return UserError;
        }
    }

    private static int Experiment(Options o, TextWriter output, CancellationToken cancellation)
    {
        var clock = Stopwatch.StartNew();
        var architecture = HelmholtzArchitecture.Parse(o.Architecture);
        var ballOptions = new BouncingBallsOptions { Frames = o.Frames };
        if (architecture.Visible.Size != ballOptions.PixelsPerFrame)
            throw new ArgumentException($"--architecture: the visible layer has {architecture.Visible.Size} units, but a frame has {ballOptions.PixelsPerFrame} pixels.");
        ILearningRule rule = LearningRules.Create(o.Rule);
        if ((rule.Unsupported(architecture) ?? rule.UnsupportedConditioning) is { } reason) throw new NotSupportedException($"--rule {o.Rule}: {reason}");

        BouncingBallsDataset data = BouncingBalls.LoadOrCreate(o.Data, ballOptions, o.TrainSequences, o.TestSequences);
        output.WriteLine($"bouncing balls: {data.Train.Count} training and {data.Test.Count} test sequences of {data.Train.Frames} frames of {data.Train.Height}×{data.Train.Width} in {o.Data} ({clock.Elapsed.TotalSeconds:F1} s)");
        Directory.CreateDirectory(o.Output);

        var model = TemporalHelmholtzMachine.Create(architecture, o.RecurrentUnits, o.Seed);
        var limit = o.TimeLimitMinutes is { } m ? TimeSpan.FromMinutes(m) : (TimeSpan?)null;
        output.WriteLine($"training the temporal machine {architecture} + LSTM({o.RecurrentUnits}) with {rule.Name}: {o.Epochs} epochs of minibatches of {o.BatchSequences} sequences{(o.Truncation > 0 ? $", BPTT truncated to {o.Truncation} steps" : "")}");
        var reports = new TemporalTrainer(rule, new TemporalTrainingOptions
        {
            Epochs = o.Epochs, BatchSequences = o.BatchSequences, TruncationSteps = o.Truncation, LearningRate = o.LearningRate, Seed = o.Seed, TimeLimit = limit,
        }).Train(model, data.Train, new Progress(output), cancellation);
        TimeSpan temporalTime = reports[^1].Elapsed;

        HelmholtzMachine? plain = null;
        TimeSpan plainTime = default;
        var frames = new DataMatrix(data.Train.Count * data.Train.Frames, data.Train.ValuesPerFrame, data.Train.Values);
        if (o.Baseline)
        {
            output.WriteLine($"training the same machine without the LSTM on the {frames.Rows:N0} frames alone: {reports.Count} epochs of minibatches of 100 frames");
            plain = HelmholtzMachine.Create(architecture, o.Seed);
            var plainReports = new HelmholtzTrainer(LearningRules.Create(o.Rule), new TrainingOptions { Epochs = reports.Count, BatchSize = 100, LearningRate = new(o.LearningRate), Seed = o.Seed })
                .Train(plain, frames, progress: new Progress<EpochReport>(r => output.WriteLine($"  epoch {r.Epoch}: free energy {r.TrainFreeEnergy:F2} nats per frame, {r.Elapsed.TotalSeconds:F0} s")), cancellationToken: cancellation);
            plainTime = plainReports[^1].Elapsed;
        }

        SequenceSet test = data.Test;
        var scoring = Stopwatch.StartNew();
        double[] perFrame = TemporalEvaluation.LogLikelihoodPerFrame(model, test, o.K, seed: o.Seed + 1, cancellationToken: cancellation);
        double temporalLogLikelihood = perFrame.Average();
        float[] predicted = TemporalEvaluation.PredictFrames(model, test, o.PredictSamples, seed: o.Seed + 2, cancellationToken: cancellation);
        double temporalError = TemporalEvaluation.PredictionError(test, predicted);
        float[] previous = new float[test.Values.Length];
        for (int s = 0; s < test.Count; s++)
            for (int t = 1; t < test.Frames; t++) test.Frame(s, t - 1).CopyTo(previous.AsSpan((s * test.Frames + t) * test.ValuesPerFrame));
        double copyError = TemporalEvaluation.PredictionError(test, previous);
        output.WriteLine($"scored in {scoring.Elapsed.TotalSeconds:F0} s");

        output.WriteLine($"test sequences ({test.Count}), per frame:");
        output.WriteLine($"  temporal machine:          ln p(v_t | v_<t) {temporalLogLikelihood:F2} nats (K = {o.K}), one-step prediction error {temporalError:F3} (trained {reports.Count} epochs, {temporalTime.TotalMinutes:F1} min)");
        double? plainLogLikelihood = null, plainError = null;
        if (plain is not null)
        {
            var testFrames = new DataMatrix(test.Count * test.Frames, test.ValuesPerFrame, test.Values);
            plainLogLikelihood = new ImportanceSampledLogLikelihood(o.K, seed: o.Seed + 1).EstimatePerExample(plain, testFrames, cancellationToken: cancellation).Average();
            float[] mean = TemporalEvaluation.MeanFrame(plain, 2000, seed: o.Seed + 2);
            float[] constant = new float[test.Values.Length];
            for (int i = 0; i < constant.Length; i++) constant[i] = mean[i % mean.Length];
            plainError = TemporalEvaluation.PredictionError(test, constant);
            output.WriteLine($"  without the LSTM:          ln p(v_t)         {plainLogLikelihood:F2} nats (K = {o.K}), one-step prediction error {plainError:F3} (its mean frame; trained {reports.Count} epochs, {plainTime.TotalMinutes:F1} min)");
        }
        output.WriteLine($"  copying the previous frame:                            one-step prediction error {copyError:F3}");

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
        string png = Path.Combine(o.Output, "strip.png");
        PngWriter.WriteGreyscale(png, image, width, height);
        output.WriteLine($"wrote {png}: rows are the true frames 1–{shown} of test sequence 1, its one-step predictions, the model's roll-out after its first {Math.Min(10, shown)} frames, and a sequence generated from nothing");

        string report = Path.Combine(o.Output, "report.csv");
        File.WriteAllText(report, string.Join('\n',
            "model,epochs,train_minutes,test_log_likelihood_per_frame,prediction_error",
            Row("temporal", reports.Count, temporalTime, temporalLogLikelihood, temporalError),
            plain is null ? "" : Row("without_lstm", reports.Count, plainTime, plainLogLikelihood!.Value, plainError!.Value),
            Row("copy_previous_frame", 0, TimeSpan.Zero, double.NaN, copyError)) + "\n");
        File.WriteAllText(Path.Combine(o.Output, "curve.csv"), "epoch,train_free_energy_per_frame,train_objective_per_frame,seconds\n" +
            string.Join('\n', reports.Select(r => string.Create(CultureInfo.InvariantCulture, $"{r.Epoch},{r.TrainFreeEnergy:R},{r.TrainObjective:R},{r.Elapsed.TotalSeconds:F1}"))) + "\n");
        output.WriteLine($"wrote {report} and the learning curve; {clock.Elapsed.TotalMinutes:F1} min in all");
        return Success;
    }

    private static string Row(string model, int epochs, TimeSpan time, double logLikelihood, double error)
        => string.Create(CultureInfo.InvariantCulture, $"{model},{epochs},{time.TotalMinutes:F2},{logLikelihood:F4},{error:F4}");

    private sealed class Progress(TextWriter output) : IProgress<TemporalEpochReport>
    {
        public void Report(TemporalEpochReport r)
            => output.WriteLine($"  epoch {r.Epoch}: {r.Objective} {r.TrainObjective:F2} nats per frame (F̂ {r.TrainFreeEnergy:F2}), {r.Elapsed.TotalSeconds:F0} s");
    }

    private sealed class Options
    {
        public string Data = Path.Combine("runs", "bouncing-balls-data"), Output = Path.Combine("runs", "bouncing-balls");
        public string Architecture = "900bs-200g", Rule = "sbp";
        public int RecurrentUnits = 100, Epochs = 10, BatchSequences = 20, Truncation, TrainSequences = 4000, TestSequences = 200, Frames = 100, K = 100, PredictSamples = 20;
        public double? TimeLimitMinutes;
        public float LearningRate = 1e-3f;
        public ulong Seed = 1;
        public bool Baseline = true, Help;

        public static Options Parse(string[] args)
        {
            var o = new Options();
            for (int i = 0; i < args.Length; i++)
            {
                string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
                int Positive() => int.Parse(Next(), CultureInfo.InvariantCulture) is > 0 and var v ? v : throw new ArgumentException($"{args[i - 1]} must be positive.");
                switch (args[i])
                {
                    case "--data": o.Data = Next(); break;
                    case "--out": o.Output = Next(); break;
                    case "--architecture": o.Architecture = Next(); break;
                    case "--rule": o.Rule = Next(); break;
                    case "--recurrent-units": o.RecurrentUnits = Positive(); break;
                    case "--epochs": o.Epochs = Positive(); break;
                    case "--time-limit": o.TimeLimitMinutes = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--batch-sequences": o.BatchSequences = Positive(); break;
                    case "--truncation": o.Truncation = int.Parse(Next(), CultureInfo.InvariantCulture) is >= 0 and var t ? t : throw new ArgumentException("--truncation must be 0 or more."); break;
                    case "--learning-rate": o.LearningRate = float.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--seed": o.Seed = ulong.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--train-sequences": o.TrainSequences = Positive(); break;
                    case "--test-sequences": o.TestSequences = Positive(); break;
                    case "--frames": o.Frames = Positive(); break;
                    case "--k": o.K = Positive(); break;
                    case "--predict-samples": o.PredictSamples = Positive(); break;
                    case "--no-baseline": o.Baseline = false; break;
                    case "--help" or "-h": o.Help = true; break;
                    default: throw new ArgumentException($"unknown option {args[i]}.");
                }
            }
            return o;
        }
    }
}
