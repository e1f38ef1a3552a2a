//! The audit trail: every saved change, newest first.

use leptos::prelude::*;
use serde_json::Value;

use crate::app::widgets::local_time::LocalTime;
use crate::domain::audit::ConfigChange;
use crate::domain::config::ConfigGroupKind;

#[component]
pub fn History(history: RwSignal<Vec<ConfigChange>>) -> impl IntoView {
    view! {
        <section class="card" id="history" aria-labelledby="history-title">
            <h2 id="history-title">"History"</h2>
            {move || {
                let changes = history.get();
                if changes.is_empty() {
                    view! {
                        <p class="muted">"No changes yet: this model still has the settings it was added with."</p>
                    }
                    .into_any()
                } else {
                    view! {
                        <ol class="history">{changes.into_iter().map(|c| view! { <Entry change=c/> }).collect_view()}</ol>
                    }
                    .into_any()
                }
            }}
        </section>
    }
}

#[component]
fn Entry(change: ConfigChange) -> impl IntoView {
    let scope = ConfigGroupKind::parse(&change.scope).map_or("General", ConfigGroupKind::title);
    view! {
        <li>
            <div class="history-head"><LocalTime ms=change.changed_at/>" · "<strong>{scope}</strong></div>
            <ul>
                {change.changes.into_iter().map(|c| view! {
                    <li><code>{c.field}</code>": "{show(&c.before)}" → "{show(&c.after)}</li>
                }).collect_view()}
            </ul>
        </li>
    }
}

fn show(value: &Value) -> String {
    match value {
        Value::Null => "default".to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) if items.is_empty() => "none".to_string(),
        other => other.to_string(),
    }
}
