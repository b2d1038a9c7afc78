using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Learning;
using Microsoft.ML.Helmholtz.Learning.Optimizers;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;
using Microsoft.ML.Helmholtz.Tests.Support;

namespace Microsoft.ML.Helmholtz.Tests.Learning;

/// <summary>
/// Runs refused or stopped before their end leave the machine, the rule and the training state as promised: a step that fails
/// its check is never kept, a refused run teaches the rule nothing, a run that trains nothing changes nothing, and a state saved
/// from another thread is one consistent point (a review's findings; each test fails on the code before its fix).
/// </summary>
[TestClass]
public sealed class StoppedRunTests
{
    private static readonly DataMatrix Train = TestModels.BinaryData(120, 10, 61);

    /// <summary>
    /// Adam refuses a weight decay whose shrink 1 − ηλ is ≤ 0 only at the run's first step, after the rule measured the first
    /// minibatch: the machine is put back, but NVIL's running baselines keep what that refused run's minibatch taught them.
    /// </summary>
    [TestMethod]
    public void ARunRefusedAtItsFirstStepLeavesTheRulesRunningEstimatesAsTheyWere()
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 81);
        var rule = LearningRules.Create("nvil");
        new HelmholtzTrainer(rule, new TrainingOptions { Epochs = 1, BatchSize = 20, Seed = 3 }).Train(machine, Train);
        StateSection before = RuleStates.Of(rule, machine.Parameters);
        float[][] parameters = TestModels.Snapshot(machine.Parameters);

        var refused = new TrainingOptions { Epochs = 1, BatchSize = 20, Seed = 4, LearningRate = new LearningRateSchedule(4), Optimizer = () => new Adam(weightDecay: 0.5f) };
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new HelmholtzTrainer(rule, refused).Train(machine, Train));

        TestModels.AssertParameters(parameters, machine.Parameters);
        RuleStates.AssertSame(before, RuleStates.Of(rule, machine.Parameters), "the rule after a run refused at its first step");
    }

    /// <summary>
    /// A streamed run refused at a bad minibatch keeps the step before it unchecked: here that step diverged (the same run
    /// on clean data throws TrainingDivergedException and leaves the machine as given), yet the machine is left holding it.
    /// </summary>
    [TestMethod]
    public void ARunRefusedAtABadMinibatchDoesNotStopOnAStepThatFailsItsCheck()
    {
        TrainingOptions Options() => new() { Epochs = 1, BatchSize = 20, Seed = 5, LearningRate = new LearningRateSchedule(1000), InitializeVisibleBiases = false };
        var clean = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 82);
        var diverged = Assert.ThrowsExactly<TrainingDivergedException>(() => new HelmholtzTrainer(LearningRules.Create("wake-sleep"), Options()).Train(clean, new ScriptedMinibatches(Train, 0)));
        Assert.AreEqual((1, 0), (diverged.Epoch, diverged.Minibatch), "on clean data the first step fails its check");
        Assert.AreEqual(0L, clean.StepsTrained);

        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 82);
        float[][] given = TestModels.Snapshot(machine.Parameters);
        // Refused either for the data (ArgumentException) or for the step the refusal made the run check (TrainingDivergedException).
        var e = Assert.Throws<Exception>(() => new HelmholtzTrainer(LearningRules.Create("wake-sleep"), Options()).Train(machine, new ScriptedMinibatches(Train, 2, firstValue: 2f)));
        Assert.IsTrue(e is ArgumentException or TrainingDivergedException, e.ToString());
        Assert.AreEqual(0L, machine.StepsTrained, "the machine keeps a step whose check would have failed");
        TestModels.AssertParameters(given, machine.Parameters);
    }

    /// <summary>
    /// With a TimeLimit, a schedule already 0 in single precision at FirstScheduleEpoch is accepted and the run stops at its first
    /// epoch "as at its limit", training nothing; but it has already started the fresh machine's visible biases from the data.
    /// </summary>
    [TestMethod]
    public void ARunThatStopsBeforeItsFirstEpochLeavesTheMachineAsGiven()
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-6b-3b"), 83);
        float[][] given = TestModels.Snapshot(machine.Parameters);
        var options = new TrainingOptions
        {
            Epochs = 5, BatchSize = 20, LearningRate = new LearningRateSchedule(1e-3, 0.5), FirstScheduleEpoch = 1000, TimeLimit = TimeSpan.FromHours(1),
        };
        var reports = new HelmholtzTrainer(LearningRules.Create("nvil"), options).Train(machine, Train);
        Assert.AreEqual(0, reports.Count, "no epoch trained");
        Assert.AreEqual(0L, machine.StepsTrained);
        TestModels.AssertParameters(given, machine.Parameters);
    }

    /// <summary>
    /// A state saved from another thread while its run goes on is promised to be "one consistent point"; Record sets the
    /// divergence reference to NaN under the state's lock and the trainer sets the real one after releasing it, so a Save in
    /// between writes a state whose resumed run takes its own first free energy as F₀ (not the unbroken run's limit).
    /// </summary>
    [TestMethod]
    public void AStateSavedFromAnotherThreadDuringARunCarriesTheDivergenceReference()
    {
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("10b-3b"), 84);
        var state = new TrainingState();
        var data = TestModels.BinaryData(4, 10, 85);
        int saves = 0, missing = 0;
        using var done = new CancellationTokenSource();
        // A thread of its own (a pool task may not start before the short run ends, with other tests on the pool), and the run
        // waits at its 100th epoch until the saver has saved a few times, so the saves overlap the run whatever the load.
        var saver = new Thread(() =>
        {
            var stream = new MemoryStream();
            while (!done.IsCancellationRequested)
            {
                if (state.IsEmpty) continue;
                stream.SetLength(0);
                state.Save(stream);
                stream.Position = 0;
                if (double.IsNaN(TrainingState.Load(stream).DivergenceReference)) missing++;
                Interlocked.Increment(ref saves);
            }
        }) { IsBackground = true };
        saver.Start();
        bool overlapped = false;
        var progress = new SynchronousProgress<EpochReport>(r =>
        {
            if (r.Epoch == 100) overlapped = SpinWait.SpinUntil(() => Volatile.Read(ref saves) >= 3, TimeSpan.FromSeconds(60));
        });
        new HelmholtzTrainer(LearningRules.Create("wake-sleep"), new TrainingOptions { Epochs = 20000, BatchSize = 4, Optimizer = () => new SgdMomentum() })
            .Train(machine, data, progress: progress, state: state);
        done.Cancel();
        saver.Join();
        Assert.IsTrue(overlapped, "the saver saved during the run");
        Assert.AreEqual(0, missing, $"{missing} of {saves} saves had no divergence reference");
    }
}
