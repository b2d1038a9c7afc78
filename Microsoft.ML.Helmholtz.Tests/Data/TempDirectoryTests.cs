namespace Microsoft.ML.Helmholtz.Tests.Data;

/// <summary>A test class whose tests each get a fresh temporary folder, deleted after the test.</summary>
public abstract class TempDirectoryTests
{
    private protected TempDirectory Temp { get; private set; } = null!;

    [TestInitialize]
    public void CreateTempDirectory() => Temp = new TempDirectory();

    [TestCleanup]
    public void DeleteTempDirectory() => Temp.Dispose();
}
