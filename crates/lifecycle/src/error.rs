//! Why a lifecycle operation failed; every variant says what the admin can do next.

use std::path::PathBuf;

use keys::KeysError;
use mailcrypt::{KeyId, OpenError};
use store::account::AccountError;
use store::maildir::DeliverError;
use store::uidlist::UidlistError;

use crate::login::LoginError;

/// Why a lifecycle operation failed. After any of these nothing is half-done: the files are in
/// a state the same command finishes when run again.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LifecycleError {
    /// The password is not the user's login password (or does not open the user's keys).
    /// Nothing was changed.
    #[error(
        "wrong password; nothing was changed (a user who lost the password can be reset with a recovery code: `tresor user reset EMAIL --recovery-code-stdin`)"
    )]
    WrongPassword,
    /// A reset without the old password needs a recovery code.
    #[error(
        "refused: a password cannot be reset without the old one, because the old password unlocks the user's mail keys; use a recovery code (`tresor user reset EMAIL --recovery-code-stdin`, codes are made with `tresor key recovery EMAIL`); only a user without mail keys can be reset with --password-stdin"
    )]
    RecoveryCodeRequired,
    /// The recovery code opens none of the user's recovery slots (mistyped, or already used).
    /// Nothing was changed.
    #[error(
        "the recovery code is wrong or was already used; nothing was changed (codes are good for one reset)"
    )]
    WrongRecoveryCode,
    /// The new password is empty.
    #[error("the new password may not be empty")]
    EmptyPassword,
    /// Some user private keys do not open with the login password (left over from an earlier
    /// password); re-wrap them first with `tresor key password EMAIL` (old key password, then
    /// the login password).
    #[error(
        "user key(s) {} do not open with the login password; re-wrap them first with `tresor key password EMAIL`", ids.join(", ")
    )]
    KeysDoNotOpen {
        /// The key ids.
        ids: Vec<String>,
    },
    /// The account is not encrypted (crypt=0); run `tresor mailbox encrypt` first.
    #[error("the user's mail is not encrypted (crypt=0); run `tresor mailbox encrypt EMAIL` first")]
    NotEncrypted,
    /// `key prune` was asked to remove a key that is still needed.
    #[error("key {id} is still referenced by {by}; not removed (nothing was removed)")]
    KeyReferenced {
        /// The key.
        id: KeyId,
        /// What references it.
        by: String,
    },
    /// `key prune` was asked for a key the user does not have.
    #[error("the user has no key {0}")]
    UnknownKey(KeyId),
    /// A message did not open while re-sealing or decrypting it; it was left as it is. Run
    /// `tresor mailbox verify EMAIL` for the full list.
    #[error("{mailbox} {}: {source}", file.display())]
    Message {
        /// The mailbox.
        mailbox: String,
        /// The file.
        file: PathBuf,
        /// Why it did not open.
        source: Box<AccountError>,
    },
    /// The rotation journal is damaged; remove it only after `tresor mailbox verify` passes.
    #[error("rotation journal {}: {reason}", path.display())]
    Journal {
        /// The journal file.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },
    /// Another lifecycle command is running for this user; wait for it to finish.
    #[error(
        "another key lifecycle command is running for this user (tresor-lifecycle.lock is held); wait for it and try again"
    )]
    Busy,
    /// A key operation failed.
    #[error(transparent)]
    Keys(#[from] KeysError),
    /// A store operation failed.
    #[error(transparent)]
    Account(#[from] AccountError),
    /// A Maildir operation failed.
    #[error(transparent)]
    Deliver(#[from] DeliverError),
    /// A folder's uidlist is missing or damaged.
    #[error(transparent)]
    Uidlist(#[from] UidlistError),
    /// A sealed file is damaged.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// Sealing failed.
    #[error("sealing: {0}")]
    Seal(#[from] mailcrypt::KeyError),
    /// The userdb failed.
    #[error(transparent)]
    Login(#[from] LoginError),
    /// The system's random source failed.
    #[error("no randomness available from the operating system")]
    Random,
    /// A file operation failed (permissions, full disk, …); run the command again when fixed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// On which path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

pub(crate) fn io_err(
    action: &'static str,
    path: &std::path::Path,
    source: std::io::Error,
) -> LifecycleError {
    LifecycleError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}
