//! The narrow seam to message-level MIME work (ENVELOPE, BODYSTRUCTURE, sections, wire form,
//! SEARCH text, SORT keys). The `message` crate is the real implementation; until it is
//! wired in, these are simple fallbacks good enough for plain single-part mail.

use std::borrow::Cow;

use imap_codec::imap_types::body::{BasicFields, Body, BodyStructure, SpecificFields};
use imap_codec::imap_types::core::{IString, Literal, NString, Quoted};
use imap_codec::imap_types::envelope::Envelope;
use imap_codec::imap_types::fetch::Section;

/// The wire form of stored bytes (what a non-BINARY FETCH sends): a LF not preceded by CR
/// becomes CRLF, NUL becomes 0x80.
pub(crate) fn wire(stored: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(stored.len() + stored.len() / 32 + 2);
    let mut prev = 0u8;
    for &b in stored {
        match b {
            b'\n' if prev != b'\r' => out.extend_from_slice(b"\r\n"),
            0 => out.push(0x80),
            _ => out.push(b),
        }
        prev = b;
    }
    out
}

/// Offset just past the empty line ending the header of `wire` (or its length).
fn header_end(wire: &[u8]) -> usize {
    wire.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(wire.len(), |p| p + 4)
}

/// `BODY[section]` of a message in wire form; `None` when the section does not exist.
pub(crate) fn section(wire: &[u8], section: Option<&Section<'_>>) -> Option<Vec<u8>> {
    let end = header_end(wire);
    let (header, text) = wire.split_at(end.min(wire.len()));
    match section {
        None => Some(wire.to_vec()),
        Some(Section::Header(None)) => Some(header.to_vec()),
        Some(Section::Text(None)) => Some(text.to_vec()),
        Some(Section::HeaderFields(None, names)) => Some(header_fields(header, names, true)),
        Some(Section::HeaderFieldsNot(None, names)) => Some(header_fields(header, names, false)),
        Some(Section::Part(part)) if part.0.as_ref().iter().all(|n| n.get() == 1) => {
            Some(text.to_vec())
        }
        Some(Section::Mime(part)) if part.0.as_ref().iter().all(|n| n.get() == 1) => {
            Some(header.to_vec())
        }
        _ => None,
    }
}

fn header_fields<S: AsRef<[u8]>>(
    header: &[u8],
    names: &imap_codec::imap_types::core::Vec1<S>,
    keep: bool,
) -> Vec<u8> {
    let mut out = Vec::new();
    for field in fields(header) {
        let name = field.split(|&b| b == b':').next().unwrap_or_default();
        let listed = names
            .as_ref()
            .iter()
            .any(|n| n.as_ref().eq_ignore_ascii_case(name.trim_ascii()));
        if listed == keep {
            out.extend_from_slice(field);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The header fields (with their folded continuation lines and line ends) of a header block.
fn fields(header: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut pos = 0;
    while pos < header.len() {
        let line_end = header
            .get(pos..)
            .and_then(|r| r.iter().position(|&b| b == b'\n'))
            .map_or(header.len(), |p| pos + p + 1);
        let line = header.get(pos..line_end).unwrap_or_default();
        let continuation = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        if !continuation && pos > start {
            out.push(header.get(start..pos).unwrap_or_default());
            start = pos;
        }
        if line == b"\r\n" || line == b"\n" {
            start = line_end;
            break;
        }
        pos = line_end;
    }
    if pos > start {
        out.push(header.get(start..pos).unwrap_or_default());
    }
    out
}

/// Unfolded values of header `name` (raw, undecoded).
pub(crate) fn header_values(wire: &[u8], name: &str) -> Vec<Vec<u8>> {
    let header = wire.get(..header_end(wire)).unwrap_or_default();
    fields(header)
        .into_iter()
        .filter_map(|f| {
            let colon = f.iter().position(|&b| b == b':')?;
            let (n, v) = f.split_at(colon);
            n.trim_ascii()
                .eq_ignore_ascii_case(name.as_bytes())
                .then(|| {
                    v.get(1..)
                        .unwrap_or_default()
                        .iter()
                        .copied()
                        .filter(|&b| b != b'\r' && b != b'\n')
                        .collect::<Vec<u8>>()
                        .trim_ascii()
                        .to_vec()
                })
        })
        .collect()
}

/// The body text (after the header) of a wire-form message.
pub(crate) fn text(wire: &[u8]) -> &[u8] {
    wire.get(header_end(wire)..).unwrap_or_default()
}

/// The whole header block.
pub(crate) fn header(wire: &[u8]) -> &[u8] {
    wire.get(..header_end(wire)).unwrap_or_default()
}

/// ENVELOPE (fallback: date, subject, in-reply-to and message-id only).
pub(crate) fn envelope(wire: &[u8]) -> Envelope<'static> {
    let field = |name: &str| -> NString<'static> {
        header_values(wire, name)
            .into_iter()
            .next()
            .map_or(NString(None), |v| NString(Some(string(v))))
    };
    Envelope {
        date: field("Date"),
        subject: field("Subject"),
        from: Vec::new(),
        sender: Vec::new(),
        reply_to: Vec::new(),
        to: Vec::new(),
        cc: Vec::new(),
        bcc: Vec::new(),
        in_reply_to: field("In-Reply-To"),
        message_id: field("Message-ID"),
    }
}

/// BODYSTRUCTURE / BODY (fallback: one text/plain part).
pub(crate) fn body_structure(wire: &[u8], _extended: bool) -> BodyStructure<'static> {
    let body = text(wire);
    let lines = body.iter().filter(|&&b| b == b'\n').count();
    BodyStructure::Single {
        body: Body {
            basic: BasicFields {
                parameter_list: vec![(
                    IString::Quoted(Quoted::unvalidated(Cow::Borrowed("charset"))),
                    IString::Quoted(Quoted::unvalidated(Cow::Borrowed("us-ascii"))),
                )],
                id: NString(None),
                description: NString(None),
                content_transfer_encoding: IString::Quoted(Quoted::unvalidated(Cow::Borrowed(
                    "7bit",
                ))),
                size: u32::try_from(body.len()).unwrap_or(u32::MAX),
            },
            specific: SpecificFields::Text {
                subtype: IString::Quoted(Quoted::unvalidated(Cow::Borrowed("plain"))),
                number_of_lines: u32::try_from(lines).unwrap_or(u32::MAX),
            },
        },
        extension_data: None,
    }
}

/// An IMAP string for `value`: quoted when it can be, else a literal.
pub(crate) fn string(value: Vec<u8>) -> IString<'static> {
    let quotable = value
        .iter()
        .all(|&b| b.is_ascii() && b != b'\r' && b != b'\n' && b != 0);
    match String::from_utf8(value) {
        Ok(s) if quotable => IString::Quoted(Quoted::unvalidated(Cow::Owned(s))),
        Ok(s) => IString::Literal(Literal::unvalidated(s.into_bytes())),
        Err(e) => IString::Literal(Literal::unvalidated(e.into_bytes())),
    }
}

/// Case-insensitive (ASCII) substring test, as SEARCH does it.
pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    if needle.is_empty() {
        return true;
    }
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form() {
        assert_eq!(wire(b"a\nb\r\nc\0"), b"a\r\nb\r\nc\x80");
    }

    #[test]
    fn header_lookup() {
        let w = wire(b"Subject: hi\n there\nFrom: a@b\n\nbody\n");
        assert_eq!(header_values(&w, "subject"), vec![b"hi there".to_vec()]);
        assert_eq!(text(&w), b"body\r\n");
        assert_eq!(header(&w), b"Subject: hi\r\n there\r\nFrom: a@b\r\n\r\n");
    }
}
