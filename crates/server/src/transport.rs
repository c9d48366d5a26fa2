//! The accepted TCP connections, as the gRPC server writes to them.
//!
//! Why a wrapper: h2 (under tonic) copies a DATA frame into its write buffer only when the
//! frame is small — 256 bytes when the socket takes vectored writes, 1,024 when it does not —
//! and sends a larger one as a separate slice of a `writev`. After such a frame it must flush
//! before it can buffer anything else, so every answer of a few hundred bytes (a case is
//! ~700) went out as two system calls: one `writev` for its headers and message, and one
//! 10-byte `writev` for its trailers (`strace` of the server under GetCase load: a third of
//! its writes were lone trailers). Over this wrapper the socket reports no vectored writes:
//! h2 copies answers under 1 KiB into its buffer, and an answer's headers, message and
//! trailers — and the answers of other calls ready at the same time — leave in one `write`.
//! Larger answers (a page of cases) are still sent from their own buffer, in two writes.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tonic::transport::server::{Connected, TcpConnectInfo, TcpIncoming};

/// A connection whose writes h2 batches in its own buffer (see the module's comment).
#[derive(Debug)]
pub struct BufferedWrites<T>(T);

impl<T> BufferedWrites<T> {
    pub fn new(inner: T) -> Self {
        BufferedWrites(inner)
    }
}

/// The listener's connections, each with Nagle's algorithm off and its writes batched.
pub fn incoming(
    listener: tokio::net::TcpListener,
) -> impl futures::Stream<Item = io::Result<BufferedWrites<TcpStream>>> {
    use futures::StreamExt;
    // Nagle's algorithm held every small answer back ~40 ms waiting for the client's delayed
    // ACK (tonic's own nodelay setting does not apply to a listener passed in).
    TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .map(|accepted| accepted.map(BufferedWrites::new))
}

impl<T: AsyncRead + Unpin> AsyncRead for BufferedWrites<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for BufferedWrites<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    /// The point of the wrapper: h2 picks its copy threshold from this.
    fn is_write_vectored(&self) -> bool {
        false
    }
}

impl Connected for BufferedWrites<TcpStream> {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.0.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn passes_bytes_both_ways_and_reports_the_peer() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(b"ping").await.unwrap();
            let mut answer = [0u8; 4];
            s.read_exact(&mut answer).await.unwrap();
            (s.local_addr().unwrap(), answer)
        });
        use futures::StreamExt;
        let mut accepted = Box::pin(incoming(listener));
        let mut conn = accepted.next().await.unwrap().unwrap();
        let mut asked = [0u8; 4];
        conn.read_exact(&mut asked).await.unwrap();
        assert_eq!(&asked, b"ping");
        conn.write_all(b"pong").await.unwrap();
        conn.flush().await.unwrap();
        let (client_addr, answer) = client.await.unwrap();
        assert_eq!(&answer, b"pong");
        assert_eq!(conn.connect_info().remote_addr(), Some(client_addr));
        assert_eq!(conn.connect_info().local_addr(), Some(addr));
        // TCP takes vectored writes; the wrapper must hide that from h2.
        assert!(conn.0.is_write_vectored());
        assert!(!conn.is_write_vectored());
        assert!(conn.0.nodelay().unwrap(), "Nagle's algorithm must be off");
        conn.shutdown().await.unwrap();
    }
}
