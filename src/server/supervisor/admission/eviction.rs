//! Which runs a start stops to make room, as a pure decision over the running set (llama-swap's
//! swapper): no clock, no process, no lock. The caller takes a snapshot, asks, marks what it
//! was told to stop and does the stopping.

/// A live run as a start's admission sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    pub model_id: i64,
    pub run_id: i64,
    /// `serving.pinned`: never stopped for room.
    pub pinned: bool,
    /// Holds gateway requests (waiting or in flight): never stopped for room.
    pub busy: bool,
    /// Another start is stopping it already.
    pub stopping: bool,
    /// Loading for gateway requests that have all left: the first to go.
    pub abandoned: bool,
    /// Unix milliseconds of its last use.
    pub last_used: i64,
    /// Resident memory measured now (0 when unknown).
    pub rss_bytes: u64,
}

/// A run picked to stop: (model id, run id).
pub type Victim = (i64, i64);

/// The runs a start of `starting` may stop, in the order it stops them: abandoned loads first,
/// then the least recently used. Pinned, busy and already-stopping runs and the starting model
/// itself are never among them.
pub fn stop_order(running: &[Running], starting: i64) -> Vec<&Running> {
    let mut order: Vec<&Running> = running
        .iter()
        .filter(|r| r.model_id != starting && !r.pinned && !r.busy && !r.stopping)
        .collect();
    order.sort_by_key(|r| (!r.abandoned, r.last_used, r.model_id));
    order
}

/// The next run to stop for a place, if any may be stopped.
pub fn for_place(running: &[Running], starting: i64) -> Option<Victim> {
    stop_order(running, starting)
        .first()
        .map(|r| (r.model_id, r.run_id))
}

/// The fewest runs, in stop order, whose memory together covers `short` bytes; `None` when
/// stopping every run that may be stopped would still not free enough (then nothing should be
/// stopped for nothing).
pub fn for_memory(running: &[Running], starting: i64, short: u64) -> Option<Vec<Victim>> {
    let mut freed: u64 = 0;
    let mut victims = Vec::new();
    for run in stop_order(running, starting) {
        if freed >= short {
            break;
        }
        freed = freed.saturating_add(run.rss_bytes);
        victims.push((run.model_id, run.run_id));
    }
    (freed >= short).then_some(victims)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn runs() -> impl Strategy<Value = Vec<Running>> {
        prop::collection::vec(
            (
                any::<bool>(),
                any::<bool>(),
                any::<bool>(),
                any::<bool>(),
                0i64..1000,
                0u64..(8 << 30),
            ),
            0..12,
        )
        .prop_map(|flags| {
            flags
                .into_iter()
                .enumerate()
                .map(
                    |(i, (pinned, busy, stopping, abandoned, last_used, rss_bytes))| Running {
                        model_id: i as i64 + 1,
                        run_id: i as i64 + 100,
                        pinned,
                        busy,
                        stopping,
                        abandoned,
                        last_used,
                        rss_bytes,
                    },
                )
                .collect()
        })
    }

    fn may_stop(run: &Running, starting: i64) -> bool {
        run.model_id != starting && !run.pinned && !run.busy && !run.stopping
    }

    proptest! {
        #[test]
        fn the_memory_decision_never_stops_a_pinned_or_busy_run_and_frees_enough_when_it_can(
            running in runs(), starting in 0i64..14, short in 0u64..(24 << 30),
        ) {
            let stoppable: u64 = running
                .iter()
                .filter(|r| may_stop(r, starting))
                .map(|r| r.rss_bytes)
                .fold(0, u64::saturating_add);
            match for_memory(&running, starting, short) {
                Some(victims) => {
                    let picked: Vec<&Running> = victims
                        .iter()
                        .map(|(id, _)| running.iter().find(|r| r.model_id == *id).unwrap())
                        .collect();
                    prop_assert!(picked.iter().all(|r| may_stop(r, starting)));
                    let freed: u64 = picked.iter().map(|r| r.rss_bytes).fold(0, u64::saturating_add);
                    prop_assert!(freed >= short, "frees {freed} of {short}");
                    // No more than needed: without the last one it would not be enough.
                    if let Some(last) = picked.last() {
                        prop_assert!(freed - last.rss_bytes < short);
                    }
                }
                None => prop_assert!(stoppable < short, "could free {stoppable} of {short}"),
            }
        }

        #[test]
        fn the_place_decision_never_stops_a_pinned_or_busy_run_and_finds_one_when_one_may_go(
            running in runs(), starting in 0i64..14,
        ) {
            match for_place(&running, starting) {
                Some((id, run_id)) => {
                    let run = running.iter().find(|r| r.model_id == id).unwrap();
                    prop_assert!(may_stop(run, starting));
                    prop_assert_eq!(run.run_id, run_id);
                    // Abandoned loads go first, then the least recently used.
                    for other in running.iter().filter(|r| may_stop(r, starting)) {
                        prop_assert!((!run.abandoned, run.last_used) <= (!other.abandoned, other.last_used));
                    }
                }
                None => prop_assert!(running.iter().all(|r| !may_stop(r, starting))),
            }
        }
    }

    #[test]
    fn a_load_nobody_waits_for_goes_before_the_least_recently_used_run() {
        let run = |model_id, abandoned, last_used| Running {
            model_id,
            run_id: model_id * 10,
            pinned: false,
            busy: false,
            stopping: false,
            abandoned,
            last_used,
            rss_bytes: 1,
        };
        let running = [run(1, false, 5), run(2, true, 50), run(3, false, 1)];
        let order: Vec<i64> = stop_order(&running, 9).iter().map(|r| r.model_id).collect();
        assert_eq!(order, [2, 3, 1]);
    }
}
