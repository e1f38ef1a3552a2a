//! The dialog that makes or changes a thing known by its name (a virtual model, a run-together
//! group): its fields from the type's `FIELDS` (the name first, shown only when making one),
//! checked in the browser by the same `parse` the server runs, saved by the caller's
//! create-or-update function.

use std::future::Future;

use leptos::prelude::*;
use serde_json::{Map, Value};

use crate::app::widgets::dialog::Modal;
use crate::app::widgets::field_form::{FieldInputs, FormState};
use crate::domain::AppError;
use crate::domain::fields::FieldSet;

/// What a dialog is doing: making a new one, or changing the one named.
#[derive(Clone, PartialEq)]
pub enum Editing {
    New,
    Named(String),
}

/// The words and ids that differ between the dialogs.
#[derive(Clone, Copy)]
pub struct Wording {
    /// The dialog's id, and the prefix of its fields' ids (`{prefix}-name`).
    pub id: &'static str,
    pub prefix: &'static str,
    /// The title when making one ("Edit {name}" when changing one).
    pub new_title: &'static str,
    /// The title's start when changing one: `{edit_title}{name}`.
    pub edit_title: &'static str,
    pub intro: &'static str,
}

/// `values` are the fields of the one named (empty for a new one); `save` gets the name being
/// changed (`None`: a new one) and the form's value; `saved` runs once it is stored.
#[component]
pub fn NamedDialog<T, S, Fut>(
    editing: RwSignal<Option<Editing>>,
    values: Signal<Map<String, Value>>,
    wording: Wording,
    save: S,
    saved: Callback<T>,
) -> impl IntoView
where
    T: FieldSet + Send + Sync + 'static,
    S: Fn(Option<String>, Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, AppError>> + Send + 'static,
{
    // Every field but the name when changing one: a thing is changed by its name.
    let edit_fields = T::FIELDS.split_at(1).1;
    let is_new = move || editing.with(|e| e == &Some(Editing::New));
    let form = FormState::new(T::FIELDS, &values.get_untracked());
    let reset = form.clone();
    Effect::new(move |_| reset.reset(&values.get()));
    let close = move || editing.set(None);
    let save = form.save_action(
        move |value: Value| {
            let named = match editing.get_untracked() {
                Some(Editing::Named(name)) => Some(name),
                _ => None,
            };
            save(named, value)
        },
        move |_, value: T| {
            editing.set(None);
            saved.run(value);
        },
    );
    let submitted = form.clone();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let named = editing.get_untracked();
        submitted.submit(save, move |value| {
            let mut value = value.clone();
            if let (Some(Editing::Named(name)), Some(object)) = (named, value.as_object_mut()) {
                object.insert("name".into(), Value::String(name));
            }
            T::parse(&value).map(drop)
        });
    };
    let title = Signal::derive(move || match editing.get() {
        Some(Editing::Named(name)) => format!("{}{name}", wording.edit_title),
        _ => wording.new_title.to_string(),
    });
    let open = Signal::derive(move || editing.with(Option::is_some));
    let (new_form, edit_form) = (form.clone(), form.clone());
    view! {
        <Modal open on_close=Callback::new(move |()| close()) title id=wording.id>
            <form on:submit=on_submit novalidate>
                <p class="muted">{wording.intro}</p>
                <Show when=is_new fallback=move || view! {
                    <FieldInputs form=edit_form.clone() fields=edit_fields prefix=wording.prefix/>
                }>
                    <FieldInputs form=new_form.clone() fields=T::FIELDS prefix=wording.prefix/>
                </Show>
                <div class="dialog-actions">
                    <button type="button" on:click=move |_| close()>"Cancel"</button>
                    <button type="submit" class="primary" disabled=move || save.pending().get()>
                        {move || if is_new() { "Create" } else { "Save" }}
                    </button>
                </div>
            </form>
        </Modal>
    }
}
