using Microsoft.ML.Data;
using Microsoft.ML.Helmholtz.Onnx;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Helmholtz.Transforms;

/// <summary>
/// A trained machine's columns computed by ONNX Runtime, in batches of rows (ML.NET's own
/// OnnxTransformer runs one row at a time), on the CPU or on a CUDA GPU: the same columns as the
/// <see cref="HelmholtzMachineTransformer"/> it is made from, the same numbers to float precision.
/// Made by <see cref="HelmholtzMachineTransformer.ToOnnxRuntime"/>.
/// </summary>
/// <remarks>
/// <para>The device is chosen as ML.NET users choose it, on the MLContext: <c>GpuDeviceId</c> null
/// runs on the CPU; a device id asks for ONNX Runtime's CUDA provider on that GPU. When it cannot be
/// had (no GPU, no CUDA libraries, an application package without the CUDA provider), the scorer
/// runs on the CPU and says so on the MLContext's log if <c>FallbackToCpu</c> is set, else its
/// construction fails naming what is missing. <see cref="Device"/> says which is in use.</para>
/// <para>The library uses ONNX Runtime's managed API only: the application adds the native package,
/// Microsoft.ML.OnnxRuntime (CPU) or Microsoft.ML.OnnxRuntime.Gpu (CPU and CUDA; ONNX Runtime 1.31's
/// CUDA provider needs the CUDA 13 runtime libraries: cuBLAS, cuDNN 9, cudart).</para>
/// <para>Safe from many threads (ONNX Runtime's sessions are); dispose it to release the sessions. Disposing while a cursor or
/// prediction engine of it is running is safe too: a run already inside ONNX Runtime finishes, and the sessions are released
/// when the last such run ends. After <see cref="Dispose"/>, <see cref="Transform"/>, <see cref="GetOutputSchema"/>,
/// <see cref="GetRowToRowMapper"/> and every batch a cursor made before still asks for are an <see cref="ObjectDisposedException"/>;
/// saving and the properties (<see cref="Device"/>, <see cref="BatchRows"/>, …) still answer. Saved with a pipeline (disposed or
/// not: the sessions play no part) as the transformer it was made from.</para>
/// </remarks>
public sealed class HelmholtzOnnxTransformer : ITransformer, IRowScoring, IDisposable
{
    private readonly HelmholtzMachineTransformer _source;
    // One graph and session per output: a run computes every node of its graph, so a features call on
    // a graph that also holds the log-likelihood would pay for the K samples too.
    private readonly InferenceSession? _features, _logLikelihood;
    private readonly RunOptions _runOptions;
    private int _disposed;   // 1 once disposed: set by one caller only
    private int _running;    // runs inside ONNX Runtime now
    private int _released;   // 1 once the sessions are released: by Dispose, or by the last run in flight after it

    internal HelmholtzOnnxTransformer(HelmholtzMachineTransformer source, IHostEnvironment? environment, int? gpuDeviceId, bool fallbackToCpu, int batchRows)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchRows);
        _source = source;
        BatchRows = batchRows;
        // ONNX Runtime's first native call: without a native package in the application, named here rather than as a type initializer's failure.
        try
        {
            _runOptions = new RunOptions();
        }
        catch (Exception e) when (OnnxRuntimeNative.IsMissing(e))
        {
            throw OnnxRuntimeNative.Missing("Scoring with ONNX Runtime (ToOnnxRuntime)", e);
        }
        string? device = null;
        // The first session settles the device (a fallback is tried and logged once); the second follows it.
        InferenceSession Open(byte[] model)
        {
            if (device is null)
            {
                (InferenceSession session, device) = CreateSession(model, gpuDeviceId, fallbackToCpu, environment);
                return session;
            }
            return device.StartsWith("CUDA", StringComparison.Ordinal) ? CreateSession(model, gpuDeviceId, false, environment).Session : new InferenceSession(model);
        }
        try
        {
            if (source.Features is not null) _features = Open(MachineGraph.Build(source.Features, null, new GraphColumns(LogLikelihood: null)));
            if (source.LogLikelihood is not null) _logLikelihood = Open(MachineGraph.Build(null, source.LogLikelihood, new GraphColumns(Features: null)));
        }
        catch
        {
            _features?.Dispose();
            _runOptions.Dispose();
            throw;
        }
        Device = device!;
    }

    /// <summary>The outputs of each session, features first (for tests: each graph holds only its own output).</summary>
    internal IEnumerable<IReadOnlyCollection<string>> SessionOutputs =>
        new[] { _features, _logLikelihood }.OfType<InferenceSession>().Select(session => (IReadOnlyCollection<string>)session.OutputMetadata.Keys);

    /// <summary>Where the graphs run: "CPU", "CUDA device n", or "CPU (fallback: …)".</summary>
    public string Device { get; }

    /// <summary>Rows each cursor hands ONNX Runtime at once, at most (its first batches are smaller, from 16 rows).</summary>
    public int BatchRows { get; }

    /// <summary>The machine's layers, as <see cref="HelmholtzMachineTransformer.Architecture"/> of the transformer this runs.</summary>
    public string Architecture => _source.Architecture;

    /// <summary>Values per row of the feature column (0 when there is none).</summary>
    public int FeatureSize => _source.FeatureSize;

    /// <summary>The anomaly threshold on the score, as <see cref="HelmholtzMachineTransformer.Threshold"/>.</summary>
    public double Threshold => _source.Threshold;

    /// <summary>The seed of the scoring noise held in the graph, as <see cref="HelmholtzMachineTransformer.Seed"/>.</summary>
    public ulong Seed => _source.Seed;

    /// <summary>K, the samples per row of the log-likelihood.</summary>
    public int Samples => _source.Samples;

    private static (InferenceSession Session, string Device) CreateSession(byte[] model, int? gpuDeviceId, bool fallbackToCpu, IHostEnvironment? environment)
    {
        if (gpuDeviceId is not { } device) return (new InferenceSession(model), "CPU");
        SessionOptions? options = null;
        try
        {
            options = new SessionOptions();
            OnnxRuntimeNative.AppendCudaQuietly(options, device);
            return (new InferenceSession(model, options), $"CUDA device {device}");
        }
        catch (Exception e) when (IsCudaProviderFailure(e))
        {
            string why = WhyNoCudaProvider(e);
            if (!fallbackToCpu)
                throw new InvalidOperationException($"MLContext.GpuDeviceId asks for GPU {device}, but {why}. Set MLContext.FallbackToCpu = true to run on the CPU instead.", e);
            using (IChannel? channel = environment?.Register("HelmholtzMachine").Start("OnnxRuntime"))
                channel?.Warning(MessageSensitivity.None, $"GPU {device} was asked for, but {why}: running on the CPU (MLContext.FallbackToCpu).");
            return (new InferenceSession(model), $"CPU (fallback: {why})");
        }
        finally
        {
            options?.Dispose();
        }
    }

    private static string FirstLine(string text) => text.Split('\n')[0].Trim();

    private static bool IsCudaProviderFailure(Exception e) => e is OnnxRuntimeException or EntryPointNotFoundException or DllNotFoundException or TypeInitializationException;

    /// <summary>
    /// Why the CUDA provider failed with <paramref name="e"/>, as the errors say it; <paramref name="loads"/> tells which CUDA libraries
    /// load (by default, trying each: a different answer in tests).
    /// </summary>
    internal static string WhyNoCudaProvider(Exception e, Func<string, bool>? loads = null) => e is EntryPointNotFoundException or DllNotFoundException
        ? "this application's ONNX Runtime has no CUDA provider (it needs the Microsoft.ML.OnnxRuntime.Gpu package)"
        : CudaProviderFailure(e, loads);

    /// <summary>
    /// Null where ONNX Runtime's CUDA provider can be appended for GPU <paramref name="device"/> in this application (its package and
    /// the libraries it loads are there), as <see cref="HelmholtzMachineTransformer.ToOnnxRuntime"/> appends it; else why not, as its
    /// errors say it (the libraries that do not load, or the package without a CUDA provider). Checked before long work, so that a
    /// machine without the GPU is refused at once; whether the device itself works shows when a session starts on it. ONNX Runtime's own
    /// log is held to fatal messages while the provider is tried, so that a failure is said once, by this.
    /// </summary>
    public static string? CudaProviderProblem(int device) => CudaProviderProblem(device, static () => new SessionOptions());

    /// <summary><see cref="CudaProviderProblem(int)"/> with the options made by <paramref name="newOptions"/> (a missing native library, in tests).</summary>
    internal static string? CudaProviderProblem(int device, Func<SessionOptions> newOptions)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(device);
        SessionOptions options;
        try
        {
            options = newOptions();
        }
        catch (Exception e) when (OnnxRuntimeNative.IsMissing(e))
        {
            // ONNX Runtime itself does not load: not the CUDA libraries' fault, which the diagnosis below would name.
            return "this application has no ONNX Runtime native library (add the package Microsoft.ML.OnnxRuntime.Gpu, which holds it with its CUDA provider)";
        }
        try
        {
            using var _ = options;
            OnnxRuntimeNative.AppendCudaQuietly(options, device);
            return null;
        }
        catch (Exception e) when (IsCudaProviderFailure(e))
        {
            return WhyNoCudaProvider(e);
        }
    }

    private static string CudaProviderFailure(Exception e, Func<string, bool>? loads)
    {
        string missing = CudaLibraries.Missing(loads);
        return missing.Length > 0
            ? $"ONNX Runtime could not start its CUDA provider: these libraries it needs do not load: {missing} (ONNX Runtime 1.31 needs an NVIDIA driver and the CUDA 13 runtime libraries on the library path; it said: {FirstLine(e.Message)})"
            : $"ONNX Runtime could not start its CUDA provider on that device ({FirstLine(e.Message)}; the CUDA libraries it needs load, so look at the device id and the GPU)";
    }

    ScoringColumns IRowScoring.Columns => ScoringColumns.Of(_source.Options);
    InputColumn IRowScoring.Input => _source.Input;
    IRowComputation IRowScoring.CreateComputation()
    {
        ThrowIfDisposed();
        return new Computation(this);
    }

    /// <inheritdoc/>
    /// <exception cref="ObjectDisposedException">The transformer has been disposed.</exception>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        ThrowIfDisposed();
        return _source.GetOutputSchema(inputSchema);
    }

    /// <summary>The input with the machine's columns added, computed lazily by ONNX Runtime in batches of <see cref="BatchRows"/> rows.</summary>
    public IDataView Transform(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        ThrowIfDisposed();
        return new BatchedDataView(this, input);
    }

    /// <inheritdoc/>
    public bool IsRowToRowMapper => true;

    /// <inheritdoc/>
    /// <exception cref="ObjectDisposedException">The transformer has been disposed.</exception>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        ThrowIfDisposed();
        return new RowMapper(this, inputSchema);
    }

    void ICanSaveModel.Save(ModelSaveContext ctx) => ((ICanSaveModel)_source).Save(ctx);

    /// <summary>
    /// Releases the ONNX Runtime sessions, at once or, where runs are inside ONNX Runtime on other threads, when the last of them
    /// ends; every later run is an <see cref="ObjectDisposedException"/>. A second call does nothing.
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        if (Volatile.Read(ref _running) == 0) ReleaseSessions();
    }

    // ONNX Runtime's managed Run does not check that its session is still open.
    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);

    /// <summary>Whether the sessions are released (for tests).</summary>
    internal bool SessionsReleased => Volatile.Read(ref _released) != 0;

    /// <summary>
    /// A run of a session: counted in before the disposed flag is read, so that Dispose, which sets the flag before it reads the
    /// count, either sees this run and leaves the release to it, or is seen by it (the run then throws and touches no session).
    /// </summary>
    internal RunScope EnterRun()
    {
        Interlocked.Increment(ref _running);
        if (Volatile.Read(ref _disposed) != 0)
        {
            ExitRun();
            ThrowIfDisposed();
        }
        return new RunScope(this);
    }

    private void ExitRun()
    {
        if (Interlocked.Decrement(ref _running) == 0 && Volatile.Read(ref _disposed) != 0) ReleaseSessions();
    }

    private void ReleaseSessions()
    {
        if (Interlocked.Exchange(ref _released, 1) != 0) return;
        _features?.Dispose();
        _logLikelihood?.Dispose();
        _runOptions.Dispose();
    }

    /// <summary>Ends a run begun by <see cref="EnterRun"/>.</summary>
    internal readonly struct RunScope(HelmholtzOnnxTransformer owner) : IDisposable
    {
        public void Dispose() => owner.ExitRun();
    }

    /// <summary>Samples (rows × K) in one run of the log-likelihood graph: about 80 MB per [rows, K, 200] tensor.</summary>
    private const int SamplesPerRun = 100_000;

    /// <summary>One cursor's buffers: the batch as an ONNX Runtime tensor, its outputs copied out.</summary>
    private sealed class Computation(HelmholtzOnnxTransformer owner) : IRowComputation
    {
        private float[] _input = [];

        public void Features(ReadOnlySpan<float> rows, int count, Span<float> features) => Run(owner._features!, rows, count, MachineGraph.FeaturesName, features);

        /// <summary>
        /// The graph holds every sample of a run at once ([rows, K, units] values per layer), so a run
        /// takes at most <see cref="SamplesPerRun"/> samples: ⌊100,000 / K⌋ rows (at least one).
        /// </summary>
        public void LogLikelihood(ReadOnlySpan<float> rows, int count, Span<float> logLikelihood)
        {
            int columns = owner._source.Input.Size, perRun = Math.Max(1, SamplesPerRun / owner._source.Samples);
            for (int first = 0; first < count; first += perRun)
            {
                int n = Math.Min(perRun, count - first);
                Run(owner._logLikelihood!, rows.Slice(first * columns, n * columns), n, MachineGraph.LogLikelihoodName, logLikelihood.Slice(first, n));
            }
        }

        private void Run(InferenceSession session, ReadOnlySpan<float> rows, int count, string output, Span<float> destination)
        {
            using var run = owner.EnterRun();
            int columns = owner._source.Input.Size;
            if (_input.Length < count * columns) _input = new float[count * columns];
            rows[..(count * columns)].CopyTo(_input);
            using var tensor = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, _input.AsMemory(0, count * columns), [count, columns]);
            using var results = session.Run(owner._runOptions, [MachineGraph.InputName], [tensor], [output]);
            results[0].GetTensorDataAsSpan<float>().CopyTo(destination);
        }
    }
}
