//! tresor's own key records beside Dovecot's: staged wraps (a password change in flight),
//! recovery-code wraps, and the removal of retired keys.
//!
//! They are server attributes of INBOX under [`TRESOR_PREFIX`], inside Dovecot's internal
//! `vendor/vendor.dovecot/pvt/` namespace, so IMAP METADATA never exposes them and Dovecot,
//! which only looks up its own names, ignores them. Every value is an ordinary Dovecot v2 key
//! string, so the same parsers and wraps serve both.
//!
//! * Staged wraps, `priv/<inbox>/<T>staged/<id>`: each user private key wrapped under the *new*
//!   password while a password change is in flight. [`Keys::unlock_user`] falls back on them when
//!   the active wraps do not open, which is exactly the state after the login hash switched and
//!   before [`KeyStore::commit_staged`] ran.
//! * Recovery slots, `<T>recovery/<slot>/…`: a recovery key pair whose private key is wrapped
//!   under the recovery code (`priv/…/key`, public key in `shared/…/pubkey`), and each user
//!   private key encrypted to that recovery key (`priv/…/privkeys/<id>`). Because the user keys
//!   are encrypted to a *public* key, a later rotation can add the new user key to every slot
//!   without knowing the code.

use std::collections::BTreeSet;

use mailcrypt::{KeyError, KeyId, PrivateKey, PrivateKeyString, PublicKey, Wrap, WrapWith};

use crate::attributes::AttributeMap;
use crate::keystore::{KeyStore, Keys, KeysError, folder_prefix, key_err, user_prefix};
use crate::strong::{candidates, unlock_any, wrap_secret};

/// Server-attribute prefix of tresor's own records (below the INBOX GUID).
pub const TRESOR_PREFIX: &str = "vendor/vendor.dovecot/pvt/server/vendor/vendor.tresor/";

/// A recovery slot that a code opened: its name and the user keys it held.
pub struct Recovered {
    /// The slot name (random hex), removed when the reset commits.
    pub slot: String,
    /// The user private keys the slot held.
    pub keys: Vec<PrivateKey>,
}

impl KeyStore {
    /// Writes `keys` wrapped under `new` as the staged wraps (replacing any earlier staged set),
    /// in one locked update. The active wraps are not touched.
    pub fn stage_wraps(&self, keys: &[PrivateKey], new: &[u8]) -> Result<usize, KeysError> {
        let prefix = staged_prefix(&self.inbox);
        self.file.update(|map| {
            // In the user's wrap mode (`strong`): the argon2id record stays as it is.
            let secret = wrap_secret(map, &self.inbox, new)?;
            let mut wrapped = Vec::new();
            for key in keys {
                let s = key
                    .to_key_string(WrapWith::Password(&secret))
                    .map_err(|e| key_err(&key.id(), e))?;
                wrapped.push((key.id(), s));
            }
            remove_prefix(map, &prefix);
            for (id, s) in &wrapped {
                map.set(format!("{prefix}{id}"), s.as_bytes());
            }
            Ok(wrapped.len())
        })
    }

    /// Makes the staged wraps the active ones, in one locked update: each staged wrap (checked
    /// to open with `new`) replaces the user private key record of its id, the staged records go,
    /// and so does the recovery slot `used_slot` (a code is good for one reset). Returns how many
    /// keys were switched; 0 when nothing was staged.
    pub fn commit_staged(&self, new: &[u8], used_slot: Option<&str>) -> Result<usize, KeysError> {
        let prefix = staged_prefix(&self.inbox);
        let privkeys = format!("priv/{}privkeys/", user_prefix(&self.inbox));
        self.file.update(|map| {
            let staged: Vec<(String, Vec<u8>)> = map
                .iter_prefix(&prefix)
                .filter_map(|(k, v)| {
                    let id = std::str::from_utf8(k).ok()?.strip_prefix(&prefix)?;
                    Some((id.to_string(), v.to_vec()))
                })
                .collect();
            let secrets = candidates(map, &self.inbox, Some(new))?;
            for (id, value) in &staged {
                let parsed = parse_value(id, value)?;
                unlock_any(&parsed, &secrets).map_err(|e| wrong_or(id, e))?;
            }
            for (id, value) in &staged {
                map.set(format!("{privkeys}{id}"), value.clone());
            }
            remove_prefix(map, &prefix);
            if let Some(slot) = used_slot {
                remove_slot(map, &self.inbox, slot);
            }
            Ok(staged.len())
        })
    }

    /// Adds a recovery slot: a fresh recovery key pair on the curve of the first key, its private
    /// key wrapped under `code`, and every key of `user_keys` encrypted to it. Returns the slot
    /// name.
    pub fn add_recovery(&self, user_keys: &[PrivateKey], code: &[u8]) -> Result<String, KeysError> {
        let first = user_keys.first().ok_or(KeysError::NoUserKey)?;
        let recovery = PrivateKey::generate(first.curve());
        let slot = hex_id(&recovery.id());
        let base = recovery_prefix(&self.inbox, &slot);
        let private = recovery
            .to_key_string(WrapWith::Password(code))
            .map_err(|e| key_err(&recovery.id(), e))?;
        let mut wraps = Vec::new();
        for key in user_keys {
            let s = key
                .to_key_string(WrapWith::Key(recovery.public_key()))
                .map_err(|e| key_err(&key.id(), e))?;
            wraps.push((key.id(), s));
        }
        self.file.update(|map| {
            map.set(format!("priv/{base}key"), private.as_bytes());
            map.set(
                format!("shared/{base}pubkey"),
                recovery.public_key().to_key_string(),
            );
            for (id, s) in &wraps {
                map.set(format!("priv/{base}privkeys/{id}"), s.as_bytes());
            }
            Ok(slot)
        })
    }

    /// Removes key `id` everywhere: as a user key (with its staged and recovery wraps) or as a
    /// folder key of any folder. Active keys are refused by the caller; this does not check.
    pub fn remove_keys(&self, ids: &[(Option<String>, KeyId)]) -> Result<usize, KeysError> {
        self.file.update(|map| {
            let before = map.len();
            for (guid, id) in ids {
                match guid {
                    None => remove_user_key(map, &self.inbox, id),
                    Some(g) => {
                        let p = folder_prefix(g);
                        map.remove(format!("priv/{p}privkeys/{id}"));
                        map.remove(format!("shared/{p}pubkeys/{id}"));
                    }
                }
            }
            Ok(before - map.len())
        })
    }
}

/// Adds `key` to every recovery slot of `map` (encrypted to each slot's public key), so a key
/// made by a rotation is recoverable with the codes given before it.
pub fn add_to_recovery_slots(
    map: &mut AttributeMap,
    inbox: &str,
    key: &PrivateKey,
) -> Result<(), KeysError> {
    let keys = Keys {
        map: map.clone(),
        inbox: inbox.to_string(),
    };
    for slot in keys.recovery_slots() {
        let base = recovery_prefix(inbox, &slot);
        let Some(public) = keys.map.get_str(format!("shared/{base}pubkey")) else {
            continue;
        };
        let public = PublicKey::from_key_string(public).map_err(|e| KeysError::Key {
            id: slot.clone(),
            source: Box::new(e),
        })?;
        let s = key
            .to_key_string(WrapWith::Key(&public))
            .map_err(|e| key_err(&key.id(), e))?;
        map.set(format!("priv/{base}privkeys/{}", key.id()), s.as_bytes());
    }
    Ok(())
}

impl Keys {
    /// True while a password change is in flight (staged wraps exist).
    pub fn has_staged(&self) -> bool {
        self.map
            .iter_prefix(staged_prefix(&self.inbox))
            .next()
            .is_some()
    }

    /// The user keys that the staged wraps open with `password` (empty if none).
    pub fn unlock_staged(&self, password: &[u8]) -> Vec<PrivateKey> {
        let Ok(secrets) = candidates(&self.map, &self.inbox, Some(password)) else {
            return Vec::new();
        };
        self.map
            .iter_prefix(staged_prefix(&self.inbox))
            .filter_map(|(_, v)| std::str::from_utf8(v).ok())
            .filter_map(|s| PrivateKeyString::parse(s).ok())
            .filter_map(|p| unlock_any(&p, &secrets).ok())
            .collect()
    }

    /// The names of the user's recovery slots.
    pub fn recovery_slots(&self) -> Vec<String> {
        let shared = format!("shared/{}/{TRESOR_PREFIX}recovery/", self.inbox);
        let slots: BTreeSet<String> = self
            .map
            .iter_prefix(&shared)
            .filter_map(|(k, _)| {
                let rest = std::str::from_utf8(k).ok()?.strip_prefix(&shared)?;
                Some(rest.split('/').next()?.to_string())
            })
            .collect();
        slots.into_iter().collect()
    }

    /// Opens the recovery slot that `code` unlocks, with every user key it holds; `None` when the
    /// code opens no slot.
    pub fn unlock_recovery(&self, code: &[u8]) -> Option<Recovered> {
        for slot in self.recovery_slots() {
            let base = recovery_prefix(&self.inbox, &slot);
            let Some(recovery) = self
                .map
                .get_str(format!("priv/{base}key"))
                .and_then(|s| PrivateKeyString::parse(s).ok())
                .and_then(|p| p.unlock_with_password(code).ok())
            else {
                continue;
            };
            let keys = self
                .map
                .iter_prefix(format!("priv/{base}privkeys/"))
                .filter_map(|(_, v)| std::str::from_utf8(v).ok())
                .filter_map(|s| PrivateKeyString::parse(s).ok())
                .filter(|p| matches!(p.wrap(), Wrap::Key(_)))
                .filter_map(|p| p.unlock_with_key(&recovery).ok())
                .collect();
            return Some(Recovered { slot, keys });
        }
        None
    }

    /// Every folder key record: (folder GUID, key id, the user key it is encrypted to).
    pub fn folder_keys(&self) -> Vec<(String, KeyId, Option<KeyId>)> {
        let mut out = Vec::new();
        for (k, v) in self.map.iter_prefix("priv/") {
            let (Ok(k), Ok(v)) = (std::str::from_utf8(k), std::str::from_utf8(v)) else {
                continue;
            };
            let Some((guid, attr)) = k.strip_prefix("priv/").and_then(|r| r.split_once('/')) else {
                continue;
            };
            let Some(id) = attr.strip_prefix(BOX_PRIVKEYS) else {
                continue;
            };
            let (Ok(id), Ok(parsed)) = (id.parse::<KeyId>(), PrivateKeyString::parse(v)) else {
                continue;
            };
            let by = match parsed.wrap() {
                Wrap::Key(by) => Some(by),
                _ => None,
            };
            out.push((guid.to_string(), id, by));
        }
        out
    }
}

fn staged_prefix(inbox: &str) -> String {
    format!("priv/{inbox}/{TRESOR_PREFIX}staged/")
}

fn recovery_prefix(inbox: &str, slot: &str) -> String {
    format!("{inbox}/{TRESOR_PREFIX}recovery/{slot}/")
}

fn remove_prefix(map: &mut AttributeMap, prefix: &str) {
    let keys: Vec<Vec<u8>> = map.iter_prefix(prefix).map(|(k, _)| k.to_vec()).collect();
    for k in keys {
        map.remove(k);
    }
}

fn remove_slot(map: &mut AttributeMap, inbox: &str, slot: &str) {
    let base = recovery_prefix(inbox, slot);
    remove_prefix(map, &format!("priv/{base}"));
    remove_prefix(map, &format!("shared/{base}"));
}

fn remove_user_key(map: &mut AttributeMap, inbox: &str, id: &KeyId) {
    let user = user_prefix(inbox);
    map.remove(format!("priv/{user}privkeys/{id}"));
    map.remove(format!("shared/{user}pubkeys/{id}"));
    map.remove(format!("{}{id}", staged_prefix(inbox)));
    let slots = Keys {
        map: map.clone(),
        inbox: inbox.to_string(),
    }
    .recovery_slots();
    for slot in slots {
        let base = recovery_prefix(inbox, &slot);
        map.remove(format!("priv/{base}privkeys/{id}"));
    }
}

fn parse_value(id: &str, value: &[u8]) -> Result<PrivateKeyString, KeysError> {
    std::str::from_utf8(value)
        .map_err(|_| KeyError::Malformed("not UTF-8"))
        .and_then(PrivateKeyString::parse)
        .map_err(|source| KeysError::Key {
            id: id.to_string(),
            source: Box::new(source),
        })
}

fn wrong_or(id: &str, e: KeyError) -> KeysError {
    match e {
        KeyError::WrongPassword(_) => KeysError::WrongPassword,
        other => KeysError::Key {
            id: id.to_string(),
            source: Box::new(other),
        },
    }
}

fn hex_id(id: &KeyId) -> String {
    id.to_string().chars().take(16).collect()
}

const BOX_PRIVKEYS: &str = "vendor/vendor.dovecot/pvt/crypt/privkeys/";

#[cfg(test)]
mod tests {
    use mailcrypt::Curve;

    use super::*;

    fn store() -> (tempfile::TempDir, KeyStore) {
        let dir = tempfile::tempdir().unwrap();
        let ks = KeyStore::new(dir.path(), "00112233445566778899aabbccddeeff");
        (dir, ks)
    }

    #[test]
    fn staged_wraps_open_after_hash_switch_and_commit_replaces() {
        let (_d, ks) = store();
        ks.generate_user_key(Curve::P256, Some(b"old"), false)
            .unwrap();
        let user = ks.load().unwrap().unlock_user(Some(b"old")).unwrap();
        ks.stage_wraps(user.keys(), b"new").unwrap();
        let keys = ks.load().unwrap();
        assert!(keys.has_staged());
        assert!(keys.unlock_user(Some(b"old")).is_ok());
        assert!(keys.unlock_user(Some(b"new")).is_ok(), "fallback on staged");
        assert!(ks.commit_staged(b"wrong", None).is_err());
        assert_eq!(ks.commit_staged(b"new", None).unwrap(), 1);
        let keys = ks.load().unwrap();
        assert!(!keys.has_staged());
        assert!(keys.unlock_user(Some(b"old")).is_err());
        assert!(keys.unlock_user(Some(b"new")).is_ok());
    }

    #[test]
    fn recovery_slot_opens_with_code_only_and_goes_on_commit() {
        let (_d, ks) = store();
        ks.generate_user_key(Curve::P256, Some(b"pw"), false)
            .unwrap();
        let user = ks.load().unwrap().unlock_user(Some(b"pw")).unwrap();
        let slot = ks.add_recovery(user.keys(), b"CODE").unwrap();
        let keys = ks.load().unwrap();
        assert!(keys.unlock_recovery(b"WRONG").is_none());
        let r = keys.unlock_recovery(b"CODE").unwrap();
        assert_eq!(r.slot, slot);
        assert_eq!(r.keys.len(), 1);
        ks.stage_wraps(&r.keys, b"fresh").unwrap();
        ks.commit_staged(b"fresh", Some(&slot)).unwrap();
        let keys = ks.load().unwrap();
        assert!(keys.unlock_recovery(b"CODE").is_none());
        assert!(keys.unlock_user(Some(b"fresh")).is_ok());
    }
}
