using Microsoft.ML.Helmholtz.Tests.Support;
using Microsoft.ML.Helmholtz.Data;

namespace Microsoft.ML.Helmholtz.Tests.Data;

/// <summary>
/// What an atomic write leaves at its path besides the content: a symbolic link stays a link, and the file it leads to takes the
/// content (the rename replaced the link by a file and left that file as it was); an earlier file's permissions are kept (a 0600
/// file became 0644).
/// </summary>
[TestClass]
public sealed class AtomicFileTests : TempDirectoryTests
{
    private static void WriteText(string path, string text) => AtomicFile.Write(path, "the text", s => s.Write(System.Text.Encoding.UTF8.GetBytes(text)));

    [TestMethod]
    public void AWriteThroughASymbolicLinkWritesWhereItLeadsAndKeepsTheLink()
    {
        string target = Temp.File("target.txt"), link = Temp.File("link.txt"), chained = Temp.File("chained.txt");
        File.WriteAllText(target, "before");
        File.CreateSymbolicLink(link, target);
        File.CreateSymbolicLink(chained, link);
        WriteText(chained, "after");
        Assert.AreEqual("after", File.ReadAllText(target), "the file the links lead to takes the content");
        Assert.AreEqual(link, new FileInfo(chained).LinkTarget, "the link written through is still a link");
        Assert.AreEqual(target, new FileInfo(link).LinkTarget);
        Assert.IsEmpty(Directory.GetFiles(Temp.Path, "*.tmp", SearchOption.AllDirectories), "no temporary file is left");

        // A link that leads nowhere yet: the file is made where it leads.
        string dangling = Temp.File("dangling.txt"), missing = Temp.File("made.txt");
        File.CreateSymbolicLink(dangling, missing);
        WriteText(dangling, "made");
        Assert.AreEqual("made", File.ReadAllText(missing));
        Assert.AreEqual(missing, new FileInfo(dangling).LinkTarget);
    }

    [TestMethod]
    [OSCondition(OperatingSystems.Linux | OperatingSystems.OSX)]   // Unix permissions only
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]   // for the platform analyser, which does not read OSCondition
    public void AnEarlierFilesPermissionsAreKept()
    {
        string path = Temp.File("private.txt");
        File.WriteAllText(path, "before");
        const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        File.SetUnixFileMode(path, Private);
        WriteText(path, "after");
        Assert.AreEqual("after", File.ReadAllText(path));
        Assert.AreEqual(Private, File.GetUnixFileMode(path), "the earlier file's mode");
        const UnixFileMode Shared = Private | UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead;
        File.SetUnixFileMode(path, Shared);
        WriteText(path, "again");
        Assert.AreEqual(Shared, File.GetUnixFileMode(path));
    }

    /// <summary>
    /// A staged file leaves the target as it was until it is committed, and disposed uncommitted leaves no temporary file; a
    /// writer's failure that is not an I/O error (a refused value) still removes the temporary file and reaches the caller as it was.
    /// </summary>
    [TestMethod]
    public void AStagedFileReplacesTheTargetOnlyWhenCommitted()
    {
        string path = Temp.File("staged.txt");
        File.WriteAllText(path, "before");
        using (AtomicFile.StagedFile dropped = AtomicFile.Stage(path, "the text", s => s.Write("dropped"u8)))
            Assert.AreEqual("before", File.ReadAllText(path), "staged, not committed");
        Assert.AreEqual("before", File.ReadAllText(path), "disposed uncommitted");
        CollectionAssert.AreEqual(new[] { path }, Directory.GetFileSystemEntries(Temp.Path), "no temporary file left");

        using (AtomicFile.StagedFile kept = AtomicFile.Stage(path, "the text", s => s.Write("after"u8)))
        {
            kept.Commit();
            kept.Commit();   // a second commit does nothing
        }
        Assert.AreEqual("after", File.ReadAllText(path));

        var e = Assert.ThrowsExactly<ArgumentException>(() => AtomicFile.Stage(path, "the text", s =>
        {
            s.Write("half"u8);
            throw new ArgumentException("refused");
        }));
        Assert.AreEqual("refused", e.Message);
        Assert.AreEqual("after", File.ReadAllText(path));
        CollectionAssert.AreEqual(new[] { path }, Directory.GetFileSystemEntries(Temp.Path), "no temporary file left after the refusal");
    }

    /// <summary>A writer that closes the stream (a StreamWriter or a zip archive that owns it) has flushed it: the write is kept, not refused for the closed stream.</summary>
    [TestMethod]
    public void AWriterThatClosesTheStreamIsKept()
    {
        string path = Temp.File("closed.txt");
        AtomicFile.Write(path, "the text", stream =>
        {
            using var writer = new StreamWriter(stream);
            writer.Write("closed by its writer");
        });
        Assert.AreEqual("closed by its writer", File.ReadAllText(path));
    }

    /// <summary>A loop of symbolic links at the path is named with the save (it was .NET's bare "Too many levels of symbolic links").</summary>
    [TestMethod]
    [OSCondition(OperatingSystems.Linux)]
    public void ALoopOfLinksIsNamedWithTheSave()
    {
        string a = Temp.File("a"), b = Temp.File("b");
        File.CreateSymbolicLink(a, b);
        File.CreateSymbolicLink(b, a);
        var e = Assert.ThrowsExactly<IOException>(() => WriteText(a, "x"));
        StringAssert.StartsWith(e.Message, $"Could not save the text to {a}: the symbolic link there cannot be followed: ");
        Assert.AreEqual(b, new FileInfo(a).LinkTarget, "the links are as they were");
    }

    /// <summary>
    /// A named pipe at the path is written into, as a shell's &gt; writes it, and stays a pipe: the rename replaced it with a
    /// regular file (and, run as root, replaced /dev/null with one). Devices are told from files the same way (statx).
    /// </summary>
    [TestMethod]
    [OSCondition(OperatingSystems.Linux)]
    public void ANamedPipeIsWrittenIntoAndStaysAPipe()
    {
        Assert.IsTrue(AtomicFile.IsSpecialFile("/dev/null"), "a character device");
        Assert.IsFalse(AtomicFile.IsSpecialFile(Temp.File("nothing-here")), "nothing");
        string file = Temp.File("regular");
        File.WriteAllText(file, "");
        Assert.IsFalse(AtomicFile.IsSpecialFile(file), "a regular file");
        Assert.IsFalse(AtomicFile.IsSpecialFile(Temp.Path), "a directory");

        string fifo = Temp.File("pipe");
        Fifo.Make(fifo);
        Assert.IsTrue(AtomicFile.IsSpecialFile(fifo), "a FIFO");
        // Opened for reading and writing, the pipe has a reader at once: the write below does not wait for one.
        using var reader = new FileStream(fifo, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, bufferSize: 0);
        WriteText(fifo, "through the pipe");
        Assert.IsTrue(AtomicFile.IsSpecialFile(fifo), "the FIFO is still there");
        byte[] got = new byte["through the pipe".Length];
        reader.ReadExactly(got);
        Assert.AreEqual("through the pipe", System.Text.Encoding.UTF8.GetString(got));
    }
}
