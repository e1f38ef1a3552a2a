//! "Virtual models" on the models page: each name with its strategy, its targets in order (the
//! one a request would use now marked, a target that names no model flagged), and a dialog to
//! make or change one. What each would use is the server's pick (`/api/virtual/list`), read
//! again whenever the virtual models or a model's status change on the live channel.

use leptos::prelude::*;
use serde_json::{Map, Value};

use crate::api::virtual_models::{
    create_virtual_model, delete_virtual_model, list_virtual_models, update_virtual_model,
};
use crate::app::fetch_when::fetch_when;
use crate::app::models::page::latched;
use crate::app::models::state::ModelsPageState;
use crate::app::widgets::named_dialog::{Editing, NamedDialog, Wording};
use crate::app::widgets::toast::use_toasts;
use crate::domain::AppError;
use crate::domain::fields::FieldSet;
use crate::domain::virtual_model::{Strategy, VirtualModel, VirtualView};

/// What the virtual models' list is read again for.
type Basis = (Vec<VirtualModel>, Vec<(String, crate::domain::ModelStatus)>);

#[component]
pub fn VirtualSection(state: ModelsPageState) -> impl IntoView {
    let live = state.live;
    // What the list depends on: the virtual models and every model's name and status (not the
    // metrics and demand that arrive every second). Kept while the channel reconnects, so a
    // restarting server is not asked for it.
    let basis = Memo::new_owning(move |previous: Option<Option<Basis>>| {
        let now = live.state.with(|s| {
            s.as_ref().map(|s| {
                let models: Vec<(String, crate::domain::ModelStatus)> = s
                    .models
                    .iter()
                    .map(|m| (m.spec.name.clone(), m.status))
                    .collect();
                (s.virtual_models.clone(), models)
            })
        });
        match (now, previous.flatten()) {
            (None, Some(before)) => (Some(before), false),
            (now, before) => {
                let changed = now != before;
                (now, changed)
            }
        }
    });
    // A memo: the channel failing once the list is here fetches nothing more.
    let wanted = Memo::new(move |_| basis.with(Option::is_some) || live.has_failed());
    let listing = LocalResource::new(move || {
        basis.track();
        fetch_when(wanted.get(), list_virtual_models())
    });
    let views = move || -> Vec<VirtualView> {
        match listing.get().flatten() {
            Some(Ok(views)) => views,
            _ => Vec::new(),
        }
    };
    let error = move || match listing.get().flatten() {
        Some(Err(error)) => Some(format!("Could not read the virtual models: {error}")),
        _ => None,
    };
    let editing = RwSignal::new(None::<Editing>);
    let has_models = move || {
        live.state
            .with(|s| s.as_ref().is_some_and(|s| !s.models.is_empty()))
    };
    let remove = Action::new(move |name: &String| {
        let name = name.clone();
        async move {
            match delete_virtual_model(name.clone()).await {
                Ok(()) => {
                    state
                        .toasts
                        .success(format!("Deleted virtual model {name}"));
                    listing.refetch();
                }
                Err(e) => state.toasts.error(format!("Could not delete {name}: {e}")),
            }
        }
    });
    view! {
        <Show when=move || has_models() || !views().is_empty()>
            <section class="card virtual-models" aria-labelledby="virtual-title">
                <div class="card-head">
                    <h2 id="virtual-title">"Virtual models"</h2>
                    <button class="small" on:click=move |_| editing.set(Some(Editing::New))>"New virtual model"</button>
                </div>
                {move || error().map(|e| view! { <p class="error-banner" role="alert">{e}</p> })}
                <Show when=move || views().is_empty()>
                    <p class="muted">
                        "One name clients ask for, served by whichever of several models a strategy picks: "
                        "the one already running, the least busy, or the next when one fails."
                    </p>
                </Show>
                <ul class="virtual-list">
                    <For each=views key=|v| (v.model.clone(), v.would_use.clone(), v.missing.clone()) let:view>
                        <VirtualRow view editing remove/>
                    </For>
                </ul>
            </section>
        </Show>
        // Drawn when first opened, then kept: closing must not dispose a dialog whose save is
        // still finishing.
        <Show when=latched(move || editing.with(Option::is_some))>
            <VirtualDialog editing listing/>
        </Show>
    }
}

#[component]
fn VirtualRow(
    view: VirtualView,
    editing: RwSignal<Option<Editing>>,
    remove: Action<String, ()>,
) -> impl IntoView {
    let name = view.model.name.clone();
    let strategy = view.model.strategy;
    let rule = match strategy {
        Strategy::Spillover => format!("{} ({} each)", strategy.as_str(), view.model.per_target()),
        _ => strategy.as_str().to_string(),
    };
    let targets = view
        .model
        .targets
        .iter()
        .map(|target| {
            let used = view
                .would_use
                .as_deref()
                .is_some_and(|u| u.eq_ignore_ascii_case(target));
            let missing = view.missing.contains(target);
            let title = if missing {
                "no model has this name now"
            } else if used {
                "a request would go here now"
            } else {
                ""
            };
            view! {
                <li class="chip" class:chip-used=used class:chip-missing=missing title=title>
                    {target.clone()}
                    {missing.then_some(view! { <span class="sr-only">" (missing)"</span> })}
                </li>
            }
        })
        .collect_view();
    let uses = match &view.would_use {
        Some(model) => format!("Now: {model}"),
        None => "No target names a model".to_string(),
    };
    let (edit_name, delete_name) = (name.clone(), name.clone());
    view! {
        <li class="virtual-row">
            <div class="virtual-head">
                <strong class="virtual-name">{name.clone()}</strong>
                <span class="badge" title=strategy.describe()>{rule}</span>
                <span class="muted virtual-uses" class:virtual-none=view.would_use.is_none()>{uses}</span>
            </div>
            <ol class="chips" aria-label=format!("Targets of {name}, in order")>{targets}</ol>
            <div class="row-actions">
                <button class="small" on:click=move |_| editing.set(Some(Editing::Named(edit_name.clone())))
                    aria-label=format!("Edit {name}")>"Edit"</button>
                <button class="small danger" disabled=move || remove.pending().get()
                    on:click=move |_| { remove.dispatch(delete_name.clone()); }
                    aria-label=format!("Delete {}", view.model.name)>"Delete"</button>
            </div>
        </li>
    }
}

#[component]
fn VirtualDialog(
    editing: RwSignal<Option<Editing>>,
    listing: LocalResource<Option<Result<Vec<VirtualView>, AppError>>>,
) -> impl IntoView {
    let values = Signal::derive(move || -> Map<String, Value> {
        let Some(Editing::Named(name)) = editing.get() else {
            return Map::new();
        };
        listing
            .get()
            .flatten()
            .and_then(Result::ok)
            .and_then(|views| views.into_iter().find(|v| v.model.name == name))
            .map(|view| view.model.to_object())
            .unwrap_or_default()
    });
    let toasts = use_toasts();
    let save = |named: Option<String>, value: Value| async move {
        let field = |key: &str| value.get(key).cloned().unwrap_or(Value::Null);
        let (strategy, targets, spillover) =
            (field("strategy"), field("targets"), field("spillover"));
        match named {
            Some(name) => {
                update_virtual_model(Value::String(name), strategy, targets, spillover).await
            }
            None => create_virtual_model(field("name"), strategy, targets, spillover).await,
        }
    };
    let saved = Callback::new(move |saved: VirtualModel| {
        listing.refetch();
        toasts.success(format!("Saved virtual model {}", saved.name));
    });
    let wording = Wording {
        id: "virtual-model",
        prefix: "virtual",
        new_title: "New virtual model",
        edit_title: "Edit ",
        intro: "Clients ask for this name; each request goes to the target the strategy picks. \
                Targets are registered models (names or aliases), one per line, in order.",
    };
    view! { <NamedDialog editing values wording save saved/> }
}
