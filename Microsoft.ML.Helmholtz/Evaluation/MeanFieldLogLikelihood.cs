using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Learning;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Evaluation;

/// <summary>
/// The mean-field baseline (the seed's first special case): for each example its own fully
/// factorised q(h) = Π_l N(h_l; μ_l, diag e^{s_l}), with no recognition network, μ and s optimised
/// for that example by stochastic back-propagation of F̂ = ln q − ln p(x, h) through the generative
/// model (Adam, one sample per step), then ln p(x) estimated by importance sampling with K samples
/// from it. Started from the recognition network's marginals, the gain over its own estimate is what
/// per-example optimisation adds to the amortised q (the amortisation gap); started from N(0, I), it
/// shows what the recognition network buys. Gaussian hidden layers only (a binary q would need
/// score-function steps). The generative model is a private copy and does not change. Cancellation is
/// checked at every optimisation step and every sample; an estimate that is not finite (an optimisation
/// that diverged) is refused with <see cref="TrainingDivergedException"/> rather than returned as NaN.
/// Safe from several threads: each call works on a copy of its own.
/// </summary>
public sealed class MeanFieldLogLikelihood
{
    /// <param name="samples">K, importance samples for the final estimate.</param>
    /// <param name="steps">Optimisation steps per example.</param>
    /// <param name="learningRate">Adam's rate for μ and s.</param>
    /// <param name="startFromRecognition">Start at the recognition network's marginals (else at N(0, I)).</param>
    /// <param name="seed">Seeds every draw (the optimisation's and the estimate's).</param>
    /// <param name="examplesPerBatch">Examples optimised together (each with its own q).</param>
    public MeanFieldLogLikelihood(int samples, int steps = 100, double learningRate = 0.02, bool startFromRecognition = true, ulong seed = 1, int examplesPerBatch = 100)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(samples);
        ArgumentOutOfRangeException.ThrowIfNegative(steps);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(examplesPerBatch);
        Samples = samples;
        Steps = steps;
        LearningRate = Requires.PositiveInSinglePrecision(learningRate, nameof(learningRate));
        StartFromRecognition = startFromRecognition;
        Seed = seed;
        ExamplesPerBatch = examplesPerBatch;
    }

    /// <summary>K, the importance samples for the final estimate; positive.</summary>
    public int Samples { get; }
    /// <summary>Adam steps per example; 0 scores q where it starts.</summary>
    public int Steps { get; }
    /// <summary>Adam's learning rate for μ and s; positive and finite in single precision.</summary>
    public double LearningRate { get; }
    /// <summary>True to start each q at the recognition network's marginals, false to start at N(0, I).</summary>
    public bool StartFromRecognition { get; }
    /// <summary>Seed of every draw, the optimisation's and the estimate's.</summary>
    public ulong Seed { get; }
    /// <summary>Examples optimised together, each with its own q; positive.</summary>
    public int ExamplesPerBatch { get; }

    /// <summary>The mean estimate over <paramref name="data"/>, with its standard error over examples and its Monte Carlo error.</summary>
    public LogLikelihoodEstimate Estimate(HelmholtzMachine machine, DataMatrix data, IProgress<double>? progress = null, CancellationToken cancellationToken = default)
    {
        var (values, variances) = Run(machine, data, progress, cancellationToken);
        return LogLikelihoodEstimate.FromPerExample(values, variances, Samples);
    }

    /// <summary>The estimate of ln p(x) for each row of <paramref name="data"/>.</summary>
    public double[] EstimatePerExample(HelmholtzMachine machine, DataMatrix data, CancellationToken cancellationToken = default)
        => Run(machine, data, null, cancellationToken).Values;

    private (double[] Values, double[] Variances) Run(HelmholtzMachine original, DataMatrix data, IProgress<double>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(original);
        ArgumentNullException.ThrowIfNull(data);
        var arch = original.Architecture;
        for (int l = 1; l <= arch.Depth; l++)
            if (!arch.Layers[l].Units.HasReparameterizedSamples)
                throw new NotSupportedException($"The mean-field baseline needs Gaussian hidden layers, but hidden layer {l} ({arch.Layers[l]}) is {arch.Layers[l].Units.Name}.");
        DataValidation.Validate(data.Values, data.Rows, data.Columns, arch.Visible, "data");
        int n = data.Rows, batch = Math.Min(ExamplesPerBatch, n), depth = arch.Depth, d = arch.Visible.Size;
        // A batch's rows pass through every layer and a dozen per-layer buffers: checked before any is allocated.
        original.RequireRows(batch, "examplesPerBatch", $"Batches of {batch} examples (examplesPerBatch = {ExamplesPerBatch})", "use a smaller examplesPerBatch");
        HelmholtzMachine machine = original.Clone();
        MachineFile.RequireFiniteToScore(machine.Parameters);
        var random = new RandomStream(Seed);
        var states = new LayerStates(arch, batch);
        float[][] PerLayer() => Enumerable.Range(0, depth + 1).Select(l => l == 0 ? [] : new float[batch * arch.Layers[l].Size]).ToArray();
        float[][] mu = PerLayer(), s = PerLayer(), mMu = PerLayer(), vMu = PerLayer(), mS = PerLayer(), vS = PerLayer(), eps = PerLayer(), gH = PerLayer(), gS = PerLayer();
        var logJoint = new double[batch];
        var minusOne = Enumerable.Repeat(-1f, batch).ToArray();
        var values = new double[n];
        var variances = new double[n];
        var sums = new LogSumExpAccumulator[batch];

        for (int first = 0; first < n; first += batch)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int rows = Math.Min(batch, n - first);
            data.Values.AsSpan(first * d, rows * d).CopyTo(states.Layer(0, rows));
            Start(machine, states, rows, mu, s);
            for (int l = 1; l <= depth; l++) { mMu[l].AsSpan().Clear(); vMu[l].AsSpan().Clear(); mS[l].AsSpan().Clear(); vS[l].AsSpan().Clear(); }

            for (int step = 1; step <= Steps; step++)
            {
                // Each step and each sample below is a pass over the whole batch: a check there costs nothing measurable,
                // and a batch of many steps or samples takes seconds.
                cancellationToken.ThrowIfCancellationRequested();
                Draw(random, states, rows, mu, s, eps);
                logJoint.AsSpan(0, rows).Clear();
                machine.Generative.AccumulateLogJoint(states, rows, logJoint);
                // ∂(−ln p(x, h))/∂h_l for every hidden layer: the generative layers' output and input gradients.
                for (int l = 1; l <= depth; l++) gH[l].AsSpan(0, rows * arch.Layers[l].Size).Clear();
                var gen = machine.Generative;
                for (int l = 0; l < depth; l++)
                    gen.Layers[l].AccumulateLogProbGradient(states.Layer(l, rows), states.Layer(l + 1, rows), rows, minusOne,
                        gH[l + 1].AsSpan(0, rows * arch.Layers[l + 1].Size), l == 0 ? default : gH[l].AsSpan(0, rows * arch.Layers[l].Size));
                gen.Prior.AccumulateLogProbGradient(states.Layer(depth, rows), default, rows, minusOne, default, gH[depth].AsSpan(0, rows * arch.Layers[depth].Size));
                float stepSize = (float)(LearningRate * Math.Sqrt(1 - Math.Pow(0.999, step)) / (1 - Math.Pow(0.9, step)));
                for (int l = 1; l <= depth; l++)
                {
                    int count = rows * arch.Layers[l].Size;
                    // h = μ + σ ε: dF̂/dμ = g, dF̂/ds = g ½ σ ε − ½ (the entropy term ln q = −½ Σ (ε² + s + ln 2π)).
                    for (int i = 0; i < count; i++) gS[l][i] = gH[l][i] * 0.5f * MathF.Exp(0.5f * s[l][i]) * eps[l][i] - 0.5f;
                    Kernels.AdamUpdate(mu[l].AsSpan(0, count), gH[l].AsSpan(0, count), mMu[l].AsSpan(0, count), vMu[l].AsSpan(0, count), 0.9f, 0.999f, stepSize, 1e-8f);
                    Kernels.AdamUpdate(s[l].AsSpan(0, count), gS[l].AsSpan(0, count), mS[l].AsSpan(0, count), vS[l].AsSpan(0, count), 0.9f, 0.999f, stepSize, 1e-8f);
                }
            }

            // ln p(x) ≈ ln (1/K) Σ_k p(x, h_k) / q(h_k), h_k ~ the optimised q.
            Array.Fill(sums, LogSumExpAccumulator.Empty);
            for (int k = 0; k < Samples; k++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                Draw(random, states, rows, mu, s, eps);
                logJoint.AsSpan(0, rows).Clear();
                machine.Generative.AccumulateLogJoint(states, rows, logJoint);
                for (int r = 0; r < rows; r++)
                {
                    double logQ = 0;
                    for (int l = 1; l <= depth; l++)
                    {
                        int size = arch.Layers[l].Size;
                        for (int i = r * size; i < (r + 1) * size; i++) logQ -= 0.5 * (eps[l][i] * (double)eps[l][i] + s[l][i] + Kernels.LogTwoPi);
                    }
                    sums[r].Add(logJoint[r] - logQ);
                }
            }
            for (int r = 0; r < rows; r++)
            {
                values[first + r] = sums[r].Value - Math.Log(Samples);
                variances[first + r] = sums[r].LogMeanVariance;
                if (!double.IsFinite(values[first + r])) throw NotFinite(first + r, values[first + r]);
            }
            progress?.Report((double)(first + rows) / n);
        }
        return (values, variances);
    }

    /// <summary>
    /// The refusal of an estimate that is not finite: a NaN or ±∞ would otherwise pass into the mean unseen. Nearly always the
    /// per-example optimisation diverged (too large a learning rate sends e^{s} past a float; so can values far out of the model's range).
    /// </summary>
    private TrainingDivergedException NotFinite(int example, double value)
        => new(Steps > 0
            ? $"The mean-field estimate of example {example} is {value}: its per-example optimisation diverged ({Steps} Adam steps at learningRate = {LearningRate}). " +
              "Use a smaller learningRate, or check the example's values and the machine's parameters (either may be extreme)."
            : $"The mean-field estimate of example {example} is {value} with no optimisation steps: the example's values or the machine's parameters may be extreme.");

    /// <summary>μ and s at the recognition network's marginals along its deterministic pass, or at 0 (N(0, I)).</summary>
    private void Start(HelmholtzMachine machine, LayerStates states, int rows, float[][] mu, float[][] s)
    {
        var arch = machine.Architecture;
        for (int l = 1; l <= arch.Depth; l++)
        {
            int count = rows * arch.Layers[l].Size;
            if (!StartFromRecognition) { mu[l].AsSpan(0, count).Clear(); s[l].AsSpan(0, count).Clear(); continue; }
            var layer = machine.Recognition.Layer(l);
            layer.Forward(l == 1 ? states.Layer(0, rows) : mu[l - 1].AsSpan(0, rows * arch.Layers[l - 1].Size), rows);
            if (!layer.TryGaussianMarginals(rows, mu[l].AsSpan(0, count), s[l].AsSpan(0, count)))
                throw new NotSupportedException($"Recognition layer {l} ({layer.GetType().Name}) has no Gaussian marginals to start from; start from N(0, I) instead.");
        }
    }

    /// <summary>h_l = μ_l + e^{s_l/2} ε_l into the states, keeping ε.</summary>
    private static void Draw(RandomStream random, LayerStates states, int rows, float[][] mu, float[][] s, float[][] eps)
    {
        for (int l = 1; l < states.LayerCount; l++)
        {
            int count = rows * states.Architecture.Layers[l].Size;
            random.FillNormal(eps[l].AsSpan(0, count));
            Kernels.Reparameterize(mu[l].AsSpan(0, count), s[l].AsSpan(0, count), eps[l].AsSpan(0, count), states.Layer(l, rows));
        }
    }
}
