//! Whether a prepared start may go now: a place under `--max-running`, room in memory, a free
//! port. Which runs to stop for room is a pure decision (`eviction.rs`); the stops themselves
//! go through the narrow `Stopper` the façade passes in, and only this start's model lock is
//! held while they take their grace.

pub mod demand;
pub mod eviction;
pub mod group_rules;
pub mod memory_room;
pub mod places;
pub mod ports;

use std::time::Duration;

use crate::domain::run::FailureReason;
use crate::domain::run_group::GroupRules;
use crate::domain::{AppError, Model};
use crate::server::live::Hub;
use crate::server::supervisor::prepare::Prepared;
use crate::server::supervisor::run_handles::RunHandles;
use crate::server::supervisor::settings::{SupervisorSettings, WhenFull};
use demand::Demand;
use eviction::Victim;
use places::{Decision, Places, Promise, Reservation};

/// Stops a run picked to make room and resolves once it has ended.
pub trait Stopper: Sync {
    fn stop_for_room(&self, victim: Victim) -> impl Future<Output = ()> + Send;
}

/// Admission's own state: the places, the requests each model holds, and the live runs it
/// reads (owned by the run tasks).
#[derive(Clone)]
pub struct Admission {
    places: Places,
    demand: Demand,
    handles: RunHandles,
    hub: Hub,
}

/// A start let in: its place (held until its run handle exists), its port, and the memory
/// promised to it (held until its server has loaded).
pub struct Admitted {
    pub place: Reservation,
    pub port: u16,
    pub promise: Option<Promise>,
}

/// Why a start was not let in.
pub enum Refused {
    /// No room (or a setting refuses): the start is refused with this error, nothing recorded.
    Error(AppError),
    /// The start cannot go (its file cannot be run, every port is taken): recorded as a
    /// failed start with this reason and detail.
    Failed(FailureReason, String),
}

impl From<AppError> for Refused {
    fn from(error: AppError) -> Self {
        Refused::Error(error)
    }
}

impl Admission {
    /// Also starts telling every tab each model's requests, four times a second.
    pub fn new(handles: RunHandles, hub: Hub) -> Admission {
        let places = Places::default();
        let demand = Demand::new(places.clone());
        demand::spawn_updates(demand.clone(), hub.clone(), Duration::from_millis(250));
        Admission {
            demand,
            places,
            handles,
            hub,
        }
    }

    pub fn places(&self) -> &Places {
        &self.places
    }

    pub fn demand(&self) -> &Demand {
        &self.demand
    }

    /// A place, room in memory and a port for a prepared start, stopping other runs as the
    /// settings allow. Called under the model's lock: refused when a start that went first
    /// has its run by now, and recorded as failed when the model's file cannot be run (only
    /// then, so a start that lost the race never marks a running model failed).
    pub async fn admit(
        &self,
        prepared: &Prepared,
        settings: &SupervisorSettings,
        stopper: &impl Stopper,
    ) -> Result<Admitted, Refused> {
        let model = &prepared.model;
        if self.handles.contains(model.id) {
            let message = format!("model '{}' was started meanwhile", model.spec.name);
            return Err(Refused::Error(AppError::conflict("status", message)));
        }
        if let Some((reason, detail)) = prepared.refusal.clone() {
            return Err(Refused::Failed(reason, detail));
        }
        let rules = &prepared.run_groups;
        let priority = prepared.config.serving.priority();
        let place = self
            .place((model, rules), priority, settings, stopper)
            .await?;
        let promise = match &prepared.need {
            Some(need) => Some(
                self.memory_room((model, rules), need, settings, stopper)
                    .await?,
            ),
            None => None,
        };
        let range = settings.ports.clone();
        let Some(port) = ports::pick_free(range.clone(), &self.handles.ports()) else {
            let (first, last) = (range.start(), range.end());
            let detail = format!("every port from {first} to {last} is in use");
            return Err(Refused::Failed(FailureReason::PortInUse, detail));
        };
        Ok(Admitted {
            place,
            port,
            promise,
        })
    }

    /// Holds a place under `--max-running` for `model` (in line by `priority` with the other
    /// starts waiting for one), after stopping what its run-together group's `rules` stop: at
    /// once when one is free, else by stopping the least recently used run (or refusing, as
    /// set). Gives up after one stop per place and a few group rounds, or when nothing changes
    /// for longer than a stop can take, so it can never loop.
    async fn place(
        &self,
        (model, rules): (&Model, &GroupRules),
        priority: i64,
        settings: &SupervisorSettings,
        stopper: &impl Stopper,
    ) -> Result<Reservation, AppError> {
        // In line until a place is held: a free place goes to the highest priority first.
        let _turn = self.places.line_up(model.id, priority);
        let max = settings.max_running.max(1);
        let evict = settings.when_full == WhenFull::StopLeastRecent;
        let patience = settings.stop_grace + Duration::from_secs(10);
        let mut stops_left = max + 1;
        let mut group_rounds_left = 3;
        loop {
            let changed = self.places.changed();
            let notified = changed.notified();
            let busy = self.demand.busy();
            let decision =
                self.places
                    .decide_grouped(model.id, rules, max, &self.handles, evict, &busy);
            match decision {
                Decision::Reserved(place) => return Ok(place),
                Decision::GroupStop(victims) => {
                    if group_rounds_left == 0 {
                        victims.iter().for_each(|(id, _)| self.places.evicted(*id));
                        return Err(no_room(model));
                    }
                    group_rounds_left -= 1;
                    tracing::info!(
                        stopping = ?victims,
                        starting = model.id,
                        "stopping what the starting model's group asks"
                    );
                    let stops = victims.iter().map(|victim| self.stop(stopper, *victim));
                    futures::future::join_all(stops).await;
                }
                Decision::GroupPinned(id) => return Err(self.group_blocked(model, rules, id, true)),
                Decision::GroupWait(id) => {
                    if tokio::time::timeout(patience, notified).await.is_err() {
                        return Err(self.group_blocked(model, rules, id, false));
                    }
                }
                Decision::Full => return Err(full(max, model)),
                Decision::Evict(victim, run_id) if stops_left > 0 => {
                    stops_left -= 1;
                    tracing::info!(
                        stopping = victim,
                        starting = model.id,
                        "at the running-model limit: stopping the least recently used"
                    );
                    self.stop(stopper, (victim, run_id)).await;
                }
                Decision::Evict(victim, _) => {
                    self.places.evicted(victim);
                    return Err(no_room(model));
                }
                Decision::Wait => {
                    if tokio::time::timeout(patience, notified).await.is_err() {
                        return Err(no_room(model));
                    }
                }
            }
        }
    }

    /// Why a start's group cannot go: `pinned` names a pinned model the group would stop,
    /// else one that stayed busy (or starting) for longer than a stop can take.
    fn group_blocked(
        &self,
        model: &Model,
        rules: &GroupRules,
        other: i64,
        pinned: bool,
    ) -> AppError {
        let group = rules.of(model.id).map_or("", |g| g.name.as_str());
        let (starting, other) = (&model.spec.name, self.name_of(other));
        let message = if pinned {
            format!(
                "'{starting}' is in group '{group}', whose rules stop '{other}' first, and \
                 '{other}' is pinned; unpin it or change the group"
            )
        } else {
            format!(
                "'{starting}' is in group '{group}', whose rules stop '{other}' first, and \
                 '{other}' stayed busy with requests; try again when it is idle"
            )
        };
        AppError::Conflict {
            field: "status".into(),
            message,
        }
    }

    /// Stops a run marked as being evicted and says when that is over.
    async fn stop(&self, stopper: &impl Stopper, victim: Victim) {
        stopper.stop_for_room(victim).await;
        self.places.evicted(victim.0);
    }
}

fn full(max: usize, model: &Model) -> AppError {
    AppError::Conflict {
        field: "status".into(),
        message: format!(
            "{max} model(s) already running, the most Corral is set to run at once; stop one \
             before starting '{}'",
            model.spec.name
        ),
    }
}

fn no_room(model: &Model) -> AppError {
    AppError::Conflict {
        field: "status".into(),
        message: format!(
            "could not make room for '{}': other starts hold every place; try again",
            model.spec.name
        ),
    }
}
