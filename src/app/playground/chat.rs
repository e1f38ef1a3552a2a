//! The Playground's conversation and what can be done to it: send, stop, regenerate, edit and
//! resend, open, start anew. Every finished reply (or edit) saves the conversation whole, so a
//! reload finds it (`/playground?c=<id>`).

use leptos::prelude::*;

use crate::api::conversations::save_conversation;
use crate::app::playground::request::{SamplingOverrides, request_body};
use crate::domain::conversation::{ChatMessage, Conversation};

/// The conversation on screen, shared by the page's parts.
#[derive(Clone, Copy)]
pub struct Chat {
    pub id: RwSignal<Option<i64>>,
    pub title: RwSignal<String>,
    pub model: RwSignal<String>,
    pub system: RwSignal<String>,
    pub messages: RwSignal<Vec<ChatMessage>>,
    pub busy: RwSignal<bool>,
    pub error: RwSignal<Option<String>>,
    pub sampling: RwSignal<SamplingOverrides>,
    /// Bumped after every save, rename or delete: the list reads again.
    pub saves: RwSignal<u32>,
    /// Ends the reply being streamed (the Stop button).
    stop: StoredValue<Option<Box<dyn Fn()>>, LocalStorage>,
}

impl Chat {
    pub fn empty() -> Chat {
        Chat {
            id: RwSignal::new(None),
            title: RwSignal::new(String::new()),
            model: RwSignal::new(String::new()),
            system: RwSignal::new(String::new()),
            messages: RwSignal::new(Vec::new()),
            busy: RwSignal::new(false),
            error: RwSignal::new(None),
            sampling: RwSignal::new(SamplingOverrides::default()),
            saves: RwSignal::new(0),
            stop: StoredValue::new_local(None),
        }
    }

    /// A person's message, then the model's reply.
    pub fn send(self, text: String, images: Vec<String>) {
        if (text.trim().is_empty() && images.is_empty())
            || self.busy.get_untracked()
            || self.model.with_untracked(String::is_empty)
        {
            return;
        }
        self.messages
            .update(|m| m.push(ChatMessage::user(text, images)));
        self.reply();
    }

    /// The last reply again (it is dropped first).
    pub fn regenerate(self) {
        if self.busy.get_untracked() {
            return;
        }
        self.messages.update(|m| {
            if m.last().is_some_and(|l| !l.from_user()) {
                m.pop();
            }
        });
        if self
            .messages
            .with_untracked(|m| m.last().is_some_and(ChatMessage::from_user))
        {
            self.reply();
        }
    }

    /// Message `index` rewritten: what came after it is dropped and a new reply asked for.
    pub fn edit(self, index: usize, text: String) {
        if self.busy.get_untracked() || text.trim().is_empty() {
            return;
        }
        self.messages.update(|m| {
            if let Some(message) = m.get_mut(index) {
                message.text = text;
                m.truncate(index + 1);
            }
        });
        self.reply();
    }

    pub fn stop(self) {
        self.stop.with_value(|stop| {
            if let Some(stop) = stop {
                stop();
            }
        });
    }

    /// Shows a saved conversation.
    pub fn open(self, conversation: Conversation) {
        self.stop();
        self.id.set(conversation.id);
        self.title.set(conversation.title);
        if !conversation.model.is_empty() {
            self.model.set(conversation.model);
        }
        self.system.set(conversation.system);
        self.messages.set(conversation.messages);
        self.error.set(None);
        show_in_address(conversation.id);
    }

    /// A new, empty conversation with the same model and system prompt.
    pub fn start_new(self) {
        self.stop();
        self.id.set(None);
        self.title.set(String::new());
        self.messages.set(Vec::new());
        self.error.set(None);
        show_in_address(None);
    }

    /// Saves the whole conversation; a new one gets its id (and its address).
    pub fn save(self) {
        if self.messages.with_untracked(Vec::is_empty) {
            return;
        }
        let conversation = Conversation {
            id: self.id.get_untracked(),
            title: self.title.get_untracked(),
            model: self.model.get_untracked(),
            system: self.system.get_untracked(),
            messages: self.messages.get_untracked(),
            updated_at: 0,
        };
        leptos::task::spawn_local(async move {
            match save_conversation(conversation).await {
                Ok(saved) => {
                    let new = self.id.get_untracked().is_none();
                    self.id.set(saved.id);
                    self.title.set(saved.title);
                    self.saves.update(|n| *n += 1);
                    if new {
                        show_in_address(saved.id);
                    }
                }
                Err(error) => self
                    .error
                    .set(Some(format!("The conversation was not saved: {error}"))),
            }
        });
    }

    /// Streams the model's answer to the conversation so far into a new reply, then saves.
    fn reply(self) {
        self.error.set(None);
        let body = request_body(
            &self.model.get_untracked(),
            &self.system.get_untracked(),
            &self.messages.get_untracked(),
            &self.sampling.get_untracked(),
        );
        self.messages.update(|m| m.push(ChatMessage::reply()));
        self.busy.set(true);
        #[cfg(feature = "hydrate")]
        self.stream(body);
        #[cfg(not(feature = "hydrate"))]
        let _ = body;
    }

    #[cfg(feature = "hydrate")]
    fn stream(self, body: String) {
        use crate::domain::answer::{Cost, read_counts, token_piece};
        use crate::domain::time::now_ms;
        let Ok(controller) = web_sys::AbortController::new() else {
            self.busy.set(false);
            return;
        };
        let signal = controller.signal();
        self.stop
            .set_value(Some(Box::new(move || controller.abort())));
        leptos::task::spawn_local(async move {
            let sent = now_ms();
            let mut cost = Cost::default();
            let mut ttft = None;
            let result = super::chat_stream::stream_chat(body, &signal, |event| {
                read_counts(event, &mut cost);
                if let Some(piece) = token_piece(event) {
                    ttft.get_or_insert_with(|| now_ms() - sent);
                    let piece = piece.to_string();
                    self.messages.update(|m| {
                        if let Some(last) = m.last_mut() {
                            last.text.push_str(&piece);
                        }
                    });
                }
            })
            .await;
            self.messages.update(|m| {
                // A reply that never began leaves no empty bubble behind its error.
                if result.is_err()
                    && m.last()
                        .is_some_and(|l| !l.from_user() && l.text.is_empty())
                {
                    m.pop();
                } else if let Some(last) = m.last_mut() {
                    last.ttft_ms = ttft;
                    last.cost = Some(cost);
                }
            });
            if let Err(message) = result {
                self.error.set(Some(message));
            }
            self.busy.set(false);
            self.stop.set_value(None);
            self.save();
        });
    }
}

/// `/playground?c=<id>` for a saved conversation (a reload opens it), `/playground` for a new
/// one; the history entry is replaced, not added.
fn show_in_address(id: Option<i64>) {
    #[cfg(feature = "hydrate")]
    if let Some(window) = web_sys::window()
        && let Ok(history) = window.history()
    {
        let url = match id {
            Some(id) => format!("/playground?c={id}"),
            None => "/playground".to_string(),
        };
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = id;
}
