//! The KV cache estimate against what the pinned real llama-server allocates for the test model
//! (the `llama_kv_cache: size = … MiB` line it logs at load), for the settings that shape it:
//! context, slots, a unified cache, a quantized K cache.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test states what it expects by failing loudly
#![allow(clippy::too_many_lines)] // a test is one scenario, read top to bottom

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use corral::domain::config::advanced::FlashAttention;
use corral::domain::config::memory::CacheType;
use corral::domain::memory_estimate::{KvSettings, compute_buffers, kv_cache};
use corral::server::gguf::reader::read_model;
use corral::server::gguf::test_model::TestModel;

/// The KV size llama-server reports when it loads `model` with `args`, in bytes.
fn reported_kv_bytes(model: &std::path::Path, args: &[&str]) -> f64 {
    reported(model, args, "llama_kv_cache: size =")
}

/// The size (MiB, as bytes) llama-server logs after `marker` when it loads `model` with `args`.
fn reported(model: &std::path::Path, args: &[&str], marker: &str) -> f64 {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(common::llama_server())
        .arg("-m")
        .arg(model)
        .args(["--port", &port.to_string(), "-t", "1", "-v"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let found = loop {
        match received.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => {
                if let Some((_, rest)) = line.split_once(marker) {
                    let mib: f64 = rest.split_whitespace().next().unwrap().parse().unwrap();
                    break Some(mib * 1024.0 * 1024.0);
                }
                seen.push(line);
            }
            Err(_) => break None,
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    found.unwrap_or_else(|| panic!("no '{marker}' for {args:?}:\n{}", seen.join("\n")))
}

#[test]
fn the_compute_buffer_estimate_errs_high_but_within_two_and_a_half_times() {
    let dir = tempfile::tempdir().unwrap();
    for (shape, name) in [
        (TestModel::TINY, "tiny.gguf"),
        (TestModel::LARGE, "large.gguf"),
    ] {
        let path = dir.path().join(name);
        shape.write(&path).unwrap();
        let meta = read_model(&path).unwrap();
        for (args, settings) in [
            (
                &["-c", "1024"][..],
                KvSettings {
                    context: Some(1024),
                    ..KvSettings::default()
                },
            ),
            (
                &["-c", "4096", "-ub", "128", "-np", "1"][..],
                KvSettings {
                    context: Some(4096),
                    ubatch: Some(128),
                    parallel: Some(1),
                    ..KvSettings::default()
                },
            ),
        ] {
            let cells = kv_cache(&meta, &settings).unwrap().cells;
            let estimate = compute_buffers(&meta, &settings, cells) as f64;
            let reported = reported(&path, args, "CPU compute buffer size =");
            assert!(
                estimate >= reported && estimate <= 2.5 * reported,
                "{name} {args:?}: estimated {estimate} bytes, llama-server reserved {reported}"
            );
        }
    }
}

#[test]
fn the_kv_estimate_is_within_ten_percent_of_what_llama_server_allocates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.gguf");
    TestModel::TINY.write(&path).unwrap();
    let meta = read_model(&path).unwrap();
    let cases: [(&[&str], KvSettings); 6] = [
        (&[], KvSettings::default()),
        (
            &["-c", "1000"],
            KvSettings {
                context: Some(1000),
                ..KvSettings::default()
            },
        ),
        (
            &["-c", "4096", "-np", "4"],
            KvSettings {
                context: Some(4096),
                parallel: Some(4),
                ..KvSettings::default()
            },
        ),
        (
            &["-c", "4096", "-np", "3"],
            KvSettings {
                context: Some(4096),
                parallel: Some(3),
                ..KvSettings::default()
            },
        ),
        (
            &["-c", "4096", "-np", "4", "--kv-unified"],
            KvSettings {
                context: Some(4096),
                parallel: Some(4),
                unified: Some(true),
                ..KvSettings::default()
            },
        ),
        (
            &["-c", "4096", "-ctk", "q4_0", "-fa", "off"],
            KvSettings {
                context: Some(4096),
                type_k: Some(CacheType::Q4_0),
                flash_attention: Some(FlashAttention::Off),
                ..KvSettings::default()
            },
        ),
    ];
    for (args, settings) in cases {
        let estimate = kv_cache(&meta, &settings).unwrap().bytes() as f64;
        let reported = reported_kv_bytes(&path, args);
        let off = (estimate - reported).abs() / reported;
        assert!(
            off <= 0.10,
            "{args:?}: estimated {estimate} bytes, llama-server allocated {reported}"
        );
    }
}
