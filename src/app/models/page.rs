//! `/`: the models page. The list is rendered on the server (readable without JavaScript);
//! search, filters and sorting then run in the browser with the same filter the API uses.

use std::collections::BTreeSet;

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::models::{list_first_rows, list_models, model_summaries};
use crate::app::built_once::built_once;
use crate::app::fetch_when::fetch_when;
use crate::app::live_store::use_live;
use crate::app::models::device_section::DeviceSection;
use crate::app::models::found_section::FoundSection;
use crate::app::models::group_section::GroupSection;
use crate::app::models::lazy_dialogs;
use crate::app::models::state::ModelsPageState;
use crate::app::models::table::{ModelsTable, TableView};
use crate::app::models::virtual_section::VirtualSection;
use crate::app::widgets::run_button::run_command;
use crate::app::widgets::toast::use_toasts;
use crate::domain::live::Snapshot;
use crate::domain::model::SortKey;
use crate::domain::{Model, ModelFilter, ModelKind, ModelStatus, Request};

/// The table's order before anyone sorts it: the order the server picks the first rows in.
const FIRST_ORDER: (SortKey, bool) = (SortKey::Name, false);

// One page's markup, read top to bottom as it shows; the table, dialogs and banners are
// components of their own.
#[allow(clippy::too_many_lines)]
#[component]
pub fn ModelsPage() -> impl IntoView {
    let first = Resource::new(|| (), |()| list_first_rows());
    let toasts = use_toasts();
    let state = ModelsPageState {
        first,
        want_all: RwSignal::new(false),
        changed: RwSignal::new(0),
        selected: RwSignal::new(BTreeSet::new()),
        adding: RwSignal::new(false),
        deleting: RwSignal::new(Vec::new()),
        duplicating: RwSignal::new(None),
        live: use_live(),
        toasts,
        summaries: RwSignal::new(Default::default()),
        found: RwSignal::new(0),
    };
    // The files' facts: fetched in the browser only (an effect), once the live snapshot is
    // there (not beside it: the server answers the socket first, and the snapshot would change
    // the set and fetch them again) or the channel has failed, and again whenever the set of
    // models, their files, or the model folders change.
    let files_changed = Memo::new_owning(move |previous: Option<Option<FileSet>>| {
        state.live.state.with(|s| match (s, previous.flatten()) {
            (Some(s), Some(before)) if before.matches(s) => (Some(before), false),
            (None, None) => (None, false),
            (s, _) => (s.as_ref().map(FileSet::of), true),
        })
    });
    // A memo, so a socket that drops once the snapshot is here (a restarting server) fetches
    // nothing: the page has its facts, and the server is not there to answer.
    let wanted = Memo::new(move |_| files_changed.with(Option::is_some) || state.live.has_failed());
    let summaries = LocalResource::new(move || {
        // Read, not only tracked (a memo left unread stops telling of changes).
        files_changed.with(|_| ());
        fetch_when(wanted.get(), model_summaries())
    });
    Effect::new(move |_| {
        if let Some(Some(Ok(list))) = summaries.get() {
            state
                .summaries
                .set(list.into_iter().map(|s| (s.id, s)).collect());
        }
    });
    let view_state = TableView {
        filter: RwSignal::new(ModelFilter::default()),
        sort: RwSignal::new(FIRST_ORDER),
    };
    // Every model over HTTP, only where the live snapshot (which carries them all) is missing
    // and the first rows are not enough: searching, sorting or paging, or after a change.
    let customised = Memo::new(move |_| {
        view_state.filter.with(|f| *f != ModelFilter::default())
            || view_state.sort.get() != FIRST_ORDER
    });
    let fetched = RwSignal::new(None::<Vec<Model>>);
    let everything = LocalResource::new(move || {
        let wanted = (state.want_all.get() || customised.get() || state.changed.get() > 0)
            && state.live.state.with(Option::is_none);
        fetch_when(wanted, list_models(ModelFilter::default()))
    });
    // Copied out by an effect: a local resource read inside the table's suspense would hold the
    // server's render open (it never resolves there).
    Effect::new(move |_| match everything.get().flatten() {
        Some(Ok(list)) => fetched.set(Some(list)),
        Some(Err(error)) => toasts.error(format!("Could not load every model: {error}")),
        None => {}
    });

    view! {
        <Title text="Models"/>
        <div class="page-head">
            <h1>"Models"</h1>
            <button class:primary=move || !state.first_run_with_files() on:click=move |_| state.adding.set(true)>"Add model"</button>
        </div>
        <Show when=move || state.live.llama_server_missing()>
            <p class="notice-banner" role="status">
                "No llama-server found, so models cannot be started. Set "<code>"CORRAL_LLAMA_SERVER"</code>
                " (or "<code>"--llama-server"</code>") to its path, or put it on PATH; "
                <code>"scripts/llama-server"</code>" builds the version Corral is tested with."
            </p>
        </Show>
        <PendingRestarts state/>
        // On a first run the files found come first: adding them is the way in.
        <Show when=move || state.first_run_with_files()>
            <FoundSection state/>
        </Show>
        <Toolbar view=view_state/>
        <Transition fallback=|| view! { <p class="muted">"Loading models…"</p> }>
            {move || Suspend::new(async move {
                match built_once(first).await {
                    Ok(first) => {
                        // The server-rendered first rows until the live channel has a snapshot
                        // (or the whole list was fetched without one).
                        let unseen = first.unseen();
                        // Live events (metrics, runs) arrive every second or so: the list is
                        // copied only when it changed, not on each of them.
                        let models = Memo::new_owning(move |previous: Option<Vec<Model>>| {
                            state.live.state.with(|s| match s {
                                Some(s) if previous.as_deref() == Some(s.models.as_slice()) => {
                                    (previous.unwrap_or_default(), false)
                                }
                                Some(s) => (s.models.clone(), true),
                                None => {
                                    let next = fetched.get().unwrap_or_else(|| first.models.clone());
                                    let changed = previous.as_ref() != Some(&next);
                                    (next, changed)
                                }
                            })
                        });
                        let unseen = Signal::derive(move || {
                            if state.live.state.with(Option::is_some) || fetched.with(Option::is_some) { 0 } else { unseen }
                        });
                        view! { <ModelsTable models unseen state view=view_state/> }.into_any()
                    }
                    Err(error) => view! {
                        <p class="error-banner" role="alert">{format!("Could not load the models: {error}")}</p>
                    }.into_any(),
                }
            })}
        </Transition>
        <DeviceSection state/>
        <VirtualSection state/>
        <GroupSection state/>
        <Show when=move || !state.first_run_with_files()>
            <FoundSection state/>
        </Show>
        // No dialog is drawn before it is first opened (closed, they were most of the page's
        // HTML and of its server render time), and its code is fetched then. Once drawn it
        // stays: closing must not dispose a dialog whose save is still finishing.
        <Show when=latched(move || state.adding.get())>
            <Transition>{move || Suspend::new(lazy_dialogs::add_model_dialog(state))}</Transition>
        </Show>
        <Show when=latched(move || !state.deleting.with(Vec::is_empty))>
            <Transition>{move || Suspend::new(lazy_dialogs::delete_dialog(state))}</Transition>
        </Show>
        <Show when=latched(move || state.duplicating.with(Option::is_some))>
            <Transition>{move || Suspend::new(lazy_dialogs::duplicate_dialog(state))}</Transition>
        </Show>
    }
}

/// What the files' facts depend on: each model's file (id, path, size) and the folders'
/// generation.
#[derive(Clone, PartialEq)]
struct FileSet {
    files: Vec<(i64, String, Option<u64>)>,
    generation: u64,
}

impl FileSet {
    fn of(snapshot: &Snapshot) -> FileSet {
        FileSet {
            files: snapshot
                .models
                .iter()
                .map(|m| (m.id, m.spec.path.clone(), m.size_bytes))
                .collect(),
            generation: snapshot.files_generation,
        }
    }

    /// Compared in place: no copy of every path on each live event.
    fn matches(&self, snapshot: &Snapshot) -> bool {
        self.generation == snapshot.files_generation
            && self.files.len() == snapshot.models.len()
            && self
                .files
                .iter()
                .zip(&snapshot.models)
                .all(|((id, path, size), m)| {
                    *id == m.id && *path == m.spec.path && *size == m.size_bytes
                })
    }
}

/// True from the first time `now` is, on.
pub(crate) fn latched(
    now: impl Fn() -> bool + Send + Sync + 'static,
) -> impl Fn() -> bool + Send + Sync + Copy {
    let latch = Memo::new(move |before: Option<&bool>| before.copied().unwrap_or(false) || now());
    move || latch.get()
}

/// Search and the status and kind filters.
#[component]
fn Toolbar(view: TableView) -> impl IntoView {
    let filter = view.filter;
    view! {
        <div class="toolbar" role="search">
            <input type="search" class="search" placeholder="Search by name or path" aria-label="Search models"
                prop:value=move || filter.with(|f| f.search.clone().unwrap_or_default())
                on:input=move |ev| {
                    let text = event_target_value(&ev);
                    filter.update(|f| f.search = (!text.trim().is_empty()).then_some(text));
                }/>
            <label class="inline">
                "Status"
                <select aria-label="Filter by status" on:change=move |ev| filter.update(|f| f.status = ModelStatus::parse(&event_target_value(&ev)))
                    prop:value=move || filter.with(|f| f.status.map(|s| s.as_str()).unwrap_or_default())>
                    <option value="">"All"</option>
                    {ModelStatus::ALL.iter().map(|s| view! { <option value=s.as_str()>{s.label()}</option> }).collect_view()}
                </select>
            </label>
            <label class="inline">
                "Kind"
                <select aria-label="Filter by kind" on:change=move |ev| filter.update(|f| f.kind = ModelKind::parse(&event_target_value(&ev)))
                    prop:value=move || filter.with(|f| f.kind.map(|k| k.as_str()).unwrap_or_default())>
                    <option value="">"All"</option>
                    {ModelKind::ALL.iter().map(|k| view! { <option value=k.as_str()>{k.label()}</option> }).collect_view()}
                </select>
            </label>
        </div>
    }
}

/// Running models whose saved settings wait for a restart, restarted together from here (each
/// row also has its own "Restart to apply").
#[component]
fn PendingRestarts(state: ModelsPageState) -> impl IntoView {
    let ids = Memo::new(move |_| state.live.pending_restart_ids());
    let restart_all = move |_| {
        let ids = ids.get_untracked();
        let what = format!("{} models", ids.len());
        run_command(state.toasts, Request::Restart, ids, what);
    };
    view! {
        <Show when=move || !ids.with(Vec::is_empty)>
            <p class="notice-banner restart-banner" role="status">
                {move || match ids.with(Vec::len) {
                    1 => "1 running model waits for a restart to apply its saved settings.".to_string(),
                    n => format!("{n} running models wait for a restart to apply their saved settings."),
                }}
                " "
                <button class="small primary" on:click=restart_all>
                    {move || if ids.with(Vec::len) == 1 { "Restart it" } else { "Restart them" }}
                </button>
            </p>
        </Show>
    }
}
