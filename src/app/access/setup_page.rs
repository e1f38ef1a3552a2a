//! `/setup?token=…`: the one-time link Corral printed to its log creates the admin account.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::auth::SetUpAdmin;
use crate::app::access::next_page::go_to;

#[component]
pub fn SetupPage() -> impl IntoView {
    let query = use_query_map();
    let username = RwSignal::new("admin".to_string());
    // The password fields only report what is typed: a value written back into a field resets
    // the browser's own checks of it (`minlength` never warned).
    let password = RwSignal::new(String::new());
    let repeated = RwSignal::new(String::new());
    // What the page itself refuses (two passwords that differ) before asking Corral.
    let differ = RwSignal::new(false);
    let set_up = ServerAction::<SetUpAdmin>::new();
    Effect::new(move |_| {
        if let Some(Ok(_)) = set_up.value().get() {
            go_to("/");
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        differ.set(password.get_untracked() != repeated.get_untracked());
        if differ.get_untracked() {
            return;
        }
        set_up.dispatch(SetUpAdmin {
            token: query.with_untracked(|q| q.get("token")).unwrap_or_default(),
            username: username.get_untracked(),
            password: password.get_untracked(),
        });
    };
    let error = move || {
        if differ.get() {
            return Some("The two passwords differ.".to_string());
        }
        match set_up.value().get() {
            Some(Err(error)) if !set_up.pending().get() => Some(error.to_string()),
            _ => None,
        }
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
                        on:input=move |ev| password.set(event_target_value(&ev))/>
                </label>
                <label class="field">"The password again"
                    <input type="password" autocomplete="new-password" required
                        on:input=move |ev| repeated.set(event_target_value(&ev))/>
                </label>
                {move || error().map(|e| view! { <p class="error-banner" role="alert">{e}</p> })}
                <button class="primary" type="submit" disabled=move || set_up.pending().get()>"Create and sign in"</button>
            </form>
        </section>
    }
}
