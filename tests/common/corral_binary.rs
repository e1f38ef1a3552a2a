//! The real `corral` binary as a child process, and a bare HTTP client for it: for tests of what
//! happens when Corral itself is killed.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::supervisor_settings;

pub struct Corral {
    pub child: Child,
    pub port: u16,
    /// Every line Corral has written to stderr so far.
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Corral {
    /// Corral's log so far, one string.
    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

/// A test that fails half way must not leave its Corral (and so its models) running.
impl Drop for Corral {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The command that runs the real binary on a free port with its data in `data_dir`.
pub fn corral_command(data_dir: &Path) -> Command {
    let settings = supervisor_settings();
    let mut command = Command::new(env!("CARGO_BIN_EXE_corral"));
    command
        .args(["--bind", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .arg("--llama-server")
        .arg(settings.llama_server.unwrap())
        .arg("--ports")
        .arg(format!(
            "{}-{}",
            settings.ports.start(),
            settings.ports.end()
        ))
        .args(["--stop-grace", "3"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// Starts the real binary on a free port with its data in `data_dir`.
pub fn start_corral(data_dir: &Path) -> Corral {
    start_corral_with(data_dir, |_| {})
}

/// Starts the real binary after `customize` has had its say on the command.
pub fn start_corral_with(data_dir: &Path, customize: impl FnOnce(&mut Command)) -> Corral {
    let mut command = corral_command(data_dir);
    customize(&mut command);
    spawn_corral(command)
}

/// Starts Corral with a command of the test's own (its stderr piped), once it listens.
pub fn spawn_corral(mut command: Command) -> Corral {
    let mut child = command.spawn().unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut lines = stderr.lines();
    let log = Arc::new(Mutex::new(Vec::new()));
    let port = loop {
        let line = lines.next().expect("corral printed its address").unwrap();
        log.lock().unwrap().push(line.clone());
        if let Some((_, address)) = line.split_once("corral listening on ") {
            break address.trim().rsplit(':').next().unwrap().parse().unwrap();
        }
    };
    // Keep draining stderr so Corral never blocks on a full pipe.
    let kept = log.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            kept.lock().unwrap().push(line);
        }
    });
    Corral { child, port, log }
}

/// Waits until the model runs (30 s at most).
pub async fn wait_running(port: u16, id: i64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (_, model) = post(port, "models/get", serde_json::json!({"id": id})).await;
        if model["status"] == "running" {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "not running: {model}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Creates a model of the tiny file on this Corral, starts it and waits for it to run;
/// returns its id and its server's pid and port.
pub async fn running_model(corral: &Corral, name: &str, model_path: &str) -> (i64, u32, u16) {
    let (status, model) = post(
        corral.port,
        "models/create",
        serde_json::json!({"model": {"name": name, "path": model_path, "threads": 1, "ctx_size": 256}}),
    )
    .await;
    assert_eq!(status, 200, "{model}");
    let id = model["id"].as_i64().unwrap();
    let (status, reply) = post(corral.port, "models/start", serde_json::json!({"id": id})).await;
    assert_eq!(status, 200, "{reply}");
    wait_running(corral.port, id).await;
    let (_, runs) = post(corral.port, "runs", serde_json::json!({"id": id})).await;
    (
        id,
        runs[0]["pid"].as_u64().unwrap() as u32,
        runs[0]["port"].as_u64().unwrap() as u16,
    )
}

/// `POST /api/<path>`; panics if Corral does not answer.
pub async fn post(port: u16, path: &str, body: Value) -> (u16, Value) {
    try_post(port, path, body)
        .await
        .unwrap_or_else(|| panic!("no answer to {path}"))
}

/// `POST /api/<path>`, or `None` when the connection fails (Corral was killed mid-request).
pub async fn try_post(port: u16, path: &str, body: Value) -> Option<(u16, Value)> {
    let body = body.to_string();
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    let request = format!(
        "POST /api/{path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Accept: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, serde_json::from_str(body).unwrap_or(Value::Null)))
}
