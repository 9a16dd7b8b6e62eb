//! `BODY[section]<partial>` in wire form, as Dovecot 2.3 answers it (`imap-msgpart.c`).

use std::borrow::Cow;
use std::num::NonZeroU32;

use imap_codec::imap_types::fetch::{Part as PartNumbers, Section};

use crate::header::fields;
use crate::mime::{Kind, Part};
use crate::wire::{push_wire, wire_range};

/// Finds the part a section number names (Dovecot's `imap_msgpart_find`).
pub(crate) fn find<'p>(root: &'p Part, numbers: &PartNumbers) -> Option<&'p Part> {
    let nums = numbers.0.as_ref();
    let mut cur = root;
    for (i, n) in nums.iter().enumerate() {
        let n = usize::try_from(n.get()).ok()?;
        let more = i + 1 < nums.len();
        cur = match &cur.kind {
            Kind::Multipart(children) => children.get(n.checked_sub(1)?)?,
            Kind::Message(_) if n == 1 => cur,
            Kind::Leaf if n == 1 && !more => cur,
            _ => return None,
        };
        if more && let Kind::Message(inner) = &cur.kind {
            cur = inner;
        }
    }
    Some(cur)
}

/// The encapsulated message of a message/rfc822 part.
fn inner(part: &Part) -> Option<&Part> {
    match &part.kind {
        Kind::Message(m) => Some(m),
        _ => None,
    }
}

/// The wire bytes of a section of the message whose tree is `root`.
pub(crate) fn section<'a>(
    raw: &'a [u8],
    root: &Part,
    section: Option<&Section<'_>>,
    partial: Option<(u32, NonZeroU32)>,
) -> Cow<'a, [u8]> {
    let whole = match section {
        None => wire_range(raw, 0, raw.len()),
        Some(s) => match select(raw, root, s) {
            Some(bytes) => bytes,
            None => Cow::Borrowed(&[][..]),
        },
    };
    apply_partial(whole, partial)
}

fn select<'a>(raw: &'a [u8], root: &Part, s: &Section<'_>) -> Option<Cow<'a, [u8]>> {
    // For HEADER/TEXT/HEADER.FIELDS with a part number, the part must be message/rfc822
    // and the section applies to the encapsulated message.
    let message_for = |p: &Option<PartNumbers>| -> Option<&Part> {
        match p {
            None => Some(root),
            Some(numbers) => inner(find(root, numbers)?),
        }
    };
    Some(match s {
        Section::Part(numbers) => {
            let p = find(root, numbers)?;
            wire_range(raw, p.body_start, p.end)
        }
        Section::Mime(numbers) => {
            let p = find(root, numbers)?;
            wire_range(raw, p.header_start, p.body_start)
        }
        Section::Header(p) => {
            let m = message_for(p)?;
            wire_range(raw, m.header_start, m.body_start)
        }
        Section::Text(p) => {
            let m = message_for(p)?;
            wire_range(raw, m.body_start, m.end)
        }
        Section::HeaderFields(p, names) => {
            let m = message_for(p)?;
            let names: Vec<&[u8]> = names.as_ref().iter().map(|n| n.as_ref()).collect();
            Cow::Owned(header_fields(raw, m, &names, true, p.is_none()))
        }
        Section::HeaderFieldsNot(p, names) => {
            let m = message_for(p)?;
            let names: Vec<&[u8]> = names.as_ref().iter().map(|n| n.as_ref()).collect();
            Cow::Owned(header_fields(raw, m, &names, false, p.is_none()))
        }
    })
}

/// The header fields of `m` whose name is (or, with `keep == false`, is not) in `names`.
///
/// Dovecot builds the two differently, and so do we:
/// * top-level `HEADER.FIELDS` (`index_mail_get_header_stream`): every field ends with a
///   line end (added when the header's last line has none), then always the empty line;
/// * `HEADER.FIELDS.NOT`, and `HEADER.FIELDS` of a message/rfc822 part (the header
///   filter): fields as stored, and the empty line only when the header has one.
///
/// (Once the fields are in its cache, Dovecot drops the empty line of a top-level
/// `HEADER.FIELDS` for a header that had none; the test `dovecot.rs` documents that one
/// divergence.)
fn header_fields(raw: &[u8], m: &Part, names: &[&[u8]], keep: bool, top_level: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let index_path = keep && top_level;
    for f in fields(raw, m.header_start, m.body_start) {
        let name = f.name(raw);
        let listed = names.iter().any(|n| n.eq_ignore_ascii_case(name));
        if listed == keep {
            push_wire(&mut out, raw, f.start, f.end);
            if index_path && !out.ends_with(b"\n") {
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    let block = raw.get(m.header_start..m.body_start).unwrap_or_default();
    let has_empty_line = block == b"\n"
        || block == b"\r\n"
        || block.ends_with(b"\n\n")
        || block.ends_with(b"\n\r\n");
    if index_path || has_empty_line {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Applies `<start.len>`: bytes from `start`, at most `len` of them.
fn apply_partial(bytes: Cow<'_, [u8]>, partial: Option<(u32, NonZeroU32)>) -> Cow<'_, [u8]> {
    let Some((start, len)) = partial else {
        return bytes;
    };
    let start = usize::try_from(start).unwrap_or(usize::MAX);
    let len = usize::try_from(len.get()).unwrap_or(usize::MAX);
    if start >= bytes.len() {
        return Cow::Borrowed(&[][..]);
    }
    let end = start.saturating_add(len).min(bytes.len());
    match bytes {
        Cow::Borrowed(b) => Cow::Borrowed(b.get(start..end).unwrap_or_default()),
        Cow::Owned(mut v) => {
            v.truncate(end);
            v.drain(..start);
            Cow::Owned(v)
        }
    }
}
