//! `--public-url`: the address people type to reach Corral (a LAN name, a reverse proxy's
//! HTTPS name). Its host joins the Host allow-list, the setup link is printed with it, and an
//! `https` one makes the session cookie `Secure`.

use std::fmt;

/// A checked public URL: a scheme, a host, maybe a port, and nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    /// `https://corral.example` or `http://192.168.1.5:3000`, without a trailing slash.
    origin: String,
    /// `host` or `host:port`, as the Host allow-list reads it.
    host: String,
    https: bool,
}

impl PublicUrl {
    pub fn parse(text: &str) -> Result<PublicUrl, String> {
        let bad = |why: &str| {
            format!(
                "'{text}' is not a public URL like https://corral.example or http://gpubox.lan:3000 ({why})"
            )
        };
        let url = url::Url::parse(text.trim()).map_err(|e| bad(&e.to_string()))?;
        let https = match url.scheme() {
            "https" => true,
            "http" => false,
            _ => return Err(bad("the scheme must be http or https")),
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("it must not carry a user or password"));
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(bad(
                "Corral is served at the root: no path, query or fragment",
            ));
        }
        let Some(name) = url.host_str() else {
            return Err(bad("it names no host"));
        };
        let host = match url.port() {
            Some(port) => format!("{name}:{port}"),
            None => name.to_string(),
        };
        Ok(PublicUrl {
            origin: format!("{}://{host}", url.scheme()),
            host,
            https,
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn is_https(&self) -> bool {
        self.https
    }
}

impl fmt::Display for PublicUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_url_is_a_scheme_a_host_and_maybe_a_port() {
        let url = PublicUrl::parse("https://Corral.Example/").unwrap();
        assert_eq!(
            (url.to_string().as_str(), url.host(), url.is_https()),
            ("https://corral.example", "corral.example", true)
        );
        let url = PublicUrl::parse("http://192.168.1.5:3000").unwrap();
        assert_eq!((url.host(), url.is_https()), ("192.168.1.5:3000", false));
        assert_eq!(
            PublicUrl::parse("http://[fd00::5]:8080").unwrap().host(),
            "[fd00::5]:8080"
        );
        for bad in [
            "ftp://x",
            "https://x/corral",
            "https://u:p@x",
            "https://x/?a=1",
            "corral.lan",
            "",
        ] {
            assert!(PublicUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
