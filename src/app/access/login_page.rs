//! `/login`: the admin signs in; then back to the page that sent them here.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::auth::SignIn;
use crate::app::access::next_page::{go_to, safe_next};

#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let username = RwSignal::new("admin".to_string());
    let password = RwSignal::new(String::new());
    let sign_in = ServerAction::<SignIn>::new();
    // Signed in: a full navigation, so the new cookie goes with everything from here on.
    Effect::new(move |_| {
        if let Some(Ok(_)) = sign_in.value().get() {
            go_to(&safe_next(query.with_untracked(|q| q.get("next"))));
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        sign_in.dispatch(SignIn {
            username: username.get_untracked(),
            password: password.get_untracked(),
        });
    };
    let error = move || match sign_in.value().get() {
        Some(Err(error)) if !sign_in.pending().get() => Some(error.to_string()),
        _ => None,
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
                        on:input=move |ev| password.set(event_target_value(&ev))/>
                </label>
                {move || error().map(|e| view! { <p class="error-banner" role="alert">{e}</p> })}
                <button class="primary" type="submit" disabled=move || sign_in.pending().get()>"Sign in"</button>
            </form>
        </section>
    }
}
