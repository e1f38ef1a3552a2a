//! The header's "Sign out", shown only where a login is required and this browser has one.

use leptos::prelude::*;
use serde_json::json;

use crate::app::access::login_page::go_to;
use crate::app::access::post_json::{get_json, post_json};

#[component]
pub fn SignOut() -> impl IntoView {
    let shown = RwSignal::new(false);
    // In the browser only: the server render shows nothing, so both sides agree.
    Effect::new(move |_| {
        leptos::task::spawn_local(async move {
            if let Ok(me) = get_json("/api/auth/me").await {
                shown.set(me["login_required"] == true && me["signed_in"] == true);
            }
        });
    });
    let sign_out = move |_| {
        leptos::task::spawn_local(async move {
            if post_json("/api/auth/logout", &json!({})).await.is_ok() {
                go_to("/login");
            }
        });
    };
    view! {
        <Show when=move || shown.get()>
            <button class="small sign-out" on:click=sign_out>"Sign out"</button>
        </Show>
    }
}
