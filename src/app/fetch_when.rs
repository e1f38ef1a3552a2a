//! A resource that fetches only when it is wanted (the live snapshot is not there yet, the
//! person has not asked for more): `None` otherwise, without a request.

use std::future::Future;

/// `fetch`'s answer when `wanted`, else `None` (the future is dropped unpolled: no request).
pub async fn fetch_when<T>(wanted: bool, fetch: impl Future<Output = T>) -> Option<T> {
    if wanted { Some(fetch.await) } else { None }
}
