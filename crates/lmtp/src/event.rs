//! What passes between a [`Session`](crate::Session) and its driver: the events the session
//! emits and the answers the driver gives.

use std::fmt;

/// Identifies one RCPT command of a session; unique within the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RcptId(pub(crate) u64);

impl fmt::Display for RcptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rcpt#{}", self.0)
    }
}

/// An accepted recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Recipient {
    /// The address as given in RCPT TO, without angle brackets.
    pub address: String,
    /// Its id, to be answered in [`Session::delivered`](crate::Session::delivered).
    pub id: RcptId,
}

/// The envelope of a message ready for delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Envelope {
    /// The reverse path from MAIL FROM, without angle brackets; empty for `<>`.
    pub mail_from: String,
    /// Accepted recipients, in RCPT order.
    pub recipients: Vec<Recipient>,
    /// The name the client gave in LHLO.
    pub lhlo: String,
    /// The number of this transaction in the session, from 1 (see
    /// [`crate::transaction_id`]).
    pub transaction: u32,
}

/// What the session needs from the driver. Act on each one before calling
/// [`Session::next`](crate::Session::next) again.
#[must_use = "each event must be acted on: bytes written, a recipient checked, a message delivered"]
#[non_exhaustive]
pub enum Event {
    /// Look up `address`, then answer with [`Session::recipient_checked`](crate::Session::recipient_checked).
    CheckRecipient {
        /// Pass it back to [`Session::recipient_checked`](crate::Session::recipient_checked).
        id: RcptId,
        /// The address from RCPT TO, without angle brackets.
        address: String,
    },
    /// The session is over: write any output already taken, then close the connection.
    Closed,
    /// Deliver `message` to every recipient of `envelope` (prepend [`crate::trace_headers`]
    /// per recipient), then answer with [`Session::delivered`](crate::Session::delivered), one outcome per recipient.
    Deliver {
        /// Sender and recipients.
        envelope: Envelope,
        /// The message as received, dot-unstuffed, with its line ends as sent (CRLF).
        message: Vec<u8>,
    },
    /// Write these bytes to the client.
    Output(Vec<u8>),
}

/// The driver's answer to [`Event::CheckRecipient`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RcptVerdict {
    /// The user exists: `250 2.1.5`.
    Accepted,
    /// The lookup failed for now (database down): `451 4.3.0`, the client tries again later.
    TempFail(String),
    /// No such user: `550 5.1.1`.
    UnknownUser,
}

/// What became of one recipient's copy. Quota is checked here, at delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use = "every recipient's outcome must reach the client"]
#[non_exhaustive]
pub enum DeliveryOutcome {
    /// Durably stored: `250 2.0.0 <rcpt> [detail] Saved`.
    Delivered {
        /// Shown before "Saved" (Dovecot shows the session id); may be empty.
        detail: String,
    },
    /// The mailbox is over quota: `552 5.2.2`, or `452 4.2.2` with
    /// [`SessionConfig::quota_full_tempfail`](crate::SessionConfig::quota_full_tempfail).
    OverQuota,
    /// Will never work (for example the user's keys are unusable): `550 5.3.0`.
    PermFail(String),
    /// Failed for now (disk, database): `451 4.3.0`, the client tries again later.
    TempFail(String),
}

/// The driver called a session method at the wrong time or with the wrong ids. Never caused
/// by what the client sends.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApiMisuse {
    /// [`Session::recipient_checked`](crate::Session::recipient_checked) without a pending [`Event::CheckRecipient`], or with
    /// another id.
    NoSuchCheck(RcptId),
    /// [`Session::delivered`](crate::Session::delivered) without a pending [`Event::Deliver`].
    NoDelivery,
    /// [`Session::delivered`](crate::Session::delivered) lacked outcomes for these recipients; they were answered
    /// `451 4.3.0` so the client retries them.
    MissingOutcomes(Vec<RcptId>),
}

impl fmt::Display for ApiMisuse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoSuchCheck(id) => write!(f, "no recipient check pending for {id}"),
            Self::NoDelivery => f.write_str("no delivery pending"),
            Self::MissingOutcomes(ids) => write!(f, "no delivery outcome for {ids:?}"),
        }
    }
}

impl std::error::Error for ApiMisuse {}

// Debug output never shows message bytes (mail plaintext must not reach logs).

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CheckRecipient { id, address } => f
                .debug_struct("CheckRecipient")
                .field("id", id)
                .field("address", address)
                .finish(),
            Self::Closed => f.write_str("Closed"),
            Self::Deliver { envelope, message } => f
                .debug_struct("Deliver")
                .field("envelope", envelope)
                .field("message_len", &message.len())
                .finish(),
            Self::Output(out) => f
                .debug_tuple("Output")
                .field(&String::from_utf8_lossy(out))
                .finish(),
        }
    }
}
