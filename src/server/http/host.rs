//! The names Corral answers to. A page on another site can re-point its own name at 127.0.0.1
//! (DNS rebinding): the browser then treats Corral as that site, sends `Host: evil.example`, and
//! lets the page read every answer. Checking `Host` against the names Corral is really reached
//! by closes that door; `Origin` is checked against the same list, never against `Host`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// One allowed `host[:port]`; without a port it matches the bare name and the name with
/// Corral's own port.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    host: String,
    port: Option<u16>,
}

/// The names Corral answers to: loopback names and the bind address with Corral's port, and
/// whatever `--allowed-host` adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHosts {
    port: u16,
    entries: Vec<Entry>,
}

impl AllowedHosts {
    /// The built-in names for a server listening on `bound`, plus `extra` (`name` or
    /// `name:port`, already checked by `parse_allowed_host`).
    pub fn new(bound: SocketAddr, extra: &[String]) -> AllowedHosts {
        let port = bound.port();
        let mut entries: Vec<Entry> = ["localhost", "127.0.0.1", "[::1]"]
            .iter()
            .map(|host| Entry {
                host: host.to_string(),
                port: Some(port),
            })
            .collect();
        // Bound to every address (0.0.0.0, [::]): the machine's own addresses, as they are now.
        let addresses = if bound.ip().is_unspecified() {
            machine_addresses()
        } else {
            vec![bound.ip()]
        };
        entries.extend(addresses.into_iter().map(|ip| Entry {
            host: bracketed(ip),
            port: Some(port),
        }));
        entries.extend(extra.iter().filter_map(|text| split_host_port(text)));
        // Each name once (a wildcard bind lists loopback among the machine's addresses).
        let mut unique: Vec<Entry> = Vec::with_capacity(entries.len());
        for entry in entries {
            if !unique.contains(&entry) {
                unique.push(entry);
            }
        }
        let entries = unique;
        AllowedHosts { port, entries }
    }

    /// True when `authority` (a `Host` header, or the host part of an `Origin`) is one of ours.
    pub fn allows(&self, authority: &str) -> bool {
        let Some(asked) = split_host_port(authority) else {
            return false;
        };
        // A missing port is the scheme's default; only the listed entries may name it bare.
        self.entries.iter().any(|entry| {
            entry.host == asked.host
                && match (entry.port, asked.port) {
                    (Some(want), Some(got)) => want == got,
                    (Some(want), None) => want == 80,
                    (None, Some(got)) => got == self.port,
                    (None, None) => true,
                }
        })
    }

    /// True when an `Origin` header names one of our hosts over http or https.
    pub fn allows_origin(&self, origin: &str) -> bool {
        let rest = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        match rest {
            Some(authority) if !authority.contains('/') => self.allows(authority),
            _ => false,
        }
    }

    /// For the start-up log and error messages.
    pub fn describe(&self) -> String {
        self.entries
            .iter()
            .map(|e| match e.port {
                Some(port) => format!("{}:{port}", e.host),
                None => e.host.clone(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The addresses of this machine's network interfaces (none when they cannot be read).
pub fn machine_addresses() -> Vec<IpAddr> {
    match if_addrs::get_if_addrs() {
        Ok(interfaces) => interfaces.into_iter().map(|i| i.ip()).collect(),
        Err(error) => {
            tracing::warn!(%error, "cannot list this machine's addresses; use --allowed-host");
            Vec::new()
        }
    }
}

fn bracketed(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// `name`, `name:port`, `[v6]` or `[v6]:port`, lower-cased; `None` when it is none of these.
fn split_host_port(text: &str) -> Option<Entry> {
    let text = text.trim().to_ascii_lowercase();
    let (host, port) = if text.starts_with('[') {
        let close = text.find(']')?;
        let (host, rest) = text.split_at(close + 1);
        match rest {
            "" => (host.to_string(), None),
            _ => (host.to_string(), Some(rest.strip_prefix(':')?)),
        }
    } else {
        match text.rsplit_once(':') {
            Some((host, port)) => (host.to_string(), Some(port)),
            None => (text.clone(), None),
        }
    };
    let valid_name = !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '[' | ']' | ':'));
    if !valid_name {
        return None;
    }
    let port = match port {
        None => None,
        Some(digits) => Some(digits.parse::<u16>().ok().filter(|p| *p != 0)?),
    };
    Some(Entry { host, port })
}

/// Checks an `--allowed-host` value: a host name or IP literal, optionally with a port.
pub fn parse_allowed_host(text: &str) -> Result<String, String> {
    match split_host_port(text) {
        Some(entry) if !entry.host.contains(':') || entry.host.starts_with('[') => {
            Ok(text.trim().to_ascii_lowercase())
        }
        _ => Err(format!(
            "'{text}' is not a host name like corral.lan or corral.lan:3000"
        )),
    }
}

/// The outermost layer: a request whose `Host` is not one of ours gets 421 and nothing else.
pub async fn reject_unknown_host(
    State(hosts): State<Arc<AllowedHosts>>,
    request: Request,
    next: Next,
) -> Response {
    if host_of(request.headers(), request.uri()).is_some_and(|host| hosts.allows(host)) {
        return next.run(request).await;
    }
    (
        StatusCode::MISDIRECTED_REQUEST,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "unknown host\n",
    )
        .into_response()
}

fn host_of<'a>(headers: &'a HeaderMap, uri: &'a axum::http::Uri) -> Option<&'a str> {
    match headers.get(header::HOST) {
        Some(value) => value.to_str().ok(),
        None => uri.authority().map(|a| a.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(extra: &[&str]) -> AllowedHosts {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        AllowedHosts::new("127.0.0.1:3000".parse().unwrap(), &extra)
    }

    #[test]
    fn a_wildcard_bind_answers_to_each_of_the_machines_addresses_with_its_port() {
        let hosts = AllowedHosts::new("0.0.0.0:3000".parse().unwrap(), &[]);
        let addresses = machine_addresses();
        assert!(!addresses.is_empty(), "this machine has at least loopback");
        for ip in addresses {
            let ip = bracketed(ip);
            assert!(hosts.allows(&format!("{ip}:3000")), "{ip}");
            assert!(!hosts.allows(&format!("{ip}:3001")), "{ip}");
        }
        assert!(!hosts.allows("0.0.0.0:3000"));
        assert!(!hosts.allows("evil.example:3000"));
        let listed: Vec<String> = hosts.describe().split(", ").map(String::from).collect();
        let mut unique = listed.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(listed.len(), unique.len(), "each name once: {listed:?}");
    }

    #[test]
    fn loopback_names_with_corrals_port_are_allowed() {
        let hosts = hosts(&[]);
        for ok in [
            "localhost:3000",
            "127.0.0.1:3000",
            "[::1]:3000",
            "LOCALHOST:3000",
        ] {
            assert!(hosts.allows(ok), "{ok}");
        }
    }

    #[test]
    fn a_rebound_name_another_port_or_garbage_is_refused() {
        let hosts = hosts(&[]);
        for bad in [
            "evil.example:3000",
            "evil.example",
            "localhost:3001",
            "localhost",
            "127.0.0.1",
            "127.0.0.1.evil.example:3000",
            "",
            ":3000",
            "localhost:0",
            "localhost:99999",
            "local host:3000",
            "[::1",
        ] {
            assert!(!hosts.allows(bad), "{bad}");
        }
    }

    #[test]
    fn an_allowed_host_without_a_port_matches_bare_and_with_corrals_port() {
        let hosts = hosts(&["corral.lan", "proxy.lan:8443"]);
        assert!(hosts.allows("corral.lan"));
        assert!(hosts.allows("corral.lan:3000"));
        assert!(!hosts.allows("corral.lan:3001"));
        assert!(hosts.allows("proxy.lan:8443"));
        assert!(!hosts.allows("proxy.lan"));
    }

    #[test]
    fn origins_are_checked_against_the_same_list() {
        let hosts = hosts(&[]);
        assert!(hosts.allows_origin("http://127.0.0.1:3000"));
        assert!(hosts.allows_origin("http://localhost:3000"));
        assert!(hosts.allows_origin("https://localhost:3000"));
        for bad in [
            "http://evil.example:3000",
            "null",
            "file://",
            "http://localhost:3000/x",
            "ftp://localhost:3000",
            "http://localhost:3001",
        ] {
            assert!(!hosts.allows_origin(bad), "{bad}");
        }
    }

    #[test]
    fn allowed_host_values_are_checked() {
        assert!(parse_allowed_host("corral.lan").is_ok());
        assert!(parse_allowed_host("corral.lan:3000").is_ok());
        assert!(parse_allowed_host("[fd00::1]:3000").is_ok());
        for bad in [
            "",
            "a b",
            "x:y",
            "http://corral.lan",
            "corral.lan:0",
            "fd00::1",
        ] {
            assert!(parse_allowed_host(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_bind_address_is_allowed_too() {
        let hosts = AllowedHosts::new("127.0.0.2:4000".parse().unwrap(), &[]);
        assert!(hosts.allows("127.0.0.2:4000"));
        assert!(!hosts.allows("127.0.0.2:3000"));
    }
}
