//! API keys for programs: what a key may do (scopes), which models it may use, and how it is
//! shown (a name and a short prefix; the key itself only once, when it is made).

use serde::{Deserialize, Serialize};

choice_enum! {
    /// What a key may do. `admin` may do everything.
    pub enum Scope {
        /// The gateway (`/v1`, the router API's listing), limited to the key's models.
        Inference => "inference",
        /// Reading models, runs, logs, metrics and activity.
        ModelsRead => "models:read",
        /// Starting, stopping, loading and unloading models.
        ModelsManage => "models:manage",
        Admin => "admin",
    }
}

impl Scope {
    /// What the scope lets a program do, in a sentence for the page that makes keys.
    pub fn explained(self) -> &'static str {
        match self {
            Scope::Inference => {
                "chat, completions and embeddings through /v1 (starting a stopped model on demand), for the key's models"
            }
            Scope::ModelsRead => "read models, runs, logs, metrics and activity",
            Scope::ModelsManage => "start, stop, load and unload models",
            Scope::Admin => "everything, settings and keys included",
        }
    }
}

/// A key as lists show it: never the key itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: i64,
    pub name: String,
    /// The key's first characters, to tell keys apart.
    pub prefix: String,
    pub scopes: Vec<Scope>,
    /// The models (ids) an inference key may use; `None`: every model.
    pub models: Option<Vec<i64>>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// `POST /api/keys/create`'s answer: the key, shown this once, and how it is listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatedKey {
    pub key: String,
    pub listed: ApiKey,
}

/// What one caller (a key, by its prefix, or `session`) asked of the gateway: requests and
/// tokens (prompt and generated) in the last 24 hours and 30 days, from the activity records
/// (as long as they are kept, `--keep-activity-days`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyUsage {
    pub caller: String,
    pub requests_24h: i64,
    pub tokens_24h: i64,
    pub requests_30d: i64,
    pub tokens_30d: i64,
}
