//! The bytes of the auth-client protocol: numbers, tab-escaping, base64 and the reply lines.
//!
//! Every function here works on slices with checked access only: nothing the client sends can
//! make them panic.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::event::RequestId;

/// Parses a decimal `unsigned int` as Dovecot's `str_to_uint` does: digits only (no sign, no
/// spaces), at least one, and no overflow.
pub(crate) fn parse_uint(bytes: &[u8]) -> Option<u32> {
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

/// Undoes Dovecot's tab-escaping (`str_tabunescape`): `\x01` followed by `0`, `1`, `t`, `r` or
/// `n` stands for NUL, `\x01`, TAB, CR or LF; followed by anything else it stands for that
/// character; a lone `\x01` at the end is dropped.
pub(crate) fn tab_unescape(bytes: &[u8]) -> Cow<'_, [u8]> {
    if !bytes.contains(&ESCAPE) {
        return Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut iter = bytes.iter().copied();
    while let Some(b) = iter.next() {
        if b != ESCAPE {
            out.push(b);
            continue;
        }
        match iter.next() {
            Some(b'0') => out.push(0x00),
            Some(b'1') => out.push(ESCAPE),
            Some(b't') => out.push(b'\t'),
            Some(b'r') => out.push(b'\r'),
            Some(b'n') => out.push(b'\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    Cow::Owned(out)
}

/// Appends `value` tab-escaped as Dovecot's `str_append_tabescaped` does (`\x01`, TAB, CR and
/// LF become `\x01` + `1`, `t`, `r`, `n`), and NUL as `\x01` `0`, which Dovecot's C strings
/// cannot hold but its unescaper understands.
pub(crate) fn push_tab_escaped(out: &mut Vec<u8>, value: &[u8]) {
    for &b in value {
        let escaped = match b {
            0x00 => b'0',
            ESCAPE => b'1',
            b'\t' => b't',
            b'\r' => b'r',
            b'\n' => b'n',
            _ => {
                out.push(b);
                continue;
            }
        };
        out.push(ESCAPE);
        out.push(escaped);
    }
}

/// Decodes standard base64 with padding, as Dovecot's `base64_decode` requires padding.
///
/// Dovecot also skips whitespace inside the data; tresor does not, since no client puts any
/// there (Postfix only forwards `[A-Za-z0-9+/=]`).
pub(crate) fn decode_base64(data: &[u8]) -> Option<Vec<u8>> {
    STANDARD.decode(data).ok()
}

/// `OK TAB <id> TAB user=<user>`: the login succeeded (`auth_request_handler_reply_success_finish`
/// in Dovecot's `auth-request-handler.c`).
pub(crate) fn ok_line(id: RequestId, user: &str) -> Vec<u8> {
    let mut out = format!("OK\t{id}\tuser=").into_bytes();
    push_tab_escaped(&mut out, user.as_bytes());
    out.push(b'\n');
    out
}

/// `CONT TAB <id> TAB <base64 challenge>` (`auth_request_handler_default_reply_callback`).
pub(crate) fn cont_line(id: RequestId, challenge: &[u8]) -> Vec<u8> {
    let mut out = format!("CONT\t{id}\t").into_bytes();
    out.extend_from_slice(STANDARD.encode(challenge).as_bytes());
    out.push(b'\n');
    out
}

/// `FAIL TAB <id> [TAB user=…] [TAB code=…] [TAB reason=…]`, fields in Dovecot's order
/// (`auth_request_handler_reply_failure_finish`, `auth_request_handler_auth_fail_code`).
pub(crate) fn fail_line(
    id: RequestId,
    user: Option<&str>,
    code: Option<&str>,
    reason: Option<&str>,
) -> Vec<u8> {
    let mut out = format!("FAIL\t{id}").into_bytes();
    if let Some(user) = user {
        out.extend_from_slice(b"\tuser=");
        push_tab_escaped(&mut out, user.as_bytes());
    }
    if let Some(code) = code {
        out.extend_from_slice(b"\tcode=");
        push_tab_escaped(&mut out, code.as_bytes());
    }
    if let Some(reason) = reason {
        out.extend_from_slice(b"\treason=");
        push_tab_escaped(&mut out, reason.as_bytes());
    }
    out.push(b'\n');
    out
}

/// Lowercase hex, as Dovecot's `binary_to_hex` writes the cookie.
pub(crate) fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        for nibble in [b >> 4, b & 0x0f] {
            out.push(match nibble {
                0..=9 => b'0' + nibble,
                _ => b'a' + (nibble - 10),
            });
        }
    }
}

/// Dovecot's tab-escape character.
const ESCAPE: u8 = 0x01;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uint_is_strict() {
        assert_eq!(parse_uint(b"0"), Some(0));
        assert_eq!(parse_uint(b"4294967295"), Some(u32::MAX));
        assert_eq!(parse_uint(b"4294967296"), None);
        assert_eq!(parse_uint(b"+1"), None);
        assert_eq!(parse_uint(b" 1"), None);
        assert_eq!(parse_uint(b""), None);
    }

    #[test]
    fn escape_round_trip() {
        let raw = b"a\x01b\tc\rd\ne\x00f";
        let mut escaped = Vec::new();
        push_tab_escaped(&mut escaped, raw);
        assert_eq!(escaped, b"a\x011b\x01tc\x01rd\x01ne\x010f");
        assert_eq!(tab_unescape(&escaped).as_ref(), raw);
        assert_eq!(tab_unescape(b"x\x01zy\x01").as_ref(), b"xzy");
    }

    #[test]
    fn hex_is_lowercase() {
        let mut out = Vec::new();
        push_hex(&mut out, &[0x00, 0xab, 0x7f]);
        assert_eq!(out, b"00ab7f");
    }
}
