using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;
using Microsoft.ML.Helmholtz.Tests.Support;

namespace Microsoft.ML.Helmholtz.Tests.Model;

/// <summary>Sizes are bounded before anything is allocated, and shapes that do not fit are named.</summary>
[TestClass]
public sealed class LimitsAndShapesTests
{
    [TestMethod]
    [DataRow("100000b-100000b", "10,000,000,000 weights")]      // fits a long, far past the limit
    [DataRow("46341b-46341b", "2,147,488,281 weights")]         // overflows int: once a silent wrong size
    [DataRow("16384b-16385b", "268,451,840 weights")]           // just past the limit
    [DataRow("784b-200000g-200000g", "layers 0 to 1 alone need 470,800,784 parameters")]
    public void AnArchitectureTooLargeIsAClearErrorBeforeAnyAllocation(string text, string count)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.ThrowsExactly<ArgumentException>(() => HelmholtzMachine.Create(HelmholtzArchitecture.Parse(text), 1));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        StringAssert.Contains(e.Message, count);
        StringAssert.Contains(e.Message, "268,435,456");
        StringAssert.Contains(e.Message, "layers");
        Assert.IsTrue(allocated < 1 << 20, $"{allocated} bytes allocated before the refusal");
    }

    [TestMethod]
    public void TheTotalIsBoundedToo()
    {
        // Each pair alone is under the limit; the four maps together are not.
        var e = Assert.ThrowsExactly<ArgumentException>(() => HelmholtzArchitecture.Parse("10000g-10000g-10000g"));
        StringAssert.Contains(e.Message, "parameters");
        Assert.AreEqual(HelmholtzArchitecture.Parse("784b-200g-50g").ParameterCount,
            HelmholtzMachine.Create(HelmholtzArchitecture.Parse("784b-200g-50g"), 1).Parameters.Sum(p => (long)p.Length),
            "ParameterCount counts what a machine allocates");
    }

    [TestMethod]
    public void ParametersAndBatchBuffersRefuseSizesThatOverflow()
    {
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Parameter("huge", 70000, 70000));
        var arch = HelmholtzArchitecture.Parse("100000b-10b");
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new LayerStates(arch, 30000));
        StringAssert.Contains(e.Message, "layer 0");
        var layer = new BernoulliLayer("big", 10, 100000, MatrixEngine.Managed);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => layer.EnsureCapacity(30000));
    }

    [TestMethod]
    [DataRow("784b--10b", "empty")]
    [DataRow("784b-", "empty")]
    [DataRow("-5b", "empty")]
    [DataRow("784b-200b-", "empty")]
    [DataRow("784b", "at least one hidden layer")]
    [DataRow("784b-0b", "positive")]
    [DataRow("784b-+5b", "digits")]
    [DataRow("784b-5.5b", "digits")]
    [DataRow("784b-99999999999b", "too large")]
    [DataRow("784b-200x", "expected a size followed by")]
    public void MalformedArchitectureStringsAreNamed(string text, string problem)
    {
        var e = Assert.ThrowsExactly<FormatException>(() => HelmholtzArchitecture.Parse(text));
        StringAssert.Contains(e.Message, problem);
    }

    [TestMethod]
    public void DataWithNoColumnsIsNotCalledEmpty()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() =>
            DataValidation.Validate([], 5, 0, new LayerDefinition(4, UnitType.Bernoulli), "training data"));
        StringAssert.Contains(e.Message, "length 0");
        Assert.IsFalse(e.Message.Contains("empty"), e.Message);
    }

    [TestMethod]
    public void StatesOfAnotherArchitectureAreNamed()
    {
        var machine = TestModels.Random("6b-4b-3b", 1);
        var other = new LayerStates(HelmholtzArchitecture.Parse("6b-5b-3b"), 4);
        double[] f = new double[4], l = new double[4];
        var e = Assert.ThrowsExactly<ArgumentException>(() => machine.SampleFreeEnergy(new RandomStream(1), other, 4, f, l));
        StringAssert.Contains(e.Message, "6b-5b-3b");
        StringAssert.Contains(e.Message, "6b-4b-3b");
        Assert.ThrowsExactly<ArgumentException>(() => machine.Recognition.Infer(4, other));
        Assert.ThrowsExactly<ArgumentException>(() => machine.Generative.Dream(new RandomStream(1), 4, other));
        var mine = new LayerStates(machine.Architecture, 4);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => machine.Recognition.Infer(5, mine));
        Assert.ThrowsExactly<ArgumentException>(() => machine.SampleFreeEnergy(new RandomStream(1), mine, 4, new double[3], l));
    }
}
