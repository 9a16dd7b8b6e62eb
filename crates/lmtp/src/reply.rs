//! Every reply the session sends, in one place (convention 5: one wire mapping per protocol).
//!
//! Each reply has a basic code (RFC 5321 §4.2) and, from 2xx on, an enhanced status code
//! (RFC 3463, advertised as ENHANCEDSTATUSCODES). Per-recipient replies after DATA name the
//! recipient in angle brackets, as Dovecot's do, so an admin reading Postfix's log sees which
//! recipient each line is about. Text that came from the peer or from a handler is cleaned of
//! control characters and shortened before it goes on the wire, so it cannot break the reply
//! framing.

use crate::event::{DeliveryOutcome, RcptVerdict};

/// One reply, possibly multi-line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Reply {
    code: u16,
    /// The enhanced status code, or "" for replies that carry none (220, 354).
    status: &'static str,
    lines: Vec<String>,
}

impl Reply {
    fn new(code: u16, status: &'static str, text: impl Into<String>) -> Self {
        Self {
            code,
            status,
            lines: vec![text.into()],
        }
    }

    /// Appends the wire form: `code[-| ]status text CRLF` per line.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        let last = self.lines.len().saturating_sub(1);
        for (i, line) in self.lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            let mut text = String::new();
            if !self.status.is_empty() {
                text.push_str(self.status);
                if !line.is_empty() {
                    text.push(' ');
                }
            }
            text.push_str(line);
            out.extend_from_slice(format!("{}{sep}{text}\r\n", self.code).as_bytes());
        }
    }

    // --- connection ---

    pub(crate) fn greeting(hostname: &str) -> Self {
        Self::new(220, "", format!("{} LMTP ready", clean(hostname)))
    }

    /// The LHLO reply: the hostname, then one extension per line (RFC 2033 §4.1).
    pub(crate) fn capabilities(hostname: &str, max_message_size: usize) -> Self {
        Self {
            code: 250,
            status: "",
            lines: vec![
                clean(hostname),
                "PIPELINING".into(),
                "ENHANCEDSTATUSCODES".into(),
                "8BITMIME".into(),
                format!("SIZE {max_message_size}"),
                "CHUNKING".into(),
            ],
        }
    }

    pub(crate) fn bye() -> Self {
        Self::new(221, "2.0.0", "Bye")
    }

    pub(crate) fn shutting_down(hostname: &str) -> Self {
        Self::new(
            421,
            "4.3.2",
            format!("{} Service shutting down", clean(hostname)),
        )
    }

    pub(crate) fn idle_timeout(hostname: &str) -> Self {
        Self::new(
            421,
            "4.4.2",
            format!("{} Idle timeout, closing connection", clean(hostname)),
        )
    }

    pub(crate) fn too_many_errors(hostname: &str) -> Self {
        Self::new(
            421,
            "4.7.0",
            format!("{} Too many invalid commands", clean(hostname)),
        )
    }

    // --- command replies ---

    pub(crate) fn ok() -> Self {
        Self::new(250, "2.0.0", "OK")
    }

    pub(crate) fn sender_ok() -> Self {
        Self::new(250, "2.1.0", "OK")
    }

    pub(crate) fn start_data() -> Self {
        Self::new(354, "", "Start mail input; end with <CRLF>.<CRLF>")
    }

    pub(crate) fn chunk_received(octets: usize) -> Self {
        Self::new(250, "2.0.0", format!("{octets} octets received"))
    }

    pub(crate) fn vrfy() -> Self {
        Self::new(
            252,
            "2.3.3",
            "Cannot VRFY user, but will accept message and attempt delivery",
        )
    }

    pub(crate) fn lhlo_required() -> Self {
        Self::new(500, "5.5.1", "This is LMTP: use LHLO")
    }

    pub(crate) fn unknown_command() -> Self {
        Self::new(500, "5.5.2", "Unknown command")
    }

    pub(crate) fn line_too_long() -> Self {
        Self::new(500, "5.5.2", "Line too long")
    }

    pub(crate) fn not_implemented() -> Self {
        Self::new(502, "5.5.1", "Command not implemented")
    }

    pub(crate) fn bad_sequence(what: &'static str) -> Self {
        Self::new(503, "5.5.1", what)
    }

    pub(crate) fn too_many_recipients() -> Self {
        Self::new(452, "4.5.3", "Too many recipients")
    }

    pub(crate) fn no_valid_recipients() -> Self {
        Self::new(554, "5.5.1", "No valid recipients")
    }

    pub(crate) fn message_too_big() -> Self {
        Self::new(
            552,
            "5.3.4",
            "Message size exceeds fixed maximum message size",
        )
    }

    pub(crate) fn body_not_supported() -> Self {
        Self::new(555, "5.5.4", "BODY=BINARYMIME is not supported")
    }

    /// A request smtp-proto rejected.
    pub(crate) fn for_parse_error(error: &smtp_proto::Error) -> Self {
        use smtp_proto::Error as E;
        match error {
            E::InvalidSenderAddress => Self::new(501, "5.1.7", "Invalid sender address"),
            E::InvalidRecipientAddress => Self::new(501, "5.1.3", "Invalid recipient address"),
            E::SyntaxError { syntax } => Self::new(501, "5.5.4", format!("Syntax: {syntax}")),
            E::InvalidParameter { param } => {
                Self::new(501, "5.5.4", format!("Invalid {param} parameter"))
            }
            E::UnsupportedParameter { param } => Self::new(
                555,
                "5.5.4",
                format!("Unsupported parameter {}", clean_short(param, 64)),
            ),
            E::UnknownCommand => Self::unknown_command(),
            // A complete line never needs more data; the rest are response-side errors.
            E::NeedsMoreData { .. } | E::ResponseTooLong | E::InvalidResponse { .. } => {
                Self::new(500, "5.5.2", "Syntax error")
            }
        }
    }

    // --- per recipient ---

    /// The reply to RCPT once the driver has checked the address.
    pub(crate) fn for_verdict(address: &str, verdict: &RcptVerdict) -> Self {
        match verdict {
            RcptVerdict::Accepted => Self::new(250, "2.1.5", "OK"),
            RcptVerdict::TempFail(reason) => Self::new(
                451,
                "4.3.0",
                with_reason(address, "Temporary failure", reason),
            ),
            RcptVerdict::UnknownUser => Self::new(
                550,
                "5.1.1",
                format!("<{}> User doesn't exist", clean(address)),
            ),
        }
    }

    /// One of the replies after the message (RFC 2033 §4.2).
    pub(crate) fn for_outcome(
        address: &str,
        outcome: &DeliveryOutcome,
        quota_full_tempfail: bool,
    ) -> Self {
        match outcome {
            DeliveryOutcome::Delivered { detail } => {
                let detail = clean(detail);
                let text = if detail.is_empty() {
                    format!("<{}> Saved", clean(address))
                } else {
                    format!("<{}> {detail} Saved", clean(address))
                };
                Self::new(250, "2.0.0", text)
            }
            DeliveryOutcome::OverQuota if quota_full_tempfail => Self::new(
                452,
                "4.2.2",
                format!("<{}> Mailbox is full (quota exceeded)", clean(address)),
            ),
            DeliveryOutcome::OverQuota => Self::new(
                552,
                "5.2.2",
                format!("<{}> Mailbox is full (quota exceeded)", clean(address)),
            ),
            DeliveryOutcome::PermFail(reason) => Self::new(
                550,
                "5.3.0",
                with_reason(address, "Permanent failure", reason),
            ),
            DeliveryOutcome::TempFail(reason) => Self::new(
                451,
                "4.3.0",
                with_reason(address, "Temporary failure", reason),
            ),
        }
    }

    /// The reply for a recipient of a message that went over the size limit.
    pub(crate) fn recipient_message_too_big(address: &str) -> Self {
        Self::new(
            552,
            "5.3.4",
            format!(
                "<{}> Message size exceeds fixed maximum message size",
                clean(address)
            ),
        )
    }
}

fn with_reason(address: &str, what: &str, reason: &str) -> String {
    let reason = clean(reason);
    if reason.is_empty() {
        format!("<{}> {what}", clean(address))
    } else {
        format!("<{}> {what}: {reason}", clean(address))
    }
}

/// Reply text from outside the session: no control characters, at most [`MAX_TEXT`] chars.
fn clean(text: &str) -> String {
    clean_short(text, MAX_TEXT)
}

fn clean_short(text: &str, max: usize) -> String {
    text.chars()
        .take(max)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

/// Longest piece of outside text put into one reply line.
const MAX_TEXT: usize = 200;

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(r: &Reply) -> String {
        let mut out = Vec::new();
        r.encode(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn single_and_multi_line() {
        assert_eq!(wire(&Reply::ok()), "250 2.0.0 OK\r\n");
        assert_eq!(wire(&Reply::greeting("mx")), "220 mx LMTP ready\r\n");
        assert_eq!(
            wire(&Reply::capabilities("mx", 10)),
            "250-mx\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n\
             250-SIZE 10\r\n250 CHUNKING\r\n"
        );
    }

    #[test]
    fn outside_text_cannot_break_framing() {
        let r = Reply::for_outcome(
            "a@b",
            &DeliveryOutcome::TempFail("disk\r\n250 2.0.0 fake".into()),
            false,
        );
        assert_eq!(
            wire(&r),
            "451 4.3.0 <a@b> Temporary failure: disk??250 2.0.0 fake\r\n"
        );
        let long = "x".repeat(1000);
        assert!(wire(&Reply::for_verdict(&long, &RcptVerdict::UnknownUser)).len() < 300);
    }
}
