//! SQL for `conversations`: one row per conversation, its system prompt and messages as one
//! JSON document, always read and written with its owner.

use rusqlite::{Connection, OptionalExtension, params};

use crate::domain::conversation::{Conversation, ConversationSummary};
use crate::domain::{AppError, Rule};
use crate::server::db::write_transaction;

/// The part of a conversation kept as JSON.
#[derive(serde::Serialize, serde::Deserialize)]
struct Document {
    #[serde(default)]
    system: String,
    #[serde(default)]
    messages: Vec<crate::domain::conversation::ChatMessage>,
}

pub fn list(
    conn: &Connection,
    owner: i64,
    limit: usize,
) -> rusqlite::Result<Vec<ConversationSummary>> {
    let mut statement = conn.prepare_cached(
        "SELECT id, title, model, json_array_length(document, '$.messages'), updated_at
         FROM conversations WHERE owner = ?1 ORDER BY updated_at DESC, id DESC LIMIT ?2",
    )?;
    statement
        .query_map(params![owner, limit as i64], |row| {
            Ok(ConversationSummary {
                id: row.get(0)?,
                title: row.get(1)?,
                model: row.get(2)?,
                messages: row.get::<_, Option<i64>>(3)?.unwrap_or(0).max(0) as usize,
                updated_at: row.get(4)?,
            })
        })?
        .collect()
}

pub fn get(conn: &Connection, owner: i64, id: i64) -> Result<Conversation, AppError> {
    let row = conn
        .query_row(
            "SELECT title, model, document, updated_at FROM conversations WHERE owner = ?1 AND id = ?2",
            params![owner, id],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, i64>(3)?,
                ))
            },
        )
        .optional()?;
    let Some((title, model, document, updated_at)) = row else {
        return Err(AppError::not_found("conversation", id));
    };
    let document: Document = serde_json::from_str(&document).map_err(AppError::internal)?;
    Ok(Conversation {
        id: Some(id),
        title,
        model,
        system: document.system,
        messages: document.messages,
        updated_at,
    })
}

/// Inserts (`id` none) or replaces the owner's conversation; refuses a new one past `max`.
pub fn save(
    conn: &mut Connection,
    owner: i64,
    conversation: &Conversation,
    max: usize,
    now: i64,
) -> Result<i64, AppError> {
    let document = serde_json::to_string(&Document {
        system: conversation.system.clone(),
        messages: conversation.messages.clone(),
    })
    .map_err(AppError::internal)?;
    let tx = write_transaction(conn)?;
    let id =
        match conversation.id {
            Some(id) => {
                let changed = tx.execute(
                "UPDATE conversations SET title = ?1, model = ?2, document = ?3, updated_at = ?4
                 WHERE owner = ?5 AND id = ?6",
                params![conversation.title, conversation.model, document, now, owner, id],
            )?;
                if changed == 0 {
                    return Err(AppError::not_found("conversation", id));
                }
                id
            }
            None => {
                let kept: i64 = tx.query_row(
                    "SELECT count(*) FROM conversations WHERE owner = ?1",
                    [owner],
                    |row| row.get(0),
                )?;
                if kept as usize >= max {
                    return Err(AppError::invalid(
                        "conversation",
                        Rule::MaxItems,
                        format!("{max} conversations are kept at most: delete some first"),
                    ));
                }
                tx.execute(
                "INSERT INTO conversations (owner, title, model, document, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                params![owner, conversation.title, conversation.model, document, now],
            )?;
                tx.last_insert_rowid()
            }
        };
    tx.commit()?;
    Ok(id)
}

pub fn rename(
    conn: &Connection,
    owner: i64,
    id: i64,
    title: &str,
    now: i64,
) -> Result<(), AppError> {
    let changed = conn.execute(
        "UPDATE conversations SET title = ?1, updated_at = ?2 WHERE owner = ?3 AND id = ?4",
        params![title, now, owner, id],
    )?;
    if changed == 0 {
        return Err(AppError::not_found("conversation", id));
    }
    Ok(())
}

pub fn delete(conn: &Connection, owner: i64, id: i64) -> Result<(), AppError> {
    let changed = conn.execute(
        "DELETE FROM conversations WHERE owner = ?1 AND id = ?2",
        params![owner, id],
    )?;
    if changed == 0 {
        return Err(AppError::not_found("conversation", id));
    }
    Ok(())
}
