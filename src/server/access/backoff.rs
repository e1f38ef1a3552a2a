//! Sign-in back-off per client address: after a few failures, each further one doubles the
//! wait (up to five minutes) before that address is heard again. Other addresses are not
//! slowed. The table is bounded; entries whose wait is over are dropped first.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Failures allowed before any wait.
const FREE_FAILURES: u32 = 5;
const MAX_WAIT: Duration = Duration::from_secs(300);
/// Addresses remembered at most.
const MAX_ADDRESSES: usize = 10_000;

#[derive(Default)]
pub struct Backoff {
    clients: Mutex<HashMap<Option<IpAddr>, (u32, Instant)>>,
}

impl Backoff {
    fn clients(&self) -> MutexGuard<'_, HashMap<Option<IpAddr>, (u32, Instant)>> {
        self.clients.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Err(wait)` while the address must wait.
    pub fn check(&self, client: Option<IpAddr>) -> Result<(), Duration> {
        match self.clients().get(&client) {
            Some((_, until)) if *until > Instant::now() => Err(*until - Instant::now()),
            _ => Ok(()),
        }
    }

    pub fn failed(&self, client: Option<IpAddr>) {
        let now = Instant::now();
        let mut clients = self.clients();
        if clients.len() >= MAX_ADDRESSES && !clients.contains_key(&client) {
            clients.retain(|_, (_, until)| *until > now);
            if clients.len() >= MAX_ADDRESSES {
                let oldest = clients
                    .iter()
                    .min_by_key(|(_, (_, until))| *until)
                    .map(|(k, _)| *k);
                if let Some(oldest) = oldest {
                    clients.remove(&oldest);
                }
            }
        }
        let (failures, until) = clients.entry(client).or_insert((0, now));
        *failures += 1;
        if *failures > FREE_FAILURES {
            let doublings = (*failures - FREE_FAILURES - 1).min(16);
            *until = now + Duration::from_secs(1u64 << doublings).min(MAX_WAIT);
        }
    }

    pub fn succeeded(&self, client: Option<IpAddr>) {
        self.clients().remove(&client);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_past_the_free_ones_make_only_that_address_wait() {
        let backoff = Backoff::default();
        let (bad, good): (IpAddr, IpAddr) =
            ("10.0.0.9".parse().unwrap(), "10.0.0.2".parse().unwrap());
        for _ in 0..FREE_FAILURES {
            backoff.failed(Some(bad));
        }
        assert!(
            backoff.check(Some(bad)).is_ok(),
            "the first failures are free"
        );
        backoff.failed(Some(bad));
        assert!(backoff.check(Some(bad)).is_err());
        assert!(backoff.check(Some(good)).is_ok());
        for _ in 0..40 {
            backoff.failed(Some(bad));
        }
        assert!(backoff.check(Some(bad)).unwrap_err() <= MAX_WAIT);
        backoff.succeeded(Some(bad));
        assert!(backoff.check(Some(bad)).is_ok());
    }
}
