//! The model's process: start/stop, the exact command a start runs (and settings the installed
//! llama-server cannot express), and the recent runs with how each ended. Loaded in the browser
//! and again whenever the status or the settings change.

use leptos::prelude::*;

use crate::api::runs::{get_launch_preview, list_runs};
use crate::app::live_store::LiveStore;
use crate::app::widgets::local_time::LocalTime;
use crate::app::widgets::run_button::{
    RequestCounts, RestartToApply, RunButton, RunFacts, run_command,
};
use crate::app::widgets::toast::use_toasts;
use crate::domain::run::{LaunchPreview, Run};
use crate::domain::{Model, Request};

/// What a start would run, and the recent runs.
type Loaded = (Result<LaunchPreview, String>, Result<Vec<Run>, String>);

// One section's markup: the command a start would run beside the runs list, as it shows.
#[allow(clippy::too_many_lines)]
#[component]
pub fn RunSection(current: RwSignal<Model>, live: LiveStore) -> impl IntoView {
    let id = current.with_untracked(|m| m.id);
    // Refetch after anything that changes the command or adds a run; a rename changes neither.
    // The run's id too: a quick restart can pass from running to running between two looks at
    // the status, and its new command must still be shown.
    let trigger = Memo::new(move |_| {
        let run = live.run(id).map(|run| run.run_id);
        current.with(|m| {
            let mut spec = m.spec.clone();
            spec.name.clear();
            (spec, m.status, run)
        })
    });
    // A model deleted elsewhere has nothing left to fetch (asking would only earn a 404).
    let gone = Memo::new(move |_| {
        live.state.with(|s| {
            s.as_ref()
                .is_some_and(|s| !s.models.iter().any(|m| m.id == id))
        })
    });
    // Loaded in the browser only: an effect asks again after each change (the server render
    // shows "Working out the command…"); the previous answer stays until the new one arrives.
    // A restart moves the status several times in a blink: only the answer to the latest
    // question is kept, whatever order the answers come back in.
    let loaded = RwSignal::new(None::<Loaded>);
    let asked = StoredValue::new(0u64);
    Effect::new(move |_| {
        // Read, not only tracked: a memo computes again only when read, and one left unread
        // would never tell this effect of a later change.
        trigger.with(|_| ());
        if gone.get_untracked() {
            return;
        }
        let question = asked.get_value() + 1;
        asked.set_value(question);
        leptos::task::spawn_local(async move {
            let preview = get_launch_preview(id).await.map_err(|e| e.to_string());
            let runs = list_runs(id, None, None).await.map_err(|e| e.to_string());
            if asked.get_value() == question {
                loaded.set(Some((preview, runs)));
            }
        });
    });
    let preview = move || loaded.get().map(|(preview, _)| preview);
    let runs = move || {
        loaded
            .get()
            .and_then(|(_, runs)| runs.ok())
            .unwrap_or_default()
    };
    let toasts = use_toasts();
    let send = move |request: Request| {
        let name = current.with_untracked(|m| m.spec.name.clone());
        run_command(toasts, request, vec![id], name);
    };
    view! {
        <section class="card" id="run" aria-labelledby="run-title">
            <div class="card-head">
                <h2 id="run-title">"Process"</h2>
                <div class="row-actions">
                    {move || view! { <RunButton model=current.get()/> }}
                    <Show when=move || current.with(|m| m.status.permits(Request::Restart))>
                        <button class="small" on:click=move |_| send(Request::Restart)>"Restart"</button>
                    </Show>
                    <Show when=move || current.with(|m| m.status.permits(Request::ForceStop))>
                        <button class="small danger" title="Ends its gateway requests at once instead of letting them finish"
                            on:click=move |_| send(Request::ForceStop)>"Force stop"</button>
                    </Show>
                </div>
            </div>
            <RunFacts live model_id=id/>
            <RequestCounts live model_id=id/>
            // Saved settings do not reach the running process: what a restart would change.
            {move || view! { <RestartToApply live model_id=id name=current.with(|m| m.spec.name.clone()) full=true/> }}
            <h3>"Command line"</h3>
            {move || {
                // While a process runs, its real command (with its port); otherwise what a start
                // would run now.
                let running = runs().first().filter(|r| r.ended_at.is_none()).map(|r| r.command.clone());
                match (running, preview()) {
                    (Some(command), _) => view! {
                        <pre class="command-line" aria-label="Command line">{command_line(&command)}</pre>
                    }.into_any(),
                    (None, None) => view! { <p class="muted">"Working out the command…"</p> }.into_any(),
                    (None, Some(Err(error))) => view! { <p class="error-banner">{error}</p> }.into_any(),
                    (None, Some(Ok(preview))) => view! { <Preview preview/> }.into_any(),
                }
            }}
            <h3>"Recent runs"</h3>
            {move || {
                let list: Vec<Run> = runs();
                if list.is_empty() {
                    view! { <p class="muted">"Not started yet."</p> }.into_any()
                } else {
                    view! {
                        <ol class="runs">{list.into_iter().map(|run| view! { <RunEntry run/> }).collect_view()}</ol>
                    }.into_any()
                }
            }}
        </section>
    }
}

#[component]
fn Preview(preview: LaunchPreview) -> impl IntoView {
    let program = preview
        .program
        .clone()
        .unwrap_or_else(|| "llama-server".into());
    let line = command_line(&[vec![program], preview.args.clone()].concat());
    view! {
        {preview.problem.map(|problem| view! { <p class="error-banner" role="alert">{problem}</p> })}
        {(!preview.unsupported.is_empty()).then(|| view! {
            <ul class="unsupported">
                {preview.unsupported.into_iter().map(|u| view! {
                    <li><code>{u.setting}</code>" needs "<code>{u.flag}</code>", which this llama-server does not have"</li>
                }).collect_view()}
            </ul>
        })}
        <pre class="command-line" aria-label="Command line">{line}</pre>
        {preview.memory_need.map(|need| view! {
            <p class="muted memory-need">"Memory: needs "{need}</p>
        })}
        {preview.memory_short.map(|short| view! {
            <p class="notice-banner memory-short" role="status">
                "Would not fit now: "{short}". Starting it stops least recently used models there \
                 first, as Settings allow."
            </p>
        })}
        {preview.kept_kv.map(|kept| view! {
            <p class="muted kept-kv">"Kept KV cache: "{kept.describe()}</p>
        })}
    }
}

fn command_line(command: &[String]) -> String {
    command
        .iter()
        .map(|a| quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Shell-style quoting for display only (the process gets separate arguments, never a shell).
fn quote(arg: &str) -> String {
    if !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,+@<>".contains(c))
    {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[component]
fn RunEntry(run: Run) -> impl IntoView {
    let outcome = match (run.ended_at, &run.failure) {
        (None, _) => "running".to_string(),
        (Some(_), Some(reason)) => format!("failed: {}", reason.as_str().replace('_', " ")),
        (Some(_), None) => "stopped".to_string(),
    };
    let port = (run.port > 0).then(|| format!(" · port {}", run.port));
    view! {
        <li class=if run.failure.is_some() { "run failed" } else { "run" }>
            <div><LocalTime ms=run.started_at/>" · "<strong>{outcome}</strong>{port}</div>
            {run.message.map(|m| view! { <div class="muted">{m}</div> })}
            {(run.failure.is_some() && !run.log_tail.is_empty()).then(|| view! {
                <details>
                    <summary>"Last log lines"</summary>
                    <pre class="log-tail">{run.log_tail.join("\n")}</pre>
                </details>
            })}
        </li>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_with_spaces_or_quotes_are_shown_quoted() {
        assert_eq!(quote("--ctx-size"), "--ctx-size");
        assert_eq!(quote("/models/a b.gguf"), "'/models/a b.gguf'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
    }
}
