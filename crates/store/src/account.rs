//! One user's mail: their Maildir, whether it is encrypted, and the operations that need both
//! the store and the keys — delivery (sealed to the folder key, made on first use without a
//! password) and reading (verified before release).

use std::path::{Path, PathBuf};

use keys::{KeyStore, KeysError, UnlockedUser};
use std::sync::Arc;

use mailcrypt::{FileKey, KeyId, OpenError, PrivateKey, SealedFile};
use zeroize::Zeroizing;

use crate::folder::{self, Folder, FolderError};
use crate::maildir::{self, Content, DeliverError, DeliverOptions, Delivered};
use crate::uidlist::{UidlistError, read_guid};
use crate::{keyindex, sealpool};

/// A user's mail store.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Account {
    /// `~/Maildir`.
    pub maildir: PathBuf,
    /// crypt=2: mail is sealed at rest. crypt=0: plaintext.
    pub encrypted: bool,
    /// Owner (uid, gid) for new files and directories.
    pub owner: Option<(u32, u32)>,
    /// Quota in bytes (0 or `None` = unlimited).
    pub quota: Option<u64>,
}

/// Why an account operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccountError {
    /// Folder name or layout problem.
    #[error(transparent)]
    Folder(#[from] FolderError),
    /// Delivery or lookup in the Maildir failed.
    #[error(transparent)]
    Deliver(#[from] DeliverError),
    /// A key operation failed.
    #[error(transparent)]
    Keys(#[from] KeysError),
    /// The uidlist (folder GUID) is missing or damaged.
    #[error(transparent)]
    Uidlist(#[from] UidlistError),
    /// The message file did not open.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// The mailbox does not exist.
    #[error("mailbox {0} does not exist")]
    NoMailbox(String),
    /// An encrypted user has no key pair: delivery would have nothing to seal to.
    #[error(
        "the user is encrypted (crypt=2) but has no key pair; run `tresor key generate EMAIL` with the user's password"
    )]
    NoUserKey,
    /// Reading the mail file failed.
    #[error("reading {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl Account {
    /// An account whose home is `home` (mail in `home/Maildir`).
    pub fn new(home: &Path, encrypted: bool) -> Self {
        Self {
            maildir: home.join("Maildir"),
            encrypted,
            owner: None,
            quota: None,
        }
    }

    /// Sets the owner of new files.
    pub fn with_owner(mut self, owner: Option<(u32, u32)>) -> Self {
        self.owner = owner;
        self
    }

    /// Sets the quota in bytes.
    pub fn with_quota(mut self, quota: Option<u64>) -> Self {
        self.quota = quota;
        self
    }

    /// Creates the Maildir (INBOX with its uidlist and GUID) if missing.
    pub fn create(&self) -> Result<(), AccountError> {
        let inbox = folder::folder(&self.maildir, "INBOX")?;
        folder::create(&inbox, self.owner)?;
        Ok(())
    }

    /// The key store (needs INBOX's GUID).
    pub fn keystore(&self) -> Result<KeyStore, AccountError> {
        let guid = read_guid(&self.maildir)?;
        Ok(KeyStore::new(&self.maildir, &guid.to_string()))
    }

    /// A folder by name; it must exist.
    pub fn folder(&self, name: &str) -> Result<Folder, AccountError> {
        let f = folder::folder(&self.maildir, name)?;
        if !f.dir.join("cur").is_dir() {
            return Err(AccountError::NoMailbox(f.name));
        }
        Ok(f)
    }

    /// Creates mailbox `name` (its directory, `maildirfolder` marker and a uidlist with a new
    /// GUID) if it does not exist, and returns it. An existing folder keeps its GUID.
    pub fn create_mailbox(&self, name: &str) -> Result<Folder, AccountError> {
        if !self.maildir.join("cur").is_dir() {
            self.create()?;
        }
        let f = folder::folder(&self.maildir, name)?;
        folder::create(&f, self.owner)?;
        if f.name != "INBOX" {
            let marker = f.dir.join("maildirfolder");
            if !marker.exists() {
                std::fs::File::create(&marker).map_err(|source| AccountError::Io {
                    path: marker.clone(),
                    source,
                })?;
                self.chown(&marker);
            }
        }
        Ok(f)
    }

    /// Every folder.
    pub fn folders(&self) -> Result<Vec<Folder>, AccountError> {
        Ok(folder::list(&self.maildir)?)
    }

    /// Delivers a message as received (CRLF or LF) into `mailbox`: stored with LF line ends,
    /// sealed to the folder's active key for an encrypted account (the key is made from the
    /// user's public key when the folder has none — no password needed).
    pub fn deliver(&self, mailbox: &str, raw: &[u8]) -> Result<Delivered, AccountError> {
        self.deliver_stored(mailbox, &Zeroizing::new(maildir::to_stored(raw)), None)
    }

    /// Copies message `uid` of `from` into `to`: verified plaintext out of the source, sealed
    /// again to the destination folder's key (SPEC §5.7: Dovecot only finds a message's key
    /// in the folder the message lives in).
    pub fn copy(
        &self,
        from: &str,
        uid: u32,
        to: &str,
        user: Option<&UnlockedUser>,
    ) -> Result<Delivered, AccountError> {
        let stored = self.fetch(from, uid, user)?;
        self.deliver_stored(to, &stored, None)
    }

    /// [`Self::deliver`] with the file's date (IMAP APPEND's INTERNALDATE) set before the
    /// message becomes visible.
    pub fn deliver_dated(
        &self,
        mailbox: &str,
        raw: &[u8],
        date: Option<std::time::SystemTime>,
    ) -> Result<Delivered, AccountError> {
        self.deliver_stored(mailbox, &Zeroizing::new(maildir::to_stored(raw)), date)
    }

    /// [`Self::copy`] keeping the source's date (IMAP INTERNALDATE), set before the copy
    /// becomes visible.
    pub fn copy_dated(
        &self,
        from: &str,
        uid: u32,
        to: &str,
        user: Option<&UnlockedUser>,
        date: std::time::SystemTime,
    ) -> Result<Delivered, AccountError> {
        let stored = self.fetch(from, uid, user)?;
        self.deliver_stored(to, &stored, Some(date))
    }

    /// Moves message `uid` of `from` into `to`: a [`Self::copy`], then the source is expunged
    /// (only after the copy is durable, so a crash leaves a duplicate, never a loss).
    pub fn move_message(
        &self,
        from: &str,
        uid: u32,
        to: &str,
        user: Option<&UnlockedUser>,
    ) -> Result<Delivered, AccountError> {
        let delivered = self.copy(from, uid, to, user)?;
        maildir::expunge(&self.folder(from)?, uid)?;
        Ok(delivered)
    }

    /// Removes message `uid` from `mailbox`.
    pub fn expunge(&self, mailbox: &str, uid: u32) -> Result<(), AccountError> {
        Ok(maildir::expunge(&self.folder(mailbox)?, uid)?)
    }

    /// Delivers bytes already in stored form (LF line ends).
    fn deliver_stored(
        &self,
        mailbox: &str,
        stored: &[u8],
        mtime: Option<std::time::SystemTime>,
    ) -> Result<Delivered, AccountError> {
        if mailbox.eq_ignore_ascii_case("INBOX") && !self.maildir.join("cur").is_dir() {
            self.create()?;
        }
        let folder = self.folder(mailbox)?;
        let options = DeliverOptions {
            quota: self.quota,
            owner: self.owner,
            mtime,
        };
        if !self.encrypted {
            return Ok(maildir::deliver(&folder, stored, Content::Plain, &options)?);
        }
        let ks = self.keystore()?;
        let guid = read_guid(&folder.dir)?.to_string();
        let key = match ks.ensure_folder_key(&guid) {
            Err(KeysError::NoUserKey) => return Err(AccountError::NoUserKey),
            other => other?,
        };
        self.chown(&ks.path());
        let (sealed, file_key) = mailcrypt::seal_prepared(stored, &key, sealpool::take(&key))
            .map_err(|e| OpenError::Unsupported(e.to_string()))?;
        let delivered = maildir::deliver(&folder, stored, Content::Sealed(&sealed), &options)?;
        if !stored.is_empty()
            && let Some(name) = delivered.path.file_name().and_then(|n| n.to_str())
            && let Err(e) = keyindex::file_key(
                &folder.dir,
                &key,
                crate::uidlist::basename(name),
                &file_key,
                self.owner,
            )
        {
            tracing::warn!(mailbox = %folder.name, error = %e, "cannot update the key index (reads stay correct, only slower)");
        }
        Ok(delivered)
    }

    /// The stored bytes of message `uid` in `mailbox` (what `doveadm fetch text` returns),
    /// decrypted with the unlocked user keys when sealed. Verified before anything is returned.
    pub fn fetch(
        &self,
        mailbox: &str,
        uid: u32,
        user: Option<&UnlockedUser>,
    ) -> Result<Zeroizing<Vec<u8>>, AccountError> {
        let folder = self.folder(mailbox)?;
        let path = maildir::find_uid(&folder, uid)?;
        self.read_file(&folder, &path, user)
    }

    /// Reads one mail file of `folder`, decrypting it when sealed.
    pub fn read_file(
        &self,
        folder: &Folder,
        path: &Path,
        user: Option<&UnlockedUser>,
    ) -> Result<Zeroizing<Vec<u8>>, AccountError> {
        let data = Zeroizing::new(std::fs::read(path).map_err(|source| AccountError::Io {
            path: path.to_path_buf(),
            source,
        })?);
        let maybe_sealed = !data.is_empty()
            && (mailcrypt::is_sealed(&data) || mailcrypt::MAGIC.starts_with(&data));
        if !maybe_sealed {
            return Ok(data);
        }
        let sealed = SealedFile::parse(&data)?;
        if let Some(size) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(maildir::size_from_name)
            && (sealed.plaintext_len() as u64) < size
        {
            return Err(
                OpenError::Truncated("message (shorter than the S= size in its name)").into(),
            );
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .map(|n| crate::uidlist::basename(n).to_string())
            .unwrap_or_default();
        // A key this session already holds: no key records to load, no check value to
        // compute. For v2 the GCM tag is the check (a stale key fails it and falls through to
        // the slow path); v1 has no tag, so its seed hash is checked first.
        let usable = |fk: &FileKey| sealed.version() >= 2 || sealed.key_matches(fk);
        if let Some(user) = user
            && let Some(plaintext) = user.with_ring(|ring| {
                let fk = ring.folders.get(&folder.dir)?.files.get(&name)?;
                usable(fk).then(|| sealed.decrypt(fk).ok()).flatten()
            })
        {
            return Ok(plaintext.into_bytes());
        }
        let keys = self.keystore()?.load()?;
        let guid = read_guid(&folder.dir)?.to_string();
        let recipients = sealed.recipients();
        let Some(recipient) = recipients
            .iter()
            .find(|r| keys.has_folder_key(&guid, &r.id))
        else {
            let id = recipients
                .first()
                .map(|r| r.id)
                .ok_or(OpenError::Malformed("recipients"))?;
            return Err(KeysError::NoFolderKey {
                id,
                mailbox: folder.name.clone(),
            }
            .into());
        };
        let user = user.ok_or(KeysError::PasswordRequired)?;
        // The folder's key index, then the Dovecot way (ECDH + PBKDF2 for this file). A key
        // from the index is checked (GCM tag, or v1 seed hash) before its plaintext is used,
        // so a stale or damaged entry is a miss, never a wrong answer.
        let result = user.with_ring(|ring| -> Result<_, AccountError> {
            let keys_ring = &mut ring.folder_keys;
            let mut folder_key = |id: &KeyId| -> Result<Arc<PrivateKey>, AccountError> {
                if let Some(k) = keys_ring.get(id) {
                    return Ok(Arc::clone(k));
                }
                let k = Arc::new(keys.folder_private_key(&guid, id, user, &folder.name)?);
                keys_ring.insert(*id, Arc::clone(&k));
                Ok(k)
            };
            let files = ring.folders.entry(folder.dir.clone()).or_default();
            keyindex::refresh(&folder.dir, files, |id| {
                keys.has_folder_key(&guid, id)
                    .then(|| folder_key(id).ok())
                    .flatten()
            });
            if let Some(fk) = files.files.get(&name).filter(|fk| usable(fk))
                && let Ok(plaintext) = sealed.decrypt(fk)
            {
                return Ok((plaintext, None));
            }
            let key = folder_key(&recipient.id)?;
            let fk = sealed.unwrap_key(&key)?;
            let plaintext = sealed.decrypt(&fk)?;
            files
                .files
                .insert(name.clone(), FileKey::from_bytes(fk.expose()));
            Ok((plaintext, Some((key, fk))))
        });
        let (plaintext, unwrapped) = result?;
        if let Some((key, fk)) = unwrapped
            && !name.is_empty()
            && let Err(e) =
                keyindex::file_key(&folder.dir, key.public_key(), &name, &fk, self.owner)
        {
            tracing::debug!(mailbox = %folder.name, error = %e, "cannot update the key index");
        }
        Ok(plaintext.into_bytes())
    }

    fn chown(&self, path: &Path) {
        if let Some((u, g)) = self.owner {
            let _ = std::os::unix::fs::chown(path, Some(u), Some(g));
        }
    }
}
