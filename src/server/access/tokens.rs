//! Random tokens (sessions, the setup link) and their SHA-256 digests: a token is shown once,
//! only its digest is kept, and looking one up compares digests, never the secret itself.

use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::domain::AppError;

/// 256 random bits, URL-safe.
pub fn new_token() -> Result<String, AppError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| AppError::internal(format!("no randomness for a token: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The one-time setup token, held in memory only (a restart issues a new one).
#[derive(Default)]
pub struct SetupToken {
    digest: Mutex<Option<[u8; 32]>>,
}

impl SetupToken {
    pub fn issue(&self) -> Result<String, AppError> {
        let token = new_token()?;
        *self.digest.lock().unwrap_or_else(|p| p.into_inner()) = Some(digest(&token));
        Ok(token)
    }

    /// True once for the issued token; it is spent by the call.
    pub fn redeem(&self, token: &str) -> bool {
        let mut held = self.digest.lock().unwrap_or_else(|p| p.into_inner());
        if held.is_some_and(|d| d == digest(token)) {
            *held = None;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setup_token_works_once() {
        let setup = SetupToken::default();
        assert!(!setup.redeem("anything"), "no token issued yet");
        let token = setup.issue().unwrap();
        assert!(!setup.redeem("wrong"));
        assert!(setup.redeem(&token));
        assert!(!setup.redeem(&token), "spent");
    }

    #[test]
    fn tokens_are_random_and_256_bits() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_ne!(a, b);
        assert_eq!(URL_SAFE_NO_PAD.decode(a).unwrap().len(), 32);
    }
}
