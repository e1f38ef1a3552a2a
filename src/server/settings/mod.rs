//! The owner of Corral's own settings: the stored document (SQLite), which of them a flag
//! decided, and applying them live to the peers that use them (the supervisor's limits and
//! binary, the model folders, history retention). A flag given at start wins over what is
//! stored, and the page says so.

pub mod by_key;
pub mod llama_server_info;

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;

use crate::domain::fields::FieldSet;
use crate::domain::settings::{CorralSettings, SetByFlag, SettingsView};
use crate::domain::{AppError, FieldError, Rule};
use crate::server::db::{Db, Retention, settings_repo};
use crate::server::discovery::Discovery;
use crate::server::models::model_roots::ModelRoots;
use crate::server::now_ms;
use crate::server::supervisor::Supervisor;
use crate::server::supervisor::settings::SupervisorSettings;

/// What applies when nothing is stored: the flags' values and defaults.
#[derive(Debug, Clone)]
pub struct Base {
    pub supervisor: SupervisorSettings,
    pub retention: Retention,
    pub models_dirs: Vec<PathBuf>,
}

#[derive(Clone)]
pub struct Settings(Arc<Inner>);

struct Inner {
    db: Db,
    base: Base,
    set_by_flag: Vec<SetByFlag>,
    roots: ModelRoots,
    supervisor: Supervisor,
    discovery: Discovery,
    /// The stored document and its revision; saves take turns so two tabs cannot interleave.
    stored: tokio::sync::Mutex<(CorralSettings, i64)>,
}

/// Reads the stored document; a broken one (edited by hand) counts as empty and is logged.
pub async fn load(db: &Db) -> Result<CorralSettings, AppError> {
    let text = db.call(|conn| Ok(settings_repo::load(conn)?)).await?;
    let Some(text) = text else {
        return Ok(CorralSettings::default());
    };
    let parsed = serde_json::from_str::<Value>(&text)
        .map_err(|e| AppError::invalid("settings", Rule::Type, e.to_string()))
        .and_then(|value| CorralSettings::parse(&value));
    Ok(parsed.unwrap_or_else(|error| {
        tracing::warn!(%error, "the stored settings are unreadable; using the flags' defaults");
        CorralSettings::default()
    }))
}

/// The base with every stored setting a flag did not decide laid over it, each owner taking
/// the settings it holds by key (`by_key`). Folders that are gone or outside the roots are
/// left out with a warning (a start must not fail on them).
pub fn effective(
    base: &Base,
    stored: &CorralSettings,
    set_by_flag: &[SetByFlag],
    roots: &ModelRoots,
) -> Base {
    let own = stored.only(|key| !set_by_flag.iter().any(|set| set.key == key));
    let (mut supervisor, refused) = by_key::laid_over(&base.supervisor, &own);
    let page_binary =
        own.get("llama_server").is_some() && !refused.iter().any(|(key, _)| key == "llama_server");
    supervisor.llama_server_from_page |= page_binary;
    let (retention, refused_too) = by_key::laid_over(&base.retention, &own);
    for (key, error) in refused.iter().chain(&refused_too) {
        tracing::warn!(%error, "the stored setting {key} does not apply; using the flag's");
    }
    let models_dirs = match own.get("models_dirs") {
        None => base.models_dirs.clone(),
        Some(_) => own
            .models_dirs()
            .iter()
            .filter_map(|dir| match roots.models_folder(&PathBuf::from(dir)) {
                Ok(real) => Some(real),
                Err(why) => {
                    tracing::warn!("a stored model folder is left out: {why}");
                    None
                }
            })
            .collect(),
    };
    Base {
        supervisor,
        retention,
        models_dirs,
    }
}

impl Settings {
    pub fn new(
        db: Db,
        base: Base,
        set_by_flag: Vec<SetByFlag>,
        roots: ModelRoots,
        stored: CorralSettings,
        supervisor: Supervisor,
        discovery: Discovery,
    ) -> Settings {
        Settings(Arc::new(Inner {
            db,
            base,
            set_by_flag,
            roots,
            supervisor,
            discovery,
            // From the clock, so a page read before a restart of Corral is not taken as current.
            stored: tokio::sync::Mutex::new((stored, now_ms())),
        }))
    }

    /// What the page shows: stored, effective, which a flag decided, and the binary in use.
    pub async fn view(&self) -> Result<SettingsView, AppError> {
        let (stored, revision) = self.0.stored.lock().await.clone();
        Ok(self.view_of(stored, revision).await)
    }

    /// What applies now is read from the peers that hold it (not worked out again), each by
    /// the settings' keys.
    async fn view_of(&self, stored: CorralSettings, revision: i64) -> SettingsView {
        let folders: Vec<String> = self
            .0
            .discovery
            .folders()
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        let effective = by_key::held_by(&*self.0.supervisor.settings())
            .overlaid(&by_key::held_by(&self.0.db.retention()))
            .with("models_dirs", Value::from(folders));
        let llama_server = match self.0.supervisor.binary_in_use() {
            Ok(binary) => llama_server_info::read(&binary).await,
            Err(problem) => crate::domain::settings::LlamaServerInfo {
                problem: Some(problem),
                ..Default::default()
            },
        };
        SettingsView {
            stored,
            revision,
            effective,
            set_by_flag: self.0.set_by_flag.clone(),
            llama_server,
        }
    }

    /// Checks, stores and applies new settings (the whole document; empty fields go back to
    /// the flags' defaults). A setting a flag decided is stored but changes nothing until
    /// Corral starts without that flag. With the `revision` of the view it was edited from, a
    /// save that another (a second tab, the API) went before is refused rather than undoing it.
    pub async fn save(
        &self,
        value: &Value,
        revision: Option<i64>,
    ) -> Result<SettingsView, AppError> {
        let mut new = CorralSettings::parse(value)?;
        let mut errors = Vec::new();
        if let Some(path) = new.get("llama_server").and_then(Value::as_str) {
            // The real path is stored and run, never a link that could be pointed elsewhere.
            match llama_server_info::check(path).await {
                Ok(real) => {
                    new = new.with("llama_server", Value::from(real.display().to_string()));
                }
                Err(why) => errors.push(FieldError::new("llama_server", Rule::NotAllowed, why)),
            }
        }
        for (i, dir) in new.models_dirs().iter().enumerate() {
            let roots = self.0.roots.clone();
            let dir = PathBuf::from(dir);
            let checked = tokio::task::spawn_blocking(move || roots.models_folder(&dir))
                .await
                .map_err(AppError::internal)?;
            if let Err(why) = checked {
                errors.push(FieldError::new(
                    format!("models_dirs[{i}]"),
                    Rule::ModelRoots,
                    why,
                ));
            }
        }
        if !errors.is_empty() {
            return Err(AppError::Invalid { errors });
        }
        let mut stored = self.0.stored.lock().await;
        if revision.is_some_and(|read| read != stored.1) {
            return Err(AppError::conflict(
                "settings",
                "the settings were changed elsewhere (another tab or the API) after this page \
                 read them; reload to see them, then save again",
            ));
        }
        let text = serde_json::to_string(&new).map_err(AppError::internal)?;
        self.0
            .db
            .call(move |conn| Ok(settings_repo::save(conn, &text, now_ms())?))
            .await?;
        *stored = (new.clone(), now_ms().max(stored.1 + 1));
        let revision = stored.1;
        let applied = effective(&self.0.base, &new, &self.0.set_by_flag, &self.0.roots);
        let folders_changed = applied.models_dirs != self.0.discovery.folders();
        self.0.supervisor.apply_settings(applied.supervisor);
        self.0.db.set_retention(applied.retention);
        if folders_changed {
            self.0.discovery.set_folders(applied.models_dirs);
        }
        // Read while this save still holds its turn, so the view is this save's.
        let view = self.view_of(new, revision).await;
        drop(stored);
        Ok(view)
    }
}
