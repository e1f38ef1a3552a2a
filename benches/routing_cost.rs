//! What a filter, a variant and a virtual model add to one gateway request, measured natively
//! on the functions the gateway runs for them: the body shaped for a filtered model and for a
//! variant (`request::shaped`, against passing it on unchanged), and a virtual model's pick.
//! Beside `scripts/bench`'s whole-request figures, whose run-to-run spread (±10 µs) is larger
//! than what these add.
//!
//! cargo bench --features ssr --bench routing_cost
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a bench states what it expects by failing loudly

use std::hint::black_box;
use std::time::Instant;

use bytes::Bytes;
use corral::domain::config::ServingConfig;
use corral::domain::virtual_model::{Strategy, TargetState, VirtualModel};
use corral::server::gateway::request::shaped;
use corral::server::models::name_cache::Served;
use serde_json::json;

fn served(serving: serde_json::Value, variant: Option<&str>) -> Served {
    Served {
        id: 1,
        name: "tiny".into(),
        size_bytes: None,
        serving: serde_json::from_value::<ServingConfig>(serving).unwrap(),
        variant: variant.map(str::to_string),
    }
}

/// Nanoseconds per call of `work`, over enough rounds to take about a second.
fn per_call(rounds: u32, mut work: impl FnMut()) -> f64 {
    for _ in 0..rounds / 10 {
        work();
    }
    let started = Instant::now();
    for _ in 0..rounds {
        work();
    }
    started.elapsed().as_nanos() as f64 / f64::from(rounds)
}

fn main() {
    // A one-turn chat as the bench sends it, and one with a 16 KiB conversation.
    let small = json!({"model": "tiny", "messages": [{"role": "user", "content": "hi"}],
                       "max_tokens": 1, "temperature": 0.5, "stream": false});
    let long = json!({"model": "tiny", "messages": (0..32).map(|i| json!({"role": if i % 2 == 0 { "user" } else { "assistant" }, "content": "x".repeat(500)})).collect::<Vec<_>>(),
                      "max_tokens": 1, "temperature": 0.5});
    let plain = served(json!({}), None);
    let filtered = served(
        json!({"filters": {"strip": ["temperature"], "set": {"max_tokens": 64}}}),
        None,
    );
    let variant = served(
        json!({"variants": {"high": {"chat_template_kwargs": {"reasoning_effort": "high"}}}}),
        Some("high"),
    );
    println!("| case | body | ns per request |");
    println!("|---|---|---|");
    for (body_name, body) in [("one-turn chat", &small), ("16 KiB conversation", &long)] {
        let bytes = Bytes::from(serde_json::to_vec(body).unwrap());
        for (case, model) in [
            ("no filter or variant (passed on as it came)", &plain),
            ("a filter (strip 1 key, set 1)", &filtered),
            ("a variant (sets 1 object)", &variant),
        ] {
            let ns = per_call(200_000, || {
                black_box(shaped(black_box(model), black_box(&bytes)).unwrap());
            });
            println!("| {case} | {body_name} | {ns:.0} |");
        }
    }
    for strategy in [Strategy::Warm, Strategy::Spillover, Strategy::Fallback] {
        let chosen = VirtualModel {
            name: "chat".into(),
            strategy,
            targets: (0..4).map(|i| format!("model-{i}")).collect(),
            spillover: Some(2),
        };
        let states: Vec<TargetState> = (0..4)
            .map(|i| TargetState {
                exists: true,
                ready: i == 2,
                loading: false,
                requests: i,
            })
            .collect();
        let ns = per_call(2_000_000, || {
            black_box(chosen.pick(black_box(&states)));
        });
        println!(
            "| a virtual model's pick ({}, 4 targets) | any | {ns:.0} |",
            strategy.as_str()
        );
    }
}
