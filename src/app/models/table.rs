//! The models table: one row per model, sortable headers, row selection and the bulk bar.

use std::collections::BTreeSet;

use leptos::prelude::*;

use crate::app::models::actions_menu::ActionsMenu;
use crate::app::models::bulk_bar::BulkBar;
use crate::app::models::state::ModelsPageState;
use crate::app::widgets::run_button::{RequestCounts, RestartToApply, RunButton, RunFacts};
use crate::app::widgets::status_badge::StatusBadge;
use crate::domain::model::{FIRST_ROWS, MORE_ROWS, SortKey, sort_models};
use crate::domain::time::format_bytes;
use crate::domain::{Model, ModelFilter};

/// What the person chose to see: filter and sort order.
#[derive(Clone, Copy)]
pub struct TableView {
    pub filter: RwSignal<ModelFilter>,
    /// Column and whether descending.
    pub sort: RwSignal<(SortKey, bool)>,
}

/// `models` may be only the first rows: `unseen` says how many models they leave out (until the
/// live snapshot brings every one), so the count and "Show more" are right from the first HTML.
// One table's markup (header, sort, rows, selection), as it shows; a row is its own component.
#[allow(clippy::too_many_lines)]
#[component]
pub fn ModelsTable(
    models: Memo<Vec<Model>>,
    unseen: Signal<usize>,
    state: ModelsPageState,
    view: TableView,
) -> impl IntoView {
    // Selected rows that were deleted meanwhile (here or in another tab) are forgotten.
    Effect::new(move |_| {
        let ids: BTreeSet<i64> = models.with(|m| m.iter().map(|m| m.id).collect());
        state
            .selected
            .update(|selected| selected.retain(|id| ids.contains(id)));
    });
    let rows = Memo::new(move |_| {
        let filter = view.filter.get();
        let (key, descending) = view.sort.get();
        let mut rows: Vec<Model> =
            models.with(|m| m.iter().filter(|m| filter.matches(m)).cloned().collect());
        sort_models(&mut rows, key, descending);
        rows
    });
    // Back to the first screen whenever the filter or order changes.
    let shown = RwSignal::new(FIRST_ROWS);
    Effect::new(move |_| {
        view.filter.track();
        view.sort.track();
        shown.set(FIRST_ROWS);
    });
    let drawn = move || rows.with(|r| r.iter().take(shown.get()).cloned().collect::<Vec<_>>());
    let visible_ids = move || rows.with(|r| r.iter().map(|m| m.id).collect::<Vec<_>>());
    let all_visible_selected = move || {
        let ids = visible_ids();
        !ids.is_empty() && state.selected.with(|s| ids.iter().all(|id| s.contains(id)))
    };
    let header = move |key: SortKey, label: &'static str| {
        let aria_sort = move || match view.sort.get() {
            (k, false) if k == key => "ascending",
            (k, true) if k == key => "descending",
            _ => "none",
        };
        let mark = move || match view.sort.get() {
            (k, false) if k == key => "▲",
            (k, true) if k == key => "▼",
            _ => "",
        };
        view! {
            <th aria-sort=aria_sort class=format!("col-{}", key.as_str())>
                <button class="sort" on:click=move |_| view.sort.update(|(k, descending)| {
                    if *k == key { *descending = !*descending } else { *k = key; *descending = false }
                })>
                    {label}<span class="sort-mark" aria-hidden="true">{mark}</span>
                </button>
            </th>
        }
    };
    let table = move || {
        view! {
            <BulkBar state all=models/>
            <div class="table-wrap">
                <table class="models">
                    <thead>
                        <tr>
                            <th class="check">
                                <input type="checkbox" aria-label="Select all models matching the filters"
                                    prop:checked=all_visible_selected
                                    on:change=move |ev| {
                                        let on = event_target_checked(&ev);
                                        let ids = visible_ids();
                                        state.selected.update(|s| for id in ids {
                                            if on { s.insert(id); } else { s.remove(&id); }
                                        });
                                    }/>
                            </th>
                            {header(SortKey::Name, "Name")}
                            {header(SortKey::Kind, "Kind")}
                            <th class="col-file-facts">"Model"</th>
                            {header(SortKey::Path, "File")}
                            {header(SortKey::Size, "Size")}
                            {header(SortKey::Status, "Status")}
                            <th class="col-actions"><span class="sr-only">"Actions"</span></th>
                        </tr>
                    </thead>
                    <tbody>
                        // A new status or settings re-renders the row; run numbers update inside it.
                        <For each=drawn key=|m| (m.id, m.updated_at, m.status, m.status_reason.clone()) let:model>
                            <ModelRow model state/>
                        </For>
                    </tbody>
                </table>
            </div>
            <Show when=move || { rows.with(Vec::len) + unseen.get() > shown.get() }>
                <div class="more-rows" role="status">
                    <span>{move || format!("Showing {} of {} models", shown.get().min(rows.with(Vec::len)), rows.with(Vec::len) + unseen.get())}</span>
                    <button on:click=move |_| { state.want_all.set(true); shown.update(|n| *n = n.saturating_add(MORE_ROWS)) }>
                        {format!("Show {MORE_ROWS} more")}
                    </button>
                    <button on:click=move |_| { state.want_all.set(true); shown.set(usize::MAX) }>"Show all"</button>
                </div>
            </Show>
            <Show when=move || rows.with(Vec::is_empty)>
                <div class="empty-state small">
                    <p>"No models match the search and filters."</p>
                    <button on:click=move |_| view.filter.set(ModelFilter::default())>"Clear filters"</button>
                </div>
            </Show>
        }
    };
    view! {
        <Show when=move || !models.with(Vec::is_empty) fallback=move || view! { <EmptyRegistry state/> }>
            {table}
        </Show>
    }
}

#[component]
fn EmptyRegistry(state: ModelsPageState) -> impl IntoView {
    view! {
        <section class="empty-state">
            <h2>"No models yet"</h2>
            <Show when=move || state.found.get() == 0 fallback=move || view! {
                <p>"Add the files found in your model folders above, or register another GGUF file by its path."</p>
                <button on:click=move |_| state.adding.set(true)>"Add by path"</button>
            }>
                <p>"Register a GGUF file to get started: choose " <strong>"Add model"</strong>
                   ", give it a name and the absolute path of the .gguf file (or add a models folder in "
                   <a href="/settings">"Settings"</a>" and pick from what is found)."</p>
                <button class="primary" on:click=move |_| state.adding.set(true)>"Add your first model"</button>
            </Show>
        </section>
    }
}

#[component]
fn ModelRow(model: Model, state: ModelsPageState) -> impl IntoView {
    let id = model.id;
    let name = model.spec.name.clone();
    let checked = move || state.selected.with(|s| s.contains(&id));
    let title = name.clone();
    let size = match model.size_bytes {
        Some(bytes) => view! { <span>{format_bytes(bytes)}</span> }.into_any(),
        None => view! { <span class="warn" title="The model's file is not there (kept current for files in the model folders)">"File missing"</span> }.into_any(),
    };
    view! {
        // Highlighted while selected by the stylesheet (`:has(:checked)`), not by a class an
        // effect per row keeps in step.
        <tr data-model-id=id.to_string()>
            <td class="check">
                <input type="checkbox" aria-label=format!("Select {name}") prop:checked=checked
                    on:change=move |ev| {
                        let on = event_target_checked(&ev);
                        state.selected.update(|s| { if on { s.insert(id); } else { s.remove(&id); } });
                    }/>
            </td>
            <td class="col-name"><a href=format!("/models/{id}") title=title>{name.clone()}</a></td>
            <td class="col-kind">{model.spec.kind.label()}</td>
            <td class="col-file-facts">
                {move || state.summaries.with(|all| all.get(&id).map_or_else(|| "—".to_string(), |s| s.line()))}
                // What it can do beyond chat (`chat` itself is every chat model's): vision, tools...
                <span class="capabilities">
                    {move || state.summaries.with(|all| {
                        all.get(&id)
                            .map(|s| s.capabilities.iter().filter(|c| *c != "chat").cloned().collect::<Vec<_>>())
                            .unwrap_or_default()
                    }).into_iter().map(|c| view! { <span class="badge">{c}</span> }).collect_view()}
                </span>
            </td>
            <td class="col-path" title=model.spec.path.clone()>{model.spec.path.clone()}</td>
            <td class="col-size">{size}</td>
            <td class="col-status">
                <StatusBadge status=model.status reason=model.status_reason.clone()/>
                <RunFacts live=state.live model_id=id/>
                <RequestCounts live=state.live model_id=id/>
                <RestartToApply live=state.live model_id=id name=name.clone() toasts=state.toasts/>
            </td>
            <td class="col-actions">
                <div class="row-actions">
                    <RunButton model=model.clone() toasts=state.toasts/>
                    <ActionsMenu model state/>
                </div>
            </td>
        </tr>
    }
}
