using Microsoft.ML.Helmholtz.Data;

namespace Microsoft.ML.Helmholtz.Tests.Data;

[TestClass]
public sealed class DataMatrixTests
{
    private static DataMatrix Sample() => new(3, 2, [1, 2, 3, 4, 5, 6]);

    [TestMethod]
    public void RowReturnsTheRowValues()
    {
        DataMatrix m = Sample();
        Assert.AreEqual(3, m.Rows);
        Assert.AreEqual(2, m.Columns);
        CollectionAssert.AreEqual(new float[] { 3, 4 }, m.Row(1).ToArray());
        CollectionAssert.AreEqual(new float[] { 5, 6 }, m.Row(2).ToArray());
    }

    [TestMethod]
    public void RowOutOfRangeThrows()
    {
        DataMatrix m = Sample();
        // The row one past the last is refused by Row itself, naming its argument (not by the span it would have made).
        Assert.AreEqual("i", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => m.Row(3)).ParamName);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => m.Row(-1));
    }

    [TestMethod]
    public void ConstructorRejectsWrongLength()
    {
        Assert.ThrowsExactly<ArgumentException>(() => new DataMatrix(2, 2, new float[3]));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new DataMatrix(-1, 2, []));
        // No rows make the product 0 whatever the columns: a negative count is refused by itself.
        Assert.AreEqual("columns", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new DataMatrix(0, -1, [])).ParamName);
        // Too many values are as wrong as too few (the extra ones would be silently ignored by Row and Slice).
        Assert.AreEqual("values", Assert.ThrowsExactly<ArgumentException>(() => new DataMatrix(2, 2, new float[5])).ParamName);
        Assert.ThrowsExactly<ArgumentNullException>(() => new DataMatrix(0, 0, null!));
        Assert.AreEqual(0, new DataMatrix(0, 784, []).Rows);
    }

    [TestMethod]
    public void SliceCopiesTheRows()
    {
        DataMatrix m = Sample();
        DataMatrix s = m.Slice(1, 2);
        Assert.AreEqual(2, s.Rows);
        CollectionAssert.AreEqual(new float[] { 3, 4, 5, 6 }, s.Values);
        s.Values[0] = 99;
        Assert.AreEqual(3f, m.Values[2], "Slice must copy, not alias.");
        Assert.AreEqual(0, m.Slice(3, 0).Rows);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => m.Slice(2, 2));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => m.Slice(-1, 1));
    }

    [TestMethod]
    public void ASliceOutsideTheRowsNamesTheArgumentAtFault()
    {
        DataMatrix m = Sample();
        // Starting at the end is a place (Slice(3, 0) is empty): a row taken from there is too many, so count is at fault.
        Assert.AreEqual("count", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => m.Slice(3, 1)).ParamName);
        Assert.AreEqual("count", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => m.Slice(2, 2)).ParamName);
        // Past the end no count fits: start is.
        Assert.AreEqual("start", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => m.Slice(4, 0)).ParamName);
        Assert.AreEqual("start", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => m.Slice(-1, 1)).ParamName);
        Assert.AreEqual("count", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => m.Slice(0, -1)).ParamName);
    }
}
