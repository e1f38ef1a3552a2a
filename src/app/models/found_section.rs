//! "Found in your model folders": GGUF files in the `--models-dir` folders that no model names
//! yet, with what their headers say, each added with one click (or all at once). The list is
//! read in the browser and read again whenever the folders or the models change.

use leptos::prelude::*;

use crate::api::discovery::{add_discovered, list_discovered};
use crate::api::settings::{get_settings, save_settings};
use crate::app::fetch_when::fetch_when;
use crate::app::live_store::LiveStore;
use crate::app::models::state::ModelsPageState;
use crate::domain::AppError;
use crate::domain::discovery::{Discovered, FoundFile};
use crate::domain::gguf::{FileReport, format_parameters};
use crate::domain::time::format_bytes;

#[component]
pub fn FoundSection(state: ModelsPageState) -> impl IntoView {
    let live = state.live;
    let error = RwSignal::new(None::<String>);
    let listing = read_listing(live);
    let add = add_action(error);
    // Files no model names yet (projectors go with their model): the ones Add takes, and
    // files that are not models Corral can read, listed as such.
    let unregistered = move || -> Vec<FoundFile> {
        match listing.get().flatten() {
            Some(Ok(listed)) => listed
                .files
                .into_iter()
                .filter(|f| f.registered_as.is_none() && !f.file.is_projector())
                .collect(),
            _ => Vec::new(),
        }
    };
    let addable = move || -> Vec<String> {
        unregistered()
            .into_iter()
            .filter(FoundFile::can_be_added)
            .map(|f| f.path)
            .collect()
    };
    // Counted only from an answer: a section drawn again (it moves above the table on a first
    // run) must not say "none" while it reads, or it would move back.
    Effect::new(move |_| {
        if matches!(listing.get(), Some(Some(Ok(_)))) {
            state.found.set(addable().len());
        }
    });
    let first_run = move || state.first_run_with_files();
    let several = move || addable().len() > 1 || first_run();
    let more_files = move || part(listing, more_files_note).unwrap_or_default();
    let folders = move || part(listing, |l| l.folders).unwrap_or_default();
    let offered = move || part(listing, |l| l.offered).unwrap_or_default();
    // A download cache on this machine becomes a watched folder; then its files are listed.
    let watch = Action::new(move |folder: &String| {
        let folder = folder.clone();
        async move {
            match watch_folder(folder).await {
                Ok(_) => {
                    error.set(None);
                    listing.refetch();
                }
                Err(e) => error.set(Some(e.to_string())),
            }
        }
    });
    view! {
        <Show when=move || folders().is_empty() && !offered().is_empty()>
            <section class="card found-files" aria-labelledby="offered-title">
                <h2 id="offered-title">"Model downloads on this machine"</h2>
                {move || error.get().map(|e| view! { <p class="error-banner" role="alert">{e}</p> })}
                <OfferedCaches offered=Signal::derive(offered) watch/>
            </section>
        </Show>
        <Show when=move || !folders().is_empty()>
            <section class="card found-files" aria-labelledby="found-title">
                <div class="card-head">
                    <h2 id="found-title">"Found in your model folders"</h2>
                    <Show when=several>
                        <button class="small" class:primary=first_run disabled=move || add.pending().get()
                            on:click=move |_| { add.dispatch(addable()); }>
                            {move || format!("Add all {}", addable().len())}
                        </button>
                    </Show>
                </div>
                <p class="muted">{move || format!("Watching {}.", folders().join(", "))}{move || more_files()}</p>
                <OfferedCaches offered=Signal::derive(offered) watch/>
                {move || error.get().map(|e| view! { <p class="error-banner" role="alert">{e}</p> })}
                <Show when=move || !unregistered().is_empty()
                    fallback=|| view! { <p class="muted">"Every GGUF file in them is a model here already."</p> }>
                    <FoundTable files=Signal::derive(unregistered) folders=Signal::derive(folders) add/>
                </Show>
            </section>
        </Show>
    }
}

type Listing = LocalResource<Option<Result<Discovered, AppError>>>;

/// The folders' listing, read again when a tab hears the folders changed, or a model was added
/// or removed.
fn read_listing(live: LiveStore) -> Listing {
    let changes = Memo::new(move |_| {
        live.state
            .with(|s| s.as_ref().map(|s| (s.files_generation, s.models.len())))
    });
    // First read once the snapshot is there (or the channel has failed): the server answers
    // the socket first, and the snapshot would change `changes` and read it again.
    // A memo, so a socket that drops once the snapshot is here (a restarting server) reads
    // nothing again.
    let wanted = Memo::new(move |_| changes.with(Option::is_some) || live.has_failed());
    LocalResource::new(move || {
        // Read, not only tracked (a memo left unread stops telling of changes).
        changes.with(|_| ());
        fetch_when(wanted.get(), list_discovered(None))
    })
}

/// Makes models of the files given; a refusal is shown in the card.
fn add_action(error: RwSignal<Option<String>>) -> Action<Vec<String>, ()> {
    Action::new(move |paths: &Vec<String>| {
        let paths = paths.clone();
        async move {
            match add_discovered(paths).await {
                Ok(_) => error.set(None),
                Err(e) => error.set(Some(e.to_string())),
            }
        }
    })
}

/// A part of the listing, once it is read.
fn part<T>(listing: Listing, of: impl FnOnce(Discovered) -> T) -> Option<T> {
    listing.get().flatten().and_then(Result::ok).map(of)
}

/// The list comes a page at a time: says when the folders hold more than this page.
fn more_files_note(listed: Discovered) -> String {
    if listed.total > listed.files.len() {
        format!(
            " Showing the first {} of {} files (POST /api/discovery/list pages the rest).",
            listed.files.len(),
            listed.total
        )
    } else {
        String::new()
    }
}

/// Adds `folder` to the model folders (a Settings change, applied at once).
async fn watch_folder(folder: String) -> Result<crate::domain::settings::SettingsView, AppError> {
    let read = get_settings().await?;
    let stored = read.stored.with_models_dir(folder);
    let document = serde_json::to_value(&stored).map_err(|e| AppError::internal(e.to_string()))?;
    save_settings(document, Some(read.revision)).await
}

/// Download caches (Hugging Face, llama.cpp) present here and not watched yet, each with a
/// button that adds it to the model folders.
#[component]
fn OfferedCaches(offered: Signal<Vec<String>>, watch: Action<String, ()>) -> impl IntoView {
    view! {
        <Show when=move || !offered.get().is_empty()>
            <ul class="offered">
                {move || offered.get().into_iter().map(|folder| {
                    let label = format!("Watch {folder}");
                    let chosen = folder.clone();
                    view! {
                        <li>
                            <span class="mono">{folder}</span>" holds downloaded models. "
                            <button class="small" aria-label=label disabled=move || watch.pending().get()
                                on:click=move |_| { watch.dispatch(chosen.clone()); }>"Watch it"</button>
                        </li>
                    }
                }).collect_view()}
            </ul>
        </Show>
    }
}

#[component]
fn FoundTable(
    files: Signal<Vec<FoundFile>>,
    folders: Signal<Vec<String>>,
    add: Action<Vec<String>, ()>,
) -> impl IntoView {
    view! {
        <table class="found" aria-label="Found files">
            <thead><tr>
                <th class="col-file">"File"</th><th class="col-name">"Added as"</th><th class="col-gguf">"Model in the file"</th>
                <th class="col-params">"Parameters"</th><th class="col-quant">"Quantization"</th><th class="col-size">"Size"</th><th class="col-add"><span class="sr-only">"Add"</span></th>
            </tr></thead>
            <tbody>
                <For each=move || files.get() key=|f| f.path.clone() let:file>
                    <FoundRow shown=relative_path(&file.path, &folders.get_untracked()) file add/>
                </For>
            </tbody>
        </table>
    }
}

#[component]
fn FoundRow(file: FoundFile, shown: String, add: Action<Vec<String>, ()>) -> impl IntoView {
    let name = shown;
    let path = file.path.clone();
    let label = format!("Add {name}");
    let facts = match &file.file {
        FileReport::Read(meta) => view! {
            <td class="col-gguf">
                {meta.name.clone().unwrap_or_else(|| meta.architecture.clone())}
                {file.projector.as_ref().map(|_| view! { <span class="muted">" + projector"</span> })}
            </td>
            <td class="col-params">{format_parameters(meta.parameters)}</td>
            <td class="col-quant mono">
                {meta.file_type.clone().or_else(|| meta.main_tensor_type().map(String::from)).unwrap_or_default()}
            </td>
        }
        .into_any(),
        // Listed so a person sees why a file is not offered; never added.
        FileReport::Unreadable(why) => view! {
            <td class="col-gguf" colspan="3">
                <span class="status status-error">"Not a model file"</span>
                <span class="status-reason" title=why.clone()>{sentence(why)}</span>
            </td>
        }
        .into_any(),
    };
    let button = file.can_be_added().then(|| {
        view! {
            <button class="small" aria-label=label disabled=move || add.pending().get()
                on:click=move |_| { add.dispatch(vec![path.clone()]); }>"Add"</button>
        }
    });
    view! {
        <tr>
            <td class="col-file mono" title=file.path.clone()>{name}</td>
            <td class="col-name mono">{file.suggested_name.clone().unwrap_or_default()}</td>
            {facts}
            <td class="col-size">{format_bytes(file.size_bytes)}</td>
            <td class="col-add">{button}</td>
        </tr>
    }
}

/// `path` below the model folder that holds it (`b/qwen-q4.gguf`): two copies of one file in
/// two folders are told apart; the full path is on hover.
pub fn relative_path(path: &str, folders: &[String]) -> String {
    folders
        .iter()
        .filter_map(|folder| {
            path.strip_prefix(folder.trim_end_matches('/'))?
                .strip_prefix('/')
        })
        .min_by_key(|rest| rest.len())
        .unwrap_or_else(|| path.rsplit('/').next().unwrap_or(path))
        .to_string()
}

/// A reason as a sentence: its first letter capitalised.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_found_file_is_shown_below_its_folder() {
        let folders = vec!["/m".to_string(), "/m/nested/".to_string()];
        assert_eq!(relative_path("/m/b/x.gguf", &folders), "b/x.gguf");
        assert_eq!(relative_path("/m/nested/x.gguf", &folders), "x.gguf");
        assert_eq!(relative_path("/elsewhere/y.gguf", &folders), "y.gguf");
        assert_eq!(relative_path("/mm/z.gguf", &folders), "z.gguf");
    }
}
