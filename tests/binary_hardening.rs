//! The real `corral` binary against what one client or one careless start could do: a second
//! Corral on the same data directory, a request body that never ends at shutdown, a flood of
//! idle connections under a small descriptor limit, and model servers that must answer only
//! Corral and inherit nothing of it.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test states what it expects by failing loudly
#![allow(clippy::too_many_lines)] // a test is one scenario, read top to bottom

mod common;

use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use common::corral_binary::{
    Corral, corral_command, post, running_model, start_corral, start_corral_with,
};
use common::tiny_model;
use corral::server::supervisor::run::http_probe;
use corral::server::supervisor::run::spawn::process_alive;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn stop(mut corral: Corral) {
    // SAFETY: signals the Corral this test started.
    unsafe { libc::kill(corral.child.id() as i32, libc::SIGTERM) };
    corral.child.wait().unwrap();
}

#[tokio::test]
async fn a_second_corral_on_the_same_data_directory_exits_naming_the_first_and_stops_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let model_path = tiny_model(dir.path());
    let data = dir.path().join("data");
    let first = start_corral(&data);
    let (id, pid, _) = running_model(&first, "tiny", &model_path).await;

    let mut second = corral_command(&data);
    let output = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::task::spawn_blocking(move || second.output().unwrap()),
    )
    .await
    .expect("the second Corral exits at once")
    .unwrap();
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains(&format!("pid {}", first.child.id())),
        "names the first Corral's pid: {said}"
    );
    assert!(
        said.contains(&format!("http://127.0.0.1:{}", first.port)),
        "names the first Corral's address: {said}"
    );
    assert!(process_alive(pid), "the first Corral's model still runs");
    let (_, model) = post(first.port, "models/get", json!({"id": id})).await;
    assert_eq!(model["status"], "running", "{model}");
    stop(first);
}

#[tokio::test]
async fn sigterm_with_a_slow_body_and_a_live_tab_open_ends_corral_and_its_model_in_time() {
    let dir = tempfile::tempdir().unwrap();
    let model_path = tiny_model(dir.path());
    let corral = start_corral(&dir.path().join("data"));
    let (_, pid, _) = running_model(&corral, "tiny", &model_path).await;

    let mut slow = TcpStream::connect(("127.0.0.1", corral.port))
        .await
        .unwrap();
    let head = format!(
        "POST /api/models/list HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\n\
         Content-Length: 1000\r\n\r\n{{",
        corral.port
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    let (tab, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}/ws", corral.port))
        .await
        .unwrap();

    let asked = Instant::now();
    // SAFETY: signals the Corral this test started.
    unsafe { libc::kill(corral.child.id() as i32, libc::SIGTERM) };
    let status = tokio::task::spawn_blocking(move || {
        let mut corral = corral;
        corral.child.wait().unwrap()
    })
    .await
    .unwrap();
    let took = asked.elapsed();
    assert!(status.success(), "{status:?}");
    // Five seconds for open requests to finish, then the model's stop (well under its grace).
    assert!(took < Duration::from_secs(9), "{took:?}");
    assert!(!process_alive(pid), "the model went with Corral");
    drop((slow, tab));
}

#[tokio::test]
async fn a_model_server_answers_only_corral_and_inherits_nothing_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let model_path = tiny_model(dir.path());
    let data = dir.path().join("data");
    // A descriptor the shell that starts Corral left open, and variables Corral must not pass.
    let planted_path = dir.path().join("planted");
    std::fs::write(&planted_path, b"secret").unwrap();
    let planted = std::fs::File::open(&planted_path).unwrap();
    let planted_fd = planted.as_raw_fd();
    let corral = start_corral_with(&data, |command| {
        command
            .env("CORRAL_PROBE_SECRET", "do not pass")
            .env("LLAMA_ARG_ALIAS", "smuggled through the environment");
        // SAFETY: dup2 between fork and exec; the copy at 10 is not close-on-exec.
        unsafe {
            command.pre_exec(move || {
                if libc::dup2(planted_fd, 10) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    });
    let (_, pid, port) = running_model(&corral, "tiny", &model_path).await;

    // Without Corral's key, nothing but /health.
    let timeout = Duration::from_secs(2);
    assert_eq!(
        http_probe::get(port, "/health", None, timeout)
            .await
            .unwrap()
            .0,
        200
    );
    for path in ["/slots", "/v1/models", "/props", "/metrics"] {
        let (status, body) = http_probe::get(port, path, None, timeout).await.unwrap();
        assert_eq!(status, 401, "{path}: {body}");
        let (status, _) = http_probe::get(port, path, Some("guess"), timeout)
            .await
            .unwrap();
        assert_eq!(status, 401, "{path} with a wrong key");
    }

    // The key is in its environment (never on its command line), with nothing of Corral's.
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let environ: Vec<String> = environ
        .split(|b| *b == 0)
        .filter(|v| !v.is_empty())
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    assert!(
        !environ
            .iter()
            .any(|v| v.starts_with("CORRAL_") || v.starts_with("LLAMA_ARG_")),
        "{environ:?}"
    );
    assert!(environ.iter().any(|v| v.starts_with("PATH=")));
    let key = environ
        .iter()
        .find_map(|v| v.strip_prefix("LLAMA_API_KEY="))
        .expect("a key");
    let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(!cmdline.contains(key), "the key is not on the command line");
    let (status, models) = http_probe::get(port, "/v1/models", Some(key), timeout)
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert!(!models.contains("smuggled"), "{models}");

    // A web page on another origin is not granted cross-origin access.
    let mut preflight = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    preflight
        .write_all(
            format!(
                "OPTIONS /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
                 Origin: http://evil.example\r\nAccess-Control-Request-Method: POST\r\n\
                 Access-Control-Request-Headers: authorization, content-type\r\n\
                 Connection: close\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut answer = String::new();
    preflight.read_to_string(&mut answer).await.unwrap();
    let header = |name: &str| {
        answer
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with(&format!("{name}:")))
            .map(|l| l.split_once(':').unwrap().1.trim().to_string())
    };
    let allowed = header("access-control-allow-origin").unwrap_or_default();
    assert!(
        allowed != "http://evil.example" && allowed != "*",
        "granted to {allowed:?}: {answer}"
    );
    assert_ne!(
        header("access-control-allow-credentials").as_deref(),
        Some("true"),
        "{answer}"
    );

    // Only stdin, stdout and stderr, the model file handed on, and descriptors of its own: not
    // the planted file, not Corral's database, lock or pipes.
    let corrals: std::collections::HashSet<String> =
        std::fs::read_dir(format!("/proc/{}/fd", corral.child.id()))
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .map(|t| t.to_string_lossy().into_owned())
            .collect();
    let mut inherited = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap() {
        let entry = entry.unwrap();
        let fd: i32 = entry.file_name().to_string_lossy().parse().unwrap();
        let target = std::fs::read_link(entry.path())
            .map(|t| t.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Its own listening socket and event descriptors; nothing that is a file or a pipe.
        // A socket is named by its inode, so one of Corral's would show up in both lists.
        let own = (target.starts_with("socket:") && !corrals.contains(&target))
            || target.starts_with("anon_inode:");
        // The model file Corral checked and handed on (as /proc/self/fd/3), read-only.
        let handed = fd == 3 && target == model_path && {
            let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).unwrap();
            let flags = info
                .lines()
                .find_map(|l| l.strip_prefix("flags:"))
                .map(|f| u32::from_str_radix(f.trim(), 8).unwrap())
                .unwrap();
            flags & 0o3 == 0
        };
        if fd > 2 && !own && !handed {
            inherited.push((fd, target));
        }
    }
    assert!(inherited.is_empty(), "{inherited:?}");
    drop(planted);
    stop(corral);
}

/// `GET /api/health` on a new connection, read to its end within 2 s; the error says which
/// step failed.
async fn health(port: u16) -> Result<String, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let request =
        format!("GET /api/health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(2), stream.read_to_string(&mut answer))
        .await
        .map_err(|_| "no answer within 2 s".to_string())?
        .map_err(|e| format!("read: {e} (after {answer:?})"))?;
    Ok(answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_few_descriptors_a_flood_of_idle_connections_is_refused_and_corral_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let corral = start_corral_with(&dir.path().join("data"), |command| {
        // SAFETY: setrlimit between fork and exec only limits the child.
        unsafe {
            command.pre_exec(|| {
                let limit = libc::rlimit {
                    rlim_cur: 200,
                    rlim_max: 200,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    });
    raise_own_descriptor_limit(400);
    let mut idle = Vec::new();
    for _ in 0..260 {
        idle.push(
            TcpStream::connect(("127.0.0.1", corral.port))
                .await
                .unwrap(),
        );
    }
    // At once: a clear answer (served, or told the cap is reached), never a hang.
    let answer = health(corral.port).await.unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.1 503"),
        "{answer}"
    );
    // Once the idle ones meet the header deadline (10 s), requests are served again.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if health(corral.port)
            .await
            .is_ok_and(|a| a.starts_with("HTTP/1.1 200"))
        {
            break;
        }
        assert!(Instant::now() < deadline, "still not served");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    drop(idle);
    stop(corral);
}

/// This test process's descriptor limit raised (as Corral raises its own), and at least
/// `wanted`: the floods below measure Corral's limits, not the runner's.
fn raise_own_descriptor_limit(wanted: u64) {
    let limit = corral::server::http::serve::raise_descriptor_limit();
    assert!(limit >= wanted, "a descriptor limit of {limit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_one_busy_core_every_connection_past_the_cap_is_answered_never_closed_without_a_word() {
    const FLOOD: usize = 500;
    let dir = tempfile::tempdir().unwrap();
    let corral = start_corral_with(&dir.path().join("data"), |command| {
        command.args(["--max-connections", "8"]);
        // One core for all of Corral: the accept loop and whatever answers a refusal take
        // turns, as on a loaded machine.
        // SAFETY: sched_setaffinity between fork and exec only pins the child.
        unsafe {
            command.pre_exec(|| {
                let mut one: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(0, &mut one);
                if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &one) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    });
    // Each asks at once and keeps its connection, so the first few hold every place while
    // Corral serves them; the served ones close before the next round.
    let request = format!(
        "GET /api/health HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n",
        corral.port
    );
    raise_own_descriptor_limit(FLOOD as u64 + 100);
    for round in 0..5 {
        let mut served = Vec::new();
        let mut flood = Vec::new();
        for _ in 0..FLOOD {
            let mut stream = TcpStream::connect(("127.0.0.1", corral.port))
                .await
                .unwrap();
            stream.write_all(request.as_bytes()).await.unwrap();
            flood.push(stream);
        }
        for (n, mut stream) in flood.into_iter().enumerate() {
            let mut head = [0u8; 12];
            let read = tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut head))
                .await
                .unwrap_or_else(|_| panic!("round {round}, connection {n}: no answer in 5 s"));
            if let Err(error) = read {
                panic!("round {round}, connection {n}: closed without an answer ({error})");
            }
            match &head {
                b"HTTP/1.1 200" => served.push(stream),
                b"HTTP/1.1 503" => {}
                other => panic!(
                    "round {round}, connection {n}: {}",
                    String::from_utf8_lossy(other)
                ),
            }
        }
        assert!(
            served.len() <= 8,
            "round {round}: {} served with a cap of 8",
            served.len()
        );
        drop(served);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop(corral);
}
