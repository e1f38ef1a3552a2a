//! What the run-together groups ask of a start before its place and memory are looked at
//! (`domain::run_group`), as a pure decision over the running set like `eviction.rs`: the
//! runs its group's `swap` and `exclusive` rules stop, or why it must wait or be refused.

use std::collections::HashSet;

use crate::domain::run_group::GroupRules;
use crate::server::supervisor::admission::eviction::{Running, Victim};

/// What a start's groups ask of it now.
#[derive(Debug, PartialEq, Eq)]
pub enum GroupStep {
    /// Nothing to stop.
    Clear,
    /// Stop these runs, then ask again.
    Stop(Vec<Victim>),
    /// This model stands in the way but cannot be stopped yet: it is busy with requests, some
    /// other start is stopping it, or it is being started. Wait for a change.
    Wait(i64),
    /// This model stands in the way and is pinned: never stopped for another.
    Pinned(i64),
}

/// The step for a start of `starting`: the live runs and the starts that hold a place without
/// a run yet (`reserved`) that its group's rules stop.
pub fn step(
    rules: &GroupRules,
    running: &[Running],
    reserved: &HashSet<i64>,
    starting: i64,
) -> GroupStep {
    if rules.of(starting).is_none() {
        return GroupStep::Clear;
    }
    let in_way: Vec<&Running> = running
        .iter()
        .filter(|r| r.model_id != starting && rules.must_stop(starting, r.model_id))
        .collect();
    if let Some(pinned) = in_way.iter().find(|r| r.pinned) {
        return GroupStep::Pinned(pinned.model_id);
    }
    // A start that has a place but no process yet is stopped once it has one.
    let mut starting_too: Vec<i64> = reserved
        .iter()
        .copied()
        .filter(|&id| id != starting && rules.must_stop(starting, id))
        .collect();
    starting_too.sort_unstable();
    if let Some(&first) = starting_too.first() {
        return GroupStep::Wait(first);
    }
    if let Some(held) = in_way.iter().find(|r| r.busy || r.stopping) {
        return GroupStep::Wait(held.model_id);
    }
    if in_way.is_empty() {
        GroupStep::Clear
    } else {
        GroupStep::Stop(in_way.iter().map(|r| (r.model_id, r.run_id)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::run_group::RunGroup;

    fn rules() -> GroupRules {
        let group = |name: &str, swap, exclusive, persistent| RunGroup {
            name: name.into(),
            swap,
            exclusive,
            persistent,
            members: Vec::new(),
        };
        GroupRules {
            groups: vec![
                (group("coding", true, true, false), vec![1, 2]),
                (group("always", false, false, true), vec![3]),
            ],
        }
    }

    fn run(model_id: i64) -> Running {
        Running::idle(model_id)
    }

    #[test]
    fn an_exclusive_swap_member_stops_the_other_member_and_outsiders_but_not_a_persistent_group() {
        let running = [run(2), run(3), run(9)];
        assert_eq!(
            step(&rules(), &running, &HashSet::new(), 1),
            GroupStep::Stop(vec![(2, 20), (9, 90)])
        );
    }

    #[test]
    fn a_model_in_no_group_is_clear_whatever_runs() {
        let running = [run(1), run(2), run(3)];
        assert_eq!(
            step(&rules(), &running, &HashSet::new(), 9),
            GroupStep::Clear
        );
    }

    #[test]
    fn a_busy_or_starting_member_is_waited_for_and_a_pinned_one_refuses() {
        let busy = Running {
            busy: true,
            ..run(2)
        };
        let rules = rules();
        assert_eq!(
            step(&rules, &[busy], &HashSet::new(), 1),
            GroupStep::Wait(2)
        );
        assert_eq!(
            step(&rules, &[], &HashSet::from([2]), 1),
            GroupStep::Wait(2)
        );
        let pinned = Running {
            pinned: true,
            ..run(9)
        };
        assert_eq!(
            step(&rules, &[run(2), pinned], &HashSet::new(), 1),
            GroupStep::Pinned(9)
        );
    }
}
