//! Where a message is written: Enter sends, Shift+Enter starts a new line; images can be
//! attached when the model has a projector (it can see them); Stop ends a reply being written.

use leptos::prelude::*;

use crate::api::config::load_config;
use crate::app::playground::chat::Chat;
use crate::domain::config::{ConfigGroup, ConfigGroupKind};
#[cfg(feature = "hydrate")]
use crate::domain::conversation::{MAX_IMAGE_BYTES, MAX_IMAGES};

#[component]
pub fn Composer(chat: Chat, model: Signal<Option<i64>>) -> impl IntoView {
    let draft = RwSignal::new(String::new());
    let images = RwSignal::new(Vec::<String>::new());
    let notice = RwSignal::new(None::<String>);
    // Whether the model can see images: it has a projector.
    let sees = LocalResource::new(move || {
        let id = model.get();
        async move {
            let id = id?;
            match load_config(id, ConfigGroupKind::Multimodal).await {
                Ok(ConfigGroup::Multimodal(config)) => Some(config.mmproj.is_some()),
                _ => Some(false),
            }
        }
    });
    let can_attach = move || matches!(sees.get(), Some(Some(true)));
    let send = move || {
        let text = draft.get_untracked();
        let attached = images.get_untracked();
        if chat.busy.get_untracked() || (text.trim().is_empty() && attached.is_empty()) {
            return;
        }
        draft.set(String::new());
        images.set(Vec::new());
        notice.set(None);
        chat.send(text, attached);
    };
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
            ev.prevent_default();
            send();
        }
    };
    let on_files = move |ev: leptos::ev::Event| {
        #[cfg(feature = "hydrate")]
        read_images(&ev, images, notice);
        #[cfg(not(feature = "hydrate"))]
        let _ = ev;
    };
    view! {
        <label class="field">"Message"
            <textarea rows="3" aria-label="Message" placeholder="Message (Enter sends, Shift+Enter: new line)"
                prop:value=move || draft.get() on:input=move |ev| draft.set(event_target_value(&ev))
                on:keydown=on_key></textarea>
        </label>
        <Show when=move || !images.with(Vec::is_empty)>
            <div class="attached">
                {move || images.get().into_iter().enumerate().map(|(i, src)| view! {
                    <span class="attached-image">
                        <img src=src alt=format!("Image {} to send", i + 1)/>
                        <button type="button" class="small quiet" aria-label=format!("Remove image {}", i + 1)
                            on:click=move |_| images.update(|all| { if i < all.len() { all.remove(i); } })>"×"</button>
                    </span>
                }).collect_view()}
            </div>
        </Show>
        {move || notice.get().map(|n| view! { <p class="muted" role="status">{n}</p> })}
        <div class="row-actions composer-actions">
            <button class="primary" disabled=move || chat.busy.get() on:click=move |_| send()>"Send"</button>
            <button disabled=move || !chat.busy.get() on:click=move |_| chat.stop()>"Stop"</button>
            <Show when=can_attach>
                <label class="button-like small">
                    "Attach images"
                    <input type="file" accept="image/png,image/jpeg,image/webp,image/gif" multiple class="sr-only"
                        on:change=on_files/>
                </label>
            </Show>
            <button disabled=move || chat.busy.get() on:click=move |_| chat.start_new()>"New chat"</button>
        </div>
    }
}

/// Reads the chosen files as `data:` URLs into `images` (at most `MAX_IMAGES`, each within the
/// size a saved conversation keeps); says which were left out.
#[cfg(feature = "hydrate")]
fn read_images(
    ev: &leptos::ev::Event,
    images: RwSignal<Vec<String>>,
    notice: RwSignal<Option<String>>,
) {
    use base64::Engine;
    use wasm_bindgen::JsCast;
    let Some(input) = ev
        .target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
    else {
        return;
    };
    let Some(files) = input.files() else { return };
    // base64 makes a file a third larger.
    let max_file = (MAX_IMAGE_BYTES / 4 * 3).saturating_sub(1024) as f64;
    let mut skipped = Vec::new();
    let mut chosen = Vec::new();
    for i in 0..files.length() {
        let Some(file) = files.get(i) else { continue };
        if images.with_untracked(Vec::len) + chosen.len() >= MAX_IMAGES {
            skipped.push(format!("{} (at most {MAX_IMAGES} images)", file.name()));
        } else if file.size() > max_file {
            skipped.push(format!(
                "{} (larger than {} KiB)",
                file.name(),
                max_file as u64 / 1024
            ));
        } else {
            chosen.push(file);
        }
    }
    input.set_value("");
    notice.set((!skipped.is_empty()).then(|| format!("Not attached: {}.", skipped.join(", "))));
    leptos::task::spawn_local(async move {
        for file in chosen {
            let Ok(bytes) = crate::app::browser_fetch::file_bytes(&file).await else {
                continue;
            };
            let kind = file.type_();
            let kind = if kind.starts_with("image/") {
                kind
            } else {
                "image/png".to_string()
            };
            let url = format!(
                "data:{kind};base64,{}",
                base64::engine::general_purpose::STANDARD.encode(bytes)
            );
            images.update(|all| {
                if all.len() < MAX_IMAGES {
                    all.push(url);
                }
            });
        }
    });
}
