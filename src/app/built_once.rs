//! Views behind a `Suspend` built once per server render, not twice.
//!
//! Once its resources have loaded, Leptos's `Suspense` walks its children again to find any
//! further resource reads (`dry_resolve`). A `Suspend` whose future is ready on that walk builds
//! its whole view there, which is then dropped and built again for the real render: every row of
//! the models table was built twice per request (counted). Awaiting the data through
//! [`built_once`] leaves the future pending on that walk once the data is there; the render
//! polls it again at once. The browser has no such walk, so there it is ready with the data and
//! hydration stays synchronous.
//!
//! Only for views that read no resource outside their own `Suspense`: the skipped walk is what
//! would have found such a read.

use std::future::IntoFuture;

/// `data` awaited, then, on the server, pending once more (waking itself) before it is handed
/// back.
pub async fn built_once<T>(data: impl IntoFuture<Output = T>) -> T {
    let data = data.await;
    #[cfg(feature = "ssr")]
    tokio::task::yield_now().await;
    data
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;
    use futures::FutureExt;

    #[tokio::test]
    async fn on_the_server_it_is_pending_on_the_first_poll_and_ready_on_the_next() {
        let mut waiting = Box::pin(built_once(async { 7 }));
        assert!((&mut waiting).now_or_never().is_none());
        assert_eq!(waiting.now_or_never(), Some(7));
    }
}
