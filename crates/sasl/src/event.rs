//! What a [`Session`](crate::Session) asks of its driver, and the values it hands over.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::error::ProtocolError;
use crate::mech::Mechanism;
#[cfg(doc)]
use crate::{Penalty, Session};

/// What the driver must do next; returned by [`Session::next`].
///
/// Exhaustive on purpose: a driver must handle every event.
pub enum Event {
    /// Write these bytes to the client now.
    Output(Vec<u8>),
    /// Write these bytes (an `OK` or `FAIL` reply) once `delay` has passed; keep serving the
    /// connection meanwhile. See [`Penalty`] for how long and why.
    DelayedOutput {
        /// The request the reply answers.
        id: RequestId,
        /// How long to hold the reply back.
        delay: Duration,
        /// The reply line.
        bytes: Vec<u8>,
    },
    /// Check this password, then call [`Session::auth_result`] with the same `id`.
    Authenticate {
        /// The request to answer.
        id: RequestId,
        /// The login name as the client sent it (PLAIN's authcid, LOGIN's username).
        username: String,
        /// The password; wiped from memory when dropped.
        password: Zeroizing<Vec<u8>>,
        /// Where the request came from, for logging.
        info: RequestInfo,
    },
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Output lines carry no password, only user names and challenges.
            Self::Output(bytes) => f
                .debug_tuple("Output")
                .field(&String::from_utf8_lossy(bytes))
                .finish(),
            Self::DelayedOutput { id, delay, bytes } => f
                .debug_struct("DelayedOutput")
                .field("id", id)
                .field("delay", delay)
                .field("bytes", &String::from_utf8_lossy(bytes))
                .finish(),
            Self::Authenticate {
                id, username, info, ..
            } => f
                .debug_struct("Authenticate")
                .field("id", id)
                .field("username", username)
                .field("password", &"<redacted>")
                .field("info", info)
                .finish(),
        }
    }
}

/// Why [`Session::next`] returned no event.
#[must_use = "an Error means the connection must be closed"]
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Interrupt {
    /// Nothing to do until more bytes arrive or a pending [`Session::auth_result`] is given.
    NeedMoreInput,
    /// The client broke the protocol: close the connection without writing more.
    Error(ProtocolError),
}

/// Why a login failed, as given to [`Session::auth_result`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthFailure {
    /// The user does not exist or the password is wrong; counted by [`Penalty`].
    Rejected,
    /// The user database could not be asked; sent as `code=temp_fail` (Dovecot's
    /// `AUTH_CLIENT_FAIL_CODE_TEMPFAIL`), not counted.
    Unavailable,
}

/// The id a client gave a request (`AUTH TAB <id>`), unique among its open requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u32);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The parameters of an `AUTH` request that tresor reads.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestInfo {
    /// The SASL mechanism.
    pub mechanism: Mechanism,
    /// `service=`: the client's protocol (`smtp` for Postfix).
    pub service: String,
    /// `rip=`: the address of the end user's client, when given and valid.
    pub remote_ip: Option<IpAddr>,
    /// `lip=`: the address the end user connected to, when given and valid.
    pub local_ip: Option<IpAddr>,
    /// `secured`: the end user's connection is TLS (or otherwise trusted).
    pub secured: bool,
}
