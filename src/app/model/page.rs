//! `/models/<id>`: one model's settings, each group saved on its own, and the audit trail.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::api::models::get_model;
use crate::app::NotFound;
use crate::app::model::config_section::ConfigSection;
use crate::app::model::general_section::GeneralSection;
use crate::app::model::history::History;
use crate::app::models::table::StatusBadge;
use crate::domain::config::ConfigGroupKind;
use crate::domain::time::{format_bytes, format_utc};
use crate::domain::{AppError, Model};

#[component]
pub fn ModelPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").and_then(|id| id.parse::<i64>().ok()));
    let model = Resource::new(id, |id| async move {
        match id {
            Some(id) => get_model(id).await,
            None => Err(AppError::not_found("model", "at this address")),
        }
    });
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading the model…"</p> }>
            {move || Suspend::new(async move {
                match model.await {
                    Ok(model) => view! { <ModelDetail model/> }.into_any(),
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
fn ModelDetail(model: Model) -> impl IntoView {
    let id = model.id;
    let current = RwSignal::new(model);
    // Bumped after each save so the history reloads.
    let saved = RwSignal::new(0u64);
    let name = move || current.with(|m| m.spec.name.clone());
    view! {
        <Title text=name/>
        <nav class="breadcrumb" aria-label="Breadcrumb"><a href="/">"Models"</a>" / "<span>{name}</span></nav>
        <div class="page-head">
            <h1>{name}</h1>
            {move || current.with(|m| view! { <StatusBadge status=m.status reason=m.status_reason.clone()/> })}
        </div>
        <dl class="facts">
            <div><dt>"Kind"</dt><dd>{move || current.with(|m| m.spec.kind.label())}</dd></div>
            <div><dt>"File"</dt><dd class="mono">{move || current.with(|m| m.spec.path.clone())}</dd></div>
            <div><dt>"Size"</dt><dd>{move || current.with(|m| m.size_bytes.map_or_else(|| "file missing".to_string(), format_bytes))}</dd></div>
            <div><dt>"Updated"</dt><dd>{move || current.with(|m| format_utc(m.updated_at))}</dd></div>
        </dl>
        <div class="detail-layout">
            <nav class="section-nav" aria-label="Settings sections">
                <a href="#general">"General"</a>
                {ConfigGroupKind::ALL.iter().map(|g| view! { <a href=format!("#{}", g.as_str())>{g.title()}</a> }).collect_view()}
                <a href="#history">"History"</a>
            </nav>
            <div class="sections">
                <GeneralSection current saved/>
                {ConfigGroupKind::ALL.iter().map(|group| view! { <ConfigSection id group=*group saved/> }).collect_view()}
                <History id saved/>
            </div>
        </div>
    }
}
