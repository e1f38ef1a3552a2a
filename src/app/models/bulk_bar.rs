//! The bar that appears while rows are selected: start, stop, restart or delete all of them;
//! a start that would stop other models (or more than may run at once) is explained first.

use std::collections::BTreeSet;

use leptos::prelude::*;

use crate::api::runs::bulk_start_plan;
use crate::app::models::state::ModelsPageState;
use crate::app::widgets::run_button::run_command;
use crate::app::widgets::toast::use_toasts;
use crate::domain::bulk_start::BulkStartPlan;
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
                <BulkRunButtons selected=Signal::derive(move || state.selected.get().into_iter().collect()) all/>
                <button class="danger" on:click=delete_selected>"Delete selected"</button>
                <button on:click=move |_| state.selected.set(BTreeSet::new())>"Clear selection"</button>
            </div>
        </Show>
    }
}

/// The bulk bar's run buttons. Start asks the server first what it would do: when the
/// selection would stop other models, or more are chosen than may run at once, it says so and
/// starts nothing until the person chooses.
#[component]
fn BulkRunButtons(selected: Signal<Vec<i64>>, all: Memo<Vec<Model>>) -> impl IntoView {
    let toasts = use_toasts();
    let send = move |command: Request| {
        let ids = selected.get_untracked();
        let name = format!("{} models", ids.len());
        run_command(toasts, command, ids, name);
    };
    let asking = RwSignal::new(None::<BulkStartPlan>);
    let start = move |_| {
        let ids = selected.get_untracked();
        leptos::task::spawn_local(async move {
            match bulk_start_plan(ids.clone()).await {
                Ok(plan) if plan.fits() => {
                    let name = format!("{} models", ids.len());
                    run_command(toasts, Request::Start, ids, name);
                }
                Ok(plan) => asking.set(Some(plan)),
                Err(error) => toasts.error(format!("Could not start them: {error}")),
            }
        });
    };
    // Starts only what the plan starts (stopping what it named), by id.
    let start_planned = move |_| {
        let Some(plan) = asking.get_untracked() else {
            return;
        };
        asking.set(None);
        let ids: Vec<i64> = all.with_untracked(|models| {
            models
                .iter()
                .filter(|m| plan.start.contains(&m.spec.name))
                .map(|m| m.id)
                .collect()
        });
        if !ids.is_empty() {
            let name = format!("{} models", ids.len());
            run_command(toasts, Request::Start, ids, name);
        }
    };
    view! {
        <button on:click=start>"Start selected"</button>
        <button on:click=move |_| send(Request::Stop)>"Stop selected"</button>
        <button on:click=move |_| send(Request::Restart)>"Restart selected"</button>
        {move || asking.get().map(|plan| {
            let label = match plan.start.len() {
                0 => None,
                1 => Some("Start 1".to_string()),
                n => Some(format!("Start {n}")),
            };
            view! {
                <div class="notice-banner bulk-plan" role="alert">
                    <p>{plan_sentence(&plan)}</p>
                    <div class="row-actions">
                        {label.map(|label| view! { <button class="primary small" on:click=start_planned>{label}</button> })}
                        <button class="small" on:click=move |_| asking.set(None)>"Cancel"</button>
                    </div>
                </div>
            }
        })}
    }
}

/// "2 models may run at once. Starting a and b stops c (used least recently); d does not start:
/// more are selected than may run together."
fn plan_sentence(plan: &BulkStartPlan) -> String {
    let names = |list: &[String]| match list {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    };
    let mut text = if plan.max_running == 1 {
        "1 model may run at once.".to_string()
    } else {
        format!("{} models may run at once.", plan.max_running)
    };
    if !plan.would_stop.is_empty() {
        text.push_str(&format!(
            " Starting {} stops {} (used least recently).",
            names(&plan.start),
            names(&plan.would_stop)
        ));
    }
    if !plan.would_not_start.is_empty() {
        text.push_str(&format!(
            " {} would not start: more are selected than may run together.",
            names(&plan.would_not_start)
        ));
    }
    text
}
