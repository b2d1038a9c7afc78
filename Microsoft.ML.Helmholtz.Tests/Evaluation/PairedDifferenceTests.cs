using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Evaluation;
using Microsoft.ML.Helmholtz.Tests.Support;

namespace Microsoft.ML.Helmholtz.Tests.Evaluation;

/// <summary>The paired comparison of two models' per-example estimates, and the estimate that gives them.</summary>
[TestClass]
public sealed class PairedDifferenceTests
{
    [TestMethod]
    public void TheMeanAndStandardErrorAreThoseOfTheDifferences()
    {
        // Differences 1, 2, 3, 6: mean 3, sample variance (4 + 1 + 0 + 9) / 3 = 14/3, standard error √(14/3 / 4).
        double[] first = [-90, -100, -80, -120];
        double[] second = [-91, -102, -83, -126];
        var d = PairedDifference.Of(first, second);
        Assert.AreEqual(3.0, d.Mean, 1e-12);
        Assert.AreEqual(Math.Sqrt(14.0 / 3 / 4), d.StandardError, 1e-12);
        Assert.AreEqual(4, d.Examples);
        Assert.AreEqual(-3.0, PairedDifference.Of(second, first).Mean, 1e-12);
        // A shift common to every example leaves the error at 0, however much the examples differ.
        var shifted = PairedDifference.Of(first, first.Select(v => v - 0.5).ToArray());
        Assert.AreEqual(0.5, shifted.Mean, 1e-12);
        Assert.AreEqual(0.0, shifted.StandardError, 1e-12);
        Assert.IsTrue(double.IsNaN(PairedDifference.Of([1.0], [0.0]).StandardError), "no spread from one example");
        StringAssert.StartsWith(d.ToString(), "3.00 ± 1.08 nats (4 examples");
    }

    [TestMethod]
    public void MismatchedEmptyOrNonFiniteEstimatesAreNamed()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => PairedDifference.Of([1.0, 2.0], [1.0]));
        StringAssert.Contains(e.Message, "2 estimates against 1");
        Assert.AreEqual("second", e.ParamName);
        Assert.AreEqual("first", Assert.ThrowsExactly<ArgumentException>(() => PairedDifference.Of([], [])).ParamName);
        e = Assert.ThrowsExactly<ArgumentException>(() => PairedDifference.Of([1.0, double.NaN], [1.0, 2.0]));
        StringAssert.Contains(e.Message, "Estimate 1 is NaN");
        Assert.AreEqual("first", e.ParamName);
        e = Assert.ThrowsExactly<ArgumentException>(() => PairedDifference.Of([1.0, 2.0], [double.NegativeInfinity, 2.0]));
        Assert.AreEqual("second", e.ParamName);
    }

    [TestMethod]
    public void TheEstimateGivesThePerExampleValuesItSummarises()
    {
        var machine = TestModels.Random("10b-4b-3b", 81, scale: 0.8f);
        var data = new DataMatrix(3, 10, [1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 0, 0, 0, 1, 1, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1]);
        var estimator = new ImportanceSampledLogLikelihood(50, seed: 82) { Parallelism = 2 };
        LogLikelihoodEstimate summary = estimator.Estimate(machine, data, out double[] perExample);
        CollectionAssert.AreEqual(estimator.EstimatePerExample(machine, data), perExample, "the same seed gives the same values");
        Assert.AreEqual(perExample.Average(), summary.Mean, 1e-12);
        Assert.AreEqual(summary, estimator.Estimate(machine, data));
        // Two different machines on the same rows: the paired mean is the difference of the means.
        double[] other = new ImportanceSampledLogLikelihood(50, seed: 82).EstimatePerExample(TestModels.Random("10b-4b-3b", 83, scale: 0.8f), data);
        Assert.AreEqual(summary.Mean - other.Average(), PairedDifference.Of(perExample, other).Mean, 1e-12);
    }

    // The Monte Carlo error combines the per-example variances as the estimators' samples allow: variances add for samples drawn per
    // example (√Σv / N), and for samples shared by every example (the naive estimator's dreams) it is the mean of the errors (Σ√v / N).
    [TestMethod]
    public void TheMonteCarloErrorAddsVariancesOnlyForIndependentSamples()
    {
        double[] values = [-10, -12, -11, -13], variances = [0.04, 0.16, 0.09, 0.25];
        var independent = LogLikelihoodEstimate.FromPerExample(values, variances, 7);
        Assert.AreEqual(Math.Sqrt(0.54) / 4, independent.MonteCarloStandardError, 1e-12);
        var shared = LogLikelihoodEstimate.FromPerExample(values, variances, 7, samplesShared: true);
        Assert.AreEqual((0.2 + 0.4 + 0.3 + 0.5) / 4, shared.MonteCarloStandardError, 1e-12);
        // The rest of the summary does not depend on how the samples were drawn.
        Assert.AreEqual(-11.5, shared.Mean, 1e-12);
        Assert.AreEqual(independent.StandardErrorOverExamples, shared.StandardErrorOverExamples);
        Assert.AreEqual(7, shared.SamplesPerExample);
        // The text samples print: every number in its own place (N = 4 and K = 7, standard error over examples √(5/3/4) = 0.65,
        // Monte Carlo error 0.184), so that no two are swapped.
        Assert.AreEqual("-11.50 nats (4 examples, K = 7; standard error over examples 0.65, Monte Carlo standard error 0.184)", independent.ToString());
    }

    /// <summary>
    /// A summary of per-example values refuses a NaN or +∞ value and a negative variance, naming the index: it gave "NaN nats" and a
    /// Monte Carlo error of NaN. −∞ (a density of 0 in float) and a NaN variance (one sample) are estimates it takes.
    /// </summary>
    [TestMethod]
    public void ASummaryRefusesValuesNoEstimatorGives()
    {
        foreach (var (values, variances, parameter, index) in new (double[], double[], string, string)[]
                 {
                     ([double.NaN, 1], [0, 0], "perExample", "perExample[0] is NaN"),
                     ([1, double.PositiveInfinity], [0, 0], "perExample", "perExample[1] is "),
                     ([1, 1], [-4, 0], "monteCarloVariance", "monteCarloVariance[0] is -4"),
                     ([1, 1], [0, -1e-9], "monteCarloVariance", "monteCarloVariance[1] is "),   // the bound is 0 itself
                     ([1, 1], [0, 0, 4], "monteCarloVariance", "3 variances for 2 examples"),   // a variance too many entered the error
                 })
        {
            var e = Assert.ThrowsExactly<ArgumentException>(() => LogLikelihoodEstimate.FromPerExample(values, variances, 3));
            Assert.AreEqual(parameter, e.ParamName);
            StringAssert.Contains(e.Message, index);
        }
        var estimate = LogLikelihoodEstimate.FromPerExample([double.NegativeInfinity, -3], [double.NaN, 0.5], 1);
        Assert.AreEqual(double.NegativeInfinity, estimate.Mean);
        Assert.AreEqual(0.0, LogLikelihoodEstimate.FromPerExample([1, 2], [0, 0], 3).MonteCarloStandardError, "a variance of 0 (equal weights) is taken");
    }

    // A second list longer than the first was taken, its extra estimates dropped unseen: the two must score the same examples.
    [TestMethod]
    public void ASecondListLongerThanTheFirstIsRefused()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => PairedDifference.Of([1.0], [1.0, 2.0]));
        Assert.AreEqual("second", e.ParamName);
        StringAssert.Contains(e.Message, "1 estimates against 2");
    }

    // A summary of no examples is refused, naming them (without the check it gave a mean and errors of NaN).
    [TestMethod]
    public void ASummaryOfNoExamplesIsRefused()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => LogLikelihoodEstimate.FromPerExample([], [], 3));
        Assert.AreEqual("perExample", e.ParamName);
    }

    // An infinite estimate is refused in either list, as NaN is: a −∞ in the first list (a density of 0 in float) gave a mean
    // difference of −∞ and a standard error of NaN, as if two models had been compared.
    [TestMethod]
    public void AnInfiniteEstimateInEitherListIsRefusedNamingTheList()
    {
        foreach (double bad in new[] { double.NegativeInfinity, double.PositiveInfinity })
        {
            var e = Assert.ThrowsExactly<ArgumentException>(() => PairedDifference.Of([1.0, bad], [1.0, 2.0]));
            Assert.AreEqual("first", e.ParamName, $"{bad} in the first list");
            StringAssert.Contains(e.Message, "Estimate 1 is");
            Assert.AreEqual("second", Assert.ThrowsExactly<ArgumentException>(() => PairedDifference.Of([1.0, 2.0], [bad, 2.0])).ParamName, $"{bad} in the second list");
        }
    }

    // An empty first list is refused as empty, naming it, whatever the second holds: not as a mismatch blamed on the second list.
    [TestMethod]
    public void AnEmptyFirstListIsRefusedAsEmptyWhateverTheSecondHolds()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => PairedDifference.Of([], [1.0, 2.0]));
        Assert.AreEqual("first", e.ParamName);
        StringAssert.Contains(e.Message, "At least one example");
    }
}
