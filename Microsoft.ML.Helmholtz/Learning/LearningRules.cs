using Microsoft.ML.Helmholtz.Learning.Rules;

namespace Microsoft.ML.Helmholtz.Learning;

/// <summary>The learning rules by name, for command lines and options classes.</summary>
public static class LearningRules
{
    /// <summary>
    /// "wake-sleep", "reinforce", "reinforce-plain", "nvil" (REINFORCE with local signals and per-layer
    /// baselines), "sbp" (path-wise), "sbp-price", and the K-sample rules "iwae" (the importance-weighted
    /// bound, path-wise), "vimco" (the same bound, leave-one-out baselines), "rws" (reweighted wake-sleep,
    /// wake-phase q update), "rws-sleep" (sleep-phase q update) and "rws-wake-sleep" (both q updates).
    /// </summary>
    public static IReadOnlyList<string> Names { get; } = ["wake-sleep", "reinforce", "reinforce-plain", "nvil", "sbp", "sbp-price", "iwae", "vimco", "rws", "rws-sleep", "rws-wake-sleep"];

    /// <summary>K for the K-sample rules when none is given.</summary>
    public const int DefaultSamples = 5;

    /// <summary>Whether the rule draws K samples per example (and so takes <c>samples</c>).</summary>
    public static bool IsMultiSample(string name) => name is "iwae" or "vimco" or "rws" or "rws-sleep" or "rws-wake-sleep";

    /// <summary>A new rule with its default options; <paramref name="samples"/> is K for the K-sample rules (ignored by the others).</summary>
    public static ILearningRule Create(string name, int samples = DefaultSamples)
    {
        ArgumentNullException.ThrowIfNull(name);
        return Of(name, samples);
    }

    private static ILearningRule Of(string name, int samples) => name switch
    {
        "iwae" => new ImportanceWeightedBound(samples),
        "vimco" => new Vimco(samples),
        "rws" => new ReweightedWakeSleep(samples),
        "rws-sleep" => new ReweightedWakeSleep(samples, RecognitionUpdate.Sleep),
        "rws-wake-sleep" => new ReweightedWakeSleep(samples, RecognitionUpdate.WakeAndSleep),
        "nvil" => new Nvil(),
        "wake-sleep" => new WakeSleep(),
        "reinforce" => new Reinforce(),
        "reinforce-plain" => new Reinforce(ReinforceOptions.Plain),
        "sbp" => new StochasticBackpropagation(VarianceGradient.PathWise),
        "sbp-price" => new StochasticBackpropagation(VarianceGradient.Price),
        _ => throw new ArgumentException($"Unknown learning rule '{name}'; expected one of {string.Join(", ", Names)}.", nameof(name)),
    };
}
