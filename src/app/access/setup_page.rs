//! `/setup?token=…`: the one-time link Corral printed to its log creates the admin account.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use serde_json::json;

use crate::app::access::login_page::go_to;
use crate::app::access::post_json::post_json;

#[component]
pub fn SetupPage() -> impl IntoView {
    let query = use_query_map();
    let username = RwSignal::new("admin".to_string());
    let password = RwSignal::new(String::new());
    let repeated = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if password.get_untracked() != repeated.get_untracked() {
            error.set(Some("The two passwords differ.".into()));
            return;
        }
        busy.set(true);
        error.set(None);
        let token = query.with_untracked(|q| q.get("token")).unwrap_or_default();
        let body = json!({"token": token, "username": username.get_untracked(),
                          "password": password.get_untracked()});
        leptos::task::spawn_local(async move {
            match post_json("/api/auth/setup", &body).await {
                Ok(_) => go_to("/"),
                Err(message) => {
                    error.set(Some(message));
                    busy.set(false);
                }
            }
        });
    };
    view! {
        <Title text="Set up"/>
        <section class="card narrow">
            <h1>"Create the admin account"</h1>
            <p class="muted">"This link works once. The password is stored only as an argon2id hash; \
                `corral admin reset-password` sets a new one if it is lost."</p>
            <form on:submit=submit>
                <label class="field">"Username"
                    <input type="text" autocomplete="username" required
                        prop:value=move || username.get() on:input=move |ev| username.set(event_target_value(&ev))/>
                </label>
                <label class="field">"Password (at least 8 characters)"
                    <input type="password" autocomplete="new-password" required minlength="8"
                        prop:value=move || password.get() on:input=move |ev| password.set(event_target_value(&ev))/>
                </label>
                <label class="field">"The password again"
                    <input type="password" autocomplete="new-password" required
                        prop:value=move || repeated.get() on:input=move |ev| repeated.set(event_target_value(&ev))/>
                </label>
                {move || error.get().map(|e| view! { <p class="error-banner" role="alert">{e}</p> })}
                <button class="primary" type="submit" disabled=move || busy.get()>"Create and sign in"</button>
            </form>
        </section>
    }
}
