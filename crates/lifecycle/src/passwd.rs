//! `tresor user passwd`: the login hash and the key wraps change together, crash-safe.
//!
//! The steps, each durable before the next (fault points `passwd:1…3`):
//!
//! 1. every user private key is wrapped under the new password into *staged* records beside the
//!    active ones (`keys::wraps`); the old password still logs in and unlocks;
//! 2. the login hash is switched; the new password logs in and, through tresor's fallback on
//!    the staged wraps, unlocks;
//! 3. the staged wraps replace the active ones and are removed, in one atomic rewrite of
//!    `dovecot-attributes`; from here on Dovecot unlocks with the new password too.
//!
//! A crash after 1 leaves the old password working (the staged records are overwritten by the
//! next change); after 2 the new one. Running the same change again finishes it: with the old
//! password still valid it starts over, with the new one already valid it commits the staged
//! wraps. Only between 2 and 3 does Dovecot (which knows no staged wraps) not unlock; that
//! window is one file rename wide, and the rerun closes it.

use keys::{KeyStore, KeysError};
use mailcrypt::PrivateKey;

use crate::error::LifecycleError;
use crate::fault;
use crate::login::Login;

/// What a password change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Changed {
    /// The password was changed; this many user keys were re-wrapped.
    Changed(usize),
    /// An interrupted change to this password was finished; this many keys were switched.
    Resumed(usize),
    /// The new password was already in place; nothing to do.
    AlreadyDone,
}

/// Changes the login password and the user key wraps from `old` to `new` (see the module doc).
/// A wrong `old` changes nothing.
pub fn change(
    ks: &KeyStore,
    login: &mut dyn Login,
    old: &[u8],
    new: &[u8],
) -> Result<Changed, LifecycleError> {
    if new.is_empty() {
        return Err(LifecycleError::EmptyPassword);
    }
    let _guard = lock(ks)?;
    if login.verify(old)? {
        let keys = all_user_keys(ks, old)?;
        let n = switch(ks, login, &keys, new, None, "passwd")?;
        return Ok(Changed::Changed(n));
    }
    if login.verify(new)? {
        return finish_interrupted(ks, new);
    }
    Err(LifecycleError::WrongPassword)
}

/// Closes the one window of a password change that Dovecot notices: called after a login
/// with `password` succeeded (the caller checked the login hash), it commits staged wraps
/// that `password` opens — the state a change interrupted between steps 2 and 3 leaves — so
/// Dovecot unlocks with it too, without an admin rerunning the change. Returns true when it
/// committed. Does nothing (false) in every other state (staged wraps under another password
/// are those of a change that never switched the hash), or when another lifecycle command holds
/// the lock. For the login paths of `tresor serve` (IMAP, web page).
pub fn settle(ks: &KeyStore, password: &[u8]) -> Result<bool, LifecycleError> {
    let keys = ks.load()?;
    if !keys.has_staged() {
        return Ok(false);
    }
    let _guard = match lock(ks) {
        Ok(g) => g,
        Err(LifecycleError::Busy) => return Ok(false),
        Err(e) => return Err(e),
    };
    // Staged wraps under the login password are what step 3 would activate (were they stale
    // duplicates under the same password as the active ones, activating them changes nothing).
    if ks.load()?.unlock_staged(password).is_empty() {
        return Ok(false);
    }
    ks.commit_staged(password, None)?;
    Ok(true)
}

/// Steps 1–3 of the module doc for `keys` (already unlocked), with fault points under `op`;
/// `used_slot` is a recovery slot to remove in the same rewrite as step 3.
pub(crate) fn switch(
    ks: &KeyStore,
    login: &mut dyn Login,
    keys: &[PrivateKey],
    new: &[u8],
    used_slot: Option<&str>,
    op: &str,
) -> Result<usize, LifecycleError> {
    fault::point(op);
    ks.stage_wraps(keys, new)?;
    fault::point(op);
    login.set_password(new)?;
    fault::point(op);
    let n = ks.commit_staged(new, used_slot)?;
    fault::point(op);
    Ok(n)
}

/// The login hash is already `new`: commit staged wraps left by an interrupted change, or
/// report that there is nothing to do.
fn finish_interrupted(ks: &KeyStore, new: &[u8]) -> Result<Changed, LifecycleError> {
    let keys = ks.load()?;
    if keys.has_staged() && !keys.unlock_staged(new).is_empty() {
        let n = ks.commit_staged(new, None)?;
        return Ok(Changed::Resumed(n));
    }
    match keys.unlock_user(Some(new)) {
        Ok(_) => Ok(Changed::AlreadyDone),
        Err(KeysError::NoUserKey) => Ok(Changed::AlreadyDone),
        Err(_) => Err(LifecycleError::WrongPassword),
    }
}

/// Every user private key, unlocked with `password`; an error names the keys that do not open.
pub(crate) fn all_user_keys(
    ks: &KeyStore,
    password: &[u8],
) -> Result<Vec<PrivateKey>, LifecycleError> {
    let keys = ks.load()?;
    let user = match keys.unlock_user(Some(password)) {
        Ok(u) => u,
        Err(KeysError::NoUserKey) => return Ok(Vec::new()),
        Err(KeysError::WrongPassword | KeysError::PasswordRequired) => {
            return Err(LifecycleError::WrongPassword);
        }
        Err(e) => return Err(e.into()),
    };
    let missing: Vec<String> = keys
        .entries()
        .into_iter()
        .filter(|e| e.owner == keys::Owner::User && user.key(&e.id).is_none())
        .map(|e| e.id.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(LifecycleError::KeysDoNotOpen { ids: missing });
    }
    user.keys().iter().map(clone_key).collect()
}

/// The lifecycle lock of the user whose keys `ks` holds.
pub(crate) fn lock(ks: &KeyStore) -> Result<crate::guard::Guard, LifecycleError> {
    let path = ks.path();
    let maildir = path.parent().unwrap_or(std::path::Path::new("."));
    let owner = std::fs::metadata(maildir).ok().map(|m| {
        use std::os::unix::fs::MetadataExt as _;
        (m.uid(), m.gid())
    });
    crate::guard::exclusive(maildir, owner)
}

/// A copy of a private key (through its scalar, which is zeroized after).
pub(crate) fn clone_key(key: &PrivateKey) -> Result<PrivateKey, LifecycleError> {
    Ok(PrivateKey::from_scalar(key.curve(), &key.scalar())?)
}
