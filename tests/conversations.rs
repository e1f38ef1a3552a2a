//! The Playground's conversations: saved whole, listed newest first, renamed and deleted,
//! each person's own; bad documents are refused by field and change nothing.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test states what it expects by failing loudly
#![allow(clippy::too_many_lines)] // a test is one scenario, read top to bottom

mod common;

use common::TestApp;
use corral::domain::conversation::{ChatMessage, Conversation};
use corral::server::conversations;
use serde_json::json;

fn chat(text: &str) -> serde_json::Value {
    json!({
        "model": "tiny",
        "system": "Be brief.",
        "messages": [
            {"role": "user", "text": text},
            {"role": "assistant", "text": "```js\nlet x = 1;\n```", "ttft_ms": 12,
             "cost": {"prompt_tokens": 5, "generated_tokens": 9, "generation_tokens_per_s": 40.5}}
        ]
    })
}

#[tokio::test]
async fn a_conversation_is_saved_whole_listed_renamed_and_deleted() {
    let app = TestApp::new().await;
    let saved = app
        .post(
            "/api/conversations/save",
            json!({"conversation": chat("Write a loop in JavaScript please")}),
        )
        .await;
    assert_eq!(saved.status.as_u16(), 200, "{}", saved.body);
    let saved = saved.json();
    let id = saved["id"].as_i64().unwrap();
    assert_eq!(
        saved["title"], "Write a loop in JavaScript please",
        "a blank title comes from the first message"
    );

    let got = app
        .post("/api/conversations/get", json!({"id": id}))
        .await
        .json();
    assert_eq!(
        got["messages"][0]["text"],
        "Write a loop in JavaScript please"
    );
    assert_eq!(got["messages"][1]["text"], "```js\nlet x = 1;\n```");
    assert_eq!(got["messages"][1]["ttft_ms"], 12);
    assert_eq!(got["system"], "Be brief.");
    assert_eq!(got["messages"][1]["cost"]["generated_tokens"], 9);

    // Saved again with a reply more: replaced whole, and first in the list.
    let other = app
        .post(
            "/api/conversations/save",
            json!({"conversation": chat("second")}),
        )
        .await
        .json();
    // The list is ordered by the time of the last save (millisecond clock; ties by id): let the
    // clock move on, so the re-save is later than the other new one.
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    let mut longer = got.clone();
    longer["messages"]
        .as_array_mut()
        .unwrap()
        .push(json!({"role": "user", "text": "more"}));
    let resaved = app
        .post("/api/conversations/save", json!({"conversation": longer}))
        .await;
    assert_eq!(resaved.status.as_u16(), 200, "{}", resaved.body);
    let list = app.post("/api/conversations/list", json!({})).await.json();
    assert_eq!(list[0]["id"], id, "{list}");
    assert_eq!(list[0]["messages"], 3);
    assert_eq!(list[1]["id"], other["id"]);

    let renamed = app
        .post(
            "/api/conversations/rename",
            json!({"id": id, "title": "Loops"}),
        )
        .await;
    assert_eq!(renamed.status.as_u16(), 200, "{}", renamed.body);
    for title in ["   ", &"x".repeat(121)] {
        let refused = app
            .post(
                "/api/conversations/rename",
                json!({"id": id, "title": title}),
            )
            .await;
        assert_eq!(refused.status.as_u16(), 400, "{}", refused.body);
    }
    assert_eq!(
        app.post("/api/conversations/get", json!({"id": id}))
            .await
            .json()["title"],
        "Loops"
    );

    let deleted = app
        .post("/api/conversations/delete", json!({"id": id}))
        .await;
    assert_eq!(deleted.status.as_u16(), 200, "{}", deleted.body);
    let gone = app.post("/api/conversations/get", json!({"id": id})).await;
    assert_eq!(gone.status.as_u16(), 404, "{}", gone.body);
    let again = app
        .post("/api/conversations/delete", json!({"id": id}))
        .await;
    assert_eq!(again.status.as_u16(), 404);
}

#[tokio::test]
async fn hostile_conversations_are_refused_by_field_and_change_nothing() {
    let app = TestApp::new().await;
    let mut huge = chat("x");
    huge["messages"][0]["text"] = json!("x".repeat(300 * 1024));
    let mut foreign = chat("x");
    foreign["messages"][0]["images"] = json!(["javascript:alert(1)"]);
    let mut unknown_role = chat("x");
    unknown_role["messages"][0]["role"] = json!("system");
    let mut not_mine = chat("x");
    not_mine["id"] = json!(999);
    for (document, status, field) in [
        (huge, 400, Some("messages[0].text")),
        (foreign, 400, Some("messages[0].images[0]")),
        (unknown_role, 400, None),
        (not_mine, 404, None),
    ] {
        let reply = app
            .post("/api/conversations/save", json!({"conversation": document}))
            .await;
        assert_eq!(reply.status.as_u16(), status, "{}", reply.body);
        if let Some(field) = field {
            assert_eq!(reply.json()["errors"][0]["field"], field, "{}", reply.body);
        }
    }
    // Deeply nested JSON is refused before anything is read into a conversation.
    let nested = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let reply = app
        .post_raw(
            "/api/conversations/save",
            format!("{{\"conversation\": {nested}}}"),
        )
        .await;
    assert_eq!(reply.status.as_u16(), 400, "{}", reply.body);
    let list = app.post("/api/conversations/list", json!({})).await.json();
    assert_eq!(list, json!([]));
}

#[tokio::test]
async fn one_person_never_sees_or_changes_another_persons_conversations() {
    let app = TestApp::new().await;
    let mine = Conversation {
        messages: vec![ChatMessage::user("mine".into(), vec![])],
        ..Conversation::default()
    };
    let saved = conversations::save(&app.db, 1, mine).await.unwrap();
    let id = saved.id.unwrap();
    assert!(conversations::list(&app.db, 2).await.unwrap().is_empty());
    assert!(conversations::get(&app.db, 2, id).await.is_err());
    assert!(
        conversations::rename(&app.db, 2, id, "taken".into())
            .await
            .is_err()
    );
    assert!(conversations::delete(&app.db, 2, id).await.is_err());
    let mut overwrite = saved.clone();
    overwrite.messages.clear();
    assert!(conversations::save(&app.db, 2, overwrite).await.is_err());
    assert_eq!(conversations::get(&app.db, 1, id).await.unwrap(), saved);
}

#[tokio::test]
async fn two_new_conversations_saved_at_once_are_two() {
    let app = TestApp::new().await;
    let (a, b) = tokio::join!(
        app.post(
            "/api/conversations/save",
            json!({"conversation": chat("a")})
        ),
        app.post(
            "/api/conversations/save",
            json!({"conversation": chat("b")})
        ),
    );
    assert_eq!((a.status.as_u16(), b.status.as_u16()), (200, 200));
    assert_ne!(a.json()["id"], b.json()["id"]);
    let list = app.post("/api/conversations/list", json!({})).await.json();
    assert_eq!(list.as_array().unwrap().len(), 2);
}
