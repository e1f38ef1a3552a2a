//! The pages that let a person in: the one-time setup of the admin, and signing in.

pub mod login_page;
mod post_json;
pub mod setup_page;
pub mod sign_out;
