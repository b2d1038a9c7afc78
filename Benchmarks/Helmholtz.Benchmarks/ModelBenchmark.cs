using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Evaluation;
using Microsoft.ML.Helmholtz.Learning;
using Microsoft.ML.Helmholtz.Learning.Rules;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;

namespace Helmholtz.Benchmarks;

/// <summary>
/// The reference configurations on binarized MNIST: seconds per training epoch, examples per
/// second and achieved GFLOP/s against the engine's measured ceiling; importance-sampled scoring
/// with K = 1000 and 5000; peak memory. FLOPs are counted exactly by a counting engine wrapper.
/// </summary>
internal static class ModelBenchmark
{
    public static void Run(string[] args)
    {
        int epochs = 3, scoreImages = 10000;
        bool training = true;
        int[] ks = [1000, 5000];
        int[] chunks = [ImportanceSampledLogLikelihood.DefaultRowsPerChunk];
        var only = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--epochs": epochs = CommandLine.Int(args, ref i); break;
                case "--score-images": scoreImages = CommandLine.Int(args, ref i); break;
                case "--k": ks = CommandLine.Ints(args, ref i); break;
                case "--scoring-only": training = false; break;
                case "--chunks": chunks = CommandLine.Ints(args, ref i); break;
                // A comma followed by a space belongs to a label ("…-50g, Adam"); any other comma separates texts.
                case "--only": only.AddRange(Regex.Split(CommandLine.Value(args, ref i), ",(?! )").Where(t => t.Length > 0)); break;
                default: throw CommandLine.Unknown(args[i], "--epochs N, --score-images N, --k K1,K2, --chunks ROWS1,ROWS2, --scoring-only, --only TEXT1,TEXT2");
            }
        }
        if (!training && only.Count > 0)
            throw new UsageException("--only picks training rows, and --scoring-only runs none (scoring always runs 784b-200g-50g).");
        CommandLine.OptionsRead();
        IMatrixEngine engine = MatrixEngine.Default;
        var loadClock = Stopwatch.StartNew();
        MnistSplits data = BinarizedMnist.Load();
        double loadSeconds = loadClock.Elapsed.TotalSeconds;
        double ceiling = Ceiling(engine);
        Console.WriteLine($"engine {engine.Name} ({MatrixEngine.DefaultReason}), cores {Environment.ProcessorCount}, {Environment.OSVersion}, .NET {Environment.Version}");
        Console.WriteLine($"binarized MNIST (three splits) loaded in {loadSeconds:F2} s");
        Console.WriteLine($"matrix-product ceiling (median of 7, 1024x1024x1024 and 5000x784x200, best of the two): {ceiling:F1} GFLOP/s");
        Console.WriteLine();
        if (training) TrainingRows(data, engine, ceiling, epochs, only);
        Console.WriteLine();
        Console.WriteLine($"{"scoring (784b-200g-50g)",-34}{"pipelines",10}{"images",8}{"K",6}{"chunk",7}{"seconds",10}{"samples/s",12}{"GFLOP",9}{"GFLOP/s",9}{"products s",12}{"steal %",8}");
        var test = scoreImages < data.Test.Rows ? data.Test.Slice(0, scoreImages) : data.Test;
        // One pipeline (the engine's own threads) against one pipeline per core, at the smallest K;
        // each chunk size (rows per chunk) in turn at each K.
        foreach (int chunk in chunks) ScoringRow(test, ks.Min(), engine, 1, chunk);
        foreach (int k in ks)
            foreach (int chunk in chunks) ScoringRow(test, k, engine, Environment.ProcessorCount, chunk);
        Console.WriteLine();
        Console.WriteLine($"peak working set: {Process.GetCurrentProcess().PeakWorkingSet64 / (1024.0 * 1024):F0} MB (includes the three MNIST splits as floats, {(data.Train.Values.Length + data.Valid.Values.Length + data.Test.Values.Length) * 4 / (1024.0 * 1024):F0} MB)");
    }

    private static void TrainingRows(MnistSplits data, IMatrixEngine engine, double ceiling, int epochs, List<string> only)
    {
        Console.WriteLine("Each epoch's ratio uses the ceiling measured just before and just after it (1024³ products, median of 3");
        Console.WriteLine("each time), since this machine's speed drifts by up to 2x within minutes; the columns give medians over epochs.");
        Console.WriteLine("\"products s\" is the time per epoch spent inside the matrix products (a stopwatch around each call); \"prod\" is it");
        Console.WriteLine("and \"rest\" the rest of the epoch, each over the ideal time (medians over epochs, so they add up to about the ratio).");
        Console.WriteLine("\"undo s\" is what a separate copy of the parameters before every step would cost an epoch (timed on its own after");
        Console.WriteLine("the run: median of 5 rounds of an epoch's steps), and \"undo %\" its share of the epoch. The trainer makes that copy only");
        Console.WriteLine("for an optimiser that does not keep the values within its own step; Adam (every row here) keeps them, so it is not in s/epoch.");
        Console.WriteLine("\"steal %\" is the share of the machine's CPU time that its hypervisor gave to others during the timed epochs");
        Console.WriteLine("(or the scoring run), from /proc/stat: above a few percent the host was busy, and the row ran slower than the machine can.");
        Console.WriteLine("\"epoch/prod\" is each epoch's time over its own products' time (median over epochs): the products gauge the host during");
        Console.WriteLine("the epoch itself, so this drifts less than the ratio; where the products run at their ideal it is about the ratio.");
        Console.WriteLine("\"best\" is the fastest epoch over the ideal at the highest ceiling measured around the row's epochs: the host's slow");
        Console.WriteLine("spells (which the steal does not show) only add time, to the epochs and to the probes, so both at their best give");
        Console.WriteLine("the ratio least moved by them (the lowest single ratio would pair a fast epoch with a slow probe). Use more epochs.");
        Console.WriteLine($"{"configuration",-34}{"s/epoch",9}{"products s",12}{"examples/s",12}{"GFLOP/epoch",13}{"GFLOP/s",9}{"ceiling",9}{"ideal s",9}{"ratio",7}{"prod",7}{"rest",7}{"undo s",8}{"undo %",8}{"steal %",8}{"epoch/prod",11}{"best",7}");
        var probe = new CeilingProbe(engine);
        // --only: the rows whose label contains one of the texts (for an A/B of a few rules).
        void TrainingRow(string label, string architecture, Func<ILearningRule> rule, DataMatrix train, IMatrixEngine engine, CeilingProbe probe, int epochs, bool centred = false)
        {
            if (only.Count == 0 || only.Any(t => label.Contains(t, StringComparison.OrdinalIgnoreCase)))
                ModelBenchmark.TrainingRow(label, architecture, rule, train, engine, probe, epochs, centred);
        }
        TrainingRow("BP-SBP 784b-200g-50g, Adam", "784b-200g-50g", () => new StochasticBackpropagation(), data.Train, engine, probe, epochs);
        TrainingRow("BP-SBP (Price) 784b-200g-50g", "784b-200g-50g", () => new StochasticBackpropagation(VarianceGradient.Price), data.Train, engine, probe, epochs);
        TrainingRow("Wake-Sleep 784b-200b-50b, Adam", "784b-200b-50b", () => new WakeSleep(), data.Train, engine, probe, epochs);
        TrainingRow("REINFORCE 784b-200b-50b, Adam", "784b-200b-50b", () => new Reinforce(), data.Train, engine, probe, epochs);
        TrainingRow("IWAE K=5 784b-200g-50g, Adam", "784b-200g-50g", () => new ImportanceWeightedBound(5), data.Train, engine, probe, epochs);
        TrainingRow("IWAE K=5 784b-200gr-50gr, Adam", "784b-200gr-50gr", () => new ImportanceWeightedBound(5), data.Train, engine, probe, epochs);
        TrainingRow("VIMCO K=5 784b-200b-50b, Adam", "784b-200b-50b", () => new Vimco(5), data.Train, engine, probe, epochs);
        TrainingRow("RWS K=5 784b-200b-50b, Adam", "784b-200b-50b", () => new ReweightedWakeSleep(5), data.Train, engine, probe, epochs);
        TrainingRow("RWS K=5 (wake and sleep) 784b-200b-50b", "784b-200b-50b", () => new ReweightedWakeSleep(5, RecognitionUpdate.WakeAndSleep), data.Train, engine, probe, epochs);
        TrainingRow("NVIL 784b-200b-50b, Adam", "784b-200b-50b", () => new Nvil(), data.Train, engine, probe, epochs);
        // The table's long runs: the K-sample rules on machines with deterministic layers (results.md).
        TrainingRow("VIMCO K=5 nonlinear 200~200", "784b-200t-200t-200b-200t-200t-200b", () => new Vimco(5), data.Train, engine, probe, epochs);
        TrainingRow("IWAE K=5 Burda two-layer (gl)", "784b-200t-200t-100gl-100t-100t-50gl", () => new ImportanceWeightedBound(5), data.Train, engine, probe, epochs);
        TrainingRow("NVIL 784b-200b-50b, centred", "784b-200b-50b", () => new Nvil(), data.Train, engine, probe, epochs, centred: true);
    }

    private static void TrainingRow(string label, string architecture, Func<ILearningRule> rule, DataMatrix train, IMatrixEngine engine, CeilingProbe probe, int epochs, bool centred)
    {
        var counter = new CountingEngine(engine);
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse(architecture), 1, counter);
        // The first epoch warms up (JIT tiers, buffers, thread pool); the rest are timed from the epoch
        // reports, less the time the ceiling probe between epochs took.
        var ceilings = new List<double>();
        var probeSeconds = new List<double>();
        var productTicks = new List<long>();
        var cpuTicks = new List<(long Steal, long Total)?>();
        var progress = new SynchronousProgress(_ =>
        {
            productTicks.Add(Interlocked.Read(ref counter.Ticks));
            cpuTicks.Add(HostCpuTicks());
            var clock = Stopwatch.StartNew();
            ceilings.Add(probe.Measure());
            probeSeconds.Add(clock.Elapsed.TotalSeconds);
        });
        var options = new TrainingOptions { Epochs = epochs + 1, BatchSize = 100, Seed = 1, CenterInputs = centred };
        long flopsBefore = counter.Flops;
        ILearningRule trained = rule();
        var reports = new HelmholtzTrainer(trained, options).Train(machine, train, progress: progress);
        double flops = (double)(counter.Flops - flopsBefore) / reports.Count;
        var seconds = new List<double>();
        var ratios = new List<double>();
        var around = new List<double>();
        var products = new List<double>();
        var productRatios = new List<double>();
        var restRatios = new List<double>();
        var overProducts = new List<double>();
        for (int e = 1; e < reports.Count; e++)
        {
            double p = (double)(productTicks[e] - productTicks[e - 1]) / Stopwatch.Frequency;
            products.Add(p);
            double s = (reports[e].Elapsed - reports[e - 1].Elapsed).TotalSeconds - probeSeconds[e - 1];
            double c = 0.5 * (ceilings[e - 1] + ceilings[e]);
            double ideal = flops / (c * 1e9);
            seconds.Add(s);
            around.Add(c);
            ratios.Add(s / ideal);
            productRatios.Add(p / ideal);
            restRatios.Add((s - p) / ideal);
            overProducts.Add(s / p);
        }
        double median = Statistics.Median(seconds), ceiling = Statistics.Median(around);
        double undo = UndoSecondsPerEpoch(machine.Parameters.Concat(trained.Parameters).ToArray(), train.Rows / options.BatchSize);
        string steal = StealPercent(cpuTicks[0], cpuTicks[^1]);
        Console.WriteLine($"{label,-34}{median,9:F2}{Statistics.Median(products),12:F2}{train.Rows / median,12:F0}{flops / 1e9,13:F1}{flops / 1e9 / median,9:F1}{ceiling,9:F1}{flops / (ceiling * 1e9),9:F2}{Statistics.Median(ratios),7:F2}{Statistics.Median(productRatios),7:F2}{Statistics.Median(restRatios),7:F2}{undo,8:F3}{100 * undo / median,8:F1}{steal,8}{Statistics.Median(overProducts),11:F2}{seconds.Min() / (flops / (around.Max() * 1e9)),7:F2}");
    }

    /// <summary>
    /// The machine's CPU ticks since boot, all cores: the steal (time a hypervisor gave this machine's vCPUs to
    /// others) and the total, from /proc/stat; null where it cannot be read.
    /// </summary>
    private static (long Steal, long Total)? HostCpuTicks()
    {
        try
        {
            string? line = File.ReadLines("/proc/stat").FirstOrDefault();
            if (line is null || !line.StartsWith("cpu ", StringComparison.Ordinal)) return null;
            long[] fields = line[4..].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(f => long.Parse(f, CultureInfo.InvariantCulture)).ToArray();
            // user nice system idle iowait irq softirq steal (guest and guest_nice after them are already in user and nice)
            return fields.Length < 8 ? null : (fields[7], fields.Take(8).Sum());
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or OverflowException)
        {
            return null;
        }
    }

    /// <summary>The steal's share of the CPU time between two readings, in percent ("-" where either is missing).</summary>
    private static string StealPercent((long Steal, long Total)? before, (long Steal, long Total)? after)
        => before is { } b && after is { } a && a.Total > b.Total
            ? (100.0 * (a.Steal - b.Steal) / (a.Total - b.Total)).ToString("F1", CultureInfo.InvariantCulture) : "-";

    /// <summary>The copy the trainer makes before each step (<see cref="StepUndo.Save"/>), an epoch's worth, median of 5 rounds.</summary>
    private static double UndoSecondsPerEpoch(Parameter[] parameters, int steps)
    {
        var undo = new StepUndo(parameters);
        undo.Save();
        var rounds = new List<double>();
        for (int round = 0; round < 5; round++)
        {
            var clock = Stopwatch.StartNew();
            for (int s = 0; s < steps; s++) undo.Save();
            rounds.Add(clock.Elapsed.TotalSeconds);
        }
        return Statistics.Median(rounds);
    }

    private sealed class SynchronousProgress(Action<EpochReport> report) : IProgress<EpochReport>
    {
        public void Report(EpochReport value) => report(value);
    }

    /// <summary>The engine's rate on 1024³ products right now: the median of three, matrices allocated once.</summary>
    private sealed class CeilingProbe
    {
        private const int N = 1024;
        private readonly IMatrixEngine _engine;
        private readonly float[] _a = new float[N * N], _b = new float[N * N], _c = new float[N * N];

        public CeilingProbe(IMatrixEngine engine)
        {
            _engine = engine;
            var random = new RandomStream(3);
            random.FillUniform(_a);
            random.FillUniform(_b);
            _engine.Gemm(false, false, N, N, N, 1f, _a, N, _b, N, 0f, _c, N);
        }

        public double Measure()
        {
            var rates = new List<double>();
            for (int r = 0; r < 3; r++)
            {
                var clock = Stopwatch.StartNew();
                _engine.Gemm(false, false, N, N, N, 1f, _a, N, _b, N, 0f, _c, N);
                rates.Add(2.0 * N * N * N / clock.Elapsed.TotalSeconds / 1e9);
            }
            return Statistics.Median(rates);
        }
    }

    private static void ScoringRow(DataMatrix test, int k, IMatrixEngine engine, int pipelines, int chunk)
    {
        // Each pipeline runs the engine on its own thread, wrapped to count its FLOPs.
        var counter = new CountingEngine(engine);
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("784b-200g-50g"), 1, counter);
        var estimator = new ImportanceSampledLogLikelihood(k, rowsPerChunk: chunk) { Parallelism = pipelines, PipelineEngine = () => new CountingEngine(engine, counter) };
        // Until the JIT has settled on the scoring code (one estimate of 10 images with K = 10 left it to the timed run).
        var warmUp = new ImportanceSampledLogLikelihood(10) { Parallelism = pipelines, PipelineEngine = estimator.PipelineEngine };
        JitWarmup.Run(() => warmUp.Estimate(machine, test.Slice(0, 10)));
        Interlocked.Exchange(ref counter.Flops, 0);
        Interlocked.Exchange(ref counter.Ticks, 0);
        var cpuBefore = HostCpuTicks();
        var clock = Stopwatch.StartNew();
        estimator.Estimate(machine, test);
        double s = clock.Elapsed.TotalSeconds;
        string steal = StealPercent(cpuBefore, HostCpuTicks());
        // The products' share: time inside them summed over the pipelines, per pipeline.
        double products = (double)counter.Ticks / Stopwatch.Frequency / Math.Min(pipelines, test.Rows);
        // Where the visible layer is scored in one fused kernel its product is not the engine's: its FLOPs are added here (every
        // sample's 200 → 784 product), and its time is outside the products column.
        if (machine.VisibleProductOperands() is not null) counter.Flops += 2L * test.Rows * k * 784 * 200;
        Console.WriteLine($"{"importance sampling",-34}{pipelines,10}{test.Rows,8}{k,6}{chunk,7}{s,10:F1}{(double)test.Rows * k / s,12:F0}{counter.Flops / 1e9,9:F0}{counter.Flops / 1e9 / s,9:F1}{products,12:F1}{steal,8}");
    }

    private static double Ceiling(IMatrixEngine engine)
    {
        double best = 0;
        var random = new RandomStream(2);
        foreach (var (m, n, k) in new[] { (1024, 1024, 1024), (5000, 784, 200) })
        {
            float[] a = new float[m * k], b = new float[k * n], c = new float[m * n];
            random.FillUniform(a);
            random.FillUniform(b);
            for (int i = 0; i < 3; i++) engine.Gemm(false, false, m, n, k, 1f, a, k, b, n, 0f, c, n);
            var rates = new List<double>();
            for (int r = 0; r < 7; r++)
            {
                var clock = Stopwatch.StartNew();
                engine.Gemm(false, false, m, n, k, 1f, a, k, b, n, 0f, c, n);
                rates.Add(2.0 * m * n * k / clock.Elapsed.TotalSeconds / 1e9);
            }
            best = Math.Max(best, Statistics.Median(rates));
        }
        return best;
    }

    /// <summary>Forwards to an engine and counts 2·m·n·k per product and the time inside it (into a shared total, from any thread).</summary>
    private sealed class CountingEngine(IMatrixEngine inner, CountingEngine? total = null) : IMatrixEngine
    {
        public long Flops, Ticks;
        public string Name => inner.Name;
        public bool AllowsFusedProducts => inner.AllowsFusedProducts;

        public void Gemm(bool transA, bool transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
        {
            CountingEngine sink = total ?? this;
            Interlocked.Add(ref sink.Flops, 2L * m * n * k);
            long start = Stopwatch.GetTimestamp();
            inner.Gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
            Interlocked.Add(ref sink.Ticks, Stopwatch.GetTimestamp() - start);
        }

        public void GemmPair(in GemmCall first, in GemmCall second)
        {
            CountingEngine sink = total ?? this;
            Interlocked.Add(ref sink.Flops, 2 * (first.Work + second.Work));
            long start = Stopwatch.GetTimestamp();
            inner.GemmPair(first, second);
            Interlocked.Add(ref sink.Ticks, Stopwatch.GetTimestamp() - start);
        }
    }
}
