//! The wire form of stored bytes: what Dovecot 2.3 sends in a non-BINARY FETCH.
//!
//! * a LF that is not preceded by CR becomes CRLF (`i_stream_create_crlf`);
//! * a lone CR is sent as it is;
//! * a NUL byte becomes 0x80 (`imap-msgpart.c`: `i_stream_create_nonuls(input, '\x80')`,
//!   because IMAP literals must not hold NUL).
//!
//! Sizes (RFC822.SIZE, body-fld-octets, partial offsets) are counted in this form.

use std::borrow::Cow;

/// The byte Dovecot sends instead of NUL in a non-BINARY literal.
pub const NUL_REPLACEMENT: u8 = 0x80;

/// True when the LF at `i` in `raw` has no CR right before it (in the whole message, so a
/// range that starts with LF is judged by the byte before the range, as Dovecot does).
fn lf_needs_cr(raw: &[u8], i: usize) -> bool {
    i == 0 || raw.get(i - 1) != Some(&b'\r')
}

/// The wire size of `raw[start..end]`: its length plus one for every LF without a CR.
pub(crate) fn wire_len(raw: &[u8], start: usize, end: usize) -> usize {
    let Some(slice) = raw.get(start..end) else {
        return 0;
    };
    let mut n = slice.len();
    for (off, b) in slice.iter().enumerate() {
        if *b == b'\n' && lf_needs_cr(raw, start + off) {
            n += 1;
        }
    }
    n
}

/// Number of LF bytes in `raw[start..end]` (Dovecot's body line count).
pub(crate) fn count_lines(raw: &[u8], start: usize, end: usize) -> usize {
    raw.get(start..end)
        .map_or(0, |s| s.iter().filter(|b| **b == b'\n').count())
}

/// Appends the wire form of `raw[start..end]` to `out`.
pub(crate) fn push_wire(out: &mut Vec<u8>, raw: &[u8], start: usize, end: usize) {
    let Some(slice) = raw.get(start..end) else {
        return;
    };
    out.reserve(slice.len() + slice.len() / 32);
    for (off, b) in slice.iter().enumerate() {
        match *b {
            b'\n' if lf_needs_cr(raw, start + off) => out.extend_from_slice(b"\r\n"),
            0 => out.push(NUL_REPLACEMENT),
            other => out.push(other),
        }
    }
}

/// True when `raw[start..end]` is already in wire form.
fn is_wire(raw: &[u8], start: usize, end: usize) -> bool {
    raw.get(start..end).is_some_and(|slice| {
        slice
            .iter()
            .enumerate()
            .all(|(off, b)| *b != 0 && !(*b == b'\n' && lf_needs_cr(raw, start + off)))
    })
}

/// The wire form of a range, borrowed when nothing changes.
pub(crate) fn wire_range(raw: &[u8], start: usize, end: usize) -> Cow<'_, [u8]> {
    if is_wire(raw, start, end) {
        Cow::Borrowed(raw.get(start..end).unwrap_or_default())
    } else {
        let mut out = Vec::new();
        push_wire(&mut out, raw, start, end);
        Cow::Owned(out)
    }
}
