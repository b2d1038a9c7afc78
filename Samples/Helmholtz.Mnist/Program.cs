// Trains a Helmholtz machine on statically binarized MNIST with one learning rule, writes the
// learning curve (CSV) and the model, and reports the importance-sampled test log-likelihood.
using System.Diagnostics;
using System.Globalization;
using CsvHelper;
using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Evaluation;
using Microsoft.ML.Helmholtz.Learning;
using Microsoft.ML.Helmholtz.Learning.Optimizers;
using Microsoft.ML.Helmholtz.Learning.Rules;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;

MnistOptions options;
try
{
    options = MnistOptions.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    Console.Error.WriteLine(MnistOptions.Usage);
    return 2;
}
if (options.Help)
{
    Console.WriteLine(MnistOptions.Usage);
    return 0;
}

using var cancellation = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; cancellation.Cancel(); Console.Error.WriteLine("cancelling after the current minibatch…"); };

var clock = Stopwatch.StartNew();
MnistSplits data = BinarizedMnist.Load(options.DataDirectory);
// The binarized splits are ordered by digit, so a part of a split is taken evenly spaced, never as a prefix.
DataMatrix train = EvenlySpaced(data.Train, options.TrainLimit);
DataMatrix scored = options.ScoreSplit == "valid" ? data.Valid : data.Test;
DataMatrix test = EvenlySpaced(scored, options.TestLimit);
DataMatrix valid = EvenlySpaced(data.Valid, options.ValidationRows);

var architecture = HelmholtzArchitecture.Parse(options.Architecture);
ILearningRule rule = LearningRules.Create(options.Rule);
HelmholtzMachine machine = options.Resume is not null
    ? HelmholtzMachine.Load(options.Resume)
    : HelmholtzMachine.Create(architecture, options.Seed);
Console.WriteLine($"rule {rule.Name}, architecture {machine.Architecture}, engine {MatrixEngine.Default.Name}, " +
                  $"train {train.Rows}, valid {valid.Rows}, test {test.Rows}, epochs {options.Epochs}, batch {options.BatchSize}, " +
                  $"{options.Optimizer} lr {options.LearningRate} × {options.Decay}/epoch, seed {options.Seed}");

var trainingOptions = new TrainingOptions
{
    Epochs = options.Epochs,
    BatchSize = options.BatchSize,
    Seed = options.Seed,
    LearningRate = new LearningRateSchedule(options.LearningRate, options.Decay, options.MinimumLearningRate),
    Optimizer = options.Optimizer == "sgd" ? () => new SgdMomentum(0.9f) : () => new Adam(),
    InitializeVisibleBiases = options.Resume is null,
    TimeLimit = options.TimeLimitMinutes > 0 ? TimeSpan.FromMinutes(options.TimeLimitMinutes) : null,
};
Directory.CreateDirectory(options.OutputDirectory);
string curvePath = Path.Combine(options.OutputDirectory, $"{rule.Name}-curve.csv");
string modelPath = Path.Combine(options.OutputDirectory, $"{rule.Name}.hm");
var curve = new List<CurveRow>();
var progress = new ConsoleProgress(report =>
{
    curve.Add(new CurveRow(report.Epoch, report.TrainFreeEnergy, report.ValidationFreeEnergy ?? double.NaN, report.LearningRate, report.Elapsed.TotalSeconds));
    Console.WriteLine($"epoch {report.Epoch,4}  train F {report.TrainFreeEnergy,8:F2}  valid F {report.ValidationFreeEnergy,8:F2}  lr {report.LearningRate:G3}  {report.Elapsed.TotalSeconds,7:F0} s");
    if (options.CheckpointEvery > 0 && report.Epoch % options.CheckpointEvery == 0)
    {
        machine.Save(modelPath);
        WriteCurve(curvePath, curve);
    }
});

int exitCode = 0;
try
{
    if (options.Epochs > 0)
    {
        var reports = new HelmholtzTrainer(rule, trainingOptions).Train(machine, train, valid, progress, cancellation.Token);
        if (reports.Count < options.Epochs)
            Console.WriteLine($"time limit reached: stopped after epoch {reports.Count} (reproduce with --epochs {reports.Count} and no time limit)");
    }
}
catch (Exception e) when (e is NotSupportedException or ArgumentException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}
catch (OperationCanceledException)
{
    Console.Error.WriteLine("training cancelled; the model as it stands is saved and scored.");
    exitCode = 130;
}
catch (TrainingDivergedException e)
{
    Console.Error.WriteLine($"training stopped: {e.Message}");
    exitCode = 3;
}
double trainSeconds = clock.Elapsed.TotalSeconds;
machine.Save(modelPath);
WriteCurve(curvePath, curve);
Console.WriteLine($"model saved to {modelPath}; learning curve in {curvePath}");

var scoringClock = Stopwatch.StartNew();
double boundOnTest = HelmholtzTrainer.MeanFreeEnergy(machine, test, new RandomStream(options.Seed + 3), new LayerStates(machine.Architecture, 1000));
Console.WriteLine($"{options.ScoreSplit} free energy (one sample per image, an upper bound on −ln p in expectation): {boundOnTest:F2} nats");
var estimator = new ImportanceSampledLogLikelihood(options.Samples, seed: options.Seed + 1);
int reportedTenths = 0;
var scoringProgress = new ScoringProgress(fraction =>
{
    int tenths = (int)(fraction * 10);
    if (tenths > Interlocked.Exchange(ref reportedTenths, Math.Max(tenths, reportedTenths)) && tenths < 10)
        Console.WriteLine($"  scoring {tenths * 10}% ({scoringClock.Elapsed.TotalSeconds:F0} s)");
});
LogLikelihoodEstimate estimate = estimator.Estimate(machine, test, scoringProgress, CancellationToken.None);
Console.WriteLine($"{options.ScoreSplit} log-likelihood (importance sampling, K = {options.Samples}): {estimate.Mean:F2} ± {estimate.StandardError:F2} nats " +
                  $"over {estimate.Examples} images (training {trainSeconds:F0} s, scoring {scoringClock.Elapsed.TotalSeconds:F0} s)");
if (options.NaiveSamples > 0)
{
    var naive = new NaiveLogLikelihood(options.NaiveSamples, seed: options.Seed + 2).Estimate(machine, test);
    Console.WriteLine($"{options.ScoreSplit} log-likelihood (naive, K = {options.NaiveSamples} prior samples): {naive.Mean:F2} ± {naive.StandardError:F2} nats");
}
return exitCode;

static DataMatrix EvenlySpaced(DataMatrix data, int count)
{
    if (count <= 0 || count >= data.Rows) return data;
    var values = new float[count * data.Columns];
    for (int i = 0; i < count; i++)
        data.Row((int)((long)i * data.Rows / count)).CopyTo(values.AsSpan(i * data.Columns, data.Columns));
    return new DataMatrix(count, data.Columns, values);
}

static void WriteCurve(string path, List<CurveRow> rows)
{
    string temporary = path + ".tmp";
    using (var writer = new StreamWriter(temporary))
    using (var csv = CsvWriter.Create(writer))
    {
        csv.WriteHeader(["epoch", "train_free_energy", "validation_free_energy", "learning_rate", "seconds"]);
        foreach (CurveRow r in rows)
        {
            csv.WriteRecord([r.Epoch.ToString(CultureInfo.InvariantCulture), r.TrainFreeEnergy.ToString("R", CultureInfo.InvariantCulture),
                r.ValidationFreeEnergy.ToString("R", CultureInfo.InvariantCulture), r.LearningRate.ToString("R", CultureInfo.InvariantCulture),
                r.Seconds.ToString("F1", CultureInfo.InvariantCulture)]);
        }
    }
    File.Move(temporary, path, overwrite: true);
}

internal sealed record CurveRow(int Epoch, double TrainFreeEnergy, double ValidationFreeEnergy, double LearningRate, double Seconds);

internal sealed class ScoringProgress(Action<double> action) : IProgress<double>
{
    public void Report(double value) => action(value);
}

internal sealed class ConsoleProgress(Action<EpochReport> action) : IProgress<EpochReport>
{
    public void Report(EpochReport value) => action(value);
}
