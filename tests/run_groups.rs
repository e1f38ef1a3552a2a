//! Run-together groups (`/api/groups/*`) against the pinned llama-server and the tiny model: a
//! group's `swap` and `exclusive` rules stop what they name when a member loads, `persistent`
//! members survive other groups, a pinned model is never stopped for a group (the start is
//! refused naming it), and two members of one swap group started at once end with one
//! running.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test states what it expects by failing loudly
#![allow(clippy::too_many_lines)] // a test is one scenario, read top to bottom

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::{Reply, TestApp, supervisor_settings};
use corral::domain::ModelStatus;
use corral::server::supervisor::settings::SupervisorSettings;
use serde_json::{Value, json};

const LOAD: Duration = Duration::from_secs(30);

fn roomy() -> SupervisorSettings {
    SupervisorSettings {
        max_running: 8,
        ..supervisor_settings()
    }
}

impl TestApp {
    async fn group(&self, body: Value) -> Reply {
        self.post("/api/groups/create", body).await
    }

    async fn groups(&self) -> Vec<Value> {
        let reply = self.post("/api/groups/list", json!({})).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.json().as_array().unwrap().clone()
    }

    async fn status_of(&self, id: i64) -> ModelStatus {
        self.registry.get_model(id).await.unwrap().status
    }
}

#[tokio::test]
async fn a_group_is_created_listed_changed_and_deleted_and_follows_its_members() {
    let app = TestApp::new().await;
    let a = app.create("a", "/models/a.gguf").await["id"]
        .as_i64()
        .unwrap();
    app.create("b", "/models/b.gguf").await;
    let made = app
        .group(json!({"name": "pair", "members": ["a", "B"]}))
        .await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    assert_eq!(
        made.json(),
        json!({"name": "pair", "swap": true, "exclusive": true, "persistent": false,
               "members": ["a", "b"]}),
        "llama-swap's defaults, members by their names"
    );

    let changed = app
        .post(
            "/api/groups/update",
            json!({"name": "PAIR", "swap": false, "exclusive": false, "persistent": true,
                   "members": ["b"]}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    let listed = app.groups().await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["members"], json!(["b"]));
    assert_eq!(listed[0]["persistent"], true);

    // A member is a model, not a name: a rename follows, a delete leaves the group.
    let back = app
        .post(
            "/api/groups/update",
            json!({"name": "pair", "members": ["a", "b"]}),
        )
        .await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.body);
    let renamed = app
        .post(
            "/api/models/update",
            json!({"id": a, "changes": {"name": "alpha"}}),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(app.groups().await[0]["members"], json!(["alpha", "b"]));
    let told = app.hub.read(|s| s.run_groups.clone());
    assert_eq!(
        told[0].members,
        ["alpha", "b"],
        "the tabs hear the new name"
    );
    let deleted = app.post("/api/models/delete", json!({"id": a})).await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    assert_eq!(app.groups().await[0]["members"], json!(["b"]));
    // A group whose last member goes, goes with it (a group names at least one model).
    let b = app
        .post("/api/models/get_by_name", json!({"name": "b"}))
        .await
        .json()["id"]
        .as_i64()
        .unwrap();
    let solo = app.group(json!({"name": "solo", "members": ["b"]})).await;
    assert_eq!(
        solo.status,
        StatusCode::CONFLICT,
        "b is in pair: {}",
        solo.body
    );
    let last = app.post("/api/models/delete", json!({"id": b})).await;
    assert_eq!(last.status, StatusCode::OK, "{}", last.body);
    assert!(app.groups().await.is_empty());
    assert!(
        app.hub.read(|s| s.run_groups.is_empty()),
        "the tabs hear it"
    );
    app.create("c", "/models/c.gguf").await;
    app.group(json!({"name": "pair", "members": ["c"]})).await;

    let gone = app
        .post("/api/groups/delete", json!({"name": "pair"}))
        .await;
    assert_eq!(gone.status, StatusCode::OK, "{}", gone.body);
    assert!(app.groups().await.is_empty());
    let again = app
        .post("/api/groups/delete", json!({"name": "pair"}))
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND, "{}", again.body);
    let missing = app
        .post(
            "/api/groups/update",
            json!({"name": "nope", "members": ["c"]}),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.body);
}

#[tokio::test]
async fn a_model_is_in_one_group_at_most_and_a_bad_group_changes_nothing() {
    let app = TestApp::new().await;
    app.create("a", "/models/a.gguf").await;
    app.create("b", "/models/b.gguf").await;
    let made = app.group(json!({"name": "one", "members": ["a"]})).await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);

    let twice = app
        .group(json!({"name": "two", "members": ["b", "a"]}))
        .await;
    assert_eq!(twice.status, StatusCode::CONFLICT, "{}", twice.body);
    assert!(
        twice.body.contains("'a' is in group 'one'"),
        "{}",
        twice.body
    );
    let same_name = app.group(json!({"name": "ONE", "members": ["b"]})).await;
    assert_eq!(same_name.status, StatusCode::CONFLICT, "{}", same_name.body);

    app.post(
        "/api/virtual/create",
        json!({"name": "chat", "targets": ["a"]}),
    )
    .await;
    let bad = app
        .group(json!({"name": "bad", "swap": "yes", "members": ["nobody", "chat"]}))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    assert_eq!(
        bad.field_rules(),
        [("swap".to_string(), "type".to_string())]
    );
    let unknown = app
        .group(json!({"name": "bad", "members": ["nobody", "chat"]}))
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST, "{}", unknown.body);
    let fields: Vec<String> = unknown.field_rules().into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["members[0]", "members[1]"]);
    assert!(
        unknown.body.contains("is a virtual model"),
        "{}",
        unknown.body
    );
    let empty = app.group(json!({"name": "bad", "members": []})).await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST, "{}", empty.body);

    let listed = app.groups().await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["members"], json!(["a"]));
}

#[tokio::test]
async fn an_exclusive_member_stops_other_groups_and_ungrouped_models_but_a_persistent_group_survives()
 {
    let app = TestApp::with_settings(roomy()).await;
    let a = app.create_tiny("a").await;
    let b = app.create_tiny("b").await;
    let loose = app.create_tiny("loose").await;
    let kept = app.create_tiny("kept").await;
    let together = json!({"name": "pair", "swap": false, "exclusive": true, "members": ["a", "b"]});
    assert_eq!(app.group(together).await.status, StatusCode::OK);
    let always = json!({"name": "always", "swap": false, "exclusive": false, "persistent": true,
                        "members": ["kept"]});
    assert_eq!(app.group(always).await.status, StatusCode::OK);

    app.start_running(loose).await;
    app.start_running(kept).await;
    app.start_running(a).await;
    assert_eq!(
        app.status_of(loose).await,
        ModelStatus::Stopped,
        "exclusive stops a model in no group"
    );
    assert_eq!(
        app.status_of(kept).await,
        ModelStatus::Running,
        "persistent"
    );

    // swap: false: the other member runs beside it.
    app.start_running(b).await;
    assert_eq!(app.status_of(a).await, ModelStatus::Running);

    // A model in no group stops nothing by group rules.
    app.start_running(loose).await;
    for id in [a, b, kept] {
        assert_eq!(app.status_of(id).await, ModelStatus::Running);
    }
}

#[tokio::test]
async fn a_swap_member_replaces_the_other_member_and_leaves_outsiders_running() {
    let app = TestApp::with_settings(roomy()).await;
    let first = app.create_tiny("first").await;
    let second = app.create_tiny("second").await;
    let outside = app.create_tiny("outside").await;
    let swap = json!({"name": "one-at-a-time", "swap": true, "exclusive": false,
                      "members": ["first", "second"]});
    assert_eq!(app.group(swap).await.status, StatusCode::OK);

    app.start_running(outside).await;
    app.start_running(first).await;
    app.start_running(second).await;
    assert_eq!(app.status_of(first).await, ModelStatus::Stopped);
    assert_eq!(app.status_of(outside).await, ModelStatus::Running);
    let stop = app.last_run(first).await;
    assert!(stop.ended_at.is_some(), "{stop:?}");
}

#[tokio::test]
async fn a_pinned_model_in_a_groups_way_refuses_the_start_naming_it() {
    let app = TestApp::with_settings(roomy()).await;
    let member = app.create_tiny("member").await;
    let pinned = app.create_tiny("pinned-one").await;
    let saved = app
        .post(
            "/api/models/config/save",
            json!({"id": pinned, "group": "serving", "config": {"pinned": true}}),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let alone = json!({"name": "alone", "members": ["member"]});
    assert_eq!(app.group(alone).await.status, StatusCode::OK);
    app.start_running(pinned).await;

    let refused = app.post("/api/models/start", json!({"id": member})).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert!(
        refused.body.contains("'pinned-one' is pinned") && refused.body.contains("group 'alone'"),
        "{}",
        refused.body
    );
    assert_eq!(app.status_of(pinned).await, ModelStatus::Running);
    assert_eq!(app.status_of(member).await, ModelStatus::Stopped);
}

#[tokio::test]
async fn a_busy_member_is_waited_for_before_the_other_member_replaces_it() {
    let app = TestApp::with_settings(roomy()).await;
    let first = app.create_tiny("first").await;
    let second = app.create_tiny("second").await;
    let swap = json!({"name": "swap", "exclusive": false, "members": ["first", "second"]});
    assert_eq!(app.group(swap).await.status, StatusCode::OK);
    app.start_running(first).await;
    let held = app.on_demand.queue(first, 8).unwrap();
    let starting = {
        let supervisor = app.supervisor.clone();
        tokio::spawn(async move { supervisor.start_model(second).await })
    };
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        app.status_of(first).await,
        ModelStatus::Running,
        "a request holds it"
    );
    assert!(!starting.is_finished());
    drop(held);
    starting.await.unwrap().unwrap();
    app.wait_status(second, ModelStatus::Running, LOAD).await;
    assert_eq!(app.status_of(first).await, ModelStatus::Stopped);
}

#[tokio::test]
async fn two_members_of_a_swap_group_started_at_once_end_with_one_running() {
    let app = TestApp::with_settings(roomy()).await;
    let first = app.create_tiny("first").await;
    let second = app.create_tiny("second").await;
    let swap = json!({"name": "swap", "exclusive": false, "members": ["first", "second"]});
    assert_eq!(app.group(swap).await.status, StatusCode::OK);
    let (one, two) = tokio::join!(
        app.supervisor.start_model(first),
        app.supervisor.start_model(second)
    );
    assert!(one.is_ok() || two.is_ok(), "{one:?} {two:?}");
    // Whichever went second stopped the first once it had a process.
    let deadline = tokio::time::Instant::now() + LOAD;
    loop {
        let statuses = (app.status_of(first).await, app.status_of(second).await);
        let running = [statuses.0, statuses.1]
            .iter()
            .filter(|s| **s == ModelStatus::Running)
            .count();
        let settled = [statuses.0, statuses.1]
            .iter()
            .all(|s| matches!(s, ModelStatus::Running | ModelStatus::Stopped));
        if settled {
            assert_eq!(running, 1, "{statuses:?}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{statuses:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
