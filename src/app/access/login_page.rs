//! `/login`: the admin signs in; then back to the page that sent them here.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use serde_json::json;

use crate::app::access::post_json::{post_json, safe_next};

#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let username = RwSignal::new("admin".to_string());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        busy.set(true);
        error.set(None);
        let next = safe_next(query.with_untracked(|q| q.get("next")));
        let body =
            json!({"username": username.get_untracked(), "password": password.get_untracked()});
        leptos::task::spawn_local(async move {
            match post_json("/api/auth/login", &body).await {
                Ok(_) => go_to(&next),
                Err(message) => {
                    error.set(Some(message));
                    busy.set(false);
                }
            }
        });
    };
    view! {
        <Title text="Sign in"/>
        <section class="card narrow">
            <h1>"Sign in"</h1>
            <form on:submit=submit>
                <label class="field">"Username"
                    <input type="text" autocomplete="username" required
                        prop:value=move || username.get() on:input=move |ev| username.set(event_target_value(&ev))/>
                </label>
                <label class="field">"Password"
                    <input type="password" autocomplete="current-password" required
                        prop:value=move || password.get() on:input=move |ev| password.set(event_target_value(&ev))/>
                </label>
                {move || error.get().map(|e| view! { <p class="error-banner" role="alert">{e}</p> })}
                <button class="primary" type="submit" disabled=move || busy.get()>"Sign in"</button>
            </form>
        </section>
    }
}

/// A full navigation: the new cookie goes with every request from here on.
pub fn go_to(path: &str) {
    if let Some(window) = web_sys::window() {
        let _ = window.location().set_href(path);
    }
}
