//! How the supervisor behaves: which binary, which ports, how many models at once, how long to
//! wait. Filled from command-line flags (each also an environment variable).

use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

pub use crate::domain::settings::{FitCheck, WhenFull};

use serde::{Deserialize, Serialize};

use crate::domain::device_memory::{MemoryBudgets, parse_gpu_budgets};
use crate::domain::live::ServerEvent;
use crate::server::live::Hub;
use crate::server::settings::by_key::{self, port_range, seconds};

/// What start-up does with a llama-server an earlier Corral left running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Leftovers {
    /// Stop it (SIGTERM, then SIGKILL after the grace period).
    Stop,
    /// Keep it running and supervise it again (its earlier output is not available).
    Adopt,
}

/// A field named like one of Corral's own settings (`domain::settings::SETTINGS`) is that
/// setting: it is filled from the flag, its default or the Settings page by key, through serde
/// (`server::settings::laid_over`), and read back by key for the page's "In effect now". The
/// other fields are the supervisor's own.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SupervisorSettings {
    /// The llama-server to run; `None` looks on PATH.
    pub llama_server: Option<PathBuf>,
    /// `llama_server` was named on the Settings page, not by the operator's flag: it is vetted
    /// again (`locate::vet`) before every `--help` probe and every run.
    #[serde(default)]
    pub llama_server_from_page: bool,
    /// Ports handed to llama-server, on 127.0.0.1.
    #[serde(with = "port_range")]
    pub ports: RangeInclusive<u16>,
    pub max_running: usize,
    pub when_full: WhenFull,
    /// Most memory the running models may take together, by estimate or measurement; zero
    /// leaves only the machine's free memory as the limit.
    pub memory_budget_mib: u64,
    /// Most memory the running models may take together on each GPU named (`0=20000`); a
    /// GPU not named allows its free memory less a reserve.
    #[serde(default)]
    pub gpu_budget_mib: Vec<String>,
    /// Most disk the kept KV caches may take together (`serving.keep_kv`).
    #[serde(default = "kv_disk_mib")]
    pub kv_disk_mib: u64,
    /// What a start whose estimate does not fit does.
    pub fit_check: FitCheck,
    /// Time between SIGTERM and SIGKILL when stopping.
    #[serde(with = "seconds")]
    pub stop_grace: Duration,
    /// Loading may take this long, plus `load_per_gib` for each GiB of model file…
    #[serde(with = "seconds")]
    pub load_timeout: Duration,
    #[serde(with = "seconds")]
    pub load_per_gib: Duration,
    /// …and is given this much more after each line the server logs while loading.
    #[serde(with = "seconds", default = "load_extension")]
    pub load_extension: Duration,
    /// How often a running server's numbers are read.
    #[serde(with = "seconds", default = "scrape_every")]
    pub scrape_every: Duration,
    #[serde(default = "leftovers")]
    pub leftovers: Leftovers,
    /// A running model with no request for this long is stopped (zero: never); a model's
    /// `serving.idle_ttl_seconds` overrides it.
    #[serde(with = "seconds")]
    pub idle_ttl: Duration,
    /// Corral's own origin (`http://127.0.0.1:3000`): the only one a model server grants
    /// cross-origin access to.
    #[serde(default = "corral_origin")]
    pub corral_origin: String,
    /// The model a gateway request that names none goes to (read by the gateway, held here with
    /// the other settings applied live).
    #[serde(default)]
    pub default_model: Option<String>,
    /// What a streamed chat waiting for a load hears, for models that do not say.
    #[serde(default)]
    pub loading_state: Option<crate::domain::config::serving::LoadingState>,
}

fn load_extension() -> Duration {
    Duration::from_secs(30)
}
fn kv_disk_mib() -> u64 {
    4096
}
fn scrape_every() -> Duration {
    Duration::from_secs(2)
}
fn leftovers() -> Leftovers {
    Leftovers::Stop
}
fn corral_origin() -> String {
    "http://127.0.0.1:3000".to_string()
}

impl SupervisorSettings {
    /// A binary named on the Settings page, as the real path it leads to now when it passes the
    /// vet (one stored by an older Corral may be a link; a link flipped later then changes
    /// nothing); left as it is otherwise, for `binary_in_use` to refuse with the reason.
    pub fn with_page_binary_resolved(mut self) -> SupervisorSettings {
        if self.llama_server_from_page
            && let Some(real) = self
                .llama_server
                .as_deref()
                .and_then(|path| crate::server::supervisor::prepare::locate::vet(path).ok())
        {
            self.llama_server = Some(real);
        }
        self
    }

    pub fn kv_disk_bytes(&self) -> u64 {
        self.kv_disk_mib.saturating_mul(1 << 20)
    }

    pub fn memory_budget_bytes(&self) -> u64 {
        self.memory_budget_mib.saturating_mul(1 << 20)
    }

    /// The budgets in force per device. Entries were checked when the setting was read; one
    /// that does not read (a document edited by hand) leaves every GPU to its free memory.
    pub fn memory_budgets(&self) -> MemoryBudgets {
        MemoryBudgets {
            ram: self.memory_budget_bytes(),
            gpus: parse_gpu_budgets(&self.gpu_budget_mib).unwrap_or_default(),
        }
    }

    /// How long a model of `size_bytes` may take to load before more log output is needed.
    /// At most a week, whatever the settings and the file say, so adding it to a clock reading
    /// can never overflow.
    pub fn load_deadline(&self, size_bytes: Option<u64>) -> Duration {
        const LONGEST: Duration = Duration::from_secs(7 * 24 * 3600);
        let gib = size_bytes.unwrap_or(0) as f64 / (1u64 << 30) as f64;
        let per_file =
            Duration::try_from_secs_f64(self.load_per_gib.as_secs_f64() * gib).unwrap_or(LONGEST);
        self.load_timeout.saturating_add(per_file).min(LONGEST)
    }
}

impl Default for SupervisorSettings {
    /// The settings' described defaults and the supervisor's own.
    fn default() -> Self {
        by_key::defaults()
    }
}

/// The settings in force and the llama-server they name: replaced whole when the Settings page
/// saves; each start reads them once and keeps them to its end.
pub struct Current {
    settings: std::sync::RwLock<std::sync::Arc<SupervisorSettings>>,
    binary: std::sync::RwLock<Result<PathBuf, String>>,
    /// Told which llama-server is in use, and told again when it changes.
    hub: Hub,
}

impl Current {
    /// Looks for llama-server as the settings say (the named path, else `PATH`).
    pub fn new(settings: SupervisorSettings, hub: Hub) -> Current {
        let settings = settings.with_page_binary_resolved();
        let binary = find_binary(&settings);
        Current {
            settings: std::sync::RwLock::new(std::sync::Arc::new(settings)),
            binary: std::sync::RwLock::new(binary),
            hub,
        }
    }

    /// Tells every tab which llama-server is in use.
    pub fn publish_binary(&self) {
        let mut status = self.hub.snapshot().server;
        status.llama_server = self.binary().ok().map(|p| p.display().to_string());
        self.hub.publish(ServerEvent::ServerStatus(status));
    }

    pub fn get(&self) -> std::sync::Arc<SupervisorSettings> {
        self.settings
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Puts new settings in force; another llama-server named is looked for and every tab told.
    pub fn replace(&self, settings: SupervisorSettings) {
        let settings = settings.with_page_binary_resolved();
        let binary_changed = self.get().llama_server != settings.llama_server;
        if binary_changed {
            *self.binary.write().unwrap_or_else(|p| p.into_inner()) = find_binary(&settings);
        }
        *self.settings.write().unwrap_or_else(|p| p.into_inner()) = std::sync::Arc::new(settings);
        if binary_changed {
            self.publish_binary();
        }
    }

    /// The llama-server in use, or why there is none. One named on the Settings page is vetted
    /// again on every call, which comes before anything runs it: a file or folder changed since
    /// it was saved refuses the run with the reason.
    pub fn binary(&self) -> Result<PathBuf, String> {
        let binary = self
            .binary
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()?;
        if self.get().llama_server_from_page {
            // What runs is the real path the check vetted, never the stored text again (one
            // saved by an older Corral may be a link).
            return crate::server::supervisor::prepare::locate::vet(&binary).map_err(|why| {
                format!(
                    "the llama-server named on the Settings page ({}) may not run: {why}",
                    binary.display()
                )
            });
        }
        Ok(binary)
    }
}

fn find_binary(settings: &SupervisorSettings) -> Result<PathBuf, String> {
    let path_var = std::env::var_os("PATH");
    crate::server::supervisor::prepare::locate::find(
        settings.llama_server.as_deref(),
        path_var.as_deref(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_binary_stored_as_a_link_runs_by_the_real_path_it_leads_to_at_start() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let real = bin.join("llama-server");
        std::fs::write(&real, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o755)).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let stored = SupervisorSettings {
            llama_server: Some(link.clone()),
            llama_server_from_page: true,
            ..SupervisorSettings::default()
        };
        assert_eq!(
            stored.clone().with_page_binary_resolved().llama_server,
            Some(real.canonicalize().unwrap())
        );
        // A flag's binary is the operator's: taken as given.
        let flagged = SupervisorSettings {
            llama_server_from_page: false,
            ..stored
        };
        assert_eq!(flagged.with_page_binary_resolved().llama_server, Some(link));
    }

    #[test]
    fn the_defaults_are_the_settings_described_defaults() {
        let settings = SupervisorSettings::default();
        assert_eq!(settings.ports, 8100..=8199);
        assert_eq!(settings.max_running, 2);
        assert_eq!(settings.stop_grace, Duration::from_secs(10));
        assert_eq!(settings.load_extension, Duration::from_secs(30));
        assert_eq!(settings.leftovers, Leftovers::Stop);
    }

    #[test]
    fn the_load_deadline_grows_with_the_file() {
        let settings = SupervisorSettings::default();
        let small = settings.load_deadline(Some(1 << 20));
        let large = settings.load_deadline(Some(20 << 30));
        assert!(large > small + Duration::from_secs(200));
        assert_eq!(settings.load_deadline(None), settings.load_timeout);
    }

    #[test]
    fn the_load_deadline_never_overflows() {
        let settings = SupervisorSettings {
            load_timeout: Duration::MAX,
            load_per_gib: Duration::MAX,
            ..SupervisorSettings::default()
        };
        let deadline = settings.load_deadline(Some(u64::MAX));
        assert_eq!(deadline, Duration::from_secs(7 * 24 * 3600));
    }
}
