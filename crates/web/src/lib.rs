//! The self-service web page of tresor: a user logs in with mail address and password, sees
//! whether their mail is encrypted and with which keys, changes the password, makes a recovery
//! code, and resets a forgotten password with one. Server-rendered HTML that works without
//! JavaScript, plus the same operations as JSON under `/api/`.
//!
//! This crate holds the HTTP side only: sessions, CSRF tokens, rate limits, headers and pages.
//! It never touches keys, mail files or the userdb itself: every operation goes through the
//! [`Backend`] trait (the `tresor` binary implements it over the `lifecycle` crate, the same
//! operations as `tresor user passwd`, `tresor key recovery` and `tresor user reset`), and it
//! calls the backend on tokio's blocking pool.
//!
//! What it guarantees, request by request:
//!
//! - every form carries a CSRF token bound to the server-side session, compared in constant
//!   time; the session cookie is `HttpOnly`, `SameSite=Strict` and (configurably) `Secure`;
//! - sessions live in memory only and end after [`Options::session_idle`] without a request;
//!   logging in replaces the session id (no fixation), and a password change or reset ends
//!   the user's other sessions;
//! - failed password and recovery-code checks count per mail address and per client address;
//!   each failure is answered after a growing delay, and past [`Options::max_failures`] the
//!   address is refused for [`Options::failure_window`] without a check;
//! - every response carries a strict Content-Security-Policy, `X-Content-Type-Options`,
//!   `Referrer-Policy: no-referrer` and `Cache-Control: no-store`; every value in a page is
//!   HTML-escaped; secrets never appear in URLs or logs, and form bodies are zeroized after
//!   parsing (best effort: the HTTP stack's own buffers are outside our reach).

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]
#![allow(
    clippy::result_large_err,
    reason = "handlers return a ready axum Response as their early-exit error; it is built once per request"
)]

mod account;
mod api;
mod client;
mod form;
mod handlers;
mod html;
mod limit;
mod session;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use zeroize::Zeroizing;

/// What the page does to a user's account. Every method blocks (userdb, key files, crypto);
/// the page calls them on tokio's blocking pool.
pub trait Backend: Send + Sync + 'static {
    /// Checks `password` against the userdb and that it unlocks the user's mail keys; returns
    /// the address as the userdb spells it.
    fn log_in(&self, address: &str, password: &[u8]) -> Result<String, BackendError>;
    /// What the status page shows about `address`.
    fn status(&self, address: &str) -> Result<Status, BackendError>;
    /// Changes the login password and the key wraps from `old` to `new` together.
    fn change_password(&self, address: &str, old: &[u8], new: &[u8]) -> Result<(), BackendError>;
    /// Makes a new recovery code (the login password proves it is the user); the code is
    /// returned once and stored nowhere.
    fn create_recovery_code(
        &self,
        address: &str,
        password: &[u8],
    ) -> Result<Zeroizing<String>, BackendError>;
    /// Sets the password `new` with a recovery code, which is used up.
    fn reset_password(&self, address: &str, code: &[u8], new: &[u8]) -> Result<(), BackendError>;
}

/// What the status page shows.
#[derive(Clone, Debug, Default, serde::Serialize)]
#[non_exhaustive]
pub struct Status {
    /// The user's address.
    pub address: String,
    /// Whether new mail is stored encrypted (crypt=2).
    pub encrypted: bool,
    /// The user's key pairs.
    pub keys: Vec<KeyInfo>,
    /// How many unused recovery codes exist.
    pub recovery_codes: usize,
}

impl Status {
    /// A status with the given fields.
    pub fn new(
        address: String,
        encrypted: bool,
        keys: Vec<KeyInfo>,
        recovery_codes: usize,
    ) -> Self {
        Self {
            address,
            encrypted,
            keys,
            recovery_codes,
        }
    }
}

/// One of the user's key pairs.
#[derive(Clone, Debug, serde::Serialize)]
#[non_exhaustive]
pub struct KeyInfo {
    /// The key id: Dovecot's SHA-256 fingerprint of the public key, in hex.
    pub id: String,
    /// The curve (`secp521r1`, …).
    pub curve: String,
    /// Whether new mail is sealed to it.
    pub active: bool,
}

impl KeyInfo {
    /// A key with the given fields.
    pub fn new(id: String, curve: String, active: bool) -> Self {
        Self { id, curve, active }
    }
}

/// Why a backend operation failed. The page maps each to one message for the user; details
/// for the admin go to the log, from the backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// Unknown address or wrong password (never told apart). Counts as a failed attempt.
    #[error("wrong address or password")]
    WrongPassword,
    /// Unknown address, wrong or used recovery code (never told apart). Counts as a failed
    /// attempt.
    #[error("wrong address or recovery code")]
    WrongRecoveryCode,
    /// The new password is empty.
    #[error("empty new password")]
    EmptyPassword,
    /// The user's mail is not encrypted, so there are no keys to recover.
    #[error("mail not encrypted")]
    NotEncrypted,
    /// The password is right but does not unlock the user's mail keys; the admin must re-wrap
    /// them (`tresor key password`).
    #[error("login password does not unlock the mail keys")]
    KeysOutOfSync,
    /// Another key operation runs for this user; try again shortly.
    #[error("another key operation is running")]
    Busy,
    /// Something the user cannot fix failed (database down, damaged files); the backend logged
    /// the cause.
    #[error("temporarily unavailable")]
    Unavailable,
}

/// How the page behaves; start from [`Options::default`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Options {
    /// Mark the session cookie `Secure` (and name it `__Host-tresor`). Without it the cookie
    /// also goes over plain HTTP; a request that a trusted proxy reports as HTTPS
    /// (`X-Forwarded-Proto: https`) gets a `Secure` cookie either way. Default true.
    pub cookie_secure: bool,
    /// A session ends after this long without a request. Default 15 minutes.
    pub session_idle: Duration,
    /// At most this many sessions (logged in or not) are kept; the least recently used goes
    /// first. Default 10,000.
    pub max_sessions: usize,
    /// Peers whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed (the reverse
    /// proxy). Default none: the client address is the TCP peer.
    pub trusted_proxies: Vec<IpAddr>,
    /// Failed attempts per mail address and per client address before they are refused
    /// outright for [`Options::failure_window`]. Default 5.
    pub max_failures: u32,
    /// How long failures are remembered (from the last one). Default 15 minutes.
    pub failure_window: Duration,
    /// The delay before answering the first failure; it doubles with each further one, up to
    /// [`Options::max_failure_delay`]. Default 1 second.
    pub failure_delay: Duration,
    /// The longest delay before answering a failure. Default 16 seconds.
    pub max_failure_delay: Duration,
    /// Shortest new password accepted, in characters. Default 8.
    pub min_password_length: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            cookie_secure: true,
            session_idle: Duration::from_secs(15 * 60),
            max_sessions: 10_000,
            trusted_proxies: Vec::new(),
            max_failures: 5,
            failure_window: Duration::from_secs(15 * 60),
            failure_delay: Duration::from_secs(1),
            max_failure_delay: Duration::from_secs(16),
            min_password_length: 8,
        }
    }
}

/// The page as an axum router (with connect info expected as [`SocketAddr`]).
pub fn router(backend: Arc<dyn Backend>, options: Options) -> Router {
    handlers::router(handlers::App::new(backend, options))
}

/// Serves the page on every listener until `stop` turns true; requests in flight finish.
pub async fn serve(
    listeners: Vec<TcpListener>,
    backend: Arc<dyn Backend>,
    options: Options,
    stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let app = router(backend, options);
    let mut tasks = Vec::new();
    for listener in listeners {
        let service = app
            .clone()
            .into_make_service_with_connect_info::<SocketAddr>();
        let mut stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            axum::serve(listener, service)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await
        }));
    }
    for task in tasks {
        task.await.map_err(std::io::Error::other)??;
    }
    Ok(())
}
