//! A log, live (a model's or Corral's): replayed on open, then line by line. Follow keeps the
//! newest line in view; Pause freezes what is shown (lines keep arriving underneath); the
//! filter keeps lines containing its text. Rows are keyed by their number, so a new line adds
//! one row and the 2,000 already shown are left alone.

use leptos::html;
use leptos::prelude::*;

use crate::app::live_store::LiveStore;
use crate::domain::run::{LogLine, LogSource};

#[component]
pub fn LogView(
    source: LogSource,
    live: LiveStore,
    #[prop(into)] title: String,
    /// What an empty log says.
    #[prop(into)]
    empty: String,
) -> impl IntoView {
    live.follow_log(source);
    let follow = RwSignal::new(true);
    let paused = RwSignal::new(None::<Vec<LogLine>>);
    let filter = RwSignal::new(String::new());
    let all = move || {
        live.logs
            .with(|logs| logs.get(&source).cloned().unwrap_or_default())
    };
    let shown = Memo::new(move |_| {
        let lines = paused.get().unwrap_or_else(all);
        let needle = filter.get().to_lowercase();
        if needle.is_empty() {
            lines
        } else {
            lines
                .into_iter()
                .filter(|l| l.text.to_lowercase().contains(&needle))
                .collect()
        }
    });
    let list_ref = NodeRef::<html::Pre>::new();
    Effect::new(move |_| {
        // Read, not only tracked (a memo left unread stops telling of changes).
        shown.with(|_| ());
        if follow.get()
            && let Some(list) = list_ref.get()
        {
            list.set_scroll_top(list.scroll_height());
        }
    });
    let toggle_pause = move |_| {
        paused.update(|p| {
            *p = match p.take() {
                Some(_) => None,
                None => Some(all()),
            }
        })
    };
    view! {
        <section class="card" id="logs" aria-labelledby="logs-title">
            <div class="card-head">
                <h2 id="logs-title">{title}</h2>
                <div class="log-controls">
                    <input type="search" placeholder="Filter lines" aria-label="Filter log lines"
                        prop:value=move || filter.get() on:input=move |ev| filter.set(event_target_value(&ev))/>
                    <label class="inline">
                        <input type="checkbox" prop:checked=move || follow.get()
                            on:change=move |ev| follow.set(event_target_checked(&ev))/>
                        "Follow"
                    </label>
                    <button class="small" on:click=toggle_pause aria-pressed=move || paused.with(Option::is_some).to_string()>
                        {move || if paused.with(Option::is_some) { "Resume" } else { "Pause" }}
                    </button>
                </div>
            </div>
            <Show when=move || !live.is_connected() fallback=|| ()>
                <p class="muted">"Connecting to the live log…"</p>
            </Show>
            <pre class="log" node_ref=list_ref role="log" aria-label="Log lines" aria-live="off" tabindex="0">
                <For each=move || shown.get() key=|line| line.seq let:line>
                    <div class=format!("log-line {}", line.stream.as_str())>{line.text}</div>
                </For>
            </pre>
            <Show when=move || shown.with(Vec::is_empty) && live.is_connected()>
                <p class="muted">{empty.clone()}</p>
            </Show>
        </section>
    }
}
