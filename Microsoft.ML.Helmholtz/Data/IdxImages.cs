namespace Microsoft.ML.Helmholtz.Data;

/// <summary>
/// The content of an IDX image file: <paramref name="Count"/> images of
/// <paramref name="Rows"/>×<paramref name="Columns"/> unsigned bytes, image after image, each row-major.
/// </summary>
/// <param name="Count">Images in the file.</param>
/// <param name="Rows">Rows of each image.</param>
/// <param name="Columns">Columns of each image.</param>
/// <param name="Pixels">The pixels, <c>Count * Rows * Columns</c> bytes.</param>
public sealed record IdxImages(int Count, int Rows, int Columns, byte[] Pixels)
{
    /// <summary>Pixels per image, <c>Rows * Columns</c>.</summary>
    public int PixelsPerImage => Rows * Columns;
}
