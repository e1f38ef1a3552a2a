//! What one client can hold open: a connection that sends nothing, headers a line at a time, a
//! body that never completes, more connections than the cap. Each is closed or answered within
//! its deadline, and other clients are served meanwhile. (Short deadlines here; the defaults are
//! 10 s for headers and bodies.)
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test states what it expects by failing loudly
#![allow(clippy::too_many_lines)] // a test is one scenario, read top to bottom

mod common;

use std::time::{Duration, Instant};

use common::{TestApp, serve};
use corral::server::http::limits::HttpLimits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn short_limits() -> HttpLimits {
    HttpLimits {
        header_read: Duration::from_millis(800),
        body_read: Duration::from_millis(800),
        ..HttpLimits::default()
    }
}

/// Reads until the server closes the connection; returns what it said and how long it took.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> (String, Duration) {
    let started = Instant::now();
    let mut all = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let read = tokio::time::timeout(
            within.saturating_sub(started.elapsed()),
            stream.read(&mut buffer),
        )
        .await
        .unwrap_or_else(|_| {
            panic!(
                "still open after {within:?}: {}",
                String::from_utf8_lossy(&all)
            )
        });
        match read {
            Ok(0) | Err(_) => break,
            Ok(n) => all.extend_from_slice(&buffer[..n]),
        }
    }
    (
        String::from_utf8_lossy(&all).into_owned(),
        started.elapsed(),
    )
}

async fn health(app: &TestApp) -> String {
    let mut stream = TcpStream::connect(app.address).await.unwrap();
    let request = format!(
        "GET /api/health HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        app.host()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    read_until_closed(&mut stream, Duration::from_secs(5))
        .await
        .0
}

#[tokio::test]
async fn an_idle_connection_is_closed_by_the_header_deadline() {
    let app = TestApp::with_http_limits(short_limits()).await;
    serve(&app).await;
    let mut idle = TcpStream::connect(app.address).await.unwrap();
    let (_, took) = read_until_closed(&mut idle, Duration::from_secs(5)).await;
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test]
async fn headers_sent_a_line_at_a_time_are_cut_off_at_the_deadline() {
    let app = TestApp::with_http_limits(short_limits()).await;
    serve(&app).await;
    let mut slow = TcpStream::connect(app.address).await.unwrap();
    let started = Instant::now();
    slow.write_all(b"GET /api/health HTTP/1.1\r\n")
        .await
        .unwrap();
    let mut closed = false;
    for i in 0..20 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        if slow
            .write_all(format!("X-Slow-{i}: 1\r\n").as_bytes())
            .await
            .is_err()
        {
            closed = true;
            break;
        }
        let mut probe = [0u8; 1];
        if let Ok(Ok(0)) =
            tokio::time::timeout(Duration::from_millis(1), slow.read(&mut probe)).await
        {
            closed = true;
            break;
        }
    }
    assert!(closed, "the trickled request was never cut off");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(health(&app).await.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn a_body_that_never_completes_is_answered_408_and_changes_nothing() {
    let app = TestApp::with_http_limits(short_limits()).await;
    serve(&app).await;
    let before = app.snapshot().await;
    let mut slow = TcpStream::connect(app.address).await.unwrap();
    let head = format!(
        "POST /api/models/create HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Accept: application/json\r\nContent-Length: 200\r\n\r\n{{\"model\":",
        app.host()
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    let (answer, took) = read_until_closed(&mut slow, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"timeout\""), "{answer}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn connections_over_the_cap_get_a_clear_503_and_served_ones_are_not_disturbed() {
    let app = TestApp::with_http_limits(HttpLimits {
        max_connections: 4,
        ..short_limits()
    })
    .await;
    serve(&app).await;
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(TcpStream::connect(app.address).await.unwrap());
    }
    // Give the accept loop a moment to take all four.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut extra = TcpStream::connect(app.address).await.unwrap();
    let (answer, took) = read_until_closed(&mut extra, Duration::from_secs(3)).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("4 connections open"), "{answer}");
    assert!(
        took < Duration::from_secs(2),
        "refused at once, not after a wait: {took:?}"
    );
    // The idle ones go at the header deadline; then there is room again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(health(&app).await.starts_with("HTTP/1.1 200"));
}
