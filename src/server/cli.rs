//! Command-line flags (each also an environment variable).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

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
