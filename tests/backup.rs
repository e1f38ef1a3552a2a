//! Export and backup: every model and its settings as one versioned document, and a consistent
//! copy of the database made while Corral runs (`corral backup PATH`).
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test states what it expects by failing loudly

mod common;

use std::process::Command;

use common::TestApp;
use serde_json::json;

#[tokio::test]
async fn the_export_holds_every_model_with_its_groups() {
    let app = TestApp::new().await;
    let made = app.create("coder", "/models/coder.gguf").await;
    let saved = app
        .post(
            "/api/models/config/save",
            json!({"id": made["id"], "group": "serving", "config": {"aliases": ["gpt-4o"]}}),
        )
        .await;
    assert_eq!(saved.status.as_u16(), 200, "{}", saved.body);
    app.create("other", "/models/other.gguf").await;
    let exported = app.post("/api/export", json!({})).await;
    assert_eq!(exported.status.as_u16(), 200, "{}", exported.body);
    let document = exported.json();
    assert_eq!(
        (document["format"].clone(), document["version"].clone()),
        (json!("corral"), json!(1))
    );
    let models = document["models"].as_array().unwrap();
    assert_eq!(models.len(), 2);
    let coder = models.iter().find(|m| m["name"] == "coder").unwrap();
    assert_eq!(coder["path"], "/models/coder.gguf");
    let groups = coder["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 7, "every group");
    let serving = groups.iter().find(|g| g["group"] == "serving").unwrap();
    assert_eq!(serving["config"]["aliases"], json!(["gpt-4o"]));
}

#[tokio::test]
async fn a_backup_taken_while_corral_runs_is_a_whole_database_and_never_overwrites() {
    let app = TestApp::new().await;
    app.create("kept", "/models/kept.gguf").await;
    let target = app.dir.path().join("backup.db");
    let output = Command::new(env!("CARGO_BIN_EXE_corral"))
        .arg("--data-dir")
        .arg(app.dir.path())
        .arg("backup")
        .arg(&target)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let copy = rusqlite::Connection::open(&target).unwrap();
    let name: String = copy
        .query_row("SELECT name FROM models", [], |row| row.get(0))
        .unwrap();
    assert_eq!(name, "kept");
    let check: String = copy
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the copy is the user's alone");

    // Again to the same file: refused, the first copy untouched.
    let before = std::fs::read(&target).unwrap();
    let again = Command::new(env!("CARGO_BIN_EXE_corral"))
        .arg("--data-dir")
        .arg(app.dir.path())
        .arg("backup")
        .arg(&target)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));
    assert_eq!(std::fs::read(&target).unwrap(), before);
}
