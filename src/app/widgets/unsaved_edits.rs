//! Unsaved edits are not lost silently: while any form on the page (registered here) holds
//! typed changes, leaving (a link, reload, closing the tab) asks first. A link click is heard
//! before the router's (capture phase) and stopped if the person chooses to stay.

use leptos::prelude::*;

use crate::app::widgets::field_form::FormState;

/// The forms of one page whose edits are watched.
#[derive(Clone, Copy)]
pub struct UnsavedEdits {
    forms: StoredValue<Vec<FormState>>,
}

impl UnsavedEdits {
    /// Watches the page's forms from now until the page is left; installs the listeners.
    pub fn provide() -> UnsavedEdits {
        let edits = UnsavedEdits {
            forms: StoredValue::new(Vec::new()),
        };
        provide_context(edits);
        #[cfg(feature = "hydrate")]
        listen(edits);
        edits
    }

    /// A form of this page to watch (a no-op on a page without a guard).
    pub fn watch(form: &FormState) {
        if let Some(edits) = use_context::<UnsavedEdits>() {
            edits.forms.update_value(|forms| forms.push(form.clone()));
        }
    }

    pub fn any(self) -> bool {
        self.forms
            .with_value(|forms| forms.iter().any(FormState::is_dirty))
    }
}

#[cfg(feature = "hydrate")]
thread_local! {
    /// The page whose edits are watched now (with a number: a page left late must not forget
    /// the next page's guard), and whether the listeners are in place.
    static CURRENT: std::cell::Cell<Option<(u64, UnsavedEdits)>> = const { std::cell::Cell::new(None) };
    static NEXT: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    static LISTENING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the page now has unsaved edits (false once it is gone).
#[cfg(feature = "hydrate")]
fn unsaved_now() -> bool {
    CURRENT.with(|c| c.get()).is_some_and(|(_, edits)| {
        edits
            .forms
            .try_with_value(|forms| untrack(|| forms.iter().any(FormState::is_dirty)))
            .unwrap_or(false)
    })
}

#[cfg(feature = "hydrate")]
fn listen(edits: UnsavedEdits) {
    let number = NEXT.with(|n| {
        let next = n.get() + 1;
        n.set(next);
        next
    });
    CURRENT.with(|c| c.set(Some((number, edits))));
    on_cleanup(move || {
        CURRENT.with(|c| {
            if c.get().is_some_and(|(n, _)| n == number) {
                c.set(None);
            }
        });
    });
}

/// Once per tab, from the app's root before its router exists: the listeners ask the page of
/// the moment, if any. The click listener is on the window like the router's own, registered
/// first, so it runs first and a `preventDefault` keeps the router from following the link.
/// (Made in the root, not in a page: a callback closure made in a split-off chunk breaks the
/// release bundle's bindings.)
pub fn install() {
    #[cfg(feature = "hydrate")]
    {
        if LISTENING.with(|l| l.replace(true)) {
            return;
        }
        let leaving = window_event_listener(leptos::ev::beforeunload, |ev| {
            if unsaved_now() {
                ev.prevent_default();
            }
        });
        let clicking = window_event_listener(leptos::ev::click, |ev| {
            use wasm_bindgen::JsCast;
            let link = ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
                .and_then(|t| t.closest("a[href]").ok().flatten());
            let Some(link) = link else { return };
            let href = link.get_attribute("href").unwrap_or_default();
            // A link within the page (a section) leaves nothing.
            if href.starts_with('#') || !unsaved_now() {
                return;
            }
            let leave = web_sys::window()
                .and_then(|w| {
                    w.confirm_with_message(
                        "You have unsaved changes on this page. Leave without saving them?",
                    )
                    .ok()
                })
                .unwrap_or(true);
            if !leave {
                ev.prevent_default();
            }
        });
        // They live as long as the tab.
        std::mem::forget((leaving, clicking));
    }
}
