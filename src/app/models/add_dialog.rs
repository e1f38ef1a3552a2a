//! "Add model": the dialog that registers a GGUF file.

use leptos::prelude::*;
use serde_json::Map;

use crate::api::models::create_model;
use crate::app::models::state::ModelsPageState;
use crate::app::widgets::dialog::Modal;
use crate::app::widgets::field_form::{FieldInputs, FormState, any_error_in};
use crate::app::widgets::toast::use_toasts;
use crate::domain::ModelSpec;
use crate::domain::fields::{FieldSet, FieldSpec};

/// Shown at once; the rest of the run settings sit under "More run settings".
const FIRST_FIELDS: usize = 4;

#[component]
pub fn AddModelDialog(state: ModelsPageState) -> impl IntoView {
    let toasts = use_toasts();
    let form = FormState::new(ModelSpec::FIELDS, &Map::new());
    let (main, more): (&'static [FieldSpec], &'static [FieldSpec]) =
        ModelSpec::FIELDS.split_at(FIRST_FIELDS);

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
                <FieldInputs form=form.clone() fields=main prefix="add"/>
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
