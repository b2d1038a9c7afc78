using Microsoft.ML.Helmholtz.Data;

namespace Microsoft.ML.Helmholtz.Tests.Support;

/// <summary>
/// The shared binarized MNIST folder for the tests that need it. They FAIL (never skip) when it is
/// missing: a silently skipped data test hides a broken checkout.
/// </summary>
internal static class SharedData
{
    public static string MnistDirectory()
    {
        try
        {
            return BinarizedMnist.ResolveDirectory();
        }
        catch (DirectoryNotFoundException e)
        {
            Assert.Fail("This test needs the shared MNIST data, which was not found. " + e.Message);
            throw;   // unreachable: Assert.Fail throws
        }
    }
}
