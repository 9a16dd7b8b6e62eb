//! Why a session ended or refused a call.
//!
//! None of these errors carries bytes the client sent: a line may hold a password.

use crate::event::RequestId;

/// The client broke the auth-client protocol; the connection must be closed.
///
/// Dovecot's auth process logs these as "BUG: Authentication client sent …" and disconnects;
/// tresor does the same. Postfix reconnects on its next SMTP AUTH, so the usual cause is a
/// client that is not Postfix or Dovecot's own login processes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A request id was reused while its request was still open (a cancelled request stays
    /// open until its password check returns). The client must number open requests apart;
    /// Postfix counts up.
    #[error("request id {0} is already in use on this connection")]
    DuplicateRequest(RequestId),
    /// A line is longer than [`Options::max_line_length`](crate::Options::max_line_length).
    /// Raise the limit if a legitimate client needs it.
    #[error("a line is longer than {limit} bytes")]
    LineTooLong {
        /// The limit in bytes, the LF included.
        limit: usize,
    },
    /// A line could not be parsed; the text names the part (never its bytes). The client is
    /// not speaking the Dovecot auth-client protocol.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// More requests are open at once than
    /// [`Options::max_requests`](crate::Options::max_requests) allows, and none of them waits
    /// for the client. The client pipelines more than Postfix does; raise the limit if needed.
    #[error("more than {limit} requests open at once")]
    TooManyRequests {
        /// The limit.
        limit: usize,
    },
    /// The client asked for a SASL mechanism tresor does not offer (only PLAIN and LOGIN).
    /// Configure the client to use one of those.
    #[error("unsupported SASL mechanism")]
    UnsupportedMechanism,
    /// The client speaks another major version of the protocol (tresor speaks 1, as Dovecot
    /// 2.x does).
    #[error("unsupported protocol major version {major}")]
    UnsupportedVersion {
        /// The major version the client sent.
        major: u32,
    },
}

/// A driver called [`Session::auth_result`](crate::Session::auth_result) for a request that is
/// not waiting for one. This is a bug in the caller, never caused by what the client sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiMisuse {
    /// No request with this id is waiting for a verdict (it was never handed out by
    /// [`Event::Authenticate`](crate::Event::Authenticate), or was answered already).
    #[error("request {0} is not waiting for an authentication result")]
    NotAwaitingResult(RequestId),
}
