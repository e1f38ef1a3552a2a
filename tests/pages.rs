//! Server-rendered pages: the first HTML already holds the data.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test states what it expects by failing loudly
#![allow(clippy::too_many_lines)] // a test is one scenario, read top to bottom

mod common;

use axum::http::StatusCode;
use common::TestApp;
use corral::domain::model::FIRST_ROWS;
use serde_json::json;

#[tokio::test]
async fn the_models_page_lists_every_model_in_its_first_html() {
    let app = TestApp::new().await;
    app.create("Mistral Nemo", "/m/Mistral-Nemo-12B.gguf").await;
    app.create("Gemma tiny", "/m/gemma-3-1b.gguf").await;
    let page = app.get("/").await;
    assert_eq!(page.status, StatusCode::OK);
    for text in [
        "<tbody",
        "Mistral Nemo",
        "Gemma tiny",
        "/m/gemma-3-1b.gguf",
        "Stopped",
        "Actions for Mistral Nemo",
    ] {
        assert!(
            page.body.contains(text),
            "missing {text:?} in:\n{}",
            page.body
        );
    }
}

#[tokio::test]
async fn a_registry_larger_than_a_page_renders_the_first_page_in_order_and_says_how_many_there_are()
{
    let app = TestApp::new().await;
    let total = FIRST_ROWS + 5;
    for i in 0..total {
        app.create(&format!("model {i:03}"), "/m/a.gguf").await;
    }
    let page = app.get("/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        page.body.matches("<tr data-model-id").count(),
        FIRST_ROWS,
        "only the first page is rendered"
    );
    // Sorted by name: the first page ends just before the model after it.
    let last_shown = format!("model {:03}<", FIRST_ROWS - 1);
    let first_hidden = format!("model {:03}<", FIRST_ROWS);
    assert!(page.body.contains(&last_shown));
    assert!(!page.body.contains(&first_hidden));
    assert!(
        page.body
            .contains(&format!("Showing {FIRST_ROWS} of {total} models")),
        "the page says how many models there are"
    );
    // Nor does the hydration payload carry them: they come with the live snapshot.
    let last = format!("model {:03}", total - 1);
    assert!(
        !page.body.contains(&last),
        "{last} is beyond the first page and must not be in the page at all"
    );
}

#[tokio::test]
async fn the_first_rows_are_the_first_page_the_browser_sorts_by_name() {
    let app = TestApp::new().await;
    // Mixed case, digits, punctuation and non-ASCII names, created out of order.
    let mut names: Vec<String> = (0..FIRST_ROWS + 20)
        .map(|i| match i % 5 {
            0 => format!("Zeta {i}"),
            1 => format!("alpha {i}"),
            2 => format!("Émile {i}"),
            3 => format!("_under {i}"),
            _ => format!("ébène-{i}"),
        })
        .collect();
    names.reverse();
    for name in &names {
        app.create(name, "/m/a.gguf").await;
    }
    let all: Vec<corral::domain::Model> =
        serde_json::from_value(app.post("/api/models/list", json!({})).await.json()).unwrap();
    let mut sorted = all.clone();
    corral::domain::model::sort_models(&mut sorted, corral::domain::model::SortKey::Name, false);
    let first: corral::domain::model::FirstRows =
        serde_json::from_value(app.post("/api/models/first_rows", json!({})).await.json()).unwrap();
    assert_eq!(first.total, names.len());
    let first_names: Vec<&str> = first.models.iter().map(|m| m.spec.name.as_str()).collect();
    let expected: Vec<&str> = sorted[..FIRST_ROWS]
        .iter()
        .map(|m| m.spec.name.as_str())
        .collect();
    assert_eq!(first_names, expected);
}

#[tokio::test]
async fn an_empty_registry_says_how_to_add_a_first_model() {
    let app = TestApp::new().await;
    let page = app.get("/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("No models yet"), "{}", page.body);
}

#[tokio::test]
async fn names_are_escaped_in_the_html() {
    let app = TestApp::new().await;
    app.create("<script>alert(1)</script>", "/m/x.gguf").await;
    let page = app.get("/").await;
    assert!(!page.body.contains("<script>alert(1)</script>"));
    assert!(page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
}

#[tokio::test]
async fn a_setting_that_closes_its_textarea_stays_text_on_the_model_page() {
    let app = TestApp::new().await;
    let name = "m</textarea><b id=injected>";
    let model = app.create(name, "/m/x.gguf").await;
    let id = model["id"].as_i64().unwrap();
    let saved = app
        .post(
            "/api/models/config/save",
            json!({"id": id, "group": "serving",
                   "config": {"aliases": ["a</textarea><i id=injected>"]}}),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let page = app.get(&format!("/models/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        !page.body.contains("<b id=injected>"),
        "the name became markup"
    );
    assert!(
        !page.body.contains("<i id=injected>"),
        "the alias became markup"
    );
}

#[tokio::test]
async fn a_name_that_closes_the_title_stays_text_in_the_model_pages_title() {
    let app = TestApp::new().await;
    let name = r#"</title><meta http-equiv="refresh" content="0;url=/x">"#;
    let model = app.create(name, "/m/x.gguf").await;
    let page = app.get(&format!("/models/{}", model["id"])).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("<meta http-equiv"), "{}", page.body);
    let title = page
        .body
        .split("<title>")
        .nth(1)
        .and_then(|rest| rest.split("</title>").next())
        .unwrap();
    assert_eq!(
        title,
        r#"&lt;/title&gt;&lt;meta http-equiv="refresh" content="0;url=/x"&gt; · Corral"#
    );
    assert_eq!(page.body.matches("<title>").count(), 1);
}

#[tokio::test]
async fn the_model_page_shows_the_settings_groups_and_values() {
    let app = TestApp::new().await;
    let id = app.create("detail", "/m/detail.gguf").await["id"].clone();
    app.post(
        "/api/models/config/save",
        json!({"id": id, "group": "sampling", "config": {"top_k": 33}}),
    )
    .await;
    let page = app.get(&format!("/models/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    for text in [
        "detail",
        "Sampling",
        "Memory",
        "GPU",
        "Advanced",
        "Multimodal",
        "Temperature",
        "value=\"33\"",
        "History",
        // Its header is read in the browser after the page: the server render is never held.
        "What the file says",
    ] {
        assert!(
            page.body.contains(text),
            "missing {text:?} in {}",
            page.body
        );
    }
}

#[tokio::test]
async fn an_unknown_model_page_is_not_found() {
    let app = TestApp::new().await;
    let page = app.get("/models/12345").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND, "{}", page.body);
    assert!(page.body.contains("does not exist"));
}

#[tokio::test]
async fn the_health_endpoint_answers() {
    let app = TestApp::new().await;
    let reply = app.get("/api/health").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json(), json!({"status": "ok"}));
}

/// Regression: a reactive <Title> inside async-rendered content stalled some of many
/// concurrent renders forever (seen over real connections, not in-process). Every render of
/// every page must finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_renders_of_every_page_all_finish() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::new().await;
    let id = app.create("busy", "/m/busy.gguf").await["id"].clone();
    common::serve(&app).await;
    let address = app.address;
    let paths = [
        "/".to_string(),
        format!("/models/{id}"),
        "/monitoring".to_string(),
    ];
    let semaphore = std::sync::Arc::new(tokio::sync::Semaphore::new(32));
    let mut renders = tokio::task::JoinSet::new();
    for i in 0..600 {
        let path = paths[i % 3].clone();
        let permit = semaphore.clone().acquire_owned().await.unwrap();
        renders.spawn(async move {
            let _permit = permit;
            let exchange = async {
                let mut stream = tokio::net::TcpStream::connect(address).await.ok()?;
                let request =
                    format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
                stream.write_all(request.as_bytes()).await.ok()?;
                let mut response = Vec::new();
                stream.read_to_end(&mut response).await.ok()?;
                Some(response.starts_with(b"HTTP/1.1 200"))
            };
            (
                path.clone(),
                tokio::time::timeout(std::time::Duration::from_secs(10), exchange).await,
            )
        });
    }
    let results = renders.join_all().await;
    let failed: Vec<&String> = results
        .iter()
        .filter(|(_, r)| !matches!(r, Ok(Some(true))))
        .map(|(p, _)| p)
        .collect();
    assert!(
        failed.is_empty(),
        "{} of 600 renders did not finish with 200: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
}
