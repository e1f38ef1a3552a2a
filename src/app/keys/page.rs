//! `/keys`: make an API key (its scopes, optionally its models and an expiry), see it once,
//! list keys by name and prefix with their last use, revoke one.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::keys::{create_key, list_keys, revoke_key};
use crate::domain::api_key::{ApiKey, Scope};
use crate::domain::time::{format_utc, now_ms};

const DAY_MS: i64 = 24 * 3600 * 1000;

#[component]
pub fn KeysPage() -> impl IntoView {
    let name = RwSignal::new(String::new());
    let chosen = RwSignal::new(vec![Scope::Inference]);
    let models = RwSignal::new(String::new());
    let days = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let shown_once = RwSignal::new(None::<String>);
    let refresh = RwSignal::new(0u32);
    let keys = LocalResource::new(move || {
        refresh.track();
        async move { list_keys().await }
    });
    let create = Action::new(move |&(): &()| {
        let models: Vec<String> = models
            .get_untracked()
            .split(',')
            .map(|m| m.trim().to_string())
            .filter(|m| !m.is_empty())
            .collect();
        let expires = days
            .get_untracked()
            .trim()
            .parse::<i64>()
            .ok()
            .map(|d| now_ms() + d * DAY_MS);
        let (name, scopes) = (name.get_untracked(), chosen.get_untracked());
        async move {
            let models = (!models.is_empty()).then_some(models);
            match create_key(name, scopes, models, expires).await {
                Ok(created) => {
                    shown_once.set(Some(created.key));
                    error.set(None);
                    refresh.update(|n| *n += 1);
                }
                Err(e) => error.set(Some(e.to_string())),
            }
        }
    });
    let revoke = Action::new(move |id: &i64| {
        let id = *id;
        async move {
            if let Err(e) = revoke_key(id).await {
                error.set(Some(e.to_string()));
            }
            refresh.update(|n| *n += 1);
        }
    });
    view! {
        <Title text="API keys"/>
        <div class="page-head"><h1>"API keys"</h1></div>
        <section class="card">
            <h2>"Make a key"</h2>
            <form class="key-form" on:submit=move |ev| { ev.prevent_default(); create.dispatch(()); }>
                <label class="field">"Name"
                    <input type="text" required maxlength="80" prop:value=move || name.get()
                        on:input=move |ev| name.set(event_target_value(&ev))/>
                </label>
                <fieldset>
                    <legend>"Scopes"</legend>
                    {Scope::ALL.iter().map(|scope| {
                        let scope = *scope;
                        view! {
                            <label class="check">
                                <input type="checkbox" prop:checked=move || chosen.with(|c| c.contains(&scope))
                                    on:change=move |_| chosen.update(|c| {
                                        if let Some(i) = c.iter().position(|s| *s == scope) { c.remove(i); } else { c.push(scope); }
                                    })/>
                                {scope.as_str()}
                            </label>
                        }
                    }).collect_view()}
                </fieldset>
                <label class="field">"Models (names, comma-separated; empty: every model)"
                    <input type="text" prop:value=move || models.get() on:input=move |ev| models.set(event_target_value(&ev))/>
                </label>
                <label class="field">"Expires after (days; empty: never)"
                    <input type="number" min="1" prop:value=move || days.get() on:input=move |ev| days.set(event_target_value(&ev))/>
                </label>
                {move || error.get().map(|e| view! { <p class="error-banner" role="alert">{e}</p> })}
                <button class="primary" type="submit">"Make key"</button>
            </form>
            {move || shown_once.get().map(|key| view! {
                <div class="shown-once" role="status">
                    <p>"Copy it now: it is not shown again."</p>
                    <pre class="command-line" aria-label="New key">{key}</pre>
                </div>
            })}
        </section>
        <section class="card">
            <h2>"Keys"</h2>
            <table class="activity" aria-label="API keys">
                <thead><tr><th>"Name"</th><th>"Key"</th><th>"Scopes"</th><th>"Models"</th><th>"Made"</th><th>"Expires"</th><th>"Last used"</th><th></th></tr></thead>
                <tbody>
                    {move || keys.get().and_then(Result::ok).unwrap_or_default().into_iter().map(|key| {
                        view! { <KeyRow key revoke/> }
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
}

#[component]
fn KeyRow(key: ApiKey, revoke: Action<i64, ()>) -> impl IntoView {
    let when = |at: Option<i64>, none: &str| at.map_or_else(|| none.to_string(), format_utc);
    let id = key.id;
    let revoked = key.revoked_at.is_some();
    view! {
        <tr class=if revoked { "failed" } else { "ok" }>
            <td>{key.name.clone()}</td>
            <td><code>{format!("{}…", key.prefix)}</code></td>
            <td>{key.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")}</td>
            <td>{key.models.as_ref().map_or_else(|| "every model".to_string(), |ids| format!("{} model(s)", ids.len()))}</td>
            <td>{format_utc(key.created_at)}</td>
            <td>{when(key.expires_at, "never")}</td>
            <td>{when(key.last_used_at, "never")}</td>
            <td>{if revoked {
                view! { <span class="muted">"revoked"</span> }.into_any()
            } else {
                view! { <button class="small danger" on:click=move |_| { revoke.dispatch(id); }>"Revoke"</button> }.into_any()
            }}</td>
        </tr>
    }
}
