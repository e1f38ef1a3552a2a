//! Choosing a port for a new run: the first in the configured range that no run of ours holds
//! and that binds on 127.0.0.1 right now.

use std::collections::HashSet;
use std::net::TcpListener;
use std::ops::RangeInclusive;

pub fn pick_free(range: RangeInclusive<u16>, ours: &HashSet<u16>) -> Option<u16> {
    range
        .filter(|port| !ours.contains(port))
        .find(|port| TcpListener::bind(("127.0.0.1", *port)).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_port_and_our_own_ports_are_skipped() {
        let held = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let taken = held.local_addr().unwrap().port();
        assert_eq!(pick_free(taken..=taken, &HashSet::new()), None);
        let free = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = free.local_addr().unwrap().port();
        drop(free);
        assert_eq!(pick_free(port..=port, &HashSet::new()), Some(port));
        assert_eq!(pick_free(port..=port, &HashSet::from([port])), None);
    }
}
