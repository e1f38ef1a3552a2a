//! Starting and stopping, wherever a model is shown: its primary button, the run facts under a
//! status (load progress, port, uptime, tokens/s, memory), and the one place that calls the
//! server functions and reports failures.

use leptos::prelude::*;

use crate::api::models::bulk_delete_models;
use crate::api::runs::{
    bulk_restart_models, bulk_start_models, bulk_stop_models, force_stop_model, restart_model,
    start_model, stop_model,
};
use crate::app::live_store::LiveStore;
use crate::app::widgets::toast::{Toasts, use_toasts};
use crate::domain::command_diff::CommandChange;
use crate::domain::run::LiveRun;
use crate::domain::time::{format_bytes, format_duration};
use crate::domain::{AppError, Model, ModelStatus, Request, Rule};

/// Sends the request; failures become a toast. Statuses arrive on the live channel.
pub fn run_command(toasts: Toasts, command: Request, ids: Vec<i64>, name: String) {
    leptos::task::spawn_local(async move {
        let result = match (command, ids.as_slice()) {
            (Request::Start, [id]) => start_model(*id).await.map(|m| vec![m]),
            (Request::Stop, [id]) => stop_model(*id).await.map(|m| vec![m]),
            (Request::ForceStop, [id]) => force_stop_model(*id).await.map(|m| vec![m]),
            (Request::ForceStop, _) => Err(AppError::invalid(
                "ids",
                Rule::Range,
                "a force stop is for one model",
            )),
            (Request::Restart, [id]) => restart_model(*id).await.map(|m| vec![m]),
            (Request::Start, _) => bulk_start_models(ids.clone()).await,
            (Request::Stop, _) => bulk_stop_models(ids.clone()).await,
            (Request::Restart, _) => bulk_restart_models(ids.clone()).await,
            (Request::Delete, _) => bulk_delete_models(ids.clone()).await.map(|_| Vec::new()),
        };
        match result {
            Ok(models) => {
                for model in models.iter().filter(|m| m.status == ModelStatus::Error) {
                    toasts.error(format!(
                        "{} could not start: {}",
                        model.spec.name,
                        model.status_reason.clone().unwrap_or_default()
                    ));
                }
            }
            Err(error) => toasts.error(format!(
                "Could not {} {name}: {error}",
                command.label().to_lowercase()
            )),
        }
    });
}

/// Start for a stopped model, Stop for a live one. A table passes the page's `toasts` rather
/// than have each row look them up.
#[component]
pub fn RunButton(model: Model, #[prop(optional)] toasts: Option<Toasts>) -> impl IntoView {
    let (id, name, status) = (model.id, model.spec.name.clone(), model.status);
    let command = if status.permits(Request::Stop) {
        Request::Stop
    } else {
        Request::Start
    };
    let busy = status == ModelStatus::Stopping;
    let class = if command == Request::Start {
        "run-button primary small"
    } else {
        "run-button small"
    };
    let label = format!("{} {name}", command.label());
    let toasts = toasts.unwrap_or_else(use_toasts);
    view! {
        <button class=class aria-label=label disabled=busy
            on:click=move |_| run_command(toasts, command, vec![id], name.clone())>
            {command.label()}
        </button>
    }
}

/// "Restart to apply", while the saved settings would start a different command than the
/// running one: what a restart changes (in a table row the first change, all of them in the
/// title; on the model page each one) and the button that restarts.
#[component]
pub fn RestartToApply(
    live: LiveStore,
    model_id: i64,
    name: String,
    /// Every change listed, not only the first.
    #[prop(optional)]
    full: bool,
    #[prop(optional)] toasts: Option<Toasts>,
) -> impl IntoView {
    let toasts = toasts.unwrap_or_else(use_toasts);
    move || {
        live.pending_restart(model_id).map(|changes| {
            let described: Vec<String> = changes.iter().map(CommandChange::describe).collect();
            let title = described.join("\n");
            let name = name.clone();
            let label = format!("Restart {name} to apply its saved settings");
            let shown = if full {
                view! {
                    <ul class="command-changes" aria-label="What a restart changes">
                        {described.into_iter().map(|d| view! { <li><code>{d}</code></li> }).collect_view()}
                    </ul>
                }
                .into_any()
            } else {
                let more = described.len().saturating_sub(1);
                let first = described.into_iter().next().unwrap_or_default();
                let text = if more > 0 { format!("{first} (+{more} more)") } else { first };
                view! { <span class="changes-summary" title=title.clone()>{text}</span> }.into_any()
            };
            view! {
                <div class="restart-to-apply">
                    <button class="small primary" title=title aria-label=label
                        on:click=move |_| run_command(toasts, Request::Restart, vec![model_id], name.clone())>
                        "Restart to apply"
                    </button>
                    {shown}
                </div>
            }
        })
    }
}

/// Gateway requests the model holds now, when it holds any: "2 in flight · 1 queued".
#[component]
pub fn RequestCounts(live: LiveStore, model_id: i64) -> impl IntoView {
    move || {
        live.demand(model_id).map(|d| {
            let mut parts = Vec::new();
            if d.in_flight > 0 {
                parts.push(format!("{} in flight", d.in_flight));
            }
            if d.queued > 0 {
                parts.push(format!("{} queued", d.queued));
            }
            view! { <div class="request-counts" aria-label="Gateway requests">{parts.join(" · ")}</div> }
        })
    }
}

/// The live facts of a model's process, under its status.
#[component]
pub fn RunFacts(live: LiveStore, model_id: i64) -> impl IntoView {
    move || {
        live.run(model_id).map(|run| match run.ready_at {
            None => loading(&run).into_any(),
            Some(_) => running(&run).into_any(),
        })
    }
}

fn loading(run: &LiveRun) -> impl IntoView + use<> {
    view! { <LoadProgress run=run.clone()/> }
}

/// Whole seconds, for load times.
fn seconds(ms: i64) -> String {
    format_duration((ms.max(0) / 1000) as u64)
}

/// A load in progress: the stage the log last reported and the time it has taken, against this
/// model's recent loads when it has any (a determinate bar), else an indeterminate one.
/// llama-server reports no percentage, so none is made up.
#[component]
fn LoadProgress(run: LiveRun) -> impl IntoView {
    let now = RwSignal::new(crate::domain::time::now_ms());
    #[cfg(feature = "hydrate")]
    if let Ok(handle) = set_interval_with_handle(
        move || now.set(crate::domain::time::now_ms()),
        std::time::Duration::from_millis(500),
    ) {
        on_cleanup(move || handle.clear());
    }
    let stage = run
        .stage
        .clone()
        .unwrap_or_else(|| "starting llama-server".into());
    let title = stage.clone();
    let started = run.started_at;
    let elapsed = move || (now.get() - started).max(0);
    let bar = match run.typical_load_ms.filter(|ms| *ms > 0) {
        Some(typical) => view! {
            <progress aria-label="Loading the model" max=typical.to_string()
                value=move || elapsed().min(typical).to_string()></progress>
            <span class="load-time">{move || {
                let elapsed = elapsed();
                if elapsed <= typical {
                    format!("{} of about {} (its recent loads)", seconds(elapsed), seconds(typical))
                } else {
                    format!("{}, longer than its usual {}", seconds(elapsed), seconds(typical))
                }
            }}</span>
        }
        .into_any(),
        None => view! {
            <progress aria-label="Loading the model"></progress>
            <span class="load-time">{move || format!("{} (first load: nothing to compare)", seconds(elapsed()))}</span>
        }
        .into_any(),
    };
    view! {
        <div class="run-facts loading">
            {bar}
            <span class="stage" title=title>{stage}</span>
        </div>
    }
}

fn running(run: &LiveRun) -> impl IntoView + use<> {
    let mut facts = Vec::new();
    // Asleep first: the next request waits for the wake.
    if run.asleep {
        facts.push(match run.wake_ms {
            Some(ms) => format!("asleep (its last wake took {:.1} s)", ms as f64 / 1000.0),
            None => "asleep (wakes on the next request)".to_string(),
        });
    }
    facts.push(format!("port {}", run.port));
    if let (Some(ready), Some(sample)) = (run.ready_at, &run.sample) {
        facts.push(format!(
            "up {}",
            format_duration((sample.at - ready).max(0) as u64 / 1000)
        ));
    }
    if let Some(sample) = &run.sample {
        if let Some(rate) = sample.generation_tokens_per_s.filter(|r| *r > 0.0) {
            facts.push(format!("{rate:.1} tok/s"));
        }
        if let (Some(busy), Some(total)) = (sample.slots_busy, sample.slots_total) {
            facts.push(format!("{busy}/{total} slots busy"));
        }
        if let Some(rss) = sample.rss_bytes {
            facts.push(format!("{} RAM", format_bytes(rss)));
        }
    }
    if let Some(restore) = &run.kv_restore {
        facts.push(restore.short());
    }
    let facts = facts.join(" · ");
    let title = facts.clone();
    view! { <div class="run-facts running" title=title>{facts}</div> }
}
