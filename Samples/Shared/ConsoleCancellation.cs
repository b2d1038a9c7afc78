using System.Runtime.InteropServices;

namespace Helmholtz.Samples;

/// <summary>
/// Turns Ctrl+C (SIGINT) and SIGTERM (`kill PID`, a scheduler's stop) into a cancellation, so that a
/// long run stops after its current minibatch and saves and scores the model as it stands; a signal
/// more than a second after the first ends the process at once. Signals within that second are the
/// same request arriving twice: `timeout` signals the process and then its group, and `dotnet run`
/// passes on a SIGTERM that the group's signal also delivers. SIGTERM matters for runs started in the
/// background: a non-interactive shell starts them with SIGINT ignored, and .NET leaves an ignored SIGINT ignored.
/// </summary>
internal sealed class ConsoleCancellation : IDisposable
{
    private readonly CancellationTokenSource _source = new();
    private readonly TextWriter _error;
    private readonly PosixSignalRegistration[] _registrations;
    private readonly string _stopsAfter;
    private int _signals;
    private long _firstSignalMilliseconds;

    /// <summary>How long after the first signal another one is taken for the same request.</summary>
    internal static readonly TimeSpan RepeatWindow = TimeSpan.FromSeconds(1);

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
        long now = Environment.TickCount64;
        // The time first, then the count: each delivery runs on a thread of its own, so a repeat may run beside the first.
        Interlocked.CompareExchange(ref _firstSignalMilliseconds, now, 0);
        if (Interlocked.Increment(ref _signals) > 1)
        {
            // Within the window: the first signal's delivery again. Later: not cancelled, so the default ends the process.
            if (now - Interlocked.Read(ref _firstSignalMilliseconds) < RepeatWindow.TotalMilliseconds) context.Cancel = true;
            return;
        }
        context.Cancel = true;
        _error.WriteLine($"{context.Signal}: cancelling after {_stopsAfter} (send it again, a second or more from now, to stop at once)…");
        _source.Cancel();
    }

    public void Dispose()
    {
        foreach (PosixSignalRegistration registration in _registrations) registration.Dispose();
        _source.Dispose();
    }
}
