using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Numerics;
using Microsoft.ML.Helmholtz.Temporal;
using Microsoft.ML.Helmholtz.Tests.Support;

namespace Microsoft.ML.Helmholtz.Tests.Temporal;

/// <summary>
/// The LSTM's forward pass against a double-precision reference and closed forms, its backward pass
/// against central finite differences, the step-by-step equivalence generation relies on, gradient
/// accumulation, argument checks, and that neither pass allocates.
/// </summary>
[TestClass]
public sealed class LstmTests
{
    /// <summary>A small LSTM with every parameter random (biases too, so that no gate sits at a symmetric point).</summary>
    private static Lstm RandomLstm(int inputs, int hidden, ulong seed, IMatrixEngine? engine = null)
    {
        var lstm = new Lstm("lstm", inputs, hidden, engine ?? MatrixEngine.Default);
        var random = new RandomStream(seed);
        lstm.Initialize(random);
        var noise = new float[lstm.Bias.Length];
        random.FillNormal(noise);
        for (int k = 0; k < noise.Length; k++) lstm.Bias.Value[k] += 0.5f * noise[k];
        return lstm;
    }

    private static float[] Normal(int length, ulong seed, float scale = 1f)
    {
        var x = new float[length];
        new RandomStream(seed).FillNormal(x);
        for (int k = 0; k < length; k++) x[k] *= scale;
        return x;
    }

    private static void ZeroGradients(Lstm lstm)
    {
        foreach (Parameter p in lstm.Parameters) p.ZeroGradient();
    }

    private static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));

    /// <summary>The equations in double precision, written independently of the layer: z_1 … z_T, time-major.</summary>
    private static double[] ReferenceHidden(Lstm lstm, float[] x, int steps, int batch, float[] h0, float[] c0)
    {
        int d = lstm.InputSize, h = lstm.HiddenSize;
        float[] wx = lstm.InputWeights.Value, wh = lstm.RecurrentWeights.Value, b = lstm.Bias.Value;
        var z = new double[steps * batch * h];
        var hPrev = new double[batch * h];
        var cPrev = new double[batch * h];
        for (int k = 0; k < batch * h; k++) { hPrev[k] = h0[k]; cPrev[k] = c0[k]; }
        var a = new double[4 * h];
        for (int t = 0; t < steps; t++)
        {
            for (int r = 0; r < batch; r++)
            {
                int row = t * batch + r;
                for (int u = 0; u < 4 * h; u++)
                {
                    double s = b[u];
                    for (int j = 0; j < d; j++) s += wx[u * d + j] * (double)x[row * d + j];
                    for (int j = 0; j < h; j++) s += wh[u * h + j] * hPrev[r * h + j];
                    a[u] = s;
                }
                for (int j = 0; j < h; j++)
                {
                    double i = Sigmoid(a[j]), f = Sigmoid(a[h + j]), g = Math.Tanh(a[2 * h + j]), o = Sigmoid(a[3 * h + j]);
                    double c = f * cPrev[r * h + j] + i * g;
                    cPrev[r * h + j] = c;
                    z[row * h + j] = o * Math.Tanh(c);
                }
            }
            for (int r = 0; r < batch; r++)
                for (int j = 0; j < h; j++) hPrev[r * h + j] = z[(t * batch + r) * h + j];
        }
        return z;
    }

    [TestMethod]
    public void ForwardMatchesADoublePrecisionReference()
    {
        const int d = 19, h = 21, batch = 3, steps = 7; // 4H and H not multiples of the 16 vector lanes
        var lstm = RandomLstm(d, h, 1);
        float[] x = Normal(steps * batch * d, 2), h0 = Normal(batch * h, 3, 0.5f), c0 = Normal(batch * h, 4);
        lstm.EnsureCapacity(steps, batch);
        lstm.Forward(x, steps, batch, h0, c0);
        double[] expected = ReferenceHidden(lstm, x, steps, batch, h0, c0);
        ReadOnlySpan<float> z = lstm.Hidden(steps, batch);
        Assert.AreEqual(expected.Length, z.Length);
        // float32 with products of 19 + 21 terms and a few ulps per activation: errors ~1e-6.
        for (int k = 0; k < expected.Length; k++)
            Assert.AreEqual(expected[k], z[k], 1e-5, $"z at {k}");
        for (int k = 0; k < batch * h; k++)
            Assert.AreEqual(expected[(steps - 1) * batch * h + k], lstm.FinalHidden(batch)[k], 1e-5, "the final hidden state is z_T");
    }

    /// <summary>
    /// With L = Σ_t Σ w_t ⊙ z_t, ∂L/∂z_t = w_t from outside. Every entry of Wx, Wh and b, of every input
    /// x_t (all five steps), and of z_0 and c_0 against a central difference of L: the forward in
    /// float32, L summed in double, the difference divided by the step actually taken in float32.
    /// The difference errs by rounding, about ε/h with ε the float32 noise in L (a few ulps of each of
    /// its 40 terms of O(1)), and by truncation, h² L‴/6. Measured on this case when written: the worst
    /// error over all 148 entries is 2.5e-3 at h = 1e-4 and 7e-4 at 3e-4 (rounding, so ε ≈ 2.5e-7),
    /// 7e-4 at h = 3e-2 and 8e-3 at 0.1 (truncation, ≈ 0.8 h²); they balance near h = (ε/1.6)^⅓ ≈ 5e-3,
    /// and at h = 1e-2 the worst is 7.5e-5. The tolerance, 5e-4 absolute plus 1e-3 of the value, is
    /// ten times that (room for other engines' rounding) and far below the gradients (0.1–1.5) and the
    /// error a wrong term of the backward pass would make.
    /// </summary>
    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void BackwardMatchesCentralDifferences(bool singleThreaded)
    {
        const int d = 3, h = 4, batch = 2, steps = 5;
        IMatrixEngine engine = singleThreaded ? MatrixEngine.SingleThreaded() : MatrixEngine.Default;
        var lstm = RandomLstm(d, h, 11, engine);
        float[] x = Normal(steps * batch * d, 12), w = Normal(steps * batch * h, 13);
        float[] h0 = Normal(batch * h, 14, 0.5f), c0 = Normal(batch * h, 15);
        lstm.EnsureCapacity(steps, batch);
        double Loss()
        {
            lstm.Forward(x, steps, batch, h0, c0);
            ReadOnlySpan<float> z = lstm.Hidden(steps, batch);
            double sum = 0;
            for (int k = 0; k < z.Length; k++) sum += (double)w[k] * z[k];
            return sum;
        }

        ZeroGradients(lstm);
        float[] dx = new float[x.Length], dh0 = new float[h0.Length], dc0 = new float[c0.Length];
        Loss();
        lstm.Backward(w, steps, batch, dx, dh0, dc0);

        const double step = 1e-2, absolute = 5e-4, relative = 1e-3;
        int checkedEntries = 0;
        double worst = 0;
        void Check(float[] values, float[] analytic, string name)
        {
            for (int k = 0; k < values.Length; k++)
            {
                float saved = values[k];
                float up = (float)(saved + step), down = (float)(saved - step);
                values[k] = up;
                double lossUp = Loss();
                values[k] = down;
                double lossDown = Loss();
                values[k] = saved;
                double numeric = (lossUp - lossDown) / ((double)up - down);
                double tolerance = absolute + relative * Math.Abs(numeric);
                worst = Math.Max(worst, Math.Abs(analytic[k] - numeric) / tolerance);
                Assert.IsTrue(Math.Abs(analytic[k] - numeric) <= tolerance,
                    $"{name}[{k}]: analytic {analytic[k]:G6}, central difference {numeric:G6}, tolerance {tolerance:G3}");
                checkedEntries++;
            }
        }
        foreach (Parameter p in lstm.Parameters) Check(p.Value, p.Gradient, p.Name);
        Check(x, dx, "x");        // every input, at every step
        Check(h0, dh0, "z_0");
        Check(c0, dc0, "c_0");
        Assert.AreEqual(4 * h * d + 4 * h * h + 4 * h + x.Length + h0.Length + c0.Length, checkedEntries);
        foreach (Parameter p in lstm.Parameters)
            Assert.IsTrue(p.Gradient.Count(v => Math.Abs(v) > 1e-3) > p.Length / 2, $"{p.Name}: most gradient entries should be clearly nonzero");
        Assert.IsTrue(dx.Count(v => Math.Abs(v) > 1e-3) > dx.Length / 2, "most input gradients should be clearly nonzero");
        Console.WriteLine($"worst |analytic − numeric| / tolerance: {worst:G3}");
    }

    /// <summary>
    /// Forward over T steps in one call equals T calls of one step, each starting from the last one's
    /// final state, handed over as the spans FinalHidden and FinalCell return (generation's pattern:
    /// the initial state then aliases the layer's own buffers). The managed engine computes each output
    /// of a product in the same order whatever the number of rows, so there the two agree to the bit;
    /// any engine must agree within 1e-6.
    /// </summary>
    [TestMethod]
    [DataRow("managed")]
    [DataRow("default")]
    public void OneCallEqualsStepByStepCallsCarryingTheState(string engineName)
    {
        const int d = 37, h = 21, batch = 3, steps = 6;
        IMatrixEngine engine = engineName == "managed" ? MatrixEngine.Managed : MatrixEngine.Default;
        var whole = RandomLstm(d, h, 21, engine);
        var stepwise = new Lstm("stepwise", d, h, engine);
        for (int p = 0; p < whole.Parameters.Count; p++) whole.Parameters[p].Value.CopyTo(stepwise.Parameters[p].Value, 0);
        float[] x = Normal(steps * batch * d, 22), h0 = Normal(batch * h, 23, 0.5f), c0 = Normal(batch * h, 24);

        whole.EnsureCapacity(steps, batch);
        whole.Forward(x, steps, batch, h0, c0);
        float[] expected = whole.Hidden(steps, batch).ToArray();

        stepwise.EnsureCapacity(1, batch);
        var actual = new float[expected.Length];
        for (int t = 0; t < steps; t++)
        {
            ReadOnlySpan<float> input = x.AsSpan(t * batch * d, batch * d);
            if (t == 0) stepwise.Forward(input, 1, batch, h0, c0);
            else stepwise.Forward(input, 1, batch, stepwise.FinalHidden(batch), stepwise.FinalCell(batch));
            stepwise.Hidden(1, batch).CopyTo(actual.AsSpan(t * batch * h));
        }
        double tolerance = engineName == "managed" ? 0 : 1e-6;
        for (int k = 0; k < expected.Length; k++)
            Assert.AreEqual(expected[k], actual[k], tolerance, $"z at {k} on {engine.Name}");
        for (int k = 0; k < batch * h; k++)
            Assert.AreEqual(whole.FinalCell(batch)[k], stepwise.FinalCell(batch)[k], tolerance, $"c_T at {k} on {engine.Name}");
    }

    [TestMethod]
    public void BackwardAccumulates()
    {
        const int d = 7, h = 5, batch = 3, steps = 4;
        var lstm = RandomLstm(d, h, 41);
        float[] x = Normal(steps * batch * d, 42), w = Normal(steps * batch * h, 43);
        float[] h0 = Normal(batch * h, 44), c0 = Normal(batch * h, 45);
        lstm.EnsureCapacity(steps, batch);
        lstm.Forward(x, steps, batch, h0, c0);
        ZeroGradients(lstm);
        float[] dx = new float[x.Length], dh0 = new float[h0.Length], dc0 = new float[c0.Length];
        lstm.Backward(w, steps, batch, dx, dh0, dc0);
        float[][] once = [.. lstm.Parameters.Select(p => p.Gradient.ToArray()), dx.ToArray(), dh0.ToArray(), dc0.ToArray()];
        lstm.Backward(w, steps, batch, dx, dh0, dc0);
        float[][] twice = [.. lstm.Parameters.Select(p => p.Gradient), dx, dh0, dc0];
        string[] names = [.. lstm.Parameters.Select(p => p.Name), "x", "z_0", "c_0"];
        for (int a = 0; a < once.Length; a++)
        {
            Assert.IsTrue(once[a].Any(v => v != 0), $"{names[a]}: the gradient should not be zero");
            // Each gradient is a float sum of up to steps × batch (12) or 4h (20) terms, so its rounding is bounded by
            // about n·2⁻²⁴ ≈ 1.2e-6 times the size of the terms, which the array's largest entry measures; an entry
            // whose terms cancel can be much smaller than its rounding (lstm.b[1] on the scalar path: 0.0056, off by 6.6e-9).
            double scale = once[a].Max(v => Math.Abs(v));
            for (int k = 0; k < once[a].Length; k++)
                Assert.AreEqual(2.0 * once[a][k], twice[a][k], 2e-6 * scale + 1e-9, $"{names[a]}[{k}]");
        }
    }

    /// <summary>
    /// All weights zero, the biases as Initialize sets them (0, the forget gate's 1) but the cell
    /// candidate's β: every step has i = o = ½, f = σ(1), g = tanh β whatever the inputs, so
    /// c_t = f^t c_0 + ½ tanh β (1 − f^t)/(1 − f) and z_t = ½ tanh c_t. Backward: ∂L/∂c_0 = Σ_t w_t ½ (1 − tanh² c_t) f^t,
    /// and nothing reaches the inputs or z_0 through zero weights. With β = 0, g = 0 and a zero cell stays zero.
    /// </summary>
    [TestMethod]
    [DataRow(0.0)]
    [DataRow(0.8)]
    public void ZeroWeightsFollowTheClosedForm(double beta)
    {
        const int d = 3, h = 4, batch = 2, steps = 6;
        var lstm = new Lstm("lstm", d, h, MatrixEngine.Default);
        lstm.Initialize(new RandomStream(51));
        for (int u = 0; u < 4 * h; u++)
            Assert.AreEqual(u >= h && u < 2 * h ? 1f : 0f, lstm.Bias.Value[u], $"initial bias {u}: 0, the forget gate's 1");
        Array.Clear(lstm.InputWeights.Value);
        Array.Clear(lstm.RecurrentWeights.Value);
        for (int j = 0; j < h; j++) lstm.Bias.Value[2 * h + j] = (float)beta;
        float[] x = Normal(steps * batch * d, 52), h0 = Normal(batch * h, 53), w = Normal(steps * batch * h, 54);
        float[] c0 = beta == 0 ? new float[batch * h] : Normal(batch * h, 55);
        lstm.EnsureCapacity(steps, batch);
        lstm.Forward(x, steps, batch, h0, c0);
        ZeroGradients(lstm);
        float[] dx = new float[x.Length], dh0 = new float[h0.Length], dc0 = new float[c0.Length];
        lstm.Backward(w, steps, batch, dx, dh0, dc0);

        double f = Sigmoid(1), g = Math.Tanh(beta);
        ReadOnlySpan<float> z = lstm.Hidden(steps, batch);
        for (int k = 0; k < batch * h; k++)
        {
            double expectedDc0 = 0;
            for (int t = 1; t <= steps; t++)
            {
                double c = Math.Pow(f, t) * c0[k] + 0.5 * g * (1 - Math.Pow(f, t)) / (1 - f);
                int row = (t - 1) * batch * h + k;
                Assert.AreEqual(0.5 * Math.Tanh(c), z[row], 1e-6, $"z_{t} at {k}");
                if (beta == 0) Assert.AreEqual(0f, z[row], "a zero cell stays zero");
                if (t == steps) Assert.AreEqual(c, lstm.FinalCell(batch)[k], 1e-6, $"c_T at {k}");
                double tc = Math.Tanh(c);
                expectedDc0 += w[row] * 0.5 * (1 - tc * tc) * Math.Pow(f, t);
            }
            Assert.AreEqual(expectedDc0, dc0[k], 1e-5, $"∂L/∂c_0 at {k}");
            Assert.AreEqual(0f, dh0[k], $"∂L/∂z_0 at {k} through zero weights");
        }
        Assert.IsTrue(dx.All(v => v == 0), "nothing reaches the inputs through zero weights");
    }

    [TestMethod]
    public void InitializeDrawsWeightsWithVarianceOneOverFanIn()
    {
        const int d = 400, h = 50;
        var lstm = new Lstm("lstm", d, h, MatrixEngine.Default);
        lstm.Initialize(new RandomStream(61));
        Assert.AreEqual("lstm.Wx", lstm.InputWeights.Name);
        Assert.AreEqual("lstm.Wh", lstm.RecurrentWeights.Name);
        Assert.AreEqual("lstm.b", lstm.Bias.Name);
        CollectionAssert.AreEqual(new[] { lstm.InputWeights, lstm.RecurrentWeights, lstm.Bias }, lstm.Parameters.ToArray());
        Assert.AreEqual((4 * h, d, ParameterRole.Weight), (lstm.InputWeights.Rows, lstm.InputWeights.Columns, lstm.InputWeights.Role));
        Assert.AreEqual((4 * h, h, ParameterRole.Weight), (lstm.RecurrentWeights.Rows, lstm.RecurrentWeights.Columns, lstm.RecurrentWeights.Role));
        Assert.AreEqual((1, 4 * h, ParameterRole.Bias), (lstm.Bias.Rows, lstm.Bias.Columns, lstm.Bias.Role));
        foreach (var (p, fanIn) in new[] { (lstm.InputWeights, d), (lstm.RecurrentWeights, h) })
        {
            double mean = p.Value.Average(v => (double)v), variance = p.Value.Average(v => (double)v * v) - mean * mean;
            // n = 80 000 and 10 000 draws: the sample variance's relative standard error is √(2/n) ≤ 1.5%.
            Assert.AreEqual(1.0 / fanIn, variance, 0.06 / fanIn, $"{p.Name}: variance");
            Assert.AreEqual(0.0, mean, 4 / Math.Sqrt(fanIn * p.Length), $"{p.Name}: mean");
        }
    }

    [TestMethod]
    public void InitializeStartsTheBiasesAgainWhateverTheyHeld()
    {
        // Initialize is a fresh start: biases the LSTM held before (from training, or a file) are not kept. Every gate's bias
        // is 0 again, except the forget gate's (block 1 of i, f, g, o), which starts at 1.
        const int d = 3, h = 4;
        var lstm = new Lstm("lstm", d, h, MatrixEngine.Default);
        Array.Fill(lstm.Bias.Value, 2.5f);
        lstm.Initialize(new RandomStream(62));
        float[] expected = new float[4 * h];
        expected.AsSpan(h, h).Fill(1f);
        CollectionAssert.AreEqual(expected, lstm.Bias.Value);
    }

    [TestMethod]
    public void ArgumentsAreChecked()
    {
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Lstm("l", 0, 4, MatrixEngine.Default));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Lstm("l", 3, 0, MatrixEngine.Default));
        Assert.ThrowsExactly<ArgumentNullException>(() => new Lstm("l", 3, 4, null!));
        var lstm = RandomLstm(3, 4, 71);
        float[] x = new float[5 * 2 * 3], w = new float[5 * 2 * 4];
        var noRoom = Assert.ThrowsExactly<InvalidOperationException>(() => lstm.Forward(x, 5, 2));
        StringAssert.Contains(noRoom.Message, "EnsureCapacity(5, 2)");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => lstm.EnsureCapacity(0, 2));
        // Buffers no array holds are refused naming the steps, before anything is allocated (their lengths would wrap as ints).
        var tooLarge = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => lstm.EnsureCapacity(int.MaxValue, 2));
        Assert.AreEqual("steps", tooLarge.ParamName);
        StringAssert.Contains(tooLarge.Message, "more than an array holds");
        lstm.EnsureCapacity(5, 2);
        Assert.ThrowsExactly<InvalidOperationException>(() => lstm.Backward(w, 5, 2), "no forward pass yet");
        Assert.ThrowsExactly<InvalidOperationException>(() => lstm.FinalHidden(2));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => lstm.Forward(x, 0, 2));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => lstm.Forward(x, 5, -1));
        var shortInput = Assert.ThrowsExactly<ArgumentException>(() => lstm.Forward(x.AsSpan(1), 5, 2));
        StringAssert.Contains(shortInput.Message, "inputs has 29 values");
        Assert.ThrowsExactly<ArgumentException>(() => lstm.Forward(x, 5, 2, new float[7]));
        Assert.ThrowsExactly<ArgumentException>(() => lstm.Forward(x, 5, 2, default, new float[7]));
        Assert.ThrowsExactly<InvalidOperationException>(() => lstm.Forward(new float[6 * 2 * 3], 6, 2), "more steps than the capacity");
        lstm.Forward(x, 4, 1); // fewer rows and a smaller batch than the capacity: fits
        Assert.ThrowsExactly<InvalidOperationException>(() => lstm.Forward(x, 2, 3), "a larger batch than the capacity");
        Assert.ThrowsExactly<ArgumentException>(() => lstm.Backward(w, 5, 2), "a different shape than the forward pass");
        // The same steps, another batch: the backward would read gates and states the forward did not write for those rows.
        lstm.Forward(x, 5, 1);
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => lstm.Backward(w, 5, 2)).Message, "5 steps of batch 1", "the same steps, another batch");
        Assert.ThrowsExactly<ArgumentException>(() => lstm.FinalHidden(2), "a different batch than the forward pass");
        lstm.Forward(x, 5, 2);
        Assert.ThrowsExactly<ArgumentException>(() => lstm.Backward(w.AsSpan(1), 5, 2));
        Assert.ThrowsExactly<ArgumentException>(() => lstm.Backward(w, 5, 2, new float[x.Length - 1]));
        Assert.ThrowsExactly<ArgumentException>(() => lstm.Backward(w, 5, 2, default, new float[7]));
        Assert.ThrowsExactly<ArgumentException>(() => lstm.Backward(w, 5, 2, default, default, new float[7]));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => lstm.Hidden(6, 2));
        Assert.AreEqual(5 * 2 * 4, lstm.Hidden(5, 2).Length);
        Assert.AreEqual(3 * 2 * 4, lstm.Hidden(3, 2).Length);
    }

    /// <summary>
    /// A training step (forward and backward over a sequence) and a generation step (one step from the
    /// last final state) allocate nothing once the buffers exist, counted as AllocationTests counts a
    /// training step: with every loop on this thread, and with the worker pool taking pieces.
    /// </summary>
    [TestMethod]
    [DataRow(false, 9, 6, 3, 5)]
    [DataRow(true, 300, 64, 16, 20)] // products and element-wise loops large enough to use the worker pool
    public void ForwardAndBackwardAllocateNothing(bool defaultEngine, int d, int h, int batch, int steps)
    {
        IMatrixEngine engine = defaultEngine ? MatrixEngine.Default : MatrixEngine.SingleThreaded();
        var lstm = RandomLstm(d, h, 81, engine);
        float[] x = Normal(steps * batch * d, 82), w = Normal(steps * batch * h, 83);
        float[] dx = new float[x.Length], dh0 = new float[batch * h], dc0 = new float[batch * h];
        lstm.EnsureCapacity(steps, batch);
        void Step()
        {
            lstm.Forward(x, steps, batch);
            lstm.Backward(w, steps, batch, dx, dh0, dc0);
            lstm.Forward(x, steps, batch, lstm.FinalHidden(batch), lstm.FinalCell(batch));
            lstm.Backward(w, steps, batch);
            for (int t = 0; t < 3; t++) // generation: one step at a time from the last state
                lstm.Forward(x.AsSpan(0, batch * d), 1, batch, lstm.FinalHidden(batch), lstm.FinalCell(batch));
        }
        long Allocated()
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 10; i++) Step();
            return GC.GetAllocatedBytesForCurrentThread() - before;
        }
        // As in AllocationTests: a step that allocates does so in every round; one-off work on this
        // thread shows in one round only, so the step passes when some round of three allocated nothing.
        long[] Rounds(bool inline)
        {
            var rounds = new List<long>(3);
            for (int r = 0; r < 3 && (r == 0 || rounds[^1] != 0); r++)
            {
                if (!inline) rounds.Add(Allocated());
                else using (WorkerPool.InlineScope()) rounds.Add(Allocated());
            }
            return rounds.ToArray();
        }
        for (int i = 0; i < 3; i++) Step();
        long[] inlineRounds = Rounds(inline: true), parallelRounds = Rounds(inline: false);
        Assert.AreEqual(0L, inlineRounds.Min(), $"{engine.Name}, every loop on this thread: bytes allocated in rounds of 10 steps: {string.Join(", ", inlineRounds)}");
        Assert.AreEqual(0L, parallelRounds.Min(), $"{engine.Name}, loops on the worker pool: bytes allocated in rounds of 10 steps: {string.Join(", ", parallelRounds)}");
    }

    [TestMethod]
    public void GrowingTheBuffersForgetsTheLastForward()
    {
        // EnsureCapacity loses the last Forward's state when its buffers grow: what reads that state must then refuse,
        // not read the new buffers' uninitialised values as if a Forward had filled them.
        var lstm = RandomLstm(3, 4, 73);
        lstm.EnsureCapacity(2, 1);
        lstm.Forward(Normal(2 * 3, 74), 2, 1);
        lstm.EnsureCapacity(2, 1);   // no growth: the forward is kept
        Assert.AreEqual(2 * 4, lstm.Hidden(2, 1).Length);
        lstm.EnsureCapacity(6, 3);
        Assert.ThrowsExactly<InvalidOperationException>(() => lstm.Hidden(2, 1));
        Assert.ThrowsExactly<InvalidOperationException>(() => lstm.FinalHidden(1));
        Assert.ThrowsExactly<InvalidOperationException>(() => lstm.FinalCell(1));
        Assert.ThrowsExactly<InvalidOperationException>(() => lstm.Backward(new float[2 * 4], 2, 1));
    }

    /// <summary>
    /// Each size refused names itself, and a hidden size past the layer's own limit (4H ≤ int.MaxValue / 4) is refused
    /// as the hidden size, not further in as some parameter's rows. 2²⁷ is the first such size: 4 · 2²⁷ = 2²⁹ is past
    /// int.MaxValue / 4 = 2²⁹ − 1.
    /// </summary>
    [TestMethod]
    public void ASizeThatIsRefusedIsNamed()
    {
        Assert.AreEqual("inputSize", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Lstm("l", 0, 4, MatrixEngine.Default)).ParamName);
        Assert.AreEqual("hiddenSize", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Lstm("l", 3, 0, MatrixEngine.Default)).ParamName);
        var tooLarge = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Lstm("l", 3, 1 << 27, MatrixEngine.Default));
        Assert.AreEqual("hiddenSize", tooLarge.ParamName);
        StringAssert.Contains(tooLarge.Message, "hidden size 134217728 is too large");
    }

    /// <summary>
    /// A Forward that fails part-way (here its engine throws at the first product, after z_0, c_0 and the inputs were
    /// overwritten) leaves no forward pass to read: the states and a Backward are refused, not served from the
    /// last pass's steps mixed with this one's initial state.
    /// </summary>
    [TestMethod]
    public void AForwardThatFailsPartWayLeavesNoForwardToRead()
    {
        const int d = 3, h = 4, batch = 2, steps = 3;
        bool fail = false;
        var engine = new ObservingEngine(MatrixEngine.Default, (m, n, k) => { if (fail) throw new TimeoutException("the engine failed"); });
        var lstm = RandomLstm(d, h, 91, engine);
        float[] x = Normal(steps * batch * d, 92), w = Normal(steps * batch * h, 93);
        lstm.EnsureCapacity(steps, batch);
        lstm.Forward(x, steps, batch, Normal(batch * h, 94), Normal(batch * h, 95));
        Assert.AreEqual(steps * batch * h, lstm.Hidden(steps, batch).Length, "the premise: a forward pass to read");

        fail = true;
        Assert.ThrowsExactly<TimeoutException>(() => lstm.Forward(x, steps, batch, Normal(batch * h, 96), Normal(batch * h, 97)));
        fail = false;
        Assert.ThrowsExactly<InvalidOperationException>(() => lstm.Hidden(steps, batch));
        Assert.ThrowsExactly<InvalidOperationException>(() => lstm.FinalHidden(batch));
        Assert.ThrowsExactly<InvalidOperationException>(() => lstm.FinalCell(batch));
        StringAssert.Contains(Assert.ThrowsExactly<InvalidOperationException>(() => lstm.Backward(w, steps, batch)).Message, "needs a Forward");
        Assert.IsTrue(lstm.Parameters.All(p => p.Gradient.All(v => v == 0)), "the refused Backward added nothing");
    }

    /// <summary>
    /// A Forward given no initial state starts from z_0 = c_0 = 0 whatever the last one started from: after a pass from a
    /// random state, a pass from none gives the bits of a fresh layer's, its hidden states and every gradient (the recurrent
    /// weights' gradient reads z_0 though the forward pass adds no product of it).
    /// </summary>
    [TestMethod]
    public void AForwardWithoutAnInitialStateStartsFromZeroWhateverTheLastOneStartedFrom()
    {
        const int d = 5, h = 6, batch = 2, steps = 3;
        var used = RandomLstm(d, h, 101);
        var fresh = new Lstm("fresh", d, h, MatrixEngine.Default);
        for (int p = 0; p < used.Parameters.Count; p++) used.Parameters[p].Value.CopyTo(fresh.Parameters[p].Value, 0);
        float[] x = Normal(steps * batch * d, 102), w = Normal(steps * batch * h, 103);
        used.EnsureCapacity(steps, batch);
        fresh.EnsureCapacity(steps, batch);
        used.Forward(Normal(steps * batch * d, 104), steps, batch, Normal(batch * h, 105), Normal(batch * h, 106));
        used.Backward(w, steps, batch);

        ZeroGradients(used);
        used.Forward(x, steps, batch);
        used.Backward(w, steps, batch);
        fresh.Forward(x, steps, batch);
        fresh.Backward(w, steps, batch);
        CollectionAssert.AreEqual(fresh.Hidden(steps, batch).ToArray(), used.Hidden(steps, batch).ToArray(), "z_1 … z_T");
        CollectionAssert.AreEqual(fresh.FinalCell(batch).ToArray(), used.FinalCell(batch).ToArray(), "c_T");
        for (int p = 0; p < used.Parameters.Count; p++)
        {
            Assert.IsTrue(fresh.Parameters[p].Gradient.Any(v => v != 0), $"the premise: {fresh.Parameters[p].Name} has a gradient");
            CollectionAssert.AreEqual(fresh.Parameters[p].Gradient, used.Parameters[p].Gradient, used.Parameters[p].Name);
        }
    }

    /// <summary>
    /// What reads the last Forward takes its shape and no other: a Backward of fewer steps (a truncated sequence the
    /// forward pass did not end at), a state of a smaller batch, or no steps of it are refused, naming what ran.
    /// </summary>
    [TestMethod]
    public void OnlyTheShapeOfTheLastForwardIsRead()
    {
        const int d = 3, h = 4, batch = 2, steps = 5;
        var lstm = RandomLstm(d, h, 111);
        float[] x = Normal(steps * batch * d, 112), w = Normal(steps * batch * h, 113);
        lstm.EnsureCapacity(steps, batch);
        lstm.Forward(x, steps, batch);
        ZeroGradients(lstm);
        var fewer = Assert.ThrowsExactly<ArgumentException>(() => lstm.Backward(w, steps - 1, batch));
        StringAssert.Contains(fewer.Message, "the last Forward ran 5 steps of batch 2");
        Assert.IsTrue(lstm.Parameters.All(p => p.Gradient.All(v => v == 0)), "the refused Backward added nothing");
        foreach (Func<object> read in new Func<object>[] { () => lstm.Hidden(steps, 1).Length, () => lstm.FinalHidden(1).Length, () => lstm.FinalCell(1).Length })
            StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => read()).Message, "the last Forward ran batch 2");
        Assert.AreEqual("steps", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => lstm.Hidden(0, batch)).ParamName);
        Assert.AreEqual(batch * h, lstm.Hidden(1, batch).Length, "one step of it is readable");
    }

    /// <summary>
    /// Room made by two calls is not room for every shape within both: after room for 10 steps of 1 row and 1 step of 5,
    /// 2 steps of 5 have no more rows than the first (10) and no larger batch than the second, but need 15 states of the
    /// batch (z_0 … z_2), more than either made room for (11 and 10). They are refused naming the call that makes room.
    /// </summary>
    [TestMethod]
    public void RoomMadeByTwoCallsIsNotRoomForTheirLargestRowsAndBatchTogether()
    {
        const int d = 3, h = 4;
        var lstm = RandomLstm(d, h, 121);
        lstm.EnsureCapacity(10, 1);
        lstm.EnsureCapacity(1, 5);
        float[] x = Normal(2 * 5 * d, 122);
        StringAssert.Contains(Assert.ThrowsExactly<InvalidOperationException>(() => lstm.Forward(x, 2, 5)).Message, "EnsureCapacity(2, 5)");
        lstm.EnsureCapacity(2, 5);
        lstm.Forward(x, 2, 5);
        Assert.AreEqual(2 * 5 * h, lstm.Hidden(2, 5).Length);
    }

    /// <summary>
    /// Hidden reads only the steps the last Forward ran, even when the buffers have room for more: a sequence shorter than the
    /// capacity (the last segment of a truncated run, say) leaves the later rows holding an older pass's states, or none,
    /// which a read one step past the forward would return as if they were this one's.
    /// </summary>
    [TestMethod]
    public void HiddenRefusesAStepPastTheLastForwardThoughTheBuffersHoldIt()
    {
        const int d = 3, h = 4, batch = 2, steps = 5;
        var lstm = RandomLstm(d, h, 131);
        lstm.EnsureCapacity(steps + 3, batch);
        lstm.Forward(Normal(steps * batch * d, 132), steps, batch);
        var refused = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => lstm.Hidden(steps + 1, batch));
        Assert.AreEqual("steps", refused.ParamName);
        StringAssert.Contains(refused.Message, "the last Forward ran 5 steps");
        Assert.AreEqual(steps * batch * h, lstm.Hidden(steps, batch).Length, "every step it ran is readable");
    }
}
