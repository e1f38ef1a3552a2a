//! The model folders: files found at start-up and as they come and go (watched), with their
//! metadata, the model that names them, split parts as one, projectors paired.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test states what it expects by failing loudly
#![allow(clippy::too_many_lines)] // a test is one scenario, read top to bottom

mod common;

use std::time::{Duration, Instant};

use common::TestApp;
use corral::server::gguf::test_model::TestModel;
use corral::server::gguf::writer::{TensorInfo, Value, write_header_only};
use serde_json::{Value as Json, json};

async fn listed(app: &TestApp) -> Json {
    let reply = app.post("/api/discovery/list", json!({})).await;
    assert_eq!(reply.status, axum::http::StatusCode::OK, "{}", reply.body);
    reply.json()
}

/// Waits (2 s at most) until the listing satisfies `wanted`.
async fn until(app: &TestApp, what: &str, wanted: impl Fn(&Json) -> bool) -> Json {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let now = listed(app).await;
        if wanted(&now) {
            return now;
        }
        assert!(Instant::now() < deadline, "{what} within 2 s: {now}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn paths(listing: &Json) -> Vec<String> {
    listing["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn files_in_the_model_folders_are_found_as_they_come_and_go() {
    let folder = tempfile::tempdir().unwrap();
    let folder_path = folder.path().canonicalize().unwrap();
    let nested = folder_path.join("org/model");
    std::fs::create_dir_all(&nested).unwrap();
    let first = nested.join("tiny.gguf");
    TestModel::TINY.write(&first).unwrap();
    std::fs::write(folder_path.join("notes.txt"), "not a model").unwrap();
    let app = TestApp::with_options(common::Options {
        models_dirs: vec![folder_path.clone()],
        ..common::Options::default()
    })
    .await;
    let first_text = first.to_string_lossy().into_owned();
    let found = until(&app, "the file there at start-up", |l| {
        paths(l) == [first_text.clone()]
    })
    .await;
    assert_eq!(found["folders"], json!([folder_path.to_string_lossy()]));
    let file = &found["files"][0];
    assert_eq!(file["file"]["Read"]["architecture"], "llama");
    assert_eq!(file["registered_as"], Json::Null);

    // Registered: the listing names the model.
    let made = app.create("tiny", &first_text).await;
    let now = listed(&app).await;
    assert_eq!(now["files"][0]["registered_as"], made["id"]);

    // Copied in: found. A projector beside a model is paired with it; a split model is one.
    let copy = folder_path.join("copy.gguf");
    std::fs::copy(&first, &copy).unwrap();
    let projector = nested.join("mmproj-tiny.gguf");
    write_header_only(
        &projector,
        &[
            ("general.architecture".into(), Value::Str("clip".into())),
            ("clip.has_vision_encoder".into(), Value::Bool(true)),
        ],
        &[TensorInfo::new("v.w", &[4, 4], 1)],
    )
    .unwrap();
    for part in 1..=2u32 {
        write_header_only(
            &folder_path.join(format!("big-{part:05}-of-00002.gguf")),
            &[
                ("general.architecture".into(), Value::Str("qwen3".into())),
                ("split.no".into(), Value::U32(part - 1)),
                ("split.count".into(), Value::U32(2)),
            ],
            &[TensorInfo::new("t", &[10], 0)],
        )
        .unwrap();
    }
    let copy_text = copy.to_string_lossy().into_owned();
    let now = until(&app, "the copies", |l| paths(l).len() == 4).await;
    let by_path = |path: &str| {
        now["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"] == path)
            .cloned()
            .unwrap_or_else(|| panic!("{path} not listed: {now}"))
    };
    let big = by_path(
        &folder_path
            .join("big-00001-of-00002.gguf")
            .to_string_lossy(),
    );
    assert_eq!(big["file"]["Read"]["parameters"], 20, "both parts counted");
    assert_eq!(
        by_path(&first_text)["projector"],
        json!(projector.to_string_lossy())
    );
    assert_eq!(
        by_path(&copy_text)["projector"],
        Json::Null,
        "another folder"
    );

    // Removed: gone.
    std::fs::remove_file(&copy).unwrap();
    until(&app, "the removal", |l| !paths(l).contains(&copy_text)).await;

    // A registered model's file removed: the model says its file is missing, live; back: its
    // size again.
    let id = made["id"].as_i64().unwrap();
    let aside = folder_path.join("aside.bin");
    std::fs::rename(&first, &aside).unwrap();
    wait_size(&app, id, |s| s.is_null()).await;
    let snapshot = app.hub.snapshot();
    let live = snapshot.models.iter().find(|m| m.id == id).unwrap();
    assert_eq!(live.size_bytes, None, "tabs hear it too");
    std::fs::rename(&aside, &first).unwrap();
    wait_size(&app, id, |s| s.as_u64().is_some_and(|n| n > 0)).await;
}

/// Waits (2 s at most) until the model's recorded size satisfies `wanted`.
async fn wait_size(app: &TestApp, id: i64, wanted: impl Fn(&Json) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let model = app.post("/api/models/get", json!({"id": id})).await.json();
        if wanted(&model["size_bytes"]) {
            return;
        }
        assert!(Instant::now() < deadline, "size within 2 s: {model}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn found_files_are_added_named_from_their_file_names_with_their_projector() {
    let folder = tempfile::tempdir().unwrap();
    let folder_path = folder.path().canonicalize().unwrap();
    // Two copies of one file: two models, the second numbered.
    let (one, two) = (
        folder_path.join("a/Tiny-Q8_0.gguf"),
        folder_path.join("b/Tiny-Q8_0.gguf"),
    );
    for path in [&one, &two] {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        TestModel::TINY.write(path).unwrap();
    }
    let projector = folder_path.join("a/mmproj.gguf");
    write_header_only(
        &projector,
        &[("general.architecture".into(), Value::Str("clip".into()))],
        &[],
    )
    .unwrap();
    let app = TestApp::with_options(common::Options {
        models_dirs: vec![folder_path.clone()],
        ..common::Options::default()
    })
    .await;
    until(&app, "three files", |l| paths(l).len() == 3).await;
    let generation = app.hub.snapshot().files_generation;
    let three = folder_path.join("b/three.gguf");
    std::fs::copy(&two, &three).unwrap();
    until(&app, "a fourth file", |l| paths(l).len() == 4).await;
    assert!(
        app.hub.snapshot().files_generation > generation,
        "tabs hear that the files changed"
    );
    let text = |p: &std::path::Path| p.to_string_lossy().into_owned();

    // Bad lists change nothing.
    for (paths, status, field) in [
        (json!(["/nowhere/x.gguf"]), 400, "paths[0]"),
        (json!([text(&one), text(&projector)]), 400, "paths[1]"),
        (json!([text(&one), text(&one)]), 409, "paths[1]"),
        (json!([]), 400, "paths"),
    ] {
        let reply = app
            .post("/api/discovery/add", json!({"paths": paths}))
            .await;
        assert_eq!(reply.status.as_u16(), status, "{}", reply.body);
        let body = reply.json();
        let named = body["errors"][0]["field"].clone();
        let named = if named.is_null() {
            body["field"].clone()
        } else {
            named
        };
        assert_eq!(named, field, "{body}");
    }
    let models = app.post("/api/models/list", json!({})).await.json();
    assert_eq!(models, json!([]), "a refused add made nothing");
    // The listing says beforehand what Add will name each file.
    let suggested: Vec<Json> = listed(&app).await["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["suggested_name"].clone())
        .collect();
    assert_eq!(
        suggested,
        [
            json!("tiny-q8_0"),
            json!(null),
            json!("tiny-q8_0-2"),
            json!("three")
        ],
        "a/Tiny, a/mmproj (a projector: none), b/Tiny, b/three"
    );

    let made = app
        .post(
            "/api/discovery/add",
            json!({"paths": [text(&one), text(&two)]}),
        )
        .await;
    assert_eq!(made.status.as_u16(), 200, "{}", made.body);
    let made = made.json();
    assert_eq!(made[0]["name"], "tiny-q8_0");
    assert_eq!(made[1]["name"], "tiny-q8_0-2");
    assert_eq!(made[0]["kind"], "llama");
    let multimodal = app
        .post(
            "/api/models/config/load",
            json!({"id": made[0]["id"], "group": "multimodal"}),
        )
        .await
        .json();
    assert_eq!(multimodal["config"]["mmproj"], json!(text(&projector)));
    let listing = listed(&app).await;
    let registered: Vec<&Json> = listing["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| !f["registered_as"].is_null())
        .collect();
    assert_eq!(registered.len(), 2);
    let again = app
        .post("/api/discovery/add", json!({"paths": [text(&two)]}))
        .await;
    assert_eq!(again.status.as_u16(), 409, "{}", again.body);

    // A file named .gguf that is not one is listed as such and never added.
    let broken = folder_path.join("broken.gguf");
    std::fs::write(&broken, b"not a model at all").unwrap();
    until(&app, "the broken file", |l| paths(l).len() == 5).await;
    let listing = listed(&app).await;
    let entry = listing["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == json!(text(&broken)))
        .unwrap()
        .clone();
    assert!(entry["file"]["Unreadable"].is_string(), "{entry}");
    assert!(entry["suggested_name"].is_null(), "{entry}");
    let refused = app
        .post("/api/discovery/add", json!({"paths": [text(&broken)]}))
        .await;
    assert_eq!(refused.status.as_u16(), 400, "{}", refused.body);
    assert_eq!(
        refused.json()["errors"][0]["rule"],
        "gguf_file",
        "{}",
        refused.body
    );
}

#[tokio::test]
async fn a_folder_of_hostile_headers_is_listed_a_page_at_a_time_without_per_layer_arrays() {
    let folder = tempfile::tempdir().unwrap();
    let folder_path = folder.path().canonicalize().unwrap();
    for i in 0..250 {
        write_header_only(
            &folder_path.join(format!("m{i:03}.gguf")),
            &[
                (
                    "general.architecture".to_string(),
                    Value::Str("llama".into()),
                ),
                (
                    "llama.attention.head_count_kv".to_string(),
                    Value::U32s(vec![8; 512]),
                ),
            ],
            &[TensorInfo::new("t", &[2], 0)],
        )
        .unwrap();
    }
    let app = TestApp::with_options(common::Options {
        models_dirs: vec![folder_path.clone()],
        ..common::Options::default()
    })
    .await;
    let first = until(&app, "every file", |l| l["total"] == 250).await;
    assert_eq!(paths(&first).len(), 200);
    let after = first["next_after"].as_str().unwrap().to_string();
    assert!(after.ends_with("m199.gguf"), "{after}");
    for file in first["files"].as_array().unwrap() {
        assert_eq!(file["file"]["Read"]["head_count_kv"], json!([]), "{file}");
    }
    let second = app
        .post(
            "/api/discovery/list",
            json!({"page": {"limit": 100, "after": after}}),
        )
        .await
        .json();
    assert_eq!(paths(&second).len(), 50);
    assert!(paths(&second)[0].ends_with("m200.gguf"));
    assert_eq!(second["next_after"], Json::Null);
    let bad = app
        .post("/api/discovery/list", json!({"page": {"limit": 0}}))
        .await;
    assert_eq!(bad.status, axum::http::StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_typed_path_is_checked_for_a_file_a_gguf_header_and_the_model_roots() {
    let inside = tempfile::tempdir().unwrap();
    let inside_path = inside.path().canonicalize().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let model = inside_path.join("Tiny-Q8_0.gguf");
    TestModel::TINY.write(&model).unwrap();
    let stranger = outside.path().canonicalize().unwrap().join("x.gguf");
    TestModel::TINY.write(&stranger).unwrap();
    let broken = inside_path.join("broken.gguf");
    std::fs::write(&broken, b"no header here").unwrap();
    let app = TestApp::with_options(common::Options {
        model_roots: corral::server::models::model_roots::ModelRoots::new(std::slice::from_ref(
            &inside_path,
        ))
        .unwrap(),
        ..common::Options::default()
    })
    .await;
    let check = |path: String| {
        let app = &app;
        async move {
            let reply = app
                .post("/api/discovery/check_path", json!({"path": path}))
                .await;
            assert_eq!(reply.status.as_u16(), 200, "{}", reply.body);
            reply.json()
        }
    };
    let text = |p: &std::path::Path| p.to_string_lossy().into_owned();

    let good = check(text(&model)).await;
    assert_eq!(good["ok"], true, "{good}");
    assert_eq!(good["suggested_name"], "tiny-q8_0");
    assert_eq!(good["gguf_name"], "corral-test");
    assert!(
        good["message"]
            .as_str()
            .unwrap()
            .starts_with("A GGUF model: "),
        "{good}"
    );

    for (path, says) in [
        ("relative/x.gguf".to_string(), "absolute path"),
        (text(&inside_path.join("notes.txt")), ".gguf"),
        (
            text(&inside_path.join("missing.gguf")),
            "no file at this path",
        ),
        (text(&broken), "not a GGUF file"),
        (text(&stranger), "outside the model folders"),
    ] {
        let answer = check(path.clone()).await;
        assert_eq!(answer["ok"], false, "{path}: {answer}");
        assert!(answer["suggested_name"].is_null(), "{answer}");
        let message = answer["message"].as_str().unwrap();
        assert!(message.contains(says), "{path}: {message}");
    }

    // Once a model is made from it, the next suggestion is numbered.
    app.create("tiny-q8_0", &text(&model)).await;
    let again = check(text(&model)).await;
    assert_eq!(again["suggested_name"], "tiny-q8_0-2", "{again}");
    assert!(
        again["message"]
            .as_str()
            .unwrap()
            .contains("already model tiny-q8_0")
    );

    let huge = app
        .post(
            "/api/discovery/check_path",
            json!({"path": format!("/{}", "a".repeat(5000))}),
        )
        .await;
    assert_eq!(huge.status.as_u16(), 400, "{}", huge.body);
}
