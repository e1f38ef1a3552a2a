//! Places under `--max-running`: every live run holds one, and so does every start that has
//! reserved one but has no process yet, so two starts at once can never exceed the setting.
//! When the places are full, a start picks the least recently used run to stop (one no other
//! start is already stopping) and waits for it without holding anything but its own model.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::domain::device_memory::Device;
use crate::domain::run_group::GroupRules;
use crate::server::supervisor::admission::eviction::{self, Running, Victim};
use crate::server::supervisor::admission::group_rules::{self, GroupStep};
use crate::server::supervisor::run_handles::RunHandles;

#[derive(Default)]
struct Taken {
    /// Starts that hold a place but have no run handle yet.
    reserved: HashSet<i64>,
    /// Runs some start is stopping to make room.
    evicting: HashSet<i64>,
    /// Starts asking for a place, with their priority and the order they came in: a free
    /// place goes to the highest priority, the first of equals (`serving.priority`).
    waiting: Vec<Waiting>,
    /// Numbers the starts in the order they asked.
    next_seq: u64,
    /// Memory promised to starts let in whose servers have not loaded yet, per device: what
    /// they have not taken yet counts as taken for the starts that come after.
    promised: HashMap<i64, Vec<(Device, u64)>>,
    /// Which promise each model holds now, so an older one dropped late removes nothing.
    promise_seq: HashMap<i64, u64>,
}

#[derive(Clone, Copy)]
struct Waiting {
    model_id: i64,
    priority: i64,
    seq: u64,
}

impl Taken {
    /// The start a free place goes to now.
    fn first_in_line(&self) -> Option<Waiting> {
        self.waiting
            .iter()
            .copied()
            .min_by_key(|w| (std::cmp::Reverse(w.priority), w.seq))
    }
}

/// What a start should do next.
pub enum Decision {
    /// A place is held for the start until the reservation is dropped.
    Reserved(Reservation),
    /// Stop this run (model id, run id), then ask again.
    Evict(i64, i64),
    /// Every run is being stopped by someone already, or only reservations fill the places:
    /// wait for a change, then ask again.
    Wait,
    /// Full, and the setting says to refuse.
    Full,
    /// The start's run-together group stops these runs first (marked as being stopped).
    GroupStop(Vec<Victim>),
    /// The start's group waits for this model (busy, being stopped, or starting).
    GroupWait(i64),
    /// The start's group would stop this pinned model: refused.
    GroupPinned(i64),
}

#[derive(Clone, Default)]
pub struct Places {
    taken: Arc<Mutex<Taken>>,
    changed: Arc<Notify>,
}

impl Places {
    fn taken(&self) -> MutexGuard<'_, Taken> {
        self.taken.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Decides for a start of `model_id` with `max` places; `evict` says whether a full set of
    /// places may be made room in; `busy` runs (requests waiting or in flight) are not stopped.
    pub fn decide(
        &self,
        model_id: i64,
        max: usize,
        handles: &RunHandles,
        evict: bool,
        busy: &HashSet<i64>,
    ) -> Decision {
        self.decide_grouped(model_id, &GroupRules::default(), max, handles, evict, busy)
    }

    /// `decide` for a start whose run-together groups' `rules` apply first: what its group
    /// stops is decided under the same lock as its place, so two starts whose groups exclude
    /// each other never both get one; a persistent group's members are not made room with.
    pub fn decide_grouped(
        &self,
        model_id: i64,
        rules: &GroupRules,
        max: usize,
        handles: &RunHandles,
        evict: bool,
        busy: &HashSet<i64>,
    ) -> Decision {
        let mut taken = self.taken();
        let mut running = snapshot(handles, busy, &taken.evicting, &|_| Vec::new());
        match group_rules::step(rules, &running, &taken.reserved, model_id) {
            GroupStep::Clear => {}
            GroupStep::Stop(victims) => {
                taken.evicting.extend(victims.iter().map(|(id, _)| *id));
                return Decision::GroupStop(victims);
            }
            GroupStep::Wait(id) => return Decision::GroupWait(id),
            GroupStep::Pinned(id) => return Decision::GroupPinned(id),
        }
        shield(&mut running, rules, model_id);
        let used = handles.len() + taken.reserved.len();
        let behind = taken
            .first_in_line()
            .is_some_and(|first| first.model_id != model_id);
        if used < max.max(1) && behind {
            // The free place is for the start first in line; it has been told.
            return Decision::Wait;
        }
        if used < max.max(1) {
            taken.waiting.retain(|w| w.model_id != model_id);
            taken.reserved.insert(model_id);
            return Decision::Reserved(Reservation {
                places: self.clone(),
                model_id,
            });
        }
        if !evict {
            return Decision::Full;
        }
        if behind {
            // Only the start first in line makes room: the others would stop runs for it.
            return Decision::Wait;
        }
        match eviction::for_place(&running, model_id) {
            Some((victim, run_id)) => {
                taken.evicting.insert(victim);
                Decision::Evict(victim, run_id)
            }
            None => Decision::Wait,
        }
    }

    /// Runs to stop so a start of `model_id` has `short` more bytes on each device (each
    /// run's memory by model from `memory`), marked as being stopped; `None` (nothing marked)
    /// when stopping every run that may go would not be enough. Decided under the places'
    /// lock, so two starts never pick the same run.
    pub fn claim_memory(
        &self,
        (model_id, rules): (i64, &GroupRules),
        short: &[(Device, u64)],
        handles: &RunHandles,
        busy: &HashSet<i64>,
        memory: &dyn Fn(i64) -> Vec<(Device, u64)>,
    ) -> Option<Vec<Victim>> {
        let mut taken = self.taken();
        let mut running = snapshot(handles, busy, &taken.evicting, memory);
        shield(&mut running, rules, model_id);
        let victims = eviction::for_memory(&running, model_id, short)?;
        taken.evicting.extend(victims.iter().map(|(id, _)| *id));
        Some(victims)
    }

    /// Promises `need` to a start of `model_id` if `fits` (shown every other promise still
    /// open) says it fits, under the places' lock, so two starts never both count the same
    /// free memory. The promise is kept until the guard is dropped (the server has loaded, or
    /// the start failed).
    pub fn promise_if<E>(
        &self,
        model_id: i64,
        need: Vec<(Device, u64)>,
        fits: impl FnOnce(&HashMap<i64, Vec<(Device, u64)>>) -> Result<(), E>,
    ) -> Result<Promise, E> {
        let mut taken = self.taken();
        // The check leaves the start's own model out, so an earlier promise of it (a run
        // that is ending) stays until it is dropped or replaced here.
        fits(&taken.promised)?;
        let seq = taken.next_seq;
        taken.next_seq += 1;
        taken.promised.insert(model_id, need);
        taken.promise_seq.insert(model_id, seq);
        Ok(Promise {
            places: self.clone(),
            model_id,
            seq,
        })
    }

    /// Puts a start of `model_id` in line for a place; out of line when the turn is dropped.
    pub fn line_up(&self, model_id: i64, priority: i64) -> Turn {
        let mut taken = self.taken();
        let seq = taken.next_seq;
        taken.next_seq += 1;
        taken.waiting.push(Waiting {
            model_id,
            priority,
            seq,
        });
        Turn {
            places: self.clone(),
            seq,
        }
    }

    /// Places held by starts that have no process yet.
    pub fn reserved(&self) -> usize {
        self.taken().reserved.len()
    }

    /// The eviction of `model_id` is over (it ended, or could not be asked to).
    pub fn evicted(&self, model_id: i64) {
        self.taken().evicting.remove(&model_id);
        self.changed.notify_waiters();
    }

    /// Resolves at the next change of places (a reservation given back, an eviction done).
    pub fn changed(&self) -> std::sync::Arc<Notify> {
        self.changed.clone()
    }

    /// A run ended: its place is free.
    pub fn freed(&self) {
        self.changed.notify_waiters();
    }
}

/// Every live run as a start's admission sees it: `busy` ones hold requests, `stopping` ones
/// some start is stopping already, `memory` says what a model's run holds on each device
/// (nothing when not asked).
pub fn snapshot(
    handles: &RunHandles,
    busy: &HashSet<i64>,
    stopping: &HashSet<i64>,
    memory: &dyn Fn(i64) -> Vec<(Device, u64)>,
) -> Vec<Running> {
    handles
        .all()
        .into_iter()
        .map(|(id, h)| Running {
            model_id: id,
            run_id: h.run_id,
            pinned: h.pinned,
            busy: busy.contains(&id),
            stopping: stopping.contains(&id),
            abandoned: h.abandoned(),
            last_used: h.last_used.load(std::sync::atomic::Ordering::Relaxed),
            memory: memory(id),
        })
        .collect()
}

/// Marks the runs a start of `starting` may not stop for room (a persistent group's members,
/// for a start from outside their group) as pinned, so eviction passes them by.
fn shield(running: &mut [Running], rules: &GroupRules, starting: i64) {
    for run in running.iter_mut() {
        run.pinned |= !rules.may_evict(starting, run.model_id);
    }
}

/// A start's place in line for a place (see `line_up`).
pub struct Turn {
    places: Places,
    seq: u64,
}

impl Drop for Turn {
    fn drop(&mut self) {
        let seq = self.seq;
        self.places.taken().waiting.retain(|w| w.seq != seq);
        // The next in line may take a place this one left.
        self.places.changed.notify_waiters();
    }
}

/// A place held for a start until its run handle exists (or the start failed).
pub struct Reservation {
    places: Places,
    model_id: i64,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.places.taken().reserved.remove(&self.model_id);
        self.places.changed.notify_waiters();
    }
}

/// Memory promised to a start until its server has loaded (see `promise_if`).
pub struct Promise {
    places: Places,
    model_id: i64,
    seq: u64,
}

impl Drop for Promise {
    fn drop(&mut self) {
        let mut taken = self.places.taken();
        if taken.promise_seq.get(&self.model_id) == Some(&self.seq) {
            taken.promised.remove(&self.model_id);
            taken.promise_seq.remove(&self.model_id);
        }
        drop(taken);
        self.places.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::supervisor::run_handles::RunHandle;
    use std::sync::atomic::AtomicI64;
    use tokio::sync::watch;

    fn run(handles: &RunHandles, model_id: i64, last_used: i64) {
        run_loading(handles, model_id, last_used, true, false);
    }

    fn run_loading(
        handles: &RunHandles,
        model_id: i64,
        last_used: i64,
        ready: bool,
        on_demand: bool,
    ) {
        let (stop, _) = watch::channel(false);
        let (_, ended) = watch::channel(false);
        handles.insert(
            model_id,
            RunHandle {
                run_id: model_id * 10,
                pid: 0,
                port: 0,
                stop: Arc::new(stop),
                ended,
                last_used: Arc::new(AtomicI64::new(last_used)),
                api_key: None,
                ready: watch::channel(ready).1,
                awake: watch::channel(true).1,
                wake: Arc::default(),
                pinned: false,
                draining: Arc::default(),
                on_demand: Arc::new(on_demand.into()),
                command: Arc::from(Vec::new()),
            },
        );
    }

    #[test]
    fn two_starts_at_once_cannot_both_take_the_last_place() {
        let (places, handles) = (Places::default(), RunHandles::default());
        run(&handles, 1, 0);
        let first = places.decide(2, 2, &handles, true, &HashSet::new());
        assert!(matches!(first, Decision::Reserved(_)));
        // The second start sees the first one's reservation and must make room instead.
        assert!(matches!(
            places.decide(3, 2, &handles, true, &HashSet::new()),
            Decision::Evict(1, 10)
        ));
        // A third finds the only run already being stopped: it waits.
        assert!(matches!(
            places.decide(4, 2, &handles, true, &HashSet::new()),
            Decision::Wait
        ));
        drop(first);
        places.evicted(1);
        assert!(matches!(
            places.decide(4, 2, &handles, false, &HashSet::new()),
            Decision::Reserved(_)
        ));
    }

    #[test]
    fn a_free_place_goes_to_the_highest_priority_then_the_first_of_equals() {
        let (places, handles) = (Places::default(), RunHandles::default());
        let none = HashSet::new();
        let held = places.decide(1, 1, &handles, false, &none);
        assert!(matches!(held, Decision::Reserved(_)));
        let (low, high, mid, mid_later) = (
            places.line_up(2, 1),
            places.line_up(3, 5),
            places.line_up(4, 3),
            places.line_up(5, 3),
        );
        for id in [2, 3, 4, 5] {
            assert!(matches!(
                places.decide(id, 1, &handles, false, &none),
                Decision::Full
            ));
        }
        drop(held);
        for behind in [2, 4, 5] {
            assert!(matches!(
                places.decide(behind, 1, &handles, false, &none),
                Decision::Wait
            ));
        }
        let first = places.decide(3, 1, &handles, false, &none);
        assert!(matches!(first, Decision::Reserved(_)));
        drop((high, first));
        assert!(matches!(
            places.decide(5, 1, &handles, false, &none),
            Decision::Wait
        ));
        assert!(matches!(
            places.decide(4, 1, &handles, false, &none),
            Decision::Reserved(_)
        ));
        drop((mid, mid_later, low));
    }

    #[test]
    fn only_the_start_first_in_line_stops_a_run_to_make_room() {
        let (places, handles) = (Places::default(), RunHandles::default());
        run(&handles, 1, 0);
        let none = HashSet::new();
        let (_low, _high) = (places.line_up(2, 0), places.line_up(3, 1));
        assert!(matches!(
            places.decide(2, 1, &handles, true, &none),
            Decision::Wait
        ));
        assert!(matches!(
            places.decide(3, 1, &handles, true, &none),
            Decision::Evict(1, 10)
        ));
    }

    #[test]
    fn a_load_started_on_demand_that_nobody_waits_for_goes_first() {
        let (places, handles) = (Places::default(), RunHandles::default());
        run(&handles, 1, 100);
        run_loading(&handles, 2, 900, false, true);
        run_loading(&handles, 3, 50, false, false);
        assert!(matches!(
            places.decide(4, 3, &handles, true, &HashSet::new()),
            Decision::Evict(2, 20)
        ));
        // While its requests still wait, it is busy and spared.
        let waited_for = HashSet::from([2]);
        assert!(matches!(
            places.decide(5, 3, &handles, true, &waited_for),
            Decision::Evict(3, 30)
        ));
    }

    #[test]
    fn a_run_with_requests_is_never_chosen_to_make_room() {
        let (places, handles) = (Places::default(), RunHandles::default());
        run(&handles, 1, 100);
        run(&handles, 2, 500);
        let busy = HashSet::from([1]);
        assert!(matches!(
            places.decide(3, 2, &handles, true, &busy),
            Decision::Evict(2, 20)
        ));
        let all_busy = HashSet::from([1, 2]);
        assert!(matches!(
            places.decide(4, 2, &handles, true, &all_busy),
            Decision::Wait
        ));
    }

    #[test]
    fn the_least_recently_used_run_is_chosen_and_refusal_is_honoured() {
        let (places, handles) = (Places::default(), RunHandles::default());
        run(&handles, 1, 500);
        run(&handles, 2, 100);
        assert!(matches!(
            places.decide(3, 2, &handles, true, &HashSet::new()),
            Decision::Evict(2, 20)
        ));
        assert!(matches!(
            places.decide(4, 2, &handles, false, &HashSet::new()),
            Decision::Full
        ));
    }
}
