namespace Microsoft.ML.Helmholtz.Model;

/// <summary>The kind of stochastic unit a layer holds.</summary>
public enum UnitType
{
    /// <summary>Binary units: Bernoulli(sigmoid(W x + b)).</summary>
    Bernoulli,

    /// <summary>Smooth units: Gaussian with a learned diagonal variance.</summary>
    Gaussian,
}

/// <summary>The nonlinearity of a generative Gaussian layer's mean.</summary>
public enum GaussianMean
{
    /// <summary>mean = tanh(W x + b): the smooth unit of the seed.</summary>
    Tanh,

    /// <summary>mean = W x + b: for real-valued visible data outside (−1, 1).</summary>
    Linear,
}
