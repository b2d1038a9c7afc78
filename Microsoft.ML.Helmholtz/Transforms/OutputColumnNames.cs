namespace Microsoft.ML.Helmholtz.Transforms;

/// <summary>The checks of an options class's output column names, the same for the frame and the temporal machine.</summary>
internal static class OutputColumnNames
{
    /// <summary>The beginnings of the saved pipelines' intermediate columns (<see cref="SavedInput"/>, <see cref="ScalarColumns"/>, the temporal chain's).</summary>
    public static readonly string[] ReservedPrefixes = ["__helmholtz_", "__temporal_"];

    /// <summary>
    /// Refuses, naming the option (<paramref name="optionsType"/>.Option): no output named at all (<paramref name="noneNamed"/> says
    /// which to name), an empty name, an output named as the input (<paramref name="inputCannot"/> says what that breaks) and two
    /// outputs of one name. Null names are columns left out.
    /// </summary>
    public static void Check(string optionsType, string inputColumnName, (string? Name, string Option)[] outputs, string noneNamed, string inputCannot)
    {
        ArgumentException Bad(string option, string problem) => new($"{optionsType}.{option}: {problem}", "options");
        foreach ((string? name, string option) in outputs.Prepend((inputColumnName, "InputColumnName")))
            if (name is not null && ReservedPrefixes.FirstOrDefault(p => name.StartsWith(p, StringComparison.Ordinal)) is { } prefix)
                throw Bad(option, $"'{name}' begins with '{prefix}', which the saved pipeline keeps for its own intermediate columns " +
                    "(it copies into them and drops them, so a loaded pipeline would lose this column): name it otherwise.");
        if (outputs.All(o => o.Name is null)) throw Bad(outputs[0].Option, $"every output column is null: name at least one of {noneNamed}.");
        for (int i = 0; i < outputs.Length; i++)
        {
            if (outputs[i].Name is not { } name) continue;
            if (string.IsNullOrWhiteSpace(name)) throw Bad(outputs[i].Option, "the column name is empty (use null to leave the column out).");
            // The saved pipeline (and any ONNX export) is a graph, in which the input and an output cannot share a name; and the output would hide the input.
            if (string.Equals(name, inputColumnName, StringComparison.Ordinal))
                throw Bad(outputs[i].Option, $"'{name}' is the input column's name: an output that replaced its input {inputCannot}; name it otherwise.");
            for (int j = 0; j < i; j++)
                if (string.Equals(name, outputs[j].Name, StringComparison.Ordinal))
                    throw Bad(outputs[i].Option, $"'{name}' is also {optionsType}.{outputs[j].Option}: one column would hide the other; name them apart.");
        }
    }
}
