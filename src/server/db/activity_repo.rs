//! SQL for `activity`: gateway requests, written in batches, read newest first, pruned by age.

use rusqlite::{Connection, Row, params};

use crate::domain::activity::{Activity, ActivityQuery, Outcome};
use crate::server::db::write_transaction;

const COLUMNS: &str = "id, received_at, model_id, model, run_id, endpoint, status, started_model, \
     queue_ms, load_ms, ttft_ms, prompt_tokens, cached_tokens, generated_tokens, \
     prompt_tokens_per_s, generation_tokens_per_s, duration_ms, error, caller, via";

/// Stores the records in one transaction and gives each its id. A record whose model was
/// deleted meanwhile keeps its name and loses the reference.
pub fn insert(conn: &mut Connection, records: &mut [Activity]) -> rusqlite::Result<()> {
    let tx = write_transaction(conn)?;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO activity (received_at, model_id, model, run_id, endpoint, status,
                 started_model, queue_ms, load_ms, ttft_ms, prompt_tokens, cached_tokens,
                 generated_tokens, prompt_tokens_per_s, generation_tokens_per_s, duration_ms,
                 error, caller, via)
             VALUES (?1, (SELECT id FROM models WHERE id = ?2), ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,
                 ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
        )?;
        for record in records.iter_mut() {
            stmt.execute(params![
                record.received_at,
                record.model_id,
                record.model,
                record.run_id,
                record.endpoint,
                record.status,
                record.started_model,
                record.queue_ms,
                record.load_ms,
                record.ttft_ms,
                record.prompt_tokens,
                record.cached_tokens,
                record.generated_tokens,
                record.prompt_tokens_per_s,
                record.generation_tokens_per_s,
                record.duration_ms,
                record.error,
                record.caller,
                record.via,
            ])?;
            record.id = tx.last_insert_rowid();
        }
    }
    tx.commit()
}

/// One page, newest first. `limit` is already checked.
pub fn list(
    conn: &Connection,
    query: &ActivityQuery,
    limit: i64,
) -> rusqlite::Result<Vec<Activity>> {
    let outcome = match query.outcome {
        None => "1",
        Some(Outcome::Succeeded) => "(status BETWEEN 200 AND 299 AND error IS NULL)",
        Some(Outcome::Failed) => "NOT (status BETWEEN 200 AND 299 AND error IS NULL)",
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM activity
         WHERE (?1 IS NULL OR model_id = ?1) AND (?2 IS NULL OR id < ?2) AND {outcome}
           AND (?4 IS NULL OR caller = ?4)
         ORDER BY id DESC LIMIT ?3"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    stmt.query_map(
        params![query.model_id, query.page.before, limit, query.caller],
        from_row,
    )?
    .collect()
}

/// Requests that arrived in `[from, to)`, at most `limit` (the latest), oldest first.
pub fn between(
    conn: &Connection,
    from: i64,
    to: i64,
    limit: i64,
) -> rusqlite::Result<Vec<Activity>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM activity WHERE received_at >= ?1 AND received_at < ?2
         ORDER BY received_at DESC LIMIT ?3"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt
        .query_map(params![from, to, limit], from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.reverse();
    Ok(rows)
}

/// Requests and tokens per caller since `day` and since `month` (`month` ≤ `day`).
pub fn usage_by_caller(
    conn: &Connection,
    day: i64,
    month: i64,
) -> rusqlite::Result<Vec<crate::domain::api_key::KeyUsage>> {
    let mut stmt = conn.prepare_cached(
        "SELECT caller,
                count(*) FILTER (WHERE received_at >= ?1),
                coalesce(sum(coalesce(prompt_tokens, 0) + coalesce(generated_tokens, 0))
                    FILTER (WHERE received_at >= ?1), 0),
                count(*),
                coalesce(sum(coalesce(prompt_tokens, 0) + coalesce(generated_tokens, 0)), 0)
         FROM activity WHERE received_at >= ?2 AND caller IS NOT NULL
         GROUP BY caller ORDER BY caller",
    )?;
    stmt.query_map(params![day, month], |row| {
        Ok(crate::domain::api_key::KeyUsage {
            caller: row.get(0)?,
            requests_24h: row.get(1)?,
            tokens_24h: row.get(2)?,
            requests_30d: row.get(3)?,
            tokens_30d: row.get(4)?,
        })
    })?
    .collect()
}

/// Drops requests that arrived before `cutoff`; answers how many.
pub fn prune(conn: &mut Connection, cutoff: i64) -> rusqlite::Result<usize> {
    conn.execute("DELETE FROM activity WHERE received_at < ?1", [cutoff])
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<Activity> {
    Ok(Activity {
        id: row.get(0)?,
        received_at: row.get(1)?,
        model_id: row.get(2)?,
        model: row.get(3)?,
        run_id: row.get(4)?,
        endpoint: row.get(5)?,
        status: row.get(6)?,
        started_model: row.get(7)?,
        queue_ms: row.get(8)?,
        load_ms: row.get(9)?,
        ttft_ms: row.get(10)?,
        prompt_tokens: row.get(11)?,
        cached_tokens: row.get(12)?,
        generated_tokens: row.get(13)?,
        prompt_tokens_per_s: row.get(14)?,
        generation_tokens_per_s: row.get(15)?,
        duration_ms: row.get(16)?,
        error: row.get(17)?,
        caller: row.get(18)?,
        via: row.get(19)?,
    })
}
