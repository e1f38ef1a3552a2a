//! The path a request names, as the app will serve it. Guards decide on this normal form, never
//! on a raw prefix: `/pkg/../models/1` names `/models/1` (the app's router resolves the dots
//! when it renders), so a rule that opens `/pkg/` without a session must not see `/pkg/` there.
//! A path written in a roundabout way (dot segments, `//`, a trailing `/`, backslashes, encoded
//! separators or dots, `;` parameters, control characters, broken escapes) is not *plain*:
//! browsers never send one, and no route needs one.

/// A request's path: its normal form, and whether it was written plainly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestPath {
    /// Decoded, with `.` and `..` resolved and empty segments dropped; always starts with `/`.
    pub normal: String,
    /// The raw path needed no resolving: the router sees what the guard decided on.
    pub plain: bool,
}

impl RequestPath {
    pub fn of(raw: &str) -> RequestPath {
        let lower = raw.to_ascii_lowercase();
        let mut plain = raw.starts_with('/')
            && !raw.contains(['\\', ';'])
            && !["%2f", "%5c", "%3b"].iter().any(|s| lower.contains(s));
        let decoded = percent_decode(raw).unwrap_or_else(|| {
            plain = false;
            String::from_utf8_lossy(raw.as_bytes()).into_owned()
        });
        if decoded.chars().any(char::is_control) {
            plain = false;
        }
        let mut segments: Vec<&str> = Vec::new();
        let body = decoded.strip_prefix('/').unwrap_or(&decoded);
        if body.is_empty() {
            return RequestPath {
                normal: "/".into(),
                plain,
            };
        }
        for segment in body.split(['/', '\\']) {
            match segment {
                "" | "." => plain = false,
                ".." => {
                    plain = false;
                    segments.pop();
                }
                _ => segments.push(segment),
            }
        }
        RequestPath {
            normal: format!("/{}", segments.join("/")),
            plain,
        }
    }
}

/// `%XX` escapes decoded; `None` when an escape is broken or the bytes are not UTF-8.
pub fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let high = hex_digit(*bytes.get(i + 1)?)?;
            let low = hex_digit(*bytes.get(i + 2)?)?;
            out.push(high << 4 | low);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn hex_digit(byte: u8) -> Option<u8> {
    char::from(byte)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_path_is_its_own_normal_form() {
        for path in ["/", "/models/1", "/pkg/corral.js", "/v1/chat/completions"] {
            assert_eq!(
                RequestPath::of(path),
                RequestPath {
                    normal: path.into(),
                    plain: true
                }
            );
        }
        let spaced = RequestPath::of("/upstream/my%20model/health");
        assert_eq!(spaced.normal, "/upstream/my model/health");
        assert!(spaced.plain, "an escaped space is not a roundabout path");
    }

    #[test]
    fn every_roundabout_spelling_names_the_page_it_reaches_and_is_not_plain() {
        for (raw, normal) in [
            ("/pkg/../models/2", "/models/2"),
            ("/pkg/x/../../settings", "/settings"),
            ("/pkg/./../settings", "/settings"),
            ("/pkg/%2e%2e/models/2", "/models/2"),
            ("/pkg/%2E%2E/keys", "/keys"),
            ("/pkg%2f..%2fmodels/2", "/models/2"),
            ("/pkg\\..\\models/2", "/models/2"),
            ("/pkg/%5c..%5cmodels", "/models"),
            ("//api/backup", "/api/backup"),
            ("/api//backup", "/api/backup"),
            ("/api/backup/", "/api/backup"),
            ("/models;x", "/models;x"),
            ("/pkg/..", "/"),
            ("/../../..", "/"),
            ("/login/%00", "/login/\0"),
            ("/a%zz", "/a%zz"),
            ("/a%", "/a%"),
            ("/%ff", "/%ff"),
        ] {
            let seen = RequestPath::of(raw);
            assert_eq!(seen.normal, normal, "{raw}");
            assert!(!seen.plain, "{raw} is not plain");
        }
    }

    #[test]
    fn escapes_decode_to_bytes_and_broken_ones_are_refused() {
        assert_eq!(percent_decode("%6Fther").as_deref(), Some("other"));
        assert_eq!(percent_decode("a%2Fb").as_deref(), Some("a/b"));
        assert_eq!(percent_decode("%+1"), None, "a sign is not a hex digit");
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%c3%a9").as_deref(), Some("é"));
        assert_eq!(percent_decode("%ff"), None);
    }
}
