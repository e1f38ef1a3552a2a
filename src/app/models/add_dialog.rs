//! "Add model": the dialog that registers a GGUF file. The path is checked as it is typed
//! (exists, GGUF, inside the model roots), files found in the model folders are offered, and
//! the name is filled in from the file name until the person types their own.

use leptos::prelude::*;
use serde_json::Map;

use crate::api::discovery::{check_model_path, list_discovered};
use crate::api::models::create_model;
use crate::app::fetch_when::fetch_when;
use crate::app::live_store::use_live;
use crate::app::models::found_section::relative_path;
use crate::app::models::state::ModelsPageState;
use crate::app::widgets::dialog::Modal;
use crate::app::widgets::field_form::{FieldInputs, FormState, any_error_in};
use crate::app::widgets::toast::use_toasts;
use crate::domain::ModelSpec;
use crate::domain::fields::{FieldSet, FieldSpec};

/// Shown at once; the rest of the run settings sit under "More run settings".
const FIRST_FIELDS: usize = 4;
/// Found files offered under the path at most.
const OFFERED: usize = 5;

#[component]
pub fn AddModelDialog(state: ModelsPageState) -> impl IntoView {
    let toasts = use_toasts();
    let form = FormState::new(ModelSpec::FIELDS, &Map::new());
    let (main, more): (&'static [FieldSpec], &'static [FieldSpec]) =
        ModelSpec::FIELDS.split_at(FIRST_FIELDS);
    // Name and path, the path's check, then the rest.
    let (name_and_path, after_path) = main.split_at(2);
    let path_text = form
        .text("path")
        .unwrap_or_else(|| RwSignal::new(String::new()));
    let name_text = form
        .text("name")
        .unwrap_or_else(|| RwSignal::new(String::new()));

    let reset = form.clone();
    Effect::new(move |_| {
        if state.adding.get() {
            reset.reset(&Map::new());
        }
    });
    let save = form.save_action(create_model, move |_, model| {
        state.adding.set(false);
        toasts.success(format!("Added {}", model.spec.name));
        state.reload();
    });
    let submitted = form.clone();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        submitted.submit(save, |value| ModelSpec::parse_new(value).map(drop));
    };
    let more_has_errors = {
        let form = form.clone();
        move || any_error_in(&form, more)
    };
    view! {
        <Modal open=state.adding on_close=Callback::new(move |()| state.adding.set(false)) title="Add model".to_string() id="add-model">
            <form on:submit=on_submit novalidate>
                <FieldInputs form=form.clone() fields=name_and_path prefix="add"/>
                // Its own transition: the checks it reads reload on every keystroke, and the
                // dialog's suspense would otherwise fall back (and draw the dialog anew, the
                // focus lost) each time.
                <Transition fallback=|| ()>
                    <PathHint path=path_text name=name_text open=state.adding/>
                </Transition>
                <FieldInputs form=form.clone() fields=after_path prefix="add"/>
                <details prop:open=more_has_errors>
                    <summary>"More run settings"</summary>
                    <FieldInputs form=form.clone() fields=more prefix="add"/>
                </details>
                <div class="dialog-actions">
                    <button type="button" on:click=move |_| state.adding.set(false)>"Cancel"</button>
                    <button type="submit" class="primary" disabled=move || save.pending().get()>"Save"</button>
                </div>
            </form>
        </Modal>
    }
}

/// Under the path: what the typed path is (checked on the server as it changes), and files
/// found in the model folders that match it, each a click away. The name follows the file's
/// until the person types another.
#[component]
fn PathHint(path: RwSignal<String>, name: RwSignal<String>, open: RwSignal<bool>) -> impl IntoView {
    let check = LocalResource::new(move || {
        let typed = path.get().trim().to_string();
        fetch_when(open.get() && !typed.is_empty(), check_model_path(typed))
    });
    // Read again when the folders change (a download finishing while the dialog is open).
    let live = use_live();
    let generation =
        Memo::new(move |_| live.state.with(|s| s.as_ref().map(|s| s.files_generation)));
    let found = LocalResource::new(move || {
        generation.with(|_| ());
        fetch_when(open.get(), list_discovered(None))
    });
    // The last name filled in for the person: replaced while they have not changed it.
    let filled = StoredValue::new(String::new());
    Effect::new(move |_| {
        if let Some(Some(Ok(answer))) = check.get()
            && let Some(suggested) = answer.suggested_name
        {
            let now = name.get_untracked();
            if now.trim().is_empty() || now == filled.get_value() {
                name.set(suggested.clone());
                filled.set_value(suggested);
            }
        }
    });
    let offered = move || match found.get() {
        Some(Some(Ok(listed))) => offered_files(listed.files, &listed.folders, &path.get()),
        _ => Vec::new(),
    };
    let verdict = move || match check.get() {
        Some(Some(Ok(answer))) if answer.ok => {
            let named = answer
                .gguf_name
                .map(|n| format!(" — the file calls it “{n}”."))
                .unwrap_or_default();
            Some(
                view! { <p class="path-check ok" role="status">"✓ "{answer.message}{named}</p> }
                    .into_any(),
            )
        }
        Some(Some(Ok(answer))) => {
            Some(view! { <p class="path-check warn" role="status">{answer.message}</p> }.into_any())
        }
        Some(Some(Err(error))) => Some(
            view! { <p class="path-check warn" role="status">{error.to_string()}</p> }.into_any(),
        ),
        _ => None,
    };
    view! {
        <div class="path-hint" aria-live="polite">
            {verdict}
            <Show when=move || !offered().is_empty()>
                <div class="found-offers">
                    <span class="muted">"Found in your model folders: "</span>
                    {move || offered().into_iter().map(|(file, full)| {
                        let label = format!("Use {full}");
                        view! {
                            <button type="button" class="small mono" title=full.clone() aria-label=label
                                on:click=move |_| path.set(full.clone())>{file}</button>
                        }
                    }).collect_view()}
                </div>
            </Show>
        </div>
    }
}

/// Found files that could be added, matching what is typed (all when nothing is), as (path
/// below its folder, path): at most `OFFERED`, leaving out the one already typed.
fn offered_files(
    files: Vec<crate::domain::discovery::FoundFile>,
    folders: &[String],
    typed: &str,
) -> Vec<(String, String)> {
    let typed = typed.trim();
    let needle = typed.to_lowercase();
    files
        .into_iter()
        .filter(|f| f.registered_as.is_none() && f.can_be_added() && f.path != typed)
        .filter(|f| needle.is_empty() || f.path.to_lowercase().contains(&needle))
        .take(OFFERED)
        .map(|f| (relative_path(&f.path, folders), f.path))
        .collect()
}
