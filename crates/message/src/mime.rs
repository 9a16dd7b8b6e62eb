//! The MIME tree of a message as byte ranges, following the rules of Dovecot 2.3's
//! `message-parser.c` (read to learn them; this is our own code):
//!
//! * headers end at the first empty line; inside a multipart, a boundary line also ends
//!   them (the line end before it then belongs to the boundary);
//! * a boundary line is `--` followed by one of the open boundaries; the longest matching
//!   open boundary wins, `--b--` closes `b` (and every boundary opened inside it);
//! * the line end before a boundary line belongs to the boundary, not to the part;
//! * `Content-Type` is read from the first such header only; a part without one is
//!   text/plain, or message/rfc822 directly below multipart/digest;
//! * nesting is capped at [`MAX_DEPTH`] and the part count at [`MAX_PARTS`]; a
//!   multipart or message/rfc822 beyond the cap is kept as one opaque part.

use crate::header::{fields, line_end_of};
use crate::rfc822::{MimeValue, parse_mime_value};

/// Maximum nesting of MIME parts (Dovecot's `MESSAGE_PARSER_DEFAULT_MAX_NESTED_MIME_PARTS`).
pub const MAX_DEPTH: usize = 100;
/// Maximum number of MIME parts (Dovecot's `MESSAGE_PARSER_DEFAULT_MAX_TOTAL_MIME_PARTS`).
pub const MAX_PARTS: usize = 10_000;
/// Boundaries are cut to this length (Dovecot's `BOUNDARY_STRING_MAX_LEN`).
const BOUNDARY_MAX_LEN: usize = 70;

/// One MIME part: byte ranges into the message and its children.
#[derive(Debug, Clone)]
pub(crate) struct Part {
    /// First byte of the header.
    pub(crate) header_start: usize,
    /// First byte of the body (just past the header's blank line).
    pub(crate) body_start: usize,
    /// Just past the last body byte.
    pub(crate) end: usize,
    /// The parsed Content-Type, when the part has one and counts as MIME.
    pub(crate) content_type: Option<MimeValue>,
    /// True when Content-* headers count (MIME-Version or Content-Type seen, or a
    /// part inside a multipart).
    pub(crate) is_mime: bool,
    /// What the body is.
    pub(crate) kind: Kind,
    /// True for text parts (Dovecot's `MESSAGE_PART_FLAG_TEXT`).
    pub(crate) text: bool,
    /// True when a multipart or message/rfc822 part was cut by the limits.
    pub(crate) truncated: bool,
    /// Where the boundary line that cut this part's header short starts, if one did.
    pub(crate) header_cut_at: Option<usize>,
}

/// The body kind of a [`Part`].
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    /// A leaf body.
    Leaf,
    /// A multipart with its children (possibly none).
    Multipart(Vec<Part>),
    /// message/rfc822 with the encapsulated message.
    Message(Box<Part>),
}

/// Parses the MIME tree of `raw`.
pub(crate) fn parse(raw: &[u8]) -> Part {
    let mut ctx = Ctx {
        raw,
        boundaries: Vec::new(),
        parts: 1,
    };
    let (part, _) = ctx.entity(0, 0, false, false);
    part
}

/// What ended a part.
#[derive(Debug, Clone, Copy)]
enum Stop {
    Eof,
    /// A boundary line: index into the boundary stack, start of the line, start of the
    /// line end before it (where the previous part ends), true for a close delimiter.
    Boundary {
        idx: usize,
        line: usize,
        cut: usize,
        close: bool,
    },
}

struct Ctx<'a> {
    raw: &'a [u8],
    /// Open boundaries, innermost last.
    boundaries: Vec<Vec<u8>>,
    parts: usize,
}

impl Ctx<'_> {
    /// If the line at `pos` is a boundary line, the matching boundary index and whether
    /// it closes.
    fn boundary_at(&self, pos: usize) -> Option<(usize, bool)> {
        if self.boundaries.is_empty() || self.parts >= MAX_PARTS {
            return None;
        }
        let rest = self.raw.get(pos..)?;
        let rest = rest.strip_prefix(b"--")?;
        let line_len = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
        let mut line = rest.get(..line_len)?;
        if line.last() == Some(&b'\r') {
            line = line.get(..line.len() - 1)?;
        }
        let mut best: Option<usize> = None;
        for (idx, b) in self.boundaries.iter().enumerate().rev() {
            if line.starts_with(b)
                && best.is_none_or(|x| self.boundaries.get(x).is_some_and(|bb| bb.len() < b.len()))
            {
                best = Some(idx);
                if b.len() == line.len() {
                    break;
                }
            }
        }
        let idx = best?;
        let len = self.boundaries.get(idx)?.len();
        let close = line.get(len..len + 2) == Some(b"--");
        Some((idx, close))
    }

    /// Start of the line end right before the line at `line` (the cut point).
    fn cut_before(&self, line: usize, floor: usize) -> usize {
        let mut cut = line;
        if cut > floor && self.raw.get(cut - 1) == Some(&b'\n') {
            cut -= 1;
            if cut > floor && self.raw.get(cut - 1) == Some(&b'\r') {
                cut -= 1;
            }
        }
        cut
    }

    /// Scans lines from `pos` (which is at a line start) for the next boundary line.
    fn find_boundary(&self, pos: usize, floor: usize) -> Stop {
        let mut line = pos;
        loop {
            if let Some((idx, close)) = self.boundary_at(line) {
                return Stop::Boundary {
                    idx,
                    line,
                    cut: self.cut_before(line, floor),
                    close,
                };
            }
            if line >= self.raw.len() {
                return Stop::Eof;
            }
            let next = line_end_of(self.raw, line, self.raw.len());
            if next >= self.raw.len() || next == line {
                return Stop::Eof;
            }
            line = next;
        }
    }

    /// Parses an entity (header + body) starting at `start`.
    fn entity(
        &mut self,
        start: usize,
        depth: usize,
        in_multipart: bool,
        in_digest: bool,
    ) -> (Part, Stop) {
        let raw = self.raw;
        let len = raw.len();
        // 1. header
        let mut pos = start;
        let mut body_start = len;
        let mut header_stop = None;
        loop {
            if let Some((idx, close)) = self.boundary_at(pos) {
                let cut = self.cut_before(pos, start);
                body_start = cut;
                header_stop = Some(Stop::Boundary {
                    idx,
                    line: pos,
                    cut,
                    close,
                });
                break;
            }
            if pos >= len {
                break;
            }
            let next = line_end_of(raw, pos, len);
            let line = raw.get(pos..next).unwrap_or_default();
            if line == b"\n" || line == b"\r\n" {
                body_start = next;
                break;
            }
            if next >= len {
                body_start = len;
                break;
            }
            pos = next;
        }
        // 2. Content-Type and MIME-ness
        let mut content_type = None;
        let mut is_mime = in_multipart;
        for f in fields(raw, start, body_start) {
            if f.is(raw, "Mime-Version") {
                is_mime = true;
            } else if f.is(raw, "Content-Type") {
                is_mime = true;
                if content_type.is_none() {
                    content_type = Some(parse_mime_value(f.raw_value(raw), true));
                }
            }
        }
        if !is_mime {
            content_type = None;
        }
        let ct_main = content_type.as_ref().map(|c| c.main.to_ascii_lowercase());
        let ct_sub = content_type
            .as_ref()
            .and_then(|c| c.sub.as_ref())
            .map(|s| s.to_ascii_lowercase());
        let mut text = match &ct_main {
            None => !in_digest,
            Some(m) => m == b"text",
        };
        let is_multipart = ct_main.as_deref() == Some(b"multipart") && ct_sub.is_some();
        let is_message = match (&ct_main, &ct_sub) {
            (Some(m), Some(s)) => m == b"message" && s == b"rfc822",
            (None, _) => in_digest,
            _ => false,
        };
        let can_nest = depth + 1 < MAX_DEPTH && self.parts < MAX_PARTS;
        let mut part = Part {
            header_start: start,
            body_start,
            end: body_start,
            content_type,
            is_mime,
            kind: Kind::Leaf,
            text,
            truncated: false,
            header_cut_at: None,
        };
        if let Some(stop) = header_stop {
            // A boundary cut the header short: no body.
            if let Stop::Boundary { line, .. } = stop {
                part.header_cut_at = Some(line);
            }
            if is_multipart {
                part.kind = Kind::Multipart(Vec::new());
            } else if is_message {
                part.truncated = true;
            }
            return (part, stop);
        }
        // 3. body
        if is_multipart && !can_nest {
            part.truncated = true;
            text = false;
            part.text = text;
        } else if is_message && !can_nest {
            part.truncated = true;
        }
        if is_multipart && can_nest {
            let boundary = part
                .content_type
                .as_ref()
                .and_then(|c| {
                    c.params
                        .iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case(b"boundary"))
                })
                .map(|(_, v)| {
                    v.get(..v.len().min(BOUNDARY_MAX_LEN))
                        .unwrap_or_default()
                        .to_vec()
                });
            let digest = ct_sub.as_deref() == Some(b"digest");
            let Some(boundary) = boundary else {
                part.kind = Kind::Multipart(Vec::new());
                let stop = self.find_boundary(body_start, body_start);
                part.end = stop_end(stop, len);
                return (part, stop);
            };
            self.boundaries.push(boundary);
            let mine = self.boundaries.len() - 1;
            let mut children = Vec::new();
            let mut stop = self.find_boundary(body_start, body_start);
            loop {
                match stop {
                    Stop::Boundary {
                        idx, line, close, ..
                    } if idx == mine => {
                        let after = line_end_of(raw, line, len);
                        if close {
                            self.boundaries.truncate(mine);
                            // epilogue: up to a parent's boundary or EOF
                            stop = if after >= len {
                                Stop::Eof
                            } else {
                                self.find_boundary(after, after)
                            };
                            break;
                        }
                        self.parts += 1;
                        let (child, s) = self.entity(after, depth + 1, true, digest);
                        children.push(child);
                        stop = s;
                    }
                    Stop::Boundary { idx, .. } => {
                        // a parent's boundary: this multipart ends here
                        self.boundaries.truncate(idx + 1);
                        break;
                    }
                    Stop::Eof => break,
                }
            }
            self.boundaries.truncate(mine.min(self.boundaries.len()));
            part.kind = Kind::Multipart(children);
            part.end = stop_end(stop, len).max(body_start);
            return (part, stop);
        }
        if is_message && can_nest {
            self.parts += 1;
            let (child, stop) = self.entity(body_start, depth + 1, false, false);
            // Dovecot: when a boundary cuts the encapsulated header, the line end before
            // the boundary goes to this part's body (not to the boundary).
            part.end = child.header_cut_at.unwrap_or(child.end).max(body_start);
            part.kind = Kind::Message(Box::new(child));
            return (part, stop);
        }
        let stop = self.find_boundary(body_start, body_start);
        part.end = stop_end(stop, len).max(body_start);
        (part, stop)
    }
}

/// Where a part stopped by `stop` ends.
fn stop_end(stop: Stop, len: usize) -> usize {
    match stop {
        Stop::Eof => len,
        Stop::Boundary { cut, .. } => cut,
    }
}
