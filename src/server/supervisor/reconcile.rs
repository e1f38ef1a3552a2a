//! Start-up: runs the database believes alive are checked against the real processes. One that
//! is still ours (same pid, same command line) is adopted or stopped, as set; every other such
//! run is closed; every other model still marked loading/running/stopping is set stopped. No
//! orphan survives a Corral restart unsupervised.

use std::time::Duration;

use crate::domain::run::Run;
use crate::domain::{AppError, StatusEvent};
use crate::server::db::runs_repo::Ending;
use crate::server::now_ms;
use crate::server::supervisor::Supervisor;
use crate::server::supervisor::settings::Leftovers;
use crate::server::supervisor::spawn::{process_alive, process_group, signal_group};

pub async fn reconcile(supervisor: &Supervisor) -> Result<(), AppError> {
    let runs = supervisor.runs_store().clone();
    let (alive, active) = runs.alive().await?;
    let mut adopted = Vec::new();
    for run in alive {
        let leftover = run.pid.filter(|pid| is_ours(*pid, &run));
        if let Some(pid) = leftover
            && supervisor.settings().leftovers == Leftovers::Adopt
        {
            tracing::info!(
                model_id = run.model_id,
                pid,
                "adopting a llama-server left by an earlier Corral"
            );
            adopted.push(run.model_id);
            supervisor.adopt(run, pid).await?;
            continue;
        }
        if let Some(pid) = leftover {
            tracing::warn!(
                model_id = run.model_id,
                pid,
                "a llama-server from an earlier Corral is still running: stopping it"
            );
            stop_leftover(pid, supervisor.settings().stop_grace).await;
        }
        let ending = Ending {
            at: now_ms(),
            message: Some(if leftover.is_some() {
                "left running by an earlier Corral; stopped at start-up".into()
            } else {
                "Corral ended before this run did; the process was gone at start-up".into()
            }),
            log_tail: run.log_tail.clone(),
            ..Ending::default()
        };
        runs.finish(run.id, ending).await?;
    }
    for id in active.into_iter().filter(|id| !adopted.contains(id)) {
        supervisor
            .transition(id, StatusEvent::NoProcess, None)
            .await?;
    }
    Ok(())
}

/// The process exists, leads its own group, and runs exactly the recorded command: not a
/// stranger that got the same pid.
fn is_ours(pid: u32, run: &Run) -> bool {
    if process_group(pid) != Some(pid) {
        return false;
    }
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|raw| {
        let args: Vec<String> = raw
            .split(|b| *b == 0)
            .filter(|part| !part.is_empty())
            .map(|part| String::from_utf8_lossy(part).into_owned())
            .collect();
        args == run.command
    })
}

async fn stop_leftover(pid: u32, grace: Duration) {
    let _ = signal_group(pid, libc::SIGTERM);
    let deadline = tokio::time::Instant::now() + grace;
    while process_alive(pid) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if process_alive(pid) {
        let _ = signal_group(pid, libc::SIGKILL);
    }
}
