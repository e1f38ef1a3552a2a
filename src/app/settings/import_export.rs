//! Settings → Import and Export: bring models in from a llama-swap `config.yaml`, a llama.cpp
//! `--models-preset` INI or a Corral export (pasted or picked), always shown first as a dry run
//! (what would be created, changed, skipped and not mapped), then applied; and download every
//! model with its settings as a Corral export.

use leptos::prelude::*;

use crate::api::backup::{export, import};
use crate::app::widgets::toast::use_toasts;
use crate::domain::AppError;
use crate::domain::error::MAX_BODY_BYTES;
use crate::domain::import::{ImportFormat, ImportReport, OnConflict};

/// What a text most likely is: JSON is a Corral export, `[section]` lines a preset INI, the
/// rest YAML (llama-swap).
pub fn guess_format(text: &str) -> ImportFormat {
    let start = text.trim_start();
    if start.starts_with('{') {
        ImportFormat::Corral
    } else if text.lines().any(|l| {
        let l = l.trim();
        l.starts_with('[') && l.ends_with(']') && !l.contains(' ')
    }) && !text.lines().any(|l| l.trim_start().starts_with("models:"))
    {
        ImportFormat::LlamaPreset
    } else {
        ImportFormat::LlamaSwap
    }
}

fn format_label(format: ImportFormat) -> &'static str {
    match format {
        ImportFormat::Corral => "Corral export (JSON)",
        ImportFormat::LlamaSwap => "llama-swap config.yaml",
        ImportFormat::LlamaPreset => "llama.cpp preset INI",
    }
}

/// The text, format and conflict rule a dry run was made for: Apply sends exactly these.
#[derive(Clone, PartialEq)]
struct Asked {
    text: String,
    format: ImportFormat,
    on_conflict: OnConflict,
}

#[component]
pub fn ImportCard() -> impl IntoView {
    let toasts = use_toasts();
    let text = RwSignal::new(String::new());
    // `None`: guessed from the text.
    let chosen_format = RwSignal::new(None::<ImportFormat>);
    let on_conflict = RwSignal::new(OnConflict::Skip);
    let error = RwSignal::new(None::<String>);
    let preview = RwSignal::new(None::<(Asked, ImportReport)>);
    let format = move || {
        chosen_format
            .get()
            .unwrap_or_else(|| guess_format(&text.get()))
    };
    let asked = move || Asked {
        text: text.get(),
        format: format(),
        on_conflict: on_conflict.get(),
    };
    let run = Action::new(move |(asked, dry_run): &(Asked, bool)| {
        let (asked, dry_run) = (asked.clone(), *dry_run);
        async move {
            match send(&asked, dry_run).await {
                Ok(report) if dry_run => {
                    error.set(None);
                    preview.set(Some((asked, report)));
                }
                Ok(report) => {
                    error.set(None);
                    preview.set(None);
                    text.set(String::new());
                    toasts.success(imported(&report));
                }
                Err(e) => error.set(Some(import_error(&e, asked.format))),
            }
        }
    });
    // Apply is offered for what the dry run showed, and nothing else.
    let current = move || preview.with(|p| p.as_ref().is_some_and(|(a, _)| *a == asked()));
    let on_file = move |ev: leptos::ev::Event| {
        #[cfg(feature = "hydrate")]
        read_file(&ev, text, error);
        #[cfg(not(feature = "hydrate"))]
        let _ = ev;
    };
    view! {
        <section class="card" id="import" aria-labelledby="import-title">
            <h2 id="import-title">"Import models"</h2>
            <p class="muted">"From a llama-swap "<code>"config.yaml"</code>", a llama.cpp "<code>"--models-preset"</code>
                " INI or a Corral export. You see what would change first; nothing is written until Apply."</p>
            <div class="field">
                <label for="import-file">"Pick a file"</label>
                <input id="import-file" type="file" accept=".yaml,.yml,.ini,.json,.txt" on:change=on_file/>
            </div>
            <div class="field">
                <label for="import-text">"Or paste it"</label>
                <textarea id="import-text" rows="8" spellcheck="false" prop:value=move || text.get()
                    on:input=move |ev| text.set(event_target_value(&ev))></textarea>
            </div>
            <ImportOptions text chosen_format on_conflict/>
            {move || error.get().map(|e| view! { <p class="error-banner" role="alert">{e}</p> })}
            <div class="form-actions">
                <button type="button" disabled=move || text.with(|t| t.trim().is_empty()) || run.pending().get()
                    on:click=move |_| { run.dispatch((asked(), true)); }>"Preview (dry run)"</button>
                <button type="button" class="primary" disabled=move || !current() || run.pending().get()
                    on:click=move |_| { run.dispatch((asked(), false)); }>"Apply"</button>
            </div>
            {move || preview.get().map(|(_, report)| view! { <ReportTable report stale=Signal::derive(move || !current())/> })}
        </section>
    }
}

async fn send(asked: &Asked, dry_run: bool) -> Result<ImportReport, AppError> {
    // Refused here rather than sent: the server would refuse it the same.
    if asked.text.len() as u64 > MAX_BODY_BYTES - 4096 {
        return Err(AppError::PayloadTooLarge {
            limit_bytes: MAX_BODY_BYTES,
        });
    }
    import(
        asked.format,
        asked.text.clone(),
        dry_run,
        Some(asked.on_conflict),
        Default::default(),
    )
    .await
}

/// A refusal in words for the person who pasted or picked the text.
fn import_error(error: &AppError, format: ImportFormat) -> String {
    match error {
        AppError::PayloadTooLarge { limit_bytes } => format!(
            "That is larger than an import takes ({} KiB): import it in parts.",
            limit_bytes / 1024
        ),
        AppError::Invalid { errors } if errors.iter().any(|e| e.field == "text") => {
            let why: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
            format!(
                "This is not a {} Corral can read ({}). Is the format right?",
                format_label(format),
                why.join("; ")
            )
        }
        other => other.to_string(),
    }
}

fn imported(report: &ImportReport) -> String {
    let mut text = format!(
        "Imported: {} created, {} changed, {} skipped",
        report.created.len(),
        report.changed.len(),
        report.skipped.len()
    );
    for (count, what) in [
        (report.virtual_models.len(), "virtual model(s)"),
        (report.run_groups.len(), "group(s)"),
    ] {
        if count > 0 {
            text.push_str(&format!("; {count} {what} made"));
        }
    }
    text
}

/// The format (recognised from the text unless chosen) and what a taken name does.
#[component]
fn ImportOptions(
    text: RwSignal<String>,
    chosen_format: RwSignal<Option<ImportFormat>>,
    on_conflict: RwSignal<OnConflict>,
) -> impl IntoView {
    view! {
        <div class="settings-row">
            <label class="inline">"Format "
                <select aria-label="Import format" on:change=move |ev| chosen_format.set(ImportFormat::parse(&event_target_value(&ev)))>
                    <option value="" selected=true>{move || format!("Recognised: {}", format_label(guess_format(&text.get())))}</option>
                    {ImportFormat::ALL.iter().map(|f| view! { <option value=f.as_str()>{format_label(*f)}</option> }).collect_view()}
                </select>
            </label>
            <label class="inline">"A name already taken "
                <select aria-label="When a name is taken" on:change=move |ev| {
                    if let Some(rule) = OnConflict::parse(&event_target_value(&ev)) { on_conflict.set(rule) }
                }>
                    <option value="skip" selected=true>"is skipped"</option>
                    <option value="rename">"is imported as name-2"</option>
                    <option value="replace">"takes the imported settings"</option>
                </select>
            </label>
        </div>
    }
}

/// A dry run's answer: one row per model and what would happen to it, then what has no place.
#[component]
fn ReportTable(report: ImportReport, stale: Signal<bool>) -> impl IntoView {
    let rows: Vec<(&'static str, String)> = report
        .created
        .into_iter()
        .map(|n| ("Created", n))
        .chain(report.changed.into_iter().map(|n| ("Changed", n)))
        .chain(
            report
                .skipped
                .into_iter()
                .map(|n| ("Skipped (name taken)", n)),
        )
        .chain(
            report
                .virtual_models
                .into_iter()
                .map(|n| ("Created (virtual model)", n)),
        )
        .chain(
            report
                .run_groups
                .into_iter()
                .map(|n| ("Created (run-together group)", n)),
        )
        .collect();
    let empty = rows.is_empty();
    view! {
        <div class="import-preview">
            <h3>"Dry run"</h3>
            <Show when=move || stale.get()>
                <p class="notice-banner" role="status">"The text or options changed since: preview again before applying."</p>
            </Show>
            {empty.then(|| view! { <p class="muted">"No model would be imported."</p> })}
            {(!empty).then(|| view! {
                <div class="table-scroll" tabindex="0" role="region" aria-label="Import preview (scrolls sideways)">
                    <table class="activity" aria-label="Import preview">
                        <thead><tr><th>"Name"</th><th>"Would be"</th></tr></thead>
                        <tbody>
                            {rows.into_iter().map(|(what, name)| view! { <tr><td class="mono">{name}</td><td>{what}</td></tr> }).collect_view()}
                        </tbody>
                    </table>
                </div>
            })}
            {(!report.not_mapped.is_empty()).then(|| view! {
                <details open>
                    <summary>{format!("Not mapped ({})", report.not_mapped.len())}</summary>
                    <ul class="not-mapped">
                        {report.not_mapped.into_iter().map(|line| view! { <li>{line}</li> }).collect_view()}
                    </ul>
                </details>
            })}
        </div>
    }
}

/// Puts a picked file's text in the box (at most the 1 MiB an import takes).
#[cfg(feature = "hydrate")]
fn read_file(ev: &leptos::ev::Event, text: RwSignal<String>, error: RwSignal<Option<String>>) {
    use wasm_bindgen::JsCast;
    let Some(input) = ev
        .target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
    else {
        return;
    };
    let Some(file) = input.files().and_then(|f| f.get(0)) else {
        return;
    };
    let limit = MAX_BODY_BYTES as f64 * 0.9;
    if file.size() > limit {
        error.set(Some(format!(
            "{} is larger than an import takes ({} KiB)",
            file.name(),
            limit as u64 / 1024
        )));
        return;
    }
    leptos::task::spawn_local(async move {
        match crate::app::browser_fetch::file_text(&file).await {
            Ok(read) => text.set(read),
            Err(why) => error.set(Some(format!("{} could not be read: {why}", file.name()))),
        }
    });
}

#[component]
pub fn ExportCard() -> impl IntoView {
    let toasts = use_toasts();
    let download = Action::new(move |_: &()| async move {
        match export().await {
            Ok(document) => {
                let name = format!(
                    "corral-export-{}.json",
                    crate::domain::time::format_utc(document.exported_at).replace([' ', ':'], "-")
                );
                match serde_json::to_string_pretty(&document) {
                    Ok(json) => save_as(&name, &json),
                    Err(e) => toasts.error(format!("Could not export: {e}")),
                }
            }
            Err(e) => toasts.error(format!("Could not export: {e}")),
        }
    });
    view! {
        <section class="card" id="export" aria-labelledby="export-title">
            <h2 id="export-title">"Export models"</h2>
            <p class="muted">"Every model with all its settings, as one JSON file another Corral imports (above)."</p>
            <button type="button" disabled=move || download.pending().get() on:click=move |_| { download.dispatch(()); }>"Download export"</button>
        </section>
    }
}

/// Offers `text` as a download named `name` (a `data:` link clicked: no Blob or object URL,
/// which the split-off settings page cannot import).
fn save_as(name: &str, text: &str) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let href = format!(
            "data:application/json;charset=utf-8,{}",
            String::from(js_sys::encode_uri_component(text))
        );
        if let Some(anchor) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.create_element("a").ok())
            .and_then(|a| a.dyn_into::<web_sys::HtmlAnchorElement>().ok())
        {
            anchor.set_href(&href);
            anchor.set_download(name);
            anchor.click();
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (name, text);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_is_recognised_from_the_text() {
        assert_eq!(
            guess_format("  {\"format\": \"corral\"}"),
            ImportFormat::Corral
        );
        assert_eq!(
            guess_format("version = 1\n[*]\nc = 4096\n"),
            ImportFormat::LlamaPreset
        );
        assert_eq!(
            guess_format("models:\n  a:\n    cmd: x\n"),
            ImportFormat::LlamaSwap
        );
        // A YAML list in brackets is not an INI section.
        assert_eq!(
            guess_format("models:\n  a:\n    aliases: [x]\n"),
            ImportFormat::LlamaSwap
        );
    }
}
