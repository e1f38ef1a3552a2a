//! The second reference proxy: the least a proxy built on Corral's own HTTP stack (tokio's
//! multi-thread runtime, hyper's HTTP/1 server and hyper-util's pooled client) can spend per
//! request. It passes each request on and the answer back and does nothing else: no access
//! rules, no admission, no metering, no logs. What Corral spends above it is Corral's own work;
//! what it spends above nginx is the stack's.
//!
//! It runs as this same binary (`corral-bench bare-proxy UPSTREAM`) in a process of its own, so
//! its CPU time is read from `/proc` exactly as Corral's and nginx's are.

use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The subcommand that runs the proxy instead of the bench.
pub const SUBCOMMAND: &str = "bare-proxy";

type Upstream = Client<HttpConnector, Full<Bytes>>;

/// Runs the proxy in front of `upstream` (`http://127.0.0.1:PORT`) on a free loopback port,
/// which it prints as its first line; serves until killed.
pub async fn serve(upstream: String) {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Upstream = Client::builder(TokioExecutor::new()).build(connector);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let port = listener.local_addr().expect("a bound address").port();
    println!("{port}");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (client, upstream) = (client.clone(), upstream.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                pass_on(client.clone(), upstream.clone(), request)
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// One request passed on as it came (but for its Host), and the answer back as it arrives.
async fn pass_on(
    client: Upstream,
    upstream: String,
    request: Request<Incoming>,
) -> Result<Response<http_body_util::combinators::UnsyncBoxBody<Bytes, hyper::Error>>, hyper::Error>
{
    let (parts, body) = request.into_parts();
    let body = body.collect().await?.to_bytes();
    let mut outgoing = Request::builder()
        .method(parts.method)
        .uri(format!("{upstream}{}", parts.uri.path()));
    for (name, value) in &parts.headers {
        if name != "host" {
            outgoing = outgoing.header(name, value);
        }
    }
    let Ok(outgoing) = outgoing.body(Full::new(body)) else {
        return Ok(failed());
    };
    match client.request(outgoing).await {
        Ok(answer) => Ok(answer.map(BodyExt::boxed_unsync)),
        Err(_) => Ok(failed()),
    }
}

fn failed() -> Response<http_body_util::combinators::UnsyncBoxBody<Bytes, hyper::Error>> {
    let mut response = Response::new(
        Full::new(Bytes::new())
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = StatusCode::BAD_GATEWAY;
    response
}

pub struct BareProxy {
    child: Child,
    pub base: String,
}

/// Starts the proxy in a process of its own, in front of `upstream`.
pub async fn start(upstream: &str) -> Result<BareProxy, String> {
    let me = std::env::current_exe().map_err(|e| format!("cannot find the bench binary: {e}"))?;
    let mut child = Command::new(me)
        .args([SUBCOMMAND, upstream])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start the bare proxy: {e}"))?;
    let stdout = child.stdout.take().ok_or("the bare proxy has no stdout")?;
    let mut line = String::new();
    let read = tokio::time::timeout(
        Duration::from_secs(10),
        BufReader::new(stdout).read_line(&mut line),
    )
    .await;
    let port: u16 = match read {
        Ok(Ok(_)) => line
            .trim()
            .parse()
            .map_err(|_| format!("the bare proxy printed no port: {line:?}"))?,
        _ => return Err("the bare proxy did not say its port within 10 s".into()),
    };
    Ok(BareProxy {
        child,
        base: format!("http://127.0.0.1:{port}"),
    })
}

impl BareProxy {
    pub fn cpu_time(&self) -> Option<Duration> {
        crate::corral::cpu_time(self.child.id()?)
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
