//! [`Mail`] on tresor's Maildir store: one [`Account`] plus, for an encrypted user, the keys
//! unlocked at login (dropped, and so zeroized, with the session).

use std::path::Path;
use std::time::SystemTime;

use keys::{KeysError, UnlockedUser};
use store::account::{Account, AccountError};
use store::flags::{self, Flags, FlagsError};
use store::folder::FolderError;
use store::mailbox::{self, MailboxError, Snapshot, Stamp};
use store::maildir::DeliverError;
use store::{modseq, subscriptions};
use zeroize::Zeroizing;

use crate::backend::{Mail, MailError, Stored};

/// A logged-in user's Maildir.
pub struct StoreMail {
    account: Account,
    user: Option<UnlockedUser>,
}

impl StoreMail {
    /// The mail of `account`, readable with `user`'s unlocked keys (`None` for a plaintext
    /// user).
    pub fn new(account: Account, user: Option<UnlockedUser>) -> Self {
        Self { account, user }
    }

    fn folder(&self, name: &str) -> Result<store::folder::Folder, MailError> {
        self.account.folder(name).map_err(account_error)
    }
}

impl Mail for StoreMail {
    fn mailboxes(&self) -> Result<Vec<String>, MailError> {
        if !self.account.maildir.join("cur").is_dir() {
            self.account.create().map_err(account_error)?;
        }
        Ok(self
            .account
            .folders()
            .map_err(account_error)?
            .into_iter()
            .map(|f| f.name)
            .collect())
    }

    fn subscriptions(&self) -> Result<Vec<String>, MailError> {
        subscriptions::read(&self.account.maildir).map_err(internal)
    }

    fn subscribe(&self, name: &str, on: bool) -> Result<(), MailError> {
        let r = if on {
            subscriptions::subscribe(&self.account.maildir, name)
        } else {
            subscriptions::unsubscribe(&self.account.maildir, name)
        };
        match r {
            Ok(_) => Ok(()),
            Err(subscriptions::SubscriptionsError::InvalidName(_)) => Err(MailError::InvalidName),
            Err(e) => Err(internal(e)),
        }
    }

    fn create(&self, name: &str) -> Result<(), MailError> {
        if self.account.folder(name).is_ok() {
            return Err(MailError::Exists);
        }
        let folder = self.account.create_mailbox(name).map_err(account_error)?;
        mailbox::fresh_uid_validity(&self.account.maildir, &folder)
            .map(|_| ())
            .map_err(mailbox_error)
    }

    fn delete(&self, name: &str) -> Result<(), MailError> {
        mailbox::delete(&self.account.maildir, name).map_err(mailbox_error)
    }

    fn rename(&self, from: &str, to: &str) -> Result<(), MailError> {
        mailbox::rename(&self.account.maildir, from, to).map_err(mailbox_error)
    }

    fn snapshot(&self, name: &str) -> Result<Snapshot, MailError> {
        mailbox::scan(&self.folder(name)?).map_err(mailbox_error)
    }

    fn stamp(&self, name: &str) -> Stamp {
        self.folder(name)
            .map(|f| mailbox::stamp(&f))
            .unwrap_or_default()
    }

    fn read(
        &self,
        name: &str,
        uid: u32,
        path: Option<&Path>,
    ) -> Result<Zeroizing<Vec<u8>>, MailError> {
        // The snapshot's path saves a uidlist parse and a directory scan per message; a file
        // renamed since (flags changed elsewhere) is found again by UID.
        if let Some(path) = path {
            let folder = self.folder(name)?;
            match self.account.read_file(&folder, path, self.user.as_ref()) {
                Err(AccountError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound => {}
                other => return other.map_err(account_error),
            }
        }
        self.account
            .fetch(name, uid, self.user.as_ref())
            .map_err(account_error)
    }

    fn append(
        &self,
        name: &str,
        raw: &[u8],
        flags: &Flags,
        date: Option<SystemTime>,
    ) -> Result<Stored, MailError> {
        let folder = self.folder(name)?;
        let delivered = self
            .account
            .deliver_dated(name, raw, date)
            .map_err(account_error)?;
        if *flags != Flags::new() {
            flags::set_flags(&folder, delivered.uid, flags).map_err(flags_error)?;
        }
        Ok(Stored {
            uid_validity: uid_validity(&folder)?,
            uid: delivered.uid,
        })
    }

    fn set_flags(&self, name: &str, uid: u32, flags: &Flags) -> Result<(), MailError> {
        let folder = self.folder(name)?;
        flags::set_flags(&folder, uid, flags)
            .map(|_| ())
            .map_err(flags_error)
    }

    fn bump_modseq(&self, name: &str, uids: &[u32], expunged: &[u32]) -> Result<u64, MailError> {
        modseq::bump(&self.folder(name)?, uids, expunged).map_err(internal)
    }

    fn copy(
        &self,
        from: &str,
        uid: u32,
        to: &str,
        flags: &Flags,
        date: SystemTime,
    ) -> Result<Stored, MailError> {
        let target = self.folder(to)?;
        let delivered = self
            .account
            .copy_dated(from, uid, to, self.user.as_ref(), date)
            .map_err(account_error)?;
        if *flags != Flags::new() {
            flags::set_flags(&target, delivered.uid, flags).map_err(flags_error)?;
        }
        Ok(Stored {
            uid_validity: uid_validity(&target)?,
            uid: delivered.uid,
        })
    }

    fn claim_recent(&self, name: &str, upto: u32) -> Result<u32, MailError> {
        modseq::claim_recent(&self.folder(name)?, upto).map_err(internal)
    }

    fn expunge(&self, name: &str, uid: u32) -> Result<(), MailError> {
        match self.account.expunge(name, uid) {
            Err(AccountError::Deliver(DeliverError::NoSuchUid { .. })) => Ok(()),
            other => other.map_err(account_error),
        }
    }

    fn quota(&self) -> Result<(u64, u64), MailError> {
        let used = store::maildir::usage(&self.account.maildir).map_err(internal)?;
        Ok((used, self.account.quota.unwrap_or(0)))
    }
}

fn uid_validity(folder: &store::folder::Folder) -> Result<u32, MailError> {
    Ok(store::maildir::read_uidlist(folder)
        .map_err(internal)?
        .map_or(1, |l| l.uid_validity))
}

fn internal(e: impl std::fmt::Display) -> MailError {
    MailError::Internal(e.to_string())
}

fn account_error(e: AccountError) -> MailError {
    match e {
        AccountError::NoMailbox(_) => MailError::NoMailbox,
        // The file went away between lookup and read: expunged by another session.
        AccountError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            MailError::Expunged
        }
        AccountError::Folder(FolderError::InvalidName(_)) => MailError::InvalidName,
        AccountError::Deliver(DeliverError::OverQuota { .. }) => MailError::OverQuota,
        AccountError::Deliver(DeliverError::NoMailbox(_)) => MailError::NoMailbox,
        AccountError::Deliver(DeliverError::NoSuchUid { .. }) => MailError::Expunged,
        AccountError::Keys(
            e @ (KeysError::NoFolderKey { .. }
            | KeysError::UserKeyUnavailable { .. }
            | KeysError::PasswordRequired
            | KeysError::WrongPassword
            | KeysError::NoUserKey),
        ) => MailError::Unreadable(e.to_string()),
        AccountError::Open(e) => MailError::Unreadable(e.to_string()),
        AccountError::NoUserKey => MailError::Unreadable(AccountError::NoUserKey.to_string()),
        e => internal(e),
    }
}

fn mailbox_error(e: MailboxError) -> MailError {
    match e {
        MailboxError::NoMailbox(_) => MailError::NoMailbox,
        MailboxError::Exists(_) => MailError::Exists,
        MailboxError::Inbox => MailError::Inbox,
        MailboxError::Folder(FolderError::InvalidName(_)) => MailError::InvalidName,
        e => internal(e),
    }
}

fn flags_error(e: FlagsError) -> MailError {
    match e {
        FlagsError::Message(DeliverError::NoSuchUid { .. }) | FlagsError::Vanished { .. } => {
            MailError::Expunged
        }
        e => internal(e),
    }
}
