//! The third security review's findings, each reproduced against the real `corral` binary the
//! way the review found it (raw requests, many at once, hostile files), and each now refused.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test states what it expects by failing loudly
#![allow(clippy::too_many_lines)] // a test is one scenario, read top to bottom

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::corral_binary::{Corral, start_corral_with};
use common::tiny_model;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

const PASSWORD: &str = "a long enough secret";

/// An answer read off the wire.
struct Raw {
    status: u16,
    head: String,
    body: String,
}

impl Raw {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
    }
}

/// Sends `request` (its head without `Host` and `Connection`) from the loopback address `from`,
/// exactly as written: nothing normalises the path on the way.
async fn raw(port: u16, from: &str, head: &str, body: &str) -> Raw {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(from.parse().unwrap(), 0))
        .unwrap();
    let mut stream = socket
        .connect(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .unwrap();
    let request = format!(
        "{head}\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).await.unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Raw {
        status: head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        head: head.to_string(),
        body: body.to_string(),
    }
}

/// A JSON POST to `/api/<path>`, with the session cookie when given.
async fn api(port: u16, path: &str, body: Value, session: Option<&str>) -> Raw {
    let cookie = session.map_or_else(String::new, |pair| format!("\r\nCookie: {pair}"));
    raw(
        port,
        "127.0.0.1",
        &format!("POST /api/{path} HTTP/1.1\r\nContent-Type: application/json{cookie}"),
        &body.to_string(),
    )
    .await
}

/// A Corral that asks for a login (as a LAN bind does), with its admin made from the
/// environment.
fn corral_with_login(data: &std::path::Path) -> Corral {
    start_corral_with(data, |command| {
        command
            .args(["--open-on-loopback", "false"])
            .env("CORRAL_ADMIN_PASSWORD", PASSWORD);
    })
}

async fn sign_in(port: u16, from: &str, password: &str) -> Raw {
    raw(
        port,
        from,
        "POST /api/auth/login HTTP/1.1\r\nContent-Type: application/json",
        &json!({"username": "admin", "password": password}).to_string(),
    )
    .await
}

/// The session cookie a sign-in sets, as `name=value` (the name carries the port on HTTP).
async fn session(port: u16) -> String {
    let answer = sign_in(port, "127.0.0.1", PASSWORD).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let cookie = answer.header("set-cookie").unwrap();
    let pair = cookie.split(';').next().unwrap().to_string();
    assert_eq!(
        pair.split_once('=').unwrap().0,
        format!("corral_session_{port}")
    );
    pair
}

/// Resident and peak memory of a process, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Forgets the process's peak resident memory (`clear_refs` 5), so the next peak is the next
/// request's; answers the resident memory now, in KiB.
fn fresh_peak(pid: u32) -> u64 {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").unwrap();
    memory_kib(pid).0
}

/// The process's peak resident memory is under `before` (KiB) plus `mib`.
fn assert_peak_growth_below(pid: u32, before: u64, mib: u64) {
    let (_, peak) = memory_kib(pid);
    let grown = peak.saturating_sub(before);
    assert!(grown < mib * 1024, "memory grew by {} MiB", grown / 1024);
    eprintln!("peak growth {} MiB", grown / 1024);
}

#[tokio::test]
async fn h1_a_page_reached_through_pkg_dot_dot_on_the_wire_is_refused_without_a_session() {
    let dir = tempfile::tempdir().unwrap();
    let model_path = tiny_model(dir.path());
    let corral = corral_with_login(&dir.path().join("data"));
    let port = corral.port;
    let cookie = session(port).await;
    let made = api(
        port,
        "models/create",
        json!({"model": {"name": "secret-name", "path": model_path}}),
        Some(&cookie),
    )
    .await;
    assert_eq!(made.status, 200, "{}", made.body);
    let id = made.json()["id"].as_i64().unwrap();
    let saved = api(
        port,
        "models/config/save",
        json!({"id": id, "group": "advanced", "config": {"extra_args": ["--tags", "SECRET-TAG"]}}),
        Some(&cookie),
    )
    .await;
    assert_eq!(saved.status, 200, "{}", saved.body);

    for path in [
        format!("/pkg/../models/{id}"),
        "/pkg/../".to_string(),
        "/pkg/x/../../settings".to_string(),
        "/pkg/./../keys".to_string(),
        format!("/pkg/%2e%2e/models/{id}"),
        format!("/pkg%2f..%2fmodels/{id}"),
        format!("/pkg\\..\\models/{id}"),
        format!("//models/{id}"),
        format!("/models/{id};x"),
    ] {
        let answer = raw(port, "127.0.0.1", &format!("GET {path} HTTP/1.1"), "").await;
        assert!(
            answer.status == 303 || answer.status == 401 || answer.status == 400,
            "{path}: {}",
            answer.head
        );
        for secret in ["secret-name", "SECRET-TAG", model_path.as_str()] {
            assert!(!answer.body.contains(secret), "{path} showed {secret}");
        }
        if answer.status == 303 {
            assert!(answer.header("location").unwrap().starts_with("/login"));
        }
    }
    let function = raw(
        port,
        "127.0.0.1",
        "POST /pkg/../api/models/list HTTP/1.1\r\nContent-Type: application/json",
        "{}",
    )
    .await;
    assert_eq!(function.status, 401, "{}", function.head);
}

#[tokio::test]
async fn h2_a_burst_of_wrong_sign_ins_is_refused_at_once_costs_little_memory_and_the_admin_still_signs_in()
 {
    let dir = tempfile::tempdir().unwrap();
    let corral = corral_with_login(&dir.path().join("data"));
    let port = corral.port;
    let pid = corral.child.id();
    // One sign-in first, so the hashing code and its memory are warm before the baseline.
    assert_eq!(sign_in(port, "127.0.0.9", PASSWORD).await.status, 200);
    let (before, _) = memory_kib(pid);

    let attackers: Vec<_> = (0..256)
        .map(|i| {
            let from = if i % 2 == 0 { "127.0.2.1" } else { "127.0.2.2" };
            tokio::spawn(async move { sign_in(port, from, &format!("burst{i}")).await.status })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let started = Instant::now();
    let admin = sign_in(port, "127.0.3.1", PASSWORD).await;
    let took = started.elapsed();
    let mut statuses = std::collections::BTreeMap::new();
    for attacker in attackers {
        *statuses.entry(attacker.await.unwrap()).or_insert(0) += 1;
    }

    assert_eq!(admin.status, 200, "{}", admin.body);
    assert!(took < Duration::from_secs(1), "the admin waited {took:?}");
    assert_eq!(statuses.get(&200), None, "{statuses:?}");
    assert!(
        statuses.get(&429).copied().unwrap_or(0) >= 200,
        "most of a burst is refused at once: {statuses:?}"
    );
    assert_peak_growth_below(pid, before, 200);
    // Only a few guesses of the burst were checked at all (one at a time per address).
    assert!(
        statuses.get(&401).copied().unwrap_or(0) <= 16,
        "{statuses:?}"
    );
    eprintln!("burst answers {statuses:?}, admin in {took:?}");
}

#[tokio::test]
async fn h2_a_flood_from_many_fresh_addresses_delays_the_admins_sign_in_but_never_shuts_it_out() {
    let dir = tempfile::tempdir().unwrap();
    let corral = corral_with_login(&dir.path().join("data"));
    let port = corral.port;
    let flooding = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    // Eight clients at once, each attempt from an address never seen before (no back-off).
    let floods: Vec<_> = (0..8u8)
        .map(|lane| {
            let flooding = flooding.clone();
            tokio::spawn(async move {
                let mut n = 0u32;
                while flooding.load(std::sync::atomic::Ordering::Relaxed) {
                    let from = format!("127.{}.{}.{}", 10 + lane, n / 250 % 250, n % 250 + 1);
                    sign_in(port, &from, "guess").await;
                    n += 1;
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 0..10 {
        let started = Instant::now();
        let admin = sign_in(port, &format!("127.0.3.{}", i + 1), PASSWORD).await;
        assert_eq!(admin.status, 200, "try {i}: {}", admin.body);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "try {i} waited {:?}",
            started.elapsed()
        );
    }
    flooding.store(false, std::sync::atomic::Ordering::Relaxed);
    for flood in floods {
        flood.await.unwrap();
    }
}

/// The newest activity records of a Corral without login.
async fn activity(port: u16) -> Vec<Value> {
    let answer = api(port, "activity/list", json!({"query": {"limit": 50}}), None).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json().as_array().cloned().unwrap_or_default()
}

async fn create(port: u16, name: &str, path: &str) -> i64 {
    let made = api(
        port,
        "models/create",
        json!({"model": {"name": name, "path": path, "threads": 1, "ctx_size": 2048}}),
        None,
    )
    .await;
    assert_eq!(made.status, 200, "{}", made.body);
    made.json()["id"].as_i64().unwrap()
}

#[tokio::test]
async fn m2_a_stream_its_client_never_reads_is_closed_after_the_write_timeout_and_frees_its_model()
{
    let dir = tempfile::tempdir().unwrap();
    let model_path = tiny_model(dir.path());
    let corral = start_corral_with(&dir.path().join("data"), |command| {
        command.args(["--stream-write-timeout", "2", "--max-running", "1"]);
    });
    let port = corral.port;
    let a = create(port, "a", &model_path).await;
    let b = create(port, "b", &model_path).await;
    assert_eq!(
        api(port, "models/start", json!({"id": a}), None)
            .await
            .status,
        200
    );
    common::corral_binary::wait_running(port, a).await;

    // A client with a tiny receive buffer asks for a long stream of large events, and reads
    // nothing.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket
        .connect(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .unwrap();
    let body = json!({"model": "a", "stream": true, "n_predict": 30000, "n_probs": 100,
                      "ignore_eos": true, "prompt": "hi"})
    .to_string();
    let request = format!(
        "POST /completion HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();

    let deadline = Instant::now() + Duration::from_secs(60);
    let record = loop {
        let records = activity(port).await;
        if let Some(record) = records.iter().find(|r| r["endpoint"] == "/completion") {
            break record.clone();
        }
        assert!(
            Instant::now() < deadline,
            "the unread stream was never closed"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let error = record["error"].as_str().unwrap_or_default();
    assert!(error.contains("--stream-write-timeout"), "{record}");
    // The model is free: with one place, starting another evicts it at once.
    let started = api(port, "models/start", json!({"id": b}), None).await;
    assert_eq!(started.status, 200, "{}", started.body);
    common::corral_binary::wait_running(port, b).await;
    drop(stream);
}

#[tokio::test]
async fn m3_the_binary_saved_on_the_settings_page_is_its_real_path_and_is_vetted_again_before_each_run()
 {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let model_path = tiny_model(dir.path());
    let mode = |path: &std::path::Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    // A folder of this user's own, holding a copy of the pinned llama-server.
    let own = dir.path().join("own");
    std::fs::create_dir(&own).unwrap();
    mode(dir.path(), 0o755);
    mode(&own, 0o755);
    let real = own.join("llama-server");
    std::fs::copy(common::llama_server(), &real).unwrap();
    // A folder anyone may write, with a link to it, and another with a program the check refuses.
    let public = dir.path().join("pub");
    let public2 = dir.path().join("pub2");
    for folder in [&public, &public2] {
        std::fs::create_dir(folder).unwrap();
        mode(folder, 0o777);
    }
    let link = public.join("llama-server");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let marker = dir.path().join("evil-marker");
    let evil = public2.join("llama-server");
    std::fs::write(
        &evil,
        format!(
            "#!/bin/sh\necho \"ran: $*\" >> {}\nexec {} \"$@\"\n",
            marker.display(),
            real.display()
        ),
    )
    .unwrap();
    mode(&evil, 0o755);

    // Corral without --llama-server, so the Settings page decides.
    let ports = common::supervisor_settings().ports;
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_corral"));
    command
        .args(["--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--ports")
        .arg(format!("{}-{}", ports.start(), ports.end()))
        .args(["--stop-grace", "3"])
        .env_remove("CORRAL_LLAMA_SERVER")
        .env("PATH", "/usr/bin:/bin")
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let corral = common::corral_binary::spawn_corral(command);
    let port = corral.port;
    let save = |path: &std::path::Path| {
        let body = json!({"settings": {"llama_server": path.display().to_string()}});
        async move { api(port, "settings/save", body, None).await }
    };
    let saved = save(&link).await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    assert_eq!(
        saved.json()["stored"]["llama_server"],
        real.display().to_string(),
        "the real path is stored, not the link"
    );
    let refused = save(&evil).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused.body.contains("must not be writable"),
        "{}",
        refused.body
    );
    // The link is pointed at the refused program afterwards: Corral runs what it checked.
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(&evil, &link).unwrap();
    let id = create(port, "tiny", &model_path).await;
    let started = api(port, "models/start", json!({"id": id}), None).await;
    assert_eq!(started.status, 200, "{}", started.body);
    common::corral_binary::wait_running(port, id).await;
    assert!(!marker.exists(), "the refused program ran");
    assert_eq!(
        api(port, "models/stop", json!({"id": id}), None)
            .await
            .status,
        200
    );

    // The saved binary's folder opened to everyone later: the next start is refused, saying why.
    mode(&own, 0o777);
    let start = api(port, "models/start", json!({"id": id}), None).await;
    assert!(start.status >= 400, "{}", start.body);
    assert!(
        start.body.contains("must not be writable"),
        "{}",
        start.body
    );
    let preview = api(port, "models/launch", json!({"id": id}), None).await;
    assert!(
        preview.body.contains("must not be writable"),
        "{}",
        preview.body
    );
    mode(&own, 0o755);
    assert!(!marker.exists(), "the refused program ran");
}

#[tokio::test]
async fn m6_hostile_imports_are_refused_within_a_second_naming_the_limit_and_take_little_memory() {
    let dir = tempfile::tempdir().unwrap();
    let corral = start_corral_with(&dir.path().join("data"), |_| {});
    let port = corral.port;
    let pid = corral.child.id();
    let aliases = format!(
        "x: &a [{}]\ny: [{}]\nmodels: {{}}\n",
        vec!["a"; 5000].join(","),
        vec!["*a"; 1000].join(",")
    );
    let mut doubling = String::from("macros:\n  a0: \"xxxxxxxxxxxxxxxx\"\n");
    for i in 1..=16 {
        doubling.push_str(&format!("  a{i}: \"${{a{}}}${{a{}}}\"\n", i - 1, i - 1));
    }
    for j in 0..400 {
        doubling.push_str(&format!("  b{j}: \"${{a16}}\"\n"));
    }
    doubling.push_str("models:\n  m1:\n    cmd: llama-server -m /m/tiny.gguf\n");
    let sections: String = (0..110_000).map(|i| format!("[{i}]\n")).collect();
    // Review 4: defaults spread over every section, and flow nesting the parser takes
    // quadratic time over.
    let spread = format!(
        "[*]\n{}{}",
        (0..8000).map(|i| format!("k{i}=v\n")).collect::<String>(),
        (0..250)
            .map(|j| format!("[s{j}]\nm=/m/tiny.gguf\n"))
            .collect::<String>()
    );
    let nested = format!("{}1{}", "{a: ".repeat(100_000), "}".repeat(100_000));
    // Warm: one ordinary import, so the baseline has the import code's own memory.
    let plain = api(
        port,
        "import",
        json!({"format": "llama-swap", "dry_run": true,
               "text": "models:\n  m:\n    cmd: llama-server -m /m/a.gguf\n"}),
        None,
    )
    .await;
    assert_eq!(plain.status, 200, "{}", plain.body);
    for (format, text, limit) in [
        ("llama-swap", aliases.as_str(), "100000 values"),
        ("llama-swap", doubling.as_str(), "4 MiB expanded in all"),
        ("llama-preset", sections.as_str(), "at most 1000 sections"),
        ("llama-preset", spread.as_str(), "[*] defaults repeated"),
        ("llama-swap", nested.as_str(), "more than 64 deep"),
    ] {
        let before = fresh_peak(pid);
        let started = Instant::now();
        let answer = api(
            port,
            "import",
            json!({"format": format, "dry_run": true, "text": text}),
            None,
        )
        .await;
        let took = started.elapsed();
        assert_eq!(answer.status, 400, "{format}: {}", answer.body);
        assert!(answer.body.contains(limit), "{format}: {}", answer.body);
        assert!(took < Duration::from_secs(1), "{format} took {took:?}");
        eprintln!("{format} ({limit}): {took:?}");
        assert_peak_growth_below(pid, before, 64);
    }
    let before = fresh_peak(pid);
    // One command of a thousand unknown flags, shared by a thousand models through an alias:
    // read, but the answer names a bounded number of lines (was 93 MB, 393 MiB). A thousand
    // models is the most an import holds.
    let flags = "-zz ".repeat(1000);
    let shared = format!(
        "c: &c \"llama-server -m /m/tiny.gguf {flags}\"\nmodels:\n{}",
        (0..1000)
            .map(|i| format!("  m{i}:\n    cmd: *c\n"))
            .collect::<String>()
    );
    let answer = api(
        port,
        "import",
        json!({"format": "llama-swap", "dry_run": true, "text": shared}),
        None,
    )
    .await;
    assert_eq!(
        answer.status,
        200,
        "{}",
        &answer.body[..answer.body.len().min(300)]
    );
    assert!(
        answer.body.len() < 1 << 20,
        "answered {} bytes",
        answer.body.len()
    );
    assert_peak_growth_below(pid, before, 64);
}

#[tokio::test]
async fn m7_hostile_gguf_headers_keep_little_in_a_models_folder_or_on_the_model_page() {
    use corral::server::gguf::writer::{TensorInfo, Value as Gguf, write_header_only};
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("models");
    std::fs::create_dir(&folder).unwrap();
    let corral = start_corral_with(&dir.path().join("data"), |command| {
        command.arg("--models-dir").arg(&folder);
    });
    let port = corral.port;
    let pid = corral.child.id();
    // Many arrays under names of other architectures, in one file.
    let kept = dir.path().join("kept200.gguf");
    let mut entries = vec![(
        "general.architecture".to_string(),
        Gguf::Str("llama".into()),
    )];
    for i in 0..200 {
        entries.push((format!("x{i}.context_length"), Gguf::U32s(vec![1; 65_536])));
    }
    write_header_only(&kept, &entries, &[TensorInfo::new("t", &[2], 0)]).unwrap();
    let made = api(
        port,
        "models/create",
        json!({"model": {"name": "h", "path": kept.display().to_string()}}),
        None,
    )
    .await;
    assert_eq!(made.status, 200, "{}", made.body);
    let id = made.json()["id"].as_i64().unwrap();
    assert_eq!(
        api(port, "models/file", json!({"id": id}), None)
            .await
            .status,
        200
    );
    let (before, _) = memory_kib(pid);
    let reads: Vec<_> = (0..8)
        .map(|_| {
            tokio::spawn(async move { api(port, "models/file", json!({"id": id}), None).await })
        })
        .collect();
    for read in reads {
        let answer = read.await.unwrap();
        assert_eq!(answer.status, 200);
        assert!(answer.body.len() < 64 << 10, "{} bytes", answer.body.len());
    }
    // A per-layer array as long as a file allows, copied 400 times into the watched folder.
    let headkv = dir.path().join("headkv.gguf");
    write_header_only(
        &headkv,
        &[
            (
                "general.architecture".to_string(),
                Gguf::Str("llama".into()),
            ),
            (
                "llama.attention.head_count_kv".to_string(),
                Gguf::U32s(vec![8; 16_384]),
            ),
        ],
        &[TensorInfo::new("t", &[2], 0)],
    )
    .unwrap();
    for i in 0..400 {
        std::fs::copy(&headkv, folder.join(format!("h{i:03}.gguf"))).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let listed = loop {
        let listed = api(port, "discovery/list", json!({}), None).await;
        if listed.json()["total"] == 400 {
            break listed;
        }
        assert!(
            Instant::now() < deadline,
            "{}",
            &listed.body[..listed.body.len().min(300)]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        listed.body.len() < 1 << 20,
        "discovery/list answered {} bytes",
        listed.body.len()
    );
    assert_peak_growth_below(pid, before, 64);
    let (now, _) = memory_kib(pid);
    assert!(
        now.saturating_sub(before) < 32 * 1024,
        "{} MiB more are kept",
        now.saturating_sub(before) / 1024
    );
}

#[tokio::test]
async fn l7_backup_downloads_nobody_reads_are_dropped_after_the_write_timeout_with_their_copies() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    {
        // A database larger than every socket buffer on the way, so an unread copy stalls.
        let conn = rusqlite::Connection::open(data.join("corral.db")).unwrap();
        conn.execute_batch(
            "CREATE TABLE filler (b BLOB); INSERT INTO filler VALUES (zeroblob(24 * 1024 * 1024));",
        )
        .unwrap();
    }
    let corral = start_corral_with(&data, |command| {
        command.args(["--stream-write-timeout", "2"]);
    });
    let port = corral.port;
    let pid = corral.child.id();
    let mut stalled = Vec::new();
    for _ in 0..2 {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut stream = socket
            .connect(SocketAddr::from(([127, 0, 0, 1], port)))
            .await
            .unwrap();
        let request = format!("GET /api/backup HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        stalled.push(stream);
    }
    let copies = || {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
            .filter(|target| target.to_string_lossy().contains(".backup-"))
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while copies() < 2 {
        assert!(Instant::now() < deadline, "the two copies were never made");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let busy = raw(port, "127.0.0.1", "GET /api/backup HTTP/1.1", "").await;
    assert_eq!(busy.status, 429, "{}", busy.head);
    // Past the write timeout the stalled downloads are dropped, and their copies with them.
    let deadline = Instant::now() + Duration::from_secs(20);
    while copies() > 0 {
        assert!(
            Instant::now() < deadline,
            "{} unread copies are still held",
            copies()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let whole = raw(port, "127.0.0.1", "GET /api/backup HTTP/1.1", "").await;
    assert_eq!(whole.status, 200, "{}", whole.head);
    drop(stalled);
}

#[tokio::test]
async fn i1_a_llama_cpp_config_file_in_corrals_home_adds_nothing_to_a_model_server() {
    let dir = tempfile::tempdir().unwrap();
    let model_path = tiny_model(dir.path());
    let home = dir.path().join("home");
    let config = home.join(".config/llama.cpp");
    std::fs::create_dir_all(&config).unwrap();
    let leak = dir.path().join("leak.log");
    std::fs::write(
        config.join("config.ini"),
        format!("log-file = {}\n", leak.display()),
    )
    .unwrap();
    let corral = start_corral_with(&dir.path().join("data"), |command| {
        command.env("HOME", &home).env_remove("XDG_CONFIG_HOME");
    });
    let port = corral.port;
    let id = create(port, "tiny", &model_path).await;
    assert_eq!(
        api(port, "models/start", json!({"id": id}), None)
            .await
            .status,
        200
    );
    common::corral_binary::wait_running(port, id).await;
    let runs = api(port, "runs", json!({"id": id}), None).await.json();
    let pid = runs[0]["pid"].as_u64().unwrap();
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let child_home = environ
        .split(|b| *b == 0)
        .find_map(|entry| entry.strip_prefix(b"HOME="))
        .map(|h| String::from_utf8_lossy(h).into_owned())
        .unwrap();
    assert_ne!(child_home, home.display().to_string());
    assert_eq!(
        std::fs::read_dir(&child_home).unwrap().count(),
        0,
        "an empty home"
    );
    let logs = api(port, "models/logs", json!({"id": id}), None).await.body;
    assert!(!logs.contains("using config file"), "{logs}");
    assert!(!leak.exists(), "the config file's log-file was applied");
}
