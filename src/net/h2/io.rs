//! An open connection (plain or TLS) as the `AsyncRead`/`AsyncWrite` pair
//! the `h2` crate drives. Nothing here waits: a read or write the socket
//! cannot serve now returns `Pending` without registering a waker, and the
//! driver (`H2Conn`) polls the socket itself, then polls the connection
//! again. It remembers whether the last write stopped on a full socket, so
//! the driver asks for writability only then.
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::frames::{FrameWatch, FramesSeen};
use crate::net::Conn;

/// The largest unconsumed read the adapter buffers: one TLS record, or one
/// socket read on a plain connection.
const READ_BUFFER: usize = 16 * 1024;

pub(crate) struct H2Io {
    conn: Conn,
    state: Arc<IoState>,
    /// The frame headers of what h2 reads (`frames.rs`).
    watch: FrameWatch,
    seen: Arc<FramesSeen>,
}

/// What the driver needs to know of the adapter, which h2 owns, and the
/// allowance of bytes it may read in the current poll.
#[derive(Default)]
pub(crate) struct IoState {
    /// The last write found the socket full; the driver then waits for it
    /// to drain as well as for bytes to read.
    write_blocked: AtomicBool,
    /// Bytes this round may still read; at 0 reads are Pending.
    allowance: AtomicUsize,
    /// A read was refused for want of allowance: the socket may hold more.
    capped: AtomicBool,
    /// The socket may have bytes: false once a read found it emptied,
    /// true again when poll(2) says it is readable. While false, reads are
    /// Pending without a system call (poll(2) is level-triggered, so bytes
    /// that arrive meanwhile are seen there).
    readable: AtomicBool,
}

impl IoState {
    pub fn write_blocked(&self) -> bool {
        self.write_blocked.load(Ordering::Relaxed)
    }

    fn set_write_blocked(&self, blocked: bool) {
        self.write_blocked.store(blocked, Ordering::Relaxed);
    }

    /// Starts a round of reading up to `n` bytes.
    pub fn allow_reads(&self, n: usize) {
        self.allowance.store(n, Ordering::Relaxed);
        self.capped.store(false, Ordering::Relaxed);
    }

    /// Whether the last round stopped reading with bytes perhaps left.
    pub fn read_capped(&self) -> bool {
        self.capped.load(Ordering::Relaxed)
    }

    /// Whether a read may find bytes: false while the last read found the
    /// socket emptied.
    pub fn may_read(&self) -> bool {
        self.readable.load(Ordering::Relaxed)
    }

    /// The socket may have bytes to read (poll(2) said so, or a caller
    /// wants the connection looked at whatever the last read found).
    pub fn set_readable(&self) {
        self.readable.store(true, Ordering::Relaxed);
    }
}

impl H2Io {
    /// `head_limit`: a header block larger is noted (`frames.rs`).
    pub fn new(conn: Conn, head_limit: usize) -> H2Io {
        let state = IoState::default();
        state.set_readable();
        H2Io {
            conn,
            state: Arc::new(state),
            watch: FrameWatch::new(head_limit),
            seen: Arc::default(),
        }
    }

    pub fn state(&self) -> Arc<IoState> {
        self.state.clone()
    }

    /// What the frame headers told.
    pub fn seen(&self) -> Arc<FramesSeen> {
        self.seen.clone()
    }
}

fn to_io(e: crate::net::NetError) -> io::Error {
    let kind = match e.kind {
        crate::net::NetErrorKind::ConnectionClosed => io::ErrorKind::ConnectionReset,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, e.message)
}

impl AsyncRead for H2Io {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let allowed = this.state.allowance.load(Ordering::Relaxed);
        if allowed == 0 {
            this.state.capped.store(true, Ordering::Relaxed);
            return Poll::Pending;
        }
        if this.conn.buffered().is_empty() {
            let readable = this.state.readable.load(Ordering::Relaxed);
            let (n, drained) = this
                .conn
                .try_fill_probing(READ_BUFFER, readable)
                .map_err(to_io)?;
            if drained {
                this.state.readable.store(false, Ordering::Relaxed);
            }
            match n {
                None => return Poll::Pending,
                Some(0) => return Poll::Ready(Ok(())), // EOF: nothing put
                Some(_) => {}
            }
        }
        let have = this.conn.buffered();
        let n = have.len().min(buf.remaining()).min(allowed);
        buf.put_slice(&have[..n]);
        this.watch.feed(&have[..n], &this.seen);
        this.conn.consume(n);
        this.state.allowance.store(allowed - n, Ordering::Relaxed);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for H2Io {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let step = this.conn.try_write(data).map_err(to_io)?;
        this.state.set_write_blocked(step.blocked);
        match step.accepted {
            0 if step.blocked => Poll::Pending,
            n => Poll::Ready(Ok(n)),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let first = bufs
            .iter()
            .find(|b| !b.is_empty())
            .map_or(&[][..], |b| &**b);
        self.poll_write(cx, first)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // Over TLS, records rustls still holds go out now; plain sockets
        // hold nothing of ours.
        if this.conn.wants_flush() {
            let step = this.conn.try_write(&[]).map_err(to_io)?;
            this.state.set_write_blocked(step.blocked);
            if step.blocked {
                return Poll::Pending;
            }
        }
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}
