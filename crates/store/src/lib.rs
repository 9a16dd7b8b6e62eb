//! Dovecot-compatible Maildir++ store: reads and writes a Maildir exactly as Dovecot 2.3 lays it
//! out, so tresor and Dovecot can take turns on the same mail.
//!
//! So far this crate holds [`uidlist`]: the `dovecot-uidlist` file, which maps UIDs to Maildir
//! file names and holds the mailbox GUID that a folder's mail-crypt keys are filed under
//! (`../shared/spec/mail-crypt-format.md` §5.3). It never generates a mailbox GUID.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

pub mod account;
pub mod folder;
pub mod maildir;
pub mod mailstore;
pub mod mutf7;
pub mod uidlist;
