using System.Reflection;
using Microsoft.ML.Helmholtz.Transforms;
using Microsoft.ML.Runtime;

namespace Microsoft.ML;

/// <summary>The Helmholtz machine on ML.NET's catalogs: <c>ml.Transforms.HelmholtzMachine(…)</c> and <c>ml.AnomalyDetection.Trainers.HelmholtzMachine(…)</c>.</summary>
public static class HelmholtzCatalog
{
    /// <summary>A Helmholtz machine trained without labels on a vector column, adding the columns <paramref name="options"/> names.</summary>
    public static HelmholtzMachineEstimator HelmholtzMachine(this TransformsCatalog catalog, HelmholtzMachineOptions options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new HelmholtzMachineEstimator(Environment(catalog), options);
    }

    /// <summary>
    /// A Helmholtz machine on <paramref name="inputColumnName"/> (a known-size vector of Single) that adds
    /// "HelmholtzFeatures" and "LogLikelihood"; <paramref name="architecture"/> null gives the default layers.
    /// </summary>
    public static HelmholtzMachineEstimator HelmholtzMachine(this TransformsCatalog catalog, string inputColumnName, string? architecture = null,
        HelmholtzLearningRule learningRule = HelmholtzLearningRule.StochasticBackpropagation)
        => catalog.HelmholtzMachine(new HelmholtzMachineOptions { InputColumnName = inputColumnName, Architecture = architecture, LearningRule = learningRule });

    /// <summary>
    /// A Helmholtz machine as an anomaly detector: "Score" (−ln p̂(x), Single, higher is more anomalous)
    /// and "PredictedLabel" (Boolean, score above the threshold), the columns ml.AnomalyDetection.Evaluate
    /// reads. Score and PredictedLabel column names left null in <paramref name="options"/> get these
    /// defaults. The feature and log-likelihood columns are added as the options name them, and
    /// <see cref="HelmholtzMachineOptions"/> names both by default: set their names to null to leave them out.
    /// </summary>
    public static HelmholtzMachineEstimator HelmholtzMachine(this AnomalyDetectionCatalog.AnomalyDetectionTrainers catalog, HelmholtzMachineOptions options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(options);
        HelmholtzMachineOptions o = options.Copy();
        // A default filled in here that meets a name the caller gave is said so: the options' check would blame an option the caller never set.
        (string Option, string Name, bool Filled)[] defaults =
            [(nameof(o.ScoreColumnName), "Score", o.ScoreColumnName is null), (nameof(o.PredictedLabelColumnName), "PredictedLabel", o.PredictedLabelColumnName is null)];
        (string? Name, string Option)[] given = [(o.InputColumnName, nameof(o.InputColumnName)), (o.FeatureColumnName, nameof(o.FeatureColumnName)),
            (o.LogLikelihoodColumnName, nameof(o.LogLikelihoodColumnName)), (o.ScoreColumnName, nameof(o.ScoreColumnName)), (o.PredictedLabelColumnName, nameof(o.PredictedLabelColumnName))];
        foreach (var (option, name, filled) in defaults)
            if (filled && given.FirstOrDefault(g => string.Equals(g.Name, name, StringComparison.Ordinal)) is { Option: { } other })
                throw new ArgumentException($"HelmholtzMachineOptions.{option} is null, so the anomaly detector names that column '{name}', which is also " +
                    $"HelmholtzMachineOptions.{other}: set {option} to another name, or name {other} otherwise.", nameof(options));
        o.ScoreColumnName ??= "Score";
        o.PredictedLabelColumnName ??= "PredictedLabel";
        return new HelmholtzMachineEstimator(Environment(catalog), o);
    }

    /// <summary>
    /// The anomaly detector on <paramref name="featureColumnName"/> with only the Score and PredictedLabel columns; a feature column
    /// of either name is refused naming <paramref name="featureColumnName"/> (the options overload names the outputs otherwise).
    /// </summary>
    public static HelmholtzMachineEstimator HelmholtzMachine(this AnomalyDetectionCatalog.AnomalyDetectionTrainers catalog, string featureColumnName = "Features",
        string? architecture = null, HelmholtzLearningRule learningRule = HelmholtzLearningRule.StochasticBackpropagation)
    {
        // Said here, of the argument given: the options' check would blame ScoreColumnName, which this overload's caller never set.
        if (featureColumnName is "Score" or "PredictedLabel")
            throw new ArgumentException($"The feature column '{featureColumnName}' has the name of an output of this detector (\"Score\", \"PredictedLabel\"), which may not " +
                "replace its input: copy the features to a column of another name first (ml.Transforms.CopyColumns), or give HelmholtzMachineOptions with " +
                "other ScoreColumnName and PredictedLabelColumnName.", nameof(featureColumnName));
        return catalog.HelmholtzMachine(new HelmholtzMachineOptions
        {
            InputColumnName = featureColumnName, Architecture = architecture, LearningRule = learningRule,
            FeatureColumnName = null, LogLikelihoodColumnName = null,
        });
    }

    /// <summary>
    /// The temporal Helmholtz machine (an LSTM-conditioned machine over frames) trained on sequences, one row
    /// each (<see cref="TemporalHelmholtzOptions"/>), adding their log-likelihoods and, when named, one-step predictions.
    /// </summary>
    public static TemporalHelmholtzEstimator TemporalHelmholtzMachine(this TransformsCatalog catalog, TemporalHelmholtzOptions options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new TemporalHelmholtzEstimator(Environment(catalog), options);
    }

    /// <summary>
    /// The temporal Helmholtz machine on <paramref name="inputColumnName"/> (a known-size vector of Single holding each sequence's
    /// frames of <paramref name="frameSize"/> values one after another) that adds "LogLikelihood" and "FrameLogLikelihoods";
    /// <paramref name="architecture"/> null gives "{frameSize}bs-200g".
    /// </summary>
    public static TemporalHelmholtzEstimator TemporalHelmholtzMachine(this TransformsCatalog catalog, string inputColumnName, int frameSize, string? architecture = null,
        HelmholtzLearningRule learningRule = HelmholtzLearningRule.StochasticBackpropagation)
        => catalog.TemporalHelmholtzMachine(new TemporalHelmholtzOptions
        {
            InputColumnName = inputColumnName, FrameSize = frameSize, Architecture = architecture, LearningRule = learningRule,
        });

    /// <summary>
    /// The MLContext behind a catalog, for its log and seed. ML.NET keeps it behind an internal
    /// interface (its own extension packages reach it as friends); this reads that one property by
    /// reflection and gives null if a later ML.NET moves it: the estimator then trains without the
    /// log messages and with seed 0 unless the options give one (a test checks that it is found).
    /// </summary>
    internal static IHostEnvironment? Environment(object catalog)
    {
        Type? contract = catalog.GetType().GetInterfaces().FirstOrDefault(i => i.FullName == "Microsoft.ML.Data.IInternalCatalog");
        return contract?.GetProperty("Environment", BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance)?.GetValue(catalog) as IHostEnvironment;
    }
}
