//! tresor's LMTP server (RFC 2033): Postfix hands mail to it as it did to Dovecot's.
//!
//! - [`Session`]: the protocol as a plain state machine. Bytes go in, [`Event`]s come out:
//!   bytes to write, a recipient to check, a message to deliver, the end. It opens no
//!   sockets, reads no clock and touches no files, so every behaviour is tested as a
//!   transcript (`tests/session.rs`).
//! - [`listen`](crate::listen()) and [`serve_connection`]: the thin tokio shell (TCP and unix
//!   sockets, idle timeout, graceful shutdown) that drives sessions against a [`Handler`].
//! - [`trace_headers`]: the `Return-Path`, `Delivered-To` and `Received` headers Dovecot's
//!   LMTP prepends, byte for byte; [`split_detail`] for `user+detail@domain`.
//!
//! This crate never does crypto, file IO or user lookups itself: the [`Handler`] does,
//! through `userdb` and `store`.
//!
//! Extensions advertised in the LHLO reply: PIPELINING, ENHANCEDSTATUSCODES, 8BITMIME,
//! SIZE and CHUNKING (BDAT).

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

mod address;
mod event;
mod handler;
mod listen;
mod reply;
mod session;
mod trace;

pub use address::split_detail;
pub use event::{ApiMisuse, DeliveryOutcome, Envelope, Event, RcptId, RcptVerdict, Recipient};
pub use handler::{Handler, ListenAddr, ListenOptions, PeerInfo};
pub use listen::{Bound, bind, listen, serve_connection, serve_connection_until};
pub use session::{Session, SessionConfig};
pub use trace::{Timestamp, trace_headers, transaction_id};
