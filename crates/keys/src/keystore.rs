//! A user's mail-crypt keys as Dovecot files them in `dovecot-attributes` (SPEC §5.1–5.3), and
//! the unlock chain: password → user private key → folder private key.
//!
//! User keys are server attributes of INBOX (`…/pvt/server/vendor/vendor.dovecot/pvt/crypt/`);
//! folder keys are attributes of their folder's mailbox GUID (`…/pvt/crypt/`). Private keys are
//! `priv/` records, public keys and `active` are `shared/` records.

use std::path::{Path, PathBuf};

use mailcrypt::{Curve, KeyError, KeyId, PrivateKey, PrivateKeyString, PublicKey, Wrap, WrapWith};

use crate::attributes::{AttributeFile, AttributeMap, AttributesError};

/// The attribute file of one user, with the GUID of the user's INBOX (user keys live there).
pub struct KeyStore {
    pub(crate) file: AttributeFile,
    pub(crate) inbox: String,
}

/// Which key a [`KeyEntry`] is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// A user key (INBOX server attribute).
    User,
    /// A folder key, filed under the folder's mailbox GUID (32 lowercase hex digits).
    Folder(String),
}

/// One private key record, as `tresor key list` shows it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct KeyEntry {
    /// The id the key is filed under.
    pub id: KeyId,
    /// User or folder key.
    pub owner: Owner,
    /// The key's curve.
    pub curve: Curve,
    /// Whether it is the owner's `active` key.
    pub active: bool,
    /// How the private key is protected.
    pub wrap: Wrap,
}

/// Why a key operation failed; each variant says what the admin can do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeysError {
    /// Reading or writing `dovecot-attributes` failed.
    #[error(transparent)]
    Attributes(#[from] AttributesError),
    /// The user has no key pair yet. Create one with `tresor key generate`.
    #[error("the user has no mail-crypt key pair; create one with `tresor key generate`")]
    NoUserKey,
    /// The password unlocks none of the user's private keys.
    #[error("wrong password: it unlocks none of the user's private keys")]
    WrongPassword,
    /// A key is password-protected and no password was given.
    #[error("a password is needed to unlock the user's private key")]
    PasswordRequired,
    /// The folder has no key with this id: the file was sealed to a key this mailbox does not
    /// hold (moved in from another folder without re-sealing, or the key was deleted).
    #[error("no key with id {id} for mailbox {mailbox}")]
    NoFolderKey {
        /// The key id the file asks for.
        id: KeyId,
        /// The mailbox (GUID or name).
        mailbox: String,
    },
    /// The folder has no active key to seal to.
    #[error("mailbox {0} has no active encryption key; one is made on first delivery")]
    NoActiveFolderKey(String),
    /// A folder key is encrypted to a user key that is missing or did not unlock.
    #[error(
        "folder key {folder} is encrypted to user key {user}, which is missing or did not unlock with this password"
    )]
    UserKeyUnavailable {
        /// The folder key.
        folder: KeyId,
        /// The user key it needs.
        user: KeyId,
    },
    /// A stored key string is damaged.
    #[error("key {id}: {source}")]
    Key {
        /// The attribute's key id.
        id: String,
        /// What is wrong with it.
        source: Box<KeyError>,
    },
    /// A user key exists already; pass `force` to make a new active one (old keys are kept).
    #[error("the user already has key {0}; use --force to make a new active key")]
    UserKeyExists(KeyId),
}

/// The user's unlocked private keys, held for one session; zeroized on drop. It also keeps
/// the session's keyring: folder keys unlocked so far and message keys read so far (from the
/// key index or by unwrapping), so each costs its ECDH + PBKDF2 once per session. All of it
/// lives in memory only and is zeroized when the session ends.
pub struct UnlockedUser {
    keys: Vec<PrivateKey>,
    ring: std::sync::Mutex<Keyring>,
}

/// What a session has unlocked beyond the user keys (see [`UnlockedUser`]).
#[derive(Default)]
pub struct Keyring {
    /// Folder private keys by id (ids are hashes of the public key: unique across folders).
    pub folder_keys: std::collections::HashMap<KeyId, std::sync::Arc<PrivateKey>>,
    /// Per folder directory: message keys by Maildir base name, and where the key index was
    /// read up to.
    pub folders: std::collections::HashMap<PathBuf, FolderKeys>,
}

/// One folder's message keys in a [`Keyring`].
#[derive(Default)]
pub struct FolderKeys {
    /// Message keys by Maildir base file name.
    pub files: std::collections::HashMap<String, mailcrypt::FileKey>,
    /// The incremental reader of the folder's key index.
    pub index: mailcrypt::index::Reader,
}

impl UnlockedUser {
    /// Runs `f` with the session's keyring (a poisoned lock is taken over: the ring holds
    /// only caches, each entry checked before use).
    pub fn with_ring<R>(&self, f: impl FnOnce(&mut Keyring) -> R) -> R {
        let mut ring = self
            .ring
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut ring)
    }

    /// The unlocked user key with this id (v2 or old id), if any.
    pub fn key(&self, id: &KeyId) -> Option<&PrivateKey> {
        self.keys.iter().find(|k| k.public_key().matches_id(id))
    }

    /// All unlocked user keys.
    pub fn keys(&self) -> &[PrivateKey] {
        &self.keys
    }
}

impl KeyStore {
    /// The store of the user whose Maildir is `maildir` (`~/Maildir`) and whose INBOX has
    /// mailbox GUID `inbox_guid` (from `~/Maildir/dovecot-uidlist`).
    pub fn new(maildir: &Path, inbox_guid: &str) -> Self {
        Self::with_file(
            AttributeFile::new(maildir.join(ATTRIBUTES_FILE)),
            inbox_guid,
        )
    }

    /// As [`Self::new`], with an explicit attribute file.
    pub fn with_file(file: AttributeFile, inbox_guid: &str) -> Self {
        Self {
            file,
            inbox: inbox_guid.to_ascii_lowercase(),
        }
    }

    /// The attribute file's path.
    pub fn path(&self) -> PathBuf {
        self.file.path().to_path_buf()
    }

    /// A snapshot of the keys for reading.
    pub fn load(&self) -> Result<Keys, KeysError> {
        Ok(Keys {
            map: self.file.load()?,
            inbox: self.inbox.clone(),
        })
    }

    /// Makes a user key pair on `curve`, its private key wrapped with `password` (or stored
    /// clear if `None`), and makes it active — all in one locked update. Older user keys stay
    /// (folder keys still reference them).
    pub fn generate_user_key(
        &self,
        curve: Curve,
        password: Option<&[u8]>,
        force: bool,
    ) -> Result<KeyId, KeysError> {
        let key = PrivateKey::generate(curve);
        let wrap = password.map_or(WrapWith::None, WrapWith::Password);
        let private = key.to_key_string(wrap).map_err(|e| key_err(&key.id(), e))?;
        let id = key.id();
        self.file.update(|map| {
            let keys = Keys {
                map: map.clone(),
                inbox: self.inbox.clone(),
            };
            if let Some(existing) = keys.active_user_key_id()
                && !force
            {
                return Err(KeysError::UserKeyExists(existing));
            }
            let user = user_prefix(&self.inbox);
            map.set(format!("priv/{user}privkeys/{id}"), private.as_bytes());
            map.set(
                format!("shared/{user}pubkeys/{id}"),
                key.public_key().to_key_string(),
            );
            map.set(format!("shared/{user}active"), id.to_string());
            Ok(id)
        })
    }

    /// Re-wraps every user private key from password `old` to `new` in one locked update
    /// (doveadm's `cryptokey password` without its trap: protection is never removed, and an
    /// unprotected key gets the new password). Nothing is written unless every key unlocked.
    /// Returns how many keys were re-wrapped.
    pub fn rewrap_user_keys(&self, old: &[u8], new: &[u8]) -> Result<usize, KeysError> {
        let prefix = format!("priv/{}privkeys/", user_prefix(&self.inbox));
        self.file.update(|map| {
            let mut changes = Vec::new();
            for (k, parsed) in user_key_strings(map, &prefix)? {
                let key = match parsed.unlock_with_password(old) {
                    Ok(k) => k,
                    Err(KeyError::WrongPassword(_)) => return Err(KeysError::WrongPassword),
                    Err(e) => return Err(key_err(&parsed.id(), e)),
                };
                let wrapped = key
                    .to_key_string(WrapWith::Password(new))
                    .map_err(|e| key_err(&key.id(), e))?;
                changes.push((k, wrapped));
            }
            if changes.is_empty() {
                return Err(KeysError::NoUserKey);
            }
            let n = changes.len();
            for (k, v) in changes {
                map.set(k, v.as_bytes());
            }
            Ok(n)
        })
    }

    /// The folder's active public key, made first (encrypted to the user's active public key,
    /// no password needed — SPEC §5.5 step 2.3) if the folder has none.
    pub fn ensure_folder_key(&self, guid: &str) -> Result<PublicKey, KeysError> {
        // Delivery asks this for every message: remember the answer per attributes file
        // version (its inode, size and mtime change with every rewrite, which is by rename).
        let stamp = file_stamp(&self.path());
        if let Some(stamp) = stamp
            && let Some(k) = folder_key_cache(|c| {
                c.get(&(self.path(), guid.to_string()))
                    .filter(|(s, _)| *s == stamp)
                    .map(|(_, k)| *k)
            })
        {
            return Ok(k);
        }
        if let Some(k) = self.load()?.active_folder_public_key(guid)? {
            if let Some(stamp) = stamp {
                folder_key_cache(|c| c.insert((self.path(), guid.to_string()), (stamp, k)));
            }
            return Ok(k);
        }
        self.file.update(|map| {
            let keys = Keys {
                map: map.clone(),
                inbox: self.inbox.clone(),
            };
            if let Some(k) = keys.active_folder_public_key(guid)? {
                return Ok(k);
            }
            let user = keys.active_user_public_key()?.ok_or(KeysError::NoUserKey)?;
            let folder = PrivateKey::generate(user.curve());
            let id = folder.id();
            let private = folder
                .to_key_string(WrapWith::Key(&user))
                .map_err(|e| key_err(&id, e))?;
            let prefix = folder_prefix(guid);
            map.set(format!("priv/{prefix}privkeys/{id}"), private.as_bytes());
            map.set(
                format!("shared/{prefix}pubkeys/{id}"),
                folder.public_key().to_key_string(),
            );
            map.set(format!("shared/{prefix}active"), id.to_string());
            Ok(*folder.public_key())
        })
    }
}

/// A read-only snapshot of a user's key records.
pub struct Keys {
    pub(crate) map: AttributeMap,
    pub(crate) inbox: String,
}

impl Keys {
    /// Every private key record: user keys first, then folder keys by GUID.
    pub fn entries(&self) -> Vec<KeyEntry> {
        let mut out = Vec::new();
        for (k, v) in self.map.iter_prefix("priv/") {
            let (Ok(k), Ok(v)) = (std::str::from_utf8(k), std::str::from_utf8(v)) else {
                continue;
            };
            let Some((guid, attr)) = k.strip_prefix("priv/").and_then(|r| r.split_once('/')) else {
                continue;
            };
            let (owner, id) = if let Some(id) = attr.strip_prefix(USER_PRIVKEYS) {
                if guid != self.inbox {
                    continue;
                }
                (Owner::User, id)
            } else if let Some(id) = attr.strip_prefix(BOX_PRIVKEYS) {
                (Owner::Folder(guid.to_string()), id)
            } else {
                continue;
            };
            let (Ok(id), Ok(parsed)) = (id.parse::<KeyId>(), PrivateKeyString::parse(v)) else {
                continue;
            };
            let active = match &owner {
                Owner::User => self.active_user_key_id(),
                Owner::Folder(g) => self.active_folder_key_id(g),
            } == Some(id);
            out.push(KeyEntry {
                id,
                owner,
                curve: parsed.curve(),
                active,
                wrap: parsed.wrap(),
            });
        }
        out.sort_by_key(|e| (e.owner != Owner::User, format!("{:?}", e.owner), !e.active));
        out
    }

    /// The id in the user's `active` record.
    pub fn active_user_key_id(&self) -> Option<KeyId> {
        self.map
            .get_str(format!("shared/{}active", user_prefix(&self.inbox)))
            .and_then(|s| s.trim().parse().ok())
    }

    /// The id in a folder's `active` record.
    pub fn active_folder_key_id(&self, guid: &str) -> Option<KeyId> {
        self.map
            .get_str(format!("shared/{}active", folder_prefix(guid)))
            .and_then(|s| s.trim().parse().ok())
    }

    /// The user's active public key.
    pub fn active_user_public_key(&self) -> Result<Option<PublicKey>, KeysError> {
        let Some(id) = self.active_user_key_id() else {
            return Ok(None);
        };
        self.public_key(
            &format!("shared/{}pubkeys/{id}", user_prefix(&self.inbox)),
            &id,
        )
    }

    /// A folder's active public key, the key new mail is sealed to.
    pub fn active_folder_public_key(&self, guid: &str) -> Result<Option<PublicKey>, KeysError> {
        let Some(id) = self.active_folder_key_id(guid) else {
            return Ok(None);
        };
        self.public_key(&format!("shared/{}pubkeys/{id}", folder_prefix(guid)), &id)
    }

    fn public_key(&self, attr: &str, id: &KeyId) -> Result<Option<PublicKey>, KeysError> {
        let Some(s) = self.map.get_str(attr) else {
            return Ok(None);
        };
        let key = PublicKey::from_key_string(s).map_err(|e| key_err(id, e))?;
        Ok(Some(key))
    }

    /// True when some user private key is stored.
    pub fn has_user_key(&self) -> bool {
        self.entries().iter().any(|e| e.owner == Owner::User)
    }

    /// Unlocks every user private key that `password` opens (SPEC §5.6 step 3). Fails with
    /// [`KeysError::WrongPassword`] when it opens none; unprotected keys need no password.
    pub fn unlock_user(&self, password: Option<&[u8]>) -> Result<UnlockedUser, KeysError> {
        let mut keys = Vec::new();
        let mut any = false;
        let mut needed_password = false;
        let prefix = format!("priv/{}privkeys/", user_prefix(&self.inbox));
        // With the strong wrap the argon2id-derived secret comes first (see `strong`).
        let secrets = crate::strong::candidates(&self.map, &self.inbox, password)?;
        for (_, parsed) in user_key_strings(&self.map, &prefix)? {
            any = true;
            let r = match password {
                Some(_) => crate::strong::unlock_any(&parsed, &secrets),
                None => parsed.unlock(),
            };
            match r {
                Ok(k) => keys.push(k),
                Err(KeyError::WrongPassword(_)) => {}
                Err(KeyError::PasswordRequired(_)) => needed_password = true,
                Err(e) => return Err(key_err(&parsed.id(), e)),
            }
        }
        if !any {
            return Err(KeysError::NoUserKey);
        }
        if keys.is_empty()
            && let Some(pw) = password
        {
            // A password change interrupted after the login hash switched: the new password
            // opens the staged wraps (see `wraps`).
            keys = self.unlock_staged(pw);
        }
        if keys.is_empty() {
            return Err(if needed_password {
                KeysError::PasswordRequired
            } else {
                KeysError::WrongPassword
            });
        }
        Ok(UnlockedUser {
            keys,
            ring: std::sync::Mutex::default(),
        })
    }

    /// The folder private key with id `id` (v2 or old id) of the folder `guid`, decrypted with
    /// the unlocked user keys. `mailbox` names the folder in errors.
    pub fn folder_private_key(
        &self,
        guid: &str,
        id: &KeyId,
        user: &UnlockedUser,
        mailbox: &str,
    ) -> Result<PrivateKey, KeysError> {
        let parsed = self
            .folder_key_string(guid, id)
            .ok_or_else(|| KeysError::NoFolderKey {
                id: *id,
                mailbox: mailbox.to_string(),
            })?;
        match parsed.wrap() {
            Wrap::Key(by) => {
                let ukey = user.key(&by).ok_or(KeysError::UserKeyUnavailable {
                    folder: *id,
                    user: by,
                })?;
                parsed.unlock_with_key(ukey).map_err(|e| key_err(id, e))
            }
            _ => parsed.unlock().map_err(|e| key_err(id, e)),
        }
    }

    /// True when folder `guid` holds a private key filed under `id` (or whose old id is `id`).
    pub fn has_folder_key(&self, guid: &str, id: &KeyId) -> bool {
        self.folder_key_string(guid, id).is_some()
    }

    fn folder_key_string(&self, guid: &str, id: &KeyId) -> Option<PrivateKeyString> {
        let prefix = format!("priv/{}privkeys/", folder_prefix(guid));
        if let Some(s) = self.map.get_str(format!("{prefix}{id}")) {
            return PrivateKeyString::parse(s).ok();
        }
        // v1-era keys are filed under old ids; match by the id inside the string.
        self.map
            .iter_prefix(&prefix)
            .filter_map(|(_, v)| std::str::from_utf8(v).ok())
            .filter_map(|s| PrivateKeyString::parse(s).ok())
            .find(|p| p.id() == *id)
    }
}

/// Every record under `prefix` (the user's `privkeys/`), parsed; a damaged one is an error
/// naming its id.
pub(crate) fn user_key_strings(
    map: &AttributeMap,
    prefix: &str,
) -> Result<Vec<(Vec<u8>, PrivateKeyString)>, KeysError> {
    map.iter_prefix(prefix)
        .map(|(k, v)| {
            let id = String::from_utf8_lossy(k)
                .rsplit('/')
                .next()
                .unwrap_or("")
                .to_string();
            let parsed = std::str::from_utf8(v)
                .map_err(|_| KeyError::Malformed("not UTF-8"))
                .and_then(PrivateKeyString::parse)
                .map_err(|source| KeysError::Key {
                    id,
                    source: Box::new(source),
                })?;
            Ok((k.to_vec(), parsed))
        })
        .collect()
}

pub(crate) fn key_err(id: &KeyId, source: KeyError) -> KeysError {
    KeysError::Key {
        id: id.to_string(),
        source: Box::new(source),
    }
}

pub(crate) fn user_prefix(inbox: &str) -> String {
    format!("{inbox}/{USER_CRYPT_PREFIX}")
}

pub(crate) fn folder_prefix(guid: &str) -> String {
    format!("{}/{BOX_CRYPT_PREFIX}", guid.to_ascii_lowercase())
}

/// SPEC §5.2 `BOX_CRYPT_PREFIX`.
pub const BOX_CRYPT_PREFIX: &str = "vendor/vendor.dovecot/pvt/crypt/";
/// SPEC §5.2 `USER_CRYPT_PREFIX` (server attributes are stored in INBOX with this prefix).
pub const USER_CRYPT_PREFIX: &str =
    "vendor/vendor.dovecot/pvt/server/vendor/vendor.dovecot/pvt/crypt/";
/// The file name `mail_attribute_dict = file:%h/Maildir/dovecot-attributes` points at.
pub const ATTRIBUTES_FILE: &str = "dovecot-attributes";
const USER_PRIVKEYS: &str =
    "vendor/vendor.dovecot/pvt/server/vendor/vendor.dovecot/pvt/crypt/privkeys/";
const BOX_PRIVKEYS: &str = "vendor/vendor.dovecot/pvt/crypt/privkeys/";

/// What identifies one version of a file rewritten by rename: inode, size, mtime (ns).
type Stamp = (u64, u64, i64, i64);

fn file_stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt as _;
    let m = std::fs::metadata(path).ok()?;
    Some((m.ino(), m.size(), m.mtime(), m.mtime_nsec()))
}

type FolderKeyCache = std::collections::HashMap<(PathBuf, String), (Stamp, PublicKey)>;

/// Process-wide cache of active folder public keys (public data only).
fn folder_key_cache<R>(f: impl FnOnce(&mut FolderKeyCache) -> R) -> R {
    static CACHE: std::sync::Mutex<Option<FolderKeyCache>> = std::sync::Mutex::new(None);
    let mut guard = CACHE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    f(guard.get_or_insert_with(Default::default))
}
