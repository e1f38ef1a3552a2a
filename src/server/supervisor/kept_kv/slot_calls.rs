//! llama-server's slot API, as the store uses it: `GET /slots` for the slots there are,
//! `POST /slots/N?action=save` and `?action=restore` with a file name inside the server's
//! `--slot-save-path`. Replies are read for their token counts only.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::server::supervisor::kept_kv::SavedSlot;
use crate::server::supervisor::run::http_probe;

/// Longest one slot's save or restore may take (a very long context is gigabytes).
const SLOT_WITHIN: Duration = Duration::from_secs(300);
/// Most slots saved (llama-server's `--parallel` is rarely above a few dozen).
const MAX_SLOTS: usize = 256;

/// Saves each slot that holds tokens into `dir` as `slot-N.bin`; a slot with none leaves no
/// file.
pub(super) async fn save_all(
    port: u16,
    key: Option<&str>,
    dir: &Path,
) -> Result<Vec<SavedSlot>, String> {
    let (status, body) = http_probe::get(port, "/slots", key, Duration::from_secs(5))
        .await
        .map_err(|e| format!("cannot list the slots: {e}"))?;
    if status != 200 {
        return Err(format!("cannot list the slots: HTTP {status}"));
    }
    let mut saved = Vec::new();
    for id in slot_ids(&body).into_iter().take(MAX_SLOTS) {
        let file = file_of(id);
        let reply = call(port, key, id, "save", &file).await?;
        let tokens = (reply.get("n_saved").and_then(Value::as_i64))
            .unwrap_or(0)
            .max(0);
        let bytes = tokio::fs::metadata(dir.join(&file))
            .await
            .map_or(0, |meta| meta.len());
        if tokens > 0 && bytes > 0 {
            saved.push(SavedSlot {
                id,
                file,
                tokens,
                bytes,
            });
        } else {
            let _ = tokio::fs::remove_file(dir.join(&file)).await;
        }
    }
    Ok(saved)
}

/// Restores slot `id` from `file`; the tokens restored.
pub(super) async fn restore(
    port: u16,
    key: Option<&str>,
    id: u32,
    file: &str,
) -> Result<i64, String> {
    if file != file_of(id) {
        return Err(format!("slot {id}: its manifest names another file"));
    }
    let reply = call(port, key, id, "restore", file).await?;
    Ok(reply
        .get("n_restored")
        .and_then(Value::as_i64)
        .unwrap_or(0)
        .max(0))
}

/// The file slot `id` is saved in: the only name a manifest may give it.
pub(super) fn file_of(id: u32) -> String {
    format!("slot-{id}.bin")
}

/// A slot file by its name, to clear a folder whatever its manifest says.
pub(super) fn is_slot_file(name: &str) -> bool {
    name.strip_prefix("slot-")
        .and_then(|rest| rest.strip_suffix(".bin"))
        .is_some_and(|id| id.parse::<u32>().is_ok())
}

async fn call(
    port: u16,
    key: Option<&str>,
    id: u32,
    action: &str,
    file: &str,
) -> Result<Value, String> {
    let path = format!("/slots/{id}?action={action}");
    let body = json!({ "filename": file }).to_string();
    let (status, reply) = http_probe::post(port, &path, key, &body, SLOT_WITHIN)
        .await
        .map_err(|e| format!("slot {id} {action}: {e}"))?;
    let reply: Value = serde_json::from_str(&reply).unwrap_or(Value::Null);
    if status != 200 {
        let message = reply
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("no reason given");
        return Err(format!(
            "slot {id} {action}: HTTP {status}: {}",
            crate::domain::text::kept(message)
        ));
    }
    Ok(reply)
}

/// The slot ids `GET /slots` lists.
fn slot_ids(body: &str) -> Vec<u32> {
    let Ok(Value::Array(slots)) = serde_json::from_str::<Value>(body) else {
        return Vec::new();
    };
    slots
        .iter()
        .filter_map(|slot| slot.get("id").and_then(Value::as_u64))
        .filter_map(|id| u32::try_from(id).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_ids_come_from_the_list_and_garbage_gives_none() {
        assert_eq!(slot_ids(r#"[{"id":0,"n_ctx":512},{"id":1}]"#), [0, 1]);
        assert!(slot_ids("not json").is_empty());
        assert!(slot_ids(r#"{"id":0}"#).is_empty());
        assert!(slot_ids(r#"[{"id":-1},{"id":"x"}]"#).is_empty());
    }

    #[test]
    fn only_corrals_own_names_are_slot_files() {
        assert!(is_slot_file(&file_of(3)));
        for name in [
            "",
            "../slot-1.bin",
            "slot-x.bin",
            "kept.json",
            "corral.db",
            "slot-1.bin/",
        ] {
            assert!(!is_slot_file(name), "{name}");
        }
    }
}
