using Microsoft.ML.Helmholtz.Temporal;

namespace Microsoft.ML.Helmholtz.Onnx;

/// <summary>
/// The ONNX graph (opset 18) of a temporal machine's per-frame log-likelihood with common random
/// numbers, as <see cref="TemporalFixedNoiseLogLikelihood"/> computes it, for one sequence [T × D]
/// (the row ML.NET's OnnxTransformer hands over): ONNX's LSTM operator over the frames before each
/// frame (zeros first; our gates i, f, g, o reordered to its i, o, f, c), the conditioning map as one
/// Gemm per layer, and the frame machine's log-likelihood graph with each layer's conditioning added.
/// Outputs: every frame's ln p̂ [T] and their sum [1].
/// </summary>
internal static class TemporalGraph
{
    public static byte[] Build(TemporalFixedNoiseLogLikelihood scorer, int frames, string input, string perFrame, string total, bool rowOfAnySize = false)
    {
        TemporalHelmholtzMachine model = scorer.Model;
        var machine = model.Machine;
        var layers = machine.Architecture.Layers;
        int d = model.FrameSize, h = model.RecurrentUnits;
        var g = new OnnxGraphBuilder("temporal_helmholtz_machine") { ModelDomain = "microsoft.ml.helmholtz" };
        // rowOfAnySize declares it [1, values], so that OnnxTransformer takes the saved pipeline's checked input, a vector of
        // unknown size (Transforms.SavedInput; it fills in one unknown dimension, not a leading one); it is frames × d whenever the graph runs.
        string row = rowOfAnySize ? g.Input(input, 1, "values") : g.Input(input, frames * d);
        string x = g.Node("Reshape", [row, g.Int64Initializer("frames_shape", [frames, d], 2)]);

        // The LSTM reads frame t − 1 at step t: zeros, then frames 0 … T − 2.
        string zeros = g.Initializer("first_input", new float[d], 1, d);
        string previous = frames == 1 ? zeros : g.Node("Concat", [zeros, g.Node("Slice", [x,
            g.Int64Initializer("previous_start", [0], 1), g.Int64Initializer("previous_end", [frames - 1], 1), g.Int64Initializer("previous_axis", [0], 1)])], null, ("axis", 0L));
        string sequence = g.Node("Unsqueeze", [previous, g.Int64Initializer("batch_axis", [1], 1)]);
        Lstm lstm = model.Recurrence;
        int[] order = [0, 3, 1, 2];   // ONNX's gate k is ours order[k]: i, o, f, c ← i, f, g, o
        float[] w = Reorder(lstm.InputWeights.Value, h, d, order), r = Reorder(lstm.RecurrentWeights.Value, h, h, order);
        float[] b = new float[8 * h];
        Reorder(lstm.Bias.Value, h, 1, order).CopyTo(b, 0);   // the recurrent bias (the second half) stays 0
        string y = g.Node("LSTM", [sequence, g.Initializer("lstm_W", w, 1, 4 * h, d), g.Initializer("lstm_R", r, 1, 4 * h, h), g.Initializer("lstm_B", b, 1, 8 * h)],
            null, ("hidden_size", (long)h));
        string z = g.Node("Reshape", [y, g.Int64Initializer("state_shape", [frames, h], 2)]);

        // c_t of each layer: its rows of the map, as one Gemm [T, units].
        var map = model.ConditioningMap;
        var cache = new Dictionary<(bool, int), string>();
        string Conditioning(bool recognition, int layer)
        {
            if (cache.TryGetValue((recognition, layer), out string? name)) return name;
            int offset = model.ConditioningOffset(recognition, layer), units = layers[layer].Size;
            float[] weights = map.Weight!.Value.AsSpan(offset * h, units * h).ToArray(), bias = map.Bias.Value.AsSpan(offset, units).ToArray();
            string tag = $"{(recognition ? "rec" : "gen")}{layer}_conditioning";
            return cache[(recognition, layer)] = g.Node("Gemm", [z, g.Initializer($"{tag}_W", weights, units, h), g.Initializer($"{tag}_b", bias, units)], null, ("transB", 1L));
        }

        string logLikelihood = MachineGraph.AddLogLikelihood(g, machine, scorer.Samples, l => scorer.Noise(l).ToArray(), x, Conditioning);
        g.Node("Identity", [logLikelihood], perFrame);
        g.Output(perFrame, frames);
        g.Reduce("ReduceSum", logLikelihood, [0], keepDims: true, total);
        g.Output(total, 1);
        var meta = new Dictionary<string, string> { ["architecture"] = machine.Architecture.ToString(), ["recurrent_units"] = h.ToString(), ["frames"] = frames.ToString() };
        return g.ToBytes("Microsoft.ML.Helmholtz", typeof(TemporalGraph).Assembly.GetName().Version?.ToString() ?? "0", meta);
    }

    /// <summary>The four gate blocks of [4H × columns] in ONNX's order.</summary>
    private static float[] Reorder(float[] values, int h, int columns, int[] order)
    {
        var result = new float[values.Length];
        for (int gate = 0; gate < 4; gate++)
            values.AsSpan(order[gate] * h * columns, h * columns).CopyTo(result.AsSpan(gate * h * columns));
        return result;
    }
}
