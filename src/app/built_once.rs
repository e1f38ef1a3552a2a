//! Views behind a `Suspend` built once per server render, not twice.
//!
//! Once its resources have loaded, Leptos's `Suspense` walks its children again to find any
//! further resource reads (`dry_resolve`). A `Suspend` whose future is ready on that walk builds
//! its whole view there, which is then dropped and built again for the real render: every row of
//! the models table was built twice per request (counted). Awaiting [`built_once`] after the
//! data and before building the view leaves the future pending on that walk; the render polls it
//! again at once. The browser has no such walk, so there it is ready at once and hydration stays
//! synchronous.
//!
//! Only for views that read no resource outside their own `Suspense`: the skipped walk is what
//! would have found such a read.

/// Pending once on the server (waking itself), ready at once in the browser.
pub async fn built_once() {
    #[cfg(feature = "ssr")]
    tokio::task::yield_now().await;
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;
    use futures::FutureExt;

    #[tokio::test]
    async fn on_the_server_it_is_pending_on_the_first_poll_and_ready_on_the_next() {
        let mut waiting = Box::pin(built_once());
        assert!((&mut waiting).now_or_never().is_none());
        assert!(waiting.now_or_never().is_some());
    }
}
