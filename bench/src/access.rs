//! What authentication costs per request: a server function (`models/get`) and a gateway call
//! (`GET /v1/models`) with an API key and with a session, against the same calls on an open
//! loopback Corral started in the same run (the floor); and the time of one sign-in (argon2id,
//! one core, one sign-in at a time).

use std::time::Instant;

use http_body_util::{BodyExt, Full};
use hyper::Request;
use serde_json::json;

use crate::http::{self, Call, load};
use crate::stats;
use crate::{Options, Report, corral};

const GROUP: &str = "access (auth per request)";
const PASSWORD: &str = "a benchmark's admin password";

pub async fn measure(report: &mut Report, options: &Options, work: &std::path::Path) {
    let open = corral::start(&options.binary, &options.site, &work.join("open"), &[]).await;
    let guarded = corral::start_with(
        &options.binary,
        &options.site,
        &work.join("guarded"),
        &["--open-on-loopback", "false"],
        &[("CORRAL_ADMIN_PASSWORD", PASSWORD)],
    )
    .await;
    let client = http::client();
    let login = || {
        let (client, base) = (client.clone(), guarded.base.clone());
        async move {
            let body = json!({"username": "admin", "password": PASSWORD}).to_string();
            let request = Request::post(format!("{base}/api/auth/login"))
                .header("content-type", "application/json")
                .body(Full::new(bytes::Bytes::from(body)))
                .expect("a request");
            let response = client.request(request).await.expect("Corral answers");
            assert_eq!(response.status(), 200, "the sign-in works");
            let cookie = response
                .headers()
                .get("set-cookie")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(';').next())
                .expect("a session cookie")
                .to_string();
            let _ = response.into_body().collect().await;
            cookie
        }
    };

    // Sign-in time: one at a time, so one core hashes.
    let rounds = if options.quick { 5 } else { 20 };
    let mut samples = Vec::with_capacity(rounds);
    let mut cookie = String::new();
    for _ in 0..rounds {
        let started = Instant::now();
        cookie = login().await;
        samples.push(started.elapsed());
    }
    let summary = stats::summarise(samples.clone(), samples.iter().sum());
    report.timing(GROUP, "sign-in (argon2id m=19 MiB t=2 p=1)", summary, None);

    let key = {
        let body = json!({"name": "bench", "scopes": ["admin"]});
        let call = Call::post("/api/keys/create", body).with_cookie(Some(&cookie));
        let (status, made) = http::send(&client, &guarded.base, &call)
            .await
            .expect("Corral answers");
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&made));
        let made: serde_json::Value = serde_json::from_slice(&made).expect("JSON");
        made["key"].as_str().expect("the key").to_string()
    };
    for base in [&open.base, &guarded.base] {
        let call = Call::post(
            "/api/models/create",
            json!({"model": {"name": "m", "path": "/models/bench.gguf"}}),
        );
        let call = call.with_cookie(Some(&cookie));
        let (status, _) = http::send(&client, base, &call)
            .await
            .expect("Corral answers");
        assert_eq!(status, 200);
    }

    // A second or more of load per measurement: shorter runs on two shared cores wander by
    // ±10 %, more than the difference being measured.
    let total = if options.quick { 2000 } else { 20_000 };
    let calls = [
        (
            "server function models/get",
            Call::post("/api/models/get", json!({"id": 1})),
        ),
        ("gateway GET /v1/models", Call::get("/v1/models")),
    ];
    for (name, call) in calls {
        for concurrency in [1, 32] {
            let open_load = || {
                let plain = call.clone();
                load(&open.base, concurrency, total, move |_| plain.clone())
            };
            let before = open_load().await;
            let keyed = call.clone().with_bearer(Some(&key));
            let with_key = load(&guarded.base, concurrency, total, move |_| keyed.clone()).await;
            let signed = call.clone().with_cookie(Some(&cookie));
            let with_session =
                load(&guarded.base, concurrency, total, move |_| signed.clone()).await;
            // The floor is measured before and after; the faster one counts (the machine warms
            // and cools, and the ratio must not flatter authentication).
            let after = open_load().await;
            let floor = if after.median_ms < before.median_ms {
                after
            } else {
                before
            };
            report.latency(
                GROUP,
                &format!("{name}, API key, c={concurrency} (floor: open loopback)"),
                with_key,
                Some(floor),
            );
            report.latency(
                GROUP,
                &format!("{name}, session, c={concurrency} (floor: open loopback)"),
                with_session,
                Some(floor),
            );
        }
    }
}
