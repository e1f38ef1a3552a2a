//! Room in memory for a start, after its place under `--max-running` is held: the start's need
//! (measured, else estimated) must fit in the RAM free now plus what the models it may stop
//! use, and within `--memory-budget-mib` beside the models that keep running. The fewest least
//! recently used models whose memory covers the shortfall are stopped (when the setting is
//! `stop-least-recent`); when even all of them would not, none is stopped, and a budget refuses
//! while the free memory refuses or warns (`--fit-check`).

use crate::domain::run_group::GroupRules;
use crate::domain::settings::{FitCheck, WhenFull};
use crate::domain::time::format_bytes;
use crate::domain::{AppError, Model};
use crate::server::supervisor::admission::{Admission, Stopper};
use crate::server::supervisor::prepare::memory_need::Need;
use crate::server::supervisor::settings::SupervisorSettings;

/// What stands between a start and its memory.
enum Short {
    Budget { budget: u64, others: u64 },
    Free { free: u64 },
}

impl Short {
    /// Bytes that stopping runs must free for the start to fit.
    fn bytes(&self, need: u64) -> u64 {
        match self {
            Short::Budget { budget, others } => others.saturating_add(need).saturating_sub(*budget),
            Short::Free { free } => need.saturating_sub(*free),
        }
    }
}

impl Admission {
    /// Resident memory of every live run but `model_id`'s, measured now.
    fn others_use(&self, model_id: i64) -> u64 {
        self.hub.read(|s| {
            s.runs
                .iter()
                .filter(|run| run.model_id != model_id)
                .filter_map(|run| rss_bytes(run.pid))
                .sum()
        })
    }

    fn short_of(&self, model_id: i64, need: &Need, settings: &SupervisorSettings) -> Option<Short> {
        let budget = settings.memory_budget_bytes();
        if budget > 0 {
            let others = self.others_use(model_id);
            if others.saturating_add(need.bytes) > budget {
                return Some(Short::Budget { budget, others });
            }
        }
        // Memory that cannot be read is not a reason to refuse.
        let mut system = sysinfo::System::new().ok()?;
        system.refresh_memory();
        let free = system.available_memory();
        (free > 0 && need.bytes > free).then_some(Short::Free { free })
    }

    /// Stops the least recently used model that may be stopped for `model_id` (and uses any
    /// memory): the room a load that ran out of memory gets before its one retry. Answers the
    /// model stopped, if any.
    pub async fn stop_one_more(
        &self,
        model_id: i64,
        rules: &GroupRules,
        stopper: &impl Stopper,
    ) -> Option<i64> {
        let rss = |pid| rss_bytes(pid).unwrap_or(0);
        let busy = self.demand.busy();
        let victims = self
            .places
            .claim_memory((model_id, rules), 1, &self.handles, &busy, &rss)?;
        // Only the first is stopped; the rest (of unknown memory) were claimed with it.
        for (other, _) in victims.iter().skip(1) {
            self.places.evicted(*other);
        }
        let victim = *victims.first()?;
        self.stop(stopper, victim).await;
        Some(victim.0)
    }

    /// Makes room in memory for `model`, stopping the fewest least recently used models that
    /// free enough, as allowed; refuses (or warns) when it cannot, without stopping anything
    /// for nothing.
    pub(super) async fn memory_room(
        &self,
        (model, rules): (&Model, &GroupRules),
        need: &Need,
        settings: &SupervisorSettings,
        stopper: &impl Stopper,
    ) -> Result<(), AppError> {
        let mut stops_left = self.handles.len();
        loop {
            let Some(short) = self.short_of(model.id, need, settings) else {
                return Ok(());
            };
            let may_stop = settings.when_full == WhenFull::StopLeastRecent
                && (matches!(short, Short::Budget { .. })
                    || settings.fit_check == FitCheck::Refuse);
            let victims = (may_stop && stops_left > 0)
                .then(|| {
                    let rss = |pid| rss_bytes(pid).unwrap_or(0);
                    let busy = self.demand.busy();
                    self.places.claim_memory(
                        (model.id, rules),
                        short.bytes(need.bytes),
                        &self.handles,
                        &busy,
                        &rss,
                    )
                })
                .flatten();
            if let Some(victims) = victims.filter(|v| !v.is_empty()) {
                stops_left = stops_left.saturating_sub(victims.len());
                tracing::info!(
                    stopping = ?victims,
                    starting = model.id,
                    "making room in memory: stopping the least recently used"
                );
                let stops = victims.iter().map(|victim| self.stop(stopper, *victim));
                futures::future::join_all(stops).await;
                continue;
            }
            return refusal(model, need, short, settings);
        }
    }
}

/// The answer when no room can be made: a budget refuses, free memory refuses or warns.
fn refusal(
    model: &Model,
    need: &Need,
    short: Short,
    settings: &SupervisorSettings,
) -> Result<(), AppError> {
    let name = &model.spec.name;
    match short {
        Short::Budget { budget, others } => Err(AppError::Conflict {
            field: "memory".into(),
            message: format!(
                "'{name}' needs {} and the running models use {}: more than the memory \
                 budget of {} (Settings); stop a model, lower its context or raise the budget",
                need.describe(),
                format_bytes(others),
                format_bytes(budget)
            ),
        }),
        Short::Free { free } => {
            let message = format!(
                "'{name}' needs {} but {} of RAM is free",
                need.describe(),
                format_bytes(free)
            );
            match settings.fit_check {
                FitCheck::Refuse => Err(AppError::Conflict {
                    field: "memory".into(),
                    message: format!(
                        "{message}; stop a model or lower its context (or set 'When a \
                         model will not fit' to warn in Settings)"
                    ),
                }),
                FitCheck::Warn => {
                    tracing::warn!(
                        model_id = model.id,
                        "{message}; starting anyway (fit check: warn)"
                    );
                    Ok(())
                }
            }
        }
    }
}

/// Resident memory of a process, from `/proc/<pid>/status` (`VmRSS: 1234 kB`).
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
