//! Corral killed with SIGKILL in the middle of many concurrent writes, over and over: the database
//! passes SQLite's integrity check every time, and every write Corral acknowledged is there.
//! Rounds: `CORRAL_CRASH_ROUNDS` (default 20; raise it for a longer run).
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test states what it expects by failing loudly

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::corral_binary::{start_corral, try_post};
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
