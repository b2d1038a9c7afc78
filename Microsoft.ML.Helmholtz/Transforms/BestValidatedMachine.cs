using Microsoft.ML.Helmholtz.Data;
using Microsoft.ML.Helmholtz.Evaluation;
using Microsoft.ML.Helmholtz.Model;

namespace Microsoft.ML.Helmholtz.Transforms;

/// <summary>
/// Estimates the validation rows' mean ln p after each epoch and keeps a copy of the machine of the
/// epoch that scored best (<see cref="HelmholtzMachineOptions.ValidationSamples"/>). One estimator with
/// one seed serves every epoch: the same draws each time, so that the estimates compare machines.
/// Called on the training thread between epochs, while no step runs.
/// </summary>
internal sealed class BestValidatedMachine(HelmholtzMachine machine, DataMatrix validation, int samples, ulong seed)
{
    private readonly ImportanceSampledLogLikelihood _estimator = new(samples, seed);

    /// <summary>A copy of the best epoch's machine; null before the first estimate.</summary>
    public HelmholtzMachine? Machine { get; private set; }

    public int Epoch { get; private set; }

    public double LogLikelihood { get; private set; } = double.NegativeInfinity;

    /// <summary>The estimate for the machine as <paramref name="epoch"/> left it; a copy is kept when it is the best so far.</summary>
    public double Estimate(int epoch, CancellationToken cancellation)
    {
        double mean = _estimator.Estimate(machine, validation, cancellationToken: cancellation).Mean;
        if (mean > LogLikelihood)
        {
            LogLikelihood = mean;
            Epoch = epoch;
            Machine = machine.Clone();
        }
        return mean;
    }
}
