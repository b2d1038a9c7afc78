using Microsoft.ML.Helmholtz.Data;

namespace Microsoft.ML.Helmholtz.Tests.Data;

/// <summary>
/// The data classes' arguments named as the caller wrote them, and sizes refused where they are given rather than where they
/// overflow (findings of a review: each of these named another argument, blamed a file, or returned a size of 0).
/// </summary>
[TestClass]
public sealed class DataArgumentTests : TempDirectoryTests
{
    private static void Named<TException>(Action call, string paramName) where TException : ArgumentException
        => Assert.AreEqual(paramName, Assert.ThrowsExactly<TException>(call, paramName).ParamName);

    [TestMethod]
    public void EmptyPathsAreNamedAsTheArgument()
    {
        Named<ArgumentException>(() => BinarizedMnist.ResolveDirectory(""), "directory");   // "path", from Path.GetFullPath
        Named<ArgumentNullException>(() => BinarizedMnist.LoadSplit(null!, "x"), "directory");   // "path1", from Path.Combine
        Named<ArgumentNullException>(() => BinarizedMnist.LoadSplit(Temp.Path, null!), "fileName");
        Named<ArgumentException>(() => IdxReader.ReadImages(""), "path");   // ": file not found."
        Named<ArgumentException>(() => IdxReader.ReadLabels(""), "path");
    }

    [TestMethod]
    public void ADataDirectoryFromTheEnvironmentThatIsAFileIsSaidToBeOne()
    {
        string file = Temp.File("a-file");
        File.WriteAllText(file, "");
        var e = Assert.ThrowsExactly<DirectoryNotFoundException>(() => BinarizedMnist.ResolveDirectory(null, file, [Temp.Path]));
        StringAssert.Contains(e.Message, $"'{file}' (from {BinarizedMnist.DirectoryEnvironmentVariable}) is a file");
    }

    [TestMethod]
    public void ASliceStartingOutsideTheRowsNamesItsStart()
    {
        var matrix = new DataMatrix(3, 2, new float[6]);
        Named<ArgumentOutOfRangeException>(() => matrix.Slice(-1, 1), "start");
        Named<ArgumentOutOfRangeException>(() => matrix.Slice(4, 0), "start");
        Named<ArgumentOutOfRangeException>(() => matrix.Slice(1, 3), "count");
        Named<ArgumentOutOfRangeException>(() => matrix.Slice(0, -1), "count");
        // A negative count is named even where the start is past the rows too.
        Named<ArgumentOutOfRangeException>(() => matrix.Slice(4, -1), "count");
        Assert.AreEqual(0, matrix.Slice(3, 0).Rows, "an empty slice at the end");
    }

    [TestMethod]
    public void ImagesTheReaderWouldRefuseAreNotWritten()
    {
        string path = Temp.File("huge.idx");
        var e = Assert.ThrowsExactly<ArgumentException>(() => IdxWriter.WriteImages(path, 65536, 65536, ReadOnlySpan<byte>.Empty, gzip: false));
        Assert.AreEqual("rows", e.ParamName);
        StringAssert.Contains(e.Message, "images of 65536×65536 have more pixels than one array can hold");
        Named<ArgumentException>(() => IdxWriter.WriteImages(path, new IdxImages(0, 65536, 65536, []), gzip: true), "images");
        Assert.IsFalse(File.Exists(path), "nothing written");
    }

    [TestMethod]
    public void ATiledImagePastWhatAnArrayHoldsIsRefusedNotWrapped()
    {
        // 2³² × 2³² pixels wrapped to 0 in a long: (0, 0) was returned.
        var e = Assert.ThrowsExactly<ArgumentException>(() => PngWriter.TiledSize(int.MaxValue, int.MaxValue, 2, 2, 2));
        StringAssert.Contains(e.Message, "more than one array can hold");
        Assert.ThrowsExactly<ArgumentException>(() => PngWriter.Tile([], int.MaxValue, int.MaxValue, 2, 2, 2, 0f));
        Assert.AreEqual((5, 2), PngWriter.TiledSize(2, 2, 1, 2, 1));
    }

    [TestMethod]
    public void ANegativeCountOfSequencesIsNamedWhateverIsOnDisk()
    {
        var options = new BouncingBallsOptions { Frames = 2 };
        string directory = Temp.File("balls");
        BouncingBalls.LoadOrCreate(directory, options, 4, 2, 7);
        // The files are there: the count was compared with theirs and blamed them ("delete it to have it made anew").
        Named<ArgumentOutOfRangeException>(() => BouncingBalls.LoadOrCreate(directory, options, -1, 2, 7), "trainSequences");
        Named<ArgumentOutOfRangeException>(() => BouncingBalls.LoadOrCreate(directory, options, 4, -1, 7), "testSequences");
    }
}
