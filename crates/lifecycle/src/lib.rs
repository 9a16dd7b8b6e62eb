//! The key lifecycle of a tresor user, as operations the CLI and the web page both call:
//! password change ([`passwd`]), recovery codes ([`recovery`]), [`verify`] and [`prune`],
//! encrypting and decrypting a mailbox in place ([`convert`]) and key rotation ([`rotate`]).
//!
//! Every operation is crash-safe by construction and says how: each step leaves a state in
//! which the old or the new password works and every message opens, and running the same
//! command again finishes the job. The steps are numbered fault points ([`fault`]) that the
//! integration tests abort at, one by one.
//!
//! This crate works on one user's files (through `store` and `keys`) and reaches the userdb
//! only through the [`login::Login`] trait, so it knows no SQL. It never writes plaintext of an
//! encrypted user's mail to disk; only [`convert::decrypt`] writes plaintext, because that is
//! what it is for. It prints nothing: progress goes through [`progress::Progress`].

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

pub mod convert;
pub mod error;
pub mod fault;
pub mod guard;
pub mod login;
pub mod messages;
pub mod passwd;
pub mod progress;
pub mod prune;
pub mod recovery;
pub mod rotate;
pub mod verify;

pub use error::LifecycleError;
pub use login::{Login, LoginError};
pub use progress::{NoProgress, Progress};
