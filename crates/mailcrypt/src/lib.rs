//! Dovecot 2.3 mail-crypt formats, byte for byte: key strings, key ids, PEM import and export,
//! and sealed mail files (v2 read and write, v1 read).
//!
//! This crate holds bytes only: it never opens a file or a socket. `keys` and `store` build
//! on it. Every parser works over untrusted input through a checked cursor and never panics.
//!
//! The format is described in `SPEC.md` beside this crate, which maps each item to the shared
//! specification (`../shared/spec/mail-crypt-format.md`, cited as `SPEC §n`).
//!
//! The promise that matters most: [`open`] and [`SealedFile::decrypt`] verify the GCM tag
//! before they return a single byte of plaintext (Dovecot streams first and checks at EOF).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod aes;
mod digest;
mod ecdh;
mod error;
mod file;
pub mod index;
mod key;
mod keystring;
mod mpi;
mod pem;
mod reader;
mod sha256_kdf;

pub use digest::HashAlg;
pub use error::{KeyError, OpenError};
pub use file::{
    FileKey, Integrity, MAGIC, Plaintext, PreparedWrap, Recipient, SealedFile, Sealer, is_sealed,
    open, seal, seal_keyed, seal_prepared,
};
pub use key::{Curve, KeyId, PrivateKey, PublicKey};
pub use keystring::{PrivateKeyString, Wrap, WrapWith};
pub use pem::{PemKey, parse_pem, private_from_pkcs8_der};
