//! Virtual models (`/api/virtual/*`): one name served by whichever target a strategy picks,
//! against the pinned llama-server and the tiny model. Which target served is read from the
//! answer's `model` field (llama-server answers with the name Corral gives it) and from the
//! activity record, which names both.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test states what it expects by failing loudly
#![allow(clippy::too_many_lines)] // a test is one scenario, read top to bottom

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::{Reply, TestApp};
use corral::domain::ModelStatus;
use corral::domain::activity::Activity;
use serde_json::{Value, json};

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2})
}

impl TestApp {
    async fn create_virtual(&self, body: Value) -> Reply {
        self.post("/api/virtual/create", body).await
    }

    async fn virtual_list(&self) -> Vec<Value> {
        let reply = self.post("/api/virtual/list", json!({})).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.json().as_array().unwrap().clone()
    }

    /// Which model answered a chat for `name`.
    async fn served_by(&self, name: &str) -> String {
        let reply = self.post("/v1/chat/completions", chat(name)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.json()["model"].as_str().unwrap().to_string()
    }

    /// The newest answered request's record (records are stored in batches: waited for).
    async fn newest_answered(&self) -> Activity {
        let started = tokio::time::Instant::now();
        loop {
            let reply = self
                .post("/api/activity/list", json!({"query": {"limit": 50}}))
                .await;
            let records: Vec<Activity> = serde_json::from_str(&reply.body).unwrap();
            if let Some(record) = records.into_iter().find(|r| r.status == 200) {
                return record;
            }
            assert!(started.elapsed() < Duration::from_secs(5), "no record");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test]
async fn a_virtual_model_is_created_listed_changed_and_deleted_by_its_name() {
    let app = TestApp::new().await;
    app.create("a", "/models/a.gguf").await;
    app.create("b", "/models/b.gguf").await;
    let created = app
        .create_virtual(json!({"name": "chat", "strategy": "fallback", "targets": ["a", "B"]}))
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    assert_eq!(created.json()["strategy"], "fallback");

    let listed = app.virtual_list().await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["name"], "chat");
    assert_eq!(listed[0]["targets"], json!(["a", "B"]));
    assert_eq!(listed[0]["would_use"], "a", "nothing runs: the first");
    assert_eq!(listed[0]["missing"], json!([]));

    let changed = app
        .post(
            "/api/virtual/update",
            json!({"name": "CHAT", "strategy": "spillover", "targets": ["b"], "spillover": 3}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    let listed = app.virtual_list().await;
    assert_eq!(listed[0]["strategy"], "spillover");
    assert_eq!(listed[0]["spillover"], 3);
    assert_eq!(listed[0]["would_use"], "b");

    // A target deleted since is listed as missing, never picked.
    let b = app
        .post("/api/models/get_by_name", json!({"name": "b"}))
        .await
        .json()["id"]
        .as_i64()
        .unwrap();
    let deleted = app.post("/api/models/delete", json!({"id": b})).await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    let listed = app.virtual_list().await;
    assert_eq!(listed[0]["missing"], json!(["b"]));
    assert_eq!(listed[0]["would_use"], Value::Null);

    let gone = app
        .post("/api/virtual/delete", json!({"name": "chat"}))
        .await;
    assert_eq!(gone.status, StatusCode::OK, "{}", gone.body);
    assert!(app.virtual_list().await.is_empty());
    let again = app
        .post("/api/virtual/delete", json!({"name": "chat"}))
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND, "{}", again.body);
}

#[tokio::test]
async fn virtual_models_share_the_models_namespace_and_a_clash_is_409_either_way() {
    let app = TestApp::new().await;
    let a = app.create("a", "/models/a.gguf").await["id"]
        .as_i64()
        .unwrap();
    let saved = app
        .post(
            "/api/models/config/save",
            json!({"id": a, "group": "serving", "config": {"aliases": ["alpha"]}}),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    for (taken, target) in [("A", "alpha"), ("Alpha", "a")] {
        let reply = app
            .create_virtual(json!({"name": taken, "targets": [target]}))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::CONFLICT,
            "{taken}: {}",
            reply.body
        );
    }
    let made = app
        .create_virtual(json!({"name": "chat", "targets": ["alpha"]}))
        .await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    let twice = app
        .create_virtual(json!({"name": "Chat", "targets": ["a"]}))
        .await;
    assert_eq!(twice.status, StatusCode::CONFLICT, "{}", twice.body);

    // The other way round: a model, or an alias, may not take a virtual model's name.
    let model = app
        .post(
            "/api/models/create",
            json!({"model": {"name": "CHAT", "path": "/models/c.gguf"}}),
        )
        .await;
    assert_eq!(model.status, StatusCode::CONFLICT, "{}", model.body);
    let alias = app
        .post(
            "/api/models/config/save",
            json!({"id": a, "group": "serving", "config": {"aliases": ["chat"]}}),
        )
        .await;
    assert_eq!(alias.status, StatusCode::CONFLICT, "{}", alias.body);
    let renamed = app
        .post(
            "/api/models/update",
            json!({"id": a, "changes": {"name": "chat"}}),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::CONFLICT, "{}", renamed.body);
}

#[tokio::test]
async fn a_bad_virtual_model_is_refused_with_each_field_named_and_nothing_stored() {
    let app = TestApp::new().await;
    app.create("a", "/models/a.gguf").await;
    let cases = [
        (json!({"targets": ["a"]}), "name"),
        (
            json!({"name": "v", "strategy": "fastest", "targets": ["a"]}),
            "strategy",
        ),
        (json!({"name": "v", "targets": []}), "targets"),
        (json!({"name": "v", "targets": "a"}), "targets"),
        (json!({"name": "v", "targets": ["nobody"]}), "targets[0]"),
        (json!({"name": "v", "targets": ["a", "A"]}), "targets[1]"),
        (json!({"name": "v", "targets": ["v"]}), "targets[0]"),
        (
            json!({"name": "v", "targets": ["a"], "spillover": 0}),
            "spillover",
        ),
        (
            json!({"name": "v", "targets": ["a"], "spillover": "x"}),
            "spillover",
        ),
        (
            json!({"name": "v", "targets": [{"deep": [[["a"]]]}]}),
            "targets[0]",
        ),
        (
            json!({"name": "x".repeat(100_000), "targets": ["a"]}),
            "name",
        ),
        (json!({"name": "v", "targets": vec!["a"; 1000]}), "targets"),
        (json!({"name": "bad\u{0}name", "targets": ["a"]}), "name"),
    ];
    for (body, field) in cases {
        let reply = app.create_virtual(body.clone()).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            reply.body
        );
        let fields: Vec<String> = reply.field_rules().into_iter().map(|(f, _)| f).collect();
        assert!(
            fields.contains(&field.to_string()),
            "{field} not in {fields:?}"
        );
    }
    // A virtual model cannot name another one.
    let made = app
        .create_virtual(json!({"name": "v", "targets": ["a"]}))
        .await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    let nested = app
        .create_virtual(json!({"name": "w", "targets": ["v"]}))
        .await;
    assert_eq!(nested.status, StatusCode::BAD_REQUEST, "{}", nested.body);
    assert_eq!(app.virtual_list().await.len(), 1);
}

#[tokio::test]
async fn two_creates_of_one_name_at_once_make_one_virtual_model_or_one_model() {
    let app = TestApp::new().await;
    app.create("a", "/models/a.gguf").await;
    for _ in 0..5 {
        let (first, second, model) = tokio::join!(
            app.create_virtual(json!({"name": "same", "targets": ["a"]})),
            app.create_virtual(json!({"name": "SAME", "targets": ["a"]})),
            app.post(
                "/api/models/create",
                json!({"model": {"name": "Same", "path": "/models/s.gguf"}}),
            ),
        );
        let made = [&first, &second, &model]
            .iter()
            .filter(|r| r.status == StatusCode::OK)
            .count();
        assert_eq!(made, 1, "{} {} {}", first.body, second.body, model.body);
        for reply in [&first, &second, &model] {
            assert!(
                reply.status == StatusCode::OK || reply.status == StatusCode::CONFLICT,
                "{}",
                reply.body
            );
        }
        // Clean up whichever won, for the next round.
        if model.status == StatusCode::OK {
            let id = model.json()["id"].as_i64().unwrap();
            app.post("/api/models/delete", json!({"id": id})).await;
        } else {
            app.post("/api/virtual/delete", json!({"name": "same"}))
                .await;
        }
    }
}

#[tokio::test]
async fn warm_picks_the_running_target_and_cold_starts_the_first_when_none_runs() {
    let app = TestApp::with_llama_server().await;
    let a = app.create_tiny("a").await;
    let b = app.create_tiny("b").await;
    let made = app
        .create_virtual(json!({"name": "chat", "strategy": "warm", "targets": ["a", "b"]}))
        .await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);

    app.start_running(b).await;
    assert_eq!(app.served_by("chat").await, "b", "the running target");
    let record = app.newest_answered().await;
    assert_eq!(record.via.as_deref(), Some("chat"));
    assert_eq!(record.model, "b");
    assert_eq!(record.model_id, Some(b));
    let listed = app.virtual_list().await;
    assert_eq!(listed[0]["would_use"], "b");

    let stopped = app.post("/api/models/stop", json!({"id": b})).await;
    assert_eq!(stopped.status, StatusCode::OK, "{}", stopped.body);
    assert_eq!(
        app.served_by("chat").await,
        "a",
        "none runs: the first, started"
    );
    assert_eq!(
        app.registry.get_model(a).await.unwrap().status,
        ModelStatus::Running
    );
    app.supervisor.shutdown().await;
}

#[tokio::test]
async fn pin_always_uses_the_first_target_even_when_another_runs() {
    let app = TestApp::with_llama_server().await;
    app.create_tiny("a").await;
    let b = app.create_tiny("b").await;
    app.create_virtual(json!({"name": "pinned", "strategy": "pin", "targets": ["a", "b"]}))
        .await;
    app.start_running(b).await;
    assert_eq!(app.served_by("pinned").await, "a");
    app.supervisor.shutdown().await;
}

#[tokio::test]
async fn spillover_of_one_sends_the_next_request_to_the_second_target() {
    let app = TestApp::with_llama_server().await;
    let a = app.create_tiny("a").await;
    let b = app.create_tiny("b").await;
    app.create_virtual(
        json!({"name": "pool", "strategy": "spillover", "targets": ["a", "b"],
                              "spillover": 1}),
    )
    .await;
    app.start_running(a).await;
    app.start_running(b).await;
    assert_eq!(app.served_by("pool").await, "a", "a holds nothing: a");
    // A request held on `a` (queued there, as a long answer would be): the next goes to `b`.
    let held = app.on_demand.queue(a, 8).unwrap();
    assert_eq!(app.served_by("pool").await, "b");
    drop(held);
    assert_eq!(app.served_by("pool").await, "a");

    // Two at once, each fills its own target.
    let (first, second) = tokio::join!(app.served_by("pool"), app.served_by("pool"));
    let mut both = [first, second];
    both.sort();
    assert!(
        both == ["a", "b"] || both == ["a", "a"],
        "the second goes to b while the first holds a (or after it ended): {both:?}"
    );
    app.supervisor.shutdown().await;
}

#[tokio::test]
async fn fallback_serves_from_the_second_target_when_the_first_cannot_start() {
    let app = TestApp::with_llama_server().await;
    app.create("ghost", "/nowhere/ghost.gguf").await;
    app.create_tiny("tiny").await;
    app.create_virtual(json!({"name": "safe", "strategy": "fallback",
                              "targets": ["ghost", "tiny"]}))
        .await;
    assert_eq!(app.served_by("safe").await, "tiny");
    let record = app.newest_answered().await;
    assert_eq!(record.via.as_deref(), Some("safe"));
    assert_eq!(record.model, "tiny");

    // Without a fallback the failure is the answer.
    app.create_virtual(json!({"name": "fragile", "strategy": "pin", "targets": ["ghost"]}))
        .await;
    let reply = app.post("/v1/chat/completions", chat("fragile")).await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.body
    );
    app.supervisor.shutdown().await;
}

#[tokio::test]
async fn virtual_models_are_listed_for_clients_with_the_status_of_what_they_would_use() {
    let app = TestApp::with_llama_server().await;
    let a = app.create_tiny("a").await;
    app.create_virtual(json!({"name": "chat", "targets": ["a"]}))
        .await;
    let listed = |body: Value| {
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == "chat")
            .cloned()
            .unwrap()
    };
    let entry = listed(app.get("/v1/models").await.json());
    assert_eq!(entry["status"]["value"], "unloaded");
    assert_eq!(entry["virtual"]["strategy"], "warm");
    assert_eq!(entry["virtual"]["would_use"], "a");
    app.start_running(a).await;
    let entry = listed(app.get("/models").await.json());
    assert_eq!(entry["status"]["value"], "loaded");

    // The router API loads and unloads what a virtual model would use.
    let unloaded = app.post("/models/unload", json!({"model": "chat"})).await;
    assert_eq!(unloaded.status, StatusCode::OK, "{}", unloaded.body);
    assert_eq!(
        app.registry.get_model(a).await.unwrap().status,
        ModelStatus::Stopped
    );
    app.supervisor.shutdown().await;
}

#[tokio::test]
async fn a_request_naming_no_model_goes_to_the_default_model_once_one_is_set() {
    let app = TestApp::with_llama_server().await;
    app.create_tiny("tiny").await;
    let body = json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2});
    let refused = app.post("/v1/chat/completions", body.clone()).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert_eq!(refused.json()["error"]["code"], "model_missing");

    app.create_virtual(json!({"name": "chat", "targets": ["tiny"]}))
        .await;
    let saved = app
        .post(
            "/api/settings/save",
            json!({"settings": {"default_model": "chat"}}),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let reply = app.post("/v1/chat/completions", body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json()["model"], "tiny");
    let record = app.newest_answered().await;
    assert_eq!(record.via.as_deref(), Some("chat"));
    app.supervisor.shutdown().await;
}

#[tokio::test]
async fn an_import_never_gives_a_model_a_virtual_models_name() {
    let app = TestApp::new().await;
    app.create("a", "/models/a.gguf").await;
    app.create_virtual(json!({"name": "chat", "targets": ["a"]}))
        .await;
    let text = "models:\n  chat:\n    cmd: llama-server -m /models/chat.gguf\n";
    let import = |on_conflict: &str| {
        app.post(
            "/api/import",
            json!({"format": "llama-swap", "text": text, "on_conflict": on_conflict}),
        )
    };
    let skipped = import("skip").await;
    assert_eq!(skipped.status, StatusCode::OK, "{}", skipped.body);
    assert_eq!(skipped.json()["skipped"], json!(["chat"]));
    let replaced = import("replace").await;
    assert_eq!(replaced.status, StatusCode::CONFLICT, "{}", replaced.body);
    let renamed = import("rename").await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(renamed.json()["created"], json!(["chat-2"]));
    assert_eq!(app.virtual_list().await[0]["name"], "chat");
}

#[tokio::test]
async fn v1_models_says_what_each_model_can_do_from_its_files_and_settings() {
    use corral::server::gguf::writer::{TensorInfo, Value as Gguf, write_header_only};
    let app = TestApp::new().await;
    let dir = app.dir.path();
    let chat_file = dir.join("qwen-like.gguf");
    let template = "{% if tools %}{{ tools }}{% endif %}{% for m in messages %}<think>{{ m.content }}\
                    {% endfor %}";
    write_header_only(
        &chat_file,
        &[
            ("general.architecture".into(), Gguf::Str("qwen3".into())),
            ("tokenizer.chat_template".into(), Gguf::Str(template.into())),
        ],
        &[TensorInfo::new("w", &[4, 4], 1)],
    )
    .unwrap();
    let projector = dir.join("mmproj.gguf");
    write_header_only(
        &projector,
        &[
            ("general.architecture".into(), Gguf::Str("clip".into())),
            ("clip.has_audio_encoder".into(), Gguf::Bool(true)),
        ],
        &[TensorInfo::new("a.w", &[4, 4], 1)],
    )
    .unwrap();
    let seeing = app.create("seeing", &chat_file.to_string_lossy()).await["id"]
        .as_i64()
        .unwrap();
    let embedder = app.create("embedder", &chat_file.to_string_lossy()).await["id"]
        .as_i64()
        .unwrap();
    for (id, group, config) in [
        (
            seeing,
            "multimodal",
            json!({"mmproj": projector.to_string_lossy()}),
        ),
        (
            seeing,
            "serving",
            json!({"metadata": {"family": "qwen", "license": "apache-2.0"}}),
        ),
        (embedder, "serving", json!({"role": "embeddings"})),
    ] {
        let saved = app
            .post(
                "/api/models/config/save",
                json!({"id": id, "group": group, "config": config}),
            )
            .await;
        assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    }
    let listed = app.get("/v1/models").await.json();
    let entry = |name: &str| {
        listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        entry("seeing")["capabilities"],
        json!(["chat", "audio", "tools", "reasoning"])
    );
    assert_eq!(entry("seeing")["metadata"]["family"], "qwen");
    assert_eq!(entry("embedder")["capabilities"], json!(["embeddings"]));

    // The models table reads the same.
    let summaries = app.post("/api/models/summaries", json!({})).await.json();
    let seeing_summary = summaries
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == seeing)
        .cloned()
        .unwrap();
    assert_eq!(
        seeing_summary["capabilities"],
        json!(["chat", "audio", "tools", "reasoning"])
    );
}
