using System.Runtime.Intrinsics;

namespace Microsoft.ML.Helmholtz.Numerics;

/// <summary>
/// Element-wise kernels and reductions over row-major batches. Each one is a plain loop or a
/// TensorPrimitives call; none allocates. The costly ones split a large batch into pieces of whole
/// rows (or of elements, or of columns for column sums) run on <see cref="WorkerPool"/>; every
/// output element is computed by one piece in the same order, so results do not depend on the split.
/// This file holds what the kernels share; they are grouped by concern in the Kernels.*.cs files.
/// </summary>
public static unsafe partial class Kernels
{
    /// <summary>ln 2π, the constant of a Gaussian log-density.</summary>
    public const double LogTwoPi = 1.8378770664093453;

    // A piece below this many elements (a few µs of work) costs more to hand over than it saves.
    private const int MinElementsPerPiece = 8192;

    /// <summary>How many pieces a kernel over <paramref name="elements"/> elements runs in: 1 keeps it on the caller.</summary>
    internal static int Pieces(long elements)
    {
        if (elements < 2 * MinElementsPerPiece) return 1;
        WorkerPool pool = WorkerPool.Current;
        return pool.IsAvailable ? (int)Math.Min(pool.Threads, elements / MinElementsPerPiece) : 1;
    }

    /// <summary>
    /// One kernel call cut into <see cref="Pieces"/> ranges of [0, <see cref="Count"/>) (rows, columns
    /// or elements, as the kernel reads it): ranges end on multiples of <see cref="Align"/> (the vector
    /// width for element ranges), the last at <see cref="Count"/>. Each kernel's work struct holds one,
    /// beside its arguments, pinned by the caller for the duration of the loop.
    /// </summary>
    private readonly struct PieceRanges(int count, int pieces, int align = 1)
    {
        public readonly int Count = count, Pieces = pieces, Align = align;

        /// <summary>The range [start, end) of piece <paramref name="piece"/>; false when it is empty.</summary>
        public bool Get(int piece, out int start, out int end)
        {
            int units = (Count + Align - 1) / Align;
            start = (int)Math.Min(Count, (long)units * piece / Pieces * Align);
            end = (int)Math.Min(Count, (long)units * (piece + 1) / Pieces * Align);
            return start < end;
        }
    }

    /// <summary>The <paramref name="length"/> values at <paramref name="p"/>, or none where p is null (the kernel was given an empty span).</summary>
    private static Span<float> SpanOrEmpty(float* p, int length) => p == null ? default : new Span<float>(p, length);

    /// <summary>The <paramref name="length"/> row indices at <paramref name="p"/>, or none where p is null (no row source: row r).</summary>
    private static ReadOnlySpan<int> SpanOrEmpty(int* p, int length) => p == null ? default : new ReadOnlySpan<int>(p, length);

    /// <summary>Checks that <paramref name="rowSource"/> (empty: row r) names <paramref name="rows"/> rows of an operand with <paramref name="operandRows"/>.</summary>
    private static void CheckRowSource(ReadOnlySpan<int> rowSource, int rows, int operandRows)
    {
        if (rowSource.IsEmpty)
        {
            if (operandRows < rows) throw new ArgumentException($"The operand has {operandRows} rows; {rows} are needed.");
            return;
        }
        if (rowSource.Length < rows) throw new ArgumentException($"rowSource has {rowSource.Length} entries; {rows} are needed.", nameof(rowSource));
        foreach (int source in rowSource[..rows])
            if ((uint)source >= (uint)operandRows)
                throw new ArgumentOutOfRangeException(nameof(rowSource), $"rowSource names row {source} of an operand with {operandRows} rows.");
    }

    // Each vector kernel (in the Kernels.*.cs files) runs a 16-lane loop where vectors are fast
    // (AVX-512, or AVX2 as two halves: VectorMath.IsAccelerated) and finishes, or runs entirely
    // elsewhere, with the scalar loop that states its meaning. The vector kernels are compiled on
    // their own, optimised from their first call (NoInlining, AggressiveOptimization): without
    // AVX-512, where each Vector512 operator is a pair of 256-bit ones the JIT must inline,
    // profile-guided tier-1 code that inlined a kernel into its caller left the operators as calls,
    // 10× slower (Adam took 1.2 s an epoch instead of 0.12).
    private static bool Wide => VectorMath.IsAccelerated;
    private const int W = 16;

    /// <summary>
    /// The last <paramref name="t"/> lanes set: a row of at least 16 values whose length is not a
    /// multiple of 16 ends with one vector that overlaps the one before it, and only its last t lanes
    /// are new (the overlapped ones recompute the same values, or are masked out of sums and updates).
    /// </summary>
    private static Vector512<float> LastLanes(int t) => Vector512.GreaterThanOrEqual(Vector512<int>.Indices, Vector512.Create(W - t)).AsSingle();

    /// <summary>
    /// The last values of a range that do not fill a vector, loaded into one (the other lanes zero):
    /// the vector loops finish with it, so that every value goes through the same vector code
    /// whatever its place in the range, and a row gets the same bits in any batch. A copy, not an
    /// overlapping load, because some kernels write in place.
    /// </summary>
    private readonly ref struct Tail
    {
        private readonly int _start, _count;

        public Tail(ReadOnlySpan<float> x, int start, int end)
        {
            _start = start;
            _count = end - start;
            Span<float> lanes = stackalloc float[W];
            x[start..end].CopyTo(lanes);
            Vector = Vector512.Create<float>(lanes);
        }

        public Vector512<float> Vector { get; }

        /// <summary>The same range of another input.</summary>
        public Vector512<float> Of(ReadOnlySpan<float> other)
        {
            Span<float> lanes = stackalloc float[W];
            other.Slice(_start, _count).CopyTo(lanes);
            return Vector512.Create<float>(lanes);
        }

        public void Store(Vector512<float> result, Span<float> y)
        {
            Span<float> lanes = stackalloc float[W];
            result.CopyTo(lanes);
            lanes[.._count].CopyTo(y[_start..]);
        }
    }
}
