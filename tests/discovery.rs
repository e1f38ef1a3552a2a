//! The model folders: files found at start-up and as they come and go (watched), with their
//! metadata, the model that names them, split parts as one, projectors paired.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test states what it expects by failing loudly

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
}
