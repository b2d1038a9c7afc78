using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;
using Microsoft.ML.Helmholtz.Tests.Support;

namespace Microsoft.ML.Helmholtz.Tests.Model;

[TestClass]
public sealed class SamplingTests
{
    [TestMethod]
    public void DreamsFollowTheExactMarginalOfTheGenerativeModel()
    {
        var machine = TestModels.Random("6b-4b-3b", 101, scale: 1.5f);
        const int n = 200000;
        var states = new LayerStates(machine.Architecture, n);
        machine.Generative.Dream(new RandomStream(102), n, states);
        var counts = new int[64];
        ReadOnlySpan<float> v = states.Layer(0, n);
        for (int r = 0; r < n; r++)
        {
            int code = 0;
            for (int i = 0; i < 6; i++) code |= (int)v[r * 6 + i] << i;
            counts[code]++;
        }
        float[] all = TestModels.AllBinaryVectors(6);
        double total = 0;
        for (int code = 0; code < 64; code++)
        {
            double p = Math.Exp(TestModels.ExactLogLikelihood(machine, all.AsSpan(code * 6, 6)));
            total += p;
            double se = Math.Sqrt(p * (1 - p) / n);
            Assert.AreEqual(p, counts[code] / (double)n, 5 * se + 1e-6, $"visible configuration {code}");
        }
        Assert.AreEqual(1.0, total, 1e-5, "the exact marginal sums to one");
    }

    [TestMethod]
    public void InferGivesTheMeansThatSamplesAverageTo()
    {
        var machine = TestModels.Random("6b-4g-3b", 103);
        const int n = 100000;
        var data = TestModels.RandomStates(machine.Architecture, 1, 104).Layer(0, 1).ToArray();
        var inferred = new LayerStates(machine.Architecture, 1);
        data.CopyTo(inferred.Layer(0, 1));
        machine.Recognition.Infer(1, inferred);
        var sampled = new LayerStates(machine.Architecture, n);
        for (int r = 0; r < n; r++) data.CopyTo(sampled.Layer(0, n).Slice(r * 6, 6));
        machine.Recognition.Sample(new RandomStream(105), n, sampled);
        // Layer 1 is Gaussian: its samples average to the inferred mean.
        ReadOnlySpan<float> h1 = sampled.Layer(1, n);
        var layer1 = (Microsoft.ML.Helmholtz.Layers.GaussianLayer)machine.Recognition.Layer(1);
        machine.Recognition.Layer(1).Forward(data, 1);
        ReadOnlySpan<float> logVar = layer1.LogVariances(1);
        for (int j = 0; j < 4; j++)
        {
            double mean = 0;
            for (int r = 0; r < n; r++) mean += h1[r * 4 + j];
            mean /= n;
            double se = Math.Sqrt(Math.Exp(logVar[j]) / n);
            Assert.AreEqual(inferred.Layer(1, 1)[j], mean, 5 * se, $"layer 1 unit {j}");
        }
        Assert.IsTrue(inferred.Layer(2, 1).ToArray().All(p => p > 0 && p < 1), "a Bernoulli layer's expectation is a probability");
    }
}
