using Microsoft.ML.Helmholtz.Learning.Rules;

namespace Microsoft.ML.Helmholtz.Learning;

/// <summary>The learning rules by name, for command lines and options classes.</summary>
public static class LearningRules
{
    /// <summary>"wake-sleep", "reinforce", "reinforce-plain", "sbp" (path-wise) and "sbp-price".</summary>
    public static IReadOnlyList<string> Names { get; } = ["wake-sleep", "reinforce", "reinforce-plain", "sbp", "sbp-price"];

    /// <summary>A new rule with its default options.</summary>
    public static ILearningRule Create(string name) => name switch
    {
        "wake-sleep" => new WakeSleep(),
        "reinforce" => new Reinforce(),
        "reinforce-plain" => new Reinforce(ReinforceOptions.Plain),
        "sbp" => new StochasticBackpropagation(VarianceGradient.PathWise),
        "sbp-price" => new StochasticBackpropagation(VarianceGradient.Price),
        _ => throw new ArgumentException($"Unknown learning rule '{name}'; expected one of {string.Join(", ", Names)}.", nameof(name)),
    };
}
