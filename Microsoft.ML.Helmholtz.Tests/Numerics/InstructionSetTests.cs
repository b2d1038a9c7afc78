using System.Runtime.Intrinsics.X86;
using Microsoft.ML.Helmholtz.Numerics;

namespace Microsoft.ML.Helmholtz.Tests.Numerics;

/// <summary>
/// The kernel tests run each vector path this machine runs and drop the others without a word (a machine without AVX-512
/// has no AVX-512 kernel to test). CI runs the suite again with AVX-512 and then AVX2 switched off (.ci/run), so that the
/// narrower paths run too; this test checks that each pass runs what it says, so that a switch the runtime ignores would
/// not repeat the default pass under another name.
/// </summary>
[TestClass]
public sealed class InstructionSetTests
{
    [TestMethod]
    [OSCondition(OperatingSystems.Linux)]
    public void TheRuntimeUsesTheCpusVectorInstructionsLessThoseTheEnvironmentSwitchesOff()
    {
        // The CPU's own flags (x86 Linux lists them on a "flags" line; other machines have none of these).
        string? line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal));
        var cpu = new HashSet<string>(line is null ? [] : line[(line.IndexOf(':') + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries));
        static bool Off(string name) => Environment.GetEnvironmentVariable(name) == "0";

        bool avx2 = cpu.Contains("avx2") && cpu.Contains("fma") && !Off("DOTNET_EnableHWIntrinsic") && !Off("DOTNET_EnableAVX") && !Off("DOTNET_EnableAVX2");
        // .NET 10 takes AVX-512 as one level, F, BW, CD, DQ and VL together, above AVX2.
        bool avx512 = avx2 && new[] { "avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl" }.All(cpu.Contains) && !Off("DOTNET_EnableAVX512");
        string pass = $"CPU flags: avx2 {cpu.Contains("avx2")}, avx512f {cpu.Contains("avx512f")}; " +
            $"DOTNET_EnableAVX2={Environment.GetEnvironmentVariable("DOTNET_EnableAVX2")}, DOTNET_EnableAVX512={Environment.GetEnvironmentVariable("DOTNET_EnableAVX512")}";
        Assert.AreEqual(avx2, Avx2.IsSupported && Fma.IsSupported, pass);
        Assert.AreEqual(avx512, Avx512F.IsSupported, pass);
        // The managed engine's kernels follow: the 256-bit one with AVX2 and FMA, the 512-bit one only with AVX-512.
        Assert.AreEqual(avx2, ManagedMatrixEngine.IsSupported(ManagedKernel.Vector256), pass);
        if (!avx512) Assert.IsFalse(ManagedMatrixEngine.IsSupported(ManagedKernel.Vector512), pass);
    }
}
