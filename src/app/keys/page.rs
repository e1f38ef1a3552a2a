//! `/keys`: make an API key (its scopes, optionally its models and an expiry), see it once,
//! list keys by name and prefix with their last use and what each asked of the gateway (requests
//! and tokens, last 24 hours and 30 days), revoke one.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::keys::{create_key, list_key_usage, list_keys, revoke_key};
use crate::app::access::next_page::login_required;
use crate::app::widgets::copy_button::CopyButton;
use crate::app::widgets::local_time::LocalTime;
use crate::domain::api_key::{ApiKey, KeyUsage, Scope};
use crate::domain::time::now_ms;

const DAY_MS: i64 = 24 * 3600 * 1000;

// One page's markup, read top to bottom as it shows (the new-key form, the keys, usage).
#[allow(clippy::too_many_lines)]
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
    // What each key asked of the gateway lately (from the activity records).
    let usage = LocalResource::new(move || {
        refresh.track();
        async move { list_key_usage().await }
    });
    let usage_of = move |prefix: &str| -> Option<KeyUsage> {
        usage
            .get()
            .and_then(Result::ok)
            .and_then(|all| all.into_iter().find(|u| u.caller == prefix))
    };
    let create = Action::new(move |&(): &()| {
        let fields = (name, models, days);
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
                    // Ready for the next key; its scopes stay as chosen.
                    fields.0.set(String::new());
                    fields.1.set(String::new());
                    fields.2.set(String::new());
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
    // On an open loopback nothing checks keys: say so, or a key that "works" misleads.
    let open_loopback = LocalResource::new(|| async { login_required().await == Some(false) });
    view! {
        <Title text="API keys"/>
        <div class="page-head"><h1>"API keys"</h1></div>
        {move || (open_loopback.get() == Some(true)).then(|| view! {
            <p class="notice-banner" role="note">
                "This Corral needs no login on its loopback address, so requests there are not asked for a key. "
                "Keys count where a login is required: a LAN or public bind, or "<code>"--open-on-loopback false"</code>"."
            </p>
        })}
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
                            <label class="check scope">
                                <input type="checkbox" prop:checked=move || chosen.with(|c| c.contains(&scope))
                                    on:change=move |_| chosen.update(|c| {
                                        if let Some(i) = c.iter().position(|s| *s == scope) { c.remove(i); } else { c.push(scope); }
                                    })/>
                                <span><code>{scope.as_str()}</code>" — "{scope.explained()}</span>
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
                    <p>"Copy it now: it is not shown again. "
                        <CopyButton text=Signal::derive({ let key = key.clone(); move || key.clone() }) what="new key"/></p>
                    <pre class="command-line" aria-label="New key">{key}</pre>
                </div>
            })}
        </section>
        <section class="card">
            <h2>"Keys"</h2>
            <table class="activity keys" aria-label="API keys">
                <thead><tr><th>"Name"</th><th>"Key"</th><th>"Scopes"</th><th class="wide-only">"Models"</th><th class="wide-only">"Made"</th><th class="wide-only">"Expires"</th><th class="wide-only">"Last used"</th><th><span class="sr-only">"Revoke"</span></th></tr></thead>
                <tbody>
                    {move || keys.get().and_then(Result::ok).unwrap_or_default().into_iter().map(|key| {
                        let used = usage_of(&key.prefix);
                        view! { <KeyRow key revoke used/> }
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
}

#[component]
fn KeyRow(key: ApiKey, revoke: Action<i64, ()>, used: Option<KeyUsage>) -> impl IntoView {
    let when = |at: Option<i64>, none: &'static str| match at {
        Some(ms) => view! { <LocalTime ms/> }.into_any(),
        None => none.into_any(),
    };
    let id = key.id;
    let revoked = key.revoked_at.is_some();
    view! {
        <tr class=if revoked { "failed" } else { "ok" }>
            <td>
                {key.name.clone()}
                <div class="muted small key-usage">{usage_line(used.as_ref())}</div>
            </td>
            <td><code>{format!("{}…", key.prefix)}</code></td>
            <td>{key.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")}</td>
            <td class="wide-only">{key.models.as_ref().map_or_else(|| "every model".to_string(), |ids| format!("{} model(s)", ids.len()))}</td>
            <td class="wide-only"><LocalTime ms=key.created_at/></td>
            <td class="wide-only">{when(key.expires_at, "never")}</td>
            <td class="wide-only">{when(key.last_used_at, "never")}</td>
            <td>{if revoked {
                view! { <span class="muted">"revoked"</span> }.into_any()
            } else {
                view! { <RevokeButton name=key.name.clone() id revoke/> }.into_any()
            }}</td>
        </tr>
    }
}

/// "24 h: 3 requests, 1.2k tokens · 30 days: 40 requests, 20k tokens".
fn usage_line(used: Option<&KeyUsage>) -> String {
    let Some(used) = used.filter(|u| u.requests_30d > 0) else {
        return "No requests in the last 30 days".to_string();
    };
    let part = |requests: i64, tokens: i64| {
        let noun = if requests == 1 { "request" } else { "requests" };
        format!("{requests} {noun}, {} tokens", compact(tokens))
    };
    format!(
        "24 h: {} · 30 days: {}",
        part(used.requests_24h, used.tokens_24h),
        part(used.requests_30d, used.tokens_30d)
    )
}

/// 950, 1.2k, 3.4M.
fn compact(n: i64) -> String {
    if n < 1_000 {
        n.to_string()
    } else if n < 1_000_000 {
        format!("{:.1}k", n as f64 / 1e3)
    } else {
        format!("{:.1}M", n as f64 / 1e6)
    }
}

/// Revoking cannot be undone (programs using the key stop working at once), so the first
/// click asks and the second revokes.
#[component]
fn RevokeButton(name: String, id: i64, revoke: Action<i64, ()>) -> impl IntoView {
    let asking = RwSignal::new(false);
    view! {
        <Show when=move || asking.get() fallback=move || view! {
            <button class="small danger" on:click=move |_| asking.set(true)>"Revoke"</button>
        }>
            <span class="confirm">
                <button class="small danger" aria-label=format!("Revoke {name} for good")
                    on:click=move |_| { revoke.dispatch(id); }>"Revoke for good"</button>
                <button class="small" on:click=move |_| asking.set(false)>"Keep"</button>
            </span>
        </Show>
    }
}
