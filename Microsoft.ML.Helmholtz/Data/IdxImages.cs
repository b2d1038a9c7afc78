namespace Microsoft.ML.Helmholtz.Data;

/// <summary>
/// The content of an IDX image file: <paramref name="Count"/> images of
/// <paramref name="Rows"/>×<paramref name="Columns"/> unsigned bytes, image after image, each row-major.
/// </summary>
public sealed record IdxImages(int Count, int Rows, int Columns, byte[] Pixels)
{
    /// <summary>Pixels per image, <c>Rows * Columns</c>.</summary>
    public int PixelsPerImage => Rows * Columns;
}
