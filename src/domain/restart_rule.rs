//! Restart on crash (`serving.restart`), as a pure decision: how a run ended, whether that end
//! restarts the model, and after how long. The supervisor applies it (`restart_on_failure.rs`).
//!
//! A crash restarts after 1 s, then 2, 4, … up to 5 minutes while the crashes follow each other
//! within 10 minutes; the fifth failure within 10 minutes gives up, with the reason shown.

use std::collections::VecDeque;
use std::time::Duration;

use crate::domain::run::FailureReason;

choice_enum! {
    /// What Corral does when the model's server ends on its own.
    pub enum Restart {
        /// Nothing: the model stays in error until a person acts.
        Never => "never",
        /// Starts it again after a crash or a kill for memory, with backoff.
        OnFailure => "on-failure",
    }
}

/// How a run ended, in the words its status reason begins with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    /// Stopped as asked: by a person, its idle time, or to make room.
    Stopped,
    /// It never became ready (exited while loading, missed its deadline, or could not spawn).
    FailedToStart,
    /// It was ready, then exited or was killed, with no sign of running out of memory.
    Crashed,
    /// It was ready, then ended with an out-of-memory sign.
    KilledForMemory,
}

impl RunEnd {
    /// A run that ended with `failure` (none: stopped as asked), after becoming ready or not.
    pub fn of(was_ready: bool, failure: Option<FailureReason>) -> RunEnd {
        match (failure, was_ready) {
            (None, _) => RunEnd::Stopped,
            (Some(_), false) => RunEnd::FailedToStart,
            (Some(FailureReason::OutOfMemory), true) => RunEnd::KilledForMemory,
            (Some(_), true) => RunEnd::Crashed,
        }
    }

    /// Only a crash and a kill for memory restart the model.
    pub fn restarts(self) -> bool {
        matches!(self, RunEnd::Crashed | RunEnd::KilledForMemory)
    }

    /// What a failure's status reason begins with.
    pub fn label(self) -> &'static str {
        match self {
            RunEnd::Stopped => "Stopped",
            RunEnd::FailedToStart => "Failed to start",
            RunEnd::Crashed => "Crashed",
            RunEnd::KilledForMemory => "Killed for memory",
        }
    }
}

/// Whether a restart that did not get the model running again is tried again: not when what
/// stopped it is in the model's settings or files, which waiting does not change.
pub fn worth_retrying(failure: FailureReason) -> bool {
    !matches!(
        failure,
        FailureReason::FileMissing | FailureReason::NotGguf | FailureReason::InvalidArgument
    )
}

/// Failures counted for giving up within this window.
pub const WINDOW: Duration = Duration::from_secs(10 * 60);
/// The failure within `WINDOW` that gives up.
pub const MOST_FAILURES: usize = 5;
const FIRST_DELAY: Duration = Duration::from_secs(1);
const LONGEST_DELAY: Duration = Duration::from_secs(5 * 60);

/// What to do after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Start the model again after `delay`; `failures` in a row so far.
    RestartAfter { delay: Duration, failures: u32 },
    /// `MOST_FAILURES` within `WINDOW`: leave it in error.
    GiveUp,
}

impl Decision {
    /// Said after the failure's reason.
    pub fn describe(self) -> String {
        match self {
            Decision::RestartAfter { delay, failures } => format!(
                "Restarting in {} (failure {failures} in a row; Corral gives up after \
                 {MOST_FAILURES} within {} minutes).",
                seconds(delay),
                WINDOW.as_secs() / 60
            ),
            Decision::GiveUp => format!(
                "Not restarted again: {MOST_FAILURES} failures within {} minutes (serving.restart).",
                WINDOW.as_secs() / 60
            ),
        }
    }
}

fn seconds(delay: Duration) -> String {
    match delay.as_secs() {
        1 => "1 second".to_string(),
        s if s < 120 => format!("{s} seconds"),
        s => format!("{} minutes", s / 60),
    }
}

/// One model's recent failures (Unix milliseconds, oldest first).
#[derive(Debug, Clone, Default)]
pub struct Failures {
    at: VecDeque<i64>,
}

impl Failures {
    /// Counts a failure at `now` and decides what follows.
    pub fn failed(&mut self, now: i64) -> Decision {
        self.at.push_back(now);
        // Older than the window, a failure neither gives up nor lengthens the backoff; and a
        // chain of failures with no gap of a window between them can be long only while its
        // delays have grown past the window, so a few hundred are ample.
        while self.at.len() > 512 {
            self.at.pop_front();
        }
        let window = WINDOW.as_millis() as i64;
        let recent = self.at.iter().filter(|t| now - **t < window).count();
        if recent >= MOST_FAILURES {
            return Decision::GiveUp;
        }
        // Failures in a row: each within a window of the one after it.
        let mut in_a_row = 1u32;
        for pair in self.at.iter().rev().collect::<Vec<_>>().windows(2) {
            if pair[0] - pair[1] >= window {
                break;
            }
            in_a_row += 1;
        }
        let doubled = FIRST_DELAY.saturating_mul(1u32 << (in_a_row - 1).min(20));
        Decision::RestartAfter {
            delay: doubled.min(LONGEST_DELAY),
            failures: in_a_row,
        }
    }

    /// A person stopped or started the model: what came before no longer counts.
    pub fn forget(&mut self) {
        self.at.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: i64 = 1000;

    #[test]
    fn only_a_crash_or_a_kill_for_memory_after_the_model_was_ready_restarts() {
        use FailureReason::*;
        assert!(RunEnd::of(true, Some(Other)).restarts());
        assert!(RunEnd::of(true, Some(OutOfMemory)).restarts());
        assert_eq!(RunEnd::of(true, Some(OutOfMemory)), RunEnd::KilledForMemory);
        assert!(!RunEnd::of(false, Some(Other)).restarts());
        assert!(!RunEnd::of(false, Some(LoadTimeout)).restarts());
        assert!(!RunEnd::of(true, None).restarts());
        assert_eq!(RunEnd::of(false, None), RunEnd::Stopped);
    }

    #[test]
    fn the_delay_doubles_from_one_second_and_the_fifth_failure_in_ten_minutes_gives_up() {
        let mut failures = Failures::default();
        let mut now = 0;
        let mut delays = Vec::new();
        for _ in 0..4 {
            match failures.failed(now) {
                Decision::RestartAfter { delay, .. } => delays.push(delay.as_secs()),
                Decision::GiveUp => panic!("gave up early"),
            }
            now += 5 * SECOND;
        }
        assert_eq!(delays, [1, 2, 4, 8]);
        assert_eq!(failures.failed(now), Decision::GiveUp);
    }

    #[test]
    fn crashes_spread_wider_than_the_window_never_give_up_and_the_delay_stops_at_five_minutes() {
        let mut failures = Failures::default();
        let mut last = None;
        // One crash every three minutes for two hours: at most four within any ten minutes.
        for n in 0..40 {
            let decision = failures.failed(n * 180 * SECOND);
            assert_ne!(decision, Decision::GiveUp, "crash {n}");
            last = Some(decision);
        }
        assert_eq!(
            last,
            Some(Decision::RestartAfter {
                delay: LONGEST_DELAY,
                failures: 40
            })
        );
    }

    #[test]
    fn a_failure_a_window_after_the_last_starts_again_from_one_second() {
        let mut failures = Failures::default();
        failures.failed(0);
        failures.failed(10 * SECOND);
        let later = failures.failed(WINDOW.as_millis() as i64 + 20 * SECOND);
        assert_eq!(
            later,
            Decision::RestartAfter {
                delay: FIRST_DELAY,
                failures: 1
            }
        );
    }

    #[test]
    fn forgetting_clears_the_count() {
        let mut failures = Failures::default();
        for n in 0..4 {
            failures.failed(n * SECOND);
        }
        failures.forget();
        assert_eq!(
            failures.failed(5 * SECOND),
            Decision::RestartAfter {
                delay: FIRST_DELAY,
                failures: 1
            }
        );
    }

    #[test]
    fn settings_and_files_are_not_retried_but_memory_and_timeouts_are() {
        assert!(!worth_retrying(FailureReason::FileMissing));
        assert!(!worth_retrying(FailureReason::InvalidArgument));
        assert!(worth_retrying(FailureReason::OutOfMemory));
        assert!(worth_retrying(FailureReason::LoadTimeout));
    }
}
