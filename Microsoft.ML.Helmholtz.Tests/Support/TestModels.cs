using Microsoft.ML.Helmholtz.Learning;
using Microsoft.ML.Helmholtz.Learning.Rules;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Tests.Support;

/// <summary>Small machines, random states, finite differences and exact enumeration for the tests.</summary>
internal static class TestModels
{
    /// <summary>A machine with every parameter random (biases and log-variances too), so no gradient is trivially zero.</summary>
    public static HelmholtzMachine Random(string architecture, ulong seed, float scale = 0.5f, IMatrixEngine? engine = null)
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse(architecture), seed, engine);
        var random = new RandomStream(seed + 1000);
        foreach (Parameter p in machine.Parameters)
        {
            float[] noise = new float[p.Length];
            random.FillNormal(noise);
            for (int i = 0; i < p.Length; i++) p.Value[i] = p.Role == ParameterRole.Weight ? p.Value[i] + scale * noise[i] : scale * noise[i];
        }
        return machine;
    }

    /// <summary>A copy of each parameter's values, in order: what a machine (or a temporal model) holds now, to compare with later.</summary>
    public static float[][] Snapshot(IEnumerable<Parameter> parameters) => parameters.Select(p => p.Value.ToArray()).ToArray();

    /// <summary>Each parameter holds exactly the values of <paramref name="expected"/> (a <see cref="Snapshot"/>); a failure names the parameter, after <paramref name="context"/>.</summary>
    public static void AssertParameters(float[][] expected, IReadOnlyList<Parameter> parameters, string? context = null)
    {
        for (int i = 0; i < expected.Length; i++)
            CollectionAssert.AreEqual(expected[i], parameters[i].Value, context is null ? parameters[i].Name : $"{context}: {parameters[i].Name}");
    }

    /// <summary>Each parameter holds exactly the values the same-numbered parameter of <paramref name="expected"/> (another machine's) holds now.</summary>
    public static void AssertParameters(IEnumerable<Parameter> expected, IReadOnlyList<Parameter> parameters, string? context = null)
        => AssertParameters(Snapshot(expected), parameters, context);

    /// <summary>One step of <paramref name="rule"/> on the first <paramref name="rows"/> rows of <paramref name="states"/> (one sample each); the mean F̂.</summary>
    public static double AccumulateGradients(this ILearningRule rule, HelmholtzMachine machine, LayerStates states, int rows, RandomStream random)
        => rule.AccumulateGradients(machine, new TrainingBatch(states, rows, random)).FreeEnergy;

    /// <summary>NVIL or REINFORCE (by its name) with no input-dependent baseline, their variance and running-baseline options as given (the defaults otherwise).</summary>
    public static ILearningRule RuleWithoutInputBaseline(string name, bool normalizeVariance, double varianceDecay = 0.9, double baselineDecay = 0.9) => name == "nvil"
        ? new Nvil(new NvilOptions { InputBaselineHiddenUnits = 0, NormalizeVariance = normalizeVariance, VarianceDecay = varianceDecay, BaselineDecay = baselineDecay })
        : new Reinforce(new ReinforceOptions { InputBaselineHiddenUnits = 0, NormalizeVariance = normalizeVariance, VarianceDecay = varianceDecay, BaselineDecay = baselineDecay });

    /// <summary>rows × columns of 0/1, each 1 with probability <paramref name="on"/>, drawn from <paramref name="seed"/>.</summary>
    public static Microsoft.ML.Helmholtz.Data.DataMatrix BinaryData(int rows, int columns, ulong seed, double on = 0.3)
    {
        var random = new RandomStream(seed);
        return new Microsoft.ML.Helmholtz.Data.DataMatrix(rows, columns, Enumerable.Range(0, rows * columns).Select(_ => random.NextDouble() < on ? 1f : 0f).ToArray());
    }

    /// <summary>The layer run forward over rows of uniform inputs drawn from <paramref name="seed"/>, then a draw from the same stream: the inputs and the draw.</summary>
    public static (float[] Input, float[] Draw) ForwardAndSample(ConditionalLayer layer, int rows, ulong seed)
    {
        var random = new RandomStream(seed);
        float[] x = new float[rows * layer.InputSize], y = new float[rows * layer.OutputSize];
        random.FillUniform(x);
        layer.Forward(x, rows);
        layer.Sample(random, rows, y);
        return (x, y);
    }

    /// <summary>States with values each layer's units can take: 0/1 for Bernoulli, [0, 1] for continuous Bernoulli, reals for Gaussian.</summary>
    public static LayerStates RandomStates(HelmholtzArchitecture architecture, int rows, ulong seed)
    {
        var states = new LayerStates(architecture, rows);
        var random = new RandomStream(seed);
        for (int l = 0; l < architecture.Layers.Count; l++)
        {
            Span<float> x = states.Layer(l, rows);
            if (architecture.Layers[l].Units == UnitType.Bernoulli)
                for (int i = 0; i < x.Length; i++) x[i] = random.NextDouble() < 0.5 ? 1f : 0f;
            else if (architecture.Layers[l].Units == UnitType.ContinuousBernoulli || architecture.Layers[l].Units == UnitType.SoftBernoulli)
                for (int i = 0; i < x.Length; i++) x[i] = (float)random.NextDouble();
            else
                random.FillNormal(x);
        }
        return states;
    }

    /// <summary>
    /// Finite differences of <paramref name="loss"/> for every entry of <paramref name="parameters"/>,
    /// against their Gradient buffers. The layers compute in single precision, so the difference is
    /// Richardson-extrapolated from steps 2ε and ε (truncation O(ε⁴)), and the tolerance carries the
    /// loss's float round-off divided by the step besides an absolute and a relative part.
    /// </summary>
    public static void AssertGradientsMatch(IEnumerable<Parameter> parameters, Func<double> loss, double epsilon = 1e-2, double absolute = 1e-3, double relative = 3e-3, string context = "")
    {
        Parameter[] ps = parameters.ToArray();
        double roundOff = 1e-6 * Math.Abs(loss()) / epsilon;
        double[] analytic = Statistics.Flatten(ps, p => p.Gradient);
        double[] numeric = Statistics.NumericGradient(ps, loss, epsilon);
        Assert.IsTrue(numeric.Length > 0, "no parameter entries were checked");
        int index = 0;
        foreach (Parameter p in ps)
        {
            for (int i = 0; i < p.Length; i++, index++)
            {
                double tolerance = absolute + relative * Math.Abs(numeric[index]) + roundOff;
                Assert.IsTrue(Math.Abs(analytic[index] - numeric[index]) <= tolerance,
                    $"{context} {p.Name}[{i}]: analytic {analytic[index]:G6}, finite difference {numeric[index]:G6}, tolerance {tolerance:G3}");
            }
        }
    }

    /// <summary>All 2^n binary vectors of length n, one per row.</summary>
    public static float[] AllBinaryVectors(int n)
    {
        var result = new float[(1 << n) * n];
        for (int k = 0; k < 1 << n; k++)
            for (int i = 0; i < n; i++) result[k * n + i] = (k >> i) & 1;
        return result;
    }

    /// <summary>
    /// For an all-Bernoulli machine and one visible vector: every hidden configuration h with
    /// ln p(v, h) and ln q(h | v), by enumeration (double precision sums over float layers).
    /// </summary>
    public static (double[] LogJoint, double[] LogQ) Enumerate(HelmholtzMachine machine, ReadOnlySpan<float> visible)
    {
        var arch = machine.Architecture;
        int hiddenUnits = arch.Layers.Skip(1).Sum(l => l.Size);
        int configurations = 1 << hiddenUnits;
        var states = new LayerStates(arch, configurations);
        float[] all = AllBinaryVectors(hiddenUnits);
        for (int k = 0; k < configurations; k++)
        {
            visible.CopyTo(states.Layer(0, configurations).Slice(k * arch.Layers[0].Size));
            int offset = 0;
            for (int l = 1; l < arch.Layers.Count; l++)
            {
                int n = arch.Layers[l].Size;
                all.AsSpan(k * hiddenUnits + offset, n).CopyTo(states.Layer(l, configurations).Slice(k * n, n));
                offset += n;
            }
        }
        var logJoint = new double[configurations];
        var logQ = new double[configurations];
        machine.Generative.AccumulateLogJoint(states, configurations, logJoint);
        machine.Recognition.AccumulateLogProb(states, configurations, logQ);
        return (logJoint, logQ);
    }

    /// <summary>Exact ln p(v) of an all-Bernoulli machine.</summary>
    public static double ExactLogLikelihood(HelmholtzMachine machine, ReadOnlySpan<float> visible)
        => Kernels.LogSumExp(Enumerate(machine, visible).LogJoint);

    /// <summary>Exact free energy F(v) = Σ_h q(h|v) (ln q − ln p(v, h)) of an all-Bernoulli machine.</summary>
    public static double ExactFreeEnergy(HelmholtzMachine machine, ReadOnlySpan<float> visible)
    {
        var (logJoint, logQ) = Enumerate(machine, visible);
        double f = 0;
        for (int k = 0; k < logQ.Length; k++) f += Math.Exp(logQ[k]) * (logQ[k] - logJoint[k]);
        return f;
    }
}

internal static class Statistics
{
    /// <summary>Mean and standard error of the mean, entry by entry, over repeated gradient vectors.</summary>
    public static (double[] Mean, double[] StandardError) MeanAndStandardError(IReadOnlyList<double[]> samples)
    {
        int n = samples.Count, d = samples[0].Length;
        var mean = new double[d];
        var se = new double[d];
        foreach (var s in samples) for (int i = 0; i < d; i++) mean[i] += s[i] / n;
        foreach (var s in samples) for (int i = 0; i < d; i++) se[i] += (s[i] - mean[i]) * (s[i] - mean[i]);
        for (int i = 0; i < d; i++) se[i] = Math.Sqrt(se[i] / (n - 1) / n);
        return (mean, se);
    }

    /// <summary>
    /// The samples' mean gradient agrees with <paramref name="exact"/> entry by entry, within five standard
    /// errors, a floor of 2·10⁻³ and <paramref name="relative"/> of the entry, and those errors are small
    /// enough (a tenth of the exact gradient's RMS) for the test to tell. <paramref name="label"/> names an entry.
    /// </summary>
    public static void AssertAveragesTo(double[] exact, IReadOnlyList<double[]> samples, double relative = 3e-3, Func<int, string>? label = null)
    {
        var (mean, se) = MeanAndStandardError(samples);
        double rms = Math.Sqrt(exact.Select(g => g * g).Average());
        Assert.IsTrue(se.Average() < 0.1 * rms, $"the test must resolve the gradient: mean SE {se.Average():G3} vs RMS gradient {rms:G3}");
        for (int i = 0; i < exact.Length; i++)
            Assert.AreEqual(exact[i], mean[i], 5 * se[i] + 2e-3 + relative * Math.Abs(exact[i]),
                $"entry {i}{(label is null ? "" : $" ({label(i)})")}: exact {exact[i]:G4}, mean {mean[i]:G4} ± {se[i]:G3}");
    }

    public static double[] Flatten(IEnumerable<Parameter> parameters, Func<Parameter, float[]> pick)
        => parameters.SelectMany(p => pick(p).Select(v => (double)v)).ToArray();

    /// <summary>Richardson-extrapolated central differences of <paramref name="loss"/>, flattened over the parameters.</summary>
    public static double[] NumericGradient(IEnumerable<Parameter> parameters, Func<double> loss, double epsilon = 1e-2)
    {
        var result = new List<double>();
        foreach (Parameter p in parameters)
        {
            for (int i = 0; i < p.Length; i++)
            {
                double Central(double h)
                {
                    float saved = p.Value[i];
                    p.Value[i] = saved + (float)h;
                    double up = loss();
                    p.Value[i] = saved - (float)h;
                    double down = loss();
                    p.Value[i] = saved;
                    return (up - down) / (2 * h);
                }
                result.Add((4 * Central(epsilon) - Central(2 * epsilon)) / 3);
            }
        }
        return result.ToArray();
    }
}

/// <summary>Reports on the reporting thread (Progress&lt;T&gt; would post to the thread pool).</summary>
internal sealed class SynchronousProgress<T>(Action<T> action) : IProgress<T>
{
    public void Report(T value) => action(value);
}
