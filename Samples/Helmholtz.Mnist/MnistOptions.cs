using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Learning;
using Microsoft.ML.Helmholtz.Learning.Optimizers;
using System.Globalization;
using Helmholtz.Samples;

/// <summary>Command-line options of the MNIST sample.</summary>
public sealed class MnistOptions
{
    public string Rule { get; private set; } = "sbp";
    public string Architecture { get; private set; } = "";
    public int Epochs { get; private set; } = 10;
    public int BatchSize { get; private set; } = 100;
    public double LearningRate { get; private set; } = 1e-3;
    public double Decay { get; private set; } = 1.0;
    public double MinimumLearningRate { get; private set; }
    public string Optimizer { get; private set; } = "adam";
    /// <summary>Adam's β2 when --adam-beta2 was given; null: Adam's own default.</summary>
    public double? AdamBeta2 { get; private set; }
    public double WeightDecay { get; private set; }
    public ulong Seed { get; private set; } = 1;
    public int Samples { get; private set; } = 1000;
    public int TrainingSamples { get; private set; } = LearningRules.DefaultSamples;
    public int NaiveSamples { get; private set; }
    public int MeanFieldSteps { get; private set; }
    public string MeanFieldStart { get; private set; } = "recognition";
    public int TrainLimit { get; private set; }
    public int TestLimit { get; private set; }
    public int ValidationRows { get; private set; } = 1000;
    public int ValidationSamples { get; private set; }
    public int CheckpointEvery { get; private set; } = 10;
    public string? DataDirectory { get; private set; }
    public string OutputDirectory { get; private set; } = "runs";
    public string? Resume { get; private set; }
    public bool ContinueSchedule { get; private set; }
    public bool CenterInputs { get; private set; }
    public double TimeLimitMinutes { get; private set; }
    /// <summary>The time limit as the trainer takes it; null: none.</summary>
    public TimeSpan? TimeLimit { get; private set; }
    public string ScoreSplit { get; private set; } = "test";
    public string? Compare { get; private set; }
    public bool Help { get; private set; }

    /// <summary>Whether --architecture was given (else it is the rule's default).</summary>
    public bool ArchitectureGiven { get; private set; }

    public const string Usage = """
        usage: Helmholtz.Mnist [options]
          --rule wake-sleep|reinforce|reinforce-plain|nvil|sbp|sbp-price|iwae|vimco|rws|rws-sleep|rws-wake-sleep   learning rule (default sbp)
          --train-samples N   K, the samples per example of the K-sample rules iwae, vimco and rws* (5); a minibatch is
                           --batch × K rows, which must fit the machine's buffers
          --architecture 784b-200g-50g   layers bottom-up; b = binary, g = Gaussian, and more in docs/usage.md
                           (default: 200+50, Gaussian for the rules that need it, binary otherwise)
          --epochs N (10)  --batch N (100)  --lr X (0.001)  --decay X per epoch, in (0, 1] (1)  --min-lr X, at most --lr (0)
          --optimizer adam|sgd (adam; sgd: momentum 0.9)
          --adam-beta2 X   Adam's decay of its squared-gradient average, in [0, 1) as a float (0.999; the REBAR
                           code's runs use 0.99999)
          --weight-decay X   Adam's decoupled weight decay λ: each step shrinks the weight matrices by 1 − lr·λ (0: none)
          --seed N (1)     --k N importance samples for the final score (1000)  --naive N prior samples (0: skip)
          --mean-field STEPS   also score with a mean-field q optimised per image for STEPS steps (Gaussian hidden layers; 0: skip)
          --mean-field-start recognition|prior   where each image's q starts (recognition)
          --train-limit N  --test-limit N  --valid-rows N (all, all, 1000; 0: all)   use fewer images (evenly spaced: the
                           splits are ordered by digit)
          --valid-k N      estimate ln p of the validation rows with N importance samples at each checkpoint too, and keep
                           the model that scored best in RUN-best.hm (a resumed run first scores the model it starts from)
          --data DIR       binarized MNIST folder (default: $HELMHOLTZ_MNIST_DIR when it is set, else the first
                           shared/data/mnist found walking up from the sample's folder, then from the current folder)
          --out DIR        where the model and learning curve go (runs)
          --checkpoint-every N   save the model and the curve every N epochs (10; 0: at the end only)
          --resume FILE    continue from a saved model. Each saved RUN.hm has its training state in RUN.state beside
                           it (Adam's moments, the rule's baselines, the random streams, where in the epoch it
                           stopped): resumed with it, the same options (--epochs: those still to run) and
                           --continue-schedule, a run goes on as if it had never stopped; without it (or for
                           another rule or optimiser) Adam starts afresh.
                           Resumed in the folder that holds its RUN-curve.csv, a run keeps the curve's epochs up to the
                           model's (its steps / minibatches per epoch) and numbers its own on from there, as the
                           console's epoch lines do wherever it is resumed.
                           With --epochs 0: score it only, into FILE's name-SPLIT-log-likelihood.csv; nothing else is
                           written and --rule is not checked against it
          --continue-schedule   with --resume: the learning rate goes on from the epochs the model has trained
                           (its steps / minibatches per epoch) instead of starting again at --lr
          --center-inputs  take the steps in centred coordinates (the maps that read the pixels or hidden units with
                           draws in [0, 1] move their weights and their pre-activation at the input's mean: the
                           pixels' means, 0.5)
          --time-limit MINUTES   stop at the end of the first epoch past this much training time (0: none)
          --score test|valid|train   the split scored at the end (test; train measures how far the model overfits);
                   each image's estimate goes to RUN-SPLIT-log-likelihood.csv
          --compare FILE   such a file from another run on the same images: also print the mean difference, image by
                           image, with its standard error (far smaller than either mean's own, so it tells two models apart)
          --help, -h       this text
        """;

    public static MnistOptions Parse(string[] args)
    {
        var o = new MnistOptions();
        bool trainingSamplesGiven = false, meanFieldStartGiven = false;
        for (int i = 0; i < args.Length; i++)
        {
            string name = args[i];
            string Value() => SampleConsole.NextValue(args, ref i, name);
            int Int()
            {
                string text = Value();
                return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v >= 0 ? v
                    : throw new ArgumentException($"{name} needs a whole number from 0 to {int.MaxValue}; got '{text}'.");
            }
            double Real()
            {
                string text = Value();
                return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && v >= 0 && double.IsFinite(v) ? v
                    : throw new ArgumentException($"{name} needs a finite number, 0 or more; got '{text}'.");
            }
            // An empty path would reach the file system as "The value cannot be an empty string", naming no option.
            string Path() => Value() is { Length: > 0 } v ? v : throw new ArgumentException($"{name} needs a value; got an empty string.");
            ulong Seed()
            {
                string text = Value();
                return ulong.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out ulong v) ? v
                    : throw new ArgumentException($"{name} needs a whole number from 0 to {ulong.MaxValue}; got '{text}'.");
            }
            switch (name)
            {
                case "--rule": o.Rule = Value(); break;
                case "--architecture": o.Architecture = Path(); o.ArchitectureGiven = true; break;
                case "--epochs": o.Epochs = Int(); break;
                case "--batch": o.BatchSize = Int(); break;
                case "--lr": o.LearningRate = Real(); break;
                case "--decay": o.Decay = Real(); break;
                case "--min-lr": o.MinimumLearningRate = Real(); break;
                case "--optimizer": o.Optimizer = Value(); break;
                case "--adam-beta2": o.AdamBeta2 = Real(); break;
                case "--weight-decay": o.WeightDecay = Real(); break;
                case "--seed": o.Seed = Seed(); break;
                case "--k": o.Samples = Int(); break;
                case "--train-samples": o.TrainingSamples = Int(); trainingSamplesGiven = true; break;
                case "--naive": o.NaiveSamples = Int(); break;
                case "--mean-field": o.MeanFieldSteps = Int(); break;
                case "--mean-field-start": o.MeanFieldStart = Value(); meanFieldStartGiven = true; break;
                case "--train-limit": o.TrainLimit = Int(); break;
                case "--test-limit": o.TestLimit = Int(); break;
                case "--valid-rows": o.ValidationRows = Int(); break;
                case "--valid-k": o.ValidationSamples = Int(); break;
                case "--checkpoint-every": o.CheckpointEvery = Int(); break;
                case "--data": o.DataDirectory = Path(); break;
                case "--out": o.OutputDirectory = Path(); break;
                case "--resume": o.Resume = Path(); break;
                case "--continue-schedule": o.ContinueSchedule = true; break;
                case "--center-inputs": o.CenterInputs = true; break;
                case "--score": o.ScoreSplit = Value(); break;
                case "--compare": o.Compare = Path(); break;
                case "--time-limit": o.TimeLimitMinutes = Real(); break;
                case "--help" or "-h": o.Help = true; break;
                default: throw new ArgumentException($"unknown option {name}.");
            }
        }
        if (!LearningRules.Names.Contains(o.Rule)) throw new ArgumentException($"--rule must be one of {string.Join(", ", LearningRules.Names)}; got '{o.Rule}'.");
        if (o.Optimizer is not ("adam" or "sgd")) throw new ArgumentException($"--optimizer must be adam or sgd; got '{o.Optimizer}'.");
        CheckSchedule(o);
        if (o.AdamBeta2 is { } beta2)
        {
            // Adam takes β2 as a float in [0, 1) (0 included): a double that rounds to 1 there, or a positive one to 0, is not the decay asked for.
            if (!(beta2 < 1)) throw new ArgumentException($"--adam-beta2 must be in [0, 1); got {beta2}.");
            if ((float)beta2 == 1f)
                throw new ArgumentException($"--adam-beta2 {beta2} is 1 in single precision, in which Adam uses it: it must be at most {BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(1f) - 1)}.");
            if (beta2 > 0 && (float)beta2 == 0f)
                throw new ArgumentException($"--adam-beta2 {beta2} is 0 in single precision, in which Adam uses it: give 0 or at least {float.Epsilon}.");
        }
        if (o.TimeLimitMinutes > 0)
        {
            // TimeSpan holds about 1.5e10 minutes, in ticks of 100 ns.
            TimeSpan limit;
            try { limit = TimeSpan.FromMinutes(o.TimeLimitMinutes); }
            catch (OverflowException) { throw new ArgumentException($"--time-limit must be at most {TimeSpan.MaxValue.TotalMinutes:G3} minutes; got {o.TimeLimitMinutes}."); }
            o.TimeLimit = limit > TimeSpan.Zero ? limit
                : throw new ArgumentException($"--time-limit {o.TimeLimitMinutes} minutes is no time at all for the clock, which counts 100 ns: give 0 for none, or more.");
        }
        if (o.AdamBeta2 is not null && o.Optimizer != "adam") throw new ArgumentException("--adam-beta2 sets Adam's decay; it has no meaning with --optimizer sgd.");
        if (o.WeightDecay > 0 && o.Optimizer != "adam") throw new ArgumentException("--weight-decay is Adam's (decoupled); it has no meaning with --optimizer sgd.");
        if (o.WeightDecay > 0 && !Adam.KeepsWeightsPositive((float)o.LearningRate, (float)o.WeightDecay))
            throw new ArgumentException($"--weight-decay {o.WeightDecay} with --lr {o.LearningRate} would shrink the weights by 1 − lr·λ ≤ 0 at each step: lr·λ must be under 1.");
        if (o.ScoreSplit is not ("test" or "valid" or "train")) throw new ArgumentException($"--score must be test, valid or train; got '{o.ScoreSplit}'.");
        if (o.MeanFieldStart is not ("recognition" or "prior")) throw new ArgumentException($"--mean-field-start must be recognition or prior; got '{o.MeanFieldStart}'.");
        // An option that would change nothing is refused rather than ignored (as --weight-decay with sgd). A scoring run
        // (--epochs 0) takes a training command's options as they are, so that the same command with --epochs 0 scores its model.
        if (meanFieldStartGiven && o.MeanFieldSteps == 0) throw new ArgumentException("--mean-field-start sets where the mean-field baseline starts: give --mean-field STEPS too.");
        if (trainingSamplesGiven && o.Epochs > 0 && !LearningRules.IsMultiSample(o.Rule))
            throw new ArgumentException($"--train-samples sets K of the K-sample rules (iwae, vimco, rws, rws-sleep, rws-wake-sleep); --rule {o.Rule} draws one sample per example.");
        if (o.ContinueSchedule && o.Resume is null) throw new ArgumentException("--continue-schedule continues a resumed run: give --resume FILE too.");
        if (o.Epochs == 0 && o.Resume is null) throw new ArgumentException("--epochs 0 scores the model given with --resume FILE and trains nothing: give --resume FILE, or --epochs N (N > 0).");
        if (o.ValidationSamples > 0 && o.CheckpointEvery == 0)
            throw new ArgumentException("--valid-k estimates at each checkpoint: give --checkpoint-every N (N > 0) too.");
        if (o.BatchSize == 0 || o.Samples == 0) throw new ArgumentException("--batch and --k must be positive.");
        if (LearningRules.IsMultiSample(o.Rule) && o.TrainingSamples < (o.Rule == "vimco" ? 2 : 1))
            throw new ArgumentException($"--train-samples must be at least {(o.Rule == "vimco" ? 2 : 1)} for {o.Rule}; got {o.TrainingSamples}.");
        if (o.Architecture.Length == 0)
        {
            // Binary hidden layers unless the rule differentiates through its samples.
            bool gaussian = LearningRules.Create(o.Rule, Math.Max(2, o.TrainingSamples)).Unsupported(HelmholtzArchitecture.Parse("784b-200b-50b")) is not null;
            o.Architecture = gaussian ? "784b-200g-50g" : "784b-200b-50b";
        }
        return o;
    }

    /// <summary>The learning-rate schedule's checks (LearningRateSchedule's, which name its own properties), made here to name the options.</summary>
    private static void CheckSchedule(MnistOptions o)
    {
        if (!(o.LearningRate > 0)) throw new ArgumentException($"--lr must be positive; got {o.LearningRate}.");
        // The steps use the rate in single precision.
        if ((float)o.LearningRate is 0f or float.PositiveInfinity)
            throw new ArgumentException($"--lr {o.LearningRate} is {((float)o.LearningRate == 0 ? "0" : "infinite")} in single precision, in which the steps use it: it must lie between {float.Epsilon} and {float.MaxValue}.");
        if (!(o.Decay > 0 && o.Decay <= 1)) throw new ArgumentException($"--decay must be in (0, 1]; got {o.Decay}.");
        if (o.MinimumLearningRate > o.LearningRate) throw new ArgumentException($"--min-lr {o.MinimumLearningRate} exceeds --lr {o.LearningRate}.");
        if (o.MinimumLearningRate > 0 && (float)o.MinimumLearningRate == 0)
            throw new ArgumentException($"--min-lr {o.MinimumLearningRate} is 0 in single precision, in which the steps use it: give 0 for no floor, or at least {float.Epsilon}.");
        // A rate that decays to 0 as a float changes nothing: refused before the data loads, unless --time-limit bounds the run (the library
        // then stops at that epoch). A continued schedule starts at the model's epochs, known once the data is: the library checks that one.
        if (o.TimeLimitMinutes <= 0 && !o.ContinueSchedule && o.Epochs > 0
            && (float)new Microsoft.ML.Helmholtz.Learning.LearningRateSchedule(o.LearningRate, o.Decay, o.MinimumLearningRate).At(o.Epochs - 1) == 0)
            throw new ArgumentException($"--decay {o.Decay} takes --lr {o.LearningRate} to 0 in single precision by epoch {o.Epochs}: set --min-lr, decay more slowly, give fewer --epochs, or a --time-limit.");
    }
}
