//! Requests the gateway holds for each model: waiting (queued) and in flight. A model with any
//! is never stopped to make room for another, and never unloaded as idle; each model's total is
//! bounded by its `serving.max_requests`. The counts live here, in the supervisor, because the
//! decisions they guard (evict, unload) are the supervisor's.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use std::time::Duration;

use tokio::sync::Notify;

use crate::domain::activity::ModelDemand;
use crate::domain::live::ServerEvent;
use crate::server::live::Hub;
use crate::server::now_ms;
use crate::server::supervisor::admission::places::Places;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub queued: u32,
    pub in_flight: u32,
}

impl Counts {
    fn total(self) -> u32 {
        self.queued + self.in_flight
    }
}

#[derive(Clone, Default)]
pub struct Demand {
    counts: Arc<Mutex<HashMap<i64, Counts>>>,
    /// Told when a model's last request ends: a start waiting for room may now stop it.
    places: Places,
    /// Woken whenever a request ends (a draining stop waits for the in-flight ones).
    released: Arc<Notify>,
}

impl Demand {
    pub fn new(places: Places) -> Demand {
        Demand {
            counts: Arc::default(),
            places,
            released: Arc::default(),
        }
    }

    fn map(&self) -> MutexGuard<'_, HashMap<i64, Counts>> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A queued place for one request, or `None` when the model already holds `limit`.
    pub fn queue(&self, model_id: i64, limit: u32) -> Option<Ticket> {
        let mut map = self.map();
        let counts = map.entry(model_id).or_default();
        if counts.total() >= limit {
            return None;
        }
        counts.queued += 1;
        Some(Ticket {
            demand: self.clone(),
            model_id,
            in_flight: false,
            last_used: None,
        })
    }

    pub fn counts(&self, model_id: i64) -> Counts {
        self.map().get(&model_id).copied().unwrap_or_default()
    }

    /// Every model that holds requests, by id.
    pub fn all(&self) -> Vec<ModelDemand> {
        let mut all: Vec<ModelDemand> = self
            .map()
            .iter()
            .map(|(id, c)| ModelDemand {
                model_id: *id,
                queued: c.queued,
                in_flight: c.in_flight,
            })
            .collect();
        all.sort_by_key(|d| d.model_id);
        all
    }

    /// Waits until the model has no request in flight, or `deadline`; true when it has none.
    pub async fn drained(&self, model_id: i64, deadline: tokio::time::Instant) -> bool {
        loop {
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            if self.counts(model_id).in_flight == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, released).await.is_err() {
                return self.counts(model_id).in_flight == 0;
            }
        }
    }

    /// Models with requests waiting or in flight.
    pub fn busy(&self) -> HashSet<i64> {
        self.map()
            .iter()
            .filter(|(_, c)| c.total() > 0)
            .map(|(id, _)| *id)
            .collect()
    }

    fn release(&self, model_id: i64, in_flight: bool) {
        let drained = {
            let mut map = self.map();
            let Some(counts) = map.get_mut(&model_id) else {
                return;
            };
            if in_flight {
                counts.in_flight = counts.in_flight.saturating_sub(1);
            } else {
                counts.queued = counts.queued.saturating_sub(1);
            }
            let drained = counts.total() == 0;
            if drained {
                map.remove(&model_id);
            }
            drained
        };
        self.released.notify_waiters();
        if drained {
            self.places.freed();
        }
    }
}

/// Tells every tab the requests each model holds, when that changed, at most once per `every`
/// (a change per request would flood the tabs under load).
pub fn spawn_updates(demand: Demand, hub: Hub, every: Duration) {
    tokio::spawn(async move {
        let mut published = Vec::new();
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            let now = demand.all();
            if now != published {
                hub.publish(ServerEvent::Demand(now.clone()));
                published = now;
            }
        }
    });
}

/// One request's hold on a model: queued until `enter`, then in flight until dropped (when the
/// answer has been sent, or the client went away). Dropping it marks the model used now.
pub struct Ticket {
    demand: Demand,
    model_id: i64,
    in_flight: bool,
    last_used: Option<Arc<AtomicI64>>,
}

impl Ticket {
    pub fn model_id(&self) -> i64 {
        self.model_id
    }

    /// The request goes to the model's server now; `last_used` is its run's clock.
    pub fn enter(&mut self, last_used: Arc<AtomicI64>) {
        if !self.in_flight {
            let mut map = self.demand.map();
            let counts = map.entry(self.model_id).or_default();
            counts.queued = counts.queued.saturating_sub(1);
            counts.in_flight += 1;
            self.in_flight = true;
        }
        last_used.store(now_ms(), Ordering::Relaxed);
        self.last_used = Some(last_used);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(last_used) = &self.last_used {
            last_used.store(now_ms(), Ordering::Relaxed);
        }
        self.demand.release(self.model_id, self.in_flight);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_counts_queued_and_in_flight_requests_together() {
        let demand = Demand::default();
        let mut first = demand.queue(1, 2).unwrap();
        first.enter(Arc::new(AtomicI64::new(0)));
        let second = demand.queue(1, 2).unwrap();
        assert!(demand.queue(1, 2).is_none());
        assert_eq!(
            demand.counts(1),
            Counts {
                queued: 1,
                in_flight: 1
            }
        );
        drop(second);
        assert!(demand.queue(1, 2).is_some());
    }

    #[test]
    fn a_model_is_busy_until_its_last_request_ends() {
        let demand = Demand::default();
        let clock = Arc::new(AtomicI64::new(0));
        let mut ticket = demand.queue(7, 1).unwrap();
        assert!(demand.busy().contains(&7));
        ticket.enter(clock.clone());
        drop(ticket);
        assert!(demand.busy().is_empty());
        assert!(clock.load(Ordering::Relaxed) > 0);
    }
}
