//! The life of one run as an explicit state machine. The run task asks it before every status
//! change, so an impossible move (running → loading, a stop that "un-fails" a crash) is refused in
//! one place instead of being prevented by accident.
//!
//! ```text
//! stopped ──spawn──▶ loading ──healthy──▶ running
//!                       │  └──stop──┐        │ stop
//!                       │           ▼        ▼
//!                       │        stopping ──exited──▶ stopped
//!                       └─exited/timeout─▶ error ◀─exited── running
//! ```

use crate::domain::ModelStatus;

/// Something that happened to a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEvent {
    /// The process was started.
    Spawned,
    /// `/health` answered 200.
    Healthy,
    /// Someone asked it to stop.
    StopRequested,
    /// The process is gone after a stop was asked for.
    StoppedAsAsked,
    /// The process died on its own, or never became ready, or could not be started.
    Failed,
}

/// The status after `event`, or `None` when the event cannot happen in `from`.
pub fn next(from: ModelStatus, event: RunEvent) -> Option<ModelStatus> {
    use ModelStatus::*;
    use RunEvent::*;
    match (from, event) {
        (Stopped | Error, Spawned) => Some(Loading),
        (Loading, Healthy) => Some(Running),
        (Loading | Running, StopRequested) => Some(Stopping),
        (Stopping, StoppedAsAsked) => Some(Stopped),
        // A start that fails before any process exists goes straight to error.
        (Stopped | Error | Loading | Running, Failed) => Some(Error),
        // The process may die while stopping; that is the stop succeeding.
        (Stopping, Failed) => Some(Stopped),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ModelStatus::*;
    use RunEvent::*;

    fn walk(events: &[RunEvent]) -> Option<ModelStatus> {
        events
            .iter()
            .try_fold(Stopped, |status, e| next(status, *e))
    }

    #[test]
    fn a_run_goes_stopped_loading_running_stopping_stopped() {
        assert_eq!(
            walk(&[Spawned, Healthy, StopRequested, StoppedAsAsked]),
            Some(Stopped)
        );
    }

    #[test]
    fn a_crash_while_loading_or_running_is_an_error_and_a_retry_may_follow() {
        assert_eq!(walk(&[Spawned, Failed]), Some(Error));
        assert_eq!(walk(&[Spawned, Healthy, Failed]), Some(Error));
        assert_eq!(walk(&[Spawned, Failed, Spawned, Healthy]), Some(Running));
    }

    #[test]
    fn a_stop_during_loading_is_allowed_and_a_death_while_stopping_is_a_stop() {
        assert_eq!(walk(&[Spawned, StopRequested, Failed]), Some(Stopped));
    }

    #[test]
    fn impossible_moves_are_refused() {
        assert_eq!(
            next(Running, Spawned),
            None,
            "a second process for one model"
        );
        assert_eq!(next(Running, Healthy), None);
        assert_eq!(next(Stopped, Healthy), None);
        assert_eq!(next(Stopped, StopRequested), None);
        assert_eq!(next(Stopping, Spawned), None);
        assert_eq!(next(Error, StoppedAsAsked), None);
    }
}
