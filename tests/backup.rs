//! Export and backup: every model and its settings as one versioned document, and a consistent
//! copy of the database made while Corral runs (`corral backup PATH`).
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test states what it expects by failing loudly
#![allow(clippy::too_many_lines)] // a test is one scenario, read top to bottom

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

/// `corral --data-dir DIR backup TARGET`.
fn backup(data_dir: &std::path::Path, target: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_corral"))
        .arg("--data-dir")
        .arg(data_dir)
        .arg("backup")
        .arg(target)
        .output()
        .unwrap()
}

#[tokio::test]
async fn a_backup_taken_while_corral_runs_is_a_whole_database_and_never_overwrites() {
    let app = TestApp::new().await;
    app.create("kept", "/models/kept.gguf").await;
    let target = app.dir.path().join("backup.db");
    let output = backup(app.dir.path(), &target);
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
    let again = backup(app.dir.path(), &target);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));
    assert_eq!(std::fs::read(&target).unwrap(), before);
}

#[tokio::test]
async fn an_export_imports_into_another_corral_all_or_nothing_and_dry_runs_write_nothing() {
    let source = TestApp::new().await;
    let made = source.create("coder", "/models/coder.gguf").await;
    source
        .post(
            "/api/models/config/save",
            json!({"id": made["id"], "group": "sampling", "config": {"temperature": 0.2}}),
        )
        .await;
    source.create("other", "/models/other.gguf").await;
    let text = source.post("/api/export", json!({})).await.body;

    let target = TestApp::new().await;
    target.create("coder", "/models/old-coder.gguf").await;
    let import = |body: serde_json::Value| {
        let target = &target;
        async move { target.post("/api/import", body).await }
    };
    // A dry run answers what would happen and writes nothing.
    let before = target.snapshot().await;
    let dry =
        import(json!({"format": "corral", "text": text, "dry_run": true, "on_conflict": "rename"}))
            .await;
    assert_eq!(dry.status.as_u16(), 200, "{}", dry.body);
    let dry = dry.json();
    assert_eq!(dry["created"], json!(["coder-2", "other"]));
    assert_eq!(dry["dry_run"], true);
    assert_eq!(target.snapshot().await, before, "a dry run wrote nothing");

    // Skip leaves the existing model; replace takes the imported settings.
    let skipped = import(json!({"format": "corral", "text": text}))
        .await
        .json();
    assert_eq!(skipped["skipped"], json!(["coder"]));
    assert_eq!(skipped["created"], json!(["other"]));
    let replaced = import(json!({"format": "corral", "text": text, "on_conflict": "replace"}))
        .await
        .json();
    assert_eq!(replaced["changed"], json!(["coder", "other"]));
    let coder = target
        .post("/api/models/get_by_name", json!({"name": "coder"}))
        .await
        .json();
    assert_eq!(coder["path"], "/models/coder.gguf");
    let sampling = target
        .post(
            "/api/models/config/load",
            json!({"id": coder["id"], "group": "sampling"}),
        )
        .await
        .json();
    assert_eq!(sampling["config"]["temperature"], 0.2);

    // One bad model refuses the whole import, naming where it is; nothing changes.
    let mut document: serde_json::Value = serde_json::from_str(&text).unwrap();
    document["models"][1]["path"] = json!("relative.gguf");
    document["models"][0]["groups"][0]["config"] = json!({"temperature": "hot"});
    let before = target.snapshot().await;
    let bad =
        import(json!({"format": "corral", "text": document.to_string(), "on_conflict": "rename"}))
            .await;
    assert_eq!(bad.status.as_u16(), 400, "{}", bad.body);
    let mut fields: Vec<String> = bad.field_rules().into_iter().map(|(f, _)| f).collect();
    fields.sort();
    assert_eq!(
        fields,
        ["models[0].groups[0].config.temperature", "models[1].path"]
    );
    assert_eq!(target.snapshot().await, before);
    for (body, field) in [
        (json!({"format": "corral", "text": "not json"}), "text"),
        (
            json!({"format": "corral", "text": "{\"format\": \"other\"}"}),
            "text.format",
        ),
    ] {
        let reply = import(body).await;
        assert_eq!(reply.status.as_u16(), 400, "{}", reply.body);
        assert_eq!(reply.field_rules()[0].0, field);
    }
}

#[tokio::test]
async fn an_export_carries_the_virtual_models_and_run_together_groups_to_another_corral() {
    let source = TestApp::new().await;
    source.create("coder", "/models/coder.gguf").await;
    source.create("other", "/models/other.gguf").await;
    let virt = json!({"name": "chat", "strategy": "fallback", "targets": ["coder", "other"]});
    assert_eq!(
        source
            .post("/api/virtual/create", virt)
            .await
            .status
            .as_u16(),
        200
    );
    let group =
        json!({"name": "pair", "swap": false, "exclusive": true, "members": ["coder", "other"]});
    assert_eq!(
        source
            .post("/api/groups/create", group)
            .await
            .status
            .as_u16(),
        200
    );
    let exported = source.post("/api/export", json!({})).await.json();
    assert_eq!(
        exported["virtual_models"][0]["targets"],
        json!(["coder", "other"])
    );
    assert_eq!(
        exported["run_groups"][0]["members"],
        json!(["coder", "other"])
    );

    let target = TestApp::new().await;
    let text = exported.to_string();
    let report = target
        .post("/api/import", json!({"format": "corral", "text": text}))
        .await;
    assert_eq!(report.status.as_u16(), 200, "{}", report.body);
    let report = report.json();
    assert_eq!(report["virtual_models"], json!(["chat"]), "{report}");
    assert_eq!(report["run_groups"], json!(["pair"]), "{report}");
    let groups = target.post("/api/groups/list", json!({})).await.json();
    assert_eq!(groups[0]["exclusive"], true);
    assert_eq!(groups[0]["swap"], false);
    let virtuals = target.post("/api/virtual/list", json!({})).await.json();
    assert_eq!(virtuals[0]["strategy"], "fallback");

    // A bad group in the document is named by where it is, and nothing is imported.
    let mut broken = exported.clone();
    broken["run_groups"][0]["swap"] = json!("yes");
    let again = TestApp::new().await;
    let before = again.snapshot().await;
    let refused = again
        .post(
            "/api/import",
            json!({"format": "corral", "text": broken.to_string()}),
        )
        .await;
    assert_eq!(refused.status.as_u16(), 400, "{}", refused.body);
    assert!(
        refused.body.contains("run_groups[0].swap"),
        "{}",
        refused.body
    );
    assert_eq!(again.snapshot().await, before);
}
