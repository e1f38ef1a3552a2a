//! The `runs` table: one row per llama-server process.

use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::domain::device_memory::{GpuBytes, raise_peaks};
use crate::domain::run::{FailureReason, Run};

const COLUMNS: &str = "id, model_id, pid, pgid, port, command, started_at, ready_at, ended_at, \
    exit_code, signal, failure, message, log_tail, peak_rss_bytes";

fn json_list(row: &Row<'_>, column: usize) -> rusqlite::Result<Vec<String>> {
    let text: String = row.get(column)?;
    serde_json::from_str(&text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(column, Type::Text, e.into()))
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<Run> {
    let failure: Option<String> = row.get(11)?;
    let failure = match failure {
        Some(word) => Some(FailureReason::parse(&word).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                11,
                Type::Text,
                format!("unknown failure '{word}'").into(),
            )
        })?),
        None => None,
    };
    Ok(Run {
        id: row.get(0)?,
        model_id: row.get(1)?,
        pid: row.get(2)?,
        pgid: row.get(3)?,
        port: row.get(4)?,
        command: json_list(row, 5)?,
        started_at: row.get(6)?,
        ready_at: row.get(7)?,
        ended_at: row.get(8)?,
        exit_code: row.get(9)?,
        signal: row.get(10)?,
        failure,
        message: row.get(12)?,
        log_tail: json_list(row, 13)?,
        peak_rss_bytes: row
            .get::<_, Option<i64>>(14)?
            .and_then(|b| u64::try_from(b).ok()),
    })
}

fn to_json(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".into())
}

/// Records a process that was just spawned; returns the run id.
pub fn insert(
    conn: &Connection,
    model_id: i64,
    pid: u32,
    port: u16,
    command: &[String],
    started_at: i64,
) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO runs (model_id, pid, pgid, port, command, started_at) \
         VALUES (?1, ?2, ?2, ?3, ?4, ?5)",
        params![model_id, pid, port, to_json(command), started_at],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Records a start that failed before a process existed (a missing file, a taken port).
pub fn insert_failed(
    conn: &Connection,
    model_id: i64,
    command: &[String],
    at: i64,
    failure: FailureReason,
    message: &str,
) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO runs (model_id, port, command, started_at, ended_at, failure, message) \
         VALUES (?1, 0, ?2, ?3, ?3, ?4, ?5)",
        params![model_id, to_json(command), at, failure.as_str(), message],
    )?;
    Ok(conn.last_insert_rowid())
}

pub fn mark_ready(conn: &Connection, id: i64, at: i64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE runs SET ready_at = ?2 WHERE id = ?1",
        params![id, at],
    )?;
    Ok(())
}

/// How a process ended.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ending {
    pub at: i64,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub failure: Option<FailureReason>,
    pub message: Option<String>,
    pub log_tail: Vec<String>,
}

pub fn finish(conn: &Connection, id: i64, ending: &Ending) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE runs SET ended_at = ?2, exit_code = ?3, signal = ?4, failure = ?5, message = ?6, \
         log_tail = ?7 WHERE id = ?1",
        params![
            id,
            ending.at,
            ending.exit_code,
            ending.signal,
            ending.failure.map(|f| f.as_str()),
            ending.message,
            to_json(&ending.log_tail)
        ],
    )?;
    Ok(())
}

/// Keeps the newest log lines of a live run, so they survive Corral being killed.
pub fn save_tail(conn: &Connection, id: i64, tail: &[String]) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE runs SET log_tail = ?2 WHERE id = ?1",
        params![id, to_json(tail)],
    )?;
    Ok(())
}

/// Raises the run's measured peak of resident memory to `bytes` (never lowers it).
pub fn record_peak(conn: &Connection, id: i64, bytes: u64) -> rusqlite::Result<()> {
    let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
    conn.execute(
        "UPDATE runs SET peak_rss_bytes = max(coalesce(peak_rss_bytes, 0), ?2) WHERE id = ?1",
        params![id, bytes],
    )?;
    Ok(())
}

/// Runs recorded as alive, oldest first.
pub fn alive(conn: &Connection) -> rusqlite::Result<Vec<Run>> {
    let mut statement = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM runs WHERE ended_at IS NULL ORDER BY id"
    ))?;
    let runs = statement.query_map([], from_row)?;
    runs.collect()
}

/// What one earlier run was measured to use at its peak.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeasuredPeak {
    /// The command it ran (program first).
    pub command: Vec<String>,
    /// Resident memory.
    pub ram: u64,
    /// Memory on each GPU; `None` when no GPU reading was taken (no NVML).
    pub gpus: Option<Vec<GpuBytes>>,
}

/// The command and measured peaks of the model's last `limit` runs that have one, newest
/// first (without the log tails a whole run row carries).
pub fn measured_peaks(
    conn: &Connection,
    model_id: i64,
    limit: i64,
) -> rusqlite::Result<Vec<MeasuredPeak>> {
    let mut statement = conn.prepare_cached(
        "SELECT command, peak_rss_bytes, peak_gpu FROM runs \
         WHERE model_id = ?1 AND peak_rss_bytes IS NOT NULL ORDER BY id DESC LIMIT ?2",
    )?;
    let rows = statement.query_map(params![model_id, limit], |row| {
        let peak: i64 = row.get(1)?;
        let gpus: Option<String> = row.get(2)?;
        Ok(MeasuredPeak {
            command: json_list(row, 0)?,
            ram: u64::try_from(peak).unwrap_or(0),
            // A value that does not read counts as not measured.
            gpus: gpus.and_then(|text| serde_json::from_str(&text).ok()),
        })
    })?;
    rows.collect()
}

/// Raises the run's measured peak on each GPU of `gpus` (never lowers one).
pub fn record_gpu_peak(conn: &Connection, id: i64, gpus: &[GpuBytes]) -> rusqlite::Result<()> {
    let tx = conn.unchecked_transaction()?;
    let before: Option<String> = tx
        .query_row("SELECT peak_gpu FROM runs WHERE id = ?1", [id], |row| {
            row.get(0)
        })
        .optional()?
        .flatten();
    let mut peaks: Vec<GpuBytes> = before
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default();
    raise_peaks(&mut peaks, gpus, 0);
    peaks.truncate(64);
    let text = serde_json::to_string(&peaks).unwrap_or_else(|_| "[]".into());
    tx.execute(
        "UPDATE runs SET peak_gpu = ?2 WHERE id = ?1",
        params![id, text],
    )?;
    tx.commit()
}

/// How long the model's last `limit` loads that became ready took, newest first (ms).
pub fn load_times(conn: &Connection, model_id: i64, limit: i64) -> rusqlite::Result<Vec<i64>> {
    let mut statement = conn.prepare_cached(
        "SELECT ready_at - started_at FROM runs WHERE model_id = ?1 AND ready_at IS NOT NULL \
         ORDER BY id DESC LIMIT ?2",
    )?;
    let times = statement.query_map(params![model_id, limit], |row| row.get(0))?;
    times.collect()
}

/// A model's runs, newest first: `limit` of them, older than run `before` when given.
pub fn for_model(
    conn: &Connection,
    model_id: i64,
    limit: i64,
    before: Option<i64>,
) -> rusqlite::Result<Vec<Run>> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM runs WHERE model_id = ?1 AND id < ?3 ORDER BY id DESC LIMIT ?2"
    ))?;
    let runs = statement.query_map(
        params![model_id, limit, before.unwrap_or(i64::MAX)],
        from_row,
    )?;
    runs.collect()
}

/// Removes the model's ended runs beyond the newest `keep`. A run still alive is never removed:
/// start-up reconciles it.
pub fn prune(conn: &Connection, model_id: i64, keep: i64) -> rusqlite::Result<usize> {
    conn.execute(
        "DELETE FROM runs WHERE model_id = ?1 AND ended_at IS NOT NULL AND id < \
         (SELECT min(id) FROM (SELECT id FROM runs WHERE model_id = ?1 ORDER BY id DESC LIMIT ?2))",
        params![model_id, keep.max(1)],
    )
}
