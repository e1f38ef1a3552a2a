//! Serving: how the gateway offers the model to clients — the names it answers to, what kind of
//! requests it takes, how many may wait for it, and when it is unloaded.

use serde::{Deserialize, Serialize};

use serde_json::{Map, Value};

use crate::domain::config::request_shape::{self, Filters, MAX_JSON_BYTES, Shape};
use crate::domain::error::{FieldError, Rule};
use crate::domain::fields::{FieldSet, FieldSpec, Flag};
use crate::domain::model::MAX_NAME_LEN;
use crate::domain::restart_rule::Restart;

choice_enum! {
    /// What a model's server is started to answer: llama-server answers 501 to embeddings or
    /// rerank requests unless started for them.
    pub enum Role {
        Chat => "chat",
        Embeddings => "embeddings",
        Rerank => "rerank",
    }
}

impl Role {
    /// The setting a person changes to serve another kind of request, in words.
    pub fn label(self) -> &'static str {
        match self {
            Role::Chat => "chat and completions",
            Role::Embeddings => "embeddings",
            Role::Rerank => "reranking",
        }
    }
}

choice_enum! {
    /// What a streamed chat that waits for its model to load hears meanwhile.
    pub enum LoadingState {
        /// Nothing until the first token (the client's own wait).
        Off => "off",
        /// The load's progress as `reasoning_content` deltas, which chat UIs show as thinking.
        Reasoning => "reasoning",
    }
}

choice_enum! {
    /// What an idle model's server does once its idle time (`idle_ttl_seconds`) is up.
    pub enum IdleAction {
        /// Corral stops the process.
        Stop => "stop",
        /// llama-server frees the weights and keeps its process (`--sleep-idle-seconds`); the
        /// next request wakes it.
        Sleep => "sleep",
    }
}

/// Most aliases one model may have.
pub const MAX_ALIASES: usize = 16;
/// Requests in flight plus queued for one model when the setting is empty.
pub const DEFAULT_MAX_REQUESTS: u32 = 32;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServingConfig {
    pub role: Option<Role>,
    pub aliases: Vec<String>,
    pub pinned: Option<bool>,
    pub idle_ttl_seconds: Option<i64>,
    pub max_requests: Option<i64>,
    pub queue_timeout_seconds: Option<i64>,
    pub unlisted: Option<bool>,
    /// Keys stripped from, then set in, every request body (`{"strip": [..], "set": {..}}`).
    pub filters: Filters,
    /// `name:suffix` → parameters set for requests that name the model with that suffix.
    pub variants: Map<String, Value>,
    /// The variants are listed in `/v1/models` as `name:suffix`.
    pub list_variants: Option<bool>,
    /// Starts waiting for a place go highest first (0 when unset).
    pub priority: Option<i64>,
    /// Started when Corral starts.
    pub preload: Option<bool>,
    /// What a streamed chat waiting for the load hears; unset: the Settings page's.
    pub loading_state: Option<LoadingState>,
    /// Free-form facts listed with the model in `/v1/models` (`metadata`).
    pub metadata: Map<String, Value>,
    /// Started again after a crash (`on-failure`), or left in error (`never`, when unset).
    pub restart: Option<Restart>,
    /// Stopped (unset) or put to sleep when its idle time is up.
    pub idle_action: Option<IdleAction>,
    /// Its slots' KV cache is saved before a stop and restored by the next start.
    pub keep_kv: Option<bool>,
}

impl ServingConfig {
    pub fn role(&self) -> Role {
        self.role.unwrap_or(Role::Chat)
    }

    pub fn pinned(&self) -> bool {
        self.pinned.unwrap_or(false)
    }

    /// Left out of the model lists clients read; still served to a request that names it.
    pub fn unlisted(&self) -> bool {
        self.unlisted.unwrap_or(false)
    }

    pub fn priority(&self) -> i64 {
        self.priority.unwrap_or(0)
    }

    pub fn preload(&self) -> bool {
        self.preload.unwrap_or(false)
    }

    /// The seconds after which llama-server itself sleeps (`--sleep-idle-seconds`), when the
    /// idle action is `sleep`; Corral then never stops it for being idle.
    pub fn sleeps_after(&self) -> Option<i64> {
        (self.idle_action == Some(IdleAction::Sleep))
            .then_some(self.idle_ttl_seconds)
            .flatten()
            .filter(|seconds| *seconds > 0)
    }

    pub fn keep_kv(&self) -> bool {
        self.keep_kv.unwrap_or(false)
    }

    pub fn restart(&self) -> Restart {
        self.restart.unwrap_or(Restart::Never)
    }

    pub fn list_variants(&self) -> bool {
        self.list_variants.unwrap_or(false)
    }

    /// The parameters of the variant `suffix` (compared without regard to ASCII case).
    pub fn variant(&self, suffix: &str) -> Option<(&str, &Map<String, Value>)> {
        self.variants
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(suffix))
            .and_then(|(name, params)| params.as_object().map(|p| (name.as_str(), p)))
    }

    /// What the gateway changes in a request that names the model with `variant`.
    pub fn shape<'a>(&'a self, variant: Option<&str>) -> Shape<'a> {
        Shape {
            variant: variant
                .and_then(|v| self.variant(v))
                .map(|(_, params)| params),
            filters: Some(&self.filters),
        }
    }

    pub fn max_requests(&self) -> u32 {
        self.max_requests
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(DEFAULT_MAX_REQUESTS)
    }
}

impl FieldSet for ServingConfig {
    const FIELDS: &'static [FieldSpec] = &[
        FieldSpec::choice("role", "Role", Role::NAMES)
            .flag(Flag::Chosen(&[
                ("embeddings", "--embeddings"),
                ("rerank", "--reranking"),
            ]))
            .help(
                "What the server answers: chat and completions, embeddings (--embeddings) or \
                 reranking (--reranking). Requests of another kind are refused with a message.",
            )
            .default("chat"),
        FieldSpec::list("aliases", "Aliases", MAX_ALIASES)
            .help(
                "Other names clients may use for this model in the `model` field, one per line; \
                 unique across every name and alias, ignoring case.",
            )
            .default("none"),
        FieldSpec::toggle("pinned", "Pinned")
            .help("Never stopped to make room for another model.")
            .default("off"),
        FieldSpec::int("idle_ttl_seconds", "Unload when idle (s)", 0, 31_536_000)
            .help(
                "Stop the server after this many seconds without a request (counted from the end \
                 of the last answer); 0 never.",
            )
            .default("the --idle-ttl flag (0: never)"),
        FieldSpec::choice("idle_action", "When idle", IdleAction::NAMES)
            .help(
                "What happens when 'Unload when idle' is up: stop the server, or let it sleep \
                 (--sleep-idle-seconds: the weights are freed, the process stays, and the next \
                 request wakes it, faster than a start).",
            )
            .default("stop"),
        FieldSpec::toggle("keep_kv", "Keep KV cache across stops")
            .help(
                "Before the server is stopped (idle, to make room, or by a person) its slots' KV \
                 cache is saved in Corral's data folder (--slot-save-path), and the next start \
                 with the same file, llama-server and KV settings restores it before the first \
                 request: a long conversation is not computed again. Bounded by --kv-disk-mib, \
                 oldest first.",
            )
            .default("off"),
        FieldSpec::int("max_requests", "Request limit", 1, 10_000)
            .help(
                "Requests in flight plus waiting for this model; one more is answered 429 with \
                 Retry-After.",
            )
            .default("32"),
        FieldSpec::int("queue_timeout_seconds", "Queue timeout (s)", 1, 86_400)
            .help(
                "Longest a request waits for the model to load or for room; then it is answered \
                 503 with Retry-After.",
            )
            .default("the model's load deadline"),
        FieldSpec::toggle("unlisted", "Unlisted")
            .help(
                "Left out of GET /v1/models and the router's list; a request that names it is \
                 still served.",
            )
            .default("off"),
        FieldSpec::json_object("filters", "Request filters", 2 * MAX_JSON_BYTES)
            .help(
                "Changes to every request before the server sees it, as JSON: {\"strip\": \
                 [\"temperature\"], \"set\": {\"max_tokens\": 1024}} removes the keys listed, \
                 then sets (objects merged). model and stream cannot be changed.",
            )
            .default("none"),
        FieldSpec::json_object("variants", "Variants", 4 * MAX_JSON_BYTES)
            .help(
                "Names for the same running model with parameters set, as JSON: {\"high\": \
                 {\"chat_template_kwargs\": {\"reasoning_effort\": \"high\"}}} serves \
                 name:high with that set, without a restart.",
            )
            .default("none"),
        FieldSpec::toggle("list_variants", "List variants")
            .help("Each variant is listed in GET /v1/models as name:suffix.")
            .default("off"),
        FieldSpec::int("priority", "Priority", -100, 100)
            .help(
                "When models wait for room to start (--max-running), the highest priority \
                 starts first, the first asked among equals; preloads go in this order too.",
            )
            .default("0"),
        FieldSpec::choice("loading_state", "Loading progress", LoadingState::NAMES)
            .help(
                "A streamed chat that waits for this model to load hears the load's progress as \
                 reasoning (chat UIs show it as thinking), or nothing.",
            )
            .default("the Settings page's (off)"),
        FieldSpec::json_object("metadata", "Metadata", 8 * 1024)
            .help(
                "Free-form facts clients read in GET /v1/models as the model's metadata, as \
                 JSON: {\"family\": \"qwen\", \"license\": \"apache-2.0\"}.",
            )
            .default("none"),
        FieldSpec::choice("restart", "Restart on crash", Restart::NAMES)
            .help(
                "on-failure: when the server crashes or is killed for memory after it was ready, \
                 start it again after 1 s, doubling to 5 min; after 5 failures within 10 minutes \
                 it stays in error with the reason. A stop by a person never restarts.",
            )
            .default("never"),
        FieldSpec::toggle("preload", "Start with Corral")
            .help(
                "Started when Corral starts, highest priority first, while places are free (a \
                 preload never stops another model).",
            )
            .default("off"),
    ];

    fn cross_check(&self) -> Vec<FieldError> {
        let mut errors = request_shape::check_filters("filters", &self.filters);
        if self.idle_action == Some(IdleAction::Sleep) && self.sleeps_after().is_none() {
            errors.push(FieldError::new(
                "idle_action",
                Rule::Required,
                "sleep needs 'Unload when idle (s)' set: the seconds without a request before \
                 the server sleeps",
            ));
        }
        errors.extend(request_shape::check_variants("variants", &self.variants));
        let mut seen: Vec<String> = Vec::new();
        for (i, alias) in self.aliases.iter().enumerate() {
            let field = format!("aliases[{i}]");
            if alias.trim() != alias {
                errors.push(FieldError::new(
                    field,
                    Rule::Pattern,
                    "must not start or end with spaces",
                ));
            } else if alias.chars().count() > MAX_NAME_LEN {
                errors.push(FieldError::new(
                    field,
                    Rule::MaxLength,
                    format!("must be at most {MAX_NAME_LEN} characters"),
                ));
            } else if seen.contains(&fold(alias)) {
                errors.push(FieldError::new(
                    field,
                    Rule::Unique,
                    format!("'{alias}' is listed twice"),
                ));
            }
            seen.push(fold(alias));
        }
        errors
    }
}

/// Names and aliases compare as SQLite's NOCASE does: ASCII letters without regard to case.
pub fn fold(name: &str) -> String {
    name.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_alias_listed_twice_in_another_case_is_refused() {
        let error = ServingConfig::parse(&json!({"aliases": ["gpt-4o", "GPT-4o"]})).unwrap_err();
        let crate::domain::AppError::Invalid { errors } = error else {
            panic!("not invalid")
        };
        assert_eq!(errors[0].field, "aliases[1]");
        assert_eq!(errors[0].rule, Rule::Unique);
    }

    #[test]
    fn an_empty_group_serves_chat_with_the_default_limit() {
        let config = ServingConfig::parse(&json!({})).unwrap();
        assert_eq!(config.role(), Role::Chat);
        assert_eq!(config.max_requests(), DEFAULT_MAX_REQUESTS);
        assert!(!config.pinned());
    }

    #[test]
    fn an_alias_with_surrounding_spaces_is_refused() {
        assert!(ServingConfig::parse(&json!({"aliases": [" x"]})).is_err());
    }
}
