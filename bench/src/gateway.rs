//! The gateway's cost, against the same running llama-server called directly in the same run:
//! added latency of a one-token chat completion at c=1 and c=8, throughput at c=8, the time to
//! the first byte of a stream, and Corral's memory per 100 streams held open.

use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use serde_json::{Value, json};

use crate::http::{self, Call, load_against_floor};
use crate::stats::{self, Summary};
use crate::{Options, Report, bare_proxy, corral, mib, reference_proxy, with_llama_server};

const GROUP: &str = "gateway (real llama-server, tiny model)";

fn chat(stream: bool, max_tokens: u32) -> Value {
    json!({"model": "tiny", "messages": [{"role": "user", "content": "hi"}],
           "max_tokens": max_tokens, "stream": stream, "ignore_eos": true})
}

pub async fn measure(report: &mut Report, options: &Options, work: &std::path::Path) {
    let setup = (GROUP, "gateway", "24200-24249");
    let Some((corral, _, model)) = with_llama_server(report, options, work, setup).await else {
        return;
    };
    let client = http::client();
    let call = |call: Call| {
        let (client, base) = (client.clone(), corral.base.clone());
        async move {
            let (status, body) = http::send(&client, &base, &call)
                .await
                .expect("Corral answers");
            assert_eq!(
                status,
                200,
                "{}: {}",
                call.path,
                String::from_utf8_lossy(&body)
            );
            serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null)
        }
    };
    let created = call(Call::post(
        "/api/models/create",
        json!({"model": {"name": "tiny", "path": model.to_string_lossy(), "threads": 1,
                         "ctx_size": 4096}}),
    ))
    .await;
    let id = created["id"].as_i64().expect("the model has an id");
    // Room for the held streams below: the default bound is 32 per model.
    call(Call::post(
        "/api/models/config/save",
        json!({"id": id, "group": "serving", "config": {"max_requests": 256}}),
    ))
    .await;
    // An HTTP thread for each of the floor's 8 connections: llama-server's default is
    // n_parallel + 2 = 6 here, and a keep-alive connection past them waits until one closes
    // (100 requests or 5 s later), which stalled the direct floor in about a third of the runs.
    call(Call::post(
        "/api/models/config/save",
        json!({"id": id, "group": "advanced", "config": {"extra_args": ["--threads-http", "16"]}}),
    ))
    .await;
    // The first request starts the model; the rest find it running.
    call(Call::post("/v1/chat/completions", chat(false, 1))).await;
    let run = &call(Call::post("/api/runs", json!({"id": id}))).await[0];
    let port = run["port"].as_u64().expect("the run's port");
    let pid = run["pid"].as_u64().expect("the run's pid") as u32;
    let direct = format!("http://127.0.0.1:{port}");
    let key = server_key(pid);

    // Seconds of load per step, not a blink: a one-token answer takes about a millisecond.
    let total = if options.quick { 1000 } else { 5000 };
    let mut medians = Vec::new();
    for concurrency in [1, 8] {
        let (floor, through) = load_against_floor(
            (&direct, &corral.base),
            concurrency,
            total,
            {
                let key = key.clone();
                move |_| {
                    Call::post("/v1/chat/completions", chat(false, 1)).with_bearer(key.as_deref())
                }
            },
            |_| Call::post("/v1/chat/completions", chat(false, 1)),
        )
        .await;
        report.latency(
            GROUP,
            &format!("chat, max_tokens 1, c={concurrency} (floor: the server directly)"),
            through,
            Some(floor),
        );
        medians.push((concurrency, through, floor));
    }
    for (concurrency, through, floor) in &medians {
        let added = through.median_ms - floor.median_ms;
        report.figure(
            GROUP,
            &format!("added latency at c={concurrency} (median − median)"),
            format!("{added:.3} ms"),
            json!(stats::round(added)),
        );
    }
    if let Some((_, through, floor)) = medians.iter().find(|(c, _, _)| *c == 8) {
        throughput_ratio(
            report,
            "throughput at c=8, gateway ÷ direct",
            through,
            floor,
        );
    }

    // What Corral itself spends per request, on the same llama-server: called directly, Corral
    // still reads every line the server logs; through the gateway it also carries the request.
    let mut through_gateway = None;
    for (how, base, bearer) in [
        ("called directly", &direct, key.clone()),
        ("through the gateway", &corral.base, None),
    ] {
        let case = format!("Corral CPU per request at c=8, the server {how}");
        through_gateway =
            cpu_per_request(report, &case, || corral.cpu_time(), base, bearer, total).await;
    }
    let references = reference_proxies(report, work, &direct, key.as_deref(), total).await;
    cpu_ratios(report, through_gateway, &references);

    // Most real traffic is streamed: Corral meters a stream event by event, so its cost grows
    // with the answer's length, not only with the number of requests.
    let (streams, tokens) = if options.quick { (8, 128) } else { (32, 256) };
    for (how, base, bearer) in [
        ("called directly", &direct, key.clone()),
        ("through the gateway", &corral.base, None),
    ] {
        let before = corral.cpu_time();
        http::load(base, 4, streams, move |_| {
            Call::post("/v1/chat/completions", chat(true, tokens))
                .with_bearer(bearer.as_deref())
                .closing()
        })
        .await;
        if let (Some(before), Some(after)) = (before, corral.cpu_time()) {
            let per_token = (after.saturating_sub(before)).as_secs_f64() * 1e6
                / (streams as f64 * f64::from(tokens));
            report.figure(
                GROUP,
                &format!(
                    "Corral CPU per streamed token ({tokens}-token streams), the server {how}"
                ),
                format!("{per_token:.2} µs"),
                json!(stats::round(per_token)),
            );
        }
    }

    let rounds = if options.quick { 30 } else { 100 };
    let (mut direct_ttfb, mut gateway_ttfb) = (Vec::new(), Vec::new());
    let started = Instant::now();
    for _ in 0..rounds {
        let stream = Call::post("/v1/chat/completions", chat(true, 4));
        direct_ttfb.push(
            first_byte(
                &client,
                &direct,
                &stream.clone().with_bearer(key.as_deref()),
            )
            .await,
        );
        gateway_ttfb.push(first_byte(&client, &corral.base, &stream).await);
    }
    let wall = started.elapsed();
    let floor = stats::summarise(direct_ttfb, wall);
    let through = stats::summarise(gateway_ttfb, wall);
    report.timing(
        GROUP,
        &format!("{rounds} streams: time to first byte (floor: directly)"),
        through,
        Some(floor),
    );
    let overhead = through.median_ms - floor.median_ms;
    report.figure(
        GROUP,
        "stream time-to-first-byte overhead (median − median)",
        format!("{overhead:.3} ms"),
        json!(stats::round(overhead)),
    );

    let growth = held_streams(&corral, 100).await;
    report.figure(
        GROUP,
        "Corral RSS growth with 100 streams open",
        mib(growth),
        json!(growth),
    );
    corral.stop().await;
}

/// The same figures with a reference proxy in front of the same server instead of Corral,
/// measured in the same run: nginx (a reverse proxy written for nothing else) and a bare proxy
/// on Corral's own HTTP stack (the least that stack spends). Answers the CPU per request at
/// c=8 of each, by name.
async fn reference_proxies(
    report: &mut Report,
    work: &std::path::Path,
    direct: &str,
    key: Option<&str>,
    total: usize,
) -> Vec<(&'static str, f64)> {
    let mut spent = Vec::new();
    match reference_proxy::start(work, direct).await {
        Ok(proxy) => {
            let base = proxy.base.clone();
            let cpu = reference(
                report,
                "nginx",
                &base,
                || proxy.cpu_time(),
                direct,
                key,
                total,
            );
            spent.extend(cpu.await.map(|cpu| ("nginx", cpu)));
            proxy.stop().await;
        }
        Err(why) => report.figure(GROUP, "reference proxy (nginx)", why, Value::Null),
    }
    match bare_proxy::start(direct).await {
        Ok(proxy) => {
            let base = proxy.base.clone();
            let name = "bare hyper proxy";
            let cpu = reference(report, name, &base, || proxy.cpu_time(), direct, key, total);
            spent.extend(cpu.await.map(|cpu| (name, cpu)));
            proxy.stop().await;
        }
        Err(why) => report.figure(GROUP, "reference proxy (bare hyper)", why, Value::Null),
    }
    spent
}

/// One reference proxy's figures: throughput at c=8 and added latency at c=1 against the
/// server called directly, and its CPU per request at c=8.
async fn reference(
    report: &mut Report,
    name: &str,
    base: &str,
    cpu_time: impl Fn() -> Option<Duration>,
    direct: &str,
    key: Option<&str>,
    total: usize,
) -> Option<f64> {
    let call = {
        let key = key.map(str::to_string);
        move |_: usize| {
            Call::post("/v1/chat/completions", chat(false, 1)).with_bearer(key.as_deref())
        }
    };
    let (floor, through) =
        load_against_floor((direct, base), 8, total, call.clone(), call.clone()).await;
    let case = format!("throughput at c=8, {name} in front (a reference proxy) ÷ direct");
    throughput_ratio(report, &case, &through, &floor);
    let (floor, through) = load_against_floor((direct, base), 1, total, call.clone(), call).await;
    let added = through.median_ms - floor.median_ms;
    report.figure(
        GROUP,
        &format!("added latency at c=1, {name} (median − median)"),
        format!("{added:.3} ms"),
        json!(stats::round(added)),
    );
    let case = format!("{name} CPU per request at c=8 (reference proxy)");
    let bearer = key.map(str::to_string);
    cpu_per_request(report, &case, cpu_time, base, bearer, total).await
}

/// Corral's CPU per request over each reference proxy's, from the same run.
fn cpu_ratios(report: &mut Report, corral: Option<f64>, references: &[(&str, f64)]) {
    let Some(corral) = corral else { return };
    for (name, cpu) in references {
        let ratio = corral / cpu.max(1e-9);
        report.figure(
            GROUP,
            &format!("Corral ÷ {name}, CPU per request at c=8 (goal for nginx: ≤ 1.5)"),
            format!("{ratio:.2}"),
            json!(stats::round(ratio)),
        );
    }
}

fn throughput_ratio(report: &mut Report, case: &str, through: &Summary, floor: &Summary) {
    let ratio = through.per_second / floor.per_second.max(1e-9);
    report.figure(
        GROUP,
        case,
        format!("{ratio:.3}"),
        json!(stats::round(ratio)),
    );
}

/// The CPU a process (read by `cpu_time`) spends per one-token completion while `base` answers
/// `total` of them at c=8.
async fn cpu_per_request(
    report: &mut Report,
    case: &str,
    cpu_time: impl Fn() -> Option<Duration>,
    base: &str,
    bearer: Option<String>,
    total: usize,
) -> Option<f64> {
    let before = cpu_time();
    http::load(base, 8, total, move |_| {
        Call::post("/v1/chat/completions", chat(false, 1)).with_bearer(bearer.as_deref())
    })
    .await;
    if let (Some(before), Some(after)) = (before, cpu_time()) {
        let per_request = (after.saturating_sub(before)).as_secs_f64() * 1e6 / total as f64;
        report.figure(
            GROUP,
            case,
            format!("{per_request:.1} µs"),
            json!(stats::round(per_request)),
        );
        return Some(per_request);
    }
    None
}

/// The key a model server answers to, from its environment (as Corral reads it to adopt one).
fn server_key(pid: u32) -> Option<String> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    environ
        .split(|b| *b == 0)
        .filter_map(|entry| std::str::from_utf8(entry).ok())
        .find_map(|entry| entry.strip_prefix("LLAMA_API_KEY=").map(str::to_string))
}

/// From sending a streamed request to its first body bytes.
async fn first_byte(client: &http::HttpClient, base: &str, call: &Call) -> Duration {
    let sent = Instant::now();
    let request = call.request(base).expect("a request");
    let response = client.request(request).await.expect("the stream starts");
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    while let Some(frame) = body.frame().await {
        if frame
            .expect("a frame")
            .data_ref()
            .is_some_and(|d| !d.is_empty())
        {
            let at = sent.elapsed();
            // The rest is read so the connection can be used again.
            while body.frame().await.is_some() {}
            return at;
        }
    }
    sent.elapsed()
}

/// Corral's RSS with `count` long streams open through it (each on its own connection, read
/// no further than their headers), less its RSS before.
async fn held_streams(corral: &corral::Corral, count: usize) -> u64 {
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = corral.rss_bytes().unwrap_or(0);
    let mut held = Vec::new();
    for _ in 0..count {
        let client = http::client();
        let request = Call::post("/v1/chat/completions", chat(true, 2000))
            .request(&corral.base)
            .expect("a request");
        held.push(tokio::spawn(async move {
            let response = client.request(request).await;
            // Hold the answer unread until the task is aborted.
            std::future::pending::<()>().await;
            drop(response);
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let during = corral.rss_bytes().unwrap_or(before);
    for task in held {
        task.abort();
    }
    during.saturating_sub(before)
}
