namespace Microsoft.ML.Helmholtz.Tests.Support;

/// <summary>
/// Reads <paramref name="content"/> through a stream that cannot seek or tell its length, as a pipe, a socket
/// or a <see cref="System.IO.Compression.GZipStream"/> does: a reader cannot learn beforehand how much it holds.
/// With <paramref name="endless"/>, zeros follow the content without end.
/// </summary>
internal sealed class NonSeekableStream(byte[] content, bool endless = false) : Stream
{
    private readonly MemoryStream _inner = new(content, writable: false);
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
    public override int Read(Span<byte> buffer)
    {
        int got = _inner.Read(buffer);
        if (got > 0 || !endless) return got;
        buffer.Clear();
        return buffer.Length;
    }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
