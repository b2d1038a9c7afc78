using System.Diagnostics;
using System.Reflection;
using System.Runtime.Loader;

namespace Helmholtz.Benchmarks;

/// <summary>
/// Two builds of the library, loaded side by side in one process (each in its own load context, from
/// the folder `dotnet publish` wrote it to), take turns on the same inputs: a kernel's A/B that a
/// host whose speed drifts within minutes cannot skew, as it skews two runs one after the other.
/// Reports each build's median time per element, the median and quartiles of the per-round ratio
/// B/A, and whether the outputs agree to the bit. Run with DOTNET_PROCESSOR_COUNT=1 for one thread.
/// </summary>
internal static class BuildsBenchmark
{
    private delegate void BernoulliLogProb(ReadOnlySpan<float> logits, ReadOnlySpan<float> x, int rows, int columns, Span<double> rowSums);

    private delegate void AdamUpdate(Span<float> x, ReadOnlySpan<float> g, Span<float> m, Span<float> v,
        float beta1, float beta2, float stepSize, float epsilonHat, Span<float> before, float shrink);

    private delegate void Map(ReadOnlySpan<float> x, Span<float> y);

    private delegate void Fill(Span<float> y);

    private delegate void Sample(ReadOnlySpan<float> logits, ReadOnlySpan<float> uniforms, Span<float> y);

    private delegate void LogProbGradient(ReadOnlySpan<float> logits, ReadOnlySpan<float> x, int rows, int columns, ReadOnlySpan<float> rowWeights,
        Span<float> gradient, ReadOnlySpan<float> expNegAbs);

    private delegate void GaussianLogProb(ReadOnlySpan<float> y, ReadOnlySpan<float> mean, ReadOnlySpan<float> logVar, int rows, int columns, Span<double> rowSums);

    private delegate void GaussianLogProbPerUnit(ReadOnlySpan<float> y, ReadOnlySpan<float> mean, ReadOnlySpan<float> unitLogVar, Span<float> unitScratch,
        int rows, int columns, Span<double> rowSums);

    private static string? _only;   // --only: the kernels whose label contains it

    public static void Run(string[] args)
    {
        if (args.Length < 2 || args[0].StartsWith("--", StringComparison.Ordinal) || args[1].StartsWith("--", StringComparison.Ordinal))
            throw new UsageException("builds needs DIR_A DIR_B first, each a `dotnet publish` output holding Microsoft.ML.Helmholtz.dll.");
        int rounds = 41;
        for (int i = 2; i < args.Length; i++)
        {
            if (args[i] == "--rounds") rounds = CommandLine.Int(args, ref i);
            else if (args[i] == "--only") _only = CommandLine.Value(args, ref i);
            else throw CommandLine.Unknown(args[i], "--rounds N, --only TEXT");
        }
        CommandLine.OptionsRead();
        Type a = KernelsOf(args[0]), b = KernelsOf(args[1]);
        Console.WriteLine($"A: {Path.GetFullPath(args[0])}");
        Console.WriteLine($"B: {Path.GetFullPath(args[1])}");
        Console.WriteLine($"{rounds} rounds, the builds taking turns (each round's first alternates); cores {Environment.ProcessorCount}");
        Console.WriteLine($"{"kernel",-36}{"A ns/el",9}{"B ns/el",9}{"B/A",7}{"quartiles",15}  same bits");

        var logProbA = a.GetMethods().Single(m => m.Name == "AccumulateBernoulliLogProb" && m.GetParameters().Length == 5).CreateDelegate<BernoulliLogProb>();
        var logProbB = b.GetMethods().Single(m => m.Name == "AccumulateBernoulliLogProb" && m.GetParameters().Length == 5).CreateDelegate<BernoulliLogProb>();
        foreach (int columns in new[] { 784, 200, 50 })
        {
            const int rows = 100;
            var random = new Random(1);
            float[] logits = new float[rows * columns], x = new float[rows * columns];
            for (int i = 0; i < logits.Length; i++) { logits[i] = (float)(random.NextDouble() * 8 - 4); x[i] = random.Next(2); }
            double[] sumsA = new double[rows], sumsB = new double[rows];
            Compare($"AccumulateBernoulliLogProb {rows}x{columns}", rounds, logits.Length,
                () => logProbA(logits, x, rows, columns, sumsA), () => logProbB(logits, x, rows, columns, sumsB),
                () =>
                {
                    Array.Clear(sumsA);
                    Array.Clear(sumsB);
                    logProbA(logits, x, rows, columns, sumsA);
                    logProbB(logits, x, rows, columns, sumsB);
                    return sumsA.AsSpan().SequenceEqual(sumsB);
                });
        }

        {
            // The exp, tanh and select paths: element-wise kernels over a visible layer's logits (100 rows of 784).
            const int rows = 100, columns = 784, n = rows * columns;
            var random = new Random(3);
            float[] logits = new float[n], x = new float[n], uniforms = new float[n], weights = new float[rows];
            for (int i = 0; i < n; i++) { logits[i] = (float)(random.NextDouble() * 8 - 4); x[i] = random.Next(2); uniforms[i] = (float)random.NextDouble(); }
            Array.Fill(weights, 0.01f);
            float[] outA = new float[n], outB = new float[n];
            foreach (string name in new[] { "Sigmoid", "Tanh" })
            {
                var mapA = a.GetMethod(name, [typeof(ReadOnlySpan<float>), typeof(Span<float>)])!.CreateDelegate<Map>();
                var mapB = b.GetMethod(name, [typeof(ReadOnlySpan<float>), typeof(Span<float>)])!.CreateDelegate<Map>();
                Compare($"{name} {rows}x{columns}", rounds, n, () => mapA(logits, outA), () => mapB(logits, outB), outA, outB);
            }
            var sampleA = a.GetMethod("SampleBernoulli")!.CreateDelegate<Sample>();
            var sampleB = b.GetMethod("SampleBernoulli")!.CreateDelegate<Sample>();
            Compare($"SampleBernoulli {rows}x{columns}", rounds, n, () => sampleA(logits, uniforms, outA), () => sampleB(logits, uniforms, outB), outA, outB);
            var gradientA = a.GetMethod("BernoulliLogProbGradient")!.CreateDelegate<LogProbGradient>();
            var gradientB = b.GetMethod("BernoulliLogProbGradient")!.CreateDelegate<LogProbGradient>();
            Compare($"BernoulliLogProbGradient {rows}x{columns}", rounds, n,
                () => gradientA(logits, x, rows, columns, weights, outA, default), () => gradientB(logits, x, rows, columns, weights, outB, default), outA, outB);
        }

        {
            // The Gaussian log-density of a layer's draws: a recognition layer's per-row log-variances, and a generative layer's per unit
            // (100 rows of 200 units).
            const int rows = 100, columns = 200, n = rows * columns;
            var random = new Random(4);
            float[] y = new float[n], mean = new float[n], logVar = new float[n], unitLogVar = new float[columns], scratchA = new float[columns], scratchB = new float[columns];
            for (int i = 0; i < n; i++) { y[i] = (float)(random.NextDouble() * 4 - 2); mean[i] = (float)(random.NextDouble() * 2 - 1); logVar[i] = (float)(random.NextDouble() * 6 - 4); }
            for (int c = 0; c < columns; c++) unitLogVar[c] = (float)(random.NextDouble() * 6 - 4);
            double[] sumsA = new double[rows], sumsB = new double[rows];
            var rowA = a.GetMethods().Single(m => m.Name == "AccumulateGaussianLogProb" && m.GetParameters().Length == 6).CreateDelegate<GaussianLogProb>();
            var rowB = b.GetMethods().Single(m => m.Name == "AccumulateGaussianLogProb" && m.GetParameters().Length == 6).CreateDelegate<GaussianLogProb>();
            Compare($"AccumulateGaussianLogProb {rows}x{columns}", rounds, n,
                () => rowA(y, mean, logVar, rows, columns, sumsA), () => rowB(y, mean, logVar, rows, columns, sumsB),
                () =>
                {
                    Array.Clear(sumsA);
                    Array.Clear(sumsB);
                    rowA(y, mean, logVar, rows, columns, sumsA);
                    rowB(y, mean, logVar, rows, columns, sumsB);
                    return sumsA.AsSpan().SequenceEqual(sumsB);
                });
            var unitA = a.GetMethod("AccumulateGaussianLogProbPerUnitVariance")!.CreateDelegate<GaussianLogProbPerUnit>();
            var unitB = b.GetMethod("AccumulateGaussianLogProbPerUnitVariance")!.CreateDelegate<GaussianLogProbPerUnit>();
            Compare($"GaussianLogProbPerUnitVariance {rows}x{columns}", rounds, n,
                () => unitA(y, mean, unitLogVar, scratchA, rows, columns, sumsA), () => unitB(y, mean, unitLogVar, scratchB, rows, columns, sumsB),
                () =>
                {
                    Array.Clear(sumsA);
                    Array.Clear(sumsB);
                    unitA(y, mean, unitLogVar, scratchA, rows, columns, sumsA);
                    unitB(y, mean, unitLogVar, scratchB, rows, columns, sumsB);
                    return sumsA.AsSpan().SequenceEqual(sumsB);
                });
        }

        {
            // Normal draws (Box–Muller from the interleaved generators), a Gaussian layer's noise: 100 rows of 250 units.
            const int n = 100 * 250;
            float[] outA = new float[n], outB = new float[n];
            Fill NormalsOf(Type kernels, ulong seed)
            {
                Type streamType = kernels.Assembly.GetType("Microsoft.ML.Helmholtz.Numerics.RandomStream", throwOnError: true)!;
                object stream = Activator.CreateInstance(streamType, seed)!;
                return streamType.GetMethod("FillNormal", [typeof(Span<float>)])!.CreateDelegate<Fill>(stream);
            }
            Fill fillA = NormalsOf(a, 7), fillB = NormalsOf(b, 7);
            Compare($"FillNormal {n:N0}", rounds, n, () => fillA(outA), () => fillB(outB),
                () => { NormalsOf(a, 9)(outA); NormalsOf(b, 9)(outB); return outA.AsSpan().SequenceEqual(outB); });
        }

        var adamA = a.GetMethod("AdamUpdate")!.CreateDelegate<AdamUpdate>();
        var adamB = b.GetMethod("AdamUpdate")!.CreateDelegate<AdamUpdate>();
        foreach (int n in new[] { 1_000_000, 334_000, 78_400 })
        {
            var random = new Random(2);
            float[] Values(double scale) => Enumerable.Range(0, n).Select(_ => (float)((random.NextDouble() - 0.5) * scale)).ToArray();
            float[] g = Values(1e-2), x0 = Values(1), m0 = Values(1e-3), v0 = Values(1e-6).Select(Math.Abs).ToArray();
            float[] x = (float[])x0.Clone(), m = (float[])m0.Clone(), v = (float[])v0.Clone(), before = new float[n];
            Compare($"AdamUpdate {n:N0} (undo copy kept)", rounds, n,
                () => adamA(x, g, m, v, 0.9f, 0.999f, 1e-3f, 1e-8f, before, 1f), () => adamB(x, g, m, v, 0.9f, 0.999f, 1e-3f, 1e-8f, before, 1f),
                () =>
                {
                    float[] xa = (float[])x0.Clone(), ma = (float[])m0.Clone(), va = (float[])v0.Clone();
                    float[] xb = (float[])x0.Clone(), mb = (float[])m0.Clone(), vb = (float[])v0.Clone();
                    adamA(xa, g, ma, va, 0.9f, 0.999f, 1e-3f, 1e-8f, default, 1f);
                    adamB(xb, g, mb, vb, 0.9f, 0.999f, 1e-3f, 1e-8f, default, 1f);
                    return xa.AsSpan().SequenceEqual(xb) && ma.AsSpan().SequenceEqual(mb) && va.AsSpan().SequenceEqual(vb);
                });
        }
    }

    /// <summary>The library's Kernels class from the build in <paramref name="folder"/>, in a load context of its own.</summary>
    private static Type KernelsOf(string folder)
    {
        string path = Path.GetFullPath(Path.Combine(folder, "Microsoft.ML.Helmholtz.dll"));
        if (!File.Exists(path)) throw new FileNotFoundException($"No Microsoft.ML.Helmholtz.dll in {folder}: give the folder `dotnet publish` wrote.", path);
        var context = new AssemblyLoadContext(path, isCollectible: false);
        context.Resolving += (c, name) =>
        {
            string dependency = Path.Combine(Path.GetDirectoryName(path)!, name.Name + ".dll");
            return File.Exists(dependency) ? c.LoadFromAssemblyPath(dependency) : null;
        };
        return context.LoadFromAssemblyPath(path).GetType("Microsoft.ML.Helmholtz.Numerics.Kernels", throwOnError: true)!;
    }

    /// <summary>For kernels that overwrite their outputs from fixed inputs: the same bits when one more run of each writes equal outputs.</summary>
    private static void Compare(string label, int rounds, int elements, Action runA, Action runB, float[] outA, float[] outB)
        => Compare(label, rounds, elements, runA, runB, () => { runA(); runB(); return outA.AsSpan().SequenceEqual(outB); });

    private static void Compare(string label, int rounds, int elements, Action runA, Action runB, Func<bool> sameBits)
    {
        if (_only is not null && !label.Contains(_only, StringComparison.OrdinalIgnoreCase)) return;
        int repeats = Math.Max(1, 2_000_000 / elements);
        JitWarmup.Run(runA, runB);   // both builds' code optimised and warm
        var timesA = new List<double>();
        var timesB = new List<double>();
        var ratios = new List<double>();
        for (int r = 0; r < rounds; r++)
        {
            double ta = 0, tb = 0;
            foreach (bool first in new[] { r % 2 == 0, r % 2 != 0 })
            {
                Action run = first ? runA : runB;
                var clock = Stopwatch.StartNew();
                for (int i = 0; i < repeats; i++) run();
                double ns = clock.Elapsed.TotalNanoseconds / repeats / elements;
                if (first) ta = ns; else tb = ns;
            }
            timesA.Add(ta);
            timesB.Add(tb);
            ratios.Add(tb / ta);
        }
        ratios.Sort();
        string quartiles = $"{ratios[ratios.Count / 4]:F3}–{ratios[3 * ratios.Count / 4]:F3}";
        Console.WriteLine($"{label,-36}{Statistics.Median(timesA),9:F3}{Statistics.Median(timesB),9:F3}{Statistics.Median(ratios),7:F3}{quartiles,15}  {(sameBits() ? "yes" : "NO")}");
    }
}
