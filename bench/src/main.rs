//! `scripts/bench`: drives the release `corral` from this separate process over loopback and
//! prints a table (and writes JSON) of medians and p99s. Where a figure has a natural floor it
//! is measured in the same run and printed as a ratio.
//!
//! Usage: corral-bench [--quick] [--only footprint,pages,api,status,fanout,history,gateway,access,folders,browser] [--out results.json]
//! `--history DIR`: the database and figures `cargo bench --bench metrics_history` left there.
//! `--wasm-names FILE`: the main WASM as built, with names, for `twiggy` (footprint).
//! Environment: CORRAL_BIN (default target/release/corral), CORRAL_SITE_ROOT (default target/site).

mod access;
mod bare_proxy;
mod browser;
mod bundle;
mod corral;
mod fanout;
mod folder_scan;
mod gateway;
mod http;
mod reference_proxy;
mod socket;
mod stats;
mod status_latency;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};

use crate::http::{Call, load, load_against_floor};
use crate::stats::{Summary, round};

struct Options {
    quick: bool,
    /// Groups to run (`--only pages,fanout`); empty runs all.
    only: Vec<String>,
    out: Option<PathBuf>,
    /// Where `cargo bench --bench metrics_history` left its database and figures.
    history: Option<PathBuf>,
    binary: PathBuf,
    site: PathBuf,
    /// The main WASM as built, with function names (`twiggy` reads it).
    wasm_names: Option<PathBuf>,
}

fn options() -> Options {
    let mut args = std::env::args().skip(1);
    let mut options = Options {
        quick: false,
        only: Vec::new(),
        out: None,
        history: None,
        binary: std::env::var_os("CORRAL_BIN")
            .map_or_else(|| PathBuf::from("target/release/corral"), PathBuf::from),
        site: std::env::var_os("CORRAL_SITE_ROOT")
            .map_or_else(|| PathBuf::from("target/site"), PathBuf::from),
        wasm_names: None,
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => options.quick = true,
            "--out" => options.out = args.next().map(PathBuf::from),
            "--history" => options.history = args.next().map(PathBuf::from),
            "--wasm-names" => options.wasm_names = args.next().map(PathBuf::from),
            "--only" => {
                options.only = args
                    .next()
                    .unwrap_or_default()
                    .split(',')
                    .map(str::to_string)
                    .collect()
            }
            // `cargo bench`-style harness flags are ignored.
            "--bench" => {}
            other => {
                eprintln!(
                    "unknown argument {other}; usage: corral-bench [--quick] [--only GROUP,..] [--history DIR] [--wasm-names FILE] [--out FILE]"
                );
                std::process::exit(2);
            }
        }
    }
    options
}

/// Rows of the printed table, and the JSON document.
struct Report {
    rows: Vec<[String; 6]>,
    json: serde_json::Map<String, Value>,
}

impl Report {
    fn latency(&mut self, group: &str, case: &str, summary: Summary, floor: Option<Summary>) {
        let ratio = floor.map(|f| summary.median_ms / f.median_ms.max(1e-9));
        self.rows.push([
            group.to_string(),
            case.to_string(),
            format!("{:.3}", summary.median_ms),
            format!("{:.3}", summary.p99_ms),
            format!("{:.0}", summary.per_second),
            ratio.map_or_else(String::new, |r| format!("{r:.2}×")),
        ]);
        let mut entry = summary.json();
        if let (Some(floor), Some(ratio)) = (floor, ratio) {
            entry["floor"] = floor.json();
            entry["ratio_to_floor"] = json!(round(ratio));
        }
        self.record(group, case, entry);
    }

    /// A latency with no meaningful rate (a one-off event, not a request stream).
    fn timing(&mut self, group: &str, case: &str, summary: Summary, floor: Option<Summary>) {
        self.latency(group, case, summary, floor);
        if let Some(row) = self.rows.last_mut() {
            row[4] = String::new();
        }
    }

    fn figure(&mut self, group: &str, case: &str, value: String, raw: Value) {
        self.rows.push([
            group.to_string(),
            case.to_string(),
            value,
            String::new(),
            String::new(),
            String::new(),
        ]);
        self.record(group, case, raw);
    }

    /// `results.<group>.<case>` in the JSON document.
    fn record(&mut self, group: &str, case: &str, value: Value) {
        if let Value::Object(cases) = self.json.entry(group).or_insert_with(|| json!({})) {
            cases.insert(case.to_string(), value);
        }
    }

    fn print(&self) {
        let header = ["group", "case", "median ms", "p99 ms", "req/s", "vs floor"];
        let widths: Vec<usize> = (0..6)
            .map(|i| {
                self.rows
                    .iter()
                    .map(|r| r[i].chars().count())
                    .chain([header[i].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: [&str; 6]| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            println!("| {} |", padded.join(" | "));
        };
        line(header);
        println!(
            "|{}|",
            widths
                .iter()
                .map(|w| "-".repeat(w + 2))
                .collect::<Vec<_>>()
                .join("|")
        );
        for row in &self.rows {
            line([&row[0], &row[1], &row[2], &row[3], &row[4], &row[5]]);
        }
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Creates models `from..to` (names `model <i>`) at concurrency 8.
async fn seed(base: &str, from: usize, to: usize) {
    if to > from {
        load(base, 8, to - from, move |i| {
            Call::post(
                "/api/models/create",
                json!({"model": {"name": format!("model {}", from + i), "path": "/models/bench.gguf"}}),
            )
        })
        .await;
    }
}

/// Requests per measurement: fewer for larger pages, so each step takes seconds, not minutes,
/// yet at least 30 rounds of `concurrency` requests (10 when quick). The page's size, not the
/// model count, sets its cost now that it carries only the first rows; counting by models had
/// left 40 requests at 10,000 models, so at c=32 the median was one burst's start-up and swung
/// 0.1×–9× from run to run.
fn requests_for(page_bytes: usize, concurrency: usize, quick: bool) -> usize {
    let n = (64 * 1024 * 1024 / page_bytes.max(1)).clamp(40, 2000);
    if quick {
        (n / 5).max(10 * concurrency)
    } else {
        n.max(30 * concurrency)
    }
}

async fn pages(report: &mut Report, options: &Options, work: &std::path::Path) {
    let sizes: &[usize] = if options.quick {
        &[10, 100, 1000]
    } else {
        &[10, 100, 1000, 10_000]
    };
    let corral = corral::start(&options.binary, &options.site, &work.join("pages"), &[]).await;
    let client = http::client();
    let mut seeded = 0;
    for &models in sizes {
        seed(&corral.base, seeded, models).await;
        seeded = models;
        let (_, page) = http::send(&client, &corral.base, &Call::get("/"))
            .await
            .expect("GET / answers");
        // The floor: Corral serving a static file of the same size.
        let floor_name = format!("floor-{models}.html");
        std::fs::write(corral.site.join(&floor_name), vec![b'x'; page.len()])
            .expect("the floor file is written");
        for concurrency in [1, 32] {
            let total = requests_for(page.len(), concurrency, options.quick);
            let floor_path = format!("/{floor_name}");
            let (floor, ssr) = load_against_floor(
                (&corral.base, &corral.base),
                concurrency,
                total,
                move |_| Call::get(&floor_path),
                |_| Call::get("/"),
            )
            .await;
            report.latency(
                "GET / (server-rendered models page)",
                &format!(
                    "{models} models, c={concurrency}, {} KiB",
                    page.len() / 1024
                ),
                ssr,
                Some(floor),
            );
        }
    }
    corral.stop().await;
}

async fn server_functions(report: &mut Report, options: &Options, work: &std::path::Path) {
    const MODELS: usize = 100;
    let corral = corral::start(&options.binary, &options.site, &work.join("api"), &[]).await;
    seed(&corral.base, 0, MODELS).await;
    let total = if options.quick { 200 } else { 1000 };
    let group = "server functions (100 models)";
    for concurrency in [1, 32] {
        let list = load(&corral.base, concurrency, total, |_| {
            Call::post("/api/models/list", json!({}))
        })
        .await;
        report.latency(group, &format!("list, c={concurrency}"), list, None);
        let get = load(&corral.base, concurrency, total, |i| {
            Call::post("/api/models/get", json!({"id": i % MODELS + 1}))
        })
        .await;
        report.latency(group, &format!("get, c={concurrency}"), get, None);
        let update = load(&corral.base, concurrency, total, |i| {
            Call::post(
                "/api/models/update",
                json!({"id": i % MODELS + 1, "changes": {"ctx_size": 1024 + i}}),
            )
        })
        .await;
        report.latency(group, &format!("update, c={concurrency}"), update, None);
        let create = load(&corral.base, concurrency, total, move |i| {
            Call::post(
                "/api/models/create",
                json!({"model": {"name": format!("created c{concurrency} {i}"), "path": "/models/b.gguf"}}),
            )
        })
        .await;
        report.latency(group, &format!("create, c={concurrency}"), create, None);
        // The models just created are the ones deleted next.
        let filter = json!({"filter": {"search": format!("created c{concurrency} ")}});
        let (_, listed) = http::send(
            &http::client(),
            &corral.base,
            &Call::post("/api/models/list", filter),
        )
        .await
        .expect("list answers");
        let ids: Vec<i64> = serde_json::from_slice::<Vec<Value>>(&listed)
            .expect("a list of models")
            .iter()
            .filter_map(|m| m["id"].as_i64())
            .collect();
        assert_eq!(ids.len(), total, "every created model is listed");
        let delete = load(&corral.base, concurrency, total, move |i| {
            Call::post("/api/models/delete", json!({"id": ids[i]}))
        })
        .await;
        report.latency(group, &format!("delete, c={concurrency}"), delete, None);
    }
    corral.stop().await;
}

/// One tab as the floor, then 10, 100 and 1,000: how long one update takes to reach all of
/// them, how fast updates may come before any tab lags, and the server's RSS.
async fn fan_out(report: &mut Report, options: &Options, work: &std::path::Path) {
    let group = "WebSocket fan-out";
    let corral = corral::start(
        &options.binary,
        &options.site,
        &work.join("fanout"),
        // Tabs count against the connection cap too, with the load generator's API calls.
        &[
            "--max-clients",
            "1100",
            "--max-connections",
            "1400",
            "--max-connections-per-client",
            "1400",
        ],
    )
    .await;
    seed(&corral.base, 0, fanout::MODELS).await;
    let client = http::client();
    let mut tabs = fanout::Tabs::new();
    let mut round = 0u64;
    let mut floor = None;
    for tab_count in [1, 10, 100, 1000] {
        tabs.grow_to(&corral.base, tab_count).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rss = corral.rss_bytes().unwrap_or(0);
        let rounds = if options.quick { 10 } else { 40 };
        let mut times = Vec::new();
        let started = std::time::Instant::now();
        for _ in 0..rounds {
            round += 1;
            tabs.expect_round(round);
            let sent = std::time::Instant::now();
            let answered = http::send(&client, &corral.base, &tabs.rename(round)).await;
            assert!(matches!(answered, Ok((200, _))), "the rename is accepted");
            match tabs.all_arrived(Duration::from_secs(10)).await {
                Some(at) => times.push(at - sent),
                None => panic!("an update did not reach all {tab_count} tabs within 10 s"),
            }
        }
        let summary = stats::summarise(times, started.elapsed());
        report.timing(
            group,
            &format!("{tab_count} tabs: update call → last tab has it"),
            summary,
            floor,
        );
        if tab_count == 1 {
            floor = Some(summary);
            continue;
        }
        let sustained = sustained_rate(&corral.base, &tabs, options.quick).await;
        report.figure(
            group,
            &format!("{tab_count} tabs: sustained updates/s, no tab lagging"),
            sustained.0.clone(),
            sustained.1,
        );
        report.figure(
            group,
            &format!("{tab_count} tabs: server RSS"),
            mib(rss),
            json!(rss),
        );
    }
    assert_eq!(
        tabs.shared.closed.load(Ordering::SeqCst),
        0,
        "no tab was disconnected"
    );
    tabs.close();
    corral.stop().await;
}

/// Renames at rising rates, two seconds each, until a tab lags: it gets a recovery snapshot (it
/// fell more than the server's backlog behind), an update reaches it over a second late, or it
/// does not have every update a few seconds after the step. Returns the best clean rate.
async fn sustained_rate(base: &str, tabs: &fanout::Tabs, quick: bool) -> (String, Value) {
    let shared = &tabs.shared;
    let step = Duration::from_secs(if quick { 1 } else { 2 });
    let mut best: Option<f64> = None;
    let mut steps = Vec::new();
    let mut limit = String::from("not reached");
    for rate in [50.0, 100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0] {
        let before = shared.delivered.load(Ordering::SeqCst);
        let resnapshots = shared.resnapshots.load(Ordering::SeqCst);
        shared.max_delay_us.store(0, Ordering::SeqCst);
        let (sent, achieved) = drive_renames(base, tabs, rate, step).await;
        let expected = before + sent * tabs.len() as u64;
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while shared.delivered.load(Ordering::SeqCst) < expected
            && std::time::Instant::now() < deadline
            && shared.resnapshots.load(Ordering::SeqCst) == resnapshots
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let delivered = shared.delivered.load(Ordering::SeqCst) - before;
        let lagged = shared.resnapshots.load(Ordering::SeqCst) > resnapshots
            || shared.max_delay_us.load(Ordering::SeqCst) > 1_000_000
            || delivered < sent * tabs.len() as u64;
        steps.push(json!({
            "target_per_second": rate,
            "achieved_per_second": stats::round(achieved),
            "max_delay_ms": shared.max_delay_us.load(Ordering::SeqCst) / 1000,
            "lagged": lagged,
        }));
        if lagged {
            limit = format!("a tab lagged at {rate:.0}/s");
            break;
        }
        best = Some(achieved);
        if achieved < rate * 0.9 {
            limit = format!("the update API topped out at {achieved:.0}/s");
            break;
        }
    }
    let text = match best {
        Some(best) => format!("{best:.0}/s ({limit})"),
        None => format!("below 50/s ({limit})"),
    };
    (text, json!({"best_per_second": best, "steps": steps}))
}

/// Sends renames open-loop at `rate` for `length` (at most 64 in flight); returns how many were
/// answered and the rate achieved.
async fn drive_renames(base: &str, tabs: &fanout::Tabs, rate: f64, length: Duration) -> (u64, f64) {
    let client = http::client();
    let in_flight = Arc::new(tokio::sync::Semaphore::new(64));
    let mut ticker = tokio::time::interval(Duration::from_millis(10));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = std::time::Instant::now();
    let mut owed = 0.0;
    let mut sends = Vec::new();
    let mut i = 0u64;
    while started.elapsed() < length {
        ticker.tick().await;
        owed += rate / 100.0;
        while owed >= 1.0 {
            owed -= 1.0;
            let Ok(permit) = in_flight.clone().try_acquire_owned() else {
                break;
            };
            i += 1;
            // Rounds above any timed round: the tabs count them without timing them.
            let call = tabs.rename(u64::MAX / 2 + i);
            let (client, base) = (client.clone(), base.to_string());
            sends.push(tokio::spawn(async move {
                let answered = http::send(&client, &base, &call).await;
                drop(permit);
                matches!(answered, Ok((200, _)))
            }));
        }
    }
    let mut answered = 0;
    for send in sends {
        if send.await.unwrap_or(false) {
            answered += 1;
        }
    }
    (answered, answered as f64 / started.elapsed().as_secs_f64())
}

/// Start → `running` through Corral against the same llama-server command started by hand, in
/// alternation, so both see the same machine state.
/// A Corral in `work/<name>` running models with the pinned llama-server (from
/// `CORRAL_LLAMA_SERVER`) on `ports`, with the tiny model written into `work`; `None`, with a
/// row saying so, when there is no llama-server.
async fn with_llama_server(
    report: &mut Report,
    options: &Options,
    work: &std::path::Path,
    (group, name, ports): (&str, &str, &str),
) -> Option<(corral::Corral, PathBuf, PathBuf)> {
    let Some(llama) = std::env::var_os("CORRAL_LLAMA_SERVER")
        .map(PathBuf::from)
        .filter(|p| p.exists())
    else {
        report.figure(
            group,
            "skipped",
            "no llama-server: set CORRAL_LLAMA_SERVER (scripts/bench does)".into(),
            Value::Null,
        );
        return None;
    };
    let model = work.join("tiny.gguf");
    let made = std::process::Command::new(&options.binary)
        .arg("test-model")
        .arg(&model)
        .output()
        .expect("corral test-model runs");
    assert!(
        made.status.success(),
        "corral test-model writes the tiny model"
    );
    let llama_arg = llama.to_string_lossy().into_owned();
    let corral = corral::start(
        &options.binary,
        &options.site,
        &work.join(name),
        &[
            "--llama-server",
            &llama_arg,
            "--ports",
            ports,
            "--max-connections-per-client",
            "1400",
        ],
    )
    .await;
    Some((corral, llama, model))
}

async fn status_latency(report: &mut Report, options: &Options, work: &std::path::Path) {
    let group = "status latency (real llama-server, tiny model)";
    let setup = (group, "status", "24100-24149");
    let Some((corral, llama, model)) = with_llama_server(report, options, work, setup).await else {
        return;
    };
    let client = http::client();
    let create = Call::post(
        "/api/models/create",
        json!({"model": {"name": "tiny", "path": model.to_string_lossy(), "threads": 1}}),
    );
    let (_, created) = http::send(&client, &corral.base, &create)
        .await
        .expect("create answers");
    let id = serde_json::from_slice::<Value>(&created).expect("a model")["id"]
        .as_i64()
        .expect("the model has an id");
    let (_, preview) = http::send(
        &client,
        &corral.base,
        &Call::post("/api/models/launch", json!({"id": id})),
    )
    .await
    .expect("the launch preview answers");
    let args: Vec<String> = serde_json::from_slice::<Value>(&preview).expect("a preview")["args"]
        .as_array()
        .expect("arguments")
        .iter()
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect();
    let mut tab = status_latency::Tab::connect(&corral.base).await;
    let rounds = if options.quick { 3 } else { 10 };
    let (mut through, mut by_hand) = (Vec::new(), Vec::new());
    let started = std::time::Instant::now();
    for round in 0..rounds {
        through.push(status_latency::through_corral(&client, &corral.base, &mut tab, id).await);
        by_hand.push(status_latency::by_hand(&llama, &args, 24150 + round as u16).await);
    }
    let wall = started.elapsed();
    let floor = stats::summarise(by_hand, wall);
    let corral_summary = stats::summarise(through, wall);
    report.timing(
        group,
        &format!("{rounds} starts: Start call → tab hears running"),
        corral_summary,
        Some(floor),
    );
    report.timing(
        group,
        "same command by hand: spawn → /health 200 (floor)",
        floor,
        None,
    );
    let overhead = corral_summary.median_ms - floor.median_ms;
    report.figure(
        group,
        "Corral's overhead (median − median)",
        format!("{overhead:.1} ms"),
        json!(stats::round(overhead)),
    );
    corral.stop().await;
}

/// Storage figures from the in-process benchmark, then its seven days queried through the
/// release server as the history chart asks (500 points).
async fn history(report: &mut Report, options: &Options, work: &std::path::Path) {
    let group = "metrics history (16 series)";
    let Some(dir) = &options.history else {
        report.figure(
            group,
            "skipped",
            "no --history DIR (scripts/bench runs the storage benchmark first)".into(),
            Value::Null,
        );
        return;
    };
    let figures: Value = std::fs::read(dir.join("history.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .expect("the storage benchmark's history.json");
    let number = |pointer: &str| {
        figures
            .pointer(pointer)
            .and_then(Value::as_f64)
            .unwrap_or(0.0)
    };
    report.figure(
        group,
        "insert, collector shape (16 samples per transaction)",
        format!(
            "{:.0} samples/s; transaction median {:.3} ms, p99 {:.3} ms",
            number("/insert_collector_batches/samples_per_second"),
            number("/insert_collector_batches/batch_median_ms"),
            number("/insert_collector_batches/batch_p99_ms")
        ),
        figures["insert_collector_batches"].clone(),
    );
    report.figure(
        group,
        "insert, bulk (1,000 per transaction)",
        format!("{:.0} samples/s", number("/insert_bulk_samples_per_second")),
        figures["insert_bulk_samples_per_second"].clone(),
    );
    report.figure(
        group,
        "7 days stored",
        format!(
            "{:.0} minute roll-ups + {:.0} raw samples (last hour) + {:.0} 10-minute and hourly roll-ups; folding took {:.0} ms",
            number("/rows/rollups"),
            number("/rows/raw"),
            number("/rows/tiers"),
            number("/downsample_7_days_ms")
        ),
        figures["rows"].clone(),
    );
    report.figure(
        group,
        "query 7 days → 500 points, in-process",
        format!(
            "median {:.1} ms, p99 {:.1} ms",
            number("/query_7_days_500_points/median_ms"),
            number("/query_7_days_500_points/p99_ms")
        ),
        figures["query_7_days_500_points"].clone(),
    );
    let data = work.join("history").join("data");
    std::fs::create_dir_all(&data).expect("a data directory");
    std::fs::copy(dir.join("corral.db"), data.join("corral.db")).expect("the history is copied");
    let corral = corral::start(&options.binary, &options.site, &work.join("history"), &[]).await;
    let query = json!({"query": {"from": figures["from"], "to": figures["to"], "points": 500}});
    let total = if options.quick { 10 } else { 40 };
    for concurrency in [1, 4] {
        let query = query.clone();
        let summary = load(&corral.base, concurrency, total, move |_| {
            Call::post("/api/metrics/history", query.clone())
        })
        .await;
        report.latency(
            group,
            &format!("query 7 days → 500 points over HTTP, c={concurrency}"),
            summary,
            None,
        );
    }
    corral.stop().await;
}

async fn footprint(report: &mut Report, options: &Options, work: &std::path::Path) {
    let group = "footprint";
    let binary = std::fs::metadata(&options.binary).map_or(0, |m| m.len());
    report.figure(group, "release binary", mib(binary), json!(binary));
    bundle::measure(report, options);
    let mut starts = Vec::new();
    let mut idle = 0;
    for round in 0..5 {
        let corral = corral::start(
            &options.binary,
            &options.site,
            &work.join(format!("cold{round}")),
            &[],
        )
        .await;
        starts.push(corral.cold_start);
        if round == 0 {
            tokio::time::sleep(Duration::from_secs(3)).await;
            idle = corral.rss_bytes().unwrap_or(0);
        }
        corral.stop().await;
    }
    let cold = stats::summarise(starts, Duration::from_secs(1));
    report.figure(
        group,
        "cold start to first page (5 runs)",
        format!("median {:.1} ms, max {:.1} ms", cold.median_ms, cold.p99_ms),
        json!({"median_ms": round(cold.median_ms), "max_ms": round(cold.p99_ms)}),
    );
    report.figure(group, "RSS idle (no models)", mib(idle), json!(idle));
}

/// gzip -9 and brotli (quality 11) sizes, measured with Node's zlib (present for the e2e tests).
fn compressed_sizes(path: &std::path::Path) -> (u64, u64) {
    let script = "const z=require('zlib'),d=require('fs').readFileSync(process.argv[1]);\
        console.log(z.gzipSync(d,{level:9}).length, z.brotliCompressSync(d,{params:{[z.constants.BROTLI_PARAM_QUALITY]:11}}).length)";
    let output = std::process::Command::new("node")
        .args(["-e", script])
        .arg(path)
        .output();
    let text = output
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let mut numbers = text.split_whitespace().filter_map(|n| n.parse().ok());
    (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0))
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some(bare_proxy::SUBCOMMAND) {
        bare_proxy::serve(args.next().expect("corral-bench bare-proxy UPSTREAM")).await;
        return;
    }
    let options = options();
    assert!(
        options.binary.exists(),
        "{} is missing: build the release first (scripts/bench does)",
        options.binary.display()
    );
    let work = std::env::temp_dir().join(format!("corral-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("a work directory");
    let mut report = Report {
        rows: Vec::new(),
        json: serde_json::Map::new(),
    };
    let wanted = |group: &str| options.only.is_empty() || options.only.iter().any(|g| g == group);
    if wanted("footprint") {
        footprint(&mut report, &options, &work).await;
    }
    if wanted("pages") {
        pages(&mut report, &options, &work).await;
    }
    if wanted("api") {
        server_functions(&mut report, &options, &work).await;
    }
    if wanted("status") {
        status_latency(&mut report, &options, &work).await;
    }
    if wanted("history") {
        history(&mut report, &options, &work).await;
    }
    if wanted("fanout") {
        fan_out(&mut report, &options, &work).await;
    }
    if wanted("gateway") {
        gateway::measure(&mut report, &options, &work).await;
    }
    if wanted("access") {
        access::measure(&mut report, &options, &work).await;
    }
    if wanted("folders") {
        folder_scan::measure(&mut report, &options, &work).await;
    }
    if wanted("browser") {
        browser::measure(&mut report, &options, &work);
    }
    report.print();
    let machine = machine();
    let document = json!({"machine": machine, "quick": options.quick, "results": report.json});
    if let Some(out) = &options.out {
        std::fs::write(out, serde_json::to_string_pretty(&document).expect("JSON"))
            .expect("the results file is written");
        eprintln!("results written to {}", out.display());
    }
    let _ = std::fs::remove_dir_all(&work);
}

/// What the figures were measured on.
fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, name)| name.trim().to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| info.lines().next().map(str::to_string))
        .unwrap_or_default();
    json!({"cpu": cpu, "cores": cores, "memory": memory})
}
