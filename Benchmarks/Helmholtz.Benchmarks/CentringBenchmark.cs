using System.Diagnostics;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Learning;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;

namespace Helmholtz.Benchmarks;

/// <summary>
/// What centred inputs (TrainingOptions.CenterInputs) add to a step: the passes over the weights before
/// and after it (InputCentering.ToCentred, FromCentred), on the worker pool against the calling thread
/// alone, taking turns. The optimiser's own step is not in it.
/// </summary>
internal static class CentringBenchmark
{
    public static void Run(string[] args)
    {
        int rounds = 31;
        string architecture = "784b-200b-50b";
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--rounds") rounds = CommandLine.Int(args, ref i);
            else if (args[i] == "--architecture") architecture = CommandLine.Architecture(args, ref i);
            else throw CommandLine.Unknown(args[i], "--rounds N, --architecture SPEC");
        }
        CommandLine.OptionsRead();
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse(architecture), 1);
        var random = new Random(1);
        foreach (var p in machine.Parameters)
            for (int i = 0; i < p.Length; i++) p.Gradient[i] = (float)(random.NextDouble() - 0.5) * 1e-3f;
        double[] centre = Enumerable.Range(0, machine.Architecture.Visible.Size).Select(_ => random.NextDouble() * 0.3).ToArray();
        var centering = InputCentering.For(machine, centre);
        long weights = machine.Parameters.Where(p => p.Role == ParameterRole.Weight).Sum(p => (long)p.Length);

        const int steps = 200;
        double Time(bool pooled)
        {
            using var scope = pooled ? WorkerPool.Use(WorkerPool.Shared) : WorkerPool.InlineScope();
            var clock = Stopwatch.StartNew();
            for (int s = 0; s < steps; s++)
            {
                centering.ToCentred();
                centering.FromCentred(null);
            }
            return clock.Elapsed.TotalMicroseconds / steps;
        }
        for (int i = 0; i < 3; i++) { Time(true); Time(false); }
        var pooledTimes = new List<double>();
        var aloneTimes = new List<double>();
        var ratios = new List<double>();
        for (int r = 0; r < rounds; r++)
        {
            bool pooledFirst = r % 2 == 0;
            double first = Time(pooledFirst), second = Time(!pooledFirst);
            double pooled = pooledFirst ? first : second, alone = pooledFirst ? second : first;
            pooledTimes.Add(pooled);
            aloneTimes.Add(alone);
            ratios.Add(pooled / alone);
        }
        ratios.Sort();
        Console.WriteLine($"{architecture}: {centering.Count} centred maps, {weights:N0} weights in all; cores {Environment.ProcessorCount}, {rounds} rounds of {steps} steps");
        Console.WriteLine($"µs a step (ToCentred + FromCentred): calling thread alone {Statistics.Median(aloneTimes):F1}, worker pool {Statistics.Median(pooledTimes):F1}; " +
            $"pool/alone {Statistics.Median(ratios):F3} (quartiles {ratios[rounds / 4]:F3}–{ratios[3 * rounds / 4]:F3})");
    }
}
