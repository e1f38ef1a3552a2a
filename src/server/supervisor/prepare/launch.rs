//! What a start runs, built once: the program and every argument, from the model's settings
//! and Corral's own tail (where to listen, numbers for the scraper, who may reach the server).
//! The same value is spawned, recorded with the run and shown on the model page, so what is
//! shown is what runs.

use std::path::{Path, PathBuf};

use crate::domain::Model;
use crate::server::supervisor::kept_kv::KvStore;
use crate::server::supervisor::prepare::args::{self, ModelConfig};
use crate::server::supervisor::prepare::capabilities::Capabilities;

/// The port a plan names: the one a start was given, or a placeholder for the preview.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    Assigned(u16),
    NotYetChosen,
}

/// What Corral decides for every run, whatever the model's settings: the only origin a model
/// server lets call it, and where kept KV caches live (a model's folder there is its
/// `--slot-save-path`, never a path a person names).
pub struct Own<'a> {
    pub origin: &'a str,
    pub kv: &'a KvStore,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchPlan {
    /// The model's own environment variables (`gpu.env`), on top of what every run gets.
    pub env: Vec<(String, String)>,
    pub program: PathBuf,
    pub args: Vec<String>,
}

const SLEEP_FLAG: &str = "--sleep-idle-seconds";

/// Whether a server run with `command` sleeps when idle: the command is what runs, whether
/// `serving.idle_action` or the Advanced `sleep_idle_seconds` put the flag there.
pub fn sleeps(command: &[String]) -> bool {
    command
        .windows(2)
        .any(|pair| pair[0] == SLEEP_FLAG && pair[1].parse::<i64>().is_ok_and(|s| s > 0))
}

impl LaunchPlan {
    /// The settings' arguments, then Corral's own (last, so they win over anything else).
    /// Without the installed server's flags (`caps`), only where to listen is known.
    pub fn build(
        program: &Path,
        model: &Model,
        config: &ModelConfig,
        caps: Option<&Capabilities>,
        port: Port,
        own: &Own,
    ) -> LaunchPlan {
        let mut args = args::argv(model, config);
        let port = match port {
            Port::Assigned(port) => port.to_string(),
            Port::NotYetChosen => "<port>".to_string(),
        };
        // Answers name the model as clients do, not by its file path.
        args.extend(["--alias".into(), model.spec.name.clone()]);
        args.extend(["--host".into(), "127.0.0.1".into(), "--port".into(), port]);
        // An idle model sleeps by itself (`serving.idle_action: sleep`), unless the Advanced
        // setting already passes the flag: one flag, whichever set it.
        if let Some(seconds) = config.serving.sleeps_after()
            && !args.iter().any(|arg| arg == SLEEP_FLAG)
        {
            args.extend([SLEEP_FLAG.into(), seconds.to_string()]);
        }
        if let Some(caps) = caps {
            if caps.has("--metrics") {
                args.push("--metrics".into());
            }
            // Only Corral's own origin, without credentials: no web page may call the server.
            if caps.has("--cors-origins") {
                args.extend(["--cors-origins".into(), own.origin.to_string()]);
            }
            if caps.has("--no-cors-credentials") {
                args.push("--no-cors-credentials".into());
            }
            if config.serving.keep_kv() && caps.has("--slot-save-path") {
                // A folder: llama-server joins the slot file's name straight onto it.
                let dir = format!("{}/", own.kv.dir(model.id).display());
                args.extend(["--slot-save-path".into(), dir]);
            }
        }
        LaunchPlan {
            env: config.gpu.env_vars(),
            program: program.to_path_buf(),
            args,
        }
    }

    /// The model's variables as `NAME=value`, then program and arguments, as a shell writes
    /// them: what the runs table keeps, the page shows and "Restart to apply" compares.
    pub fn command(&self) -> Vec<String> {
        let env = self
            .env
            .iter()
            .map(|(name, value)| format!("{name}={value}"));
        env.chain(std::iter::once(self.program.display().to_string()))
            .chain(self.args.iter().cloned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn own() -> Own<'static> {
        static KV: std::sync::LazyLock<KvStore> =
            std::sync::LazyLock::new(|| KvStore::new("/data/kv".into()));
        Own {
            origin: "http://127.0.0.1:3000",
            kv: &KV,
        }
    }

    fn model() -> Model {
        Model {
            id: 1,
            spec: crate::domain::ModelSpec::parse_new(&json!({"name": "m", "path": "/m/a.gguf"}))
                .unwrap(),
            size_bytes: None,
            status: crate::domain::ModelStatus::Stopped,
            status_reason: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn corrals_own_arguments_come_last_and_the_command_is_the_spawned_list() {
        let caps = Capabilities::parse(
            "--metrics   m\n--cors-origins ORIGINS   o\n--cors-credentials, --no-cors-credentials   c\n",
        );
        let plan = LaunchPlan::build(
            Path::new("/bin/llama-server"),
            &model(),
            &ModelConfig::default(),
            Some(&caps),
            Port::Assigned(8100),
            &own(),
        );
        assert_eq!(
            plan.command(),
            [
                "/bin/llama-server",
                "--model",
                "/m/a.gguf",
                "--alias",
                "m",
                "--host",
                "127.0.0.1",
                "--port",
                "8100",
                "--metrics",
                "--cors-origins",
                "http://127.0.0.1:3000",
                "--no-cors-credentials"
            ]
        );
        let preview = LaunchPlan::build(
            Path::new("/bin/llama-server"),
            &model(),
            &ModelConfig::default(),
            None,
            Port::NotYetChosen,
            &own(),
        );
        assert!(
            preview
                .args
                .ends_with(&["--port".to_string(), "<port>".to_string()])
        );
    }

    #[test]
    fn sleep_set_both_ways_is_one_flag_and_the_command_says_whether_it_sleeps() {
        let mut config = ModelConfig::default();
        config.serving.idle_ttl_seconds = Some(300);
        config.serving.idle_action = Some(crate::domain::config::serving::IdleAction::Sleep);
        let command = |config: &ModelConfig| {
            LaunchPlan::build(
                Path::new("/bin/llama-server"),
                &model(),
                config,
                None,
                Port::NotYetChosen,
                &own(),
            )
            .command()
        };
        let serving_only = command(&config);
        assert!(sleeps(&serving_only));
        config.advanced.sleep_idle_seconds = Some(60);
        let both = command(&config);
        let flags = both.iter().filter(|a| *a == "--sleep-idle-seconds").count();
        assert_eq!(flags, 1, "{both:?}");
        assert!(sleeps(&both));
        assert!(!sleeps(&command(&ModelConfig::default())));
        let zero: Vec<String> = ["llama-server", "--sleep-idle-seconds", "0"]
            .map(String::from)
            .into();
        assert!(!sleeps(&zero));
    }
}
