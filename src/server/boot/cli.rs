//! Command-line flags (each also an environment variable).

use std::net::SocketAddr;
use std::path::PathBuf;

use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::server::access::AccessSettings;
use crate::server::boot::setting_flags::SettingFlags;
use crate::server::db::Retention;
use crate::server::gateway::own_state::GatewaySettings;
use crate::server::http::cors::CorsOrigins;
use crate::server::http::host::parse_allowed_host;
use crate::server::http::limits::HttpLimits;
use crate::server::http::public_url::PublicUrl;
use crate::server::live::hub::HubConfig;
use crate::server::models::model_roots::ModelRoots;
use crate::server::settings::by_key;
use crate::server::supervisor::settings::{Leftovers, SupervisorSettings};

#[derive(Debug, Parser)]
#[command(
    name = "corral",
    version,
    about = "A self-hosted dashboard for running local LLMs with llama.cpp"
)]
pub struct Cli {
    /// Address to serve on. Beyond loopback (a LAN address, 0.0.0.0) every page and call needs
    /// the admin's sign-in or an API key, and --model-roots is required.
    #[arg(long, env = "CORRAL_BIND", default_value = "127.0.0.1:3000")]
    pub bind: SocketAddr,

    /// The address people type to reach Corral, as http[s]://host[:port] (a LAN name, or a
    /// reverse proxy's HTTPS name): it joins the allowed hosts, the setup link uses it, and
    /// https makes the session cookie Secure.
    #[arg(long, env = "CORRAL_PUBLIC_URL", value_parser = PublicUrl::parse)]
    pub public_url: Option<PublicUrl>,

    /// A folder model files must be in, after following symlinks (model, projector, LoRA,
    /// control vector, draft model); repeat for more. Required beyond loopback.
    #[arg(
        long = "model-roots",
        env = "CORRAL_MODEL_ROOTS",
        value_delimiter = ','
    )]
    pub model_roots: Vec<PathBuf>,

    /// Serve HTTPS with this certificate chain (PEM), with --tls-key; both are read again on
    /// SIGHUP (a renewed certificate needs no restart).
    #[arg(long, env = "CORRAL_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The private key (PEM) of --tls-cert.
    #[arg(long, env = "CORRAL_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Where the database lives [default: the per-user data directory, e.g. ~/.local/share/corral]
    #[arg(long, env = "CORRAL_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// Most live connections (browser tabs) at once; more are refused with a reason.
    #[arg(long, env = "CORRAL_MAX_CLIENTS", default_value_t = HubConfig::default().max_clients)]
    pub max_clients: usize,

    /// The built site (WASM, JS, CSS) [default: `site` beside the binary, else target/site]
    #[arg(long, env = "CORRAL_SITE_ROOT")]
    pub site_root: Option<PathBuf>,

    /// Another name Corral is reached by (a reverse proxy, a LAN name), as `name` or
    /// `name:port`; repeat it for more. Requests for any other name are refused (421), which
    /// stops web pages from reaching Corral through DNS rebinding.
    #[arg(long = "allowed-host", env = "CORRAL_ALLOWED_HOSTS", value_delimiter = ',',
          value_parser = parse_allowed_host)]
    pub allowed_hosts: Vec<String>,

    /// Most open HTTP connections (browser tabs included); one more is answered 503. Lowered
    /// to fit the process's descriptor limit.
    #[arg(long, env = "CORRAL_MAX_CONNECTIONS", default_value_t = HttpLimits::default().max_connections as u64,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,

    /// Most open connections from one client address; one more is answered 429.
    #[arg(long, env = "CORRAL_MAX_CONNECTIONS_PER_CLIENT", default_value_t = HttpLimits::default().max_connections_per_client as u64,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections_per_client: u64,

    /// Seconds a client may take no bytes of an answer (a stream it does not read, a download)
    /// before its connection is closed; the request's model is then free to unload or make room.
    #[arg(long, env = "CORRAL_STREAM_WRITE_TIMEOUT", default_value_t = HttpLimits::default().write_stall.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub stream_write_timeout: u64,

    /// Most gateway requests one API key may have in flight (queued or answering); one more is
    /// answered 429 with Retry-After.
    #[arg(long, env = "CORRAL_MAX_REQUESTS_PER_KEY", default_value_t = AccessSettings::default().max_requests_per_key,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_requests_per_key: u32,

    /// Largest gateway request body in MiB (images travel inside it, in base64).
    #[arg(long, env = "CORRAL_GATEWAY_MAX_BODY", default_value_t = GatewaySettings::default().max_body_bytes >> 20,
          value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub gateway_max_body: u64,

    /// A site whose pages may call the gateway with an API key (CORS), as scheme://host[:port],
    /// or * for any; repeat for more.
    #[arg(
        long = "cors-origin",
        env = "CORRAL_CORS_ORIGINS",
        value_delimiter = ','
    )]
    pub cors_origins: Vec<String>,

    /// What start-up does with a model server an earlier Corral left running.
    #[arg(long, env = "CORRAL_LEFTOVERS", value_enum, default_value_t = SupervisorSettings::default().leftovers)]
    pub leftovers: Leftovers,

    /// On a loopback bind, serve without a login (local use). `false` asks for the admin's
    /// login there too, as every other bind will.
    #[arg(long, env = "CORRAL_OPEN_ON_LOOPBACK", default_value_t = true, action = clap::ArgAction::Set)]
    pub open_on_loopback: bool,

    /// Tell browsers to reach Corral over HTTPS only, for a year (`Strict-Transport-Security`).
    /// Only where Corral is served over HTTPS: --tls-cert, an https --public-url, or
    /// --secure-cookies behind an HTTPS proxy.
    #[arg(long, env = "CORRAL_HSTS")]
    pub hsts: bool,

    /// Mark the session cookie `Secure` (Corral behind an HTTPS proxy). Browsers drop Secure
    /// cookies on plain HTTP except from localhost.
    #[arg(long, env = "CORRAL_SECURE_COOKIES")]
    pub secure_cookies: bool,

    /// Days a sign-in lasts after the browser's last request.
    #[arg(long, env = "CORRAL_SESSION_DAYS", default_value_t = AccessSettings::default().session_days,
          value_parser = clap::value_parser!(u32).range(1..=365))]
    pub session_days: u32,

    /// Corral's own settings (also on the Settings page), described in `domain::settings`.
    #[command(flatten)]
    pub settings: SettingFlags,

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
    /// Copy the database, consistently, into a new file (safe while Corral runs).
    Backup {
        /// The file to write; it must not exist yet.
        path: PathBuf,
    },
    /// Look after the admin account, offline on the database (Corral need not run).
    Admin {
        #[command(subcommand)]
        action: AdminCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Set a new password (read from CORRAL_ADMIN_PASSWORD, else the first line of stdin);
    /// every session of that admin ends.
    ResetPassword {
        #[arg(long, default_value = "admin")]
        user: String,
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

    /// The supervisor's settings as the flags (or their defaults) say.
    pub fn supervisor_settings(&self) -> SupervisorSettings {
        self.owner_of_settings()
    }

    pub fn retention(&self) -> Retention {
        self.owner_of_settings()
    }

    /// An owner of settings filled from the flags; the values passed the settings' rules when
    /// parsed, so reading them cannot fail unless the description and the owner disagree,
    /// which a test rules out.
    fn owner_of_settings<T>(&self) -> T
    where
        T: Default + Clone + serde::Serialize + serde::de::DeserializeOwned,
    {
        let (owner, refused) = by_key::laid_over(&T::default(), &self.settings.0);
        for (key, error) in refused {
            tracing::error!(%error, "the flag of {key} does not apply; using its default");
        }
        owner
    }

    /// Limits of the HTTP server. Answering may take as long as stopping a model to make room
    /// for another, so the request deadline grows with the stop grace.
    pub fn http_limits(&self) -> HttpLimits {
        let defaults = HttpLimits::default();
        let stop_grace = self.supervisor_settings().stop_grace;
        let stop_twice = stop_grace.saturating_mul(2) + Duration::from_secs(30);
        HttpLimits {
            request: defaults.request.max(stop_twice),
            max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
            max_connections_per_client: usize::try_from(self.max_connections_per_client)
                .unwrap_or(usize::MAX),
            write_stall: Duration::from_secs(self.stream_write_timeout),
            ..defaults
        }
    }

    pub fn access_settings(&self) -> AccessSettings {
        AccessSettings {
            open_on_loopback: self.open_on_loopback,
            loopback_bind: self.bind.ip().is_loopback(),
            secure_cookies: self.secure_cookies
                || self.serves_https()
                || self.public_url.as_ref().is_some_and(PublicUrl::is_https),
            session_days: self.session_days,
            max_requests_per_key: self.max_requests_per_key,
            // Known once bound (`--bind 127.0.0.1:0` picks one).
            port: (self.bind.port() != 0).then_some(self.bind.port()),
            hsts: self.hsts,
        }
    }

    /// `--hsts` over plain HTTP would tell browsers to use an HTTPS that is not there.
    pub fn check_hsts(&self) -> Result<(), String> {
        if self.hsts && !self.access_settings().secure_cookies {
            return Err(
                "--hsts needs Corral served over HTTPS: --tls-cert, an https \
                        --public-url, or --secure-cookies behind an HTTPS proxy"
                    .into(),
            );
        }
        Ok(())
    }

    /// `--cors-origin '*'` lets every site's pages call the gateway with a key: only where a
    /// login is required, so that every key is a real one of this Corral's.
    pub fn gateway_settings(&self) -> Result<GatewaySettings, String> {
        let cors = CorsOrigins::parse(&self.cors_origins)?;
        if cors.allows_any() && !self.access_settings().login_required() {
            return Err(
                "--cors-origin '*' needs a login (--open-on-loopback false, or a bind beyond \
                 loopback): without one, any site's pages could use the gateway; name the sites \
                 instead"
                    .into(),
            );
        }
        Ok(GatewaySettings {
            max_body_bytes: self.gateway_max_body << 20,
            cors,
        })
    }

    /// Beyond loopback, files named by settings must be confined to model folders: a key holder
    /// must not make Corral read any file its user can.
    /// Model folders must be real folders, inside the model roots when those are set.
    pub fn checked_models_dirs(&self, roots: &ModelRoots) -> Result<Vec<PathBuf>, String> {
        self.settings
            .0
            .models_dirs()
            .iter()
            .map(|dir| roots.models_folder(std::path::Path::new(dir)))
            .collect()
    }

    pub fn check_bind(&self) -> Result<(), String> {
        if self.bind.ip().is_loopback() || !self.model_roots.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "serving beyond this machine ({}) needs --model-roots: the folders model files may \
                 be in (API key holders could otherwise make Corral read any file it can)",
                self.bind
            ))
        }
    }

    /// The names Corral answers to besides its own addresses: --allowed-host and the public URL.
    pub fn extra_hosts(&self) -> Vec<String> {
        let mut hosts = self.allowed_hosts.clone();
        hosts.extend(self.public_url.iter().map(|url| url.host().to_string()));
        hosts
    }

    pub fn serves_https(&self) -> bool {
        self.tls_cert.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("corral").chain(args.iter().copied()))
    }

    #[test]
    fn hsts_is_refused_without_https() {
        assert!(parse(&["--hsts"]).unwrap().check_hsts().is_err());
        let proxied = parse(&["--hsts", "--public-url", "https://corral.example"]).unwrap();
        assert!(proxied.check_hsts().is_ok());
        assert!(proxied.access_settings().hsts);
        assert!(!parse(&[]).unwrap().access_settings().hsts);
    }

    #[test]
    fn any_site_may_be_allowed_only_where_a_login_is_required() {
        let open = parse(&["--cors-origin", "*"]).unwrap();
        assert!(
            open.gateway_settings()
                .unwrap_err()
                .contains("needs a login")
        );
        let listed = parse(&["--cors-origin", "https://chat.example.com"]).unwrap();
        assert!(listed.gateway_settings().is_ok());
        let login = parse(&["--cors-origin", "*", "--open-on-loopback", "false"]).unwrap();
        assert!(login.gateway_settings().unwrap().cors.allows_any());
    }

    #[test]
    fn durations_too_large_to_compute_with_are_refused_when_parsed() {
        for (flag, value) in [
            ("--stop-grace", "18446744073709551615"),
            ("--stop-grace", "3601"),
            ("--load-timeout", "86401"),
            ("--load-timeout", "0"),
            ("--load-per-gib", "99999999999"),
        ] {
            let error = parse(&[flag, value]).expect_err(flag);
            assert!(error.to_string().contains(flag), "{error}");
        }
        let cli = parse(&[
            "--stop-grace",
            "3600",
            "--load-timeout",
            "86400",
            "--load-per-gib",
            "86400",
        ])
        .unwrap();
        // The largest accepted values still make a deadline without overflow.
        let settings = cli.supervisor_settings();
        let _ = settings.load_deadline(Some(u64::MAX));
        assert!(cli.http_limits().request >= Duration::from_secs(7200));
    }

    #[test]
    fn allowed_hosts_repeat_and_bad_ones_are_refused() {
        let cli = parse(&[
            "--allowed-host",
            "corral.lan",
            "--allowed-host",
            "proxy.lan:8443",
        ])
        .unwrap();
        assert_eq!(cli.allowed_hosts, ["corral.lan", "proxy.lan:8443"]);
        assert!(parse(&["--allowed-host", "http://corral.lan"]).is_err());
    }

    #[test]
    fn without_flags_every_setting_is_its_types_default() {
        let cli = parse(&[]).unwrap();
        let (settings, defaults) = (cli.supervisor_settings(), SupervisorSettings::default());
        assert_eq!(settings.ports, defaults.ports);
        assert_eq!(settings.max_running, defaults.max_running);
        assert_eq!(settings.when_full, defaults.when_full);
        assert_eq!(settings.stop_grace, defaults.stop_grace);
        assert_eq!(settings.load_timeout, defaults.load_timeout);
        assert_eq!(settings.load_per_gib, defaults.load_per_gib);
        assert_eq!(settings.leftovers, defaults.leftovers);
        assert_eq!(cli.retention(), Retention::default());
        assert_eq!(cli.max_clients, HubConfig::default().max_clients);
        assert_eq!(
            cli.http_limits().max_connections,
            HttpLimits::default().max_connections
        );
    }

    #[test]
    fn every_setting_has_its_flag_and_variable_and_a_bad_value_gets_the_pages_message() {
        use clap::CommandFactory;
        let command = Cli::command();
        for setting in crate::domain::settings::SETTINGS {
            let arg = command
                .get_arguments()
                .find(|arg| arg.get_id().as_str() == setting.key())
                .unwrap_or_else(|| panic!("no flag for {}", setting.key()));
            assert_eq!(arg.get_long(), Some(setting.flag));
            assert_eq!(arg.get_env().and_then(|e| e.to_str()), Some(setting.env));
        }
        let error = parse(&["--max-running", "65"]).unwrap_err().to_string();
        assert!(
            error.contains("--max-running") && error.contains("64"),
            "{error}"
        );
        let error = parse(&["--when-full", "explode"]).unwrap_err().to_string();
        assert!(error.contains("stop-least-recent"), "{error}");
        let error = parse(&["--ports", "9-1"]).unwrap_err().to_string();
        assert!(error.contains("port range"), "{error}");
    }

    #[test]
    fn flags_fill_the_owners_of_settings_and_say_they_were_given() {
        use clap::{CommandFactory, FromArgMatches};
        let matches = Cli::command()
            .try_get_matches_from([
                "corral",
                "--max-running",
                "5",
                "--memory-budget-mib",
                "2048",
                "--keep-changes",
                "9",
                "--models-dir",
                "relative/models",
            ])
            .unwrap();
        let cli = Cli::from_arg_matches(&matches).unwrap();
        let settings = cli.supervisor_settings();
        assert_eq!(settings.max_running, 5);
        assert_eq!(settings.memory_budget_bytes(), 2048 << 20);
        assert_eq!(cli.retention().changes_per_model, 9);
        // A relative folder is taken from where Corral was started.
        let dirs = cli.settings.0.models_dirs();
        assert!(
            dirs[0].starts_with('/') && dirs[0].ends_with("relative/models"),
            "{dirs:?}"
        );
        // (Variables such as CORRAL_LLAMA_SERVER, which the test run sets, are said by name.)
        let given: Vec<String> = crate::server::boot::setting_flags::set_by_flag(&matches)
            .into_iter()
            .map(|set| set.source)
            .filter(|source| source.starts_with("--"))
            .collect();
        assert_eq!(
            given,
            [
                "--models-dir",
                "--max-running",
                "--memory-budget-mib",
                "--keep-changes"
            ]
        );
    }

    #[test]
    fn gpu_budgets_are_read_as_given_and_a_bad_one_is_refused_with_its_shape() {
        use clap::{CommandFactory, FromArgMatches};
        let matches = Cli::command()
            .try_get_matches_from([
                "corral",
                "--gpu-budget-mib",
                "0=20000",
                "--gpu-budget-mib",
                "CUDA1=8000,gpu2=1",
            ])
            .unwrap();
        let cli = Cli::from_arg_matches(&matches).unwrap();
        let budgets = cli.supervisor_settings().memory_budgets();
        let gpus: Vec<(u32, u64)> = budgets.gpus.iter().map(|b| (b.index, b.mib)).collect();
        assert_eq!(gpus, [(0, 20000), (1, 8000), (2, 1)]);
        let refused = Cli::command()
            .try_get_matches_from(["corral", "--gpu-budget-mib", "x=1"])
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains("'x=1' is not DEVICE=MIB, such as 0=20000"),
            "{refused}"
        );
    }

    #[test]
    fn a_bind_beyond_loopback_needs_model_roots() {
        let error = parse(&["--bind", "0.0.0.0:3000"])
            .unwrap()
            .check_bind()
            .unwrap_err();
        assert!(error.contains("--model-roots"), "{error}");
        let cli = parse(&["--bind", "0.0.0.0:3000", "--model-roots", "/srv/models"]).unwrap();
        assert!(cli.check_bind().is_ok());
        assert!(
            parse(&["--bind", "127.0.0.1:3000"])
                .unwrap()
                .check_bind()
                .is_ok()
        );
    }

    #[test]
    fn an_https_public_url_or_tls_makes_cookies_secure_and_joins_the_hosts() {
        assert!(!parse(&[]).unwrap().access_settings().secure_cookies);
        let cli = parse(&["--public-url", "https://corral.example"]).unwrap();
        assert!(cli.access_settings().secure_cookies);
        assert_eq!(cli.extra_hosts(), ["corral.example"]);
        let cli = parse(&["--tls-cert", "/c.pem", "--tls-key", "/k.pem"]).unwrap();
        assert!(cli.access_settings().secure_cookies);
        assert!(parse(&["--tls-cert", "/c.pem"]).is_err());
        assert!(parse(&["--public-url", "https://corral.example/sub"]).is_err());
    }

    #[test]
    fn history_kept_per_model_must_be_at_least_one() {
        assert!(parse(&["--keep-runs", "0"]).is_err());
        assert!(parse(&["--keep-activity-days", "0"]).is_err());
        let cli = parse(&[
            "--keep-runs",
            "5",
            "--keep-changes",
            "7",
            "--keep-activity-days",
            "9",
        ])
        .unwrap();
        assert_eq!(
            cli.retention(),
            Retention {
                runs_per_model: 5,
                changes_per_model: 7,
                activity_days: 9,
                metrics_days: 7,
            }
        );
    }
}
