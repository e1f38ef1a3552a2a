//! Model folders: how long Corral takes to list 1,000 GGUF files in nested folders (10 × 10 × 10)
//! from its start, with the files in the OS page cache, and how much it read per file; then a
//! rescan after one more file arrives (only its header is read; the 250 ms settle included).
//! The files are sparse copies of Corral's tiny test model: its real header, then a hole of the
//! model's size, so 1,000 of them take no disk and any read past the header would show.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::corral;
use crate::http::{Call, client, send};
use crate::stats::summarise;
use crate::{Options, Report};

const FILES: usize = 1000;
/// The tiny model's header and tensor list fit well within this.
const HEADER_BYTES: usize = 64 << 10;

fn sparse_copy(header: &[u8], size: u64, path: &Path) {
    let file = std::fs::File::create(path).expect("a model file");
    use std::io::Write;
    (&file).write_all(header).expect("its header");
    file.set_len(size).expect("its size");
}

/// Bytes the process has read through read(2) since it started (`rchar`).
fn bytes_read(pid: u32) -> Option<u64> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    io.lines()
        .find_map(|line| line.strip_prefix("rchar:"))
        .and_then(|n| n.trim().parse().ok())
}

/// Polls the listing until it holds `count` files; the time it took from `since`.
async fn until_listed(base: &str, count: usize, since: Instant) -> Duration {
    let client = client();
    let call = Call::post("/api/discovery/list", json!({}));
    loop {
        if let Ok((200, body)) = send(&client, base, &call).await {
            let listed: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            if listed["files"].as_array().is_some_and(|f| f.len() >= count) {
                return since.elapsed();
            }
        }
        assert!(
            since.elapsed() < Duration::from_secs(120),
            "{count} files were not listed within 2 minutes"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

pub async fn measure(report: &mut Report, options: &Options, work: &Path) {
    let group = "model folders (1,000 GGUF files)";
    let seed = work.join("seed.gguf");
    let made = std::process::Command::new(&options.binary)
        .arg("test-model")
        .arg(&seed)
        .status()
        .expect("corral test-model runs");
    assert!(made.success(), "corral test-model failed");
    let bytes = std::fs::read(&seed).expect("the seed model");
    let header = &bytes[..bytes.len().min(HEADER_BYTES)];
    let folder = work.join("models");
    for i in 0..FILES {
        let dir = folder
            .join(format!("org-{}", i / 100))
            .join(format!("repo-{}", (i / 10) % 10));
        std::fs::create_dir_all(&dir).expect("a nested folder");
        sparse_copy(
            header,
            bytes.len() as u64,
            &dir.join(format!("model-{i:04}.gguf")),
        );
    }
    let folder_arg = folder.display().to_string();
    let runs = if options.quick { 1 } else { 5 };
    let (mut first, mut starts, mut rescans) = (Vec::new(), Vec::new(), Vec::new());
    let mut per_file = 0;
    for run in 0..runs {
        let dir = work.join(format!("scan-{run}"));
        let spawned = Instant::now();
        let corral = corral::start(
            &options.binary,
            &options.site,
            &dir,
            &["--models-dir", &folder_arg],
        )
        .await;
        starts.push(corral.cold_start);
        first.push(until_listed(&corral.base, FILES, spawned).await);
        if let Some(pid) = corral.child.id() {
            per_file = bytes_read(pid).unwrap_or(0) / FILES as u64;
        }
        let extra = folder.join(format!("arrived-{run}.gguf"));
        let arrived = Instant::now();
        sparse_copy(header, bytes.len() as u64, &extra);
        rescans.push(until_listed(&corral.base, FILES + 1, arrived).await);
        corral.stop().await;
        let _ = std::fs::remove_file(&extra);
    }
    let start = summarise(starts, Duration::ZERO);
    report.timing(
        group,
        "start → all 1,000 listed (floor: start → first answer)",
        summarise(first, Duration::ZERO),
        Some(start),
    );
    report.timing(
        group,
        "one file arrives → listed (250 ms settle included)",
        summarise(rescans, Duration::ZERO),
        None,
    );
    report.figure(
        group,
        "bytes read per file (all reads since start / 1,000)",
        format!("{per_file} B of {} B", bytes.len()),
        json!({"bytes_per_file": per_file, "file_bytes": bytes.len()}),
    );
}
