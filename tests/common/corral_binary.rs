//! The real `corral` binary as a child process, and a bare HTTP client for it: for tests of what
//! happens when Corral itself is killed.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::supervisor_settings;

pub struct Corral {
    pub child: Child,
    pub port: u16,
}

/// Starts the real binary on a free port with its data in `data_dir`.
pub fn start_corral(data_dir: &Path) -> Corral {
    let settings = supervisor_settings();
    let mut child = Command::new(env!("CARGO_BIN_EXE_corral"))
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
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut lines = stderr.lines();
    let port = loop {
        let line = lines.next().expect("corral printed its address").unwrap();
        if let Some((_, address)) = line.split_once("corral listening on http://") {
            break address.trim().rsplit(':').next().unwrap().parse().unwrap();
        }
    };
    // Keep draining stderr so Corral never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Corral { child, port }
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
