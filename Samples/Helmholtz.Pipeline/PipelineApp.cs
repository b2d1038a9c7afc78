using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Learning;
using Microsoft.ML.Helmholtz.Learning.Rules;
using Microsoft.ML.Helmholtz.Transforms;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.Runtime;
using Helmholtz.Samples;

/// <summary>
/// The pipeline sample. Tasks:
/// <list type="bullet">
/// <item><c>main</c> (default): a Helmholtz machine trained without labels inside an MLContext pipeline on binarized
/// MNIST, its test log-likelihood, a classifier on its features (5,000 labelled images, 500 of each digit),
/// the whole model saved as a zip and loaded back.</item>
/// <item><c>few-labels</c>: the classifier with 100, 1,000 and 5,000 labelled images on the machine's features,
/// on the raw pixels and on ML.NET PCA features.</item>
/// <item><c>anomaly</c>: a machine trained on some digits only; the others are the anomalies (AUROC beside ML.NET's RandomizedPca).</item>
/// <item><c>onnx</c>: a machine exported to ONNX (features and log-likelihood graphs), and the test set scored by ONNX
/// Runtime in batches, on the CPU or, with <c>--gpu N</c>, on a CUDA GPU, beside the managed transformer.</item>
/// </list>
/// Every user error is one line "error: …" and exit code 2; an internal error is exit code 1; training that diverges is exit code 3.
/// Cancelled (Ctrl+C or SIGTERM: the token given to <see cref="Run"/>), the training stops after its current minibatch, or a trained
/// task before its next step, and the exit code is 130 with nothing saved: a cancelled Fit gives back no model to save.
/// </summary>
public static class PipelineApp
{
    public const int Success = 0, Internal = 1, UserError = 2, Diverged = 3, Cancelled = 130;

    private sealed class Options
    {
        public string Task = "main";
        public int Epochs = 10, Samples = 100, TrainLimit, Seed = 1;
        public string Architecture = "784b-200g-50g";
        public HelmholtzLearningRule Rule = HelmholtzLearningRule.StochasticBackpropagation;
        public RecognitionUpdate RecognitionUpdate = RecognitionUpdate.Wake;
        public string? Data;
        public string? Machine;   // a core machine's file to start from (main task)
        public string RuleName = "sbp";   // --rule as given
        public bool ArchitectureGiven;
        public string Output = Path.Combine("runs", "pipeline");
        public int[] NormalDigits = [0, 1, 2, 3, 4];
        public int[] PerDigit = [10, 100, 500];
        public int? Gpu;
        public bool FallbackToCpu, Help;
    }

    /// <summary>
    /// A user error found by the sample itself (the library's are its argument, data and file exceptions), so that an
    /// exception of another type, an InvalidOperationException from ML.NET or the sample's own code, is reported as internal.
    /// </summary>
    private sealed class UserErrorException(string message, Exception? inner = null) : Exception(message, inner);

    private const string Usage = """
        usage: Helmholtz.Pipeline [options]
          --task main|few-labels|anomaly|onnx   what to run (main)
          --epochs N (10)   --k N samples for the log-likelihood (100)   --seed N (1)
          --architecture 784b-200g-50g   --rule sbp|sbp-price|wake-sleep|reinforce|nvil|iwae|vimco|rws|rws-sleep|rws-wake-sleep
                                         (K = 5 samples per example; rws-sleep updates q in the sleep phase, rws-wake-sleep in both)
          --train-limit N   use N of the training images, evenly spaced (0, the default: all; anomaly: of the normal digits' images)
          --machine FILE    main task: start from a machine saved by the MNIST sample (its architecture); with --epochs 0
                            the pipeline scores, classifies and saves it as it is (--rule need not suit it then)
          --normal-digits 0,1,2,3,4   the digits the anomaly task trains on
          --per-digit 10,100,500      labelled images of each digit for the few-labels task
          --data DIR        binarized MNIST folder (default: $HELMHOLTZ_MNIST_DIR when it is set, else the first
                            shared/data/mnist found walking up from the sample's folder, then from the current folder)
          --out DIR         where the model zip and ONNX files go (runs/pipeline; main and onnx tasks)
          --gpu N           onnx task: score on CUDA GPU N (MLContext.GpuDeviceId)
          --fallback-to-cpu onnx task: run on the CPU if the GPU cannot be had (MLContext.FallbackToCpu)
          -h, --help        this text
        an option of another task than the one run is refused (--k: every task but few-labels, which has no log-likelihood)
        Ctrl+C or SIGTERM stops the training after the current minibatch, or the main and onnx tasks' scoring of the test
        set after the batch of rows it is computing (exit code 130), and saves nothing: the ML.NET estimator gives back no model from a cancelled Fit, and
        no model.zip or ONNX file is written after the signal
        """;

    /// <summary>
    /// Reads and checks <paramref name="args"/> as <see cref="Run"/> does, then stops before any data is read: an
    /// <see cref="ArgumentException"/> names the first refused option (the docs' commands are checked with it).
    /// </summary>
    public static void CheckArguments(string[] args) => _ = Parse(args);

    public static int Run(string[] args, TextWriter output, TextWriter error, CancellationToken cancellation = default)
    {
        Options options;
        try
        {
            options = Parse(args);
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
            return options.Task switch
            {
                "few-labels" => FewLabels(options, output, cancellation),
                "anomaly" => Anomaly(options, output, cancellation),
                "onnx" => OnnxExportAndRuntime(options, output, cancellation),
                _ => TrainAndClassify(options, output, cancellation),
            };
        }
        catch (NotFiniteNumberException e)
        {
            error.WriteLine($"error: {SampleConsole.CannotBeScored(e)}");
            return Diverged;
        }
        catch (Microsoft.ML.Helmholtz.Learning.TrainingDivergedException e)
        {
            error.WriteLine($"error: training diverged: {OneLine(e.Message)}");
            return Diverged;
        }
        catch (OperationCanceledException)
        {
            error.WriteLine("cancelled: the run stopped and nothing was saved (no file is written after the signal, and a Fit it stops gives back no model).");
            return Cancelled;
        }
        catch (Exception e) when (e is UserErrorException or ArgumentException or FormatException or InvalidDataException or IOException or UnauthorizedAccessException
            or NotSupportedException)
        {
            // The estimator names its option; the sample's is --k.
            const string SamplesOption = "HelmholtzMachineOptions.Samples: ";
            string message = SampleConsole.WithoutParameter(e);
            if (message.StartsWith(SamplesOption, StringComparison.Ordinal)) message = "--k: " + message[SamplesOption.Length..];
            error.WriteLine($"error: {OneLine(message)}");
            return UserError;
        }
        catch (Exception e)
        {
            return SampleConsole.InternalError(error, e, Internal);
        }
    }

    private static string OneLine(string message) => SampleConsole.OneLine(message);

    /// <summary>The rows of a view, the signal checked at each: a scoring pass stops within the batch the cursor computes (its rows' K samples), not at its end.</summary>
    public static IEnumerable<T> Read<T>(IEnumerable<T> rows, CancellationToken cancellation)
    {
        foreach (T row in rows)
        {
            cancellation.ThrowIfCancellationRequested();
            yield return row;
        }
    }

    private static Options Parse(string[] args)
    {
        var o = new Options();
        bool normalDigitsGiven = false, perDigitGiven = false, samplesGiven = false, outGiven = false;
        for (int i = 0; i < args.Length; i++)
        {
            string name = args[i];
            string Value() => SampleConsole.NextValue(args, ref i, name);
            // An empty path would reach the file system as "The value cannot be an empty string", naming no option.
            string PathValue() => Value() is { } text && !string.IsNullOrWhiteSpace(text) ? text : throw new ArgumentException($"{name} needs a path; got an empty value.");
            int Int(int min)
            {
                string text = Value();
                return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v >= min ? v
                    : throw new ArgumentException($"{name} needs a whole number from {min} to {int.MaxValue}; got '{text}'.");
            }
            switch (name)
            {
                case "--task": o.Task = Value(); break;
                case "--epochs": o.Epochs = Int(0); break;
                case "--k": o.Samples = Int(1); samplesGiven = true; break;
                case "--seed": o.Seed = Int(0); break;
                case "--train-limit": o.TrainLimit = Int(0); break;
                case "--architecture": o.Architecture = Value(); o.ArchitectureGiven = true; break;
                case "--machine": o.Machine = PathValue(); break;
                case "--rule":
                    string rule = o.RuleName = Value();
                    o.RecognitionUpdate = rule switch
                    {
                        "rws-sleep" => RecognitionUpdate.Sleep,
                        "rws-wake-sleep" => RecognitionUpdate.WakeAndSleep,
                        _ => RecognitionUpdate.Wake,
                    };
                    o.Rule = rule switch
                    {
                        "sbp" => HelmholtzLearningRule.StochasticBackpropagation,
                        "sbp-price" => HelmholtzLearningRule.StochasticBackpropagationPrice,
                        "wake-sleep" => HelmholtzLearningRule.WakeSleep,
                        "reinforce" => HelmholtzLearningRule.Reinforce,
                        "iwae" => HelmholtzLearningRule.ImportanceWeighted,
                        "vimco" => HelmholtzLearningRule.Vimco,
                        "rws" or "rws-sleep" or "rws-wake-sleep" => HelmholtzLearningRule.ReweightedWakeSleep,
                        "nvil" => HelmholtzLearningRule.Nvil,
                        var other => throw new ArgumentException($"--rule must be sbp, sbp-price, wake-sleep, reinforce, nvil, iwae, vimco, rws, rws-sleep or rws-wake-sleep; got '{other}'."),
                    };
                    break;
                case "--normal-digits":
                    string text = Value();
                    o.NormalDigits = text.Split(',').Select(d => int.TryParse(d, out int v) && v is >= 0 and <= 9 ? v
                        : throw new ArgumentException($"--normal-digits takes digits 0-9 separated by commas; got '{text}'.")).Distinct().ToArray();
                    if (o.NormalDigits.Length is 0 or 10) throw new ArgumentException("--normal-digits must leave some digits out (they are the anomalies).");
                    normalDigitsGiven = true;
                    break;
                case "--per-digit":
                    string sizes = Value();
                    o.PerDigit = sizes.Split(',').Select(d => int.TryParse(d, out int v) && v is >= 1 and <= 800 ? v
                        : throw new ArgumentException($"--per-digit takes counts from 1 to 800 separated by commas; got '{sizes}'.")).ToArray();
                    perDigitGiven = true;
                    break;
                case "--data": o.Data = PathValue(); break;
                case "--out": o.Output = PathValue(); outGiven = true; break;
                case "--gpu": o.Gpu = Int(0); break;
                case "--fallback-to-cpu": o.FallbackToCpu = true; break;
                case "--help" or "-h": o.Help = true; break;
                default: throw new ArgumentException($"unknown option {name}.");
            }
        }
        if (o.Task is not ("main" or "few-labels" or "anomaly" or "onnx")) throw new ArgumentException($"--task must be main, few-labels, anomaly or onnx; got '{o.Task}'.");
        // An option the task does not use is refused rather than ignored.
        if ((o.Gpu is not null || o.FallbackToCpu) && o.Task != "onnx") throw new ArgumentException("--gpu and --fallback-to-cpu are options of the onnx task.");
        if (o.FallbackToCpu && o.Gpu is null) throw new ArgumentException("--fallback-to-cpu falls back from --gpu N: without --gpu the task runs on the CPU anyway; give --gpu N too, or leave it out.");
        // A pipeline that trains nothing would score and save a machine of random weights (the MNIST sample refuses it too).
        if (o.Epochs == 0 && o.Machine is null)
            throw new ArgumentException(o.Task == "main"
                ? "--epochs 0 scores the machine given with --machine FILE as it is and trains nothing: give --machine FILE, or --epochs N (N > 0)."
                : $"--epochs 0 trains nothing, and --task {o.Task} starts from no machine: give --epochs N (N > 0).");
        if (normalDigitsGiven && o.Task != "anomaly") throw new ArgumentException($"--normal-digits is an option of the anomaly task; --task {o.Task} does not use it.");
        if (perDigitGiven && o.Task != "few-labels") throw new ArgumentException($"--per-digit is an option of the few-labels task; --task {o.Task} does not use it.");
        if (o.Machine is not null && o.Task != "main") throw new ArgumentException($"--machine is an option of the main task; --task {o.Task} does not use it.");
        if (o.Machine is not null && o.ArchitectureGiven) throw new ArgumentException("--machine and --architecture: the machine's file gives its architecture; give one of them.");
        if (outGiven && o.Task is not ("main" or "onnx")) throw new ArgumentException($"--out is an option of the main and onnx tasks, which write files; --task {o.Task} writes none.");
        if (samplesGiven && o.Task == "few-labels") throw new ArgumentException("--k sets the samples of the log-likelihood, which --task few-labels does not compute.");
        if (o.ArchitectureGiven)
        {
            // The images' size is known here: a visible layer of another is named before the data loads (the estimator sees the column only at Fit).
            HelmholtzArchitecture architecture = SampleConsole.ParseArchitecture(o.Architecture);
            if (architecture.Visible.Size != BinarizedMnist.PixelCount)
                throw new ArgumentException($"--architecture {o.Architecture}: the visible layer has {architecture.Visible.Size} units; MNIST images have {BinarizedMnist.PixelCount} pixels.");
            // Named by the options given, not by the estimator's property (HelmholtzMachineOptions.Architecture).
            if (LearningRules.Create(o.RuleName).Unsupported(architecture) is { } unsuited)
                throw new ArgumentException($"--architecture {o.Architecture} with --rule {o.RuleName}: {unsuited}");
        }
        return o;
    }

    /// <summary>The machine's options from the command line; the estimator checks them (a bad architecture fails here, before the data loads).</summary>
    private static HelmholtzMachineOptions MachineOptions(Options o, TextWriter output) => new()
    {
        InputColumnName = "Pixels",
        FeatureColumnName = "Features",
        LogLikelihoodColumnName = "LogLikelihood",
        Architecture = o.Architecture,
        LearningRule = o.Rule,
        RecognitionUpdate = o.RecognitionUpdate,
        Epochs = o.Epochs,
        Samples = o.Samples,
        Seed = o.Seed,
    };

    private static string RuleText(Options o) => o.Rule == HelmholtzLearningRule.ReweightedWakeSleep
        ? $"{o.Rule}, q updated in the {o.RecognitionUpdate switch { RecognitionUpdate.Sleep => "sleep phase", RecognitionUpdate.WakeAndSleep => "wake and sleep phases", _ => "wake phase" }}"
        : $"{o.Rule}";

    private static MLContext Context(Options o, TextWriter output)
    {
        var ml = new MLContext(seed: o.Seed);
        // The machine reports on the MLContext's log, as ML.NET's trainers do.
        ml.Log += (_, e) =>
        {
            if (e.Kind == ChannelMessageKind.Info && e.Source.StartsWith("HelmholtzMachine", StringComparison.Ordinal))
                lock (output) output.WriteLine($"  {e.RawMessage}");
        };
        return ml;
    }

    private static int TrainAndClassify(Options o, TextWriter output, CancellationToken cancellation)
    {
        var clock = Stopwatch.StartNew();
        MLContext ml = Context(o, output);
        // A machine trained elsewhere (the MNIST sample's RUN.hm, say) gives the architecture: read before the data loads, as a bad file fails.
        HelmholtzMachine? start = o.Machine is null ? null : HelmholtzMachine.Load(o.Machine);
        if (start is not null)
        {
            o.Architecture = start.Architecture.ToString();
            if (start.Architecture.Visible.Size != BinarizedMnist.PixelCount)
                throw new UserErrorException($"the machine in {o.Machine} ({o.Architecture}) reads {start.Architecture.Visible.Size} values; MNIST images have {BinarizedMnist.PixelCount}.");
        }
        HelmholtzMachineOptions machineOptions = MachineOptions(o, output);
        machineOptions.CancellationToken = cancellation;
        // The architecture is the machine's, not an option the user gave: what does not fit is the rule, named as the MNIST sample names it.
        if (start is not null && o.Epochs > 0 && LearningRules.Create(o.RuleName).Unsupported(start.Architecture) is { } unsuited)
            throw new UserErrorException($"the machine in {o.Machine} ({o.Architecture}) cannot be trained with --rule {o.RuleName}: {unsuited} " +
                "Give another --rule, or --epochs 0 to score it as it is.");
        var estimator = ml.Transforms.HelmholtzMachine(machineOptions);   // checks the options now
        SampleConsole.PrepareOutputDirectory(o.Output, "model.zip", "--out", "model.zip");   // before the training, which a folder it cannot write would lose
        string zip = Path.Combine(o.Output, "model.zip");

        MnistSplits mnist = BinarizedMnist.Load(o.Data);
        DigitRow[] labelled = MnistViews.Labelled(o.Data);
        IDataView train = MnistViews.Unlabelled(ml, mnist.Train, o.TrainLimit);
        HelmholtzMachineTransformer machine;
        if (start is null)
        {
            output.WriteLine($"Training {o.Architecture} ({RuleText(o)}) on {train.GetRowCount():N0} unlabelled binarized MNIST images, {o.Epochs} epochs:");
            machine = estimator.Fit(train);
        }
        else
        {
            string given = $"The machine in {o.Machine} ({o.Architecture}, {start.StepsTrained:N0} steps trained)";
            output.WriteLine(o.Epochs == 0 ? $"{given}, as it is:"
                : $"{given}, trained on with {RuleText(o)} on {train.GetRowCount():N0} unlabelled binarized MNIST images, {o.Epochs} epochs:");
            machine = estimator.Fit(train, start);
        }
        // The token stops Fit between minibatches; a signal after it stops the task before its next step, with nothing saved.
        cancellation.ThrowIfCancellationRequested();

        // The log-likelihood column on the binarized test split.
        float[] logLikelihood = Read(ml.Data.CreateEnumerable<LogLikelihoodRow>(machine.Transform(MnistViews.Unlabelled(ml, mnist.Test)), false), cancellation)
            .Select(r => r.LogLikelihood).ToArray();
        double mean = logLikelihood.Average(v => (double)v);
        double se = Math.Sqrt(logLikelihood.Sum(v => (v - mean) * (v - mean)) / (logLikelihood.Length - 1) / logLikelihood.Length);
        output.WriteLine($"test log-likelihood (the LogLikelihood column, K = {o.Samples}): {mean:F2} nats over {logLikelihood.Length:N0} images (standard error over images {se:F2})");

        // A classifier on the features: 500 labelled images of each digit to train, the other 5,000 to evaluate.
        cancellation.ThrowIfCancellationRequested();
        var (labelledTrain, labelledTest) = MnistViews.EvenSplit(labelled, 500);
        var classifier = ml.Transforms.Conversion.MapValueToKey("Label", "Digit")
            .AppendCacheCheckpoint(ml)
            .Append(ml.MulticlassClassification.Trainers.SdcaMaximumEntropy("Label", "Features"))
            .Fit(machine.Transform(ml.Data.LoadFromEnumerable(labelledTrain)));
        var model = new TransformerChain<ITransformer>(machine, classifier);
        IDataView evaluation = ml.Data.LoadFromEnumerable(labelledTest);
        double accuracy = ml.MulticlassClassification.Evaluate(model.Transform(evaluation)).MicroAccuracy;
        output.WriteLine($"classifier on the machine's features ({o.Architecture.Split('-')[^1]} units), 5,000 labelled images: accuracy {accuracy:P2} on the other {labelledTest.Length:N0}");

        // The whole model, saved (whole or not at all: a signal or a failure while it is written leaves no half zip) and loaded back.
        cancellation.ThrowIfCancellationRequested();
        AtomicFile.Write(zip, "the pipeline's model", stream => ml.Model.Save(model, evaluation.Schema, stream));
        var fresh = new MLContext();
        ITransformer loaded;
        try
        {
            loaded = fresh.Model.Load(zip, out _);
        }
        catch (Exception e) when (e.ToString().Contains("ORT model verification failed", StringComparison.Ordinal))
        {
            // One load in 32,768: ML.NET names its temporary copy of the ONNX model at random, and ONNX Runtime reads a name ending
            // in ".ort" as its own format (docs/usage.md). Loading again picks another name.
            loaded = fresh.Model.Load(zip, out _);
        }
        double loadedAccuracy = fresh.MulticlassClassification.Evaluate(loaded.Transform(fresh.Data.LoadFromEnumerable(labelledTest))).MicroAccuracy;
        output.WriteLine($"model saved to {zip} ({new FileInfo(zip).Length / 1024.0 / 1024:F1} MB); loaded back, accuracy {loadedAccuracy:P2} ({clock.Elapsed.TotalSeconds:F0} s in all)");
        return Success;
    }

    private sealed class LogLikelihoodRow
    {
        public float LogLikelihood { get; set; }
    }

    private static int FewLabels(Options o, TextWriter output, CancellationToken cancellation)
    {
        MLContext ml = Context(o, output);
        HelmholtzMachineOptions machineOptions = MachineOptions(o, output);
        machineOptions.LogLikelihoodColumnName = null;
        machineOptions.CancellationToken = cancellation;
        var estimator = ml.Transforms.HelmholtzMachine(machineOptions);
        MnistSplits mnist = BinarizedMnist.Load(o.Data);
        DigitRow[] labelled = MnistViews.Labelled(o.Data);
        IDataView train = MnistViews.Unlabelled(ml, mnist.Train, o.TrainLimit);
        output.WriteLine($"Training {o.Architecture} ({RuleText(o)}) on {train.GetRowCount():N0} unlabelled images, {o.Epochs} epochs; PCA (rank 50) on the same images:");
        HelmholtzMachineTransformer machine = estimator.Fit(train);
        cancellation.ThrowIfCancellationRequested();
        var pca = ml.Transforms.ProjectToPrincipalComponents("Pca", "Pixels", rank: 50, seed: o.Seed).Fit(train);

        output.WriteLine();
        output.WriteLine($"{"labelled images",16}{"Helmholtz features",20}{"raw pixels",12}{"PCA (50)",10}   (multiclass accuracy on the other labelled images; SDCA maximum entropy)");
        foreach (int perDigit in o.PerDigit)
        {
            cancellation.ThrowIfCancellationRequested();
            var (few, rest) = MnistViews.EvenSplit(labelled, perDigit);
            IDataView fewView = ml.Data.LoadFromEnumerable(few), restView = ml.Data.LoadFromEnumerable(rest);
            double Accuracy(ITransformer features, string column)
            {
                var model = ml.Transforms.Conversion.MapValueToKey("Label", "Digit")
                    .Append(ml.Transforms.NormalizeMinMax("Input", column))
                    .AppendCacheCheckpoint(ml)
                    .Append(ml.MulticlassClassification.Trainers.SdcaMaximumEntropy("Label", "Input"))
                    .Fit(features.Transform(fewView));
                return ml.MulticlassClassification.Evaluate(model.Transform(features.Transform(restView))).MicroAccuracy;
            }
            var none = ml.Transforms.CopyColumns("Raw", "Pixels").Fit(fewView);
            output.WriteLine($"{few.Length,16:N0}{Accuracy(machine, "Features"),20:P2}{Accuracy(none, "Raw"),12:P2}{Accuracy(pca, "Pca"),10:P2}");
        }
        return Success;
    }

    private static int Anomaly(Options o, TextWriter output, CancellationToken cancellation)
    {
        MLContext ml = Context(o, output);
        HelmholtzMachineOptions machineOptions = MachineOptions(o, output);
        machineOptions.FeatureColumnName = null;
        machineOptions.LogLikelihoodColumnName = null;
        machineOptions.CancellationToken = cancellation;
        var estimator = ml.AnomalyDetection.Trainers.HelmholtzMachine(machineOptions);
        DigitRow[] labelled = MnistViews.Labelled(o.Data);
        var normal = new HashSet<int>(o.NormalDigits);
        // Even-indexed images train (normal digits only), odd-indexed ones test (all digits; the others are anomalies).
        DigitRow[] train = labelled.Where((r, i) => i % 2 == 0 && normal.Contains((int)r.Digit)).ToArray();
        DigitRow[] test = labelled.Where((_, i) => i % 2 == 1).Select(r => new DigitRow { Pixels = r.Pixels, Digit = r.Digit, Anomaly = normal.Contains((int)r.Digit) ? 0 : 1 }).ToArray();
        if (o.TrainLimit > 0 && o.TrainLimit < train.Length)
            train = Enumerable.Range(0, o.TrainLimit).Select(i => train[(int)((long)i * train.Length / o.TrainLimit)]).ToArray();   // evenly spaced, as in the other tasks
        IDataView trainView = ml.Data.LoadFromEnumerable(train), testView = ml.Data.LoadFromEnumerable(test);
        output.WriteLine($"Training {o.Architecture} ({RuleText(o)}) on {train.Length:N0} binarized images of digits {string.Join(",", o.NormalDigits)}; " +
                         $"{test.Length:N0} test images, {test.Count(r => r.Anomaly > 0):N0} of them of other digits (the anomalies):");
        var machine = estimator.Fit(trainView);
        cancellation.ThrowIfCancellationRequested();
        var machineMetrics = ml.AnomalyDetection.Evaluate(machine.Transform(testView), labelColumnName: "Anomaly", falsePositiveCount: 50);
        var pca = ml.AnomalyDetection.Trainers.RandomizedPca(featureColumnName: "Pixels", rank: 50, seed: o.Seed).Fit(trainView);
        var pcaMetrics = ml.AnomalyDetection.Evaluate(pca.Transform(testView), labelColumnName: "Anomaly", falsePositiveCount: 50);
        output.WriteLine();
        output.WriteLine($"{"detector",-40}{"AUROC",8}{"detected at 50 false positives",34}");
        output.WriteLine($"{"Helmholtz machine (score −ln p̂, K = " + o.Samples + ")",-40}{machineMetrics.AreaUnderRocCurve,8:F4}{machineMetrics.DetectionRateAtFalsePositiveCount,34:P1}");
        output.WriteLine($"{"ML.NET RandomizedPca (rank 50)",-40}{pcaMetrics.AreaUnderRocCurve,8:F4}{pcaMetrics.DetectionRateAtFalsePositiveCount,34:P1}");
        output.WriteLine($"threshold {machine.Threshold:F1} nats (the 0.99 quantile of the training scores)");
        return Success;
    }

    private static int OnnxExportAndRuntime(Options o, TextWriter output, CancellationToken cancellation)
    {
        MLContext ml = Context(o, output);
        ml.GpuDeviceId = o.Gpu;
        ml.FallbackToCpu = o.FallbackToCpu;
        HelmholtzMachineOptions machineOptions = MachineOptions(o, output);
        machineOptions.CancellationToken = cancellation;
        var estimator = ml.Transforms.HelmholtzMachine(machineOptions);
        if (o.Gpu is { } gpu && !o.FallbackToCpu) CheckCudaProvider(gpu);
        SampleConsole.PrepareOutputDirectory(o.Output, "the ONNX models", "--out", "recognition.onnx", "log-likelihood.onnx");
        MnistSplits mnist = BinarizedMnist.Load(o.Data);
        IDataView train = MnistViews.Unlabelled(ml, mnist.Train, o.TrainLimit), test = MnistViews.Unlabelled(ml, mnist.Test);
        output.WriteLine($"Training {o.Architecture} ({RuleText(o)}) on {train.GetRowCount():N0} unlabelled binarized MNIST images, {o.Epochs} epochs:");
        HelmholtzMachineTransformer machine = estimator.Fit(train);
        cancellation.ThrowIfCancellationRequested();

        // Standard ONNX files: any ONNX Runtime (or other engine) can run them, .NET or not.
        string features = Path.Combine(o.Output, "recognition.onnx"), logLikelihood = Path.Combine(o.Output, "log-likelihood.onnx");
        machine.ExportRecognitionToOnnx(features);   // each file whole or not at all
        cancellation.ThrowIfCancellationRequested();
        machine.ExportLogLikelihoodToOnnx(logLikelihood);
        output.WriteLine($"exported {features} ({new FileInfo(features).Length / 1024.0:F0} KB) and {logLikelihood} ({new FileInfo(logLikelihood).Length / 1024.0:F0} KB; it holds the K = {o.Samples} noise)");

        // The same columns computed by ONNX Runtime in batches, on the device the MLContext names.
        HelmholtzOnnxTransformer onnxRuntime;
        try
        {
            onnxRuntime = machine.ToOnnxRuntime(ml);
        }
        catch (InvalidOperationException e) when (o.Gpu is not null)
        {
            throw new UserErrorException(e.Message, e);   // the GPU asked for cannot be had (the library names what is missing)
        }
        using HelmholtzOnnxTransformer onnx = onnxRuntime;
        var clock = Stopwatch.StartNew();
        ScoreRow[] managed = Read(ml.Data.CreateEnumerable<ScoreRow>(machine.Transform(test), false), cancellation).ToArray();
        double managedSeconds = clock.Elapsed.TotalSeconds;
        clock.Restart();
        ScoreRow[] runtime = Read(ml.Data.CreateEnumerable<ScoreRow>(onnx.Transform(test), false), cancellation).ToArray();
        double runtimeSeconds = clock.Elapsed.TotalSeconds;
        double worstNats = 0, worstFeature = 0;
        for (int i = 0; i < managed.Length; i++)
        {
            worstNats = Math.Max(worstNats, Math.Abs(managed[i].LogLikelihood - runtime[i].LogLikelihood));
            for (int j = 0; j < managed[i].Features.Length; j++)
                worstFeature = Math.Max(worstFeature, Math.Abs(managed[i].Features[j] - runtime[i].Features[j]));
        }
        output.WriteLine($"ONNX Runtime on {onnx.Device}");
        output.WriteLine($"test log-likelihood (K = {o.Samples}): managed {managed.Average(r => (double)r.LogLikelihood):F2} nats in {managedSeconds:F1} s, " +
                         $"ONNX Runtime {runtime.Average(r => (double)r.LogLikelihood):F2} nats in {runtimeSeconds:F1} s over {managed.Length:N0} images");
        output.WriteLine($"largest difference: {worstNats:G3} nats in a log-likelihood, {worstFeature:G3} in a feature");
        return Success;
    }

    /// <summary>
    /// Starts ONNX Runtime's CUDA provider for GPU <paramref name="device"/> and lets it go, so that a machine without it
    /// (no CUDA libraries, no driver) is refused in a moment, not after the training and the export.
    /// </summary>
    private static void CheckCudaProvider(int device)
    {
        // The library's probe holds back ONNX Runtime's own error line and turns its loaders' exceptions into the reason, so that the
        // error is the one line here.
        if (HelmholtzOnnxTransformer.CudaProviderProblem(device) is { } problem) throw new UserErrorException($"--gpu {device}: {problem}. Add --fallback-to-cpu to run on the CPU instead.");
    }

    private sealed class ScoreRow
    {
        public float LogLikelihood { get; set; }
        public float[] Features { get; set; } = [];
    }
}
