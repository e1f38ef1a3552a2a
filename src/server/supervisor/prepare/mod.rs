//! Everything a start knows before it takes its model's lock, in one read of each owner: the
//! model and its settings (the registry), what the installed llama-server can express, the files
//! (checked inside the model folders and opened), the command, the earlier runs' load times and
//! measured peaks (the runs store), and so the memory it will need. A preview is the same
//! preparation rendered instead of run.

pub mod args;
pub mod capabilities;
pub mod child_env;
pub mod file_rules;
pub mod launch;
pub mod locate;
pub mod memory_need;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::domain::run::{FailureReason, LaunchPreview, UnsupportedSetting};
use crate::domain::run_group::GroupRules;
use crate::domain::{AppError, FieldError, Model, Rule};
use crate::server::gguf::magic::FileCheck;
use crate::server::live::Hub;
use crate::server::models::model_roots::ModelRoots;
use crate::server::models::registry::{ForStart, Registry};
use crate::server::supervisor::kept_kv::{KvStore, fingerprint};
use args::ModelConfig;
use capabilities::Capabilities;
use launch::{LaunchPlan, Own, Port};
use memory_need::Need;

/// What preparing reads from: the owners of the facts, and the llama-server in use.
pub struct Sources<'a> {
    pub registry: &'a Registry,
    pub hub: &'a Hub,
    pub binary: Result<PathBuf, String>,
    /// Corral's own origin: the only one a model server lets call it.
    pub corral_origin: &'a str,
    /// Where kept KV caches live.
    pub kv: &'a KvStore,
}

/// A start, ready to be admitted and spawned.
pub struct Prepared {
    pub model: Model,
    pub config: ModelConfig,
    pub binary: PathBuf,
    pub caps: Arc<Capabilities>,
    /// The named files, checked and held open, the model's file first.
    pub files: Vec<file_rules::Checked>,
    /// Memory the start will take (measured before, else estimated); `None` when unknown.
    pub need: Option<Need>,
    /// The median of the model's last load times, for the loading bar.
    pub typical_load_ms: Option<i64>,
    /// What would run, the port still to be chosen: what a start refused after its lock records.
    pub command: Vec<String>,
    /// Why the model's file cannot be run (a failed start to record), decided here so the
    /// façade only reads it.
    pub refusal: Option<(FailureReason, String)>,
    /// The run-together groups' rules, read with the model.
    pub run_groups: GroupRules,
    corral_origin: String,
    kv: KvStore,
}

/// What a start hands the spawner, built from a `Prepared` once its port is known.
pub struct Launch {
    /// What runs: the files named by the descriptors handed on.
    pub plan: LaunchPlan,
    /// What the run records: the files by their paths (what a person reads, and what the next
    /// start's memory need is matched by).
    pub command: Vec<String>,
    /// The open files, in descriptor order.
    pub files: Vec<std::fs::File>,
}

/// Reads and checks what a start of model `id` needs. Refused when the model is active, no
/// llama-server is usable, a setting has no flag there, or a file is outside the model folders.
pub async fn prepare(sources: Sources<'_>, id: i64) -> Result<Prepared, AppError> {
    let ForStart {
        model,
        config,
        history,
        run_groups,
    } = sources
        .registry
        .read_for_start(id, memory_need::RUNS_LOOKED_AT)
        .await?;
    if model.status.is_active() {
        return Err(already(&model));
    }
    let config = ModelConfig::from_groups(config);
    let binary = sources
        .binary
        .map_err(|message| AppError::Unavailable { message })?;
    let caps = capabilities::of(&binary)
        .await
        .map_err(|message| AppError::Unavailable { message })?;
    checked_against(&model, &config, &caps).map_err(|errors| AppError::Invalid { errors })?;
    let files = open_files(sources.registry.roots(), &model, &config).await?;
    let mut prepared = Prepared {
        model,
        config,
        binary,
        caps,
        files,
        need: None,
        typical_load_ms: history.typical_load_ms,
        command: Vec::new(),
        refusal: None,
        run_groups,
        corral_origin: sources.corral_origin.to_string(),
        kv: sources.kv.clone(),
    };
    prepared.command = prepared.plan(&prepared.model, Port::NotYetChosen).command();
    prepared.refusal = prepared.file_refusal();
    if prepared.refusal.is_none() {
        prepared.need = memory_need::need(
            &prepared.model,
            &prepared.config,
            &prepared.command,
            &history.measured_peaks,
            &memory_need::gpus_free(sources.hub),
        )
        .await;
    }
    Ok(prepared)
}

impl Prepared {
    fn file_check(&self) -> Option<FileCheck> {
        self.files.first().and_then(|c| c.check)
    }

    /// The plan for `model` (as read under its lock) on `port`.
    pub fn plan(&self, model: &Model, port: Port) -> LaunchPlan {
        LaunchPlan::build(
            &self.binary,
            model,
            &self.config,
            Some(&self.caps),
            port,
            &self.own(),
        )
    }

    fn own(&self) -> Own<'_> {
        Own {
            origin: &self.corral_origin,
            kv: &self.kv,
        }
    }

    /// Why the model's file cannot be run, as a failure reason and its detail.
    fn file_refusal(&self) -> Option<(FailureReason, String)> {
        let path = &self.model.spec.path;
        match self.file_check() {
            Some(FileCheck::Gguf) => None,
            Some(FileCheck::Missing) => {
                Some((FailureReason::FileMissing, format!("{path} is not there")))
            }
            Some(FileCheck::NotGguf) => Some((
                FailureReason::NotGguf,
                format!("{path} does not start with GGUF"),
            )),
            Some(FileCheck::Unreadable | FileCheck::NotRegular) | None => {
                Some((FailureReason::Other, format!("{path} cannot be read")))
            }
        }
    }

    /// What to spawn on `port`: the files handed on as descriptors (a split model's parts by
    /// links in the run's `home`, since llama-server finds them by name).
    pub fn launch(self, model: &Model, port: u16, home: &Path) -> Result<Launch, AppError> {
        let command = self.plan(model, Port::Assigned(port)).command();
        let (files, passed) = file_rules::handed_on(self.files, &home.join(".files"))
            .map_err(|e| AppError::internal(format!("cannot hand the files on: {e}")))?;
        let run_config = self
            .config
            .with_files(&|setting| passed.get(setting).cloned())?;
        let mut run_model = model.clone();
        if let Some(path) = passed.get("path") {
            run_model.spec.path.clone_from(path);
        }
        let plan = LaunchPlan::build(
            &self.binary,
            &run_model,
            &run_config,
            Some(&self.caps),
            Port::Assigned(port),
            &Own {
                origin: &self.corral_origin,
                kv: &self.kv,
            },
        );
        Ok(Launch {
            plan,
            command,
            files,
        })
    }
}

/// Every file the settings name (each part of a split one), checked inside the model folders
/// (by path, then again as opened) and opened once, the model's file first.
async fn open_files(
    roots: &ModelRoots,
    model: &Model,
    config: &ModelConfig,
) -> Result<Vec<file_rules::Checked>, AppError> {
    let named = file_rules::with_parts(file_rules::named_files(model, config));
    // Nothing is read outside the model folders: they are checked before the files are.
    roots
        .check(
            named
                .iter()
                .map(|f| (f.setting.clone(), f.path.clone()))
                .collect(),
        )
        .await?;
    let separators = file_rules::separator_refusals(&named);
    let files = file_rules::check_all(named).await;
    let mut refused = file_rules::refusals(&files);
    refused.extend(separators);
    refused.extend(file_rules::outside_roots(&files, roots));
    if !refused.is_empty() {
        return Err(AppError::Invalid { errors: refused });
    }
    Ok(files)
}

/// The settings against the installed server: every setting has a flag there, and the extra
/// arguments pass the allow-list (a database written by an older Corral, or by hand, must not
/// smuggle a flag in).
fn checked_against(
    model: &Model,
    config: &ModelConfig,
    caps: &Capabilities,
) -> Result<(), Vec<FieldError>> {
    args::check_extra(&config.advanced.extra_args, caps)?;
    let unsupported = args::unsupported(&args::plan(model, config), caps);
    if unsupported.is_empty() {
        return Ok(());
    }
    Err(unsupported.into_iter().map(unsupported_error).collect())
}

fn unsupported_error(u: UnsupportedSetting) -> FieldError {
    FieldError::new(
        u.setting,
        Rule::Unsupported,
        format!(
            "the installed llama-server has no {}; clear this setting or install a build that \
             has it",
            u.flag
        ),
    )
}

/// What starting the model would run (the port still to be chosen), and anything that stands
/// in the way, said rather than refused; with the memory it would need.
pub async fn preview(
    sources: Sources<'_>,
    id: i64,
) -> Result<(LaunchPreview, Option<Need>), AppError> {
    let detail = sources.registry.model_detail(id).await?;
    let config = ModelConfig::from_groups(detail.groups);
    let caps = match &sources.binary {
        Err(message) => Err(message.clone()),
        Ok(binary) => capabilities::of(binary).await,
    };
    let found = sources.binary.is_ok();
    let program = sources
        .binary
        .clone()
        .unwrap_or_else(|_| PathBuf::from("llama-server"));
    let plan = LaunchPlan::build(
        &program,
        &detail.model,
        &config,
        caps.as_deref().ok(),
        Port::NotYetChosen,
        &Own {
            origin: sources.corral_origin,
            kv: sources.kv,
        },
    );
    let (unsupported, problem) = match &caps {
        Err(message) => (Vec::new(), Some(message.clone())),
        Ok(caps) => {
            let unsupported = args::unsupported(&args::plan(&detail.model, &config), caps);
            let problem = match args::check_extra(&config.advanced.extra_args, caps) {
                Err(errors) => Some(format!(
                    "extra arguments: {}",
                    errors
                        .iter()
                        .map(|e| e.message.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                )),
                Ok(()) if !unsupported.is_empty() => {
                    Some("the installed llama-server cannot express some settings".to_string())
                }
                Ok(()) => None,
            };
            (unsupported, problem)
        }
    };
    let kept_kv = match (config.serving.keep_kv(), found) {
        (true, true) => {
            let print = kv_fingerprint(plan.command(), &plan.program, &detail.model).await;
            sources.kv.kept(id, &print).await
        }
        _ => None,
    };
    let need = preview_need(&sources, id, &detail.model, &config, plan.command()).await;
    let preview = LaunchPreview {
        program: found.then(|| plan.program.display().to_string()),
        args: plan.args,
        unsupported,
        problem,
        kept_kv,
        memory_need: need.as_ref().map(Need::describe),
        memory_short: None,
    };
    Ok((preview, need))
}

/// The memory a start would need, as a start works it out (`prepare`).
async fn preview_need(
    sources: &Sources<'_>,
    id: i64,
    model: &Model,
    config: &ModelConfig,
    command: Vec<String>,
) -> Option<Need> {
    let history = sources
        .registry
        .read_for_start(id, memory_need::RUNS_LOOKED_AT)
        .await
        .ok()?
        .history;
    let gpus = memory_need::gpus_free(sources.hub);
    memory_need::need(model, config, &command, &history.measured_peaks, &gpus).await
}

/// What a kept KV cache of `model` run with `command` by `binary` must have been saved with
/// (`kept_kv::fingerprint`), read off the async threads.
pub async fn kv_fingerprint(command: Vec<String>, binary: &Path, model: &Model) -> String {
    let (binary, file) = (binary.to_path_buf(), PathBuf::from(&model.spec.path));
    tokio::task::spawn_blocking(move || fingerprint::of(&command, &binary, &file))
        .await
        .unwrap_or_default()
}

/// Refused: the model already has a process (or one is being started or stopped).
pub fn already(model: &Model) -> AppError {
    AppError::Conflict {
        field: "status".into(),
        message: format!("model '{}' is already {}", model.spec.name, model.status),
    }
}
