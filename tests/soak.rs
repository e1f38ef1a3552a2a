//! Soak: the real binary with hundreds of tabs connected and steady API traffic for a while.
//! Every call succeeds, no tab is dropped, every tab hears every change, and the server's RSS
//! stops growing. Short in the test command; longer with
//! `CORRAL_SOAK_SECONDS=300 cargo test --features ssr --test soak -- --nocapture`.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test states what it expects by failing loudly
#![allow(clippy::too_many_lines)] // a test is one scenario, read top to bottom

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::corral_binary::{post, start_corral_with};
use common::env_number;
use futures::StreamExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// What one tab heard: model events, and whether its connection ended.
#[derive(Default)]
struct Heard {
    model_events: AtomicUsize,
    snapshots: AtomicUsize,
    closed: AtomicUsize,
}

async fn tab(url: String, heard: Arc<Heard>) {
    let Ok((socket, _)) = tokio_tungstenite::connect_async(url.as_str()).await else {
        heard.closed.fetch_add(1, Ordering::SeqCst);
        return;
    };
    let (_tx, mut rx) = socket.split();
    while let Some(Ok(message)) = rx.next().await {
        if let Message::Text(text) = message {
            if text.contains(r#""type":"snapshot""#) {
                heard.snapshots.fetch_add(1, Ordering::SeqCst);
            } else if text.contains(r#""type":"model_"#) {
                heard.model_events.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
    heard.closed.fetch_add(1, Ordering::SeqCst);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_tabs_and_steady_api_traffic_run_without_errors_or_growing_memory() {
    let tabs = env_number("CORRAL_SOAK_TABS", 200);
    let seconds = env_number("CORRAL_SOAK_SECONDS", 20) as u64;
    let dir = tempfile::tempdir().unwrap();
    // Every tab comes from 127.0.0.1: one client address, as far as Corral can tell.
    let mut corral = start_corral_with(dir.path(), |command| {
        command.args(["--max-connections-per-client", "100000"]);
    });
    let (port, pid) = (corral.port, corral.child.id());
    let url = format!("ws://127.0.0.1:{port}/ws");

    let heard: Vec<Arc<Heard>> = (0..tabs).map(|_| Arc::default()).collect();
    for each in &heard {
        tokio::spawn(tab(url.clone(), each.clone()));
    }
    let connected = Instant::now();
    while heard
        .iter()
        .any(|h| h.snapshots.load(Ordering::SeqCst) == 0)
    {
        assert!(
            connected.elapsed() < Duration::from_secs(30),
            "every tab connects"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Traffic: about 20 calls a second — create, rename, list, delete — each checked.
    let started = Instant::now();
    let mut changes = 0usize;
    let mut calls = 0usize;
    let mut rss = Vec::new();
    let mut round = 0u64;
    while started.elapsed() < Duration::from_secs(seconds) {
        round += 1;
        let (status, model) = post(
            port,
            "models/create",
            json!({"model": {"name": format!("soak {round}"), "path": "/m/soak.gguf"}}),
        )
        .await;
        assert_eq!(status, 200, "create: {model}");
        let id = model["id"].as_i64().unwrap();
        let (status, body) = post(
            port,
            "models/update",
            json!({"id": id, "changes": {"ctx_size": 2048}}),
        )
        .await;
        assert_eq!(status, 200, "update: {body}");
        let (status, body) = post(port, "models/list", json!({})).await;
        assert_eq!(status, 200, "list: {body}");
        let (status, body) = post(port, "models/delete", json!({"id": id})).await;
        assert_eq!(status, 200, "delete: {body}");
        changes += 3;
        calls += 4;
        if round.is_multiple_of(5) {
            rss.push(rss_mib(pid));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Every tab hears every change, none was dropped or had to start over.
    let settled = Instant::now();
    while heard
        .iter()
        .any(|h| h.model_events.load(Ordering::SeqCst) < changes)
        && settled.elapsed() < Duration::from_secs(10)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let closed: usize = heard.iter().map(|h| h.closed.load(Ordering::SeqCst)).sum();
    let short: Vec<usize> = heard
        .iter()
        .map(|h| h.model_events.load(Ordering::SeqCst))
        .filter(|&n| n != changes)
        .collect();
    let resnapshots = heard
        .iter()
        .filter(|h| h.snapshots.load(Ordering::SeqCst) > 1)
        .count();

    // Memory: the first samples include warming up; a leak keeps climbing through the second half.
    let half = rss.len() / 2;
    let first_half_max = rss[..half].iter().copied().fold(0.0, f64::max);
    let second_half_max = rss[half..].iter().copied().fold(0.0, f64::max);
    println!(
        "soak: {tabs} tabs, {seconds} s, {calls} API calls, {changes} changes heard by every tab; \
         RSS {:.1} MiB at start, {first_half_max:.1} max in the first half, {second_half_max:.1} max \
         in the second, {:.1} at the end",
        rss.first().copied().unwrap_or(0.0),
        rss.last().copied().unwrap_or(0.0),
    );
    let _ = corral.child.kill();
    let _ = corral.child.wait();
    assert_eq!(closed, 0, "no tab was disconnected");
    assert!(
        short.is_empty(),
        "tabs missed changes: {short:?} of {changes}"
    );
    assert_eq!(resnapshots, 0, "no tab fell behind");
    assert!(
        second_half_max <= first_half_max + 16.0,
        "RSS kept growing: {first_half_max:.1} MiB max in the first half, \
         {second_half_max:.1} in the second"
    );
}
