using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Learning.Rules;

/// <summary>
/// Wake-Sleep (Hinton et al., 1995). Wake: θg follows ∇θg ln p(X) at X_{&gt;0} ~ q(· | X_0).
/// Sleep: θr follows ∇θr ln q(D_{&gt;0} | D_0) for a dream D ~ p. The sleep phase minimises
/// KL(p‖q) rather than KL(q‖p), so this is not the gradient of the free energy.
/// </summary>
public sealed class WakeSleep : ILearningRule
{
    private LayerStates? _dreams;
    private double[] _freeEnergy = [], _logJoint = [];
    private float[] _weights = [];

    public string Name => "wake-sleep";
    public IReadOnlyList<Parameter> Parameters { get; } = [];

    private HelmholtzMachine? _machine;

    public void Prepare(HelmholtzMachine machine, int batchCapacity)
    {
        ArgumentNullException.ThrowIfNull(machine);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchCapacity);
        _machine = machine;
        _dreams = new LayerStates(machine.Architecture, batchCapacity);
        _freeEnergy = new double[batchCapacity];
        _logJoint = new double[batchCapacity];
        _weights = new float[batchCapacity];
    }

    public double AccumulateGradients(HelmholtzMachine machine, LayerStates states, int rows, RandomStream random)
    {
        ArgumentNullException.ThrowIfNull(machine);
        if (!ReferenceEquals(machine, _machine) || _dreams!.Capacity < rows) Prepare(machine, rows);
        Span<float> w = _weights.AsSpan(0, rows);
        w.Fill(-1f / rows);

        // Wake: the loss −ln p(X) / B at X_{>0} ~ q.
        machine.SampleFreeEnergy(random, states, rows, _freeEnergy, _logJoint);
        machine.Generative.AccumulateLogJointGradient(states, rows, w);

        // Sleep: the loss −ln q(D_{>0} | D_0) / B at a dream D ~ p.
        machine.Generative.Dream(random, rows, _dreams!);
        Span<double> unused = _logJoint.AsSpan(0, rows);
        machine.Recognition.AccumulateLogProb(_dreams!, rows, unused);
        machine.Recognition.AccumulateLogProbGradient(_dreams!, rows, w);

        double sum = 0;
        for (int r = 0; r < rows; r++) sum += _freeEnergy[r];
        return sum / rows;
    }
}
