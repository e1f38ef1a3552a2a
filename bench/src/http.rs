//! A keep-alive HTTP/1.1 client and a closed-loop load runner: `concurrency` workers, each
//! sending its next request as soon as the last one answered.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::stats::{Summary, summarise};

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(256)
        .build_http()
}

/// One request: method, path and JSON body (for POST).
#[derive(Clone)]
pub struct Call {
    pub post: bool,
    pub path: String,
    pub body: String,
    /// Sent as `Authorization: Bearer …` (a model server's own key, or a Corral API key).
    pub bearer: Option<String>,
    /// Sent as `Cookie: …` (a signed-in session).
    pub cookie: Option<String>,
    /// Sent with `Connection: close`: llama-server closes its connection after a streamed
    /// answer without saying so, and a client that keeps it fails its next request.
    pub close: bool,
}

impl Call {
    pub fn get(path: &str) -> Call {
        Call {
            post: false,
            path: path.to_string(),
            body: String::new(),
            bearer: None,
            cookie: None,
            close: false,
        }
    }
    pub fn post(path: &str, body: serde_json::Value) -> Call {
        Call {
            post: true,
            path: path.to_string(),
            body: body.to_string(),
            bearer: None,
            cookie: None,
            close: false,
        }
    }

    pub fn with_bearer(mut self, key: Option<&str>) -> Call {
        self.bearer = key.map(str::to_string);
        self
    }

    pub fn with_cookie(mut self, cookie: Option<&str>) -> Call {
        self.cookie = cookie.map(str::to_string);
        self
    }

    pub fn closing(mut self) -> Call {
        self.close = true;
        self
    }

    pub fn request(&self, base: &str) -> Result<Request<Full<Bytes>>, String> {
        let mut builder = Request::builder().uri(format!("{base}{}", self.path));
        if let Some(key) = &self.bearer {
            builder = builder.header("authorization", format!("Bearer {key}"));
        }
        if let Some(cookie) = &self.cookie {
            builder = builder.header("cookie", cookie);
        }
        if self.close {
            builder = builder.header("connection", "close");
        }
        if self.post {
            builder
                .method("POST")
                .header("content-type", "application/json")
                .header("accept", "application/json")
                .body(Full::new(Bytes::from(self.body.clone())))
        } else {
            builder.method("GET").body(Full::new(Bytes::new()))
        }
        .map_err(|e| e.to_string())
    }
}

/// Sends the call and returns status and body; an error is a failed measurement.
pub async fn send(client: &HttpClient, base: &str, call: &Call) -> Result<(u16, Bytes), String> {
    let request = call.request(base)?;
    let response = client.request(request).await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, body))
}

/// Runs `total` calls made by `make(i)` at `concurrency`; every answer must be 200.
pub async fn load<F>(base: &str, concurrency: usize, total: usize, make: F) -> Summary
where
    F: Fn(usize) -> Call + Send + Sync + 'static,
{
    let (latencies, wall) = load_samples(base, concurrency, total, Arc::new(make)).await;
    summarise(latencies, wall)
}

/// Turns a figure and its floor take in alternation: a single turn each put a burst of another
/// process's work (this machine has 2 cores, shared with the load generator) on one side only,
/// and the SSR c=32 ratio swung 2.6–3.7× between runs of one build.
const FLOOR_TURNS: usize = 6;

/// A figure and its floor measured in `FLOOR_TURNS` alternating turns (floor, figure, floor,
/// ...), `total` calls each in all: drift on a shared machine then falls on both alike rather
/// than on whichever ran second. `bases` are the floor's and the figure's servers (the same one
/// when the floor is another path of it).
pub async fn load_against_floor<F, G>(
    bases: (&str, &str),
    concurrency: usize,
    total: usize,
    floor: F,
    figure: G,
) -> (Summary, Summary)
where
    F: Fn(usize) -> Call + Send + Sync + 'static,
    G: Fn(usize) -> Call + Send + Sync + 'static,
{
    let (floor, figure) = (Arc::new(floor), Arc::new(figure));
    let mut sides = [(Vec::new(), Duration::ZERO), (Vec::new(), Duration::ZERO)];
    for turn in 0..FLOOR_TURNS {
        let calls = total / FLOOR_TURNS + usize::from(turn < total % FLOOR_TURNS);
        for (side, base, make) in [
            (0, bases.0, floor.clone() as MakeCall),
            (1, bases.1, figure.clone()),
        ] {
            let (latencies, wall) = load_samples(base, concurrency, calls, make).await;
            sides[side].0.extend(latencies);
            sides[side].1 += wall;
        }
    }
    let [(floor, floor_wall), (figure, figure_wall)] = sides;
    (summarise(floor, floor_wall), summarise(figure, figure_wall))
}

type MakeCall = Arc<dyn Fn(usize) -> Call + Send + Sync>;

async fn load_samples(
    base: &str,
    concurrency: usize,
    total: usize,
    make: MakeCall,
) -> (Vec<Duration>, Duration) {
    let next = Arc::new(AtomicUsize::new(0));
    let client = client();
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (make, next, client, base) =
                (make.clone(), next.clone(), client.clone(), base.to_string());
            tokio::spawn(async move {
                let mut latencies: Vec<Duration> = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        return latencies;
                    }
                    let call = make(i);
                    let sent = Instant::now();
                    match send(&client, &base, &call).await {
                        Ok((200, _)) => latencies.push(sent.elapsed()),
                        Ok((status, body)) => panic!(
                            "{} answered {status}: {}",
                            call.path,
                            String::from_utf8_lossy(&body)
                        ),
                        Err(error) => panic!("{base}{} failed: {error}", call.path),
                    }
                }
            })
        })
        .collect();
    let mut all = Vec::with_capacity(total);
    for worker in workers {
        all.extend(worker.await.expect("a load worker panicked"));
    }
    (all, started.elapsed())
}
