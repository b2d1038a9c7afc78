using Microsoft.ML.Helmholtz.Layers;

namespace Microsoft.ML.Helmholtz.Learning;

/// <summary>
/// An optimiser or learning rule whose state outlives a step (an optimiser's moments, a rule's running
/// baselines): a <see cref="TrainingState"/> carries it from one run to the next, so that a resumed run
/// goes on as the uninterrupted run would have. One that does not implement it starts afresh in each run.
/// </summary>
public interface IResumable
{
    /// <summary>
    /// Writes the state as it stands after the last step into <paramref name="section"/>, for the run's
    /// <paramref name="parameters"/> (the machine's, then the rule's). Called between steps; entries of
    /// the same name and length are overwritten in place.
    /// </summary>
    void SaveState(StateSection section, IReadOnlyList<Parameter> parameters);

    /// <summary>
    /// Takes back what <see cref="SaveState"/> wrote, before the run's first step (a rule after
    /// <see cref="ILearningRule.Prepare"/>). Throws <see cref="InvalidDataException"/>, naming the entry,
    /// when the section does not fit <paramref name="parameters"/> (a state from another machine or rule).
    /// </summary>
    void RestoreState(StateSection section, IReadOnlyList<Parameter> parameters);
}

/// <summary>
/// Named arrays of numbers: one component's part of a <see cref="TrainingState"/>. Reading checks the
/// name and the length and throws <see cref="InvalidDataException"/> that names the entry and its owner.
/// Not for concurrent use: a run writes it between steps, under its state's lock.
/// </summary>
public sealed class StateSection
{
    private readonly Dictionary<string, Array> _entries = new(StringComparer.Ordinal);
    private readonly List<string> _order = [];

    internal StateSection(string owner) => Owner = owner;

    /// <summary>Whose state this is, for messages: e.g. "the optimiser 'adam'".</summary>
    public string Owner { get; }

    /// <summary>The entries' names in the order they were first written.</summary>
    public IReadOnlyList<string> Names => _order.AsReadOnly();

    /// <summary>
    /// Copies <paramref name="values"/> into the single-precision entry <paramref name="name"/>, replacing any entry of that name;
    /// a new name goes last in <see cref="Names"/>. Throws <see cref="ArgumentException"/> for a null or empty name.
    /// </summary>
    public void Write(string name, ReadOnlySpan<float> values) => Slot<float>(name, values.Length, values);

    /// <summary>
    /// Copies <paramref name="values"/> into the double-precision entry <paramref name="name"/>, replacing any entry of that name;
    /// a new name goes last in <see cref="Names"/>. Throws <see cref="ArgumentException"/> for a null or empty name.
    /// </summary>
    public void Write(string name, ReadOnlySpan<double> values) => Slot<double>(name, values.Length, values);

    /// <summary>Writes <paramref name="value"/> as an entry of one double-precision number, which <see cref="ReadDouble"/> reads back.</summary>
    public void Write(string name, double value) => Write(name, [value]);

    /// <summary>The entry's values, which must be <paramref name="length"/> single-precision numbers.</summary>
    public ReadOnlySpan<float> ReadFloats(string name, int length) => Read<float>(name, length, "single-precision");

    /// <summary>The entry's values, which must be <paramref name="length"/> double-precision numbers.</summary>
    public ReadOnlySpan<double> ReadDoubles(string name, int length) => Read<double>(name, length, "double-precision");

    /// <summary>The entry's one double-precision number, as <see cref="Write(string, double)"/> writes it.</summary>
    public double ReadDouble(string name) => ReadDoubles(name, 1)[0];

    /// <summary>Whether the section holds an entry named <paramref name="name"/>.</summary>
    public bool Contains(string name) => _entries.ContainsKey(name);

    internal void Clear()
    {
        _entries.Clear();
        _order.Clear();
    }

    internal IEnumerable<(string Name, Array Values)> Entries => _order.Select(n => (n, _entries[n]));

    /// <summary>Becomes a copy of <paramref name="source"/>'s entries, in their order (no array shared).</summary>
    internal void CopyFrom(StateSection source)
    {
        Clear();
        foreach (var (name, values) in source.Entries) Set(name, (Array)values.Clone());
    }

    internal void Set(string name, Array values)
    {
        if (!_entries.ContainsKey(name)) _order.Add(name);
        _entries[name] = values;
    }

    private void Slot<T>(string name, int length, ReadOnlySpan<T> values)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (!_entries.TryGetValue(name, out Array? existing) || existing is not T[] array || array.Length != length)
            Set(name, array = new T[length]);
        values.CopyTo(array);
    }

    private ReadOnlySpan<T> Read<T>(string name, int length, string kind)
    {
        if (!_entries.TryGetValue(name, out Array? values))
            throw new InvalidDataException($"The training state of {Owner} has no entry '{name}': it is from another machine, rule (or the rule with other options) or optimiser.");
        if (values is not T[] typed || typed.Length != length)
            throw new InvalidDataException(
                $"The training state of {Owner} holds '{name}' as {values.Length} {(values is float[] ? "single" : "double")}-precision numbers, but this run needs {length} {kind} ones: it is from another machine, rule (or the rule with other options) or optimiser.");
        return typed;
    }
}
