//! `/playground`: pick a model, write a system prompt and a message, and watch the reply stream
//! in through the gateway (so a stopped model visibly loads first). Under each reply: time to
//! first token, generation speed and token counts. The conversation lives in this tab only.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::app::live_store::use_live;
use crate::app::widgets::status_badge::StatusBadge;
use crate::domain::ModelStatus;
use crate::domain::answer::Cost;
use crate::domain::time::format_millis;

#[derive(Debug, Clone, PartialEq)]
struct Turn {
    from_user: bool,
    text: String,
    /// A reply's figures once it ended (or broke off).
    ttft_ms: Option<i64>,
    cost: Option<Cost>,
}

#[component]
pub fn PlaygroundPage() -> impl IntoView {
    let live = use_live();
    let model = RwSignal::new(String::new());
    let system = RwSignal::new(String::new());
    let draft = RwSignal::new(String::new());
    let temperature = RwSignal::new(0.7_f64);
    let max_tokens = RwSignal::new(256_u32);
    let turns = RwSignal::new(Vec::<Turn>::new());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let models = move || live.models().unwrap_or_default();
    // The first model is chosen until the person picks one.
    Effect::new(move |_| {
        if model.with(String::is_empty)
            && let Some(first) = models().first()
        {
            model.set(first.spec.name.clone());
        }
    });
    let status = move || {
        let name = model.get();
        models()
            .into_iter()
            .find(|m| m.spec.name == name)
            .map(|m| m.status)
    };
    let waiting = move || {
        busy.get() && turns.with(|t| t.last().is_some_and(|t| !t.from_user && t.text.is_empty()))
    };
    let stop = StoredValue::new_local(None::<Box<dyn Fn()>>);
    let send = move || {
        let message = draft.get_untracked().trim().to_string();
        if message.is_empty() || busy.get_untracked() || model.with_untracked(String::is_empty) {
            return;
        }
        draft.set(String::new());
        error.set(None);
        turns.update(|t| {
            t.push(Turn {
                from_user: true,
                text: message,
                ttft_ms: None,
                cost: None,
            });
        });
        let body = request_body(
            &model.get_untracked(),
            &system.get_untracked(),
            &turns.get_untracked(),
            temperature.get_untracked(),
            max_tokens.get_untracked(),
        );
        turns.update(|t| {
            t.push(Turn {
                from_user: false,
                text: String::new(),
                ttft_ms: None,
                cost: None,
            });
        });
        busy.set(true);
        #[cfg(feature = "hydrate")]
        {
            let Ok(controller) = web_sys::AbortController::new() else {
                busy.set(false);
                return;
            };
            let signal = controller.signal();
            stop.set_value(Some(Box::new(move || controller.abort())));
            leptos::task::spawn_local(async move {
                let sent = crate::domain::time::now_ms();
                let mut cost = Cost::default();
                let mut ttft = None;
                let result = super::chat_stream::stream_chat(body, &signal, |event| {
                    crate::domain::answer::read_counts(event, &mut cost);
                    if let Some(piece) = crate::domain::answer::token_piece(event) {
                        ttft.get_or_insert_with(|| crate::domain::time::now_ms() - sent);
                        let piece = piece.to_string();
                        turns.update(|t| {
                            if let Some(last) = t.last_mut() {
                                last.text.push_str(&piece);
                            }
                        });
                    }
                })
                .await;
                turns.update(|t| {
                    // A reply that never began leaves no empty bubble behind its error.
                    if result.is_err()
                        && t.last().is_some_and(|l| !l.from_user && l.text.is_empty())
                    {
                        t.pop();
                    } else if let Some(last) = t.last_mut() {
                        last.ttft_ms = ttft;
                        last.cost = Some(cost);
                    }
                });
                if let Err(message) = result {
                    error.set(Some(message));
                }
                busy.set(false);
                stop.set_value(None);
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (body, stop);
    };
    view! {
        <Title text="Playground"/>
        <div class="page-head">
            <h1>"Playground"</h1>
            <div class="filters">
                <label>"Model "
                    <select aria-label="Model" on:change=move |ev| model.set(event_target_value(&ev))>
                        {move || models().into_iter().map(|m| {
                            let name = m.spec.name.clone();
                            let (value, chosen) = (name.clone(), name.clone());
                            view! { <option value=value selected=move || model.get() == chosen>{name}</option> }
                        }).collect_view()}
                    </select>
                </label>
                {move || status().map(|s| view! { <StatusBadge status=s reason=None/> })}
            </div>
        </div>
        <section class="card playground">
            <label class="field">"System prompt"
                <textarea rows="2" aria-label="System prompt" prop:value=move || system.get()
                    on:input=move |ev| system.set(event_target_value(&ev))></textarea>
            </label>
            <div class="settings-row">
                <label>"Temperature "
                    <input type="number" min="0" max="2" step="0.1" aria-label="Temperature"
                        prop:value=move || temperature.get().to_string()
                        on:change=move |ev| {
                            if let Ok(t) = event_target_value(&ev).parse::<f64>() {
                                temperature.set(t.clamp(0.0, 2.0));
                            }
                        }/>
                </label>
                <label>"Max tokens "
                    <input type="number" min="1" max="32768" aria-label="Max tokens"
                        prop:value=move || max_tokens.get().to_string()
                        on:change=move |ev| {
                            if let Ok(n) = event_target_value(&ev).parse::<u32>() {
                                max_tokens.set(n.clamp(1, 32_768));
                            }
                        }/>
                </label>
            </div>
            <ol class="conversation" aria-label="Conversation" aria-live="polite">
                <For each=move || turns.get().into_iter().enumerate() key=|(i, turn)| (*i, turn.text.len(), turn.cost.is_some()) let:entry>
                    <TurnView turn=entry.1/>
                </For>
            </ol>
            <Show when=waiting>
                <p class="muted waiting" role="status">{move || if status() == Some(ModelStatus::Loading) {
                    "Loading the model…"
                } else {
                    "Waiting for the first token…"
                }}</p>
            </Show>
            {move || error.get().map(|e| view! { <p class="error-banner" role="alert">{e}</p> })}
            <label class="field">"Message"
                <textarea rows="3" aria-label="Message" prop:value=move || draft.get()
                    on:input=move |ev| draft.set(event_target_value(&ev))></textarea>
            </label>
            <div class="row-actions">
                <button class="primary" disabled=move || busy.get() on:click=move |_| send()>"Send"</button>
                <button disabled=move || !busy.get() on:click=move |_| {
                    stop.with_value(|stop| if let Some(stop) = stop { stop() });
                }>"Stop"</button>
                <button disabled=move || busy.get() on:click=move |_| turns.set(Vec::new())>"Clear"</button>
            </div>
        </section>
    }
}

#[component]
fn TurnView(turn: Turn) -> impl IntoView {
    let figures = turn.cost.as_ref().map(|cost| {
        let mut parts = Vec::new();
        if let Some(ttft) = turn.ttft_ms {
            parts.push(format!("first token {}", format_millis(ttft)));
        }
        if let Some(speed) = cost.generation_tokens_per_s {
            parts.push(format!("{speed:.1} tok/s"));
        }
        if let Some(prompt) = cost.prompt_tokens {
            parts.push(format!("{prompt} prompt tokens"));
        }
        if let Some(generated) = cost.generated_tokens {
            parts.push(format!("{generated} generated"));
        }
        parts.join(" · ")
    });
    view! {
        <li class=if turn.from_user { "turn user" } else { "turn assistant" }>
            <div class="who">{if turn.from_user { "You" } else { "Model" }}</div>
            <div class="text">{turn.text}</div>
            {figures.map(|f| view! { <div class="reply-figures muted">{f}</div> })}
        </li>
    }
}

/// The chat request: the system prompt, the conversation so far, the sampling asked for, and
/// `include_usage` so the last event carries the counts.
fn request_body(
    model: &str,
    system: &str,
    turns: &[Turn],
    temperature: f64,
    max_tokens: u32,
) -> String {
    let mut messages = Vec::new();
    if !system.trim().is_empty() {
        messages.push(serde_json::json!({"role": "system", "content": system}));
    }
    for turn in turns {
        let role = if turn.from_user { "user" } else { "assistant" };
        messages.push(serde_json::json!({"role": role, "content": turn.text}));
    }
    serde_json::json!({
        "model": model,
        "messages": messages,
        "temperature": temperature,
        "max_tokens": max_tokens,
        "stream": true,
        "stream_options": {"include_usage": true},
    })
    .to_string()
}
