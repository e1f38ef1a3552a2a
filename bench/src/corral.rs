//! The Corral under test: the release binary in its own process, on a free loopback port, with
//! a fresh data directory and a private copy of the site (so the benchmark can add its
//! static-file floor next to the real assets).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub struct Corral {
    pub child: Child,
    pub base: String,
    pub site: PathBuf,
    /// Spawn until the first answered `GET /`.
    pub cold_start: Duration,
}

pub async fn start(binary: &Path, site: &Path, work: &Path, extra: &[&str]) -> Corral {
    start_with(binary, site, work, extra, &[]).await
}

/// `start` with environment variables (an admin seeded by `CORRAL_ADMIN_PASSWORD`).
pub async fn start_with(
    binary: &Path,
    site: &Path,
    work: &Path,
    extra: &[&str],
    envs: &[(&str, &str)],
) -> Corral {
    let data = work.join("data");
    let own_site = work.join("site");
    if !own_site.exists() {
        std::fs::create_dir_all(work).expect("a work directory");
        let copied = std::process::Command::new("cp")
            .arg("-r")
            .arg(site)
            .arg(&own_site)
            .status()
            .expect("cp runs");
        assert!(
            copied.success(),
            "cannot copy the site from {}",
            site.display()
        );
    }
    let spawned = Instant::now();
    let mut child = Command::new(binary)
        .args(["--bind", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .arg("--site-root")
        .arg(&own_site)
        .args(extra)
        .envs(envs.iter().copied())
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
    let mut lines = BufReader::new(child.stderr.take().expect("stderr is piped")).lines();
    let base = loop {
        let line = lines
            .next_line()
            .await
            .expect("corral's stderr")
            .expect("corral printed its address before exiting");
        if let Some((_, address)) = line.split_once("corral listening on ") {
            break address.trim().to_string();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let client = crate::http::client();
    loop {
        // A Corral that asks for a login answers with a redirect to it.
        if let Ok((200 | 303, _)) =
            crate::http::send(&client, &base, &crate::http::Call::get("/")).await
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Corral {
        child,
        base,
        site: own_site,
        cold_start: spawned.elapsed(),
    }
}

impl Corral {
    pub fn rss_bytes(&self) -> Option<u64> {
        rss_bytes(self.child.id()?)
    }

    /// CPU time all of Corral's threads have spent so far (`/proc/PID/task/*/schedstat`, in
    /// nanoseconds: the tick counts of `/proc/PID/stat` are too coarse for microseconds per
    /// request). A thread that ends between two readings takes its time with it; Corral's
    /// threads live long, so the loss is small.
    pub fn cpu_time(&self) -> Option<Duration> {
        cpu_time(self.child.id()?)
    }

    pub async fn stop(mut self) {
        terminate(&mut self.child).await;
    }
}

/// SIGTERM, then up to 20 s for the process to exit (a clean stop, not a kill).
pub async fn terminate(child: &mut Child) {
    if let Some(pid) = child.id() {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
    }
    let _ = tokio::time::timeout(Duration::from_secs(20), child.wait()).await;
}

/// CPU time all of a process's threads have spent so far (see `Corral::cpu_time`).
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let nanos = tasks
        .filter_map(|task| {
            let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
            stat.split_whitespace().next()?.parse::<u64>().ok()
        })
        .sum();
    Some(Duration::from_nanos(nanos))
}

pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kib * 1024)
}
