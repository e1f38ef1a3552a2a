//! The accept loop: HTTP/1.1 (over TLS when configured) with a deadline for request headers
//! (which also closes idle keep-alive connections), a cap on open connections answered with a
//! clear 503 and one per client address answered with 429, and a shutdown that lets open
//! requests finish for a short while and then drops them, so no client can keep Corral alive
//! after SIGTERM. A client that stops taking bytes is cut off after the write timeout
//! (`write_deadline`).

use std::future::Future;
use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::server::http::limits::HttpLimits;
use crate::server::http::tls::Tls;
use crate::server::http::write_deadline::{WriteDeadline, WriteStall};
use crate::server::support::per_owner_cap::{Place, Places};

/// What a refusal reads of its client's request before closing, at most (see `refuse`).
const REFUSAL_DRAIN: usize = 64 * 1024;

/// One of the capped connection places. Every request carries its connection's slot, so a live
/// socket keeps it after the upgrade hands the connection over: tabs count against the cap too.
#[derive(Clone)]
pub struct ConnectionSlot {
    _permit: Arc<(OwnedSemaphorePermit, Place<IpAddr>)>,
}

/// A connection's byte stream, plain or TLS.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for T {}

/// Serves `router` on `listener` until `shutdown` resolves; then lets open requests finish for
/// `limits.shutdown_grace` and drops whatever is still open.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    tls: Option<Arc<Tls>>,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let clients: Places<IpAddr> = Places::default();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read)
        .keep_alive(true);
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
            // Reap finished connection tasks as we go, so the set stays small.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of descriptors or a connection reset before accept: wait a little instead
                // of spinning, and carry on.
                if !is_connection_error(&error) {
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                continue;
            }
        };
        // No Nagle: a response written in two parts (headers, then body) must not wait for the
        // client's delayed ACK, which cost static files a steady 40 ms (scripts/bench).
        if let Err(error) = stream.set_nodelay(true) {
            tracing::warn!(%error, "cannot set TCP_NODELAY");
        }
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            let why = format!(
                "Corral has {} connections open, the most it serves",
                limits.max_connections
            );
            refuse(stream, "503 Service Unavailable", why);
            continue;
        };
        let cap = limits.max_connections_per_client.max(1);
        let Some(place) = clients.take(peer.ip(), cap) else {
            let why = format!("this address has {cap} connections open, the most one client may");
            refuse(stream, "429 Too Many Requests", why);
            continue;
        };
        let slot = ConnectionSlot {
            _permit: Arc::new((slot, place)),
        };
        let stream = WriteDeadline::new(stream, limits.write_stall);
        let stall = stream.stall();
        let service = service(router.clone(), slot, stall, peer);
        let handshake_deadline = limits.header_read;
        connections.spawn(serve_connection(
            stream,
            tls.clone(),
            handshake_deadline,
            builder.clone(),
            service,
            stop_rx.clone(),
        ));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(limits.shutdown_grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "connections still open after {} s: closing them",
            limits.shutdown_grace.as_secs()
        );
        connections.shutdown().await;
    }
}

/// The router as the connection's service: each request carries the connection's slot, its
/// write-stall flag and who is asking (login back-off is counted per client address).
fn service(
    router: Router,
    slot: ConnectionSlot,
    stall: WriteStall,
    peer: SocketAddr,
) -> impl hyper::service::Service<
    hyper::Request<Incoming>,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = tower::util::Oneshot<Router, hyper::Request<Body>>,
> + Clone
+ Send
+ 'static {
    service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(slot.clone());
        request.extensions_mut().insert(stall.clone());
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
        router.clone().oneshot(request.map(Body::new))
    })
}

/// One connection, TLS or plain, until it closes or Corral stops (then it finishes the request
/// under way and closes).
async fn serve_connection<S>(
    stream: WriteDeadline<TcpStream>,
    tls: Option<Arc<Tls>>,
    handshake_deadline: Duration,
    builder: Arc<http1::Builder>,
    service: S,
    mut stop: watch::Receiver<bool>,
) where
    S: hyper::service::HttpService<Incoming> + Send + 'static,
    S::Future: Send + 'static,
    S::ResBody: Send + 'static,
    <S::ResBody as hyper::body::Body>::Data: Send,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream: Box<dyn Stream> = match tls {
        None => Box::new(stream),
        // The handshake counts against the header deadline: a client that opens a connection
        // and says nothing is closed as on plain HTTP.
        Some(tls) => {
            match tokio::time::timeout(handshake_deadline, tls.acceptor().accept(stream)).await {
                Ok(Ok(stream)) => Box::new(stream),
                Ok(Err(error)) => {
                    tracing::debug!(%error, "a TLS handshake failed");
                    return;
                }
                Err(_) => return,
            }
        }
    };
    let connection = builder
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(connection);
    let stopping = async move {
        // Dropped by the time the connection is awaited again below.
        let _ = stop.wait_for(|stop| *stop).await;
    };
    tokio::select! {
        _ = connection.as_mut() => {}
        () = stopping => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

/// Says why, briefly, and closes: a connection cap is reached.
///
/// All of it happens here in the accept loop, with no task and no wait: a new socket's send
/// buffer takes these few bytes at once, and reading only what has already arrived cannot
/// block. (With a task per refusal the answers fell behind the accept loop on a busy core, and
/// connections past the bound on such tasks were closed without a word.)
fn refuse(stream: TcpStream, status: &'static str, why: String) {
    let body = format!("{why}; try again\n");
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Retry-After: 1\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    // Straight to the socket: tokio's own `try_write` would wait for the reactor to report a
    // socket this new as writable.
    let socket = socket2::SockRef::from(&stream);
    match socket.send(response.as_bytes()) {
        Ok(written) if written == response.len() => {}
        // Closed by the client already, or a send buffer that cannot take 200 bytes: nothing
        // more to say to it.
        _ => return,
    }
    // The end of the answer follows it at once.
    if let Err(error) = socket.shutdown(std::net::Shutdown::Write) {
        tracing::debug!(%error, "cannot end a refusal");
        return;
    }
    // Closing with the request unread would reset the connection, and some systems discard
    // the answer they had received when reset: read what is there (the socket does not block).
    let mut sink = [0u8; 4096];
    let mut drained = 0;
    while drained < REFUSAL_DRAIN {
        match (&*socket).read(&mut sink) {
            Ok(read) if read > 0 => drained += read,
            _ => break,
        }
    }
}

fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// The connection cap that fits the process's descriptor limit: raises the soft limit to the
/// hard one, then keeps `reserve` descriptors for everything that is not a connection (the
/// database, model servers' pipes, live sockets after their upgrade).
pub fn fit_connection_cap(wanted: usize, reserve: usize) -> usize {
    let limit = raise_descriptor_limit();
    let fitting = limit.saturating_sub(reserve as u64).max(1);
    let cap = (wanted as u64).min(fitting) as usize;
    if cap < wanted {
        tracing::warn!(
            wanted,
            cap,
            descriptor_limit = limit,
            "the descriptor limit allows fewer connections than asked for"
        );
    }
    cap
}

/// Raises this process's soft descriptor limit to its hard one; the limit now.
pub fn raise_descriptor_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    limit.rlim_cur
}
