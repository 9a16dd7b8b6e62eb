//! Where and how the listener listens.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::{Options, PenaltyOptions};

/// Where and how to listen. Start from [`ListenOptions::default`] and change fields.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ListenOptions {
    /// The unix socket Postfix connects to (`smtpd_sasl_path = private/auth` is
    /// `/var/spool/postfix/private/auth` on Debian).
    pub unix: Option<UnixSocket>,
    /// A TCP address; only loopback addresses are accepted, as passwords cross it in clear.
    pub tcp: Option<SocketAddr>,
    /// Limits of each connection.
    pub session: Options,
    /// The failure delays.
    pub penalty: PenaltyOptions,
    /// At shutdown, how long open connections may take to send replies still pending
    /// (password checks under way, delayed failures) before they are closed (default 5 s).
    pub shutdown_grace: Duration,
}

impl Default for ListenOptions {
    fn default() -> Self {
        Self {
            unix: None,
            tcp: None,
            session: Options::default(),
            penalty: PenaltyOptions::default(),
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// A unix socket to create.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct UnixSocket {
    /// The socket's path; a stale socket there is replaced, anything else is an error.
    pub path: PathBuf,
    /// Its permissions (default `0o660`: owner and group may connect).
    pub mode: u32,
    /// The owner's uid (e.g. `postfix`'s); unchanged when `None`.
    pub uid: Option<u32>,
    /// The group's gid (e.g. `postfix`'s); unchanged when `None`.
    pub gid: Option<u32>,
}

impl UnixSocket {
    /// A socket at `path` with mode `0o660`, owned by the current user.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            mode: 0o660,
            uid: None,
            gid: None,
        }
    }
}
