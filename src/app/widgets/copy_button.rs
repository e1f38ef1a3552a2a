//! A small "Copy" button for a text a person will paste elsewhere (a key, an example).

use leptos::prelude::*;

/// Copies a text to the clipboard; says "Copied" once it has.
#[component]
pub fn CopyButton(text: Signal<String>, what: &'static str) -> impl IntoView {
    let copied = RwSignal::new(false);
    let copy = move |_| {
        #[cfg(feature = "hydrate")]
        if let Some(window) = web_sys::window() {
            let _ = window
                .navigator()
                .clipboard()
                .write_text(&text.get_untracked());
            copied.set(true);
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = text;
    };
    view! {
        <button class="small copy" aria-label=format!("Copy the {what}") on:click=copy>
            {move || if copied.get() { "Copied" } else { "Copy" }}
        </button>
    }
}
