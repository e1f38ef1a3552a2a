//! `/models/<id>`: one model's settings, each group saved on its own, and the audit trail.
//! Everything the page shows loads in one call (`models/detail`): one round trip, and no
//! nested or chained loading that could outlive a navigation or stall a server render.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::api::config::config_history;
use crate::api::models::get_model_detail;
use crate::app::NotFound;
use crate::app::built_once::built_once;
use crate::app::live_store::use_live;
use crate::app::model::config_section::ConfigSection;
use crate::app::model::file_section::FileSection;
use crate::app::model::general_section::GeneralSection;
use crate::app::model::history::History;
use crate::app::model::run_section::RunSection;
use crate::app::model::use_section::UseSection;
use crate::app::widgets::local_time::LocalTime;
use crate::app::widgets::log_view::LogView;
use crate::app::widgets::status_badge::StatusBadge;
use crate::app::widgets::unsaved_edits::UnsavedEdits;
use crate::domain::AppError;
use crate::domain::audit::ModelDetail;
use crate::domain::config::{ConfigGroup, ConfigGroupKind};
use crate::domain::memory_estimate::KvSettings;
use crate::domain::run::LogSource;
use crate::domain::time::format_bytes;

#[component]
pub fn ModelPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.with(|p| p.get("id").and_then(|id| id.parse::<i64>().ok())));
    let data = Resource::new(
        move || id.get(),
        |id| async move {
            match id {
                Some(id) => get_model_detail(id).await,
                None => Err(AppError::not_found("model", "at this address")),
            }
        },
    );
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading the model…"</p> }>
            {move || Suspend::new(async move {
                match built_once(data).await {
                    Ok(data) => view! { <ModelDetailView data/> }.into_any(),
                    Err(error @ AppError::NotFound { .. }) => view! { <NotFound message=error.to_string()/> }.into_any(),
                    Err(error) => view! {
                        <p class="error-banner" role="alert">{format!("Could not load the model: {error}")}</p>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn ModelDetailView(data: ModelDetail) -> impl IntoView {
    // Edits typed in any section and not saved: leaving the page asks first.
    UnsavedEdits::provide();
    let ModelDetail {
        model,
        groups,
        history,
    } = data;
    let id = model.id;
    let (memory, advanced, gpu) = estimate_groups(&groups);
    let current = RwSignal::new(model);
    // The estimate follows the General settings as they are typed (once valid), else as saved.
    let draft = RwSignal::new(None::<crate::domain::ModelSpec>);
    let kv = Signal::derive(move || {
        let spec = draft
            .get()
            .unwrap_or_else(|| current.with(|m| m.spec.clone()));
        KvSettings::of(&spec, &memory, &advanced)
    });
    let history = RwSignal::new(history);
    // After each save the history is fetched again; a failure leaves the old list in place.
    let reload_history = Action::new(move |_: &()| async move {
        if let Ok(changes) = config_history(id, None, None).await {
            history.set(changes);
        }
    });
    let on_saved = Callback::new(move |()| {
        reload_history.dispatch(());
    });
    // Changes from other tabs and scripts: the header follows them; the forms keep what the
    // person is typing.
    let live = use_live();
    let deleted = Memo::new(move |_| {
        live.state.with(|s| {
            s.as_ref()
                .is_some_and(|s| !s.models.iter().any(|m| m.id == id))
        })
    });
    Effect::new(move |_| {
        let newer = live.state.with(|s| {
            s.as_ref()
                .and_then(|s| s.models.iter().find(|m| m.id == id).cloned())
        });
        if let Some(model) = newer
            && current.with_untracked(|m| m != &model)
        {
            current.set(model);
        }
    });
    let name = move || current.with(|m| m.spec.name.clone());
    // A fixed title for the server render: a reactive <Title> inside async-rendered content
    // stalls concurrent server renders (leptos_meta). Later renames update it in the browser.
    let title = current.with_untracked(|m| m.spec.name.clone());
    Effect::new(move |_| {
        let name = name();
        if let Some(document) = web_sys::window().and_then(|w| w.document()) {
            document.set_title(&format!("{name} · Corral"));
        }
    });
    // A link to a section from another page ("⋯ → Logs") completes its navigation before this
    // page is in the document, so the router's jump to the section found nothing and went to
    // the top: jump once the section is there.
    let location = leptos_router::hooks::use_location();
    Effect::new(move |_| {
        let hash = location.hash.get();
        if let Some(section) = hash.strip_prefix('#').filter(|id| !id.is_empty()) {
            scroll_to_section(section.to_string(), 60);
        }
    });
    view! {
        <Title text=title/>
        <Show when=move || deleted.get()>
            <p class="error-banner" role="alert">"This model was deleted (in another tab or by a script). " <a href="/">"Back to the models"</a></p>
        </Show>
        <nav class="breadcrumb" aria-label="Breadcrumb"><a href="/">"Models"</a>" / "<span>{name}</span></nav>
        <div class="page-head">
            <h1>{name}</h1>
            {move || current.with(|m| view! { <StatusBadge status=m.status reason=m.status_reason.clone()/> })}
            <a class="button chat-link" href=move || current.with(|m| playground_for(&m.spec.name))>"Chat with it"</a>
        </div>
        <dl class="facts">
            <div><dt>"Kind"</dt><dd>{move || current.with(|m| m.spec.kind.label())}</dd></div>
            <div><dt>"File"</dt><dd class="mono">{move || current.with(|m| m.spec.path.clone())}</dd></div>
            <div><dt>"Size"</dt><dd>{move || current.with(|m| m.size_bytes.map_or_else(|| "file missing".to_string(), format_bytes))}</dd></div>
            <div><dt>"Updated"</dt><dd>{move || current.with(|m| view! { <LocalTime ms=m.updated_at/> })}</dd></div>
        </dl>
        <div class="detail-layout">
            <nav class="section-nav" aria-label="Settings sections">
                <a href="#run">"Process"</a>
                <a href="#use">"Use"</a>
                <a href="#file">"File"</a>
                <a href="#logs">"Logs"</a>
                <a href="#general">"General"</a>
                {ConfigGroupKind::ALL.iter().map(|g| view! { <a href=format!("#{}", g.as_str())>{g.title()}</a> }).collect_view()}
                <a href="#history">"History"</a>
            </nav>
            <div class="sections">
                <RunSection current live/>
                <UseSection current/>
                <FileSection id kv gpu current/>
                <LogView source=LogSource::Model(id) live title="Logs" empty="No log lines yet. Start the model to see its output here."/>
                <GeneralSection current on_saved draft/>
                {groups.into_iter().map(|loaded| {
                    let name = current.with_untracked(|m| m.spec.name.clone());
                    view! { <ConfigSection id loaded on_saved name/> }
                }).collect_view()}
                <History history/>
            </div>
        </div>
    }
}

/// Scrolls the element with this id into view at the next frame it is in the document,
/// looking for at most `frames` frames (about a second at 60).
fn scroll_to_section(id: String, frames: u8) {
    request_animation_frame(move || {
        let element = web_sys::window()
            .and_then(|window| window.document())
            .and_then(|document| document.get_element_by_id(&id));
        match element {
            Some(element) => element.scroll_into_view(),
            None if frames > 0 => scroll_to_section(id, frames - 1),
            None => {}
        }
    });
}

/// The saved groups the memory estimate reads: memory and advanced (cache types, flash
/// attention, SWA) and GPU (layers offloaded, KV cache kept on the host or not).
fn estimate_groups(
    groups: &[ConfigGroup],
) -> (
    crate::domain::config::MemoryConfig,
    crate::domain::config::AdvancedConfig,
    crate::domain::config::gpu::GpuConfig,
) {
    let mut memory = Default::default();
    let mut advanced = Default::default();
    let mut gpu = Default::default();
    for group in groups {
        match group {
            ConfigGroup::Memory(config) => memory = config.clone(),
            ConfigGroup::Advanced(config) => advanced = config.clone(),
            ConfigGroup::Gpu(config) => gpu = config.clone(),
            _ => {}
        }
    }
    (memory, advanced, gpu)
}

/// The Playground with this model chosen (`/playground?model=<name>`, the name
/// percent-encoded).
fn playground_for(name: &str) -> String {
    let mut encoded = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("/playground?model={encoded}")
}
