//! The model registry API over HTTP: success bodies, error statuses, nothing written on error.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test states what it expects by failing loudly
#![allow(clippy::too_many_lines)] // a test is one scenario, read top to bottom

mod common;

use axum::http::StatusCode;
use common::TestApp;
use serde_json::json;

#[tokio::test]
async fn creating_a_model_returns_it_stopped_with_an_id() {
    let app = TestApp::new().await;
    let model = app
        .create("Qwen 3 8B", "/models/Qwen3-8B-Q4_K_M.gguf")
        .await;
    assert!(model["id"].as_i64().unwrap() > 0);
    assert_eq!(model["name"], "Qwen 3 8B");
    assert_eq!(
        model["kind"], "qwen",
        "the kind is guessed from the file name"
    );
    assert_eq!(model["status"], "stopped");
    assert_eq!(model["size_bytes"], json!(null), "the file does not exist");
}

#[tokio::test]
async fn the_size_of_an_existing_file_is_recorded() {
    let app = TestApp::new().await;
    let file = app.dir.path().join("tiny.gguf");
    std::fs::write(&file, vec![0u8; 4096]).unwrap();
    let model = app.create("tiny", file.to_str().unwrap()).await;
    assert_eq!(model["size_bytes"], 4096);
}

#[tokio::test]
async fn a_created_model_is_found_by_id_by_name_and_in_the_list() {
    let app = TestApp::new().await;
    let created = app.create("alpha", "/m/alpha.gguf").await;
    let by_id = app
        .post("/api/models/get", json!({"id": created["id"]}))
        .await;
    assert_eq!(by_id.json(), created);
    let by_name = app
        .post("/api/models/get_by_name", json!({"name": "ALPHA"}))
        .await;
    assert_eq!(by_name.json(), created, "names are matched without case");
    let list = app.post("/api/models/list", json!({})).await;
    assert_eq!(list.json(), json!([created]));
}

#[tokio::test]
async fn the_list_filters_by_status_kind_and_search() {
    let app = TestApp::new().await;
    app.create("llama small", "/m/llama-3.2-1b.gguf").await;
    app.create("qwen coder", "/m/qwen2.5-coder.gguf").await;
    let names = |reply: common::Reply| -> Vec<String> {
        reply
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["name"].as_str().unwrap().to_string())
            .collect()
    };
    let by_kind = app
        .post("/api/models/list", json!({"filter": {"kind": "qwen"}}))
        .await;
    assert_eq!(names(by_kind), ["qwen coder"]);
    let by_text = app
        .post("/api/models/list", json!({"filter": {"search": "SMALL"}}))
        .await;
    assert_eq!(names(by_text), ["llama small"]);
    let running = app
        .post("/api/models/list", json!({"filter": {"status": "running"}}))
        .await;
    assert!(names(running).is_empty());
}

#[tokio::test]
async fn an_unknown_status_filter_is_a_bad_request() {
    let app = TestApp::new().await;
    let reply = app
        .post("/api/models/list", json!({"filter": {"status": "idle"}}))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["code"], "bad_request");
    assert!(reply.json()["message"].as_str().unwrap().contains("idle"));
}

#[tokio::test]
async fn updating_a_model_changes_only_the_given_fields_and_records_them() {
    let app = TestApp::new().await;
    let created = app.create("beta", "/m/beta.gguf").await;
    let reply = app
        .post(
            "/api/models/update",
            json!({"id": created["id"], "changes": {"ctx_size": 8192, "kind": "mistral"}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let updated = reply.json();
    assert_eq!(updated["ctx_size"], 8192);
    assert_eq!(updated["kind"], "mistral");
    assert_eq!(updated["name"], "beta");
    let history = app
        .post("/api/models/config/history", json!({"id": created["id"]}))
        .await
        .json();
    assert_eq!(history[0]["scope"], "model");
    let fields: Vec<&str> = history[0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["ctx_size", "kind"]);
}

#[tokio::test]
async fn a_null_in_an_update_clears_the_setting() {
    let app = TestApp::new().await;
    let created = app.create("gamma", "/m/gamma.gguf").await;
    let id = created["id"].clone();
    app.post(
        "/api/models/update",
        json!({"id": id, "changes": {"threads": 4}}),
    )
    .await;
    let cleared = app
        .post(
            "/api/models/update",
            json!({"id": id, "changes": {"threads": null}}),
        )
        .await
        .json();
    assert_eq!(cleared["threads"], json!(null));
}

#[tokio::test]
async fn deleting_a_model_removes_it_with_its_settings() {
    let app = TestApp::new().await;
    let created = app.create("doomed", "/m/doomed.gguf").await;
    let before = app.snapshot().await;
    assert!(before.contains("doomed"));
    let reply = app
        .post("/api/models/delete", json!({"id": created["id"]}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let after = app.snapshot().await;
    for table in [
        "config_sampling",
        "config_memory",
        "config_gpu",
        "config_advanced",
        "config_lora",
        "config_multimodal",
    ] {
        assert!(
            after.contains(&format!("{table}: []")),
            "{table} still has rows:\n{after}"
        );
    }
    assert!(after.contains("models: []"));
}

#[tokio::test]
async fn bulk_delete_removes_every_listed_model() {
    let app = TestApp::new().await;
    let a = app.create("a", "/m/a.gguf").await;
    let b = app.create("b", "/m/b.gguf").await;
    let keep = app.create("keep", "/m/keep.gguf").await;
    let reply = app
        .post(
            "/api/models/bulk_delete",
            json!({"ids": [a["id"], b["id"], a["id"]]}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json(), json!([a["id"], b["id"]]));
    assert_eq!(
        app.post("/api/models/list", json!({})).await.json(),
        json!([keep])
    );
}

#[tokio::test]
async fn bulk_delete_with_an_unknown_id_deletes_nothing() {
    let app = TestApp::new().await;
    let a = app.create("a", "/m/a.gguf").await;
    let before = app.snapshot().await;
    let reply = app
        .post("/api/models/bulk_delete", json!({"ids": [a["id"], 999]}))
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn bulk_delete_of_no_ids_is_invalid() {
    let app = TestApp::new().await;
    let reply = app
        .post("/api/models/bulk_delete", json!({"ids": []}))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.field_rules(),
        [("ids".to_string(), "required".to_string())]
    );
}

#[tokio::test]
async fn duplicating_copies_every_setting_under_the_new_name() {
    let app = TestApp::new().await;
    let source = app.create("source", "/m/source.gguf").await;
    let id = source["id"].clone();
    app.post(
        "/api/models/update",
        json!({"id": id, "changes": {"ctx_size": 2048}}),
    )
    .await;
    app.post(
        "/api/models/config/save",
        json!({"id": id, "group": "sampling", "config": {"temperature": 0.2}}),
    )
    .await;
    let reply = app
        .post("/api/models/duplicate", json!({"id": id, "name": "copy"}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let copy = reply.json();
    assert_ne!(copy["id"], id);
    assert_eq!(copy["name"], "copy");
    assert_eq!(copy["ctx_size"], 2048);
    assert_eq!(copy["status"], "stopped");
    let sampling = app
        .post(
            "/api/models/config/load",
            json!({"id": copy["id"], "group": "sampling"}),
        )
        .await
        .json();
    assert_eq!(sampling["config"]["temperature"], 0.2);
}

#[tokio::test]
async fn a_taken_name_is_a_conflict_and_writes_nothing() {
    let app = TestApp::new().await;
    let first = app.create("taken", "/m/a.gguf").await;
    let other = app.create("other", "/m/b.gguf").await;
    let before = app.snapshot().await;

    let create = app
        .post(
            "/api/models/create",
            json!({"model": {"name": "TAKEN", "path": "/m/c.gguf"}}),
        )
        .await;
    assert_eq!(create.status, StatusCode::CONFLICT);
    assert_eq!(create.json()["field"], "name");

    let update = app
        .post(
            "/api/models/update",
            json!({"id": other["id"], "changes": {"name": "taken"}}),
        )
        .await;
    assert_eq!(update.status, StatusCode::CONFLICT);

    let duplicate = app
        .post(
            "/api/models/duplicate",
            json!({"id": first["id"], "name": "other"}),
        )
        .await;
    assert_eq!(duplicate.status, StatusCode::CONFLICT);

    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn an_unknown_id_is_not_found_for_every_call() {
    let app = TestApp::new().await;
    let calls = [
        ("/api/models/get", json!({"id": 42})),
        (
            "/api/models/update",
            json!({"id": 42, "changes": {"ctx_size": 1}}),
        ),
        ("/api/models/delete", json!({"id": 42})),
        ("/api/models/duplicate", json!({"id": 42, "name": "x"})),
        ("/api/models/config/load", json!({"id": 42, "group": "gpu"})),
        (
            "/api/models/config/save",
            json!({"id": 42, "group": "gpu", "config": {}}),
        ),
        ("/api/models/config/history", json!({"id": 42})),
    ];
    for (path, body) in calls {
        let reply = app.post(path, body).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            reply.body
        );
        assert_eq!(reply.json()["code"], "not_found");
    }
    let by_name = app
        .post("/api/models/get_by_name", json!({"name": "ghost"}))
        .await;
    assert_eq!(by_name.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_writers_at_once_all_succeed_by_queueing_for_the_database() {
    let app = std::sync::Arc::new(TestApp::new().await);
    let writers: Vec<_> = (0..16)
        .map(|w| {
            let app = app.clone();
            tokio::spawn(async move {
                for k in 0..10 {
                    let reply = app
                        .post(
                            "/api/models/create",
                            json!({"model": {"name": format!("w{w}-{k}"), "path": "/m/x.gguf"}}),
                        )
                        .await;
                    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
                    let id = reply.json()["id"].clone();
                    let reply = app
                        .post(
                            "/api/models/update",
                            json!({"id": id, "changes": {"ctx_size": 1024 + k}}),
                        )
                        .await;
                    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let list = app.post("/api/models/list", json!({})).await.json();
    assert_eq!(list.as_array().unwrap().len(), 160);
}

#[tokio::test]
async fn the_file_report_reads_the_header_or_says_why_it_cannot() {
    let roots = tempfile::tempdir().unwrap();
    let app = TestApp::with_options(common::Options {
        model_roots: corral::server::models::model_roots::ModelRoots::new(&[roots
            .path()
            .to_path_buf()])
        .unwrap(),
        ..common::Options::default()
    })
    .await;
    let tiny = common::tiny_model(roots.path());
    let made = app.create("tiny", &tiny).await;
    let report = app
        .post("/api/models/file", json!({"id": made["id"]}))
        .await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.body);
    let read = &report.json()["Read"];
    assert_eq!(read["architecture"], "llama");
    assert_eq!(read["parameters"], 147_776);
    assert_eq!(read["layers"], 2);
    assert_eq!(read["head_count_kv"], json!([4]));
    assert_eq!(read["vocabulary_size"], 512);

    // A file registered before it exists, and then one that is not GGUF.
    let later = roots.path().join("later.gguf");
    let made = app.create("later", &later.to_string_lossy()).await;
    let unreadable = || async {
        let report = app
            .post("/api/models/file", json!({"id": made["id"]}))
            .await
            .json();
        report["Unreadable"].as_str().unwrap().to_string()
    };
    let why = unreadable().await;
    assert!(why.contains("no file at this path"), "{why}");
    std::fs::write(&later, b"not a model at all").unwrap();
    let why = unreadable().await;
    assert!(why.contains("not a GGUF file"), "{why}");

    let missing = app.post("/api/models/file", json!({"id": 999})).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_table_summaries_say_what_each_readable_file_is() {
    let app = TestApp::new().await;
    let path = common::tiny_model(app.dir.path());
    let tiny = app.create("tiny", &path).await;
    app.create("gone", "/models/not-there.gguf").await;
    let reply = app.post("/api/models/summaries", json!({})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let list = reply.json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1, "a missing file is left out: {list:?}");
    assert_eq!(list[0]["id"], tiny["id"]);
    assert_eq!(list[0]["context_length"], 512);
    assert!(list[0]["parameters"].as_u64().unwrap() > 0);
}
