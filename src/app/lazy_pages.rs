//! Every page but the models page, as a lazy route: built with `cargo leptos build --split`,
//! each page's code is a chunk of its own that the browser fetches when the page is first
//! visited (or, on a page's own URL, before hydrating it), so the first bundle holds the models
//! page and what every page shares. Without `--split` these are ordinary routes.
//!
//! Each page fetches its own data, so the route's `data()` has nothing to start.

use leptos::prelude::*;
use leptos_router::{LazyRoute, lazy_route};

macro_rules! lazy_page {
    ($($route:ident => $page:path),* $(,)?) => {$(
        pub struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                $route
            }

            fn view(this: Self) -> AnyView {
                let $route = this;
                view! { <$page/> }.into_any()
            }
        }
    )*};
}

lazy_page! {
    ModelRoute => crate::app::model::page::ModelPage,
    PlaygroundRoute => crate::app::playground::page::PlaygroundPage,
    ActivityRoute => crate::app::activity::page::ActivityPage,
    MonitoringRoute => crate::app::monitoring::page::MonitoringPage,
    KeysRoute => crate::app::keys::page::KeysPage,
    SettingsRoute => crate::app::settings::page::SettingsPage,
    LoginRoute => crate::app::access::login_page::LoginPage,
    SetupRoute => crate::app::access::setup_page::SetupPage,
}
