using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Evaluation;

/// <summary>
/// ln p(x) ≈ ln (1/K) Σ_k p(x | h1_k) with h1_k drawn from the generative model's prior (ancestral
/// sampling down to layer 1). The same K dreams serve every example (common random numbers), so
/// ln p(x | h1_k) for all examples and samples is one matrix product per chunk of dreams. Unbiased
/// for p(x), but with a variance that grows quickly with the posterior's concentration: a
/// comparison for the importance-sampled estimator, not a replacement.
/// </summary>
public sealed class NaiveLogLikelihood
{
    /// <summary>An estimator with K = <paramref name="samples"/> dreams from the prior, shared by every example.</summary>
    /// <param name="samples">K, the samples drawn from the prior; positive.</param>
    /// <param name="seed">Seed of the random stream the dreams are drawn from.</param>
    /// <param name="samplesPerChunk">Dreams drawn and scored against all the data at once; positive. Memory grows with it times the rows scored.</param>
    public NaiveLogLikelihood(int samples, ulong seed = 1, int samplesPerChunk = 1000)
    {
        if (samples <= 0) throw new ArgumentOutOfRangeException(nameof(samples), "K, the number of prior samples, must be positive.");
        if (samplesPerChunk <= 0) throw new ArgumentOutOfRangeException(nameof(samplesPerChunk), "samplesPerChunk must be positive.");
        Samples = samples;
        Seed = seed;
        SamplesPerChunk = samplesPerChunk;
    }

    /// <summary>K, the samples drawn from the prior.</summary>
    public int Samples { get; }
    /// <summary>Seed of the random stream the dreams are drawn from.</summary>
    public ulong Seed { get; }
    /// <summary>Dreams drawn and scored at once, as given to the constructor.</summary>
    public int SamplesPerChunk { get; }

    /// <summary>The mean estimate over <paramref name="data"/>, with its standard error over examples and its Monte Carlo error.</summary>
    public LogLikelihoodEstimate Estimate(HelmholtzMachine machine, DataMatrix data, CancellationToken cancellationToken = default)
    {
        var (values, variances) = Run(machine, data, cancellationToken);
        return LogLikelihoodEstimate.FromPerExample(values, variances, Samples, samplesShared: true);
    }

    /// <summary>
    /// The estimate of ln p(x) for each row of <paramref name="data"/>. Safe to call from many
    /// threads on one machine, also while it trains: each call works on a private copy of the
    /// parameters taken at its start.
    /// </summary>
    public double[] EstimatePerExample(HelmholtzMachine machine, DataMatrix data, CancellationToken cancellationToken = default)
        => Run(machine, data, cancellationToken).Values;

    private (double[] Values, double[] Variances) Run(HelmholtzMachine original, DataMatrix data, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(original);
        ArgumentNullException.ThrowIfNull(data);
        DataValidation.Validate(data.Values, data.Rows, data.Columns, original.Architecture.Visible, "data");
        int n = data.Rows, d = data.Columns, chunk = Math.Min(SamplesPerChunk, Samples);
        // A chunk of dreams passes through every layer, and its products with all the data are one buffer: both checked before anything is allocated.
        original.RequireRows(chunk, "samplesPerChunk", $"Chunks of {chunk} prior samples (samplesPerChunk = {SamplesPerChunk}, K = {Samples})",
            "use a smaller samplesPerChunk");
        Requires.ArrayLength("samplesPerChunk", $"The products of {n} data rows with chunks of {chunk} prior samples (samplesPerChunk = {SamplesPerChunk}, K = {Samples})",
            "use a smaller samplesPerChunk, or score fewer rows per call", n, chunk);
        HelmholtzMachine machine = original.Clone();
        MachineFile.RequireFiniteToScore(machine.Parameters);
        var states = new LayerStates(machine.Architecture, chunk);
        var random = new RandomStream(Seed);
        var sums = new LogSumExpAccumulator[n];
        Array.Fill(sums, LogSumExpAccumulator.Empty);
        var visible = machine.Generative.Layers[0] as IBilinearLogProb;
        if (visible is not { IsBilinear: true })
            throw new NotSupportedException($"The naive estimator needs a visible layer whose log-probability is bilinear (IBilinearLogProb); {machine.Generative.Layers[0].GetType().Name} is not.");
        IMatrixEngine engine = machine.Engine;

        // Per-example constants and the data transformed so that ln p(x | h) is x̃ · φ(h) + c(φ) + c(x).
        float[] xTilde = new float[n * d];
        double[] exampleConstant = new double[n];
        float[] features = new float[chunk * d];
        double[] sampleConstant = new double[chunk];
        float[] products = new float[n * chunk];
        ConditionalLayer visibleLayer = machine.Generative.Layers[0];
        double[] pairLogProb = [];
        int[] everyDreamReadsOneRow = [];
        double largestExample = 0;

        // long: a count past the last chunk of a K near int.MaxValue would wrap.
        for (long first = 0; first < Samples; first += chunk)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int k = (int)Math.Min(chunk, Samples - first);
            machine.Generative.Dream(random, k, states);  // leaves the visible layer's forward on h1
            // The data's terms use the layer's per-unit parameters, the same for every dream: once.
            if (first == 0)
            {
                visible.OutputTerms(data.Values, n, xTilde, exampleConstant);
                largestExample = LargestRowNorm(xTilde, n, d);
            }
            visible.InputFeatures(k, features, sampleConstant);
            if (FloatProductsResolve(largestExample, LargestRowNorm(features, k, d), d))
            {
                engine.Gemm(false, true, n, k, d, 1f, xTilde, d, features, d, 0f, products, k);
                for (int e = 0; e < n; e++)
                    for (int s = 0; s < k; s++)
                        sums[e].Add(products[e * k + s] + sampleConstant[s] + exampleConstant[e]);
                continue;
            }
            // Statistics so large that x̃ · φ in float loses more than the tolerance (or passes float): each example's
            // ln p(x | h) under every dream from the layer's own kernel, which forms each unit's term in double as the
            // other estimators do, k × d terms an example instead of one product.
            if (pairLogProb.Length < k) (pairLogProb, everyDreamReadsOneRow) = (new double[k], new int[k]);
            for (int e = 0; e < n; e++)
            {
                Array.Clear(pairLogProb, 0, k);
                visibleLayer.AccumulateLogProb(data.Values.AsSpan(e * d, d), 1, everyDreamReadsOneRow.AsSpan(0, k), k, pairLogProb);
                for (int s = 0; s < k; s++)
                    sums[e].Add(pairLogProb[s]);   // a NaN is kept, and refused below
            }
        }

        double logK = Math.Log(Samples);
        for (int e = 0; e < n; e++)
            if (double.IsNaN(sums[e].Value)) throw NotScoreable(visibleLayer);
        var result = new double[n];
        var variances = new double[n];
        for (int e = 0; e < n; e++)
        {
            result[e] = sums[e].Value - logK;
            variances[e] = sums[e].LogMeanVariance;
        }
        return (result, variances);
    }

    /// <summary>The tolerance, in nats, for the expected rounding error of a float product x̃ · φ.</summary>
    internal const double ProductTolerance = 0.1;

    /// <summary>
    /// Whether float products of rows of these Euclidean norms (at most) are exact enough: their expected rounding error,
    /// 2⁻²⁴ √d ‖x̃‖ ‖φ‖ (a sum of d rounded terms, each at most ‖x̃‖ ‖φ‖ in all), within <see cref="ProductTolerance"/>, and both finite.
    /// Machines of ordinary weights are well inside it; weights near 10⁵ and more are not.
    /// </summary>
    private static bool FloatProductsResolve(double largestExample, double largestFeatures, int d)
        => Math.ScaleB(Math.Sqrt(d) * largestExample * largestFeatures, -24) <= ProductTolerance;

    /// <summary>The largest Euclidean norm of the rows of a [rows × d] matrix, in double; NaN or ∞ where a value is not finite.</summary>
    private static double LargestRowNorm(ReadOnlySpan<float> values, int rows, int d)
    {
        double largest = 0;
        for (int r = 0; r < rows; r++)
        {
            double sum = 0;
            foreach (float v in values.Slice(r * d, d)) sum += (double)v * v;
            if (double.IsNaN(sum)) return double.NaN;
            largest = Math.Max(largest, sum);
        }
        return Math.Sqrt(largest);
    }

    private static NotFiniteNumberException NotScoreable(ConditionalLayer visible)
        => new($"ln p(X_0 | X_1), generative layer 0's term, is NaN under a prior sample: its statistics pass what single precision holds" +
            $"{HelmholtzMachine.LargestParameter(visible)}. The estimators compute in float and cannot score this machine.", double.NaN);
}
