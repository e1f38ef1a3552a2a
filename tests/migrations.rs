//! Schema migrations: a database from an older Corral opens and upgrades without loss.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test states what it expects by failing loudly
#![allow(clippy::too_many_lines)] // a test is one scenario, read top to bottom

use corral::domain::metrics::HistoryQuery;
use corral::server::db::{Db, metrics_repo, migrate};
use rusqlite::Connection;

/// A database exactly as schema version `version` left it.
fn database_at_version(path: &std::path::Path, version: usize) -> Connection {
    let conn = Connection::open(path).unwrap();
    for step in &migrate::MIGRATIONS[..version] {
        conn.execute_batch(step).unwrap();
    }
    conn.pragma_update(None, "user_version", version as i64)
        .unwrap();
    conn
}

/// Builds a database exactly as schema version 1 left it, with a model in it.
fn version_one_database(path: &std::path::Path) {
    let conn = database_at_version(path, 1);
    conn.execute(
        "INSERT INTO models (name, kind, path, ctx_size, created_at, updated_at) VALUES ('old', 'llama', '/m/old.gguf', 8192, 1, 2)",
        [],
    )
    .unwrap();
    conn.execute("INSERT INTO config_sampling (model_id, config, updated_at) VALUES (1, '{\"temperature\":0.3}', 2)", [])
        .unwrap();
}

async fn schema_version(db: &Db) -> i64 {
    db.call(|c| Ok(c.pragma_query_value(None, "user_version", |r| r.get(0))?))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_version_one_database_upgrades_without_losing_models() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corral.db");
    version_one_database(&path);

    let db = Db::open(&path).await.unwrap();
    let hub = corral::server::live::Hub::new(vec![], 0, Default::default());
    let registry = corral::server::models::registry::Registry::new(db.clone(), hub);
    let model = registry.get_model(1).await.unwrap();
    assert_eq!(model.spec.name, "old");
    assert_eq!(model.spec.ctx_size, Some(8192));
    let sampling = registry
        .load_config(1, corral::domain::config::ConfigGroupKind::Sampling)
        .await
        .unwrap();
    assert_eq!(sampling.to_object()["temperature"], 0.3);
    // The audit trail of version 2 works on the upgraded file.
    let history = registry
        .config_history(1, corral::domain::page::Page::default())
        .await
        .unwrap();
    assert!(history.is_empty());
    assert_eq!(schema_version(&db).await, migrate::latest_version());
}

#[tokio::test]
async fn roll_ups_stored_before_version_five_are_kept_and_still_queried() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corral.db");
    {
        let conn = database_at_version(&path, 4);
        conn.execute(
            "INSERT INTO metric_rollups (series, bucket, min, max, avg, count) VALUES
             ('cpu_percent', 60000, 1, 9, 5, 60), ('cpu_percent', 120000, 2, 4, 3, 60)",
            [],
        )
        .unwrap();
    }
    let db = Db::open(&path).await.unwrap();
    let query = HistoryQuery {
        from: 0,
        to: 180_000,
        points: 3,
    };
    let series = db
        .call(move |conn| Ok(metrics_repo::query(conn, &query)?))
        .await
        .unwrap();
    assert_eq!(series.len(), 1);
    let points: Vec<(i64, f64, f64, f64)> = series[0]
        .points
        .iter()
        .map(|p| (p.at, p.min, p.max, p.avg))
        .collect();
    assert_eq!(points, [(60_000, 1.0, 9.0, 5.0), (120_000, 2.0, 4.0, 3.0)]);
    assert_eq!(schema_version(&db).await, migrate::latest_version());
}

#[tokio::test]
async fn history_kept_before_version_eleven_fills_the_coarse_tiers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corral.db");
    let hour = 3_600_000_i64;
    {
        let conn = database_at_version(&path, 10);
        // Two minute roll-ups in the first hour, one in the second; two raw samples after it.
        conn.execute(
            "INSERT INTO metric_rollups (series, bucket, min, max, avg, count) VALUES
             ('cpu_percent', ?1, 1, 9, 5, 60), ('cpu_percent', ?1 + 60000, 2, 4, 3, 20),
             ('cpu_percent', ?1 + ?2 + 60000, 7, 7, 7, 1)",
            [hour * 1000, hour],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO metric_samples (series, at, value) VALUES
             ('cpu_percent', ?1, 10), ('cpu_percent', ?1 + 1000, 20)",
            [hour * 1002 + 660_000],
        )
        .unwrap();
    }
    let db = Db::open(&path).await.unwrap();
    assert_eq!(schema_version(&db).await, migrate::latest_version());
    let tiers: Vec<(i64, i64, f64, f64, f64, i64)> = db
        .call(|c| {
            let mut stmt = c.prepare(
                "SELECT width, bucket, min, max, sum, count FROM metric_tiers ORDER BY width, bucket",
            )?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
        .unwrap();
    let (h0, h1, h2) = (hour * 1000, hour * 1001, hour * 1002);
    assert_eq!(
        tiers,
        [
            (600_000, h0, 1.0, 9.0, 360.0, 80),
            (600_000, h1, 7.0, 7.0, 7.0, 1),
            (600_000, h2 + 600_000, 10.0, 20.0, 30.0, 2),
            (3_600_000, h0, 1.0, 9.0, 360.0, 80),
            (3_600_000, h1, 7.0, 7.0, 7.0, 1),
            (3_600_000, h2, 10.0, 20.0, 30.0, 2),
        ]
    );
}

#[tokio::test]
async fn a_new_database_uses_wal_and_enforces_foreign_keys() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("corral.db")).await.unwrap();
    let (journal, foreign_keys): (String, i64) = db
        .call(|c| {
            Ok((
                c.pragma_query_value(None, "journal_mode", |r| r.get(0))?,
                c.pragma_query_value(None, "foreign_keys", |r| r.get(0))?,
            ))
        })
        .await
        .unwrap();
    assert_eq!(journal, "wal");
    assert_eq!(foreign_keys, 1);
}

#[tokio::test]
async fn every_pooled_connection_has_the_settings_and_one_a_panic_poisoned_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("corral.db")).await.unwrap();
    let failed = db
        .call(|_| -> Result<(), corral::domain::AppError> { panic!("a bug inside a call") })
        .await;
    assert!(failed.is_err(), "the panic is an error to the caller");
    // Many calls at once: more connections than one, each with the pragmas, none poisoned.
    let calls = (0..24).map(|_| {
        let db = db.clone();
        tokio::spawn(async move {
            db.call(|c| {
                std::thread::sleep(std::time::Duration::from_millis(5));
                Ok((
                    c.pragma_query_value(None, "foreign_keys", |r| r.get::<_, i64>(0))?,
                    c.pragma_query_value(None, "busy_timeout", |r| r.get::<_, i64>(0))?,
                ))
            })
            .await
        })
    });
    for call in futures::future::join_all(calls).await {
        assert_eq!(call.unwrap().unwrap(), (1, 5000));
    }
}

#[tokio::test]
async fn a_cached_statement_with_a_bound_limit_is_not_prepared_again_on_each_call() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("corral.db")).await.unwrap();
    let reprepared = db
        .call(|c| {
            let sql = "SELECT id FROM models ORDER BY name LIMIT ?1";
            for limit in [25, 100, 25, 100] {
                let mut stmt = c.prepare_cached(sql)?;
                let ids = stmt.query_map([limit], |r| r.get::<_, i64>(0))?;
                ids.collect::<rusqlite::Result<Vec<_>>>()?;
            }
            let stmt = c.prepare_cached(sql)?;
            Ok(stmt.get_status(rusqlite::StatementStatus::RePrepare))
        })
        .await
        .unwrap();
    assert_eq!(reprepared, 0, "the plan does not depend on the bound limit");
}

#[tokio::test]
async fn opening_twice_does_not_migrate_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corral.db");
    drop(Db::open(&path).await.unwrap());
    let db = Db::open(&path).await.unwrap();
    assert_eq!(schema_version(&db).await, migrate::latest_version());
}

#[tokio::test]
async fn a_database_from_a_newer_corral_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corral.db");
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let error = Db::open(&path)
        .await
        .err()
        .expect("a newer schema must be refused");
    assert!(
        error
            .to_string()
            .contains("newer than this Corral supports"),
        "{error}"
    );
}

#[tokio::test]
async fn a_negative_schema_version_is_refused_and_nothing_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corral.db");
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", -3)
        .unwrap();
    let error = Db::open(&path)
        .await
        .err()
        .expect("a negative schema version must be refused");
    assert!(error.to_string().contains("version is -3"), "{error}");
    let conn = Connection::open(&path).unwrap();
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 0, "no migration ran");
}

#[tokio::test]
async fn the_database_files_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = data.join("corral.db");
    // A file left open to others by an earlier Corral is tightened too.
    drop(Connection::open(&path).unwrap());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let _db = Db::open(&path).await.unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&path), 0o600);
    for suffix in ["-wal", "-shm"] {
        let file = data.join(format!("corral.db{suffix}"));
        if file.exists() {
            assert_eq!(mode(&file), 0o600, "{suffix}");
        }
    }
}
