//! Where tresor keeps mail-crypt keys: Dovecot's per-user `dovecot-attributes` dict file
//! (`../shared/spec/mail-crypt-format.md` §5.3–5.4), shared byte for byte with a Dovecot 2.3
//! running on the same Maildir.
//!
//! [`attributes`] holds the file's record codec and its read-modify-write under Dovecot's own
//! dotlock (through the `dotlock` crate); [`keystore`] the keys in it. It does file IO under the user's home and nothing else: no
//! cryptography (that is `mailcrypt`'s job) and no network.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

pub mod attributes;
pub mod keystore;
pub mod rotation;
pub mod strong;
pub mod wraps;

pub use keystore::{FolderKeys, KeyEntry, KeyStore, Keyring, Keys, KeysError, Owner, UnlockedUser};
