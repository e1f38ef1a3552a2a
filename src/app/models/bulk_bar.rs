//! The bar that appears while rows are selected: start, stop, restart or delete all of them.

use std::collections::BTreeSet;

use leptos::prelude::*;

use crate::app::models::state::ModelsPageState;
use crate::app::widgets::run_button::run_command;
use crate::app::widgets::toast::use_toasts;
use crate::domain::{Model, Request};

/// Appears while rows are selected: what to do with all of them.
#[component]
pub fn BulkBar(state: ModelsPageState, all: Memo<Vec<Model>>) -> impl IntoView {
    let count = move || state.selected.with(BTreeSet::len);
    let delete_selected = move |_| {
        let selected = state.selected.get();
        let chosen = all.with_untracked(|m| {
            m.iter()
                .filter(|m| selected.contains(&m.id))
                .cloned()
                .collect()
        });
        state.deleting.set(chosen);
    };
    view! {
        <Show when=move || { count() > 0 }>
            <div class="bulk-bar" role="region" aria-label="Selected models">
                <span>{move || format!("{} selected", count())}</span>
                <BulkRunButtons selected=Signal::derive(move || state.selected.get().into_iter().collect())/>
                <button class="danger" on:click=delete_selected>"Delete selected"</button>
                <button on:click=move |_| state.selected.set(BTreeSet::new())>"Clear selection"</button>
            </div>
        </Show>
    }
}

/// The bulk bar's run buttons.
#[component]
fn BulkRunButtons(selected: Signal<Vec<i64>>) -> impl IntoView {
    let toasts = use_toasts();
    let send = move |command: Request| {
        let ids = selected.get_untracked();
        let name = format!("{} models", ids.len());
        run_command(toasts, command, ids, name);
    };
    view! {
        <button on:click=move |_| send(Request::Start)>"Start selected"</button>
        <button on:click=move |_| send(Request::Stop)>"Stop selected"</button>
        <button on:click=move |_| send(Request::Restart)>"Restart selected"</button>
    }
}
