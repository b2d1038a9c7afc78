using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Learning.Optimizers;
using Microsoft.ML.Helmholtz.Model;

namespace Microsoft.ML.Helmholtz.Learning;

/// <summary>
/// The optimiser steps of one training run, the last of them undoable: each is taken under the machine's
/// write lock with the values before it kept (<see cref="StepUndo"/>) and the step count changed with the
/// parameters, and undoing the run's first step (or what the run changed before it) puts the machine back
/// as it was given, the data-based start of its visible biases too. The trainers decide when a step has
/// failed; this is how it is taken and undone, the same for both.
/// </summary>
internal sealed class UndoableSteps
{
    private readonly HelmholtzMachine _machine;
    private readonly IReadOnlyList<Parameter> _parameters;
    private readonly StepUndo _undo;
    private (Parameter Parameter, float[] Value)[] _beforeInitialization = [];

    /// <summary>Keeps the machine as given: a failure before the first step goes back to it.</summary>
    public UndoableSteps(HelmholtzMachine machine, IReadOnlyList<Parameter> parameters)
    {
        _machine = machine;
        _parameters = parameters;
        _undo = new StepUndo(parameters);
        _undo.Save();
    }

    /// <summary>The steps this run has taken (an undone one included).</summary>
    public long Taken { get; private set; }

    public bool StepTaken => Taken > 0;

    /// <summary>
    /// Keeps <paramref name="parameters"/> as they are before the data-based initialisation changes them, so that
    /// undoing the run's first step undoes that too: a run that makes no step that holds leaves the machine as given.
    /// </summary>
    public void KeepBeforeInitialization(IEnumerable<Parameter> parameters)
        => _beforeInitialization = parameters.Select(p => (p, (float[])p.Value.Clone())).ToArray();

    /// <summary>One optimiser step (in centred coordinates with <paramref name="centering"/>), with the values before it kept until the next.</summary>
    public void Take(IOptimizer optimizer, float rate, InputCentering? centering = null)
    {
        using (_machine.Access.EnterWrite())
        {
            if (optimizer is IKeepsValuesBeforeStep keeping)
            {
                // The built-in optimisers copy the values into the undo copy as they step (no pass of its own).
                centering?.ToCentred();
                try
                {
                    keeping.Step(_parameters, rate, _undo);
                }
                catch
                {
                    centering?.Abandon();   // such a step fails before its pass (IKeepsValuesBeforeStep): the biases go back
                    throw;
                }
                centering?.FromCentred(_undo);
            }
            else
            {
                _undo.Save();
                try
                {
                    centering?.ToCentred();
                    optimizer.Step(_parameters, rate);
                    centering?.FromCentred(null);
                }
                catch
                {
                    _undo.Restore();   // an optimiser that fails part-way leaves no half-made step
                    throw;
                }
            }
            _machine.StepsTrained++;   // with the parameters, under the write lock: a copy never pairs new values with the old count
        }
        Taken++;
    }

    /// <summary>Puts back the values from before the last step (up to the first, the machine as given to the run).</summary>
    public void UndoLast()
    {
        using var write = _machine.Access.EnterWrite();
        _undo.Restore();
        if (Taken <= 1)
            foreach (var (parameter, value) in _beforeInitialization) value.CopyTo(parameter.Value, 0);
        if (StepTaken) _machine.StepsTrained--;
    }

    /// <summary>After a failure before the run's first step: the machine as it was given (a step's own failures have undone theirs).</summary>
    public void UndoIfNoStepTaken()
    {
        if (!StepTaken) UndoLast();
    }

    /// <summary>What undoing left, for messages.</summary>
    public string UndoneState => Taken <= 1 ? "the machine is as it was when the run started" : "the machine holds the parameters it had before it";
}
