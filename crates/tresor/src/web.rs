//! `tresor serve`'s self-service page: `[web]` into listener options, and the page's backend
//! over the userdb and the `lifecycle` crate — the same operations as `tresor user passwd`,
//! `tresor key recovery` and `tresor user reset`, run on tokio's blocking pool.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use keys::{KeysError, Owner};
use lifecycle::{LifecycleError, Login, LoginError};
use store::account::Account;
use tokio::net::TcpListener;
use tokio::runtime::Handle;
use tokio::sync::watch;
use tracing::{info, warn};
use userdb::{AuthError, Scheme, User, UserDb};
use web::{BackendError, KeyInfo, Status};
use zeroize::Zeroizing;

use crate::config::Config;

/// Where the page listens when `[web] listen` is not set.
const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Binds the `[web]` sockets (while still privileged). The unset default is skipped with a
/// warning when its port is taken; addresses the admin set must bind.
pub(crate) async fn bind(config: &Config) -> anyhow::Result<Vec<TcpListener>> {
    let (list, explicit) = match &config.web.listen {
        Some(list) => (list.clone(), true),
        None => (vec![DEFAULT_LISTEN.to_string()], false),
    };
    let mut out = Vec::new();
    for text in &list {
        let addr: SocketAddr = text
            .parse()
            .with_context(|| format!("[web] listen: {text:?} is not ip:port"))?;
        match TcpListener::bind(addr).await {
            Ok(l) => out.push(l),
            Err(e) if !explicit => {
                warn!(listen = %addr, error = %e, "web page not served: the default address is taken; set [web] listen");
            }
            Err(e) => {
                return Err(e).with_context(|| format!("[web] listen: cannot listen on {addr}"));
            }
        }
    }
    Ok(out)
}

/// The page's options from `[web]`; `listeners` decide the `cookie_secure` default.
pub(crate) fn options(config: &Config, listeners: &[TcpListener]) -> anyhow::Result<web::Options> {
    let c = &config.web;
    let all_loopback = listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .all(|a| a.ip().is_loopback());
    let mut o = web::Options::default();
    o.cookie_secure = c.cookie_secure.unwrap_or(!all_loopback);
    o.session_idle = Duration::from_secs(c.session_idle.max(1));
    o.trusted_proxies = c
        .trusted_proxies
        .iter()
        .map(|p| {
            p.parse::<IpAddr>()
                .with_context(|| format!("[web] trusted_proxies: {p:?} is not an IP address"))
        })
        .collect::<anyhow::Result<_>>()?;
    o.max_failures = c.max_failures.max(1);
    o.failure_window = Duration::from_secs(c.failure_window);
    o.failure_delay = Duration::from_millis(c.failure_delay_ms);
    o.max_failure_delay = Duration::from_millis(c.max_failure_delay_ms);
    o.min_password_length = c.min_password_length;
    Ok(o)
}

/// Serves the page on `listeners` until `stop`.
pub(crate) fn spawn(
    listeners: Vec<TcpListener>,
    options: web::Options,
    db: Arc<UserDb>,
    config: Arc<Config>,
    stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<std::io::Result<()>> {
    let backend = Arc::new(SelfService {
        db,
        config,
        runtime: Handle::current(),
    });
    tokio::spawn(web::serve(listeners, backend, options, stop))
}

/// The page's backend: the userdb plus each user's key store.
struct SelfService {
    db: Arc<UserDb>,
    config: Arc<Config>,
    runtime: Handle,
}

impl SelfService {
    /// The user and their account; `None` for an unknown or invalid address.
    fn account(&self, address: &str) -> Result<Option<(User, Account)>, BackendError> {
        if userdb::Address::parse(address).is_err() {
            return Ok(None);
        }
        let user = match self.runtime.block_on(self.db.lookup(address)) {
            Ok(Some(u)) => u,
            Ok(None) => return Ok(None),
            Err(e) => {
                warn!(error = %e, "web: userdb lookup failed");
                return Err(BackendError::Unavailable);
            }
        };
        let account = self.config.account_of(&user).map_err(|e| {
            warn!(user = %user.email, error = %e, "web: no home for user");
            BackendError::Unavailable
        })?;
        Ok(Some((user, account)))
    }

    fn login<'a>(&'a self, email: &str) -> DbLogin<'a> {
        DbLogin {
            db: &self.db,
            runtime: &self.runtime,
            email: email.to_string(),
        }
    }
}

impl web::Backend for SelfService {
    fn log_in(&self, address: &str, password: &[u8]) -> Result<String, BackendError> {
        // Called on the blocking pool: waiting for the async userdb here is fine.
        let user = match self
            .runtime
            .block_on(self.db.authenticate(address, password))
        {
            Ok(a) => a.into_user(),
            Err(AuthError::Failed(reason)) => {
                info!(user = %address.escape_debug(), reason = %reason, "web login refused by the userdb");
                return Err(BackendError::WrongPassword);
            }
            Err(e) => {
                warn!(error = %e, "userdb unavailable for web login");
                return Err(BackendError::Unavailable);
            }
        };
        let account = self.config.account_of(&user).map_err(|e| {
            warn!(user = %user.email, error = %e, "web login: no home for user");
            BackendError::Unavailable
        })?;
        if !account.encrypted {
            return Ok(user.email);
        }
        let unlocked = account
            .keystore()
            .map_err(|e| e.to_string())
            .and_then(|ks| ks.load().map_err(|e| e.to_string()))
            .map_err(|e| {
                warn!(user = %user.email, error = %e, "web login: cannot read the user's keys");
                BackendError::Unavailable
            })?
            .unlock_user(Some(password));
        match unlocked {
            Ok(_) => {
                crate::imap::settle_password_change(&account, &user.email, password);
                Ok(user.email)
            }
            Err(KeysError::NoUserKey) => Ok(user.email),
            Err(KeysError::WrongPassword | KeysError::PasswordRequired) => {
                warn!(
                    user = %user.email,
                    "web login refused: the login password is correct but does not unlock the user's mail-crypt key; re-wrap it with `tresor key password`"
                );
                Err(BackendError::KeysOutOfSync)
            }
            Err(e) => {
                warn!(user = %user.email, error = %e, "web login: the user's key cannot be unlocked");
                Err(BackendError::Unavailable)
            }
        }
    }

    fn status(&self, address: &str) -> Result<Status, BackendError> {
        let (user, account) = self.account(address)?.ok_or(BackendError::Unavailable)?;
        let (mut keys, mut recovery) = (Vec::new(), 0);
        if let Ok(ks) = account.keystore() {
            let loaded = ks.load().map_err(|e| {
                warn!(user = %user.email, error = %e, "web: cannot read the user's keys");
                BackendError::Unavailable
            })?;
            keys = loaded
                .entries()
                .into_iter()
                .filter(|e| e.owner == Owner::User)
                .map(|e| KeyInfo::new(e.id.to_string(), e.curve.name().to_string(), e.active))
                .collect();
            recovery = loaded.recovery_slots().len();
        }
        Ok(Status::new(user.email, account.encrypted, keys, recovery))
    }

    fn change_password(&self, address: &str, old: &[u8], new: &[u8]) -> Result<(), BackendError> {
        let (user, account) = self.account(address)?.ok_or(BackendError::WrongPassword)?;
        let mut login = self.login(&user.email);
        let Ok(ks) = account.keystore() else {
            // No Maildir yet, so no keys: only the login hash changes.
            if !login
                .verify(old)
                .map_err(|e| unavailable(&user.email, &e))?
            {
                return Err(BackendError::WrongPassword);
            }
            return login
                .set_password(new)
                .map_err(|e| unavailable(&user.email, &e));
        };
        lifecycle::passwd::change(&ks, &mut login, old, new)
            .map(|_| ())
            .map_err(|e| lifecycle_error(&user.email, e))
    }

    fn create_recovery_code(
        &self,
        address: &str,
        password: &[u8],
    ) -> Result<Zeroizing<String>, BackendError> {
        let (user, account) = self.account(address)?.ok_or(BackendError::WrongPassword)?;
        if !account.encrypted {
            return Err(BackendError::NotEncrypted);
        }
        let ks = account.keystore().map_err(|_| BackendError::NotEncrypted)?;
        let mut login = self.login(&user.email);
        match lifecycle::recovery::create(&ks, &mut login, password) {
            Ok(code) => Ok(Zeroizing::new(code.expose().to_string())),
            Err(LifecycleError::Keys(KeysError::NoUserKey)) => Err(BackendError::NotEncrypted),
            Err(e) => Err(lifecycle_error(&user.email, e)),
        }
    }

    fn reset_password(&self, address: &str, code: &[u8], new: &[u8]) -> Result<(), BackendError> {
        let Some((user, account)) = self.account(address)? else {
            return Err(BackendError::WrongRecoveryCode);
        };
        let ks = account
            .keystore()
            .map_err(|_| BackendError::WrongRecoveryCode)?;
        let mut login = self.login(&user.email);
        lifecycle::recovery::reset(&ks, &mut login, code, new)
            .map(|_| ())
            .map_err(|e| lifecycle_error(&user.email, e))
    }
}

/// A lifecycle error as the page shows it; the details go to the log.
fn lifecycle_error(email: &str, e: LifecycleError) -> BackendError {
    match e {
        LifecycleError::WrongPassword => BackendError::WrongPassword,
        LifecycleError::WrongRecoveryCode => BackendError::WrongRecoveryCode,
        LifecycleError::EmptyPassword => BackendError::EmptyPassword,
        LifecycleError::NotEncrypted => BackendError::NotEncrypted,
        LifecycleError::Busy => BackendError::Busy,
        LifecycleError::KeysDoNotOpen { .. } => {
            warn!(user = %email, error = %e, "web: key lifecycle refused");
            BackendError::KeysOutOfSync
        }
        e => unavailable(email, &e),
    }
}

fn unavailable(email: &str, e: &dyn std::fmt::Display) -> BackendError {
    warn!(user = %email, error = %e, "web: key lifecycle operation failed");
    BackendError::Unavailable
}

/// The userdb row of one user, as `lifecycle` needs it (the async userdb, waited for on the
/// blocking pool).
struct DbLogin<'a> {
    db: &'a UserDb,
    runtime: &'a Handle,
    email: String,
}

impl Login for DbLogin<'_> {
    fn verify(&mut self, password: &[u8]) -> Result<bool, LoginError> {
        match self
            .runtime
            .block_on(self.db.authenticate(&self.email, password))
        {
            Ok(_) => Ok(true),
            Err(AuthError::Failed(_)) => Ok(false),
            Err(e) => Err(LoginError(Box::new(e))),
        }
    }

    fn set_password(&mut self, password: &[u8]) -> Result<(), LoginError> {
        let hash = userdb::scheme::hash(Scheme::BlfCrypt, password)
            .map_err(|e| LoginError(Box::new(e)))?;
        self.runtime
            .block_on(self.db.set_password(&self.email, &hash))
            .map_err(|e| LoginError(Box::new(e)))
    }

    fn set_crypt(&mut self, crypt: u8) -> Result<(), LoginError> {
        self.runtime
            .block_on(self.db.set_crypt(&self.email, crypt))
            .map_err(|e| LoginError(Box::new(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listeners(addrs: &[&str]) -> Vec<TcpListener> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        addrs
            .iter()
            .map(|a| rt.block_on(TcpListener::bind(*a)).unwrap())
            .collect()
    }

    #[test]
    fn the_cookie_is_secure_unless_every_listener_is_loopback_or_the_admin_says_so() {
        let mut config = Config::default();
        let loopback = listeners(&["127.0.0.1:0", "127.0.0.2:0"]);
        assert!(!options(&config, &loopback).unwrap().cookie_secure);
        let public = listeners(&["127.0.0.1:0", "0.0.0.0:0"]);
        assert!(options(&config, &public).unwrap().cookie_secure);
        config.web.cookie_secure = Some(false);
        assert!(!options(&config, &public).unwrap().cookie_secure);
        config.web.cookie_secure = Some(true);
        assert!(options(&config, &loopback).unwrap().cookie_secure);
        config.web.trusted_proxies = vec!["::1".into(), "10.0.0.1".into()];
        assert_eq!(
            options(&config, &loopback).unwrap().trusted_proxies.len(),
            2
        );
    }
}
