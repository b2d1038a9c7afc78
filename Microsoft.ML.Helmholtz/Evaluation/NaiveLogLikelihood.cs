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
        HelmholtzMachine machine = original.Clone();
        int n = data.Rows, d = data.Columns, chunk = Math.Min(SamplesPerChunk, Samples);
        var states = new LayerStates(machine.Architecture, chunk);
        var random = new RandomStream(Seed);
        var sums = new LogSumExpAccumulator[n];
        Array.Fill(sums, LogSumExpAccumulator.Empty);
        ConditionalLayer visible = machine.Generative.Layers[0];
        IMatrixEngine engine = machine.Engine;

        // Per-example constants and the data transformed so that ln p(x | h) is x̃ · φ(h) + c(h) + c(x).
        float[] xTilde = new float[n * d];
        double[] exampleConstant = new double[n];
        float[] features = new float[chunk * d];
        double[] sampleConstant = new double[chunk];
        float[] products = new float[n * chunk];
        float[]? zeros = null, precision = null;

        for (int first = 0; first < Samples; first += chunk)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int k = Math.Min(chunk, Samples - first);
            machine.Generative.Dream(random, k, states);  // leaves the visible layer's forward on h1
            if (visible is BernoulliLayer bernoulli)
            {
                // ln p(x | h) = x · a − Σ softplus(a).
                if (first == 0) data.Values.AsSpan().CopyTo(xTilde);
                ReadOnlySpan<float> a = bernoulli.Logits(k);
                a.CopyTo(features);
                // −Σ softplus(a) is ln Bernoulli(0 | sigmoid(a)): the layer's own log-probability kernel at x = 0.
                zeros ??= new float[chunk * d];
                sampleConstant.AsSpan(0, k).Clear();
                Kernels.AccumulateBernoulliLogProb(a, zeros, k, d, sampleConstant);
            }
            else
            {
                // ln p(x | h) = −½ Σ_i [(x_i − m_i)² / v_i + ln v_i + ln 2π], with v per unit:
                // x̃ = x / v, φ = m, c(h) = −½ Σ m² / v, c(x) = −½ Σ (x² / v + ln v + ln 2π).
                var gaussian = (GaussianLayer)visible;
                if (first == 0)
                {
                    // The log-variances are per unit, the same for every dream: their precisions once.
                    ReadOnlySpan<float> s0 = gaussian.LogVariances(1);
                    precision = new float[d];
                    for (int i = 0; i < d; i++) precision[i] = MathF.Exp(-s0[i]);
                    for (int e = 0; e < n; e++)
                    {
                        double c = 0;
                        for (int i = 0; i < d; i++)
                        {
                            float x = data.Values[e * d + i];
                            xTilde[e * d + i] = x * precision[i];
                            c += x * x * precision[i] + s0[i] + Kernels.LogTwoPi;
                        }
                        exampleConstant[e] = -0.5 * c;
                    }
                }
                ReadOnlySpan<float> m = gaussian.Means(k);
                m.CopyTo(features);
                for (int s = 0; s < k; s++)
                {
                    double c = 0;
                    for (int i = 0; i < d; i++) c += m[s * d + i] * m[s * d + i] * precision![i];
                    sampleConstant[s] = -0.5 * c;
                }
            }
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
