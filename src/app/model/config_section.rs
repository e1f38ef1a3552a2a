//! One config group as a form with its own Save.

use leptos::prelude::*;

use crate::api::config::{load_config, save_config};
use crate::app::widgets::field_form::{FieldInputs, FormState};
use crate::app::widgets::toast::use_toasts;
use crate::domain::config::{ConfigGroup, ConfigGroupKind};

#[component]
pub fn ConfigSection(id: i64, group: ConfigGroupKind, saved: RwSignal<u64>) -> impl IntoView {
    let config = Resource::new(|| (), move |()| load_config(id, group));
    let title_id = format!("{}-title", group.as_str());
    let labelled_by = title_id.clone();
    view! {
        <section class="card" id=group.as_str() aria-labelledby=labelled_by>
            <h2 id=title_id>{group.title()}</h2>
            <p class="muted">{group.summary()}</p>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match config.await {
                        Ok(loaded) => view! { <GroupForm id loaded saved/> }.into_any(),
                        Err(error) => view! { <p class="error-banner" role="alert">{error.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn GroupForm(id: i64, loaded: ConfigGroup, saved: RwSignal<u64>) -> impl IntoView {
    let toasts = use_toasts();
    let group = loaded.kind();
    let form = FormState::new(group.fields(), &loaded.to_object());
    let busy = RwSignal::new(false);
    let submitted = form.clone();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        submitted.submit(
            busy,
            |value| group.parse_config(value).map(drop),
            move |value| save_config(id, group, value),
            move |form, stored| {
                form.reset(&stored.to_object());
                toasts.success(format!("Saved {} settings", group.title()));
                saved.update(|n| *n += 1);
            },
        );
    };
    view! {
        <form on:submit=on_submit novalidate>
            <div class="field-grid">
                <FieldInputs form=form.clone() fields=group.fields() prefix=group.as_str()/>
            </div>
            <div class="form-actions">
                <button type="submit" class="primary" disabled=move || busy.get()>
                    {format!("Save {} settings", group.title())}
                </button>
            </div>
        </form>
    }
}
