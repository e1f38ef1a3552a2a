//! One config group as a form with its own Save.

use leptos::prelude::*;

use crate::api::config::save_config;
use crate::app::model::shape_preview::ShapePreview;
use crate::app::widgets::field_form::{FieldInputs, FormState};
use crate::app::widgets::toast::use_toasts;
use crate::app::widgets::unsaved_edits::UnsavedEdits;
use crate::domain::config::{ConfigGroup, ConfigGroupKind};

#[component]
pub fn ConfigSection(
    id: i64,
    loaded: ConfigGroup,
    on_saved: Callback<()>,
    /// The model's name, for the serving group's preview of a request.
    name: String,
) -> impl IntoView {
    let group = loaded.kind();
    let title_id = format!("{}-title", group.as_str());
    let labelled_by = title_id.clone();
    view! {
        <section class="card" id=group.as_str() aria-labelledby=labelled_by>
            <h2 id=title_id>{group.title()}</h2>
            <p class="muted">{group.summary()}</p>
            <GroupForm id loaded on_saved name/>
        </section>
    }
}

#[component]
fn GroupForm(id: i64, loaded: ConfigGroup, on_saved: Callback<()>, name: String) -> impl IntoView {
    let toasts = use_toasts();
    let group = loaded.kind();
    let form = FormState::new(group.fields(), &loaded.to_object());
    UnsavedEdits::watch(&form);
    let save = form.save_action(
        move |value| save_config(id, group, value),
        move |form, stored| {
            form.reset(&stored.to_object());
            toasts.success(format!("Saved {} settings", group.title()));
            on_saved.run(());
        },
    );
    let submitted = form.clone();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        submitted.submit(save, |value| group.parse_config(value).map(drop));
    };
    view! {
        <form on:submit=on_submit novalidate>
            <div class="field-grid">
                <FieldInputs form=form.clone() fields=group.fields() prefix=group.as_str()/>
            </div>
            {(group == ConfigGroupKind::Serving).then(|| view! { <ShapePreview form=form.clone() name/> })}
            <div class="form-actions">
                <button type="submit" class="primary" disabled=move || save.pending().get()>
                    {format!("Save {} settings", group.title())}
                </button>
            </div>
        </form>
    }
}
