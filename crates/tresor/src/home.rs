//! A user's home as the CLI sees it: `HOME/Maildir`, the INBOX GUID and the key store.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use keys::KeyStore;
use store::folder::{self, Folder};

/// A home directory holding `Maildir/`.
pub(crate) struct Home {
    pub(crate) dir: PathBuf,
    pub(crate) maildir: PathBuf,
}

impl Home {
    pub(crate) fn new(dir: &Path) -> anyhow::Result<Self> {
        anyhow::ensure!(dir.is_dir(), "home {} does not exist", dir.display());
        Ok(Self {
            dir: dir.to_path_buf(),
            maildir: dir.join("Maildir"),
        })
    }

    /// The key store; needs INBOX's GUID.
    pub(crate) fn keystore(&self) -> anyhow::Result<KeyStore> {
        let guid = store::uidlist::read_guid(&self.maildir)
            .with_context(|| format!("cannot find the INBOX GUID of {}", self.dir.display()))?;
        Ok(KeyStore::new(&self.maildir, &guid.to_string()))
    }

    /// The key store, creating the Maildir and INBOX's uidlist (with a new GUID) if missing.
    pub(crate) fn keystore_create(&self) -> anyhow::Result<KeyStore> {
        let inbox = folder::folder(&self.maildir, "INBOX")?;
        let guid = folder::create(&inbox, self.owner())?;
        Ok(KeyStore::new(&self.maildir, &guid.to_string()))
    }

    /// A folder by IMAP name.
    pub(crate) fn folder(&self, name: &str) -> anyhow::Result<Folder> {
        Ok(folder::folder(&self.maildir, name)?)
    }

    /// The GUID a folder's keys are filed under.
    pub(crate) fn guid(&self, f: &Folder) -> anyhow::Result<String> {
        Ok(store::uidlist::read_guid(&f.dir)
            .with_context(|| format!("mailbox {}", f.name))?
            .to_string())
    }

    /// Owner (uid, gid) of the home, given to files we create so Dovecot can use them.
    pub(crate) fn owner(&self) -> Option<(u32, u32)> {
        std::fs::metadata(&self.dir)
            .ok()
            .map(|m| (m.uid(), m.gid()))
    }
}
