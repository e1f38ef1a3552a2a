//! Where a sign-in leads, and whether this Corral asks for one.

/// Whether this Corral asks for a login (and so for keys); `None` when it could not be asked.
pub async fn login_required() -> Option<bool> {
    crate::api::auth::who_is_here()
        .await
        .ok()
        .map(|state| state.login_required)
}

/// A full navigation: the new cookie goes with every request from here on.
pub fn go_to(path: &str) {
    if let Some(window) = web_sys::window() {
        let _ = window.location().set_href(path);
    }
}

/// Where to go after signing in: one of Corral's pages only. Pages are plain paths, so anything
/// else is refused rather than interpreted: a browser drops tabs and newlines and reads `\\` as
/// `/`, so `/\t/evil.example` would leave the site; no `//`, no escapes, no spaces. And a page,
/// not an endpoint: the signed-in browser's own navigation to `/upstream/<model>/…` would start
/// a model that another site's link asked for.
pub fn safe_next(next: Option<String>) -> String {
    next.filter(|n| is_plain_local_path(n) && is_page(n))
        .unwrap_or_else(|| "/".into())
}

/// One of the app's pages (`app::App`'s routes), whatever query follows.
fn is_page(path: &str) -> bool {
    let path = path.split('?').next().unwrap_or_default();
    matches!(
        path,
        "/" | "/playground" | "/activity" | "/monitoring" | "/keys" | "/settings"
    ) || path
        .strip_prefix("/models/")
        .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
}

fn is_plain_local_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && path.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'/' | b'-' | b'_' | b'.' | b'~' | b'?' | b'=' | b'&')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_a_sign_in() {
        assert_eq!(safe_next(Some("/models/3".into())), "/models/3");
        assert_eq!(safe_next(Some("//evil.example".into())), "/");
        assert_eq!(safe_next(Some("https://evil.example".into())), "/");
        assert_eq!(safe_next(Some("/\\evil".into())), "/");
        assert_eq!(safe_next(None), "/");
        for hostile in [
            "/\t/evil.example/",
            "/\n/evil.example",
            "/\r/evil.example",
            " //evil.example",
            "/%09/evil.example",
            "/%2f/evil.example",
            "/%5c/evil.example",
            "/\u{3000}/evil.example",
            "javascript:alert(1)",
        ] {
            assert_eq!(safe_next(Some(hostile.into())), "/", "{hostile:?}");
        }
        assert_eq!(safe_next(Some("/settings".into())), "/settings");
        assert_eq!(
            safe_next(Some("/models/12?tab=logs".into())),
            "/models/12?tab=logs"
        );
        for endpoint in [
            "/upstream/tiny/health",
            "/api/backup",
            "/v1/models",
            "/models/sse",
            "/models/load",
            "/metrics",
        ] {
            assert_eq!(safe_next(Some(endpoint.into())), "/", "{endpoint}");
        }
    }
}
