//! The pages that let a person in: the one-time setup of the admin, and signing in.

pub mod login_page;
pub mod next_page;
pub mod setup_page;
pub mod sign_out;

/// Whether a path is one of these pages: they show no navigation and open no live channel
/// (before signing in there is nothing to navigate to, and the socket would be refused).
pub fn is_access_page(path: &str) -> bool {
    path == "/login" || path == "/setup"
}
