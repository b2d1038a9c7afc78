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
    public NaiveLogLikelihood(int samples, ulong seed = 1, int samplesPerChunk = 1000)
    {
        if (samples <= 0) throw new ArgumentOutOfRangeException(nameof(samples), "K, the number of prior samples, must be positive.");
        if (samplesPerChunk <= 0) throw new ArgumentOutOfRangeException(nameof(samplesPerChunk), "samplesPerChunk must be positive.");
        Samples = samples;
        Seed = seed;
        SamplesPerChunk = samplesPerChunk;
    }

    public int Samples { get; }
    public ulong Seed { get; }
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

        for (int first = 0; first < Samples; first += chunk)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int k = Math.Min(chunk, Samples - first);
            machine.Generative.Dream(random, k, states);  // leaves the visible layer's forward on h1
            // The data's terms use the layer's per-unit parameters, the same for every dream: once.
            if (first == 0) visible.OutputTerms(data.Values, n, xTilde, exampleConstant);
            visible.InputFeatures(k, features, sampleConstant);
            engine.Gemm(false, true, n, k, d, 1f, xTilde, d, features, d, 0f, products, k);
            for (int e = 0; e < n; e++)
                for (int s = 0; s < k; s++)
                    sums[e].Add(products[e * k + s] + sampleConstant[s] + exampleConstant[e]);
        }

        double logK = Math.Log(Samples);
        var result = new double[n];
        var variances = new double[n];
        for (int e = 0; e < n; e++)
        {
            result[e] = sums[e].Value - logK;
            variances[e] = sums[e].LogMeanVariance;
        }
        return (result, variances);
    }
}
