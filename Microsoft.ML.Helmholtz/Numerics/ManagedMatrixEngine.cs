using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Microsoft.ML.Helmholtz.Numerics;

/// <summary>Which micro-kernel the managed engine runs.</summary>
internal enum ManagedKernel
{
    /// <summary>Plain scalar code; works everywhere.</summary>
    Scalar,
    /// <summary>256-bit vectors with fused multiply-add, 6×16 register tile.</summary>
    Vector256,
    /// <summary>512-bit vectors, 8×32 register tile.</summary>
    Vector512,
}

/// <summary>
/// Matrix products in managed code: op(A) and op(B) are packed into contiguous panels (so all four
/// transpose cases reach one micro-kernel), blocked for cache over k, and the output is split into
/// tiles computed in parallel. Each element of C is produced by one thread, always summing over k in
/// the same order, so results do not depend on the thread count or scheduling.
/// </summary>
internal sealed unsafe class ManagedMatrixEngine : IMatrixEngine
{
    // Depth of one packed block; 256 floats keeps an A micro-panel (8 KB) in L1 and the packed A tile in L2.
    private const int KC = 256;
    private const int MaxNt = 512;
    private const long ParallelThreshold = 1L << 19; // m·n·k below this is not worth handing to other threads
    private const int MaxMr = 8, MaxNr = 32;
    private const int MaxMt = 16 * MaxMr; // rows of one tile (the packed A block)

    private readonly ManagedKernel _kernel;
    private readonly int _mr, _nr;

    public ManagedMatrixEngine() : this(BestKernel) { }

    internal ManagedMatrixEngine(ManagedKernel kernel)
    {
        if (!IsSupported(kernel)) throw new PlatformNotSupportedException($"The {kernel} kernel is not supported on this machine.");
        _kernel = kernel;
        (_mr, _nr) = kernel switch
        {
            ManagedKernel.Vector512 => (8, 32),
            ManagedKernel.Vector256 => (6, 16),
            _ => (4, 8),
        };
    }

    public string Name => "managed";

    /// <summary>True: a fused kernel is plain managed code as this engine is.</summary>
    public bool AllowsFusedProducts => true;

    // Arrays whose values stay as they are for this engine's life, and their packed forms as a product's B.
    private float[][] _frozen = [];
    private readonly List<FrozenPack> _packs = [];

    private sealed record FrozenPack(float[] Source, bool TransB, int N, int K, int Ldb, float[] Packed, nint Aligned);

    /// <summary>The frozen arrays packed so far, one per way a product has read them as its B.</summary>
    internal int PackedCount
    {
        get
        {
            lock (_packs) return _packs.Count;
        }
    }

    /// <summary>
    /// From now on, packs each of <paramref name="frozen"/> once, the first time it is a product's B, and reads that
    /// packed copy in every later product instead of packing B again: for a machine that only infers (a
    /// PredictionEngine's one row paid for packing all the weights each time). The arrays must not change while the
    /// engine is in use, so give it to a machine of its own, never <see cref="MatrixEngine.Managed"/>. The same
    /// tiles, kernel and order of sums as packing each time: the bits do not change. Once per engine.
    /// </summary>
    internal void Freeze(IEnumerable<float[]> frozen)
    {
        if (ReferenceEquals(this, MatrixEngine.Managed)) throw new InvalidOperationException("The shared managed engine is never frozen: create one for the machine.");
        if (_frozen.Length > 0) throw new InvalidOperationException("This engine's frozen arrays are already set.");
        _frozen = frozen.Where(a => a.Length > 0).ToArray();
    }

    internal ManagedKernel Kernel => _kernel;

    /// <summary>Most threads one product may use; defaults to the processor count.</summary>
    internal int MaxThreads { get; set; } = Environment.ProcessorCount;

    /// <summary>The threads that run a product's tiles; null: <see cref="WorkerPool.Current"/>.</summary>
    internal WorkerPool? Pool { get; init; }

    internal static ManagedKernel BestKernel =>
        IsSupported(ManagedKernel.Vector512) ? ManagedKernel.Vector512 :
        IsSupported(ManagedKernel.Vector256) ? ManagedKernel.Vector256 : ManagedKernel.Scalar;

    internal static bool IsSupported(ManagedKernel kernel) => kernel switch
    {
        ManagedKernel.Vector512 => Vector512.IsHardwareAccelerated && Avx512F.IsSupported,
        // Without hardware FMA, Vector256.FusedMultiplyAdd is emulated and slower than scalar code.
        ManagedKernel.Vector256 => Vector256.IsHardwareAccelerated && Fma.IsSupported,
        _ => true,
    };

    public void Gemm(bool transA, bool transB, int m, int n, int k,
        float alpha, ReadOnlySpan<float> a, int lda,
        ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc)
    {
        var call = new GemmCall(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        if (call.ValidateAndHandleTrivial()) return;

        fixed (float* pa = a, pb = b, pc = c)
        {
            Job job = NewJob(call, pa, pb, pc);
            WorkerPool pool = Pool ?? WorkerPool.Current;
            int threads = call.Work >= ParallelThreshold && pool.IsAvailable ? Math.Clamp(MaxThreads, 1, pool.Threads) : 1;
            PlanTiles(ref job, threads);
            int tiles = job.PiecesM * job.PiecesN;
            if (threads == 1) job.RunAll(tiles);
            else pool.Run(tiles, job);
        }
    }

    /// <summary>
    /// Two independent products as one loop of both products' tiles, each planned for half the
    /// threads: every C element is still summed by one tile in a fixed order, so the bits are those
    /// of <see cref="Gemm"/>. Small or unequal pairs, and a single thread, make the products in turn.
    /// </summary>
    public void GemmPair(in GemmCall first, in GemmCall second)
    {
        WorkerPool pool = Pool ?? WorkerPool.Current;
        int threads = pool.IsAvailable ? Math.Clamp(MaxThreads, 1, pool.Threads) : 1;
        if (!GemmCall.PrepareSideBySide(first, second, threads, ParallelThreshold / 2, out bool firstDone, out bool secondDone))
        {
            if (!firstDone) first.RunOn(this);
            if (!secondDone) second.RunOn(this);
            return;
        }
        fixed (float* a1 = first.A, b1 = first.B, c1 = first.C, a2 = second.A, b2 = second.B, c2 = second.C)
        {
            var pair = new JobPair { First = NewJob(first, a1, b1, c1), Second = NewJob(second, a2, b2, c2) };
            PlanTiles(ref pair.First, (threads + 1) / 2);
            PlanTiles(ref pair.Second, (threads + 1) / 2);
            pool.Run(pair.First.PiecesM * pair.First.PiecesN + pair.Second.PiecesM * pair.Second.PiecesN, pair);
        }
    }

    private Job NewJob(in GemmCall call, float* a, float* b, float* c) => new()
    {
        A = (nint)a, B = (nint)b, C = (nint)c,
        Lda = call.Lda, Ldb = call.Ldb, Ldc = call.Ldc, TransA = call.TransA, TransB = call.TransB,
        M = call.M, N = call.N, K = call.K, Alpha = call.Alpha, Beta = call.Beta,
        Kernel = _kernel, Mr = _mr, Nr = _nr,
        PackedB = _frozen.Length == 0 ? 0 : FrozenB(call.B, call.TransB, call.N, call.K, call.Ldb),
    };

    /// <summary>The packed form of B when it is one of the frozen arrays from its first element (packed now, the first time); else 0.</summary>
    private nint FrozenB(ReadOnlySpan<float> b, bool transB, int n, int k, int ldb)
    {
        ref float first = ref MemoryMarshal.GetReference(b);
        float[]? source = null;
        foreach (float[] array in _frozen)
            if (Unsafe.AreSame(ref first, ref MemoryMarshal.GetArrayDataReference(array))) { source = array; break; }   // none is empty (Freeze)
        if (source is null) return 0;
        lock (_packs)
        {
            foreach (FrozenPack pack in _packs)
                if (ReferenceEquals(pack.Source, source) && pack.TransB == transB && pack.N == n && pack.K == k && pack.Ldb == ldb) return pack.Aligned;
            // Every block of depths and every panel of columns, where RunTile would pack them: block p0's panels from p0·width.
            int panels = (n + _nr - 1) / _nr, width = panels * _nr;
            float[] packed = GC.AllocateUninitializedArray<float>(checked(width * k + 16), pinned: true);   // pinned: the jobs keep a pointer
            nint aligned = ((nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(packed)) + 63) & ~(nint)63;
            fixed (float* pb = source)
            {
                for (int p0 = 0; p0 < k; p0 += KC)
                {
                    int kc = Math.Min(KC, k - p0);
                    for (int panel = 0; panel < panels; panel++)
                    {
                        int j = panel * _nr;
                        PackB(pb, ldb, transB, j, Math.Min(_nr, n - j), p0, kc, (float*)aligned + (nint)p0 * width + (nint)panel * kc * _nr, _nr);
                    }
                }
            }
            _packs.Add(new FrozenPack(source, transB, n, k, ldb, packed, aligned));
            return aligned;
        }
    }

    /// <summary>The tiles of two products as one loop: the first's, then the second's.</summary>
    private struct JobPair : IPieceWork
    {
        public Job First, Second;

        public readonly void Execute(int piece)
        {
            int firstTiles = First.PiecesM * First.PiecesN;
            if (piece < firstTiles) RunTile(in First, piece);
            else RunTile(in Second, piece - firstTiles);
        }
    }

    /// <summary>One product, split into PiecesM × PiecesN tiles of C; each piece is one tile.</summary>
    private struct Job : IPieceWork
    {
        public nint A, B, C;
        public int Lda, Ldb, Ldc, M, N, K;
        public bool TransA, TransB;
        public float Alpha, Beta;
        public ManagedKernel Kernel;
        public int Mr, Nr;
        public int UnitsM, UnitsN, PiecesM, PiecesN;
        public nint PackedB;   // B packed once (a frozen array): every block and panel, else 0

        public readonly void Execute(int piece) => RunTile(in this, piece);

        public readonly void RunAll(int tiles)
        {
            for (int t = 0; t < tiles; t++) RunTile(in this, t);
        }
    }

    /// <summary>
    /// Splits C into PiecesM × PiecesN tiles of whole micro-tiles, no larger than the pack buffers, and,
    /// when threads are available, into enough near-equal tiles to keep every thread busy.
    /// </summary>
    private void PlanTiles(ref Job job, int threads)
    {
        int um = (job.M + _mr - 1) / _mr, un = (job.N + _nr - 1) / _nr;
        int pm = (um + MaxMt / _mr - 1) / (MaxMt / _mr);
        int pn = (un + MaxNt / _nr - 1) / (MaxNt / _nr);
        // Few tiles balance badly unless their count is a multiple of the thread count.
        while (pm * pn < threads || (pm * pn < 4 * threads && pm * pn % threads != 0))
        {
            bool canM = pm < um, canN = pn < un;
            if (!canM && !canN) break;
            // Split the dimension whose pieces are longest, to keep tiles square-ish (less repacking).
            double lenM = (double)job.M / pm, lenN = (double)job.N / pn;
            if (canN && (lenN >= lenM || !canM)) pn++; else pm++;
        }
        job.UnitsM = um; job.UnitsN = un; job.PiecesM = pm; job.PiecesN = pn;
    }

    [ThreadStatic] private static float[]? t_buffer;

    private static float* Buffer(out float* packB, out float* tile)
    {
        int aLen = MaxMt * KC, bLen = MaxNt * KC, tLen = MaxMr * MaxNr;
        int need = aLen + bLen + tLen + 16;
        float[]? buf = t_buffer;
        if (buf == null || buf.Length < need)
            t_buffer = buf = GC.AllocateUninitializedArray<float>(need, pinned: true); // pinned heap: pointer stays valid
        float* p = (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(buf));
        p = (float*)(((nint)p + 63) & ~(nint)63); // 64-byte alignment for full-vector loads
        packB = p + aLen;
        tile = packB + bLen;
        return p;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first call; skip tier-0 code
    private static void RunTile(in Job job, int t)
    {
        int ti = t / job.PiecesN, tj = t % job.PiecesN;
        int r0 = (int)((long)ti * job.UnitsM / job.PiecesM) * job.Mr;
        int r1 = Math.Min(job.M, (int)((long)(ti + 1) * job.UnitsM / job.PiecesM) * job.Mr);
        int c0 = (int)((long)tj * job.UnitsN / job.PiecesN) * job.Nr;
        int c1 = Math.Min(job.N, (int)((long)(tj + 1) * job.UnitsN / job.PiecesN) * job.Nr);
        if (r0 >= r1 || c0 >= c1) return;

        float* packA = Buffer(out float* packB, out float* tile);
        float* a = (float*)job.A, b = (float*)job.B, c = (float*)job.C;
        int mr = job.Mr, nr = job.Nr;
        int rowPanels = (r1 - r0 + mr - 1) / mr, colPanels = (c1 - c0 + nr - 1) / nr;

        // A tile of one row on a vector kernel reads that row where it lies (the one-row kernels read one value a depth):
        // a PredictionEngine's row would otherwise be copied, and padded to mr rows, for every block.
        bool oneRow = r1 - r0 == 1 && job.Kernel != ManagedKernel.Scalar;
        for (int p0 = 0; p0 < job.K; p0 += KC)
        {
            int kc = Math.Min(KC, job.K - p0);
            bool first = p0 == 0;
            for (int ip = 0; ip < rowPanels && !oneRow; ip++)
            {
                int i = r0 + ip * mr;
                PackA(a, job.Lda, job.TransA, i, Math.Min(mr, r1 - i), p0, kc, packA + ip * kc * mr, mr);
            }
            // A frozen B was packed whole: a tile's panels start at its first column (a whole number of panels).
            float* blockB = packB;
            if (job.PackedB != 0) blockB = (float*)job.PackedB + (nint)p0 * (job.UnitsN * nr) + (nint)(c0 / nr) * kc * nr;
            else
                for (int jp = 0; jp < colPanels; jp++)
                {
                    int j = c0 + jp * nr;
                    PackB(b, job.Ldb, job.TransB, j, Math.Min(nr, c1 - j), p0, kc, packB + jp * kc * nr, nr);
                }

            for (int jp = 0; jp < colPanels; jp++)
            {
                int j = c0 + jp * nr, nv = Math.Min(nr, c1 - j);
                float* bp = blockB + jp * kc * nr;
                for (int ip = 0; ip < rowPanels; ip++)
                {
                    int i = r0 + ip * mr, mv = Math.Min(mr, r1 - i);
                    float* ap = oneRow ? a + (job.TransA ? (nint)p0 * job.Lda + i : (nint)i * job.Lda + p0) : packA + ip * kc * mr;
                    int aStep = oneRow ? (job.TransA ? job.Lda : 1) : mr;
                    // One row (a PredictionEngine's): its lanes alone, each summed as the full kernel sums it.
                    switch (job.Kernel)
                    {
                        case ManagedKernel.Vector512 when mv == 1: Kernel1x32(kc, ap, aStep, bp, tile); break;
                        case ManagedKernel.Vector512: Kernel8x32(kc, ap, bp, tile); break;
                        case ManagedKernel.Vector256 when mv == 1: Kernel1x16(kc, ap, aStep, bp, tile); break;
                        case ManagedKernel.Vector256: Kernel6x16(kc, ap, bp, tile); break;
                        default: KernelScalar(kc, ap, bp, tile, mr, nr); break;
                    }
                    Store(tile, nr, c + (nint)i * job.Ldc + j, job.Ldc, mv, nv, job.Alpha, job.Beta, first);
                }
            }
        }
    }

    /// <summary>Packs rows [i, i+mv) of op(A), depths [p0, p0+kc), as kc groups of mr values (zero-padded rows).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first call; skip tier-0 code
    private static void PackA(float* a, int lda, bool transA, int i, int mv, int p0, int kc, float* dst, int mr)
    {
        if (transA)
        {
            // A is stored k×m: the mv values for one depth are contiguous.
            if (mv == 8 && mr == 8 && Vector256.IsHardwareAccelerated)
            {
                for (int p = 0; p < kc; p++)
                    Vector256.Store(Vector256.Load(a + (nint)(p0 + p) * lda + i), dst + p * 8);
                return;
            }
            for (int p = 0; p < kc; p++)
            {
                float* src = a + (nint)(p0 + p) * lda + i;
                float* d = dst + p * mr;
                int r = 0;
                for (; r < mv; r++) d[r] = src[r];
                for (; r < mr; r++) d[r] = 0;
            }
        }
        else if (mv == 8 && mr == 8 && Avx2.IsSupported && (long)7 * lda <= int.MaxValue)
        {
            // The eight rows' values for one depth, one gather instead of eight scalar loads and stores.
            Vector256<int> rows = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7) * lda;
            float* src = a + (nint)i * lda + p0;
            for (int p = 0; p < kc; p++)
                Vector256.Store(Avx2.GatherVector256(src + p, rows, 4), dst + p * 8);
        }
        else
        {
            for (int r = 0; r < mv; r++)
            {
                float* src = a + (nint)(i + r) * lda + p0;
                float* d = dst + r;
                for (int p = 0; p < kc; p++) d[p * mr] = src[p];
            }
            for (int r = mv; r < mr; r++)
                for (int p = 0; p < kc; p++) dst[p * mr + r] = 0;
        }
    }

    /// <summary>Packs columns [j, j+nv) of op(B), depths [p0, p0+kc), as kc groups of nr values (zero-padded columns).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first call; skip tier-0 code
    private static void PackB(float* b, int ldb, bool transB, int j, int nv, int p0, int kc, float* dst, int nr)
    {
        if (!transB)
        {
            // B is stored k×n: each depth's nv values are contiguous.
            if (nv == nr && nr == 32 && Vector512.IsHardwareAccelerated)
            {
                for (int p = 0; p < kc; p++)
                {
                    float* src = b + (nint)(p0 + p) * ldb + j;
                    Vector512.Store(Vector512.Load(src), dst + p * 32);
                    Vector512.Store(Vector512.Load(src + 16), dst + p * 32 + 16);
                }
                return;
            }
            for (int p = 0; p < kc; p++)
            {
                float* src = b + (nint)(p0 + p) * ldb + j;
                float* d = dst + p * nr;
                int q = 0;
                for (; q < nv; q++) d[q] = src[q];
                for (; q < nr; q++) d[q] = 0;
            }
        }
        else
        {
            // B is stored n×k. Depth-outer order writes the panel sequentially while the nv source rows
            // advance together, so their cache lines stay in L1 (column-outer order would stream the
            // whole panel through L2 once per column).
            float* src = b + (nint)j * ldb + p0;
            if (nv == nr && nr == 32 && Avx2.IsSupported && (long)31 * ldb <= int.MaxValue)
            {
                // Eight strided values per gather instead of eight scalar loads and stores.
                Vector256<int> rows = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7) * ldb;
                nint eight = (nint)8 * ldb;
                for (int p = 0; p < kc; p++)
                {
                    float* s0 = src + p, d = dst + p * 32;
                    Vector256.Store(Avx2.GatherVector256(s0, rows, 4), d);
                    Vector256.Store(Avx2.GatherVector256(s0 + eight, rows, 4), d + 8);
                    Vector256.Store(Avx2.GatherVector256(s0 + 2 * eight, rows, 4), d + 16);
                    Vector256.Store(Avx2.GatherVector256(s0 + 3 * eight, rows, 4), d + 24);
                }
                return;
            }
            for (int p = 0; p < kc; p++)
            {
                float* d = dst + p * nr;
                float* s = src + p;
                int q = 0;
                for (; q < nv; q++) d[q] = s[(nint)q * ldb];
                for (; q < nr; q++) d[q] = 0;
            }
        }
    }

    /// <summary>Writes the mr×nr product tile into C: alpha·T (+ beta·C on the first depth block, else + C).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first call; skip tier-0 code
    private static void Store(float* tile, int nr, float* c, int ldc, int mv, int nv, float alpha, float beta, bool first)
    {
        for (int r = 0; r < mv; r++)
        {
            float* t = tile + r * nr;
            float* cr = c + (nint)r * ldc;
            int q = 0;
            if (Vector256.IsHardwareAccelerated)
            {
                var va = Vector256.Create(alpha);
                if (!first)
                    for (; q + 8 <= nv; q += 8)
                        Vector256.Store(Vector256.Load(t + q) * va + Vector256.Load(cr + q), cr + q);
                else if (beta == 0)
                    for (; q + 8 <= nv; q += 8)
                        Vector256.Store(Vector256.Load(t + q) * va, cr + q);
                else
                {
                    var vb = Vector256.Create(beta);
                    for (; q + 8 <= nv; q += 8)
                        Vector256.Store(Vector256.Load(t + q) * va + Vector256.Load(cr + q) * vb, cr + q);
                }
            }
            for (; q < nv; q++)
                cr[q] = !first ? alpha * t[q] + cr[q] : beta == 0 ? alpha * t[q] : alpha * t[q] + beta * cr[q];
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first call; skip tier-0 code
    private static void Kernel8x32(int kc, float* a, float* b, float* t)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default,
            c20 = default, c21 = default, c30 = default, c31 = default,
            c40 = default, c41 = default, c50 = default, c51 = default,
            c60 = default, c61 = default, c70 = default, c71 = default;
        for (int p = 0; p < kc; p++)
        {
            Vector512<float> b0 = Vector512.LoadAligned(b), b1 = Vector512.LoadAligned(b + 16);
            Vector512<float> x = Vector512.Create(a[0]);
            c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(a[1]);
            c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(a[2]);
            c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(a[3]);
            c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
            x = Vector512.Create(a[4]);
            c40 = Vector512.FusedMultiplyAdd(x, b0, c40); c41 = Vector512.FusedMultiplyAdd(x, b1, c41);
            x = Vector512.Create(a[5]);
            c50 = Vector512.FusedMultiplyAdd(x, b0, c50); c51 = Vector512.FusedMultiplyAdd(x, b1, c51);
            x = Vector512.Create(a[6]);
            c60 = Vector512.FusedMultiplyAdd(x, b0, c60); c61 = Vector512.FusedMultiplyAdd(x, b1, c61);
            x = Vector512.Create(a[7]);
            c70 = Vector512.FusedMultiplyAdd(x, b0, c70); c71 = Vector512.FusedMultiplyAdd(x, b1, c71);
            a += 8; b += 32;
        }
        c00.Store(t); c01.Store(t + 16); c10.Store(t + 32); c11.Store(t + 48);
        c20.Store(t + 64); c21.Store(t + 80); c30.Store(t + 96); c31.Store(t + 112);
        c40.Store(t + 128); c41.Store(t + 144); c50.Store(t + 160); c51.Store(t + 176);
        c60.Store(t + 192); c61.Store(t + 208); c70.Store(t + 224); c71.Store(t + 240);
    }

    /// <summary>
    /// The first row of <see cref="Kernel8x32"/>'s tile alone: its value at depth p is a[p·aStep] (8 in a packed panel,
    /// 1 or lda where the row lies unpacked).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first call; skip tier-0 code
    private static void Kernel1x32(int kc, float* a, int aStep, float* b, float* t)
    {
        Vector512<float> c00 = default, c01 = default;
        for (int p = 0; p < kc; p++)
        {
            Vector512<float> x = Vector512.Create(a[0]);
            c00 = Vector512.FusedMultiplyAdd(x, Vector512.LoadAligned(b), c00); c01 = Vector512.FusedMultiplyAdd(x, Vector512.LoadAligned(b + 16), c01);
            a += aStep; b += 32;
        }
        c00.Store(t); c01.Store(t + 16);
    }

    /// <summary>The first row of <see cref="Kernel6x16"/>'s tile alone (a as in <see cref="Kernel1x32"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first call; skip tier-0 code
    private static void Kernel1x16(int kc, float* a, int aStep, float* b, float* t)
    {
        Vector256<float> c00 = default, c01 = default;
        for (int p = 0; p < kc; p++)
        {
            Vector256<float> x = Vector256.Create(a[0]);
            c00 = Vector256.FusedMultiplyAdd(x, Vector256.LoadAligned(b), c00); c01 = Vector256.FusedMultiplyAdd(x, Vector256.LoadAligned(b + 8), c01);
            a += aStep; b += 16;
        }
        c00.Store(t); c01.Store(t + 8);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first call; skip tier-0 code
    private static void Kernel6x16(int kc, float* a, float* b, float* t)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default,
            c20 = default, c21 = default, c30 = default, c31 = default,
            c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++)
        {
            Vector256<float> b0 = Vector256.LoadAligned(b), b1 = Vector256.LoadAligned(b + 8);
            Vector256<float> x = Vector256.Create(a[0]);
            c00 = Vector256.FusedMultiplyAdd(x, b0, c00); c01 = Vector256.FusedMultiplyAdd(x, b1, c01);
            x = Vector256.Create(a[1]);
            c10 = Vector256.FusedMultiplyAdd(x, b0, c10); c11 = Vector256.FusedMultiplyAdd(x, b1, c11);
            x = Vector256.Create(a[2]);
            c20 = Vector256.FusedMultiplyAdd(x, b0, c20); c21 = Vector256.FusedMultiplyAdd(x, b1, c21);
            x = Vector256.Create(a[3]);
            c30 = Vector256.FusedMultiplyAdd(x, b0, c30); c31 = Vector256.FusedMultiplyAdd(x, b1, c31);
            x = Vector256.Create(a[4]);
            c40 = Vector256.FusedMultiplyAdd(x, b0, c40); c41 = Vector256.FusedMultiplyAdd(x, b1, c41);
            x = Vector256.Create(a[5]);
            c50 = Vector256.FusedMultiplyAdd(x, b0, c50); c51 = Vector256.FusedMultiplyAdd(x, b1, c51);
            a += 6; b += 16;
        }
        c00.Store(t); c01.Store(t + 8); c10.Store(t + 16); c11.Store(t + 24);
        c20.Store(t + 32); c21.Store(t + 40); c30.Store(t + 48); c31.Store(t + 56);
        c40.Store(t + 64); c41.Store(t + 72); c50.Store(t + 80); c51.Store(t + 88);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first call; skip tier-0 code
    private static void KernelScalar(int kc, float* a, float* b, float* t, int mr, int nr)
    {
        new Span<float>(t, mr * nr).Clear();
        for (int p = 0; p < kc; p++)
        {
            for (int r = 0; r < mr; r++)
            {
                float x = a[r];
                float* tr = t + r * nr;
                for (int q = 0; q < nr; q++) tr[q] += x * b[q];
            }
            a += mr; b += nr;
        }
    }
}
