//! Dovecot-compatible Maildir++ store: reads and writes a Maildir exactly as Dovecot 2.3 lays it
//! out, so tresor and Dovecot can take turns on the same mail.
//!
//! Laid out along a message's path: [`folder`] (names → Maildir++ directories, modified UTF-7
//! in [`mutf7`]), [`uidlist`] (UIDs and the mailbox GUID a folder's keys are filed under — never
//! regenerated), [`maildir`] (crash-safe delivery, lookup, expunge), [`flags`] (flag letters and
//! `dovecot-keywords`), [`subscriptions`], and [`account`], one user's mail tying the Maildir to
//! the keys, behind the [`mailstore::MailStore`] trait that a later object-store backend can
//! implement. No plaintext of an encrypted user's mail is ever written.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

pub mod account;
pub mod flags;
pub mod folder;
pub mod keyindex;
pub mod mailbox;
pub mod maildir;
pub mod mailstore;
pub mod modseq;
pub mod mutf7;
pub mod sealpool;
pub mod subscriptions;
pub mod uidlist;
