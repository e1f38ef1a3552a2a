//! Corral: a self-hosted dashboard for llama.cpp's `llama-server`.
//!
//! - `domain`: the types both builds share (no I/O).
//! - `api`: server functions, the browser's way to the server.
//! - `app`: the Leptos pages and widgets.
//! - `server`: everything server-only, compiled with the `ssr` feature alone.

// Leptos view types nest deeply; the release WASM build needs more room than the default 128.
#![recursion_limit = "256"]

pub mod api;
pub mod app;
pub mod domain;
#[cfg(feature = "ssr")]
pub mod server;

/// The browser entry point: hydrate the server-rendered page, once the chunk of a lazily loaded
/// page shown is fetched (`app::lazy_pages`).
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // The executor may already be set up; that is not an error.
    let _ = any_spawner::Executor::init_wasm_bindgen();
    app::live_store::open_early();
    leptos::task::spawn_local(async {
        let Some(body) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.body())
        else {
            return;
        };
        leptos::mount::hydrate_from_async(body.clone(), app::App)
            .await
            .forget();
        app::hydration::finished();
        // A marker for people and end-to-end tests: the page is interactive from here on.
        let _ = body.set_attribute("data-hydrated", "true");
    });
}
