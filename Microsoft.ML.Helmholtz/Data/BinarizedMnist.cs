using System.Numerics.Tensors;

namespace Microsoft.ML.Helmholtz.Data;

/// <summary>The three fixed splits of binarized MNIST, 784 columns of 0f/1f each.</summary>
/// <param name="Train">The training split (50,000 images in the standard files).</param>
/// <param name="Valid">The validation split (10,000 images in the standard files).</param>
/// <param name="Test">The test split (10,000 images in the standard files).</param>
public sealed record MnistSplits(DataMatrix Train, DataMatrix Valid, DataMatrix Test);

/// <summary>
/// Loads statically binarized MNIST (Larochelle and Murray 2011) and the grey-level MNIST test set
/// from the gzip IDX files in <c>shared/data/mnist</c>.
/// </summary>
public static class BinarizedMnist
{
    /// <summary>Environment variable that, when set, names the data directory.</summary>
    public const string DirectoryEnvironmentVariable = "HELMHOLTZ_MNIST_DIR";

    /// <summary>Width and height of an MNIST image, in pixels; images of any other size are rejected.</summary>
    public const int ImageSide = 28;
    /// <summary>Pixels per image (28 × 28 = 784): the column count of every loaded <see cref="DataMatrix"/>.</summary>
    public const int PixelCount = ImageSide * ImageSide;
    /// <summary>Images in the standard training split, checked by <see cref="Load"/> when it validates counts.</summary>
    public const int TrainCount = 50000;
    /// <summary>Images in the standard validation split, checked by <see cref="Load"/> when it validates counts.</summary>
    public const int ValidCount = 10000;
    /// <summary>Images in the standard test split, checked by <see cref="Load"/> when it validates counts.</summary>
    public const int TestCount = 10000;

    /// <summary>File name of the binarized training split in the data directory.</summary>
    public const string TrainFile = "binarized-mnist-train-images-idx3-ubyte.gz";
    /// <summary>File name of the binarized validation split in the data directory.</summary>
    public const string ValidFile = "binarized-mnist-valid-images-idx3-ubyte.gz";
    /// <summary>File name of the binarized test split in the data directory.</summary>
    public const string TestFile = "binarized-mnist-test-images-idx3-ubyte.gz";
    /// <summary>File name of the grey-level MNIST test images, read by <see cref="LoadGreyTest"/>.</summary>
    public const string GreyTestImagesFile = "t10k-images-idx3-ubyte.gz";
    /// <summary>File name of the grey-level MNIST test labels, read by <see cref="LoadGreyTest"/>.</summary>
    public const string GreyTestLabelsFile = "t10k-labels-idx1-ubyte.gz";

    private static readonly string RelativeDataPath = Path.Combine("shared", "data", "mnist");

    /// <summary>
    /// The data directory: the value of <c>HELMHOLTZ_MNIST_DIR</c> when set (whether or not it
    /// exists), else the first existing <c>shared/data/mnist</c> found walking up from
    /// <see cref="AppContext.BaseDirectory"/> and then from the current directory; null if none.
    /// </summary>
    public static string? DefaultDirectory =>
        FindDirectory(Environment.GetEnvironmentVariable(DirectoryEnvironmentVariable),
            [AppContext.BaseDirectory, Directory.GetCurrentDirectory()]);

    internal static string? FindDirectory(string? environmentValue, IEnumerable<string> startDirectories)
    {
        if (!string.IsNullOrWhiteSpace(environmentValue))
            return environmentValue;
        foreach (string start in startDirectories)
        {
            // The repository sits beside ../shared, so test <ancestor>/shared/data/mnist at every level.
            for (DirectoryInfo? dir = new(Path.GetFullPath(start)); dir is not null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, RelativeDataPath);
                if (Directory.Exists(candidate))
                    return candidate;
            }
        }
        return null;
    }

    /// <summary>
    /// The directory to load from: <paramref name="directory"/> if given, else <see cref="DefaultDirectory"/>.
    /// Throws <see cref="DirectoryNotFoundException"/> saying what was tried when it does not exist.
    /// </summary>
    public static string ResolveDirectory(string? directory = null) =>
        ResolveDirectory(directory, Environment.GetEnvironmentVariable(DirectoryEnvironmentVariable),
            [AppContext.BaseDirectory, Directory.GetCurrentDirectory()]);

    internal static string ResolveDirectory(string? directory, string? environmentValue, IReadOnlyList<string> startDirectories)
    {
        if (directory is not null)
        {
            ArgumentException.ThrowIfNullOrEmpty(directory);
            if (File.Exists(directory))
                throw new DirectoryNotFoundException(
                    $"MNIST data directory '{Path.GetFullPath(directory)}' is a file; give the folder that holds {TrainFile} and the other MNIST files.");
            if (!Directory.Exists(directory))
                throw new DirectoryNotFoundException(
                    $"MNIST data directory '{Path.GetFullPath(directory)}' does not exist.");
            return directory;
        }

        string? found = FindDirectory(environmentValue, startDirectories);
        if (found is null)
            throw new DirectoryNotFoundException(
                $"MNIST data directory not found: no '{RelativeDataPath}' in '{string.Join("' or '", startDirectories)}' " +
                $"or any of their parents, and {DirectoryEnvironmentVariable} is not set. Set " +
                $"{DirectoryEnvironmentVariable} to the folder holding {TrainFile} and the other MNIST files, " +
                "or pass the directory explicitly.");
        if (File.Exists(found))
            throw new DirectoryNotFoundException(
                $"MNIST data directory '{Path.GetFullPath(found)}' (from {DirectoryEnvironmentVariable}) is a file; give the folder that holds {TrainFile} and the other MNIST files.");
        if (!Directory.Exists(found))
            throw new DirectoryNotFoundException(
                $"MNIST data directory '{Path.GetFullPath(found)}' (from {DirectoryEnvironmentVariable}) does not exist.");
        return found;
    }

    /// <summary>
    /// Loads the train, valid and test splits. Pixels must be 0 or 1; with
    /// <paramref name="validateCounts"/> the image counts must be 50000/10000/10000.
    /// </summary>
    public static MnistSplits Load(string? directory = null, bool validateCounts = true)
    {
        string dir = ResolveDirectory(directory);
        // The three files are independent; inflating them in parallel roughly halves the wall time.
        var valid = Task.Run(() => LoadSplit(dir, ValidFile, validateCounts ? ValidCount : -1));
        var test = Task.Run(() => LoadSplit(dir, TestFile, validateCounts ? TestCount : -1));
        DataMatrix train = LoadSplit(dir, TrainFile, validateCounts ? TrainCount : -1);
        return new MnistSplits(train, valid.GetAwaiter().GetResult(), test.GetAwaiter().GetResult());
    }

    /// <summary>Loads one binarized split file (any count when <paramref name="expectedCount"/> is negative).</summary>
    public static DataMatrix LoadSplit(string directory, string fileName, int expectedCount = -1)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentException.ThrowIfNullOrEmpty(fileName);
        string path = Path.Combine(directory, fileName);
        IdxImages images = ReadMnistImages(path, expectedCount);
        byte[] pixels = images.Pixels;

        // Vectorised max first: the common, valid case costs one fast pass.
        if (pixels.Length > 0 && TensorPrimitives.Max<byte>(pixels) > 1)
        {
            int at = Array.FindIndex(pixels, p => p > 1);
            throw new InvalidDataException(
                $"{path}: pixel value {pixels[at]} at image {at / PixelCount}, pixel {at % PixelCount} " +
                "is not 0 or 1; binarized MNIST must be binary.");
        }
        return new DataMatrix(images.Count, PixelCount, ToFloat(pixels, divisor: 1f));
    }

    /// <summary>
    /// Loads the grey-level MNIST test set: images scaled to [0, 1] and their labels 0..9.
    /// </summary>
    public static (DataMatrix Images, byte[] Labels) LoadGreyTest(string? directory = null)
    {
        string dir = ResolveDirectory(directory);
        string imagePath = Path.Combine(dir, GreyTestImagesFile);
        string labelPath = Path.Combine(dir, GreyTestLabelsFile);
        IdxImages images = ReadMnistImages(imagePath, -1);
        byte[] labels = IdxReader.ReadLabels(labelPath);
        if (labels.Length != images.Count)
            throw new InvalidDataException(
                $"{labelPath}: holds {labels.Length} labels but {imagePath} holds {images.Count} images.");
        int bad = Array.FindIndex(labels, l => l > 9);
        if (bad >= 0)
            throw new InvalidDataException($"{labelPath}: label {labels[bad]} at index {bad} is not a digit 0..9.");
        return (new DataMatrix(images.Count, PixelCount, ToFloat(images.Pixels, divisor: 255f)), labels);
    }

    private static IdxImages ReadMnistImages(string path, int expectedCount)
    {
        IdxImages images = IdxReader.ReadImages(path);
        if (images.Rows != ImageSide || images.Columns != ImageSide)
            throw new InvalidDataException(
                $"{path}: images are {images.Rows}×{images.Columns}, expected {ImageSide}×{ImageSide}.");
        if (expectedCount >= 0 && images.Count != expectedCount)
            throw new InvalidDataException(
                $"{path}: holds {images.Count} images, expected {expectedCount}, the standard split's (Larochelle and Murray's 50,000 / 10,000 / " +
                "10,000, which the samples and the published figures use; BinarizedMnist.Load(directory, validateCounts: false) accepts other counts).");
        return images;
    }

    private static float[] ToFloat(byte[] pixels, float divisor)
    {
        var values = new float[pixels.Length];
        TensorPrimitives.ConvertTruncating<byte, float>(pixels, values);
        // Divide rather than multiply by 1/255: keeps 255 mapping to exactly 1f.
        if (divisor != 1f)
            TensorPrimitives.Divide(values, divisor, values);
        return values;
    }
}
