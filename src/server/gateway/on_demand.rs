//! A gateway request waiting for its model, in one call: `acquire` holds a place among the
//! model's requests (bounded by `serving.max_requests`), brings the model to `running` (starting
//! it when no server exists and the request may, or joining a load under way) and puts the
//! request in flight on it, all before the deadline. Many requests for a stopped model start it
//! once and share a failure. A request for a running model never waits here, unless its server
//! sleeps (`serving.idle_action: sleep`): then the wake is its load, timed as one.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::time::Instant;

use crate::domain::{AppError, Model, ModelStatus};
use crate::server::models::name_cache::Served;
use crate::server::models::registry::Registry;
use crate::server::now_ms;
use crate::server::supervisor::Supervisor;
use crate::server::supervisor::admission::demand::{Demand, Ticket};
use crate::server::supervisor::model_locks::ModelLocks;
use crate::server::supervisor::run_handles::{RunHandle, wait_ended};

#[derive(Clone)]
pub struct OnDemand {
    supervisor: Supervisor,
    registry: Registry,
    demand: Demand,
    /// Requests for a stopped model take turns to start it, so many at once start it once.
    starts: Arc<ModelLocks>,
    /// The last failed start of each model (when, why), shared with the requests that waited.
    failures: Arc<Mutex<HashMap<i64, (i64, String)>>>,
}

/// A request's hold on a model's running server: where to send it, the key the server answers
/// to, and the request's place among the model's requests (released when the lease is dropped).
pub struct Lease {
    pub port: u16,
    pub api_key: Option<Arc<str>>,
    pub run_id: i64,
    /// This request started the model.
    pub started: bool,
    /// How long this request waited for the model to load (`None`: it was running).
    pub load_ms: Option<i64>,
    ticket: Ticket,
}

impl Lease {
    /// The request's place among the model's requests, held until its answer ends.
    pub fn into_ticket(self) -> Ticket {
        self.ticket
    }
}

/// Why a gateway request was not put in flight.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// The model already holds its limit of requests.
    Busy { limit: u32 },
    /// The model is being stopped: its requests in flight finish, new ones are refused.
    Stopping,
    /// The model was not ready before the request's queue deadline.
    Timeout,
    /// The start failed; the classified reason and fix.
    StartFailed(String),
    /// The model is not running and this request may not start it.
    NotRunning,
    /// Anything else that stood in the way (no room, no llama-server, bad settings).
    Other(AppError),
}

impl From<AppError> for Refusal {
    fn from(error: AppError) -> Self {
        Refusal::Other(error)
    }
}

impl OnDemand {
    pub fn new(supervisor: Supervisor, registry: Registry) -> OnDemand {
        OnDemand {
            demand: supervisor.demand_book(),
            supervisor,
            registry,
            starts: Arc::default(),
            failures: Arc::default(),
        }
    }

    /// How long a request for `model` may wait: its own queue timeout, else as long as the
    /// model may take to load.
    pub fn deadline(&self, model: &Served) -> Instant {
        let wait = model
            .serving
            .queue_timeout_seconds
            .map(|s| std::time::Duration::from_secs(s.max(1) as u64))
            .unwrap_or_else(|| self.supervisor.settings().load_deadline(model.size_bytes));
        Instant::now() + wait
    }

    /// Holds a place for one request to `model_id`, or refuses at the model's `limit`; the
    /// place is counted as queued until `acquire`'s wait puts it in flight.
    pub fn queue(&self, model_id: i64, limit: u32) -> Result<Ticket, Refusal> {
        self.demand
            .queue(model_id, limit)
            .ok_or(Refusal::Busy { limit })
    }

    /// Puts one request in flight on `model`, waiting at most until `deadline`. A request that
    /// may not start the model (`may_start` false: a GET any page could have sent) joins one
    /// that runs or is loading and is refused by one that is not.
    pub async fn acquire(
        &self,
        model: &Served,
        deadline: Instant,
        may_start: bool,
    ) -> Result<Lease, Refusal> {
        let ticket = self.queue(model.id, model.serving.max_requests())?;
        self.wait(ticket, deadline, may_start).await
    }

    /// Brings the ticket's model to `running` and puts the request in flight on it.
    pub async fn wait(
        &self,
        mut ticket: Ticket,
        deadline: Instant,
        may_start: bool,
    ) -> Result<Lease, Refusal> {
        let id = ticket.model_id();
        let arrived = now_ms();
        let mut started = false;
        let mut loading: Option<std::time::Duration> = None;
        let mut woken = false;
        loop {
            if let Some(handle) = self.supervisor.run_handle(id) {
                if handle.draining.load(Ordering::Relaxed) {
                    return Err(Refusal::Stopping);
                }
                if *handle.ready.borrow() && !*handle.ended.borrow() {
                    // Asleep: the wake is this request's load (queued, timed and shown as one).
                    if !*handle.awake.borrow() && !woken {
                        woken = true;
                        let waiting = std::time::Instant::now();
                        wake(&handle, deadline).await;
                        *loading.get_or_insert_default() += waiting.elapsed();
                        continue;
                    }
                    ticket.enter(handle.last_used.clone());
                    return Ok(Lease {
                        port: handle.port,
                        api_key: handle.api_key.clone(),
                        run_id: handle.run_id,
                        started,
                        load_ms: loading.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
                        ticket,
                    });
                }
                let mut ready = handle.ready.clone();
                let waiting = std::time::Instant::now();
                let became_ready = tokio::select! {
                    _ = ready.wait_for(|r| *r) => true,
                    () = wait_ended(handle.ended.clone()) => false,
                    () = tokio::time::sleep_until(deadline) => return Err(Refusal::Timeout),
                };
                *loading.get_or_insert_default() += waiting.elapsed();
                if !became_ready {
                    // The run ended before it was ready: a failed load is this request's answer.
                    let model = self.registry.get_model(id).await?;
                    if model.status == ModelStatus::Error {
                        return Err(Refusal::StartFailed(reason_of(&model)));
                    }
                }
                continue;
            }
            if !may_start {
                return Err(Refusal::NotRunning);
            }
            started |= self.start(id, arrived, deadline).await?;
        }
    }

    /// Starts the model for the requests waiting on it, one start at a time; true when this
    /// request's start went ahead (false: another got there first, or one is under way).
    async fn start(&self, id: i64, arrived: i64, deadline: Instant) -> Result<bool, Refusal> {
        let turn = tokio::time::timeout_at(deadline, self.starts.lock(id));
        let Ok(_turn) = turn.await else {
            return Err(Refusal::Timeout);
        };
        if self.supervisor.run_handle(id).is_some() {
            return Ok(false);
        }
        // A start that failed while this request waited for its turn is its answer too.
        if let Some(reason) = self.failure(id, arrived) {
            return Err(Refusal::StartFailed(reason));
        }
        let start = tokio::time::timeout_at(deadline, self.supervisor.start_model(id)).await;
        match start {
            Err(_) => Err(Refusal::Timeout),
            Ok(Ok(model)) if model.status == ModelStatus::Error => {
                let reason = reason_of(&model);
                self.failures().insert(id, (now_ms(), reason.clone()));
                Err(Refusal::StartFailed(reason))
            }
            Ok(Ok(_)) => {
                if let Some(handle) = self.supervisor.run_handle(id) {
                    handle.on_demand.store(true, Ordering::Relaxed);
                }
                Ok(true)
            }
            // Someone else's start (a person's) got there first: once it has its run, join it.
            Ok(Err(error @ AppError::Conflict { .. })) => {
                let settled = tokio::time::timeout_at(deadline, self.supervisor.settled(id));
                match settled.await {
                    Ok(()) if self.supervisor.run_handle(id).is_some() => Ok(false),
                    Ok(()) => Err(Refusal::from(error)),
                    Err(_) => Err(Refusal::Timeout),
                }
            }
            Ok(Err(error)) => Err(Refusal::from(error)),
        }
    }

    fn failures(&self) -> MutexGuard<'_, HashMap<i64, (i64, String)>> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Why the model's last start here failed, if that was at or after `since`.
    fn failure(&self, id: i64, since: i64) -> Option<String> {
        self.failures()
            .get(&id)
            .filter(|(at, _)| *at >= since)
            .map(|(_, reason)| reason.clone())
    }
}

fn reason_of(model: &Model) -> String {
    model
        .status_reason
        .clone()
        .unwrap_or_else(|| format!("model '{}' could not be started", model.spec.name))
}

/// Asks the run to wake its sleeping server and waits until its model is back, the run ends or
/// the request's deadline passes (then the request goes on: the server finishes the wake for it).
async fn wake(handle: &RunHandle, deadline: Instant) {
    handle.wake.notify_one();
    let mut awake = handle.awake.clone();
    tokio::select! {
        _ = awake.wait_for(|awake| *awake) => {}
        () = wait_ended(handle.ended.clone()) => {}
        () = tokio::time::sleep_until(deadline) => {}
    }
}
