//! `/api/conversations/*`: the Playground's saved conversations, each person's own where a
//! login is required (shared where it is not).

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::domain::AppError;
use crate::domain::conversation::{Conversation, ConversationSummary};

#[cfg(feature = "ssr")]
use crate::api::state;

/// Whose conversations: the signed-in admin's, else 0 (anyone, where no login is required;
/// a key is not a person and shares those).
#[cfg(feature = "ssr")]
fn owner() -> i64 {
    use_context::<axum::http::request::Parts>()
        .and_then(|parts| {
            parts
                .extensions
                .get::<crate::server::access::SignedIn>()
                .map(|s| s.admin_id)
        })
        .unwrap_or(0)
}

/// `{}` → the newest 200: `[{"id", "title", "model", "messages", "updated_at"}]`.
#[server(prefix = "/api", endpoint = "conversations/list", input = Json)]
pub async fn list_conversations() -> Result<Vec<ConversationSummary>, AppError> {
    crate::server::conversations::list(&state()?.db, owner()).await
}

/// `{"id": N}` → the whole conversation: `{"id", "title", "model", "system", "messages":
/// [{"role", "text", "images"?, "ttft_ms"?, "cost"?}], "updated_at"}`.
#[server(prefix = "/api", endpoint = "conversations/get", input = Json)]
pub async fn get_conversation(id: i64) -> Result<Conversation, AppError> {
    crate::server::conversations::get(&state()?.db, owner(), id).await
}

/// `{"conversation": {...}}` (no `id`: a new one) → as saved, with its id. Replaced whole;
/// a blank title is taken from the first message. Bounds are named per field (400).
#[server(prefix = "/api", endpoint = "conversations/save", input = Json)]
pub async fn save_conversation(conversation: Conversation) -> Result<Conversation, AppError> {
    crate::server::conversations::save(&state()?.db, owner(), conversation).await
}

/// `{"id": N, "title": "..."}` → renamed.
#[server(prefix = "/api", endpoint = "conversations/rename", input = Json)]
pub async fn rename_conversation(id: i64, title: String) -> Result<(), AppError> {
    crate::server::conversations::rename(&state()?.db, owner(), id, title).await
}

/// `{"id": N}` → deleted.
#[server(prefix = "/api", endpoint = "conversations/delete", input = Json)]
pub async fn delete_conversation(id: i64) -> Result<(), AppError> {
    crate::server::conversations::delete(&state()?.db, owner(), id).await
}
