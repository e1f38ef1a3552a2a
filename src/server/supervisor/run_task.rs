//! One task per run: reads the process's output, waits for `/health`, scrapes numbers while it
//! runs, stops it when asked, notices its exit at once (the runtime reaps it, so no zombie), and
//! records how it ended.

use std::collections::VecDeque;
use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, BufReader};
use tokio::process::Child;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::domain::ModelStatus;
use crate::domain::live::ServerEvent;
use crate::domain::run::{FailureReason, LiveRun, LogStream};
use crate::server::db::metrics_repo;
use crate::server::db::runs_repo::{self, Ending};
use crate::server::now_ms;
use crate::server::supervisor::Supervisor;
use crate::server::supervisor::classify::{self, Exit};
use crate::server::supervisor::http_probe;
use crate::server::supervisor::line_reader;
use crate::server::supervisor::scrape;
use crate::server::supervisor::spawn::{process_alive, signal_group};
use crate::server::supervisor::state_machine::{RunEvent, next};

/// Log lines kept with each run in the database.
pub const TAIL_LINES: usize = 50;
/// `/health` is asked this often at first while loading, backing off by half each time to
/// `HEALTH_POLL_MAX`: a small model is ready in ~20 ms, and a poll that just missed it should
/// not cost as much again (measured by `scripts/bench`, status latency).
const HEALTH_POLL_MIN: Duration = Duration::from_millis(5);
const HEALTH_POLL_MAX: Duration = Duration::from_millis(250);
/// How often a live run's log tail is saved, so it survives Corral being killed.
const TAIL_SAVE_EVERY: Duration = Duration::from_secs(5);

/// The process a run drives: one Corral spawned, or one adopted from an earlier Corral (not a
/// child of this one, so it cannot be waited for; its exit is noticed by polling).
pub(super) enum Process {
    Child(Child),
    Adopted { pid: u32 },
}

/// How often an adopted process is checked for.
const ADOPTED_POLL: Duration = Duration::from_millis(200);

impl Process {
    /// Resolves when the process has exited (cancel-safe: it can be polled again).
    pub(super) async fn wait(&mut self) -> Exit {
        match self {
            Process::Child(child) => match child.wait().await {
                Ok(status) => Exit {
                    code: status.code(),
                    signal: status.signal(),
                },
                Err(error) => {
                    tracing::error!(%error, "cannot wait for llama-server");
                    Exit {
                        code: None,
                        signal: None,
                    }
                }
            },
            Process::Adopted { pid } => {
                while process_alive(*pid) {
                    tokio::time::sleep(ADOPTED_POLL).await;
                }
                Exit {
                    code: None,
                    signal: None,
                }
            }
        }
    }
}

pub(super) struct RunContext {
    pub supervisor: Supervisor,
    pub live: LiveRun,
    pub size_bytes: Option<u64>,
    pub process: Process,
    /// Lines to start the tail with (an adopted run keeps what the earlier Corral saved).
    pub tail: Vec<String>,
    pub stop: watch::Receiver<bool>,
    pub ended: watch::Sender<bool>,
    pub last_used: Arc<AtomicI64>,
    /// The key the server answers to; `/health` needs none.
    pub api_key: Option<Arc<str>>,
}

/// The newest lines of the run's output, shared with the reader tasks.
#[derive(Default)]
struct Tail {
    lines: VecDeque<String>,
    last_output: Option<Instant>,
}

type SharedTail = Arc<Mutex<Tail>>;

fn lock(tail: &SharedTail) -> std::sync::MutexGuard<'_, Tail> {
    tail.lock().unwrap_or_else(|p| p.into_inner())
}

enum Phase {
    Loading {
        deadline: Instant,
        poll: Duration,
    },
    Running,
    /// SIGTERM sent; SIGKILL at `kill_at` unless it is gone by then.
    Stopping {
        kill_at: Instant,
    },
    /// SIGKILL sent; waiting for the exit.
    Killed,
}

pub(super) async fn drive(mut ctx: RunContext) {
    let supervisor = ctx.supervisor.clone();
    let settings = supervisor.settings().clone();
    let registry = supervisor.registry().clone();
    let hub = registry.hub().clone();
    let (model_id, run_id, pid) = (ctx.live.model_id, ctx.live.run_id, ctx.live.pid);
    let tail = SharedTail::new(Mutex::new(Tail {
        lines: std::mem::take(&mut ctx.tail).into(),
        last_output: None,
    }));
    let pipes = match &mut ctx.process {
        Process::Child(child) => (child.stdout.take(), child.stderr.take()),
        Process::Adopted { .. } => (None, None),
    };
    // Said in the log the moment the server can answer: ask `/health` then, not at the next poll.
    let listening = Arc::new(Notify::new());
    let readers = [
        pipes.0.map(|out| {
            spawn_reader(
                &ctx,
                out,
                LogStream::Stdout,
                tail.clone(),
                listening.clone(),
            )
        }),
        pipes.1.map(|err| {
            spawn_reader(
                &ctx,
                err,
                LogStream::Stderr,
                tail.clone(),
                listening.clone(),
            )
        }),
    ];

    let mut status = ModelStatus::Loading;
    let mut stop_asked = false;
    let mut failure: Option<(FailureReason, String)> = None;
    let mut phase = Phase::Loading {
        deadline: Instant::now() + settings.load_deadline(ctx.size_bytes),
        poll: HEALTH_POLL_MIN,
    };
    let mut tail_saved = Instant::now();
    let exit = loop {
        let wake = match &phase {
            Phase::Loading { poll, .. } => Instant::now() + *poll,
            Phase::Running => Instant::now() + settings.scrape_every,
            Phase::Stopping { kill_at } => *kill_at,
            Phase::Killed => Instant::now() + Duration::from_secs(3600),
        };
        let may_stop = matches!(phase, Phase::Loading { .. } | Phase::Running);
        tokio::select! {
            exit = ctx.process.wait() => break exit,
            _ = listening.notified(), if matches!(phase, Phase::Loading { .. }) => {
                if let Phase::Loading { poll, .. } = &mut phase {
                    *poll = Duration::ZERO;
                }
            }
            _ = ctx.stop.changed(), if may_stop => {
                stop_asked = true;
                status = move_to(&supervisor, model_id, status, RunEvent::StopRequested, None).await;
                if let Err(error) = signal_group(pid, libc::SIGTERM) {
                    tracing::warn!(model_id, pid, %error, "cannot send SIGTERM");
                }
                phase = Phase::Stopping { kill_at: Instant::now() + settings.stop_grace };
            }
            _ = tokio::time::sleep_until(wake) => match &mut phase {
                Phase::Loading { deadline, poll } => {
                    let (stage, last_output) = {
                        let tail = lock(&tail);
                        let stage = tail.lines.back().map(|l| classify::strip_prefix(l).to_string());
                        (stage, tail.last_output)
                    };
                    // Output while loading is progress: give it more time.
                    if let Some(at) = last_output {
                        *deadline = (*deadline).max(at + settings.load_extension);
                    }
                    // The deadline is checked before asking: a server not seen healthy in time
                    // has missed it, whatever it would answer now.
                    if Instant::now() >= *deadline {
                        let waited = settings.load_deadline(ctx.size_bytes);
                        failure = Some((
                            FailureReason::LoadTimeout,
                            format!("{} (not ready after {} s)", FailureReason::LoadTimeout.advice(), waited.as_secs()),
                        ));
                        let _ = signal_group(pid, libc::SIGKILL);
                        phase = Phase::Killed;
                        continue;
                    }
                    if let Ok((200, _)) = http_probe::get(ctx.live.port, "/health", None, Duration::from_secs(1)).await {
                        let at = now_ms();
                        let db = registry.db().clone();
                        // The load log is the part worth keeping if Corral is killed later.
                        let lines: Vec<String> = lock(&tail).lines.iter().cloned().collect();
                        tail_saved = Instant::now();
                        let recorded = db.call(move |conn| {
                            runs_repo::mark_ready(conn, run_id, at)?;
                            Ok(runs_repo::save_tail(conn, run_id, &lines)?)
                        });
                        if let Err(error) = recorded.await {
                            tracing::warn!(model_id, %error, "cannot record readiness");
                        }
                        status = move_to(&supervisor, model_id, status, RunEvent::Healthy, None).await;
                        ctx.live.ready_at = Some(at);
                        ctx.live.stage = None;
                        hub.publish(ServerEvent::RunUpdated(ctx.live.clone()));
                        phase = Phase::Running;
                        continue;
                    }
                    *poll = (*poll * 3 / 2).clamp(HEALTH_POLL_MIN, HEALTH_POLL_MAX);
                    if stage.is_some() && stage != ctx.live.stage {
                        ctx.live.stage = stage;
                        hub.publish(ServerEvent::RunUpdated(ctx.live.clone()));
                    }
                }
                Phase::Running => {
                    let sample = scrape::sample(ctx.live.port, pid, ctx.api_key.as_deref()).await;
                    if sample.requests_processing.is_some_and(|n| n > 0.0) {
                        ctx.last_used.store(sample.at, Ordering::Relaxed);
                    }
                    let rows: Vec<(String, i64, f64)> = sample
                        .series(model_id)
                        .into_iter()
                        .map(|(name, value)| (name, sample.at, value))
                        .collect();
                    let db = registry.db().clone();
                    if let Err(error) = db.call(move |conn| Ok(metrics_repo::insert(conn, &rows)?)).await {
                        tracing::warn!(model_id, %error, "cannot record model metrics");
                    }
                    ctx.live.sample = Some(sample);
                    hub.publish(ServerEvent::RunUpdated(ctx.live.clone()));
                    if tail_saved.elapsed() >= TAIL_SAVE_EVERY {
                        tail_saved = Instant::now();
                        let lines: Vec<String> = lock(&tail).lines.iter().cloned().collect();
                        let db = registry.db().clone();
                        let _ = db.call(move |conn| Ok(runs_repo::save_tail(conn, run_id, &lines)?)).await;
                    }
                }
                Phase::Stopping { .. } => {
                    tracing::warn!(model_id, pid, "no exit after SIGTERM: sending SIGKILL");
                    let _ = signal_group(pid, libc::SIGKILL);
                    phase = Phase::Killed;
                }
                Phase::Killed => {}
            },
        }
    };

    // The pipes close when the process exits; the readers finish with its last words.
    for reader in readers.into_iter().flatten() {
        let _ = tokio::time::timeout(Duration::from_secs(1), reader).await;
    }
    let lines: Vec<String> = lock(&tail).lines.iter().cloned().collect();
    let (event, failure) = match (stop_asked, failure) {
        (_, Some(timeout)) => (RunEvent::Failed, Some(timeout)),
        (true, None) => (RunEvent::StoppedAsAsked, None),
        (false, None) => (RunEvent::Failed, Some(classify::classify(exit, &lines))),
    };
    let ending = Ending {
        at: now_ms(),
        exit_code: exit.code,
        signal: exit.signal,
        failure: failure.as_ref().map(|(reason, _)| *reason),
        message: Some(match &failure {
            Some((_, message)) => message.clone(),
            None => format!("stopped as asked ({})", classify::describe(exit)),
        }),
        log_tail: lines,
    };
    tracing::info!(model_id, run_id, pid, ?exit, failure = ?ending.failure, "llama-server ended");
    let db = registry.db().clone();
    if let Err(error) = db
        .call(move |conn| Ok(runs_repo::finish(conn, run_id, &ending)?))
        .await
    {
        tracing::error!(model_id, run_id, %error, "cannot record the end of a run");
    }
    supervisor.forget_run(model_id, run_id);
    let reason = failure.map(|(_, message)| message);
    move_to(&supervisor, model_id, status, event, reason).await;
    hub.publish(ServerEvent::RunEnded { model_id, run_id });
    let _ = ctx.ended.send(true);
}

/// Applies a state-machine step and records it; an impossible step is logged and skipped.
async fn move_to(
    supervisor: &Supervisor,
    model_id: i64,
    from: ModelStatus,
    event: RunEvent,
    reason: Option<String>,
) -> ModelStatus {
    let Some(to) = next(from, event) else {
        tracing::error!(model_id, ?from, ?event, "impossible run transition ignored");
        return from;
    };
    if let Err(error) = supervisor.registry().set_status(model_id, to, reason).await {
        // The model was deleted meanwhile, or the database is failing: the process is still
        // handled; only the record is missing.
        tracing::warn!(model_id, %error, "cannot record status {to}");
    }
    to
}

fn spawn_reader(
    ctx: &RunContext,
    pipe: impl AsyncRead + Unpin + Send + 'static,
    stream: LogStream,
    tail: SharedTail,
    listening: Arc<Notify>,
) -> tokio::task::JoinHandle<()> {
    let hub = ctx.supervisor.registry().hub().clone();
    let (model_id, run_id) = (ctx.live.model_id, ctx.live.run_id);
    tokio::spawn(async move {
        let mut reader = BufReader::new(pipe);
        let mut buffer = Vec::new();
        loop {
            match line_reader::next_line(&mut reader, &mut buffer, line_reader::MAX_LINE_BYTES)
                .await
            {
                Ok(None) | Err(_) => break,
                Ok(Some(cut)) => {
                    let text = String::from_utf8_lossy(&buffer);
                    let mut text = text.trim_end_matches(['\n', '\r']).to_string();
                    if text.is_empty() {
                        continue;
                    }
                    if cut {
                        text.push_str(line_reader::CUT_MARK);
                    }
                    let text = text.as_str();
                    if classify::says_listening(text) {
                        listening.notify_one();
                    }
                    let line = hub.log(model_id, run_id, stream, text);
                    let mut tail = lock(&tail);
                    if tail.lines.len() == TAIL_LINES {
                        tail.lines.pop_front();
                    }
                    tail.lines.push_back(line.text);
                    tail.last_output = Some(Instant::now());
                }
            }
        }
    })
}
