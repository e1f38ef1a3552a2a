//! What signing in, setting up and signing out answer (`/api/auth/*`), for the pages and for
//! scripts: one shape on both sides.

use serde::{Deserialize, Serialize};

/// The account a sign-in or the setup signed this browser in as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedInAs {
    pub username: String,
}

/// This browser's session ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedOut {
    pub signed_out: bool,
}

/// Every session of the admin ended, on every browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionsEnded {
    pub sessions_ended: usize,
}

/// What the login and setup pages ask first: whether a login is needed here, whether an admin
/// exists, and whether this browser is signed in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessState {
    pub login_required: bool,
    pub admin_exists: bool,
    pub signed_in: bool,
}
