//! Admin passwords: argon2id with OWASP's parameters (19 MiB, 2 passes, 1 lane), as PHC
//! strings; hashing runs on a blocking thread (it takes tens of milliseconds on purpose). Only
//! a few hashes run at once (`HASHES_AT_ONCE`): each takes 19 MiB, and sign-ins need no login,
//! so without a cap a burst of them is a way to exhaust memory.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::domain::{AppError, Rule};

pub const MIN_LENGTH: usize = 8;
/// Longer passwords would only make hashing a way to burn CPU.
pub const MAX_LENGTH: usize = 1024;

/// Hashes computed at once: two per core, at least two and at most eight (152 MiB).
fn hashes_at_once() -> &'static tokio::sync::Semaphore {
    static PERMITS: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    PERMITS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        tokio::sync::Semaphore::new((2 * cores).clamp(2, 8))
    })
}

/// Every hash is being computed already: ask again in a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::DEFAULT)
}

pub fn check_new(password: &str) -> Result<(), AppError> {
    let length = password.chars().count();
    if length < MIN_LENGTH || password.len() > MAX_LENGTH {
        return Err(AppError::invalid(
            "password",
            Rule::Range,
            format!("must be {MIN_LENGTH} to {MAX_LENGTH} characters"),
        ));
    }
    Ok(())
}

pub async fn hash(password: String) -> Result<String, AppError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt)
        .map_err(|e| AppError::internal(format!("no randomness for a salt: {e}")))?;
    // A new password is set by the setup link or the admin: it waits its turn.
    let permit = hashes_at_once()
        .acquire()
        .await
        .map_err(AppError::internal)?;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let salt = SaltString::encode_b64(&salt).map_err(AppError::internal)?;
        argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(AppError::internal)
    })
    .await
    .map_err(AppError::internal)?
}

/// How long a sign-in waits for a place to hash before it is told to try again. Places are
/// handed out in turn, and each client has at most one attempt waiting (`backoff`), so a flood
/// from many addresses delays the admin's sign-in by its length, never shuts it out.
const WAIT_FOR_A_PLACE: std::time::Duration = std::time::Duration::from_secs(3);

/// True when `password` matches the PHC string `stored`; `Err(Busy)` when no place to hash it
/// came free within `WAIT_FOR_A_PLACE`.
pub async fn verify(password: String, stored: String) -> Result<bool, Busy> {
    if password.len() > MAX_LENGTH {
        return Ok(false);
    }
    let permit = tokio::time::timeout(WAIT_FOR_A_PLACE, hashes_at_once().acquire())
        .await
        .map_err(|_| Busy)?
        .map_err(|_| Busy)?;
    let matches = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        PasswordHash::new(&stored)
            .is_ok_and(|hash| argon2().verify_password(password.as_bytes(), &hash).is_ok())
    })
    .await
    .unwrap_or(false);
    Ok(matches)
}

/// A hash no password matches, checked for unknown usernames so they take as long as known ones.
pub fn decoy() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        let salt = SaltString::encode_b64(b"corral-decoy-salt").ok();
        salt.and_then(|salt| {
            argon2()
                .hash_password(b"no password is this one", &salt)
                .ok()
                .map(|h| h.to_string())
        })
        .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_password_verifies_against_its_own_hash_only() {
        let stored = hash("correct horse".into()).await.unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert_eq!(
            verify("correct horse".into(), stored.clone()).await,
            Ok(true)
        );
        assert_eq!(verify("wrong horse".into(), stored).await, Ok(false));
        assert_eq!(
            verify("anything".into(), decoy().to_string()).await,
            Ok(false)
        );
    }

    #[test]
    fn short_and_huge_passwords_are_refused() {
        assert!(check_new("short").is_err());
        assert!(check_new(&"x".repeat(MAX_LENGTH + 1)).is_err());
        assert!(check_new("long enough").is_ok());
    }
}
