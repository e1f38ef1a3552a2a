//! The Leptos app: the HTML shell, the routes and the pages.

pub mod access;
pub mod activity;
#[cfg(feature = "hydrate")]
mod browser_fetch;
mod built_once;
mod bundle_scripts;
pub mod fetch_when;
#[cfg(feature = "hydrate")]
pub mod hydration;
pub mod keys;
pub mod lazy_pages;
pub mod live_store;
pub mod model;
pub mod models;
pub mod monitoring;
pub mod playground;
pub mod settings;
mod split_points;
pub mod widgets;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::{Lazy, SsrMode, path};

use crate::app::access::sign_out::SignOut;
use crate::app::bundle_scripts::BundleScripts;
use crate::app::lazy_pages::{
    ActivityRoute, KeysRoute, LoginRoute, ModelRoute, MonitoringRoute, PlaygroundRoute,
    SettingsRoute, SetupRoute,
};
use crate::app::live_store::LiveStore;
use crate::app::models::page::ModelsPage;
use crate::app::widgets::toast::{ToastRegion, Toasts};

/// The HTML document around the app (server-side only).
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    set_page_policy(&options);
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <AutoReload options=options.clone()/>
                <BundleScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// A page's Content-Security-Policy: its inline hydration script runs by this response's nonce,
/// nothing else inline does, and no other site may frame it.
#[cfg(feature = "ssr")]
fn set_page_policy(options: &LeptosOptions) {
    use crate::server::http::security_headers::page_policy;
    let (Some(response), Some(nonce)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        leptos::nonce::use_nonce(),
    ) else {
        return;
    };
    // `cargo leptos watch` reloads the page over a socket of its own.
    let reload = std::env::var_os("LEPTOS_WATCH").map(|_| options.reload_port);
    if let Ok(value) = axum::http::HeaderValue::from_str(&page_policy(&nonce, reload)) {
        response.insert_header(axum::http::header::CONTENT_SECURITY_POLICY, value);
    }
}

/// The document's title: the page's (a model's name, say) and Corral's. leptos_meta writes it
/// into the server's HTML as it is, so there it is escaped: a name is text, never markup. The
/// browser sets it as text (`document.title`) and needs no escaping.
fn page_title(page: String) -> String {
    let title = if page.is_empty() {
        "Corral".to_string()
    } else {
        format!("{page} · Corral")
    };
    as_title_text(title)
}

#[cfg(feature = "ssr")]
fn as_title_text(title: String) -> String {
    html_escape::encode_text(&title).into_owned()
}

#[cfg(not(feature = "ssr"))]
fn as_title_text(title: String) -> String {
    title
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    Toasts::provide();
    let live = LiveStore::provide();
    // Before the router: its link handler must come after the unsaved-edits one.
    crate::app::widgets::unsaved_edits::install();
    crate::app::widgets::local_time::learn_offset();
    view! {
        <Stylesheet id="leptos" href="/pkg/corral.css"/>
        <Title formatter=page_title/>
        <Router>
            <header class="topbar">
                <a class="brand" href="/">"Corral"</a>
                <TopBarLinks live/>
            </header>
            <main>
                <Routes fallback=|| view! { <NotFound message="There is no page at this address.".to_string()/> }>
                    // Async rendering: the HTML is complete when it leaves (readable without
                    // JavaScript, no streamed fragments) and the status (404 for an unknown id)
                    // can depend on the data.
                    <Route path=path!("/") view=ModelsPage ssr=SsrMode::Async/>
                    // The models page is in the first bundle; the others load on first visit.
                    <Route path=path!("/models/:id") view={Lazy::<ModelRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/playground") view={Lazy::<PlaygroundRoute>::new()}/>
                    <Route path=path!("/activity") view={Lazy::<ActivityRoute>::new()}/>
                    <Route path=path!("/monitoring") view={Lazy::<MonitoringRoute>::new()}/>
                    <Route path=path!("/keys") view={Lazy::<KeysRoute>::new()}/>
                    <Route path=path!("/settings") view={Lazy::<SettingsRoute>::new()}/>
                    <Route path=path!("/login") view={Lazy::<LoginRoute>::new()}/>
                    <Route path=path!("/setup") view={Lazy::<SetupRoute>::new()}/>
                </Routes>
            </main>
            <ToastRegion/>
        </Router>
    }
}

/// The pages, the live channel's state and "Sign out": none of them on the sign-in and setup
/// pages, where there is nothing to navigate to yet and nothing live to show.
#[component]
fn TopBarLinks(live: LiveStore) -> impl IntoView {
    let location = leptos_router::hooks::use_location();
    let access_page = move || location.pathname.with(|path| access::is_access_page(path));
    view! {
        <Show when=move || !access_page()>
            <nav aria-label="Main">
                <A href="/">"Models"</A>
                <A href="/playground">"Playground"</A>
                <A href="/activity">"Activity"</A>
                <A href="/monitoring">"Monitoring"</A>
                <A href="/keys">"Keys"</A>
                <A href="/settings">"Settings"</A>
            </nav>
            <span class="connection" role="status" aria-live="polite"
                data-state=move || format!("{:?}", live.connection.get()).to_lowercase()>
                <span class="dot" aria-hidden="true"></span>
                {move || live.connection.get().label()}
            </span>
            <SignOut/>
        </Show>
    }
}

#[component]
pub fn NotFound(message: String) -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found"/>
        <section class="empty-state">
            <h1>"Not found"</h1>
            <p>{message}</p>
            <p><a href="/">"Back to the models"</a></p>
        </section>
    }
}
