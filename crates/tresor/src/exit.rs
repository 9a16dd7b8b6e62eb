//! One place that maps errors to exit codes, so scripts can tell failures apart.

use keys::KeysError;
use mailcrypt::OpenError;

/// Exit codes (documented in the README).
pub(crate) const WRONG_PASSWORD: u8 = 3;
pub(crate) const NO_KEY: u8 = 4;
pub(crate) const TAMPERED: u8 = 5;
pub(crate) const TRUNCATED: u8 = 6;
pub(crate) const NOT_MAIL_CRYPT: u8 = 7;

/// The exit code for an error chain: the first error in it that we recognise decides.
pub(crate) fn code(e: &anyhow::Error) -> u8 {
    for cause in e.chain() {
        if let Some(k) = cause.downcast_ref::<KeysError>() {
            return match k {
                KeysError::WrongPassword | KeysError::PasswordRequired => WRONG_PASSWORD,
                KeysError::NoFolderKey { .. }
                | KeysError::NoActiveFolderKey(_)
                | KeysError::NoUserKey
                | KeysError::UserKeyUnavailable { .. } => NO_KEY,
                _ => 1,
            };
        }
        if let Some(o) = cause.downcast_ref::<OpenError>() {
            return match o {
                OpenError::TagMismatch | OpenError::KeyUnwrap | OpenError::Malformed(_) => TAMPERED,
                OpenError::Truncated(_) => TRUNCATED,
                OpenError::NotMailCrypt(_) => NOT_MAIL_CRYPT,
                OpenError::NoKey { .. } => NO_KEY,
                _ => 1,
            };
        }
    }
    1
}
