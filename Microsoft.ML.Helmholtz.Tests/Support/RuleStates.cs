using Microsoft.ML.Helmholtz.Learning;

namespace Microsoft.ML.Helmholtz.Tests.Support;

/// <summary>A learning rule's resumable state, snapshotted and compared entry by entry (floats and doubles alike).</summary>
internal static class RuleStates
{
    public static StateSection Of(ILearningRule rule, IReadOnlyList<Microsoft.ML.Helmholtz.Layers.Parameter> parameters)
    {
        var section = new StateSection("the rule");
        ((IResumable)rule).SaveState(section, parameters);
        return section;
    }

    public static void AssertSame(StateSection expected, StateSection actual, string context = "")
    {
        CollectionAssert.AreEqual(expected.Names.ToArray(), actual.Names.ToArray(), context);
        foreach (string name in expected.Names)
            CollectionAssert.AreEqual(Read(expected, name), Read(actual, name), $"{context}: {name}");
    }

    private static double[] Read(StateSection s, string name)
    {
        Array values = s.Entries.First(x => x.Name == name).Values;
        return values is float[] f ? f.Select(v => (double)v).ToArray() : (double[])values;
    }
}
