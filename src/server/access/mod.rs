//! Access: who may use Corral. On loopback, by default, anyone on the machine (as before);
//! otherwise a signed-in admin. The admin is created once, through a one-time setup link
//! Corral prints to its log (or seeded from `CORRAL_ADMIN_PASSWORD`); signing in gives the
//! browser a session cookie. Only hashes are stored; passwords and tokens never reach a log.

pub mod backoff;
pub mod guard;
pub mod keys;
pub mod password;
pub mod sign_in;
pub mod tokens;

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::domain::api_key::{ApiKey, CreatedKey, Scope};
use crate::domain::{AppError, Rule};
use crate::server::access::backoff::{Backoff, Refused};
use crate::server::access::tokens::{SetupToken, digest, new_token};
use crate::server::db::{Db, access_repo};
use crate::server::models::registry::Registry;
use crate::server::now_ms;
use crate::server::support::generation_cache::GenerationCache;
use crate::server::support::per_owner_cap::{Place, Places};

/// What every key starts with, so a leaked one is recognisable (secret scanners, logs).
const KEY_PREFIX: &str = "crl_";
/// Characters of a key kept for display.
const SHOWN: usize = 12;

const DAY_MS: i64 = 24 * 3600 * 1000;
/// A session's expiry slides forward at most this often (not a write per request).
const TOUCH_EVERY_MS: i64 = 3600 * 1000;
/// How long a session checked against the database is taken as live without asking again.
const SESSION_RECHECK_MS: i64 = 10_000;
/// How often a key's last use is written.
const LAST_USED_EVERY_MS: i64 = 60_000;
/// The cookie that carries a session, before `AccessSettings::cookie_name` says which.
pub const SESSION_COOKIE: &str = "corral_session";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessSettings {
    /// No login on a loopback bind (today's local use).
    pub open_on_loopback: bool,
    /// Corral listens on a loopback address only.
    pub loopback_bind: bool,
    /// Cookies get `Secure` (behind HTTPS, or `--secure-cookies`).
    pub secure_cookies: bool,
    /// Days a session lives after its last use.
    pub session_days: u32,
    /// Gateway requests one key may have in flight.
    pub max_requests_per_key: u32,
    /// The port Corral serves on, once bound: names the session cookie on plain HTTP.
    pub port: Option<u16>,
    /// Answers carry `Strict-Transport-Security` (`--hsts`, over HTTPS only).
    pub hsts: bool,
}

impl Default for AccessSettings {
    fn default() -> Self {
        AccessSettings {
            open_on_loopback: true,
            loopback_bind: true,
            secure_cookies: false,
            session_days: 30,
            max_requests_per_key: 64,
            port: None,
            hsts: false,
        }
    }
}

impl AccessSettings {
    pub fn login_required(&self) -> bool {
        !(self.open_on_loopback && self.loopback_bind)
    }

    /// The session cookie's name. Browsers send a host's cookies to every port of it and let
    /// any of them set one: over HTTPS the `__Host-` prefix keeps others from setting or
    /// scoping it; on plain HTTP the port in the name keeps two services of one host from
    /// taking each other's. (Reading it is another matter: serve Corral on a host name of
    /// its own.)
    pub fn cookie_name(&self) -> String {
        match (self.secure_cookies, self.port) {
            (true, _) => format!("__Host-{SESSION_COOKIE}"),
            (false, Some(port)) => format!("{SESSION_COOKIE}_{port}"),
            (false, None) => SESSION_COOKIE.to_string(),
        }
    }
}

/// A live key sent where keys are not asked for (an open loopback): who asked, for the records
/// only (the key's prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalledWithKey(pub String);

/// A signed-in admin, as the guard found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedIn {
    pub admin_id: i64,
}

#[derive(Clone)]
pub struct Access(Arc<Parts>);

struct Parts {
    settings: AccessSettings,
    /// `settings.cookie_name()`, worked out once.
    cookie_name: String,
    db: Db,
    setup: SetupToken,
    backoff: Backoff,
    /// Live keys, with when their last use was written.
    keys: GenerationCache<[u8; 32], (Arc<ApiKey>, i64)>,
    /// Live sessions, with when the database last said so.
    sessions: GenerationCache<[u8; 32], (SignedIn, i64)>,
    /// Gateway requests in flight per key.
    in_flight: Places<i64>,
    /// Once true, always true: admins are never deleted.
    has_admin: AtomicBool,
}

impl Access {
    pub fn new(db: Db, settings: AccessSettings) -> Access {
        Access(Arc::new(Parts {
            cookie_name: settings.cookie_name(),
            settings,
            db,
            setup: SetupToken::default(),
            backoff: Backoff::default(),
            keys: GenerationCache::default(),
            sessions: GenerationCache::default(),
            in_flight: Places::default(),
            has_admin: AtomicBool::new(false),
        }))
    }

    pub fn settings(&self) -> AccessSettings {
        self.0.settings
    }

    /// A place for one more gateway request of the key, or `None` when it has
    /// `max_requests_per_key` in flight.
    pub fn request_place(&self, key_id: i64) -> Option<Place<i64>> {
        let cap = usize::try_from(self.0.settings.max_requests_per_key).unwrap_or(usize::MAX);
        self.0.in_flight.take(key_id, cap)
    }

    pub async fn admin_exists(&self) -> Result<bool, AppError> {
        if self.0.has_admin.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let exists = self
            .0
            .db
            .call(|conn| Ok(access_repo::admin_exists(conn)?))
            .await?;
        if exists {
            self.0.has_admin.store(true, Ordering::Relaxed);
        }
        Ok(exists)
    }

    /// At start-up: with no admin, creates one from `seed` (user, password) when given, else
    /// issues the one-time setup token and returns it (for the log). `None` when an admin
    /// exists or was seeded.
    pub async fn prepare(
        &self,
        seed: Option<(String, String)>,
    ) -> Result<Option<String>, AppError> {
        if self.admin_exists().await? {
            return Ok(None);
        }
        match seed {
            Some((username, password)) => {
                self.create_admin(username, password).await?;
                Ok(None)
            }
            None => Ok(Some(self.0.setup.issue()?)),
        }
    }

    /// `/setup`: the token from the log creates the first admin and signs them in.
    pub async fn setup(
        &self,
        token: &str,
        username: String,
        password: String,
    ) -> Result<String, AppError> {
        if self.admin_exists().await? {
            return Err(AppError::Conflict {
                field: "username".into(),
                message: "the admin account exists already; sign in instead".into(),
            });
        }
        // Bad input does not spend the link.
        check_username(&username)?;
        password::check_new(&password)?;
        if !self.0.setup.redeem(token) {
            return Err(AppError::Unauthorized {
                message: "the setup link is not valid (it works once; a restart prints a new one)"
                    .into(),
            });
        }
        let admin_id = self.create_admin(username, password).await?;
        self.new_session(admin_id).await
    }

    async fn create_admin(&self, username: String, password: String) -> Result<i64, AppError> {
        check_username(&username)?;
        password::check_new(&password)?;
        let hash = password::hash(password).await?;
        let created = self
            .0
            .db
            .call(move |conn| {
                Ok(access_repo::create_first_admin(
                    conn,
                    &username,
                    &hash,
                    now_ms(),
                )?)
            })
            .await?;
        let id = created.ok_or_else(|| AppError::Conflict {
            field: "username".into(),
            message: "the admin account exists already".into(),
        })?;
        self.0.has_admin.store(true, Ordering::Relaxed);
        Ok(id)
    }

    /// Checks the password (after the client's back-off, if any) and opens a session; answers
    /// the session token for the cookie. The attempt counts against the client before the
    /// password is checked, and a hash is computed only when one of the few places for one is
    /// free: anything else is answered 429 at once, costing no memory.
    pub async fn login(
        &self,
        client: Option<IpAddr>,
        username: String,
        password: String,
    ) -> Result<String, AppError> {
        let attempt = self.0.backoff.begin(client).map_err(|refused| {
            // Rounded up: a client that waits exactly as long as it is told is let in.
            let wait = refused.retry_after().as_millis().div_ceil(1000).max(1);
            let wait = u64::try_from(wait).unwrap_or(u64::MAX);
            let message = match refused {
                Refused::Waiting(_) => {
                    format!("too many failed sign-ins from this address; try again in {wait} s")
                }
                Refused::Busy => "a sign-in from this address is being checked; try again".into(),
            };
            AppError::TooManyRequests {
                message,
                retry_after_seconds: wait,
            }
        })?;
        let name = username.clone();
        let admin = self
            .0
            .db
            .call(move |conn| Ok(access_repo::admin_by_name(conn, &name)?))
            .await?;
        // An unknown name costs a hash check too: the answer's timing says nothing.
        let stored = admin.as_ref().map_or_else(
            || password::decoy().to_string(),
            |a| a.password_hash.clone(),
        );
        let Ok(matches) = password::verify(password, stored).await else {
            attempt.not_checked();
            return Err(AppError::TooManyRequests {
                message: "Corral is checking as many sign-ins as it may at once; try again".into(),
                retry_after_seconds: 1,
            });
        };
        match admin {
            Some(admin) if matches => {
                attempt.succeeded();
                self.new_session(admin.id).await
            }
            _ => {
                drop(attempt);
                tracing::warn!(
                    client = %client.map_or_else(|| "unknown".to_string(), |c| c.to_string()),
                    "a sign-in failed"
                );
                Err(AppError::Unauthorized {
                    message: "wrong username or password".into(),
                })
            }
        }
    }

    async fn new_session(&self, admin_id: i64) -> Result<String, AppError> {
        let token = new_token()?;
        let hash = digest(&token);
        let lifetime = self.lifetime_ms();
        self.0
            .db
            .call(move |conn| {
                let now = now_ms();
                access_repo::prune_sessions(conn, now)?;
                Ok(access_repo::insert_session(
                    conn,
                    &hash,
                    admin_id,
                    now,
                    now + lifetime,
                )?)
            })
            .await?;
        Ok(token)
    }

    fn lifetime_ms(&self) -> i64 {
        i64::from(self.0.settings.session_days) * DAY_MS
    }

    /// The admin a session token belongs to, sliding its expiry; `None` for an unknown or
    /// expired token.
    pub async fn session(&self, token: &str) -> Result<Option<SignedIn>, AppError> {
        let hash = digest(token);
        let now = now_ms();
        // Within a few seconds of the database saying so, a session is taken as live: a
        // sign-out here forgets it at once, a password reset from the command line within
        // `SESSION_RECHECK_MS`.
        let generation = match self
            .0
            .sessions
            .get(&hash, |(_, checked)| now - *checked < SESSION_RECHECK_MS)
        {
            Ok((signed_in, _)) => return Ok(Some(signed_in)),
            Err(generation) => generation,
        };
        let lifetime = self.lifetime_ms();
        let found = self
            .0
            .db
            .call(move |conn| {
                let Some((admin_id, last_seen)) = access_repo::live_session(conn, &hash, now)?
                else {
                    return Ok(None);
                };
                if now - last_seen > TOUCH_EVERY_MS {
                    access_repo::touch_session(conn, &hash, now, now + lifetime)?;
                }
                Ok(Some(SignedIn { admin_id }))
            })
            .await?;
        if let Some(signed_in) = found {
            self.0.sessions.keep(hash, generation, (signed_in, now));
        }
        Ok(found)
    }

    pub async fn logout(&self, token: &str) -> Result<(), AppError> {
        let hash = digest(token);
        let deleted = self
            .0
            .db
            .call(move |conn| Ok(access_repo::delete_session(conn, &hash)?))
            .await;
        // After the delete: a read racing it began under the old generation and is not kept.
        self.0.sessions.forget();
        deleted
    }

    /// Ends every session of the admin, this one included.
    pub async fn logout_everywhere(&self, admin_id: i64) -> Result<usize, AppError> {
        let deleted = self
            .0
            .db
            .call(move |conn| Ok(access_repo::delete_sessions_of(conn, admin_id)?))
            .await;
        self.0.sessions.forget();
        deleted
    }

    /// Makes a key: `models` are names (or aliases) of registered models, `expires_at` Unix
    /// milliseconds. The key is in the answer this once; only its hash is kept.
    pub async fn create_key(
        &self,
        registry: &Registry,
        name: String,
        scopes: Vec<Scope>,
        models: Option<Vec<String>>,
        expires_at: Option<i64>,
    ) -> Result<CreatedKey, AppError> {
        let length = name.chars().count();
        if !(1..=80).contains(&length) || name.chars().any(char::is_control) {
            return Err(AppError::invalid(
                "name",
                Rule::MaxLength,
                "must be 1 to 80 characters, without control characters",
            ));
        }
        let mut scopes = scopes;
        scopes.sort();
        scopes.dedup();
        if scopes.is_empty() {
            return Err(AppError::invalid(
                "scopes",
                Rule::Required,
                format!("name at least one of {}", Scope::NAMES.join(", ")),
            ));
        }
        if expires_at.is_some_and(|at| at <= now_ms()) {
            return Err(AppError::invalid(
                "expires",
                Rule::Range,
                "must be in the future (Unix milliseconds)",
            ));
        }
        let model_ids = match models {
            None => None,
            Some(names) => {
                let mut ids = Vec::with_capacity(names.len());
                for (i, name) in names.into_iter().enumerate() {
                    let served = registry.resolve(name.clone()).await?.ok_or_else(|| {
                        AppError::invalid(
                            format!("models[{i}]"),
                            Rule::OneOf,
                            format!("no model is called '{name}'"),
                        )
                    })?;
                    ids.push(served.id);
                }
                Some(ids)
            }
        };
        let secret = format!("{KEY_PREFIX}{}", new_token()?);
        let hash = digest(&secret);
        let prefix: String = secret.chars().take(SHOWN).collect();
        let listed = self
            .0
            .db
            .call(move |conn| {
                Ok(access_repo::insert_key(
                    conn,
                    &name,
                    &prefix,
                    &hash,
                    &scopes,
                    model_ids.as_deref(),
                    now_ms(),
                    expires_at,
                )?)
            })
            .await?;
        self.0.keys.forget();
        tracing::info!(key = %listed.prefix, name = %listed.name, "an API key was made");
        Ok(CreatedKey {
            key: secret,
            listed,
        })
    }

    pub async fn list_keys(&self) -> Result<Vec<ApiKey>, AppError> {
        self.0
            .db
            .call(|conn| Ok(access_repo::list_keys(conn)?))
            .await
    }

    /// Revokes a key at once: the next request carrying it gets 401.
    pub async fn revoke_key(&self, id: i64) -> Result<(), AppError> {
        let revoked = self
            .0
            .db
            .call(move |conn| Ok(access_repo::revoke_key(conn, id, now_ms())?))
            .await;
        self.0.keys.forget();
        if revoked? {
            Ok(())
        } else {
            Err(AppError::not_found("live API key", id.to_string()))
        }
    }

    /// The key `secret` names, if it is live (not revoked, not expired).
    pub async fn key(&self, secret: &str) -> Result<Option<Arc<ApiKey>>, AppError> {
        let hash = digest(secret);
        let now = now_ms();
        let mut write_use = false;
        let kept = self.0.keys.get(&hash, |(key, written)| {
            if key.expires_at.is_some_and(|at| at <= now) {
                return false;
            }
            write_use = now - *written >= LAST_USED_EVERY_MS;
            if write_use {
                *written = now;
            }
            true
        });
        let generation = match kept {
            Ok((key, _)) => {
                if write_use {
                    let id = key.id;
                    // Last use is a convenience: a failed write is logged, not fatal.
                    if let Err(error) = self
                        .0
                        .db
                        .call(move |conn| Ok(access_repo::key_used(conn, id, now)?))
                        .await
                    {
                        tracing::warn!(%error, "could not record a key's last use");
                    }
                }
                return Ok(Some(key));
            }
            Err(generation) => generation,
        };
        let found = self
            .0
            .db
            .call(move |conn| {
                let key = access_repo::live_key(conn, &hash, now)?;
                if let Some(key) = &key {
                    access_repo::key_used(conn, key.id, now)?;
                }
                Ok(key.map(Arc::new))
            })
            .await?;
        if let Some(key) = &found {
            self.0.keys.keep(hash, generation, (key.clone(), now));
        }
        Ok(found)
    }

    /// The `Set-Cookie` value that carries `token` (or, with `None`, removes the cookie).
    pub fn cookie(&self, token: Option<&str>) -> String {
        let name = &self.0.cookie_name;
        let secure = if self.0.settings.secure_cookies {
            "; Secure"
        } else {
            ""
        };
        match token {
            Some(token) => format!(
                "{name}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
                self.lifetime_ms() / 1000
            ),
            None => format!("{name}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
        }
    }

    /// The session token the request's cookie carries, if any.
    pub fn session_token<'h>(&self, headers: &'h axum::http::HeaderMap) -> Option<&'h str> {
        guard::cookie_value(headers, &self.0.cookie_name)
    }
}

/// `corral admin reset-password`: a new password for `username`, offline on the database file;
/// every session of that admin ends.
pub async fn reset_password(db: &Db, username: String, password: String) -> Result<(), AppError> {
    password::check_new(&password)?;
    let hash = password::hash(password).await?;
    let name = username.clone();
    let changed = db
        .call(move |conn| Ok(access_repo::set_password(conn, &name, &hash, now_ms())?))
        .await?;
    if changed {
        Ok(())
    } else {
        Err(AppError::not_found("admin", &username))
    }
}

fn check_username(username: &str) -> Result<(), AppError> {
    let length = username.chars().count();
    if !(1..=64).contains(&length) {
        return Err(AppError::invalid(
            "username",
            Rule::MaxLength,
            "must be 1 to 64 characters",
        ));
    }
    if username.chars().any(char::is_control) || username.trim() != username {
        return Err(AppError::invalid(
            "username",
            Rule::NoControlChars,
            "may not hold control characters or surrounding spaces",
        ));
    }
    Ok(())
}
