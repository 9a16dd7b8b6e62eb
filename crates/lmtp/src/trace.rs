//! The trace headers a delivery prepends, in Dovecot 2.3's exact shape.
//!
//! Dovecot's LMTP server writes, per delivered copy:
//!
//! ```text
//! Return-Path: <sender@example.net>
//! Delivered-To: rcpt@example.org
//! Received: from <LHLO name> ([<peer ip>])
//! <TAB>by <hostname> with LMTP
//! <TAB>id <session id>[:T<n>]
//! <TAB>(envelope-from <sender@example.net>)
//! <TAB>for <rcpt@example.org>; Sun, 29 Nov 2026 01:47:31 +0000
//! ```
//!
//! (`lmtp_local_add_headers` and `smtp_server_transaction_write_trace_record` in Dovecot
//! 2.3.) The ` ([ip])` part is left out when the peer has no IP address (a unix socket).
//!
//! One difference, on purpose: Dovecot writes `Delivered-To` and `for <…>` only when the
//! transaction has exactly one recipient, because it saves one copy and hard-links it to the
//! others. tresor seals each recipient's copy to that recipient's key anyway, so every copy
//! gets the headers naming its own recipient.

use std::fmt;
use std::net::IpAddr;

use crate::address::encode_path;

/// The `Return-Path`, `Delivered-To` and `Received` headers for one recipient's copy.
///
/// `mail_from` is the reverse path (empty for the null sender `<>`), `rcpt` the recipient as
/// given in RCPT TO, `lhlo_name` what the client said in LHLO, `peer` the client's IP (`None`
/// on a unix socket), `local_hostname` this server's name and `id` the transaction id (see
/// [`transaction_id`]). Pure: the date is passed in.
pub fn trace_headers(
    mail_from: &str,
    rcpt: &str,
    lhlo_name: &str,
    peer: Option<IpAddr>,
    local_hostname: &str,
    id: &str,
    date: Timestamp,
) -> Vec<u8> {
    let from = encode_path(mail_from);
    let rcpt = encode_path(rcpt);
    let lhlo = header_text(lhlo_name);
    let host = header_text(local_hostname);
    let id = header_text(id);
    let peer = match peer {
        Some(ip) => format!(" ([{}])", ip.to_canonical()),
        None => String::new(),
    };
    format!(
        "Return-Path: <{from}>\r\n\
         Delivered-To: {rcpt}\r\n\
         Received: from {lhlo}{peer}\r\n\
         \tby {host} with LMTP\r\n\
         \tid {id}\r\n\
         \t(envelope-from <{from}>)\r\n\
         \tfor <{rcpt}>; {date}\r\n"
    )
    .into_bytes()
}

/// The id of transaction `n` (1-based) of a session, as Dovecot numbers them: the session id
/// for the first, `<session id>:T<n>` for the later ones.
pub fn transaction_id(session_id: &str, n: u32) -> String {
    if n <= 1 {
        session_id.to_owned()
    } else {
        format!("{session_id}:T{n}")
    }
}

/// A point in time with a UTC offset, shown as an RFC 5322 date-time
/// (`Sun, 29 Nov 2026 01:47:31 +0000`, Dovecot's `message_date_create` format).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timestamp {
    unix_seconds: i64,
    utc_offset_minutes: i32,
}

impl Timestamp {
    /// `unix_seconds` after 1970-01-01T00:00:00Z, shown in UTC (`+0000`).
    pub fn from_unix(unix_seconds: i64) -> Self {
        Self {
            unix_seconds,
            utc_offset_minutes: 0,
        }
    }

    /// The same instant shown in a zone `minutes` east of UTC (clamped to ±23:59).
    pub fn with_utc_offset(self, minutes: i32) -> Self {
        Self {
            utc_offset_minutes: minutes.clamp(-MAX_OFFSET, MAX_OFFSET),
            ..self
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let offset = i64::from(self.utc_offset_minutes);
        let local = self.unix_seconds.saturating_add(offset * 60);
        let days = local.div_euclid(86_400);
        let secs = local.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        // 1970-01-01 was a Thursday.
        let weekday = WEEKDAYS
            .get(usize::try_from((days + 4).rem_euclid(7)).unwrap_or(0))
            .copied()
            .unwrap_or("Thu");
        let month = MONTHS
            .get(usize::try_from(month - 1).unwrap_or(0))
            .copied()
            .unwrap_or("Jan");
        let sign = if offset < 0 { '-' } else { '+' };
        write!(
            f,
            "{weekday}, {day:02} {month} {year} {:02}:{:02}:{:02} {sign}{:02}{:02}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60,
            offset.abs() / 60,
            offset.abs() % 60,
        )
    }
}

/// Proleptic Gregorian (year, month 1–12, day 1–31) of a day count since 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Header text from outside: control characters (CR, LF) dropped so it cannot add lines.
fn header_text(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).collect()
}

const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const MAX_OFFSET: i32 = 23 * 60 + 59;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(
            Timestamp::from_unix(0).to_string(),
            "Thu, 01 Jan 1970 00:00:00 +0000"
        );
        assert_eq!(
            Timestamp::from_unix(1_795_916_851).to_string(),
            "Sun, 29 Nov 2026 01:47:31 +0000"
        );
        assert_eq!(
            Timestamp::from_unix(951_782_400).to_string(),
            "Tue, 29 Feb 2000 00:00:00 +0000"
        );
        assert_eq!(
            Timestamp::from_unix(1_795_916_851)
                .with_utc_offset(120)
                .to_string(),
            "Sun, 29 Nov 2026 03:47:31 +0200"
        );
        assert_eq!(
            Timestamp::from_unix(1_795_916_851)
                .with_utc_offset(-330)
                .to_string(),
            "Sat, 28 Nov 2026 20:17:31 -0530"
        );
        assert_eq!(
            Timestamp::from_unix(-1).to_string(),
            "Wed, 31 Dec 1969 23:59:59 +0000"
        );
    }

    #[test]
    fn ids() {
        assert_eq!(transaction_id("abc", 1), "abc");
        assert_eq!(transaction_id("abc", 2), "abc:T2");
    }

    #[test]
    fn null_sender_and_unix_peer() {
        let h = trace_headers("", "u@d", "mx", None, "vm", "id1", Timestamp::from_unix(0));
        assert_eq!(
            String::from_utf8(h).unwrap(),
            "Return-Path: <>\r\nDelivered-To: u@d\r\nReceived: from mx\r\n\tby vm with LMTP\r\n\
             \tid id1\r\n\t(envelope-from <>)\r\n\tfor <u@d>; Thu, 01 Jan 1970 00:00:00 +0000\r\n"
        );
    }
}
