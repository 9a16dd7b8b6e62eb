//! RFC 3516 BINARY[section] and BINARY.SIZE[section]: the part's content with its
//! transfer encoding undone, as Dovecot 2.3 sends it for the cases checked against it.

use std::borrow::Cow;
use std::num::NonZeroU32;

use crate::header::{fields, unfold};
use crate::mime::{Kind, Part};
use crate::wire::wire_len;

/// Why a BINARY fetch cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BinaryError {
    /// The part's body does not decode under its transfer encoding (Dovecot answers
    /// `NO [PARSE] Invalid data in MIME part`).
    #[error("invalid data in MIME part")]
    InvalidData,
    /// The decoded size does not fit IMAP's 32-bit number (answer `NO`).
    #[error("decoded part is {0} bytes, more than IMAP can announce")]
    TooLarge(u64),
    /// The transfer encoding is not one IMAP BINARY knows (RFC 3516: answer
    /// `NO [UNKNOWN-CTE]`).
    #[error("unknown Content-Transfer-Encoding {0:?}")]
    UnknownCte(String),
}

/// The decoded content of a BINARY section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binary<'a> {
    /// The bytes (NUL bytes kept), already cut by the partial range if one was given.
    pub data: Cow<'a, [u8]>,
    /// True when Dovecot sends it as `~{n}` literal8: the content was decoded from
    /// base64/quoted-printable, or the message holds a NUL anywhere.
    pub literal8: bool,
}

/// The transfer encoding of a part, as the lower-cased first token (None if absent).
fn cte(raw: &[u8], part: &Part) -> Option<String> {
    fields(raw, part.header_start, part.body_start)
        .find(|f| f.is(raw, "Content-Transfer-Encoding"))
        .map(|f| {
            let v = unfold(f.raw_value(raw));
            let token: Vec<u8> = v
                .iter()
                .copied()
                .take_while(|b| !b.is_ascii_whitespace() && *b != b'(')
                .collect();
            String::from_utf8_lossy(&token).to_ascii_lowercase()
        })
}

enum Cte {
    Identity,
    Base64,
    QuotedPrintable,
}

/// The encoding BINARY undoes: only leaf parts are decoded (a multipart or
/// message/rfc822 part's own Content-Transfer-Encoding is ignored, as in Dovecot).
fn classify(raw: &[u8], part: &Part) -> Result<Cte, BinaryError> {
    if !matches!(part.kind, Kind::Leaf) {
        return Ok(Cte::Identity);
    }
    match cte(raw, part).as_deref() {
        None | Some("" | "7bit" | "8bit" | "binary") => Ok(Cte::Identity),
        Some("base64") => Ok(Cte::Base64),
        Some("quoted-printable") => Ok(Cte::QuotedPrintable),
        Some(other) => Err(BinaryError::UnknownCte(other.to_owned())),
    }
}

/// The parts directly below `part`.
fn children(part: &Part) -> &[Part] {
    match &part.kind {
        Kind::Multipart(c) => c,
        Kind::Message(m) => std::slice::from_ref(m.as_ref()),
        Kind::Leaf => &[],
    }
}

/// Dovecot checks every transfer encoding of the subtree first: an unknown one anywhere
/// fails the fetch with UNKNOWN-CTE.
fn check_ctes(raw: &[u8], part: &Part) -> Result<(), BinaryError> {
    classify(raw, part)?;
    children(part).iter().try_for_each(|c| check_ctes(raw, c))
}

/// A base64 part below `part` that does not decode: Dovecot answers PARSE for the
/// whole subtree.
fn broken_below(raw: &[u8], part: &Part) -> bool {
    children(part).iter().any(|c| {
        let bad = matches!(classify(raw, c), Ok(Cte::Base64))
            && decode_base64(raw.get(c.body_start..c.end).unwrap_or_default()).is_none();
        bad || broken_below(raw, c)
    })
}

/// BINARY[section] of the tree `root`; `section` empty means the whole message.
pub(crate) fn binary<'a>(
    raw: &'a [u8],
    root: &Part,
    section: &[NonZeroU32],
    partial: Option<(u32, NonZeroU32)>,
) -> Result<Binary<'a>, BinaryError> {
    let (data, decoded) = content(raw, root, section)?;
    let literal8 = !data.is_empty() && (decoded || raw.contains(&0));
    let data = match partial {
        None => data,
        Some((start, len)) => {
            let start = usize::try_from(start).unwrap_or(usize::MAX);
            let len = usize::try_from(len.get()).unwrap_or(usize::MAX);
            let end = start.saturating_add(len).min(data.len());
            if start >= data.len() {
                Cow::Borrowed(&[][..])
            } else {
                match data {
                    Cow::Borrowed(b) => Cow::Borrowed(b.get(start..end).unwrap_or_default()),
                    Cow::Owned(mut v) => {
                        v.truncate(end);
                        v.drain(..start);
                        Cow::Owned(v)
                    }
                }
            }
        }
    };
    Ok(Binary { data, literal8 })
}

/// BINARY.SIZE[section]. Dovecot sizes the whole message's binary form for this, so an
/// unknown transfer encoding anywhere in the message fails it.
pub(crate) fn binary_size(
    raw: &[u8],
    root: &Part,
    section: &[NonZeroU32],
) -> Result<usize, BinaryError> {
    check_ctes(raw, root)?;
    Ok(content(raw, root, section)?.0.len())
}

fn content<'a>(
    raw: &'a [u8],
    root: &Part,
    section: &[NonZeroU32],
) -> Result<(Cow<'a, [u8]>, bool), BinaryError> {
    let (part, whole) = if section.is_empty() {
        (root, true)
    } else {
        let Some(numbers) = section
            .to_vec()
            .try_into()
            .ok()
            .map(crate::imap_types::fetch::Part)
        else {
            return Ok((Cow::Borrowed(&[][..]), false));
        };
        match crate::section::find(root, &numbers) {
            Some(p) => (p, false),
            None => return Ok((Cow::Borrowed(&[][..]), false)),
        }
    };
    check_ctes(raw, part)?;
    if broken_below(raw, part) {
        return Err(BinaryError::InvalidData);
    }
    let own = classify(raw, part)?;
    if !whole {
        // A leaf's own encoding: just its body decoded.
        match own {
            Cte::Base64 => {
                let body = raw.get(part.body_start..part.end).unwrap_or_default();
                return decode_base64(body)
                    .map(|v| (Cow::Owned(v), true))
                    .ok_or(BinaryError::InvalidData);
            }
            Cte::QuotedPrintable => {
                let body = raw.get(part.body_start..part.end).unwrap_or_default();
                return Ok((Cow::Owned(decode_qp(body)), true));
            }
            Cte::Identity => {}
        }
    }
    let start = if whole {
        part.header_start
    } else {
        part.body_start
    };
    let mut encoded = Vec::new();
    if whole && !matches!(own, Cte::Identity) {
        encoded.push(part);
    } else {
        collect_encoded(raw, part, &mut encoded);
    }
    if encoded.is_empty() {
        return Ok(crlf(raw, start, part.end));
    }
    // Dovecot rewrites every encoded leaf inside: its Content-Transfer-Encoding header
    // moves to the end of its header as `binary`, and its body is decoded.
    let mut out = Vec::with_capacity(part.end.saturating_sub(start));
    let mut cursor = start;
    for leaf in encoded {
        out.extend_from_slice(&crlf(raw, cursor, leaf.header_start).0);
        convert_leaf(raw, leaf, &mut out)?;
        cursor = leaf.end;
    }
    out.extend_from_slice(&crlf(raw, cursor, part.end).0);
    Ok((Cow::Owned(out), true))
}

/// The base64/quoted-printable leaves below `part` (itself excluded), in order.
fn collect_encoded<'p>(raw: &[u8], part: &'p Part, out: &mut Vec<&'p Part>) {
    for c in children(part) {
        if matches!(classify(raw, c), Ok(Cte::Base64 | Cte::QuotedPrintable)) {
            out.push(c);
        } else {
            collect_encoded(raw, c, out);
        }
    }
}

/// One encoded leaf in binary form: header without its transfer encoding, then
/// `Content-Transfer-Encoding: binary`, the empty line, the decoded body.
fn convert_leaf(raw: &[u8], leaf: &Part, out: &mut Vec<u8>) -> Result<(), BinaryError> {
    for f in fields(raw, leaf.header_start, leaf.body_start) {
        if !f.is(raw, "Content-Transfer-Encoding") {
            out.extend_from_slice(&crlf(raw, f.start, f.end).0);
            if !out.ends_with(b"\n") {
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    out.extend_from_slice(b"Content-Transfer-Encoding: binary\r\n\r\n");
    let body = raw.get(leaf.body_start..leaf.end).unwrap_or_default();
    match classify(raw, leaf)? {
        Cte::Base64 => out.extend_from_slice(&decode_base64(body).ok_or(BinaryError::InvalidData)?),
        Cte::QuotedPrintable => out.extend_from_slice(&decode_qp(body)),
        Cte::Identity => out.extend_from_slice(&crlf(raw, leaf.body_start, leaf.end).0),
    }
    Ok(())
}

/// LF → CRLF without touching NUL (not decoded: `false`).
fn crlf(raw: &[u8], start: usize, end: usize) -> (Cow<'_, [u8]>, bool) {
    let slice = raw.get(start..end).unwrap_or_default();
    if wire_len(raw, start, end) == slice.len() {
        return (Cow::Borrowed(slice), false);
    }
    let mut out = Vec::with_capacity(slice.len() + slice.len() / 32);
    for (i, b) in slice.iter().enumerate() {
        if *b == b'\n' && (start + i == 0 || raw.get(start + i - 1) != Some(&b'\r')) {
            out.push(b'\r');
        }
        out.push(*b);
    }
    (Cow::Owned(out), false)
}

/// Strict base64 (whitespace and line ends skipped, anything else invalid).
fn decode_base64(input: &[u8]) -> Option<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        Some(u32::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        }))
    }
    let mut out = Vec::with_capacity(input.len() / 4 * 3);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    let mut padding = false;
    for &c in input {
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => continue,
            b'=' => {
                padding = true;
                continue;
            }
            _ if padding => return None,
            _ => {}
        }
        acc = ((acc << 6) | val(c)?) & 0x00ff_ffff;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

/// Quoted-printable; soft line breaks removed, hard line breaks sent as CRLF.
fn decode_qp(input: &[u8]) -> Vec<u8> {
    fn hex(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'A'..=b'F' => Some(c - b'A' + 10),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&c) = input.get(i) {
        match c {
            b'=' => {
                let a = input.get(i + 1).copied();
                let b = input.get(i + 2).copied();
                match (a, b) {
                    (Some(b'\n'), _) => i += 2,
                    (Some(b'\r'), Some(b'\n')) => i += 3,
                    (Some(x), Some(y)) if hex(x).is_some() && hex(y).is_some() => {
                        out.push(hex(x).unwrap_or(0) * 16 + hex(y).unwrap_or(0));
                        i += 3;
                    }
                    _ => {
                        out.push(b'=');
                        i += 1;
                    }
                }
            }
            b'\r' if input.get(i + 1) == Some(&b'\n') => {
                out.extend_from_slice(b"\r\n");
                i += 2;
            }
            b'\n' => {
                out.extend_from_slice(b"\r\n");
                i += 1;
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    out
}
