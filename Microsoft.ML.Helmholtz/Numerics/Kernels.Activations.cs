using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Microsoft.ML.Helmholtz.Numerics;

// Element-wise maps: softplus, sigmoid, tanh and its derivative, squares.
public static unsafe partial class Kernels
{
    /// <summary>ln(1 + e^x) without overflow.</summary>
    public static float Softplus(float x) => MathF.Max(x, 0f) + MathF.Log(1f + MathF.Exp(-MathF.Abs(x)));

    /// <summary>sigmoid(x) = 1 / (1 + e^{−x}).</summary>
    public static float Sigmoid(float x) => 1f / (1f + MathF.Exp(-x));

    /// <summary>y = sigmoid(x).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static void Sigmoid(ReadOnlySpan<float> x, Span<float> y)
    {
        int n = x.Length, i = 0;
        if (Wide)
        {
            for (; i <= n - W; i += W)
                VectorMath.Store(VectorMath.Sigmoid(VectorMath.Load(x, i)), y, i);
            if (i < n)
            {
                Tail a = new(x, i, n);
                a.Store(VectorMath.Sigmoid(a.Vector), y);
            }
            return;
        }
        for (; i < n; i++) y[i] = Sigmoid(x[i]);
    }

    /// <summary>y = tanh(x), accurate to ~1e-7 relative at every magnitude (see <see cref="VectorMath.Tanh"/>).</summary>
    public static void Tanh(ReadOnlySpan<float> x, Span<float> y)
    {
        int n = x.Length;
        y = y[..n];
        int pieces = Pieces(n);
        if (pieces == 1)
        {
            TanhRange(x, y, 0, n);
            return;
        }
        fixed (float* px = x, py = y)
            WorkerPool.Current.Run(pieces, new TanhWork { Ranges = new(n, pieces, W), X = px, Y = py, Length = n });
    }

    private struct TanhWork : IPieceWork
    {
        public PieceRanges Ranges;   // of elements
        public float* X, Y;
        public int Length;

        public readonly void Execute(int piece)
        {
            if (Ranges.Get(piece, out int start, out int end))
                TanhRange(new ReadOnlySpan<float>(X, Length), new Span<float>(Y, Length), start, end);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void TanhRange(ReadOnlySpan<float> x, Span<float> y, int start, int end)
    {
        int i = start;
        if (Wide)
        {
            for (; i <= end - W; i += W)
                VectorMath.Store(VectorMath.Tanh(VectorMath.Load(x, i)), y, i);
            if (i < end)
            {
                Tail t = new(x, i, end);
                t.Store(VectorMath.Tanh(t.Vector), y);
            }
            return;
        }
        for (; i < end; i++) y[i] = MathF.Tanh(x[i]);
    }

    /// <summary>g ·= 1 − m²: through m = tanh(u), given m.</summary>
    public static void MultiplyByTanhDerivative(ReadOnlySpan<float> m, Span<float> g)
    {
        int n = g.Length;
        m = m[..n];
        int pieces = Pieces(n);
        if (pieces == 1)
        {
            TanhDerivativeRange(m, g, 0, n);
            return;
        }
        fixed (float* pm = m, pg = g)
            WorkerPool.Current.Run(pieces, new TanhDerivativeWork { Ranges = new(n, pieces, W), TanhValues = pm, Gradient = pg, Length = n });
    }

    private struct TanhDerivativeWork : IPieceWork
    {
        public PieceRanges Ranges;   // of elements
        public float* TanhValues, Gradient;
        public int Length;

        public readonly void Execute(int piece)
        {
            if (Ranges.Get(piece, out int start, out int end))
                TanhDerivativeRange(new ReadOnlySpan<float>(TanhValues, Length), new Span<float>(Gradient, Length), start, end);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void TanhDerivativeRange(ReadOnlySpan<float> m, Span<float> g, int start, int end)
    {
        int i = start;
        if (Wide)
        {
            for (; i <= end - W; i += W)
            {
                Vector512<float> mv = VectorMath.Load(m, i);
                VectorMath.Store(VectorMath.Load(g, i) * (Vector512<float>.One - mv * mv), g, i);
            }
        }
        for (; i < end; i++) g[i] *= 1f - m[i] * m[i];
    }

    /// <summary>y = x², element by element.</summary>
    public static void Square(ReadOnlySpan<float> x, Span<float> y) => TensorPrimitives.Multiply(x, x, y);
}
