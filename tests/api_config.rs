//! The six config groups over HTTP: defaults, save → load, history, validation.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test states what it expects by failing loudly
#![allow(clippy::too_many_lines)] // a test is one scenario, read top to bottom

mod common;

use axum::http::StatusCode;
use common::TestApp;
use serde_json::json;

const GROUPS: [&str; 6] = [
    "sampling",
    "memory",
    "gpu",
    "advanced",
    "lora",
    "multimodal",
];

#[tokio::test]
async fn a_new_model_has_every_group_at_its_defaults() {
    let app = TestApp::new().await;
    let id = app.create("m", "/m/m.gguf").await["id"].clone();
    for group in GROUPS {
        let reply = app
            .post("/api/models/config/load", json!({"id": id, "group": group}))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{group}: {}", reply.body);
        let body = reply.json();
        assert_eq!(body["group"], group);
        let config = body["config"].as_object().unwrap();
        assert!(
            config
                .values()
                .all(|v| v.is_null() || v == &json!([]) || v == &json!({})),
            "{group} is not all defaults: {body}"
        );
    }
}

#[tokio::test]
async fn a_saved_group_loads_back_unchanged() {
    let app = TestApp::new().await;
    let id = app.create("m", "/m/m.gguf").await["id"].clone();
    let saves = [
        (
            "sampling",
            json!({"temperature": 0.6, "top_k": 20, "mirostat": "v2", "dry_sequence_breakers": ["\\n", "###"]}),
        ),
        (
            "memory",
            json!({"load_mode": "mmap+mlock", "cache_type_k": "q8_0", "cache_ram_mib": 0}),
        ),
        (
            "gpu",
            json!({"gpu_layers": "all", "devices": ["CUDA0", "CUDA1"], "tensor_split": "3,1", "kv_offload": false}),
        ),
        (
            "advanced",
            json!({"flash_attn": "on", "extra_args": ["--tags", "my model"], "reasoning_budget": 0}),
        ),
        (
            "lora",
            json!({"lora": [{"path": "/a/l.gguf", "scale": 0.5}], "draft_model": "/m/draft.gguf", "draft_max": 8}),
        ),
        (
            "multimodal",
            json!({"mmproj": "auto", "image_max_tokens": 1024}),
        ),
    ];
    for (group, config) in saves {
        let saved = app
            .post(
                "/api/models/config/save",
                json!({"id": id, "group": group, "config": config}),
            )
            .await;
        assert_eq!(saved.status, StatusCode::OK, "{group}: {}", saved.body);
        let loaded = app
            .post("/api/models/config/load", json!({"id": id, "group": group}))
            .await
            .json();
        assert_eq!(loaded, saved.json(), "{group}");
        for (key, value) in config.as_object().unwrap() {
            assert_eq!(&loaded["config"][key], value, "{group}.{key}");
        }
    }
}

#[tokio::test]
async fn saving_a_group_records_each_changed_field_in_the_history() {
    let app = TestApp::new().await;
    let id = app.create("m", "/m/m.gguf").await["id"].clone();
    let save = |config| {
        app.post(
            "/api/models/config/save",
            json!({"id": id, "group": "sampling", "config": config}),
        )
    };
    save(json!({"temperature": 0.5})).await;
    save(json!({"temperature": 0.7, "seed": 1})).await;
    save(json!({"temperature": 0.7, "seed": 1})).await; // no change: no entry
    let history = app
        .post("/api/models/config/history", json!({"id": id}))
        .await
        .json();
    let entries = history.as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["scope"], "sampling");
    assert_eq!(
        entries[0]["changes"],
        json!([{"field": "seed", "before": null, "after": 1}, {"field": "temperature", "before": 0.5, "after": 0.7}])
    );
}

#[tokio::test]
async fn an_invalid_group_value_names_the_field_and_rule_and_writes_nothing() {
    let app = TestApp::new().await;
    let id = app.create("m", "/m/m.gguf").await["id"].clone();
    let before = app.snapshot().await;
    let cases = [
        (
            "sampling",
            json!({"temperature": 99}),
            "temperature",
            "range",
        ),
        ("sampling", json!({"top_k": "many"}), "top_k", "type"),
        (
            "memory",
            json!({"load_mode": "mlock-all"}),
            "load_mode",
            "one_of",
        ),
        ("gpu", json!({"gpu_layers": "most"}), "gpu_layers", "type"),
        (
            "advanced",
            json!({"extra_args": ["ok", ""]}),
            "extra_args[1]",
            "required",
        ),
        (
            "lora",
            json!({"lora": [{"path": "adapters/x.gguf"}]}),
            "lora[0].path",
            "absolute_path",
        ),
        (
            "multimodal",
            json!({"mmproj": "proj.gguf"}),
            "mmproj",
            "absolute_path",
        ),
        (
            "advanced",
            json!({"flash_attention": "on"}),
            "flash_attention",
            "unknown_field",
        ),
        // Found by the config_group fuzzer: a group that is not an object named no field.
        ("sampling", json!(7), "config", "type"),
        ("lora", json!(["not", "an", "object"]), "config", "type"),
    ];
    for (group, config, field, rule) in cases {
        let reply = app
            .post(
                "/api/models/config/save",
                json!({"id": id, "group": group, "config": config}),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{group} {config}: {}",
            reply.body
        );
        assert_eq!(
            reply.field_rules(),
            [(field.to_string(), rule.to_string())],
            "{group} {config}"
        );
    }
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn an_unknown_group_is_a_bad_request() {
    let app = TestApp::new().await;
    let id = app.create("m", "/m/m.gguf").await["id"].clone();
    let reply = app
        .post(
            "/api/models/config/load",
            json!({"id": id, "group": "network"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["code"], "bad_request");
}

#[tokio::test]
async fn every_spelling_of_every_refused_flag_is_refused_at_save_by_name_and_nothing_changes() {
    use corral::domain::config::extra_args::REFUSED;
    let app = TestApp::new().await;
    let id = app.create("m", "/m/m.gguf").await["id"].clone();
    let before = app.snapshot().await;
    let mut spellings: Vec<String> = Vec::new();
    for (flags, _) in REFUSED {
        for flag in *flags {
            spellings.push(flag.to_string());
            // llama-server reads `--log_file` as `--log-file`, and `--x=v` must not slip by.
            if flag.starts_with("--") && flag[2..].contains('-') {
                spellings.push(flag.replace('-', "_").replacen("__", "--", 1));
            }
            spellings.push(format!("{flag}=/tmp/x"));
        }
    }
    for spelling in &spellings {
        let reply = app
            .post(
                "/api/models/config/save",
                json!({"id": id, "group": "advanced", "config": {"extra_args": ["--no-warmup", spelling, "x"]}}),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{spelling}: {}",
            reply.body
        );
        let body = reply.json();
        assert_eq!(
            body["errors"][0]["field"], "extra_args[1]",
            "{spelling}: {body}"
        );
        assert_eq!(
            body["errors"][0]["rule"], "not_allowed",
            "{spelling}: {body}"
        );
        let flag = spelling.split('=').next().unwrap();
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains(flag),
            "{spelling}: {body}"
        );
    }
    assert!(spellings.len() > 150, "{} spellings", spellings.len());
    assert_eq!(app.snapshot().await, before, "nothing was saved");
}

#[tokio::test]
async fn a_list_ending_in_a_flag_that_needs_a_value_is_refused() {
    let app = TestApp::new().await;
    let id = app.create("m", "/m/m.gguf").await["id"].clone();
    let reply = app
        .post(
            "/api/models/config/save",
            json!({"id": id, "group": "advanced", "config": {"extra_args": ["--threads", "2", "--tags"]}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert_eq!(
        reply.field_rules(),
        [("extra_args[2]".to_string(), "required".to_string())]
    );
}
