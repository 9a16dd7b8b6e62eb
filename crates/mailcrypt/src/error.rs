//! Typed errors. Crypto failures stay coarse: they say *that* something did not verify, never
//! which byte was wrong.

use crate::KeyId;

/// Why a key string, PEM document or key could not be read or unlocked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The text is not a well-formed key of the named kind; it was damaged or is not a key.
    #[error("malformed key: bad {0}")]
    Malformed(&'static str),
    /// Well-formed, but uses a curve, cipher, hash or format tresor does not implement.
    #[error("unsupported key: {0}")]
    Unsupported(String),
    /// The point is not on the curve, or the scalar is out of range.
    #[error("invalid key: not a valid point or scalar for its curve")]
    InvalidKey,
    /// The password did not unlock the key. Check the password; if the login password was
    /// changed without re-wrapping the key, the old password is still the key's password.
    #[error("wrong password for key {0}")]
    WrongPassword(KeyId),
    /// The key is password-protected and no password was given.
    #[error("key {0} is password-protected and no password was given")]
    PasswordRequired(KeyId),
    /// The key is encrypted to another key (`by`), which must be unlocked first.
    #[error("key {id} is encrypted to key {by}; unlock that key first")]
    KeyRequired {
        /// The key being loaded.
        id: KeyId,
        /// The key it is encrypted to.
        by: KeyId,
    },
    /// The decryption key given is not the one this key is encrypted to.
    #[error("key {id} is encrypted to key {by}, not to key {given}")]
    WrongKey {
        /// The key being loaded.
        id: KeyId,
        /// The key it is encrypted to.
        by: KeyId,
        /// The key that was offered.
        given: KeyId,
    },
    /// The key decrypted, but not to a valid key with the stored id: the key string is
    /// corrupted or was encrypted to a different key with the same id.
    #[error("key {0} did not decrypt to the key it claims to be (corrupted key string)")]
    Corrupted(KeyId),
    /// The stored id does not match the key material (SPEC §4.2 "Key id mismatch after load").
    #[error("key id mismatch: the string says {stored}, the key is {actual}")]
    IdMismatch {
        /// The id written in the key string.
        stored: KeyId,
        /// The id computed from the key.
        actual: KeyId,
    },
    /// An ECDH peer is on a different curve than the key.
    #[error("the two keys are on different curves")]
    CurveMismatch,
}

/// Why a sealed mail file could not be opened. No plaintext is ever released with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The data does not start with the mail-crypt magic, or carries an unknown version byte.
    #[error("not a mail-crypt file{}", match .0 { Some(v) => format!(" (unknown format version 0x{v:02x})"), None => String::new() })]
    NotMailCrypt(Option<u8>),
    /// The file ends before its header, or before its authentication tag: it was cut short
    /// (a crash during a copy, a full disk). Restore it from a backup.
    #[error("truncated file: it ends before its {0} is complete")]
    Truncated(&'static str),
    /// The header is not well formed: the file is damaged or was tampered with.
    #[error("malformed header: bad {0} (file damaged or tampered with)")]
    Malformed(&'static str),
    /// Well formed, but uses something tresor does not implement (cipher, hash, RSA recipient,
    /// or no integrity protection).
    #[error("unsupported mail-crypt file: {0}")]
    Unsupported(String),
    /// None of the file's recipient keys is available. `ids` are the recipients named in the
    /// file (hex); the folder key with that id is missing or could not be unlocked.
    #[error("no key with id {} is available", .ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(" or "))]
    NoKey {
        /// The recipient key ids the file names.
        ids: Vec<KeyId>,
    },
    /// The per-file key did not unwrap or failed its check value: the header was tampered
    /// with, or the key with the right id is not the key the file was sealed to.
    #[error("the file key did not unwrap (header tampered with, or wrong key)")]
    KeyUnwrap,
    /// The authentication tag does not match: the content was modified after sealing.
    #[error("authentication tag mismatch: the file was modified after it was sealed (tampered)")]
    TagMismatch,
    /// A key operation failed.
    #[error(transparent)]
    Key(#[from] KeyError),
}
