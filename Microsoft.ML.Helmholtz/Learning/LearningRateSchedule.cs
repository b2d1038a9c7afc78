namespace Microsoft.ML.Helmholtz.Learning;

/// <summary>
/// rate(epoch) = max(Minimum, Initial · DecayPerEpoch^epoch), epochs counted from 0. The rates are
/// used in single precision, so they are checked there: Initial must be a positive float (not ∞,
/// not rounded to 0), DecayPerEpoch lie in (0, 1], Minimum in [0, Initial] (0, or a positive float
/// that does not round to 0). NaN fails every check. Without a Minimum the decayed rate reaches 0 as
/// a float after enough epochs: a training run whose epochs get there is refused before it starts
/// (<see cref="TrainingOptions"/>).
/// </summary>
public sealed record LearningRateSchedule
{
    private readonly double _initial, _decay = 1.0, _minimum;

    /// <summary>The schedule max(Minimum, Initial · DecayPerEpoch^epoch); a value outside its range throws <see cref="ArgumentOutOfRangeException"/>.</summary>
    /// <param name="Initial">The rate of epoch 0: positive and finite, also in single precision.</param>
    /// <param name="DecayPerEpoch">The factor the rate is multiplied by each epoch, in (0, 1]; 1 (the default) for a constant rate.</param>
    /// <param name="Minimum">The floor under the decayed rate, at most <paramref name="Initial"/>: 0 (the default) for none, or a positive value that does not round to 0 in single precision.</param>
    public LearningRateSchedule(double Initial, double DecayPerEpoch = 1.0, double Minimum = 0.0)
    {
        this.Initial = Initial;
        this.DecayPerEpoch = DecayPerEpoch;
        this.Minimum = Minimum;
        Validate();
    }

    /// <summary>The rate of epoch 0.</summary>
    public double Initial
    {
        get => _initial;
        init => _initial = Requires.PositiveInSinglePrecision(value, nameof(Initial), "the initial learning rate");
    }

    /// <summary>The factor the rate is multiplied by each epoch, in (0, 1].</summary>
    public double DecayPerEpoch
    {
        get => _decay;
        init => _decay = Requires.InUnitIntervalOpenBelow(value, nameof(DecayPerEpoch), "the learning-rate decay per epoch");
    }

    /// <summary>The floor under the decayed rate; 0 for none.</summary>
    public double Minimum
    {
        get => _minimum;
        init => _minimum = Requires.ZeroOrPositiveInSinglePrecision(value, nameof(Minimum), "the minimum learning rate");
    }

    /// <summary>The checks between the bounds (a <c>with</c> expression sets them one at a time).</summary>
    internal void Validate()
    {
        if (Minimum > Initial)
            throw new ArgumentOutOfRangeException(nameof(Minimum), Minimum, $"The minimum learning rate {Minimum} exceeds the initial rate {Initial}.");
    }

    /// <summary>
    /// The first epoch in [<paramref name="first"/>, <paramref name="last"/>] whose rate is 0 in single precision, or null. The
    /// rates never rise (decay ≤ 1), so the last epoch's decides whether there is one, and a bisection finds it.
    /// </summary>
    internal int? FirstZeroInSinglePrecision(int first, int last)
    {
        if (last < first || (float)At(last) != 0) return null;
        while (first < last)
        {
            int middle = first + (last - first) / 2;
            if ((float)At(middle) == 0) last = middle;
            else first = middle + 1;
        }
        return first;
    }

    /// <summary>
    /// A rate as a report gives it: the float the optimiser steps with, as the shortest decimal that is that float
    /// (1e-4, not the 9.999999747378752E-05 that widening the float gives; cast back to float it is the same value).
    /// </summary>
    internal static double AsReported(float rate) => double.Parse(rate.ToString("R", System.Globalization.CultureInfo.InvariantCulture), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// The rate of <paramref name="epoch"/> (from 0): max(Minimum, Initial · DecayPerEpoch^epoch). Throws
    /// <see cref="ArgumentOutOfRangeException"/> for a negative epoch, or when a <c>with</c> expression has set a Minimum above Initial.
    /// </summary>
    public double At(int epoch)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        Validate();
        return Math.Max(Minimum, Initial * Math.Pow(DecayPerEpoch, epoch));
    }

    /// <summary>The schedule's <paramref name="Initial"/>, <paramref name="DecayPerEpoch"/> and <paramref name="Minimum"/>.</summary>
    public void Deconstruct(out double Initial, out double DecayPerEpoch, out double Minimum)
    {
        Initial = this.Initial;
        DecayPerEpoch = this.DecayPerEpoch;
        Minimum = this.Minimum;
    }
}
