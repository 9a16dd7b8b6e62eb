//! The server side of Dovecot's auth-client protocol, so that Postfix (`smtpd_sasl_type =
//! dovecot`, `smtpd_sasl_path = private/auth`) checks SMTP AUTH logins against tresor.
//!
//! - [`Session`]: one connection as a state machine: the handshake, `AUTH`/`CONT`/`CANCEL`,
//!   SASL PLAIN and LOGIN, tab-escaping, and the `OK`/`CONT`/`FAIL` replies. It does no IO,
//!   reads no clock and never sleeps; it asks its driver to check passwords
//!   ([`Event::Authenticate`]) and to hold failure replies back ([`Event::DelayedOutput`]).
//! - [`Penalty`]: failed-login counters per client and per username, and the delay policy.
//! - [`listen`]: the tokio listener (unix socket, optional loopback TCP) that drives sessions
//!   and calls an [`Authenticator`](listen::Authenticator).
//!
//! The protocol is Dovecot 2.3's (`src/auth/auth-client-connection.c`,
//! `auth-request-handler.c`, `mech-plain.c`, `mech-login.c`), restricted to what an SMTP
//! server needs: no master/userdb socket, no login cookies checked, no mechanisms but PLAIN
//! and LOGIN. This crate never logs and never holds a password longer than one request;
//! input buffers and passwords are zeroed after use.
//!
//! # Wire transcript (Postfix)
//!
//! ```text
//! S: VERSION 1 2 / MECH PLAIN plaintext / MECH LOGIN plaintext / SPID <pid> / CUID <n> /
//!    COOKIE <32 hex> / DONE
//! C: VERSION 1 0 / CPID <pid>
//! C: AUTH 1 PLAIN service=smtp nologin lip=… rip=… secured resp=<base64>
//! S: OK 1 user=<name>          or    FAIL 1 user=<name>
//! ```
//!
//! (fields are separated by TAB, lines end in LF.)

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

mod error;
mod event;
mod handshake;
mod input;
pub mod listen;
mod mech;
mod penalty;
mod session;
mod wire;

pub use error::{ApiMisuse, ProtocolError};
pub use event::{AuthFailure, Event, Interrupt, RequestId, RequestInfo};
pub use handshake::Handshake;
pub use mech::Mechanism;
pub use penalty::{Penalty, PenaltyOptions};
pub use session::{Options, Session};
