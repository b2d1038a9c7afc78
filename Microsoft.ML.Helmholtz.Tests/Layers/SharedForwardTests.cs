using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Numerics;
using Microsoft.ML.Helmholtz.Tests.Support;

namespace Microsoft.ML.Helmholtz.Tests.Layers;

[TestClass]
public sealed class SharedForwardTests
{
    [TestMethod]
    [DataRow("9b-5b")]
    [DataRow("9b-5g")]
    public void SharedForwardGivesEachRowTheDistributionOfItsInput(string architecture)
    {
        var machine = TestModels.Random(architecture, 3);
        ConditionalLayer layer = machine.Recognition.Layer(1);
        var inputs = TestModels.RandomStates(machine.Architecture, 3, 4).Layer(0, 3).ToArray();
        int[] source = [0, 0, 0, 1, 2, 2, 2];
        float[] replicated = source.SelectMany(s => inputs.Skip(s * 9).Take(9)).ToArray();
        float[] y = new float[source.Length * 5];
        new RandomStream(5).FillUniform(y);
        for (int i = 0; i < y.Length; i++) y[i] = y[i] < 0.5f ? 0f : 1f;

        var expected = new double[source.Length];
        layer.Forward(replicated, source.Length);
        layer.AccumulateLogProb(y, source.Length, expected);
        var actual = new double[source.Length];
        layer.ForwardShared(inputs, 3, source, source.Length);
        layer.AccumulateLogProb(y, source.Length, actual);
        for (int r = 0; r < source.Length; r++) Assert.AreEqual(expected[r], actual[r], 1e-5 * Math.Abs(expected[r]) + 1e-6, $"row {r}");
    }

    [TestMethod]
    public void SharedForwardRejectsUngroupedRows()
    {
        var machine = TestModels.Random("9b-5b", 3);
        Assert.ThrowsExactly<ArgumentException>(() => machine.Recognition.Layer(1).ForwardShared(new float[18], 2, [0, 1, 0], 3));
    }
}
