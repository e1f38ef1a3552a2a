//! Where a model is in its life, and how it may move: the one spelling of each state (for the
//! database, the API, the live channel and the page) and the one table of allowed moves. The
//! supervisor applies it to every status change; the page derives what it offers from it.
//!
//! ```text
//! stopped ──spawned──▶ loading ──healthy──▶ running
//!                        │  └──stop──┐        │ stop
//!                        │           ▼        ▼
//!                        │        stopping ──exited──▶ stopped
//!                        └─failed───▶ error ◀─failed── running
//! ```

choice_enum! {
    /// A model's run status.
    pub enum ModelStatus {
        Stopped => "stopped",
        Loading => "loading",
        Running => "running",
        Stopping => "stopping",
        Error => "error",
    }
}

impl ModelStatus {
    /// The word the page shows.
    pub fn label(self) -> &'static str {
        match self {
            ModelStatus::Stopped => "Stopped",
            ModelStatus::Loading => "Loading",
            ModelStatus::Running => "Running",
            ModelStatus::Stopping => "Stopping",
            ModelStatus::Error => "Error",
        }
    }

    /// True while a process may exist for the model: such a model cannot be deleted.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            ModelStatus::Loading | ModelStatus::Running | ModelStatus::Stopping
        )
    }

    /// The status after `event`, or `None` when the event cannot happen now (a second process
    /// for one model, a stop that "un-fails" a crash...).
    pub fn next(self, event: StatusEvent) -> Option<ModelStatus> {
        use ModelStatus::*;
        use StatusEvent::*;
        match (self, event) {
            (Stopped | Error, Spawned) => Some(Loading),
            // A server an earlier Corral left running, taken under supervision again.
            (_, Adopted) => Some(Loading),
            (Loading, Healthy) => Some(Running),
            (Loading | Running, StopRequested) => Some(Stopping),
            (Stopping, StoppedAsAsked) => Some(Stopped),
            // A start that fails before any process exists goes straight to error.
            (Stopped | Error | Loading | Running, Failed) => Some(Error),
            // The process may die while stopping; that is the stop succeeding.
            (Stopping, Failed) => Some(Stopped),
            (Error | Loading | Running | Stopping, NoProcess) => Some(Stopped),
            _ => None,
        }
    }

    /// Whether a person may ask for `request` now: the page offers exactly these.
    pub fn permits(self, request: Request) -> bool {
        match request {
            Request::Start => self.next(StatusEvent::Spawned).is_some(),
            Request::Stop | Request::ForceStop => self.next(StatusEvent::StopRequested).is_some(),
            // Only a model that runs can be run again with fresh settings.
            Request::Restart => {
                self.permits(Request::Stop) && self.next(StatusEvent::Healthy).is_none()
            }
            Request::Delete => !self.is_active(),
        }
    }
}

/// Something that happened to a model's process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusEvent {
    /// A process was started.
    Spawned,
    /// A process found alive at start-up was taken under supervision again.
    Adopted,
    /// `/health` answered 200.
    Healthy,
    /// Someone asked it to stop.
    StopRequested,
    /// The process is gone after a stop was asked for.
    StoppedAsAsked,
    /// The process died on its own, never became ready, or could not be started.
    Failed,
    /// No process exists for the model (an error is cleared, or start-up found none).
    NoProcess,
}

impl StatusEvent {
    pub const ALL: [StatusEvent; 7] = [
        StatusEvent::Spawned,
        StatusEvent::Adopted,
        StatusEvent::Healthy,
        StatusEvent::StopRequested,
        StatusEvent::StoppedAsAsked,
        StatusEvent::Failed,
        StatusEvent::NoProcess,
    ];
}

/// What a person can ask of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Request {
    Start,
    /// Lets the gateway requests in flight finish first (up to the stop grace).
    Stop,
    /// Ends the requests in flight at once.
    ForceStop,
    Restart,
    Delete,
}

impl Request {
    pub fn label(self) -> &'static str {
        match self {
            Request::Start => "Start",
            Request::Stop => "Stop",
            Request::ForceStop => "Force stop",
            Request::Restart => "Restart",
            Request::Delete => "Delete",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_serialise_as_the_documented_words() {
        let words: Vec<String> = ModelStatus::ALL
            .iter()
            .map(|s| serde_json::to_string(s).unwrap())
            .collect();
        assert_eq!(
            words,
            [
                "\"stopped\"",
                "\"loading\"",
                "\"running\"",
                "\"stopping\"",
                "\"error\""
            ]
        );
    }

    #[test]
    fn the_old_idle_spelling_is_not_a_status() {
        assert!(serde_json::from_str::<ModelStatus>("\"idle\"").is_err());
    }

    use ModelStatus::*;
    use StatusEvent::*;

    fn walk(events: &[StatusEvent]) -> Option<ModelStatus> {
        events.iter().try_fold(Stopped, |status, e| status.next(*e))
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
            Running.next(Spawned),
            None,
            "a second process for one model"
        );
        assert_eq!(Running.next(Healthy), None);
        assert_eq!(Stopped.next(Healthy), None);
        assert_eq!(Stopped.next(StopRequested), None);
        assert_eq!(Stopping.next(Spawned), None);
        assert_eq!(Error.next(StoppedAsAsked), None);
        assert_eq!(Stopped.next(NoProcess), None, "nothing to clear");
    }

    #[test]
    fn what_the_page_offers_follows_the_table() {
        let offered = |status: ModelStatus| {
            [
                Request::Start,
                Request::Stop,
                Request::Restart,
                Request::Delete,
            ]
            .into_iter()
            .filter(|r| status.permits(*r))
            .collect::<Vec<_>>()
        };
        assert_eq!(offered(Stopped), [Request::Start, Request::Delete]);
        assert_eq!(offered(Error), [Request::Start, Request::Delete]);
        assert_eq!(offered(Loading), [Request::Stop]);
        assert_eq!(offered(Running), [Request::Stop, Request::Restart]);
        assert!(offered(Stopping).is_empty());
    }
}
