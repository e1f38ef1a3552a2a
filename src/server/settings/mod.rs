//! The owner of Corral's own settings: the stored document (SQLite), which of them a flag
//! decided, and applying them live to the peers that use them (the supervisor's limits and
//! binary, the model folders, history retention). A flag given at start wins over what is
//! stored, and the page says so.

pub mod llama_server_info;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::domain::fields::FieldSet;
use crate::domain::settings::{CorralSettings, SetByFlag, SettingsView};
use crate::domain::{AppError, FieldError, Rule};
use crate::server::db::{Db, Retention, settings_repo};
use crate::server::discovery::Discovery;
use crate::server::models::model_roots::ModelRoots;
use crate::server::now_ms;
use crate::server::supervisor::Supervisor;
use crate::server::supervisor::settings::{SupervisorSettings, parse_port_range};

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
    /// The stored document; saves take turns so two tabs cannot interleave.
    stored: tokio::sync::Mutex<CorralSettings>,
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

/// `settings` without the ones a flag decided.
fn without_flags(settings: &CorralSettings, set_by_flag: &[SetByFlag]) -> CorralSettings {
    let Ok(Value::Object(mut object)) = serde_json::to_value(settings) else {
        return CorralSettings::default();
    };
    for set in set_by_flag {
        object.remove(&set.key);
    }
    serde_json::from_value(Value::Object(object)).unwrap_or_default()
}

fn seconds(value: i64) -> Duration {
    Duration::from_secs(u64::try_from(value).unwrap_or(0))
}

/// The base with every stored setting a flag did not decide laid over it. Folders that are
/// gone or outside the roots are left out with a warning (a start must not fail on them).
pub fn effective(
    base: &Base,
    stored: &CorralSettings,
    set_by_flag: &[SetByFlag],
    roots: &ModelRoots,
) -> Base {
    let own = without_flags(stored, set_by_flag);
    let mut out = base.clone();
    let s = &mut out.supervisor;
    if let Some(path) = &own.llama_server {
        s.llama_server = Some(PathBuf::from(path));
        s.llama_server_from_page = true;
    }
    if let Some(ports) = own.ports.as_deref().and_then(|p| parse_port_range(p).ok()) {
        s.ports = ports;
    }
    if let Some(n) = own.max_running {
        s.max_running = usize::try_from(n).unwrap_or(1);
    }
    if let Some(when_full) = own.when_full {
        s.when_full = when_full;
    }
    if let Some(mib) = own.memory_budget_mib {
        s.memory_budget_bytes = u64::try_from(mib).unwrap_or(0) << 20;
    }
    if let Some(fit_check) = own.fit_check {
        s.fit_check = fit_check;
    }
    if let Some(v) = own.idle_ttl {
        s.idle_ttl = seconds(v);
    }
    if let Some(v) = own.stop_grace {
        s.stop_grace = seconds(v);
    }
    if let Some(v) = own.load_timeout {
        s.load_base = seconds(v);
    }
    if let Some(v) = own.load_per_gib {
        s.load_per_gib = seconds(v);
    }
    if let Some(v) = own.keep_runs {
        out.retention.runs_per_model = v;
    }
    if let Some(v) = own.keep_activity_days {
        out.retention.activity_days = u32::try_from(v).unwrap_or(30);
    }
    if let Some(v) = own.keep_metrics_days {
        out.retention.metrics_days = u32::try_from(v).unwrap_or(7);
    }
    if !own.models_dirs.is_empty() {
        out.models_dirs = own
            .models_dirs
            .iter()
            .filter_map(|dir| match roots.models_folder(&PathBuf::from(dir)) {
                Ok(real) => Some(real),
                Err(why) => {
                    tracing::warn!("a stored model folder is left out: {why}");
                    None
                }
            })
            .collect();
    }
    out
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
            stored: tokio::sync::Mutex::new(stored),
        }))
    }

    /// What the page shows: stored, effective, which a flag decided, and the binary in use.
    pub async fn view(&self) -> Result<SettingsView, AppError> {
        let stored = self.0.stored.lock().await.clone();
        Ok(self.view_of(stored).await)
    }

    /// What applies now is read from the peers that hold it (not worked out again).
    async fn view_of(&self, stored: CorralSettings) -> SettingsView {
        let s = self.0.supervisor.settings();
        let retention = self.0.db.retention();
        let effective = CorralSettings {
            llama_server: s.llama_server.as_ref().map(|p| p.display().to_string()),
            models_dirs: self
                .0
                .discovery
                .folders()
                .iter()
                .map(|d| d.display().to_string())
                .collect(),
            ports: Some(format!("{}-{}", s.ports.start(), s.ports.end())),
            max_running: i64::try_from(s.max_running).ok(),
            when_full: Some(s.when_full),
            memory_budget_mib: i64::try_from(s.memory_budget_bytes >> 20).ok(),
            fit_check: Some(s.fit_check),
            idle_ttl: i64::try_from(s.idle_ttl.as_secs()).ok(),
            stop_grace: i64::try_from(s.stop_grace.as_secs()).ok(),
            load_timeout: i64::try_from(s.load_base.as_secs()).ok(),
            load_per_gib: i64::try_from(s.load_per_gib.as_secs()).ok(),
            keep_runs: Some(retention.runs_per_model),
            keep_activity_days: Some(i64::from(retention.activity_days)),
            keep_metrics_days: Some(i64::from(retention.metrics_days)),
        };
        let llama_server = match self.0.supervisor.binary_in_use() {
            Ok(binary) => llama_server_info::read(&binary).await,
            Err(problem) => crate::domain::settings::LlamaServerInfo {
                problem: Some(problem),
                ..Default::default()
            },
        };
        SettingsView {
            stored,
            effective,
            set_by_flag: self.0.set_by_flag.clone(),
            llama_server,
        }
    }

    /// Checks, stores and applies new settings (the whole document; empty fields go back to
    /// the flags' defaults). A setting a flag decided is stored but changes nothing until
    /// Corral starts without that flag.
    pub async fn save(&self, value: &Value) -> Result<SettingsView, AppError> {
        let mut new = CorralSettings::parse(value)?;
        let mut errors = Vec::new();
        if let Some(path) = &new.llama_server {
            // The real path is stored and run, never a link that could be pointed elsewhere.
            match llama_server_info::check(path).await {
                Ok(real) => new.llama_server = Some(real.display().to_string()),
                Err(why) => errors.push(FieldError::new("llama_server", Rule::NotAllowed, why)),
            }
        }
        for (i, dir) in new.models_dirs.iter().enumerate() {
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
        let text = serde_json::to_string(&new).map_err(AppError::internal)?;
        self.0
            .db
            .call(move |conn| Ok(settings_repo::save(conn, &text, now_ms())?))
            .await?;
        *stored = new.clone();
        let applied = effective(&self.0.base, &new, &self.0.set_by_flag, &self.0.roots);
        let folders_changed = applied.models_dirs != self.0.discovery.folders();
        self.0.supervisor.apply_settings(applied.supervisor);
        self.0.db.set_retention(applied.retention);
        if folders_changed {
            self.0.discovery.set_folders(applied.models_dirs);
        }
        // Read while this save still holds its turn, so the view is this save's.
        let view = self.view_of(new).await;
        drop(stored);
        Ok(view)
    }
}
