//! Sign-in back-off per client: after a few failures, each further one doubles the wait (up to
//! five minutes) before that client is heard again. An attempt counts as a failure from the
//! moment it begins (a success takes it back), so attempts sent at once count too, and a client
//! has at most one attempt being checked at a time. A client is an IPv4 address or an IPv6 /64
//! (one host usually holds a whole /64). Other clients are not slowed. The table is bounded;
//! entries whose wait is over are dropped first.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Failures allowed before any wait.
const FREE_FAILURES: u32 = 5;
const MAX_WAIT: Duration = Duration::from_secs(300);
/// Clients remembered at most.
const MAX_CLIENTS: usize = 10_000;
/// Attempts of one client being checked at once.
const IN_FLIGHT_PER_CLIENT: u32 = 1;

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    until: Instant,
    in_flight: u32,
}

/// Who a sign-in comes from, as the back-off counts them.
type Client = Option<IpAddr>;

#[derive(Default)]
pub struct Backoff {
    clients: Mutex<HashMap<Client, Entry>>,
}

/// Why an attempt may not begin now, and when to try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Too many failures lately.
    Waiting(Duration),
    /// This client has an attempt being checked.
    Busy,
}

impl Refused {
    pub fn retry_after(self) -> Duration {
        match self {
            Refused::Waiting(wait) => wait,
            Refused::Busy => Duration::from_secs(1),
        }
    }
}

/// One sign-in attempt under way, counted as a failure unless `succeeded` is called.
pub struct Attempt<'a> {
    backoff: &'a Backoff,
    client: Client,
}

impl Attempt<'_> {
    /// The password was right: the client's failures are forgotten.
    pub fn succeeded(self) {
        if let Some(entry) = self.backoff.clients().get_mut(&self.client) {
            entry.failures = 0;
            entry.until = Instant::now();
        }
    }
}

impl Attempt<'_> {
    /// The password was never checked (no place to hash it): the attempt is not a failure.
    pub fn not_checked(self) {
        if let Some(entry) = self.backoff.clients().get_mut(&self.client) {
            entry.failures = entry.failures.saturating_sub(1);
        }
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        let mut clients = self.backoff.clients();
        if let Some(entry) = clients.get_mut(&self.client) {
            entry.in_flight = entry.in_flight.saturating_sub(1);
            if entry.in_flight == 0 && entry.failures == 0 {
                clients.remove(&self.client);
            }
        }
    }
}

/// The client a sign-in from `address` counts against: IPv4 as it is (an IPv4-mapped IPv6
/// address as its IPv4 one), IPv6 by its /64.
pub fn client_of(address: Option<IpAddr>) -> Client {
    address.map(|ip| match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    })
}

impl Backoff {
    fn clients(&self) -> MutexGuard<'_, HashMap<Client, Entry>> {
        self.clients.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Begins an attempt from `address`, counting it as a failure until it succeeds; refused
    /// while the client must wait or has an attempt being checked.
    pub fn begin(&self, address: Option<IpAddr>) -> Result<Attempt<'_>, Refused> {
        let client = client_of(address);
        let now = Instant::now();
        let mut clients = self.clients();
        if clients.len() >= MAX_CLIENTS && !clients.contains_key(&client) {
            make_room(&mut clients, now);
        }
        let entry = clients.entry(client).or_insert(Entry {
            failures: 0,
            until: now,
            in_flight: 0,
        });
        if entry.until > now {
            return Err(Refused::Waiting(entry.until - now));
        }
        if entry.in_flight >= IN_FLIGHT_PER_CLIENT {
            return Err(Refused::Busy);
        }
        entry.in_flight += 1;
        entry.failures += 1;
        if entry.failures > FREE_FAILURES {
            let doublings = (entry.failures - FREE_FAILURES - 1).min(16);
            entry.until = now + Duration::from_secs(1u64 << doublings).min(MAX_WAIT);
        }
        Ok(Attempt {
            backoff: self,
            client,
        })
    }
}

/// Drops clients whose wait is over, then (still full) the one whose wait ends first; a client
/// with an attempt being checked stays.
fn make_room(clients: &mut HashMap<Client, Entry>, now: Instant) {
    clients.retain(|_, entry| entry.until > now || entry.in_flight > 0);
    if clients.len() >= MAX_CLIENTS {
        let first = clients
            .iter()
            .filter(|(_, entry)| entry.in_flight == 0)
            .min_by_key(|(_, entry)| entry.until)
            .map(|(client, _)| *client);
        if let Some(first) = first {
            clients.remove(&first);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail(backoff: &Backoff, client: IpAddr) -> Result<(), Refused> {
        backoff.begin(Some(client)).map(drop)
    }

    #[test]
    fn failures_past_the_free_ones_make_only_that_client_wait() {
        let backoff = Backoff::default();
        let (bad, good): (IpAddr, IpAddr) =
            ("10.0.0.9".parse().unwrap(), "10.0.0.2".parse().unwrap());
        for _ in 0..FREE_FAILURES {
            fail(&backoff, bad).unwrap();
        }
        fail(&backoff, bad).expect("the first failures are free");
        assert!(matches!(fail(&backoff, bad), Err(Refused::Waiting(_))));
        assert!(backoff.begin(Some(good)).is_ok());
        {
            let mut clients = backoff.clients();
            let entry = clients.get_mut(&Some(bad)).unwrap();
            entry.failures = 60;
            entry.until = Instant::now();
        }
        let _ = fail(&backoff, bad);
        assert!(
            matches!(fail(&backoff, bad), Err(Refused::Waiting(wait)) if wait <= MAX_WAIT),
            "the wait is capped"
        );
    }

    #[test]
    fn an_attempt_counts_before_it_is_checked_and_one_client_has_one_in_flight() {
        let backoff = Backoff::default();
        let client: IpAddr = "192.0.2.1".parse().unwrap();
        let first = backoff.begin(Some(client)).unwrap();
        assert_eq!(
            backoff.begin(Some(client)).err(),
            Some(Refused::Busy),
            "a second attempt at once waits for the first"
        );
        assert_eq!(backoff.clients()[&Some(client)].failures, 1);
        first.succeeded();
        assert!(
            !backoff.clients().contains_key(&Some(client)),
            "a success forgets the client"
        );
        assert!(backoff.begin(Some(client)).is_ok());
    }

    #[test]
    fn an_ipv6_client_is_its_slash_64_and_a_mapped_ipv4_is_its_ipv4() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:1:2:3".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_of(Some(a)), client_of(Some(b)));
        assert_ne!(client_of(Some(a)), client_of(Some(other)));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client_of(Some(mapped)), Some("192.0.2.7".parse().unwrap()));
        let backoff = Backoff::default();
        let _held = backoff.begin(Some(a)).unwrap();
        assert_eq!(backoff.begin(Some(b)).err(), Some(Refused::Busy));
        assert!(backoff.begin(Some(other)).is_ok());
    }
}
