//! tresor's IMAP4rev1 server (RFC 3501 with IDLE, UIDPLUS, MOVE, UNSELECT, NAMESPACE, ID,
//! ENABLE, LITERAL+, SASL-IR, SPECIAL-USE, CHILDREN, QUOTA, CONDSTORE, SORT, LIST-EXTENDED and
//! LIST-STATUS and ESEARCH), serving Maildirs that stay byte-compatible with Dovecot.
//!
//! [`Session`] is the protocol as a state machine: bytes in, bytes and events out. It opens
//! no sockets and reads no clock; it reaches the userdb, the keys and the store only through
//! the blocking traits of [`backend`] ([`account::StoreMail`] is the store implementation).
//! [`listen`] is the thin tokio shell: TCP, implicit TLS and STARTTLS. Nothing decrypted is
//! written anywhere; unlocked keys live in the session's [`backend::Mail`] and are dropped
//! (zeroized) at logout.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

pub mod account;
pub mod backend;
mod commands;
mod esearch;
mod fetch;
pub mod listen;
mod listext;
pub mod reply;
mod search;
mod selected;
mod session;
mod wire;

pub use backend::{Authenticator, LoginError, Mail, MailError, SpecialUse, Stored};
pub use session::{Event, Options, Peer, Session, State};
