//! The header's "Sign out", shown only where a login is required and this browser has one.

use leptos::prelude::*;

use crate::api::auth::{SignOut as SignOutCall, who_is_here};
use crate::app::access::next_page::go_to;

#[component]
pub fn SignOut() -> impl IntoView {
    let shown = RwSignal::new(false);
    // In the browser only: the server render shows nothing, so both sides agree.
    Effect::new(move |_| {
        leptos::task::spawn_local(async move {
            if let Ok(state) = who_is_here().await {
                shown.set(state.login_required && state.signed_in);
            }
        });
    });
    let sign_out = ServerAction::<SignOutCall>::new();
    Effect::new(move |_| {
        if let Some(Ok(_)) = sign_out.value().get() {
            go_to("/login");
        }
    });
    view! {
        <Show when=move || shown.get()>
            <button class="small sign-out" on:click=move |_| { sign_out.dispatch(SignOutCall {}); }>"Sign out"</button>
        </Show>
    }
}
