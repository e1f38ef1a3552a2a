//! The sampling a reply uses: the model's saved values are shown (they apply, as its server's
//! flags), and a value typed here replaces one for this Playground only.

use leptos::prelude::*;

use crate::api::config::load_config;
use crate::app::playground::chat::Chat;
use crate::app::playground::request::SamplingOverrides;
use crate::domain::config::sampling::SamplingConfig;
use crate::domain::config::{ConfigGroup, ConfigGroupKind};

/// One setting of the panel: its label, how the model's saved value reads, and where a typed
/// value goes.
struct Knob {
    label: &'static str,
    saved: fn(&SamplingConfig) -> Option<String>,
    set: fn(&mut SamplingOverrides, &str) -> bool,
    step: &'static str,
}

const KNOBS: &[Knob] = &[
    Knob {
        label: "Temperature",
        saved: |c| c.temperature.map(|v| v.to_string()),
        set: |o, t| parse_into(t, &mut o.temperature),
        step: "0.05",
    },
    Knob {
        label: "Top-k",
        saved: |c| c.top_k.map(|v| v.to_string()),
        set: |o, t| parse_into(t, &mut o.top_k),
        step: "1",
    },
    Knob {
        label: "Top-p",
        saved: |c| c.top_p.map(|v| v.to_string()),
        set: |o, t| parse_into(t, &mut o.top_p),
        step: "0.01",
    },
    Knob {
        label: "Min-p",
        saved: |c| c.min_p.map(|v| v.to_string()),
        set: |o, t| parse_into(t, &mut o.min_p),
        step: "0.01",
    },
    Knob {
        label: "Repeat penalty",
        saved: |c| c.repeat_penalty.map(|v| v.to_string()),
        set: |o, t| parse_into(t, &mut o.repeat_penalty),
        step: "0.05",
    },
    Knob {
        label: "Max tokens",
        saved: |_| None,
        set: |o, t| parse_into(t, &mut o.max_tokens),
        step: "1",
    },
];

/// Empty text clears the value; true when the text was a number (or empty).
fn parse_into<T: std::str::FromStr>(text: &str, slot: &mut Option<T>) -> bool {
    let text = text.trim();
    if text.is_empty() {
        *slot = None;
        return true;
    }
    match text.parse() {
        Ok(value) => {
            *slot = Some(value);
            true
        }
        Err(_) => false,
    }
}

#[component]
pub fn SamplingPanel(chat: Chat, model: Signal<Option<i64>>) -> impl IntoView {
    let saved = LocalResource::new(move || {
        let id = model.get();
        async move {
            match load_config(id?, ConfigGroupKind::Sampling).await {
                Ok(ConfigGroup::Sampling(config)) => Some(config),
                _ => None,
            }
        }
    });
    let saved_value = move |knob: &Knob| -> String {
        match saved.get().flatten() {
            Some(config) => match (knob.saved)(&config) {
                Some(value) => format!("model: {value}"),
                None if knob.label == "Max tokens" => "no limit".to_string(),
                None => "model default".to_string(),
            },
            None => String::new(),
        }
    };
    let changed = move || chat.sampling.with(|s| *s != SamplingOverrides::default());
    view! {
        <details class="sampling">
            <summary>
                "Sampling "
                <span class="muted">{move || if changed() { "(changed here)" } else { "(the model's saved values)" }}</span>
            </summary>
            <div class="settings-row">
                {KNOBS.iter().map(|knob| {
                    let invalid = RwSignal::new(false);
                    view! {
                        <label>{knob.label}" "
                            <input type="text" inputmode="decimal" aria-label=knob.label data-step=knob.step
                                placeholder=move || saved_value(knob) aria-invalid=move || invalid.get().to_string()
                                on:input=move |ev| {
                                    let text = event_target_value(&ev);
                                    let mut ok = true;
                                    chat.sampling.update(|s| ok = (knob.set)(s, &text));
                                    invalid.set(!ok);
                                }/>
                        </label>
                    }
                }).collect_view()}
            </div>
            <p class="muted help">"Empty fields use the model's saved sampling (set on its page); a value typed here applies to this Playground only."</p>
        </details>
    }
}
