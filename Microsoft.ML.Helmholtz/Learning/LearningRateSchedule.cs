namespace Microsoft.ML.Helmholtz.Learning;

/// <summary>rate(epoch) = max(Minimum, Initial · DecayPerEpoch^epoch), epochs counted from 0.</summary>
public sealed record LearningRateSchedule(double Initial, double DecayPerEpoch = 1.0, double Minimum = 0.0)
{
    public double At(int epoch)
    {
        if (!(Initial > 0) || !double.IsFinite(Initial)) throw new ArgumentOutOfRangeException(nameof(Initial), "The learning rate must be positive and finite.");
        if (!(DecayPerEpoch > 0) || DecayPerEpoch > 1) throw new ArgumentOutOfRangeException(nameof(DecayPerEpoch), "The decay per epoch must lie in (0, 1].");
        return Math.Max(Minimum, Initial * Math.Pow(DecayPerEpoch, epoch));
    }
}
