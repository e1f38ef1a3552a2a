//! `/playground`: a chat with any registered model through the gateway (so a stopped model
//! visibly loads first). Conversations are saved and listed beside the chat; replies render as
//! Markdown; Enter sends (Shift+Enter for a new line); each reply shows its time to first
//! token, speed and token counts; the model's own sampling applies unless changed here.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::conversations::get_conversation;
use crate::app::live_store::use_live;
use crate::app::playground::chat::Chat;
use crate::app::playground::composer::Composer;
use crate::app::playground::conversation_list::ConversationList;
use crate::app::playground::message_view::MessageView;
use crate::app::playground::sampling_panel::SamplingPanel;
use crate::app::widgets::status_badge::StatusBadge;
use crate::domain::ModelStatus;

#[component]
pub fn PlaygroundPage() -> impl IntoView {
    let live = use_live();
    let chat = Chat::empty();
    let models = move || live.models().unwrap_or_default();
    // The first model is chosen until the person picks one (or a conversation names one).
    Effect::new(move |_| {
        if chat.model.with(String::is_empty)
            && let Some(first) = models().first()
        {
            chat.model.set(first.spec.name.clone());
        }
    });
    open_from_address(chat);
    // The conversation scrolls in its box and follows a reply as it streams in; the message box
    // stays where it is.
    let list = NodeRef::<leptos::html::Ol>::new();
    Effect::new(move |_| {
        chat.messages.with(|m| m.last().map(|l| l.text.len()));
        if let Some(list) = list.get() {
            list.set_scroll_top(list.scroll_height());
        }
    });
    let model = Memo::new(move |_| {
        let name = chat.model.get();
        models().into_iter().find(|m| m.spec.name == name)
    });
    let status = move || model.with(|m| m.as_ref().map(|m| m.status));
    let waiting = move || {
        chat.busy.get()
            && chat.messages.with(|m| {
                m.last()
                    .is_some_and(|l| !l.from_user() && l.text.is_empty())
            })
    };
    view! {
        <Title text="Playground"/>
        <div class="page-head">
            <h1>"Playground"</h1>
            <div class="filters">
                <label>"Model "
                    <select aria-label="Model" on:change=move |ev| chat.model.set(event_target_value(&ev))>
                        {move || models().into_iter().map(|m| {
                            let name = m.spec.name.clone();
                            let (value, chosen) = (name.clone(), name.clone());
                            view! { <option value=value selected=move || chat.model.get() == chosen>{name}</option> }
                        }).collect_view()}
                    </select>
                </label>
                {move || status().map(|s| view! { <StatusBadge status=s reason=None/> })}
            </div>
        </div>
        <div class="chat-layout">
            <ConversationList chat/>
            <section class="card playground" aria-label="Chat">
                <label class="field">"System prompt"
                    <textarea rows="2" aria-label="System prompt" prop:value=move || chat.system.get()
                        on:input=move |ev| chat.system.set(event_target_value(&ev))></textarea>
                </label>
                <SamplingPanel chat model=Signal::derive(move || model.get().map(|m| m.id))/>
                <ol class="conversation" aria-label="Conversation" aria-live="polite" tabindex="0" node_ref=list on:click=copy_code>
                    <For each=move || chat.messages.get().into_iter().enumerate()
                        key=|(i, m)| (*i, m.text.len(), m.cost.is_some()) let:entry>
                        <MessageView chat index=entry.0 message=entry.1/>
                    </For>
                </ol>
                <Show when=move || chat.messages.with(Vec::is_empty)>
                    <p class="muted empty-chat">"Ask something. Enter sends, Shift+Enter starts a new line; the conversation is saved as it goes."</p>
                </Show>
                <Show when=waiting>
                    <p class="muted waiting" role="status">{move || if status() == Some(ModelStatus::Loading) {
                        "Loading the model…"
                    } else {
                        "Waiting for the first token…"
                    }}</p>
                </Show>
                {move || chat.error.get().map(|e| view! { <p class="error-banner" role="alert">{e}</p> })}
                <Composer chat model=Signal::derive(move || model.get().map(|m| m.id))/>
            </section>
        </div>
    }
}

/// `?c=<id>`: the conversation to open (a reload finds the one it showed); `?model=<name>`: the
/// model to chat with.
fn open_from_address(chat: Chat) {
    let query = use_query_map();
    // `?model=<name>`: "Chat with it" on a model's page.
    if let Some(model) = query.with_untracked(|q| q.get("model")) {
        chat.model.set(model);
    }
    let asked = query
        .with_untracked(|q| q.get("c"))
        .and_then(|c| c.parse::<i64>().ok());
    let Some(id) = asked else { return };
    #[cfg(feature = "hydrate")]
    leptos::task::spawn_local(async move {
        match get_conversation(id).await {
            Ok(conversation) => chat.open(conversation),
            Err(error) => chat.error.set(Some(format!(
                "Conversation {id} could not be opened: {error}"
            ))),
        }
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = (id, chat, get_conversation);
}

/// A code block's Copy button (rendered inside a reply's HTML, so heard here): copies the
/// block's code.
fn copy_code(ev: leptos::ev::MouseEvent) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let Some(target) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        else {
            return;
        };
        let Ok(Some(button)) = target.closest("button.copy-code") else {
            return;
        };
        let code = button
            .closest(".code-block")
            .ok()
            .flatten()
            .and_then(|block| block.query_selector("code").ok().flatten())
            .and_then(|code| code.text_content());
        if let (Some(code), Some(window)) = (code, web_sys::window()) {
            let _ = window.navigator().clipboard().write_text(&code);
            button.set_text_content(Some("Copied"));
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = ev;
}
