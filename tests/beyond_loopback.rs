//! Corral served beyond loopback, through the real binary where it matters: HTTPS with a
//! certificate made here (and reloaded on SIGHUP), the refusal of a LAN bind without model
//! folders, the per-client connection cap, and secrets that never reach a log, page or answer.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test states what it expects by failing loudly
#![allow(clippy::too_many_lines)] // a test is one scenario, read top to bottom

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::TestApp;
use common::corral_binary::{Corral, start_corral_with};
use corral::server::http::limits::HttpLimits;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PASSWORD: &str = "correct horse battery staple";

/// What curl saw: the status, the response head and the body.
struct Seen {
    status: u16,
    head: String,
    body: String,
}

impl Seen {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// One request with curl (`-i`, so the head comes back too); `None` when curl could not connect
/// or the TLS handshake failed.
fn curl(url: &str, args: &[&str]) -> Option<Seen> {
    let output = Command::new("curl")
        .args(["-s", "-i", "--max-time", "10"])
        .args(args)
        .arg(url)
        .output()
        .unwrap();
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some(Seen {
        status,
        head: head.to_string(),
        body: body.to_string(),
    })
}

/// A self-signed certificate for `localhost`, written as PEM to `cert` and `key`.
fn make_certificate(cert: &Path, key: &Path) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(cert, made.cert.pem()).unwrap();
    std::fs::write(key, made.signing_key.serialize_pem()).unwrap();
}

fn wait_for_log(corral: &Corral, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !corral.log_text().contains(text) {
        assert!(
            Instant::now() < deadline,
            "no '{text}' in the log:\n{}",
            corral.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn https_serves_with_a_secure_cookie_and_takes_a_new_certificate_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    make_certificate(&cert, &key);
    let first_ca = dir.path().join("first.pem");
    std::fs::copy(&cert, &first_ca).unwrap();
    let corral = start_corral_with(&dir.path().join("data"), |command| {
        command
            .arg("--tls-cert")
            .arg(&cert)
            .arg("--tls-key")
            .arg(&key)
            .args(["--open-on-loopback", "false"])
            .env("CORRAL_ADMIN_PASSWORD", PASSWORD);
    });
    assert!(corral.log_text().contains("corral listening on https://"));
    let base = format!("https://localhost:{}", corral.port);
    let ca = |file: &Path| file.to_string_lossy().into_owned();

    let health = curl(&format!("{base}/api/health"), &["--cacert", &ca(&first_ca)]).unwrap();
    assert_eq!(
        (health.status, health.json()),
        (200, json!({"status": "ok"}))
    );
    // Plain HTTP on the HTTPS port gets nothing.
    assert!(
        curl(&format!("http://localhost:{}/api/health", corral.port), &[])
            .is_none_or(|s| s.status != 200)
    );
    let login = curl(
        &format!("{base}/api/auth/login"),
        &[
            "--cacert",
            &ca(&first_ca),
            "-H",
            "content-type: application/json",
            "--data",
            &json!({"username": "admin", "password": PASSWORD}).to_string(),
        ],
    )
    .unwrap();
    assert_eq!(login.status, 200, "{}", login.body);
    let cookie = login
        .head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .expect("a session cookie")
        .to_string();
    assert!(cookie.contains("; Secure"), "{cookie}");
    // Over HTTPS the name has the __Host- prefix: no other port or subdomain may set it.
    assert!(cookie.contains(": __Host-corral_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );

    // A renewed certificate: SIGHUP, and new connections get it without a restart.
    make_certificate(&cert, &key);
    let signal = |name: &str| {
        let sent = Command::new("kill")
            .args([name, &corral.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    };
    signal("-HUP");
    wait_for_log(&corral, "SIGHUP: certificate reloaded");
    let renewed = curl(&format!("{base}/api/health"), &["--cacert", &ca(&cert)]).unwrap();
    assert_eq!(renewed.status, 200);
    assert!(
        curl(&format!("{base}/api/health"), &["--cacert", &ca(&first_ca)]).is_none(),
        "the old certificate is no longer served"
    );
    // A broken renewal keeps the certificate in use and says why.
    std::fs::write(&key, "not a key").unwrap();
    signal("-HUP");
    wait_for_log(&corral, "still serving the certificate loaded before");
    let kept = curl(&format!("{base}/api/health"), &["--cacert", &ca(&cert)]).unwrap();
    assert_eq!(kept.status, 200);
}

#[test]
fn a_bind_beyond_loopback_without_model_folders_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_corral"))
        .args(["--bind", "0.0.0.0:0", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("needs --model-roots"), "{said}");
    assert!(!said.contains("corral listening"), "{said}");
}

#[tokio::test]
async fn one_client_address_holds_at_most_its_connections() {
    let app = TestApp::with_http_limits(HttpLimits {
        max_connections_per_client: 2,
        ..HttpLimits::default()
    })
    .await;
    common::serve(&app).await;
    let connect = || tokio::net::TcpStream::connect(app.address);
    let first = connect().await.unwrap();
    let _second = connect().await.unwrap();
    let mut third = connect().await.unwrap();
    let mut refusal = String::new();
    third.read_to_string(&mut refusal).await.unwrap();
    assert!(
        refusal.starts_with("HTTP/1.1 429 Too Many Requests"),
        "{refusal}"
    );
    assert!(refusal.contains("Retry-After: 1"), "{refusal}");
    // A closed connection gives its place back.
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut next = connect().await.unwrap();
        let request = format!(
            "GET /api/health HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            app.host()
        );
        next.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        next.read_to_string(&mut answer).await.unwrap();
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the place was never given back: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn keys_and_passwords_never_reach_the_log_pages_or_answers() {
    let dir = tempfile::tempdir().unwrap();
    let corral = start_corral_with(&dir.path().join("data"), |command| {
        command.args(["--open-on-loopback", "false"]);
    });
    let base = format!("http://127.0.0.1:{}", corral.port);
    let log = corral.log_text();
    let token = log
        .split("setup?token=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the setup link is in the log")
        .to_string();
    let json_post = |path: &str, body: Value, cookie: Option<&str>| {
        let body = body.to_string();
        let mut args = vec!["-H", "content-type: application/json", "--data", &body];
        let header;
        if let Some(cookie) = cookie {
            header = format!("cookie: {cookie}");
            args.extend(["-H", &header]);
        }
        curl(&format!("{base}{path}"), &args).unwrap()
    };
    let setup = json_post(
        "/api/auth/setup",
        json!({"token": token, "username": "admin", "password": PASSWORD}),
        None,
    );
    assert_eq!(setup.status, 200, "{}", setup.body);
    let wrong = "wrong but plausible password";
    let refused = json_post(
        "/api/auth/login",
        json!({"username": "admin", "password": wrong}),
        None,
    );
    assert_eq!(refused.status, 401);
    let login = json_post(
        "/api/auth/login",
        json!({"username": "admin", "password": PASSWORD}),
        None,
    );
    // Named for the port on plain HTTP (`corral_session_<port>`).
    let cookie = login
        .head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|rest| rest.split(';').next())
        .unwrap()
        .to_string();
    assert!(cookie.starts_with("corral_session_"), "{cookie}");
    let session = cookie.split_once('=').unwrap().1.to_string();
    let created = json_post(
        "/api/keys/create",
        json!({"name": "laptop", "scopes": ["inference"]}),
        Some(&cookie),
    );
    assert_eq!(created.status, 200, "{}", created.body);
    let key = created.json()["key"].as_str().unwrap().to_string();

    // Use the key every way it is accepted, and read everything that could show it.
    let mut seen = Vec::new();
    let bearer = format!("authorization: Bearer {key}");
    let x_api_key = format!("x-api-key: {key}");
    let basic = format!("any:{key}");
    let chat =
        json!({"model": "none", "messages": [{"role": "user", "content": "hi"}]}).to_string();
    for args in [
        vec!["-H", bearer.as_str()],
        vec!["-H", x_api_key.as_str()],
        vec!["-u", basic.as_str()],
    ] {
        seen.push(curl(&format!("{base}/v1/models"), &args).unwrap());
        let mut post = args.clone();
        post.extend([
            "-H",
            "content-type: application/json",
            "--data",
            chat.as_str(),
        ]);
        seen.push(curl(&format!("{base}/v1/chat/completions"), &post).unwrap());
    }
    for page in ["/keys", "/activity", "/", "/metrics"] {
        seen.push(
            curl(
                &format!("{base}{page}"),
                &["-H", &format!("cookie: {cookie}")],
            )
            .unwrap(),
        );
    }
    for (path, body) in [
        ("/api/keys/list", json!({})),
        ("/api/activity/list", json!({})),
        ("/api/auth/me", json!({})),
    ] {
        seen.push(json_post(path, body, Some(&cookie)));
    }
    seen.extend([setup, refused, login]);
    let log = corral.log_text();
    for secret in [PASSWORD, wrong, key.as_str(), &key[12..], session.as_str()] {
        assert!(!log.contains(secret), "the log shows a secret:\n{log}");
        for answer in &seen {
            let shown = format!("{}{}", answer.head, answer.body);
            // The session's own Set-Cookie is the one place a session token belongs.
            let shown = if secret == session {
                answer.body.clone()
            } else {
                shown
            };
            assert!(
                !shown.contains(secret),
                "an answer shows a secret:\n{shown}"
            );
        }
    }
    assert!(
        log.contains("a sign-in failed"),
        "the failure is logged, without the password"
    );
    assert!(
        log.contains(&key[..12]),
        "the key is logged by its prefix only"
    );
}
