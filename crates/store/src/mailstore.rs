//! The storage interface the delivery path and the servers use for one user's mail.
//!
//! [`Account`] implements it on a Dovecot-compatible Maildir (the embedded default). A later
//! backend for deployments that outgrow one machine — message blobs in an S3-compatible
//! object store, metadata and keys in PostgreSQL — implements the same trait; callers never
//! see paths.

use keys::UnlockedUser;
use zeroize::Zeroizing;

use crate::account::{Account, AccountError};
use crate::maildir::Delivered;

/// One user's mailboxes and messages. Every read returns verified plaintext; every write is
/// durable (and sealed for an encrypted user) when it returns.
pub trait MailStore {
    /// Mailbox names, INBOX first.
    fn mailboxes(&self) -> Result<Vec<String>, AccountError>;
    /// Creates a mailbox if it does not exist.
    fn create_mailbox(&self, name: &str) -> Result<(), AccountError>;
    /// Stores a message as received (CRLF or LF) and returns its UID.
    fn deliver(&self, mailbox: &str, raw: &[u8]) -> Result<Delivered, AccountError>;
    /// The stored bytes of a message; `user` unlocks an encrypted user's keys.
    fn fetch(
        &self,
        mailbox: &str,
        uid: u32,
        user: Option<&UnlockedUser>,
    ) -> Result<Zeroizing<Vec<u8>>, AccountError>;
    /// Copies a message to another mailbox, re-sealed to that mailbox's key.
    fn copy(
        &self,
        from: &str,
        uid: u32,
        to: &str,
        user: Option<&UnlockedUser>,
    ) -> Result<Delivered, AccountError>;
    /// Moves a message to another mailbox (copy, then expunge the source).
    fn move_message(
        &self,
        from: &str,
        uid: u32,
        to: &str,
        user: Option<&UnlockedUser>,
    ) -> Result<Delivered, AccountError>;
    /// Removes a message.
    fn expunge(&self, mailbox: &str, uid: u32) -> Result<(), AccountError>;
}

impl MailStore for Account {
    fn mailboxes(&self) -> Result<Vec<String>, AccountError> {
        Ok(self.folders()?.into_iter().map(|f| f.name).collect())
    }

    fn create_mailbox(&self, name: &str) -> Result<(), AccountError> {
        Self::create_mailbox(self, name).map(|_| ())
    }

    fn deliver(&self, mailbox: &str, raw: &[u8]) -> Result<Delivered, AccountError> {
        Self::deliver(self, mailbox, raw)
    }

    fn fetch(
        &self,
        mailbox: &str,
        uid: u32,
        user: Option<&UnlockedUser>,
    ) -> Result<Zeroizing<Vec<u8>>, AccountError> {
        Self::fetch(self, mailbox, uid, user)
    }

    fn copy(
        &self,
        from: &str,
        uid: u32,
        to: &str,
        user: Option<&UnlockedUser>,
    ) -> Result<Delivered, AccountError> {
        Self::copy(self, from, uid, to, user)
    }

    fn move_message(
        &self,
        from: &str,
        uid: u32,
        to: &str,
        user: Option<&UnlockedUser>,
    ) -> Result<Delivered, AccountError> {
        Self::move_message(self, from, uid, to, user)
    }

    fn expunge(&self, mailbox: &str, uid: u32) -> Result<(), AccountError> {
        Self::expunge(self, mailbox, uid)
    }
}
