//! A minimal HTTP/1.1 GET or JSON POST to a llama-server on 127.0.0.1: enough for `/health`,
//! `/metrics`, `/slots` and a slot's save or restore, which answer small bodies with a
//! Content-Length. Not a general client.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest body read; `/slots` of a many-slot server is a few tens of KB.
const MAX_RESPONSE_BYTES: u64 = 4 * 1024 * 1024;

/// Status code and body of `GET http://127.0.0.1:{port}{path}`, with the run's key.
pub async fn get(
    port: u16,
    path: &str,
    key: Option<&str>,
    timeout: Duration,
) -> io::Result<(u16, String)> {
    tokio::time::timeout(timeout, fetch(port, path, key, None))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no answer in time"))?
}

/// Status code and body of `POST http://127.0.0.1:{port}{path}` with a JSON body.
pub async fn post(
    port: u16,
    path: &str,
    key: Option<&str>,
    body: &str,
    timeout: Duration,
) -> io::Result<(u16, String)> {
    tokio::time::timeout(timeout, fetch(port, path, key, Some(body)))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no answer in time"))?
}

async fn fetch(
    port: u16,
    path: &str,
    key: Option<&str>,
    body: Option<&str>,
) -> io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
    let authorization = key.map_or(String::new(), |key| {
        format!("Authorization: Bearer {key}\r\n")
    });
    let (method, content) = match body {
        None => ("GET", String::new()),
        Some(body) => (
            "POST",
            format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ),
        ),
    };
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{authorization}{content}Connection: \
         close\r\n\r\n{}",
        body.unwrap_or_default()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    stream
        .take(MAX_RESPONSE_BYTES)
        .read_to_end(&mut raw)
        .await?;
    parse(&raw)
}

fn parse(raw: &[u8]) -> io::Result<(u16, String)> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| bad("no status code"))?;
    if head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    }) {
        return Err(bad("chunked responses are not read"));
    }
    Ok((status, body.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_gives_its_status_and_body() {
        let raw = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\n\r\n{}";
        assert_eq!(parse(raw).unwrap(), (503, "{}".to_string()));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for raw in [
            &b""[..],
            b"HTTP/1.1\r\n\r\n",
            b"hello",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello",
        ] {
            assert!(parse(raw).is_err());
        }
    }
}
