//! Every page but the models page, as a lazy route: in the release bundle each page's code is a
//! chunk of its own that the browser fetches when the page is first visited (or, on a page's own
//! URL, before hydrating it), so the first bundle holds the models page and what every page
//! shares. In other builds these are ordinary routes (`split_points`).

use crate::app::split_points::split_route;

split_route!(ModelRoute => crate::app::model::page::ModelPage);
split_route!(PlaygroundRoute => crate::app::playground::page::PlaygroundPage);
split_route!(ActivityRoute => crate::app::activity::page::ActivityPage);
split_route!(MonitoringRoute => crate::app::monitoring::page::MonitoringPage);
split_route!(KeysRoute => crate::app::keys::page::KeysPage);
split_route!(SettingsRoute => crate::app::settings::page::SettingsPage);
split_route!(LoginRoute => crate::app::access::login_page::LoginPage);
split_route!(SetupRoute => crate::app::access::setup_page::SetupPage);
