//! Room in memory for a start, after its place under `--max-running` is held: the start's need
//! (measured, else estimated) must fit in the RAM free now plus what the models it may stop
//! use, and within `--memory-budget-mib` beside the models that keep running. Least recently
//! used models are stopped until it does (when the setting is `stop-least-recent`); then, if it
//! still does not, a budget refuses and the free memory refuses or warns (`--fit-check`).

use std::collections::HashSet;

use crate::domain::settings::{FitCheck, WhenFull};
use crate::domain::time::format_bytes;
use crate::domain::{AppError, Model};
use crate::server::supervisor::Supervisor;
use crate::server::supervisor::prepare::memory_need::Need;
use crate::server::supervisor::run::scrape::rss_bytes;

/// What stands between a start and its memory.
enum Short {
    Budget { budget: u64, others: u64 },
    Free { free: u64 },
}

impl Supervisor {
    /// Resident memory of every live run but `model_id`'s, measured now.
    fn others_use(&self, model_id: i64) -> u64 {
        self.inner.hub.read(|s| {
            s.runs
                .iter()
                .filter(|run| run.model_id != model_id)
                .filter_map(|run| rss_bytes(run.pid))
                .sum()
        })
    }

    fn short_of(&self, model_id: i64, need: &Need) -> Option<Short> {
        let settings = self.settings();
        let budget = settings.memory_budget_bytes;
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

    /// Makes room in memory for `model`, stopping least recently used models as allowed;
    /// refuses (or warns) when it cannot. `None` need: nothing known, nothing checked.
    pub(in crate::server::supervisor) async fn make_memory_room(
        &self,
        model: &Model,
        need: Option<&Need>,
    ) -> Result<(), AppError> {
        let Some(need) = need else {
            return Ok(());
        };
        let mut stops_left = self.inner.handles.len();
        loop {
            let Some(short) = self.short_of(model.id, need) else {
                return Ok(());
            };
            let settings = self.settings();
            let may_stop = settings.when_full == WhenFull::StopLeastRecent
                && (matches!(short, Short::Budget { .. })
                    || settings.fit_check == FitCheck::Refuse);
            let busy: HashSet<i64> = self.inner.demand.busy();
            let victim = (may_stop && stops_left > 0)
                .then(|| {
                    self.inner
                        .places
                        .pick_victim(model.id, &self.inner.handles, &busy)
                })
                .flatten();
            if let Some((victim, run_id)) = victim {
                stops_left -= 1;
                tracing::info!(
                    stopping = victim,
                    starting = model.id,
                    "making room in memory: stopping the least recently used"
                );
                self.evict(victim, run_id).await;
                continue;
            }
            let name = &model.spec.name;
            return match short {
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
            };
        }
    }
}
