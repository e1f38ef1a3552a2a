//! The guards in front of everything: a page that re-points its own name at Corral (DNS
//! rebinding) is refused on every path, Origin is checked against Corral's names (never against
//! the request's own Host), and every answer carries the security headers.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test states what it expects by failing loudly
#![allow(clippy::too_many_lines)] // a test is one scenario, read top to bottom

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{TestApp, serve};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn request(method: &str, path: &str, host: &str, origin: Option<&str>) -> Request<Body> {
    let body = if method == "POST" {
        json!({"model": {"name": "rebound", "path": "/m/a.gguf"}}).to_string()
    } else {
        String::new()
    };
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, host)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json");
    if let Some(origin) = origin {
        builder = builder.header(header::ORIGIN, origin);
    }
    builder.body(Body::from(body)).unwrap()
}

#[tokio::test]
async fn a_rebound_host_name_is_refused_on_pages_the_api_and_metrics() {
    let app = TestApp::new().await;
    app.create("existing", "/m/existing.gguf").await;
    let before = app.snapshot().await;
    let port = app.address.port();
    let evil = format!("evil.example:{port}");
    let evil_origin = format!("http://{evil}");
    for (method, path) in [
        ("GET", "/"),
        ("GET", "/models"),
        ("POST", "/api/models/create"),
        ("POST", "/api/models/list"),
        ("GET", "/metrics"),
        ("GET", "/api/health"),
        ("GET", "/pkg/corral.js"),
    ] {
        let reply = app
            .send(request(method, path, &evil, Some(&evil_origin)))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::MISDIRECTED_REQUEST,
            "{method} {path}: {}",
            reply.body
        );
        assert!(
            !reply.body.contains("existing"),
            "{method} {path} leaked: {}",
            reply.body
        );
    }
    assert_eq!(app.snapshot().await, before, "nothing was created");
}

#[tokio::test]
async fn localhost_and_127_0_0_1_with_corrals_port_are_served() {
    let app = TestApp::new().await;
    let port = app.address.port();
    for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}")] {
        let origin = format!("http://{host}");
        let reply = app
            .send(request("POST", "/api/models/list", &host, Some(&origin)))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{host}: {}", reply.body);
        let reply = app.send(request("GET", "/api/health", &host, None)).await;
        assert_eq!(reply.status, StatusCode::OK, "{host}");
    }
}

#[tokio::test]
async fn a_request_without_a_host_or_for_another_port_is_refused() {
    let app = TestApp::new().await;
    let other_port = format!("127.0.0.1:{}", app.address.port().wrapping_add(1));
    let reply = app
        .send(request("GET", "/api/health", &other_port, None))
        .await;
    assert_eq!(reply.status, StatusCode::MISDIRECTED_REQUEST);
    let bare = Request::get("/api/health").body(Body::empty()).unwrap();
    assert_eq!(app.send(bare).await.status, StatusCode::MISDIRECTED_REQUEST);
}

#[tokio::test]
async fn an_origin_that_only_matches_the_host_header_is_not_trusted() {
    // Host is one of ours, Origin names a foreign site: refused, whatever Host says.
    let app = TestApp::new().await;
    let before = app.snapshot().await;
    let reply = app
        .send(request(
            "POST",
            "/api/models/create",
            &app.host(),
            Some("http://evil.example"),
        ))
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
    assert_eq!(app.snapshot().await, before);
    let own = app
        .send(request(
            "POST",
            "/api/models/create",
            &app.host(),
            Some(&app.origin()),
        ))
        .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.body);
}

/// The status line a raw WebSocket upgrade gets.
async fn upgrade_status(app_address: std::net::SocketAddr, host: &str, origin: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(app_address).await.unwrap();
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buffer = vec![0u8; 1024];
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut buffer))
        .await
        .expect("an answer")
        .unwrap();
    String::from_utf8_lossy(&buffer[..read])
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn the_live_socket_refuses_a_rebound_host_and_accepts_its_own() {
    let app = TestApp::new().await;
    serve(&app).await;
    let port = app.address.port();
    let evil = format!("evil.example:{port}");
    let status = upgrade_status(app.address, &evil, &format!("http://{evil}")).await;
    assert!(status.contains("421"), "{status}");
    let own = app.host();
    let status = upgrade_status(app.address, &own, &format!("http://{own}")).await;
    assert!(status.contains("101"), "{status}");
    let status = upgrade_status(app.address, &own, "http://evil.example").await;
    assert!(status.contains("403"), "{status}");
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let app = TestApp::new().await;
    for (method, path) in [
        ("GET", "/api/health"),
        ("POST", "/api/models/list"),
        ("GET", "/metrics"),
    ] {
        let response = tower::ServiceExt::oneshot(
            app.router.clone(),
            request(method, path, &app.host(), None),
        )
        .await
        .unwrap();
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
    }
}

#[tokio::test]
async fn a_page_allows_only_its_own_nonce_for_inline_scripts() {
    let app = TestApp::new().await;
    let response =
        tower::ServiceExt::oneshot(app.router.clone(), request("GET", "/", &app.host(), None))
            .await
            .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let html = String::from_utf8_lossy(&body);
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("a nonce in the policy");
    assert!(nonce.len() >= 16, "{nonce}");
    assert!(
        html.contains(&format!("nonce=\"{nonce}\"")),
        "the hydration script carries the nonce"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("'unsafe-inline'"), "{csp}");
    // A second page gets a nonce of its own.
    let again =
        tower::ServiceExt::oneshot(app.router.clone(), request("GET", "/", &app.host(), None))
            .await
            .unwrap();
    let other = again.headers()["content-security-policy"].to_str().unwrap();
    assert!(!other.contains(nonce));
}
