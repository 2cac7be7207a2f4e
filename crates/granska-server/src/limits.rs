//! Connection-level limits in front of the gRPC server: at most `server.max_connections` open
//! connections, and a connection must send its first bytes (the HTTP/2 client preface, or a
//! TLS ClientHello) within `server.handshake_timeout_s`, or it is closed. HTTP/2 keepalive,
//! the per-connection stream limit and the upload limits are set on the server and the Ingest
//! service; every refusal is logged and counted under the name of the limit that was hit.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use granska_app::Metrics;

/// The HTTP/2 client connection preface (RFC 9113 §3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// An accepted connection that passed the checks; holds its slot until dropped.
pub struct Admitted {
    stream: TcpStream,
    /// Bytes read during the check, handed to the server first.
    prefix: Vec<u8>,
    consumed: usize,
    _slot: OwnedSemaphorePermit,
}

/// Connection limits.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Open connections at most.
    pub max_connections: usize,
    /// Time a new connection has to send its first bytes.
    pub handshake_timeout: Duration,
    /// TLS is on: only the first byte is awaited (the ClientHello), not the HTTP/2 preface.
    pub tls: bool,
}

/// Accepts connections from `listener` and yields those that pass the limits.
pub fn admit(
    listener: TcpListener,
    limits: ConnectionLimits,
    metrics: Metrics,
) -> ReceiverStream<io::Result<Admitted>> {
    let (tx, rx) = mpsc::channel(64);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                // The server stopped taking connections: close the listener too.
                () = tx.closed() => break,
            };
            let (stream, _) = match accepted {
                Ok(s) => s,
                Err(e) => {
                    // EMFILE and friends: pause rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                metrics.refused.with_label_values(&["server.max_connections"]).inc();
                tracing::warn!(limit = limits.max_connections, "connection refused: server.max_connections reached");
                drop(stream);
                continue;
            };
            let (tx, metrics) = (tx.clone(), metrics.clone());
            tokio::spawn(async move {
                let _ = stream.set_nodelay(true);
                let mut stream = stream;
                let want = if limits.tls { 1 } else { PREFACE.len() };
                let mut prefix = vec![0u8; want];
                match tokio::time::timeout(limits.handshake_timeout, stream.read_exact(&mut prefix)).await {
                    Ok(Ok(_)) if limits.tls || prefix == PREFACE => {
                        let _ = tx.send(Ok(Admitted { stream, prefix, consumed: 0, _slot: slot })).await;
                    }
                    Ok(Ok(_)) => {
                        metrics.refused.with_label_values(&["http2-preface"]).inc();
                        tracing::debug!("connection closed: it did not start with the HTTP/2 preface");
                    }
                    Ok(Err(_)) => {} // closed before the preface: nothing to serve
                    Err(_) => {
                        metrics.refused.with_label_values(&["server.handshake_timeout_s"]).inc();
                        tracing::debug!(
                            timeout_s = limits.handshake_timeout.as_secs_f64(),
                            "connection closed: no HTTP/2 preface within server.handshake_timeout_s"
                        );
                    }
                }
            });
        }
    });
    ReceiverStream::new(rx)
}

impl tonic::transport::server::Connected for Admitted {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.stream.connect_info()
    }
}

impl AsyncRead for Admitted {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.consumed < this.prefix.len() {
            let n = (this.prefix.len() - this.consumed).min(buf.remaining());
            buf.put_slice(&this.prefix[this.consumed..this.consumed + n]);
            this.consumed += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Admitted {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
