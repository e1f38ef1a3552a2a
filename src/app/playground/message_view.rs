//! One message of the conversation: a person's text as written (with their images), a reply
//! as Markdown, and what can be done with each (copy; edit and resend a person's message;
//! regenerate the last reply). Under a reply: its time to first token, speed and tokens.

use leptos::prelude::*;

use crate::app::playground::chat::Chat;
use crate::app::playground::markdown::to_safe_html;
use crate::domain::conversation::ChatMessage;
use crate::domain::time::format_millis;

#[component]
pub fn MessageView(chat: Chat, index: usize, message: ChatMessage) -> impl IntoView {
    let from_user = message.from_user();
    let editing = RwSignal::new(false);
    let draft = RwSignal::new(message.text.clone());
    let is_last = move || chat.messages.with(|m| m.len() == index + 1);
    let figures = figures(&message);
    let text = message.text.clone();
    let shown = StoredValue::new(message.clone());
    let body = move || shown.with_value(render_body);
    let copied = RwSignal::new(false);
    let copy = move |_| {
        #[cfg(feature = "hydrate")]
        if let Some(window) = web_sys::window() {
            let _ = window.navigator().clipboard().write_text(&text);
            copied.set(true);
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = &text;
    };
    let who = if from_user { "You" } else { "Model" };
    view! {
        <li class=if from_user { "turn user" } else { "turn assistant" }>
            <div class="turn-head">
                <span class="who">{who}</span>
                <span class="turn-actions">
                    <button type="button" class="small quiet" aria-label=format!("Copy message {}", index + 1) on:click=copy>
                        {move || if copied.get() { "Copied" } else { "Copy" }}
                    </button>
                    {from_user.then(|| view! {
                        <button type="button" class="small quiet" aria-label=format!("Edit message {}", index + 1)
                            disabled=move || chat.busy.get() on:click=move |_| editing.set(true)>"Edit"</button>
                    })}
                    {(!from_user).then(|| view! {
                        <Show when=is_last>
                            <button type="button" class="small quiet" disabled=move || chat.busy.get()
                                on:click=move |_| chat.regenerate()>"Regenerate"</button>
                        </Show>
                    })}
                </span>
            </div>
            <Show when=move || editing.get() fallback=body>
                <textarea rows="3" aria-label="Edit the message" prop:value=move || draft.get()
                    on:input=move |ev| draft.set(event_target_value(&ev))></textarea>
                <div class="row-actions">
                    <button type="button" class="small primary" on:click=move |_| {
                        editing.set(false);
                        chat.edit(index, draft.get_untracked());
                    }>"Send again"</button>
                    <button type="button" class="small" on:click=move |_| editing.set(false)>"Cancel"</button>
                </div>
            </Show>
            {figures.map(|f| view! { <div class="reply-figures muted">{f}</div> })}
        </li>
    }
}

/// A person's text as written (with their images); a reply as Markdown.
fn render_body(message: &ChatMessage) -> AnyView {
    if message.from_user() {
        let images = message.images.clone();
        view! {
            <div class="text">{message.text.clone()}</div>
            {(!images.is_empty()).then(|| view! {
                <div class="attached">
                    {images.into_iter().map(|src| view! { <img src=src alt="An attached image"/> }).collect_view()}
                </div>
            })}
        }
        .into_any()
    } else {
        view! { <div class="text markdown" inner_html=to_safe_html(&message.text)></div> }
            .into_any()
    }
}

/// "first token 120 ms · 41.2 tok/s · 12 prompt tokens · 64 generated", once a reply ended.
fn figures(message: &ChatMessage) -> Option<String> {
    let cost = message.cost.as_ref()?;
    let mut parts = Vec::new();
    if let Some(ttft) = message.ttft_ms {
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
    Some(parts.join(" · "))
}
