using Microsoft.ML.Helmholtz.Learning;
using Microsoft.ML.Helmholtz.Learning.Optimizers;
using Microsoft.ML.Helmholtz.Learning.Rules;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;
using Microsoft.ML.Helmholtz.Tests.Support;

namespace Microsoft.ML.Helmholtz.Tests.Learning;

/// <summary>The body of the training loop (a rule's gradients, then an optimiser step) allocates nothing once warmed up.</summary>
[TestClass]
public sealed class AllocationTests
{
    [TestMethod]
    [DataRow("wake-sleep", "30b-20b-10b")]
    [DataRow("reinforce", "30b-20b-10b")]
    [DataRow("sbp", "30b-20g-10g")]
    [DataRow("sbp-price", "30gl-20g-10g")]
    public void ATrainingStepAllocatesNothing(string ruleName, string architecture)
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse(architecture), 1, MatrixEngine.SingleThreaded());
        ILearningRule rule = LearningRules.Create(ruleName);
        const int rows = 16;
        rule.Prepare(machine, rows);
        var states = TestModels.RandomStates(machine.Architecture, rows, 2);
        var random = new RandomStream(3);
        var optimizer = new Adam();
        var parameters = machine.Parameters.Concat(rule.Parameters).ToArray();
        void Step()
        {
            foreach (Parameter p in parameters) p.ZeroGradient();
            rule.AccumulateGradients(machine, states, rows, random);
            optimizer.Step(parameters, 1e-3f);
        }
        for (int i = 0; i < 5; i++) Step();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 20; i++) Step();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.AreEqual(0L, allocated, $"{ruleName}: {allocated} bytes allocated in 20 steps");
    }
}
