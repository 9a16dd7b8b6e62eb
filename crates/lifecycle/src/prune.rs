//! `tresor key prune`: removes keys nothing needs any more.
//!
//! A folder key is needed while it is its folder's active key or some message is sealed to it
//! (a message in any folder, with or without a readable uidlist: a folder whose uidlist was
//! lost and remade has a new GUID, and its old mail still names the old keys); a user key while
//! it is the active user key or a needed folder key is encrypted to it. A sealed file whose
//! header does not parse could name any key, so then no folder key goes. Everything else goes, in one atomic rewrite of `dovecot-attributes` (with a
//! user key go its staged and recovery wraps). Asked for particular keys, prune refuses — and
//! removes nothing — if any of them is needed.

use std::collections::HashSet;

use mailcrypt::{KeyId, SealedFile};
use store::account::Account;

use crate::error::LifecycleError;
use crate::messages::{self, read};

/// A key that prune removed (or would remove).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pruned {
    /// The folder GUID for a folder key, `None` for a user key.
    pub folder: Option<String>,
    /// The key id.
    pub id: KeyId,
}

/// Removes every unneeded key, or with `only` non-empty exactly those keys (refusing if one is
/// needed or unknown). Returns what was removed.
pub fn prune(account: &Account, only: &[KeyId]) -> Result<Vec<Pruned>, LifecycleError> {
    let _guard = crate::guard::exclusive(&account.maildir, account.owner)?;
    prune_locked(account, only)
}

/// [`prune`] for a caller that holds the lifecycle lock.
pub(crate) fn prune_locked(
    account: &Account,
    only: &[KeyId],
) -> Result<Vec<Pruned>, LifecycleError> {
    let ks = account.keystore()?;
    let refs = references(account)?;
    let keys = ks.load()?;
    let active_user = keys.active_user_key_id();
    let folder_keys = keys.folder_keys();
    // Folder keys needed: active, or named by some message (in any folder: a folder whose
    // uidlist was lost and remade has a new GUID, its old mail still names the old keys).
    let mut needed_folder: HashSet<(String, KeyId)> = HashSet::new();
    for (guid, id, _) in &folder_keys {
        if keys.active_folder_key_id(guid) == Some(*id) || refs.ids.contains(id) || refs.damaged {
            needed_folder.insert((guid.clone(), *id));
        }
    }
    let needed_user: HashSet<KeyId> = folder_keys
        .iter()
        .filter(|(g, id, _)| needed_folder.contains(&(g.clone(), *id)))
        .filter_map(|(_, _, by)| *by)
        .chain(active_user)
        .collect();
    let mut candidates = Vec::new();
    for e in keys.entries() {
        match &e.owner {
            keys::Owner::User => candidates.push((None, e.id, needed_user.contains(&e.id))),
            keys::Owner::Folder(g) => candidates.push((
                Some(g.clone()),
                e.id,
                needed_folder.contains(&(g.clone(), e.id)),
            )),
        }
    }
    let chosen: Vec<(Option<String>, KeyId)> = if only.is_empty() {
        candidates
            .into_iter()
            .filter(|(_, _, needed)| !needed)
            .map(|(g, id, _)| (g, id))
            .collect()
    } else {
        let mut chosen = Vec::new();
        for id in only {
            let matching: Vec<_> = candidates.iter().filter(|(_, c, _)| c == id).collect();
            if matching.is_empty() {
                return Err(LifecycleError::UnknownKey(*id));
            }
            for (g, id, needed) in matching {
                if *needed {
                    let by = match g {
                        Some(g) if keys.active_folder_key_id(g) == Some(*id) => {
                            format!("folder {g} (its active key)")
                        }
                        Some(g) => format!("messages in folder {g}"),
                        None if active_user == Some(*id) => "the user (the active key)".into(),
                        None => "a folder key still in use".into(),
                    };
                    return Err(LifecycleError::KeyReferenced { id: *id, by });
                }
                chosen.push((g.clone(), *id));
            }
        }
        chosen
    };
    if !chosen.is_empty() {
        ks.remove_keys(&chosen)?;
    }
    Ok(chosen
        .into_iter()
        .map(|(folder, id)| Pruned { folder, id })
        .collect())
}

pub(crate) struct References {
    /// Every key id some message header names, in any folder (with or without a uidlist).
    ids: HashSet<KeyId>,
    /// Some sealed file's header does not parse: it may name any key, so every folder key is
    /// kept (the file may still be repaired).
    damaged: bool,
}

/// The keys the messages of every folder are sealed to.
pub(crate) fn references(account: &Account) -> Result<References, LifecycleError> {
    let mut refs = References {
        ids: HashSet::new(),
        damaged: false,
    };
    for f in messages::scan(account)? {
        for m in &f.messages {
            let data = read(&m.path)?;
            if !mailcrypt::is_sealed(&data) {
                continue;
            }
            match SealedFile::parse(&data) {
                Ok(sealed) => refs.ids.extend(sealed.recipients().iter().map(|r| r.id)),
                Err(_) => refs.damaged = true,
            }
        }
    }
    Ok(refs)
}
