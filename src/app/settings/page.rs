//! `/settings`: Corral's own settings as a form (saved in the database and applied at once),
//! which of them a flag decided (shown read-only), the llama-server in use with its version and
//! devices, a backup of the database to download, and models imported and exported.

use leptos::prelude::*;
use leptos_meta::Title;
use serde_json::{Map, Value};

use crate::api::settings::{get_settings, save_settings};
use crate::app::settings::import_export::{ExportCard, ImportCard};
use crate::app::widgets::field_form::{FieldInputs, FormState, Locked};
use crate::app::widgets::toast::use_toasts;
use crate::domain::fields::FieldSet;
use crate::domain::settings::{CorralSettings, LlamaServerInfo, SETTINGS, SettingsView};

fn object_of(settings: &CorralSettings) -> Map<String, Value> {
    match serde_json::to_value(settings) {
        Ok(Value::Object(object)) => object,
        _ => Map::new(),
    }
}

#[component]
pub fn SettingsPage() -> impl IntoView {
    // Read in the browser after the page: --version and --list-devices may take seconds.
    let view = LocalResource::new(get_settings);
    view! {
        <Title text="Settings"/>
        <div class="page-head"><h1>"Settings"</h1></div>
        <Transition fallback=|| view! { <p class="muted">"Reading the settings…"</p> }>
            {move || view.get().map(|loaded| match loaded {
                Ok(settings) => view! { <Loaded settings/> }.into_any(),
                Err(error) => view! { <p class="error-banner" role="alert">{error.to_string()}</p> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn Loaded(settings: SettingsView) -> impl IntoView {
    let current = RwSignal::new(settings.clone());
    let toasts = use_toasts();
    // A setting a flag decided shows the value in effect, read-only, and the flag.
    let effective = object_of(&settings.effective);
    let locked = settings
        .set_by_flag
        .iter()
        .filter_map(|set| {
            let field = CorralSettings::FIELDS.iter().find(|f| f.key == set.key)?;
            Some(Locked {
                key: set.key.clone(),
                shown: field.value_to_text(effective.get(field.key).unwrap_or(&Value::Null)),
                source: set.source.clone(),
            })
        })
        .collect();
    let form =
        FormState::new(CorralSettings::FIELDS, &object_of(&settings.stored)).with_locked(locked);
    // Sent with the revision it was edited from: a save elsewhere meanwhile is not undone.
    let save = form.save_action(
        move |document| save_settings(document, Some(current.get_untracked().revision)),
        move |form: &FormState, saved: SettingsView| {
            form.reset(&object_of(&saved.stored));
            current.set(saved);
            toasts.success("Saved the settings; they apply now".to_string());
        },
    );
    let submitted = form.clone();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        submitted.submit(save, |value| CorralSettings::parse(value).map(drop));
    };
    view! {
        <section class="card" aria-labelledby="llama-server-title">
            <h2 id="llama-server-title">"llama-server"</h2>
            {move || view! { <BinaryInfo info=current.get().llama_server/> }}
        </section>
        <section class="card" aria-labelledby="settings-title">
            <h2 id="settings-title">"Corral"</h2>
            <form on:submit=on_submit novalidate>
                <div class="field-grid">
                    <FieldInputs form=form.clone() fields=CorralSettings::FIELDS prefix="settings"/>
                </div>
                <div class="form-actions">
                    <button type="submit" class="primary" disabled=move || save.pending().get()>"Save settings"</button>
                </div>
            </form>
        </section>
        <section class="card" aria-labelledby="effective-title">
            <h2 id="effective-title">"In effect now"</h2>
            // A value can be long (a path): it wraps anywhere, so the table fits its card.
            <table class="activity in-effect" aria-label="Settings in effect">
                <tbody>
                    {move || {
                        let view = current.get();
                        let effective = object_of(&view.effective);
                        SETTINGS.iter().map(|setting| {
                            let field = &setting.field;
                            let shown = field.value_to_text(effective.get(field.key).unwrap_or(&Value::Null));
                            // One folder per line, as the form has them.
                            let shown = if shown.is_empty() { field.default.to_string() } else { shown };
                            let flag = view.flag_for(field.key).map(|source| format!(" (set by {source})"));
                            view! {
                                <tr>
                                    <th scope="row">{field.label}</th>
                                    <td><span class="value">{shown}{flag}</span><br/><small class="muted">"A change applies "{setting.applies.words()}"."</small></td>
                                </tr>
                            }
                        }).collect_view()
                    }}
                </tbody>
            </table>
        </section>
        <section class="card" aria-labelledby="backup-title">
            <h2 id="backup-title">"Backup"</h2>
            <p>"A consistent copy of Corral's database (every model, setting, key and history), made while Corral runs."</p>
            <p><a class="button" href="/api/backup" download>"Download a backup"</a></p>
            <p class="muted">"Or on the command line: "<code>"corral backup PATH"</code>". Models and their settings alone: "
                <a href="#export">"Export"</a>" (and "<a href="#import">"Import"</a>" them elsewhere)."</p>
        </section>
        <ImportCard/>
        <ExportCard/>
    }
}

#[component]
fn BinaryInfo(info: LlamaServerInfo) -> impl IntoView {
    let devices = if info.devices.is_empty() {
        "none (CPU only)".to_string()
    } else {
        info.devices.join("; ")
    };
    view! {
        <dl class="facts">
            <div><dt>"In use"</dt><dd class="mono">{info.path.clone().unwrap_or_else(|| "none".into())}</dd></div>
            <div><dt>"Version"</dt><dd>{info.version.clone().unwrap_or_else(|| "unknown".into())}</dd></div>
            <div><dt>"Build"</dt><dd>{info.build.clone().unwrap_or_else(|| "unknown".into())}</dd></div>
            <div><dt>"Devices"</dt><dd>{devices}</dd></div>
        </dl>
        {if info.missing_flags.is_empty() {
            (info.problem.is_none()).then(|| view! { <p class="muted">"Capability check: this build has a flag for every setting Corral passes."</p> }).into_any()
        } else {
            view! {
                <p class="notice-banner" role="status">"Capability check: this build has no flag for "
                    {info.missing_flags.join(", ")}
                    "; a model using one of these settings is refused before it starts."</p>
            }.into_any()
        }}
        {info.problem.map(|problem| view! { <p class="error-banner" role="alert">{problem}</p> })}
    }
}
