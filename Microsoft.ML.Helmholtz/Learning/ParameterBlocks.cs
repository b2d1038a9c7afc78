using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Learning;

/// <summary>
/// A list of parameters cut into blocks of at most <see cref="BlockSize"/> elements: the pieces of
/// the parallel loops over all parameters (clearing and checking gradients, optimiser steps), so
/// that both cores share them whatever the sizes of the individual tensors. Each block carries raw
/// pointers to its slice of the value, the gradient and up to two optimiser state arrays, all on
/// the pinned heap. Built once per parameter list; the loops allocate nothing.
/// </summary>
internal sealed unsafe class ParameterBlocks
{
    /// <summary>64 KB of floats: large enough that a block's work (~5 µs) dwarfs claiming it, small enough to balance.</summary>
    public const int BlockSize = 16384;

    private readonly Parameter[] _parameters;
    private readonly Block[] _blocks;
    private readonly int[] _flags;

    /// <summary>One slice of one parameter.</summary>
    public struct Block
    {
        public float* Value, Gradient, State0, State1;
        /// <summary>Where a step keeps the values from before it (the trainer's undo copy), or null.</summary>
        public float* Before;
        public int Length;
        /// <summary>Whether the block is part of a weight matrix (<see cref="ParameterRole.Weight"/>): what weight decay shrinks.</summary>
        public bool IsWeight;
    }

    /// <param name="parameters">The parameters, in order.</param>
    /// <param name="state">
    /// Per parameter, up to two pinned state arrays of its length (optimiser moments), or nulls. The
    /// blocks hold raw pointers only: the caller must keep the arrays referenced as long as the blocks are used.
    /// </param>
    /// <param name="before">Per parameter, a pinned array of its length where a step keeps the values from before it, or null.</param>
    public ParameterBlocks(IReadOnlyList<Parameter> parameters, Func<Parameter, (float[]? First, float[]? Second)>? state = null, Func<Parameter, float[]>? before = null)
    {
        _parameters = parameters.ToArray();
        var blocks = new List<Block>();
        foreach (Parameter p in _parameters)
        {
            var (first, second) = state?.Invoke(p) ?? (null, null);
            float[]? kept = before?.Invoke(p);
            if (first is not null && first.Length != p.Length || second is not null && second.Length != p.Length || kept is not null && kept.Length != p.Length)
                throw new ArgumentException($"The state arrays of {p.Name} must have its length, {p.Length}.", nameof(state));
            for (int start = 0; start < p.Length; start += BlockSize)
            {
                blocks.Add(new Block
                {
                    Value = Pointer(p.Value, start),
                    Gradient = Pointer(p.Gradient, start),
                    State0 = first is null ? null : Pointer(first, start),
                    State1 = second is null ? null : Pointer(second, start),
                    Before = kept is null ? null : Pointer(kept, start),
                    Length = Math.Min(BlockSize, p.Length - start),
                    IsWeight = p.Role == ParameterRole.Weight,
                });
            }
        }
        _blocks = GC.AllocateArray<Block>(blocks.Count, pinned: true);
        blocks.CopyTo(_blocks);
        _flags = GC.AllocateArray<int>(1, pinned: true);
    }

    /// <summary>
    /// Throws <see cref="ArgumentException"/> (parameter "parameters") naming the first of <paramref name="parameters"/> that
    /// <paramref name="state"/> holds nothing for: an optimiser asked to save the state of a parameter its steps were not given.
    /// </summary>
    public static void RequireStepped<TState>(IReadOnlyList<Parameter> parameters, IReadOnlyDictionary<Parameter, TState> state, string optimizer)
    {
        for (int i = 0; i < parameters.Count; i++)
            if (parameters[i] is not { } p || !state.ContainsKey(p))
                throw new ArgumentException($"Parameter {i} ({parameters[i]?.Name ?? "null"}) was never stepped by this '{optimizer}' optimiser, which keeps no state for it: " +
                    "save the state of the parameters its steps were given.", nameof(parameters));
    }

    /// <summary>A pinned array of the given length, for optimiser state that blocks point into.</summary>
    public static float[] AllocateState(int length) => GC.AllocateArray<float>(length, pinned: true);

    /// <summary>The block table, pinned; pass it to a piece of work.</summary>
    public Block* Table => (Block*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_blocks));

    /// <summary>Whether these blocks were built for exactly this list of parameters (the same objects, in order).</summary>
    public bool Covers(IReadOnlyList<Parameter> parameters)
    {
        if (parameters.Count != _parameters.Length) return false;
        for (int i = 0; i < _parameters.Length; i++)
            if (!ReferenceEquals(parameters[i], _parameters[i])) return false;
        return true;
    }

    /// <summary>Runs work over every block on the worker pool.</summary>
    public void Run<TWork>(TWork work) where TWork : unmanaged, IPieceWork => WorkerPool.Current.Run(_blocks.Length, work);

    /// <summary>Sets every gradient to zero.</summary>
    public void ClearGradients() => Run(new ClearWork { Blocks = Table });

    /// <summary>The first parameter whose gradient holds NaN or ±∞, or null when all are finite.</summary>
    public Parameter? FirstNonFiniteGradient()
    {
        _flags[0] = 0;
        Run(new CheckWork { Blocks = Table, Flag = (int*)Unsafe.AsPointer(ref _flags[0]) });
        if (Volatile.Read(ref _flags[0]) == 0) return null;
        foreach (Parameter p in _parameters)  // rare: find which, in order, for the message
            if (!Kernels.AllFinite(p.Gradient)) return p;
        return null;
    }

    /// <summary>Where element <paramref name="offset"/> of a pinned array lies (the parameters' arrays and <see cref="AllocateState"/>'s are pinned).</summary>
    public static float* Pointer(float[] array, int offset = 0)
        => (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(array)) + offset;

    private struct ClearWork : IPieceWork
    {
        public Block* Blocks;
        public readonly void Execute(int piece) => new Span<float>(Blocks[piece].Gradient, Blocks[piece].Length).Clear();
    }

    private struct CheckWork : IPieceWork
    {
        public Block* Blocks;
        public int* Flag;
        public readonly void Execute(int piece)
        {
            if (!Kernels.AllFinite(new ReadOnlySpan<float>(Blocks[piece].Gradient, Blocks[piece].Length))) Volatile.Write(ref *Flag, 1);
        }
    }
}
