//! Corral killed with SIGKILL in the middle of many concurrent writes, over and over: the database
//! passes SQLite's integrity check every time, and every write Corral acknowledged is there; and
//! killed between the lifecycle events of real model servers, a model's status and its runs
//! always agree. Rounds: `CORRAL_CRASH_ROUNDS` (default 20; raise it for a longer run).
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test states what it expects by failing loudly
#![allow(clippy::too_many_lines)] // a test is one scenario, read top to bottom

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::corral_binary::{post, start_corral, try_post};
use common::tiny_model;
use serde_json::json;

const WRITERS: usize = 8;

fn rounds() -> usize {
    common::env_number("CORRAL_CRASH_ROUNDS", 20)
}

/// Every model name with its sampling temperature (if a config was saved), read from the file.
fn stored(db: &Path) -> (String, BTreeMap<String, Option<f64>>) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    let mut statement = conn
        .prepare(
            "SELECT m.name, json_extract(c.config, '$.temperature') FROM models m \
             LEFT JOIN config_sampling c ON c.model_id = m.id",
        )
        .unwrap();
    let rows = statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<BTreeMap<String, Option<f64>>, _>>()
        .unwrap();
    (integrity, rows)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_corral_mid_write_never_corrupts_the_database_or_loses_an_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // name → the temperature whose save was acknowledged (None: only the create was).
    let acknowledged: Arc<Mutex<BTreeMap<String, Option<f64>>>> = Arc::default();
    let mut total_writes = 0;
    for round in 0..rounds() {
        let mut corral = start_corral(&data);
        let port = corral.port;
        let writers: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let acknowledged = acknowledged.clone();
                tokio::spawn(async move {
                    let mut writes = 0;
                    for k in 0.. {
                        let name = format!("r{round}-w{writer}-{k}");
                        let create = json!({"model": {"name": name, "path": "/m/x.gguf"}});
                        let Some((status, model)) = try_post(port, "models/create", create).await
                        else {
                            return writes;
                        };
                        assert_eq!(status, 200, "{model}");
                        acknowledged.lock().unwrap().insert(name.clone(), None);
                        let temperature = (k % 150) as f64 / 100.0;
                        let save = json!({"id": model["id"], "group": "sampling",
                                          "config": {"temperature": temperature}});
                        let Some((status, body)) = try_post(port, "models/config/save", save).await
                        else {
                            return writes + 1;
                        };
                        assert_eq!(status, 200, "{body}");
                        acknowledged.lock().unwrap().insert(name, Some(temperature));
                        writes += 2;
                    }
                    writes
                })
            })
            .collect();
        // Kill at a different moment each round.
        tokio::time::sleep(Duration::from_millis(150 + 37 * (round as u64 % 7))).await;
        corral.child.kill().unwrap();
        corral.child.wait().unwrap();
        for writer in writers {
            total_writes += writer.await.unwrap();
        }

        let (integrity, rows) = stored(&data.join("corral.db"));
        assert_eq!(integrity, "ok", "round {round}");
        for (name, temperature) in acknowledged.lock().unwrap().iter() {
            let found = rows.get(name);
            assert!(
                found.is_some(),
                "round {round}: acknowledged {name} is gone"
            );
            if let Some(t) = temperature {
                assert_eq!(
                    found,
                    Some(&Some(*t)),
                    "round {round}: {name}'s saved config"
                );
            }
        }
    }
    assert!(
        total_writes > rounds() * WRITERS,
        "too few writes to mean anything: {total_writes}"
    );
}

/// Each model's status beside whether a run of it is recorded alive, read from the file.
fn statuses_and_alive_runs(db: &Path) -> Vec<(String, String, bool)> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut statement = conn
        .prepare(
            "SELECT m.name, m.status, EXISTS (SELECT 1 FROM runs r WHERE r.model_id = m.id \
             AND r.ended_at IS NULL) FROM models m ORDER BY m.name",
        )
        .unwrap();
    statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_corral_between_lifecycle_events_never_leaves_a_status_and_its_runs_disagreeing() {
    let dir = tempfile::tempdir().unwrap();
    let model_path = tiny_model(dir.path());
    let data = dir.path().join("data");
    let mut events_seen = 0;
    for round in 0..rounds().min(8) {
        let corral = start_corral(&data);
        let port = corral.port;
        let mut ids = Vec::new();
        for name in ["a", "b", "c"] {
            let (_, models) = post(port, "models/list", json!({})).await;
            let found = models
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["name"] == name)
                .cloned();
            let model = match found {
                Some(model) => model,
                None => {
                    let create = json!({"model": {"name": name, "path": model_path,
                                                  "threads": 1, "ctx_size": 256}});
                    post(port, "models/create", create).await.1
                }
            };
            ids.push(model["id"].as_i64().unwrap());
        }
        // Each model is started and stopped over and over: spawned, ready, stop asked, ended.
        let cyclers: Vec<_> = ids
            .iter()
            .map(|&id| {
                tokio::spawn(async move {
                    let mut events = 0;
                    for k in 0.. {
                        let path = if k % 2 == 0 {
                            "models/start"
                        } else {
                            "models/stop"
                        };
                        if try_post(port, path, json!({"id": id})).await.is_none() {
                            return events;
                        }
                        events += 1;
                        tokio::time::sleep(Duration::from_millis(10 + 7 * (k % 5))).await;
                    }
                    events
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(400 + 61 * (round as u64 % 9))).await;
        let mut corral = corral;
        corral.child.kill().unwrap();
        corral.child.wait().unwrap();
        for cycler in cyclers {
            events_seen += cycler.await.unwrap();
        }
        for (name, status, alive) in statuses_and_alive_runs(&data.join("corral.db")) {
            let active = matches!(status.as_str(), "loading" | "running" | "stopping");
            assert_eq!(
                active,
                alive,
                "round {round}: model {name} is {status} but a run of it is {} alive",
                if alive { "still" } else { "not" }
            );
        }
    }
    assert!(
        events_seen > 20,
        "too few starts and stops to mean anything: {events_seen}"
    );
}
