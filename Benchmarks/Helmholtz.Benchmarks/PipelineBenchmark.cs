using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Evaluation;
using Microsoft.ML.Helmholtz.Transforms;

namespace Helmholtz.Benchmarks;

/// <summary>
/// The ML.NET face on binarized MNIST (784b-200g-50g, trained two epochs): rows/s of the features
/// and of the log-likelihood (K = 100, 1000) through Transform and through a PredictionEngine,
/// beside ML.NET's ProjectToPrincipalComponents (rank 50) on the same rows, the core estimator's
/// samples/s on the same rows, and the saved-and-loaded pipeline; then an epoch read from an
/// IDataView (in memory and streamed) against the core's in-memory epoch. Medians of repeats.
/// <c>stream-memory</c> trains on a generated IDataView of 1,000,000 rows and prints the peak working set.
/// </summary>
internal static class PipelineBenchmark
{
    private sealed class Image
    {
        [VectorType(784)] public float[] Pixels { get; set; } = [];
    }

    private sealed class Features
    {
        [VectorType(50)] public float[] HelmholtzFeatures { get; set; } = [];
    }

    private sealed class LogLikelihood
    {
        public float Value { get; set; }
    }

    public static void Run(string[] args)
    {
        int repeats = 5;
        bool epochsOnly = false, savedOnly = false;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--repeats": repeats = CommandLine.Int(args, ref i); break;
                case "--epochs-only": epochsOnly = true; break;
                case "--saved-only": savedOnly = true; break;
                default: throw CommandLine.Unknown(args[i], "--repeats N, --epochs-only, --saved-only");
            }
        }
        if (epochsOnly && savedOnly) throw new UsageException("pipeline takes --epochs-only or --saved-only, not both.");
        CommandLine.OptionsRead();
        MnistSplits data = BinarizedMnist.Load();
        var ml = new MLContext(seed: 1);
        IDataView train = View(ml, data.Train), test = View(ml, data.Test);
        Console.WriteLine($"cores {Environment.ProcessorCount}, engine {Microsoft.ML.Helmholtz.Numerics.MatrixEngine.Default.Name}, medians of {repeats}");
        if (savedOnly)
        {
            // The saved route alone: its speed does not depend on training, so an untrained machine will do.
            Saved(ml, ml.Transforms.HelmholtzMachine(new HelmholtzMachineOptions { InputColumnName = "Pixels", Architecture = "784b-200g-50g", Epochs = 0, Samples = 100, Seed = 1 })
                .Fit(train), train, test, repeats);
            return;
        }
        if (!epochsOnly) Throughput(ml, data, train, test, repeats);
        Epochs(ml, data, train, repeats);
    }

    private static void Throughput(MLContext ml, MnistSplits data, IDataView train, IDataView test, int repeats)
    {
        var clock = Stopwatch.StartNew();
        HelmholtzMachineTransformer model = ml.Transforms.HelmholtzMachine(new HelmholtzMachineOptions
        {
            InputColumnName = "Pixels", Architecture = "784b-200g-50g", Epochs = 2, Samples = 100, Seed = 1,
        }).Fit(train);
        Console.WriteLine($"fit (2 epochs, 50,000 rows from an IDataView): {clock.Elapsed.TotalSeconds:F1} s");
        Console.WriteLine();
        Console.WriteLine("Contenders on the same rows take turns within each round (this machine's speed drifts up to 2x);");
        Console.WriteLine("the rates are medians over rounds, and \"vs first\" the median over rounds of each one's rate over the first's.");
        Console.WriteLine($"{"what",-60}{"rows",7}{"rows/s",11}{"samples/s",12}{"vs first",10}");

        // Features: ours against ML.NET's PCA projection to 50 components, same rows.
        var features = ml.Transforms.HelmholtzMachine(new HelmholtzMachineOptions
        {
            InputColumnName = "Pixels", Architecture = "784b-200g-50g", Epochs = 0, LogLikelihoodColumnName = null, Seed = 1,
        }).Fit(train);
        var pca = ml.Transforms.ProjectToPrincipalComponents("Pca", "Pixels", rank: 50, seed: 1).Fit(train);
        Compare(repeats, 0,
            ("Helmholtz features (784b-200g-50g), Transform", 10000, () => Drain(features.Transform(test), "HelmholtzFeatures")),
            ("ML.NET ProjectToPrincipalComponents (rank 50), Transform", 10000, () => Drain(pca.Transform(test), "Pca")));
        Image[] images = ml.Data.CreateEnumerable<Image>(test, false).ToArray();
        var engine = ml.Model.CreatePredictionEngine<Image, Features>(features);
        var pcaEngine = ml.Model.CreatePredictionEngine<Image, PcaRow>(pca);
        Compare(repeats, 0,
            ("Helmholtz features, PredictionEngine", 2000, () => { for (int i = 0; i < 2000; i++) engine.Predict(images[i]); }),
            ("ML.NET PCA, PredictionEngine", 2000, () => { for (int i = 0; i < 2000; i++) pcaEngine.Predict(images[i]); }));

        // The log-likelihood, against the core estimator on the same rows.
        foreach (int k in new[] { 100, 1000 })
        {
            int rows = k == 100 ? 5000 : 1000, engineRows = k == 100 ? 1000 : 200;
            var scorer = ml.Transforms.HelmholtzMachine(new HelmholtzMachineOptions
            {
                InputColumnName = "Pixels", Architecture = "784b-200g-50g", Epochs = 0, FeatureColumnName = null, Samples = k, Seed = 1,
            }).Fit(train);
            IDataView part = ml.Data.TakeRows(test, rows);
            DataMatrix matrix = data.Test.Slice(0, rows);
            var core = new ImportanceSampledLogLikelihood(k, seed: 1);
            var machine = scorer.GetMachine();
            var llEngine = ml.Model.CreatePredictionEngine<Image, LogLikelihoodRow>(scorer);
            Compare(repeats, k,
                ($"core ImportanceSampledLogLikelihood, K = {k}", rows, () => core.EstimatePerExample(machine, matrix)),
                ($"log-likelihood K = {k}, Transform", rows, () => Drain(scorer.Transform(part), "LogLikelihood")),
                ($"log-likelihood K = {k}, PredictionEngine", engineRows, () => { for (int i = 0; i < engineRows; i++) llEngine.Predict(images[i]); }));
        }

        Saved(ml, model, train, test, repeats);
    }

    /// <summary>Saved and loaded: the pipeline runs as ML.NET's OnnxTransformer, row by row, after the input's check.</summary>
    private static void Saved(MLContext ml, HelmholtzMachineTransformer model, IDataView train, IDataView test, int repeats)
    {
        string path = Path.Combine(Path.GetTempPath(), $"helmholtz-bench-{Guid.NewGuid():N}.zip");
        try
        {
            ml.Model.Save(model, train.Schema, path);
            ITransformer loaded = new MLContext().Model.Load(path, out _);
            IDataView few = ml.Data.TakeRows(test, 500);
            Compare(repeats, 100,
                // Both columns through one cursor: the loaded chain is one ONNX graph, whose every node runs whatever output is read,
                // so a pass for each column drew the K samples twice (until a review of 2026-12-04; performance.md, "The benchmark reviewed").
                ("fitted transformer: features + log-likelihood K = 100", 500, () => DrainBoth(model.Transform(few), "HelmholtzFeatures", "LogLikelihood")),
                ("loaded pipeline (OnnxTransformer): the same", 500, () => DrainBoth(loaded.Transform(few), "HelmholtzFeatures", "LogLikelihood")));
        }
        finally
        {
            File.Delete(path);
        }

    }

    private static void Epochs(MLContext ml, MnistSplits data, IDataView train, int repeats)
    {
        // Epochs from an IDataView, read into memory (the default under the budget) and streamed, against the core's epochs on a
        // DataMatrix: seconds per epoch from the epoch reports (epochs 2 and 3, past the set-up), in turns over rounds.
        Console.WriteLine();
        var epochSeconds = new List<double>[3];
        for (int i = 0; i < 3; i++) epochSeconds[i] = [];
        for (int round = 0; round < repeats; round++)
        {
            epochSeconds[0].AddRange(EpochTimes(progress => new Microsoft.ML.Helmholtz.Learning.HelmholtzTrainer(new Microsoft.ML.Helmholtz.Learning.Rules.StochasticBackpropagation(),
                new Microsoft.ML.Helmholtz.Learning.TrainingOptions { Epochs = 3, Seed = 1 })
                .Train(Microsoft.ML.Helmholtz.Model.HelmholtzMachine.Create(Microsoft.ML.Helmholtz.Model.HelmholtzArchitecture.Parse("784b-200g-50g"), 1), data.Train, progress: progress)));
            epochSeconds[1].AddRange(EpochTimes(progress => Fit(ml, train, 512L << 20, progress)));
            epochSeconds[2].AddRange(EpochTimes(progress => Fit(ml, train, 0, progress)));
        }
        string[] labels = ["core HelmholtzTrainer on a DataMatrix", "Fit from an IDataView read into memory", "Fit from an IDataView streamed (10,000-row buffer)"];
        double reference = Statistics.Median(epochSeconds[0]);
        for (int i = 0; i < 3; i++)
        {
            double median = Statistics.Median(epochSeconds[i]);
            Console.WriteLine($"BP-SBP epoch, {labels[i],-52}{median,8:F2} s{(i == 0 ? "" : $"   {median / reference:P0} of the core's"),24}");
        }
    }

    /// <summary>Seconds of epochs 2 and 3 of a three-epoch run, from its epoch reports.</summary>
    private static IEnumerable<double> EpochTimes(Action<IProgress<Microsoft.ML.Helmholtz.Learning.EpochReport>> train)
    {
        var reports = new List<Microsoft.ML.Helmholtz.Learning.EpochReport>();
        train(new Reporter(reports.Add));
        return Enumerable.Range(1, reports.Count - 1).Select(e => (reports[e].Elapsed - reports[e - 1].Elapsed).TotalSeconds);
    }

    private sealed class Reporter(Action<Microsoft.ML.Helmholtz.Learning.EpochReport> report) : IProgress<Microsoft.ML.Helmholtz.Learning.EpochReport>
    {
        public void Report(Microsoft.ML.Helmholtz.Learning.EpochReport value) => report(value);
    }

    /// <summary>Runs the contenders in turn, <paramref name="rounds"/> times after a warm-up, and prints their medians and median ratios to the first.</summary>
    private static void Compare(int rounds, int samples, params (string Label, int Rows, Action Run)[] contenders)
    {
        foreach (var c in contenders) c.Run();   // warm up: JIT, buffers
        var rates = contenders.Select(_ => new List<double>()).ToArray();
        for (int r = 0; r < rounds; r++)
            for (int i = 0; i < contenders.Length; i++)
            {
                var clock = Stopwatch.StartNew();
                contenders[i].Run();
                rates[i].Add(contenders[i].Rows / clock.Elapsed.TotalSeconds);
            }
        for (int i = 0; i < contenders.Length; i++)
        {
            double rate = Statistics.Median(rates[i]);
            double ratio = Statistics.Median(rates[i].Select((v, r) => v / rates[0][r]));
            Console.WriteLine($"{contenders[i].Label,-60}{contenders[i].Rows,7}{rate,11:N0}{(samples > 0 ? (rate * samples).ToString("N0") : ""),12}{(i == 0 ? "" : ratio.ToString("P0")),10}");
        }
    }

    private sealed class PcaRow
    {
        [VectorType(50)] public float[] Pca { get; set; } = [];
    }

    private sealed class LogLikelihoodRow
    {
        [ColumnName("LogLikelihood")] public float Value { get; set; }
    }

    private static void Fit(MLContext ml, IDataView train, long budget, IProgress<Microsoft.ML.Helmholtz.Learning.EpochReport> progress)
        => ml.Transforms.HelmholtzMachine(new HelmholtzMachineOptions
        {
            InputColumnName = "Pixels", Architecture = "784b-200g-50g", Epochs = 3, Seed = 1, MemoryBudgetBytes = budget, LogLikelihoodColumnName = null,
            Progress = progress,
        }).Fit(train);

    /// <summary>A vector column and a Single column read together, row by row, through one cursor.</summary>
    private static void DrainBoth(IDataView view, string vectorColumn, string singleColumn)
    {
        DataViewSchema.Column v = view.Schema[vectorColumn], s = view.Schema[singleColumn];
        using DataViewRowCursor cursor = view.GetRowCursor([v, s]);
        var vectorGetter = cursor.GetGetter<VBuffer<float>>(v);
        var singleGetter = cursor.GetGetter<float>(s);
        VBuffer<float> vector = default;
        float single = 0;
        while (cursor.MoveNext())
        {
            vectorGetter(ref vector);
            singleGetter(ref single);
        }
    }

    /// <summary>Reads one column of every row, as a consumer of the view would.</summary>
    private static void Drain(IDataView view, string column)
    {
        DataViewSchema.Column c = view.Schema[column];
        using DataViewRowCursor cursor = view.GetRowCursor([c]);
        if (c.Type is VectorDataViewType)
        {
            var getter = cursor.GetGetter<VBuffer<float>>(c);
            VBuffer<float> value = default;
            while (cursor.MoveNext()) getter(ref value);
        }
        else
        {
            var getter = cursor.GetGetter<float>(c);
            float value = 0;
            while (cursor.MoveNext()) getter(ref value);
        }
    }

    private static IDataView View(MLContext ml, DataMatrix data)
        => ml.Data.LoadFromEnumerable(Enumerable.Range(0, data.Rows).Select(i => new Image { Pixels = data.Row(i).ToArray() }).ToArray());

    /// <summary>Trains one epoch on 1,000,000 generated rows (3 GB as floats) read lazily, and prints the peak working set.</summary>
    public static void StreamMemory(string[] args)
    {
        long rows = CommandLine.Count(args, "ROWS", 1_000_000, long.MaxValue);
        CommandLine.OptionsRead();
        MnistSplits data = BinarizedMnist.Load();
        var ml = new MLContext(seed: 1);
        var view = new GeneratedImages(data.Train, rows);
        var clock = Stopwatch.StartNew();
        ml.Transforms.HelmholtzMachine(new HelmholtzMachineOptions
        {
            InputColumnName = "Pixels", Architecture = "784b-200g-50g", Epochs = 1, Seed = 1, LogLikelihoodColumnName = null,
        }).Fit(view);
        Console.WriteLine($"one epoch on {rows:N0} generated rows ({rows * 784 * 4 / 1e9:F1} GB as floats), streamed: {clock.Elapsed.TotalSeconds:F0} s; " +
            $"peak working set {Process.GetCurrentProcess().PeakWorkingSet64 / (1024.0 * 1024):F0} MB (the three MNIST splits held for the generator are 209 MB of it)");
    }

    /// <summary>
    /// A view of <c>rows</c> images made on the fly: training image (i mod 50,000) with pixel
    /// (i · 7919 mod 784) flipped, so no two rows of a pass repeat exactly. Nothing is stored.
    /// </summary>
    private sealed class GeneratedImages(DataMatrix source, long rows) : IDataView
    {
        private static readonly DataViewSchema ImageSchema = MakeSchema();

        private static DataViewSchema MakeSchema()
        {
            var builder = new DataViewSchema.Builder();
            builder.AddColumn("Pixels", new VectorDataViewType(NumberDataViewType.Single, 784));
            return builder.ToSchema();
        }

        public DataViewSchema Schema => ImageSchema;
        public bool CanShuffle => false;
        public long? GetRowCount() => rows;
        public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null) => new Cursor(source, rows);
        public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) => [GetRowCursor(columnsNeeded, rand)];

        private sealed class Cursor(DataMatrix source, long rows) : DataViewRowCursor
        {
            private long _position = -1;
            public override DataViewSchema Schema => ImageSchema;
            public override long Position => _position;
            public override long Batch => 0;
            public override bool MoveNext() => ++_position < rows;
            public override bool IsColumnActive(DataViewSchema.Column column) => true;
            public override ValueGetter<DataViewRowId> GetIdGetter() => (ref DataViewRowId id) => id = new DataViewRowId((ulong)_position, 0);

            public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
            {
                ValueGetter<VBuffer<float>> getter = (ref VBuffer<float> value) =>
                {
                    var editor = VBufferEditor.Create(ref value, 784);
                    source.Row((int)(_position % source.Rows)).CopyTo(editor.Values);
                    int flip = (int)(_position * 7919 % 784);
                    editor.Values[flip] = 1 - editor.Values[flip];
                    value = editor.Commit();
                };
                return (ValueGetter<TValue>)(Delegate)getter;
            }
        }
    }
}
