using Microsoft.ML.Helmholtz.Learning;
using Microsoft.ML.Helmholtz.Learning.Optimizers;

namespace Microsoft.ML.Helmholtz.Transforms;

/// <summary>
/// The optimiser and learning-rate options both estimators take (<see cref="HelmholtzMachineOptions"/>,
/// <see cref="TemporalHelmholtzOptions"/>): checked by the objects they make, one option at a time, so that an
/// error names the option, and made into the core's schedule and optimiser.
/// </summary>
internal readonly record struct OptimizerSettings(HelmholtzOptimizer Optimizer, double LearningRate, double LearningRateDecay,
    double MinimumLearningRate, double? Momentum, double? AdamBeta2, double WeightDecay)
{
    public static OptimizerSettings Of(HelmholtzMachineOptions o)
        => new(o.Optimizer, o.LearningRate, o.LearningRateDecay, o.MinimumLearningRate, o.Momentum, o.AdamBeta2, o.WeightDecay);

    public static OptimizerSettings Of(TemporalHelmholtzOptions o)
        => new(o.Optimizer, o.LearningRate, o.LearningRateDecay, o.MinimumLearningRate, o.Momentum, o.AdamBeta2, o.WeightDecay);

    /// <summary>
    /// Throws <paramref name="bad"/>(option, problem) for the first setting that cannot train <paramref name="epochs"/> epochs.
    /// A rate that decays to 0 as a float changes nothing: refused unless a <paramref name="timeLimit"/> bounds the fit
    /// (the trainer then stops at that epoch). A fit resumed from a training state starts later in the schedule: the trainer checks that one.
    /// </summary>
    public void Check(int epochs, TimeSpan? timeLimit, Func<string, string, Exception> bad)
    {
        // Each setting is checked by the object it makes, alone or after those it depends on, so that the error names it.
        T Made<T>(string option, Func<T> make)
        {
            try
            {
                return make();
            }
            catch (ArgumentException e)
            {
                throw bad(option, Requires.Reason(e));
            }
        }
        if (!Enum.IsDefined(Optimizer)) throw bad(nameof(Optimizer), $"unknown value {Optimizer}.");
        double rate = LearningRate, decay = LearningRateDecay, minimum = MinimumLearningRate, momentum = Momentum ?? SgdMomentumDefault, weightDecay = WeightDecay;
        double? beta2 = AdamBeta2;
        Made(nameof(LearningRate), () => new LearningRateSchedule(rate));
        Made(nameof(LearningRateDecay), () => new LearningRateSchedule(rate, decay));
        LearningRateSchedule schedule = Made(nameof(MinimumLearningRate), () => new LearningRateSchedule(rate, decay, minimum));
        Made(nameof(Momentum), () => new SgdMomentum((float)momentum));
        Made(nameof(AdamBeta2), () => beta2 is { } b ? new Adam(beta2: (float)b) : new Adam());
        Made(nameof(WeightDecay), NewAdam);
        if (timeLimit is null && schedule.FirstZeroInSinglePrecision(0, epochs - 1) is not null)
            throw bad(nameof(LearningRateDecay), $"{decay} takes the learning rate {rate} to 0 in single precision, in which the steps use it, " +
                $"by epoch {epochs}: set MinimumLearningRate, decay more slowly, train fewer Epochs, or set a TimeLimit.");
        if (Momentum is not null && Optimizer != HelmholtzOptimizer.SgdMomentum)
            throw bad(nameof(Momentum), $"is {HelmholtzOptimizer.SgdMomentum}'s momentum; it has no meaning with {Optimizer}.");
        if (beta2 is not null && Optimizer != HelmholtzOptimizer.Adam)
            throw bad(nameof(AdamBeta2), $"is Adam's β₂; it has no meaning with {Optimizer}.");
        if (weightDecay > 0 && Optimizer != HelmholtzOptimizer.Adam)
            throw bad(nameof(WeightDecay), $"is Adam's decoupled weight decay; it has no meaning with {Optimizer}.");
        if (weightDecay > 0 && !Adam.KeepsWeightsPositive((float)rate, (float)weightDecay))
            throw bad(nameof(WeightDecay), $"{weightDecay} with the learning rate {rate} would shrink the weights by 1 − ηλ ≤ 0 at each step: ηλ must be under 1.");
    }

    /// <summary>The momentum of SGD when the options give none.</summary>
    private const double SgdMomentumDefault = 0.9;

    public LearningRateSchedule Schedule() => new(LearningRate, LearningRateDecay, MinimumLearningRate);

    /// <summary>What makes each run's optimiser: Adam with the β₂ given (Adam's own where none is) and the weight decay, or SGD with momentum.</summary>
    public Func<IOptimizer> Optimizers()
    {
        OptimizerSettings settings = this;
        return Optimizer == HelmholtzOptimizer.Adam ? settings.NewAdam : () => new SgdMomentum((float)(settings.Momentum ?? SgdMomentumDefault));
    }

    private Adam NewAdam() => AdamBeta2 is { } beta2
        ? new Adam(beta2: (float)beta2, weightDecay: (float)WeightDecay)
        : new Adam(weightDecay: (float)WeightDecay);
}
