//! Command-line flags (each also an environment variable).

use std::net::SocketAddr;
use std::path::PathBuf;

use std::ops::RangeInclusive;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::server::supervisor::settings::{
    Leftovers, SupervisorSettings, WhenFull, parse_port_range,
};

#[derive(Debug, Parser)]
#[command(
    name = "corral",
    version,
    about = "A self-hosted dashboard for running local LLMs with llama.cpp"
)]
pub struct Cli {
    /// Address to serve on. Only loopback addresses are allowed until authentication exists.
    #[arg(long, env = "CORRAL_BIND", default_value = "127.0.0.1:3000")]
    pub bind: SocketAddr,

    /// Where the database lives [default: the per-user data directory, e.g. ~/.local/share/corral]
    #[arg(long, env = "CORRAL_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// Most live connections (browser tabs) at once; more are refused with a reason.
    #[arg(long, env = "CORRAL_MAX_CLIENTS", default_value_t = 256)]
    pub max_clients: usize,

    /// The built site (WASM, JS, CSS) [default: `site` beside the binary, else target/site]
    #[arg(long, env = "CORRAL_SITE_ROOT")]
    pub site_root: Option<PathBuf>,

    /// The llama-server binary to run models with [default: `llama-server` on PATH]
    #[arg(long, env = "CORRAL_LLAMA_SERVER")]
    pub llama_server: Option<PathBuf>,

    /// Ports given to llama-server processes, on 127.0.0.1.
    #[arg(long, env = "CORRAL_PORTS", default_value = "8100-8199", value_parser = parse_port_range)]
    pub ports: RangeInclusive<u16>,

    /// Most models running at once.
    #[arg(long, env = "CORRAL_MAX_RUNNING", default_value_t = 2)]
    pub max_running: usize,

    /// What starting one more model than --max-running does.
    #[arg(
        long,
        env = "CORRAL_WHEN_FULL",
        value_enum,
        default_value = "stop-least-recent"
    )]
    pub when_full: WhenFull,

    /// Seconds between SIGTERM and SIGKILL when stopping a model.
    #[arg(long, env = "CORRAL_STOP_GRACE", default_value_t = 10)]
    pub stop_grace: u64,

    /// Seconds a model may take to load, plus --load-per-gib for each GiB of file; more while
    /// the server keeps logging progress.
    #[arg(long, env = "CORRAL_LOAD_TIMEOUT", default_value_t = 30)]
    pub load_timeout: u64,

    #[arg(long, env = "CORRAL_LOAD_PER_GIB", default_value_t = 15)]
    pub load_per_gib: u64,

    /// What start-up does with a model server an earlier Corral left running.
    #[arg(long, env = "CORRAL_LEFTOVERS", value_enum, default_value = "stop")]
    pub leftovers: Leftovers,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Things the binary does besides serving.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a small random-weight llama GGUF that llama-server loads (it answers nonsense): for
    /// trying Corral without a download, and for tests.
    TestModel {
        /// Where to write the file.
        path: PathBuf,
        /// About 110 MB instead of about 600 KB, so loading takes visible time.
        #[arg(long)]
        large: bool,
    },
}

impl Cli {
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .or_else(|| dirs::data_dir().map(|d| d.join("corral")))
            .unwrap_or_else(|| PathBuf::from("corral-data"))
    }

    pub fn site_root(&self) -> PathBuf {
        if let Some(root) = &self.site_root {
            return root.clone();
        }
        // `cargo leptos watch` and `serve` say where they put the site.
        if let Some(root) = std::env::var_os("LEPTOS_SITE_ROOT") {
            return PathBuf::from(root);
        }
        let beside_binary = std::env::current_exe()
            .ok()
            .and_then(|exe| Some(exe.parent()?.join("site")));
        match beside_binary {
            Some(dir) if dir.is_dir() => dir,
            _ => PathBuf::from("target/site"),
        }
    }

    pub fn supervisor_settings(&self) -> SupervisorSettings {
        SupervisorSettings {
            llama_server: self.llama_server.clone(),
            ports: self.ports.clone(),
            max_running: self.max_running.max(1),
            when_full: self.when_full,
            stop_grace: Duration::from_secs(self.stop_grace),
            load_base: Duration::from_secs(self.load_timeout),
            load_per_gib: Duration::from_secs(self.load_per_gib),
            leftovers: self.leftovers,
            ..SupervisorSettings::default()
        }
    }

    /// Corral has no authentication yet, so it refuses to listen beyond this machine.
    pub fn check_bind(&self) -> Result<(), String> {
        if self.bind.ip().is_loopback() {
            Ok(())
        } else {
            Err(format!(
                "refusing to bind {}: serving beyond this machine needs authentication, which is not \
                 configured; bind a loopback address such as 127.0.0.1:3000",
                self.bind
            ))
        }
    }
}
