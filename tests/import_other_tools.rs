//! Importing another tool's setup: a llama-swap `config.yaml` (macros, aliases, ttl, unlisted,
//! flags mapped to typed settings) and a llama.cpp `--models-preset` INI, each reporting what it
//! could not map; both survive an export and re-import unchanged.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test states what it expects by failing loudly
#![allow(clippy::too_many_lines)] // a test is one scenario, read top to bottom

mod common;

use common::TestApp;
use serde_json::{Value, json};

const LLAMA_SWAP: &str = r#"
healthCheckTimeout: 120
macros:
  server: /opt/llama.cpp/build/bin/llama-server --port ${PORT}
  ctx: 8192
models:
  coder:
    cmd: |
      ${server}
      # the weights
      -m /models/coder.gguf -c ${ctx} -ngl 99 --temp 0.2 \
      --mlock-please --log-file /tmp/x.log --no-warmup -fa on --mlock
    aliases: [gpt-4o, coder-latest]
    ttl: 300
    unlisted: true
    env: ["CUDA_VISIBLE_DEVICES=0", "LLAMA_ARG_THREADS=4", "LD_PRELOAD=/tmp/x.so", "GGML_BACKEND_PATH=/tmp/x.so", "GGML_CUDA_NO_PINNED=1\n2"]
  embedder:
    macros:
      ctx: 512
    cmd: ${server} --model /models/embed.gguf --embeddings -c ${ctx} -np 2
    concurrencyLimit: 4
  remote:
    cmd: ${server} -hf ggml-org/some-model
  vllm:
    cmd: docker run --rm vllm/vllm-openai
"#;

const PRESET: &str = "version = 1\n\
[*]\n\
c = 4096\n\
n-gpu-layers = 8\n\
\n\
[chat-model]\n\
model = /models/chat.gguf\n\
jinja = true\n\
kv-offload = false\n\
LLAMA_ARG_CACHE_RAM = 0\n\
temp = 0.6\n\
no-mmap = true\n\
load-on-startup = true\n\
\n\
[downloaded]\n\
hf-repo = ggml-org/some-model\n";

async fn import(app: &TestApp, body: Value) -> Value {
    let reply = app.post("/api/import", body).await;
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.body);
    reply.json()
}

async fn group(app: &TestApp, name: &str, group: &str) -> Value {
    let model = app
        .post("/api/models/get_by_name", json!({"name": name}))
        .await
        .json();
    app.post(
        "/api/models/config/load",
        json!({"id": model["id"], "group": group}),
    )
    .await
    .json()["config"]
        .clone()
}

fn mentions(not_mapped: &Value, words: &[&str]) -> bool {
    not_mapped
        .as_array()
        .unwrap()
        .iter()
        .any(|line| words.iter().all(|w| line.as_str().unwrap().contains(w)))
}

/// Exports, imports the export over itself (replace), exports again: the models must not move.
async fn reimport_changes_nothing(app: &TestApp) {
    let first = app.post("/api/export", json!({})).await.json();
    let text = first.to_string();
    let again = import(
        app,
        json!({"format": "corral", "text": text, "on_conflict": "replace"}),
    )
    .await;
    assert_eq!(again["created"], json!([]));
    let second = app.post("/api/export", json!({})).await.json();
    assert_eq!(second["models"], first["models"]);
}

#[tokio::test]
async fn a_llama_swap_config_imports_its_models_with_macros_aliases_ttl_and_names_what_it_cannot_map()
 {
    let app = TestApp::new().await;
    let report = import(&app, json!({"format": "llama-swap", "text": LLAMA_SWAP})).await;
    assert_eq!(report["created"], json!(["coder", "embedder"]));
    let not_mapped = &report["not_mapped"];
    for words in [
        &["healthCheckTimeout"][..],
        &[
            "models.coder.cmd",
            "--mlock-please",
            "not a llama-server flag",
        ],
        &["models.coder.cmd", "--log-file", "write files"],
        &[
            "models.coder.env.LLAMA_ARG_THREADS",
            "set the setting itself",
        ],
        &["models.coder.env.LD_PRELOAD", "only CUDA_VISIBLE_DEVICES"],
        &["models.coder.env.GGML_BACKEND_PATH", "names a file"],
        &["models.coder.env.GGML_CUDA_NO_PINNED", "not one line"],
        &["models.remote.cmd", "-hf", "downloads"],
        &["models.remote", "no model file"],
        &["models.vllm", "docker", "not llama-server"],
    ] {
        assert!(mentions(not_mapped, words), "{words:?} in {not_mapped}");
    }
    assert!(
        !mentions(not_mapped, &["--port"]),
        "Corral's own port is not a loss: {not_mapped}"
    );

    let coder = app
        .post("/api/models/get_by_name", json!({"name": "coder"}))
        .await
        .json();
    assert_eq!(
        (coder["path"].clone(), coder["ctx_size"].clone()),
        (json!("/models/coder.gguf"), json!(8192))
    );
    let gpu = group(&app, "coder", "gpu").await;
    assert_eq!(gpu["gpu_layers"], 99);
    assert_eq!(
        gpu["env"],
        json!({"CUDA_VISIBLE_DEVICES": "0"}),
        "env: the allowed ones"
    );
    assert_eq!(group(&app, "coder", "sampling").await["temperature"], 0.2);
    assert_eq!(
        group(&app, "coder", "memory").await["load_mode"],
        "mmap+mlock",
        "an older build's --mlock"
    );
    let advanced = group(&app, "coder", "advanced").await;
    assert_eq!(advanced["flash_attn"], "on");
    assert_eq!(advanced["extra_args"], json!(["--no-warmup"]));
    let serving = group(&app, "coder", "serving").await;
    assert_eq!(serving["aliases"], json!(["gpt-4o", "coder-latest"]));
    assert_eq!(serving["idle_ttl_seconds"], 300);
    assert_eq!(serving["unlisted"], true);

    let embedder = app
        .post("/api/models/get_by_name", json!({"name": "embedder"}))
        .await
        .json();
    assert_eq!(embedder["ctx_size"], 512, "the model's own macro wins");
    assert_eq!(embedder["parallel"], 2);
    let serving = group(&app, "embedder", "serving").await;
    assert_eq!(serving["role"], "embeddings");
    assert_eq!(serving["max_requests"], 4);

    // Unlisted: out of the client's list, still found by name.
    let listed = app.get("/v1/models").await.json();
    let ids: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["embedder"]);

    reimport_changes_nothing(&app).await;

    // The same config again as a dry run that would replace: answered, nothing written.
    let before = app.snapshot().await;
    let dry = import(
        &app,
        json!({"format": "llama-swap", "text": LLAMA_SWAP, "dry_run": true, "on_conflict": "replace"}),
    )
    .await;
    assert_eq!(dry["changed"], json!(["coder", "embedder"]));
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn a_llama_cpp_preset_imports_each_section_over_the_defaults_and_names_what_it_cannot_map() {
    let app = TestApp::new().await;
    let report = import(&app, json!({"format": "llama-preset", "text": PRESET})).await;
    assert_eq!(report["created"], json!(["chat-model"]));
    let not_mapped = &report["not_mapped"];
    for words in [
        &["[chat-model]", "load-on-startup"][..],
        &["[downloaded]", "--hf-repo", "downloads"],
        &["[downloaded]", "no model file"],
    ] {
        assert!(mentions(not_mapped, words), "{words:?} in {not_mapped}");
    }
    let chat = app
        .post("/api/models/get_by_name", json!({"name": "chat-model"}))
        .await
        .json();
    assert_eq!(chat["ctx_size"], 4096, "from [*]");
    let gpu = group(&app, "chat-model", "gpu").await;
    assert_eq!(
        (gpu["gpu_layers"].clone(), gpu["kv_offload"].clone()),
        (json!(8), json!(false))
    );
    let memory = group(&app, "chat-model", "memory").await;
    assert_eq!(
        (memory["cache_ram_mib"].clone(), memory["load_mode"].clone()),
        (json!(0), json!("none"))
    );
    assert_eq!(
        group(&app, "chat-model", "sampling").await["temperature"],
        0.6
    );
    assert_eq!(
        group(&app, "chat-model", "advanced").await["extra_args"],
        json!(["--jinja"])
    );
    reimport_changes_nothing(&app).await;
}

#[tokio::test]
async fn broken_configs_are_refused_by_where_they_break_and_change_nothing() {
    let app = TestApp::new().await;
    let before = app.snapshot().await;
    for (format, text, field) in [
        ("llama-swap", "- a list", "text"),
        ("llama-swap", "models: [", "text"),
        ("llama-swap", "macros: {}\n", "text.models"),
        (
            "llama-swap",
            "models:\n  a:\n    cmd: llama-server -m /m/a.gguf -c ${nope}\n",
            "models.a.cmd",
        ),
        (
            "llama-swap",
            "models:\n  a:\n    cmd: \"llama-server -m '/m/a.gguf\"\n",
            "models.a.cmd",
        ),
        ("llama-swap", "models:\n  a:\n    ttl: 5\n", "models.a.cmd"),
        ("llama-preset", "[a\nmodel = /m/a.gguf", "text"),
    ] {
        let reply = app
            .post("/api/import", json!({"format": format, "text": text}))
            .await;
        assert_eq!(reply.status.as_u16(), 400, "{text}: {}", reply.body);
        assert_eq!(reply.field_rules()[0].0, field, "{text}: {}", reply.body);
    }
    // A file path relative to wherever llama-swap ran is named and left out, not refused whole.
    let relative = import(
        &app,
        json!({"format": "llama-swap",
               "text": "models:\n  a:\n    cmd: llama-server -m relative.gguf\n"}),
    )
    .await;
    assert_eq!(relative["created"], json!([]));
    assert!(
        mentions(&relative["not_mapped"], &["models.a", "relative path"]),
        "{relative}"
    );
    // So is a model whose ${env.NAME} has no value; the others import.
    let env = "models:\n  a:\n    cmd: llama-server -m ${env.MODELS}/a.gguf\n  \
               b:\n    cmd: llama-server -m /m/b.gguf\n";
    let partly = import(
        &app,
        json!({"format": "llama-swap", "text": env, "dry_run": true}),
    )
    .await;
    assert_eq!(partly["created"], json!(["b"]), "{partly}");
    assert!(
        mentions(&partly["not_mapped"], &["models.a", "${env.MODELS}"]),
        "{partly}"
    );
    let given = import(
        &app,
        json!({"format": "llama-swap", "text": env, "dry_run": true, "env": {"MODELS": "/m"}}),
    )
    .await;
    assert_eq!(given["created"], json!(["a", "b"]), "{given}");
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn an_import_that_replaces_a_model_leaves_each_change_in_its_history() {
    let app = TestApp::new().await;
    let made = app
        .post(
            "/api/models/create",
            json!({"model": {"name": "keepme", "path": "/m/tiny.gguf", "ctx_size": 8192}}),
        )
        .await
        .json();
    let id = made["id"].clone();
    let saved = app
        .post(
            "/api/models/config/save",
            json!({"id": id, "group": "sampling", "config": {"temperature": 0.3, "top_k": 7}}),
        )
        .await;
    assert_eq!(saved.status.as_u16(), 200, "{}", saved.body);
    let history = || {
        let id = id.clone();
        let app = &app;
        async move {
            app.post("/api/models/config/history", json!({"id": id}))
                .await
                .json()
        }
    };
    let before = history().await.as_array().unwrap().len();
    let text = "models:\n  keepme:\n    cmd: llama-server -m /m/large.gguf --port ${PORT}\n";
    let report = import(
        &app,
        json!({"format": "llama-swap", "on_conflict": "replace", "text": text}),
    )
    .await;
    assert_eq!(report["changed"], json!(["keepme"]));
    let after = history().await;
    let entries = after.as_array().unwrap();
    assert!(entries.len() > before, "{after}");
    let text = after.to_string();
    for (what, old) in [
        ("path", "/m/tiny.gguf"),
        ("ctx_size", "8192"),
        ("temperature", "0.3"),
    ] {
        assert!(
            text.contains(what) && text.contains(old),
            "the trail keeps the old {what}: {after}"
        );
    }
}

#[tokio::test]
async fn llama_swaps_own_example_config_imports_with_what_each_key_became_named() {
    let app = TestApp::new().await;
    let example = include_str!("fixtures/llama-swap-config.example.yaml");
    // As published: not refused whole (its ${env.HOME} is the home of the user Corral runs as,
    // its one llama-server model has a relative path and is named, the rest is named).
    let report = import(
        &app,
        json!({"format": "llama-swap", "text": example, "dry_run": true}),
    )
    .await;
    for words in [
        &["models.gpt-oss-120b", "relative path"][..],
        &["selectors.coding-model", "no target left"],
        &["selectors.llama", "'docker-llama' is not a model here"],
        &["groups.group1", "'llama' is not a model here"],
        &["groups.forever", "no member left"],
        &["routing.router.settings.matrix", "no equal"],
        &["models.docker-llama", "not llama-server"],
        &["models.gpt-oss-120b.capabilities", "files and settings"],
        &["sendLoadingState", "--loading-state"],
    ] {
        assert!(
            mentions(&report["not_mapped"], words),
            "{words:?} in {report}"
        );
    }

    // The same config as someone would use it: the file's whole path, the model preloaded and
    // with a scheduler priority. Every key of point 7 lands in a setting.
    let text = example
        .replace("path/to/gpt-oss-120B.gguf", "/models/gpt-oss-120B.gguf")
        .replacen("A: 10", "gpt-oss-120b: 10", 1)
        .replacen("      - \"llama\"\n", "      - \"gpt-oss-120b\"\n", 1)
        .replacen(
            "            - \"llama\"\n",
            "            - \"gpt-oss-120b\"\n",
            1,
        );
    let report = import(&app, json!({"format": "llama-swap", "text": text})).await;
    assert_eq!(report["created"], json!(["gpt-oss-120b"]), "{report}");
    let serving = group(&app, "gpt-oss-120b", "serving").await;
    assert_eq!(
        serving["filters"],
        json!({"strip": ["temperature", "top_p", "top_k"],
               "set": {"temperature": 0.7, "top_p": 0.9}})
    );
    assert_eq!(
        serving["variants"]["high"],
        json!({"chat_template_kwargs": {"reasoning_effort": "high"}})
    );
    assert!(serving["variants"]["low"].is_object(), "{serving}");
    assert_eq!(serving["loading_state"], "off", "sendLoadingState: false");
    assert_eq!(
        serving["metadata"]["temperature"], "0.7",
        "macros expand: {serving}"
    );
    assert!(
        serving["metadata"]["note"]
            .as_str()
            .unwrap()
            .starts_with("The gpt-oss-120b is running"),
        "{serving}"
    );
    assert_eq!(serving["aliases"], json!(["gpt-4o-mini"]));
    let gpu = group(&app, "gpt-oss-120b", "gpu").await;
    assert_eq!(
        gpu["env"],
        json!({"CUDA_VISIBLE_DEVICES": "0,1,2"}),
        "env: {gpu}"
    );
    assert_eq!(serving["idle_ttl_seconds"], 60);
    assert_eq!(serving["preload"], true, "hooks.on_startup.preload");
    assert_eq!(serving["priority"], 10, "the scheduler's priority");
    // Selectors are virtual models, with the targets that are models here.
    assert_eq!(
        report["virtual_models"],
        json!(["coding-model", "llm-plan"]),
        "{report}"
    );
    let listed = app.post("/api/virtual/list", json!({})).await.json();
    let coding = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "coding-model")
        .cloned()
        .unwrap();
    assert_eq!(coding["strategy"], "warm");
    assert_eq!(coding["targets"], json!(["gpt-oss-120b"]));
    assert!(mentions(
        &report["not_mapped"],
        &["selectors.llama", "no target left"]
    ));
    // The group engine's groups are run-together groups, with llama-swap's flags.
    assert_eq!(report["run_groups"], json!(["group1"]), "{report}");
    let groups = app.post("/api/groups/list", json!({})).await.json();
    assert_eq!(
        groups,
        json!([{"name": "group1", "swap": true, "exclusive": true, "persistent": false,
                "members": ["gpt-oss-120b"]}])
    );
}
