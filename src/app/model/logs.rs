//! A model's log, live: replayed on open, then line by line. Follow keeps the newest line in
//! view; Pause freezes what is shown (lines keep arriving underneath); the filter keeps lines
//! containing its text.

use leptos::html;
use leptos::prelude::*;

use crate::app::live_store::LiveStore;
use crate::domain::run::LogLine;

#[component]
pub fn LogView(
    model_id: i64,
    live: LiveStore,
    #[prop(into)] title: String,
    /// What an empty log says.
    #[prop(into)]
    empty: String,
) -> impl IntoView {
    live.follow_log(model_id);
    let follow = RwSignal::new(true);
    let paused = RwSignal::new(None::<Vec<LogLine>>);
    let filter = RwSignal::new(String::new());
    let all = move || {
        live.logs
            .with(|logs| logs.get(&model_id).cloned().unwrap_or_default())
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
        shown.track();
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
            <pre class="log" node_ref=list_ref role="log" aria-label="Log lines" aria-live="off">
                {move || shown.get().into_iter().map(|line| view! {
                    <div class=format!("log-line {}", line.stream.as_str())>{line.text}</div>
                }).collect_view()}
            </pre>
            <Show when=move || shown.with(Vec::is_empty) && live.is_connected()>
                <p class="muted">{empty.clone()}</p>
            </Show>
        </section>
    }
}
