//! The `corral` binary: flags, logging, database, router, serve until SIGINT/SIGTERM.

use std::process::ExitCode;

use clap::Parser;
use corral::server::cli::{Cli, Command};
use corral::server::gguf::test_model::TestModel;
use std::time::Duration;

use axum::serve::{Listener, ListenerExt};
use corral::server::live::corral_log::{self, CorralLogHandle};
use corral::server::live::hub::{self, HubConfig};
use corral::server::live::socket::SocketLimits;
use corral::server::metrics::collector::{self, HistoryConfig};
use corral::server::{router, start};
use leptos::config::LeptosOptions;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[tokio::main]
async fn main() -> ExitCode {
    let (corral_log, corral_log_handle) = corral_log::layer();
    tracing_subscriber::registry()
        .with(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(corral_log)
        .init();
    match run(Cli::parse(), corral_log_handle).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            eprintln!("corral: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli, corral_log: CorralLogHandle) -> Result<(), Box<dyn std::error::Error>> {
    if let Some(Command::TestModel { path, large }) = &cli.command {
        let shape = if *large {
            TestModel::LARGE
        } else {
            TestModel::TINY
        };
        let bytes = shape.write(path)?;
        println!("{} ({bytes} bytes)", path.display());
        return Ok(());
    }
    cli.check_bind()?;
    let db_path = cli.data_dir().join("corral.db");
    let site_root = cli.site_root();
    let leptos_options = LeptosOptions::builder()
        .output_name("corral")
        .site_root(site_root.to_string_lossy().as_ref())
        .site_pkg_dir("pkg")
        .site_addr(cli.bind)
        .build();
    let hub_config = HubConfig {
        max_clients: cli.max_clients,
        ..HubConfig::default()
    };
    let state = start::app_state(
        &db_path,
        leptos_options,
        hub_config,
        SocketLimits::default(),
        cli.supervisor_settings(),
    )
    .await?;
    let supervisor = state.supervisor.clone();
    corral_log.attach(state.registry.hub().clone());
    tracing::info!(path = %db_path.display(), "database ready");
    collector::spawn(
        state.registry.clone(),
        cli.data_dir(),
        HistoryConfig::default(),
    );
    hub::spawn_status_updates(state.registry.hub().clone(), Duration::from_secs(5));
    let app = router::build(state);
    // No Nagle: a response written in two parts (headers, then body) must not wait for the
    // client's delayed ACK, which cost static files a steady 40 ms (scripts/bench).
    let listener = tokio::net::TcpListener::bind(cli.bind)
        .await?
        .tap_io(|stream| {
            if let Err(error) = stream.set_nodelay(true) {
                tracing::warn!(%error, "cannot set TCP_NODELAY");
            }
        });
    // Tests and scripts read this line to learn the port when binding port 0.
    tracing::info!("corral listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    tracing::info!("stopping running models");
    supervisor.shutdown().await;
    tracing::info!("corral stopped");
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
