//! The plain types around the async shell: what it needs from the rest of the server
//! ([`Handler`]), what it knows about a peer, and where and how [`listen`](crate::listen())
//! listens.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::{DeliveryOutcome, Envelope, RcptVerdict, Recipient, SessionConfig};

/// What the listener asks of the rest of the server: user lookups and deliveries.
pub trait Handler {
    /// Does `address` (as given in RCPT TO) belong to a user here?
    fn check_recipient(&self, address: &str) -> impl Future<Output = RcptVerdict> + Send;
    /// Stores `message` (trace headers for `recipient` already prepended) for `recipient`.
    /// [`DeliveryOutcome::Delivered`] must mean the copy is durable.
    fn deliver(
        &self,
        envelope: &Envelope,
        recipient: &Recipient,
        message: Vec<u8>,
    ) -> impl Future<Output = DeliveryOutcome> + Send;
}

/// The client's side of a connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerInfo {
    /// The client's address; `None` on a unix socket.
    pub addr: Option<SocketAddr>,
}

impl PeerInfo {
    /// A TCP client.
    pub fn tcp(addr: SocketAddr) -> Self {
        Self { addr: Some(addr) }
    }

    /// A unix-socket client (no address).
    pub fn unix() -> Self {
        Self { addr: None }
    }
}

/// Where [`listen`](crate::listen()) accepts connections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListenAddr {
    /// A TCP address (`127.0.0.1:24`).
    Tcp(SocketAddr),
    /// A unix socket path; a stale socket there is removed first.
    Unix(PathBuf),
}

/// Settings of [`listen`](crate::listen()).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ListenOptions {
    /// Settings for every session.
    pub session: SessionConfig,
    /// Mode of unix sockets (`0o660` by default; `0o666` lets anyone connect).
    pub unix_socket_mode: u32,
    /// Owner (uid, gid) of unix sockets, e.g. Postfix's; unchanged when `None`.
    pub unix_socket_owner: Option<(u32, u32)>,
}

impl ListenOptions {
    /// `session` for every connection, unix sockets `0o660`.
    pub fn new(session: SessionConfig) -> Self {
        Self {
            session,
            unix_socket_mode: 0o660,
            unix_socket_owner: None,
        }
    }
}
