//! `tresor serve`'s IMAP part: `[imap]` into listener options, and the login path — the
//! userdb checks the password hash, then the same password unlocks the user's mail-crypt keys.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use imap::account::StoreMail;
use imap::listen::{Bound, ListenOptions};
use imap::{LoginError, Mail, SpecialUse};
use keys::KeysError;
use tokio::sync::watch;
use tracing::{info, warn};
use userdb::UserDb;

use crate::config::Config;

/// Binds the `[imap]` sockets (while still privileged).
pub(crate) async fn bind(config: &Config) -> anyhow::Result<Bound> {
    let plain = addrs(&config.imap.listen, "listen")?;
    let tls = addrs(&config.imap.imaps_listen, "imaps_listen")?;
    if !tls.is_empty() && (config.imap.tls_cert.is_none() || config.imap.tls_key.is_none()) {
        anyhow::bail!("[imap] imaps_listen needs tls_cert and tls_key");
    }
    imap::listen::bind(&plain, &tls)
        .await
        .with_context(|| format!("[imap] cannot listen on {plain:?} / {tls:?}"))
}

/// The listener options from `[imap]` (the TLS files are read here, before privileges drop).
pub(crate) fn options(config: &Config) -> anyhow::Result<ListenOptions> {
    let c = &config.imap;
    let tls = match (&c.tls_cert, &c.tls_key) {
        (Some(cert), Some(key)) => Some(imap::listen::tls_config(cert, key).context("[imap] TLS")?),
        (None, None) => None,
        _ => anyhow::bail!("[imap] tls_cert and tls_key go together"),
    };
    let mut session = imap::Options::default();
    session.allow_plaintext_auth = c.allow_plaintext_auth;
    session.max_literal_size = c.max_literal_size;
    session.idle_poll = Duration::from_secs(c.idle_poll.max(1));
    session.autocreate = c
        .autocreate
        .iter()
        .map(|(name, use_)| {
            SpecialUse::parse(use_)
                .map(|u| (name.clone(), u))
                .with_context(|| format!("[imap] autocreate {name} = {use_:?}: not a SPECIAL-USE attribute (\\Drafts, \\Sent, \\Trash, \\Junk, \\Archive)"))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(ListenOptions::new(session, tls))
}

/// Serves the bound sockets until `stop`.
pub(crate) fn spawn(
    bound: Bound,
    options: ListenOptions,
    db: Arc<UserDb>,
    config: Arc<Config>,
    stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<std::io::Result<()>> {
    let auth = Arc::new(Login {
        db,
        config,
        runtime: tokio::runtime::Handle::current(),
    });
    tokio::spawn(bound.serve(options, auth, stop))
}

fn addrs(list: &[String], key: &str) -> anyhow::Result<Vec<SocketAddr>> {
    list.iter()
        .map(|a| {
            a.parse()
                .with_context(|| format!("[imap] {key}: {a:?} is not ip:port"))
        })
        .collect()
}

/// IMAP login against the userdb and the user's keys.
struct Login {
    db: Arc<UserDb>,
    config: Arc<Config>,
    runtime: tokio::runtime::Handle,
}

impl imap::Authenticator for Login {
    fn login(&self, username: &str, password: &[u8]) -> Result<Box<dyn Mail>, LoginError> {
        // Called on the blocking pool: waiting for the async userdb here is fine.
        let user = match self
            .runtime
            .block_on(self.db.authenticate(username, password))
        {
            Ok(a) => a.into_user(),
            Err(userdb::AuthError::Failed(reason)) => {
                info!(user = %username.escape_debug(), reason = %reason, "IMAP login failed");
                return Err(LoginError::Rejected);
            }
            Err(e) => {
                warn!(error = %e, "userdb unavailable for IMAP login");
                return Err(LoginError::TemporaryFailure("userdb".into()));
            }
        };
        let account = self.config.account_of(&user).map_err(|e| {
            warn!(user = %user.email, error = %e, "IMAP login: no home for user");
            LoginError::TemporaryFailure("home".into())
        })?;
        if !account.encrypted {
            info!(user = %user.email, "IMAP login");
            return Ok(Box::new(StoreMail::new(account, None)));
        }
        let email = user.email.clone();
        let unlocked = account
            .keystore()
            .map_err(|e| e.to_string())
            .and_then(|ks| ks.load().map_err(|e| e.to_string()))
            .map_err(|e| {
                warn!(user = %email, error = %e, "IMAP login: cannot read the user's keys");
                LoginError::TemporaryFailure("keys".into())
            })?
            .unlock_user(Some(password));
        match unlocked {
            Ok(keys) => {
                settle_password_change(&account, &email, password);
                info!(user = %email, "IMAP login (keys unlocked)");
                Ok(Box::new(StoreMail::new(account, Some(keys))))
            }
            Err(KeysError::WrongPassword) => {
                warn!(
                    user = %email,
                    "IMAP login refused: the login password is correct but does not unlock the user's mail-crypt key (key password out of sync); re-wrap the key with `printf '%s\\n%s\\n' OLD NEW | tresor key password {email}`"
                );
                Err(LoginError::Unavailable("key password out of sync".into()))
            }
            Err(KeysError::NoUserKey) => {
                warn!(
                    user = %email,
                    "IMAP login refused: encrypted user (crypt=2) has no key pair; run `tresor key generate {email} --password-stdin` with the user's password"
                );
                Err(LoginError::Unavailable("no key pair".into()))
            }
            Err(e) => {
                warn!(user = %email, error = %e, "IMAP login refused: the user's key cannot be unlocked");
                Err(LoginError::Unavailable("key unavailable".into()))
            }
        }
    }
}

/// After a login with `password` (hash checked, keys unlocked): a password change that was
/// interrupted after the login hash switched is finished here, so Dovecot unlocks with the
/// new password too without an admin rerunning `tresor user passwd` (see
/// `lifecycle::passwd::settle`). Does nothing in every other state; never fails the login.
pub(crate) fn settle_password_change(
    account: &store::account::Account,
    email: &str,
    password: &[u8],
) {
    let Ok(ks) = account.keystore() else {
        return;
    };
    match lifecycle::passwd::settle(&ks, password) {
        Ok(true) => info!(user = %email, "finished an interrupted password change at login"),
        Ok(false) => {}
        Err(e) => {
            warn!(user = %email, error = %e, "cannot finish an interrupted password change at login")
        }
    }
}
