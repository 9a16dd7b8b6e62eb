//! IMAP strings chosen the way Dovecot 2.3 chooses them (`imap-quote.c`), so that the
//! encoded ENVELOPE/BODYSTRUCTURE matches Dovecot byte for byte:
//!
//! * a plain string is quoted unless it holds CR, LF, an 8-bit byte or more than four
//!   `"`/`\`, in which case it is a literal;
//! * a string "for humans" (subject, display name) has its whitespace runs collapsed to
//!   one space and trimmed, and is a literal as soon as anything had to change or it holds
//!   `"`, `\` or 8-bit bytes.

use imap_codec::imap_types::core::{IString, Literal, NString, Quoted};

use crate::wire::NUL_REPLACEMENT;

/// Dovecot switches from quoted to literal after this many quoted-specials.
const QUOTED_MAX_ESCAPE_CHARS: usize = 4;

/// An IMAP string for `value` (NUL becomes 0x80; never fails).
pub(crate) fn string(value: &[u8]) -> IString<'static> {
    let mut escapes = 0;
    let mut literal = false;
    for b in value {
        match *b {
            b'"' | b'\\' => {
                escapes += 1;
                if escapes > QUOTED_MAX_ESCAPE_CHARS {
                    literal = true;
                }
            }
            b'\r' | b'\n' | 0 => literal = true,
            b if b >= 0x80 => literal = true,
            _ => {}
        }
    }
    if literal {
        literal_of(
            value
                .iter()
                .map(|b| if *b == 0 { NUL_REPLACEMENT } else { *b })
                .collect(),
        )
    } else {
        quoted_of(value)
    }
}

/// `NIL` or [`string`].
pub(crate) fn nstring(value: Option<&[u8]>) -> NString<'static> {
    NString(value.map(string))
}

/// A string for humans (see the module doc).
pub(crate) fn human(value: &[u8]) -> IString<'static> {
    let mut modify = false;
    let mut out = Vec::with_capacity(value.len());
    let mut last_lwsp = true;
    for b in value {
        match *b {
            b'\r' | b'\n' | b'\t' | b' ' => {
                if *b != b' ' || last_lwsp {
                    modify = true;
                }
                if !last_lwsp {
                    out.push(b' ');
                }
                last_lwsp = true;
            }
            0 => {
                modify = true;
                out.push(NUL_REPLACEMENT);
                last_lwsp = false;
            }
            b'"' | b'\\' => {
                modify = true;
                out.push(*b);
                last_lwsp = false;
            }
            other => {
                if other >= 0x80 {
                    modify = true;
                }
                out.push(other);
                last_lwsp = false;
            }
        }
    }
    if last_lwsp && out.last() == Some(&b' ') {
        out.pop();
        modify = true;
    }
    if !modify {
        return quoted_of(value);
    }
    if out.is_empty() {
        return quoted_of(b"");
    }
    literal_of(out)
}

/// `NIL` or [`human`].
pub(crate) fn nhuman(value: Option<&[u8]>) -> NString<'static> {
    NString(value.map(human))
}

fn quoted_of(value: &[u8]) -> IString<'static> {
    // Only called for bytes that are TEXT-CHARs (7-bit, no CR/LF/NUL).
    match std::str::from_utf8(value) {
        Ok(s) => match Quoted::try_from(s.to_owned()) {
            Ok(q) => IString::Quoted(q),
            Err(_) => literal_of(value.to_vec()),
        },
        Err(_) => literal_of(value.to_vec()),
    }
}

fn literal_of(value: Vec<u8>) -> IString<'static> {
    // NUL was replaced by the callers, so validation cannot fail; fall back to a
    // replacement anyway rather than panic.
    match Literal::try_from(value) {
        Ok(l) => IString::Literal(l),
        Err(_) => IString::Quoted(Quoted::unvalidated("")),
    }
}
