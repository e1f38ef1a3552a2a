//! One task per run, one function per phase: `loading` (read the output, ask `/health`, keep
//! the deadline), `running` (scrape numbers), `stopping` (SIGTERM, then SIGKILL after the grace)
//! or `killing` (a missed load deadline), then `finish` (record how it ended, free its place,
//! say so). The process's exit is noticed at once in every phase (the runtime reaps it, so no
//! zombie). The task holds only what it needs: the run ledger (each event one transaction of run
//! row and status), the metrics history, the hub and the run handles.

use std::collections::VecDeque;
use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::process::Child;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::domain::StatusEvent;
use crate::domain::device_memory::{GpuBytes, raise_peaks};
use crate::domain::kept_kv::{KvRestore, RestoreVerdict};
use crate::domain::live::ServerEvent;
use crate::domain::restart_rule::RunEnd;
use crate::domain::run::{FailureReason, LiveRun, LogSource, LogStream};
use crate::domain::time::{format_bytes, format_millis};
use crate::server::db::runs_repo::Ending;
use crate::server::live::Hub;
use crate::server::metrics::history::MetricsHistory;
use crate::server::now_ms;
use crate::server::supervisor::admission::demand::Demand;
use crate::server::supervisor::admission::places::{Places, Promise};
use crate::server::supervisor::kept_kv::KvRun;
use crate::server::supervisor::ledger::{Ended as Recorded, RunLedger};
use crate::server::supervisor::prepare::memory_need::Need;
use crate::server::supervisor::restart_on_failure::{FailureNotices, RunFailed};
use crate::server::supervisor::run::classify::{self, Exit};
use crate::server::supervisor::run::spawn::{process_alive, signal_group};
use crate::server::supervisor::run::{http_probe, line_reader, scrape};
use crate::server::supervisor::run_handles::RunHandles;
use crate::server::supervisor::settings::SupervisorSettings;

/// Log lines kept with each run in the database.
pub const TAIL_LINES: usize = 50;

/// Once the server is up, a pause before reading its output again whenever everything read so
/// far has been handled. Under load llama-server writes about nine lines per request, each on
/// its own; waking for each cost Corral ~40 µs of CPU per request (`scripts/bench`, gateway
/// group), taken from the model on a busy machine. Paused, the lines gather in the pipe (64 KiB
/// holds far more than 10 ms of them) and are read in one go.
const OUTPUT_PAUSE: Duration = Duration::from_millis(10);
/// `/health` is asked this often at first while loading, backing off by half each time to
/// `HEALTH_POLL_MAX`: a small model is ready in ~20 ms, and a poll that just missed it should
/// not cost as much again (measured by `scripts/bench`, status latency).
const HEALTH_POLL_MIN: Duration = Duration::from_millis(5);
const HEALTH_POLL_MAX: Duration = Duration::from_millis(250);
/// How often a live run's log tail is saved, so it survives Corral being killed.
const TAIL_SAVE_EVERY: Duration = Duration::from_secs(5);
/// How often an adopted process is checked for.
const ADOPTED_POLL: Duration = Duration::from_millis(200);

/// The process a run drives: one Corral spawned, or one adopted from an earlier Corral (not a
/// child of this one, so it cannot be waited for; its exit is noticed by polling).
pub(in crate::server::supervisor) enum Process {
    Child(Child),
    Adopted { pid: u32 },
}

impl Process {
    /// Resolves when the process has exited (cancel-safe: it can be polled again).
    pub(in crate::server::supervisor) async fn wait(&mut self) -> Exit {
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

/// Everything a run task is given.
pub(in crate::server::supervisor) struct RunContext {
    pub ledger: RunLedger,
    pub history: MetricsHistory,
    pub hub: Hub,
    pub handles: RunHandles,
    pub places: Places,
    pub settings: Arc<SupervisorSettings>,
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
    /// Told `true` once the server is ready for requests.
    pub ready: watch::Sender<bool>,
    /// Stop after this long without requests (none in flight or waiting).
    pub idle_ttl: Option<Duration>,
    pub demand: Demand,
    /// Told when the run ends with a failure (restart on crash).
    pub failures: FailureNotices,
    /// The memory the start was admitted with, if known.
    pub need: Option<Need>,
    /// Admission's promise of that memory: given back once the server has loaded (its use is
    /// measured from then on) or the run ends.
    pub promise: Option<Promise>,
    /// The server sleeps when idle (`--sleep-idle-seconds`) instead of being stopped.
    pub sleeps: bool,
    /// Its KV cache is saved before a stop and restored once healthy (`serving.keep_kv`).
    pub kv: Option<KvRun>,
    /// Told false when the server falls asleep, true once a wake has its model back.
    pub awake: watch::Sender<bool>,
    /// Asked by requests that find it asleep.
    pub wake: Arc<Notify>,
}

/// What the output readers saw of sleep, for the run task to tell the tabs and for the
/// gateway's requests that wait for a wake (`awake`).
struct SleepWatch {
    asleep: AtomicBool,
    /// The last wake's length in milliseconds (-1: none yet).
    wake_ms: AtomicI64,
    changed: Notify,
    awake: watch::Sender<bool>,
}

impl SleepWatch {
    fn new(awake: watch::Sender<bool>) -> SleepWatch {
        SleepWatch {
            asleep: AtomicBool::new(false),
            wake_ms: AtomicI64::new(-1),
            changed: Notify::new(),
            awake,
        }
    }
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

/// How a phase before `stopping` ended.
enum Outcome {
    /// The process exited on its own.
    Exited(Exit),
    /// Someone asked it to stop.
    StopAsked,
    /// It was not ready in time; the message says how long it had.
    DeadlineMissed(String),
}

/// How the run ended, for the record.
enum Ended {
    AsAsked,
    Crashed,
    TimedOut(String),
}

struct Run {
    ctx: RunContext,
    tail: SharedTail,
    /// Said in the log the moment the server can answer: ask `/health` then.
    listening: Arc<Notify>,
    sleep: Arc<SleepWatch>,
    readers: Vec<JoinHandle<()>>,
    /// The most resident memory recorded for this run so far.
    recorded_peak: u64,
    /// The most memory recorded for this run on each GPU so far.
    recorded_gpu_peak: Vec<GpuBytes>,
}

pub(in crate::server::supervisor) async fn drive(mut ctx: RunContext) {
    let tail = SharedTail::new(Mutex::new(Tail {
        lines: std::mem::take(&mut ctx.tail).into(),
        last_output: None,
    }));
    let awake = ctx.awake.clone();
    let mut run = Run {
        ctx,
        tail,
        listening: Arc::new(Notify::new()),
        sleep: Arc::new(SleepWatch::new(awake)),
        readers: Vec::new(),
        recorded_peak: 0,
        recorded_gpu_peak: Vec::new(),
    };
    run.read_output();
    let (exit, ended) = match run.loading().await {
        Ok(()) => match run.running().await {
            Outcome::StopAsked => (run.stopping().await, Ended::AsAsked),
            Outcome::Exited(exit) => (exit, Ended::Crashed),
            Outcome::DeadlineMissed(message) => (run.killing().await, Ended::TimedOut(message)),
        },
        Err(Outcome::StopAsked) => (run.stopping().await, Ended::AsAsked),
        Err(Outcome::Exited(exit)) => (exit, Ended::Crashed),
        Err(Outcome::DeadlineMissed(message)) => (run.killing().await, Ended::TimedOut(message)),
    };
    run.finish(exit, ended).await;
}

impl Run {
    fn pid(&self) -> u32 {
        self.ctx.live.pid
    }

    fn lines(&self) -> Vec<String> {
        lock(&self.tail).lines.iter().cloned().collect()
    }

    /// Starts one reader per pipe of a child (an adopted server's output is not ours to read).
    fn read_output(&mut self) {
        let Process::Child(child) = &mut self.ctx.process else {
            return;
        };
        let pipes = [
            (
                child.stdout.take().map(|p| p.into_owned_fd()),
                LogStream::Stdout,
            ),
            (
                child.stderr.take().map(|p| p.into_owned_fd()),
                LogStream::Stderr,
            ),
        ];
        for (pipe, stream) in pipes {
            let pipe = match pipe {
                Some(Ok(pipe)) => std::fs::File::from(pipe),
                Some(Err(error)) => {
                    tracing::warn!(%error, ?stream, "cannot read a model server's output");
                    continue;
                }
                None => continue,
            };
            self.readers.push(spawn_reader(
                self.ctx.hub.clone(),
                (self.ctx.live.model_id, self.ctx.live.run_id),
                pipe,
                stream,
                self.tail.clone(),
                (self.listening.clone(), self.sleep.clone()),
            ));
        }
    }

    /// Until `/health` answers 200 (then the run is ready), the process exits, a stop is asked
    /// for, or the load deadline passes (extended by every line the server logs).
    async fn loading(&mut self) -> Result<(), Outcome> {
        let settings = self.ctx.settings.clone();
        let allowed = settings.load_deadline(self.ctx.size_bytes);
        let mut deadline = Instant::now() + allowed;
        let mut poll = HEALTH_POLL_MIN;
        loop {
            tokio::select! {
                exit = self.ctx.process.wait() => return Err(Outcome::Exited(exit)),
                _ = self.listening.notified() => {
                    poll = Duration::ZERO;
                    continue;
                }
                _ = self.ctx.stop.changed() => return Err(Outcome::StopAsked),
                () = tokio::time::sleep(poll) => {}
            }
            let (stage, last_output) = {
                let tail = lock(&self.tail);
                let stage = tail
                    .lines
                    .back()
                    .map(|l| classify::strip_prefix(l).to_string());
                (stage, tail.last_output)
            };
            // Output while loading is progress: give it more time.
            if let Some(at) = last_output {
                deadline = deadline.max(at + settings.load_extension);
            }
            // The deadline is checked before asking: a server not seen healthy in time has
            // missed it, whatever it would answer now.
            if Instant::now() >= deadline {
                return Err(Outcome::DeadlineMissed(format!(
                    "{} (not ready after {} s)",
                    FailureReason::LoadTimeout.advice(),
                    allowed.as_secs()
                )));
            }
            let health =
                http_probe::get(self.ctx.live.port, "/health", None, Duration::from_secs(1));
            if let Ok((200, _)) = health.await {
                self.restore_kv().await?;
                self.ready().await;
                return Ok(());
            }
            poll = (poll * 3 / 2).clamp(HEALTH_POLL_MIN, HEALTH_POLL_MAX);
            if stage.is_some() && stage != self.ctx.live.stage {
                self.ctx.live.stage = stage;
                self.ctx
                    .hub
                    .publish(ServerEvent::RunUpdated(self.ctx.live.clone()));
            }
        }
    }

    /// Records readiness (with the load log, the part worth keeping if Corral is killed later)
    /// and tells every tab.
    async fn ready(&mut self) {
        let at = now_ms();
        let (model_id, run_id) = (self.ctx.live.model_id, self.ctx.live.run_id);
        if let Err(error) = self
            .ctx
            .ledger
            .ready(model_id, run_id, at, self.lines())
            .await
        {
            tracing::warn!(model_id, %error, "cannot record readiness");
        }
        self.ctx.live.ready_at = Some(at);
        self.ctx.live.stage = None;
        tracing::info!(
            model_id = self.ctx.live.model_id,
            port = self.ctx.live.port,
            pid = self.ctx.live.pid,
            seconds = format!("{:.1}", (at - self.ctx.live.started_at) as f64 / 1000.0),
            "llama-server ready"
        );
        // The idle clock starts when the server can first be used.
        self.ctx.last_used.store(at, Ordering::Relaxed);
        self.ctx.ready.send_replace(true);
        self.ctx.promise = None;
        self.ctx
            .hub
            .publish(ServerEvent::RunUpdated(self.ctx.live.clone()));
    }

    /// Reads the server's numbers every `scrape_every` until it exits, a stop is asked for, or
    /// it has sat idle for its idle TTL.
    async fn running(&mut self) -> Outcome {
        let every = self.ctx.settings.scrape_every;
        let mut tail_saved = Instant::now();
        loop {
            let nap = match self.idle_left() {
                Some(left) if left.is_zero() => {
                    tracing::info!(
                        model_id = self.ctx.live.model_id,
                        "idle for its TTL: stopping"
                    );
                    return Outcome::StopAsked;
                }
                Some(left) => every.min(left),
                None => every,
            };
            tokio::select! {
                exit = self.ctx.process.wait() => return Outcome::Exited(exit),
                _ = self.ctx.stop.changed() => return Outcome::StopAsked,
                () = self.sleep.changed.notified() => {
                    self.slept_or_woke();
                    continue;
                }
                () = self.ctx.wake.notified() => {
                    self.wake_up();
                    continue;
                }
                () = tokio::time::sleep(nap) => {}
            }
            if self.idle_left().is_some_and(|left| left.is_zero()) {
                continue;
            }
            self.scrape().await;
            self.judge_kv_restore();
            if tail_saved.elapsed() >= TAIL_SAVE_EVERY {
                tail_saved = Instant::now();
                let saved = self
                    .ctx
                    .ledger
                    .save_tail(self.ctx.live.run_id, self.lines())
                    .await;
                if let Err(error) = saved {
                    tracing::warn!(model_id = self.ctx.live.model_id, %error, "cannot save the log tail");
                }
            }
        }
    }

    /// Restores the KV cache an earlier run kept, before the first request is let through; a
    /// restore that fails is said in the log and the run goes on without it.
    /// A stop asked for meanwhile, or the process's exit, ends the load as it would any other.
    async fn restore_kv(&mut self) -> Result<(), Outcome> {
        let Some(kv) = self.ctx.kv.clone() else {
            return Ok(());
        };
        self.ctx.live.stage = Some("Restoring the kept KV cache…".into());
        (self.ctx.hub).publish(ServerEvent::RunUpdated(self.ctx.live.clone()));
        let key = self.ctx.api_key.clone();
        let restored = tokio::select! {
            restored = kv.restore(self.ctx.live.port, key.as_deref()) => restored,
            exit = self.ctx.process.wait() => return Err(Outcome::Exited(exit)),
            _ = self.ctx.stop.changed() => return Err(Outcome::StopAsked),
        };
        match restored {
            Ok(None) => {}
            Ok(Some(moved)) => {
                let restore = KvRestore {
                    tokens: moved.tokens,
                    ms: moved.ms,
                    verdict: RestoreVerdict::Unproven,
                };
                self.say(&restore.describe());
                self.ctx.live.kv_restore = Some(restore);
            }
            Err(error) => self.say(&format!("the kept KV cache was not restored: {error}")),
        }
        Ok(())
    }

    /// Saves the KV cache of a run that keeps it, was ready and is awake (asleep, it holds
    /// none), before it is stopped.
    async fn save_kv(&mut self) {
        let Some(kv) = self.ctx.kv.clone() else {
            return;
        };
        // Asleep or still waking (as the log said just now, not only as the tabs were told):
        // asking `/slots` would wake it to save nothing.
        if self.ctx.live.ready_at.is_none() || !*self.sleep.awake.borrow() {
            return;
        }
        let (port, key) = (self.ctx.live.port, self.ctx.api_key.clone());
        // The save gets the stop's own grace: a stop (and an eviction waiting on it) must not
        // wait on a slow disk for longer than it would on the process.
        let within = self.ctx.settings.stop_grace.max(Duration::from_secs(1));
        let saved = tokio::select! {
            saved = tokio::time::timeout(within, kv.save(port, key.as_deref())) => {
                saved.unwrap_or_else(|_| Err(format!(
                    "not saved within the stop grace ({} s)",
                    within.as_secs()
                )))
            }
            exit = self.ctx.process.wait() => {
                Err(format!("the server exited while saving ({exit:?})"))
            }
        };
        match saved {
            Ok(None) => self.say("no slot held a KV cache to keep"),
            Ok(Some(moved)) => self.say(&format!(
                "KV cache kept: {} tokens ({}) saved in {}",
                moved.tokens,
                format_bytes(moved.bytes),
                format_millis(moved.ms)
            )),
            Err(error) => self.say(&format!("the KV cache was not kept: {error}")),
        }
    }

    /// Judges a restore by the first answer after it (llama.cpp issue #26676: a restore the
    /// next prompt does not reuse), from the recent activity every tab holds.
    fn judge_kv_restore(&mut self) {
        let Some(restore) = self.ctx.live.kv_restore else {
            return;
        };
        if restore.verdict != RestoreVerdict::Unproven {
            return;
        }
        let run_id = self.ctx.live.run_id;
        let first = self.ctx.hub.read(|state| {
            state
                .activity
                .iter()
                .find(|record| record.run_id == Some(run_id) && record.prompt_tokens > Some(0))
                .map(|record| (record.prompt_tokens, record.cached_tokens))
        });
        let Some((prompt, cached)) = first else {
            return;
        };
        let verdict = restore.verdict.after_answer(prompt, cached);
        if verdict == RestoreVerdict::Unproven {
            return;
        }
        let restore = KvRestore { verdict, ..restore };
        self.say(&restore.describe());
        self.ctx.live.kv_restore = Some(restore);
        (self.ctx.hub).publish(ServerEvent::RunUpdated(self.ctx.live.clone()));
    }

    /// A line of Corral's own in the model's log.
    fn say(&self, what: &str) {
        let (model_id, run_id) = (self.ctx.live.model_id, self.ctx.live.run_id);
        tracing::info!(model_id, "{what}");
        (self.ctx.hub).log(
            LogSource::Model(model_id),
            run_id,
            LogStream::Stderr,
            &format!("corral: {what}"),
        );
    }

    /// Wakes a sleeping server: `GET /slots` wakes llama-server (`/health` and `/props` do
    /// not). Not waited for: the loop goes on reading the log, which says when it is back.
    fn wake_up(&self) {
        if *self.sleep.awake.borrow() {
            return;
        }
        let (port, key) = (self.ctx.live.port, self.ctx.api_key.clone());
        tokio::spawn(async move {
            let nudge = http_probe::get(port, "/slots", key.as_deref(), Duration::from_secs(30));
            if let Err(error) = nudge.await {
                tracing::debug!(port, %error, "cannot wake a sleeping server");
            }
        });
    }

    /// Tells every tab the server fell asleep or woke (and how long its wake took).
    fn slept_or_woke(&mut self) {
        let live = &mut self.ctx.live;
        live.asleep = self.sleep.asleep.load(Ordering::Relaxed);
        let wake_ms = self.sleep.wake_ms.load(Ordering::Relaxed);
        live.wake_ms = (wake_ms >= 0).then_some(wake_ms);
        self.ctx
            .hub
            .publish(ServerEvent::RunUpdated(self.ctx.live.clone()));
    }

    /// How long until the idle TTL runs out (`None`: no TTL, or requests are held).
    fn idle_left(&self) -> Option<Duration> {
        let ttl = self.ctx.idle_ttl?;
        let counts = self.ctx.demand.counts(self.ctx.live.model_id);
        if counts.queued + counts.in_flight > 0 {
            return None;
        }
        let idle_ms = now_ms().saturating_sub(self.ctx.last_used.load(Ordering::Relaxed));
        Some(ttl.saturating_sub(Duration::from_millis(idle_ms.max(0) as u64)))
    }

    async fn scrape(&mut self) {
        let model_id = self.ctx.live.model_id;
        let mut sample = scrape::sample(
            self.ctx.live.port,
            self.pid(),
            self.ctx.api_key.as_deref(),
            self.ctx.sleeps,
        )
        .await;
        // NVML's per-process figures, from the machine's latest reading (none without NVML).
        let pid = self.ctx.live.pid;
        sample.gpu_memory = self.ctx.hub.read(|s| {
            s.metrics
                .last()
                .map(|m| m.gpu_use_of(pid))
                .unwrap_or_default()
        });
        // Nothing listed is no measurement: NVML withholds some processes' figures, and in a
        // container its pids are not ours to match.
        if !sample.gpu_memory.is_empty() {
            self.record_gpu_peak(sample.gpu_memory.clone()).await;
        }
        if sample.requests_processing.is_some_and(|n| n > 0.0) {
            self.ctx.last_used.store(sample.at, Ordering::Relaxed);
        }
        let readings = sample
            .series(model_id)
            .into_iter()
            .map(|(key, value)| (key, sample.at, value))
            .collect();
        if let Err(error) = self.ctx.history.record(readings).await {
            tracing::warn!(model_id, %error, "cannot record model metrics");
        }
        // A new peak (by more than a MiB, so a steady process writes nothing) is kept for
        // later estimates of this model.
        if let Some(rss) = sample.rss_bytes
            && rss > self.recorded_peak.saturating_add(1 << 20)
        {
            match self.ctx.ledger.record_peak(self.ctx.live.run_id, rss).await {
                Ok(()) => self.recorded_peak = rss,
                Err(error) => tracing::warn!(model_id, %error, "cannot record the memory peak"),
            }
        }
        self.ctx.live.sample = Some(sample);
        self.ctx
            .hub
            .publish(ServerEvent::RunUpdated(self.ctx.live.clone()));
    }

    /// Keeps a new peak on any GPU (by more than a MiB, so a steady process writes nothing).
    async fn record_gpu_peak(&mut self, now: Vec<GpuBytes>) {
        let mut peaks = self.recorded_gpu_peak.clone();
        if !raise_peaks(&mut peaks, &now, 1 << 20) {
            return;
        }
        let run_id = self.ctx.live.run_id;
        match self.ctx.ledger.record_gpu_peak(run_id, now).await {
            Ok(()) => self.recorded_gpu_peak = peaks,
            Err(error) => tracing::warn!(run_id, %error, "cannot record the GPU memory peak"),
        }
    }

    /// SIGTERM, then SIGKILL if it is still there after the grace; returns its exit. A run that
    /// keeps its KV cache saves it first.
    async fn stopping(&mut self) -> Exit {
        self.status(StatusEvent::StopRequested, None).await;
        self.save_kv().await;
        let pid = self.pid();
        if let Err(error) = signal_group(pid, libc::SIGTERM) {
            tracing::warn!(model_id = self.ctx.live.model_id, pid, %error, "cannot send SIGTERM");
        }
        let grace = self.ctx.settings.stop_grace;
        tokio::select! {
            exit = self.ctx.process.wait() => exit,
            () = tokio::time::sleep(grace) => {
                tracing::warn!(model_id = self.ctx.live.model_id, pid, "no exit after SIGTERM: sending SIGKILL");
                self.killing().await
            }
        }
    }

    async fn killing(&mut self) -> Exit {
        let _ = signal_group(self.pid(), libc::SIGKILL);
        self.ctx.process.wait().await
    }

    /// Records how the run ended, frees its place, moves the status and tells every tab.
    async fn finish(mut self, exit: Exit, ended: Ended) {
        // The pipes close when the process exits; the readers finish with its last words.
        for reader in std::mem::take(&mut self.readers) {
            let _ = tokio::time::timeout(Duration::from_secs(1), reader).await;
        }
        let lines = self.lines();
        let (event, failure) = match ended {
            Ended::AsAsked => (StatusEvent::StoppedAsAsked, None),
            Ended::TimedOut(message) => (
                StatusEvent::Failed,
                Some((FailureReason::LoadTimeout, message)),
            ),
            Ended::Crashed => (StatusEvent::Failed, Some(classify::classify(exit, &lines))),
        };
        // The reason begins with how it ended: crashed, killed for memory, failed to start.
        let was_ready = self.ctx.live.ready_at.is_some();
        let end = RunEnd::of(was_ready, failure.as_ref().map(|(reason, _)| *reason));
        let failure =
            failure.map(|(reason, message)| (reason, format!("{}: {message}", end.label())));
        let LiveRun {
            model_id,
            run_id,
            pid,
            ..
        } = self.ctx.live;
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
        let why = match &failure {
            Some((reason, _)) => reason.advice().to_string(),
            None => classify::describe(exit),
        };
        tracing::info!(model_id, run_id, pid, how = %why, "llama-server ended");
        let failed = failure.as_ref().map(|(reason, _)| *reason);
        self.raise_need(end, failed).await;
        let recorded = Recorded {
            model_id,
            run_id,
            ending,
            event: Some(event),
            reason: failure.map(|(_, message)| message),
        };
        // The handle goes first: once a tab hears `stopped`, a start must find no run.
        self.ctx.handles.forget(model_id, run_id);
        self.ctx.places.freed();
        if let Err(error) = self.ctx.ledger.ended(recorded).await {
            tracing::error!(model_id, run_id, %error, "cannot record the end of a run");
        }
        self.ctx
            .hub
            .publish(ServerEvent::RunEnded { model_id, run_id });
        let _ = self.ctx.ended.send(true);
        if let Some(failure) = failed {
            let _ = self.ctx.failures.send(RunFailed {
                model_id,
                end,
                failure,
            });
        }
    }

    /// A load that ran out of memory needed more than it was admitted with: its run records a
    /// quarter more as its need, which the next start of the same command asks for (a later
    /// run's measured peak replaces it).
    async fn raise_need(&self, end: RunEnd, failure: Option<FailureReason>) {
        let (Some(need), RunEnd::FailedToStart, Some(FailureReason::OutOfMemory)) =
            (&self.ctx.need, end, failure)
        else {
            return;
        };
        let raised = need.raised();
        let run_id = self.ctx.live.run_id;
        if let Err(error) = self.ctx.ledger.record_peak(run_id, raised.bytes).await {
            tracing::warn!(run_id, %error, "cannot raise the memory need");
        }
        if !raised.gpus.is_empty()
            && let Err(error) = self.ctx.ledger.record_gpu_peak(run_id, raised.gpus).await
        {
            tracing::warn!(run_id, %error, "cannot raise the GPU memory need");
        }
    }

    /// Moves the model's status; a refused move is logged (the model may have been stopped by
    /// start-up reconciling, or the database may be failing) and the run goes on.
    async fn status(&self, event: StatusEvent, reason: Option<String>) {
        let model_id = self.ctx.live.model_id;
        if let Err(error) = self.ctx.ledger.apply(model_id, event, reason).await {
            tracing::warn!(model_id, ?event, %error, "status not moved");
        }
    }
}

fn spawn_reader(
    hub: Hub,
    (model_id, run_id): (i64, i64),
    pipe: impl std::io::Read + Send + 'static,
    stream: LogStream,
    tail: SharedTail,
    (listening, sleep): (Arc<Notify>, Arc<SleepWatch>),
) -> JoinHandle<()> {
    // A thread, not a task: a task's pipe is watched by epoll, which wakes Corral for every line
    // written even while the task pauses; a sleeping thread is woken by nothing.
    tokio::task::spawn_blocking(move || {
        let mut reader = std::io::BufReader::with_capacity(64 * 1024, pipe);
        let mut buffer = Vec::new();
        // Until it says it listens, every line at once: start-up waits for that line.
        let mut up = false;
        // When the server last said it woke, by its own clock.
        let mut woke_at = None;
        loop {
            if up && reader.buffer().is_empty() {
                std::thread::sleep(OUTPUT_PAUSE);
            }
            let read =
                line_reader::next_line(&mut reader, &mut buffer, line_reader::MAX_LINE_BYTES);
            let Ok(Some(cut)) = read else { break };
            let text = String::from_utf8_lossy(&buffer);
            let mut text = text.trim_end_matches(['\n', '\r']).to_string();
            if text.is_empty() {
                continue;
            }
            if cut {
                text.push_str(line_reader::CUT_MARK);
            }
            if classify::says_listening(&text) {
                up = true;
                listening.notify_one();
            }
            watch_sleep(&text, &sleep, &mut woke_at);
            let line = hub.log(LogSource::Model(model_id), run_id, stream, &text);
            let mut tail = lock(&tail);
            if tail.lines.len() == TAIL_LINES {
                tail.lines.pop_front();
            }
            tail.lines.push_back(line.text);
            tail.last_output = Some(Instant::now());
        }
    })
}

/// Follows the server's sleep in its log: asleep, woken, and how long the wake took (from the
/// line saying it woke to the one showing its model back).
fn watch_sleep(text: &str, sleep: &SleepWatch, woke_at: &mut Option<i64>) {
    if let Some(asleep) = classify::says_sleep(text) {
        sleep.asleep.store(asleep, Ordering::Relaxed);
        if asleep {
            sleep.awake.send_replace(false);
        }
        *woke_at = (!asleep).then(|| classify::log_clock_ms(text)).flatten();
        sleep.changed.notify_one();
    } else if !*sleep.awake.borrow() && classify::says_awake(text) {
        sleep.awake.send_replace(true);
        if let Some(from) = woke_at.take()
            && let Some(to) = classify::log_clock_ms(text)
        {
            sleep.wake_ms.store((to - from).max(0), Ordering::Relaxed);
            sleep.changed.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::io::Write;

    use super::*;

    #[tokio::test]
    async fn every_line_a_busy_server_writes_after_it_listens_is_kept_in_order() {
        let hub = Hub::new(Vec::new(), 0, Default::default());
        let (pipe, mut server) = std::io::pipe().unwrap();
        let tail: SharedTail = Arc::new(Mutex::new(Tail {
            lines: VecDeque::new(),
            last_output: None,
        }));
        let listening = Arc::new(Notify::new());
        let reader = spawn_reader(
            hub.clone(),
            (7, 1),
            pipe,
            LogStream::Stderr,
            tail.clone(),
            (
                listening.clone(),
                Arc::new(SleepWatch::new(watch::channel(true).0)),
            ),
        );
        writeln!(server, "main: server is listening on http://127.0.0.1:8080").unwrap();
        listening.notified().await;
        // From here on the reader pauses between reads: the lines pile up in the pipe (more
        // than it holds, so the writer waits on the reader too) and must all come out.
        let written = 1500;
        for n in 0..written {
            writeln!(server, "line {n} {}", "x".repeat(60)).unwrap();
        }
        drop(server);
        tokio::time::timeout(Duration::from_secs(10), reader)
            .await
            .unwrap()
            .unwrap();
        let texts: Vec<String> = hub
            .log_history(LogSource::Model(7), 10_000)
            .into_iter()
            .map(|line| line.text)
            .collect();
        assert_eq!(texts.len(), written + 1);
        for (n, text) in texts[1..].iter().enumerate() {
            assert!(text.starts_with(&format!("line {n} ")), "{n}: {text}");
        }
        let tail = lock(&tail);
        assert_eq!(tail.lines.len(), TAIL_LINES);
        assert!(tail.lines[TAIL_LINES - 1].starts_with(&format!("line {} ", written - 1)));
    }
}
