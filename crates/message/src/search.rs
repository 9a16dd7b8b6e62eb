//! SEARCH and SORT helpers, following what Dovecot 2.3 does without full-text indexes
//! (`index-search.c`, `message-search.c`).

use mail_parser::{HeaderValue, MessageParser, PartType};

use crate::header::{fields, unfold};
use crate::mime::{Kind, Part};
use crate::rfc822::{Addr, parse_addresses, parse_mime_value};

/// Decodes RFC 2047 encoded words in a raw header value (charsets converted to UTF-8;
/// bytes that are not UTF-8 are replaced).
pub(crate) fn decode_header(value: &[u8]) -> String {
    let unfolded = unfold(value);
    if !unfolded.windows(2).any(|w| w == b"=?") {
        return String::from_utf8_lossy(&unfolded).into_owned();
    }
    let mut buf = Vec::with_capacity(unfolded.len() + 16);
    buf.extend_from_slice(b"Subject: ");
    buf.extend_from_slice(&unfolded);
    buf.extend_from_slice(b"\n\n");
    let parsed = MessageParser::new().parse_headers(&buf);
    match parsed
        .as_ref()
        .and_then(|m| m.root_part().headers.first())
        .map(|h| &h.value)
    {
        Some(HeaderValue::Text(t)) => t.to_string(),
        Some(HeaderValue::TextList(l)) => l.join(", "),
        _ => String::from_utf8_lossy(&unfolded).into_owned(),
    }
}

/// Normalises for matching as Dovecot's search does: title case, then decomposed
/// (so `cafe` finds `café`, and case does not matter).
pub(crate) fn fold(s: &str) -> String {
    crate::collation_key(s)
}

/// Replaces every run of whitespace with one space (Dovecot's `compress_lwsp`).
fn compress_lwsp(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut last_space = false;
    for c in s.chars() {
        if c.is_whitespace() {
            if !last_space {
                out.push(' ');
            }
            last_space = true;
        } else {
            out.push(c);
            last_space = false;
        }
    }
    out
}

/// True when `field` is an address header (matched against the normalised address list).
fn is_address_field(field: &str) -> bool {
    ["From", "To", "Cc", "Bcc", "Sender", "Reply-To"]
        .iter()
        .any(|f| f.eq_ignore_ascii_case(field))
}

/// Writes an address list back as text (Dovecot's `message_address_write`), names raw.
fn write_addresses(list: &[Addr]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut first = true;
    for a in list {
        if a.host.is_none() {
            // group marker
            match &a.mailbox {
                Some(name) => {
                    if !first {
                        out.extend_from_slice(b", ");
                    }
                    out.extend_from_slice(name);
                    out.extend_from_slice(b": ");
                    first = true;
                    continue;
                }
                None => {
                    out.push(b';');
                    first = false;
                    continue;
                }
            }
        }
        if !first {
            out.extend_from_slice(b", ");
        }
        first = false;
        let spec = {
            let mut s = a.mailbox.clone().unwrap_or_default();
            s.push(b'@');
            s.extend_from_slice(a.host.as_deref().unwrap_or_default());
            s
        };
        match &a.name {
            Some(name) => {
                push_phrase(&mut out, name);
                out.extend_from_slice(b" <");
                if let Some(r) = &a.route {
                    out.extend_from_slice(r);
                    out.push(b':');
                }
                out.extend_from_slice(&spec);
                out.push(b'>');
            }
            None => out.extend_from_slice(&spec),
        }
    }
    out
}

/// A display name, quoted when it holds specials.
fn push_phrase(out: &mut Vec<u8>, name: &[u8]) {
    let needs_quote = name.iter().any(|b| {
        matches!(
            b,
            b'"' | b'\\' | b'(' | b')' | b'<' | b'>' | b'@' | b',' | b';' | b':' | b'[' | b']'
        )
    });
    if !needs_quote {
        out.extend_from_slice(name);
        return;
    }
    out.push(b'"');
    for b in name {
        if matches!(b, b'"' | b'\\') {
            out.push(b'\\');
        }
        out.push(*b);
    }
    out.push(b'"');
}

/// The decoded, normalised text a header search for `field` looks at, one per occurrence.
fn header_haystacks(raw: &[u8], root: &Part, field: &str) -> Vec<String> {
    let mut out = Vec::new();
    for f in fields(raw, root.header_start, root.body_start) {
        if !f.is(raw, field) {
            continue;
        }
        let value = f.raw_value(raw);
        let text = if is_address_field(field) {
            decode_header(&write_addresses(&parse_addresses(&unfold(value))))
        } else {
            decode_header(value)
        };
        out.push(compress_lwsp(&text));
    }
    out
}

/// SEARCH HEADER/FROM/TO/CC/BCC/SUBJECT.
pub(crate) fn matches_header(raw: &[u8], root: &Part, field: &str, needle: &str) -> bool {
    let hay = header_haystacks(raw, root, field);
    if needle.is_empty() {
        return !hay.is_empty();
    }
    let needle = fold(&compress_lwsp(needle));
    hay.iter().any(|h| fold(h).contains(&needle))
}

/// How a part's body is searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Searched {
    /// Not searched (not text/* or message/*, or a malformed Content-Type).
    No,
    /// text/* or no Content-Type: transfer encoding and charset undone.
    Text,
    /// message/* kept opaque (beyond the nesting cap, or message/delivery-status and
    /// the like): the raw bytes.
    Raw,
}

/// How the part's body is searched, from its last Content-Type (as Dovecot decides).
fn searched(raw: &[u8], part: &Part) -> Searched {
    let mut how = Searched::Text;
    for f in fields(raw, part.header_start, part.body_start) {
        if f.is(raw, "Content-Type") {
            let ct = parse_mime_value(f.raw_value(raw), true);
            how = if ct.sub.is_none() {
                Searched::No
            } else if ct.main.eq_ignore_ascii_case(b"text") {
                Searched::Text
            } else if ct.main.eq_ignore_ascii_case(b"message") {
                Searched::Raw
            } else {
                Searched::No
            };
        }
    }
    how
}

/// The decoded text of a leaf part (transfer encoding and charset undone).
fn leaf_text(raw: &[u8], part: &Part) -> String {
    let Some(slice) = raw.get(part.header_start..part.end) else {
        return String::new();
    };
    let parsed = MessageParser::new().parse(slice);
    let first = parsed.as_ref().and_then(|m| m.parts.first());
    let base64 = fields(raw, part.header_start, part.body_start).any(|f| {
        f.is(raw, "Content-Transfer-Encoding")
            && unfold(f.raw_value(raw)).eq_ignore_ascii_case(b"base64")
    });
    if base64 && first.is_some_and(|p| p.is_encoding_problem) {
        // Dovecot decodes broken base64 to bytes that never match readable text.
        return String::new();
    }
    let body = first.map(|p| &p.body);
    match body {
        Some(PartType::Text(t) | PartType::Html(t)) => t.to_string(),
        Some(PartType::Binary(b) | PartType::InlineBinary(b)) => {
            String::from_utf8_lossy(b).into_owned()
        }
        _ => String::from_utf8_lossy(raw.get(part.body_start..part.end).unwrap_or_default())
            .into_owned(),
    }
}

/// Visits every part (depth first).
fn walk<'p>(part: &'p Part, f: &mut dyn FnMut(&'p Part) -> bool) -> bool {
    if f(part) {
        return true;
    }
    match &part.kind {
        Kind::Multipart(children) => children.iter().any(|c| walk(c, f)),
        Kind::Message(inner) => walk(inner, f),
        Kind::Leaf => false,
    }
}

/// SEARCH BODY: decoded bodies of text/* and message/* leaves (no headers, no preamble or
/// epilogue).
pub(crate) fn matches_body(raw: &[u8], root: &Part, needle: &str) -> bool {
    let needle = fold(needle);
    if needle.is_empty() {
        return true;
    }
    walk(root, &mut |p| {
        if !matches!(p.kind, Kind::Leaf) {
            return false;
        }
        let text = match searched(raw, p) {
            Searched::No => return false,
            Searched::Text => leaf_text(raw, p),
            Searched::Raw => {
                String::from_utf8_lossy(raw.get(p.body_start..p.end).unwrap_or_default())
                    .into_owned()
            }
        };
        fold(&text).contains(&needle)
    })
}

/// SEARCH TEXT: every header of every part (name, `: `, decoded value) and BODY.
pub(crate) fn matches_text(raw: &[u8], root: &Part, needle: &str) -> bool {
    let folded = fold(needle);
    if folded.is_empty() {
        return true;
    }
    let in_headers = walk(root, &mut |p| {
        fields(raw, p.header_start, p.body_start).any(|f| {
            let mut line = String::from_utf8_lossy(f.name(raw)).into_owned();
            line.push_str(": ");
            line.push_str(&decode_header(f.raw_value(raw)));
            fold(&line).contains(&folded)
        })
    });
    in_headers || matches_body(raw, root, needle)
}

/// The first address (a group start counts, as in Dovecot) of the first `field` header.
pub(crate) fn first_address(raw: &[u8], root: &Part, field: &str) -> Option<Addr> {
    let f = fields(raw, root.header_start, root.body_start).find(|f| f.is(raw, field))?;
    parse_addresses(&unfold(f.raw_value(raw)))
        .into_iter()
        .next()
}
