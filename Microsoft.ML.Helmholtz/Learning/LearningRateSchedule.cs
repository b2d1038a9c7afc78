namespace Microsoft.ML.Helmholtz.Learning;

/// <summary>
/// rate(epoch) = max(Minimum, Initial · DecayPerEpoch^epoch), epochs counted from 0. The rates are
/// used in single precision, so they are checked there: Initial must be a positive float (not ∞,
/// not rounded to 0), DecayPerEpoch lie in (0, 1], Minimum in [0, Initial]. NaN fails every check.
/// </summary>
public sealed record LearningRateSchedule
{
    private readonly double _initial, _decay = 1.0, _minimum;

    public LearningRateSchedule(double Initial, double DecayPerEpoch = 1.0, double Minimum = 0.0)
    {
        this.Initial = Initial;
        this.DecayPerEpoch = DecayPerEpoch;
        this.Minimum = Minimum;
        Validate();
    }

    public double Initial
    {
        get => _initial;
        init => _initial = Requires.PositiveInSinglePrecision(value, "the initial learning rate");
    }

    public double DecayPerEpoch
    {
        get => _decay;
        init => _decay = Requires.InUnitIntervalOpenBelow(value, "the learning-rate decay per epoch");
    }

    public double Minimum
    {
        get => _minimum;
        init => _minimum = Requires.NonNegativeFinite(value, "the minimum learning rate");
    }

    /// <summary>The checks between the bounds (a <c>with</c> expression sets them one at a time).</summary>
    internal void Validate()
    {
        if (Minimum > Initial)
            throw new ArgumentOutOfRangeException(nameof(Minimum), Minimum, $"The minimum learning rate {Minimum} exceeds the initial rate {Initial}.");
    }

    public double At(int epoch)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        Validate();
        return Math.Max(Minimum, Initial * Math.Pow(DecayPerEpoch, epoch));
    }

    public void Deconstruct(out double Initial, out double DecayPerEpoch, out double Minimum)
    {
        Initial = this.Initial;
        DecayPerEpoch = this.DecayPerEpoch;
        Minimum = this.Minimum;
    }
}
