namespace Microsoft.ML.Helmholtz.Learning.Rules;

/// <summary>
/// The running baselines and variances of the REINFORCE-family rules in a <see cref="StateSection"/>: one of
/// each per learning signal, and whether they have started. Read back only when every value fits.
/// </summary>
internal static class RunningEstimates
{
    // The entries Save writes, Read reads and RefuseOtherEntries keeps: one list of names for the three.
    private const string Baselines = "baselines", Variances = "variances", Started = "started";

    /// <summary>
    /// The baseline options the REINFORCE-family rules share, as their <see cref="ILearningRule.Settings"/> begin: e.g. "baseline decay 0.9,
    /// input baseline of 100 hidden units, variance normalised with decay 0.9", each number as it reads back exactly.
    /// </summary>
    public static string Settings(double baselineDecay, int inputBaselineHiddenUnits, bool normalizeVariance, double varianceDecay)
        => FormattableString.Invariant($"baseline decay {baselineDecay:R}, input baseline of {inputBaselineHiddenUnits} hidden units, ") +
           (normalizeVariance ? FormattableString.Invariant($"variance normalised with decay {varianceDecay:R}") : "variance not normalised");

    public static void Save(StateSection section, ReadOnlySpan<double> baselines, ReadOnlySpan<double> variances, bool started)
    {
        section.Write(Baselines, baselines);
        section.Write(Variances, variances);
        section.Write(Started, started ? 1 : 0);
    }

    /// <summary>The <paramref name="count"/> baselines and variances and the started flag; <see cref="InvalidDataException"/> when one is not finite or a variance is negative.</summary>
    public static (double[] Baselines, double[] Variances, bool Started) Read(StateSection section, int count)
    {
        double[] baselines = section.ReadDoubles(Baselines, count).ToArray(), variances = section.ReadDoubles(Variances, count).ToArray();
        for (int i = 0; i < count; i++)
            if (!double.IsFinite(baselines[i]) || !(variances[i] >= 0 && double.IsFinite(variances[i])))
                throw new InvalidDataException($"The training state of {section.Owner} has the baseline {baselines[i]} and variance {variances[i]} for signal {i}: they must be finite, the variance ≥ 0.");
        return (baselines, variances, section.ReadDouble(Started) != 0);
    }

    /// <summary>
    /// Throws <see cref="InvalidDataException"/> when the section holds an entry that neither the running estimates nor
    /// <paramref name="inputBaselines"/> keep: a state recorded with an input-dependent baseline, given to the rule without one
    /// (InputBaselineHiddenUnits = 0), would otherwise lose the baseline's weights without a word. (The optimisers' own sections
    /// refuse such a state first, as its parameters differ; an optimiser that keeps no state would not.)
    /// </summary>
    public static void RefuseOtherEntries(StateSection section, IEnumerable<InputDependentBaseline?> inputBaselines)
    {
        var kept = new HashSet<string>([Baselines, Variances, Started], StringComparer.Ordinal);
        foreach (InputDependentBaseline? baseline in inputBaselines)
            if (baseline is not null) kept.UnionWith(baseline.Parameters.Select(p => p.Name));
        foreach (string name in section.Names)
            if (!kept.Contains(name))
                throw new InvalidDataException($"The training state of {section.Owner} holds '{name}', which this rule does not keep: it is from " +
                    "the rule with other options (an input-dependent baseline: InputBaselineHiddenUnits) or from another rule.");
    }

    /// <summary>
    /// The mean of a batch's other rows' signals, from the batch's <paramref name="mean"/> over <paramref name="rows"/> and this row's
    /// <paramref name="value"/>: a baseline independent of the row's own sample (0 for a batch of one row, which has no other).
    /// </summary>
    public static double MeanOfOthers(double mean, double value, int rows) => rows > 1 ? (mean * rows - value) / (rows - 1) : 0;
}
