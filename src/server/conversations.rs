//! The Playground's saved conversations: checked, then kept per owner (the signed-in admin, or
//! 0 for anyone where no login is required). One person never reads another's.

use crate::domain::conversation::{
    Conversation, ConversationSummary, MAX_CONVERSATIONS, MAX_TITLE_CHARS,
};
use crate::domain::{AppError, Rule};
use crate::server::db::{Db, conversations_repo};
use crate::server::now_ms;

/// Conversations listed at most (newest first).
const LISTED: usize = 200;

pub async fn list(db: &Db, owner: i64) -> Result<Vec<ConversationSummary>, AppError> {
    db.call(move |conn| Ok(conversations_repo::list(conn, owner, LISTED)?))
        .await
}

pub async fn get(db: &Db, owner: i64, id: i64) -> Result<Conversation, AppError> {
    db.call(move |conn| conversations_repo::get(conn, owner, id))
        .await
}

/// Saves the whole conversation (new when it has no id) and answers it as stored. A blank
/// title is taken from its first message.
pub async fn save(
    db: &Db,
    owner: i64,
    mut conversation: Conversation,
) -> Result<Conversation, AppError> {
    conversation.check()?;
    conversation.title = conversation.title.trim().to_string();
    if conversation.title.is_empty() {
        conversation.title = conversation.derived_title();
    }
    let now = now_ms();
    let stored = conversation.clone();
    let id = db
        .call(move |conn| conversations_repo::save(conn, owner, &stored, MAX_CONVERSATIONS, now))
        .await?;
    conversation.id = Some(id);
    conversation.updated_at = now;
    Ok(conversation)
}

pub async fn rename(db: &Db, owner: i64, id: i64, title: String) -> Result<(), AppError> {
    let title = title.trim().to_string();
    if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS {
        return Err(AppError::invalid(
            "title",
            Rule::MaxLength,
            format!("must be 1 to {MAX_TITLE_CHARS} characters"),
        ));
    }
    let now = now_ms();
    db.call(move |conn| conversations_repo::rename(conn, owner, id, &title, now))
        .await
}

pub async fn delete(db: &Db, owner: i64, id: i64) -> Result<(), AppError> {
    db.call(move |conn| conversations_repo::delete(conn, owner, id))
        .await
}
