using System.Numerics.Tensors;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Learning.Rules;

/// <summary>
/// A small network c(x) = w · tanh(A x + a) + b trained by least squares to predict the centred
/// learning signal from the input (the input-dependent baseline of Mnih and Gregor, 2014).
/// </summary>
internal sealed class InputDependentBaseline
{
    private readonly AffineMap _hidden, _output;
    private readonly int _inputs, _hiddenUnits;
    private readonly string _option;
    private float[] _h = [], _prediction = [], _dPrediction = [], _dHidden = [];

    public InputDependentBaseline(int inputs, int hiddenUnits, IMatrixEngine engine, RandomStream random, string name = "baseline", string option = "ReinforceOptions.InputBaselineHiddenUnits")
    {
        _inputs = inputs;
        _hiddenUnits = hiddenUnits;
        _option = option;
        // Named by the option that sets it, before the weights are made (the parameter's own refusal names only "rows").
        if ((long)inputs * hiddenUnits > Parameter.MaxValues)
            throw new ArgumentOutOfRangeException("options", hiddenUnits,
                $"{option} = {hiddenUnits}: the input-dependent baseline's {inputs} × {hiddenUnits} weights exceed the limit of {Parameter.MaxValues:N0} values a parameter holds.");
        _hidden = new AffineMap(name + ".hidden", inputs, hiddenUnits, engine);
        _output = new AffineMap(name + ".output", hiddenUnits, 1, engine);
        random.FillNormal(_hidden.Weight!.Value);
        TensorPrimitives.Multiply(_hidden.Weight.Value, 1f / MathF.Sqrt(inputs), _hidden.Weight.Value);
        Parameters = Array.AsReadOnly(_hidden.Parameters.Concat(_output.Parameters).ToArray());
    }

    public IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>The network's weights, which a resumed run takes back (<see cref="IResumable"/>).</summary>
    public void SaveState(StateSection section)
    {
        foreach (Parameter p in Parameters) section.Write(p.Name, p.Value);
    }

    /// <summary>Throws <see cref="InvalidDataException"/> when the section lacks a weight or holds one that is not finite; <see cref="RestoreState"/> after every part checked.</summary>
    public void CheckState(StateSection section)
    {
        foreach (Parameter p in Parameters)
            if (!Kernels.AllFinite(section.ReadFloats(p.Name, p.Length)))
                throw new InvalidDataException($"The training state of {section.Owner} holds a value of {p.Name} that is not finite.");
    }

    public void RestoreState(StateSection section)
    {
        foreach (Parameter p in Parameters) section.ReadFloats(p.Name, p.Length).CopyTo(p.Value);
    }

    /// <summary>Predictions c(x_r) for the batch; kept for <see cref="Backward"/>.</summary>
    public ReadOnlySpan<float> Predict(ReadOnlySpan<float> input, int rows)
    {
        if (_prediction.Length < rows)
        {
            Requires.ArrayLength(nameof(rows), $"The input-dependent baseline's hidden layer over {rows} rows", $"use a smaller batch or {_option}",
                rows, _hiddenUnits);
            _h = new float[rows * _hiddenUnits];
            _dHidden = new float[rows * _hiddenUnits];
            _prediction = new float[rows];
            _dPrediction = new float[rows];
        }
        Span<float> h = _h.AsSpan(0, rows * _hiddenUnits);
        _hidden.Forward(input, rows, h);
        Kernels.Tanh(h, h);
        _output.Forward(h, rows, _prediction.AsSpan(0, rows));
        return _prediction.AsSpan(0, rows);
    }

    /// <summary>Accumulates the gradient of Σ_r ½ (c(x_r) − target_r)² / rows.</summary>
    public void Backward(ReadOnlySpan<float> input, ReadOnlySpan<double> target, int rows)
    {
        Span<float> dp = _dPrediction.AsSpan(0, rows);
        for (int r = 0; r < rows; r++) dp[r] = (float)((_prediction[r] - target[r]) / rows);
        Span<float> dh = _dHidden.AsSpan(0, rows * _hiddenUnits);
        dh.Clear();
        _output.Backward(dp, _h.AsSpan(0, rows * _hiddenUnits), rows, dh);
        Kernels.MultiplyByTanhDerivative(_h.AsSpan(0, dh.Length), dh);
        _hidden.Backward(dh, input, rows, default);
    }
}
