//! What a session needs from the outside world, as two traits: [`Authenticator`] (userdb and
//! key unlock) and [`Mail`] (one logged-in user's mailboxes). Both are blocking: the listener
//! calls the session from a blocking thread. [`crate::account::StoreMail`] implements [`Mail`]
//! on tresor's Maildir store.

use std::path::Path;
use std::time::SystemTime;

use store::flags::Flags;
use store::mailbox::{Snapshot, Stamp};
use zeroize::Zeroizing;

/// Checks credentials and opens the user's mail.
pub trait Authenticator: Send + Sync {
    /// Verifies `password` for `username` and, for an encrypted user, unlocks the user's keys
    /// with it. The returned [`Mail`] holds the key material for the session.
    fn login(&self, username: &str, password: &[u8]) -> Result<Box<dyn Mail>, LoginError>;
}

/// Why a login was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoginError {
    /// Unknown user or wrong password (`NO [AUTHENTICATIONFAILED]`).
    #[error("authentication failed")]
    Rejected,
    /// The password is right but the user's mail cannot be opened (key password out of sync,
    /// no key pair): `NO [UNAVAILABLE]`; the admin has a log line saying what to run.
    #[error("mailbox unavailable: {0}")]
    Unavailable(String),
    /// The userdb or the store failed (`NO [UNAVAILABLE]`, try later).
    #[error("temporary failure: {0}")]
    TemporaryFailure(String),
}

/// SPECIAL-USE attribute of a mailbox (RFC 6154).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SpecialUse {
    /// `\Archive`
    Archive,
    /// `\Drafts`
    Drafts,
    /// `\Junk`
    Junk,
    /// `\Sent`
    Sent,
    /// `\Trash`
    Trash,
}

impl SpecialUse {
    /// The attribute as sent in LIST.
    pub const fn attribute(self) -> &'static str {
        match self {
            Self::Archive => "\\Archive",
            Self::Drafts => "\\Drafts",
            Self::Junk => "\\Junk",
            Self::Sent => "\\Sent",
            Self::Trash => "\\Trash",
        }
    }

    /// Parses `\Drafts`, `Drafts` (any case).
    pub fn parse(text: &str) -> Option<Self> {
        let t = text.trim_start_matches('\\');
        [
            Self::Archive,
            Self::Drafts,
            Self::Junk,
            Self::Sent,
            Self::Trash,
        ]
        .into_iter()
        .find(|s| {
            s.attribute()
                .get(1..)
                .is_some_and(|a| a.eq_ignore_ascii_case(t))
        })
    }
}

/// The result of APPEND, COPY or MOVE of one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stored {
    /// UIDVALIDITY of the target mailbox.
    pub uid_validity: u32,
    /// The new message's UID.
    pub uid: u32,
}

/// One logged-in user's mail. Names are UTF-8 mailbox names (`INBOX`, `Sent`, `A.B`).
pub trait Mail: Send {
    /// Every mailbox, INBOX first.
    fn mailboxes(&self) -> Result<Vec<String>, MailError>;
    /// Subscribed mailbox names.
    fn subscriptions(&self) -> Result<Vec<String>, MailError>;
    /// Subscribes (`on`) or unsubscribes.
    fn subscribe(&self, name: &str, on: bool) -> Result<(), MailError>;
    /// Creates a mailbox; [`MailError::Exists`] when it exists.
    fn create(&self, name: &str) -> Result<(), MailError>;
    /// Deletes a mailbox.
    fn delete(&self, name: &str) -> Result<(), MailError>;
    /// Renames a mailbox (with its children).
    fn rename(&self, from: &str, to: &str) -> Result<(), MailError>;
    /// The mailbox's messages now.
    fn snapshot(&self, name: &str) -> Result<Snapshot, MailError>;
    /// A cheap change fingerprint of the mailbox.
    fn stamp(&self, name: &str) -> Stamp;
    /// The verified stored bytes (LF line ends) of message `uid`; `path` is where the last
    /// snapshot saw its file (a hint: the file is looked up again when it has moved).
    fn read(
        &self,
        name: &str,
        uid: u32,
        path: Option<&Path>,
    ) -> Result<Zeroizing<Vec<u8>>, MailError>;
    /// Stores a message (sealed for an encrypted user) with flags and internal date.
    fn append(
        &self,
        name: &str,
        raw: &[u8],
        flags: &Flags,
        date: Option<SystemTime>,
    ) -> Result<Stored, MailError>;
    /// Gives message `uid` exactly `flags`.
    fn set_flags(&self, name: &str, uid: u32, flags: &Flags) -> Result<(), MailError>;
    /// Gives `uids` a new CONDSTORE mod-sequence and forgets `expunged`; returns the new value.
    fn bump_modseq(&self, name: &str, uids: &[u32], expunged: &[u32]) -> Result<u64, MailError>;
    /// Copies message `uid` (re-sealed to the target's key) with `flags` and internal `date`.
    fn copy(
        &self,
        from: &str,
        uid: u32,
        to: &str,
        flags: &Flags,
        date: SystemTime,
    ) -> Result<Stored, MailError>;
    /// Marks messages up to `upto` as seen by a selecting session; returns the UID up to
    /// which they were already claimed (higher UIDs are `\Recent` for this session).
    fn claim_recent(&self, name: &str, upto: u32) -> Result<u32, MailError>;
    /// Removes message `uid`.
    fn expunge(&self, name: &str, uid: u32) -> Result<(), MailError>;
    /// Quota: (bytes used, limit in bytes; 0 = none).
    fn quota(&self) -> Result<(u64, u64), MailError>;
}

/// Why a mail operation failed; [`crate::reply::reply_for_mail`] maps it to the wire.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MailError {
    /// The mailbox does not exist (`NO [NONEXISTENT]`).
    #[error("mailbox does not exist")]
    NoMailbox,
    /// The mailbox exists already (`NO [ALREADYEXISTS]`).
    #[error("mailbox exists already")]
    Exists,
    /// The name is not a valid mailbox name (`NO [CANNOT]`).
    #[error("invalid mailbox name")]
    InvalidName,
    /// INBOX cannot be deleted or renamed (`NO [CANNOT]`).
    #[error("INBOX cannot be deleted or renamed")]
    Inbox,
    /// The message is gone (expunged by another session).
    #[error("message has been expunged")]
    Expunged,
    /// Over quota (`NO [OVERQUOTA]`).
    #[error("over quota")]
    OverQuota,
    /// The message cannot be decrypted (a key is missing or the file is damaged):
    /// `NO [UNAVAILABLE]`, and the admin gets a log line.
    #[error("message cannot be opened: {0}")]
    Unreadable(String),
    /// Anything else (`NO [SERVERBUG]`); the text is for the log only.
    #[error("internal error: {0}")]
    Internal(String),
}
