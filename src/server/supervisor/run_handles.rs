//! What the supervisor keeps of each live run: how to ask it to stop, how to know it ended, its
//! port, its key and when it was last used. The run task holds the process itself.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

#[derive(Clone)]
pub struct RunHandle {
    pub run_id: i64,
    pub pid: u32,
    pub port: u16,
    pub stop: Arc<watch::Sender<bool>>,
    pub ended: watch::Receiver<bool>,
    /// Unix milliseconds of the last sign of use, for least-recently-used stops.
    pub last_used: Arc<AtomicI64>,
    /// The key the server answers to (`None` for a server adopted from a Corral without keys).
    pub api_key: Option<Arc<str>>,
    /// Becomes true once `/health` answered: requests may go to the server.
    pub ready: watch::Receiver<bool>,
    /// The model is in memory: false while its server sleeps or wakes (`serving.idle_action:
    /// sleep`), when a request waits for the wake as for a load.
    pub awake: watch::Receiver<bool>,
    /// Told by requests that find the server asleep: its run task wakes it, once for however
    /// many asked (each asking itself would tie up the server's HTTP threads while it wakes).
    pub wake: Arc<tokio::sync::Notify>,
    /// Never stopped to make room (`serving.pinned`).
    pub pinned: bool,
    /// A stop is waiting for the requests in flight: new ones are refused.
    pub draining: Arc<AtomicBool>,
    /// A gateway request started it (not a person): while it loads with nobody waiting for
    /// it any more, it is the first to go when another model needs its place.
    pub on_demand: Arc<AtomicBool>,
    /// The command the run recorded, program first (empty for a reservation).
    pub command: Arc<[String]>,
}

impl RunHandle {
    /// Loading for requests that have all left.
    pub fn abandoned(&self) -> bool {
        self.on_demand.load(Ordering::Relaxed) && !*self.ready.borrow()
    }
}

/// The live runs by model id. Cheap to clone; every clone sees the same runs.
#[derive(Clone, Default)]
pub struct RunHandles {
    runs: Arc<Mutex<HashMap<i64, RunHandle>>>,
}

impl RunHandles {
    fn map(&self) -> MutexGuard<'_, HashMap<i64, RunHandle>> {
        self.runs.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn insert(&self, model_id: i64, handle: RunHandle) {
        self.map().insert(model_id, handle);
    }

    pub fn get(&self, model_id: i64) -> Option<RunHandle> {
        self.map().get(&model_id).cloned()
    }

    pub fn contains(&self, model_id: i64) -> bool {
        self.map().contains_key(&model_id)
    }

    pub fn len(&self) -> usize {
        self.map().len()
    }

    pub fn is_empty(&self) -> bool {
        self.map().is_empty()
    }

    /// The models with a live run, in id order.
    pub fn ids(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self.map().keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    pub fn ports(&self) -> HashSet<u16> {
        self.map().values().map(|h| h.port).collect()
    }

    /// Every live run with its model id (handles are cheap to clone).
    pub fn all(&self) -> Vec<(i64, RunHandle)> {
        self.map().iter().map(|(id, h)| (*id, h.clone())).collect()
    }

    /// Removes the model's handle if it still belongs to `run_id` (a newer run keeps its own).
    pub fn forget(&self, model_id: i64, run_id: i64) {
        let mut map = self.map();
        if map.get(&model_id).is_some_and(|h| h.run_id == run_id) {
            map.remove(&model_id);
        }
    }

    /// Refuses new requests to the model's run from now on; returns its run id, or `None`
    /// when nothing runs.
    pub fn drain(&self, model_id: i64) -> Option<i64> {
        let handle = self.get(model_id)?;
        handle.draining.store(true, Ordering::Relaxed);
        Some(handle.run_id)
    }

    /// Asks a live run to stop; returns what to wait on, or `None` when nothing runs.
    pub fn request_stop(&self, model_id: i64) -> Option<watch::Receiver<bool>> {
        let handle = self.get(model_id)?;
        handle.stop.send_replace(true);
        Some(handle.ended)
    }
}

/// Removes a handle registered for a start that then failed, whatever way it failed (an error,
/// or the task being dropped): a handle with no run task behind it would hold a place under
/// `--max-running` for ever.
pub struct HandleGuard {
    handles: RunHandles,
    model_id: i64,
    run_id: i64,
    armed: bool,
}

impl HandleGuard {
    pub fn new(handles: &RunHandles, model_id: i64, run_id: i64) -> HandleGuard {
        HandleGuard {
            handles: handles.clone(),
            model_id,
            run_id,
            armed: true,
        }
    }

    /// The run task owns the handle from now on.
    pub fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for HandleGuard {
    fn drop(&mut self) {
        if self.armed {
            self.handles.forget(self.model_id, self.run_id);
        }
    }
}

/// Resolves once the run has ended (also when its task is gone, which means the same).
pub async fn wait_ended(mut ended: watch::Receiver<bool>) {
    let _ = ended.wait_for(|done| *done).await;
}
