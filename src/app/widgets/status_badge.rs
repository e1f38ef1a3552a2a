//! A model's status as a coloured word, with the reason when it is an error.

use leptos::prelude::*;

use crate::domain::ModelStatus;

#[component]
pub fn StatusBadge(status: ModelStatus, reason: Option<String>) -> impl IntoView {
    view! {
        <span class=format!("status status-{}", status.as_str())>{status.label()}</span>
        {reason.map(|reason| {
            let title = reason.clone();
            view! { <span class="status-reason" title=title>{reason}</span> }
        })}
    }
}
