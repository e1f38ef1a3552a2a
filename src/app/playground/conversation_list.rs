//! The saved conversations beside the chat, newest first: open one, rename it, delete it, or
//! start a new one. Read again after every save.

use leptos::prelude::*;

use crate::api::conversations::{
    delete_conversation, get_conversation, list_conversations, rename_conversation,
};
use crate::app::playground::chat::Chat;
use crate::app::widgets::local_time::LocalTime;
use crate::domain::conversation::ConversationSummary;

#[component]
pub fn ConversationList(chat: Chat) -> impl IntoView {
    let listing = LocalResource::new(move || {
        chat.saves.get();
        list_conversations()
    });
    let list = move || match listing.get() {
        Some(Ok(list)) => list,
        _ => Vec::new(),
    };
    view! {
        <nav class="card conversations" aria-label="Conversations">
            <div class="card-head">
                <h2>"Conversations"</h2>
                <button class="small" disabled=move || chat.busy.get() on:click=move |_| chat.start_new()>"New"</button>
            </div>
            {move || match listing.get() {
                Some(Err(error)) => Some(view! { <p class="error-banner" role="alert">{format!("Could not list them: {error}")}</p> }),
                _ => None,
            }}
            <Show when=move || !list().is_empty() fallback=|| view! { <p class="muted">"None saved yet."</p> }>
                <ul class="conversation-list">
                    <For each=list key=|c| (c.id, c.title.clone(), c.updated_at) let:summary>
                        <ConversationItem chat summary/>
                    </For>
                </ul>
            </Show>
        </nav>
    }
}

#[component]
fn ConversationItem(chat: Chat, summary: ConversationSummary) -> impl IntoView {
    let id = summary.id;
    let renaming = RwSignal::new(false);
    let confirming = RwSignal::new(false);
    let title = RwSignal::new(summary.title.clone());
    let current = move || chat.id.get() == Some(id);
    let open = move |_| {
        if chat.busy.get_untracked() {
            return;
        }
        leptos::task::spawn_local(async move {
            match get_conversation(id).await {
                Ok(conversation) => chat.open(conversation),
                Err(error) => chat.error.set(Some(format!("Could not open it: {error}"))),
            }
        });
    };
    let rename = move || {
        renaming.set(false);
        rename_it(chat, id, title.get_untracked());
    };
    let delete = move |_| delete_it(chat, id);
    let label = summary.title.clone();
    let (rename_label, delete_label) = (
        format!("Rename {}", summary.title),
        format!("Delete {}", summary.title),
    );
    let facts = format!("{} · {} messages · ", summary.model, summary.messages);
    let updated = summary.updated_at;
    view! {
        <li class:current=current>
            <Show when=move || renaming.get() fallback=move || view! {
                <button type="button" class="conversation-open" title=label.clone() aria-current=move || current().then_some("page")
                    on:click=open>
                    <span class="conversation-title">{label.clone()}</span>
                    <span class="muted conversation-facts">{facts.clone()}<LocalTime ms=updated/></span>
                </button>
            }>
                <input type="text" aria-label="Conversation title" maxlength="120" prop:value=move || title.get()
                    on:input=move |ev| title.set(event_target_value(&ev))
                    on:keydown=move |ev| {
                        if ev.key() == "Enter" { ev.prevent_default(); rename(); }
                        if ev.key() == "Escape" { renaming.set(false); }
                    }/>
            </Show>
            <span class="conversation-actions">
                <Show when=move || !renaming.get() fallback=move || view! {
                    <button type="button" class="small" on:click=move |_| rename()>"Save"</button>
                }>
                    <button type="button" class="small quiet" aria-label=rename_label.clone()
                        on:click=move |_| renaming.set(true)>"Rename"</button>
                </Show>
                <Show when=move || confirming.get() fallback=move || view! {
                    <button type="button" class="small quiet" aria-label=delete_label.clone()
                        on:click=move |_| confirming.set(true)>"Delete"</button>
                }>
                    <button type="button" class="small danger" on:click=delete>"Delete it"</button>
                    <button type="button" class="small" on:click=move |_| confirming.set(false)>"Keep"</button>
                </Show>
            </span>
        </li>
    }
}

fn rename_it(chat: Chat, id: i64, new_title: String) {
    leptos::task::spawn_local(async move {
        match rename_conversation(id, new_title.clone()).await {
            Ok(()) => {
                if chat.id.get_untracked() == Some(id) {
                    chat.title.set(new_title);
                }
                chat.saves.update(|n| *n += 1);
            }
            Err(error) => chat
                .error
                .set(Some(format!("Could not rename it: {error}"))),
        }
    });
}

/// Deletes it; the chat on screen, if it was this one, starts anew.
fn delete_it(chat: Chat, id: i64) {
    leptos::task::spawn_local(async move {
        match delete_conversation(id).await {
            Ok(()) => {
                if chat.id.get_untracked() == Some(id) {
                    chat.start_new();
                }
                chat.saves.update(|n| *n += 1);
            }
            Err(error) => chat
                .error
                .set(Some(format!("Could not delete it: {error}"))),
        }
    });
}
