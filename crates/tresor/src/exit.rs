//! One place that maps errors to exit codes, so scripts can tell failures apart.

use keys::KeysError;
use lifecycle::LifecycleError;
use mailcrypt::OpenError;
use store::account::AccountError;
use store::maildir::DeliverError;

use crate::cli::lifecycle::VerifyFailed;
use crate::context::UnknownUser;

/// Exit codes (documented in the README).
const OTHER: u8 = 1;
const WRONG_PASSWORD: u8 = 3;
const NO_KEY: u8 = 4;
const TAMPERED: u8 = 5;
const TRUNCATED: u8 = 6;
const NOT_MAIL_CRYPT: u8 = 7;
const VERIFY_FAILED: u8 = 8;
/// sysexits.h codes, as dovecot-lda uses them for delivery.
const EX_NOUSER: u8 = 67;
const EX_TEMPFAIL: u8 = 75;
const EX_NOPERM: u8 = 77;

/// The exit code for an error chain: the first error in it that we recognise decides.
pub(crate) fn code(e: &anyhow::Error) -> u8 {
    e.chain()
        .find_map(|cause| {
            if cause.downcast_ref::<UnknownUser>().is_some() {
                return Some(EX_NOUSER);
            }
            if let Some(a) = cause.downcast_ref::<AccountError>() {
                return Some(account(a));
            }
            if let Some(d) = cause.downcast_ref::<DeliverError>() {
                return Some(deliver(d));
            }
            if cause.downcast_ref::<VerifyFailed>().is_some() {
                return Some(VERIFY_FAILED);
            }
            if let Some(l) = cause.downcast_ref::<LifecycleError>() {
                return Some(lifecycle(l));
            }
            if let Some(k) = cause.downcast_ref::<KeysError>() {
                return Some(keys(k));
            }
            cause.downcast_ref::<OpenError>().map(open)
        })
        .unwrap_or(OTHER)
}

fn account(e: &AccountError) -> u8 {
    match e {
        AccountError::Deliver(d) => deliver(d),
        AccountError::Keys(k) => keys(k),
        AccountError::Open(o) => open(o),
        AccountError::NoUserKey => EX_TEMPFAIL,
        _ => OTHER,
    }
}

fn lifecycle(e: &LifecycleError) -> u8 {
    match e {
        LifecycleError::WrongPassword
        | LifecycleError::WrongRecoveryCode
        | LifecycleError::RecoveryCodeRequired
        | LifecycleError::KeysDoNotOpen { .. } => WRONG_PASSWORD,
        LifecycleError::Busy => EX_TEMPFAIL,
        LifecycleError::Keys(k) => keys(k),
        LifecycleError::Account(a) => account(a),
        LifecycleError::Message { source, .. } => account(source),
        LifecycleError::Open(o) => open(o),
        _ => OTHER,
    }
}

fn deliver(e: &DeliverError) -> u8 {
    match e {
        DeliverError::OverQuota { .. } => EX_NOPERM,
        DeliverError::Io { .. } | DeliverError::Lock(_) => EX_TEMPFAIL,
        _ => OTHER,
    }
}

fn keys(e: &KeysError) -> u8 {
    match e {
        KeysError::WrongPassword | KeysError::PasswordRequired => WRONG_PASSWORD,
        KeysError::NoFolderKey { .. }
        | KeysError::NoActiveFolderKey(_)
        | KeysError::NoUserKey
        | KeysError::UserKeyUnavailable { .. } => NO_KEY,
        _ => OTHER,
    }
}

fn open(e: &OpenError) -> u8 {
    match e {
        OpenError::TagMismatch | OpenError::KeyUnwrap | OpenError::Malformed(_) => TAMPERED,
        OpenError::Truncated(_) => TRUNCATED,
        OpenError::NotMailCrypt(_) => NOT_MAIL_CRYPT,
        OpenError::NoKey { .. } => NO_KEY,
        _ => OTHER,
    }
}
