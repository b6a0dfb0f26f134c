//! Connection limits, below HTTP: at most `max_connections` open at once
//! (further clients wait in the kernel's backlog until one closes), and a
//! deadline for each HTTP/1 request's headers, so a client that trickles
//! its headers (slowloris) loses its connection instead of holding it.
//! poem's `idle_timeout` closes connections that go quiet; body reads have
//! their own deadline in the body-limit middleware.

use std::{
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use poem::{
    http::uri::Scheme,
    listener::Acceptor,
    web::{LocalAddr, RemoteAddr},
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    sync::{OwnedSemaphorePermit, Semaphore},
    time::{Instant, Sleep},
};

/// Wraps an acceptor with the connection cap and the header deadline.
pub struct Limited<A> {
    inner: A,
    permits: Arc<Semaphore>,
    header_timeout: Duration,
}

impl<A> Limited<A> {
    pub fn new(inner: A, max_connections: usize, header_timeout: Duration) -> Self {
        Self { inner, permits: Arc::new(Semaphore::new(max_connections)), header_timeout }
    }
}

impl<A: Acceptor> Acceptor for Limited<A> {
    type Io = Guarded<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        let permit = self.permits.clone().acquire_owned().await.map_err(io::Error::other)?;
        let (io, local, remote, scheme) = self.inner.accept().await?;
        Ok((Guarded::new(io, permit, self.header_timeout), local, remote, scheme))
    }
}

/// A connection holding its permit, watching for the end of each HTTP/1
/// request's headers (`\r\n\r\n`) within the deadline. An HTTP/2
/// connection (its preface) is left to HTTP/2's own flow control.
pub struct Guarded<Io> {
    io: Io,
    _permit: OwnedSemaphorePermit,
    timeout: Duration,
    /// Set while a request's headers are arriving.
    deadline: Option<Pin<Box<Sleep>>>,
    /// How much of `\r\n\r\n` the bytes so far end with.
    matched: usize,
    /// Headers of the current request are complete; the next read after a
    /// write starts a new request.
    in_body: bool,
    /// Bytes read so far, while fewer than the HTTP/2 preface.
    seen: usize,
    /// The connection speaks HTTP/2: no header deadline.
    http2: bool,
}

const HTTP2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n";

const END_OF_HEADERS: &[u8] = b"\r\n\r\n";

impl<Io> Guarded<Io> {
    fn new(io: Io, permit: OwnedSemaphorePermit, timeout: Duration) -> Self {
        Self {
            io,
            _permit: permit,
            timeout,
            deadline: None,
            matched: 0,
            in_body: false,
            seen: 0,
            http2: false,
        }
    }

    fn scan(&mut self, bytes: &[u8]) {
        if self.seen < HTTP2_PREFACE.len() {
            let n = bytes.len().min(HTTP2_PREFACE.len() - self.seen);
            if bytes[..n] == HTTP2_PREFACE[self.seen..self.seen + n] {
                self.seen += n;
                if self.seen == HTTP2_PREFACE.len() {
                    self.http2 = true;
                    self.deadline = None;
                }
            } else {
                self.seen = HTTP2_PREFACE.len(); // not HTTP/2; stop looking
            }
        }
        if self.http2 {
            return;
        }
        for &b in bytes {
            if self.in_body {
                return;
            }
            self.matched = if b == END_OF_HEADERS[self.matched] {
                self.matched + 1
            } else if b == b'\r' {
                1
            } else {
                0
            };
            if self.matched == END_OF_HEADERS.len() {
                self.in_body = true;
                self.deadline = None;
                self.matched = 0;
            }
        }
    }
}

impl<Io: AsyncRead + Unpin> AsyncRead for Guarded<Io> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(deadline) = this.deadline.as_mut() {
            if deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "request headers too slow")));
            }
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let read = &buf.filled()[before..];
            if !read.is_empty() && !this.in_body && !this.http2 && this.deadline.is_none() {
                let mut sleep = Box::pin(tokio::time::sleep_until(Instant::now() + this.timeout));
                // Register the timer with this task's waker.
                let _ = sleep.as_mut().poll(cx);
                this.deadline = Some(sleep);
            }
            this.scan(read);
        }
        polled
    }
}

impl<Io: AsyncWrite + Unpin> AsyncWrite for Guarded<Io> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // A response is going out: the next bytes read begin a new request.
        this.in_body = false;
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.in_body = false;
        Pin::new(&mut this.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guarded() -> Guarded<tokio::io::Empty> {
        let permit = Arc::new(Semaphore::new(1)).try_acquire_owned().unwrap();
        Guarded::new(tokio::io::empty(), permit, Duration::from_secs(1))
    }

    #[test]
    fn the_end_of_headers_is_found_across_reads() {
        let mut g = guarded();
        g.scan(b"GET / HTTP/1.1\r\nhost: x\r");
        assert!(!g.in_body);
        g.scan(b"\n\r");
        assert!(!g.in_body);
        g.scan(b"\nbody");
        assert!(g.in_body);
    }

    #[test]
    fn http2_is_left_alone() {
        let mut g = guarded();
        g.scan(b"PRI * HTTP/2.0\r\n");
        g.scan(b"\r\nSM\r\n\r\n\x00\x00");
        assert!(g.http2);
        let mut g = guarded();
        g.scan(b"PRI * HTTP/1.1\r\n");
        assert!(!g.http2);
    }

    #[test]
    fn a_lone_line_break_is_not_the_end() {
        let mut g = guarded();
        g.scan(b"GET / HTTP/1.1\r\nhost: x\r\n\rX\n");
        assert!(!g.in_body);
    }
}
