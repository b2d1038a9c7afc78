using Microsoft.ML.Helmholtz.Model;

namespace Microsoft.ML.Helmholtz.Learning.Rules;

/// <summary>
/// Variance normalisation (REINFORCE, NVIL) divides the recognition network's learning signal by a running scale: a step size for
/// the recognition layers' own parameters. The gradient a recognition call adds to the conditioning reaches parameters both networks
/// share (the temporal model's LSTM and its map), where a scaled share would weigh q's part against p's by the scale and follow the
/// gradient of no objective. This keeps the recognition conditioning gradients before the call and divides what it added by the scale.
/// </summary>
internal sealed class UnscaledConditioningGradient
{
    private float[][] _before = [];

    /// <summary>Keeps the recognition conditioning gradients of layers <paramref name="first"/>…<paramref name="last"/> (1…L) before a scaled call.</summary>
    public void Keep(LayerConditioning conditioning, int rows, int first, int last)
    {
        if (_before.Length <= last) Array.Resize(ref _before, last + 1);
        for (int l = first; l <= last; l++)
        {
            Span<float> gradient = conditioning.RecognitionGradient(l, rows);
            if ((_before[l]?.Length ?? -1) < gradient.Length) _before[l] = new float[gradient.Length];
            gradient.CopyTo(_before[l]);
        }
    }

    /// <summary>Divides what the call added to those gradients by <paramref name="scale"/> (the factor its signal was multiplied by).</summary>
    public void Unscale(LayerConditioning conditioning, int rows, int first, int last, double scale)
    {
        float inverse = (float)(1 / scale);
        for (int l = first; l <= last; l++)
        {
            Span<float> gradient = conditioning.RecognitionGradient(l, rows);
            ReadOnlySpan<float> before = _before[l];
            for (int i = 0; i < gradient.Length; i++) gradient[i] = before[i] + (gradient[i] - before[i]) * inverse;
        }
    }
}
