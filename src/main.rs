//! The `corral` binary: flags, logging, data directory, listener, database, router; serves until
//! SIGINT/SIGTERM, then stops its models and exits within a bounded time.

use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches};
use corral::server::access::{self, AccessSettings};
use corral::server::boot::cli::{AdminCommand, Cli, Command};
use corral::server::boot::data_dir;
use corral::server::boot::{router, start};
use corral::server::db::{Db, backup};
use corral::server::gguf::test_model::TestModel;
use corral::server::http::host::{self, AllowedHosts};
use corral::server::http::serve;
use corral::server::http::tls::Tls;
use corral::server::live::corral_log::{self, CorralLogHandle};
use corral::server::live::hub::{self, HubConfig};
use corral::server::live::socket::SocketLimits;
use corral::server::metrics::collector::{self, HistoryConfig};
use corral::server::models::model_roots::ModelRoots;
use leptos::config::LeptosOptions;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Descriptors kept for everything that is not a connection, besides a few per running model.
const RESERVED_DESCRIPTORS: usize = 64;

fn main() -> ExitCode {
    // An empty variable (`CORRAL_MAX_RUNNING=` left by an env-file template) means "not given".
    for (name, value) in std::env::vars_os() {
        if value.is_empty() && name.to_string_lossy().starts_with("CORRAL_") {
            // SAFETY: the first thing main does, before any thread exists.
            unsafe { std::env::remove_var(&name) };
        }
    }
    let (corral_log, corral_log_handle) = corral_log::layer();
    tracing_subscriber::registry()
        .with(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(corral_log)
        .init();
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    let set_by_flag = corral::server::boot::setting_flags::set_by_flag(&matches);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("corral: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli, set_by_flag, corral_log_handle));
    // A file check stuck on a hung disk must not keep Corral alive: blocking work still running
    // now is abandoned.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            eprintln!("corral: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(
    cli: Cli,
    set_by_flag: Vec<corral::domain::settings::SetByFlag>,
    corral_log: CorralLogHandle,
) -> Result<(), Box<dyn std::error::Error>> {
    if let Some(done) = one_shot(&cli).await {
        return done;
    }
    cli.check_bind()?;
    cli.check_hsts()?;
    let model_roots = ModelRoots::new(&cli.model_roots)?;
    let models_dirs = cli.checked_models_dirs(&model_roots)?;
    let tls = match (&cli.tls_cert, &cli.tls_key) {
        (Some(cert), Some(key)) => Some(Tls::load(cert, key)?),
        _ => None,
    };
    // Whatever Corral writes (the database, its journal, the lock) is its user's alone.
    // SAFETY: umask only changes this process's file-creation mask.
    unsafe { libc::umask(0o077) };
    // The data directory first: a second Corral must not touch the first one's models.
    let data_dir = cli.data_dir();
    let lock = data_dir::claim(&data_dir)?;
    // The port next, before anything is reconciled: a Corral that cannot serve stops nothing.
    let listener = tokio::net::TcpListener::bind(cli.bind)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", cli.bind))?;
    let address = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    lock.describe(&format!("pid {}, {scheme}://{address}", std::process::id()));

    let db_path = data_dir.join("corral.db");
    let leptos_options = LeptosOptions::builder()
        .output_name("corral")
        .site_root(cli.site_root().to_string_lossy().as_ref())
        .site_pkg_dir("pkg")
        .site_addr(address)
        .build();
    let hosts = AllowedHosts::new(address, &cli.extra_hosts());
    say_where(&hosts, &model_roots, address);
    let reach = reach_url(&cli, address, scheme);
    let mut supervisor_settings = cli.supervisor_settings();
    supervisor_settings.corral_origin = format!("{scheme}://{address}");
    let stop_grace = supervisor_settings.stop_grace;
    let mut http_limits = cli.http_limits();
    http_limits.max_connections = serve::fit_connection_cap(
        http_limits.max_connections,
        RESERVED_DESCRIPTORS + 8 * supervisor_settings.max_running,
    );
    let state = start::app_state(start::Setup {
        db_path: db_path.clone(),
        leptos_options,
        hub: HubConfig {
            max_clients: cli.max_clients,
            ..HubConfig::default()
        },
        sockets: SocketLimits::default(),
        supervisor: supervisor_settings,
        hosts,
        http: http_limits,
        retention: cli.retention(),
        gateway: cli.gateway_settings()?,
        access: AccessSettings {
            port: Some(address.port()),
            ..cli.access_settings()
        },
        model_roots,
        models_dirs,
        set_by_flag,
    })
    .await?;
    offer_setup(&state.access, &reach).await?;
    let supervisor = state.supervisor.clone();
    corral_log.attach(state.hub.clone());
    tracing::info!(path = %db_path.display(), "database ready");
    watch_in_background(&state, data_dir);
    let app = router::build(state);
    // Tests and scripts read this line to learn the port when binding port 0.
    tracing::info!("corral listening on {scheme}://{address}");
    if let Some(tls) = &tls {
        tls.reload_on_sighup();
    }
    serve::serve(listener, app, http_limits, tls, shutdown_signal()).await;
    tracing::info!("stopping running models");
    stop_models(&supervisor, stop_grace).await;
    tracing::info!("corral stopped");
    drop(lock);
    Ok(())
}

/// Says in the log which names Corral answers to, where model files may be, and whether it
/// serves beyond this machine.
fn say_where(hosts: &AllowedHosts, model_roots: &ModelRoots, address: std::net::SocketAddr) {
    tracing::info!(hosts = %hosts.describe(), "answering to these host names");
    if !model_roots.is_open() {
        tracing::info!(folders = %model_roots.describe(), "model files must be in these folders");
    }
    if !address.ip().is_loopback() {
        tracing::info!(
            "serving beyond this machine: every page and call needs the admin's sign-in or an \
             API key"
        );
    }
}

/// The host's numbers every few seconds, and the status every tab hears.
fn watch_in_background(
    state: &corral::server::boot::state::AppState,
    data_dir: std::path::PathBuf,
) {
    collector::spawn(
        state.hub.clone(),
        state.metrics.clone(),
        data_dir,
        HistoryConfig::default(),
    );
    hub::spawn_status_updates(state.hub.clone(), Duration::from_secs(5));
}

/// With no admin yet: one from the environment (containers), else a one-time setup link.
async fn offer_setup(
    access: &corral::server::access::Access,
    reach: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let seed = std::env::var("CORRAL_ADMIN_PASSWORD").ok().map(|password| {
        let user = std::env::var("CORRAL_ADMIN_USER").unwrap_or_else(|_| "admin".into());
        (user, password)
    });
    if let Some(token) = access.prepare(seed).await? {
        tracing::info!(
            "no admin account yet: open {reach}/setup?token={token} to create it (the link works \
             once; a restart prints a new one)"
        );
    }
    Ok(())
}

/// Stops every model: each takes at most the grace, then SIGKILL; a few seconds more for exits.
async fn stop_models(supervisor: &corral::server::supervisor::Supervisor, stop_grace: Duration) {
    let stopped =
        tokio::time::timeout(stop_grace + Duration::from_secs(5), supervisor.shutdown()).await;
    if stopped.is_err() {
        tracing::error!(
            "models did not stop in time; exiting anyway (they get SIGKILL with Corral)"
        );
    }
}

/// The commands that do one thing and exit (write a test model, back up, reset the password);
/// `None` when Corral is to serve.
async fn one_shot(cli: &Cli) -> Option<Result<(), Box<dyn std::error::Error>>> {
    if let Some(Command::TestModel { path, large }) = &cli.command {
        let shape = if *large {
            TestModel::LARGE
        } else {
            TestModel::TINY
        };
        let bytes = shape
            .write(path)
            .map_err(|e| format!("cannot write {}: {e}", path.display()));
        let bytes = match bytes {
            Ok(bytes) => bytes,
            Err(error) => return Some(Err(error.into())),
        };
        println!("{} ({bytes} bytes)", path.display());
        return Some(Ok(()));
    }
    if let Some(Command::Backup { path }) = &cli.command {
        // Whatever Corral writes is its user's alone, the copy of its database included.
        // SAFETY: umask only changes this process's file-creation mask.
        unsafe { libc::umask(0o077) };
        let source = cli.data_dir().join("corral.db");
        let bytes = match backup::backup(&source, path) {
            Ok(bytes) => bytes,
            Err(error) => return Some(Err(error.into())),
        };
        println!("{} ({bytes} bytes)", path.display());
        return Some(Ok(()));
    }
    if let Some(Command::Admin {
        action: AdminCommand::ResetPassword { user },
    }) = &cli.command
    {
        return Some(reset_password(cli, user.clone()).await);
    }
    None
}

/// Where people reach Corral: the public URL, else the address it listens on (for a wildcard
/// bind, the machine's first LAN address).
fn reach_url(cli: &Cli, address: std::net::SocketAddr, scheme: &str) -> String {
    match &cli.public_url {
        Some(url) => url.to_string(),
        None if address.ip().is_unspecified() => {
            let lan = host::machine_addresses()
                .into_iter()
                .find(|ip| !ip.is_loopback() && ip.is_ipv4())
                .map_or_else(|| "<this machine>".to_string(), |ip| ip.to_string());
            format!("{scheme}://{lan}:{}", address.port())
        }
        None => format!("{scheme}://{address}"),
    }
}

/// `corral admin reset-password --user NAME`.
async fn reset_password(cli: &Cli, user: String) -> Result<(), Box<dyn std::error::Error>> {
    let password = match std::env::var("CORRAL_ADMIN_PASSWORD") {
        Ok(password) => password,
        Err(_) => {
            eprintln!("new password for {user} (one line on stdin):");
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    let db = Db::open(&cli.data_dir().join("corral.db")).await?;
    access::reset_password(&db, user.clone(), password).await?;
    println!("the password of {user} was changed; every session of {user} has ended");
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT: shutting down"),
        () = terminate => tracing::info!("SIGTERM: shutting down"),
    }
}
