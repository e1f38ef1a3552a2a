//! When hydration has finished. Hydration is asynchronous (a page loaded on its own URL waits
//! for its chunk, `app::lazy_pages`), and effects run while it waits: work that changes what
//! the page shows — the live channel's snapshot — must wait for it, or the page the browser
//! builds no longer matches the HTML it is adopting and hydration fails.

use std::cell::{Cell, RefCell};

use futures::channel::oneshot;

thread_local! {
    static FINISHED: Cell<bool> = const { Cell::new(false) };
    static WAITING: RefCell<Vec<oneshot::Sender<()>>> = const { RefCell::new(Vec::new()) };
}

/// Called once, by the entry point, when the page is hydrated.
pub fn finished() {
    FINISHED.set(true);
    for waiter in WAITING.take() {
        let _ = waiter.send(());
    }
}

/// Resolves once the page is hydrated (at once if it is).
pub async fn done() {
    if FINISHED.get() {
        return;
    }
    let (waiter, finished) = oneshot::channel();
    WAITING.with_borrow_mut(|waiting| waiting.push(waiter));
    // The sender is only dropped by `finished`, which sends first.
    let _ = finished.await;
}
