//! Toasts: short messages in a corner, errors until dismissed, successes for a few seconds.

use leptos::prelude::*;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ToastKind {
    Success,
    Error,
}

#[derive(Clone, PartialEq)]
pub struct Toast {
    pub id: u64,
    pub kind: ToastKind,
    pub text: String,
}

/// The page's toasts, provided once by the app.
#[derive(Clone, Copy)]
pub struct Toasts {
    items: RwSignal<Vec<Toast>>,
    next_id: StoredValue<u64>,
}

const MAX_TOASTS: usize = 5;

impl Toasts {
    pub fn provide() -> Toasts {
        let toasts = Toasts {
            items: RwSignal::new(Vec::new()),
            next_id: StoredValue::new(0),
        };
        provide_context(toasts);
        toasts
    }

    pub fn success(self, text: impl Into<String>) {
        let id = self.push(ToastKind::Success, text.into());
        set_timeout(move || self.dismiss(id), std::time::Duration::from_secs(5));
    }

    pub fn error(self, text: impl Into<String>) {
        self.push(ToastKind::Error, text.into());
    }

    pub fn dismiss(self, id: u64) {
        self.items.update(|items| items.retain(|t| t.id != id));
    }

    fn push(self, kind: ToastKind, text: String) -> u64 {
        let id = self.next_id.get_value();
        self.next_id.set_value(id + 1);
        self.items.update(|items| {
            items.push(Toast { id, kind, text });
            let overflow = items.len().saturating_sub(MAX_TOASTS);
            items.drain(..overflow);
        });
        id
    }
}

pub fn use_toasts() -> Toasts {
    expect_context::<Toasts>()
}

#[component]
pub fn ToastRegion() -> impl IntoView {
    let toasts = use_toasts();
    view! {
        <div class="toasts" role="status" aria-live="polite">
            <For each=move || toasts.items.get() key=|t| t.id let:toast>
                <div class=move || match toast.kind {
                    ToastKind::Success => "toast success",
                    ToastKind::Error => "toast error",
                }>
                    <span>{toast.text.clone()}</span>
                    <button class="icon-button" aria-label="Dismiss" on:click=move |_| toasts.dismiss(toast.id)>
                        "×"
                    </button>
                </div>
            </For>
        </div>
    }
}
