using System.Text;
using Microsoft.ML.Helmholtz.Layers;
using Microsoft.ML.Helmholtz.Model;
using Microsoft.ML.Helmholtz.Numerics;
using Microsoft.ML.Helmholtz.Tests.Data;
using Microsoft.ML.Helmholtz.Tests.Support;

namespace Microsoft.ML.Helmholtz.Tests.Model;

/// <summary>
/// The model file under damage and faults: every flipped byte and every truncation is an
/// <see cref="InvalidDataException"/> naming the file, version-1 files still load, and a save that
/// fails at any point leaves the earlier file as it was and nothing half-written beside it.
/// </summary>
[TestClass]
public sealed class MachineFileTests : TempDirectoryTests
{
    private static byte[] Bytes(HelmholtzMachine machine)
    {
        using var stream = new MemoryStream();
        machine.Save(stream);
        return stream.ToArray();
    }

    /// <summary>The version-1 layout, written out by hand: magic, version, architecture, count, then each parameter.</summary>
    private static byte[] Version1(HelmholtzMachine machine, string? architecture = null)
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write("HELMHOLTZ-MACHINE\n"u8);
            writer.Write(1);
            writer.Write(architecture ?? machine.Architecture.ToString());
            writer.Write(machine.Parameters.Count);
            foreach (Parameter p in machine.Parameters)
            {
                writer.Write(p.Name);
                writer.Write(p.Rows);
                writer.Write(p.Columns);
                foreach (float v in p.Value) writer.Write(v);
            }
        }
        return stream.ToArray();
    }

    private string Write(byte[] bytes, string name = "model.hm")
    {
        string path = Temp.File(name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static InvalidDataException AssertInvalid(string path, string? problem = null)
    {
        var e = Assert.ThrowsExactly<InvalidDataException>(() => HelmholtzMachine.Load(path));
        StringAssert.StartsWith(e.Message, path + ":", "the message starts with the file");
        if (problem is not null) StringAssert.Contains(e.Message, problem);
        return e;
    }

    private static void AssertSameParameters(HelmholtzMachine expected, HelmholtzMachine actual)
    {
        Assert.AreEqual(expected.Architecture.ToString(), actual.Architecture.ToString());
        TestModels.AssertParameters(expected.Parameters, actual.Parameters);
    }

    [TestMethod]
    public void EveryFlippedByteIsRefused()
    {
        byte[] good = Bytes(TestModels.Random("6b-4g-3b", 1));
        string path = Temp.File("flipped.hm");
        for (int i = 0; i < good.Length; i++)
        {
            byte[] bad = (byte[])good.Clone();
            bad[i] ^= 0xFF;
            File.WriteAllBytes(path, bad);
            var e = Assert.ThrowsExactly<InvalidDataException>(() => HelmholtzMachine.Load(path), $"byte {i} of {good.Length} flipped");
            StringAssert.StartsWith(e.Message, path + ":", $"byte {i}");
        }
    }

    [TestMethod]
    public void EveryTruncationIsCalledTruncatedEvenInsideTheMagic()
    {
        byte[] good = Bytes(TestModels.Random("6b-4b", 2));
        for (int length = 0; length < good.Length; length++)
        {
            string path = Write(good[..length], "cut.hm");
            var e = AssertInvalid(path);
            StringAssert.Contains(e.Message, "truncated", $"cut to {length} of {good.Length} bytes: {e.Message}");
        }
        AssertInvalid(Write("HELMHOLTZ-MACHINX\n"u8.ToArray(), "foreign.hm"), "wrong magic");
        AssertInvalid(Write("hello, this is not a model"u8.ToArray(), "text.hm"), "wrong magic");
    }

    [TestMethod]
    public void BytesAfterTheEndAreRefused()
    {
        byte[] good = Bytes(TestModels.Random("6b-4b", 3));
        AssertInvalid(Write([.. good, 0]), "1 unexpected byte follows");
        AssertInvalid(Write([.. Version1(TestModels.Random("6b-4b", 3)), 1, 2, 3], "v1.hm"), "3 unexpected bytes follow");
    }

    [TestMethod]
    public void ANonFiniteWeightIsRefusedNamingIt()
    {
        var machine = TestModels.Random("6b-4b", 4);
        Parameter weights = machine.Recognition.Layer(1).Parameters[0];
        weights.Value[5] = float.NaN;
        // A version-2 file whose checksum matches its NaN (written through the format's own writer).
        byte[] payload = MachineFile.Payload(machine);
        using var stream = new MemoryStream();
        MachineFile.Write(stream, payload);
        AssertInvalid(Write(stream.ToArray()), $"parameter {weights.Name} holds NaN at index 5");
        weights.Value[5] = float.PositiveInfinity;
        AssertInvalid(Write(Version1(machine), "v1.hm"), $"parameter {weights.Name} holds Infinity at index 5");
    }

    // A version-2 payload whose checksum matches but whose content no Save writes: a negative step count, bytes after the last
    // parameter, a parameter of the right size whose shape is transposed. Each is refused, naming what is wrong.
    [TestMethod]
    public void AChecksummedPayloadThatNoSaveWritesIsRefused()
    {
        var machine = TestModels.Random("6b-4b", 5);
        static byte[] Checksummed(byte[] payload)
        {
            using var stream = new MemoryStream();
            MachineFile.Write(stream, payload);
            return stream.ToArray();
        }
        byte[] Payload(long steps, bool transposeFirst, string? firstName = null, int? declaredCount = null)
        {
            using var payload = new MemoryStream();
            using (var writer = new BinaryWriter(payload, Encoding.UTF8, leaveOpen: true))
            {
                writer.Write(machine.Architecture.ToString());
                writer.Write(steps);
                writer.Write(declaredCount ?? machine.Parameters.Count);
                for (int i = 0; i < machine.Parameters.Count; i++)
                {
                    Parameter p = machine.Parameters[i];
                    bool transpose = transposeFirst && i == 0;
                    writer.Write(i == 0 && firstName is not null ? firstName : p.Name);
                    writer.Write(transpose ? p.Columns : p.Rows);
                    writer.Write(transpose ? p.Rows : p.Columns);
                    foreach (float v in p.Value) writer.Write(v);
                }
            }
            return payload.ToArray();
        }
        // The hand-written payload is the format's own: it loads.
        AssertSameParameters(machine, HelmholtzMachine.Load(Write(Checksummed(Payload(7, false)), "good.hm")));
        AssertInvalid(Write(Checksummed(Payload(-3, false)), "steps.hm"), "the step count -3 is negative");
        // The boundary of the step count: 0 (a fresh machine) loads, -1 is refused.
        Assert.AreEqual(0L, HelmholtzMachine.Load(Write(Checksummed(Payload(0, false)), "zero.hm")).StepsTrained);
        AssertInvalid(Write(Checksummed(Payload(-1, false)), "minus1.hm"), "the step count -1 is negative");
        AssertInvalid(Write(Checksummed([.. Payload(7, false), 1, 2]), "after.hm"), "the payload holds 2 bytes after the last parameter");
        Parameter first = machine.Parameters[0];
        Assert.AreNotEqual(first.Rows, first.Columns, "a transposed shape must differ for the test to mean anything");
        AssertInvalid(Write(Checksummed(Payload(7, true)), "shape.hm"), $"expected parameter {first.Name} [{first.Rows}×{first.Columns}], found {first.Name} [{first.Columns}×{first.Rows}]");
        // A parameter count that is not the architecture's, one fewer or one more, with every parameter's record there.
        int count = machine.Parameters.Count;
        AssertInvalid(Write(Checksummed(Payload(7, false, declaredCount: count - 1)), "fewer.hm"), $"holds {count - 1} parameters; architecture 6b-4b has {count}");
        AssertInvalid(Write(Checksummed(Payload(7, false, declaredCount: count + 1)), "more.hm"), $"holds {count + 1} parameters; architecture 6b-4b has {count}");
        // Another name of the same shape: the values belong to another parameter, refused though every shape fits.
        AssertInvalid(Write(Checksummed(Payload(7, false, "generative.0.bias")), "name.hm"), $"expected parameter {first.Name} [{first.Rows}×{first.Columns}], found generative.0.bias [{first.Rows}×{first.Columns}]");
    }

    /// <summary>
    /// A file written before a rank-one posterior on the visible layer was refused ("16gr-8g", trained as "16g-8g") still loads, as
    /// the Gaussian visible layer it was, with its parameters; the architecture itself is refused when parsed or built.
    /// </summary>
    [TestMethod]
    [DataRow("gr", "g")]
    [DataRow("grl", "gl")]
    public void AFileWithARankOneVisibleLayerLoadsAsGaussian(string written, string read)
    {
        var machine = TestModels.Random($"16{read}-8g-4gr", 4);
        byte[] payload = MachineFile.Payload(machine);
        string was = $"16{read}-8g-4gr", old = $"16{written}-8g-4gr";
        Assert.AreEqual(was.Length, payload[0], "a short string's length prefix");
        Assert.AreEqual(was, System.Text.Encoding.UTF8.GetString(payload, 1, was.Length));
        byte[] oldPayload = [(byte)old.Length, .. System.Text.Encoding.UTF8.GetBytes(old), .. payload.AsSpan(1 + was.Length).ToArray()];
        using var stream = new MemoryStream();
        MachineFile.Write(stream, oldPayload);
        HelmholtzMachine loaded = HelmholtzMachine.Load(Write(stream.ToArray()));
        Assert.AreEqual(was, loaded.Architecture.ToString());
        AssertSameParameters(machine, loaded);
        Assert.AreEqual("16g- 8g", MachineFile.VisibleRankOneAsGaussian("16g- 8g"), "other texts are left to the parser");
        Assert.AreEqual("gr-8g", MachineFile.VisibleRankOneAsGaussian("gr-8g"));
    }

    /// <summary>Save refuses a machine that Load would refuse (a value not finite), writing nothing: an earlier file stays as it was.</summary>
    [TestMethod]
    public void AMachineWithAValueNotFiniteIsNotSaved()
    {
        var machine = TestModels.Random("6b-4b", 6);
        string path = Temp.File("model.hm");
        machine.Save(path);
        byte[] before = File.ReadAllBytes(path);
        Parameter weights = machine.Generative.Layers[0].Parameters[0];
        weights.Value[3] = float.NaN;
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => machine.Save(path));
        StringAssert.Contains(e.Message, $"{weights.Name} holds a value that is not finite");
        CollectionAssert.AreEqual(before, File.ReadAllBytes(path), "the earlier file is as it was");
        Assert.HasCount(1, Directory.GetFiles(Temp.Path), "nothing written beside it");
        using var stream = new MemoryStream();
        Assert.ThrowsExactly<InvalidOperationException>(() => machine.Save(stream));
        Assert.AreEqual(0L, stream.Length, "nothing written to a stream either");
    }

    /// <summary>
    /// A file name near the 255 bytes a name may have saves (the temporary name beside it, the target's plus 38 bytes,
    /// passed the limit), and so does one of multi-byte characters; the temporary prefix never splits a character.
    /// </summary>
    [TestMethod]
    public void ANameNearTheFileSystemsLimitSaves()
    {
        var machine = TestModels.Random("6b-4b", 3);
        foreach (string name in new[] { new string('m', 240) + ".hm", string.Concat(Enumerable.Repeat("😀", 60)) + ".hm" })
        {
            Assert.IsTrue(System.Text.Encoding.UTF8.GetByteCount(name) <= 255 && System.Text.Encoding.UTF8.GetByteCount(name) > 217, "a name the temporary one once passed the limit beside");
            string path = Temp.File(name);
            machine.Save(path);
            AssertSameParameters(machine, HelmholtzMachine.Load(path));
            string prefix = Microsoft.ML.Helmholtz.Data.AtomicFile.TemporaryPrefix(name);
            Assert.IsTrue(System.Text.Encoding.UTF8.GetByteCount(prefix) <= 200 && name.StartsWith(prefix, StringComparison.Ordinal) && !char.IsHighSurrogate(prefix[^1]), prefix);
        }
        Assert.AreEqual("short.hm", Microsoft.ML.Helmholtz.Data.AtomicFile.TemporaryPrefix("short.hm"));
        // One ASCII letter before the emoji: 200 bytes end inside one (1 + 49·4 + the 3 bytes a lone high surrogate counts),
        // so the cut must step back over its first half.
        string odd = "a" + string.Concat(Enumerable.Repeat("😀", 60)) + ".hm";
        string oddPrefix = Microsoft.ML.Helmholtz.Data.AtomicFile.TemporaryPrefix(odd);
        Assert.AreEqual(odd[..99], oddPrefix, "the letter and 49 whole emoji");
        machine.Save(Temp.File(odd));
        AssertSameParameters(machine, HelmholtzMachine.Load(Temp.File(odd)));
    }

    [TestMethod]
    public void VersionOneFilesStillLoad()
    {
        var machine = TestModels.Random("6b-4g-3g", 5);
        var loaded = HelmholtzMachine.Load(Write(Version1(machine)));
        AssertSameParameters(machine, loaded);
        Assert.AreEqual(0L, loaded.StepsTrained, "version 1 did not record steps");
    }

    [TestMethod]
    public void SaveAndLoadKeepTheStepsTrained()
    {
        var machine = TestModels.Random("6b-4b", 6);
        machine.StepsTrained = 12345;
        string path = Temp.File("steps.hm");
        machine.Save(path);
        var loaded = HelmholtzMachine.Load(path);
        AssertSameParameters(machine, loaded);
        Assert.AreEqual(12345L, loaded.StepsTrained);
        Assert.AreEqual(12345L, machine.Clone().StepsTrained);
    }

    /// <summary>
    /// A machine computes with the engine chosen when it was created, loaded or cloned (<see cref="HelmholtzMachine.Engine"/>):
    /// Clone() keeps the machine's own, Clone(engine) and both Loads take the one given, and each copy's products reach it.
    /// A clone's parameters are its own: changing the machine's afterwards leaves them as they were.
    /// </summary>
    [TestMethod]
    public void CopiesComputeWithTheEngineTheyAreGivenOrTheMachinesOwn()
    {
        var own = new ObservingEngine(MatrixEngine.Managed);
        var given = new ObservingEngine(MatrixEngine.Managed);
        var machine = HelmholtzMachine.Create(HelmholtzArchitecture.Parse("6b-4b"), 6, own);
        string path = Write(Bytes(machine), "engine.hm");
        (string How, HelmholtzMachine Copy, ObservingEngine Engine)[] copies =
        [
            ("Clone()", machine.Clone(), own),
            ("Clone(engine)", machine.Clone(given), given),
            ("Load(path, engine)", HelmholtzMachine.Load(path, given), given),
            ("Load(stream, engine)", HelmholtzMachine.Load(new MemoryStream(Bytes(machine)), given), given),
        ];
        foreach (var (how, copy, engine) in copies)
        {
            Assert.AreSame(engine, copy.Engine, how);
            int before = engine.Products;
            copy.SampleFreeEnergy(new RandomStream(7), TestModels.RandomStates(copy.Architecture, 2, 8), 2, new double[2], new double[2]);
            Assert.IsGreaterThan(before, engine.Products, $"{how}: its products reach the engine");
        }
        machine.Parameters[0].Value[0] += 1f;
        Assert.AreNotEqual(machine.Parameters[0].Value[0], copies[0].Copy.Parameters[0].Value[0], "the clone keeps its own parameters");
    }

    [TestMethod]
    public void AnArchitectureTooLargeIsRefusedBeforeAnythingIsAllocated()
    {
        var small = TestModels.Random("6b-4b", 7);
        byte[] v1 = Version1(small, architecture: "100000b-100000b");
        var payload = new MemoryStream();
        using (var writer = new BinaryWriter(payload, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write("100000b-100000b");
            writer.Write(0L);
            writer.Write(4);
        }
        using var v2 = new MemoryStream();
        MachineFile.Write(v2, payload.ToArray());
        foreach (var (name, bytes) in new[] { ("v1.hm", v1), ("v2.hm", v2.ToArray()) })
        {
            string path = Write(bytes, name);
            long before = GC.GetAllocatedBytesForCurrentThread();
            var e = AssertInvalid(path, "too large");
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            StringAssert.Contains(e.Message, "10,000,000,000 weights");
            Assert.IsTrue(allocated < 1 << 20, $"{name}: {allocated} bytes allocated before the refusal");
        }
    }

    /// <summary>
    /// A file too short for the values its architecture needs is refused before a machine that size is allocated
    /// (3000b-3000b's 18 million parameters, 144 MB with their gradients, were allocated before "truncated").
    /// </summary>
    [TestMethod]
    public void AFileTooShortForItsArchitectureIsRefusedBeforeTheMachineIsAllocated()
    {
        const string architecture = "3000b-3000b";
        long values = HelmholtzArchitecture.Parse(architecture).ParameterCount;
        var v1 = new MemoryStream();
        using (var writer = new BinaryWriter(v1, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write("HELMHOLTZ-MACHINE\n"u8);
            writer.Write(1);
            writer.Write(architecture);
            writer.Write(5);   // its parameters: two weights, three biases
        }
        var payload = new MemoryStream();
        using (var writer = new BinaryWriter(payload, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(architecture);
            writer.Write(0L);
            writer.Write(5);   // its parameters: two weights, three biases
        }
        using var v2 = new MemoryStream();
        MachineFile.Write(v2, payload.ToArray());
        foreach (var (name, bytes, problem) in new[]
        {
            ("v1.hm", v1.ToArray(), $"the file is truncated: architecture {architecture} has {values} parameter values ({4 * values} bytes), but only 0 bytes follow"),
            ("v2.hm", v2.ToArray(), $"the payload is too short (its checksum matches, so it was written wrongly): architecture {architecture} has {values} parameter values"),
        })
        {
            string path = Write(bytes, name);
            long before = GC.GetAllocatedBytesForCurrentThread();
            AssertInvalid(path, problem);
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.IsTrue(allocated < 1 << 20, $"{name}: {allocated} bytes allocated before the refusal");
        }
        // A version-1 file through a stream that cannot seek (a gzip entry): read to its end as the bytes come, then refused
        // (it allocated the 144 MB machine from the header before).
        long start = GC.GetAllocatedBytesForCurrentThread();
        var refusal = Assert.ThrowsExactly<InvalidDataException>(() => HelmholtzMachine.Load(new NonSeekableStream(v1.ToArray())));
        long used = GC.GetAllocatedBytesForCurrentThread() - start;
        StringAssert.Contains(refusal.Message, "the file is truncated");
        Assert.IsTrue(used < 1 << 20, $"{used} bytes allocated before the refusal of a stream that cannot seek");
    }

    /// <summary>A version-1 file loads through a stream that cannot seek; bytes after its last parameter are refused there too.</summary>
    [TestMethod]
    public void VersionOneFilesLoadThroughAStreamThatCannotSeek()
    {
        var machine = TestModels.Random("6b-4g-3g", 5);
        AssertSameParameters(machine, HelmholtzMachine.Load(new NonSeekableStream(Version1(machine))));
        var e = Assert.ThrowsExactly<InvalidDataException>(() => HelmholtzMachine.Load(new NonSeekableStream([.. Version1(machine), 1, 2, 3])));
        StringAssert.Contains(e.Message, "3 unexpected bytes follow");
    }

    /// <summary>
    /// A string length that is negative (BinaryReader threw IOException "invalid string length", which Load(path)
    /// passed on without the path) or malformed is an invalid file naming the path and the string.
    /// </summary>
    [TestMethod]
    public void ANegativeOrMalformedStringLengthIsAnInvalidFileNamingThePath()
    {
        byte[] start = [.. "HELMHOLTZ-MACHINE\n"u8, 1, 0, 0, 0];
        AssertInvalid(Write([.. start, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F], "negative.hm"), "the architecture has a length of -1 bytes");
        AssertInvalid(Write([.. start, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], "overlong.hm"), "the length of the architecture is malformed");
        // The first parameter's name, its one-byte length made five bytes of a negative one.
        var machine = TestModels.Random("6b-4b", 14);
        byte[] v1 = Version1(machine);
        int at = start.Length + 1 + machine.Architecture.ToString().Length + sizeof(int);
        Assert.AreEqual(machine.Parameters[0].Name.Length, v1[at], "the name's length byte");
        AssertInvalid(Write([.. v1[..at], 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, .. v1[(at + 1)..]], "name.hm"),
            $"the name of parameter {machine.Parameters[0].Name} has a length of -1 bytes");
    }

    /// <summary>
    /// A stream that cannot seek and holds less than the payload its header declares is truncated having allocated
    /// about what it held (the declared length was allocated at once); a whole model through one loads as it was.
    /// </summary>
    [TestMethod]
    public void AStreamThatCannotSeekIsReadAsItsBytesArrive()
    {
        var header = new MemoryStream();
        using (var writer = new BinaryWriter(header, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write("HELMHOLTZ-MACHINE\n"u8);
            writer.Write(2);
            writer.Write(64L << 20);
            writer.Write(new byte[10]);
        }
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.ThrowsExactly<InvalidDataException>(() => HelmholtzMachine.Load(new NonSeekableStream(header.ToArray())));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        StringAssert.Contains(e.Message, "the file is truncated: it ends inside the parameters (10 of 67108864 bytes)");
        Assert.IsTrue(allocated < 4 << 20, $"{allocated} bytes allocated for a stream of {header.Length}");

        var machine = TestModels.Random("300b-1000b", 15);   // a payload of 2.4 MB: past the first chunk and the doubled one
        AssertSameParameters(machine, HelmholtzMachine.Load(new NonSeekableStream(Bytes(machine))));
    }

    [TestMethod]
    public void AMalformedArchitectureIsAnInvalidFileNamingThePath()
    {
        var machine = TestModels.Random("6b-4b", 8);
        foreach (string architecture in new[] { "6b", "6b--4b", "6x-4b", "0b-4b", string.Join("-", Enumerable.Repeat("1b", 170_000)) })
            AssertInvalid(Write(Version1(machine, architecture), "bad-architecture.hm"), "architecture");
        // A damaged file of 170,000 one-unit layers is refused by the layer bound, before the machine's objects (420 MB of them).
        long before = GC.GetAllocatedBytesForCurrentThread();
        AssertInvalid(Write(Version1(machine, string.Join("-", Enumerable.Repeat("1b", 170_000))), "deep.hm"), "HelmholtzArchitecture.MaxLayers");
        Assert.IsLessThan(64L << 20, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [TestMethod]
    public void ADirectoryOrAMissingFileIsNamed()
    {
        string directory = Temp.File("folder.hm");
        Directory.CreateDirectory(directory);
        var e = Assert.ThrowsExactly<FileNotFoundException>(() => HelmholtzMachine.Load(directory));
        StringAssert.Contains(e.Message, "is a directory");
        StringAssert.Contains(e.Message, directory);
        e = Assert.ThrowsExactly<FileNotFoundException>(() => HelmholtzMachine.Load(Temp.File("missing.hm")));
        StringAssert.Contains(e.Message, Temp.File("missing.hm"));
    }

    /// <summary>Saves from many threads to one path at once: each writes a temporary file of its own, so none collides, and the file is one whole model.</summary>
    [TestMethod]
    public void ConcurrentSavesToOnePathDoNotCollide()
    {
        var machines = Enumerable.Range(0, 8).Select(i => TestModels.Random("20b-10b", 100 + (ulong)i)).ToArray();
        string path = Temp.File("shared.hm");
        using var start = new Barrier(machines.Length);
        var errors = new System.Collections.Concurrent.ConcurrentBag<Exception>();
        var threads = machines.Select(m => new Thread(() =>
        {
            start.SignalAndWait();
            try
            {
                for (int i = 0; i < 5; i++) m.Save(path);
            }
            catch (Exception e)
            {
                errors.Add(e);
            }
        })).ToArray();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) t.Join();
        Assert.IsEmpty(errors, string.Join("; ", errors.Select(e => e.Message)));
        var loaded = HelmholtzMachine.Load(path);
        Assert.IsTrue(machines.Any(m => m.Parameters.Zip(loaded.Parameters).All(p => p.First.Value.AsSpan().SequenceEqual(p.Second.Value))),
            "the file holds one of the machines, whole");
        CollectionAssert.AreEqual(new[] { "shared.hm" }, Directory.GetFileSystemEntries(Temp.Path).Select(Path.GetFileName).ToArray(), "no temporary file is left");
    }

    private (string Path, byte[] Before) EarlierModel()
    {
        string path = Temp.File("model.hm");
        TestModels.Random("20b-10b", 9).Save(path);
        return (path, File.ReadAllBytes(path));
    }

    private void AssertEarlierFileIntact(string path, byte[] before)
    {
        CollectionAssert.AreEqual(before, File.ReadAllBytes(path), "the earlier file is unchanged");
        CollectionAssert.AreEqual(new[] { Path.GetFileName(path) }, Directory.GetFileSystemEntries(Temp.Path).Select(Path.GetFileName).ToArray(),
            "nothing half-written is left beside it");
    }

    [TestMethod]
    [DataRow(0L)]
    [DataRow(10L)]
    [DataRow(1000L)]
    public void AWriteThatFailsPartWayLeavesTheEarlierFileAndNoPartialFile(long failAfter)
    {
        var (path, before) = EarlierModel();
        var machine = TestModels.Random("20b-10b", 10);
        var e = Assert.ThrowsExactly<IOException>(() => machine.Save(path, temporary => new FailingStream(File.Create(temporary), failAfter)));
        StringAssert.Contains(e.Message, path);
        StringAssert.Contains(e.Message, "simulated failure");
        AssertEarlierFileIntact(path, before);
    }

    [TestMethod]
    public void AFullDiskLeavesTheEarlierFile()
    {
        Assert.IsTrue(File.Exists("/dev/full"), "this test writes to /dev/full, which every Linux system has (writes to it fail: no space left)");
        var (path, before) = EarlierModel();
        var e = Assert.ThrowsExactly<IOException>(() => TestModels.Random("20b-10b", 11).Save(path, _ => new FileStream("/dev/full", FileMode.Open, FileAccess.Write)));
        StringAssert.Contains(e.Message, path);
        AssertEarlierFileIntact(path, before);
    }

    [TestMethod]
    public void AReadOnlyTargetIsAClearErrorAndLeavesTheEarlierFile()
    {
        var (path, before) = EarlierModel();
        var e = Assert.ThrowsExactly<UnauthorizedAccessException>(() =>
            TestModels.Random("20b-10b", 12).Save(path, temporary => throw new UnauthorizedAccessException($"Access to the path '{temporary}' is denied.")));
        StringAssert.Contains(e.Message, path);
        AssertEarlierFileIntact(path, before);
        // A directory no one may create files in, root included.
        string proc = "/proc/self/model.hm";
        Assert.IsTrue(Directory.Exists("/proc/self"), "this test needs Linux's /proc");
        Exception failure = Assert.Throws<Exception>(() => TestModels.Random("6b-4b", 12).Save(proc));
        Assert.IsTrue(failure is IOException or UnauthorizedAccessException, failure.GetType().Name);
        StringAssert.Contains(failure.Message, proc);
    }

    [TestMethod]
    public void ADirectoryOrAMissingFolderAsTargetIsNamed()
    {
        var machine = TestModels.Random("6b-4b", 13);
        string folder = Temp.File("folder");
        Directory.CreateDirectory(folder);
        var e = Assert.ThrowsExactly<IOException>(() => machine.Save(folder));
        StringAssert.Contains(e.Message, "is a directory");
        var missing = Assert.ThrowsExactly<DirectoryNotFoundException>(() => machine.Save(Temp.File(Path.Combine("nowhere", "model.hm"))));
        StringAssert.Contains(missing.Message, Temp.File("nowhere"));
    }
    /// <summary>
    /// Bytes after a model in a stream that never ends are refused once a megabyte of them is counted; the count read
    /// to the stream's end before, so such a load never returned.
    /// </summary>
    [TestMethod]
    public void AStreamThatNeverEndsAfterTheModelIsRefused()
    {
        var machine = TestModels.Random("6b-4g-3g", 16);
        var load = Task.Run(() => HelmholtzMachine.Load(new NonSeekableStream(Bytes(machine), endless: true)));
        Assert.AreSame(load, Task.WhenAny(load, Task.Delay(TimeSpan.FromSeconds(60))).Result, "the load did not return within a minute");
        var e = Assert.ThrowsExactly<InvalidDataException>(() => load.GetAwaiter().GetResult());
        StringAssert.Contains(e.Message, "at least 1048576 unexpected bytes follow the end of the model");
        // A stream that can say what follows is counted exactly, past the cap too.
        e = Assert.ThrowsExactly<InvalidDataException>(() => HelmholtzMachine.Load(new MemoryStream([.. Bytes(machine), .. new byte[3 << 20]])));
        StringAssert.StartsWith(e.Message, "3145728 unexpected bytes follow the end of the model");
    }

    /// <summary>
    /// A damaged file can hold an architecture of any length: the messages quote its start and stay short (one quoted the
    /// whole text, twice, for 300,000 characters of message).
    /// </summary>
    [TestMethod]
    public void ALongArchitectureIsQuotedShortInTheMessages()
    {
        var machine = TestModels.Random("6b-4b", 17);
        string invalid = "6b-" + string.Concat(Enumerable.Repeat("4b-", 50_000)) + "4x";
        var e = AssertInvalid(Write(Version1(machine, invalid), "invalid.hm"), "is invalid");
        Assert.IsTrue(e.Message.Length < 1000, $"a message of {e.Message.Length} characters");

        // A valid chain of 1000 one-unit layers (3,000 characters; HelmholtzArchitecture.MaxLayers is 1024) over the file's
        // five parameters, with bytes enough after them.
        string chain = "6b-" + string.Join("-", Enumerable.Repeat("1b", 1000));
        e = AssertInvalid(Write([.. Version1(machine, chain), .. new byte[1 << 20]], "chain.hm"), "holds 5 parameters; architecture 6b-1b-1b");
        Assert.IsTrue(e.Message.Length < 1000, $"a message of {e.Message.Length} characters");
    }

    /// <summary>
    /// A parameter whose rows alone, or columns alone, differ from the architecture's is refused naming both shapes (the values that
    /// follow are the architecture's count: only the header is wrong). A transposed shape differs in both, and hid a check of one.
    /// </summary>
    [TestMethod]
    [DataRow(1, 0)]
    [DataRow(0, 1)]
    public void AParameterWhoseRowsOrColumnsAloneDifferIsRefused(int extraRows, int extraColumns)
    {
        var machine = TestModels.Random("6b-4b", 18);
        Parameter first = machine.Parameters[0];
        using var payload = new MemoryStream();
        using (var writer = new BinaryWriter(payload, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(machine.Architecture.ToString());
            writer.Write(0L);
            writer.Write(machine.Parameters.Count);
            foreach (Parameter p in machine.Parameters)
            {
                writer.Write(p.Name);
                writer.Write(p == first ? p.Rows + extraRows : p.Rows);
                writer.Write(p == first ? p.Columns + extraColumns : p.Columns);
                foreach (float v in p.Value) writer.Write(v);
            }
        }
        using var file = new MemoryStream();
        MachineFile.Write(file, payload.ToArray());
        AssertInvalid(Write(file.ToArray(), "shape.hm"),
            $"expected parameter {first.Name} [{first.Rows}×{first.Columns}], found {first.Name} [{first.Rows + extraRows}×{first.Columns + extraColumns}]");
    }

    /// <summary>A model file of a version this library does not write (0, or a later 3) is refused naming the version, not read as version 2.</summary>
    [TestMethod]
    public void AVersionThatIsNeitherOneNorTwoIsRefused()
    {
        var machine = TestModels.Random("6b-4b", 19);
        byte[] payload = MachineFile.Payload(machine);
        foreach (int version in new[] { 0, 3 })
        {
            using var file = new MemoryStream();
            Microsoft.ML.Helmholtz.Data.ChecksummedFile.Write(file, "HELMHOLTZ-MACHINE\n"u8, version, payload);
            AssertInvalid(Write(file.ToArray(), $"v{version}.hm"), $"format version {version} is not supported (this library reads versions 1 and 2)");
        }
        // The same payload framed as version 2 is the machine: only the version refuses it.
        using var good = new MemoryStream();
        Microsoft.ML.Helmholtz.Data.ChecksummedFile.Write(good, "HELMHOLTZ-MACHINE\n"u8, 2, payload);
        AssertSameParameters(machine, HelmholtzMachine.Load(Write(good.ToArray(), "v2.hm")));
    }
}
