//! What starting several models at once would do under `--max-running`, answered before
//! anything starts: which start, which already run, which other models would be stopped to
//! make room, and which of the selection cannot run together with the rest.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BulkStartPlan {
    /// Models that may run at once.
    pub max_running: usize,
    /// Selected models that would start (by name, in the order given).
    pub start: Vec<String>,
    /// Selected models already loading or running.
    pub already_running: Vec<String>,
    /// Other models that would be stopped to make room (least recently used first).
    pub would_stop: Vec<String>,
    /// Selected models that would not start: more than may run at once, or the setting says
    /// to refuse when full.
    pub would_not_start: Vec<String>,
}

impl BulkStartPlan {
    /// Nothing is stopped and everything selected starts: no need to ask.
    pub fn fits(&self) -> bool {
        self.would_stop.is_empty() && self.would_not_start.is_empty()
    }
}

/// One selected model: its id, name, and whether it is loading or running already.
pub struct Selected {
    pub id: i64,
    pub name: String,
    pub active: bool,
}

/// The plan, as a pure decision: `used` places are held now (runs and starts under way);
/// `stoppable` are the other runs that a start may stop, least recently used first (pinned and
/// busy ones left out); `evict` is whether a full set of places makes room at all.
pub fn plan_bulk_start(
    selected: &[Selected],
    stoppable: &[(i64, String)],
    used: usize,
    max: usize,
    evict: bool,
) -> BulkStartPlan {
    let max = max.max(1);
    let mut plan = BulkStartPlan {
        max_running: max,
        ..BulkStartPlan::default()
    };
    let chosen: Vec<i64> = selected.iter().map(|s| s.id).collect();
    let mut victims = stoppable
        .iter()
        .filter(|(id, _)| !chosen.contains(id))
        .map(|(_, name)| name.clone());
    let mut free = max.saturating_sub(used);
    for model in selected {
        if model.active {
            plan.already_running.push(model.name.clone());
        } else if free > 0 {
            free -= 1;
            plan.start.push(model.name.clone());
        } else if let Some(victim) = victims.next().filter(|_| evict) {
            plan.would_stop.push(victim);
            plan.start.push(model.name.clone());
        } else {
            plan.would_not_start.push(model.name.clone());
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selected(names: &[(&str, bool)]) -> Vec<Selected> {
        names
            .iter()
            .enumerate()
            .map(|(i, (name, active))| Selected {
                id: 100 + i as i64,
                name: name.to_string(),
                active: *active,
            })
            .collect()
    }

    #[test]
    fn a_selection_within_the_free_places_just_starts() {
        let plan = plan_bulk_start(&selected(&[("a", false), ("b", true)]), &[], 1, 3, true);
        assert_eq!(plan.start, ["a"]);
        assert_eq!(plan.already_running, ["b"]);
        assert!(plan.fits());
    }

    #[test]
    fn others_are_stopped_least_recent_first_and_the_selection_never_stops_itself() {
        let stoppable = [(1, "old".to_string()), (2, "newer".to_string())];
        let plan = plan_bulk_start(
            &selected(&[("a", false), ("b", false), ("c", false), ("d", false)]),
            &stoppable,
            2,
            3,
            true,
        );
        assert_eq!(plan.start, ["a", "b", "c"]);
        assert_eq!(plan.would_stop, ["old", "newer"]);
        assert_eq!(plan.would_not_start, ["d"], "more than may run at once");
        assert!(!plan.fits());
    }

    #[test]
    fn refusing_when_full_stops_nothing() {
        let plan = plan_bulk_start(
            &selected(&[("a", false), ("b", false)]),
            &[(1, "old".to_string())],
            1,
            2,
            false,
        );
        assert_eq!(plan.start, ["a"]);
        assert!(plan.would_stop.is_empty());
        assert_eq!(plan.would_not_start, ["b"]);
    }
}
