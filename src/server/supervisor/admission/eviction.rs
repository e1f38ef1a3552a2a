//! Which runs a start stops to make room, as a pure decision over the running set (llama-swap's
//! swapper): no clock, no process, no lock. The caller takes a snapshot, asks, marks what it
//! was told to stop and does the stopping.

use crate::domain::device_memory::Device;

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
    /// Memory it holds on each device, measured now (a device left out: none, or unknown).
    pub memory: Vec<(Device, u64)>,
}

impl Running {
    /// What it holds on `device`.
    pub fn on(&self, device: Device) -> u64 {
        self.memory
            .iter()
            .filter(|(d, _)| *d == device)
            .map(|(_, b)| *b)
            .fold(0, u64::saturating_add)
    }
}

#[cfg(test)]
impl Running {
    /// An idle, unpinned run of `model_id` (run id ten times it), last used at 0, holding
    /// nothing: what tests change one field of.
    pub fn idle(model_id: i64) -> Running {
        Running {
            model_id,
            run_id: model_id * 10,
            pinned: false,
            busy: false,
            stopping: false,
            abandoned: false,
            last_used: 0,
            memory: Vec::new(),
        }
    }
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

/// The runs, in stop order, whose memory covers every device's shortfall in `short` (bytes
/// per device): a run that holds nothing on a device still short is passed by, so a start
/// short of GPU memory stops only models on that GPU. `None` when stopping every run that may
/// be stopped would still leave a device short (then nothing should be stopped for nothing).
pub fn for_memory(
    running: &[Running],
    starting: i64,
    short: &[(Device, u64)],
) -> Option<Vec<Victim>> {
    let mut left: Vec<(Device, u64)> = short.iter().copied().filter(|(_, b)| *b > 0).collect();
    let mut victims = Vec::new();
    for run in stop_order(running, starting) {
        if left.is_empty() {
            break;
        }
        if !left.iter().any(|(device, _)| run.on(*device) > 0) {
            continue;
        }
        for (device, bytes) in left.iter_mut() {
            *bytes = bytes.saturating_sub(run.on(*device));
        }
        left.retain(|(_, b)| *b > 0);
        victims.push((run.model_id, run.run_id));
    }
    left.is_empty().then_some(victims)
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
                0u64..(8 << 30),
            ),
            0..12,
        )
        .prop_map(|flags| {
            flags
                .into_iter()
                .enumerate()
                .map(
                    |(i, (pinned, busy, stopping, abandoned, last_used, ram, gpu))| Running {
                        model_id: i as i64 + 1,
                        run_id: i as i64 + 100,
                        pinned,
                        busy,
                        stopping,
                        abandoned,
                        last_used,
                        // Every third run is on the CPU only.
                        memory: if i % 3 == 0 {
                            vec![(Device::Ram, ram)]
                        } else {
                            vec![(Device::Ram, ram), (Device::Gpu(0), gpu)]
                        },
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
            running in runs(), starting in 0i64..14,
            short_ram in 0u64..(24 << 30), short_gpu in 0u64..(24 << 30),
        ) {
            let short = [(Device::Ram, short_ram), (Device::Gpu(0), short_gpu)];
            let stoppable = |device| {
                running
                    .iter()
                    .filter(|r| may_stop(r, starting))
                    .map(|r| r.on(device))
                    .fold(0, u64::saturating_add)
            };
            match for_memory(&running, starting, &short) {
                Some(victims) => {
                    let picked: Vec<&Running> = victims
                        .iter()
                        .map(|(id, _)| running.iter().find(|r| r.model_id == *id).unwrap())
                        .collect();
                    prop_assert!(picked.iter().all(|r| may_stop(r, starting)));
                    for (device, bytes) in short {
                        let freed: u64 = picked.iter().map(|r| r.on(device)).fold(0, u64::saturating_add);
                        prop_assert!(freed >= bytes, "frees {freed} of {bytes} on {device:?}");
                    }
                    // No run stopped that frees nothing on a device still short when it was picked.
                    for (n, run) in picked.iter().enumerate() {
                        let still_short = short.iter().any(|&(device, bytes)| {
                            let before: u64 = picked[..n].iter().map(|r| r.on(device)).fold(0, u64::saturating_add);
                            before < bytes && run.on(device) > 0
                        });
                        prop_assert!(still_short, "{run:?} freed nothing needed");
                    }
                }
                None => prop_assert!(
                    stoppable(Device::Ram) < short_ram || stoppable(Device::Gpu(0)) < short_gpu,
                    "could free {} of {short_ram} and {} of {short_gpu}",
                    stoppable(Device::Ram), stoppable(Device::Gpu(0))
                ),
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
            abandoned,
            last_used,
            memory: vec![(Device::Ram, 1)],
            ..Running::idle(model_id)
        };
        let running = [run(1, false, 5), run(2, true, 50), run(3, false, 1)];
        let order: Vec<i64> = stop_order(&running, 9).iter().map(|r| r.model_id).collect();
        assert_eq!(order, [2, 3, 1]);
    }
}

#[cfg(test)]
mod by_device {
    use super::*;

    const GIB: u64 = 1 << 30;

    fn run(model_id: i64, last_used: i64, memory: Vec<(Device, u64)>) -> Running {
        Running {
            last_used,
            memory,
            ..Running::idle(model_id)
        }
    }

    #[test]
    fn a_start_short_on_one_gpu_stops_only_models_on_that_gpu() {
        // Recorded on a two-GPU machine: model 1 (least recent) on the CPU, 2 on GPU 1, 3 on
        // GPU 0 with 20 GiB; the start is 12 GiB short on GPU 0.
        let running = [
            run(1, 10, vec![(Device::Ram, 8 * GIB)]),
            run(2, 20, vec![(Device::Ram, GIB), (Device::Gpu(1), 30 * GIB)]),
            run(3, 30, vec![(Device::Ram, GIB), (Device::Gpu(0), 20 * GIB)]),
        ];
        let short = [(Device::Gpu(0), 12 * GIB)];
        assert_eq!(for_memory(&running, 9, &short), Some(vec![(3, 30)]));
        // Short on both GPUs: one on each, still least recent first.
        let short = [(Device::Gpu(0), GIB), (Device::Gpu(1), GIB)];
        assert_eq!(
            for_memory(&running, 9, &short),
            Some(vec![(2, 20), (3, 30)])
        );
        // More than all of GPU 0 holds: nothing is stopped for nothing.
        assert_eq!(for_memory(&running, 9, &[(Device::Gpu(0), 21 * GIB)]), None);
    }
}
