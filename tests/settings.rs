//! The Settings page's settings: stored in the database, applied without a restart, kept across
//! one, overridden (and said to be) by a flag; a llama-server binary and model folders checked
//! before use; a backup downloaded whole.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test states what it expects by failing loudly
#![allow(clippy::too_many_lines)] // a test is one scenario, read top to bottom

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{Options, TestApp, supervisor_settings};
use corral::domain::ModelStatus;
use corral::domain::settings::SetByFlag;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const LOAD: Duration = Duration::from_secs(60);

async fn view(app: &TestApp) -> Value {
    let reply = app.post("/api/settings/get", json!({})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.json()
}

async fn save(app: &TestApp, settings: Value) -> Value {
    let reply = app
        .post("/api/settings/save", json!({"settings": settings}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.json()
}

fn options() -> Options {
    Options {
        settings: supervisor_settings(),
        ..Options::default()
    }
}

#[tokio::test]
async fn a_saved_limit_applies_at_once_and_survives_a_restart() {
    let app = TestApp::with_options(options()).await;
    let (a, b) = (app.create_tiny("a").await, app.create_tiny("b").await);
    let saved = save(&app, json!({"max_running": 1, "when_full": "refuse"})).await;
    assert_eq!(saved["effective"]["max_running"], 1);

    // No restart: the second model is refused for want of room.
    app.supervisor.start_model(a).await.unwrap();
    let reply = app.post("/api/models/start", json!({"id": b})).await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    app.supervisor.shutdown().await;
    assert_eq!(
        app.registry.get_model(b).await.unwrap().status,
        ModelStatus::Stopped
    );

    // Corral starts again on the same data: the page's settings are still in effect.
    let TestApp { dir, .. } = app;
    let again = TestApp::with_options_in(options(), dir).await;
    let now = view(&again).await;
    assert_eq!(now["stored"]["max_running"], 1);
    assert_eq!(now["effective"]["when_full"], "refuse");
    assert_eq!(again.supervisor.settings().max_running, 1);
    again.supervisor.shutdown().await;
}

#[tokio::test]
async fn a_flag_wins_over_the_page_and_the_page_says_so() {
    let mut flagged = options();
    flagged.settings.max_running = 3;
    flagged.set_by_flag = vec![SetByFlag {
        key: "max_running".into(),
        source: "--max-running".into(),
    }];
    let app = TestApp::with_options(flagged).await;
    let saved = save(&app, json!({"max_running": 1, "stop_grace": 7})).await;
    assert_eq!(
        saved["stored"]["max_running"], 1,
        "kept for a start without the flag"
    );
    assert_eq!(saved["effective"]["max_running"], 3);
    assert_eq!(
        saved["set_by_flag"],
        json!([{"key": "max_running", "source": "--max-running"}])
    );
    assert_eq!(saved["effective"]["stop_grace"], 7, "the rest applies");
    assert_eq!(app.supervisor.settings().max_running, 3);
    assert_eq!(app.supervisor.settings().stop_grace, Duration::from_secs(7));
}

#[tokio::test]
async fn bad_settings_are_refused_by_field_and_change_nothing() {
    let app = TestApp::with_options(options()).await;
    save(&app, json!({"max_running": 2})).await;
    let before = view(&app).await;
    let shared = tempfile::tempdir().unwrap();
    std::fs::set_permissions(shared.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let writable = shared.path().join("llama-server");
    std::fs::copy(common::llama_server(), &writable).unwrap();
    let renamed = app.dir.path().join("not-llama");
    std::fs::copy(common::llama_server(), &renamed).unwrap();
    for (settings, field, words) in [
        (json!({"ports": "9000-8000"}), "ports", "port range"),
        (json!({"max_running": 0}), "max_running", ""),
        (json!({"when_full": "panic"}), "when_full", ""),
        (
            json!({"models_dirs": ["/no/such/folder"]}),
            "models_dirs[0]",
            "No such file",
        ),
        (
            json!({"llama_server": "/bin/sh"}),
            "llama_server",
            "called llama-server",
        ),
        (
            json!({"llama_server": renamed}),
            "llama_server",
            "called llama-server",
        ),
        (
            json!({"llama_server": writable}),
            "llama_server",
            "its folder must not be writable by other users",
        ),
        (json!({"colour": "blue"}), "colour", ""),
        (
            json!({"gpu_budget_mib": ["0=20000", "ram=5"]}),
            "gpu_budget_mib[1]",
            "is not DEVICE=MIB",
        ),
        (
            json!({"gpu_budget_mib": ["0=99999999999999"]}),
            "gpu_budget_mib[0]",
            "MiB is more than",
        ),
        (
            json!({"gpu_budget_mib": [format!("0={}", "9".repeat(5000))]}),
            "gpu_budget_mib[0]",
            "",
        ),
        (
            json!({"gpu_budget_mib": vec!["0=1"; 65]}),
            "gpu_budget_mib",
            "at most 64",
        ),
        (
            json!({"gpu_budget_mib": [{"0": 1}]}),
            "gpu_budget_mib[0]",
            "must be text",
        ),
    ] {
        let reply = app
            .post("/api/settings/save", json!({"settings": settings}))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{settings}: {}",
            reply.body
        );
        assert_eq!(reply.field_rules()[0].0, field, "{}", reply.body);
        assert!(reply.body.contains(words), "{words}: {}", reply.body);
    }
    assert_eq!(view(&app).await, before);
}

#[tokio::test]
async fn the_page_describes_the_llama_server_in_use_and_can_switch_to_another_by_its_real_path() {
    let app = TestApp::with_options(options()).await;
    let now = view(&app).await;
    let info = &now["llama_server"];
    assert!(info["version"].as_str().is_some(), "{info}");
    assert!(
        info["build"].as_str().unwrap().starts_with("built with"),
        "{info}"
    );
    assert_eq!(info["problem"], Value::Null);
    // The capability check: b11434 dropped --ctx-size-draft (tests/supervisor.rs relies on it).
    assert_eq!(
        info["missing_flags"],
        json!(["lora.draft_ctx_size (--ctx-size-draft)"])
    );
    // The same build through a link of the right name in a folder of its own is accepted.
    let folder = app.dir.path().join("bin");
    std::fs::create_dir(&folder).unwrap();
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o755)).unwrap();
    let link = folder.join("llama-server");
    std::os::unix::fs::symlink(common::llama_server(), &link).unwrap();
    let saved = save(&app, json!({"llama_server": link})).await;
    // What is stored and run is where the link pointed when it was checked, not the link.
    let real = common::llama_server().canonicalize().unwrap();
    assert_eq!(saved["stored"]["llama_server"], json!(real));
    assert_eq!(
        app.supervisor.settings().llama_server.as_deref(),
        Some(real.as_path())
    );
    let id = app.create_tiny("tiny").await;
    app.supervisor.start_model(id).await.unwrap();
    app.wait_status(id, ModelStatus::Running, LOAD).await;
    app.supervisor.shutdown().await;
}

#[tokio::test]
async fn model_folders_saved_on_the_page_are_watched_at_once() {
    let app = TestApp::with_options(options()).await;
    let folder = app.dir.path().join("models");
    std::fs::create_dir(&folder).unwrap();
    common::tiny_model(&folder);
    save(&app, json!({"models_dirs": [folder]})).await;
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let listed = app.post("/api/discovery/list", json!({})).await.json();
        if listed["files"].as_array().is_some_and(|f| f.len() == 1) {
            break;
        }
        assert!(Instant::now() < deadline, "found within 2 s: {listed}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A value of `setting` that is valid and not its default.
fn another_value(setting: &corral::domain::settings::Setting) -> Option<Value> {
    use corral::domain::fields::InputKind;
    Some(match setting.field.input {
        InputKind::Integer { min, max } => {
            let default: i64 = setting.value?.parse().ok()?;
            json!(if default < max { default + 1 } else { min })
        }
        InputKind::Choice { options } => {
            json!(options.iter().find(|o| Some(**o) != setting.value)?)
        }
        _ if setting.key() == "ports" => json!("9100-9199"),
        // A binary and folders are checked against the disk (tests above).
        _ => return None,
    })
}

#[tokio::test]
async fn every_setting_saved_on_the_page_reaches_its_owner_and_is_read_back_from_it() {
    let app = TestApp::with_options(options()).await;
    let mut document = serde_json::Map::new();
    for setting in corral::domain::settings::SETTINGS {
        if let Some(value) = another_value(setting) {
            document.insert(setting.key().to_string(), value);
        }
    }
    assert!(document.len() >= 12, "{document:?}");
    let saved = save(&app, Value::Object(document.clone())).await;
    for (key, value) in &document {
        // "In effect now" is read from the owners (the supervisor, the database's retention).
        assert_eq!(&saved["effective"][key], value, "{key}");
    }
    let retention = app.db.retention();
    assert_eq!(json!(retention.changes_per_model), document["keep_changes"]);
    assert_eq!(json!(retention.metrics_days), document["keep_metrics_days"]);
    let settings = app.supervisor.settings();
    assert_eq!(
        json!(settings.memory_budget_mib),
        document["memory_budget_mib"]
    );
    assert_eq!(
        json!(settings.load_timeout.as_secs()),
        document["load_timeout"]
    );
}

#[tokio::test]
async fn a_save_edited_from_an_older_read_is_refused_instead_of_undoing_the_newer_one() {
    let app = TestApp::with_options(options()).await;
    let read = view(&app).await;
    let revision = read["revision"].as_i64().unwrap();
    // Another tab (or the API, without a revision) saves first.
    save(&app, json!({"keep_runs": 50})).await;
    let late = app
        .post(
            "/api/settings/save",
            json!({"settings": {"stop_grace": 2}, "revision": revision}),
        )
        .await;
    assert_eq!(late.status, StatusCode::CONFLICT, "{}", late.body);
    assert!(late.body.contains("changed elsewhere"), "{}", late.body);
    let now = view(&app).await;
    assert_eq!(now["stored"]["keep_runs"], 50, "the newer save stands");
    assert_eq!(
        now["effective"]["stop_grace"],
        read["effective"]["stop_grace"]
    );
    // Edited from the current read, the same save goes through and moves the revision on.
    let current = now["revision"].as_i64().unwrap();
    let saved = app
        .post(
            "/api/settings/save",
            json!({"settings": {"keep_runs": 50, "stop_grace": 2}, "revision": current}),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert!(saved.json()["revision"].as_i64().unwrap() > current);
}

#[tokio::test]
async fn two_saves_at_once_each_land_whole() {
    let app = TestApp::with_options(options()).await;
    let (one, two) = tokio::join!(
        app.post(
            "/api/settings/save",
            json!({"settings": {"max_running": 1, "stop_grace": 1}})
        ),
        app.post(
            "/api/settings/save",
            json!({"settings": {"max_running": 4, "stop_grace": 4}})
        ),
    );
    assert_eq!((one.status, two.status), (StatusCode::OK, StatusCode::OK));
    let stored = view(&app).await["stored"].clone();
    assert_eq!(
        stored["max_running"], stored["stop_grace"],
        "one save, not a mix: {stored}"
    );
    let settings = app.supervisor.settings();
    assert_eq!(
        settings.max_running as u64,
        settings.stop_grace.as_secs(),
        "what applies is the stored one"
    );
}

async fn download(app: &TestApp) -> (StatusCode, Option<String>, Vec<u8>) {
    let request = Request::get("/api/backup")
        .header(header::HOST, app.host())
        .body(Body::empty())
        .unwrap();
    let response = app.router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let disposition = response
        .headers()
        .get(header::CONTENT_DISPOSITION)
        .map(|v| v.to_str().unwrap().to_string());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, disposition, bytes.to_vec())
}

#[tokio::test]
async fn a_backup_downloads_whole_and_leaves_no_copy_behind() {
    let app = TestApp::new().await;
    app.create("kept", "/models/kept.gguf").await;
    let (first, second) = tokio::join!(download(&app), download(&app));
    for (status, disposition, bytes) in [first, second] {
        assert_eq!(status, StatusCode::OK);
        assert!(
            disposition
                .unwrap()
                .starts_with("attachment; filename=\"corral-")
        );
        assert!(bytes.starts_with(b"SQLite format 3\0"));
        let copy = app.dir.path().join("downloaded.db");
        std::fs::write(&copy, &bytes).unwrap();
        let conn = rusqlite::Connection::open(&copy).unwrap();
        let name: String = conn
            .query_row("SELECT name FROM models", [], |row| row.get(0))
            .unwrap();
        assert_eq!(name, "kept");
        drop(conn);
        std::fs::remove_file(&copy).unwrap();
    }
    let left: Vec<_> = std::fs::read_dir(app.dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".backup"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn gpu_budgets_saved_on_the_page_are_the_budgets_in_force() {
    let app = TestApp::with_options(options()).await;
    save(&app, json!({"gpu_budget_mib": ["1=8000", "CUDA0 = 20000"]})).await;
    let reply = app.post("/api/memory/budgets", json!({})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.json()["gpus"],
        json!([{"index": 0, "mib": 20000}, {"index": 1, "mib": 8000}])
    );
}
