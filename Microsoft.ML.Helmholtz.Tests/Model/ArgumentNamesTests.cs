using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Evaluation;
using Microsoft.ML.Helmholtz.Learning;
using Microsoft.ML.Helmholtz.Learning.Rules;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Temporal;

namespace Microsoft.ML.Helmholtz.Tests.Model;

/// <summary>
/// A refused argument is named by its parameter's name (<see cref="ArgumentException.ParamName"/>), as the caller wrote it, not
/// by a phrase of the message or by an argument of a call inside; the message still says it in words.
/// </summary>
[TestClass]
public sealed class ArgumentNamesTests
{
    private static void Named<TException>(Action call, string paramName, string message) where TException : ArgumentException
    {
        var e = Assert.ThrowsExactly<TException>(call, paramName);
        Assert.AreEqual(paramName, e.ParamName, e.Message);
        StringAssert.Contains(e.Message, message, paramName);
    }

    [TestMethod]
    public void TheLearningRateScheduleNamesItsArgumentsAndSaysThemInWords()
    {
        // The names were the phrases ("the initial learning rate"), which no caller could match to an argument.
        Named<ArgumentOutOfRangeException>(() => new LearningRateSchedule(-1), "Initial", "the initial learning rate must be positive and finite; got -1.");
        Named<ArgumentOutOfRangeException>(() => new LearningRateSchedule(1e-50), "Initial", "the initial learning rate = 1E-50 is zero in single precision");
        Named<ArgumentOutOfRangeException>(() => new LearningRateSchedule(0.1, 2), "DecayPerEpoch", "the learning-rate decay per epoch must lie in (0, 1]; got 2.");
        Named<ArgumentOutOfRangeException>(() => new LearningRateSchedule(0.1, 1, double.NaN), "Minimum", "the minimum learning rate must be finite and at least 0; got NaN.");
        Named<ArgumentOutOfRangeException>(() => _ = new LearningRateSchedule(0.1) with { Minimum = -1 }, "Minimum", "the minimum learning rate must be finite");
    }

    /// <summary>
    /// The array-length check every buffer's size passes through allows a length of exactly <see cref="Array.MaxLength"/> (one array
    /// holds it) and refuses one more, naming the caller's argument: an off-by-one there refused the largest size that fits.
    /// </summary>
    [TestMethod]
    public void AnArrayOfExactlyTheMostValuesIsAllowedAndOneMoreIsNamed()
    {
        // Only the product is computed, nothing allocated: the check is called before any buffer.
        Assert.AreEqual(Array.MaxLength, Requires.ArrayLength("rows", "The test's buffer", "use fewer rows", Array.MaxLength, 1));
        Assert.AreEqual(Array.MaxLength, Requires.ArrayLength("rows", "The test's buffer", "use fewer rows", 1, Array.MaxLength));
        Named<ArgumentOutOfRangeException>(() => Requires.ArrayLength("rows", "The test's buffer", "use fewer rows", Array.MaxLength + 1L, 1),
            "rows", "more than one array holds");
    }

    /// <summary>
    /// A message quotes text of at most the most characters whole and cuts a longer one to that many, the last three "...":
    /// an off-by-one would cut an architecture of exactly 80 characters, which fits, to 77 and "...".
    /// </summary>
    [TestMethod]
    public void TextOfExactlyTheMostCharactersIsQuotedWholeAndOneMoreIsCut()
    {
        string most = new('a', 80);
        Assert.AreEqual(most, Requires.Shortened(most));
        Assert.AreEqual(new string('a', 77) + "...", Requires.Shortened(most + "b"));
        Assert.AreEqual("abc", Requires.Shortened("abc", 3));
        Assert.AreEqual("a...", Requires.Shortened("abcde", 4));
    }

    [TestMethod]
    public void ATemporalModelOfTooManyRecurrentUnitsNamesThemBeforeAllocating()
    {
        // 100,000 units: the LSTM's input weights would hold 3.1 × 10⁸ values. The LSTM refused them naming its rows.
        long before = GC.GetAllocatedBytesForCurrentThread();
        Named<ArgumentOutOfRangeException>(() => TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("784b-200g"), 100_000, 1), "recurrentUnits",
            "100,000 recurrent units make the parameter temporal.lstm.Wx of 313,600,000 values, more than the 268,435,456 a parameter may hold");
        Assert.IsTrue(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20, "refused before the frame machine was made");
        Named<ArgumentOutOfRangeException>(() => TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("4b-3b"), 1 << 28, 1), "recurrentUnits",
            "268,435,456 recurrent units make the parameter temporal.lstm.Wx");
    }

    [TestMethod]
    public void SequencesAreNamedAsTheArgumentThatHoldsThem()
    {
        var model = TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("4b-3g"), 3, 1);
        var empty = new SequenceSet(0, 3, 1, 4, []);
        var wrongSize = new SequenceSet(2, 3, 1, 5, new float[2 * 3 * 5]);
        var trainer = new TemporalTrainer(new Nvil(), new TemporalTrainingOptions { Epochs = 1, BatchSequences = 2 });
        // The message says "training sequences"; the parameter is training (it was the phrase).
        Named<ArgumentException>(() => trainer.Train(model, empty), "training", "training sequences is empty");
        Named<ArgumentException>(() => trainer.Train(model, wrongSize), "training", "training sequences has frames of 5 values");
        Named<ArgumentException>(() => TemporalEvaluation.LogLikelihoodPerFrame(model, empty, 2), "data", "sequences is empty");
        Named<ArgumentException>(() => TemporalEvaluation.LogLikelihoodPerFrame(model, wrongSize, 2), "data", "sequences has frames of 5 values");
    }

    [TestMethod]
    public void ACountOrSampleNumberBelowZeroIsNamedAsSuch()
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("4b-3b"), 1);
        var scorer = new FixedNoiseLogLikelihood(machine, 10, 3).CreateScorer();
        // The rows were blamed, measured by a count of −1.
        Named<ArgumentOutOfRangeException>(() => scorer.Estimate(new float[4], -1, new double[1]), "count", "must be a non-negative value");
        // Spans too short for the rows are named before any row is scored (they failed on the second row's write, unnamed).
        Named<ArgumentException>(() => scorer.Estimate(new float[8], 2, new double[1]), "result", "result holds 1 values, fewer than the 2 rows");
        Named<ArgumentException>(() => scorer.Estimate(new float[8], 2, new double[2], new double[1]), "monteCarloVariance", "monteCarloVariance holds 1 values");
        // Chunks of no rows would never end a row's samples.
        Named<ArgumentOutOfRangeException>(() => new FixedNoiseLogLikelihood(machine, 100, 3, rowsPerChunk: 0), "rowsPerChunk", "must be a non-negative and non-zero value");
        // An estimate of no samples was summarised as one of K = −1.
        foreach (int samples in new[] { 0, -1 })
            Named<ArgumentOutOfRangeException>(() => LogLikelihoodEstimate.FromPerExample([-1.0], [0.0], samples), "samples", "must be a non-negative and non-zero value");
        Assert.AreEqual(5, LogLikelihoodEstimate.FromPerExample([-1.0], [0.0], 5).SamplesPerExample);
        // A sequence of no frames was blamed on the sequence: "holds 0 values, not 0 frames of 4".
        var temporal = new TemporalFixedNoiseLogLikelihood(TemporalHelmholtzMachine.Create(HelmholtzArchitecture.Parse("4b-3g"), 3, 1), 5);
        foreach (int frames in new[] { 0, -1 })
            Named<ArgumentOutOfRangeException>(() => temporal.Score([], frames, new double[1]), "frames", "must be a non-negative and non-zero value");
        // A result one frame short is refused before anything is scored, as the scorer of rows refuses it.
        Named<ArgumentException>(() => temporal.Score(new float[8], 2, new double[1]), "result", "result holds 1 values, fewer than the 2 frames");
    }
}
