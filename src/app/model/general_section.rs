//! The model's own settings: name, file, kind and the top-level run settings.

use leptos::prelude::*;

use crate::api::models::update_model;
use crate::app::widgets::field_form::{FieldInputs, FormState};
use crate::app::widgets::toast::use_toasts;
use crate::app::widgets::unsaved_edits::UnsavedEdits;
use crate::domain::fields::FieldSet;
use crate::domain::{Model, ModelSpec};

#[component]
pub fn GeneralSection(
    current: RwSignal<Model>,
    on_saved: Callback<()>,
    /// The settings as typed, while they are valid: the memory estimate follows them before a
    /// save.
    draft: RwSignal<Option<ModelSpec>>,
) -> impl IntoView {
    let toasts = use_toasts();
    let form = FormState::new(
        ModelSpec::FIELDS,
        &current.with_untracked(|m| m.spec.to_object()),
    );
    UnsavedEdits::watch(&form);
    let typed = form.clone();
    Effect::new(move |_| {
        draft.set(ModelSpec::parse(&typed.value()).ok());
    });
    let save = form.save_action(
        // The form holds every field, so the patch replaces them all.
        move |value| {
            let id = current.with_untracked(|m| m.id);
            update_model(id, value.as_object().cloned().unwrap_or_default())
        },
        move |form, model| {
            form.reset(&model.spec.to_object());
            toasts.success(format!("Saved {}", model.spec.name));
            current.set(model);
            on_saved.run(());
        },
    );
    let submitted = form.clone();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        submitted.submit(save, |value| ModelSpec::parse(value).map(drop));
    };
    view! {
        <section class="card" id="general" aria-labelledby="general-title">
            <h2 id="general-title">"General"</h2>
            <p class="muted">"Name, file and the main run settings. Empty fields use llama-server's defaults."</p>
            <form on:submit=on_submit novalidate>
                <div class="field-grid">
                    <FieldInputs form=form.clone() fields=ModelSpec::FIELDS prefix="general"/>
                </div>
                <div class="form-actions">
                    <button type="submit" class="primary" disabled=move || save.pending().get()>"Save general settings"</button>
                </div>
            </form>
        </section>
    }
}
