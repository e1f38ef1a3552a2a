//! Under the serving settings: a request as a client sends it and as llama-server will see it,
//! with the filters and the chosen variant as they are typed (before saving). The same
//! function shapes it as the gateway's (`ServingConfig::shape`).

use leptos::prelude::*;
use serde_json::{Map, Value};

use crate::app::widgets::field_form::{FormState, textarea_text};
use crate::domain::config::ServingConfig;
use crate::domain::fields::FieldSet;

/// What a client might send, naming the model.
fn sample_request(name: &str) -> String {
    let sample = serde_json::json!({
        "model": name,
        "messages": [{"role": "user", "content": "Hello"}],
        "temperature": 0.7,
        "stream": true,
    });
    serde_json::to_string_pretty(&sample).unwrap_or_default()
}

#[component]
pub fn ShapePreview(form: FormState, name: String) -> impl IntoView {
    let sample = RwSignal::new(sample_request(&name));
    let variant = RwSignal::new(String::new());
    let config = Memo::new(move |_| ServingConfig::parse(&form.value()).ok());
    let variants = move || -> Vec<String> {
        config.with(|c| {
            c.as_ref()
                .map(|c| c.variants.keys().cloned().collect())
                .unwrap_or_default()
        })
    };
    let shaped = move || -> Result<String, String> {
        let Some(config) = config.get() else {
            return Err("Fix the settings above to see what is sent.".into());
        };
        let mut body: Map<String, Value> = serde_json::from_str(&sample.get())
            .map_err(|e| format!("The request is not a JSON object: {e}"))?;
        let chosen = variant.get();
        let shape = config.shape((!chosen.is_empty()).then_some(chosen.as_str()));
        shape.apply(&mut body);
        serde_json::to_string_pretty(&body).map_err(|e| e.to_string())
    };
    let base = name.clone();
    view! {
        <details class="shape-preview">
            <summary>"Preview: a request as llama-server will see it"</summary>
            <div class="shape-grid">
                <div class="field">
                    <label for="shape-sample">"A client sends"</label>
                    <textarea id="shape-sample" rows="8" spellcheck="false" prop:value=move || sample.get()
                        on:input=move |ev| sample.set(event_target_value(&ev))>{textarea_text(&sample.get_untracked())}</textarea>
                    <label for="shape-variant">"asking for"</label>
                    <select id="shape-variant" on:change=move |ev| variant.set(event_target_value(&ev))>
                        <option value="">{base.clone()}</option>
                        {move || variants().into_iter().map(|v| {
                            let label = format!("{base}:{v}");
                            view! { <option value=v.clone() selected=move || variant.get() == v>{label}</option> }
                        }).collect_view()}
                    </select>
                </div>
                <div class="field">
                    <span class="label">"llama-server receives"</span>
                    {move || match shaped() {
                        Ok(text) => view! { <pre class="shape-out" aria-live="polite">{text}</pre> }.into_any(),
                        Err(why) => view! { <p class="muted" aria-live="polite">{why}</p> }.into_any(),
                    }}
                </div>
            </div>
        </details>
    }
}
