using Microsoft.ML.Helmholtz.Tests.Support;
using System.Diagnostics;
using Microsoft.ML.Helmholtz.Data;

namespace Microsoft.ML.Helmholtz.Tests.Data;

/// <summary>
/// Checks the real data in shared/data/mnist against its README. These tests FAIL (never skip)
/// when the data cannot be found: a silently skipped data test hides a broken checkout.
/// </summary>
[TestClass]
public sealed class SharedMnistDataTests
{
    public TestContext TestContext { get; set; } = null!;

    private static string DataDirectory() => SharedData.MnistDirectory();

    private static double OnFraction(DataMatrix m)
    {
        double on = 0;
        foreach (float v in m.Values)
        {
            Assert.IsTrue(v is 0f or 1f, $"value {v} is not 0 or 1");
            on += v;
        }
        return on / m.Values.Length;
    }

    [TestMethod]
    public void BinarizedSplitsMatchTheReadme()
    {
        MnistSplits s = BinarizedMnist.Load(DataDirectory());
        Assert.AreEqual(50000, s.Train.Rows);
        Assert.AreEqual(10000, s.Valid.Rows);
        Assert.AreEqual(10000, s.Test.Rows);
        foreach (DataMatrix m in new[] { s.Train, s.Valid, s.Test })
            Assert.AreEqual(784, m.Columns);

        double train = OnFraction(s.Train), valid = OnFraction(s.Valid), test = OnFraction(s.Test);
        TestContext.WriteLine($"on-pixel fraction: train {train:F5}, valid {valid:F5}, test {test:F5}");
        Assert.AreEqual(0.1306, train, 0.0005, "train on-pixel fraction");
        Assert.AreEqual(0.1311, valid, 0.0005, "valid on-pixel fraction");
        Assert.AreEqual(0.1325, test, 0.0005, "test on-pixel fraction");
    }

    [TestMethod]
    public void GreyTestLabelCountsMatchTheReadme()
    {
        var (images, labels) = BinarizedMnist.LoadGreyTest(DataDirectory());
        Assert.AreEqual(10000, images.Rows);
        Assert.AreEqual(784, images.Columns);
        Assert.AreEqual(10000, labels.Length);

        var counts = new int[10];
        foreach (byte l in labels)
            counts[l]++;
        CollectionAssert.AreEqual(new[] { 980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009 }, counts);

        float min = float.MaxValue, max = float.MinValue;
        foreach (float v in images.Values)
        {
            min = Math.Min(min, v);
            max = Math.Max(max, v);
        }
        Assert.AreEqual(0f, min);
        Assert.AreEqual(1f, max);
    }
}
