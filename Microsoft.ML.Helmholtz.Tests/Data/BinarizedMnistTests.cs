using Microsoft.ML.Helmholtz.Data;

namespace Microsoft.ML.Helmholtz.Tests.Data;

/// <summary>Loader behaviour on small synthetic data sets written to a temp directory.</summary>
[TestClass]
public sealed class BinarizedMnistTests : TempDirectoryTests
{
    private static byte[] BinaryPixels(int images, int seed)
    {
        var p = new byte[images * BinarizedMnist.PixelCount];
        for (int i = 0; i < p.Length; i++)
            p[i] = (byte)(((i * 7919 + seed) % 5) == 0 ? 1 : 0);
        return p;
    }

    private void WriteSplits(int train, int valid, int test)
    {
        IdxWriter.WriteImages(Temp.File(BinarizedMnist.TrainFile), 28, 28, BinaryPixels(train, 1), gzip: true);
        IdxWriter.WriteImages(Temp.File(BinarizedMnist.ValidFile), 28, 28, BinaryPixels(valid, 2), gzip: true);
        IdxWriter.WriteImages(Temp.File(BinarizedMnist.TestFile), 28, 28, BinaryPixels(test, 3), gzip: true);
    }

    [TestMethod]
    public void LoadsSmallSplitsWhenCountsAreNotValidated()
    {
        WriteSplits(4, 2, 3);
        MnistSplits s = BinarizedMnist.Load(Temp.Path, validateCounts: false);
        Assert.AreEqual(4, s.Train.Rows);
        Assert.AreEqual(2, s.Valid.Rows);
        Assert.AreEqual(3, s.Test.Rows);
        Assert.AreEqual(784, s.Train.Columns);
        byte[] expected = BinaryPixels(2, 2);
        for (int i = 0; i < expected.Length; i++)
            Assert.AreEqual((float)expected[i], s.Valid.Values[i]);
    }

    [TestMethod]
    public void WrongCountsAreRejectedByDefault()
    {
        WriteSplits(4, 2, 3);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => BinarizedMnist.Load(Temp.Path));
        StringAssert.Contains(e.Message, BinarizedMnist.TrainFile);
        StringAssert.Contains(e.Message, "holds 4 images, expected 50000, the standard split's");
        StringAssert.Contains(e.Message, "validateCounts: false");
    }

    [TestMethod]
    public void NonBinaryPixelIsRejected()
    {
        WriteSplits(2, 2, 2);
        byte[] pixels = BinaryPixels(2, 2);
        pixels[784 + 5] = 200;
        string path = Temp.File(BinarizedMnist.ValidFile);
        IdxWriter.WriteImages(path, 28, 28, pixels, gzip: true);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => BinarizedMnist.Load(Temp.Path, validateCounts: false));
        StringAssert.Contains(e.Message, path);
        StringAssert.Contains(e.Message, "pixel value 200 at image 1, pixel 5");
        StringAssert.Contains(e.Message, "not 0 or 1");
    }

    // 2, the smallest value that is neither 0 nor 1, is refused too (not only grey levels such as 200).
    [TestMethod]
    public void APixelOfTwoIsRejected()
    {
        WriteSplits(2, 2, 2);
        byte[] pixels = BinaryPixels(2, 3);
        pixels[17] = 2;
        string path = Temp.File(BinarizedMnist.TestFile);
        IdxWriter.WriteImages(path, 28, 28, pixels, gzip: true);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => BinarizedMnist.Load(Temp.Path, validateCounts: false));
        StringAssert.Contains(e.Message, "pixel value 2 at image 0, pixel 17");
    }

    [TestMethod]
    public void WrongImageSizeIsRejected()
    {
        WriteSplits(2, 2, 2);
        string path = Temp.File(BinarizedMnist.TestFile);
        IdxWriter.WriteImages(path, 27, 28, new byte[27 * 28], gzip: true);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => BinarizedMnist.Load(Temp.Path, validateCounts: false));
        StringAssert.Contains(e.Message, path);
        StringAssert.Contains(e.Message, "27×28");
    }

    [TestMethod]
    public void MissingSplitFileNamesIt()
    {
        WriteSplits(2, 2, 2);
        File.Delete(Temp.File(BinarizedMnist.TestFile));
        var e = Assert.ThrowsExactly<FileNotFoundException>(() => BinarizedMnist.Load(Temp.Path, validateCounts: false));
        StringAssert.Contains(e.Message, BinarizedMnist.TestFile);
    }

    [TestMethod]
    public void GreyTestIsScaledAndLabelled()
    {
        byte[] pixels = new byte[2 * 784];
        pixels[0] = 255;
        pixels[1] = 51;
        pixels[784] = 128;
        IdxWriter.WriteImages(Temp.File(BinarizedMnist.GreyTestImagesFile), 28, 28, pixels, gzip: true);
        IdxWriter.WriteLabels(Temp.File(BinarizedMnist.GreyTestLabelsFile), [7, 2], gzip: true);

        var (images, labels) = BinarizedMnist.LoadGreyTest(Temp.Path);
        Assert.AreEqual(2, images.Rows);
        Assert.AreEqual(1f, images.Values[0]);
        Assert.AreEqual(0.2f, images.Values[1], 1e-7f);
        Assert.AreEqual(128f / 255f, images.Values[784], 1e-7f);
        Assert.AreEqual(0f, images.Values[2]);
        CollectionAssert.AreEqual(new byte[] { 7, 2 }, labels);
    }

    [TestMethod]
    public void GreyTestLabelMismatchesAreRejected()
    {
        IdxWriter.WriteImages(Temp.File(BinarizedMnist.GreyTestImagesFile), 28, 28, new byte[2 * 784], gzip: true);
        string labelPath = Temp.File(BinarizedMnist.GreyTestLabelsFile);

        IdxWriter.WriteLabels(labelPath, [1, 2, 3], gzip: true);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => BinarizedMnist.LoadGreyTest(Temp.Path));
        StringAssert.Contains(e.Message, labelPath);
        StringAssert.Contains(e.Message, "3 labels");

        IdxWriter.WriteLabels(labelPath, [1, 10], gzip: true);
        e = Assert.ThrowsExactly<InvalidDataException>(() => BinarizedMnist.LoadGreyTest(Temp.Path));
        StringAssert.Contains(e.Message, labelPath);
        StringAssert.Contains(e.Message, "label 10");
    }

    [TestMethod]
    public void ExplicitMissingDirectoryIsReported()
    {
        string missing = Temp.File("nowhere");
        var e = Assert.ThrowsExactly<DirectoryNotFoundException>(() => BinarizedMnist.Load(missing));
        StringAssert.Contains(e.Message, missing);
        Assert.ThrowsExactly<DirectoryNotFoundException>(() => BinarizedMnist.LoadGreyTest(missing));
    }

    // A directory passed explicitly that is a file is said to be one, not missing (the same test the environment variable's value gets).
    [TestMethod]
    public void AnExplicitDirectoryThatIsAFileIsSaidToBeOne()
    {
        string file = Temp.File("a-file");
        File.WriteAllText(file, "");
        var e = Assert.ThrowsExactly<DirectoryNotFoundException>(() => BinarizedMnist.Load(file));
        StringAssert.Contains(e.Message, $"'{file}' is a file; give the folder that holds {BinarizedMnist.TrainFile}");
    }

    [TestMethod]
    public void SearchWalksUpToSharedDataMnist()
    {
        // <root>/shared/data/mnist beside <root>/repo/bin/Debug: found from deep inside the repo.
        string data = Directory.CreateDirectory(Path.Combine(Temp.Path, "shared", "data", "mnist")).FullName;
        string deep = Directory.CreateDirectory(Path.Combine(Temp.Path, "repo", "bin", "Debug")).FullName;
        Assert.AreEqual(data, BinarizedMnist.FindDirectory(null, [deep]));
        Assert.AreEqual(data, BinarizedMnist.ResolveDirectory(null, "", [deep]));
        // A variable set to blanks (e.g. `export HELMHOLTZ_MNIST_DIR=" "`) is unset, not a folder named by blanks.
        Assert.AreEqual(data, BinarizedMnist.FindDirectory(" \t", [deep]));
        // The first start directory that finds one wins.
        string other = Directory.CreateDirectory(Path.Combine(Temp.Path, "other")).FullName;
        Assert.AreEqual(data, BinarizedMnist.FindDirectory(null, [other, deep]));
    }

    [TestMethod]
    public void EnvironmentVariableWins()
    {
        string deep = Directory.CreateDirectory(Path.Combine(Temp.Path, "shared", "data", "mnist")).FullName;
        string chosen = Directory.CreateDirectory(Temp.File("chosen")).FullName;
        Assert.AreEqual(chosen, BinarizedMnist.FindDirectory(chosen, [deep]));
        Assert.AreEqual(chosen, BinarizedMnist.ResolveDirectory(null, chosen, [deep]));

        string missing = Temp.File("gone");
        var e = Assert.ThrowsExactly<DirectoryNotFoundException>(() => BinarizedMnist.ResolveDirectory(null, missing, [deep]));
        StringAssert.Contains(e.Message, missing);
        StringAssert.Contains(e.Message, BinarizedMnist.DirectoryEnvironmentVariable);
    }

    [TestMethod]
    public void NotFoundMessageNamesWhereItLookedAndTheVariable()
    {
        string start = Directory.CreateDirectory(Temp.File("empty")).FullName;
        // Guard: the test is meaningless if some ancestor of the temp dir holds shared/data/mnist.
        Assert.IsNull(BinarizedMnist.FindDirectory(null, [start]), "temp directory unexpectedly sits under shared/data/mnist");
        var e = Assert.ThrowsExactly<DirectoryNotFoundException>(() => BinarizedMnist.ResolveDirectory(null, null, [start]));
        StringAssert.Contains(e.Message, start);
        StringAssert.Contains(e.Message, BinarizedMnist.DirectoryEnvironmentVariable);
        StringAssert.Contains(e.Message, Path.Combine("shared", "data", "mnist"));
    }

    // Images of 28 rows but another number of columns are refused too, naming their size.
    [TestMethod]
    public void ImagesOfTheWrongWidthAreRejected()
    {
        WriteSplits(2, 2, 2);
        string path = Temp.File(BinarizedMnist.ValidFile);
        IdxWriter.WriteImages(path, 28, 27, new byte[2 * 28 * 27], gzip: true);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => BinarizedMnist.Load(Temp.Path, validateCounts: false));
        StringAssert.Contains(e.Message, path);
        StringAssert.Contains(e.Message, "28×27");
    }

    // Only a negative expected count means any: 0 is a count like another, so a split holding images is refused and an empty one loads.
    [TestMethod]
    public void AnExpectedCountOfZeroRefusesASplitThatHoldsImages()
    {
        WriteSplits(2, 2, 2);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => BinarizedMnist.LoadSplit(Temp.Path, BinarizedMnist.TestFile, expectedCount: 0));
        StringAssert.Contains(e.Message, "holds 2 images, expected 0");
        IdxWriter.WriteImages(Temp.File("empty-images-idx3-ubyte.gz"), 28, 28, [], gzip: true);
        Assert.AreEqual(0, BinarizedMnist.LoadSplit(Temp.Path, "empty-images-idx3-ubyte.gz", expectedCount: 0).Rows);
    }

    // Fewer labels than images are refused as more are: the images without a label would otherwise be dropped by a caller pairing them.
    [TestMethod]
    public void FewerGreyTestLabelsThanImagesAreRejected()
    {
        IdxWriter.WriteImages(Temp.File(BinarizedMnist.GreyTestImagesFile), 28, 28, new byte[3 * 784], gzip: true);
        string labelPath = Temp.File(BinarizedMnist.GreyTestLabelsFile);
        IdxWriter.WriteLabels(labelPath, [4, 2], gzip: true);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => BinarizedMnist.LoadGreyTest(Temp.Path));
        StringAssert.Contains(e.Message, $"{labelPath}: holds 2 labels but");
        StringAssert.Contains(e.Message, "holds 3 images");
    }
}
