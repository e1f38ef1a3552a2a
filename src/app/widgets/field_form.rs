//! A form generated from field descriptions: one input per field, its help and default, and the
//! same error messages the API gives (the form validates with the shared parser before sending).

use leptos::prelude::*;
use serde_json::{Map, Value};

use crate::app::widgets::toast::use_toasts;
use crate::domain::fields::{FieldSpec, InputKind};
use crate::domain::{AppError, FieldError};

/// The text of every field in a form, and the errors to show.
#[derive(Clone)]
pub struct FormState {
    fields: &'static [FieldSpec],
    texts: Vec<RwSignal<String>>,
    pub errors: RwSignal<Vec<FieldError>>,
    /// The text of every field as last loaded or saved: what "unsaved" is measured against.
    baseline: RwSignal<Vec<String>>,
    /// Fields decided elsewhere (a command-line flag): shown read-only with the value in
    /// effect and where it was set. Their text still holds the saved value, sent unchanged.
    locked: std::sync::Arc<Vec<Locked>>,
}

/// A field shown read-only: the value in effect and what set it (`--max-running`).
#[derive(Debug, Clone, PartialEq)]
pub struct Locked {
    pub key: String,
    pub shown: String,
    pub source: String,
}

impl FormState {
    pub fn new(fields: &'static [FieldSpec], values: &Map<String, Value>) -> FormState {
        let first: Vec<String> = fields
            .iter()
            .map(|f| f.value_to_text(values.get(f.key).unwrap_or(&Value::Null)))
            .collect();
        let texts = first.iter().cloned().map(RwSignal::new).collect();
        FormState {
            fields,
            texts,
            baseline: RwSignal::new(first),
            errors: RwSignal::new(Vec::new()),
            locked: std::sync::Arc::new(Vec::new()),
        }
    }

    /// The same form with `locked` fields read-only.
    pub fn with_locked(mut self, locked: Vec<Locked>) -> FormState {
        self.locked = std::sync::Arc::new(locked);
        self
    }

    /// Puts `values` back into every field and clears the errors.
    pub fn reset(&self, values: &Map<String, Value>) {
        let mut baseline = Vec::with_capacity(self.fields.len());
        for (field, text) in self.fields.iter().zip(&self.texts) {
            let value = field.value_to_text(values.get(field.key).unwrap_or(&Value::Null));
            text.set(value.clone());
            baseline.push(value);
        }
        self.baseline.set(baseline);
        self.errors.set(Vec::new());
    }

    /// True (tracked) while something typed differs from what was last loaded or saved.
    pub fn is_dirty(&self) -> bool {
        self.baseline.with(|baseline| {
            self.texts
                .iter()
                .zip(baseline)
                .any(|(text, saved)| text.with(|t| t.trim() != saved.trim()))
        })
    }

    /// What the person typed, as the JSON object the API takes.
    pub fn to_value(&self) -> Value {
        let object = self
            .fields
            .iter()
            .zip(&self.texts)
            .map(|(field, text)| {
                (
                    field.key.to_string(),
                    field.text_to_value(&text.get_untracked()),
                )
            })
            .collect();
        Value::Object(object)
    }

    /// Shows an error: field errors inline (returns true), anything else is the caller's.
    /// What the person has typed so far, as `to_value` reads it, but tracked: an effect or
    /// memo that reads it runs again on every keystroke.
    pub fn value(&self) -> Value {
        let object = self
            .fields
            .iter()
            .zip(&self.texts)
            .map(|(field, text)| (field.key.to_string(), field.text_to_value(&text.get())))
            .collect();
        Value::Object(object)
    }

    pub fn show(&self, error: &AppError) -> bool {
        let errors = error.field_errors();
        let inline = !errors.is_empty();
        self.errors.set(errors);
        inline
    }

    /// The text typed in one field (to watch it, or fill it in).
    pub fn text(&self, key: &str) -> Option<RwSignal<String>> {
        self.fields
            .iter()
            .position(|f| f.key == key)
            .map(|i| self.texts[i])
    }
}

/// Sending a form, as a Leptos action: `pending()` disables its Save button while it runs.
pub type SaveAction = Action<Value, ()>;

impl FormState {
    /// The one way a form is sent: `save` the value; field errors show inline, any other error
    /// as a toast, success runs `done`.
    pub fn save_action<T, Fut>(
        &self,
        save: impl Fn(Value) -> Fut + Send + Sync + 'static,
        done: impl Fn(&FormState, T) + Send + Sync + 'static,
    ) -> SaveAction
    where
        T: 'static,
        Fut: std::future::Future<Output = Result<T, AppError>> + Send + 'static,
    {
        let form = self.clone();
        let toasts = use_toasts();
        let done = std::sync::Arc::new(done);
        // Not a local action: the server renders on many threads and drops it on any of them.
        Action::new(move |value: &Value| {
            let (form, done, sent) = (form.clone(), done.clone(), save(value.clone()));
            async move {
                match sent.await {
                    Ok(saved) => done(&form, saved),
                    Err(error) => {
                        if !form.show(&error) {
                            toasts.error(format!("Could not save: {error}"));
                        }
                    }
                }
            }
        })
    }

    /// Checks with the shared parser (same messages as the API), then sends with `action`.
    pub fn submit(&self, action: SaveAction, check: impl FnOnce(&Value) -> Result<(), AppError>) {
        let value = self.to_value();
        if let Err(error) = check(&value) {
            self.show(&error);
            return;
        }
        self.errors.set(Vec::new());
        action.dispatch(value);
    }
}

/// Does `error` belong to `field` (itself or one of its list entries)?
fn belongs_to(error: &FieldError, field: &FieldSpec) -> bool {
    error
        .field
        .strip_prefix(field.key)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('[') || rest.starts_with('.'))
}

/// True when any of `fields` has an error (to open a collapsed section).
pub fn any_error_in(form: &FormState, fields: &'static [FieldSpec]) -> bool {
    form.errors.with(|errors| {
        errors
            .iter()
            .any(|e| fields.iter().any(|f| belongs_to(e, f)))
    })
}

/// The inputs of `fields` (all in `form`), ids prefixed with `prefix`.
#[component]
pub fn FieldInputs(
    form: FormState,
    fields: &'static [FieldSpec],
    prefix: &'static str,
) -> impl IntoView {
    fields
        .iter()
        .filter_map(|field| {
            let locked = form.locked.iter().find(|l| l.key == field.key).cloned();
            form.text(field.key).map(|text| match locked {
                Some(locked) => locked_input(field, locked, prefix).into_any(),
                None => field_input(field, text, form.errors, prefix).into_any(),
            })
        })
        .collect_view()
}

fn field_input(
    field: &'static FieldSpec,
    text: RwSignal<String>,
    errors: RwSignal<Vec<FieldError>>,
    prefix: &'static str,
) -> impl IntoView {
    let id = format!("{prefix}-{}", field.key);
    let help_id = format!("{id}-help");
    let error_id = format!("{id}-error");
    let message = move || {
        errors.with(|errors| {
            errors
                .iter()
                .filter(|e| belongs_to(e, field))
                .map(|e| {
                    let entry = e.field.strip_prefix(field.key).unwrap_or_default();
                    format!("{}{entry} {}", field.label, e.message)
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
    };
    let invalid = move || !message().is_empty();
    let initial = text.get_untracked();
    let on_input = move |ev| text.set(event_target_value(&ev));
    let described_by = format!("{help_id} {error_id}");
    let control = match field.input {
        InputKind::Toggle | InputKind::Choice { .. } => {
            let options: Vec<(&'static str, &'static str)> = match field.input {
                InputKind::Choice { options } => options.iter().map(|o| (*o, *o)).collect(),
                _ => vec![("on", "On"), ("off", "Off")],
            };
            view! {
                <select id=id.clone() aria-describedby=described_by aria-invalid=move || invalid().to_string()
                    on:change=on_input prop:value=move || text.get()>
                    <option value="" selected=initial.is_empty()>{format!("Default ({})", field.default)}</option>
                    {options.into_iter().map(|(value, label)| view! {
                        <option value=value selected=initial == value>{label}</option>
                    }).collect_view()}
                </select>
            }
            .into_any()
        }
        InputKind::Text { multiline: true, .. }
        | InputKind::List { .. }
        | InputKind::ScaledPaths { .. }
        | InputKind::JsonObject { .. } => view! {
            <textarea id=id.clone() rows="3" placeholder=field.default aria-describedby=described_by
                aria-invalid=move || invalid().to_string() on:input=on_input prop:value=move || text.get()>
                {textarea_text(&initial)}
            </textarea>
        }
        .into_any(),
        _ => {
            let numeric = matches!(field.input, InputKind::Integer { .. } | InputKind::Float { .. });
            view! {
                <input id=id.clone() type="text" inputmode=if numeric { "decimal" } else { "text" }
                    autocomplete="off" spellcheck="false" placeholder=field.default value=initial
                    aria-describedby=described_by aria-invalid=move || invalid().to_string()
                    aria-required=field.required.to_string()
                    on:input=on_input prop:value=move || text.get()/>
            }
            .into_any()
        }
    };
    view! {
        <div class="field" class:invalid=invalid>
            <label for=id>{field.label}{field.required.then_some(view! { <span class="required" aria-hidden="true">" *"</span> })}</label>
            {control}
            <p class="help" id=help_id>
                {field.help}
                {(!field.default.is_empty()).then(|| view! { <span class="default">" Default: "{field.default}"."</span> })}
            </p>
            <p class="field-error" id=error_id>{message}</p>
        </div>
    }
}

/// A `<textarea>`'s first content, as the server writes it: the server's render passes a
/// textarea's text through unescaped, so a stored `</textarea><img …>` would end it and become
/// markup. Escaped there; in the browser the `value` property is what shows.
pub fn textarea_text(text: &str) -> String {
    if cfg!(feature = "ssr") {
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    } else {
        text.to_string()
    }
}

/// A field decided by a flag: its value in effect, read-only, and which flag to change.
fn locked_input(field: &'static FieldSpec, locked: Locked, prefix: &'static str) -> impl IntoView {
    let id = format!("{prefix}-{}", field.key);
    let help_id = format!("{id}-help");
    let shown = if locked.shown.is_empty() {
        field.default.to_string()
    } else {
        locked.shown.replace('\n', ", ")
    };
    view! {
        <div class="field locked">
            <label for=id.clone()>{field.label}</label>
            <input id=id type="text" readonly=true aria-readonly="true" value=shown aria-describedby=help_id.clone()/>
            <p class="help" id=help_id>
                "Set by "<code>{locked.source}</code>" when Corral started: change it there (this page's value applies without it)."
            </p>
        </div>
    }
}
