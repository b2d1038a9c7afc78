using Microsoft.ML.Helmholtz.Model;

namespace Microsoft.ML.Helmholtz.Learning.Rules;

/// <summary>The check shared by the rules that back-propagate through the samples of every hidden layer.</summary>
internal static class ReparameterizedLayers
{
    /// <summary>Null when every hidden layer's unit kind has reparameterised samples; else which layer has not.</summary>
    public static string? Unsupported(HelmholtzArchitecture architecture, string rule)
    {
        ArgumentNullException.ThrowIfNull(architecture);
        var layers = architecture.Layers;
        for (int l = 1; l < layers.Count; l++)
        {
            if (!layers[l].Units.HasReparameterizedSamples)
                return $"{rule} needs Gaussian hidden layers, but hidden layer {l} ({layers[l]}) is {layers[l].Units.Name}: " +
                    "its samples cannot be differentiated. Use Gaussian units there (e.g. '200g'), or train with wake-sleep or REINFORCE.";
        }
        return null;
    }
}
