using System.Runtime.CompilerServices;

namespace Microsoft.ML.Helmholtz.Learning;

/// <summary>
/// The machines, rules and training states in a run now. Their usage guards refuse a second thread but let the thread that
/// holds them enter again, as a step's nested calls do; so a run started on the running thread (from a synchronous progress
/// handler, or a data source's or a rule's callback) would share the outer run's machine, rule or state and change them
/// under it: its steps, its rule's buffers prepared for another machine, its state overwritten. Both trainers enter here
/// after their guards, and a part already in a run is refused, naming it, before anything changes.
/// </summary>
internal static class TrainingRuns
{
    private static readonly ConditionalWeakTable<object, string> Running = new();

    /// <summary>Marks <paramref name="parts"/> (null ones left out) as in a run of <paramref name="operation"/> until the scope is disposed.</summary>
    public static Scope Enter(string operation, params (object? Part, string Name)[] parts)
    {
        lock (Running)
        {
            foreach (var (part, name) in parts)
                if (part is not null && Running.TryGetValue(part, out string? outer))
                    throw new InvalidOperationException($"{name} is already in a training run ({outer}) that has not returned: a run's progress handler or " +
                        "callbacks may not start another run with it. Start the next run after the first returns, or give it a machine, rule and state of its own.");
            foreach (var (part, _) in parts)
                if (part is not null) Running.Add(part, operation);
        }
        return new Scope(parts);
    }

    public readonly struct Scope((object? Part, string Name)[] parts) : IDisposable
    {
        public void Dispose()
        {
            lock (Running)
                foreach (var (part, _) in parts)
                    if (part is not null) Running.Remove(part);
        }
    }
}
