//! "Run-together groups" on the models page: each group with its rules in words and its
//! members (the running ones marked), and a dialog to make or change one. The groups come with
//! the live channel (`run_groups`), so every tab sees a change, a rename or a delete at once.

use leptos::prelude::*;
use serde_json::{Map, Value};

use crate::api::run_groups::{create_run_group, delete_run_group, update_run_group};
use crate::app::models::page::latched;
use crate::app::models::state::ModelsPageState;
use crate::app::widgets::named_dialog::{Editing, NamedDialog, Wording};
use crate::app::widgets::toast::use_toasts;
use crate::domain::ModelStatus;
use crate::domain::fields::FieldSet;
use crate::domain::run_group::RunGroup;

#[component]
pub fn GroupSection(state: ModelsPageState) -> impl IntoView {
    let live = state.live;
    let groups = Memo::new(move |_| {
        live.state
            .with(|s| s.as_ref().map(|s| s.run_groups.clone()).unwrap_or_default())
    });
    // Each member's status, by name (the chips mark the running ones).
    let statuses = Memo::new(move |_| {
        live.state.with(|s| {
            s.as_ref()
                .map(|s| {
                    s.models
                        .iter()
                        .map(|m| (m.spec.name.clone(), m.status))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    });
    let has_models = move || {
        live.state
            .with(|s| s.as_ref().is_some_and(|s| !s.models.is_empty()))
    };
    let editing = RwSignal::new(None::<Editing>);
    let remove = Action::new(move |name: &String| {
        let name = name.clone();
        async move {
            match delete_run_group(name.clone()).await {
                Ok(()) => state.toasts.success(format!("Deleted group {name}")),
                Err(e) => state.toasts.error(format!("Could not delete {name}: {e}")),
            }
        }
    });
    view! {
        <Show when=move || has_models() || !groups.with(Vec::is_empty)>
            <section class="card run-groups" aria-labelledby="groups-title">
                <div class="card-head">
                    <h2 id="groups-title">"Run-together groups"</h2>
                    <button class="small" on:click=move |_| editing.set(Some(Editing::New))>"New group"</button>
                </div>
                <Show when=move || groups.with(Vec::is_empty)>
                    <p class="muted">
                        "Models that load by a group's rules: one member at a time (swap), the group "
                        "alone (exclusive), or never stopped by other models (persistent)."
                    </p>
                </Show>
                // Drawn with the virtual models' rows: the same shape.
                <ul class="virtual-list">
                    <For each=move || groups.get() key=|g| g.clone() let:group>
                        <GroupRow group statuses editing remove/>
                    </For>
                </ul>
            </section>
        </Show>
        <Show when=latched(move || editing.with(Option::is_some))>
            <GroupDialog editing groups/>
        </Show>
    }
}

#[component]
fn GroupRow(
    group: RunGroup,
    statuses: Memo<Vec<(String, ModelStatus)>>,
    editing: RwSignal<Option<Editing>>,
    remove: Action<String, ()>,
) -> impl IntoView {
    let name = group.name.clone();
    let flags: Vec<&'static str> = [
        (group.swap, "swap"),
        (group.exclusive, "exclusive"),
        (group.persistent, "persistent"),
    ]
    .into_iter()
    .filter_map(|(on, flag)| on.then_some(flag))
    .collect();
    let members = group
        .members
        .iter()
        .map(|member| {
            let member = member.clone();
            let shown = member.clone();
            let running = Signal::derive(move || {
                statuses.with(|all| {
                    all.iter()
                        .any(|(n, s)| n == &member && *s == ModelStatus::Running)
                })
            });
            view! {
                <li class="chip" class:chip-used=running
                    title=move || if running.get() { "running" } else { "" }>
                    {shown}
                    <Show when=move || running.get()><span class="sr-only">" (running)"</span></Show>
                </li>
            }
        })
        .collect_view();
    let (edit_name, delete_name) = (name.clone(), name.clone());
    let flags_text = if flags.is_empty() {
        "together".to_string()
    } else {
        flags.join(" · ")
    };
    view! {
        <li class="virtual-row">
            <div class="virtual-head">
                <strong class="virtual-name">{name.clone()}</strong>
                <span class="badge" title=group.describe()>{flags_text}</span>
                <span class="muted virtual-uses">{group.describe()}</span>
            </div>
            <ul class="chips" aria-label=format!("Members of {name}")>{members}</ul>
            <div class="row-actions">
                <button class="small" on:click=move |_| editing.set(Some(Editing::Named(edit_name.clone())))
                    aria-label=format!("Edit group {name}")>"Edit"</button>
                <button class="small danger" disabled=move || remove.pending().get()
                    on:click=move |_| { remove.dispatch(delete_name.clone()); }
                    aria-label=format!("Delete group {}", group.name)>"Delete"</button>
            </div>
        </li>
    }
}

#[component]
fn GroupDialog(editing: RwSignal<Option<Editing>>, groups: Memo<Vec<RunGroup>>) -> impl IntoView {
    let values = Signal::derive(move || -> Map<String, Value> {
        let Some(Editing::Named(name)) = editing.get() else {
            return Map::new();
        };
        groups
            .with(|all| all.iter().find(|g| g.name == name).map(RunGroup::to_object))
            .unwrap_or_default()
    });
    let toasts = use_toasts();
    let save = |named: Option<String>, value: Value| async move {
        let field = |key: &str| value.get(key).cloned().unwrap_or(Value::Null);
        let (swap, exclusive, persistent, members) = (
            field("swap"),
            field("exclusive"),
            field("persistent"),
            field("members"),
        );
        match named {
            Some(name) => {
                let name = Value::String(name);
                update_run_group(name, swap, exclusive, persistent, members).await
            }
            None => create_run_group(field("name"), swap, exclusive, persistent, members).await,
        }
    };
    let saved = Callback::new(move |saved: RunGroup| {
        toasts.success(format!("Saved group {}", saved.name));
    });
    let wording = Wording {
        id: "run-group",
        prefix: "group",
        new_title: "New run-together group",
        edit_title: "Edit group ",
        intro: "The rules apply when a member loads, before the running-model limit. Members are \
                registered models (names or aliases), one per line.",
    };
    view! { <NamedDialog editing values wording save saved/> }
}
