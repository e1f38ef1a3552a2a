//! A connection whose client stops taking bytes is closed: a write that makes no progress for
//! the write timeout (`--stream-write-timeout`) fails, hyper drops the connection and with it
//! the answer's body, so an unread stream releases its model (its ticket lives in the body) and
//! an unread backup download its copy. An idle connection is not stalled: only a write the
//! kernel cannot take counts. Progress is what the client took: the kernel reports a full
//! socket writable again only once much of its buffer has drained, so a slow but steady reader
//! would look stalled by writes alone; when the time is up, the socket's send queue is read
//! (`SendQueue`), and a queue that shrank starts a new period. Each request carries its
//! connection's `WriteStall`, so whatever the answer was (a metered stream) can say why it
//! ended.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Whether a connection was closed because its client stopped taking bytes.
#[derive(Debug, Clone)]
pub struct WriteStall {
    timed_out: Arc<AtomicBool>,
    pub limit: Duration,
}

impl WriteStall {
    pub fn timed_out(&self) -> bool {
        self.timed_out.load(Ordering::Relaxed)
    }
}

/// Bytes written to a socket that its peer has not taken yet (`None` where nobody can say).
pub trait SendQueue {
    fn queued(&self) -> Option<u64>;
}

impl SendQueue for tokio::net::TcpStream {
    fn queued(&self) -> Option<u64> {
        use std::os::fd::AsRawFd;
        let mut queued: libc::c_int = 0;
        // SAFETY: TIOCOUTQ (SIOCOUTQ on a socket) writes one int through the pointer.
        let done = unsafe { libc::ioctl(self.as_raw_fd(), libc::TIOCOUTQ, &mut queued) };
        (done == 0).then(|| u64::try_from(queued).unwrap_or(0))
    }
}

/// `inner` with a deadline on every write that cannot go on.
pub struct WriteDeadline<S> {
    inner: S,
    limit: Duration,
    /// Set while a write waits for the client: when the period ends, and how much the client
    /// had not taken when it began.
    stalled: Option<(Pin<Box<Sleep>>, Option<u64>)>,
    stall: WriteStall,
}

impl<S> WriteDeadline<S> {
    pub fn new(inner: S, limit: Duration) -> WriteDeadline<S> {
        WriteDeadline {
            inner,
            limit,
            stalled: None,
            stall: WriteStall {
                timed_out: Arc::new(AtomicBool::new(false)),
                limit,
            },
        }
    }

    /// What the connection's requests are told.
    pub fn stall(&self) -> WriteStall {
        self.stall.clone()
    }

    /// A write (or flush) answered `polled`: progress clears the clock, waiting starts it, and
    /// waiting a whole period in which the client took nothing is an error.
    fn watch<T>(&mut self, cx: &mut Context<'_>, polled: Poll<io::Result<T>>) -> Poll<io::Result<T>>
    where
        S: SendQueue,
    {
        if polled.is_ready() {
            self.stalled = None;
            return polled;
        }
        let limit = self.limit;
        loop {
            let queued_now = || self.inner.queued();
            let (sleep, queued_then) = match &mut self.stalled {
                Some(stalled) => stalled,
                None => {
                    let queued = queued_now();
                    let sleep = Box::pin(tokio::time::sleep_until(Instant::now() + limit));
                    self.stalled.insert((sleep, queued))
                }
            };
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let then = *queued_then;
            let now = self.inner.queued();
            if let (Some(then), Some(now)) = (then, now)
                && now < then
            {
                // The client took bytes in this period: a new one begins.
                self.stalled = None;
                continue;
            }
            self.stall.timed_out.store(true, Ordering::Relaxed);
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the client took no bytes for {} s", limit.as_secs()),
            )));
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteDeadline<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + SendQueue + Unpin> AsyncWrite for WriteDeadline<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.watch(cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.watch(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_flush(cx);
        this.watch(cx, polled)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.watch(cx, polled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// A pipe has no queue to read: only a write that completes counts as progress.
    impl SendQueue for tokio::io::DuplexStream {
        fn queued(&self) -> Option<u64> {
            None
        }
    }

    #[tokio::test]
    async fn a_write_the_peer_never_takes_fails_after_the_limit_and_says_so() {
        let (ours, _theirs) = tokio::io::duplex(1024);
        let mut stream = WriteDeadline::new(ours, Duration::from_millis(200));
        let stall = stream.stall();
        let started = std::time::Instant::now();
        let error = stream.write_all(&[0u8; 64 * 1024]).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert!(stall.timed_out());
    }

    #[tokio::test]
    async fn a_tcp_reader_that_takes_a_little_every_period_is_never_cut_and_one_that_stops_is() {
        // A large send buffer, as on a real connection: the kernel calls it writable again only
        // once a third of it has drained, which this reader takes seconds to do.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpSocket::new_v4().unwrap();
        client.set_recv_buffer_size(4096).unwrap();
        let mut theirs = client
            .connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (ours, _) = listener.accept().await.unwrap();
        socket2::SockRef::from(&ours)
            .set_send_buffer_size(1 << 20)
            .unwrap();
        let mut stream = WriteDeadline::new(ours, Duration::from_millis(300));
        let stall = stream.stall();
        let writer = tokio::spawn(async move { stream.write_all(&vec![7u8; 8 << 20]).await });
        // 2 KiB every 20 ms (about 100 KB/s) for 1.5 s: five periods, each with progress.
        let mut buf = [0u8; 2048];
        let steady = std::time::Instant::now();
        while steady.elapsed() < Duration::from_millis(1500) {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let read = tokio::io::AsyncReadExt::read(&mut theirs, &mut buf)
                .await
                .unwrap();
            assert!(read > 0);
        }
        assert!(!stall.timed_out(), "a steady reader was cut off");
        // The reader stops: the next period without progress ends the write.
        let error = tokio::time::timeout(Duration::from_secs(3), writer)
            .await
            .expect("cut within a few periods")
            .unwrap()
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(stall.timed_out());
        drop(theirs);
    }

    #[tokio::test]
    async fn a_slow_reader_that_keeps_taking_bytes_is_not_cut_off() {
        let (ours, mut theirs) = tokio::io::duplex(1024);
        let mut stream = WriteDeadline::new(ours, Duration::from_millis(300));
        let stall = stream.stall();
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 512];
            let mut total = 0;
            while total < 16 * 1024 {
                tokio::time::sleep(Duration::from_millis(20)).await;
                total += tokio::io::AsyncReadExt::read(&mut theirs, &mut buf)
                    .await
                    .unwrap();
            }
        });
        stream.write_all(&[0u8; 16 * 1024]).await.unwrap();
        reader.await.unwrap();
        assert!(!stall.timed_out());
    }
}
