using System.Runtime.InteropServices;

namespace Helmholtz.Samples;

/// <summary>
/// Turns Ctrl+C (SIGINT) and SIGTERM (`kill PID`, a scheduler's stop) into a cancellation, so that a
/// long run stops after its current minibatch and saves and scores the model as it stands; a second
/// signal ends the process at once. SIGTERM matters for runs started in the background: a
/// non-interactive shell starts them with SIGINT ignored, and .NET leaves an ignored SIGINT ignored.
/// </summary>
internal sealed class ConsoleCancellation : IDisposable
{
    private readonly CancellationTokenSource _source = new();
    private readonly TextWriter _error;
    private readonly PosixSignalRegistration[] _registrations;
    private readonly string _stopsAfter;
    private int _signals;

    /// <param name="error">Where the notice goes.</param>
    /// <param name="stopsAfter">What the run finishes before it stops ("the current minibatch").</param>
    public ConsoleCancellation(TextWriter error, string stopsAfter)
    {
        _error = error;
        _stopsAfter = stopsAfter;
        _registrations = OperatingSystem.IsWindows()
            ? [PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal)]
            : [PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal), PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal)];
    }

    public CancellationToken Token => _source.Token;

    private void OnSignal(PosixSignalContext context)
    {
        if (Interlocked.Increment(ref _signals) > 1) return;   // not cancelled: the default ends the process
        context.Cancel = true;
        _error.WriteLine($"{context.Signal}: cancelling after {_stopsAfter} (send it again to stop at once)…");
        _source.Cancel();
    }

    public void Dispose()
    {
        foreach (PosixSignalRegistration registration in _registrations) registration.Dispose();
        _source.Dispose();
    }
}
